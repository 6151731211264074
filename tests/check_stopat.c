/*
 * check_stopat.c -- restore to a moment (JetfsRestoreSetsStopAt, restore.c)
 * and the commit time of log format 2 it reads (log.c, txn.c).
 *
 * The chain: a full set after C0 transfers, then NT transfers, each timed
 * from before its JetBeginTransaction to after its JetCommitTransaction and
 * each after a lazy commit of row "note" (so that one segment holds the note
 * and the transfer, and a stop at the transfer cuts a segment), then an
 * incremental set.  The exact commit time of each transfer is read back
 * from the incremental set's logs (one transaction record per transfer):
 * restore stops exactly at a commit's time (inclusive), one microsecond
 * before it (exclusive), and refuses a moment before the full set's
 * consistent point or after the last commit, writing nothing.
 *
 * Check runs each test in a child process.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bankutil.h"

#define C0 20
#define NT 12

struct chain {
	struct bank b;
	char *full, *inc;
	uint64_t c0;			/* the counter in the full set */
	uint64_t before[NT], after[NT];	/* around transfer i (counter c0 + i + 1) */
	uint64_t commit[NT];		/* its commit time, from the log */
	uint64_t early;			/* a moment among the transfers before the full set */
};

/* The logs of a set, as a reader's file list (generations are consecutive in a set). */
static size_t
set_logs(const char *dir, char **paths, uint32_t *firstp)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint32_t gens[MAXNAMES], gen;
	size_t n = 0;

	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (log_parse_name("edb", de->d_name, &gen) && n < MAXNAMES)
			gens[n++] = gen;
	closedir(d);
	ck_assert(n > 0);
	*firstp = gens[0];
	for (size_t i = 1; i < n; i++)
		if (gens[i] < *firstp)
			*firstp = gens[i];
	for (size_t i = 0; i < n; i++)
		paths[i] = gen_path(dir, *firstp + (uint32_t)i);
	return n;
}

/* The commit times of the transactions in a set's logs, in log order. */
static size_t
set_commit_times(const char *dir, uint64_t *times, size_t max)
{
	char *paths[MAXNAMES];
	uint32_t first;
	size_t n = set_logs(dir, paths, &first), k = 0;
	struct log_reader r;
	struct log_commit c;
	JET_ERR err = JET_errSuccess;
	int rc;

	CK(log_reader_open_files(&r, NULL, "edb", (const char *const *)paths, first, n, NULL));
	while ((rc = log_reader_next_commit(&r, &c, &err)) == 1) {
		ck_assert_msg(c.timed, "a transaction of format 2 without a time");
		ck_assert(k < max);
		times[k++] = c.time;
	}
	ck_assert_msg(rc == 0, "log_reader_next_commit -> %s", JetErrorName(err));
	log_reader_close(&r);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	return k;
}

/* Row "note" of the bank's table set to v, by a commit that does not wait for the log. */
static void
note_lazily(struct bank *b, uint64_t v)
{
	uint8_t val[8];

	put64(val, v);
	CK(JetBeginTransaction(b->ses));
	CK(kv_put(b->ses, b->t, "note", val, 8, v == 1));
	CK(JetCommitTransaction(b->ses, JET_bitCommitLazyFlush));
}

/* Row "note" of the restored instance in dir (0: none). */
static uint64_t
note_of(const char *dir)
{
	JET_INSTANCE inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	char *path = tu_path(dir, "bank.edb");
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	uint8_t val[8];
	JET_ERR err;

	CK(JetInit(&inst));
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	CK(JetOpenDatabase(ses, path, NULL, &dbid, 0));
	CK(JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t));
	err = kv_get(ses, t, "note", val, 8);
	if (err == JET_errRecordNotFound)
		put64(val, 0);
	else
		CK(err);
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	free(path);
	return get64(val);
}

