/*
 * bench_backup -- what a backup costs and how fast it goes.
 *
 *   bench_backup [--dir DIR] [--db-mb N] [--seconds S] [--threads T]
 *
 * Builds a database of N MiB (1000-byte values), then prints:
 *  - JetBackupInstance (full, ESE mode) throughput against cp of the same
 *    files, both from a warm page cache, in the same run;
 *  - a point-in-time read of the whole set through JetfsReadFileAt (1 MiB
 *    reads), the path jetfs uses;
 *  - the commit rate of a transfer workload (T threads, durable commits) with
 *    no backup, during ESE-mode backups, and during a point-in-time backup;
 *  - the volume of page images a point-in-time backup kept (the spill file)
 *    while the workload ran.
 * Figures only: no thresholds.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jet.h"

#define CK(x) do { JET_ERR e_ = (x); if (e_ < 0) { fprintf(stderr, "bench_backup: %s: %s (%ld)\n", #x, JetErrorName(e_), e_); exit(1); } } while (0)
#define NACCOUNTS 10000

static char dir[512], dbpath[600];
static JET_INSTANCE inst;
static atomic_int stop_load;
static atomic_ullong commits;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
row(const char *what, double value, const char *unit)
{
	printf("%-62s | %10.1f | %s\n", what, value, unit);
}

static void
put_rec(JET_SESID s, JET_TABLEID t, uint64_t k, const void *val, unsigned long len, int insert)
{
	uint8_t key[8];

	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(k >> (56 - 8 * i));
	if (!insert) {
		CK(JetMakeKey(s, t, key, 8, JET_bitNewKey));
		CK(JetSeek(s, t, JET_bitSeekEQ));
	}
	CK(JetPrepareUpdate(s, t, insert ? JET_prepInsert : JET_prepReplace));
	if (insert)
		CK(JetSetColumn(s, t, JET_columnidKey, key, 8, 0, NULL));
	CK(JetSetColumn(s, t, JET_columnidValue, val, len, 0, NULL));
	CK(JetUpdate(s, t, NULL, 0, NULL));
}

static void
build(unsigned long mb)
{
	JET_SESID s;
	JET_DBID db;
	JET_TABLEID t, a;
	uint8_t val[1000];
	uint64_t n = (uint64_t)mb * 1024 * 1024 / sizeof(val);

	memset(val, 0x5a, sizeof(val));
	CK(JetBeginSession(inst, &s, NULL, NULL));
	CK(JetCreateDatabase(s, dbpath, NULL, &db, 0));
	CK(JetCreateTable(s, db, "data", 0, 0, &t));
	CK(JetCreateTable(s, db, "accounts", 0, 0, &a));
	CK(JetBeginTransaction(s));
	for (uint64_t i = 0; i < n; i++) {
		memcpy(val, &i, 8);
		put_rec(s, t, i, val, sizeof(val), 1);
		if (i % 64 == 63) {
			CK(JetCommitTransaction(s, JET_bitCommitLazyFlush));
			CK(JetBeginTransaction(s));
		}
	}
	for (uint64_t i = 0; i < NACCOUNTS; i++)
		put_rec(s, a, i, &i, 8, 1);
	CK(JetCommitTransaction(s, 0));
	CK(JetEndSession(s, 0));
}

static void *
load_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	JET_SESID s;
	JET_DBID db;
	JET_TABLEID a;

	CK(JetBeginSession(inst, &s, NULL, NULL));
	CK(JetOpenDatabase(s, dbpath, NULL, &db, 0));
	CK(JetOpenTable(s, db, "accounts", NULL, 0, 0, &a));
	while (!atomic_load(&stop_load)) {
		uint64_t x = (uint64_t)rand_r(&seed) % NACCOUNTS, y = (uint64_t)rand_r(&seed) % NACCOUNTS;
		CK(JetBeginTransaction(s));
		put_rec(s, a, x, &y, 8, 0);
		put_rec(s, a, y, &x, 8, 0);
		CK(JetCommitTransaction(s, 0));
		atomic_fetch_add(&commits, 1);
	}
	CK(JetEndSession(s, 0));
	return NULL;
}

static pthread_t *
load_start(int threads)
{
	pthread_t *t = calloc((size_t)threads, sizeof(*t));

	atomic_store(&stop_load, 0);
	atomic_store(&commits, 0);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, load_main, (void *)(uintptr_t)(i * 7919 + 1));
	return t;
}

static double
load_stop(pthread_t *t, int threads, double t0)
{
	double secs;

	atomic_store(&stop_load, 1);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	secs = now_s() - t0;
	free(t);
	return (double)atomic_load(&commits) / secs;
}

static uint64_t
file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Reads a whole point-in-time set with JetfsReadFileAt; returns bytes read. */
static uint64_t
pit_read_all(void)
{
	char list[65536], *names[256];
	unsigned long got;
	size_t n = 0;
	uint8_t *buf = malloc(1 << 20);
	uint64_t total = 0;

	CK(JetGetAttachInfoInstance(inst, list, sizeof(list), &got));
	for (char *p = list; *p; p += strlen(p) + 1)
		names[n++] = strdup(p);
	CK(JetGetLogInfoInstance(inst, list, sizeof(list), &got));
	for (char *p = list; *p && n < 256; p += strlen(p) + 1)
		names[n++] = strdup(p);
	for (size_t i = 0; i < n; i++) {
		JET_HANDLE h;
		unsigned long lo, hi;
		uint64_t size, off = 0;
		CK(JetOpenFileInstance(inst, names[i], &h, &lo, &hi));
		size = (uint64_t)hi << 32 | lo;
		while (off < size) {
			CK(JetfsReadFileAt(inst, h, off, buf, 1 << 20, &got));
			if (got == 0)
				break;
			off += got;
		}
		total += off;
		CK(JetCloseFileInstance(inst, h));
		free(names[i]);
	}
	free(buf);
	return total;
}

