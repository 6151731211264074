/*
 * backupdir.c -- JetBackupInstance: ESE's all-in-one backup to a directory,
 * driving the external backup API (backup.c) exactly as a client would:
 * Begin, each database Open/Read/Close, GetLogInfo, each log, TruncateLog,
 * End.  The checkpoint file is not copied; restore writes one.
 *
 * Full backup into an empty directory; with JET_bitBackupAtomic the new set
 * is written into <dir>/new.tmp and replaces the old one only when complete
 * (the old set moves to <dir>/old).  Incremental adds the logs to the set in
 * the directory.  A failure before truncation leaves nothing new and
 * truncates nothing; once truncation has begun the set stays (it may hold
 * the only copy of what was truncated).  A page delta
 * (JET_bitBackupJetfsDelta) goes into an empty directory like a full set,
 * truncates nothing, and is removed if End fails.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bkname.h"
#include "jet_int.h"

#define BKD_CHUNK (1u << 20)

struct bkd {
	JET_INSTANCE inst;
	struct jet_inst *in;
	JET_PFNSTATUS pfn;
	int pit;			/* point in time: files read with JetfsReadFileAt, which needs no request */
	char *dir;			/* where files are written now */
	char **written;
	size_t nwritten;
	uint8_t *buf;
};

static void
backupdir_status(struct bkd *b, JET_SNT snt, unsigned long done)
{
	JET_SNPROG prog = { sizeof(prog), done, 100 };

	if (b->pfn != NULL)
		b->pfn(0, JET_snpBackup, snt, snt == JET_sntProgress || snt == JET_sntComplete ? &prog : NULL);
}