static void
chain_make(struct chain *ch)
{
	uint64_t times[4096];
	size_t n, k = 0;
	unsigned seed = 7;

	memset(ch, 0, sizeof(*ch));
	ch->full = tu_tempdir();
	ch->inc = tu_tempdir();
	bank_create(&ch->b, CACHE_PAGES, 0);
	transfers(&ch->b, C0 / 2);
	ch->early = dbhdr_time_now_us();
	transfers(&ch->b, C0 - C0 / 2);
	CK(JetBackupInstance(ch->b.inst, ch->full, 0, NULL));
	ch->c0 = bank_counter(&ch->b);
	for (int i = 0; i < NT; i++) {
		uint64_t c;
		note_lazily(&ch->b, (uint64_t)i + 1);
		ch->before[i] = dbhdr_time_now_us();
		CK(transfer(ch->b.ses, ch->b.t, &seed, &c));
		ch->after[i] = dbhdr_time_now_us();
		ck_assert_uint_eq(c, ch->c0 + (uint64_t)i + 1);
	}
	CK(JetBackupInstance(ch->b.inst, ch->inc, JET_bitBackupIncremental, NULL));
	/* Each transfer is one transaction record, logged between the times taken around it. */
	n = set_commit_times(ch->inc, times, sizeof(times) / sizeof(times[0]));
	for (size_t j = 0; j < n; j++) {
		if (j > 0)
			ck_assert_msg(times[j] >= times[j - 1], "commit times decrease in log order");
		if (k < NT && times[j] >= ch->before[k] && times[j] <= ch->after[k])
			ch->commit[k++] = times[j];
	}
	ck_assert_msg(k == NT, "found the commit times of %zu transfers of %d in the log", k, NT);
}

static void
chain_free(struct chain *ch)
{
	bank_term(&ch->b);
	bank_free(&ch->b);
	tu_rmdir(ch->full);
	tu_rmdir(ch->inc);
	free(ch->full);
	free(ch->inc);
}

/* JetfsRestoreSetsStopAt of the chain (rolled forward through rollfwd if not NULL) to moment t, into target. */
static JET_ERR
restore_into(struct chain *ch, const char *target, const char *rollfwd, uint64_t t, JET_JETFSSTOPAT *sa)
{
	const char *sets[2] = { ch->full, ch->inc };

	memset(sa, 0, sizeof(*sa));
	sa->cbStruct = sizeof(*sa);
	sa->usStopAt = t;
	return JetfsRestoreSetsStopAt(sets, 2, target, rollfwd, sa, NULL);
}

/*
 * Restores the chain to moment t: the error, the stop info, and (if it
 * succeeded) the counter and the note restored.
 */
static JET_ERR
restore_at(struct chain *ch, uint64_t t, JET_JETFSSTOPAT *sa, uint64_t *counterp, uint64_t *notep, int *nfilesp)
{
	char *target = tu_tempdir();
	JET_ERR err = restore_into(ch, target, NULL, t, sa);

	*nfilesp = count_files(target);
	if (err >= 0) {
		*counterp = open_restored(target);
		*notep = note_of(target);
	}
	tu_rmdir(target);
	free(target);
	return err;
}

static uint64_t
restored_counter_at(struct chain *ch, uint64_t t, JET_JETFSSTOPAT *sa, uint64_t *notep)
{
	uint64_t c = 0;
	int nfiles;
	JET_ERR err = restore_at(ch, t, sa, &c, notep, &nfiles);

	ck_assert_msg(err == JET_errSuccess, "restore to %llu -> %s", (unsigned long long)t, JetErrorName(err));
	return c;
}

/* Inclusive: stopping exactly at a commit's time keeps it; a microsecond earlier does not. */
START_TEST(test_stop_at_commit_time)
{
	struct chain ch;
	JET_JETFSSTOPAT sa;
	uint64_t note;
	int k = NT / 2;

	chain_make(&ch);
	ck_assert_uint_eq(restored_counter_at(&ch, ch.commit[k], &sa, &note), ch.c0 + (uint64_t)k + 1);
	ck_assert_uint_eq(sa.usLastReplayed, ch.commit[k]);
	ck_assert_uint_eq(note, (uint64_t)k + 1);
	/* The note committed just before transfer k, in the segment the stop cuts, is kept. */
	ck_assert_uint_eq(restored_counter_at(&ch, ch.commit[k] - 1, &sa, &note), ch.c0 + (uint64_t)k);
	ck_assert_uint_eq(note, (uint64_t)k + 1);
	ck_assert_uint_lt(sa.usLastReplayed, ch.commit[k]);
	ck_assert_uint_gt(sa.usLastReplayed, ch.commit[k - 1]);
	/* Between two transfers, by the times taken around them: the one before is in, the one after is not. */
	ck_assert_uint_eq(restored_counter_at(&ch, ch.after[2], &sa, &note), ch.c0 + 3);
	chain_free(&ch);
}
END_TEST

