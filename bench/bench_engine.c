/*
 * bench_engine -- measures libjet's engine and prints the figures (it has no
 * pass/fail thresholds; a sanity check that fails is printed and makes the
 * exit status 1).
 *
 *   bench_engine [--dir DIR] [--seconds S] [--recovery-mb MB] [--db-mb MB] [--keep] [--events]
 *
 * Everything happens in a fresh directory DIR/bench_engine.XXXXXX (DIR is
 * $TMPDIR, else /tmp), removed at the end unless --keep.  Figures:
 *
 *  (a) durable commits per second, 1 and 4 sessions (one thread each).  A
 *      transaction reads a counter record and 2 random records of a
 *      10,000-record table (16-byte values), rewrites all three and commits.
 *      Each case runs S seconds (default 3).
 *  (b) the same with JET_bitCommitLazyFlush.
 *      Also printed: transaction latency (begin to commit return; median
 *      and 99th percentile to 10 us, and the maximum).
 *  (c) log volume per transaction in each case (see log_snap below for how).
 *  (d) recovery speed: a workload writes --recovery-mb MB (default 30) of log
 *      while the checkpoint is held still, the instance ends with
 *      JetTerm2(JET_bitTermAbrupt) (nothing flushed: a crash), and JetInit
 *      is timed from its call to its return (the log files are still in
 *      the OS page cache, as after a process crash).  Again with the files
 *      dropped from the OS cache first (as after a reboot).  Then with the
 *      checkpoint running normally (every second) for S seconds, which gives
 *      the redo a crash typically leaves.  The commit counter is checked
 *      after each recovery.
 *  (e) memory: a child process (so that earlier cases do not count) with a
 *      cache of 256 pages (2 MiB) builds a database of --db-mb MiB of values
 *      (default 40, 1000-byte values) and scans it; its peak RSS (VmHWM) is
 *      printed as the database grows, next to the database size.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jet.h"
#include "jet_int.h"
#include "result.h"
#include "rowkv.h"

#define TPS_RECORDS 10000
#define TPS_VALUE 16
#define REC_RECORDS 50000
#define REC_VALUE 100
#define REC_UPDATES_PER_TXN 8
#define RSS_VALUE 1000
#define RSS_RECORDS_PER_TXN 32
#define RSS_CACHE_PAGES 256

static int failures;

/* ---- small helpers ---- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench_engine: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void
check(JET_ERR err, const char *what)
{
	if (err < 0)
		die("%s: %s (%s, %ld)", what, JetErrorString(err), JetErrorName(err), err);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench_engine: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t
rnd(uint64_t *state)
{
	uint64_t x = *state;	/* xorshift64 */

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static void
key_of(uint64_t n, uint8_t key[8])
{
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(n >> (56 - 8 * i));
}

static const double MiB = 1024.0 * 1024.0;

/* snprintf that may truncate (labels, messages). */
static void sfmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
sfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* snprintf for paths: too long is an error. */
static void pfmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
pfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		die("path too long: %s...", buf);
}

/* ---- the result table ---- */

struct row {
	char figure[96];
	char value[32];
	char unit[32];
};

static struct row rows[128];
static size_t nrows;

