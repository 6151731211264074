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

#include "benchlib.h"

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

	if (bench_args(argc, argv, "bench_backup", &mb, &seconds, &threads) < 0)
		return 2;
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
	bench_result("backup.db_mib", (double)bytes / 1048576.0, 0, "MiB", NULL);
	row("cp of the database file (warm, synced)", (double)bytes / 1048576.0 / t, "MiB/s");
	bench_result("backup.cp", (double)bytes / 1048576.0 / t, 1, "MiB/s", NULL);
	snprintf(bdir, sizeof(bdir), "%s/full", dir);
	t0 = now_s();
	CK(JetBackupInstance(inst, bdir, 0, NULL));
	t = now_s() - t0;
	snprintf(cmd, sizeof(cmd), "%s/full/data.edb", dir);
	row("JetBackupInstance full, ESE mode (checksums verified, synced)", (double)file_size(cmd) / 1048576.0 / t, "MiB/s");
	bench_result("backup.ese", (double)file_size(cmd) / 1048576.0 / t, 1, "MiB/s", NULL);

	/* Point-in-time read of the set, idle instance. */
	CK(JetBeginExternalBackupInstance(inst, JET_bitBackupJetfsPointInTime));
	t0 = now_s();
	bytes = pit_read_all();
	t = now_s() - t0;
	CK(JetEndExternalBackupInstance2(inst, JET_bitBackupEndAbort));
	row("point-in-time read via JetfsReadFileAt, 1 MiB reads", (double)bytes / 1048576.0 / t, "MiB/s");
	bench_result("backup.pit_read", (double)bytes / 1048576.0 / t, 1, "MiB/s", NULL);

	/* Workload impact. */
	lt = load_start(threads);
	t0 = now_s();
	sleep((unsigned)seconds);
	base_rate = load_stop(lt, threads, t0);
	row("workload: durable commits/s, no backup", base_rate, "txn/s");
	bench_result("impact.base", base_rate, 0, "txn/s", NULL);

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
	bench_result("impact.ese", ese_rate, 0, "txn/s", NULL);
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
	bench_result("impact.pit", pit_rate, 0, "txn/s", NULL);
	row("  ratio to no backup", pit_rate / base_rate, "x");
	row("  backup data read meanwhile (repeated full reads)", (double)bytes / 1048576.0, "MiB");
	row("  page images kept (spill file at End)", (double)kept / 1048576.0, "MiB");
	row("  spill file after End (must be gone)", (double)file_size(spill), "bytes");
	if (file_size(spill) != 0) {
		fprintf(stderr, "bench_backup: ENGINE BUG? %s is still there after End\n", spill);
		return 1;
	}

	CK(JetTerm(inst));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