/*
 * Where a restore to a moment stopped, the restored log ends (an END
 * segment): the records after it are never replayed, the instance goes on
 * from there and recovers again as any.
 */
START_TEST(test_stopped_log_goes_on)
{
	struct chain ch;
	char *target = tu_tempdir();
	JET_JETFSSTOPAT sa;
	struct bank r;
	uint64_t c;

	chain_make(&ch);
	/* In the segment of note 4 and transfer 3: a cut. */
	CK(restore_into(&ch, target, NULL, ch.commit[3] - 1, &sa));
	ck_assert_uint_eq(open_restored(target), ch.c0 + 3);
	/* More transfers on the restored instance, a restart: the counter goes on from c0 + 3. */
	memset(&r, 0, sizeof(r));
	r.dir = target;
	r.dbpath = tu_path(target, "bank.edb");
	r.cache = CACHE_PAGES;
	bank_restart(&r);
	transfers(&r, 5);
	c = bank_counter(&r);
	ck_assert_uint_eq(c, ch.c0 + 8);
	bank_term(&r);
	ck_assert_uint_eq(open_restored(target), c);
	/* The restored log reads on from the stop: the 5 transfers since, none of those after the stop. */
	{
		struct log_reader lr;
		struct log_commit lc;
		JET_ERR err = JET_errSuccess;
		int rc, n = 0;
		CK(log_reader_open(&lr, NULL, target, "edb", sa.genStop, 0, NULL));
		while ((rc = log_reader_next_commit(&lr, &lc, &err)) == 1) {
			ck_assert_msg(lc.time < ch.commit[3] || lc.time > ch.after[NT - 1],
			    "a transfer after the stop is still in the restored log");
			n += lc.time > ch.commit[3];
		}
		ck_assert_msg(rc == 0, "the restored log does not read on from the stop: %s", JetErrorName(err));
		ck_assert_int_eq(n, 5);
		log_reader_close(&lr);
	}
	free(r.dbpath);
	tu_rmdir(target);
	free(target);
	chain_free(&ch);
}
END_TEST

/* Before the consistent point: refused with it, nothing written; the consistent point itself restores the full set. */
START_TEST(test_before_consistent_point)
{
	struct chain ch;
	JET_JETFSSTOPAT sa;
	uint64_t c = 0, note = 0;
	int nfiles;

	chain_make(&ch);
	CK_ERR(restore_at(&ch, ch.early, &sa, &c, &note, &nfiles), JET_errEndingRestoreLogTooLow);
	ck_assert_int_eq(nfiles, 0);
	ck_assert_msg(sa.usConsistent > ch.early && sa.usConsistent < ch.before[0],
	    "consistent point %llu, not between %llu and %llu", (unsigned long long)sa.usConsistent,
	    (unsigned long long)ch.early, (unsigned long long)ch.before[0]);
	CK_ERR(restore_at(&ch, sa.usConsistent - 1, &sa, &c, &note, &nfiles), JET_errEndingRestoreLogTooLow);
	ck_assert_int_eq(nfiles, 0);
	ck_assert_uint_eq(restored_counter_at(&ch, sa.usConsistent, &sa, &note), ch.c0);
	chain_free(&ch);
}
END_TEST

/* Beyond the last commit: refused with how far it could go, nothing written; the last commit itself is all. */
START_TEST(test_beyond_end)
{
	struct chain ch;
	JET_JETFSSTOPAT sa;
	uint64_t c = 0, note = 0;
	int nfiles;

	chain_make(&ch);
	CK_ERR(restore_at(&ch, ch.commit[NT - 1] + 1, &sa, &c, &note, &nfiles), JET_errMissingRestoreLogFiles);
	ck_assert_int_eq(nfiles, 0);
	ck_assert_uint_eq(sa.usLastCommit, ch.commit[NT - 1]);
	CK_ERR(restore_at(&ch, ch.after[NT - 1] + 60 * 1000000ULL, &sa, &c, &note, &nfiles), JET_errMissingRestoreLogFiles);
	ck_assert_int_eq(nfiles, 0);
	ck_assert_uint_eq(restored_counter_at(&ch, ch.commit[NT - 1], &sa, &note), ch.c0 + NT);
	chain_free(&ch);
}
END_TEST

/*
 * Rolled forward into the live log of a running instance: a moment in its
 * current generation, <base>.log, and one after its last commit (refused:
 * the live log has not committed anything later yet).
 */