static void add_row(const char *figure, const char *unit, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
add_row(const char *figure, const char *unit, const char *fmt, ...)
{
	va_list ap;

	if (nrows == sizeof(rows) / sizeof(rows[0]))
		return;
	sfmt(rows[nrows].figure, sizeof(rows[nrows].figure), "%s", figure);
	sfmt(rows[nrows].unit, sizeof(rows[nrows].unit), "%s", unit);
	va_start(ap, fmt);
	vsnprintf(rows[nrows].value, sizeof(rows[nrows].value), fmt, ap);
	va_end(ap);
	nrows++;
}

static void
print_rows(void)
{
	int wf = 6, wv = 5, wu = 4;

	for (size_t i = 0; i < nrows; i++) {
		int f = (int)strlen(rows[i].figure), v = (int)strlen(rows[i].value), u = (int)strlen(rows[i].unit);
		if (v == 0 && u == 0)
			continue;	/* section titles stand on their own */
		wf = f > wf ? f : wf;
		wv = v > wv ? v : wv;
		wu = u > wu ? u : wu;
	}
	printf("%-*s | %*s | %s\n", wf, "figure", wv, "value", "unit");
	for (int i = 0; i < wf + wv + wu + 6; i++)
		putchar('-');
	putchar('\n');
	for (size_t i = 0; i < nrows; i++) {
		if (rows[i].value[0] == '\0' && rows[i].unit[0] == '\0')
			printf("%s\n", rows[i].figure);	/* a section title */
		else
			printf("%-*s | %*s | %s\n", wf, rows[i].figure, wv, rows[i].value, rows[i].unit);
	}
}

static void
section(const char *title)
{
	add_row(title, "", "%s", "");
}

/* ---- the machine ---- */

static void
cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	sfmt(buf, len, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');
		if (colon == NULL || strncmp(line, "model name", 10) != 0)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		sfmt(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* The file system holding dir: the longest mount point that prefixes it. */
static void
dir_filesystem(const char *dir, char *buf, size_t len)
{
	char real[PATH_MAX], line[4096], dev[1024], mnt[1024], type[128];
	size_t best = 0;
	FILE *f;

	sfmt(buf, len, "unknown");
	if (realpath(dir, real) == NULL || (f = fopen("/proc/self/mounts", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t ml;
		if (sscanf(line, "%1023s %1023s %127s", dev, mnt, type) != 3)
			continue;
		ml = strlen(mnt);
		if (strncmp(real, mnt, ml) != 0 || (real[ml] != '/' && real[ml] != '\0' && strcmp(mnt, "/") != 0))
			continue;
		if (ml >= best) {
			best = ml;
			sfmt(buf, len, "%s on %s (%s)", type, mnt, dev);
		}
	}
	fclose(f);
}

/* ---- memory ---- */

/* A "Vm...:" line of /proc/self/status in KiB, or getrusage's ru_maxrss. */
static long
proc_status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t fl = strlen(field);
	long kb = -1;

	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
				kb = strtol(line + fl + 1, NULL, 10);
				break;
			}
		fclose(f);
	}
	if (kb < 0 && strcmp(field, "VmHWM") == 0) {
		struct rusage ru;
		if (getrusage(RUSAGE_SELF, &ru) == 0)
			kb = ru.ru_maxrss;
	}
	return kb;
}

/* ---- instances ---- */

struct inst_conf {
	unsigned long cache_pages;
	unsigned long checkpoint_depth;	/* 0: default */
	unsigned long log_kb;		/* 0: default */
};

static int events_to_stderr;

/* A new instance with its parameters set, not yet initialized. */
static JET_INSTANCE
inst_new(const char *dir, const struct inst_conf *c)
{
	JET_INSTANCE inst = 0;

	check(JetCreateInstance(&inst, NULL), "JetCreateInstance");
	check(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, dir), "system path");
	check(JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, dir), "log path");
	check(JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL), "create path");
	check(JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget,
	    events_to_stderr ? JET_JetfsEventStderr : JET_JetfsEventNone, NULL), "events");
	check(JetSetSystemParameter(&inst, 0, JET_paramCacheSizeMax, c->cache_pages, NULL), "cache size");
	if (c->checkpoint_depth != 0)
		check(JetSetSystemParameter(&inst, 0, JET_paramCheckpointDepthMax, c->checkpoint_depth, NULL),
		    "checkpoint depth");
	if (c->log_kb != 0)
		check(JetSetSystemParameter(&inst, 0, JET_paramLogFileSize, c->log_kb, NULL), "log file size");
	return inst;
}

static JET_INSTANCE
inst_open(const char *dir, const struct inst_conf *c)
{
	JET_INSTANCE inst = inst_new(dir, c);

	check(JetInit(&inst), "JetInit");
	return inst;
}

/* The instance behind a handle (jet_int.h), for its log counters. */
static struct jet_inst *
inst_struct(JET_INSTANCE h)
{
	struct jet_inst *inst = handle_get(HANDLE_INSTANCE, h);

	if (inst == NULL)
		die("no instance behind handle %llu", (unsigned long long)h);
	return inst;
}

/*
 * LOG VOLUME.  The handle API does not show the log, but jet_int.h does:
 * handle_get(HANDLE_INSTANCE) gives the struct jet_inst, whose struct
 * jet_log counts, under log->lock,
 *   append_lsn     the stream position: the difference over a run is the
 *                  log records themselves ("payload");
 *   bytes_written  what the flushes wrote: every flush writes segments of a
 *                  32-byte header plus payload, padded to 512-byte sectors,
 *                  so a durable commit on its own costs at least a sector
 *                  ("written");
 *   flushes        log writes + fsyncs (group commit: several commits share one);
 *   cur_gen, cur_off  the generation being written and the offset in it.
 * The on-disk method gives the same "written" figure plus per-generation
 * overhead: (generations created x JET_paramLogFileSize) + final offset in
 * <base>.log - starting offset.  It is printed as "log file space", which
 * includes each generation's 4 KiB header, its END sector, and the unused
 * tail a generation is closed with when a flush does not fit.  (Creating a
 * generation also zero-fills and fsyncs the whole file: that write is not
 * counted in any of these.)
 */
