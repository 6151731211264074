/*
 * check_deltabackup.c -- page delta backups end to end (issue 16, K7 in
 * backup.c): JetBackupInstance with JET_bitBackupJetfsPointInTime |
 * JET_bitBackupJetfsDelta and the external backup API, over the bank
 * (bankutil.h), through the public API only (the engine's internals are read
 * to find a test's facts, never to make the delta).
 *
 * THE SELF-CHECK (self_check below) proves "every page that changed since
 * the base is in the delta", whatever the workload:
 *   1. the base full is taken (a point-in-time JetBackupInstance, which
 *      truncates and so records bk[BK_FULL_PREV]; or an ESE-mode one);
 *   2. the workload runs (hot subset, inserts, crashes, circular logging...);
 *   3. with NO write in between (writer stopped), the delta set is taken,
 *      then a second point-in-time full ("full 2");
 *   4. the base image is copied to a scratch file, the delta applied onto it
 *      (delta_apply), and database pages 1..pgno_last of the result are
 *      compared byte for byte with full 2's image (file page p + 1 holds
 *      database page p).  Since nothing was written between the delta's
 *      Begin and full 2's, full 2's pages are exactly the pages as of the
 *      delta's Begin, so any page the delta misses (a page changed since the
 *      base that the tracker lost) keeps the base's bytes and differs.  A
 *      mismatch names the page, the dbtime (page header offset 8) of the
 *      applied page, of full 2's page and of the base's page, and whether
 *      the page is in the delta's index (in it: the delta carried a wrong
 *      image; not in it: the tracker missed the page).
 * Besides, the delta must hold fewer pages than the database when only a
 * hot subset was written (a delta that lists every page would pass the
 * byte compare while being no delta at all).
 *
 * Each test says in a comment which engine bug it would catch.  Check runs
 * each test in a child process; CK_RUN_CASE=name runs one.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bankutil.h"

#include "format.h"

#define HOT_LO 100		/* the hot subset: accounts HOT_LO .. HOT_LO + HOT_SPAN - 1 */
#define HOT_SPAN 24
#define NEW_VALUE 3000		/* inserts of this size extend the file */
#define MAXGEN 4096
#define PIT JET_bitBackupJetfsPointInTime
#define DELTA (JET_bitBackupJetfsPointInTime | JET_bitBackupJetfsDelta)

/* ---- the bank's workload ---- */

/* n transfers among the hot accounts only, each in its own transaction (the bank's invariants hold). */
static void
hot_transfers(struct bank *b, int n)
{
	uint64_t counter;

	for (int i = 0; i < n; i++)
		CK(transfer_among(b->ses, b->t, &b->seed, HOT_LO, HOT_SPAN, &counter));
}

/* Inserts records "newNNNNN" first .. first+n-1 of NEW_VALUE bytes: new pages past the old pgno_last. */
static void
grow(struct bank *b, int first, int n)
{
	static uint8_t val[NEW_VALUE];

	for (int i = first; i < first + n; i++) {
		char key[16];
		snprintf(key, sizeof(key), "new%05d", i);
		memset(val, (int)(i * 13 + 1), sizeof(val));
		CK(JetBeginTransaction(b->ses));
		CK(kv_put(b->ses, b->t, key, val, sizeof(val), 1));
		CK(JetCommitTransaction(b->ses, 0));
	}
}

/*
 * The one small update: an account in the middle of the table (not a hot
 * one) gets the counter as its last transfer; the invariants hold.
 */
static void
touch_account(struct bank *b)
{
	uint8_t val[VAL_SIZE], vc[8];
	char key[16];
	unsigned a = NACCT / 2;

	CK(kv_get(b->ses, b->t, "counter", vc, 8));
	for (;; a++) {
		acct_key(a, key);
		CK(kv_get(b->ses, b->t, key, val, VAL_SIZE));
		if (get64(val + 8) != get64(vc))
			break;
	}
	acct_value(val, a, get64(val), get64(vc));
	CK(JetBeginTransaction(b->ses));
	CK(kv_put(b->ses, b->t, key, val, VAL_SIZE, 0));
	CK(JetCommitTransaction(b->ses, 0));
}

/* ---- the live database ---- */

static struct jet_db *
bank_db(struct bank *b)
{
	struct jet_inst *in = inst_of(b->inst);

	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (in->dbs[i] != NULL)
			return in->dbs[i];
	ck_abort_msg("no database attached");
	return NULL;
}

/* The live database's header (as the engine holds it). */
static struct db_header
live_hdr(struct bank *b)
{
	struct jet_db *db = bank_db(b);
	struct db_header h;

	pthread_mutex_lock(&db->hdr_lock);
	h = db->hdr;
	pthread_mutex_unlock(&db->hdr_lock);
	return h;
}

/* A bank instance with JET_paramRecovery set to recovery ("on" / "off"). */
static void
bank_open_recovery(struct bank *b, const char *recovery)
{
	b->inst = tu_instance(b->dir, LOG_KB, b->cache);
	CK(JetSetSystemParameter(&b->inst, 0, JET_paramRecovery, 0, recovery));
	CK(JetInit(&b->inst));
	bank_open_table(b);
}

static char *
summary_of(const char *dir, uint32_t gen)
{
	char name[32];

	snprintf(name, sizeof(name), "edbp%05X.jps", gen);
	return tu_path(dir, name);
}

static int
exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int
gen_exists(const char *dir, uint32_t gen)
{
	char *p = gen_path(dir, gen);
	int e = exists(p);

	free(p);
	return e;
}

static long
file_size(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat %s", path);
	return (long)st.st_size;
}

/* ---- backups ---- */

/* A point-in-time full set (truncating: recorded in bk[BK_FULL_PREV]) in a new directory. */
static char *
full_pit(struct bank *b)
{
	char *dir = tu_tempdir();

	CK(JetBackupInstance(b->inst, dir, PIT, NULL));
	return dir;
}

