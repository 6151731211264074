/*
 * check_pitread.c -- the point-in-time read contract, hammered through the
 * public API (jet.h) only, so that it keeps testing whatever read path
 * implements it (issue 14).
 *
 * The contract: after JetBeginExternalBackupInstance(JET_bitBackupJetfsPointInTime)
 * every JetfsReadFileAt of the streamed database returns the database as it
 * was at Begin, whatever the application writes meanwhile.  The stream: pages
 * 0 and 1 a stamped copy of the header, page k (2 <= k <= pgno_last + 1) the
 * database file's bytes at offset k * page_size as of Begin (database page p
 * lives at file offset (p + 1) * page_size in both), the last page a
 * trailer; (pgno_last + 3) pages in all.
 *
 * The reference is the database file itself, copied at Begin: Begin writes
 * every dirty page, and the writers are parked between transactions until
 * the copy is taken, so at that moment the file is the Begin state.  Then
 * the writers rewrite the same pages flat out through a small cache (so the
 * pages reach the file again and again) while readers compare every byte
 * they get with that copy.
 *
 *   stress_local, stress_remote: the readers on the instance's own handle,
 *     and on a handle of JetfsConnectBackup to the instance's socket;
 *   fd_local, fd_remote: a backup with reads leaves no descriptor behind;
 *   after_end_local, after_end_remote: a handle from before End (or before
 *     the application's JetStopBackupInstance) reads nothing afterwards;
 *   unshared_local, unshared_remote: with shared memory taken away (fault
 *     injection on os_shm_create), nothing is shared and the same readers,
 *     served by the instance, still get the Begin state;
 *   hostile_descriptors: a group that uses libjet's internals: what
 *     src/pitread.c is given (descriptors and a description, as a peer
 *     would send them) is refused when it does not add up, with every
 *     descriptor closed, and a damaged page or a stopped backup serves
 *     nothing.
 *
 * The requests are drawn from a fixed seed (PITREAD_SEED overrides it; each
 * run prints it), so a failure names the offset and can be replayed; what the
 * writers and readers meet still depends on the schedule.  No assertion is
 * about time: the waits are bounded by WAIT_MS only to end a hung run.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define NREC 8000		/* records of VAL_LEN: ~2000 pages of 8 KiB, a 16 MiB database */
#define VAL_LEN 2000
#define NHOT 300		/* 3 updates in 4 go to these ~100 pages: the same pages again and again */
#define CACHE_PAGES 96		/* below the hot pages plus the rest the writers touch: dirty pages are evicted (written) constantly */
#define LOG_KB 1024
#define NWRITERS 2
#define NREADERS 3
#define READ_MAX (2u << 20)	/* the longest read: 2 MiB */
#define STRESS_MS 2000		/* how long the readers of the stress tests run */
#define SHORT_MS 300		/* ... and those of the descriptor test */
#define WAIT_MS 20000		/* bound of every "wait until" loop: generous, never a timing assertion */

enum kind { LOCAL, REMOTE };

static const char *const kind_name[] = { "local", "remote" };

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* xorshift64*: a private generator per thread, so runs with one seed draw the same requests. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint64_t
base_seed(void)
{
	const char *e = getenv("PITREAD_SEED");

	return e != NULL ? strtoull(e, NULL, 0) | 1 : 0x9E3779B97F4A7C15ULL;
}

static void
rec_key(char *key, unsigned r)
{
	snprintf(key, 16, "r%06u", r);
}

/* A value that differs with every version, so that every rewrite changes the page's bytes. */
static void
rec_value(uint8_t *val, unsigned r, uint64_t version)
{
	uint64_t s = ((uint64_t)r << 32 | (version & 0xffffffffu)) * 0x9E3779B97F4A7C15ULL | 1;

	for (size_t i = 0; i < VAL_LEN; i += 8) {
		uint64_t x = rnd(&s);
		memcpy(val + i, &x, VAL_LEN - i < 8 ? VAL_LEN - i : 8);
	}
}

/* ---- the application: an instance, a table, writers ---- */

struct app;

struct writer {
	struct app *app;
	pthread_t thread;
	uint64_t seed;
	atomic_ullong commits;
	JET_ERR err;			/* the first unexpected error (under app.mu) */
	const char *what;		/* its call, NULL while the writer runs (under app.mu) */
};

struct app {
	enum kind kind;
	char *dir, *sock, *dbpath;
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	unsigned long ps;
	/* Writers park between two transactions (never inside one: Begin waits for running transactions). */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pause, parked, gone, stop;
	struct writer w[NWRITERS];
};

static uint64_t
commits_of(struct app *a)
{
	uint64_t n = 0;

	for (int i = 0; i < NWRITERS; i++)
		n += atomic_load(&a->w[i].commits);
	return n;
}