struct log_snap {
	lsn_t append, flushed;
	uint64_t written, flushes, cur_off, file_size;
	uint32_t gen;
};

static void
log_snap(JET_INSTANCE h, struct log_snap *s)
{
	struct jet_log *log = &inst_struct(h)->log;

	olock_lock(&log->lock);
	/* The flusher updates cur_off and bytes_written outside the lock. */
	while (log->flushing)
		olock_wait(&log->cond, &log->lock);
	s->append = log->append_lsn;
	s->flushed = log->flushed_lsn;
	s->written = log->bytes_written;
	s->flushes = log->flushes;
	s->gen = log->cur_gen;
	s->cur_off = log->cur_off;
	s->file_size = log->file_size;
	olock_unlock(&log->lock);
}

static double
log_file_space(const struct log_snap *a, const struct log_snap *b)
{
	return (double)(b->gen - a->gen) * (double)a->file_size + (double)b->cur_off - (double)a->cur_off;
}

/* ---- records ---- */

struct db_handles {
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID data, meta;
};

static void
handles_open(JET_INSTANCE inst, const char *dbpath, struct db_handles *h)
{
	check(JetBeginSession(inst, &h->ses, NULL, NULL), "JetBeginSession");
	check(JetOpenDatabase(h->ses, dbpath, NULL, &h->dbid, 0), "JetOpenDatabase");
	check(JetOpenTable(h->ses, h->dbid, "data", NULL, 0, 0, &h->data), "JetOpenTable data");
	check(JetOpenTable(h->ses, h->dbid, "meta", NULL, 0, 0, &h->meta), "JetOpenTable meta");
}

/*
 * Creates dbpath with table "data" (records 0..n-1, keys 8-byte big-endian,
 * values of vallen bytes) and table "meta" holding the counter (0).
 */
static void
db_populate(JET_INSTANCE inst, const char *dbpath, uint64_t n, size_t vallen)
{
	struct db_handles h;
	uint8_t key[8], val[4096] = { 0 }, zero[8] = { 0 };

	check(JetBeginSession(inst, &h.ses, NULL, NULL), "JetBeginSession");
	check(JetCreateDatabase(h.ses, dbpath, NULL, &h.dbid, 0), "JetCreateDatabase");
	check(JetCreateTable(h.ses, h.dbid, "data", 0, 0, &h.data), "JetCreateTable data");
	check(JetCreateTable(h.ses, h.dbid, "meta", 0, 0, &h.meta), "JetCreateTable meta");
	check(JetBeginTransaction(h.ses), "JetBeginTransaction");
	for (uint64_t i = 0; i < n; i++) {
		key_of(i, key);
		memcpy(val, &i, sizeof(i));
		check(rowkv_put(h.ses, h.data, key, 8, val, vallen, 1), "insert");
		if (i % 64 == 63) {
			check(JetCommitTransaction(h.ses, JET_bitCommitLazyFlush), "commit");
			check(JetBeginTransaction(h.ses), "JetBeginTransaction");
		}
	}
	check(rowkv_put(h.ses, h.meta, "counter", 7, zero, 8, 1), "insert counter");
	check(JetCommitTransaction(h.ses, 0), "commit");
	check(JetEndSession(h.ses, 0), "JetEndSession");
}

static uint64_t
read_counter(JET_INSTANCE inst, const char *dbpath)
{
	struct db_handles h;
	uint64_t v;

	handles_open(inst, dbpath, &h);
	check(rowkv_get(h.ses, h.meta, "counter", 7, &v, 8), "read the counter");
	check(JetEndSession(h.ses, 0), "JetEndSession");
	return v;
}

/*
 * One transaction: reads the counter and nupd random records, rewrites them
 * (the first 8 bytes of a value become the counter) and commits.
 */
static JET_ERR
txn_update(struct db_handles *h, uint64_t *rng, uint64_t nrecords, size_t vallen, int nupd, int lazy)
{
	uint8_t key[8], val[4096];
	uint64_t counter;
	JET_ERR err;

	if ((err = JetBeginTransaction(h->ses)) < 0)
		return err;
	if ((err = rowkv_get(h->ses, h->meta, "counter", 7, &counter, 8)) < 0)
		goto fail;
	counter++;
	for (int i = 0; i < nupd; i++) {
		key_of(rnd(rng) % nrecords, key);
		if ((err = rowkv_get(h->ses, h->data, key, 8, val, vallen)) < 0)
			goto fail;
		memcpy(val, &counter, 8);
		for (size_t k = 8; k + 8 <= vallen; k += 8) {
			uint64_t r = rnd(rng);
			memcpy(val + k, &r, 8);
		}
		if ((err = rowkv_put(h->ses, h->data, key, 8, val, vallen, 0)) < 0)
			goto fail;
	}
	if ((err = rowkv_put(h->ses, h->meta, "counter", 7, &counter, 8, 0)) < 0)
		goto fail;
	return JetCommitTransaction(h->ses, lazy ? JET_bitCommitLazyFlush : 0);
fail:
	JetRollback(h->ses, JET_bitRollbackAll);
	return err;
}