/* The delta set in a new directory (*dirp); a refused one must leave the directory empty. */
static JET_ERR
take_delta(struct bank *b, char **dirp)
{
	char *dir = tu_tempdir();
	JET_ERR err = JetBackupInstance(b->inst, dir, DELTA, NULL);

	if (err < 0)
		ck_assert_msg(count_files(dir) == 0, "a refused delta (%s) left %d files in its directory",
		    JetErrorName(err), count_files(dir));
	*dirp = dir;
	return err;
}

/* A delta that must be refused with want; the header's slots stay as they were. */
static void
delta_refused(struct bank *b, JET_ERR want, const char *what)
{
	struct db_header before = live_hdr(b), after;
	char *dir;
	JET_ERR err = take_delta(b, &dir);

	ck_assert_msg(err == want, "%s: the delta -> %s, expected %s", what, JetErrorName(err), JetErrorName(want));
	after = live_hdr(b);
	ck_assert_bk_same(before, after, BK_FULL_PREV);
	ck_assert_bk_same(before, after, BK_INC_PREV);
	ck_assert_bk_same(before, after, BK_DIFF_PREV);
	tu_rmdir(dir);
	free(dir);
}

static void
rm_set(char *dir)
{
	if (dir != NULL)
		tu_rmdir(dir);
	free(dir);
}

/* ---- the self-check ---- */

struct check_result {
	struct delta_header dh;		/* the delta's header */
	uint32_t *index;		/* its page numbers, dh.npages of them */
};

static int
in_index(const struct check_result *r, uint32_t pgno)
{
	for (uint32_t i = 0; i < r->dh.npages; i++)
		if (r->index[i] == pgno)
			return 1;
	return 0;
}

static uint64_t
dbtime_at(const uint8_t *img, size_t len, uint32_t ps, uint32_t pgno)
{
	uint64_t off = page_offset(pgno, ps);

	return off + ps <= len ? get64(img + off + PG_DBTIME) : 0;
}

/*
 * The self-check (top of the file): base set + delta set = full 2's set, page
 * for page.  Fills r (free r->index).
 */
static void
self_check(const char *base_set, const char *delta_set, const char *full2_set, const char *what,
    struct check_result *r)
{
	char *base = tu_path(base_set, "bank.edb"), *delta = tu_path(delta_set, "bank.edb.delta");
	char *full2 = tu_path(full2_set, "bank.edb"), *work = tu_tempdir(), *applied = tu_path(work, "bank.edb");
	char msg[1024];
	struct db_header h2, ha;
	uint8_t *ib, *ia, *i2, *dd;
	size_t lb, la, l2, ld;
	uint32_t ps;
	JET_ERR err;

	memset(r, 0, sizeof(*r));
	err = delta_verify(delta, &r->dh, msg, sizeof(msg));
	ck_assert_msg(err >= 0, "%s: delta_verify -> %s: %s", what, JetErrorName(err), msg);
	ps = r->dh.page_size;
	dd = slurp(delta, &ld);
	r->index = malloc((r->dh.npages + 1) * sizeof(*r->index));
	ck_assert(r->index != NULL);
	for (uint32_t i = 0; i < r->dh.npages; i++)
		r->index[i] = get32(dd + (size_t)DELTA_INDEX_PAGE * ps + (size_t)i * DELTA_ENTRY_SIZE);
	free(dd);

	tu_copy_file(base, applied);
	err = delta_apply(delta, applied, msg, sizeof(msg));
	ck_assert_msg(err >= 0, "%s: delta_apply -> %s: %s", what, JetErrorName(err), msg);
	h2 = tu_hdr_of(full2);
	ha = tu_hdr_of(applied);
	ck_assert_msg(h2.page_size == ps && ha.page_size == ps, "%s: page sizes %u, %u, delta %u", what, h2.page_size,
	    ha.page_size, ps);
	ck_assert_msg(ha.pgno_last == h2.pgno_last && r->dh.pgno_last == h2.pgno_last,
	    "%s: pgno_last: base + delta %u, delta %u, full 2 %u", what, ha.pgno_last, r->dh.pgno_last, h2.pgno_last);
	ib = slurp(base, &lb);
	ia = slurp(applied, &la);
	i2 = slurp(full2, &l2);
	ck_assert_msg(la == l2, "%s: base + delta is %zu bytes, full 2 %zu", what, la, l2);
	for (uint32_t p = 1; p <= h2.pgno_last; p++) {
		uint64_t off = page_offset(p, ps);
		if (memcmp(ia + off, i2 + off, ps) == 0)
			continue;
		ck_abort_msg("%s: database page %u of base + delta differs from full 2's: dbtime %llu there, %llu in "
		    "full 2, %llu in the base; the page is %s the delta's index (%u pages of %u; base mark %llu gens "
		    "%u-%u, delta mark %llu gens %u-%u)", what, p,
		    (unsigned long long)get64(ia + off + PG_DBTIME), (unsigned long long)get64(i2 + off + PG_DBTIME),
		    (unsigned long long)dbtime_at(ib, lb, ps, p), in_index(r, p) ? "IN" : "NOT in", r->dh.npages,
		    r->dh.pgno_last, (unsigned long long)r->dh.base.lsn_mark, r->dh.base.gen_low, r->dh.base.gen_high,
		    (unsigned long long)r->dh.mark.lsn_mark, r->dh.mark.gen_low, r->dh.mark.gen_high);
	}
	/* The set carries its logs: the generations of its mark. */
	for (uint32_t g = r->dh.mark.gen_low; g <= r->dh.mark.gen_high; g++)
		ck_assert_msg(gen_exists(delta_set, g), "%s: the delta set lacks generation %u (%u-%u)", what, g,
		    r->dh.mark.gen_low, r->dh.mark.gen_high);
	free(ib);
	free(ia);
	free(i2);
	tu_rmdir(work);
	free(work);
	free(applied);
	free(base);
	free(delta);
	free(full2);
}

/* The delta is smaller than the database: only a hot subset was written. */
static void
expect_small(const struct check_result *r, const char *what)
{
	ck_assert_msg(r->dh.npages > 0 && r->dh.npages < r->dh.pgno_last,
	    "%s: the delta holds %u pages of %u (a hot subset was written)", what, r->dh.npages, r->dh.pgno_last);
}

