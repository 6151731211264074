/*
 * bench_jetfs -- how fast a backup streams through jetfs, against the
 * physical limit and the FUSE ceiling of this machine, in one run on the same
 * database file; the daemon's memory; what the backup costs the workload.
 *
 *   bench_jetfs [--dir DIR] [--db-mb N] [--seconds S] [--threads T]
 *
 * Builds a database of N MiB (default 1024) in an instance serving a backup
 * socket, then prints (MB/s = 10^6 bytes/s):
 *  - dd bs=1M and tar | cat of a copy of the database file from the page
 *    cache (the physical limit);
 *  - the same through libfuse's passthrough_ll example over that copy of
 *    the file (bench/passthrough_ll, built by bench/run from libfuse3-dev's
 *    examples), with its defaults and with jetfs's readahead;
 *  - dd bs=1M and tar through a pipe of one file of the same size through
 *    bench/fuse_ceiling (a minimal in-memory FUSE file system) with jetfs's
 *    default options and with direct_io: the FUSE ceiling;
 *  - the same through jetfs (backup/full/<db>, checksums verified by the
 *    instance), a fresh mount for each read;
 *  - dd bs=1M | cat through jetfs and the ceiling (the pipe tar writes
 *    into, so that tar is compared with dd through the same pipe), and tar
 *    through the ceiling with direct_io (FUSE's per-request ceiling for
 *    tar's 10 KiB records);
 *  - CPU seconds per GB (10^9 bytes) served for the dd rows of jetfs
 *    (default options; -o direct_io,nomanifest) and of the ceiling (page
 *    cache; direct_io): the FUSE daemon's user+system time from the mount
 *    being ready to just before the unmount (/proc/PID/stat), plus this
 *    process's getrusage(RUSAGE_SELF) delta around the read -- this process
 *    hosts the instance that serves jetfs's requests, and no workload runs
 *    then;
 *  - this machine's single-core SHA-256 rate (OpenSSL EVP, the library the
 *    manifest uses), and jetfs -o direct_io (manifest on) against the lower
 *    of that and jetfs -o direct_io,nomanifest;
 *  - dd bs=1M through the in-process mount (JetfsMountInstance of this
 *    instance), default options and direct_io,nomanifest;
 *  - jetfs's peak RSS after 64 MiB and after the whole set, with its default
 *    options and with -o direct_io;
 *  - the workload's durable commits/s alone, while rsync copies
 *    backup/full/, while dd reads backup/full/data.edb again and again at
 *    full speed for as long as the workload ran alone, and alone again
 *    (how much the baseline itself moves);
 *  - jetutil backup --socket --point-in-time of the instance into a new
 *    directory, against cp of the database file (synced as jetutil syncs).
 * Figures only: no thresholds.  Needs root (readahead) and /dev/fuse.
 */
#include "config.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "benchlib.h"
#include "jetfs.h"

/* mnt: the FUSE daemons' mount point; mnt_inproc: JetfsMountInstance's (its
 * own, so that cleanup_at_exit can always tell which one to undo). */
static char top[1024], mnt[700], mnt_inproc[700], sock[700], copy_dir[700];
static double streamed_mb;

/* How read_through reads FILE: dd to /dev/null, tar | cat, dd | cat. */
enum reader { READ_DD, READ_TAR, READ_DD_PIPE };

static void
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_jetfs: failed: %s\n", cmd);
		exit(1);
	}
}

/* A failed step exits at once: never leave a mount, a daemon or the
 * database files behind (the success path has already unmounted). */
