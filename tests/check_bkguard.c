/*
 * check_bkguard.c -- a backup never costs the application its disk
 * (backup.c K6, snapshot.c S7): a point-in-time backup whose kept images
 * reach JET_paramJetfsBackupKeptMax, or whose disks fall below
 * JET_paramJetfsBackupFreeFloor (faked with os_fault_free_space), is
 * aborted while a writer rewrites pages flat out: every commit succeeds, the
 * backup ends as an abort with the reason (events 230/231, szLastEnd, the
 * client's calls), nothing is recorded in the header, the spill file's
 * space comes back even to a descriptor still open on it, and the next
 * backup works.  The cap test prints its accuracy (kept bytes at the abort
 * against the cap) and how fast the space came back.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "bankutil.h"

#define NFILL 1200		/* filler records of FILL_SIZE: a database of about 10 MiB */
#define FILL_SIZE 6000
#define WAIT_MS 30000

/* ---- a writer that rewrites every filler record in turn, flat out ---- */

struct rewriter {
	JET_INSTANCE inst;
	const char *dbpath;
	pthread_t thread;
	atomic_int stop;
	atomic_ullong commits;
	JET_ERR err;
};

static void
fill_put(JET_SESID ses, JET_TABLEID t, unsigned i, unsigned long long round, int insert, JET_ERR *errp)
{
	char key[16], val[FILL_SIZE];

	snprintf(key, sizeof(key), "fill%05u", i);
	memset(val, 'a' + (int)(round % 26), sizeof(val));
	snprintf(val, sizeof(val), "%s round %llu", key, round);
	if ((*errp = JetBeginTransaction(ses)) >= 0 && (*errp = kv_put(ses, t, key, val, sizeof(val), insert)) >= 0)
		*errp = JetCommitTransaction(ses, 0);
}

static void *
rewriter_main(void *arg)
{
	struct rewriter *w = arg;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;

	if ((w->err = JetBeginSession(w->inst, &ses, NULL, NULL)) < 0)
		return NULL;
	if ((w->err = JetOpenDatabase(ses, w->dbpath, NULL, &dbid, 0)) >= 0 &&
	    (w->err = JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t)) >= 0) {
		for (unsigned long long n = 0; !atomic_load(&w->stop) && w->err >= 0; n++) {
			fill_put(ses, t, (unsigned)(n % NFILL), n / NFILL + 1, 0, &w->err);
			if (w->err >= 0)
				atomic_fetch_add(&w->commits, 1);
		}
	}
	JetEndSession(ses, 0);
	return NULL;
}

static void
rewriter_start(struct rewriter *w, struct bank *b)
{
	memset(w, 0, sizeof(*w));
	w->inst = b->inst;
	w->dbpath = b->dbpath;
	ck_assert(pthread_create(&w->thread, NULL, rewriter_main, w) == 0);
}

/* Waits for n more commits, all of which succeeded. */
static void
rewriter_wait(struct rewriter *w, unsigned long long n)
{
	unsigned long long target = atomic_load(&w->commits) + n;
	struct timespec ts = { 0, 500000 };

	while (atomic_load(&w->commits) < target) {
		ck_assert_msg(w->err >= 0, "the application's commit failed: %s", JetErrorName(w->err));
		nanosleep(&ts, NULL);
	}
}

static void
rewriter_stop(struct rewriter *w)
{
	atomic_store(&w->stop, 1);
	ck_assert(pthread_join(w->thread, NULL) == 0);
	ck_assert_msg(w->err >= 0, "the application's commit failed: %s", JetErrorName(w->err));
}

/* ---- the bank with filler, events captured ---- */

/*
 * The bank with NFILL filler records (bank_check skips them), a small cache
 * so that rewrites reach the disk, the instance's events on stderr, which
 * goes to the file *evpath (Check runs each test in its own process).
 */
