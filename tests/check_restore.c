/*
 * check_restore.c -- restore (restore.c): JetRestoreInstance,
 * JetfsRestoreSets of a full / incremental / incremental / differential
 * chain, roll-forward through the live log directory, and the errors of the
 * chain checker (gaps, bad pages, two databases of one file name).
 *
 * Check runs each test in a child process, so fault injection and instances
 * do not leak from one test to the next.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bankutil.h"

/* ESE's own flow: JetRestoreInstance puts the database back where it was, then JetInit. */
START_TEST(test_restore_instance)
{
	struct bank b;
	char *set = tu_tempdir(), *db2;
	uint64_t c;
	JET_INSTANCE ri;
	DIR *d;
	struct dirent *de;
	JET_DBID d2;
	JET_TABLEID t2;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	transfers(&b, 20);
	roll_gens(&b, 1);
	CK(JetBackupInstance(b.inst, set, 0, NULL));
	c = bank_counter(&b);
	transfers(&b, 10);
	bank_term(&b);
	/* The instance is lost. */
	d = opendir(b.dir);
	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		char *p = tu_path(b.dir, de->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			ck_assert(unlink(p) == 0);
		free(p);
	}
	closedir(d);
	ri = tu_instance(b.dir, LOG_KB, CACHE_PAGES);
	err = JetRestoreInstance(ri, set, NULL, NULL);
	ck_assert_msg(err == JET_errSuccess, "JetRestoreInstance -> %s", JetErrorName(err));
	ck_assert_msg(access(b.dbpath, F_OK) == 0 && access(db2, F_OK) == 0, "the databases are not back in place");
	err = JetInit(&ri);
	ck_assert_msg(err == JET_errSuccess, "JetInit after JetRestoreInstance -> %s", JetErrorName(err));
	b.inst = ri;
	CK(JetBeginSession(b.inst, &b.ses, NULL, NULL));
	CK(JetOpenDatabase(b.ses, b.dbpath, NULL, &b.dbid, 0));
	CK(JetOpenTable(b.ses, b.dbid, "t", NULL, 0, 0, &b.t));
	ck_assert_uint_eq(bank_check(b.ses, b.dbid, b.t), c);
	CK(JetOpenDatabase(b.ses, db2, NULL, &d2, 0));
	CK(JetOpenTable(b.ses, d2, "t", NULL, 0, 0, &t2));
	CK(rowkv_seek(b.ses, t2, "k00199", strlen("k00199")));
	/* Restoring again into the now initialized instance is refused. */
	CK_ERR(JetRestoreInstance(b.inst, set, NULL, NULL), JET_errAfterInitialization);
	bank_term(&b);
	free(db2);
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

START_TEST(test_chain)
{
	struct bank b;
	char *f = tu_tempdir(), *i1 = tu_tempdir(), *i2 = tu_tempdir(), *d = tu_tempdir();
	uint64_t cf, c1, c2, c3, c4, got;
	struct db_header h2, h3;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 30);
	CK(JetBackupInstance(b.inst, f, 0, NULL));
	cf = bank_counter(&b);
	transfers(&b, 30);
	roll_gens(&b, 1);
	CK(JetBackupInstance(b.inst, i1, JET_bitBackupIncremental, NULL));
	c1 = bank_counter(&b);
	transfers(&b, 30);
	CK(JetBackupInstance(b.inst, i2, JET_bitBackupIncremental, NULL));
	c2 = bank_counter(&b);
	h2 = tu_hdr_of(b.dbpath);
	ck_assert_uint_ne(h2.bk[BK_INC_PREV].gen_low, 0);
	transfers(&b, 30);
	{
		struct bkrun r = { .grbit = JET_bitBackupIncremental, .truncate = 0 };
		ese_backup(b.inst, d, &r);
		h3 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h3, BK_DIFF_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_same(h2, h3, BK_INC_PREV);
		ck_assert_bk_same(h2, h3, BK_FULL_PREV);
	}
	c3 = bank_counter(&b);
	transfers(&b, 30);
	c4 = bank_counter(&b);
	ck_assert(cf < c1 && c1 < c2 && c2 < c3 && c3 < c4);
	{
		const char *sets[4] = { f, i1, i2, d };
		got = restore_sets(sets, 1, NULL, 0);
		ck_assert_msg(got == cf, "full alone: counter %llu, expected %llu", (unsigned long long)got,
		    (unsigned long long)cf);
		got = restore_sets(sets, 2, NULL, 0);
		ck_assert_msg(got == c1, "full + incremental: counter %llu, expected %llu", (unsigned long long)got,
		    (unsigned long long)c1);
		got = restore_sets(sets, 4, NULL, 0);
		ck_assert_msg(got == c3, "full + 2 incrementals + differential: counter %llu, expected %llu",
		    (unsigned long long)got, (unsigned long long)c3);
		/* And on through the live log directory. */
		bank_term(&b);
		got = restore_sets(sets, 4, b.dir, 0);
		ck_assert_msg(got == c4, "chain + roll-forward: counter %llu, live %llu", (unsigned long long)got,
		    (unsigned long long)c4);
	}
	tu_rmdir(f);
	tu_rmdir(i1);
	tu_rmdir(i2);
	tu_rmdir(d);
	free(f);
	free(i1);
	free(i2);
	free(d);
	bank_free(&b);
}
END_TEST

