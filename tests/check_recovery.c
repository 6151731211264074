/*
 * check_recovery.c -- crash recovery: a child process runs transactions and
 * dies at the Nth write (crash, or a torn write), the parent recovers
 * (JetInit) and checks that every acknowledged transaction is there with
 * its exact contents, that nothing of an uncommitted or rolled-back
 * transaction is, and that the database verifies.
 *
 *  a. crash / torn write at the Nth write of a run, N swept over the run
 *     (all writes, then only log writes, log rolls, checkpoint files and
 *     database writes);
 *  b. JetTerm2(JET_bitTermAbrupt), then recovery;
 *  c. a crash during recovery, then recovery again (idempotent redo);
 *  d. circular logging deletes old generations; without it all stay;
 *  e. EIO / ENOSPC while committing: errors, the instance refuses work, and
 *     recovery keeps every acknowledged transaction;
 *  f. a database detached and attached again across a crash.
 *
 * The workload ("kv"): transaction i inserts k<i>, rewrites a hot key
 * h<i % HOT> and the counter "ctr" (= i), sometimes deletes k<i - 20>, and
 * sometimes runs a nested level that is rolled back; every fifth step a
 * whole transaction is rolled back.  The child writes i to a pipe after the
 * durable JetCommitTransaction of transaction i returned; the recovered
 * database must hold transactions 0..P-1 exactly, with P = acknowledged or
 * acknowledged + 1 (the one whose commit was in flight).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define HOT 48			/* hot keys h00..h47, rewritten all the time */
#define NTX 200			/* committed transactions per run */
#define DEL_LAG 20		/* transaction i may delete k<i - DEL_LAG> */
#define UNCOMMITTED_BASE 100000	/* u<...> keys of the open transaction at the end */
#define VAL_MAX 64000

/* ---- messages from a child ---- */
enum { MSG_ACK = 1, MSG_DONE = 2, MSG_FAIL = 3, MSG_INIT_FAILED = 4 };
struct msg {
	uint32_t tag, val;
};

static void
send_msg(int fd, uint32_t tag, uint32_t val)
{
	struct msg m = { tag, val };

	if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(4);
}

