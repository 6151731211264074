/*
 * check_jetfs.c -- the in-process jetfs mount (fs/jetfs.h: JetfsMountInstance,
 * JetfsUnmountInstance) on an instance created by the test, read with plain
 * POSIX calls, as rsync, tar or dd would:
 *  1. bad arguments give the documented errors and mount nothing (a missing
 *     directory, a regular file as the mount point, bad options);
 *  2. a full backup read sequentially, at random offsets, by several threads
 *     at once on the same file, and again: the same bytes every time, no short
 *     read except at end of file, the log files equal to the closed
 *     generations on disk; names, sizes, st_blocks, inode numbers, times and
 *     readdir order are final at the first listing; restored, the copy is
 *     exactly the committed state at Begin (records changed or added after the
 *     first listing are not in it); the unmount ends the backup normally and
 *     the headers record it -- with the page cache and with direct_io;
 *     SHA256SUMS is listed last with its exact size and holds the SHA-256 of
 *     the bytes read, whether it is read first (made by reading the set once
 *     more, which does not count as reading it), after reads that overlap or
 *     go backwards (gaps filled as they come), or after sequential reads
 *     (nothing read again), also read first on a set of more files than
 *     jetfs keeps open; -o nomanifest lists none;
 *  3. EBUSY for the other directory (both ways), EROFS for writes, chmod,
 *     truncate(2); status cannot be written;
 *  4. truncation refused (EPERM, status says why) before every file was read,
 *     allowed after: the listed logs are gone and the end records a Full
 *     backup; then an incremental through a new mount;
 *  5. a partial read ends as an abort: nothing recorded, no log truncated;
 *  6. a damaged database page: EIO to the reader, "failed reads" in status,
 *     truncation refused, the end an abort; the other files still read fine;
 *  7. the unmount waits for a reader that still has a file open, and serves it;
 *  8. the instance stopped (JetTerm2 StopBackup) under the mount: reads fail
 *     with EIO, the unmount still works and reports an abort.
 * Skipped (exit 77) when /dev/fuse cannot be opened.
 *
 * Each test runs in a child process (Check's fork mode), which mounts,
 * serves and reads; a watchdog process aborts the FUSE connection if that
 * process dies with a mount up (else it could hang for ever: see "the watchdog"),
 * and main unmounts whatever a failed test left behind.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include "testutil.h"
#include "jetfs.h"

#define LOG_KB 128
#define CACHE_PAGES 64
#define NREC 3000		/* records per database: about 0.5 MB each */
#define VAL_SIZE 120
#define MAXF 64
#define NTHREADS 4

static void wd_start(void);

/* ---- the instance ---- */

struct fx {
	char *dir;		/* the instance: databases, logs, checkpoint */
	char *mnt;		/* the mount point, dir/mnt */
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid[2];
	JET_TABLEID t[2];
	char *db[2];		/* dir/a.edb, dir/b.edb */
	JET_JETFSMOUNT m;
	char *sock;		/* fx_open serves the backup on it (with a hold), if set */
};

static const char *const db_names[2] = { "a.edb", "b.edb" };

static void
rec_key(int i, char *key)
{
	snprintf(key, 16, "k%06d", i);
}

static void
rec_val(int db, int i, unsigned version, uint8_t *val)
{
	for (int k = 0; k < VAL_SIZE; k++)
		val[k] = (uint8_t)(i * 13 + k * 7 + db * 101 + version * 31);
	snprintf((char *)val, 24, "v%u.%d.%06d", version, db, i);
}

/* Puts records [from, to) of version v in both databases, 250 per transaction. */
static void
fx_put(struct fx *f, const char *prefix, int from, int to, unsigned v)
{
	char key[16];
	uint8_t val[VAL_SIZE];

	for (int d = 0; d < 2; d++) {
		CK(JetBeginTransaction(f->ses));
		for (int i = from; i < to; i++) {
			rec_key(i, key);
			key[0] = prefix[0];
			rec_val(d, i, v, val);
			CK(tu_put(f->ses, f->t[d], key, strlen(key), val, VAL_SIZE));
			if ((i - from) % 250 == 249) {
				CK(JetCommitTransaction(f->ses, 0));
				CK(JetBeginTransaction(f->ses));
			}
		}
		CK(JetCommitTransaction(f->ses, 0));
	}
}

static void
fx_open(struct fx *f)
{
	f->inst = tu_instance(f->dir, LOG_KB, CACHE_PAGES);
	if (f->sock != NULL) {
		CK(JetSetSystemParameter(&f->inst, 0, JET_paramJetfsBackupSocket, 0, f->sock));
		CK(JetSetSystemParameter(&f->inst, 0, JET_paramJetfsBackupHoldTime, 60, NULL));
	}
	CK(JetInit(&f->inst));
	tu_open_db(f->inst, f->dir, db_names[0], &f->ses, &f->dbid[0], &f->t[0]);
	CK(JetEndSession(f->ses, 0));
	tu_open_db(f->inst, f->dir, db_names[1], &f->ses, &f->dbid[1], &f->t[1]);
	/* one session for both */
	CK(JetOpenDatabase(f->ses, f->db[0], NULL, &f->dbid[0], 0));
	CK(JetOpenTable(f->ses, f->dbid[0], "t", NULL, 0, 0, &f->t[0]));
}

static void
fx_term(struct fx *f)
{
	CK(JetEndSession(f->ses, 0));
	CK(JetTerm(f->inst));
	f->inst = 0;
}

/*
 * Two databases of NREC records of version 1, several log generations, then
 * a clean restart (the checkpoint moves past the old generations, which a
 * full backup then allows to truncate).
 */
static void
fx_setup(struct fx *f)
{
	char *d = tu_tempdir();

	wd_start();
	memset(f, 0, sizeof(*f));
	f->dir = realpath(d, NULL);
	ck_assert(f->dir != NULL);
	free(d);
	f->mnt = tu_path(f->dir, "mnt");
	ck_assert(mkdir(f->mnt, 0700) == 0);
	for (int i = 0; i < 2; i++)
		f->db[i] = tu_path(f->dir, db_names[i]);
	fx_open(f);
	fx_put(f, "k", 0, NREC, 1);
	fx_term(f);
	fx_open(f);
}

static void
fx_free(struct fx *f)
{
	if (f->inst != 0)
		fx_term(f);
	tu_rmdir(f->dir);
	free(f->dir);
	free(f->mnt);
	free(f->sock);
	free(f->db[0]);
	free(f->db[1]);
}

/* ---- the watchdog ----
 *
 * The test process both serves its mount and reads it.  If it dies with a
 * request of its own in flight -- a failed assertion (Check calls _exit), a
 * timeout (Check sends SIGKILL), a jetfs that never answers -- its server
 * threads are gone and the reading thread waits for ever, uninterruptibly:
 * the test, and `make check`, would hang.  So each test process forks, while
 * it is still single-threaded, a watchdog in a process group of its own
 * (Check's SIGKILL goes to the test's group).  While a mount is up, the
 * watchdog looks at the test process every 100 ms; once it is dying (its main
 * thread exiting or gone, or SIGKILL pending on a thread) it aborts the FUSE
 * connection (umount2 MNT_FORCE|MNT_DETACH as root, else fusectl's abort), so
 * every request fails and the process can end.  It exits when the test
 * process has closed its end of the pipe (it is gone).
 */
static int g_wd_fd = -1;	/* the test's end of the pipe: "A maj min path\n", "D\n" */

static int
wd_dying(pid_t pid)
{
	char path[320], buf[2048];
	DIR *d;
	struct dirent *de;
	int dying = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 1;
	while (!dying && (de = readdir(d)) != NULL) {
		FILE *fp;
		char state = '?', *p;
		unsigned flags = 0;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		if ((fp = fopen(path, "r")) != NULL) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
			buf[n] = '\0';
			fclose(fp);
			/* after "pid (comm)": state ppid pgrp session tty tpgid flags */
			if ((p = strrchr(buf, ')')) != NULL &&
			    sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) == 2 &&
			    atoi(de->d_name) == (int)pid && (state == 'Z' || state == 'X' || (flags & 0x4) != 0))
				dying = 1;	/* the main thread exits: the process does (PF_EXITING) */
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, de->d_name);
		if (!dying && (fp = fopen(path, "r")) != NULL) {
			while (fgets(buf, sizeof(buf), fp) != NULL)
				if ((strncmp(buf, "SigPnd:", 7) == 0 || strncmp(buf, "ShdPnd:", 7) == 0) &&
				    (strtoull(buf + 7, NULL, 16) & (1ULL << (SIGKILL - 1))) != 0)
					dying = 1;
			fclose(fp);
		}
	}
	closedir(d);
	return dying;
}

/* Aborts the connection of the mount on path if it is still the one of device maj:min. */
static void
wd_abort(unsigned maj, unsigned min, const char *path)
{
	FILE *mi = fopen("/proc/self/mountinfo", "r");
	char line[4096], mpt[4096], want[32], dev[32];
	int found = 0;

	if (mi == NULL)
		return;
	snprintf(want, sizeof(want), "%u:%u", maj, min);
	while (!found && fgets(line, sizeof(line), mi) != NULL)
		if (sscanf(line, "%*s %*s %31s %*s %4095s", dev, mpt) == 2 && strcmp(mpt, path) == 0 &&
		    strcmp(dev, want) == 0)
			found = 1;
	fclose(mi);
	if (!found)
		return;
	fprintf(stderr, "check_jetfs: watchdog: the test process is dying with %s mounted: aborting its FUSE "
	    "connection\n", path);
	if (geteuid() == 0) {
		if (umount2(path, MNT_FORCE | MNT_DETACH) != 0)
			perror("check_jetfs: watchdog: umount2");
	} else {
		char ab[96];
		FILE *f;
		snprintf(ab, sizeof(ab), "/sys/fs/fuse/connections/%u/abort", (unsigned)makedev(maj, min));
		if ((f = fopen(ab, "w")) == NULL || fputs("1", f) < 0 || fclose(f) != 0)
			fprintf(stderr, "check_jetfs: watchdog: cannot abort through %s\n", ab);
	}
}

static void
wd_main(int rfd, pid_t test)
{
	char buf[8192], path[4096] = "";
	size_t len = 0;
	unsigned maj = 0, min = 0;
	int armed = 0;

	for (;;) {
		struct pollfd pfd = { rfd, POLLIN, 0 };
		int r = poll(&pfd, 1, 100);
		if (r > 0) {
			ssize_t n = read(rfd, buf + len, sizeof(buf) - 1 - len);
			char *nl;
			if (n <= 0)
				_exit(0);	/* the test process is gone */
			len += (size_t)n;
			buf[len] = '\0';
			while ((nl = strchr(buf, '\n')) != NULL) {
				*nl = '\0';
				if (buf[0] == 'A' && sscanf(buf, "A %u %u %4095[^\n]", &maj, &min, path) == 3)
					armed = 1;
				else if (buf[0] == 'D')
					armed = 0;
				len -= (size_t)(nl + 1 - buf);
				memmove(buf, nl + 1, len + 1);
			}
		}
		if (armed && wd_dying(test)) {
			wd_abort(maj, min, path);
			armed = 0;
		}
	}
}

/* Starts the watchdog of this process (once; call while single-threaded). */
static void
wd_start(void)
{
	int p[2];
	pid_t test = getpid(), pid;

	if (g_wd_fd >= 0)
		return;
	ck_assert(pipe(p) == 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		setpgid(0, 0);
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[0])
				close(fd);
		wd_main(p[0], test);
		_exit(0);
	}
	ck_assert_msg(pid > 0, "fork of the watchdog");
	close(p[0]);
	g_wd_fd = p[1];
	fcntl(g_wd_fd, F_SETFD, FD_CLOEXEC);
}