/* ---- (a), (b), (c): commit throughput and log volume ---- */

struct tps_shared {
	JET_INSTANCE inst;
	const char *dbpath;
	int lazy;
	atomic_int ready, go, stop;
};

/* Transaction latency histogram: 10 us buckets up to 1 s. */
#define LAT_BUCKET_US 10
#define LAT_BUCKETS 100000

struct tps_worker {
	struct tps_shared *sh;
	pthread_t tid;
	uint64_t rng;
	uint64_t commits;
	uint32_t *lat;			/* LAT_BUCKETS counts */
	double lat_max;
	JET_ERR err;
};

/* The latency below which a fraction q of the transactions completed, in ms. */
static double
lat_quantile(const uint64_t *hist, uint64_t total, double q)
{
	uint64_t want = (uint64_t)((double)total * q), seen = 0;

	for (size_t i = 0; i < LAT_BUCKETS; i++)
		if ((seen += hist[i]) > want)
			return (double)(i + 1) * LAT_BUCKET_US / 1000.0;
	return (double)LAT_BUCKETS * LAT_BUCKET_US / 1000.0;
}

static void *
tps_main(void *arg)
{
	struct tps_worker *w = arg;
	struct tps_shared *sh = w->sh;
	struct db_handles h;

	handles_open(sh->inst, sh->dbpath, &h);
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->go))
		sched_yield();
	while (!atomic_load(&sh->stop)) {
		double t0 = now_s(), dt;
		size_t b;
		if ((w->err = txn_update(&h, &w->rng, TPS_RECORDS, TPS_VALUE, 2, sh->lazy)) < 0)
			break;
		dt = now_s() - t0;
		b = (size_t)(dt * 1e6 / LAT_BUCKET_US);
		w->lat[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
		if (dt > w->lat_max)
			w->lat_max = dt;
		w->commits++;
	}
	/* Lazy commits: make them durable before the counters are read. */
	if (w->err >= 0)
		w->err = JetCommitTransaction(h.ses, JET_bitWaitLastLevel0Commit);
	check(JetEndSession(h.ses, 0), "JetEndSession");
	return NULL;
}

static void
tps_case(JET_INSTANCE inst, const char *dbpath, int lazy, int nthreads, double seconds, uint64_t *total)
{
	struct tps_shared sh = { .inst = inst, .dbpath = dbpath, .lazy = lazy };
	struct tps_worker w[16];
	struct log_snap a, b;
	uint64_t commits = 0, *hist = calloc(LAT_BUCKETS, sizeof(*hist));
	double t0, t1, lat_max = 0;
	char fig[96];
	const char *mode = lazy ? "lazy" : "durable";

	progress("%s commits, %d session(s), %.0f s", mode, nthreads, seconds);
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct tps_worker){ .sh = &sh, .rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) + (uint64_t)lazy,
		    .lat = calloc(LAT_BUCKETS, sizeof(uint32_t)) };
		if (w[i].lat == NULL || hist == NULL)
			die("out of memory");
		if (pthread_create(&w[i].tid, NULL, tps_main, &w[i]) != 0)
			die("cannot start a thread");
	}
	while (atomic_load(&sh.ready) < nthreads)
		sleep_s(0.001);
	log_snap(inst, &a);
	t0 = now_s();
	atomic_store(&sh.go, 1);
	sleep_s(seconds);
	atomic_store(&sh.stop, 1);
	t1 = now_s();
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].tid, NULL);
		check(w[i].err, "transaction");
		commits += w[i].commits;
		for (size_t k = 0; k < LAT_BUCKETS; k++)
			hist[k] += w[i].lat[k];
		if (w[i].lat_max > lat_max)
			lat_max = w[i].lat_max;
		free(w[i].lat);
	}
	log_snap(inst, &b);
	*total += commits;
	if (commits == 0)
		die("no transaction committed in %.1f s", seconds);
	sfmt(fig, sizeof(fig), "%s commits, %d session%s", mode, nthreads, nthreads > 1 ? "s" : "");
	add_row(fig, "txn/s", "%.0f", (double)commits / (t1 - t0));
	sfmt(fig, sizeof(fig), "engine.%s.%d", mode, nthreads);
	bench_result(fig, (double)commits / (t1 - t0), 0, "txn/s", NULL);
	sfmt(fig, sizeof(fig), "  log payload per txn (%s, %d)", mode, nthreads);
	add_row(fig, "bytes", "%.0f", (double)(b.append - a.append) / (double)commits);
	sfmt(fig, sizeof(fig), "  log written per txn (%s, %d)", mode, nthreads);
	add_row(fig, "bytes", "%.0f", (double)(b.written - a.written) / (double)commits);
	sfmt(fig, sizeof(fig), "  log file space per txn (%s, %d)", mode, nthreads);
	add_row(fig, "bytes", "%.0f", log_file_space(&a, &b) / (double)commits);
	sfmt(fig, sizeof(fig), "  commits per log flush (%s, %d)", mode, nthreads);
	add_row(fig, "txn", "%.2f", b.flushes > a.flushes ? (double)commits / (double)(b.flushes - a.flushes) : 0.0);
	sfmt(fig, sizeof(fig), "  txn latency, median (%s, %d)", mode, nthreads);
	add_row(fig, "ms", "%.2f", lat_quantile(hist, commits, 0.5));
	sfmt(fig, sizeof(fig), "  txn latency, 99th percentile (%s, %d)", mode, nthreads);
	add_row(fig, "ms", "%.2f", lat_quantile(hist, commits, 0.99));
	sfmt(fig, sizeof(fig), "  txn latency, max (%s, %d)", mode, nthreads);
	add_row(fig, "ms", "%.1f", lat_max * 1000);
	free(hist);
}