START_TEST(test_roll_forward_to_moment)
{
	struct chain ch;
	char *target = tu_tempdir();
	JET_JETFSSTOPAT sa;
	uint64_t t;

	chain_make(&ch);
	transfers(&ch.b, 3);
	t = dbhdr_time_now_us();
	transfers(&ch.b, 4);
	CK(restore_into(&ch, target, ch.b.dir, t, &sa));
	ck_assert_uint_eq(sa.genStop, cur_gen(ch.b.inst));
	ck_assert_uint_eq(open_restored(target), ch.c0 + NT + 3);
	tu_rmdir(target);
	CK_ERR(restore_into(&ch, target, ch.b.dir, dbhdr_time_now_us() + 1000000, &sa), JET_errMissingRestoreLogFiles);
	ck_assert_int_eq(count_files(target), 0);
	tu_rmdir(target);
	free(target);
	chain_free(&ch);
}
END_TEST

START_TEST(test_bad_parameters)
{
	const char *sets[1] = { "/nonexistent" };
	JET_JETFSSTOPAT sa = { sizeof(sa), 1, 0, 0, 0, 0 };
	char *target = tu_tempdir();

	CK_ERR(JetfsRestoreSetsStopAt(sets, 1, target, NULL, NULL, NULL), JET_errInvalidParameter);
	sa.cbStruct = sizeof(sa) - 1;
	CK_ERR(JetfsRestoreSetsStopAt(sets, 1, target, NULL, &sa, NULL), JET_errInvalidParameter);
	sa.cbStruct = sizeof(sa);
	sa.usStopAt = 0;
	CK_ERR(JetfsRestoreSetsStopAt(sets, 1, target, NULL, &sa, NULL), JET_errInvalidParameter);
	ck_assert_int_eq(count_files(target), 0);
	tu_rmdir(target);
	free(target);
}
END_TEST

/* ---- log format 1: generations written before commit times ---- */

/* A log file of generation gen and format version, holding one segment of the records given. */
static void
write_gen(const char *path, uint32_t gen, uint32_t version, uint64_t time_prev, uint64_t time_create,
    const struct jet_sig *sign, lsn_t first_lsn, const uint8_t *recs, uint32_t len)
{
	struct log_file_header h;
	uint8_t *buf = calloc(1, LOG_FILE_SIZE_MIN);
	uint8_t *seg = buf + LOG_HDR_SIZE, *end;
	FILE *f;

	ck_assert(buf != NULL);
	memset(&h, 0, sizeof(h));
	h.gen = gen;
	h.file_size = LOG_FILE_SIZE_MIN;
	h.page_size = 8192;
	h.time_create = time_create;
	h.time_prev = time_prev;
	h.sign_log = *sign;
	h.first_lsn = h.first_record_lsn = first_lsn;
	memcpy(h.base, "edb", 4);
	log_header_encode(&h, buf);
	put32(buf + FMT_OFF_VERSION, version);
	put32(buf, crc32c(0, buf + 4, LOG_HDR_SIZE - 4));
	put32(seg + SEG_OFF_MAGIC, SEG_MAGIC);
	put32(seg + SEG_OFF_GEN, gen);
	put32(seg + SEG_OFF_LEN, len);
	put64(seg + SEG_OFF_LSN, first_lsn);
	memcpy(seg + LOG_SEG_HDR, recs, len);
	put32(seg + SEG_OFF_CRC, crc32c(0, seg + SEG_OFF_GEN, LOG_SEG_HDR - SEG_OFF_GEN + len));
	end = seg + ((LOG_SEG_HDR + len + LOG_SECTOR - 1) / LOG_SECTOR) * LOG_SECTOR;
	put32(end + SEG_OFF_MAGIC, SEG_MAGIC);
	put32(end + SEG_OFF_GEN, gen);
	put32(end + SEG_OFF_FLAGS, SEGF_END);
	put32(end + SEG_OFF_SEQ, 1);
	put64(end + SEG_OFF_LSN, first_lsn + len);
	put32(end + SEG_OFF_CRC, crc32c(0, end + SEG_OFF_GEN, LOG_SEG_HDR - SEG_OFF_GEN));
	ck_assert((f = fopen(path, "wb")) != NULL);
	ck_assert(fwrite(buf, 1, LOG_FILE_SIZE_MIN, f) == LOG_FILE_SIZE_MIN);
	ck_assert(fclose(f) == 0);
	free(buf);
}