static void
wd_send(const char *msg)
{
	if (g_wd_fd >= 0)
		ck_assert(write(g_wd_fd, msg, strlen(msg)) == (ssize_t)strlen(msg));
}

/* ---- the mount ---- */

static char *
mp(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A path inside the mount. */
static char *
mp(struct fx *f, const char *fmt, ...)
{
	char rel[512], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	ck_assert(asprintf(&p, "%s/%s", f->mnt, rel) > 0);
	return p;
}

/* Whether path is a mount point (in /proc/self/mountinfo). */
static int
is_mounted(const char *path)
{
	FILE *mi = fopen("/proc/self/mountinfo", "r");
	char line[4096], mpt[4096];
	int found = 0;

	ck_assert(mi != NULL);
	while (!found && fgets(line, sizeof(line), mi) != NULL)
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mpt) == 1 && strcmp(mpt, path) == 0)
			found = 1;
	fclose(mi);
	return found;
}

static void
fx_mount(struct fx *f, const char *opts)
{
	JET_ERR err = JetfsMountInstance(f->inst, f->mnt, opts, &f->m);

	ck_assert_msg(err == JET_errSuccess, "JetfsMountInstance(%s, \"%s\") -> %s", f->mnt, opts ? opts : "(null)",
	    JetErrorName(err));
	ck_assert(f->m != NULL);
	ck_assert_msg(is_mounted(f->mnt), "%s is not mounted after JetfsMountInstance", f->mnt);
	/* Arm the watchdog for this mount (its device, from a stat served by it). */
	{
		struct stat st;
		char msg[4200];
		ck_assert_msg(stat(f->mnt, &st) == 0, "stat %s: %s", f->mnt, strerror(errno));
		snprintf(msg, sizeof(msg), "A %u %u %s\n", major(st.st_dev), minor(st.st_dev), f->mnt);
		wd_send(msg);
	}
}

static JET_GRBIT
fx_unmount(struct fx *f)
{
	JET_GRBIT ended = 0xdead;

	CK(JetfsUnmountInstance(f->m, &ended));
	f->m = NULL;
	wd_send("D\n");
	ck_assert_msg(!is_mounted(f->mnt), "%s is still mounted after JetfsUnmountInstance", f->mnt);
	return ended;
}

static const char *
end_name(JET_GRBIT g)
{
	return g == JET_bitBackupEndNormal ? "JET_bitBackupEndNormal" : g == JET_bitBackupEndAbort ?
	    "JET_bitBackupEndAbort" : g == 0 ? "0 (no backup)" : "something else";
}

#define ck_assert_end(got, want) do { JET_GRBIT ck_got_ = (got), ck_want_ = (want); \
	ck_assert_msg(ck_got_ == ck_want_, "JetfsUnmountInstance ended the backup with %s (%#lx), expected %s", \
	    end_name(ck_got_), (unsigned long)ck_got_, end_name(ck_want_)); } while (0)

/* ---- reading ---- */

/* The whole text of a small file (status, truncate); NULL and errno on failure. */
static char *
read_text(const char *path)
{
	int fd = open(path, O_RDONLY);
	size_t n = 0, cap = 4096;
	char *s;
	ssize_t r;

	if (fd < 0)
		return NULL;
	s = malloc(cap + 1);
	ck_assert(s != NULL);
	while ((r = read(fd, s + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			cap *= 2;
			s = realloc(s, cap + 1);
			ck_assert(s != NULL);
		}
	}
	if (r < 0) {
		int e = errno;
		close(fd);
		free(s);
		errno = e;
		return NULL;
	}
	close(fd);
	s[n] = '\0';
	return s;
}

static char *
status_of(struct fx *f)
{
	char *p = mp(f, "backup/status"), *s = read_text(p);

	ck_assert_msg(s != NULL, "cannot read %s: %s", p, strerror(errno));
	free(p);
	return s;
}

#define ck_assert_has(text, what) ck_assert_msg(strstr((text), (what)) != NULL, "status has no \"%s\":\n%s", (what), (text))
#define ck_assert_hasnt(text, what) ck_assert_msg(strstr((text), (what)) == NULL, "status has \"%s\":\n%s", (what), (text))

/* A whole file, by read(2) of 64 KiB until EOF; its length must be st_size. */
static uint8_t *
read_file(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *buf;
	size_t n = 0;
	ssize_t r;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert(fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 65536);
	ck_assert(buf != NULL);
	while ((r = read(fd, buf + n, 65536)) > 0)
		n += (size_t)r;
	ck_assert_msg(r == 0, "read %s at %zu: %s", path, n, strerror(errno));
	ck_assert_msg(n == (size_t)st.st_size, "read %zu bytes of %s, st_size %lld", n, path, (long long)st.st_size);
	close(fd);
	*lenp = n;
	return buf;
}

static uint8_t *
slurp_disk(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *buf;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert(fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert(buf != NULL);
	ck_assert(pread(fd, buf, (size_t)st.st_size, 0) == st.st_size);
	close(fd);
	*lenp = (size_t)st.st_size;
	return buf;
}

static void
write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_msg(fd >= 0, "create %s", path);
	ck_assert(write(fd, buf, len) == (ssize_t)len);
	ck_assert(close(fd) == 0);
}

/* The listing of a directory by readdir(3), in readdir order, without . and .. */
/* A backup directory's listing: the set, without SHA256SUMS (list_set checks it and keeps its inode). */
struct listing {
	int n;
	char *name[MAXF + 1];
	ino_t ino[MAXF + 1];
	ino_t manifest_ino;
};

static int
list_dir(const char *path, struct listing *l)
{
	DIR *d = opendir(path);
	struct dirent *de;

	memset(l, 0, sizeof(*l));
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ck_assert(l->n < MAXF + 1);
		l->name[l->n] = strdup(de->d_name);
		l->ino[l->n++] = de->d_ino;
	}
	closedir(d);
	return 0;
}

static void
listing_free(struct listing *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->name[i]);
	l->n = 0;
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Lists M/backup/KIND (the first look inside begins the backup); checks its shape. */
static void
list_set(struct fx *f, const char *kind, struct listing *l)
{
	char *p = mp(f, "backup/%s", kind);
	int dbs = 0, logs = 0;

	if (list_dir(p, l) != 0) {
		int e = errno;
		char *sp = mp(f, "backup/status"), *st = read_text(sp);
		ck_abort_msg("opendir %s: %s; status:\n%s", p, strerror(e), st ? st : "(unreadable)");
	}
	/* SHA256SUMS comes last in readdir (and inode) order, so tar and cp read it after the set. */
	ck_assert_msg(l->n >= 2 && strcmp(l->name[l->n - 1], "SHA256SUMS") == 0, "%s does not list SHA256SUMS last "
	    "(%d entries, the last %s)", p, l->n, l->n ? l->name[l->n - 1] : "none");
	for (int i = 0; i < l->n - 1; i++)
		ck_assert_msg(l->ino[i] < l->ino[l->n - 1], "%s: SHA256SUMS's inode %llu is not after %s's %llu", p,
		    (unsigned long long)l->ino[l->n - 1], l->name[i], (unsigned long long)l->ino[i]);
	l->manifest_ino = l->ino[--l->n];
	free(l->name[l->n]);
	for (int i = 0; i < l->n; i++) {
		if (has_suffix(l->name[i], ".edb"))
			dbs++;
		else if (has_suffix(l->name[i], ".log"))
			logs++;
		else
			ck_abort_msg("%s lists %s", p, l->name[i]);
		ck_assert_msg(strcmp(l->name[i], "edb.log") != 0, "%s lists the current log edb.log", p);
		if (i > 0)
			ck_assert_msg(strcmp(l->name[i - 1], l->name[i]) < 0, "readdir order of %s: %s before %s", p,
			    l->name[i - 1], l->name[i]);
	}
	ck_assert_msg(logs >= 1, "%s lists no log file", p);
	if (strcmp(kind, "full") == 0)
		ck_assert_msg(dbs == 2, "%s lists %d databases, expected a.edb and b.edb", p, dbs);
	else
		ck_assert_msg(dbs == 0, "%s lists %d databases", p, dbs);
	free(p);
}

/* stat of every file of the set. */
static void
stat_set(struct fx *f, const char *kind, const struct listing *l, struct stat *st)
{
	for (int i = 0; i < l->n; i++) {
		char *p = mp(f, "backup/%s/%s", kind, l->name[i]);
		ck_assert_msg(stat(p, &st[i]) == 0, "stat %s: %s", p, strerror(errno));
		free(p);
	}
}

/* The attributes the contract fixes at the first listing. */
static void
check_attrs(const char *kind, const struct listing *l, const struct stat *st)
{
	for (int i = 0; i < l->n; i++) {
		const struct stat *s = &st[i];
		ck_assert_msg(S_ISREG(s->st_mode) && (s->st_mode & 07777) == 0400, "%s/%s: mode %o", kind, l->name[i],
		    (unsigned)s->st_mode);
		ck_assert_msg(s->st_size > 0, "%s/%s: st_size %lld", kind, l->name[i], (long long)s->st_size);
		ck_assert_msg(s->st_blocks == (s->st_size + 511) / 512, "%s/%s: st_blocks %lld for %lld bytes", kind,
		    l->name[i], (long long)s->st_blocks, (long long)s->st_size);
		ck_assert_msg(s->st_ino == l->ino[i], "%s/%s: st_ino %llu, readdir d_ino %llu", kind, l->name[i],
		    (unsigned long long)s->st_ino, (unsigned long long)l->ino[i]);
		ck_assert_msg(s->st_uid == geteuid(), "%s/%s: owner %u", kind, l->name[i], (unsigned)s->st_uid);
		if (i > 0) {
			ck_assert_msg(s->st_ino > st[i - 1].st_ino, "inode order is not name order: %s %llu, %s %llu",
			    l->name[i - 1], (unsigned long long)st[i - 1].st_ino, l->name[i],
			    (unsigned long long)s->st_ino);
			ck_assert_msg(s->st_mtim.tv_sec == st[0].st_mtim.tv_sec && s->st_mtim.tv_nsec == st[0].st_mtim.tv_nsec,
			    "%s and %s have different mtimes", l->name[0], l->name[i]);
		}
		ck_assert_msg(s->st_mtim.tv_sec == s->st_ctim.tv_sec && s->st_mtim.tv_nsec == s->st_ctim.tv_nsec,
		    "%s/%s: mtime and ctime differ", kind, l->name[i]);
	}
}

static void
check_attrs_same(const struct listing *l, const struct stat *a, const struct stat *b, const char *when)
{
	for (int i = 0; i < l->n; i++)
		ck_assert_msg(a[i].st_size == b[i].st_size && a[i].st_blocks == b[i].st_blocks &&
		    a[i].st_ino == b[i].st_ino && a[i].st_mode == b[i].st_mode &&
		    a[i].st_mtim.tv_sec == b[i].st_mtim.tv_sec && a[i].st_mtim.tv_nsec == b[i].st_mtim.tv_nsec &&
		    a[i].st_ctim.tv_sec == b[i].st_ctim.tv_sec && a[i].st_ctim.tv_nsec == b[i].st_ctim.tv_nsec,
		    "%s changed %s: size %lld -> %lld, blocks %lld -> %lld, ino %llu -> %llu, mtime %lld -> %lld",
		    l->name[i], when, (long long)a[i].st_size, (long long)b[i].st_size, (long long)a[i].st_blocks,
		    (long long)b[i].st_blocks, (unsigned long long)a[i].st_ino, (unsigned long long)b[i].st_ino,
		    (long long)a[i].st_mtim.tv_sec, (long long)b[i].st_mtim.tv_sec);
}