/* Returns 0 to go on, 1 to stop; parks while the test asks. */
static int
writer_gate(struct app *a)
{
	int stop;

	pthread_mutex_lock(&a->mu);
	if (a->pause && !a->stop) {
		a->parked++;
		pthread_cond_broadcast(&a->cv);
		while (a->pause && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		a->parked--;
	}
	stop = a->stop;
	pthread_mutex_unlock(&a->mu);
	return stop;
}

/* A writer that meets an unexpected error records it and leaves (the test fails at the next writers_check). */
static void
writer_failed(struct writer *w, JET_ERR err, const char *what)
{
	struct app *a = w->app;

	pthread_mutex_lock(&a->mu);
	w->err = err;
	w->what = what;
	a->gone++;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct app *a = w->app;
	JET_SESID ses = 0;
	JET_DBID dbid;
	JET_TABLEID t;
	uint8_t *val = malloc(VAL_LEN);
	char key[16];
	JET_ERR err;

	if (val == NULL) {
		writer_failed(w, JET_errOutOfMemory, "malloc");
		return NULL;
	}
#define WTRY(call) do { if ((err = (call)) < 0) { writer_failed(w, err, #call); goto out; } } while (0)
	WTRY(JetBeginSession(a->inst, &ses, NULL, NULL));
	WTRY(JetOpenDatabase(ses, a->dbpath, NULL, &dbid, 0));
	WTRY(JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t));
	while (!writer_gate(a)) {
		uint64_t x = rnd(&w->seed);
		unsigned r = (unsigned)(x % 4 != 0 ? (x >> 8) % NHOT : (x >> 8) % NREC);

		rec_key(key, r);
		rec_value(val, r, x >> 16);
		WTRY(JetBeginTransaction(ses));
		err = rowkv_put(ses, t, key, strlen(key), val, VAL_LEN, 0);
		if (err == JET_errWriteConflict) {	/* the other writer holds the record: try another */
			WTRY(JetRollback(ses, 0));
			continue;
		}
		if (err < 0) {
			writer_failed(w, err, "rowkv_put");
			JetRollback(ses, 0);
			goto out;
		}
		/* Lazy commits: the writers should outrun the log's fsyncs and keep the cache busy. */
		WTRY(JetCommitTransaction(ses, JET_bitCommitLazyFlush));
		atomic_fetch_add(&w->commits, 1);
	}
#undef WTRY
out:
	if (ses != 0)
		JetEndSession(ses, 0);
	free(val);
	return NULL;
}