/*
 * Step 3 and 4 of the self-check with the writer stopped: the delta against
 * base_set, then full 2.  Returns full 2's set (the next base, its full is
 * the recorded one now); r as self_check's.
 */
static char *
delta_and_full2(struct bank *b, const char *base_set, const char *what, struct check_result *r)
{
	char *delta, *full2;
	JET_ERR err = take_delta(b, &delta);

	ck_assert_msg(err >= 0, "%s: the delta -> %s", what, JetErrorName(err));
	full2 = full_pit(b);
	self_check(base_set, delta, full2, what, r);
	rm_set(delta);
	return full2;
}

/* delta_and_full2 for a test that needs neither full 2 nor the result. */
static void
check_round(struct bank *b, const char *base_set, const char *what, int small)
{
	struct check_result r;
	char *full2 = delta_and_full2(b, base_set, what, &r);

	if (small)
		expect_small(&r, what);
	free(r.index);
	rm_set(full2);
}

/* ---- 1. basic ---- */

/*
 * Hot-subset updates and inserts that extend the file.  Catches: a page the
 * tracker misses (an update's leaf, a split, an allocation past the old
 * pgno_last), a delta that lists every page, End recording the delta in
 * BK_FULL_PREV / BK_INC_PREV (it would start or continue a chain it cannot
 * restore) or not at all, and a delta that truncates logs.
 */