static void
check_listing_same(const struct listing *a, const struct listing *b)
{
	ck_assert_msg(a->n == b->n, "the listing changed: %d files, then %d", a->n, b->n);
	for (int i = 0; i < a->n; i++)
		ck_assert_msg(strcmp(a->name[i], b->name[i]) == 0 && a->ino[i] == b->ino[i],
		    "the listing changed at %d: %s (%llu), then %s (%llu)", i, a->name[i], (unsigned long long)a->ino[i],
		    b->name[i], (unsigned long long)b->ino[i]);
	ck_assert_msg(a->manifest_ino == b->manifest_ino, "SHA256SUMS's inode changed: %llu, then %llu",
	    (unsigned long long)a->manifest_ino, (unsigned long long)b->manifest_ino);
}

/* Random preads of one file by several threads at once, each on its own fd and on a shared one. */
struct reader {
	const char *path;
	const uint8_t *ref;
	size_t size;
	int shared_fd;
	unsigned seed;
	int rounds;
	atomic_int *failures;
	char msg[256];
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	int own = open(r->path, O_RDONLY);
	uint8_t *buf = malloc(300000);

	if (own < 0 || buf == NULL) {
		snprintf(r->msg, sizeof(r->msg), "open %s: %s", r->path, strerror(errno));
		atomic_fetch_add(r->failures, 1);
		free(buf);
		return NULL;
	}
	for (int k = 0; k < r->rounds; k++) {
		/* offsets anywhere, past EOF included; lengths 1 byte to 293 KiB */
		size_t off = (size_t)rand_r(&r->seed) % (r->size + 9000);
		size_t len = 1 + (size_t)rand_r(&r->seed) % (k % 3 == 0 ? 300000 : 9000);
		size_t want = off >= r->size ? 0 : (r->size - off < len ? r->size - off : len);
		int fd = k % 2 ? own : r->shared_fd;
		ssize_t got = pread(fd, buf, len, (off_t)off);
		if (got != (ssize_t)want || (want > 0 && memcmp(buf, r->ref + off, want) != 0)) {
			if (atomic_fetch_add(r->failures, 1) == 0 || r->msg[0] == '\0')
				snprintf(r->msg, sizeof(r->msg), "pread(%s, %zu at %zu) -> %zd (%s), expected %zu%s",
				    r->path, len, off, got, got < 0 ? strerror(errno) : "ok", want,
				    got == (ssize_t)want ? ", different bytes" : "");
		}
	}
	close(own);
	free(buf);
	return NULL;
}

/* NTHREADS threads read path at random offsets at once; every byte must equal ref. */
static void
read_concurrently(const char *path, const uint8_t *ref, size_t size, unsigned seed, int rounds)
{
	pthread_t th[NTHREADS];
	struct reader r[NTHREADS];
	atomic_int failures = 0;
	int shared = open(path, O_RDONLY);

	ck_assert_msg(shared >= 0, "open %s: %s", path, strerror(errno));
	for (int i = 0; i < NTHREADS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].path = path;
		r[i].ref = ref;
		r[i].size = size;
		r[i].shared_fd = shared;
		r[i].seed = seed + (unsigned)i * 7919;
		r[i].rounds = rounds;
		r[i].failures = &failures;
		ck_assert(pthread_create(&th[i], NULL, reader_main, &r[i]) == 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	close(shared);
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_msg(r[i].msg[0] == '\0', "%d of %d concurrent reads failed; first: %s", (int)failures,
		    NTHREADS * rounds, r[i].msg);
	ck_assert_int_eq(failures, 0);
}

/* ---- SHA256SUMS ---- */

static void expect_errno(int rc, int want, const char *what);

/* The manifest a set of these bytes must have: sha256sum's lines, in listing order. */
static char *
expected_manifest(const struct listing *l, uint8_t *const *ref, const size_t *size)
{
	static const char hex[] = "0123456789abcdef";
	size_t cap = 1, n = 0;
	char *text;

	for (int i = 0; i < l->n; i++)
		cap += 67 + strlen(l->name[i]);
	text = malloc(cap);
	ck_assert(text != NULL);
	for (int i = 0; i < l->n; i++) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		ck_assert(EVP_Digest(ref[i], size[i], md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
		for (unsigned k = 0; k < mdlen; k++) {
			text[n++] = hex[md[k] >> 4];
			text[n++] = hex[md[k] & 15];
		}
		n += (size_t)sprintf(text + n, "  %s\n", l->name[i]);
	}
	text[n] = '\0';
	return text;
}

/* SHA256SUMS of backup/<kind> as read now; its st_size is checked against its length. */
static char *
read_manifest(struct fx *f, const char *kind, const struct listing *l)
{
	char *p = mp(f, "backup/%s/SHA256SUMS", kind), *text;
	struct stat st;
	size_t want = 0;

	for (int i = 0; i < l->n; i++)
		want += 67 + strlen(l->name[i]);
	ck_assert_msg(stat(p, &st) == 0, "stat %s: %s", p, strerror(errno));
	ck_assert_msg(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0400 && st.st_ino == l->manifest_ino,
	    "%s: mode %o, inode %llu (listed as %llu)", p, (unsigned)st.st_mode, (unsigned long long)st.st_ino,
	    (unsigned long long)l->manifest_ino);
	ck_assert_msg((size_t)st.st_size == want, "%s: st_size %lld, but %d lines make %zu bytes", p,
	    (long long)st.st_size, l->n, want);
	text = read_text(p);
	ck_assert_msg(text != NULL, "read %s: %s", p, strerror(errno));
	ck_assert_msg(strlen(text) == want, "%s: %zu bytes read, st_size %zu", p, strlen(text), want);
	free(p);
	return text;
}

static void
check_manifest(struct fx *f, const char *kind, const struct listing *l, uint8_t *const *ref, const size_t *size)
{
	char *got = read_manifest(f, kind, l), *want = expected_manifest(l, ref, size);

	ck_assert_msg(strcmp(got, want) == 0, "backup/%s/SHA256SUMS is\n%s\nbut the files read hash to\n%s", kind, got,
	    want);
	free(got);
	free(want);
}

/* "SHA256SUMS: H of N files hashed, R bytes read again to hash" of a status text. */
static void
status_manifest(const char *status, size_t *hashed, size_t *n, unsigned long long *reread)
{
	const char *p = strstr(status, "\nSHA256SUMS: ");

	ck_assert_msg(p != NULL && sscanf(p, "\nSHA256SUMS: %zu of %zu files hashed, %llu bytes read again", hashed, n,
	    reread) == 3, "no SHA256SUMS line in:\n%s", status);
}

/*
 * The status of f once every hash that the reads served can finish did: the
 * bytes of a reply are hashed after it was sent (fsmanifest.c, M1), so the
 * last reply of a set may reach the reader before its bytes reach the hash.
 * Waits at most 10 s; the caller frees the text.
 */
static char *
status_settled(struct fx *f, size_t *hashed, size_t *n, unsigned long long *reread)
{
	char *st = status_of(f);

	status_manifest(st, hashed, n, reread);
	for (int tries = 0; *hashed < *n && tries < 200; tries++) {
		nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
		free(st);
		st = status_of(f);
		status_manifest(st, hashed, n, reread);
	}
	return st;
}

/* The line of file name in a status text (without its newline), or NULL. */
static char *
status_file_line(const char *status, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(status, "\n  "); p != NULL; p = strstr(p + 1, "\n  ")) {
		if (strncmp(p + 3, name, nl) == 0 && p[3 + nl] == ' ') {
			const char *end = strchr(p + 1, '\n');
			return strndup(p + 1, end != NULL ? (size_t)(end - p - 1) : strlen(p + 1));
		}
	}
	return NULL;
}

/* ---- headers, logs, restore ---- */

static int
bk_is_zero(const struct bkinfo *bi)
{
	return bi->lsn_mark == 0 && bi->time_mark == 0 && bi->gen_low == 0 && bi->gen_high == 0;
}

static void
check_headers_unchanged(const struct db_header *before, const char *const *db, const char *why)
{
	for (int d = 0; d < 2; d++) {
		struct db_header h = tu_hdr_of(db[d]);
		for (int s = 0; s < BK_NSLOTS; s++)
			ck_assert_msg(memcmp(&before[d].bk[s], &h.bk[s], sizeof(h.bk[s])) == 0,
			    "%s: %s header slot %d changed (gens %u-%u -> %u-%u)", why, db[d], s, before[d].bk[s].gen_low,
			    before[d].bk[s].gen_high, h.bk[s].gen_low, h.bk[s].gen_high);
	}
}

/* "log generations: LO-HI" of a status text. */
static void
status_gens(const char *status, unsigned long *lo, unsigned long *hi)
{
	const char *p = strstr(status, "\nlog generations: ");

	ck_assert_msg(p != NULL && sscanf(p, "\nlog generations: %lu-%lu", lo, hi) == 2, "no log generations in:\n%s",
	    status);
	ck_assert_uint_le(*lo, *hi);
}

static void
check_recorded(const char *const *db, int slot, unsigned long lo, unsigned long hi)
{
	for (int d = 0; d < 2; d++) {
		struct db_header h = tu_hdr_of(db[d]);
		ck_assert_msg(h.bk[slot].gen_low == lo && h.bk[slot].gen_high == hi && h.bk[slot].lsn_mark != 0,
		    "%s: header slot %d records gens %u-%u (mark %llu), expected %lu-%lu", db[d], slot,
		    h.bk[slot].gen_low, h.bk[slot].gen_high, (unsigned long long)h.bk[slot].lsn_mark, lo, hi);
	}
}


/*
 * Restores the set in copy with JetfsRestoreSets, opens it and checks every
 * record: NREC keys "k..." of version 1 (or of version 2 for the first
 * `changed` ones, of version vchanged), and no key "n..." (added after Begin).
 */
static void
restore_and_check(const char *const *sets, unsigned long nsets, int changed, unsigned vchanged)
{
	char *target = tu_tempdir(), *path;
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	JET_ERR err;

	err = JetfsRestoreSets(sets, nsets, target, NULL, 0, NULL);
	ck_assert_msg(err == JET_errSuccess, "JetfsRestoreSets(%s, %lu sets) -> %s", sets[0], nsets, JetErrorName(err));
	inst = tu_instance(target, LOG_KB, CACHE_PAGES);
	CK(JetInit(&inst));
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	for (int d = 0; d < 2; d++) {
		int n = 0;
		JET_JETFSVERIFY info;
		path = tu_path(target, db_names[d]);
		err = JetOpenDatabase(ses, path, NULL, &dbid, 0);
		ck_assert_msg(err == JET_errSuccess, "open the restored %s -> %s", path, JetErrorName(err));
		CK(JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t));
		for (err = JetMove(ses, t, JET_MoveFirst, 0); err == JET_errSuccess; err = JetMove(ses, t, JET_MoveNext, 0)) {
			char key[32];
			uint8_t val[VAL_SIZE + 8], want[VAL_SIZE];
			unsigned long kl = 0, vl = 0;
			int i;
			CK(JetRetrieveColumn(ses, t, JET_columnidKey, key, sizeof(key) - 1, &kl, 0, NULL));
			key[kl < sizeof(key) ? kl : sizeof(key) - 1] = '\0';
			ck_assert_msg(key[0] == 'k', "restored %s has %s, written after the backup began", db_names[d], key);
			i = atoi(key + 1);
			ck_assert_msg(i == n, "restored %s: record %d is %s", db_names[d], n, key);
			CK(JetRetrieveColumn(ses, t, JET_columnidValue, val, sizeof(val), &vl, 0, NULL));
			rec_val(d, i, i < changed ? vchanged : 1, want);
			ck_assert_msg(vl == VAL_SIZE && memcmp(val, want, VAL_SIZE) == 0,
			    "restored %s: %s is \"%.12s\", expected \"%.12s\"", db_names[d], key, (char *)val, (char *)want);
			n++;
		}
		ck_assert_msg(err == JET_errNoCurrentRecord, "scan of the restored %s ended with %s", db_names[d],
		    JetErrorName(err));
		ck_assert_msg(n == NREC, "restored %s has %d records, expected %d", db_names[d], n, NREC);
		memset(&info, 0, sizeof(info));
		info.cbStruct = sizeof(info);
		err = JetfsVerifyDatabase(ses, dbid, &info);
		ck_assert_msg(err == JET_errSuccess && info.cpagesBad == 0, "JetfsVerifyDatabase(restored %s) -> %s: %s",
		    db_names[d], JetErrorName(err), info.szProblem);
		CK(JetCloseTable(ses, t));
		CK(JetCloseDatabase(ses, dbid, 0));
		free(path);
	}
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	tu_rmdir(target);
	free(target);
}