static void
writers_pause(struct app *a)
{
	uint64_t t0 = now_ms();

	pthread_mutex_lock(&a->mu);
	a->pause = 1;
	/* A writer that failed has left: wait only for the others (its error fails the test later). */
	while (a->parked + a->gone < NWRITERS) {
		pthread_mutex_unlock(&a->mu);
		ck_assert_msg(now_ms() - t0 < WAIT_MS, "the writers did not park within %d ms", WAIT_MS);
		sleep_ms(1);
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
}

static void
writers_resume(struct app *a)
{
	pthread_mutex_lock(&a->mu);
	a->pause = 0;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void
writers_check(struct app *a)
{
	const char *what = NULL;
	JET_ERR err = 0;
	int who = 0;

	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < NWRITERS && what == NULL; i++)
		what = a->w[i].what, err = a->w[i].err, who = i;
	pthread_mutex_unlock(&a->mu);
	ck_assert_msg(what == NULL, "writer %d: %s -> %s", who, what, JetErrorName(err));
}

/* An instance (serving its backup on a socket for REMOTE), the table filled, the writers running. */
static void
app_start(struct app *a, enum kind kind)
{
	uint8_t *val = malloc(VAL_LEN);
	char key[16];
	uint64_t seed = base_seed();
	JET_API_PTR ps = 0;

	ck_assert(val != NULL);
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->dir = tu_tempdir();
	a->dbpath = tu_path(a->dir, "pit.edb");
	a->inst = tu_instance(a->dir, LOG_KB, CACHE_PAGES);
	/* Circular logging: the writers write tens of MiB of log a second; none of it is needed here. */
	CK(JetSetSystemParameter(&a->inst, 0, JET_paramCircularLog, 1, NULL));
	if (kind == REMOTE) {
		a->sock = tu_path(a->dir, "bk.sock");
		CK(JetSetSystemParameter(&a->inst, 0, JET_paramJetfsBackupSocket, 0, a->sock));
	}
	CK(JetInit(&a->inst));
	CK(JetGetSystemParameter(a->inst, 0, JET_paramDatabasePageSize, &ps, NULL, 0));
	a->ps = (unsigned long)ps;
	CK(JetBeginSession(a->inst, &a->ses, NULL, NULL));
	CK(JetCreateDatabase(a->ses, a->dbpath, NULL, &a->dbid, 0));
	CK(JetCreateTable(a->ses, a->dbid, "t", 0, 0, &a->t));
	for (unsigned r = 0; r < NREC; r += 200) {
		CK(JetBeginTransaction(a->ses));
		for (unsigned i = r; i < r + 200 && i < NREC; i++) {
			rec_key(key, i);
			rec_value(val, i, 0);
			CK(rowkv_put(a->ses, a->t, key, strlen(key), val, VAL_LEN, 1));
		}
		CK(JetCommitTransaction(a->ses, JET_bitCommitLazyFlush));
	}
	free(val);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	for (int i = 0; i < NWRITERS; i++) {
		a->w[i].app = a;
		a->w[i].seed = seed + 1000 + (uint64_t)i;
		ck_assert_int_eq(pthread_create(&a->w[i].thread, NULL, writer_main, &a->w[i]), 0);
	}
}

static void
app_stop(struct app *a)
{
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	for (int i = 0; i < NWRITERS; i++)
		ck_assert_int_eq(pthread_join(a->w[i].thread, NULL), 0);
	writers_check(a);
	CK(JetEndSession(a->ses, 0));
	CK(JetTerm(a->inst));
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	tu_rmdir(a->dir);
	free(a->dir);
	free(a->sock);
	free(a->dbpath);
}

/* The handle the backup runs on: the instance itself, or a connection to its socket. */
static JET_INSTANCE
bk_handle(struct app *a)
{
	JET_INSTANCE r = 0;

	if (a->kind == LOCAL)
		return a->inst;
	CK(JetfsConnectBackup(a->sock, &r));
	return r;
}

static void
bk_release(struct app *a, JET_INSTANCE bk)
{
	if (a->kind == REMOTE)
		CK(JetfsDisconnectBackup(bk));
}

/* ---- a point-in-time set and its reference ---- */

struct set {
	struct app *app;
	JET_INSTANCE bk;
	JET_HANDLE h;
	char name[4096];		/* the database as JetGetAttachInfo names it */
	unsigned long ps;
	uint64_t size;
	uint32_t pgno_last;
	uint8_t *ref;			/* the database file at Begin */
	size_t reflen;
	uint8_t *head;			/* stream pages 0-1 and the trailer, as first read */
	uint8_t *trailer;
};

static uint8_t *
slurp_file(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;
	size_t n = 0;

	ck_assert_msg(fd >= 0, "open %s", path);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert(buf != NULL);
	while (n < (size_t)st.st_size) {
		ssize_t got = pread(fd, buf + n, (size_t)st.st_size - n, (off_t)n);
		ck_assert_msg(got > 0, "read %s at %zu", path, n);
		n += (size_t)got;
	}
	close(fd);
	*lenp = n;
	return buf;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads exactly len bytes at off (the test fails otherwise). */
static void
read_exact(struct set *s, uint64_t off, uint8_t *buf, unsigned long len)
{
	unsigned long got = 0;

	CK(JetfsReadFileAt(s->bk, s->h, off, buf, len, &got));
	ck_assert_msg(got == len, "JetfsReadFileAt(%llu, %lu) read %lu", (unsigned long long)off, len, got);
}

/*
 * Begins a point-in-time full backup on bk and takes the reference: the
 * writers are parked from before Begin until the file is copied, then
 * resume before the set is even opened.
 */
static void
set_begin(struct set *s, struct app *a, JET_INSTANCE bk)
{
	char szz[8192];
	unsigned long cb = 0, lo = 0, hi = 0;

	memset(s, 0, sizeof(*s));
	s->app = a;
	s->bk = bk;
	s->ps = a->ps;
	writers_pause(a);
	CK(JetBeginExternalBackupInstance(bk, JET_bitBackupJetfsPointInTime));
	s->ref = slurp_file(a->dbpath, &s->reflen);
	writers_resume(a);

	CK(JetGetAttachInfoInstance(bk, szz, sizeof(szz), &cb));
	ck_assert_msg(cb > 2 && strlen(szz) + 2 == cb, "one database expected in the attach list (%lu bytes)", cb);
	ck_assert(strlen(szz) < sizeof(s->name));
	strcpy(s->name, szz);
	CK(JetOpenFileInstance(bk, s->name, &s->h, &lo, &hi));
	s->size = (uint64_t)hi << 32 | lo;
	ck_assert_msg(s->size % s->ps == 0 && s->size >= 4 * s->ps, "stream size %llu, page size %lu",
	    (unsigned long long)s->size, s->ps);
	s->pgno_last = (uint32_t)(s->size / s->ps - 3);
	/* The database must be big enough that readers and writers meet on many pages. */
	ck_assert_msg(s->pgno_last >= 1000, "pgno_last %u: the database is too small for this test", s->pgno_last);

	s->head = malloc(2 * s->ps);
	s->trailer = malloc(s->ps);
	ck_assert(s->head != NULL && s->trailer != NULL);
	read_exact(s, 0, s->head, 2 * s->ps);
	read_exact(s, s->size - s->ps, s->trailer, s->ps);
	/* The layout backup.c documents: the header written twice, a trailer that names pgno_last and the page size. */
	ck_assert_msg(memcmp(s->head, s->head + s->ps, s->ps) == 0, "stream pages 0 and 1 differ");
	ck_assert_msg(le32(s->trailer + 4) == 0x4C52544AU && le32(s->trailer + 104) == s->pgno_last &&
	    le32(s->trailer + 108) == s->ps, "the last stream page is no trailer of this set (magic 0x%x, pgno_last %u, "
	    "page size %u)", le32(s->trailer + 4), le32(s->trailer + 104), le32(s->trailer + 108));
}

/* Closes the file and ends the backup as an abort (it was never meant to be recorded). */
static void
set_end(struct set *s)
{
	CK(JetCloseFileInstance(s->bk, s->h));
	CK(JetEndExternalBackupInstance2(s->bk, JET_bitBackupEndAbort));
}

static void
set_free(struct set *s)
{
	free(s->ref);
	free(s->head);
	free(s->trailer);
}

/*
 * Checks n bytes read at stream offset off against the contract.  Returns
 * NULL, or what the first wrong byte is (and its offset in *badp).
 */
static const char *
set_check(const struct set *s, uint64_t off, const uint8_t *buf, size_t n, uint64_t *badp)
{
	static const uint8_t zeros[65536];
	uint64_t head_end = 2 * (uint64_t)s->ps, tr_start = s->size - s->ps;
	size_t i = 0;

	while (i < n) {
		uint64_t x = off + i, seg;
		const uint8_t *exp;
		const char *what;

		if (x < head_end) {
			exp = s->head + x, seg = head_end - x, what = "header copy (differs from its first read)";
		} else if (x >= tr_start) {
			exp = s->trailer + (x - tr_start), seg = s->size - x, what = "trailer (differs from its first read)";
		} else if (x < s->reflen) {
			exp = s->ref + x, seg = (tr_start < s->reflen ? tr_start : s->reflen) - x,
			    what = "page (differs from the file at Begin)";
		} else {
			exp = zeros, seg = tr_start - x < sizeof(zeros) ? tr_start - x : sizeof(zeros),
			    what = "page beyond the file at Begin (not zero)";
		}
		if (seg > n - i)
			seg = n - i;
		if (memcmp(buf + i, exp, (size_t)seg) != 0) {
			size_t j = 0;
			while (buf[i + j] == exp[j])
				j++;
			*badp = x + j;
			return what;
		}
		i += (size_t)seg;
	}
	return NULL;
}

/* ---- the readers ---- */

struct readers {
	struct set *set;
	uint64_t deadline;
	atomic_int failed;
	pthread_mutex_t mu;
	char msg[512];			/* the first failure */
};

struct reader {
	struct readers *rs;
	pthread_t thread;
	uint64_t seed;
	unsigned long long reads, bytes, aligned, past_end;
};

static void
reader_fail(struct readers *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reader_fail(struct readers *rs, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&rs->mu);
	if (!atomic_load(&rs->failed)) {
		va_start(ap, fmt);
		vsnprintf(rs->msg, sizeof(rs->msg), fmt, ap);
		va_end(ap);
		atomic_store(&rs->failed, 1);
	}
	pthread_mutex_unlock(&rs->mu);
}

/*
 * One request: an offset and a length drawn so that the reads cover the
 * aligned (whole pages, FUSE's and tar's pattern), the unaligned (a byte to a
 * few, page boundaries crossed anywhere), the end of the stream (reads that
 * cross it or start exactly there), the header and the trailer.
 */
static void
draw(struct reader *rd, const struct set *s, uint64_t *offp, unsigned long *lenp)
{
	uint64_t x = rnd(&rd->seed), y = rnd(&rd->seed);
	uint64_t npages = s->size / s->ps, off;
	unsigned long len;

	switch (x % 8) {
	case 0: case 1: case 2:		/* whole pages */
		off = (y % npages) * s->ps;
		len = (unsigned long)((1 + (x >> 8) % (READ_MAX / s->ps)) * s->ps);
		rd->aligned++;
		break;
	case 3: case 4:			/* anywhere, any length up to READ_MAX */
		off = y % s->size;
		len = 1 + (unsigned long)((x >> 8) % READ_MAX);
		break;
	case 5:				/* a few bytes, often across a page boundary */
		off = (y % npages) * s->ps + s->ps - 1 - (x >> 8) % 16;
		if (off >= s->size)
			off = s->size - 1;
		len = 1 + (unsigned long)((x >> 16) % 32);
		break;
	case 6:				/* across the end (sometimes starting exactly there) */
		off = s->size - (y % (3 * (uint64_t)s->ps + 1));
		len = 1 + (unsigned long)((x >> 8) % READ_MAX);
		if (off + len > s->size)
			rd->past_end++;
		break;
	default:			/* the header and the pages around the trailer */
		off = (y & 1) ? y % (3 * (uint64_t)s->ps) : s->size - 2 * s->ps + y % (2 * (uint64_t)s->ps);
		len = 1 + (unsigned long)((x >> 8) % (4 * s->ps));
		break;
	}
	*offp = off;
	*lenp = len;
}

static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	struct readers *rs = rd->rs;
	struct set *s = rs->set;
	uint8_t *buf = malloc(READ_MAX);

	if (buf == NULL) {
		reader_fail(rs, "malloc");
		return NULL;
	}
	while (!atomic_load(&rs->failed) && now_ms() < rs->deadline) {
		uint64_t off, bad = 0;
		unsigned long len, got = 0, want;
		const char *what;
		JET_ERR err;

		draw(rd, s, &off, &len);
		want = off + len > s->size ? (unsigned long)(s->size - off) : len;
		if ((err = JetfsReadFileAt(s->bk, s->h, off, buf, len, &got)) < 0) {
			reader_fail(rs, "JetfsReadFileAt(%llu, %lu) -> %s", (unsigned long long)off, len,
			    JetErrorName(err));
			break;
		}
		if (got != want) {
			reader_fail(rs, "JetfsReadFileAt(%llu, %lu) of a %llu-byte stream read %lu bytes, not %lu",
			    (unsigned long long)off, len, (unsigned long long)s->size, got, want);
			break;
		}
		if ((what = set_check(s, off, buf, got, &bad)) != NULL) {
			reader_fail(rs, "JetfsReadFileAt(%llu, %lu): byte at offset %llu (stream page %llu + %llu): %s: "
			    "0x%02x, expected 0x%02x", (unsigned long long)off, len, (unsigned long long)bad,
			    (unsigned long long)(bad / s->ps), (unsigned long long)(bad % s->ps), what, buf[bad - off],
			    bad >= s->size - s->ps ? s->trailer[bad - (s->size - s->ps)] : bad < 2 * s->ps ? s->head[bad] :
			    bad < s->reflen ? s->ref[bad] : 0);
			break;
		}
		rd->reads++;
		rd->bytes += got;
	}
	free(buf);
	return NULL;
}

/*
 * NREADERS threads read the set at random for ms milliseconds while the
 * writers run; fails on any wrong byte or size, and unless the writers
 * committed during the reads.
 */
static void
run_readers(struct set *s, long ms, const char *label)
{
	struct readers rs;
	struct reader rd[NREADERS];
	uint64_t c0, c1, t0 = now_ms(), seed = base_seed();
	unsigned long long reads = 0, bytes = 0, aligned = 0, past_end = 0;

	memset(&rs, 0, sizeof(rs));
	rs.set = s;
	pthread_mutex_init(&rs.mu, NULL);
	c0 = commits_of(s->app);
	rs.deadline = t0 + (uint64_t)ms;
	for (int i = 0; i < NREADERS; i++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].rs = &rs;
		rd[i].seed = seed + (uint64_t)i;
		ck_assert_int_eq(pthread_create(&rd[i].thread, NULL, reader_main, &rd[i]), 0);
	}
	for (int i = 0; i < NREADERS; i++) {
		ck_assert_int_eq(pthread_join(rd[i].thread, NULL), 0);
		reads += rd[i].reads, bytes += rd[i].bytes, aligned += rd[i].aligned, past_end += rd[i].past_end;
	}
	c1 = commits_of(s->app);
	pthread_mutex_destroy(&rs.mu);
	fprintf(stderr, "check_pitread: %s: %llu reads (%llu page-aligned, %llu across the end), %.1f MiB in %llu ms, "
	    "%llu commits meanwhile, stream %llu pages (seed 0x%llx)\n", label, reads, aligned, past_end,
	    bytes / 1048576.0, (unsigned long long)(now_ms() - t0), (unsigned long long)(c1 - c0),
	    (unsigned long long)(s->size / s->ps), (unsigned long long)seed);
	ck_assert_msg(!atomic_load(&rs.failed), "%s: %s", label, rs.msg);
	writers_check(s->app);
	for (int i = 0; i < NREADERS; i++)
		ck_assert_msg(rd[i].reads > 0, "%s: reader %d made no read", label, i);
	/* Without writes during the reads the test would prove nothing. */
	ck_assert_msg(c1 > c0, "%s: the writers committed nothing during the reads", label);
}