/* A failure inside a child: say why and leave with a status the parent reports. */
#define CHILD_CK(fd, expr) do { \
	JET_ERR child_err_ = (expr); \
	if (child_err_ < 0) { \
		fprintf(stderr, "child: %s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, JetErrorName(child_err_)); \
		send_msg(fd, MSG_FAIL, (uint32_t)__LINE__); \
		_exit(3); \
	} \
} while (0)

/* ---- deterministic contents ---- */
static void
fill(uint8_t *b, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;

	for (size_t k = 0; k < len; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[k] = (uint8_t)x;
	}
}

static size_t
k_len(unsigned i)
{
	if (i % 25 == 12)
		return 50000 + (i * 7u) % 10000;	/* a record longer than a log generation */
	return i % 13 == 7 ? 9000 + (i * 131u) % 12000 : 16 + (i * 37u) % 700;	/* some long values */
}

static size_t
h_len(unsigned i)
{
	return 40 + (i * 53u) % 300;
}

#define SEED_K(i) ((uint32_t)(i) * 4 + 1)
#define SEED_H(i) ((uint32_t)(i) * 4 + 2)
#define SEED_HINIT(h) (0x40000000u + (uint32_t)(h))
#define SEED_JUNK(i) (0x70000000u + (uint32_t)(i))

static size_t
kname(char *buf, char c, unsigned i)
{
	return (size_t)snprintf(buf, 16, "%c%06u", c, i);
}

static int
k_deleted(unsigned j, unsigned P)
{
	unsigned d = j + DEL_LAG;

	return d % 11 == 5 && d < P;
}

/* ---- the workload ---- */
static unsigned long page_size = 8192;	/* JET_paramDatabasePageSize of every instance */

/* tu_instance with this file's page size. */
static JET_INSTANCE
rec_instance(const char *dir, unsigned long log_kb, unsigned long cache)
{
	JET_INSTANCE inst = tu_instance(dir, log_kb, cache);

	CK(JetSetSystemParameter(&inst, 0, JET_paramDatabasePageSize, page_size, NULL));
	return inst;
}

struct kv {
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	uint8_t *buf;
};

static JET_ERR
kv_put(struct kv *kv, char c, unsigned i, uint32_t seed, size_t len)
{
	char key[16];
	size_t kl = kname(key, c, i);

	fill(kv->buf, len, seed);
	return tu_put(kv->ses, kv->t, key, kl, kv->buf, len);
}

static JET_ERR
kv_put_ctr(struct kv *kv, unsigned i)
{
	uint8_t v[4];

	put32(v, i);
	return tu_put(kv->ses, kv->t, "ctr", 3, v, 4);
}

static JET_ERR
kv_delete(struct kv *kv, char c, unsigned i)
{
	char key[16];
	size_t kl = kname(key, c, i);
	JET_ERR err = JetMakeKey(kv->ses, kv->t, key, (unsigned long)kl, JET_bitNewKey);

	if (err >= 0)
		err = JetSeek(kv->ses, kv->t, JET_bitSeekEQ);
	if (err >= 0)
		err = JetDelete(kv->ses, kv->t);
	return err;
}

/* Opens (creating it the first time) the instance and the database with its hot keys. */
static void
kv_open(struct kv *kv, const char *dir, unsigned long log_kb, unsigned long cache, int circular)
{
	char *path = tu_path(dir, "rec.edb");
	int fresh = access(path, F_OK) != 0;

	free(path);
	kv->inst = rec_instance(dir, log_kb, cache);
	if (circular) {
		/* circular: 1 circular logging, 2 also a shallow checkpoint (it advances at once) */
		CK(JetSetSystemParameter(&kv->inst, 0, JET_paramCircularLog, circular == 1, NULL));
		CK(JetSetSystemParameter(&kv->inst, 0, JET_paramCheckpointDepthMax, 128 * 1024, NULL));
	}
	CK(JetInit(&kv->inst));
	tu_open_db(kv->inst, dir, "rec.edb", &kv->ses, &kv->dbid, &kv->t);
	if (kv->buf == NULL)
		ck_assert((kv->buf = malloc(VAL_MAX)) != NULL);
	if (fresh) {
		CK(JetBeginTransaction(kv->ses));
		for (unsigned h = 0; h < HOT; h++)
			CK(kv_put(kv, 'h', h, SEED_HINIT(h), h_len(h + 1000)));
		CK(JetCommitTransaction(kv->ses, 0));
	}
}

static unsigned pause_ms;	/* if set, transactions wait that long before they end */

static void
txn_pause(void)
{
	if (pause_ms > 0)
		usleep(pause_ms * 1000);
}

/* Committed transaction i.  *at_commit tells whether an error came from the commit. */
static JET_ERR
kv_txn(struct kv *kv, unsigned i, JET_GRBIT commit_grbit, int *at_commit)
{
	JET_ERR err;

	*at_commit = 0;
	if ((err = JetBeginTransaction(kv->ses)) < 0)
		return err;
	if ((err = kv_put(kv, 'k', i, SEED_K(i), k_len(i))) < 0)
		goto fail;
	if (i % 4 == 1) {
		/* a nested level that commits into the outer one */
		if ((err = JetBeginTransaction(kv->ses)) < 0 ||
		    (err = kv_put(kv, 'h', i % HOT, SEED_H(i), h_len(i))) < 0 ||
		    (err = JetCommitTransaction(kv->ses, 0)) < 0)
			goto fail;
	} else if ((err = kv_put(kv, 'h', i % HOT, SEED_H(i), h_len(i))) < 0)
		goto fail;
	if ((err = kv_put_ctr(kv, i)) < 0)
		goto fail;
	if (i >= DEL_LAG && i % 11 == 5 && (err = kv_delete(kv, 'k', i - DEL_LAG)) < 0)
		goto fail;
	if (i % 6 == 3) {
		/* a nested level that is rolled back: none of it may survive */
		if ((err = JetBeginTransaction(kv->ses)) < 0 ||
		    (err = kv_put(kv, 'u', i, SEED_JUNK(i), 3000)) < 0 ||
		    (err = kv_put(kv, 'h', (i + 1) % HOT, SEED_JUNK(i + 1), 77)) < 0 ||
		    (err = JetRollback(kv->ses, 0)) < 0)
			goto fail;
	}
	txn_pause();
	*at_commit = 1;
	return JetCommitTransaction(kv->ses, commit_grbit);
fail:
	JetRollback(kv->ses, JET_bitRollbackAll);
	return err;
}

/* A whole transaction that is rolled back (before committed transaction i). */
static JET_ERR
kv_rolled_back(struct kv *kv, unsigned i)
{
	JET_ERR err;

	if ((err = JetBeginTransaction(kv->ses)) < 0)
		return err;
	if ((err = kv_put(kv, 'u', i, SEED_JUNK(i), 12000)) >= 0 &&
	    (err = kv_put(kv, 'h', i % HOT, SEED_JUNK(i), 99)) >= 0 &&
	    (err = kv_put_ctr(kv, 999999)) >= 0 && i > 0)
		err = kv_delete(kv, 'k', i - 1);
	if (err == JET_errRecordNotFound)
		err = JET_errSuccess;
	txn_pause();
	JetRollback(kv->ses, JET_bitRollbackAll);
	return err;
}

static int lazy_every;	/* if > 0, every lazy_every-th commit is lazy (and not acknowledged) */

/* Steps i0..i1-1 of the workload in a child: acknowledges each durable commit. */
static void
kv_child_steps(struct kv *kv, int fd, unsigned i0, unsigned i1)
{
	int at_commit;

	for (unsigned i = i0; i < i1; i++) {
		int lazy = lazy_every > 0 && i % (unsigned)lazy_every != 0;
		if (i % 5 == 2)
			CHILD_CK(fd, kv_rolled_back(kv, i));
		CHILD_CK(fd, kv_txn(kv, i, lazy ? JET_bitCommitLazyFlush : 0, &at_commit));
		if (!lazy)
			send_msg(fd, MSG_ACK, i);
	}
}

/* The end of a child's run: an open transaction with distinctive keys, then a power cut. */
static void
kv_child_end(struct kv *kv, int fd)
{
	send_msg(fd, MSG_DONE, 0);
	CHILD_CK(fd, JetBeginTransaction(kv->ses));
	for (unsigned k = 0; k < 6; k++)
		CHILD_CK(fd, kv_put(kv, 'u', UNCOMMITTED_BASE + k, SEED_JUNK(k), 9000));
	for (unsigned h = 0; h < HOT; h += 3)
		CHILD_CK(fd, kv_put(kv, 'h', h, SEED_JUNK(h), 55));
	CHILD_CK(fd, kv_put_ctr(kv, 888888));
	_exit(OS_CRASH_EXIT_STATUS);
}

/* ---- checking a recovered kv database ---- */
static void
expect_value(JET_SESID ses, JET_TABLEID t, const char *key, size_t kl, uint32_t seed, size_t len, const char *what)
{
	void *v;
	size_t got;
	uint8_t *want = malloc(len);
	JET_ERR err = tu_get(ses, t, key, kl, &v, &got);

	ck_assert(want != NULL);
	ck_assert_msg(err >= 0, "%s: key %.*s is missing (%s)", what, (int)kl, key, JetErrorName(err));
	fill(want, len, seed);
	ck_assert_msg(got == len && memcmp(v, want, len) == 0, "%s: key %.*s has the wrong value (%zu bytes, %zu expected)",
	    what, (int)kl, key, got, len);
	free(v);
	free(want);
}

static void
expect_absent(JET_SESID ses, JET_TABLEID t, const char *key, size_t kl, const char *what)
{
	void *v;
	size_t got;
	JET_ERR err = tu_get(ses, t, key, kl, &v, &got);

	free(v);
	ck_assert_msg(err == JET_errRecordNotFound, "%s: key %.*s should not exist (%s)", what, (int)kl, key,
	    JetErrorName(err));
}

static unsigned long
count_records(JET_SESID ses, JET_TABLEID t)
{
	unsigned long n = 0;
	JET_ERR err;

	for (err = JetMove(ses, t, JET_MoveFirst, 0); err >= 0; err = JetMove(ses, t, JET_MoveNext, 0))
		n++;
	CK_ERR(err, JET_errNoCurrentRecord);
	return n;
}

static void
verify_db(JET_SESID ses, JET_DBID dbid, const char *what)
{
	JET_JETFSVERIFY info = { .cbStruct = sizeof(info) };
	JET_ERR err = JetfsVerifyDatabase(ses, dbid, &info);

	ck_assert_msg(err >= 0, "%s: JetfsVerifyDatabase: %s: %s", what, JetErrorName(err), info.szProblem);
	ck_assert_msg(info.cpagesBad == 0, "%s: %llu bad pages", what, info.cpagesBad);
}

/*
 * Checks that the table holds exactly transactions 0..P-1 and returns P,
 * which must be acked or acked + 1.
 */
static unsigned
kv_check(JET_SESID ses, JET_TABLEID t, unsigned lo, unsigned hi, unsigned max_i, const char *what)
{
	char key[16];
	size_t kl;
	void *v;
	size_t len;
	unsigned P;
	unsigned long expect = HOT;
	JET_ERR err = tu_get(ses, t, "ctr", 3, &v, &len);

	if (err == JET_errRecordNotFound)
		P = 0;
	else {
		ck_assert_msg(err >= 0, "%s: reading ctr: %s", what, JetErrorName(err));
		ck_assert_msg(len == 4, "%s: ctr has %zu bytes", what, len);
		P = get32(v) + 1;
		expect++;
	}
	free(v);
	ck_assert_msg(P >= lo && P <= hi,
	    "%s: the database holds %u transactions but %u were acknowledged (durable commits lost or phantom commits)",
	    what, P, lo);
	for (unsigned j = 0; j < max_i + 2; j++) {
		kl = kname(key, 'k', j);
		if (j < P && !k_deleted(j, P)) {
			expect_value(ses, t, key, kl, SEED_K(j), k_len(j), what);
			expect++;
		} else
			expect_absent(ses, t, key, kl, what);
		kl = kname(key, 'u', j);
		expect_absent(ses, t, key, kl, what);
	}
	for (unsigned k = 0; k < 6; k++) {
		kl = kname(key, 'u', UNCOMMITTED_BASE + k);
		expect_absent(ses, t, key, kl, what);
	}
	for (unsigned h = 0; h < HOT; h++) {
		int last = -1;
		for (unsigned j = 0; j < P; j++)
			if (j % HOT == h)
				last = (int)j;
		kl = kname(key, 'h', h);
		if (last < 0)
			expect_value(ses, t, key, kl, SEED_HINIT(h), h_len(h + 1000), what);
		else
			expect_value(ses, t, key, kl, SEED_H((unsigned)last), h_len((unsigned)last), what);
	}
	ck_assert_msg(count_records(ses, t) == expect, "%s: %lu records, %lu expected", what, count_records(ses, t),
	    expect);
	return P;
}

/* Recovers dir, checks the kv contents and the database; returns P. */
static int recover_circular;	/* kv_recover_range: recover with circular logging */
static unsigned long recover_log_kb = 64;	/* and generations of this size */

static unsigned
kv_recover_range(const char *dir, unsigned lo, unsigned hi, unsigned max_i, const char *what)
{
	JET_INSTANCE inst = rec_instance(dir, recover_log_kb, 32);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	JET_ERR err;
	unsigned P;

	if (recover_circular)
		CK(JetSetSystemParameter(&inst, 0, JET_paramCircularLog, 1, NULL));
	err = JetInit(&inst);
	ck_assert_msg(err >= 0, "%s: recovery (JetInit) failed: %s (%ld)", what, JetErrorName(err), err);
	tu_open_db(inst, dir, "rec.edb", &ses, &dbid, &t);
	P = kv_check(ses, t, lo, hi, max_i, what);
	verify_db(ses, dbid, what);
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	return P;
}

/* The usual case: P is acked, or acked + 1 if that commit was in flight. */
static unsigned
kv_recover_check(const char *dir, unsigned acked, unsigned max_i, const char *what)
{
	return kv_recover_range(dir, acked, acked + 1, max_i, what);
}

/* ---- running children ---- */
struct fault {
	enum os_fault_kind kind;
	long n;
	const char *match;		/* file name substring, or NULL: every file */
	int sticky, on_reads;		/* EIO / ENOSPC: every later operation fails too; count reads */
};

struct run {
	int status;			/* exit status, -signal if killed */
	unsigned acks;			/* durable transactions (0..acks-1) */
	int done;			/* the workload ended without the fault */
	int failed_line;		/* a child check failed there */
	JET_ERR init_err;		/* child_recover: JetInit failed so */
	int in_order;
};

typedef void (*child_fn)(const char *dir, int fd, const struct fault *f);

static void
arm(const struct fault *f)
{
	if (f != NULL && f->kind != OS_FAULT_NONE)
		os_fault_arm(f->kind, f->n, f->sticky, f->on_reads, f->match);
}

static const char *restore_from;	/* run_child restores this into dir first (NULL: no) */
static const char *fixed_dir;		/* calibrate runs there (NULL: fresh directories) */
static void copy_dir(const char *from, const char *to);

static void
run_child(const char *dir, child_fn fn, const struct fault *f, struct run *r)
{
	int p[2], status;
	pid_t pid;
	struct msg m;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->in_order = 1;
	if (restore_from != NULL)
		copy_dir(restore_from, dir);
	ck_assert(pipe(p) == 0);
	fflush(NULL);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		fn(dir, p[1], f);
		_exit(5);	/* fn never returns */
	}
	close(p[1]);
	while ((n = read(p[0], &m, sizeof(m))) == (ssize_t)sizeof(m)) {
		if (m.tag == MSG_ACK) {
			if (m.val < r->acks)
				r->in_order = 0;
			r->acks = m.val + 1;	/* transactions 0..val are durable */
		} else if (m.tag == MSG_DONE)
			r->done = 1;
		else if (m.tag == MSG_FAIL)
			r->failed_line = (int)m.val;
		else if (m.tag == MSG_INIT_FAILED)
			r->init_err = -(JET_ERR)m.val;
	}
	close(p[0]);
	ck_assert(waitpid(pid, &status, 0) == pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
	ck_assert_msg(r->failed_line == 0, "the child failed at line %d (see stderr)", r->failed_line);
	ck_assert_msg(r->in_order, "acknowledgements out of order");
}

static void
expect_crashed(const struct run *r, const char *what)
{
	ck_assert_msg(r->status == OS_CRASH_EXIT_STATUS, "%s: the child exited with status %d, not %d", what,
	    r->status, OS_CRASH_EXIT_STATUS);
}

static char *
fresh_dir(void)
{
	return tu_tempdir();
}

/* Smallest N (about) at which a crash fault no longer fires during fn: the run's write count + 1. */
static char *
calib_dir(void)
{
	return fixed_dir != NULL ? strdup(fixed_dir) : tu_tempdir();
}

static void
calib_done(char *dir)
{
	if (fixed_dir == NULL)
		tu_rmdir(dir);
	free(dir);
}

static long
calibrate(child_fn fn, const char *match)
{
	long lo = 0, hi = 32;	/* lo: fires; hi: candidate that does not */
	struct run r;

	for (;;) {
		char *dir = calib_dir();
		struct fault f = { OS_FAULT_CRASH, hi, match, 0, 0 };
		run_child(dir, fn, &f, &r);
		calib_done(dir);
		if (r.done)
			break;
		lo = hi;
		hi *= 2;
		ck_assert_msg(hi < 10000000, "calibration does not converge");
	}
	while (hi - lo > 1 && hi - lo > hi / 64) {
		long mid = (lo + hi) / 2;
		char *dir = calib_dir();
		struct fault f = { OS_FAULT_CRASH, mid, match, 0, 0 };
		run_child(dir, fn, &f, &r);
		calib_done(dir);
		if (r.done)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* ---- a. crash at the Nth write ---- */
static int kv_circular;	/* child_kv: kv_open's circular argument */

static void
child_kv(const char *dir, int fd, const struct fault *f)
{
	struct kv kv = { 0 };

	kv_open(&kv, dir, 64, 32, kv_circular);
	arm(f);
	kv_child_steps(&kv, fd, 0, NTX);
	kv_child_end(&kv, fd);
}

/*
 * Runs the kv child with count faults spread over [1, total], alternating
 * crash and torn writes, and checks each recovery.
 */
static void
sweep_kv(const char *label, const char *match, long total, int count, int first_linear)
{
	int fired = 0, next = 0;
	unsigned pmin = NTX, pmax = 0;

	for (int k = 0; k < count; k++) {
		long n = k < first_linear ? k + 1 :
		    first_linear + (total - first_linear) * (k - first_linear + 1) / (count - first_linear);
		struct fault f = { k % 2 ? OS_FAULT_TORN : OS_FAULT_CRASH, n, match, 0, 0 };
		char what[128], *dir = fresh_dir();
		struct run r;
		unsigned P;

		snprintf(what, sizeof(what), "%s: %s at write %ld", label, k % 2 ? "torn write" : "crash", n);
		run_child(dir, child_kv, &f, &r);
		expect_crashed(&r, what);
		fired += !r.done;
		P = kv_recover_range(dir, r.acks, lazy_every > 0 ? NTX : r.acks + 1, NTX, what);
		next += P == r.acks + 1;
		if (P < pmin)
			pmin = P;
		if (P > pmax)
			pmax = P;
		/* Recovery again must be a no-op on a clean instance. */
		if (k % 8 == 0)
			ck_assert_uint_eq(kv_recover_check(dir, P, NTX, what), P);
		tu_rmdir(dir);
		free(dir);
	}
	fprintf(stderr, "sweep %s: %d runs over %ld writes, %d crashed by the fault, %d kept the in-flight commit, "
	    "%u..%u transactions recovered\n", label, count, total, fired, next, pmin, pmax);
	ck_assert_msg(fired >= count * 3 / 4, "%s: only %d of %d faults fired: the sweep missed the run", label, fired,
	    count);
}

START_TEST(test_crash_sweep_all_writes)
{
	long total = calibrate(child_kv, NULL);

	sweep_kv("all writes", NULL, total - 1, 44, 6);
}
END_TEST

START_TEST(test_crash_sweep_log_writes)
{
	/* writes to the current log: segments, END segments, fsyncs */
	long total = calibrate(child_kv, "/edb.log");

	sweep_kv("log writes", "/edb.log", total - 1, 12, 2);
}
END_TEST

START_TEST(test_crash_sweep_log_rolls)
{
	/* creating the next generation (edbtmp.log, its zero fill and fsync) */
	long total = calibrate(child_kv, "/edbtmp.log");

	sweep_kv("log rolls", "/edbtmp.log", total - 1, 10, 4);
}
END_TEST

START_TEST(test_crash_sweep_checkpoint)
{
	/* writing edb.chk.new and renaming it over edb.chk */
	long total = calibrate(child_kv, "/edb.chk");

	sweep_kv("checkpoint file", "/edb.chk", total - 1, 10, 5);
}
END_TEST

START_TEST(test_crash_sweep_db_writes)
{
	/* database pages (eviction, checkpoint flushes) and headers */
	long total = calibrate(child_kv, "/rec.edb");

	sweep_kv("database writes", "/rec.edb", total - 1, 12, 3);
}
END_TEST

/* A crash while the instance and its database are being created. */
static void
child_create(const char *dir, int fd, const struct fault *f)
{
	struct kv kv = { 0 };

	arm(f);
	kv.inst = rec_instance(dir, 64, 32);
	CHILD_CK(fd, JetInit(&kv.inst));
	CHILD_CK(fd, JetBeginSession(kv.inst, &kv.ses, NULL, NULL));
	{
		char *path = tu_path(dir, "rec.edb");
		CHILD_CK(fd, JetCreateDatabase(kv.ses, path, NULL, &kv.dbid, 0));
		free(path);
	}
	CHILD_CK(fd, JetCreateTable(kv.ses, kv.dbid, "t", 0, 0, &kv.t));
	ck_assert((kv.buf = malloc(VAL_MAX)) != NULL);
	CHILD_CK(fd, JetBeginTransaction(kv.ses));
	for (unsigned h = 0; h < HOT; h++)
		CHILD_CK(fd, kv_put(&kv, 'h', h, SEED_HINIT(h), h_len(h + 1000)));
	CHILD_CK(fd, JetCommitTransaction(kv.ses, 0));
	kv_child_steps(&kv, fd, 0, 10);
	kv_child_end(&kv, fd);
}

START_TEST(test_crash_sweep_lazy)
{
	/* lazy commits in between durable ones: the log keeps a prefix */
	long total;

	lazy_every = 3;
	total = calibrate(child_kv, NULL);
	sweep_kv("lazy commits", NULL, total - 1, 12, 2);
	lazy_every = 0;
}
END_TEST

START_TEST(test_crash_sweep_circular)
{
	/* circular logging with a shallow checkpoint: generations are deleted all the time */
	long total;

	kv_circular = 1;
	total = calibrate(child_kv, NULL);
	sweep_kv("circular logging", NULL, total - 1, 16, 2);
	total = calibrate(child_kv, "/edb0");
	sweep_kv("circular logging, closed generations", "/edb0", total - 1, 8, 4);
	kv_circular = 0;
}
END_TEST

/*
 * Transactions that stay open across periodic checkpoints (which then write
 * the committed image of the pages they hold), crashed while a checkpoint
 * writes those images.
 */
static void
child_long_txn(const char *dir, int fd, const struct fault *f)
{
	struct kv kv = { 0 };

	kv_open(&kv, dir, 64, 32, 0);
	kv_child_steps(&kv, fd, 0, 30);
	arm(f);
	pause_ms = 1100;	/* longer than the checkpoint period */
	kv_child_steps(&kv, fd, 30, 33);	/* 32 is preceded by a rolled-back one */
	pause_ms = 0;
	kv_child_steps(&kv, fd, 33, 60);
	kv_child_end(&kv, fd);
}

START_TEST(test_crash_sweep_page_sizes)
{
	/* 32 KiB pages: a full page image is half a log generation; 4 KiB: many pages */
	static const unsigned long sizes[] = { 32768, 4096 };
	long total;

	for (int k = 0; k < 2; k++) {
		char label[64];
		page_size = sizes[k];
		snprintf(label, sizeof(label), "%lu-byte pages", page_size);
		total = calibrate(child_kv, NULL);
		sweep_kv(label, NULL, total - 1, 12, 2);
	}
	page_size = 8192;
}
END_TEST

/* A crash during the clean shutdown (JetTerm: flush, checkpoint, clean headers). */
static void
child_kv_term(const char *dir, int fd, const struct fault *f)
{
	struct kv kv = { 0 };

	kv_open(&kv, dir, 64, 32, 0);
	kv_child_steps(&kv, fd, 0, 60);
	/* an open transaction that JetTerm rolls back */
	CHILD_CK(fd, JetBeginTransaction(kv.ses));
	CHILD_CK(fd, kv_put(&kv, 'u', UNCOMMITTED_BASE, SEED_JUNK(1), 9000));
	CHILD_CK(fd, kv_put_ctr(&kv, 555555));
	arm(f);	/* N counts JetTerm's writes */
	CHILD_CK(fd, JetTerm(kv.inst));
	send_msg(fd, MSG_DONE, 0);
	_exit(OS_CRASH_EXIT_STATUS);
}

START_TEST(test_crash_during_term)
{
	long total = calibrate(child_kv_term, NULL);
	int fired = 0, count = 16;

	ck_assert_msg(total > 4, "JetTerm does only %ld writes", total - 1);
	for (int k = 0; k < count; k++) {
		long n = 1 + (total - 2) * k / (count - 1);
		struct fault f = { k % 2 ? OS_FAULT_TORN : OS_FAULT_CRASH, n, NULL, 0, 0 };
		char what[128], *dir = fresh_dir();
		struct run r;

		snprintf(what, sizeof(what), "JetTerm: %s at write %ld of %ld", k % 2 ? "torn write" : "crash", n, total - 1);
		run_child(dir, child_kv_term, &f, &r);
		expect_crashed(&r, what);
		fired += !r.done;
		kv_recover_check(dir, r.acks, 60, what);
		tu_rmdir(dir);
		free(dir);
	}
	fprintf(stderr, "sweep JetTerm: %d runs over its %ld writes, %d crashed by the fault\n", count, total - 1, fired);
	/*
	 * Fewer than the other sweeps must fire: how much JetTerm has left to
	 * flush depends on whether the timed checkpoint (every second) ran
	 * just before it, which a loaded machine makes likelier (11 of 16 fired
	 * in a CI run, 16 of 16 on an idle machine).  A sweep that misses JetTerm
	 * altogether still fails.
	 */
	ck_assert_msg(fired >= count / 2, "only %d of %d faults fired", fired, count);
}
END_TEST

START_TEST(test_crash_long_transactions)
{
	int fired = 0;

	for (long n = 0; n <= 4; n++) {
		struct fault f = { n ? OS_FAULT_TORN : OS_FAULT_NONE, n * 3 - 2, "/rec.edb", 0, 0 };
		char what[128], *dir = fresh_dir();
		struct run r;

		snprintf(what, sizeof(what), "long transactions: torn write %ld of the database", n * 3 - 2);
		run_child(dir, child_long_txn, &f, &r);
		expect_crashed(&r, what);
		fired += !r.done;
		kv_recover_check(dir, r.acks, 60, what);
		tu_rmdir(dir);
		free(dir);
	}
	fprintf(stderr, "long transactions: 5 runs, %d crashed by the fault\n", fired);
}
END_TEST

START_TEST(test_crash_during_create)
{
	long total = calibrate(child_create, NULL);
	int fired = 0;

	for (long n = 1; n < total; n++) {
		struct fault f = { n % 2 ? OS_FAULT_CRASH : OS_FAULT_TORN, n, NULL, 0, 0 };
		char what[128], *dir = fresh_dir();
		struct run r;
		JET_INSTANCE inst;
		JET_SESID ses;
		JET_DBID dbid;
		JET_TABLEID t;
		JET_ERR err;

		snprintf(what, sizeof(what), "creation: %s at write %ld of %ld", n % 2 ? "crash" : "torn write", n, total - 1);
		run_child(dir, child_create, &f, &r);
		expect_crashed(&r, what);
		fired += !r.done;
		inst = rec_instance(dir, 64, 32);
		err = JetInit(&inst);
		ck_assert_msg(err >= 0, "%s: JetInit afterwards failed: %s (%ld)", what, JetErrorName(err), err);
		if (r.acks > 0) {
			tu_open_db(inst, dir, "rec.edb", &ses, &dbid, &t);
			kv_check(ses, t, r.acks, r.acks + 1, 12, what);
			verify_db(ses, dbid, what);
			CK(JetEndSession(ses, 0));
		}
		CK(JetTerm(inst));
		tu_rmdir(dir);
		free(dir);
	}
	fprintf(stderr, "sweep creation: %ld runs, %d crashed by the fault\n", total - 1, fired);
}
END_TEST

/* ---- b. abrupt termination ---- */
START_TEST(test_term_abrupt)
{
	char *dir = fresh_dir();
	struct kv kv = { 0 };
	int at_commit;
	unsigned P, i = 0;

	for (int round = 0; round < 3; round++) {
		unsigned durable;
		kv_open(&kv, dir, 64, 32, 0);
		for (unsigned end = i + 60; i < end; i++) {
			if (i % 5 == 2)
				CK(kv_rolled_back(&kv, i));
			CK(kv_txn(&kv, i, 0, &at_commit));
		}
		durable = i;
		/* lazy commits: may be lost, but only as a suffix */
		for (unsigned end = i + 15; i < end; i++)
			CK(kv_txn(&kv, i, JET_bitCommitLazyFlush, &at_commit));
		if (round == 1) {
			/* ... unless made durable explicitly */
			CK(JetCommitTransaction(kv.ses, JET_bitWaitLastLevel0Commit));
			durable = i;
		}
		/* an open transaction at the end */
		CK(JetBeginTransaction(kv.ses));
		for (unsigned k = 0; k < 6; k++)
			CK(kv_put(&kv, 'u', UNCOMMITTED_BASE + k, SEED_JUNK(k), 9000));
		CK(kv_put_ctr(&kv, 777777));
		CK(JetTerm2(kv.inst, JET_bitTermAbrupt));

		P = kv_recover_range(dir, durable, i, i, "after JetTerm2(JET_bitTermAbrupt)");
		i = P;
	}
	free(kv.buf);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

/* Recovery with another log file size than the crashed run's, back and forth. */
START_TEST(test_log_size_change)
{
	char *dir = fresh_dir();
	struct kv kv = { 0 };
	struct run r;
	int at_commit;
	unsigned P;

	run_child(dir, child_kv, NULL, &r);
	expect_crashed(&r, "run with 64 KiB logs");
	recover_log_kb = 256;
	P = kv_recover_check(dir, r.acks, NTX, "recovered with 256 KiB logs");
	recover_log_kb = 64;
	/* more work with 256 KiB generations, then an abrupt end */
	kv.inst = rec_instance(dir, 256, 32);
	CK(JetInit(&kv.inst));
	tu_open_db(kv.inst, dir, "rec.edb", &kv.ses, &kv.dbid, &kv.t);
	ck_assert((kv.buf = malloc(VAL_MAX)) != NULL);
	for (unsigned end = P + 40; P < end; P++)
		CK(kv_txn(&kv, P, 0, &at_commit));
	CK(JetTerm2(kv.inst, JET_bitTermAbrupt));
	ck_assert_uint_eq(kv_recover_check(dir, P, P, "recovered with 64 KiB logs again"), P);
	free(kv.buf);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

/* ---- c. a crash during recovery ---- */

/* A run that ends in a power cut with a long log to replay (big cache: few page writes). */
static void
child_long_log(const char *dir, int fd, const struct fault *f)
{
	struct kv kv = { 0 };

	(void)f;
	kv_open(&kv, dir, 64, 4096, 0);
	kv_child_steps(&kv, fd, 0, NTX);
	kv_child_end(&kv, fd);
}

/*
 * The log names databases by absolute path, so a crashed instance is saved
 * aside (snapshot) and put back in the same directory before each recovery
 * (restore_from).
 */

static void
copy_dir(const char *from, const char *to)
{
	char *cmd;

	ck_assert(asprintf(&cmd, "rm -rf '%s'/* && cp -p '%s'/* '%s'/", to, from, to) > 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

/* The child: recovery with the fault armed (exits 86 if it fires). */
static void
child_recover(const char *dir, int fd, const struct fault *f)
{
	JET_INSTANCE inst = rec_instance(dir, 64, 32);

	JET_ERR err;

	arm(f);
	if ((err = JetInit(&inst)) < 0) {
		send_msg(fd, MSG_INIT_FAILED, (uint32_t)-err);
		_exit(0);
	}
	send_msg(fd, MSG_DONE, 0);
	_exit(0);
}

/* The whole table as one blob: (u32 key length, key, u32 value length, value)... */
static uint8_t *
dump_table(const char *dir, size_t *lenp, unsigned *Pp)
{
	JET_INSTANCE inst = rec_instance(dir, 64, 32);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	JET_ERR err = JetInit(&inst);
	uint8_t *blob = NULL;
	size_t len = 0, cap = 0;

	ck_assert_msg(err >= 0, "recovery (JetInit) failed: %s", JetErrorName(err));
	tu_open_db(inst, dir, "rec.edb", &ses, &dbid, &t);
	for (err = JetMove(ses, t, JET_MoveFirst, 0); err >= 0; err = JetMove(ses, t, JET_MoveNext, 0)) {
		unsigned long kl = 0, vl = 0;
		CK(JetRetrieveColumn(ses, t, JET_columnidKey, NULL, 0, &kl, 0, NULL));
		err = JetRetrieveColumn(ses, t, JET_columnidValue, NULL, 0, &vl, 0, NULL);
		ck_assert(err >= 0);
		while (len + 8 + kl + vl > cap) {
			cap = cap ? cap * 2 : 65536;
			ck_assert((blob = realloc(blob, cap)) != NULL);
		}
		put32(blob + len, (uint32_t)kl);
		CK(JetRetrieveColumn(ses, t, JET_columnidKey, blob + len + 4, kl, &kl, 0, NULL));
		len += 4 + kl;
		put32(blob + len, (uint32_t)vl);
		if (vl > 0)
			CK(JetRetrieveColumn(ses, t, JET_columnidValue, blob + len + 4, vl, &vl, 0, NULL));
		len += 4 + vl;
	}
	CK_ERR(err, JET_errNoCurrentRecord);
	if (Pp != NULL) {
		void *v;
		size_t vl;
		CK(tu_get(ses, t, "ctr", 3, &v, &vl));
		*Pp = get32(v) + 1;
		free(v);
	}
	verify_db(ses, dbid, "dump");
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	*lenp = len;
	return blob;
}

START_TEST(test_crash_during_recovery)
{
	char *dir = fresh_dir(), *snap = fresh_dir();
	uint8_t *ref;
	size_t reflen;
	unsigned refP;
	long total;
	int fired = 0, count = 0;
	struct run r;

	/* The crashed instance: a whole run's log to replay.  Saved aside. */
	run_child(dir, child_long_log, NULL, &r);
	expect_crashed(&r, "making the snapshot");
	ck_assert(r.done && r.acks == NTX);
	copy_dir(dir, snap);

	/* The reference: recovered once, without trouble. */
	ck_assert_uint_eq(kv_recover_check(dir, NTX, NTX, "reference recovery"), NTX);
	ref = dump_table(dir, &reflen, &refP);
	ck_assert_uint_eq(refP, NTX);

	restore_from = snap;
	fixed_dir = dir;
	total = calibrate(child_recover, NULL);
	fixed_dir = NULL;
	ck_assert_msg(total > 10, "recovery does only %ld writes", total);
	for (long k = 0; k < 24; k++) {
		long n = k < 6 ? k + 1 : 7 + (total - 8) * (k - 5) / 18;
		struct fault f = { k % 2 ? OS_FAULT_TORN : OS_FAULT_CRASH, n, NULL, 0, 0 };
		char what[128];
		uint8_t *got;
		size_t gotlen;

		snprintf(what, sizeof(what), "%s at write %ld of recovery (%ld writes)", k % 2 ? "torn write" : "crash", n,
		    total - 1);
		restore_from = snap;
		run_child(dir, child_recover, &f, &r);
		restore_from = NULL;
		ck_assert_msg(r.init_err == 0, "%s: recovery failed before the fault: %s", what, JetErrorName(r.init_err));
		if (!r.done)
			expect_crashed(&r, what);
		fired += !r.done;
		if (k % 3 == 2) {
			/* and a second crash during the next recovery */
			struct fault f2 = { k % 2 ? OS_FAULT_CRASH : OS_FAULT_TORN, n / 2 + 1, NULL, 0, 0 };
			run_child(dir, child_recover, &f2, &r);
			ck_assert_msg(r.init_err == 0, "%s, then the next recovery failed: %s (%ld)", what,
			    JetErrorName(r.init_err), r.init_err);
			if (!r.done)
				expect_crashed(&r, what);
		}
		ck_assert_uint_eq(kv_recover_check(dir, NTX, NTX, what), NTX);
		got = dump_table(dir, &gotlen, NULL);
		ck_assert_msg(gotlen == reflen && memcmp(got, ref, reflen) == 0,
		    "%s: the recovered table differs from a recovery without crash", what);
		free(got);
		count++;
	}
	fprintf(stderr, "sweep recovery: %d runs over %ld writes, %d crashed by the fault\n", count, total - 1, fired);
	ck_assert_msg(fired >= count * 3 / 4, "only %d of %d faults fired", fired, count);
	free(ref);
	tu_rmdir(dir);
	tu_rmdir(snap);
	free(dir);
	free(snap);
}
END_TEST

/*
 * I/O errors (not crashes) during recovery: JetInit fails with the error,
 * and the next JetInit recovers exactly what a recovery without trouble does.
 */
START_TEST(test_io_error_during_recovery)
{
	char *dir = fresh_dir(), *snap = fresh_dir();
	uint8_t *ref;
	size_t reflen;
	unsigned refP;
	int failed = 0, count = 0;
	struct run r;
	static const struct {
		enum os_fault_kind kind;
		int sticky, on_reads;
		const char *label;
	} kinds[] = {
		{ OS_FAULT_EIO, 0, 1, "EIO on a read" },
		{ OS_FAULT_EIO, 1, 1, "EIO on every read" },
		{ OS_FAULT_EIO, 0, 0, "EIO on a write" },
		{ OS_FAULT_EIO, 1, 0, "EIO on every write" },
		{ OS_FAULT_ENOSPC, 1, 0, "ENOSPC" },
	};
	static const long ns[] = { 1, 2, 3, 5, 8, 20, 50, 120, 300 };

	run_child(dir, child_long_log, NULL, &r);
	expect_crashed(&r, "making the snapshot");
	ck_assert(r.done && r.acks == NTX);
	copy_dir(dir, snap);
	ck_assert_uint_eq(kv_recover_check(dir, NTX, NTX, "reference recovery"), NTX);
	ref = dump_table(dir, &reflen, &refP);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
			struct fault f = { kinds[k].kind, ns[j], NULL, kinds[k].sticky, kinds[k].on_reads };
			char what[128];
			uint8_t *got;
			size_t gotlen;

			snprintf(what, sizeof(what), "%s (operation %ld) during recovery", kinds[k].label, ns[j]);
			restore_from = snap;
			run_child(dir, child_recover, &f, &r);
			restore_from = NULL;
			ck_assert_msg(r.status == 0, "%s: the child exited %d", what, r.status);
			if (r.init_err != 0) {
				failed++;
				ck_assert_msg(r.init_err == JET_errDiskIO || r.init_err == JET_errDiskFull ||
				    r.init_err == JET_errLogWriteFail || r.init_err == JET_errLogDiskFull,
				    "%s: JetInit failed with %s", what, JetErrorName(r.init_err));
			}
			ck_assert_uint_eq(kv_recover_check(dir, NTX, NTX, what), NTX);
			got = dump_table(dir, &gotlen, NULL);
			ck_assert_msg(gotlen == reflen && memcmp(got, ref, reflen) == 0,
			    "%s: the recovered table differs from a recovery without trouble", what);
			free(got);
			count++;
		}
	fprintf(stderr, "I/O errors during recovery: %d runs, %d failed JetInit\n", count, failed);
	ck_assert_msg(failed >= count / 2, "only %d of %d I/O errors made recovery fail", failed, count);
	free(ref);
	tu_rmdir(dir);
	tu_rmdir(snap);
	free(dir);
	free(snap);
}
END_TEST

/* ---- d. circular logging ---- */
struct gens {
	unsigned nfiles;		/* edbXXXXX.log and edb.log */
	uint32_t min, max;		/* closed generations present */
	int have_cur;
	uint32_t cur;			/* edb.log's generation: how many were written */
};

static void
list_gens(const char *dir, struct gens *g)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	ck_assert(d != NULL);
	memset(g, 0, sizeof(*g));
	while ((de = readdir(d)) != NULL) {
		uint32_t gen;
		if (strcmp(de->d_name, "edb.log") == 0) {
			char *p = tu_path(dir, de->d_name);
			os_file *f;
			struct log_file_header h;
			g->have_cur = 1;
			g->nfiles++;
			CK(os_open(p, OS_READ, &f));
			CK(log_header_read(f, &h));
			g->cur = h.gen;
			os_close(f);
			free(p);
		} else if (log_parse_name("edb", de->d_name, &gen)) {
			g->nfiles++;
			if (g->min == 0 || gen < g->min)
				g->min = gen;
			if (gen > g->max)
				g->max = gen;
		}
	}
	closedir(d);
}

static void
child_circular(const char *dir, int fd, const struct fault *f)
{
	struct kv kv = { 0 };

	(void)f;
	kv_open(&kv, dir, 64, 32, 1);
	kv_child_steps(&kv, fd, 0, NTX);
	kv_child_end(&kv, fd);
}

static void
child_noncircular(const char *dir, int fd, const struct fault *f)
{
	struct kv kv = { 0 };

	(void)f;
	kv_open(&kv, dir, 64, 32, 2);
	kv_child_steps(&kv, fd, 0, NTX);
	kv_child_end(&kv, fd);
}

START_TEST(test_circular_log)
{
	char *dir = fresh_dir();
	struct run r;
	struct gens g;

	run_child(dir, child_circular, NULL, &r);
	expect_crashed(&r, "circular run");
	ck_assert(r.done && r.acks == NTX);
	list_gens(dir, &g);
	fprintf(stderr, "circular: %u log files, closed generations %u..%u, current %u\n", g.nfiles, g.min, g.max,
	    g.cur);
	ck_assert_msg(g.have_cur && g.cur >= 11, "only %u generations were written: the test needs more", g.cur);
	/* Circular logging may have deleted every closed generation (the checkpoint caught up). */
	ck_assert_msg(g.min != 1 && g.nfiles < g.cur,
	    "circular logging kept %u files for %u generations (oldest %u)", g.nfiles, g.cur, g.min);
	ck_assert_msg(g.min == 0 || (g.max == g.cur - 1 && g.nfiles == g.max - g.min + 2),
	    "generations %u..%u and edb.log (%u) are not all there", g.min, g.max, g.cur);
	recover_circular = 1;
	ck_assert_uint_eq(kv_recover_check(dir, NTX, NTX, "circular logging, recovered"), NTX);
	/* After recovery and a clean shutdown, the old generations go too. */
	list_gens(dir, &g);
	ck_assert_msg(g.nfiles <= 2, "after a clean shutdown %u log files remain (generations %u..%u)", g.nfiles,
	    g.min, g.max);
	ck_assert_uint_eq(kv_recover_check(dir, NTX, NTX, "circular logging, clean restart"), NTX);
	recover_circular = 0;
	tu_rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(test_noncircular_log_keeps_all)
{
	char *dir = fresh_dir();
	struct run r;
	struct gens g;

	run_child(dir, child_noncircular, NULL, &r);
	expect_crashed(&r, "non-circular run");
	ck_assert(r.done && r.acks == NTX);
	list_gens(dir, &g);
	ck_assert_msg(g.max >= 10, "only %u generations were written", g.max + 1);
	ck_assert_msg(g.min == 1 && g.nfiles == g.max + 1 && g.have_cur,
	    "without circular logging %u files remain of generations 1..%u (oldest %u)", g.nfiles, g.max + 1, g.min);
	ck_assert_uint_eq(kv_recover_check(dir, NTX, NTX, "non-circular, recovered"), NTX);
	list_gens(dir, &g);
	ck_assert_msg(g.min == 1 && g.nfiles == g.max + 1, "recovery deleted generations (oldest now %u)", g.min);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

/* ---- e. EIO / ENOSPC while committing ---- */
static int
is_write_failure(JET_ERR err)
{
	return err == JET_errLogWriteFail || err == JET_errLogDiskFull || err == JET_errDiskFull ||
	    err == JET_errDiskIO || err == JET_errInstanceUnavailable;
}

/*
 * Commits until the armed fault makes a commit fail, checks that the
 * instance refuses further commits, terminates it, disarms and recovers.
 */
static void
io_error_case(enum os_fault_kind kind, long n, const char *match, int commit_must_fail)
{
	char *dir = fresh_dir(), what[160];
	struct kv kv = { 0 };
	int at_commit;
	unsigned i = 0, acked;
	JET_ERR err = JET_errSuccess, first = JET_errSuccess;
	int commit_failed = 0;

	snprintf(what, sizeof(what), "%s at write %ld%s%s", kind == OS_FAULT_EIO ? "EIO" : "ENOSPC", n,
	    match ? " of " : "", match ? match : "");
	kv_open(&kv, dir, 64, 32, 0);
	for (; i < 20; i++)
		CK(kv_txn(&kv, i, 0, &at_commit));
	os_fault_arm(kind, n, 1, 0, match);
	/* Transaction i is retried until something fails at commit. */
	for (int tries = 0; tries < 3000 && !commit_failed; tries++) {
		if (i % 5 == 2)
			(void)kv_rolled_back(&kv, i);
		err = kv_txn(&kv, i, 0, &at_commit);
		if (err >= 0) {
			i++;
			continue;
		}
		ck_assert_msg(is_write_failure(err) || (!at_commit && err == JET_errOutOfBuffers),
		    "%s: transaction %u failed with %s (%ld)", what, i, JetErrorName(err), err);
		if (first == JET_errSuccess)
			first = err;
		if (at_commit)
			commit_failed = 1;
		else if (!commit_must_fail)
			break;
	}
	acked = i;
	ck_assert_msg(first != JET_errSuccess, "%s: no write ever failed", what);
	if (commit_must_fail)
		ck_assert_msg(commit_failed, "%s: JetCommitTransaction never failed", what);
	if (commit_failed)
		ck_assert_msg(err == JET_errLogWriteFail || err == JET_errLogDiskFull || err == JET_errDiskFull ||
		    err == JET_errDiskIO, "%s: the commit failed with %s", what, JetErrorName(err));
	if (kind == OS_FAULT_ENOSPC && commit_failed && match != NULL && strcmp(match, "/edb.log") == 0)
		ck_assert_msg(err == JET_errLogDiskFull || err == JET_errDiskFull, "%s: a full disk reported as %s", what,
		    JetErrorName(err));
	/* Later transactions fail too: nothing is acknowledged that could not be logged. */
	for (int k = 0; k < 5; k++) {
		err = kv_txn(&kv, acked, 0, &at_commit);
		ck_assert_msg(err < 0, "%s: a commit succeeded after the log failed", what);
	}
	(void)JetTerm(kv.inst);
	os_fault_disarm();
	{
		unsigned P = kv_recover_check(dir, acked, acked + 6, what);
		fprintf(stderr, "%s: %u acknowledged, first error %s, %u recovered\n", what, acked, JetErrorName(first), P);
	}
	/* and the instance works again */
	kv_open(&kv, dir, 64, 32, 0);
	{
		void *v;
		size_t len;
		CK(tu_get(kv.ses, kv.t, "ctr", 3, &v, &len));
		i = get32(v) + 1;
		free(v);
	}
	for (unsigned end = i + 10; i < end; i++)
		CK(kv_txn(&kv, i, 0, &at_commit));
	CK(JetTerm(kv.inst));
	ck_assert_uint_eq(kv_recover_check(dir, i, i, what), i);
	free(kv.buf);
	tu_rmdir(dir);
	free(dir);
}

START_TEST(test_eio_log)
{
	static const long ns[] = { 1, 2, 3, 5, 8, 13, 40, 90 };

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++)
		io_error_case(OS_FAULT_EIO, ns[k], "/edb.log", 1);
}
END_TEST

START_TEST(test_enospc_log)
{
	static const long ns[] = { 1, 2, 4, 7, 30, 77 };

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++)
		io_error_case(OS_FAULT_ENOSPC, ns[k], "/edb.log", 1);
}
END_TEST

START_TEST(test_enospc_log_roll)
{
	/* the disk fills up while the next generation is being created */
	for (long n = 1; n <= 4; n++)
		io_error_case(OS_FAULT_ENOSPC, n, "/edbtmp.log", 1);
	for (long n = 1; n <= 3; n++)
		io_error_case(OS_FAULT_EIO, n, "/edbtmp.log", 1);
}
END_TEST

START_TEST(test_io_error_any_file)
{
	static const long ns[] = { 1, 3, 9, 27, 81, 200 };

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++)
		io_error_case(k % 2 ? OS_FAULT_ENOSPC : OS_FAULT_EIO, ns[k], NULL, 0);
}
END_TEST

/*
 * EIO on every database write (the log still works): commits go on while
 * they fit in the cache; whatever was acknowledged lives in the log alone and
 * must come back.
 */
START_TEST(test_eio_database_writes)
{
	for (long n = 1; n <= 25; n += 8) {
		char *dir = fresh_dir(), what[96];
		struct kv kv = { 0 };
		int at_commit;
		unsigned i = 0;
		JET_ERR err = JET_errSuccess;

		snprintf(what, sizeof(what), "EIO on database writes from write %ld", n);
		kv_open(&kv, dir, 64, 32, 0);
		os_fault_arm(OS_FAULT_EIO, n, 1, 0, "/rec.edb");
		while (i < NTX) {
			err = kv_txn(&kv, i, 0, &at_commit);
			if (err < 0)
				break;
			i++;
		}
		ck_assert_msg(err < 0, "%s: %u transactions committed while no page could be written", what, i);
		ck_assert_msg(is_write_failure(err) || err == JET_errOutOfBuffers, "%s: failed with %s", what,
		    JetErrorName(err));
		(void)JetTerm(kv.inst);
		os_fault_disarm();
		fprintf(stderr, "%s: %u committed, then %s\n", what, i, JetErrorName(err));
		kv_recover_check(dir, i, i + 2, what);
		free(kv.buf);
		tu_rmdir(dir);
		free(dir);
	}
}
END_TEST

/* ---- f. attach, detach, attach again across a crash ---- */
#define AD_STEPS 150

/* Where transaction i goes: 0 rec.edb, 1 two.edb (attached in [0,40), [80,120)). */
static int
ad_db(unsigned i)
{
	int two_attached = i < 40 || (i >= 80 && i < 120);

	return two_attached && i % 2 == 1;
}

struct ad {
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid[2];
	JET_TABLEID t[2];
	uint8_t buf[4096];
};

static JET_ERR
ad_txn(struct ad *a, unsigned i)
{
	int d = ad_db(i);
	char key[16];
	size_t kl = kname(key, 'k', i);
	uint8_t v[4];
	JET_ERR err;

	put32(v, i);
	fill(a->buf, 100 + i % 2000, SEED_K(i));
	if ((err = JetBeginTransaction(a->ses)) < 0)
		return err;
	if ((err = tu_put(a->ses, a->t[d], key, kl, a->buf, 100 + i % 2000)) < 0 ||
	    (err = tu_put(a->ses, a->t[d], "ctr", 3, v, 4)) < 0) {
		JetRollback(a->ses, JET_bitRollbackAll);
		return err;
	}
	return JetCommitTransaction(a->ses, 0);
}

static void
child_attach(const char *dir, int fd, const struct fault *f)
{
	struct ad a;
	char *two = tu_path(dir, "two.edb");
	JET_TABLEID t1;

	memset(&a, 0, sizeof(a));
	a.inst = rec_instance(dir, 64, 32);
	CHILD_CK(fd, JetInit(&a.inst));
	tu_open_db(a.inst, dir, "rec.edb", &a.ses, &a.dbid[0], &a.t[0]);
	CHILD_CK(fd, JetCreateDatabase(a.ses, two, NULL, &a.dbid[1], 0));
	CHILD_CK(fd, JetCreateTable(a.ses, a.dbid[1], "t", 0, 0, &a.t[1]));
	arm(f);
	for (unsigned i = 0; i < AD_STEPS; i++) {
		if (i == 40 || i == 120) {
			CHILD_CK(fd, JetCloseTable(a.ses, a.t[1]));
			CHILD_CK(fd, JetCloseDatabase(a.ses, a.dbid[1], 0));
			CHILD_CK(fd, JetDetachDatabase(a.ses, two));
		}
		if (i == 80) {
			CHILD_CK(fd, JetAttachDatabase(a.ses, two, 0));
			CHILD_CK(fd, JetOpenDatabase(a.ses, two, NULL, &a.dbid[1], 0));
			CHILD_CK(fd, JetOpenTable(a.ses, a.dbid[1], "t", NULL, 0, 0, &t1));
			a.t[1] = t1;
		}
		CHILD_CK(fd, ad_txn(&a, i));
		send_msg(fd, MSG_ACK, i);
	}
	send_msg(fd, MSG_DONE, 0);
	_exit(OS_CRASH_EXIT_STATUS);
}

/* Checks both databases after recovery; returns P. */
static unsigned
ad_check(const char *dir, unsigned acked, const char *what)
{
	JET_INSTANCE inst = rec_instance(dir, 64, 32);
	JET_SESID ses;
	JET_DBID dbid[2];
	JET_TABLEID t[2];
	char *two = tu_path(dir, "two.edb");
	unsigned last[2], P = 0;
	unsigned long expect[2] = { 0, 0 };
	JET_ERR err = JetInit(&inst);

	ck_assert_msg(err >= 0, "%s: recovery failed: %s (%ld)", what, JetErrorName(err), err);
	tu_open_db(inst, dir, "rec.edb", &ses, &dbid[0], &t[0]);
	err = JetOpenDatabase(ses, two, NULL, &dbid[1], 0);
	if (err == JET_errDatabaseNotFound) {
		/* detached when the crash came: it must be clean and attach again */
		err = JetAttachDatabase(ses, two, 0);
		ck_assert_msg(err >= 0, "%s: attaching two.edb after recovery: %s", what, JetErrorName(err));
		err = JetOpenDatabase(ses, two, NULL, &dbid[1], 0);
	}
	ck_assert_msg(err >= 0, "%s: opening two.edb: %s", what, JetErrorName(err));
	CK(JetOpenTable(ses, dbid[1], "t", NULL, 0, 0, &t[1]));
	for (int d = 0; d < 2; d++) {
		void *v;
		size_t len;
		err = tu_get(ses, t[d], "ctr", 3, &v, &len);
		if (err == JET_errRecordNotFound)
			last[d] = 0;
		else {
			ck_assert_msg(err >= 0, "%s: ctr: %s", what, JetErrorName(err));
			last[d] = get32(v) + 1;
			expect[d]++;
		}
		free(v);
		if (last[d] > P)
			P = last[d];
	}
	ck_assert_msg(P == acked || P == acked + 1, "%s: %u transactions recovered, %u acknowledged", what, P, acked);
	for (unsigned j = 0; j < AD_STEPS; j++) {
		char key[16];
		size_t kl = kname(key, 'k', j);
		int d = ad_db(j);
		if (j < P) {
			expect_value(ses, t[d], key, kl, SEED_K(j), 100 + j % 2000, what);
			expect[d]++;
		} else
			expect_absent(ses, t[d], key, kl, what);
		expect_absent(ses, t[!d], key, kl, what);
	}
	for (int d = 0; d < 2; d++) {
		unsigned want_last = 0;
		for (unsigned j = 0; j < P; j++)
			if (ad_db(j) == d)
				want_last = j + 1;
		ck_assert_msg(last[d] == want_last, "%s: database %d's counter says %u, expected %u", what, d, last[d],
		    want_last);
		ck_assert_msg(count_records(ses, t[d]) == expect[d], "%s: database %d has %lu records, %lu expected", what,
		    d, count_records(ses, t[d]), expect[d]);
		verify_db(ses, dbid[d], what);
	}
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	free(two);
	return P;
}

START_TEST(test_attach_detach_crash)
{
	long total = calibrate(child_attach, NULL);
	int fired = 0, count = 30;

	for (int k = 0; k < count; k++) {
		long n = 1 + (total - 2) * k / (count - 1);
		struct fault f = { k % 2 ? OS_FAULT_TORN : OS_FAULT_CRASH, n, NULL, 0, 0 };
		char what[128], *dir = fresh_dir();
		struct run r;

		snprintf(what, sizeof(what), "attach/detach: %s at write %ld of %ld", k % 2 ? "torn write" : "crash", n,
		    total - 1);
		run_child(dir, child_attach, &f, &r);
		expect_crashed(&r, what);
		fired += !r.done;
		ad_check(dir, r.acks, what);
		ad_check(dir, r.acks, what);	/* and again, after a clean shutdown */
		tu_rmdir(dir);
		free(dir);
	}
	/* the crash right around each detach and attach (log writes only) */
	for (long n = 1; n <= 6; n++) {
		static const char *const spots[] = { "/two.edb", "/edb.log" };
		for (int s = 0; s < 2; s++) {
			struct fault f = { OS_FAULT_CRASH, n, spots[s], 0, 0 };
			char what[128], *dir = fresh_dir();
			struct run r;
			snprintf(what, sizeof(what), "attach/detach: crash at write %ld of %s", n, spots[s]);
			run_child(dir, child_attach, &f, &r);
			expect_crashed(&r, what);
			ad_check(dir, r.acks, what);
			tu_rmdir(dir);
			free(dir);
		}
	}
	fprintf(stderr, "sweep attach/detach: %d runs over %ld writes, %d crashed by the fault\n", count, total - 1, fired);
	ck_assert_msg(fired >= count * 3 / 4, "only %d of %d faults fired", fired, count);
}
END_TEST

static Suite *
recovery_suite(void)
{
	Suite *s = suite_create("recovery");
	TCase *tc;

	tc = tcase_create("crash");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_crash_sweep_all_writes);
	tcase_add_test(tc, test_crash_sweep_log_writes);
	tcase_add_test(tc, test_crash_sweep_log_rolls);
	tcase_add_test(tc, test_crash_sweep_checkpoint);
	tcase_add_test(tc, test_crash_sweep_db_writes);
	tcase_add_test(tc, test_crash_sweep_lazy);
	tcase_add_test(tc, test_crash_sweep_circular);
	tcase_add_test(tc, test_crash_long_transactions);
	tcase_add_test(tc, test_crash_during_term);
	tcase_add_test(tc, test_crash_sweep_page_sizes);
	tcase_add_test(tc, test_crash_during_create);
	suite_add_tcase(s, tc);

	tc = tcase_create("abrupt");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_term_abrupt);
	tcase_add_test(tc, test_log_size_change);
	suite_add_tcase(s, tc);

	tc = tcase_create("recovery-crash");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_crash_during_recovery);
	tcase_add_test(tc, test_io_error_during_recovery);
	suite_add_tcase(s, tc);

	tc = tcase_create("circular");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_circular_log);
	tcase_add_test(tc, test_noncircular_log_keeps_all);
	suite_add_tcase(s, tc);

	tc = tcase_create("io-errors");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_eio_log);
	tcase_add_test(tc, test_enospc_log);
	tcase_add_test(tc, test_enospc_log_roll);
	tcase_add_test(tc, test_io_error_any_file);
	tcase_add_test(tc, test_eio_database_writes);
	suite_add_tcase(s, tc);

	tc = tcase_create("attach");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_attach_detach_crash);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(recovery_suite());
}