/* Writes to backup/truncate as `echo > backup/truncate` does; returns 0 or the errno. */
static int
write_truncate(struct fx *f)
{
	char *p = mp(f, "backup/truncate");
	int fd = open(p, O_WRONLY | O_TRUNC), e = 0;

	free(p);
	if (fd < 0)
		return errno;
	if (write(fd, "\n", 1) != 1)
		e = errno;
	if (close(fd) != 0 && e == 0)
		e = errno;
	return e;
}

/* Reads every file of the full set but one to its end (each read must succeed). */
static void
read_all_but(struct fx *f, const struct listing *l, const char *skip)
{
	for (int i = 0; i < l->n; i++) {
		size_t n;
		char *p;
		if (strcmp(l->name[i], skip) == 0)
			continue;
		p = mp(f, "backup/full/%s", l->name[i]);
		free(read_file(p, &n));
		free(p);
	}
}

/*
 * A fixture, what its headers record and which log generations it has, then
 * a mount where every read(2) is one read of the instance (readahead=0: jetfs
 * reads nothing ahead, so a fault armed between two reads hits the second)
 * and the full set begun: what fx_unmount_aborted checks against.
 */
static void
fx_begin_full(struct fx *f, struct db_header *before, uint8_t *present, size_t maplen, struct listing *l)
{
	fx_setup(f);
	before[0] = tu_hdr_of(f->db[0]);
	before[1] = tu_hdr_of(f->db[1]);
	gens_present(f->dir, present, maplen);
	fx_mount(f, "readahead=0");
	list_set(f, "full", l);
}

static void
check_truncate_refused(struct fx *f, const char *when)
{
	int e = write_truncate(f);

	ck_assert_msg(e == EPERM, "write to backup/truncate %s -> %s, expected EPERM", when, e ? strerror(e) : "success");
}

/*
 * Unmounts a backup that must leave no trace: it ends as an abort, no header
 * records it, and every log generation of present (gens_present at the
 * start) is still there.
 */
static void
fx_unmount_aborted(struct fx *f, const struct db_header *before, const uint8_t *present, size_t maplen,
    const char *why)
{
	uint8_t after[4096];

	ck_assert_end(fx_unmount(f), JET_bitBackupEndAbort);
	check_headers_unchanged(before, (const char *const *)f->db, why);
	gens_present(f->dir, after, sizeof(after));
	for (size_t g = 0; g < sizeof(after) && g < maplen; g++)
		ck_assert_msg(!present[g] || after[g], "%s: generation %zu was deleted", why, g);
}

/* ======================================================================
 * 1. Bad arguments
 * ====================================================================== */

static void
mount_fails(struct fx *f, JET_INSTANCE inst, const char *mnt, const char *opts, int with_pm, JET_ERR want)
{
	JET_JETFSMOUNT m = (JET_JETFSMOUNT)(uintptr_t)0x1;
	JET_ERR err = JetfsMountInstance(inst, mnt, opts, with_pm ? &m : NULL);

	ck_assert_msg(err == want, "JetfsMountInstance(%#llx, %s, %s%s) -> %s, expected %s", (unsigned long long)inst,
	    mnt ? mnt : "NULL", opts ? opts : "NULL", with_pm ? "" : ", NULL", JetErrorName(err), JetErrorName(want));
	if (with_pm && mnt != NULL && *mnt != '\0' && inst != 0 && inst != JET_instanceNil)
		ck_assert_msg(m == NULL, "a failed JetfsMountInstance(%s) left *pmount set", opts ? opts : "NULL");
	ck_assert_msg(!is_mounted(f->mnt), "a failed JetfsMountInstance(%s, %s) left %s mounted", mnt ? mnt : "NULL",
	    opts ? opts : "NULL", f->mnt);
}

START_TEST(test_mount_args)
{
	static const char *const bad_opts[] = {
		"bogus", "wait=abc", "wait=", "wait=3601", "wait=-1", "readahead=65537", "readahead=x",
		"max_read=100", "max_read=abc", "max_read=", "direct_io,bogus=1", "wait=5,nonsense",
	};
	struct fx f;
	char *missing;
	JET_GRBIT ended = 0xdead;
	char *st;

	fx_setup(&f);
	missing = tu_path(f.dir, "no-such-dir");

	mount_fails(&f, 0, f.mnt, NULL, 1, JET_errInvalidParameter);
	mount_fails(&f, JET_instanceNil, f.mnt, NULL, 1, JET_errInvalidParameter);
	mount_fails(&f, f.inst, NULL, NULL, 1, JET_errInvalidParameter);
	mount_fails(&f, f.inst, "", NULL, 1, JET_errInvalidParameter);
	mount_fails(&f, f.inst, f.mnt, NULL, 0, JET_errInvalidParameter);
	mount_fails(&f, f.inst, missing, NULL, 1, JET_errInvalidPath);
	ck_assert_msg(access(missing, F_OK) != 0, "JetfsMountInstance created the missing mount point");
	for (size_t i = 0; i < sizeof(bad_opts) / sizeof(bad_opts[0]); i++)
		mount_fails(&f, f.inst, f.mnt, bad_opts[i], 1, JET_errInvalidParameter);
	CK_ERR(JetfsUnmountInstance(NULL, &ended), JET_errInvalidParameter);
	ck_assert_msg(ended == 0xdead, "JetfsUnmountInstance(NULL) wrote *pgrbitEnded");

	/* After all that, good options mount; nothing looked inside: no backup. */
	fx_mount(&f, "wait=5,readahead=0,max_read=65536");
	st = status_of(&f);
	ck_assert_has(st, "backup: none");
	free(st);
	ck_assert_end(fx_unmount(&f), 0);
	/* and the same directory mounts again at once (pmount NULL for the grbit is allowed) */
	fx_mount(&f, NULL);
	CK(JetfsUnmountInstance(f.m, NULL));
	f.m = NULL;
	wd_send("D\n");
	ck_assert(!is_mounted(f.mnt));
	free(missing);
	fx_free(&f);
}
END_TEST

/* jetfs.h: the mount point is "an existing directory"; a regular file is not one. */
START_TEST(test_mount_on_file)
{
	struct fx f;
	char *file;
	JET_JETFSMOUNT m = NULL;
	JET_ERR err;
	JET_GRBIT ended = 0xdead;
	struct stat st;
	int st_rc = -1, st_errno = 0;

	fx_setup(&f);
	file = tu_path(f.dir, "a-file");
	write_file(file, (const uint8_t *)"x", 1);
	err = JetfsMountInstance(f.inst, file, NULL, &m);
	if (err == JET_errSuccess) {
		/* What a user would see there, for the message; then clean up. */
		st_rc = stat(file, &st);
		st_errno = errno;
		JetfsUnmountInstance(m, &ended);
	}
	ck_assert_msg(err == JET_errInvalidPath, "JetfsMountInstance on a regular file -> %s, expected "
	    "JET_errInvalidPath (jetfs.h: an existing directory); stat of it then: %s, mode %o", JetErrorName(err),
	    st_rc == 0 ? "ok" : strerror(st_errno), st_rc == 0 ? (unsigned)st.st_mode : 0u);
	ck_assert(!is_mounted(file));
	free(file);
	fx_free(&f);
}
END_TEST