/* An empty transaction record (no page operation) of a format: with a time from format 2. */
static uint32_t
txn_record(uint8_t *p, uint32_t version, uint64_t time)
{
	uint32_t len = version == LOG_VERSION_UNTIMED ? LREC_TXN_OFF_NOPS_UNTIMED + 4 : LREC_TXN_OFF_NOPS + 4;

	memset(p, 0, len);
	put32(p, len);
	p[4] = LREC_TXN;
	if (version != LOG_VERSION_UNTIMED)
		put64(p + LREC_TXN_OFF_TIME, time);
	return len;
}

/*
 * A log set upgraded in place: a generation of format 1, then one of format
 * 2.  Each record is read by the format of the generation it starts in: the
 * first two transactions have no time, the next two theirs.
 */
START_TEST(test_format1_generations)
{
	char *dir = tu_tempdir(), *p1 = gen_path(dir, 1), *p2 = gen_path(dir, 2);
	const char *paths[2] = { p1, p2 };
	struct jet_sig sign;
	uint8_t recs[64];
	uint32_t n1 = 0, n2 = 0;
	struct log_reader r;
	struct log_commit c;
	JET_ERR err = JET_errSuccess;

	dbhdr_sig_make(&sign);
	n1 += txn_record(recs + n1, LOG_VERSION_UNTIMED, 0);
	n1 += txn_record(recs + n1, LOG_VERSION_UNTIMED, 0);
	write_gen(p1, 1, LOG_VERSION_UNTIMED, 0, 1000, &sign, 1, recs, n1);
	n2 += txn_record(recs + n2, LOG_VERSION, 5000);
	n2 += txn_record(recs + n2, LOG_VERSION, 5001);
	write_gen(p2, 2, LOG_VERSION, 1000, 2000, &sign, 1 + n1, recs, n2);
	CK(log_reader_open_files(&r, NULL, "edb", paths, 1, 2, &sign));
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(log_reader_next_commit(&r, &c, &err), 1);
		ck_assert_uint_eq(c.gen, i < 2 ? 1 : 2);
		ck_assert_int_eq(c.timed, i >= 2);
		ck_assert_uint_eq(c.time, i < 2 ? 0 : 5000 + (uint64_t)(i - 2));
	}
	ck_assert_int_eq(log_reader_next_commit(&r, &c, &err), 0);
	log_reader_close(&r);
	/* Stopped before the third record: the end is there, in generation 2. */
	CK(log_reader_open_files(&r, NULL, "edb", paths, 1, 2, &sign));
	log_reader_stop_at(&r, 1 + n1 + n2 / 2);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(log_reader_next_commit(&r, &c, &err), 1);
	ck_assert_int_eq(log_reader_next_commit(&r, &c, &err), 0);
	ck_assert(r.stopped && r.gen == 2 && r.end_lsn == 1 + n1 + n2 / 2);
	log_reader_close(&r);
	/* A format the reader does not know is refused. */
	write_gen(p2, 2, LOG_VERSION + 1, 1000, 2000, &sign, 1 + n1, recs, n2);
	CK(log_reader_open_files(&r, NULL, "edb", paths, 1, 2, &sign));
	ck_assert_int_eq(log_reader_next_commit(&r, &c, &err), 1);
	ck_assert_int_eq(log_reader_next_commit(&r, &c, &err), 1);
	ck_assert_int_eq(log_reader_next_commit(&r, &c, &err), -1);
	ck_assert_int_eq(err, JET_errBadLogVersion);
	log_reader_close(&r);
	free(p1);
	free(p2);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

static Suite *
stopat_suite(void)
{
	Suite *s = suite_create("stopat");

	tu_add_test(s, "stop_at_commit_time", test_stop_at_commit_time, 120);
	tu_add_test(s, "stopped_log_goes_on", test_stopped_log_goes_on, 120);
	tu_add_test(s, "before_consistent_point", test_before_consistent_point, 120);
	tu_add_test(s, "beyond_end", test_beyond_end, 120);
	tu_add_test(s, "roll_forward_to_moment", test_roll_forward_to_moment, 120);
	tu_add_test(s, "bad_parameters", test_bad_parameters, 30);
	tu_add_test(s, "format1_generations", test_format1_generations, 30);
	return s;
}

int
main(void)
{
	return tu_run(stopat_suite());
}