START_TEST(test_basic)
{
	struct bank b;
	struct check_result r;
	struct db_header h0, h1;
	static uint8_t before[MAXGEN], after[MAXGEN];
	char *base, *delta, *full2, *img;
	uint32_t p0;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	base = full_pit(&b);
	img = tu_path(base, "bank.edb");
	p0 = tu_hdr_of(img).pgno_last;
	free(img);
	hot_transfers(&b, 60);
	grow(&b, 0, 60);
	hot_transfers(&b, 30);
	roll_gens(&b, 2);
	hot_transfers(&b, 10);
	h0 = live_hdr(&b);
	gens_present(b.dir, before, sizeof(before));
	CK(take_delta(&b, &delta));
	h1 = live_hdr(&b);
	gens_present(b.dir, after, sizeof(after));
	for (uint32_t g = 1; g < MAXGEN; g++)
		ck_assert_msg(!before[g] || after[g], "the delta truncated generation %u", g);
	ck_assert_bk_same(h0, h1, BK_FULL_PREV);
	ck_assert_bk_same(h0, h1, BK_INC_PREV);
	full2 = full_pit(&b);
	self_check(base, delta, full2, "basic", &r);
	expect_small(&r, "basic");
	ck_assert_msg(r.dh.pgno_last > p0, "the inserts did not extend the database (%u, then %u pages)", p0,
	    r.dh.pgno_last);
	/* End recorded it as a differential, mark = the stamp's; the base is the recorded full. */
	ck_assert_msg(memcmp(&h1.bk[BK_DIFF_PREV], &r.dh.mark, sizeof(r.dh.mark)) == 0,
	    "bk[BK_DIFF_PREV] is mark %llu gens %u-%u, the delta's mark %llu gens %u-%u",
	    (unsigned long long)h1.bk[BK_DIFF_PREV].lsn_mark, h1.bk[BK_DIFF_PREV].gen_low,
	    h1.bk[BK_DIFF_PREV].gen_high, (unsigned long long)r.dh.mark.lsn_mark, r.dh.mark.gen_low,
	    r.dh.mark.gen_high);
	ck_assert(memcmp(&h1.bk[BK_FULL_PREV], &r.dh.base, sizeof(r.dh.base)) == 0);
	ck_assert_msg(!bk_is_zero(&h0.bk[BK_FULL_PREV]), "the base full was not recorded");
	free(r.index);
	rm_set(base);
	rm_set(delta);
	rm_set(full2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- 2. off by one at the base ---- */

/* The transaction records of generation gen (in the instance's log directory) that start in [from, to). */
static unsigned
txns_between(struct jet_inst *in, uint32_t gen, lsn_t from, lsn_t to)
{
	struct log_reader r;
	uint8_t *rec;
	size_t len;
	lsn_t start;
	JET_ERR err = JET_errSuccess;
	unsigned n = 0;
	int rc;

	CK(log_reader_open(&r, in, in->p.log_path, in->p.base_name, gen, 0, &in->log.sign_log));
	while ((rc = log_reader_next(&r, &rec, &len, &start, &err)) > 0 && start < to)
		n += start >= from && rec[4] == LREC_TXN;
	log_reader_close(&r);
	ck_assert_msg(rc >= 0, "reading generation %u: %s", gen, JetErrorName(err));
	return n;
}

/*
 * One small update committed right after the base full's Begin: its record
 * is the first after the mark.  Catches the change at the boundary lost
 * (XtraBackup PXB-1824: in neither the base nor the delta): a query "LSN >
 * mark" instead of ">= mark" when the record starts at the mark, or, since a
 * point-in-time Begin closes the mark's generation so that the record is
 * among the first of the next generation (no transaction between the mark
 * and it: checked here), a tracker that loses or misfiles the first
 * records of a generation.  The base image is the Begin state,
 * so the account's page differs between the base and full 2, and must be in
 * the delta; the base's own generation (K7: the delta reaches back to its
 * start) changed only the filler, so only the update's record can put the
 * page there.
 */
START_TEST(test_first_record_after_base)
{
	struct bank b;
	struct bkrun run = { .grbit = PIT, .begun = 1, .truncate = 1 };
	struct check_result r;
	struct jet_inst *in;
	struct db_header h;
	lsn_t at;
	uint32_t gen;
	char *base = tu_tempdir(), *full2, *img, *img2;
	uint8_t *i1, *i2;
	size_t l1, l2;
	uint32_t ps, changed = 0;

	bank_create(&b, CACHE_PAGES, 0);
	in = inst_of(b.inst);
	transfers(&b, 20);
	/* The generation Begin closes holds only the filler's changes: the base starts there (K7). */
	roll_gens(&b, 1);
	CK(JetBeginExternalBackupInstance(b.inst, PIT));
	olock_lock(&in->log.lock);
	at = in->log.append_lsn;
	olock_unlock(&in->log.lock);
	gen = cur_gen(b.inst);
	touch_account(&b);
	ese_backup(b.inst, base, &run);
	h = live_hdr(&b);
	/* No transaction between the mark and the update: its record is the first after the mark that changes a page. */
	ck_assert_msg(at >= h.bk[BK_FULL_PREV].lsn_mark, "the update at LSN %llu is before the mark %llu",
	    (unsigned long long)at, (unsigned long long)h.bk[BK_FULL_PREV].lsn_mark);
	ck_assert_uint_eq(txns_between(in, gen, h.bk[BK_FULL_PREV].lsn_mark, at), 0);
	ck_assert_uint_eq(txns_between(in, gen, at, at + 1), 1);
	full2 = delta_and_full2(&b, base, "the first record after the base", &r);
	img = tu_path(base, "bank.edb");
	img2 = tu_path(full2, "bank.edb");
	i1 = slurp(img, &l1);
	i2 = slurp(img2, &l2);
	ps = r.dh.page_size;
	for (uint32_t p = 1; p <= r.dh.pgno_last; p++) {
		uint64_t off = page_offset(p, ps);
		if (off + ps <= l1 && memcmp(i1 + off, i2 + off, ps) == 0)
			continue;
		changed++;
		ck_assert_msg(in_index(&r, p), "page %u changed by the first record after the base is not in the delta",
		    p);
	}
	ck_assert_msg(changed > 0, "the update after Begin is in the base image (not a point-in-time base?)");
	expect_small(&r, "the first record after the base");
	free(r.index);
	free(i1);
	free(i2);
	free(img);
	free(img2);
	rm_set(base);
	rm_set(full2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/*
 * A delta with no change since the base holds only pages that the base's own
 * generation changed (K7: the base starts at its gen_low's first record) or
 * none.  Catches a query since the wrong LSN (an older generation's pages, or
 * the whole database) and an empty delta mishandled by the writer or apply.
 */
START_TEST(test_no_change_since_base)
{
	struct bank b;
	struct check_result r;
	struct db_header h;
	char *base, *full2, why[512];
	uint32_t *pages;
	size_t n;
	lsn_t first;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	roll_gens(&b, 1);
	hot_transfers(&b, 5);
	base = full_pit(&b);
	h = live_hdr(&b);
	/* What the base's own generation changed: the most a delta may hold now. */
	CK(pagetrack_gen_first_lsn(inst_of(b.inst), h.bk[BK_FULL_PREV].gen_low, &first, why, sizeof(why)));
	CK(pagetrack_changed_since(inst_of(b.inst), &h.sign_db, first, &pages, &n, why, sizeof(why)));
	full2 = delta_and_full2(&b, base, "no change since the base", &r);
	ck_assert_msg(r.dh.npages <= n, "the delta holds %u pages, the base's generation changed %zu", r.dh.npages, n);
	for (uint32_t i = 0; i < r.dh.npages; i++) {
		int found = 0;
		for (size_t k = 0; k < n && !found; k++)
			found = pages[k] == r.index[i];
		ck_assert_msg(found, "page %u is in the delta, but nothing changed it since the base's generation began",
		    r.index[i]);
	}
	ck_assert_msg(r.dh.npages < r.dh.pgno_last, "the delta holds every page (%u)", r.dh.npages);
	free(pages);
	free(r.index);
	rm_set(base);
	rm_set(full2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- 3. refusals and the external API ---- */

/*
 * Catches a delta without a base (it would be a delta "since nothing":
 * every page, or none), a delta set left half-written, a delta that is not
 * point-in-time or rides on an incremental, a delta listed under the
 * database's own name (a client would take it for an image), and a delta
 * that truncates logs.
 */
START_TEST(test_refusals_and_api)
{
	struct bank b;
	struct db_header h0, h1;
	char *dir, *names[MAXNAMES], *buf, *real, *want, *base;
	int n;
	JET_HANDLE hf;
	unsigned long lo, hi;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 5);
	/* No full recorded: refused, nothing written. */
	delta_refused(&b, JET_errMissingFullBackup, "no recorded full");
	/* An aborted full records no base either. */
	CK(JetBeginExternalBackupInstance(b.inst, PIT));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	delta_refused(&b, JET_errMissingFullBackup, "an aborted full");

	/* Bits: a delta is point-in-time and never incremental. */
	dir = tu_tempdir();
	CK_ERR(JetBackupInstance(b.inst, dir, JET_bitBackupJetfsDelta, NULL), JET_errInvalidGrbit);
	CK_ERR(JetBackupInstance(b.inst, dir, DELTA | JET_bitBackupIncremental, NULL), JET_errInvalidGrbit);
	CK_ERR(JetBackupInstance(b.inst, dir, JET_bitBackupJetfsDelta | JET_bitBackupIncremental, NULL),
	    JET_errInvalidGrbit);
	ck_assert_int_eq(count_files(dir), 0);
	rm_set(dir);
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsDelta), JET_errInvalidGrbit);
	CK_ERR(JetBeginExternalBackupInstance(b.inst, DELTA | JET_bitBackupIncremental), JET_errInvalidGrbit);
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsDelta | JET_bitBackupIncremental),
	    JET_errInvalidGrbit);

	/* With a base: Begin, the attach list names <path>.delta, the image is not there, no truncation. */
	base = full_pit(&b);
	hot_transfers(&b, 10);
	h0 = live_hdr(&b);
	CK(JetBeginExternalBackupInstance(b.inst, DELTA));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	real = real_of(b.dbpath);
	ck_assert(asprintf(&want, "%s%s", real, DELTA_SUFFIX) > 0);
	ck_assert_msg(n == 1 && strcmp(names[0], want) == 0, "the attach list of a delta holds %d names, first %s; "
	    "expected %s", n, n > 0 ? names[0] : "-", want);
	ck_assert_msg(JetOpenFileInstance(b.inst, b.dbpath, &hf, &lo, &hi) < 0,
	    "the database's image opened in a delta's session");
	ck_assert_msg(JetOpenFileInstance(b.inst, real, &hf, &lo, &hi) < 0,
	    "the database's image opened in a delta's session (real path)");
	CK(JetOpenFileInstance(b.inst, want, &hf, &lo, &hi));
	ck_assert_msg(lo >= 3 * page_size_of(b.inst) || hi > 0, "a delta of %lu bytes", lo);
	CK(JetCloseFileInstance(b.inst, hf));
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errInvalidBackupSequence);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	h1 = live_hdr(&b);
	ck_assert_bk_same(h0, h1, BK_FULL_PREV);
	ck_assert_bk_same(h0, h1, BK_INC_PREV);
	ck_assert_bk_same(h0, h1, BK_DIFF_PREV);
	/* After the aborted delta, a delta set is whole and right. */
	check_round(&b, base, "after an aborted delta", 1);
	free(buf);
	free(real);
	free(want);
	rm_set(base);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- 3b. the delta written out for direct readers, and without room for it ---- */

/* Whether the delta of the bank's database, opened in a delta session, is shared for direct reads. */
static JET_ERR
delta_shared(struct bank *b)
{
	char *real = real_of(b->dbpath), *name, *copy;
	struct backup_share sh;
	JET_HANDLE hf;
	unsigned long lo, hi;
	JET_ERR err;

	ck_assert(asprintf(&name, "%s%s", real, DELTA_SUFFIX) > 0);
	ck_assert(asprintf(&copy, "%s%s", real, DELTA_COPY_SUFFIX) > 0);
	CK(JetBeginExternalBackupInstance(b->inst, DELTA));
	CK(JetOpenFileInstance(b->inst, name, &hf, &lo, &hi));
	err = backup_share_file(inst_of(b->inst), hf, &sh);
	backup_share_free(&sh);
	/* Written out or not, nothing is left beside the database. */
	ck_assert_msg(!exists(copy), "%s is left beside the database", copy);
	CK(JetCloseFileInstance(b->inst, hf));
	CK(JetEndExternalBackupInstance2(b->inst, JET_bitBackupEndAbort));
	free(name);
	free(copy);
	free(real);
	return err;
}

/*
 * backup.c K7: the first open writes the delta out (an unlinked file, so
 * nothing is left beside the database) and readers get its descriptor;
 * when that would pass the free-space floor it is not written and the reads
 * go through the instance, with the same result.  Catches a delta copy left
 * on disk, one written without room, and a fallback that serves other bytes.
 */
START_TEST(test_delta_copy_and_no_room)
{
	struct bank b;
	char *base;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	base = full_pit(&b);
	hot_transfers(&b, 20);
	CK(delta_shared(&b));
	/* The database's file system "has" 1 MiB free: below the 64 MiB floor. */
	os_fault_free_space(1u << 20, "bank.edb");
	CK_ERR(delta_shared(&b), JET_errFeatureNotAvailable);
	{
		struct check_result r;
		char *delta, *full2;
		JET_ERR err = take_delta(&b, &delta);
		os_fault_free_space(UINT64_MAX, NULL);
		ck_assert_msg(err >= 0, "a delta without room to write it out -> %s", JetErrorName(err));
		full2 = full_pit(&b);
		self_check(base, delta, full2, "a delta read through the instance", &r);
		free(r.index);
		rm_set(delta);
		rm_set(full2);
	}
	rm_set(base);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- 4. a tracking gap fails closed ---- */

/*
 * Catches a query that skips a generation with neither log nor summary (the
 * delta would silently lack its pages), a damaged summary trusted or reset
 * to empty (WiredTiger WT-10551), and a damaged summary with its log present
 * that is not rebuilt (a needless refusal) or rebuilt wrong.
 */
START_TEST(test_tracking_gap)
{
	struct bank b;
	char *base, *inc = tu_tempdir(), *sum = NULL, *saved, *sum2 = NULL;
	uint8_t *good, *bad, *now;
	size_t lg, lb, ln;
	uint32_t low, gap = 0, live = 0, cur;
	struct stat st;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 10);
	base = full_pit(&b);
	low = live_hdr(&b).bk[BK_FULL_PREV].gen_low;
	for (int i = 0; i < 5; i++) {
		hot_transfers(&b, 10);
		roll_gens(&b, 1);
	}
	/* A checkpoint at the current generation: the incremental truncates the logs after the base's. */
	CK(checkpoint_run(inst_of(b.inst), 1));
	CK(JetBackupInstance(b.inst, inc, JET_bitBackupIncremental, NULL));
	hot_transfers(&b, 10);
	roll_gens(&b, 2);
	hot_transfers(&b, 5);
	cur = cur_gen(b.inst);
	/* A generation after the base whose log the incremental truncated, and one whose log is still there. */
	for (uint32_t g = low + 1; g < cur; g++) {
		char *s = summary_of(b.dir, g);
		if (!gen_exists(b.dir, g) && exists(s) && gap == 0 && g + 1 < cur)
			gap = g;
		if (gen_exists(b.dir, g) && exists(s))
			live = g;
		free(s);
	}
	ck_assert_msg(gap > low && live > gap, "no generation to damage: base gen %u, current %u, gap %u, live %u", low,
	    cur, gap, live);
	sum = summary_of(b.dir, gap);
	saved = tu_path(inc, "saved.jps");
	tu_copy_file(sum, saved);
	good = slurp(sum, &lg);

	/* Deleted: a gap. */
	ck_assert(unlink(sum) == 0);
	delta_refused(&b, JET_errMissingLogFile, "a summary deleted, its log gone");
	ck_assert_msg(!exists(sum), "a summary was made up for generation %u without its log", gap);

	/* One byte flipped (the low byte of the last page number it lists): refused, and left as it is. */
	tu_copy_file(saved, sum);
	ck_assert(stat(sum, &st) == 0 && st.st_size > 72 + 12);
	tu_flip_byte(sum, (long)st.st_size - 12);
	bad = slurp(sum, &lb);
	delta_refused(&b, JET_errLogFileCorrupt, "a summary damaged, its log gone");
	now = slurp(sum, &ln);
	ck_assert_msg(ln == lb && memcmp(now, bad, lb) == 0, "the damaged summary of generation %u was reset or "
	    "rewritten without its log", gap);
	free(now);

	/* Put back: the delta works again; then damage one whose log is there: rebuilt, the self-check passes. */
	tu_copy_file(saved, sum);
	sum2 = summary_of(b.dir, live);
	tu_flip_byte(sum2, file_size(sum2) - 12);
	check_round(&b, base, "a summary damaged, its log present", 1);
	free(good);
	free(bad);
	free(saved);
	free(sum);
	free(sum2);
	rm_set(base);
	rm_set(inc);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- 5. crashes ---- */

enum crash_kind { CRASH_WRITER, CRASH_AFTER_ROLL, CRASH_BEFORE_SUMMARY, CRASH_DB_WRITE, CRASH_DB_TORN, NCRASH };

static const char *const crash_names[NCRASH] = {
	"abrupt exit with the writer running", "right after a log roll", "between a roll and its summary",
	"at a database page write", "a torn database page write",
};

/* The child: runs the bank with the writer thread and dies at the crash point. */
static void
crash_child(struct bank *b, enum crash_kind k)
{
	struct writer w;

	bank_restart(b);
	switch (k) {
	case CRASH_WRITER:
		writer_start(&w, b);
		writer_wait(&w, 150);
		hot_transfers(b, 5);
		_exit(OS_CRASH_EXIT_STATUS);
	case CRASH_AFTER_ROLL:
		hot_transfers(b, 20);
		roll_gens(b, 1);
		_exit(OS_CRASH_EXIT_STATUS);
	case CRASH_BEFORE_SUMMARY:
		os_fault_arm(OS_FAULT_CRASH, 1, 0, 0, ".jps");
		writer_start(&w, b);
		hot_transfers(b, 30);
		roll_gens(b, 3);
		break;
	case CRASH_DB_WRITE:
	case CRASH_DB_TORN:
		os_fault_arm(k == CRASH_DB_WRITE ? OS_FAULT_CRASH : OS_FAULT_TORN, 20, 0, 0, "bank.edb");
		writer_start(&w, b);
		for (int i = 0; i < 2000; i++) {
			hot_transfers(b, 2);
			grow(b, 10000 * (int)k + i, 1);
		}
		break;
	default:
		break;
	}
	_exit(0);	/* no crash: the parent fails the test */
}

/*
 * A base full, a run that dies abruptly at a crash point, recovery, more
 * writes, then delta + full 2: for each crash point, the previous round's
 * full 2 is the base.  Catches changes redone by recovery but not tracked
 * (recovery rebuilding the current generation's set from the wrong place),
 * a summary lost at a crash between a roll and its write and never rebuilt,
 * and a generation closed by recovery whose records before the crash vanish
 * from the tracking.
 */
START_TEST(test_crash_points)
{
	struct bank b;
	char *base;

	bank_create(&b, CACHE_SMALL, 0);
	transfers(&b, 20);
	base = full_pit(&b);
	bank_term(&b);
	for (int k = 0; k < NCRASH; k++) {
		struct check_result r;
		char *full2;
		pid_t pid;
		int status;

		pid = fork();
		ck_assert(pid >= 0);
		if (pid == 0)
			crash_child(&b, (enum crash_kind)k);
		ck_assert(waitpid(pid, &status, 0) == pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == OS_CRASH_EXIT_STATUS,
		    "%s: the child did not crash (status %d)", crash_names[k], status);
		bank_restart(&b);
		(void)bank_check(b.ses, b.dbid, b.t);
		hot_transfers(&b, 15);
		full2 = delta_and_full2(&b, base, crash_names[k], &r);
		expect_small(&r, crash_names[k]);
		free(r.index);
		rm_set(base);
		base = full2;
		bank_term(&b);
	}
	rm_set(base);
	bank_free(&b);
}
END_TEST

/* ---- 6. circular logging ---- */

/*
 * Circular logging deletes the base's generations.  Catches a log deleted
 * before its summary was ensured (P1), summaries pruned below a recorded
 * full's gen_low (P5), and a delta refused or incomplete once the logs are
 * gone.
 */
START_TEST(test_circular)
{
	struct bank b;
	char *base;
	uint32_t low;

	bank_create(&b, CACHE_PAGES, 1);
	transfers(&b, 20);
	base = full_pit(&b);
	low = live_hdr(&b).bk[BK_FULL_PREV].gen_low;
	ck_assert(low != 0);
	for (int i = 0; i < 8; i++) {
		hot_transfers(&b, 15);
		roll_gens(&b, 1);
	}
	grow(&b, 0, 20);
	CK(checkpoint_run(inst_of(b.inst), 0));
	ck_assert_msg(!gen_exists(b.dir, low) && !gen_exists(b.dir, low + 1),
	    "circular logging kept the base's generations %u, %u (current %u)", low, low + 1, cur_gen(b.inst));
	check_round(&b, base, "circular logging", 1);
	rm_set(base);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- 7. an ESE-mode base ---- */

/* A writer thread of hot transfers only (bankutil's writer touches every account). */
struct hot_writer {
	struct bank b;			/* its own session and table on the bank's instance */
	pthread_t thread;
	atomic_int stop;
	atomic_ullong done;
};

static void *
hot_writer_main(void *arg)
{
	struct hot_writer *w = arg;

	while (!atomic_load(&w->stop)) {
		hot_transfers(&w->b, 1);
		atomic_fetch_add(&w->done, 1);
	}
	return NULL;
}

static void
hot_writer_start(struct hot_writer *w, struct bank *b)
{
	memset(w, 0, sizeof(*w));
	w->b.inst = b->inst;
	w->b.seed = 31337;
	CK(JetBeginSession(b->inst, &w->b.ses, NULL, NULL));
	CK(JetOpenDatabase(w->b.ses, b->dbpath, NULL, &w->b.dbid, 0));
	CK(JetOpenTable(w->b.ses, w->b.dbid, "t", NULL, 0, 0, &w->b.t));
	ck_assert(pthread_create(&w->thread, NULL, hot_writer_main, w) == 0);
}

static void
hot_writer_wait(void *arg)
{
	struct hot_writer *w = arg;
	unsigned long long target = atomic_load(&w->done) + 3;
	struct timespec ts = { 0, 200000 };

	while (atomic_load(&w->done) < target)
		nanosleep(&ts, NULL);
}

static void
hot_writer_stop(struct hot_writer *w)
{
	atomic_store(&w->stop, 1);
	ck_assert(pthread_join(w->thread, NULL) == 0);
	CK(JetEndSession(w->b.ses, 0));
}

/*
 * The base is an ESE-mode full, copied from disk while a writer runs: its
 * pages are fuzzy, as of any moment between the checkpoint at its gen_low and
 * the end of the copy.  Before Begin, transfers over every account leave
 * pages changed after the checkpoint but not yet written (a cache that holds
 * the database, a deep checkpoint); the writer during the copy touches the
 * hot accounts only, so those cold pages are not changed again.  Catches a
 * delta since the base's mark instead of its gen_low's first record (K7):
 * the cold pages would be stale in the base and missing from the delta.
 */
START_TEST(test_ese_base)
{
	struct bank b;
	struct hot_writer w;
	struct bkrun run = { .grbit = 0, .truncate = 1 };
	struct db_header h;
	char *base = tu_tempdir();
	lsn_t first;
	char why[256];

	bank_create(&b, CACHE_PAGES * 4, 0);
	transfers(&b, 10);
	CK(checkpoint_run(inst_of(b.inst), 1));
	roll_gens(&b, 1);
	transfers(&b, 300);
	hot_writer_start(&w, &b);
	hot_writer_wait(&w);
	run.between = hot_writer_wait;
	run.arg = &w;
	ese_backup(b.inst, base, &run);
	hot_writer_wait(&w);
	hot_writer_stop(&w);
	h = live_hdr(&b);
	ck_assert_msg(!bk_is_zero(&h.bk[BK_FULL_PREV]), "the ESE-mode full was not recorded");
	CK(pagetrack_gen_first_lsn(inst_of(b.inst), h.bk[BK_FULL_PREV].gen_low, &first, why, sizeof(why)));
	ck_assert_msg(first < h.bk[BK_FULL_PREV].lsn_mark, "the base's gen_low %u starts at its mark: no fuzzy span",
	    h.bk[BK_FULL_PREV].gen_low);
	hot_transfers(&b, 10);
	check_round(&b, base, "an ESE-mode base", 0);
	rm_set(base);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- 8. logging off, a new log set ---- */

/* Removes the log set of dir: its logs and checkpoint; its page summaries too if all. */
static void
remove_log_set(const char *dir, int all)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char *p;
		if (strncmp(de->d_name, "edb", 3) != 0 || n < 5 ||
		    (strcmp(de->d_name + n - 4, ".log") != 0 && strcmp(de->d_name + n - 4, ".chk") != 0 &&
		    (!all || strcmp(de->d_name + n - 4, ".jps") != 0)))
			continue;
		p = tu_path(dir, de->d_name);
		ck_assert_msg(unlink(p) == 0, "cannot remove %s", p);
		free(p);
	}
	closedir(d);
}

/*
 * A run with JET_paramRecovery off changes pages no log names.  Catches a
 * delta that trusts the summaries around that run (its changes are in
 * none).  The database then belongs to no log set: the next run with
 * logging on starts a new one (the old logs removed, the summaries and the
 * marker <base>nolog.jps left, as an admin does).  The run's attach voids
 * the header's backups (no base: refused), and the first full after it is a
 * base again (the marker goes).
 */
START_TEST(test_logging_off)
{
	struct bank b;
	char *base;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 10);
	base = full_pit(&b);
	hot_transfers(&b, 10);
	bank_term(&b);
	bank_open_recovery(&b, "off");
	hot_transfers(&b, 20);
	bank_term(&b);
	remove_log_set(b.dir, 0);
	bank_open_recovery(&b, "on");
	hot_transfers(&b, 5);
	roll_gens(&b, 2);
	/* The attach with logging off voided the recorded full (event 247): no base, whatever the marker says. */
	ck_assert_msg(live_hdr(&b).bk[BK_FULL_PREV].lsn_mark == 0, "the full recorded before the run with logging off "
	    "is still the base");
	delta_refused(&b, JET_errMissingFullBackup, "a run with logging off since the base");
	/* A full taken after that run is a sound base: it removes the marker, and its delta passes the self-check. */
	rm_set(base);
	base = full_pit(&b);
	{
		char *marker = tu_path(b.dir, "edbnolog.jps");
		ck_assert_msg(access(marker, F_OK) != 0, "%s outlived a full recorded in every database", marker);
		free(marker);
	}
	hot_transfers(&b, 10);
	check_round(&b, base, "a full after the run with logging off", 1);
	rm_set(base);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/*
 * After a clean shutdown the admin removes the log set (logs, checkpoint,
 * summaries) and the database goes on in a new one, whose generations and
 * LSNs start again.  The base full's bk[BK_FULL_PREV] names generations and
 * an LSN of the OLD log set.  Catches a delta that reads the new set's
 * summaries from the old base's generation number and LSN on: it misses the
 * changes made in the new set before them (found by this test: 12 of 33
 * changed pages missing; fixed in bk_delta_pages, which now refuses a base
 * older than the current log set with JET_errBadLogSignature).  delta_apply
 * refuses such a delta by its log signature, so the comparison here is by
 * hand (each page that differs between the base and full 2 must be in the
 * index) before the self-check: the backup itself must not report success
 * for a delta that lacks pages.  Refused or right, never silently wrong.
 */
START_TEST(test_new_log_set)
{
	struct bank b;
	struct check_result r;
	struct db_header h;
	char *base, *delta, *full2;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 10);
	roll_gens(&b, 3);
	base = full_pit(&b);
	hot_transfers(&b, 10);
	bank_term(&b);
	remove_log_set(b.dir, 1);
	bank_restart(&b);
	/* The new set: from generation 1 again, as far as the old base's generations and beyond. */
	for (int i = 0; i < 6; i++) {
		hot_transfers(&b, 10);
		grow(&b, 10 * i, 3);
		roll_gens(&b, 1);
	}
	h = live_hdr(&b);
	err = take_delta(&b, &delta);
	if (err < 0) {
		/* Refused: nothing recorded, nothing left. */
		struct db_header h1 = live_hdr(&b);
		ck_assert_bk_same(h, h1, BK_DIFF_PREV);
	} else {
		char *dp = tu_path(delta, "bank.edb.delta"), *i1p = tu_path(base, "bank.edb"), *i2p, msg[512];
		uint8_t *dd, *i1, *i2;
		size_t ld, l1, l2;
		uint32_t missing = 0, first_missing = 0, ps, changed = 0;
		full2 = full_pit(&b);
		i2p = tu_path(full2, "bank.edb");
		CK(delta_verify(dp, &r.dh, msg, sizeof(msg)));
		dd = slurp(dp, &ld);
		i1 = slurp(i1p, &l1);
		i2 = slurp(i2p, &l2);
		ps = r.dh.page_size;
		for (uint32_t p = 1; p <= r.dh.pgno_last; p++) {
			uint64_t off = page_offset(p, ps);
			int in = 0;
			if (off + ps <= l1 && memcmp(i1 + off, i2 + off, ps) == 0)
				continue;
			changed++;
			for (uint32_t i = 0; i < r.dh.npages && !in; i++)
				in = get32(dd + (size_t)DELTA_INDEX_PAGE * ps + (size_t)i * DELTA_ENTRY_SIZE) == p;
			if (!in && missing++ == 0)
				first_missing = p;
		}
		ck_assert_msg(missing == 0, "a delta across a new log set was taken (base mark %llu gens %u-%u, "
		    "delta mark %llu gens %u-%u) and misses %u of the %u pages changed since the base (first: page %u)",
		    (unsigned long long)r.dh.base.lsn_mark, r.dh.base.gen_low, r.dh.base.gen_high,
		    (unsigned long long)r.dh.mark.lsn_mark, r.dh.mark.gen_low, r.dh.mark.gen_high, missing, changed,
		    first_missing);
		self_check(base, delta, full2, "a new log set since the base", &r);
		free(r.index);
		free(dd);
		free(i1);
		free(i2);
		free(dp);
		free(i1p);
		free(i2p);
		rm_set(full2);
	}
	rm_set(delta);
	rm_set(base);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- 9. a restored database goes on ---- */

static void
copy_summaries(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *de;

	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char *a, *t;
		if (n < 5 || strcmp(de->d_name + n - 4, ".jps") != 0)
			continue;
		a = tu_path(from, de->d_name);
		t = tu_path(to, de->d_name);
		tu_copy_file(a, t);
		free(a);
		free(t);
	}
	closedir(d);
}

/*
 * The original runs past generation S after its full; a restore stops at S
 * (a new timeline from there), with the original's summaries left in the
 * restored log directory (a restore into the original's directory), and the
 * restored database keeps running.  Catches the PostgreSQL timeline bug: a
 * delta of the restored database against the original's full, or one whose
 * tracking takes the old timeline's pages for generations the new timeline
 * reuses.  The engine refuses the delta against the original's full
 * (restore clears the backup slots: no recorded full); a new full of the
 * restored instance is a base whose delta must pass the self-check.
 */
START_TEST(test_restored_timeline)
{
	struct bank b, rb;
	char *full = NULL, *inc = tu_tempdir(), *target = tu_tempdir(), *base;
	const char *sets[2];
	uint32_t stop;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 10);
	full = full_pit(&b);
	hot_transfers(&b, 10);
	roll_gens(&b, 2);
	stop = cur_gen(b.inst) - 1;
	/* The old timeline's future: other pages in the generations the new one will reuse. */
	for (int i = 0; i < 4; i++) {
		transfers(&b, 20);
		grow(&b, 100 * i, 10);
		roll_gens(&b, 1);
	}
	CK(JetBackupInstance(b.inst, inc, JET_bitBackupIncremental, NULL));
	bank_term(&b);
	sets[0] = full;
	sets[1] = inc;
	CK(JetfsRestoreSets(sets, 2, target, NULL, stop, NULL));
	copy_summaries(b.dir, target);

	memset(&rb, 0, sizeof(rb));
	rb.dir = target;
	rb.dbpath = tu_path(target, "bank.edb");
	rb.cache = CACHE_PAGES;
	rb.seed = 99;
	bank_restart(&rb);
	(void)bank_check(rb.ses, rb.dbid, rb.t);
	hot_transfers(&rb, 10);
	if (bk_is_zero(&live_hdr(&rb).bk[BK_FULL_PREV]))
		delta_refused(&rb, JET_errMissingFullBackup, "the restored database against the original's full");
	else {
		/* The engine keeps the original full as the base: the delta must then be right against it. */
		check_round(&rb, full, "the restored database against the original's full", 0);
	}
	/* A full of the new timeline, a few generations of it, then delta + full 2. */
	base = full_pit(&rb);
	for (int i = 0; i < 3; i++) {
		hot_transfers(&rb, 10);
		roll_gens(&rb, 1);
	}
	hot_transfers(&rb, 5);
	check_round(&rb, base, "a full of the restored database", 1);
	rm_set(base);
	bank_term(&rb);
	free(rb.dbpath);
	rm_set(target);
	rm_set(full);
	rm_set(inc);
	bank_free(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("deltabackup");

	tu_add_test(s, "basic", test_basic, 180);
	tu_add_test(s, "first_record_after_base", test_first_record_after_base, 120);
	tu_add_test(s, "no_change_since_base", test_no_change_since_base, 120);
	tu_add_test(s, "refusals_and_api", test_refusals_and_api, 120);
	tu_add_test(s, "tracking_gap", test_tracking_gap, 180);
	tu_add_test(s, "crash_points", test_crash_points, 600);
	tu_add_test(s, "circular", test_circular, 180);
	tu_add_test(s, "ese_base", test_ese_base, 240);
	tu_add_test(s, "delta_copy_and_no_room", test_delta_copy_and_no_room, 120);
	tu_add_test(s, "logging_off", test_logging_off, 120);
	tu_add_test(s, "new_log_set", test_new_log_set, 120);
	tu_add_test(s, "restored_timeline", test_restored_timeline, 300);
	return tu_run(s);
}