START_TEST(test_roll_forward)
{
	struct bank b;
	char *f = tu_tempdir();
	uint64_t cf, clive, got;
	struct db_header hd;
	const char *sets[1] = { f };

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 30);
	CK(JetBackupInstance(b.inst, f, 0, NULL));
	cf = bank_counter(&b);
	hd = tu_hdr_of(b.dbpath);
	ck_assert_uint_ne(hd.bk[BK_FULL_PREV].gen_high, 0);
	transfers(&b, 20);
	roll_gens(&b, 2);
	transfers(&b, 20);
	clive = bank_counter(&b);
	/* While the instance runs (every commit is durable, so in its logs). */
	got = restore_sets(sets, 1, b.dir, 0);
	ck_assert_msg(got == clive, "full + roll-forward through a running instance's logs: counter %llu, live %llu",
	    (unsigned long long)got, (unsigned long long)clive);
	bank_term(&b);
	got = restore_sets(sets, 1, b.dir, 0);
	ck_assert_msg(got == clive, "full + roll-forward: counter %llu, live %llu", (unsigned long long)got,
	    (unsigned long long)clive);
	/* Stopping after the backup's last generation gives the backup's state. */
	got = restore_sets(sets, 1, b.dir, hd.bk[BK_FULL_PREV].gen_high);
	ck_assert_msg(got == cf, "full + roll-forward stopped at %u: counter %llu, expected %llu",
	    hd.bk[BK_FULL_PREV].gen_high, (unsigned long long)got, (unsigned long long)cf);
	/* The live instance is untouched by all this. */
	bank_restart(&b);
	ck_assert_uint_eq(bank_check(b.ses, b.dbid, b.t), clive);
	bank_term(&b);
	tu_rmdir(f);
	free(f);
	bank_free(&b);
}
END_TEST

/* Roll-forward through the logs of an instance that is writing. */
START_TEST(test_roll_forward_live)
{
	struct bank b;
	struct writer w;
	char *f = tu_tempdir();
	const char *sets[1] = { f };

	bank_create(&b, CACHE_SMALL, 0);
	transfers(&b, 30);
	CK(JetBackupInstance(b.inst, f, 0, NULL));
	writer_start(&w, &b);
	for (int round = 0; round < 5; round++) {
		uint64_t c0, c1, got;
		writer_wait(&w, 30);
		c0 = bank_counter(&b);
		/* A commit is visible before its log flush ends (jet.h): make what we saw durable. */
		CK(JetCommitTransaction(b.ses, JET_bitWaitAllLevel0Commit));
		got = restore_sets(sets, 1, b.dir, 0);
		c1 = bank_counter(&b);
		ck_assert_msg(got >= c0 && got <= c1, "roll-forward through a live log: counter %llu, not in [%llu, %llu]",
		    (unsigned long long)got, (unsigned long long)c0, (unsigned long long)c1);
	}
	writer_stop(&w);
	bank_term(&b);
	tu_rmdir(f);
	free(f);
	bank_free(&b);
}
END_TEST

/* A copy of set in a new directory; returns it. */
static char *
copy_set(const char *set)
{
	char *d = tu_tempdir();

	cp_all(set, d);
	return d;
}

static void
rm_gen(const char *dir, uint32_t g)
{
	char *p = gen_path(dir, g);

	ck_assert_msg(unlink(p) == 0, "unlink %s", p);
	free(p);
}