/* A second mount on a mount point already served is refused: stacked, it would hide the first. */
START_TEST(test_mount_twice)
{
	struct fx f;
	JET_JETFSMOUNT m2 = NULL;
	JET_GRBIT ended = 0xdead;
	JET_ERR err;
	char *s;

	fx_setup(&f);
	fx_mount(&f, NULL);
	err = JetfsMountInstance(f.inst, f.mnt, NULL, &m2);
	if (err == JET_errSuccess)
		JetfsUnmountInstance(m2, &ended);
	ck_assert_msg(err == JET_errInvalidPath, "a second JetfsMountInstance on %s -> %s, expected JET_errInvalidPath",
	    f.mnt, JetErrorName(err));
	/* The first mount serves on. */
	s = status_of(&f);
	ck_assert_has(s, "backup: none\n");
	free(s);
	ck_assert_end(fx_unmount(&f), 0);
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 2. A full backup read every way
 * ====================================================================== */

static void
readback(const char *opts)
{
	struct fx f;
	struct listing l, l2, lroot;
	struct stat st1[MAXF], st2[MAXF];
	uint8_t *ref[MAXF];
	size_t size[MAXF];
	struct db_header before[2];
	unsigned long lo, hi;
	char *st, *copy, *p;
	const char *sets[1];
	int biggest = 0;

	fx_setup(&f);
	before[0] = tu_hdr_of(f.db[0]);
	before[1] = tu_hdr_of(f.db[1]);
	for (int d = 0; d < 2; d++)
		ck_assert_msg(bk_is_zero(&before[d].bk[BK_COPY_PREV]) && bk_is_zero(&before[d].bk[BK_FULL_PREV]),
		    "%s records a backup before any was taken", f.db[d]);
	fx_mount(&f, opts);

	/* The root and backup/ list the fixed tree and begin nothing. */
	ck_assert(list_dir(f.mnt, &lroot) == 0);
	ck_assert_msg(lroot.n == 1 && strcmp(lroot.name[0], "backup") == 0, "the root lists %d entries", lroot.n);
	listing_free(&lroot);
	p = mp(&f, "backup");
	ck_assert(list_dir(p, &lroot) == 0);
	free(p);
	ck_assert_msg(lroot.n == 5 && strcmp(lroot.name[0], "delta") == 0 && strcmp(lroot.name[1], "full") == 0 &&
	    strcmp(lroot.name[2], "incremental") == 0 && strcmp(lroot.name[3], "status") == 0 &&
	    strcmp(lroot.name[4], "truncate") == 0,
	    "backup/ lists %d entries (%s, ...)", lroot.n, lroot.n ? lroot.name[0] : "");
	listing_free(&lroot);
	st = status_of(&f);
	ck_assert_has(st, "backup: none");
	free(st);

	/* The first listing begins the backup; after it, the application goes on writing. */
	list_set(&f, "full", &l);
	fx_put(&f, "k", 0, 500, 2);
	fx_put(&f, "n", 0, 300, 1);
	stat_set(&f, "full", &l, st1);
	check_attrs("full", &l, st1);
	st = status_of(&f);
	ck_assert_has(st, "backup: full\n");
	ck_assert_has(st, "failed reads: 0\n");
	ck_assert_has(st, "on unmount: end abort");
	status_gens(st, &lo, &hi);
	for (int i = 0; i < l.n; i++) {
		char line[128];
		snprintf(line, sizeof(line), "  %-24s %12llu / %-12llu incomplete", l.name[i], 0ULL,
		    (unsigned long long)st1[i].st_size);
		ck_assert_has(st, line);
	}
	free(st);

	/* Sequential reads: the reference.  Then random offsets, several threads, re-reads. */
	for (int i = 0; i < l.n; i++) {
		p = mp(&f, "backup/full/%s", l.name[i]);
		ref[i] = read_file(p, &size[i]);
		ck_assert_uint_eq(size[i], (size_t)st1[i].st_size);
		if (size[i] > size[biggest])
			biggest = i;
		free(p);
	}
	fx_put(&f, "k", 0, 200, 3);	/* more writes, between the reads */
	for (int i = 0; i < l.n; i++) {
		p = mp(&f, "backup/full/%s", l.name[i]);
		read_concurrently(p, ref[i], size[i], 1000u + (unsigned)i, i == biggest ? 150 : 30);
		{
			size_t n2;
			uint8_t *again = read_file(p, &n2);
			ck_assert_msg(n2 == size[i] && memcmp(again, ref[i], n2) == 0, "a re-read of %s differs", p);
			free(again);
		}
		free(p);
		/* A log of the set is a closed generation: byte for byte the file on disk. */
		if (has_suffix(l.name[i], ".log")) {
			size_t dn;
			uint8_t *disk;
			p = tu_path(f.dir, l.name[i]);
			disk = slurp_disk(p, &dn);
			ck_assert_msg(dn == size[i] && memcmp(disk, ref[i], dn) == 0,
			    "backup/full/%s differs from %s (%zu and %zu bytes)", l.name[i], p, size[i], dn);
			free(disk);
			free(p);
		} else {
			/* A database stream: 2 header copies + the pages + a trailer page. */
			struct db_header h;
			ck_assert_int_eq(dbhdr_decode(ref[i], (uint32_t)size[i], &h), JET_errSuccess);
			ck_assert_msg(size[i] == ((size_t)h.pgno_last + 3) * h.page_size,
			    "backup/full/%s: %zu bytes for pgno_last %u, page size %u", l.name[i], size[i], h.pgno_last,
			    h.page_size);
			ck_assert_msg(h.flags & DBHDR_FLAG_BACKUP_COPY, "backup/full/%s: header not stamped as a backup copy",
			    l.name[i]);
		}
	}

	/* SHA256SUMS after reads in every order, by several threads: the hashes of the bytes served. */
	check_manifest(&f, "full", &l, ref, size);

	/* Nothing moved: listing, sizes, blocks, inodes, times. */
	list_set(&f, "full", &l2);
	check_listing_same(&l, &l2);
	listing_free(&l2);
	stat_set(&f, "full", &l, st2);
	check_attrs_same(&l, st1, st2, "during the session");
	st = status_of(&f);
	ck_assert_has(st, "failed reads: 0\n");
	ck_assert_hasnt(st, "incomplete");
	ck_assert_has(st, "truncation: allowed\n");
	ck_assert_has(st, "on unmount: end normal");
	free(st);
	check_headers_unchanged(before, (const char *const *)f.db, "before the unmount");
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	/* A full backup without truncation is recorded as a Copy, as ESE does. */
	check_recorded((const char *const *)f.db, BK_COPY_PREV, lo, hi);

	/* Restored: exactly the committed state at the first listing. */
	copy = tu_tempdir();
	for (int i = 0; i < l.n; i++) {
		p = tu_path(copy, l.name[i]);
		write_file(p, ref[i], size[i]);
		free(p);
		free(ref[i]);
	}
	sets[0] = copy;
	restore_and_check(sets, 1, 0, 1);
	listing_free(&l);
	tu_rmdir(copy);
	free(copy);
	fx_free(&f);
}

START_TEST(test_readback_page_cache)
{
	readback(NULL);
}
END_TEST

START_TEST(test_readback_direct_io)
{
	readback("direct_io,max_read=131072");
}
END_TEST

/*
 * Reads every file of backup/<kind> by preads of chunk bytes: the even ones
 * forwards, each read overlapping the one before by a third, the odd ones
 * backwards, from the last chunk to the first, 30 ms apart: longer than
 * jetfs waits for the reads in front of one (fsmanifest.c M1), so the gaps
 * must be read again.
 */
static void
read_set_unordered(struct fx *f, const char *kind, const struct listing *l, uint8_t **ref, size_t *size,
    size_t chunk)
{
	for (int i = 0; i < l->n; i++) {
		char *p = mp(f, "backup/%s/%s", kind, l->name[i]);
		int fd = open(p, O_RDONLY);
		struct stat st;
		ck_assert_msg(fd >= 0 && fstat(fd, &st) == 0, "open %s: %s", p, strerror(errno));
		size[i] = (size_t)st.st_size;
		ref[i] = malloc(size[i] ? size[i] : 1);
		ck_assert(ref[i] != NULL);
		for (size_t done = 0; done < size[i];) {
			size_t off = i % 2 == 0 ? (done > chunk / 3 ? done - chunk / 3 : 0) :
			    size[i] - done > chunk ? size[i] - done - chunk : 0;
			size_t n = i % 2 == 0 ? (size[i] - off < chunk ? size[i] - off : chunk) : size[i] - done - off;
			ssize_t got = pread(fd, ref[i] + off, n, (off_t)off);
			ck_assert_msg(got == (ssize_t)n, "pread %s at %zu: %zd (%s)", p, off, got,
			    got < 0 ? strerror(errno) : "short");
			done = i % 2 == 0 ? off + n : size[i] - off;
			if (i % 2 == 1)
				nanosleep(&(struct timespec){ 0, 30 * 1000000L }, NULL);
		}
		close(fd);
		free(p);
	}
}

static void
free_refs(uint8_t **ref, int n)
{
	for (int i = 0; i < n; i++)
		free(ref[i]);
}

/*
 * SHA256SUMS in the three orders tools read it: first (rsync: the name sorts
 * first), after reads out of order, and after sequential reads (tar, cp).
 */
START_TEST(test_manifest)
{
	struct fx f;
	struct listing l;
	uint8_t *ref[MAXF];
	size_t size[MAXF], hashed, n, total;
	unsigned long long reread;
	char *first, *st, *p;

	fx_setup(&f);

	/* 1. Read first, while the application writes: the point in time, by reading the set once more. */
	fx_mount(&f, NULL);
	list_set(&f, "full", &l);
	fx_put(&f, "k", 0, 500, 2);
	first = read_manifest(&f, "full", &l);
	st = status_of(&f);
	status_manifest(st, &hashed, &n, &reread);
	ck_assert_msg(hashed == (size_t)l.n && n == (size_t)l.n, "after reading SHA256SUMS: %zu of %zu files hashed",
	    hashed, n);
	/* Reading it is no read of the set: the backup is not complete for all that. */
	ck_assert_has(st, "on unmount: end abort");
	ck_assert_has(st, "truncation: not allowed");
	ck_assert_has(st, "read: 0 / ");
	free(st);
	total = 0;
	for (int i = 0; i < l.n; i++) {
		p = mp(&f, "backup/full/%s", l.name[i]);
		ref[i] = read_file(p, &size[i]);
		total += size[i];
		free(p);
	}
	ck_assert_msg(reread == total, "SHA256SUMS read first read %llu bytes of the %zu-byte set again", reread, total);
	{
		char *want = expected_manifest(&l, ref, size);
		ck_assert_msg(strcmp(first, want) == 0, "SHA256SUMS read first is\n%s\nbut the set read after it hashes "
		    "to\n%s", first, want);
		free(want);
	}
	check_manifest(&f, "full", &l, ref, size);	/* the same bytes again */
	free(first);
	free_refs(ref, l.n);
	ck_assert_int_eq(write_truncate(&f), 0);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	listing_free(&l);

	/* 2. Reads that overlap (hashed from where the hash stands) and backwards (each gap read again). */
	fx_put(&f, "k", 0, 300, 3);
	fx_mount(&f, "direct_io");
	list_set(&f, "incremental", &l);
	ck_assert_msg(l.n >= 2, "the incremental set has %d file(s): both orders need two", l.n);
	read_set_unordered(&f, "incremental", &l, ref, size, 48 << 10);
	st = status_settled(&f, &hashed, &n, &reread);
	/* Every gap is within reach (8 MiB): the reads themselves finished every hash. */
	ck_assert_msg(hashed == (size_t)l.n && reread > 0, "after overlapping and backwards reads: %zu of %zu files "
	    "hashed, %llu bytes read again:\n%s", hashed, n, reread, st);
	free(st);
	check_manifest(&f, "incremental", &l, ref, size);
	free_refs(ref, l.n);
	ck_assert_int_eq(write_truncate(&f), 0);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	listing_free(&l);

	/* 3. Sequential reads first (tar, cp -a): the hashes come from the bytes served, nothing is read again. */
	fx_put(&f, "k", 0, 300, 4);
	fx_mount(&f, NULL);
	list_set(&f, "full", &l);
	for (int i = 0; i < l.n; i++) {
		p = mp(&f, "backup/full/%s", l.name[i]);
		ref[i] = read_file(p, &size[i]);
		free(p);
	}
	st = status_settled(&f, &hashed, &n, &reread);
	ck_assert_msg(hashed == (size_t)l.n && reread == 0, "after sequential reads: %zu of %zu hashed, %llu bytes "
	    "read again:\n%s", hashed, n, reread, st);
	free(st);
	check_manifest(&f, "full", &l, ref, size);
	free_refs(ref, l.n);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	listing_free(&l);

	/* 4. -o nomanifest: no SHA256SUMS, and the set reads and ends as before. */
	fx_mount(&f, "nomanifest");
	p = mp(&f, "backup/full");
	ck_assert(list_dir(p, &l) == 0);
	free(p);
	for (int i = 0; i < l.n; i++) {
		ck_assert_msg(strcmp(l.name[i], "SHA256SUMS") != 0, "-o nomanifest lists SHA256SUMS");
		p = mp(&f, "backup/full/%s", l.name[i]);
		ref[i] = read_file(p, &size[i]);
		free(p);
	}
	p = mp(&f, "backup/full/SHA256SUMS");
	{
		struct stat sb;
		expect_errno(stat(p, &sb), ENOENT, "stat of SHA256SUMS with -o nomanifest");
	}
	free(p);
	st = status_of(&f);
	ck_assert_hasnt(st, "SHA256SUMS");
	ck_assert_has(st, "on unmount: end normal");
	free(st);
	free_refs(ref, l.n);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	listing_free(&l);

	/* 5. Read first on a set of more files than jetfs keeps open (48): each is
	 * hashed through to its end and let go.  A truncated full first. */
	fx_mount(&f, NULL);
	list_set(&f, "full", &l);
	for (int i = 0; i < l.n; i++) {
		p = mp(&f, "backup/full/%s", l.name[i]);
		free(read_file(p, &size[i]));
		free(p);
	}
	ck_assert_int_eq(write_truncate(&f), 0);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	listing_free(&l);
	{
		uint8_t present[4096];
		int closed = 0;
		for (int round = 0; round < 400 && closed < 56; round++) {
			fx_put(&f, "k", 0, 300, 5 + (unsigned)round);
			gens_present(f.dir, present, sizeof(present));
			closed = 0;
			for (size_t g = 0; g < sizeof(present); g++)
				closed += present[g];
		}
		ck_assert_msg(closed >= 56 && closed < MAXF, "%d closed generations, expected 56 to %d", closed, MAXF - 1);
	}
	fx_mount(&f, NULL);
	list_set(&f, "incremental", &l);
	ck_assert_msg(l.n > 48, "the incremental set has %d files, not more than 48", l.n);
	first = read_manifest(&f, "incremental", &l);
	for (int i = 0; i < l.n; i++) {
		p = mp(&f, "backup/incremental/%s", l.name[i]);
		ref[i] = read_file(p, &size[i]);
		free(p);
	}
	{
		char *want = expected_manifest(&l, ref, size);
		ck_assert_msg(strcmp(first, want) == 0, "SHA256SUMS of %d files read first is wrong", l.n);
		free(want);
	}
	free(first);
	free_refs(ref, l.n);
	ck_assert_int_eq(write_truncate(&f), 0);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	listing_free(&l);
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 3. EBUSY, EROFS
 * ====================================================================== */

static void
expect_errno(int rc, int want, const char *what)
{
	ck_assert_msg(rc < 0 && errno == want, "%s -> %d (%s), expected %s", what, rc, rc < 0 ? strerror(errno) : "ok",
	    strerror(want));
}

START_TEST(test_ebusy_erofs)
{
	struct fx f;
	struct listing l, l2;
	struct stat st;
	char *p, *q, *s;
	int fd;

	fx_setup(&f);
	fx_mount(&f, NULL);
	list_set(&f, "full", &l);
	/* The other directory: EBUSY for listing and lookup, every time. */
	for (int k = 0; k < 2; k++) {
		p = mp(&f, "backup/incremental");
		expect_errno(list_dir(p, &l2), EBUSY, "opendir backup/incremental during a full backup");
		free(p);
		p = mp(&f, "backup/incremental/%s", l.name[l.n - 1]);
		expect_errno(stat(p, &st), EBUSY, "stat of a file in backup/incremental during a full backup");
		free(p);
	}
	/* The running directory still lists, and unknown names are ENOENT. */
	p = mp(&f, "backup/full/no-such.log");
	expect_errno(stat(p, &st), ENOENT, "stat backup/full/no-such.log");
	free(p);

	/* Backup files are read-only. */
	p = mp(&f, "backup/full/%s", l.name[0]);
	expect_errno(open(p, O_WRONLY), EROFS, "open(O_WRONLY) of a backup file");
	expect_errno(open(p, O_RDWR), EROFS, "open(O_RDWR) of a backup file");
	expect_errno(open(p, O_WRONLY | O_APPEND), EROFS, "open(O_WRONLY|O_APPEND) of a backup file");
	expect_errno(open(p, O_RDONLY | O_TRUNC), EROFS, "open(O_RDONLY|O_TRUNC) of a backup file");
	expect_errno(chmod(p, 0644), EROFS, "chmod of a backup file");
	expect_errno(truncate(p, 0), EROFS, "truncate(2) of a backup file");
	expect_errno(chown(p, 1, 1), EROFS, "chown of a backup file");
	{
		struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
		expect_errno(utimensat(AT_FDCWD, p, ts, 0), EROFS, "utimensat of a backup file");
	}
	/* Removing, creating, renaming, linking: EROFS (jetfs(1)), not ENOSYS, and nothing changes. */
	expect_errno(unlink(p), EROFS, "unlink of a backup file");
	q = mp(&f, "backup/full/new.log");
	fd = open(q, O_WRONLY | O_CREAT, 0600);
	ck_assert_msg(fd < 0 && errno == EROFS, "creating a file in backup/full -> %d (%s), expected EROFS", fd,
	    fd < 0 ? strerror(errno) : "ok");
	expect_errno(mkdir(q, 0700), EROFS, "mkdir in backup/full");
	expect_errno(mknod(q, S_IFIFO | 0600, 0), EROFS, "mknod in backup/full");
	expect_errno(symlink(p, q), EROFS, "symlink in backup/full");
	expect_errno(link(p, q), EROFS, "link in backup/full");
	free(q);
	q = mp(&f, "backup/full/renamed");
	expect_errno(rename(p, q), EROFS, "rename of a backup file");
	free(q);
	q = mp(&f, "backup/incremental");
	expect_errno(rmdir(q), EROFS, "rmdir of backup/incremental");
	free(q);
	expect_errno(setxattr(p, "user.x", "1", 1, 0), EROFS, "setxattr of a backup file");
	expect_errno(removexattr(p, "user.x"), EROFS, "removexattr of a backup file");
	{
		/* A name no file system allows: ENAMETOOLONG, from lookup and from mkdir. */
		char name[300 + 1];
		memset(name, 'a', 300);
		name[300] = '\0';
		q = mp(&f, "backup/full/%s", name);
		expect_errno(stat(q, &st), ENAMETOOLONG, "stat of a 300-byte name");
		expect_errno(mkdir(q, 0700), ENAMETOOLONG, "mkdir of a 300-byte name");
		free(q);
	}
	ck_assert_msg(stat(p, &st) == 0 && st.st_size > 0, "%s is gone after the failed changes", p);
	fd = open(p, O_RDONLY);
	ck_assert_msg(fd >= 0, "open(O_RDONLY) of %s after the failed writes: %s", p, strerror(errno));
	close(fd);
	free(p);
	/* status is read-only too (EACCES from jetfs: root passes the mode check). */
	p = mp(&f, "backup/status");
	fd = open(p, O_WRONLY);
	ck_assert_msg(fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM),
	    "open(O_WRONLY) of backup/status -> %d (%s)", fd, fd < 0 ? strerror(errno) : "ok");
	free(p);
	/* The session goes on. */
	s = status_of(&f);
	ck_assert_has(s, "backup: full\n");
	ck_assert_has(s, "failed reads: 0\n");
	free(s);
	listing_free(&l);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndAbort);

	/* The other way round needs a full backup recorded: incremental first,
	 * then full answers EBUSY.  Without one, the incremental fails and says why. */
	fx_mount(&f, NULL);
	p = mp(&f, "backup/incremental");
	ck_assert_msg(list_dir(p, &l2) != 0, "an incremental backup began with no full backup recorded");
	s = status_of(&f);
	ck_assert_has(s, "begin failed: ");
	ck_assert_has(s, "on unmount: nothing to end, but no backup was taken");
	free(s);
	free(p);
	/* No backup was taken although one was asked for: not a success. */
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndAbort);
	fx_mount(&f, NULL);
	list_set(&f, "full", &l);
	for (int i = 0; i < l.n; i++) {
		size_t n;
		p = mp(&f, "backup/full/%s", l.name[i]);
		free(read_file(p, &n));
		free(p);
	}
	listing_free(&l);
	/* truncated, the full is recorded as Full (else as Copy, which no incremental can follow, as ESE) */
	ck_assert_int_eq(write_truncate(&f), 0);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	fx_put(&f, "k", 0, 1000, 2);
	fx_mount(&f, NULL);
	list_set(&f, "incremental", &l);
	p = mp(&f, "backup/full");
	expect_errno(list_dir(p, &l2), EBUSY, "opendir backup/full during an incremental backup");
	free(p);
	p = mp(&f, "backup/full/a.edb");
	expect_errno(stat(p, &st), EBUSY, "stat backup/full/a.edb during an incremental backup");
	free(p);
	s = status_of(&f);
	ck_assert_has(s, "backup: incremental\n");
	free(s);
	listing_free(&l);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndAbort);
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 4. Truncation, then an incremental
 * ====================================================================== */