/*
 * The writers must have changed the compared part of the file since Begin
 * (else every read would match trivially).  Their pages reach the file by
 * eviction, which a cache of CACHE_PAGES forces; wait for it, bounded.
 */
static void
file_moved(struct set *s)
{
	uint64_t t0 = now_ms();

	for (;;) {
		size_t len, lim;
		uint8_t *now = slurp_file(s->app->dbpath, &len);
		int moved;

		lim = len < s->reflen ? len : s->reflen;
		if (lim > s->size - s->ps)
			lim = (size_t)(s->size - s->ps);
		moved = len != s->reflen || (lim > 2 * s->ps && memcmp(now + 2 * s->ps, s->ref + 2 * s->ps,
		    lim - 2 * s->ps) != 0);
		free(now);
		if (moved)
			return;
		ck_assert_msg(now_ms() - t0 < WAIT_MS, "the database file is still as at Begin after the writers ran: "
		    "the readers were never tested against a changed page");
		sleep_ms(50);
	}
}

/* ---- the tests ---- */

/* Tests 1 and 2: the stress test on one kind of handle. */
static void
stress(enum kind kind)
{
	struct app a;
	struct set s;
	JET_INSTANCE bk;

	app_start(&a, kind);
	bk = bk_handle(&a);
	set_begin(&s, &a, bk);
	run_readers(&s, STRESS_MS, kind_name[kind]);
	file_moved(&s);
	set_end(&s);
	bk_release(&a, bk);
	set_free(&s);
	app_stop(&a);
}