static const char *
backupdir_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* *samep: whether the files a and b hold the same bytes. */
static JET_ERR
backupdir_same_file(const char *a, const char *b, int *samep)
{
	os_file *fa = NULL, *fb = NULL;
	uint8_t *ba = malloc(BKD_CHUNK), *bb = malloc(BKD_CHUNK);
	uint64_t sa, sb;
	JET_ERR err;

	*samep = 0;
	if (ba == NULL || bb == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	ERR(os_open(a, OS_READ, &fa));
	ERR(os_open(b, OS_READ, &fb));
	ERR(os_size(fa, &sa));
	ERR(os_size(fb, &sb));
	*samep = sa == sb;
	for (uint64_t off = 0; *samep && off < sa; off += BKD_CHUNK) {
		size_t n = sa - off < BKD_CHUNK ? (size_t)(sa - off) : BKD_CHUNK;
		ERR(os_pread(fa, ba, n, off));
		ERR(os_pread(fb, bb, n, off));
		*samep = memcmp(ba, bb, n) == 0;
	}
err:
	os_close(fa);
	os_close(fb);
	free(ba);
	free(bb);
	return err;
}

/*
 * Copies one backup file (Open, Read..., Close) to dir, through a temporary
 * name: a file of the set already there (an incremental into the full set's
 * directory) is replaced only by a complete copy, and is never lost.  A log
 * generation never changes once closed, so a file already there must hold
 * the same bytes; a different one belongs to another set (another instance,
 * or a log stream started again) and replacing it would break that set: the
 * backup fails instead.
 */
static JET_ERR
backupdir_copy(struct bkd *b, const char *name)
{
	char *to = os_path_join(b->dir, backupdir_base(name)), *tmp = NULL;
	os_file *out = NULL;
	JET_HANDLE h;
	unsigned long lo, hi, got;
	uint64_t off = 0;
	int existed;
	JET_ERR err, cerr;

	if (to == NULL || asprintf(&tmp, "%s.jfstmp", to) < 0) {
		free(to);
		return JET_errOutOfMemory;
	}
	existed = os_exists(to);
	if ((err = JetOpenFileInstance(b->inst, name, &h, &lo, &hi)) < 0)
		goto out;
	if (os_exists(tmp))
		err = os_unlink(tmp);
	if (err >= 0)
		err = os_open(tmp, OS_WRITE | OS_CREATE | OS_EXCL, &out);
	while (err >= 0) {
		err = b->pit ? JetfsReadFileAt(b->inst, h, off, b->buf, BKD_CHUNK, &got) :
		    JetReadFileInstance(b->inst, h, b->buf, BKD_CHUNK, &got);
		if (err < 0 || got == 0)
			break;
		err = os_pwrite(out, b->buf, got, off);
		off += got;
	}
	if (err >= 0)
		err = os_fsync(out);
	cerr = JetCloseFileInstance(b->inst, h);
	if (err >= 0 && cerr < 0 && cerr != JET_errNoBackup)
		err = cerr;
	if (err >= 0 && off != ((uint64_t)hi << 32 | lo))
		err = JET_errDiskIO;
	os_close(out);
	out = NULL;
	if (err >= 0 && existed) {
		int same;
		if ((err = backupdir_same_file(tmp, to, &same)) >= 0 && !same) {
			event_log(b->in, EVENT_ERROR, 214,
			    "backup: %s already holds a different %s (a file of another backup set?): not replaced",
			    b->dir, backupdir_base(name));
			err = JET_errFileAlreadyExists;
		}
	}
	if (err >= 0)
		err = os_rename(tmp, to);
	if (err >= 0 && !existed) {
		char **n = realloc(b->written, (b->nwritten + 1) * sizeof(*n));
		if (n == NULL || (n[b->nwritten] = strdup(to)) == NULL)
			err = JET_errOutOfMemory;
		else
			b->nwritten++;
		if (n != NULL)
			b->written = n;
	}
out:
	os_close(out);
	if (os_exists(tmp))
		os_unlink(tmp);
	if (err >= 0)
		event_log(b->in, EVENT_INFO, 221, "backup: copied %s to %s", name, to);
	free(tmp);
	free(to);
	return err;
}

/* Copies each name of a double-NUL list. */
static JET_ERR
backupdir_copy_list(struct bkd *b, const char *szz)
{
	JET_ERR err = JET_errSuccess;

	for (const char *p = szz; *p != '\0' && err >= 0; p += strlen(p) + 1)
		err = backupdir_copy(b, p);
	return err;
}

static JET_ERR
backupdir_list(struct bkd *b, int logs, char **szzp)
{
	unsigned long need = 0;
	JET_ERR err;

	*szzp = NULL;
	err = logs ? JetGetLogInfoInstance(b->inst, NULL, 0, &need) : JetGetAttachInfoInstance(b->inst, NULL, 0, &need);
	if (err < 0)
		return err;
	if ((*szzp = malloc(need)) == NULL)
		return JET_errOutOfMemory;
	return logs ? JetGetLogInfoInstance(b->inst, *szzp, need, &need) :
	    JetGetAttachInfoInstance(b->inst, *szzp, need, &need);
}

/*
 * Every file of a set lies in one directory under its base name: a set whose
 * names cannot (bkname.h) is refused before anything is copied or truncated,
 * with jetfs's words: the admin renames a database.
 */
static JET_ERR
backupdir_check_names(struct bkd *b, const char *dbs, const char *logs)
{
	char msg[1024];
	enum bkname_verdict v = bkname_check_set(dbs, logs, "that cannot be written into a backup directory", msg,
	    sizeof(msg));

	if (v == BKNAME_OK)
		return JET_errSuccess;
	if (v == BKNAME_NOMEM)
		return JET_errOutOfMemory;
	event_log(b->in, EVENT_ERROR, 214, "%s", msg);
	return v == BKNAME_TWICE ? JET_errFileAlreadyExists : JET_errInvalidParameter;
}

static int
dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int empty = 1;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	return empty;
}