/* Reads every file of the set; returns the set in a new directory (for restore). */
static char *
copy_set(struct fx *f, const char *kind, const struct listing *l)
{
	char *copy = tu_tempdir();

	for (int i = 0; i < l->n; i++) {
		size_t n;
		char *p = mp(f, "backup/%s/%s", kind, l->name[i]), *q = tu_path(copy, l->name[i]);
		uint8_t *b = read_file(p, &n);
		write_file(q, b, n);
		free(b);
		free(p);
		free(q);
	}
	return copy;
}

START_TEST(test_truncate)
{
	struct fx f;
	struct listing l;
	char *s, *t, *full, *inc, *p;
	unsigned long lo, hi, ilo, ihi;
	uint8_t present[4096], after[4096];
	int candidates = 0, e;
	const char *sets[2];

	fx_setup(&f);
	fx_mount(&f, NULL);
	/* Before any backup: the truncate file says so, and a write is refused. */
	e = write_truncate(&f);
	ck_assert_msg(e == EPERM, "write to backup/truncate before any backup -> %s, expected EPERM", strerror(e));
	list_set(&f, "full", &l);
	s = status_of(&f);
	status_gens(s, &lo, &hi);
	free(s);
	gens_present(f.dir, present, sizeof(present));

	/* Nothing read yet: refused, with the reason in status and in the truncate file. */
	check_truncate_refused(&f, "before the files were read");
	s = status_of(&f);
	ck_assert_has(s, "truncation: not allowed: ");
	ck_assert_has(s, "last error: truncation refused: ");
	free(s);
	p = mp(&f, "backup/truncate");
	t = read_text(p);
	ck_assert_msg(t != NULL && strstr(t, "truncation not allowed yet: ") != NULL, "backup/truncate reads: %s",
	    t ? t : strerror(errno));
	free(t);
	/* Every file but the last: still refused, and the last is named. */
	{
		size_t n;
		for (int i = 0; i < l.n - 1; i++) {
			char *q = mp(&f, "backup/full/%s", l.name[i]);
			free(read_file(q, &n));
			free(q);
		}
		e = write_truncate(&f);
		ck_assert_msg(e == EPERM, "write to backup/truncate with %s unread -> %s, expected EPERM",
		    l.name[l.n - 1], e ? strerror(e) : "success");
		s = status_of(&f);
		{
			char want[256];
			snprintf(want, sizeof(want), "truncation: not allowed: 1 of %d files not read completely (first: %s, ",
			    l.n, l.name[l.n - 1]);
			ck_assert_has(s, want);
		}
		free(s);
	}
	gens_present(f.dir, after, sizeof(after));
	ck_assert_msg(memcmp(present, after, sizeof(after)) == 0, "a refused truncation deleted log files");

	/* Everything read: allowed; the candidates it lists are then gone. */
	full = copy_set(&f, "full", &l);
	s = status_of(&f);
	ck_assert_has(s, "truncation: allowed\n");
	free(s);
	t = read_text(p);
	ck_assert_msg(t != NULL && strstr(t, "would truncate:\n") != NULL, "backup/truncate reads: %s",
	    t ? t : strerror(errno));
	free(t);
	e = write_truncate(&f);
	ck_assert_msg(e == 0, "write to backup/truncate after a complete read -> %s", strerror(e));
	t = read_text(p);
	ck_assert_msg(t != NULL && strncmp(t, "truncated:\n", 11) == 0, "backup/truncate after truncation reads: %s",
	    t ? t : strerror(errno));
	for (char *line = t + 11, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		uint32_t g;
		char *disk;
		*nl = '\0';
		ck_assert_msg(log_parse_name("edb", line, &g), "backup/truncate lists \"%s\"", line);
		ck_assert_msg(g < sizeof(present) && present[g], "truncated %s, which was not on disk", line);
		ck_assert_msg(g < lo, "truncated %s, a generation of the set %lu-%lu", line, lo, hi);
		disk = tu_path(f.dir, line);
		ck_assert_msg(access(disk, F_OK) != 0, "truncated %s is still on disk", disk);
		free(disk);
		candidates++;
	}
	free(t);
	ck_assert_msg(candidates > 0, "the truncation deleted no log (the instance has old generations)");
	/* a second write is harmless */
	e = write_truncate(&f);
	ck_assert_msg(e == 0, "a second write to backup/truncate -> %s", strerror(e));
	s = status_of(&f);
	ck_assert_has(s, "truncation: done\n");
	free(s);
	free(p);
	listing_free(&l);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	check_recorded((const char *const *)f.db, BK_FULL_PREV, lo, hi);

	/* An incremental through a new mount; the chain restores. */
	fx_put(&f, "k", 0, 700, 4);
	fx_mount(&f, NULL);
	list_set(&f, "incremental", &l);
	s = status_of(&f);
	status_gens(s, &ilo, &ihi);
	free(s);
	ck_assert_msg(ilo <= hi + 1 && ihi > hi, "incremental generations %lu-%lu after a full of %lu-%lu", ilo, ihi, lo,
	    hi);
	fx_put(&f, "k", 0, 100, 5);	/* after Begin: not in the set */
	inc = copy_set(&f, "incremental", &l);
	e = write_truncate(&f);
	ck_assert_msg(e == 0, "write to backup/truncate after the incremental was read -> %s", strerror(e));
	listing_free(&l);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	check_recorded((const char *const *)f.db, BK_INC_PREV, ilo, ihi);
	sets[0] = full;
	restore_and_check(sets, 1, 0, 1);
	sets[1] = inc;
	restore_and_check(sets, 2, 700, 4);
	tu_rmdir(full);
	tu_rmdir(inc);
	free(full);
	free(inc);
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 5. A partial read ends as an abort
 * ====================================================================== */

START_TEST(test_partial_abort)
{
	struct fx f;
	struct listing l;
	struct db_header before[2];
	uint8_t present[4096];
	char *s, *p, want[256];
	int fd, part = -1;
	uint8_t buf[8192];
	struct stat st;

	fx_begin_full(&f, before, present, sizeof(present), &l);
	for (int i = 0; i < l.n; i++) {
		size_t n;
		p = mp(&f, "backup/full/%s", l.name[i]);
		if (strcmp(l.name[i], "a.edb") == 0) {
			part = i;
			fd = open(p, O_RDONLY);
			ck_assert(fd >= 0);
			ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
			ck_assert(fstat(fd, &st) == 0);
			close(fd);
		} else
			free(read_file(p, &n));
		free(p);
	}
	ck_assert_int_ge(part, 0);
	s = status_of(&f);
	snprintf(want, sizeof(want), "  %-24s %12llu / %-12llu incomplete", "a.edb", (unsigned long long)sizeof(buf),
	    (unsigned long long)st.st_size);
	ck_assert_has(s, want);
	ck_assert_has(s, "on unmount: end abort (1 of ");
	free(s);
	check_truncate_refused(&f, "with a.edb half read");
	listing_free(&l);
	fx_unmount_aborted(&f, before, present, sizeof(present), "after an abort");
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 6. A damaged database page
 * ====================================================================== */

START_TEST(test_corrupt_page)
{
	struct fx f;
	struct listing l;
	struct db_header h, before[2];
	uint32_t victim = 0;
	uint8_t *page;
	char *s, *p;
	int fd, e;
	size_t off = 0;
	ssize_t r;
	uint8_t buf[65536];

	fx_setup(&f);
	fx_term(&f);		/* every page on disk, clean */
	h = tu_hdr_of(f.db[0]);
	page = malloc(h.page_size);
	ck_assert(page != NULL);
	fd = open(f.db[0], O_RDONLY);
	ck_assert(fd >= 0);
	for (uint32_t pg = h.pgno_last / 2 + 1; pg <= h.pgno_last && victim == 0; pg++) {
		ck_assert(pread(fd, page, h.page_size, (off_t)page_offset(pg, h.page_size)) == (ssize_t)h.page_size);
		if (!page_is_zero(page, h.page_size) && page_verify(page, h.page_size, pg) == JET_errSuccess)
			victim = pg;
	}
	close(fd);
	free(page);
	ck_assert_msg(victim != 0, "no used page to damage in %s (pgno_last %u)", f.db[0], h.pgno_last);
	tu_scribble(f.db[0], page_offset(victim, h.page_size) + 200, 300, 0xA5);
	fx_open(&f);
	before[0] = tu_hdr_of(f.db[0]);
	before[1] = tu_hdr_of(f.db[1]);

	fx_mount(&f, NULL);
	list_set(&f, "full", &l);
	p = mp(&f, "backup/full/a.edb");
	fd = open(p, O_RDONLY);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		off += (size_t)r;
	e = errno;
	close(fd);
	ck_assert_msg(r < 0 && e == EIO, "reading a.edb with page %u damaged: read -> %zd (%s) after %zu bytes, "
	    "expected EIO", victim, r, r < 0 ? strerror(e) : "end of file", off);
	ck_assert_msg(off <= page_offset(victim, h.page_size), "read %zu bytes of a.edb, past the damaged page at %llu",
	    off, (unsigned long long)page_offset(victim, h.page_size));
	free(p);
	read_all_but(&f, &l, "a.edb");	/* the other files read completely */
	s = status_of(&f);
	ck_assert_msg(strstr(s, "failed reads: 0\n") == NULL && strstr(s, "\nfailed reads: ") != NULL,
	    "status after a failed read:\n%s", s);
	ck_assert_has(s, "last error: read of a.edb at ");
	ck_assert_has(s, "failed read");
	ck_assert_has(s, "truncation: not allowed: ");
	ck_assert_has(s, "on unmount: end abort");
	free(s);
	check_truncate_refused(&f, "after a failed read");
	/* A new open and read of the damaged file fails again (direct_io would not use the cache). */
	listing_free(&l);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndAbort);
	check_headers_unchanged(before, (const char *const *)f.db, "after a failed read");
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 7. The unmount waits for a reader that has a file open
 * ====================================================================== */

struct unmounter {
	JET_JETFSMOUNT m;
	JET_GRBIT ended;
	JET_ERR err;
	atomic_int done;
};

static void *
unmounter_main(void *arg)
{
	struct unmounter *u = arg;

	u->err = JetfsUnmountInstance(u->m, &u->ended);
	atomic_store(&u->done, 1);
	return NULL;
}

START_TEST(test_unmount_waits_for_reader)
{
	struct fx f;
	struct listing l;
	struct unmounter u;
	pthread_t th;
	char *copy, *p, *q;
	uint8_t *ref, buf[4096];
	size_t n;
	int fd;
	struct timespec pause = { 0, 300 * 1000000L };

	fx_setup(&f);
	fx_mount(&f, "direct_io");
	list_set(&f, "full", &l);
	copy = copy_set(&f, "full", &l);
	p = mp(&f, "backup/full/%s", l.name[0]);
	fd = open(p, O_RDONLY);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	memset(&u, 0, sizeof(u));
	u.m = f.m;
	u.ended = 0xdead;
	ck_assert(pthread_create(&th, NULL, unmounter_main, &u) == 0);
	nanosleep(&pause, NULL);
	ck_assert_msg(!atomic_load(&u.done), "JetfsUnmountInstance returned while a reader had a file open");
	/* the open file is still served (direct_io: by jetfs, not the page cache) */
	q = tu_path(copy, l.name[0]);
	ref = slurp_disk(q, &n);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 4096), (ssize_t)sizeof(buf));
	ck_assert_msg(memcmp(buf, ref + 4096, sizeof(buf)) == 0, "the open file read other bytes during the unmount");
	close(fd);
	pthread_join(th, NULL);
	f.m = NULL;
	wd_send("D\n");
	CK(u.err);
	ck_assert_end(u.ended, JET_bitBackupEndNormal);
	ck_assert(!is_mounted(f.mnt));
	free(ref);
	free(q);
	free(p);
	listing_free(&l);
	tu_rmdir(copy);
	free(copy);
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 8. The instance stops under the mount
 * ====================================================================== */

START_TEST(test_instance_stops)
{
	struct fx f;
	struct listing l;
	struct db_header before[2];
	uint8_t present[4096], buf[8192];
	char *p, *s;
	int fd;
	ssize_t r;

	fx_setup(&f);
	before[0] = tu_hdr_of(f.db[0]);
	before[1] = tu_hdr_of(f.db[1]);
	fx_mount(&f, "readahead=0");	/* each pread reaches the instance */
	list_set(&f, "full", &l);
	p = mp(&f, "backup/full/a.edb");
	fd = open(p, O_RDONLY);
	ck_assert(fd >= 0);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	gens_present(f.dir, present, sizeof(present));
	/* As ESE: JetTerm refuses while a backup runs; JetTerm2(StopBackup) ends it. */
	CK(JetEndSession(f.ses, 0));
	CK_ERR(JetTerm(f.inst), JET_errBackupInProgress);
	CK(JetTerm2(f.inst, JET_bitTermStopBackup));
	f.inst = 0;
	r = pread(fd, buf, sizeof(buf), 8192);
	ck_assert_msg(r < 0 && errno == EIO, "pread after the instance stopped -> %zd (%s), expected EIO", r,
	    r < 0 ? strerror(errno) : "ok");
	close(fd);
	free(p);
	p = mp(&f, "backup/full/%s", l.name[l.n - 1]);
	fd = open(p, O_RDONLY);
	r = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
	ck_assert_msg(r < 0 && errno == EIO, "read of %s after the instance stopped -> %zd (%s), expected EIO", p, r,
	    r < 0 ? strerror(errno) : "ok");
	if (fd >= 0)
		close(fd);
	free(p);
	s = status_of(&f);
	ck_assert_msg(strstr(s, "failed reads: 0\n") == NULL && strstr(s, "\nfailed reads: ") != NULL,
	    "status after the instance stopped:\n%s", s);
	ck_assert_has(s, "last error: ");
	ck_assert_has(s, "on unmount: end abort");
	free(s);
	ck_assert_msg(write_truncate(&f) != 0, "truncation succeeded after the instance stopped");
	listing_free(&l);
	fx_unmount_aborted(&f, before, present, sizeof(present), "after the instance stopped");
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 9. An I/O error on a database read of the backup, then a retry
 * ====================================================================== */

START_TEST(test_db_read_fault)
{
	struct fx f;
	struct listing l;
	struct db_header before[2];
	uint8_t present[4096], buf[16384];
	char *p, *s, *copy;
	int fd, e;
	ssize_t r;

	fx_begin_full(&f, before, present, sizeof(present), &l);
	p = mp(&f, "backup/full/a.edb");
	fd = open(p, O_RDONLY);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	/*
	 * Reads of a.edb (or of its kept images) fail, as on a bad sector: the
	 * direct read (pitread.c) and the instance's read it falls back to.
	 */
	os_fault_arm(OS_FAULT_EIO, 1, 1, 1, "a.edb");
	r = pread(fd, buf, sizeof(buf), 65536);
	e = errno;
	os_fault_disarm();
	ck_assert_msg(r < 0 && e == EIO, "pread of a.edb with a disk read failing -> %zd (%s), expected EIO", r,
	    r < 0 ? strerror(e) : "ok");
	/*
	 * As ESE: a database whose read failed leaves the backup (its later
	 * reads fail with the same error), the other files go on.
	 */
	r = pread(fd, buf, sizeof(buf), 65536);
	e = errno;
	ck_assert_msg(r < 0 && e == EIO, "pread of a.edb again after its failed read -> %zd (%s), expected EIO", r,
	    r < 0 ? strerror(e) : "ok");
	close(fd);
	free(p);
	read_all_but(&f, &l, "a.edb");
	s = status_of(&f);
	ck_assert_has(s, "\nfailed reads: 2\n");
	/* The cause, not a follow-on error of the dropped database. */
	ck_assert_has(s, "last error: read of a.edb at 65536 (+16384): Disk IO error (-1022)");
	ck_assert_has(s, "\nfirst failed read: read of a.edb at 65536 (+16384): Disk IO error (-1022)\n");
	ck_assert_has(s, "on unmount: end abort (2 reads failed (first: read of a.edb at 65536");
	for (int i = 0; i < l.n; i++) {
		char *line = status_file_line(s, l.name[i]);
		ck_assert_msg(line != NULL, "no line for %s in the status:\n%s", l.name[i], s);
		ck_assert_msg((strstr(line, "incomplete") != NULL) == (strcmp(l.name[i], "a.edb") == 0),
		    "status line of %s after a.edb failed: %s", l.name[i], line);
		free(line);
	}
	ck_assert_has(s, "truncation: not allowed: ");
	ck_assert_has(s, "on unmount: end abort");
	free(s);
	/* A set with a failed read ends as an abort, whatever was read after. */
	check_truncate_refused(&f, "after a failed read");
	listing_free(&l);
	fx_unmount_aborted(&f, before, present, sizeof(present), "after a failed database read");
	/* The instance took no harm: it writes, and its next backup completes and truncates. */
	fx_put(&f, "k", 0, 200, 2);
	fx_mount(&f, "direct_io");
	list_set(&f, "full", &l);
	copy = copy_set(&f, "full", &l);
	ck_assert_int_eq(write_truncate(&f), 0);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	listing_free(&l);
	tu_rmdir(copy);
	free(copy);
	fx_free(&f);
}
END_TEST

/* ======================================================================
 * 10. JetTerm2 while threads are in the middle of reads
 * ====================================================================== */

struct busy_reader {
	char *path;		/* in the mount */
	const uint8_t *ref;	/* the bytes of a copy made before */
	size_t size;
	atomic_int reads;	/* reads that returned the right bytes */
	int err;		/* errno of the read that ended it; 0: none did */
	char what[160];		/* what went wrong otherwise */
};

/* Reads at spread offsets until a read fails (or 200000 reads passed). */
static void *
busy_reader_main(void *arg)
{
	struct busy_reader *br = arg;
	uint8_t buf[32768];
	int fd = open(br->path, O_RDONLY);

	if (fd < 0) {
		br->err = errno;
		return NULL;
	}
	for (unsigned i = 0; i < 200000 && br->err == 0 && br->what[0] == '\0'; i++) {
		size_t off = ((size_t)i * 40961) % br->size, want = br->size - off < sizeof(buf) ? br->size - off :
		    sizeof(buf);
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r < 0)
			br->err = errno;
		else if ((size_t)r != want || memcmp(buf, br->ref + off, want) != 0)
			snprintf(br->what, sizeof(br->what), "read at %zu returned %zd bytes, not the %zu of the copy",
			    off, r, want);
		else
			atomic_fetch_add(&br->reads, 1);
	}
	close(fd);
	return NULL;
}

START_TEST(test_term_mid_read)
{
	struct fx f;
	struct listing l;
	struct db_header before[2];
	struct busy_reader br[2];
	pthread_t th[2];
	uint8_t *ref[2];
	uint8_t present[4096];
	char *copy, *q, *s;

	fx_begin_full(&f, before, present, sizeof(present), &l);
	copy = copy_set(&f, "full", &l);
	for (int i = 0; i < 2; i++) {
		memset(&br[i], 0, sizeof(br[i]));
		br[i].path = mp(&f, "backup/full/%s", db_names[i]);
		q = tu_path(copy, db_names[i]);
		ref[i] = slurp_disk(q, &br[i].size);
		free(q);
		br[i].ref = ref[i];
		ck_assert(pthread_create(&th[i], NULL, busy_reader_main, &br[i]) == 0);
	}
	while (atomic_load(&br[0].reads) < 50 || atomic_load(&br[1].reads) < 50) {
		ck_assert_msg(br[0].err == 0 && br[1].err == 0 && br[0].what[0] == '\0' && br[1].what[0] == '\0',
		    "a reader stopped before JetTerm2: %s / %s (%s / %s)", strerror(br[0].err), strerror(br[1].err),
		    br[0].what, br[1].what);
		nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
	}
	CK(JetEndSession(f.ses, 0));
	CK(JetTerm2(f.inst, JET_bitTermStopBackup));
	f.inst = 0;
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(br[i].what[0] == '\0', "%s during JetTerm2: %s", db_names[i], br[i].what);
		ck_assert_msg(br[i].err == EIO, "the reads of %s after JetTerm2 ended with %s, expected EIO",
		    db_names[i], br[i].err ? strerror(br[i].err) : "none failing");
		free(br[i].path);
		free(ref[i]);
	}
	s = status_of(&f);
	ck_assert_has(s, "on unmount: end abort");
	free(s);
	listing_free(&l);
	fx_unmount_aborted(&f, before, present, sizeof(present), "after JetTerm2 during reads");
	tu_rmdir(copy);
	free(copy);
	fx_free(&f);
}
END_TEST