START_TEST(test_stress_local)
{
	stress(LOCAL);
}
END_TEST

/*
 * Without shared memory (no memfd; snapshot.c S6) nothing is shared, and the
 * same readers, through the instance, still get the Begin state.
 */
static void
stress_unshared(enum kind kind)
{
	struct app a;
	struct set s;
	struct backup_share sh;
	struct jet_inst *in;
	JET_INSTANCE bk;

	app_start(&a, kind);
	bk = bk_handle(&a);
	os_fault_arm(OS_FAULT_EIO, 1, 1, 0, "jetfs-");	/* os_shm_create's labels: the map and the backup's state */
	set_begin(&s, &a, bk);
	os_fault_disarm();
	CK(bkapi_local(a.inst, &in));
	pthread_mutex_lock(&in->backup_lock);
	ck_assert_ptr_nonnull(in->backup);
	pthread_mutex_unlock(&in->backup_lock);
	ck_assert_int_eq(backup_share_file(in, s.h, &sh), JET_errFeatureNotAvailable);
	run_readers(&s, SHORT_MS * 3, kind == LOCAL ? "local, nothing shared" : "remote, nothing shared");
	file_moved(&s);
	set_end(&s);
	bk_release(&a, bk);
	set_free(&s);
	app_stop(&a);
}

