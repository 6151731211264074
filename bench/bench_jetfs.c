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
 *  - jetfs's peak RSS after 64 MiB and after the whole set;
 *  - the workload's durable commits/s alone and while rsync copies
 *    backup/full/.
 * Figures only: no thresholds.  Needs root (readahead) and /dev/fuse.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchlib.h"

static char top[1024], mnt[700], sock[700], copy_dir[700];
static double streamed_mb;

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
	snprintf(cmd, sizeof(cmd), "if mountpoint -q '%s' 2>/dev/null; then fusermount3 -u '%s' 2>/dev/null || "
	    "fusermount3 -u -z '%s'; fi; [ -f '%s/fs.pid' ] && kill $(cat '%s/fs.pid') 2>/dev/null; rm -rf '%s'",
	    mnt, mnt, mnt, dir, dir, dir);
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

static double
peak_rss_mib(void)
{
	char path[800], line[256];
	FILE *f;
	long pid = 0, kb = 0;

	snprintf(path, sizeof(path), "%s/fs.pid", dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (pid == 0 || (f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return (double)kb / 1024.0;
}

/* One read of FILE under a fresh mount of DAEMON: MB/s.  RA_KB > 0 sets the
 * mount's readahead first (as fuse_ceiling does for itself; jetfs bypasses the page cache), so
 * that a daemon without the option is compared at the same readahead. */
static double
read_through(const char *daemon, const char *file, int tar, int ra_kb)
{
	char cmd[4096];
	double t;

	mount_with(daemon);
	if (ra_kb > 0)
		sh("echo %d >/sys/class/bdi/$(mountpoint -d '%s')/read_ahead_kb", ra_kb, mnt);
	if (tar)
		snprintf(cmd, sizeof(cmd), "tar -cf - -C '%s' '%s' | cat >/dev/null", mnt, file);
	else
		snprintf(cmd, sizeof(cmd), "dd if='%s/%s' of=/dev/null bs=1M status=none", mnt, file);
	t = timed(cmd);
	unmount_it();
	return streamed_mb / t;
}

/* A row of the human table and its RESULT line. */
static void
figure(const char *key, const char *what, double value, const char *unit)
{
	row(what, value, unit);
	bench_result(key, value, 1, unit, NULL);
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
	dd = read_through(daemon, "data.edb", 0, 0);
	tar = read_through(daemon, "data.edb", 1, 0);
	dd_ra = read_through(daemon, "data.edb", 0, 4096);
	figure("passthrough.dd", "passthrough_ll, dd bs=1M (its defaults)", dd, "MB/s");
	figure("passthrough.tar", "passthrough_ll, tar | cat (its defaults)", tar, "MB/s");
	figure("passthrough.dd_ra4096", "passthrough_ll, dd bs=1M, read_ahead_kb 4096 (as jetfs)", dd_ra, "MB/s");
}

int
main(int argc, char **argv)
{
	unsigned long mb = 1024, seconds = 5;
	int threads = 2;
	char daemon[4096], ceiling[4096], cmd[4096], jetfs[2048];
	double raw, t0, alone, during, ceil_dd, ceil_tar, ceil_direct, fs_dd, fs_tar, fs_tar_nora, fs_direct, fs_direct_nohash, rss64, rss_all;
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
	snprintf(cmd, sizeof(cmd), "dd if='%s/data.edb' of=/dev/null bs=1M status=none", copy_dir);
	raw = streamed_mb / timed(cmd);
	figure("raw.dd", "raw file, dd bs=1M, page cache (physical limit)", raw, "MB/s");
	snprintf(cmd, sizeof(cmd), "tar -cf - -C '%s' data.edb | cat >/dev/null", copy_dir);
	figure("raw.tar", "raw file, tar | cat, page cache", streamed_mb / timed(cmd), "MB/s");

	snprintf(ceiling, sizeof(ceiling), "'%s/bench/fuse_ceiling' -f -o readahead=4096 --size %llu", top,
	    (unsigned long long)streamed);
	ceil_dd = read_through(ceiling, "data", 0, 0);
	ceil_tar = read_through(ceiling, "data", 1, 0);
	snprintf(daemon, sizeof(daemon), "'%s/bench/fuse_ceiling' -f -o direct_io --size %llu", top,
	    (unsigned long long)streamed);
	ceil_direct = read_through(daemon, "data", 0, 0);
	figure("ceiling.dd", "FUSE ceiling (fuse_ceiling), dd bs=1M, page cache, ra 4 MiB", ceil_dd, "MB/s");
	figure("ceiling.tar", "FUSE ceiling, tar | cat, page cache, ra 4 MiB", ceil_tar, "MB/s");
	figure("ceiling.direct", "FUSE ceiling, dd bs=1M, direct_io", ceil_direct, "MB/s");

	passthrough_rows();

	snprintf(jetfs, sizeof(jetfs), "'%s/fs/jetfs' -f '%s'", top, sock);
	fs_dd = read_through(jetfs, "backup/full/data.edb", 0, 0);
	fs_tar = read_through(jetfs, "backup/full/data.edb", 1, 0);
	/* What jetfs's own readahead buys tar's 10 KiB records (the files bypass the page cache). */
	snprintf(daemon, sizeof(daemon), "%s -o readahead=0", jetfs);
	fs_tar_nora = read_through(daemon, "backup/full/data.edb", 1, 0);
	snprintf(daemon, sizeof(daemon), "%s -o direct_io", jetfs);
	fs_direct = read_through(daemon, "backup/full/data.edb", 0, 0);
	/* What hashing for SHA256SUMS costs: the same read with none. */
	snprintf(daemon, sizeof(daemon), "%s -o direct_io,nomanifest", jetfs);
	fs_direct_nohash = read_through(daemon, "backup/full/data.edb", 0, 0);
	figure("jetfs.dd", "jetfs backup/full/data.edb, dd bs=1M (default options)", fs_dd, "MB/s");
	figure("jetfs.tar", "jetfs, tar | cat (default options)", fs_tar, "MB/s");
	figure("jetfs.tar_nora", "jetfs, tar | cat, -o readahead=0 (no readahead in jetfs)", fs_tar_nora, "MB/s");
	figure("jetfs.direct", "jetfs, dd bs=1M, -o direct_io", fs_direct, "MB/s");
	figure("jetfs.direct_nomanifest", "jetfs, dd bs=1M, -o direct_io,nomanifest", fs_direct_nohash, "MB/s");
	row("jetfs dd / FUSE ceiling dd (page cache)", fs_dd / ceil_dd, "x");
	row("jetfs dd / FUSE ceiling dd, both direct_io", fs_direct / ceil_direct, "x");
	row("jetfs tar / jetfs dd", fs_tar / fs_dd, "x");

	mount_with(jetfs);
	sh("head -c 67108864 '%s/backup/full/data.edb' >/dev/null", mnt);
	rss64 = peak_rss_mib();
	sh("cat '%s/backup/full/'* >/dev/null", mnt);
	rss_all = peak_rss_mib();
	unmount_it();
	figure("jetfs.rss64", "jetfs peak RSS after reading 64 MiB", rss64, "MiB");
	figure("jetfs.rss_all", "jetfs peak RSS after reading the whole set", rss_all, "MiB");

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

	CK(JetTerm2(inst, JET_bitTermAbrupt));
	return 0;
}