/* ---- the suite ---- */


/* ======================================================================
 * The in-process mount takes over a backup a socket client left (-o resume)
 * ====================================================================== */

START_TEST(test_resume)
{
	struct fx f;
	struct listing l, l2;
	struct db_header before[2];
	JETFS_BACKUPINFO info = { .cbStruct = sizeof(info) };
	JET_INSTANCE r;
	JET_HANDLE h;
	unsigned long lo, hi, got;
	char buf[8192], *p, *st;
	struct stat sb;

	fx_setup(&f);
	fx_term(&f);
	f.sock = tu_path(f.dir, "bk.sock");
	fx_open(&f);
	before[0] = tu_hdr_of(f.db[0]);
	before[1] = tu_hdr_of(f.db[1]);

	/* A socket client begins, reads the start of a.edb and vanishes: the instance holds its backup. */
	CK(JetfsConnectBackup(f.sock, &r));
	CK(JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime));
	CK(JetOpenFileInstance(r, f.db[0], &h, &lo, &hi));
	CK(JetfsReadFileAt(r, h, 0, buf, sizeof(buf), &got));
	CK(JetfsDisconnectBackup(r));
	for (int i = 0; i < 1000 && !info.fHeld; i++) {
		CK(JetfsGetBackupInfo(f.inst, &info));
		if (!info.fHeld)
			usleep(10000);
	}
	ck_assert_msg(info.fHeld, "the vanished client's backup is not held");

	/* Without resume: the set cannot begin, and says why. */
	fx_mount(&f, NULL);
	p = mp(&f, "backup/full");
	expect_errno(list_dir(p, &l2), EBUSY, "opendir backup/full beside a held backup");
	free(p);
	st = status_of(&f);
	ck_assert_has(st, "is held for its lost client");
	ck_assert_has(st, "mount with -o resume");
	free(st);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndAbort);

	/* With resume: the held set, as it began; read it all; the end records it. */
	fx_mount(&f, "resume");
	list_set(&f, "full", &l);
	p = mp(&f, "backup/full/%s", l.name[0]);
	ck_assert_int_eq(stat(p, &sb), 0);
	free(p);
	ck_assert_int_eq(sb.st_mtim.tv_sec, (time_t)(info.ullBeginTimeUs / 1000000));
	st = status_of(&f);
	ck_assert_has(st, "resumed: taken over from a lost mount");
	free(st);
	read_all_but(&f, &l, "");
	ck_assert_int_eq(write_truncate(&f), 0);
	ck_assert_end(fx_unmount(&f), JET_bitBackupEndNormal);
	CK(JetfsGetBackupInfo(f.inst, &info));
	ck_assert_uint_eq(info.ullId, 0);
	ck_assert_uint_eq(info.errLastEnd, JET_errSuccess);
	for (int i = 0; i < 2; i++) {
		struct db_header after = tu_hdr_of(f.db[i]);
		ck_assert_msg(memcmp(&after.bk[BK_FULL_PREV], &before[i].bk[BK_FULL_PREV], sizeof(after.bk[0])) != 0,
		    "%s: the resumed backup was not recorded", f.db[i]);
	}
	listing_free(&l);
	fx_free(&f);
}
END_TEST