START_TEST(test_restore_errors)
{
	struct bank b, other;
	char *set = tu_tempdir(), *m, *img, *p;
	struct db_header hd;
	uint32_t lo, hi, mid;
	uint64_t c;
	const char *sets[1];
	unsigned long ps;

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	transfers(&b, 20);
	g_cb_bank = &b;
	CK(JetBackupInstance(b.inst, set, 0, roll_cb));
	ck_assert_msg(g_cb_bank == NULL, "the progress callback was not called");
	c = bank_counter(&b);
	hd = tu_hdr_of(b.dbpath);
	lo = hd.bk[BK_FULL_PREV].gen_low;
	hi = hd.bk[BK_FULL_PREV].gen_high;
	ck_assert_msg(hi >= lo + 3, "the set has generations %u-%u, the test needs 4", lo, hi);
	mid = lo + (hi - lo) / 2;
	/* AfterInitialization: the live instance. */
	CK_ERR(JetRestoreInstance(b.inst, set, NULL, NULL), JET_errAfterInitialization);
	bank_term(&b);
	/* The set is good. */
	ck_assert_uint_eq(restore_one(set), c);

	/* A plain database in the set. */
	m = copy_set(set);
	img = tu_path(m, "bank.edb");
	tu_copy_file(b.dbpath, img);
	sets[0] = m;
	restore_fails(sets, 1, JET_errRestoreOfNonBackupDatabase);
	tu_rmdir(m);
	free(m);
	free(img);

	/* The logs from the last one the image needs (its trailer says which) missing. */
	m = copy_set(set);
	{
		struct bk_trailer tr;
		img = tu_path(m, "bank.edb");
		trailer_of(img, &tr);
		ck_assert_uint_ge(tr.bk.gen_high, lo);
		ck_assert_uint_le(tr.bk.gen_high, hi);
		for (uint32_t g = tr.bk.gen_high; g <= hi; g++)
			rm_gen(m, g);
		free(img);
	}
	sets[0] = m;
	restore_fails(sets, 1, JET_errEndingRestoreLogTooLow);
	tu_rmdir(m);
	free(m);

	/* The first log missing. */
	m = copy_set(set);
	rm_gen(m, lo);
	sets[0] = m;
	restore_fails(sets, 1, JET_errStartingRestoreLogTooHigh);
	tu_rmdir(m);
	free(m);

	/* A gap. */
	m = copy_set(set);
	rm_gen(m, mid);
	sets[0] = m;
	restore_fails(sets, 1, JET_errMissingLogFile);
	tu_rmdir(m);
	free(m);

	/* A log of another instance. */
	bank_create(&other, CACHE_PAGES, 0);
	for (int i = 0; cur_gen(other.inst) <= mid; i++) {
		char szz[8192];
		unsigned long cb;
		ck_assert(i < 100);
		CK(JetBeginExternalBackupInstance(other.inst, 0));
		CK(JetGetLogInfoInstance(other.inst, szz, sizeof(szz), &cb));
		CK(JetEndExternalBackupInstance2(other.inst, JET_bitBackupEndAbort));
	}
	m = copy_set(set);
	p = gen_path(m, mid);
	img = gen_path(other.dir, mid);
	ck_assert(unlink(p) == 0);
	tu_copy_file(img, p);
	sets[0] = m;
	restore_fails(sets, 1, JET_errGivenLogFileHasBadSignature);
	tu_rmdir(m);
	free(m);
	free(p);
	free(img);
	bank_term(&other);
	bank_free(&other);

	/* A damaged trailer page. */
	m = copy_set(set);
	img = tu_path(m, "bank.edb");
	{
		struct db_header ih = tu_hdr_of(img);
		ck_assert_uint_eq(ih.page_size, ps);
		tu_scribble(img, ((uint64_t)ih.pgno_last + 2) * ps + 300, 40, 0xEE);
	}
	sets[0] = m;
	restore_fails(sets, 1, JET_errBadPatchPage);
	tu_rmdir(m);
	free(m);
	free(img);

	/* JetRestoreInstance itself on the (clean) set, into a fresh instance: restores to the original path. */
	{
		JET_INSTANCE ri;
		char *rd = tu_tempdir();
		ri = tu_instance(rd, LOG_KB, CACHE_PAGES);
		m = copy_set(set);
		rm_gen(m, mid);
		CK_ERR(JetRestoreInstance(ri, m, NULL, NULL), JET_errMissingLogFile);
		ck_assert_int_eq(count_files(rd), 0);
		CK(JetTerm(ri));
		tu_rmdir(m);
		free(m);
		tu_rmdir(rd);
		free(rd);
	}
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

/*
 * A page of an image with a bad checksum (the image's last page, which redo
 * may well rewrite entirely): every restore refuses it before writing
 * anything, as ESE's restore verifies every page; JetRestoreInstance leaves
 * the database in place as it was.
 */
START_TEST(test_restore_bad_page)
{
	struct bank b;
	char *set = tu_tempdir(), *m, *img, *saved, *rd;
	const char *sets[1];
	struct db_header ih;
	unsigned long ps;
	JET_INSTANCE ri;

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	transfers(&b, 20);
	CK(JetBackupInstance(b.inst, set, 0, NULL));
	bank_term(&b);
	m = copy_set(set);
	img = tu_path(m, "bank.edb");
	ih = tu_hdr_of(img);
	tu_scribble(img, page_offset(ih.pgno_last, ps) + 100, 4, 0xEE);
	sets[0] = m;
	restore_fails(sets, 1, JET_errReadVerifyFailure);

	rd = tu_tempdir();
	saved = tu_path(rd, "saved.edb");
	tu_copy_file(b.dbpath, saved);
	ri = tu_instance(b.dir, LOG_KB, CACHE_PAGES);
	CK_ERR(JetRestoreInstance(ri, m, rd, NULL), JET_errReadVerifyFailure);
	ck_assert_msg(files_equal(b.dbpath, saved), "a refused JetRestoreInstance changed the database in place");
	ck_assert_int_eq(count_files(rd), 1);
	CK(JetTerm(ri));
	tu_rmdir(rd);
	tu_rmdir(m);
	tu_rmdir(set);
	free(saved);
	free(rd);
	free(img);
	free(m);
	free(set);
	bank_free(&b);
}
END_TEST

/*
 * Two databases with one file name in two directories, their images in one
 * set under two names: restored into one directory they would be one file
 * (one database silently lost); restore refuses before writing.
 */
START_TEST(test_restore_same_name)
{
	struct bank b;
	char *out1 = tu_tempdir(), *out2 = tu_tempdir(), *set = tu_tempdir(), *sub, *pa, *pb, *from, *to;
	struct bkrun r;
	const char *sets[1] = { set };

	bank_create(&b, CACHE_PAGES, 0);
	sub = tu_path(b.dir, "a");
	ck_assert(mkdir(sub, 0700) == 0);
	free(sub);
	sub = tu_path(b.dir, "b");
	ck_assert(mkdir(sub, 0700) == 0);
	free(sub);
	pa = bank_add_db(&b, "a/data.edb");
	memset(&r, 0, sizeof(r));
	ese_backup(b.inst, out1, &r);
	transfers(&b, 10);
	CK(JetDetachDatabase(b.ses, pa));
	pb = bank_add_db(&b, "b/data.edb");
	memset(&r, 0, sizeof(r));
	ese_backup(b.inst, out2, &r);
	bank_term(&b);
	/* a's image as data-a.edb, then b's as data.edb with the later logs; and the generations between. */
	cp_all(out1, set);
	from = tu_path(set, "data.edb");
	to = tu_path(set, "data-a.edb");
	ck_assert(rename(from, to) == 0);
	cp_all(out2, set);
	for (uint32_t g = 1; g < 4096; g++) {
		char *live = gen_path(b.dir, g), *in = gen_path(set, g);
		if (access(live, F_OK) == 0 && access(in, F_OK) != 0)
			tu_copy_file(live, in);
		free(live);
		free(in);
	}
	restore_fails(sets, 1, JET_errDatabaseDuplicate);
	tu_rmdir(out1);
	tu_rmdir(out2);
	tu_rmdir(set);
	free(from);
	free(to);
	free(pa);
	free(pb);
	free(out1);
	free(out2);
	free(set);
	bank_free(&b);
}
END_TEST

static Suite *
restore_suite(void)
{
	Suite *s = suite_create("restore");

	tu_add_test(s, "chain", test_chain, 120);
	tu_add_test(s, "restore_instance", test_restore_instance, 60);
	tu_add_test(s, "restore_bad_page", test_restore_bad_page, 60);
	tu_add_test(s, "restore_same_name", test_restore_same_name, 60);
	tu_add_test(s, "roll_forward", test_roll_forward, 60);
	tu_add_test(s, "roll_forward_live", test_roll_forward_live, 60);
	tu_add_test(s, "restore_errors", test_restore_errors, 60);
	return s;
}

int
main(void)
{
	return tu_run(restore_suite());
}
