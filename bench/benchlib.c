/*
 * benchlib.c -- what the benchmarks share: an instance holding a database of
 * N MiB (1000-byte values, plus an accounts table), and a transfer workload
 * of durable commits on it.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "benchlib.h"

char dir[512], dbpath[600];
JET_INSTANCE inst;
static atomic_int stop_load;
static atomic_ullong commits;


double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
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

void
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

pthread_t *
load_start(int threads)
{
	pthread_t *t = calloc((size_t)threads, sizeof(*t));

	atomic_store(&stop_load, 0);
	atomic_store(&commits, 0);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, load_main, (void *)(uintptr_t)(i * 7919 + 1));
	return t;
}

double
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

uint64_t
file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}


int
bench_args(int argc, char **argv, const char *name, unsigned long *mb, unsigned long *seconds, int *threads)
{
	snprintf(dir, sizeof(dir), "%s/%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			snprintf(dir, sizeof(dir), "%s", argv[++i]);
		else if (strcmp(argv[i], "--db-mb") == 0 && i + 1 < argc)
			*mb = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			*seconds = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			*threads = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--dir DIR] [--db-mb N] [--seconds S] [--threads T]\n", name);
			return -1;
		}
	}
	return 0;
}