static void
bench_tps(const char *top, double seconds)
{
	char dir[PATH_MAX], dbpath[PATH_MAX + 16];
	struct inst_conf c = { .cache_pages = 1024 };
	JET_INSTANCE inst;
	uint64_t total = 0, counter;
	double t0;

	pfmt(dir, sizeof(dir), "%s/tps", top);
	pfmt(dbpath, sizeof(dbpath), "%s/tps.edb", dir);
	inst = inst_open(dir, &c);
	t0 = now_s();
	db_populate(inst, dbpath, TPS_RECORDS, TPS_VALUE);
	progress("populated %d records in %.2f s", TPS_RECORDS, now_s() - t0);
	section("(a)(b)(c) transactions: read counter + 2 random records of 10,000 (16-byte values), write all 3");
	tps_case(inst, dbpath, 0, 1, seconds, &total);
	tps_case(inst, dbpath, 0, 4, seconds, &total);
	tps_case(inst, dbpath, 1, 1, seconds, &total);
	tps_case(inst, dbpath, 1, 4, seconds, &total);
	counter = read_counter(inst, dbpath);
	if (counter != total) {
		fprintf(stderr, "bench_engine: ENGINE BUG? the counter is %llu after %llu committed transactions\n",
		    (unsigned long long)counter, (unsigned long long)total);
		failures++;
	}
	add_row("  check: counter == transactions committed", counter == total ? "" : "(FAILED)", "%s",
	    counter == total ? "ok" : "MISMATCH");
	check(JetTerm(inst), "JetTerm");
}

/* ---- (d) recovery ---- */

static uint64_t
file_size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/*
 * One crash and recovery.  freeze: the checkpoint file cannot be replaced
 * while the workload runs (fault injection fails every write to
 * "<dir>/edb.chk*" with EIO; the background checkpoint still writes pages
 * but cannot move the checkpoint, so redo starts where the workload
 * started).  The workload runs until mb MB of log, or for seconds.
 */
/*
 * Makes the files of dir leave the OS page cache (synced first, so that
 * none is dirty), as after a reboot: recovery then reads them from the disk.
 */