START_TEST(test_unshared_local)
{
	stress_unshared(LOCAL);
}
END_TEST

START_TEST(test_unshared_remote)
{
	stress_unshared(REMOTE);
}
END_TEST

START_TEST(test_stress_remote)
{
	stress(REMOTE);
}
END_TEST

/* ---- descriptors ---- */

#define MAXFD 1024

/* The open descriptors of the process: how many, and what each is (to name a leak). */
static int
fd_list(char (*what)[128], int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0, self;

	ck_assert(d != NULL);
	self = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		ssize_t l;
		if (de->d_name[0] == '.' || atoi(de->d_name) == self)
			continue;
		ck_assert(n < max);
		l = readlinkat(self, de->d_name, what[n], sizeof(what[n]) - 1);
		what[n][l > 0 ? l : 0] = '\0';
		n++;
	}
	closedir(d);
	return n;
}

/*
 * The count once it has held still for 10 samples 20 ms apart (bounded by
 * WAIT_MS from t0).  The engine's own threads open and close descriptors
 * whatever the backup does: the checkpoint is rewritten through a new file,
 * the log flusher closes a generation and the log's preparer makes the next
 * one.  Counted with the writers parked, these settle; a single sample
 * could catch one of them half way and name a leak that is none, or hide
 * one.
 */
static int
fd_steady(char (*what)[128], uint64_t t0)
{
	int n = fd_list(what, MAXFD), same = 1;

	while (same < 10 && now_ms() - t0 < WAIT_MS) {
		int m;
		sleep_ms(20);
		m = fd_list(what, MAXFD);
		same = m == n ? same + 1 : 1;
		n = m;
	}
	return n;
}

/*
 * After End (and the disconnection) the count must come back to the one
 * before Begin; the service closes its end of a connection in its own
 * thread, so it is given time (bounded), never a deadline that passes.
 */
static void
fds_same(struct app *a, int before, char (*blist)[128], const char *label)
{
	static char now[MAXFD][128];
	uint64_t t0 = now_ms();
	int n;

	writers_pause(a);
	while ((n = fd_steady(now, t0)) != before && now_ms() - t0 < WAIT_MS)
		sleep_ms(20);
	if (n != before) {
		fprintf(stderr, "check_pitread: %s: open descriptors before Begin:\n", label);
		for (int i = 0; i < before; i++)
			fprintf(stderr, "  %s\n", blist[i]);
		fprintf(stderr, "check_pitread: %s: open descriptors after End:\n", label);
		for (int i = 0; i < n; i++)
			fprintf(stderr, "  %s\n", now[i]);
	}
	ck_assert_msg(n == before, "%s: %d descriptors open before Begin, %d after End (lists on stderr)", label,
	    before, n);
	writers_resume(a);
}

/* Test 3: a backup with reads on either kind of handle gives back every descriptor it took. */
static void
no_fd_leak(enum kind kind)
{
	static char list[MAXFD][128];
	struct app a;
	struct set s;
	JET_INSTANCE bk;
	int before;

	app_start(&a, kind);
	for (int round = 0; round < 2; round++) {	/* the second round: nothing accumulates either */
		writers_pause(&a);
		before = fd_steady(list, now_ms());
		writers_resume(&a);
		bk = bk_handle(&a);
		set_begin(&s, &a, bk);
		run_readers(&s, SHORT_MS, kind_name[kind]);
		set_end(&s);
		bk_release(&a, bk);
		set_free(&s);
		fds_same(&a, before, list, kind_name[kind]);
	}
	app_stop(&a);
}