static void
cleanup_at_exit(void)
{
	char cmd[4096];

	if (dir[0] == '\0' || strstr(dir, "XXXXXX") != NULL)
		return;
	/* mnt_inproc is served by a thread of this process: unmounting it
	 * needs no answer from that thread (the kernel ends the connection). */
	snprintf(cmd, sizeof(cmd), "for m in '%s' '%s'; do if mountpoint -q \"$m\" 2>/dev/null; then "
	    "fusermount3 -u \"$m\" 2>/dev/null || fusermount3 -u -z \"$m\"; fi; done; "
	    "[ -f '%s/fs.pid' ] && kill $(cat '%s/fs.pid') 2>/dev/null; rm -rf '%s'",
	    mnt, mnt_inproc, dir, dir, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_jetfs: could not clean %s up\n", dir);
}

/* Seconds a shell command takes. */
static double
timed(const char *cmd)
{
	double t0 = now_s();

	sh("%s", cmd);
	return now_s() - t0;
}

/* Starts a FUSE daemon in the foreground (its pid in DIR/fs.pid), waits for the mount. */
static void
mount_with(const char *daemon)
{
	sh("mkdir -p '%s' && (%s '%s' >'%s/fs.log' 2>&1 & echo $! >'%s/fs.pid') && "
	    "i=0; until mountpoint -q '%s'; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done; sleep 0.2",
	    mnt, daemon, mnt, dir, dir, mnt);
}

static void
unmount_it(void)
{
	sh("fusermount3 -u '%s' || fusermount3 -u -z '%s'; p=$(cat '%s/fs.pid'); i=0; "
	    "while kill -0 $p 2>/dev/null; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done", mnt, mnt, dir);
}

/* The running FUSE daemon's pid (DIR/fs.pid, written by mount_with), 0 if unknown. */
static long
daemon_pid(void)
{
	char path[800];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/fs.pid", dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}

static double
peak_rss_mib(void)
{
	char path[800], line[256];
	FILE *f;
	long pid = daemon_pid(), kb = 0;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (pid == 0 || (f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return (double)kb / 1024.0;
}

/* CPU seconds (user + system) this process has used: the instance's
 * threads, which serve jetfs's requests, and any in-process mount. */
static double
self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	    (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds the running FUSE daemon has used since it started (utime and
 * stime, fields 14 and 15 of /proc/PID/stat, in clock ticks); -1 if it
 * cannot be read.  The fields are counted after the ")" that ends comm, as
 * comm may hold spaces. */
static double
daemon_cpu_s(void)
{
	char path[64], buf[2048], *p;
	FILE *f;
	size_t n;
	unsigned long long ut, st;
	long pid = daemon_pid(), hz = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (pid == 0 || hz <= 0 || (f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After ")": state (3), then fields 4..13, then utime (14), stime (15). */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)hz;
}

/* The shell command that reads FILE under MOUNT the way KIND says.  The
 * pipes check their producer: /bin/sh (dash) has no pipefail, so its
 * status goes through DIR/pipe.rc, and a failed dd or tar fails the step. */
static void
reader_cmd(char *cmd, size_t size, enum reader kind, const char *mount, const char *file)
{
	char producer[2048];

	if (kind == READ_TAR)
		snprintf(producer, sizeof(producer), "tar -cf - -C '%s' '%s'", mount, file);
	else
		snprintf(producer, sizeof(producer), "dd if='%s/%s' bs=1M status=none%s", mount, file,
		    kind == READ_DD ? " of=/dev/null" : "");
	if (kind == READ_DD)
		snprintf(cmd, size, "%s", producer);
	else
		snprintf(cmd, size, "rm -f '%s/pipe.rc' && { %s; echo $? >'%s/pipe.rc'; } | cat >/dev/null && "
		    "[ \"$(cat '%s/pipe.rc')\" = 0 ]", dir, producer, dir, dir);
}

/* One read of FILE under a fresh mount of DAEMON: MB/s.  RA_KB > 0 sets the
 * mount's readahead first (as fuse_ceiling does for itself; jetfs bypasses the page cache), so
 * that a daemon without the option is compared at the same readahead.  With
 * CPU_GB, *CPU_GB gets the CPU seconds per GB served: the daemon's CPU from
 * the mount being ready to just before the unmount (the daemon exits on it),
 * plus this process's delta around the read; -1 if the daemon's could not be
 * read.  The daemon's CPU before the read is left out because fs/jetfs in a
 * build tree is libtool's bash wrapper, which execs the program in the same
 * process: its 0.05-0.1 s of CPU stays in /proc/PID/stat and would be
 * charged to jetfs and not to the ceiling (an ELF). */
#define IMPACT_ROUNDS 3

static double
median3(const double *v)
{
	double a = v[0], b = v[1], c = v[2];

	return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

static double
read_once(const char *daemon, const char *file, enum reader kind, int ra_kb, double *cpu_gb)
{
	char cmd[4096];
	double t, c0, fs0, fs1;

	mount_with(daemon);
	if (ra_kb > 0)
		sh("echo %d >/sys/class/bdi/$(mountpoint -d '%s')/read_ahead_kb", ra_kb, mnt);
	reader_cmd(cmd, sizeof(cmd), kind, mnt, file);
	fs0 = daemon_cpu_s();
	c0 = self_cpu_s();
	t = timed(cmd);
	if (cpu_gb != NULL) {
		fs1 = daemon_cpu_s();
		*cpu_gb = fs0 < 0 || fs1 < 0 || c0 < 0 ? -1 : (fs1 - fs0 + self_cpu_s() - c0) / (streamed_mb / 1e3);
	}
	unmount_it();
	return streamed_mb / t;
}

/* The best of READ_ROUNDS reads (read_once): single reads on 2 busy vCPUs
 * move by 2x; the CPU per GB is the best read's. */
#define READ_ROUNDS 3
static double
read_through(const char *daemon, const char *file, enum reader kind, int ra_kb, double *cpu_gb)
{
	double best = 0, cpu = -1;

	for (int r = 0; r < READ_ROUNDS; r++) {
		double c = -1, mbs = read_once(daemon, file, kind, ra_kb, cpu_gb != NULL ? &c : NULL);
		if (mbs > best) {
			best = mbs;
			cpu = c;
		}
	}
	if (cpu_gb != NULL)
		*cpu_gb = cpu;
	return best;
}

/* A row of the human table and its RESULT line, with DECIMALS and a NOTE
 * (may be NULL) for the summary; a negative VALUE is a figure that could not
 * be read (NOTE says why). */
static void
figure_n(const char *key, const char *what, double value, int decimals, const char *unit, const char *note)
{
	if (value < 0) {
		printf("%-62s | %10s | %s\n", what, "-", note);
		bench_not_measured(key, note);
		return;
	}
	printf("%-62s | %10.*f | %s\n", what, decimals, value, unit);
	bench_result(key, value, decimals, unit, note);
}

/* A row of the human table and its RESULT line. */
static void
figure(const char *key, const char *what, double value, const char *unit)
{
	figure_n(key, what, value, 1, unit, NULL);
}

/* CPU seconds per GB served, for a row of read_through. */
static void
cpu_figure(const char *key, const char *what, double cpu_gb)
{
	figure_n(key, what, cpu_gb, 3, "s/GB", cpu_gb < 0 ? "the daemon's /proc/PID/stat could not be read" : NULL);
}

/*
 * This machine's single-core SHA-256 rate, MB/s: OpenSSL's EVP SHA-256 (what
 * the manifest hashes with, src/manifest.c) over a 256 MiB buffer, in this
 * thread, best of 3 (the first run may pay for page faults and frequency
 * ramp-up).  The buffer is written first so that no page fault is timed.
 */
static double
sha256_core_mbs(void)
{
	size_t n = (size_t)256 << 20;
	unsigned char *buf = malloc(n), md[EVP_MAX_MD_SIZE];
	unsigned int len;
	double best = 0;

	if (buf == NULL) {
		fprintf(stderr, "bench_jetfs: no memory for the SHA-256 buffer\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 24);
	for (int run = 0; run < 3; run++) {
		double t0 = now_s(), t;
		if (EVP_Digest(buf, n, md, &len, EVP_sha256(), NULL) != 1) {
			fprintf(stderr, "bench_jetfs: EVP_Digest(SHA-256) failed\n");
			exit(1);
		}
		t = now_s() - t0;
		if (best == 0 || t < best)
			best = t;
	}
	free(buf);
	return (double)n / 1e6 / best;
}

/* The bytes of the files directly in PATH. */
static uint64_t
dir_bytes(const char *path)
{
	char p[1400];
	DIR *d = opendir(path);
	struct dirent *e;
	uint64_t sum = 0;

	if (d == NULL) {
		perror(path);
		exit(1);
	}
	while ((e = readdir(d)) != NULL) {
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (e->d_name[0] != '.')
			sum += file_size(p);
	}
	closedir(d);
	return sum;
}

/* dd bs=1M of backup/full/data.edb through an in-process mount of this
 * bench's instance with OPTS (JetfsMountInstance's comma-separated -o
 * options, NULL for the defaults): MB/s.  The mount is served by a thread
 * of this process, as an application embedding jetfs would do it. */
static double
inproc_read(const char *opts)
{
	JET_JETFSMOUNT m;
	JET_GRBIT ended;
	char cmd[4096];
	double t;

	CK(JetfsMountInstance(inst, mnt_inproc, opts, &m));
	reader_cmd(cmd, sizeof(cmd), READ_DD, mnt_inproc, "backup/full/data.edb");
	t = timed(cmd);
	/* The set was not read whole (no log files): the backup ends as an
	 * abort, as it does for each daemon mount above. */
	CK(JetfsUnmountInstance(m, &ended));
	return streamed_mb / t;
}

/*
 * libfuse's passthrough_ll example over a directory holding a copy of the
 * database file: what a generic FUSE file system gets from the same file
 * with the same readers.  bench/run builds it from the example installed by
 * libfuse3-dev (make bench/passthrough_ll); without it the rows say why.
 */
static void
passthrough_rows(void)
{
	char daemon[4096];
	double dd, tar, dd_ra;

	snprintf(daemon, sizeof(daemon), "%s/bench/passthrough_ll", top);
	if (access(daemon, X_OK) != 0) {
		const char *why = getenv("BENCH_PASSTHROUGH_WHY");
		if (why == NULL || *why == '\0')
			why = "bench/passthrough_ll not built (make bench/passthrough_ll)";
		row("passthrough_ll: not measured", 0, why);
		bench_not_measured("passthrough.dd", why);
		bench_not_measured("passthrough.tar", why);
		bench_not_measured("passthrough.dd_ra4096", why);
		return;
	}
	snprintf(daemon, sizeof(daemon), "'%s/bench/passthrough_ll' -f -o source='%s'", top, copy_dir);
	dd = read_through(daemon, "data.edb", READ_DD, 0, NULL);
	tar = read_through(daemon, "data.edb", READ_TAR, 0, NULL);
	dd_ra = read_through(daemon, "data.edb", READ_DD, 4096, NULL);
	figure("passthrough.dd", "passthrough_ll, dd bs=1M (its defaults)", dd, "MB/s");
	figure("passthrough.tar", "passthrough_ll, tar | cat (its defaults)", tar, "MB/s");
	figure("passthrough.dd_ra4096", "passthrough_ll, dd bs=1M, read_ahead_kb 4096 (as jetfs)", dd_ra, "MB/s");
}

int
main(int argc, char **argv)
{
	unsigned long mb = 1024, seconds = 5;
	int threads = 2;
	char daemon[4096], ceiling[4096], cmd[4096], jetfs[2048], note[256], setdir[600];
	double raw, t0, alone, during, ceil_dd, ceil_tar, ceil_direct, fs_dd, fs_tar, fs_tar_nora, fs_direct, fs_direct_nohash, rss64, rss_all;
	double ceil_dd_pipe, ceil_tar_direct, fs_dd_pipe, cpu_ceil_dd, cpu_ceil_direct, cpu_fs_dd, cpu_fs_direct, sha, limit;
	double in_dd, in_direct, rss_direct, during_dd, alone_after, t_cp, t_jetutil;
	double win_alone[IMPACT_ROUNDS + 1], win_dd[IMPACT_ROUNDS], win_ratio[IMPACT_ROUNDS];
	int reads;
	pthread_t *lt;
	uint64_t streamed;

	if (bench_args(argc, argv, "bench_jetfs", &mb, &seconds, &threads) < 0)
		return 2;
	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		fprintf(stderr, "bench_jetfs: /dev/fuse cannot be used here: skipped\n");
		return 0;
	}
	snprintf(top, sizeof(top), "%s", getenv("top_builddir") ? getenv("top_builddir") : ".");
	if (strstr(dir, "XXXXXX") != NULL && mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	atexit(cleanup_at_exit);
	snprintf(dbpath, sizeof(dbpath), "%s/data.edb", dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	snprintf(mnt_inproc, sizeof(mnt_inproc), "%s/mnt-inproc", dir);
	snprintf(sock, sizeof(sock), "%s/backup.sock", dir);
	CK(JetCreateInstance(&inst, "bench"));
	CK(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, dir));
	CK(JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, dir));
	CK(JetSetSystemParameter(&inst, 0, JET_paramCacheSizeMax, 4096, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget, JET_JetfsEventNone, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramJetfsBackupSocket, 0, sock));
	CK(JetInit(&inst));
	fprintf(stderr, "bench_jetfs: building a %lu MiB database in %s\n", mb, dir);
	build(mb);
	/* The streamed database is the file's pages plus 3 (header copy twice, trailer). */
	streamed = file_size(dbpath);
	streamed_mb = (double)streamed / 1e6;

	printf("%-62s | %10s | %s\n", "figure", "value", "unit");
	figure("jetfs.db_mib", "database file", (double)streamed / 1048576.0, "MiB");
	/* The raw and passthrough_ll rows read a copy: the live file changes
	 * under a reader as the checkpoint writes (tar says so), the copy not. */
	snprintf(copy_dir, sizeof(copy_dir), "%s/copy-of-db", dir);
	sh("mkdir -p '%s' && cp '%s' '%s/' && cat '%s/data.edb' >/dev/null", copy_dir, dbpath, copy_dir, copy_dir);
	/* The database and its copy were just written (2 GiB at the default
	 * size): without a sync the kernel writes them back during the first
	 * timed reads, on the same CPUs, and the ceiling rows measured first
	 * came out at a third of what fuse_ceiling.sh gets alone. */
	sh("sync");
	snprintf(cmd, sizeof(cmd), "dd if='%s/data.edb' of=/dev/null bs=1M status=none", copy_dir);
	raw = streamed_mb / timed(cmd);
	figure("raw.dd", "raw file, dd bs=1M, page cache (physical limit)", raw, "MB/s");
	snprintf(cmd, sizeof(cmd), "tar -cf - -C '%s' data.edb | cat >/dev/null", copy_dir);
	figure("raw.tar", "raw file, tar | cat, page cache", streamed_mb / timed(cmd), "MB/s");

	snprintf(ceiling, sizeof(ceiling), "'%s/bench/fuse_ceiling' -f -o readahead=4096 --size %llu", top,
	    (unsigned long long)streamed);
	/* One untimed read first.  The first read that fills the page cache
	 * after the database and its copy were written ran 3-5x slower here
	 * than the next ones (1.2 s and 1.7 CPU-s for 1.1 GB, then 0.2 s and
	 * 0.2 CPU-s: the pages it gets have not been used since boot, and on
	 * this VM their first use costs the daemon's CPU), and it was always
	 * the ceiling's, measured first; jetfs serves every read direct_io. */
	read_through(ceiling, "data", READ_DD, 0, NULL);
	ceil_dd = read_through(ceiling, "data", READ_DD, 0, &cpu_ceil_dd);
	ceil_tar = read_through(ceiling, "data", READ_TAR, 0, NULL);
	ceil_dd_pipe = read_through(ceiling, "data", READ_DD_PIPE, 0, NULL);
	snprintf(daemon, sizeof(daemon), "'%s/bench/fuse_ceiling' -f -o direct_io --size %llu", top,
	    (unsigned long long)streamed);
	ceil_direct = read_through(daemon, "data", READ_DD, 0, &cpu_ceil_direct);
	/* tar's 10 KiB records with no page cache: one FUSE request each. */
	ceil_tar_direct = read_through(daemon, "data", READ_TAR, 0, NULL);
	figure("ceiling.dd", "FUSE ceiling (fuse_ceiling), dd bs=1M, page cache, ra 4 MiB", ceil_dd, "MB/s");
	figure("ceiling.tar", "FUSE ceiling, tar | cat, page cache, ra 4 MiB", ceil_tar, "MB/s");
	figure("ceiling.dd_pipe", "FUSE ceiling, dd bs=1M | cat, page cache, ra 4 MiB", ceil_dd_pipe, "MB/s");
	figure("ceiling.direct", "FUSE ceiling, dd bs=1M, direct_io", ceil_direct, "MB/s");
	figure("ceiling.tar_direct", "FUSE ceiling, tar | cat, direct_io", ceil_tar_direct, "MB/s");
	cpu_figure("cpu.ceiling_dd", "CPU per GB, FUSE ceiling dd, page cache (daemon)", cpu_ceil_dd);
	cpu_figure("cpu.ceiling_direct", "CPU per GB, FUSE ceiling dd, direct_io (daemon)", cpu_ceil_direct);

	passthrough_rows();

	snprintf(jetfs, sizeof(jetfs), "'%s/fs/jetfs' -f '%s'", top, sock);
	fs_dd = read_through(jetfs, "backup/full/data.edb", READ_DD, 0, &cpu_fs_dd);
	fs_tar = read_through(jetfs, "backup/full/data.edb", READ_TAR, 0, NULL);
	fs_dd_pipe = read_through(jetfs, "backup/full/data.edb", READ_DD_PIPE, 0, NULL);
	/* What jetfs's own readahead buys tar's 10 KiB records (the files bypass the page cache). */
	snprintf(daemon, sizeof(daemon), "%s -o readahead=0", jetfs);
	fs_tar_nora = read_through(daemon, "backup/full/data.edb", READ_TAR, 0, NULL);
	snprintf(daemon, sizeof(daemon), "%s -o direct_io", jetfs);
	fs_direct = read_through(daemon, "backup/full/data.edb", READ_DD, 0, NULL);
	/* What hashing for SHA256SUMS costs: the same read with none. */
	snprintf(daemon, sizeof(daemon), "%s -o direct_io,nomanifest", jetfs);
	fs_direct_nohash = read_through(daemon, "backup/full/data.edb", READ_DD, 0, &cpu_fs_direct);
	figure("jetfs.dd", "jetfs backup/full/data.edb, dd bs=1M (default options)", fs_dd, "MB/s");
	figure("jetfs.tar", "jetfs, tar | cat (default options)", fs_tar, "MB/s");
	figure("jetfs.dd_pipe", "jetfs, dd bs=1M | cat (default options)", fs_dd_pipe, "MB/s");
	figure("jetfs.tar_nora", "jetfs, tar | cat, -o readahead=0 (no readahead in jetfs)", fs_tar_nora, "MB/s");
	figure("jetfs.direct", "jetfs, dd bs=1M, -o direct_io", fs_direct, "MB/s");
	figure("jetfs.direct_nomanifest", "jetfs, dd bs=1M, -o direct_io,nomanifest", fs_direct_nohash, "MB/s");
	row("jetfs dd / FUSE ceiling dd (page cache)", fs_dd / ceil_dd, "x");
	row("jetfs dd / FUSE ceiling dd, both direct_io", fs_direct / ceil_direct, "x");
	row("jetfs tar / jetfs dd", fs_tar / fs_dd, "x");
	row("jetfs tar / jetfs dd, both through | cat", fs_tar / fs_dd_pipe, "x");
	/* The instance's CPU is this process's: it serves jetfs's requests. */
	cpu_figure("cpu.jetfs_dd", "CPU per GB, jetfs dd, default options (instance + jetfs)", cpu_fs_dd);
	cpu_figure("cpu.jetfs_direct", "CPU per GB, jetfs dd, direct_io,nomanifest (instance+jetfs)", cpu_fs_direct);

	/* With the manifest on, direct_io reads cannot beat the slower of the
	 * read path without hashing and one core hashing (jetfs hashes a file
	 * in one stream): the ratio to that lower bound. */
	sha = sha256_core_mbs();
	figure_n("sha256.core", "SHA-256, one core (OpenSSL EVP, 256 MiB buffer, best of 3)", sha, 1, "MB/s",
	    "OpenSSL EVP_Digest in process, libcrypto as src/manifest.c");
	limit = fs_direct_nohash < sha ? fs_direct_nohash : sha;
	snprintf(note, sizeof(note), "jetfs.direct / min(jetfs.direct_nomanifest, sha256.core) = %.1f MB/s (%s)", limit,
	    fs_direct_nohash < sha ? "jetfs.direct_nomanifest" : "sha256.core");
	figure_n("jetfs.direct_of_limit", "jetfs -o direct_io / min(direct_io nomanifest, SHA-256 core)",
	    fs_direct / limit, 2, "x", note);

	/* The in-process mount: same file system, served by a thread of this
	 * process (so no socket between it and the instance). */
	sh("mkdir -p '%s'", mnt_inproc);
	in_dd = inproc_read(NULL);
	in_direct = inproc_read("direct_io,nomanifest");
	figure("inproc.dd", "in-process mount (JetfsMountInstance), dd bs=1M, defaults", in_dd, "MB/s");
	figure("inproc.direct", "in-process mount, dd bs=1M, direct_io,nomanifest", in_direct, "MB/s");

	mount_with(jetfs);
	sh("head -c 67108864 '%s/backup/full/data.edb' >/dev/null", mnt);
	rss64 = peak_rss_mib();
	sh("cat '%s/backup/full/'* >/dev/null", mnt);
	rss_all = peak_rss_mib();
	unmount_it();
	snprintf(daemon, sizeof(daemon), "%s -o direct_io", jetfs);
	mount_with(daemon);
	sh("cat '%s/backup/full/'* >/dev/null", mnt);
	rss_direct = peak_rss_mib();
	unmount_it();
	figure("jetfs.rss64", "jetfs peak RSS after reading 64 MiB", rss64, "MiB");
	figure("jetfs.rss_all", "jetfs peak RSS after reading the whole set", rss_all, "MiB");
	figure("jetfs.rss_direct", "jetfs -o direct_io peak RSS after reading the whole set", rss_direct, "MiB");

	lt = load_start(threads);
	t0 = now_s();
	sleep((unsigned)seconds);
	alone = load_stop(lt, threads, t0);
	mount_with(jetfs);
	lt = load_start(threads);
	t0 = now_s();
	sh("rsync -a '%s/backup/full/' '%s/copy/'", mnt, dir);
	during = load_stop(lt, threads, t0);
	unmount_it();
	figure("impact.jetfs_base", "workload durable commits/s, no backup", alone, "txn/s");
	figure("impact.jetfs_rsync", "workload durable commits/s during rsync of backup/full/", during, "txn/s");
	row("ratio", during / alone, "x");

	/*
	 * The whole database read at full speed (dd again and again through one
	 * mount) against the workload alone, in interleaved windows of the same
	 * length: alone, reading, alone, ... alone.  Durable commits wait for
	 * the log's fdatasync, whose latency here moves by up to 2x from one
	 * few-second window to the next, so each reading window is compared
	 * with the mean of the windows around it, and the median of those
	 * ratios is the figure.
	 */
	mount_with(jetfs);
	reader_cmd(cmd, sizeof(cmd), READ_DD, mnt, "backup/full/data.edb");
	reads = 0;
	for (int r = 0; r <= IMPACT_ROUNDS; r++) {
		lt = load_start(threads);
		t0 = now_s();
		sleep((unsigned)seconds);
		win_alone[r] = load_stop(lt, threads, t0);
		if (r == IMPACT_ROUNDS)
			break;
		lt = load_start(threads);
		t0 = now_s();
		do {
			sh("%s", cmd);
			reads++;
		} while (now_s() - t0 < (double)seconds);
		win_dd[r] = load_stop(lt, threads, t0);
	}
	unmount_it();
	for (int r = 0; r < IMPACT_ROUNDS; r++)
		win_ratio[r] = win_dd[r] / ((win_alone[r] + win_alone[r + 1]) / 2);
	during_dd = median3(win_dd);
	alone_after = median3(win_alone + 1);
	snprintf(note, sizeof(note), "%d dd reads of backup/full/data.edb in %d windows of %lu s; each against the "
	    "windows alone around it: x%.2f x%.2f x%.2f, median x%.2f", reads, IMPACT_ROUNDS, seconds, win_ratio[0],
	    win_ratio[1], win_ratio[2], median3(win_ratio));
	figure_n("impact.jetfs_dd", "workload durable commits/s during dd loops of backup/full/ (median)", during_dd, 1,
	    "txn/s", note);
	figure_n("impact.jetfs_dd_ratio", "  against the windows alone around each (median)", median3(win_ratio), 2, "x",
	    NULL);
	figure("impact.jetfs_base_after", "workload durable commits/s alone, median of the windows between", alone_after,
	    "txn/s");

	/*
	 * jetutil backup --socket --point-in-time into a new directory, against
	 * cp of the copy of the database file into another one on the same file
	 * system.  jetutil fdatasyncs each file it writes and fsyncs the
	 * directory (src/backupdir.c), so cp is followed by sync of the file and
	 * of its directory.  Both rates are of the database file's size (the set
	 * also holds the log generations and SHA256SUMS: the note says how much).
	 */
	snprintf(cmd, sizeof(cmd), "mkdir '%s/cp-set' && cp '%s/data.edb' '%s/cp-set/' && sync '%s/cp-set/data.edb' '%s/cp-set'",
	    dir, copy_dir, dir, dir, dir);
	t_cp = timed(cmd);
	figure("raw.cp", "cp of the database file (page cache) + sync, same file system", streamed_mb / t_cp, "MB/s");
	snprintf(cmd, sizeof(cmd), "%s/tools/jetutil/jetutil", top);
	if (access(cmd, X_OK) != 0) {
		row("jetutil backup --socket: not measured", 0, "tools/jetutil/jetutil not built");
		bench_not_measured("jetutil.socket", "tools/jetutil/jetutil not built (make tools/jetutil/jetutil)");
	} else {
		snprintf(setdir, sizeof(setdir), "%s/jetutil-set", dir);
		snprintf(cmd, sizeof(cmd), "'%s/tools/jetutil/jetutil' backup --socket '%s' '%s' --point-in-time --quiet",
		    top, sock, setdir);
		t_jetutil = timed(cmd);
		snprintf(note, sizeof(note), "the set holds %.1f MB in all", (double)dir_bytes(setdir) / 1e6);
		figure_n("jetutil.socket", "jetutil backup --socket --point-in-time (database file MB/s)",
		    streamed_mb / t_jetutil, 1, "MB/s", note);
	}

	CK(JetTerm2(inst, JET_bitTermAbrupt));
	return 0;
}