static void
drop_os_cache(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		die("cannot open %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX + 256];
		int fd;
		if (de->d_name[0] == '.')
			continue;
		pfmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		if (fdatasync(fd) != 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
			progress("cannot drop %s from the OS cache", path);
		close(fd);
	}
	closedir(d);
}

static void
recovery_case(const char *top, const char *sub, const char *name, int freeze, int cold, double mb, double seconds)
{
	char dir[PATH_MAX], dbpath[PATH_MAX + 16], chk[PATH_MAX + 16], fig[128];
	struct inst_conf c = { .cache_pages = 8192, .checkpoint_depth = 1UL << 40 };
	struct db_handles h;
	struct checkpoint_state ck;
	struct log_snap a, b;
	JET_INSTANCE inst;
	uint64_t rng = 0x243F6A8885A308D3ULL, txns = 0, counter, expect;
	double t0, t1, work_s, redo_mib;
	uint32_t ngen;
	JET_ERR err;

	pfmt(dir, sizeof(dir), "%s/%s", top, sub);
	pfmt(dbpath, sizeof(dbpath), "%s/rec.edb", dir);
	pfmt(chk, sizeof(chk), "%s/edb.chk", dir);
	inst = inst_open(dir, &c);
	db_populate(inst, dbpath, REC_RECORDS, REC_VALUE);
	/* A clean stop and start: the checkpoint is at the end of the log. */
	check(JetTerm(inst), "JetTerm");
	inst = inst_open(dir, &c);

	handles_open(inst, dbpath, &h);
	expect = read_counter(inst, dbpath);
	if (freeze)
		os_fault_arm(OS_FAULT_EIO, 1, 1, 0, chk);
	progress("recovery (%s): workload", name);
	log_snap(inst, &a);
	t0 = now_s();
	for (;;) {
		check(txn_update(&h, &rng, REC_RECORDS, REC_VALUE, REC_UPDATES_PER_TXN, 1), "transaction");
		txns++;
		if (txns % 64 == 0) {
			log_snap(inst, &b);
			if ((mb > 0 && (double)(b.append - a.append) >= mb * MiB) ||
			    (seconds > 0 && now_s() - t0 >= seconds))
				break;
		}
	}
	/* The last commit durable, then a crash: nothing else is flushed. */
	check(JetCommitTransaction(h.ses, JET_bitWaitLastLevel0Commit), "wait for the lazy commits");
	work_s = now_s() - t0;
	log_snap(inst, &b);
	expect += txns;
	check(JetTerm2(inst, JET_bitTermAbrupt), "JetTerm2(JET_bitTermAbrupt)");
	os_fault_disarm();

	/* Redo runs from the checkpoint (as on disk now) to the durable end. */
	check(checkpoint_read(chk, &ck), "checkpoint_read");
	redo_mib = (double)(b.flushed - ck.lsn) / MiB;
	ngen = b.gen - ck.gen + 1;
	checkpoint_state_free(&ck);

	progress("recovery (%s): %.1f MiB of log to replay, JetInit", name, redo_mib);
	if (cold)
		drop_os_cache(dir);
	inst = inst_new(dir, &c);
	t0 = now_s();
	err = JetInit(&inst);
	t1 = now_s();
	check(err, "JetInit (recovery)");
	counter = read_counter(inst, dbpath);
	check(JetTerm(inst), "JetTerm");

	sfmt(fig, sizeof(fig), "%s: log written by the workload", name);
	add_row(fig, "MiB", "%.1f", (double)(b.append - a.append) / MiB);
	sfmt(fig, sizeof(fig), "%s: workload (%.1f s)", name, work_s);
	add_row(fig, "txn/s", "%.0f", (double)txns / work_s);
	sfmt(fig, sizeof(fig), "%s: log to replay (checkpoint to end)", name);
	add_row(fig, "MiB", "%.2f", redo_mib);
	sfmt(fig, sizeof(fig), "%s: log generations spanned", name);
	add_row(fig, "files", "%u", ngen);
	sfmt(fig, sizeof(fig), "%s: recovery time (JetInit call to return)", name);
	add_row(fig, "s", "%.3f", t1 - t0);
	sfmt(fig, sizeof(fig), "%s: recovery speed", name);
	add_row(fig, "MiB/s", "%.1f", redo_mib / (t1 - t0));
	sfmt(fig, sizeof(fig), "engine.recovery.%s", sub);
	bench_result(fig, redo_mib / (t1 - t0), 1, "MiB/s", NULL);
	sfmt(fig, sizeof(fig), "%s: check: counter after recovery == committed", name);
	add_row(fig, counter == expect ? "" : "(FAILED)", "%s", counter == expect ? "ok" : "MISMATCH");
	if (counter != expect) {
		fprintf(stderr, "bench_engine: ENGINE BUG? after recovery (%s) the counter is %llu, %llu were committed\n",
		    name, (unsigned long long)counter, (unsigned long long)expect);
		failures++;
	}
}

static void
bench_recovery(const char *top, double mb, double seconds)
{
	section("(d) recovery after JetTerm2(JET_bitTermAbrupt); 8 random 100-byte updates per txn, lazy commits");
	recovery_case(top, "rec-frozen", "frozen checkpoint", 1, 0, mb, 0);
	recovery_case(top, "rec-cold", "frozen checkpoint, cold OS cache", 1, 1, mb, 0);
	recovery_case(top, "rec-normal", "normal checkpoints", 0, 0, 0, seconds);
}

/* ---- (e) memory: run in a child process ---- */

static void
child_row(const char *figure, const char *unit, double v, int decimals)
{
	printf("ROW\t%s\t%.*f\t%s\n", figure, decimals, v, unit);
	fflush(stdout);
}

static int
rss_child(const char *dir, double mb)
{
	char dbpath[PATH_MAX + 16];
	struct inst_conf c = { .cache_pages = RSS_CACHE_PAGES };
	struct db_handles h;
	JET_INSTANCE inst;
	uint8_t key[8], val[RSS_VALUE];
	uint64_t n = (uint64_t)(mb * MiB / RSS_VALUE), rng = 12345, seen = 0, bytes = 0;
	double t0, t;
	int next_mark = 1;
	JET_ERR err;
	char fig[128];

	pfmt(dbpath, sizeof(dbpath), "%s/big.edb", dir);
	inst = inst_open(dir, &c);
	check(JetBeginSession(inst, &h.ses, NULL, NULL), "JetBeginSession");
	check(JetCreateDatabase(h.ses, dbpath, NULL, &h.dbid, 0), "JetCreateDatabase");
	check(JetCreateTable(h.ses, h.dbid, "data", 0, 0, &h.data), "JetCreateTable");
	child_row("cache (JET_paramCacheSizeMax 256 pages of 8 KiB)", "MiB", RSS_CACHE_PAGES * 8192 / MiB, 1);
	child_row("peak RSS, instance up, empty database", "MiB", (double)proc_status_kb("VmHWM") / 1024, 1);
	t0 = now_s();
	check(JetBeginTransaction(h.ses), "JetBeginTransaction");
	for (uint64_t i = 0; i < n; i++) {
		key_of(i, key);
		for (size_t k = 0; k + 8 <= sizeof(val); k += 8) {
			uint64_t r = rnd(&rng);
			memcpy(val + k, &r, 8);
		}
		check(rowkv_put(h.ses, h.data, key, 8, val, sizeof(val), 1), "insert");
		if (i % RSS_RECORDS_PER_TXN == RSS_RECORDS_PER_TXN - 1 || i == n - 1) {
			check(JetCommitTransaction(h.ses, JET_bitCommitLazyFlush), "commit");
			check(JetBeginTransaction(h.ses), "JetBeginTransaction");
		}
		/* RSS at 1/4, 1/2 and all of the database. */
		if ((i + 1) * 4 >= n * (uint64_t)next_mark && next_mark <= 4) {
			double dbmb = (double)file_size_of(dbpath) / MiB;
			sfmt(fig, sizeof(fig), "peak RSS while building, database file at %6.1f MiB", dbmb);
			if (next_mark != 3)
				child_row(fig, "MiB", (double)proc_status_kb("VmHWM") / 1024, 1);
			next_mark++;
		}
	}
	check(JetCommitTransaction(h.ses, 0), "commit");
	t = now_s() - t0;
	child_row("build: values inserted (1000-byte values, 32 per lazy commit)", "MiB", (double)n * RSS_VALUE / MiB, 1);
	child_row("build rate", "MiB/s", (double)n * RSS_VALUE / MiB / t, 1);

	t0 = now_s();
	for (err = JetMove(h.ses, h.data, JET_MoveFirst, 0); err >= 0; err = JetMove(h.ses, h.data, JET_MoveNext, 0)) {
		unsigned long got;
		check(JetRetrieveColumn(h.ses, h.data, JET_columnidValue, val, sizeof(val), &got, 0, NULL), "retrieve");
		seen++;
		bytes += got;
	}
	t = now_s() - t0;
	if (err != JET_errNoCurrentRecord) {
		/* Report it, and still print the memory figures. */
		fprintf(stderr, "bench_engine: ENGINE BUG? the scan stopped after %llu of %llu records: %s (%s, %ld)\n",
		    (unsigned long long)seen, (unsigned long long)n, JetErrorString(err), JetErrorName(err), err);
	}
	child_row("scan: records read (JetMove + JetRetrieveColumn)", "records", (double)seen, 0);
	child_row("scan rate", "MiB/s", (double)bytes / MiB / t, 1);
	sfmt(fig, sizeof(fig), "peak RSS after the scan, database file at %6.1f MiB",
	    (double)file_size_of(dbpath) / MiB);
	child_row(fig, "MiB", (double)proc_status_kb("VmHWM") / 1024, 1);
	child_row("  RSS now (VmRSS)", "MiB", (double)proc_status_kb("VmRSS") / 1024, 1);
	{
		struct jet_cache_stats { uint64_t hits, misses, writes; } cs;
		struct cache *cache = &inst_struct(inst)->cache;
		olock_lock(&cache->lock);
		cs.hits = cache->hits;
		cs.misses = cache->misses;
		cs.writes = cache->writes;
		olock_unlock(&cache->lock);
		child_row("  cache misses (page reads) during build + scan", "pages", (double)cs.misses, 0);
		child_row("  cache page writes during build + scan", "pages", (double)cs.writes, 0);
	}
	printf("ROW\t  check: the scan read every record inserted\t%s\t%s\n", seen == n ? "ok" : "FAILED",
	    seen == n ? "" : "(see stderr)");
	fflush(stdout);
	check(JetEndSession(h.ses, 0), "JetEndSession");
	check(JetTerm(inst), "JetTerm");
	return seen == n ? 0 : 1;
}

static void
bench_rss(const char *top, double mb)
{
	char dir[PATH_MAX], mbs[32], line[512];
	int fds[2], status;
	pid_t pid;
	FILE *f;

	pfmt(dir, sizeof(dir), "%s/rss", top);
	sfmt(mbs, sizeof(mbs), "%g", mb);
	section("(e) memory: a fresh process, cache 2 MiB, database of 1000-byte values built then scanned");
	progress("memory: building a database of %g MB in a child process", mb);
	if (pipe(fds) < 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { (char *)"bench_engine", (char *)"--rss-child", dir, mbs, NULL };
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "bench_engine: cannot run /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	if ((f = fdopen(fds[0], "r")) == NULL)
		die("fdopen: %s", strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fig = line + 4, *val, *unit;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "ROW\t", 4) != 0 || (val = strchr(fig, '\t')) == NULL ||
		    (unit = strchr(val + 1, '\t')) == NULL)
			continue;
		*val++ = '\0';
		*unit++ = '\0';
		add_row(fig, unit, "%s", val);
	}
	fclose(f);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_engine: the memory benchmark failed\n");
		failures++;
	}
}