START_TEST(test_fd_local)
{
	no_fd_leak(LOCAL);
}
END_TEST

START_TEST(test_fd_remote)
{
	no_fd_leak(REMOTE);
}
END_TEST

/* ---- a handle outlives its backup ---- */

/* A read through a handle of an ended or stopped backup must fail and return no byte. */
static void
read_fails(struct set *s, const char *when)
{
	uint8_t *buf = malloc(4 * s->ps);
	unsigned long got = 12345;
	JET_ERR err;

	ck_assert(buf != NULL);
	for (int i = 0; i < 3; i++) {
		/* The header, a page in the middle, the trailer: none may come from anywhere now. */
		uint64_t off = i == 0 ? 0 : i == 1 ? (s->size / s->ps / 2) * s->ps : s->size - s->ps;
		got = 12345;
		err = JetfsReadFileAt(s->bk, s->h, off, buf, (unsigned long)s->ps, &got);
		ck_assert_msg(err < 0, "%s: JetfsReadFileAt(%llu) on the handle of before -> %s, %lu bytes", when,
		    (unsigned long long)off, JetErrorName(err), got);
		ck_assert_msg(got == 0 || got == 12345, "%s: a failed JetfsReadFileAt reports %lu bytes", when, got);
	}
	free(buf);
}

/* Test 4: after End, and after the application's JetStopBackupInstance, the old handle reads nothing. */
static void
after_end(enum kind kind)
{
	struct app a;
	struct set s;
	JET_INSTANCE bk;
	uint8_t *page;

	app_start(&a, kind);
	bk = bk_handle(&a);
	page = malloc(a.ps);
	ck_assert(page != NULL);

	/* End (abort) with the file still open: its handle dies with the backup. */
	set_begin(&s, &a, bk);
	read_exact(&s, s.size / 2 / s.ps * s.ps, page, s.ps);	/* the handle did work */
	CK(JetEndExternalBackupInstance2(bk, JET_bitBackupEndAbort));
	read_fails(&s, "after End");
	set_free(&s);

	/* The application stops the backup: reads fail at once, and still after End. */
	set_begin(&s, &a, bk);
	read_exact(&s, s.size / 2 / s.ps * s.ps, page, s.ps);
	CK(JetStopBackupInstance(a.inst));
	read_fails(&s, "after JetStopBackupInstance");
	CK(JetEndExternalBackupInstance2(bk, JET_bitBackupEndAbort));
	read_fails(&s, "after JetStopBackupInstance and End");
	set_free(&s);

	free(page);
	bk_release(&a, bk);
	app_stop(&a);
}

START_TEST(test_after_end_local)
{
	after_end(LOCAL);
}
END_TEST

START_TEST(test_after_end_remote)
{
	after_end(REMOTE);
}
END_TEST

/* ---- what pitread.c is given (internal API) ---- */

static int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert(d != NULL);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * pitread_open with duplicates of the shared descriptors, the one at index
 * bad replaced by bad_fd (taken over), nfds of them: its error.  Whatever
 * it fails with, it must have closed every descriptor it was given.
 */
static JET_ERR
open_with(const struct backup_share *sh, const struct pitread_desc *d, int bad, int bad_fd, int nfds)
{
	int fds[PITREAD_FDS_DB];
	struct pitread_file *pf = NULL;
	JET_ERR err;

	for (int i = 0; i < PITREAD_FDS_DB; i++)
		ck_assert((fds[i] = i == bad ? bad_fd : dup(sh->fds[i])) >= 0);
	err = pitread_open(d, fds, nfds, &pf);
	if (err >= 0)
		pitread_unref(pf);
	for (int i = nfds; i < PITREAD_FDS_DB; i++)
		close(fds[i]);
	return err;
}