int
main(int argc, char **argv)
{
	unsigned long mb = 256, seconds = 3;
	int threads = 2;
	char cmd[4096], bdir[600], spill[700];
	double t0, t, base_rate, ese_rate, pit_rate;
	uint64_t bytes, kept = 0;
	int backups = 0;
	pthread_t *lt;

	snprintf(dir, sizeof(dir), "%s/bench_backup.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			snprintf(dir, sizeof(dir), "%s", argv[++i]);
		else if (strcmp(argv[i], "--db-mb") == 0 && i + 1 < argc)
			mb = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			threads = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_backup [--dir DIR] [--db-mb N] [--seconds S] [--threads T]\n");
			return 2;
		}
	}
	if (strstr(dir, "XXXXXX") != NULL && mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/data.edb", dir);
	CK(JetCreateInstance(&inst, "bench"));
	CK(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, dir));
	CK(JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, dir));
	CK(JetSetSystemParameter(&inst, 0, JET_paramCacheSizeMax, 4096, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget, JET_JetfsEventNone, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL));
	CK(JetInit(&inst));
	fprintf(stderr, "bench_backup: building a %lu MiB database in %s\n", mb, dir);
	build(mb);

	/* cp of the same files, warm, then JetBackupInstance of them. */
	snprintf(bdir, sizeof(bdir), "%s/cp", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && cat '%s' > /dev/null && cp '%s' '%s'/ && sync -f '%s'", bdir, dbpath,
	    dbpath, bdir, bdir);
	t0 = now_s();
	if (system(cmd) != 0)
		return 1;
	t = now_s() - t0;
	bytes = file_size(dbpath);
	printf("%-62s | %10s | %s\n", "figure", "value", "unit");
	row("database size", (double)bytes / 1048576.0, "MiB");
	row("cp of the database file (warm, synced)", (double)bytes / 1048576.0 / t, "MiB/s");
	snprintf(bdir, sizeof(bdir), "%s/full", dir);
	t0 = now_s();
	CK(JetBackupInstance(inst, bdir, 0, NULL));
	t = now_s() - t0;
	snprintf(cmd, sizeof(cmd), "%s/full/data.edb", dir);
	row("JetBackupInstance full, ESE mode (checksums verified, synced)", (double)file_size(cmd) / 1048576.0 / t, "MiB/s");

	/* Point-in-time read of the set, idle instance. */
	CK(JetBeginExternalBackupInstance(inst, JET_bitBackupJetfsPointInTime));
	t0 = now_s();
	bytes = pit_read_all();
	t = now_s() - t0;
	CK(JetEndExternalBackupInstance2(inst, JET_bitBackupEndAbort));
	row("point-in-time read via JetfsReadFileAt, 1 MiB reads", (double)bytes / 1048576.0 / t, "MiB/s");

	/* Workload impact. */
	lt = load_start(threads);
	t0 = now_s();
	sleep((unsigned)seconds);
	base_rate = load_stop(lt, threads, t0);
	row("workload: durable commits/s, no backup", base_rate, "txn/s");

	lt = load_start(threads);
	t0 = now_s();
	while (now_s() - t0 < (double)seconds) {
		snprintf(bdir, sizeof(bdir), "%s/ese%d", dir, backups++);
		CK(JetBackupInstance(inst, bdir, 0, NULL));
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bdir);
		if (system(cmd) != 0)
			return 1;
	}
	ese_rate = load_stop(lt, threads, t0);
	row("workload: durable commits/s during ESE-mode backups", ese_rate, "txn/s");
	row("  ratio to no backup", ese_rate / base_rate, "x");
	row("  ESE-mode backups completed meanwhile", backups, "");

	lt = load_start(threads);
	t0 = now_s();
	CK(JetBeginExternalBackupInstance(inst, JET_bitBackupJetfsPointInTime));
	row("  point-in-time Begin under load (quiesce + checkpoint + roll)", (now_s() - t0) * 1000.0, "ms");
	bytes = 0;
	while (now_s() - t0 < (double)seconds)
		bytes += pit_read_all();
	snprintf(spill, sizeof(spill), "%s.jfsbk", dbpath);
	kept = file_size(spill);
	CK(JetEndExternalBackupInstance2(inst, JET_bitBackupEndAbort));
	pit_rate = load_stop(lt, threads, t0);
	row("workload: durable commits/s during a point-in-time backup", pit_rate, "txn/s");
	row("  ratio to no backup", pit_rate / base_rate, "x");
	row("  backup data read meanwhile (repeated full reads)", (double)bytes / 1048576.0, "MiB");
	row("  page images kept (spill file at End)", (double)kept / 1048576.0, "MiB");
	row("  spill file after End (must be gone)", (double)file_size(spill), "bytes");

	CK(JetTerm(inst));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