/* Moves every plain file of from into to (atomic backup's promotion). */
static JET_ERR
backupdir_move_files(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *de;
	JET_ERR err = JET_errSuccess;

	if (d == NULL)
		return JET_errInvalidPath;
	while ((de = readdir(d)) != NULL && err >= 0) {
		char *a, *b;
		if (de->d_name[0] == '.' || strcmp(de->d_name, "new.tmp") == 0 || strcmp(de->d_name, "old") == 0)
			continue;
		a = os_path_join(from, de->d_name);
		b = os_path_join(to, de->d_name);
		if (a == NULL || b == NULL)
			err = JET_errOutOfMemory;
		else if (!os_is_dir(a))
			err = os_rename(a, b);
		free(a);
		free(b);
	}
	closedir(d);
	return err >= 0 ? os_fsync_dir(to) : err;
}

static JET_ERR
backupdir_remove_dir_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return JET_errSuccess;
	while ((de = readdir(d)) != NULL) {
		char *p;
		if (de->d_name[0] == '.')
			continue;
		if ((p = os_path_join(dir, de->d_name)) != NULL && !os_is_dir(p))
			os_unlink(p);
		free(p);
	}
	closedir(d);
	return JET_errSuccess;
}

JET_ERR JET_API
JetBackupInstance(JET_INSTANCE instance, JET_PCSTR szBackupPath, JET_GRBIT grbit, JET_PFNSTATUS pfnStatus)
{
	struct bkd b;
	char *dbs = NULL, *logs = NULL, *atomic_dir = NULL, *old_dir = NULL;
	int incremental = (grbit & JET_bitBackupIncremental) != 0, atomic = (grbit & JET_bitBackupAtomic) != 0;
	int delta = (grbit & JET_bitBackupJetfsDelta) != 0;
	JET_GRBIT begin = (grbit & (JET_bitBackupIncremental | JET_bitBackupJetfsPointInTime | JET_bitBackupJetfsDelta));
	int begun = 0, kept = 0;
	JET_ERR err;

	memset(&b, 0, sizeof(b));
	if (instance == 0 || instance == JET_instanceNil)
		RET(instance_legacy(&instance));
	/* A remote instance (JetfsConnectBackup) works too: every call below forwards; b.in stays NULL. */
	RET(bkapi_local(instance, &b.in));
	b.inst = instance;
	b.pfn = pfnStatus;
	b.pit = (grbit & JET_bitBackupJetfsPointInTime) != 0;
	if (grbit & ~(JET_bitBackupIncremental | JET_bitBackupAtomic | JET_bitBackupJetfsPointInTime |
	    JET_bitBackupJetfsDelta))
		return JET_errInvalidGrbit;
	/* A delta is a point-in-time set of its own (K7 in backup.c): never added to another. */
	if ((incremental && atomic) || (delta && (incremental || !b.pit)))
		return JET_errInvalidGrbit;
	if (delta && (szBackupPath == NULL || *szBackupPath == '\0'))
		return JET_errInvalidParameter;
	if (szBackupPath == NULL || *szBackupPath == '\0') {
		/* No path: truncate the logs a backup would make unnecessary. */
		if (b.in == NULL)
			return JET_errInvalidParameter;
		if (b.in->p.circular)
			return JET_errSuccess;
		ERR(JetBeginExternalBackupInstance(instance, 0));
		begun = 1;
		ERR(backupdir_list(&b, 1, &logs));
		backup_assume_copied(b.in);
		err = JetTruncateLogInstance(instance);
		JetEndExternalBackupInstance2(instance, JET_bitBackupEndAbort);
		free(logs);
		return err;
	}
	if (!os_is_dir(szBackupPath)) {
		if (b.in == NULL || !b.in->p.create_path) {
			event_log(b.in, EVENT_ERROR, 1023, "backup directory %s does not exist", szBackupPath);
			return JET_errInvalidPath;
		}
		if (os_mkdir_p(szBackupPath) < 0)
			return JET_errMakeBackupDirectoryFail;
	}
	if (!incremental && !atomic && !dir_is_empty(szBackupPath))
		return JET_errBackupDirectoryNotEmpty;
	if (atomic) {
		if ((atomic_dir = os_path_join(szBackupPath, "new.tmp")) == NULL ||
		    (old_dir = os_path_join(szBackupPath, "old")) == NULL) {
			err = JET_errOutOfMemory;
			goto err;
		}
		backupdir_remove_dir_files(atomic_dir);
		if (os_mkdir_p(atomic_dir) < 0) {
			err = JET_errMakeBackupDirectoryFail;
			goto err;
		}
	}
	if ((b.dir = strdup(atomic ? atomic_dir : szBackupPath)) == NULL ||
	    posix_memalign((void **)&b.buf, 4096, BKD_CHUNK) != 0) {
		b.buf = NULL;
		err = JET_errOutOfMemory;
		goto err;
	}
	backupdir_status(&b, JET_sntBegin, 0);
	event_log(b.in, EVENT_INFO, incremental ? 211 : 210, "%s backup to %s started",
	    delta ? "page delta" : incremental ? "incremental" : "full", szBackupPath);
	ERR(JetBeginExternalBackupInstance(instance, begin));
	begun = 1;
	if (!incremental) {
		ERR(backupdir_list(&b, 0, &dbs));
		ERR(backupdir_check_names(&b, dbs, NULL));
		ERR(backupdir_copy_list(&b, dbs));
	}
	backupdir_status(&b, JET_sntProgress, 50);
	ERR(backupdir_list(&b, 1, &logs));
	ERR(backupdir_check_names(&b, dbs, logs));
	ERR(backupdir_copy_list(&b, logs));
	if (atomic) {
		/* The new set is complete: the old one moves to old/, the new one in. */
		backupdir_remove_dir_files(old_dir);
		if (os_mkdir_p(old_dir) < 0) {
			err = JET_errMakeBackupDirectoryFail;
			goto err;
		}
		ERR(backupdir_move_files(szBackupPath, old_dir));
		ERR(backupdir_move_files(atomic_dir, szBackupPath));
	}
	/*
	 * From here the set stays, whatever happens: truncation may delete
	 * generations whose only copy is then in it (and, atomic, it is in place).
	 */
	if (!delta) {
		while (b.nwritten > 0)
			free(b.written[--b.nwritten]);
		kept = 1;
		ERR(JetTruncateLogInstance(instance));
	}
	ERR(JetEndExternalBackupInstance2(instance, JET_bitBackupEndNormal));
	begun = 0;
	backupdir_status(&b, JET_sntComplete, 100);
	event_log(b.in, EVENT_INFO, 213, "backup to %s complete", szBackupPath);
err:
	if (err < 0) {
		if (begun)
			JetEndExternalBackupInstance2(instance, JET_bitBackupEndAbort);
		for (size_t i = 0; i < b.nwritten; i++)
			os_unlink(b.written[i]);
		event_log(b.in, EVENT_ERROR, 214, "backup to %s failed: %s (%s)%s", szBackupPath, JetErrorString(err),
		    JetErrorName(err), kept ? "; the set is kept: it may hold the only copy of truncated log files" : "");
		if (b.pfn != NULL)
			b.pfn(0, JET_snpBackup, JET_sntFail, NULL);
	}
	if (atomic_dir != NULL && os_is_dir(atomic_dir)) {
		backupdir_remove_dir_files(atomic_dir);
		os_rmdir(atomic_dir);
	}
	for (size_t i = 0; i < b.nwritten; i++)
		free(b.written[i]);
	free(b.written);
	free(b.dir);
	free(b.buf);
	free(dbs);
	free(logs);
	free(atomic_dir);
	free(old_dir);
	return err;
}

JET_ERR JET_API
JetBackup(JET_PCSTR szBackupPath, JET_GRBIT grbit, JET_PFNSTATUS pfnStatus)
{
	return JetBackupInstance(0, szBackupPath, grbit, pfnStatus);
}