/* Shared memory holding a copy of the first n bytes of the map fd, with pgno_last replaced; size bytes. */
static int
fake_map(int map_fd, size_t size, uint32_t pgno_last)
{
	uint8_t hdr[KPM_HDR_SIZE];
	int fd = memfd_create("fake-map", MFD_CLOEXEC);

	ck_assert(fd >= 0);
	ck_assert_int_eq(pread(map_fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	put32(hdr + KPM_OFF_PGNO_LAST, pgno_last);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	ck_assert_int_eq(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	return fd;
}

START_TEST(test_hostile_descriptors)
{
	struct app a;
	struct set s;
	struct backup_share sh;
	struct pitread_desc d;
	struct pitread_file *pf;
	struct jet_inst *in;
	uint8_t *buf, *saved, junk[64];
	uint64_t k;
	size_t got;
	int before, p[2], fd;

	app_start(&a, LOCAL);
	set_begin(&s, &a, a.inst);
	writers_pause(&a);	/* nothing of theirs may read the page damaged below */
	CK(bkapi_local(a.inst, &in));
	CK(backup_share_file(in, s.h, &sh));
	ck_assert_int_eq(sh.nfds, PITREAD_FDS_DB);
	before = fd_count();

	d = sh.desc;
	CK(open_with(&sh, &d, -1, -1, PITREAD_FDS_DB));
	d.size += s.ps;
	ck_assert_int_eq(open_with(&sh, &d, -1, -1, PITREAD_FDS_DB), JET_errInvalidParameter);
	d = sh.desc;
	d.page_size = 1000;
	ck_assert_int_eq(open_with(&sh, &d, -1, -1, PITREAD_FDS_DB), JET_errInvalidParameter);
	d = sh.desc;
	ck_assert_int_eq(open_with(&sh, &d, -1, -1, PITREAD_FDS_LOG), JET_errInvalidParameter);
	/* A pipe for the database file; the spill file for the map; the map for the backup's state. */
	ck_assert_int_eq(pipe(p), 0);
	close(p[1]);
	ck_assert_int_eq(open_with(&sh, &d, 0, p[0], PITREAD_FDS_DB), JET_errInvalidParameter);
	ck_assert_int_eq(open_with(&sh, &d, 3, dup(sh.fds[2]), PITREAD_FDS_DB), JET_errInvalidParameter);
	ck_assert_int_eq(open_with(&sh, &d, 1, dup(sh.fds[3]), PITREAD_FDS_DB), JET_errInvalidParameter);
	/* A map too small for its bitmap, and the map of a database of another size. */
	fd = fake_map(sh.fds[3], KPM_HDR_SIZE, sh.desc.pgno_last);
	ck_assert_int_eq(open_with(&sh, &d, 3, fd, PITREAD_FDS_DB), JET_errInvalidParameter);
	fd = fake_map(sh.fds[3], KPM_SIZE(sh.desc.pgno_last + 1), sh.desc.pgno_last + 1);
	ck_assert_int_eq(open_with(&sh, &d, 3, fd, PITREAD_FDS_DB), JET_errInvalidParameter);
	ck_assert_int_eq(fd_count(), before);

	/* A page damaged on disk: pitread.c serves nothing of it (the instance, asked then, reports it). */
	buf = malloc(s.ps);
	ck_assert(buf != NULL);
	{
		int fds[PITREAD_FDS_DB];
		for (int i = 0; i < PITREAD_FDS_DB; i++)
			ck_assert((fds[i] = dup(sh.fds[i])) >= 0);
		CK(pitread_open(&sh.desc, fds, PITREAD_FDS_DB, &pf));
	}
	k = s.pgno_last / 2 + 1;
	CK(pitread_read(pf, k * s.ps, buf, s.ps, &got));
	ck_assert_uint_eq(got, s.ps);
	memset(junk, 0xA5, sizeof(junk));
	saved = malloc(s.ps);
	ck_assert(saved != NULL);
	fd = open(a.dbpath, O_RDWR | O_CLOEXEC);
	ck_assert(fd >= 0);
	ck_assert_int_eq(pread(fd, saved, s.ps, (off_t)(k * s.ps)), (ssize_t)s.ps);
	ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), (off_t)(k * s.ps + s.ps / 2)), (ssize_t)sizeof(junk));
	got = 12345;
	ck_assert_msg(pitread_read(pf, k * s.ps, buf, s.ps, &got) < 0 && got == 0,
	    "a damaged page was served (%zu bytes)", got);
	ck_assert_int_lt(pitread_read(pf, k * s.ps + 100, buf, 10, &got), 0);
	/* The header copy is fine; once the application stops the backup, nothing is served, not even it. */
	CK(pitread_read(pf, 0, buf, s.ps, &got));
	CK(JetStopBackupInstance(a.inst));
	ck_assert_int_eq(pitread_read(pf, 0, buf, s.ps, &got), JET_errBackupAbortByServer);
	pitread_unref(pf);
	backup_share_free(&sh);
	CK(JetEndExternalBackupInstance2(a.inst, JET_bitBackupEndAbort));
	free(buf);
	/* The page as it was, before the writers (which would stop the instance on a damaged page) run again. */
	ck_assert_int_eq(pwrite(fd, saved, s.ps, (off_t)(k * s.ps)), (ssize_t)s.ps);
	close(fd);
	free(saved);
	set_free(&s);
	writers_resume(&a);
	app_stop(&a);
}
END_TEST

static Suite *
pitread_suite(void)
{
	Suite *s = suite_create("pitread");

	tu_add_test(s, "stress_local", test_stress_local, 300);
	tu_add_test(s, "stress_remote", test_stress_remote, 300);
	tu_add_test(s, "fd_local", test_fd_local, 300);
	tu_add_test(s, "fd_remote", test_fd_remote, 300);
	tu_add_test(s, "after_end_local", test_after_end_local, 300);
	tu_add_test(s, "after_end_remote", test_after_end_remote, 300);
	tu_add_test(s, "hostile_descriptors", test_hostile_descriptors, 300);
	tu_add_test(s, "unshared_local", test_unshared_local, 300);
	tu_add_test(s, "unshared_remote", test_unshared_remote, 300);
	return s;
}

int
main(void)
{
	return tu_run(pitread_suite());
}