/* ---- main ---- */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes the benchmark's tree (only files this program made). */
static int
rm_rf(const char *path)
{
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: bench_engine [--dir DIR] [--seconds S] [--recovery-mb MB] [--db-mb MB] [--keep] [--events]\n"
	    "  --dir DIR          work in a new directory under DIR (default $TMPDIR, else /tmp)\n"
	    "  --seconds S        length of each commit-rate case (default 3)\n"
	    "  --recovery-mb MB   log the recovery benchmark replays (default 30)\n"
	    "  --db-mb MB         MiB of values in the memory benchmark's database (default 40)\n"
	    "  --keep             keep the directory\n"
	    "  --events           libjet's events (recovery, checkpoint failures) to stderr\n");
}

static double
parse_num(const char *s, const char *opt, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die("%s: '%s' is not a number from %g to %g", opt, s, min, max);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' }, { "seconds", required_argument, NULL, 's' },
		{ "recovery-mb", required_argument, NULL, 'r' }, { "db-mb", required_argument, NULL, 'm' },
		{ "keep", no_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
		{ "events", no_argument, NULL, 'e' },
		{ "rss-child", no_argument, NULL, 'C' }, { NULL, 0, NULL, 0 },
	};
	const char *base = getenv("TMPDIR");
	double seconds = 3, rec_mb = 30, db_mb = 40, t0 = now_s();
	int keep = 0, c;
	char top[PATH_MAX], info[512];
	struct utsname un;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': base = optarg; break;
		case 's': seconds = parse_num(optarg, "--seconds", 0.1, 3600); break;
		case 'r': rec_mb = parse_num(optarg, "--recovery-mb", 1, 100000); break;
		case 'm': db_mb = parse_num(optarg, "--db-mb", 1, 100000); break;
		case 'k': keep = 1; break;
		case 'e': events_to_stderr = 1; break;
		case 'h': usage(stdout); return 0;
		case 'C':
			if (argc - optind != 2)
				die("--rss-child DIR MB");
			return rss_child(argv[optind], parse_num(argv[optind + 1], "MB", 1, 100000));
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	pfmt(top, sizeof(top), "%s/bench_engine.XXXXXX", base);
	if (mkdtemp(top) == NULL)
		die("cannot create a directory in %s: %s", base, strerror(errno));

	bench_tps(top, seconds);
	bench_recovery(top, rec_mb, seconds);
	bench_rss(top, db_mb);
	add_row("total benchmark time", "s", "%.1f", now_s() - t0);

	printf("bench_engine: libjet %s, %.3g s per commit-rate case\n", PACKAGE_VERSION, seconds);
	cpu_model(info, sizeof(info));
	printf("machine: %ld processors online (nproc), CPU %s", sysconf(_SC_NPROCESSORS_ONLN), info);
	if (uname(&un) == 0)
		printf(", %s %s %s", un.sysname, un.release, un.machine);
	dir_filesystem(top, info, sizeof(info));
	printf("\ndirectory: %s, file system %s\n\n", top, info);
	print_rows();
	if (!keep && rm_rf(top) != 0)
		fprintf(stderr, "bench_engine: could not remove %s\n", top);
	else if (keep)
		printf("files kept in %s\n", top);
	return failures ? 1 : 0;
}