static void
guard_bank(struct bank *b, char **evpath)
{
	JET_ERR err = JET_errSuccess;
	int fd;

	bank_create(b, CACHE_SMALL, 0);
	*evpath = tu_path(b->dir, "events.txt");
	fd = open(*evpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert(fd >= 0 && dup2(fd, 2) == 2);
	close(fd);
	CK(JetSetSystemParameter(&b->inst, 0, JET_paramJetfsEventTarget, JET_JetfsEventStderr, NULL));
	for (unsigned i = 0; i < NFILL && err >= 0; i++)
		fill_put(b->ses, b->t, i, 0, 1, &err);
	CK(err);
	CK(checkpoint_run(inst_of(b->inst), 1));
	CK(JetSetSystemParameter(&b->inst, 0, JET_paramJetfsBackupFreeFloor, 0, NULL));
}

static char *
events_of(const char *evpath)
{
	size_t len;

	fflush(stderr);
	return (char *)slurp(evpath, &len);
}

static JETFS_BACKUPINFO
info_of(JET_INSTANCE inst)
{
	JETFS_BACKUPINFO info;

	memset(&info, 0, sizeof(info));
	info.cbStruct = sizeof(info);
	CK(JetfsGetBackupInfo(inst, &info));
	return info;
}

/* What the kept bytes did while the test waited for the abort. */
struct kept_watch {
	unsigned long long full;	/* in: the bytes that count as "at the cap" */
	unsigned long long max;		/* out: the most seen */
	int64_t t_full;			/* out: when "at the cap" was first seen (os_monotonic_ms), or 0 */
};

/* Waits until no backup runs and the last one ended with JET_errBackupAbortByServer. */
static JETFS_BACKUPINFO
wait_aborted(JET_INSTANCE inst, struct rewriter *w, struct kept_watch *kw)
{
	JETFS_BACKUPINFO info = info_of(inst);
	struct timespec ts = { 0, 100000 };

	for (int64_t until = os_monotonic_ms() + WAIT_MS; info.ullId != 0; info = info_of(inst)) {
		if (kw != NULL && info.cbKept > kw->max)
			kw->max = info.cbKept;
		if (kw != NULL && kw->t_full == 0 && info.cbKept >= kw->full)
			kw->t_full = os_monotonic_ms();
		ck_assert_msg(os_monotonic_ms() < until, "the backup still runs after %d ms (%llu bytes kept)", WAIT_MS,
		    info.cbKept);
		ck_assert_msg(w->err >= 0, "the application's commit failed: %s", JetErrorName(w->err));
		nanosleep(&ts, NULL);
	}
	ck_assert_msg(info.errLastEnd == JET_errBackupAbortByServer, "the backup ended with %s: %s",
	    JetErrorName(info.errLastEnd), info.szLastEnd);
	return info;
}

/* The aborted backup's client: every call says so until it ends it; End normal records nothing. */
static void
client_sees_abort(JET_INSTANCE inst, JET_HANDLE h)
{
	char buf[4096], szz[4096];
	unsigned long cb;

	CK_ERR(JetfsReadFileAt(inst, h, 0, buf, sizeof(buf), &cb), JET_errBackupAbortByServer);
	CK_ERR(JetGetLogInfoInstance(inst, szz, sizeof(szz), &cb), JET_errBackupAbortByServer);
	CK_ERR(JetEndExternalBackupInstance2(inst, JET_bitBackupEndNormal), JET_errBackupAbortByServer);
	CK_ERR(JetGetLogInfoInstance(inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance2(inst, JET_bitBackupEndAbort), JET_errNoBackup);
}

/* The writer stopped: a point-in-time backup begins, ends normally, is recorded and restores. */
static void
next_backup_works(struct bank *b)
{
	struct bkrun r = { .grbit = JET_bitBackupJetfsPointInTime, .truncate = 1 };
	char *set = tu_tempdir();
	uint64_t at_backup = bank_counter(b);
	struct db_header hd;

	ese_backup(b->inst, set, &r);
	hd = tu_hdr_of(b->dbpath);
	ck_assert_bk_range(hd, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
	ck_assert_uint_eq(restore_one(set), at_backup);
	tu_rmdir(set);
	free(set);
}

/* The aborted backup changed no backup slot of the database's header. */
static void
nothing_recorded(const struct db_header *before, const char *dbpath)
{
	struct db_header after = tu_hdr_of(dbpath);

	for (int slot = 0; slot < BK_NSLOTS; slot++)
		ck_assert_bk_same(*before, after, slot);
}

static void
assert_event(const char *evpath, const char *what, const char *words)
{
	char *ev = events_of(evpath);

	ck_assert_msg(strstr(ev, what) != NULL && strstr(ev, words) != NULL, "no %s saying \"%s\" in the events:\n%s",
	    what, words, ev);
	free(ev);
}

static char *
spill_of(struct bank *b)
{
	char *spill;

	ck_assert(asprintf(&spill, "%s.jfsbk", inst_of(b->inst)->dbs[b->dbid]->path) > 0);
	return spill;
}

static JET_HANDLE
open_db_file(struct bank *b)
{
	JET_HANDLE h;
	unsigned long lo, hi;
	char buf[8192];
	unsigned long cb;

	CK(JetOpenFileInstance(b->inst, b->dbpath, &h, &lo, &hi));
	CK(JetfsReadFileAt(b->inst, h, 0, buf, sizeof(buf), &cb));	/* a slow reader: one page, then nothing */
	return h;
}

/* ---- the cap ---- */

START_TEST(test_cap)
{
	struct bank b;
	struct rewriter w;
	char *ev, *spill, *kept_at;
	unsigned long ps;
	unsigned long long cap = 1 << 20, kept_at_abort = 0, commits_at_abort;
	struct kept_watch kw = { 0, 0, 0 };
	struct db_header before;
	JETFS_BACKUPINFO info;
	JET_HANDLE h;
	struct stat st;
	int64_t t_begin, t_gone, t_space;
	int spill_fd;

	guard_bank(&b, &ev);
	ps = page_size_of(b.inst);
	kw.full = cap - ps + 1;
	spill = spill_of(&b);
	CK(JetSetSystemParameter(&b.inst, 0, JET_paramJetfsBackupKeptMax, 1, NULL));
	before = tu_hdr_of(b.dbpath);
	rewriter_start(&w, &b);
	rewriter_wait(&w, 50);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	t_begin = os_monotonic_ms();
	h = open_db_file(&b);
	/* A reader in another process would hold the spill file open: its space must come back all the same. */
	spill_fd = open(spill, O_RDONLY);
	ck_assert_msg(spill_fd >= 0, "no spill file %s", spill);
	info = wait_aborted(b.inst, &w, &kw);
	commits_at_abort = atomic_load(&w.commits);
	t_gone = os_monotonic_ms();
	/* How fast the space came back, as a reader holding the spill file open sees it. */
	for (t_space = t_gone; fstat(spill_fd, &st) == 0 && st.st_blocks != 0 && t_space < t_gone + WAIT_MS;
	    t_space = os_monotonic_ms())
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	ck_assert_msg(strstr(info.szLastEnd, "aborted") != NULL && strstr(info.szLastEnd, "cap") != NULL,
	    "szLastEnd: %s", info.szLastEnd);
	ck_assert_msg((kept_at = strstr(info.szLastEnd, "MiB): ")) != NULL &&
	    sscanf(kept_at, "MiB): %llu bytes kept", &kept_at_abort) == 1, "szLastEnd: %s", info.szLastEnd);
	/* The cap's accuracy: never past it, and the abort came within a page of it. */
	ck_assert_msg(kept_at_abort <= cap && kept_at_abort + ps > cap && kw.max <= cap,
	    "kept %llu bytes at the abort (at most %llu seen), cap %llu, page %lu", kept_at_abort, kw.max, cap, ps);
	ck_assert_msg(access(spill, F_OK) != 0, "%s is still there after the abort", spill);
	ck_assert(fstat(spill_fd, &st) == 0);
	ck_assert_msg(st.st_blocks == 0, "the spill file still takes %lld blocks for a descriptor open on it",
	    (long long)st.st_blocks);
	close(spill_fd);
	fprintf(stdout, "cap %llu bytes: %llu bytes kept at the abort (%llu pages of %lu; most seen %llu); "
	    "the cap was reached %lld ms after Begin; the backup had ended %lld ms and the spill file's space was "
	    "back %lld ms after that\n", cap, kept_at_abort, kept_at_abort / ps, ps, kw.max,
	    (long long)(kw.t_full - t_begin), (long long)(t_gone - kw.t_full), (long long)(t_space - kw.t_full));
	ck_assert_uint_eq(info_of(b.inst).cbKept, 0);
	ck_assert_uint_eq(inst_of(b.inst)->backup_kept_bytes, 0);
	/* The application went on. */
	rewriter_wait(&w, 200);
	ck_assert_uint_gt(atomic_load(&w.commits), commits_at_abort);
	assert_event(ev, "(event 230)", "reached the cap (JET_paramJetfsBackupKeptMax 1 MiB)");
	client_sees_abort(b.inst, h);
	nothing_recorded(&before, b.dbpath);
	rewriter_stop(&w);
	next_backup_works(&b);
	bank_check(b.ses, b.dbid, b.t);
	bank_term(&b);
	free(spill);
	free(ev);
	bank_free(&b);
}
END_TEST

/* ---- the floor ---- */

/* Under the floor beside the kept images (checked before each one) or in the log directory (each tick). */
static void
floor_case(const char *fake_match, int pages_written, const char *words)
{
	struct bank b;
	struct rewriter w;
	char *ev, *spill;
	struct db_header before;
	JETFS_BACKUPINFO info;
	JET_HANDLE h;

	guard_bank(&b, &ev);
	spill = spill_of(&b);
	CK(JetSetSystemParameter(&b.inst, 0, JET_paramJetfsBackupFreeFloor, 8, NULL));
	before = tu_hdr_of(b.dbpath);
	rewriter_start(&w, &b);
	rewriter_wait(&w, 50);
	if (!pages_written)
		rewriter_stop(&w);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	h = open_db_file(&b);
	if (pages_written)
		rewriter_wait(&w, 50);
	ck_assert_msg(info_of(b.inst).ullId != 0, "the backup ended before the disk filled up");
	os_fault_free_space(7 << 20, fake_match);
	info = wait_aborted(b.inst, &w, NULL);
	os_fault_free_space(UINT64_MAX, NULL);
	ck_assert_msg(strstr(info.szLastEnd, "below the floor (JET_paramJetfsBackupFreeFloor 8 MiB)") != NULL &&
	    strstr(info.szLastEnd, words) != NULL, "szLastEnd: %s", info.szLastEnd);
	assert_event(ev, "(event 231)", words);
	ck_assert_msg(access(spill, F_OK) != 0, "%s is still there after the abort", spill);
	if (pages_written) {
		rewriter_wait(&w, 200);
		rewriter_stop(&w);
	}
	client_sees_abort(b.inst, h);
	nothing_recorded(&before, b.dbpath);
	next_backup_works(&b);
	bank_term(&b);
	free(spill);
	free(ev);
	bank_free(&b);
}

START_TEST(test_floor_kept_images)
{
	floor_case(".jfsbk", 1, "bytes free beside");
}
END_TEST

START_TEST(test_floor_logs)
{
	floor_case("", 0, "in the log directory");
}
END_TEST

/* ---- a held backup (K5) reaching the cap: nobody calls, the instance ends it ---- */

START_TEST(test_held_cap)
{
	struct bank b;
	struct rewriter w;
	char *ev, *spill;
	struct jet_inst *inst;
	JETFS_BACKUPINFO info;

	guard_bank(&b, &ev);
	inst = inst_of(b.inst);
	spill = spill_of(&b);
	CK(JetSetSystemParameter(&b.inst, 0, JET_paramJetfsBackupHoldTime, 600, NULL));
	CK(JetSetSystemParameter(&b.inst, 0, JET_paramJetfsBackupKeptMax, 1, NULL));
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	CK(backup_hold(inst, inst->backup, geteuid(), (long)getpid()));
	ck_assert(info_of(b.inst).fHeld);
	rewriter_start(&w, &b);
	info = wait_aborted(b.inst, &w, NULL);
	ck_assert_msg(strstr(info.szLastEnd, "cap") != NULL, "szLastEnd: %s", info.szLastEnd);
	ck_assert_msg(access(spill, F_OK) != 0, "%s is still there after the abort", spill);
	assert_event(ev, "(event 230)", "reached the cap");
	rewriter_wait(&w, 100);
	rewriter_stop(&w);
	CK_ERR(JetfsTakeOverBackup(b.inst, 0), JET_errBackupAbortByServer);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	next_backup_works(&b);
	bank_term(&b);
	free(spill);
	free(ev);
	bank_free(&b);
}
END_TEST

static Suite *
bkguard_suite(void)
{
	Suite *s = suite_create("bkguard");

	tu_add_test(s, "cap", test_cap, 120);
	tu_add_test(s, "floor_kept_images", test_floor_kept_images, 120);
	tu_add_test(s, "floor_logs", test_floor_logs, 120);
	tu_add_test(s, "held_cap", test_held_cap, 120);
	return s;
}

int
main(void)
{
	return tu_run(bkguard_suite());
}