static Suite *
jetfs_suite(void)
{
	Suite *s = suite_create("jetfs");

	tu_add_test(s, "mount_args", test_mount_args, 60);
	tu_add_test(s, "mount_on_file", test_mount_on_file, 60);
	tu_add_test(s, "mount_twice", test_mount_twice, 60);
	tu_add_test(s, "readback_page_cache", test_readback_page_cache, 60);
	tu_add_test(s, "readback_direct_io", test_readback_direct_io, 60);
	tu_add_test(s, "manifest", test_manifest, 60);
	tu_add_test(s, "ebusy_erofs", test_ebusy_erofs, 60);
	tu_add_test(s, "truncate", test_truncate, 60);
	tu_add_test(s, "partial_abort", test_partial_abort, 60);
	tu_add_test(s, "corrupt_page", test_corrupt_page, 60);
	tu_add_test(s, "unmount_waits_for_reader", test_unmount_waits_for_reader, 60);
	tu_add_test(s, "instance_stops", test_instance_stops, 60);
	tu_add_test(s, "db_read_fault", test_db_read_fault, 60);
	tu_add_test(s, "resume", test_resume, 60);
	tu_add_test(s, "term_mid_read", test_term_mid_read, 60);
	return s;
}

/* Unmounts (lazily) whatever a failed test left mounted under base. */
static void
unmount_leftovers(const char *base)
{
	FILE *mi = fopen("/proc/self/mountinfo", "r");
	char line[4096], mpt[4096];
	size_t bl = strlen(base);

	if (mi == NULL)
		return;
	while (fgets(line, sizeof(line), mi) != NULL) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mpt) != 1 || strncmp(mpt, base, bl) != 0)
			continue;
		fprintf(stderr, "check_jetfs: %s was left mounted; unmounting it\n", mpt);
		if (geteuid() == 0) {
			umount2(mpt, MNT_DETACH);
		} else {
			pid_t pid = fork();
			int status;
			if (pid == 0) {
				execlp("fusermount3", "fusermount3", "-u", "-z", "--", mpt, (char *)NULL);
				_exit(127);
			}
			if (pid > 0)
				waitpid(pid, &status, 0);
		}
	}
	fclose(mi);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *base, *cmd;
	int fd = open("/dev/fuse", O_RDWR), rc;

	if (fd < 0) {
		printf("SKIP: check_jetfs: cannot open /dev/fuse (%s): FUSE mounts are not possible here\n",
		    strerror(errno));
		return 77;
	}
	close(fd);
	if (geteuid() != 0 && system("fusermount3 -V >/dev/null 2>&1") != 0) {
		printf("SKIP: check_jetfs: no fusermount3 (package fuse3)\n");
		return 77;
	}
	/* Every test's directories under one private base, cleaned here even after a failure. */
	if (asprintf(&base, "%s/jetcheck.jetfs.XXXXXX", tmp) < 0 || mkdtemp(base) == NULL) {
		perror("check_jetfs: mkdtemp");
		return 99;
	}
	setenv("TMPDIR", base, 1);
	rc = tu_run(jetfs_suite());
	unmount_leftovers(base);
	if (asprintf(&cmd, "rm -rf '%s'", base) < 0 || system(cmd) != 0)
		fprintf(stderr, "check_jetfs: cannot remove %s\n", base);
	free(cmd);
	free(base);
	return rc;
}
