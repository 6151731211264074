/*
 * check_backupdir.c -- JetBackupInstance (backupdir.c): backups into
 * directories, atomic sets, failures, the status callback, the same base name
 * twice, an incremental into the full set's directory.
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

/* The records bank_add_db put in database name of the restored instance in dir. */
static void
check_added_db(const char *dir, const char *name)
{
	JET_INSTANCE inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	char *path = tu_path(dir, name);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	uint8_t val[VAL_SIZE], want[VAL_SIZE];

	memset(want, 0x33, sizeof(want));
	CK(JetInit(&inst));
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	CK(JetOpenDatabase(ses, path, NULL, &dbid, 0));
	CK(JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t));
	for (int i = 0; i < 200; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%05d", i);
		CK(kv_get(ses, t, key, val, sizeof(val)));
		ck_assert_msg(memcmp(val, want, sizeof(val)) == 0, "%s: record %s differs", path, key);
	}
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	free(path);
}

/*
 * Two databases with the same base name (a/data.edb, b/data.edb) would
 * overwrite one another in the set: JetBackupInstance refuses before copying
 * anything, nothing is recorded, no log is truncated.  Renamed, both are
 * backed up and restored.
 */
START_TEST(test_backupinstance_same_name)
{
	struct bank b;
	char *sub, *a, *bb, *b2, *out, *target;
	struct db_header ha, hb, hm;
	uint8_t before[4096], after[4096];

	bank_create(&b, CACHE_PAGES, 0);
	sub = tu_path(b.dir, "a");
	ck_assert(mkdir(sub, 0755) == 0);
	free(sub);
	sub = tu_path(b.dir, "b");
	ck_assert(mkdir(sub, 0755) == 0);
	free(sub);
	a = bank_add_db(&b, "a/data.edb");
	bb = bank_add_db(&b, "b/data.edb");
	CK(JetBackupInstance(b.inst, NULL, 0, NULL));	/* truncation has something to delete next time */
	roll_gens(&b, 2);
	for (int pit = 0; pit < 2; pit++) {
		out = tu_tempdir();
		hm = tu_hdr_of(b.dbpath);
		ha = tu_hdr_of(a);
		hb = tu_hdr_of(bb);
		gens_present(b.dir, before, sizeof(before));
		CK_ERR(JetBackupInstance(b.inst, out, pit ? JET_bitBackupJetfsPointInTime : 0, NULL),
		    JET_errFileAlreadyExists);
		ck_assert_int_eq(count_files(out), 0);
		gens_present(b.dir, after, sizeof(after));
		for (size_t g = 0; g < sizeof(before); g++)
			ck_assert_msg(!before[g] || after[g], "generation %zu was truncated", g);
		for (int s = 0; s < BK_NSLOTS; s++) {
			ck_assert_bk_same(hm, tu_hdr_of(b.dbpath), s);
			ck_assert_bk_same(ha, tu_hdr_of(a), s);
			ck_assert_bk_same(hb, tu_hdr_of(bb), s);
		}
		/* The backup was ended. */
		CK(JetBeginExternalBackupInstance(b.inst, 0));
		CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
		tu_rmdir(out);
		free(out);
	}
	/* Renamed: a distinct name for each; both backed up, both restored. */
	CK(JetDetachDatabase(b.ses, bb));
	b2 = tu_path(b.dir, "b/data2.edb");
	ck_assert(rename(bb, b2) == 0);
	CK(JetAttachDatabase(b.ses, b2, 0));
	for (int pit = 0; pit < 2; pit++) {
		const char *sets[1];
		uint64_t c = bank_counter(&b);
		out = tu_tempdir();
		target = tu_tempdir();
		CK(JetBackupInstance(b.inst, out, pit ? JET_bitBackupJetfsPointInTime : 0, NULL));
		ck_assert_uint_ne(tu_hdr_of(a).bk[BK_FULL_PREV].gen_low, 0);
		ck_assert_uint_ne(tu_hdr_of(b2).bk[BK_FULL_PREV].gen_low, 0);
		sets[0] = out;
		CK(JetfsRestoreSets(sets, 1, target, NULL, 0, NULL));
		ck_assert_uint_eq(open_restored(target), c);
		check_added_db(target, "data.edb");
		check_added_db(target, "data2.edb");
		tu_rmdir(target);
		tu_rmdir(out);
		free(target);
		free(out);
	}
	bank_term(&b);
	free(a);
	free(bb);
	free(b2);
	bank_free(&b);
}
END_TEST
static int g_status_seen[8];
static int g_status_last = -1;

static JET_ERR
status_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv)
{
	(void)sesid;
	(void)pv;
	if (snp == JET_snpBackup && snt < 8) {
		g_status_seen[snt]++;
		g_status_last = (int)snt;
	}
	return JET_errSuccess;
}

static void
status_reset(void)
{
	memset(g_status_seen, 0, sizeof(g_status_seen));
	g_status_last = -1;
}

START_TEST(test_backupinstance_dirs)
{
	struct bank b;
	char *dir = tu_tempdir(), *junk, *missing, *nested, *set;
	uint64_t c;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	/* Not empty. */
	junk = tu_path(dir, "junk");
	{
		FILE *fj = fopen(junk, "w");
		ck_assert(fj != NULL);
		fputs("x", fj);
		fclose(fj);
	}
	CK_ERR(JetBackupInstance(b.inst, dir, 0, NULL), JET_errBackupDirectoryNotEmpty);
	ck_assert_int_eq(count_files(dir), 1);
	/* Missing. */
	missing = tu_path(dir, "missing");
	CK_ERR(JetBackupInstance(b.inst, missing, 0, NULL), JET_errInvalidPath);
	ck_assert_msg(access(missing, F_OK) != 0, "a missing backup directory was created");
	/* Nothing is running after these failures. */
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	/* With JET_paramCreatePathIfNotExist it is created; the callback sees begin and complete. */
	CK(JetSetSystemParameter(&b.inst, 0, JET_paramCreatePathIfNotExist, 1, NULL));
	nested = tu_path(missing, "a/b");
	status_reset();
	CK(JetBackupInstance(b.inst, nested, 0, status_cb));
	ck_assert_int_eq(g_status_seen[JET_sntBegin], 1);
	ck_assert_int_eq(g_status_seen[JET_sntComplete], 1);
	ck_assert_int_eq(g_status_seen[JET_sntFail], 0);
	ck_assert_int_eq(g_status_last, JET_sntComplete);
	ck_assert_int_ge(count_files(nested), 2);
	set = tu_path(nested, "bank.edb");
	ck_assert_msg(access(set, F_OK) == 0, "no bank.edb in the backup set");
	free(set);
	set = tu_path(nested, "edb.chk");
	ck_assert_msg(access(set, F_OK) != 0, "the checkpoint file was copied");
	free(set);
	c = bank_counter(&b);
	ck_assert_uint_eq(restore_one(nested), c);
	bank_term(&b);
	free(junk);
	free(missing);
	free(nested);
	tu_rmdir(dir);
	free(dir);
	bank_free(&b);
}
END_TEST

static struct bank *g_moving_bank;

/* Between the databases and the log list: the instance goes on, the checkpoint moves on. */
static JET_ERR
move_ckpt_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv)
{
	(void)sesid;
	(void)pv;
	status_cb(sesid, snp, snt, pv);
	if (snp == JET_snpBackup && snt == JET_sntProgress && g_moving_bank != NULL) {
		roll_gens(g_moving_bank, 3);
		CK(checkpoint_run(inst_of(g_moving_bank->inst), 1));
		g_moving_bank = NULL;
	}
	return JET_errSuccess;
}

/*
 * Truncation that fails half way (its second unlink), after deleting a
 * generation of the new set that no other set holds: the set must stay,
 * complete and restorable, although JetBackupInstance fails.
 */
START_TEST(test_backupinstance_truncation_fails)
{
	struct bank b;
	char *dir = tu_tempdir(), *match, *set, *img;
	uint8_t present2[4096];
	uint32_t low, lost = 0;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	roll_gens(&b, 2);
	CK(checkpoint_run(inst_of(b.inst), 1));
	/*
	 * The set starts at the checkpoint's generation G; the next one is
	 * closed (renamed to its name) during the backup, and its unlink fails.
	 */
	match = gen_path(b.dir, inst_of(b.inst)->ckpt.gen + 1);
	set = tu_path(dir, "set");
	ck_assert(mkdir(set, 0755) == 0);
	status_reset();
	g_moving_bank = &b;
	os_fault_arm(OS_FAULT_EIO, 2, 0, 0, match);
	err = JetBackupInstance(b.inst, set, 0, move_ckpt_cb);
	os_fault_disarm();
	ck_assert_msg(err == JET_errDiskIO, "JetBackupInstance with a failing truncation -> %s", JetErrorName(err));
	ck_assert_int_eq(g_status_seen[JET_sntFail], 1);
	img = tu_path(set, "bank.edb");
	ck_assert_msg(access(img, F_OK) == 0, "the set was removed after its logs were truncated");
	low = tu_hdr_of(img).bk[BK_FULL_CUR].gen_low;
	gens_present(b.dir, present2, sizeof(present2));
	/* Every generation from the set's first that is gone from the instance. */
	for (uint32_t g = low; g < cur_gen(b.inst); g++)
		if (!present2[g]) {
			char *p = gen_path(set, g);
			ck_assert_msg(access(p, F_OK) == 0, "generation %u was truncated and is not in the set", g);
			free(p);
			lost++;
		}
	ck_assert_msg(lost > 0, "no generation of the set was truncated: the test proves nothing");
	ck_assert_uint_eq(restore_one(set), bank_counter(&b));
	bank_term(&b);
	free(img);
	free(set);
	free(match);
	tu_rmdir(dir);
	free(dir);
	bank_free(&b);
}
END_TEST

START_TEST(test_backupinstance_failure)
{
	struct bank b;
	char *dir = tu_tempdir(), *bk, *sub;
	uint8_t present[4096], present2[4096];
	struct db_header before, after;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	roll_gens(&b, 2);
	CK(checkpoint_run(inst_of(b.inst), 1));
	transfers(&b, 10);
	/* A full backup first, so that truncation would delete something. */
	sub = tu_path(dir, "first");
	ck_assert(mkdir(sub, 0755) == 0);
	CK(JetBackupInstance(b.inst, sub, 0, NULL));
	roll_gens(&b, 2);
	CK(checkpoint_run(inst_of(b.inst), 1));
	transfers(&b, 10);
	bk = tu_path(dir, "bkfail");
	ck_assert(mkdir(bk, 0755) == 0);
	gens_present(b.dir, present, sizeof(present));
	before = tu_hdr_of(b.dbpath);
	status_reset();
	os_fault_arm(OS_FAULT_EIO, 3, 0, 0, "bkfail");
	err = JetBackupInstance(b.inst, bk, 0, status_cb);
	os_fault_disarm();
	ck_assert_msg(err == JET_errDiskIO, "JetBackupInstance with a failing destination -> %s", JetErrorName(err));
	ck_assert_msg(count_files(bk) == 0, "a failed backup left %d files", count_files(bk));
	ck_assert_int_eq(g_status_seen[JET_sntBegin], 1);
	ck_assert_int_eq(g_status_seen[JET_sntComplete], 0);
	ck_assert_int_eq(g_status_seen[JET_sntFail], 1);
	gens_present(b.dir, present2, sizeof(present2));
	for (size_t g = 0; g < sizeof(present); g++)
		ck_assert_msg(!present[g] || present2[g], "generation %zu was deleted by a failed backup", g);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a failed backup changed header slot %d", s);
	/* No backup is left running; the next one works into the same directory. */
	CK(JetBackupInstance(b.inst, bk, 0, NULL));
	ck_assert_uint_eq(restore_one(bk), bank_counter(&b));
	bank_term(&b);
	free(sub);
	free(bk);
	tu_rmdir(dir);
	free(dir);
	bank_free(&b);
}
END_TEST

START_TEST(test_backupinstance_atomic)
{
	struct bank b;
	char *dir = tu_tempdir(), *snap = tu_tempdir(), *tmp, *old;
	uint64_t c1, c3;
	uint8_t present[4096], present2[4096];
	struct db_header before, after;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	CK(JetBackupInstance(b.inst, dir, JET_bitBackupAtomic, NULL));
	c1 = bank_counter(&b);
	ck_assert_int_ge(count_files(dir), 2);
	cp_all(dir, snap);
	transfers(&b, 20);
	roll_gens(&b, 1);
	/* The new set fails half-way: the old one stays, untouched. */
	gens_present(b.dir, present, sizeof(present));
	before = tu_hdr_of(b.dbpath);
	os_fault_arm(OS_FAULT_EIO, 3, 0, 0, "new.tmp");
	err = JetBackupInstance(b.inst, dir, JET_bitBackupAtomic, NULL);
	os_fault_disarm();
	ck_assert_msg(err == JET_errDiskIO, "atomic JetBackupInstance with a failing destination -> %s",
	    JetErrorName(err));
	tmp = tu_path(dir, "new.tmp");
	ck_assert_msg(count_files(tmp) <= 0, "the failed atomic backup left %d files in new.tmp", count_files(tmp));
	{
		DIR *d = opendir(snap);
		struct dirent *de;
		int n = 0;
		ck_assert(d != NULL);
		while ((de = readdir(d)) != NULL) {
			char *a, *x;
			if (de->d_name[0] == '.')
				continue;
			a = tu_path(snap, de->d_name);
			x = tu_path(dir, de->d_name);
			ck_assert_msg(access(x, F_OK) == 0 && files_equal(a, x), "%s of the old set changed", de->d_name);
			free(a);
			free(x);
			n++;
		}
		closedir(d);
		ck_assert_int_eq(count_files(dir), n);
	}
	gens_present(b.dir, present2, sizeof(present2));
	for (size_t g = 0; g < sizeof(present); g++)
		ck_assert_msg(!present[g] || present2[g], "generation %zu was deleted by a failed backup", g);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a failed backup changed header slot %d", s);
	ck_assert_uint_eq(restore_one(dir), c1);
	/* Then a good one replaces it; the previous set is in old/. */
	transfers(&b, 10);
	CK(JetBackupInstance(b.inst, dir, JET_bitBackupAtomic, NULL));
	c3 = bank_counter(&b);
	old = tu_path(dir, "old");
	ck_assert_int_ge(count_files(old), 2);
	ck_assert_uint_eq(restore_one(dir), c3);
	ck_assert_uint_eq(restore_one(old), c1);
	bank_term(&b);
	free(tmp);
	free(old);
	tu_rmdir(dir);
	tu_rmdir(snap);
	free(dir);
	free(snap);
	bank_free(&b);
}
END_TEST

/* ESE's usual use: the incremental goes into the full set's directory.  A
 * failed incremental must leave the full set as it was. */
START_TEST(test_incremental_same_dir)
{
	struct bank b;
	char *dir = tu_tempdir(), *snap = tu_tempdir();
	uint64_t cf, ci;
	struct db_header hd;
	uint8_t present[4096];
	int overlap = 0;
	JET_ERR err;
	DIR *d;
	struct dirent *de;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	g_cb_bank = &b;
	CK(JetBackupInstance(b.inst, dir, 0, roll_cb));
	cf = bank_counter(&b);
	hd = tu_hdr_of(b.dbpath);
	/* Some generations of the set are still on disk: the incremental copies them again. */
	gens_present(b.dir, present, sizeof(present));
	for (uint32_t g = hd.bk[BK_FULL_PREV].gen_low; g <= hd.bk[BK_FULL_PREV].gen_high; g++)
		overlap += present[g];
	ck_assert_msg(overlap > 0, "no generation of the full set is left on disk: the test proves nothing");
	cp_all(dir, snap);
	transfers(&b, 20);
	os_fault_arm(OS_FAULT_EIO, 2, 0, 0, dir);
	err = JetBackupInstance(b.inst, dir, JET_bitBackupIncremental, NULL);
	os_fault_disarm();
	ck_assert_msg(err == JET_errDiskIO, "incremental with a failing destination -> %s", JetErrorName(err));
	d = opendir(snap);
	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		char *a, *x;
		if (de->d_name[0] == '.')
			continue;
		a = tu_path(snap, de->d_name);
		x = tu_path(dir, de->d_name);
		ck_assert_msg(access(x, F_OK) == 0, "the failed incremental removed %s from the full set", de->d_name);
		ck_assert_msg(files_equal(a, x), "the failed incremental changed %s of the full set", de->d_name);
		free(a);
		free(x);
	}
	closedir(d);
	ck_assert_uint_eq(restore_one(dir), cf);
	/* A good incremental into the same directory. */
	CK(JetBackupInstance(b.inst, dir, JET_bitBackupIncremental, NULL));
	ci = bank_counter(&b);
	ck_assert_uint_gt(ci, cf);
	transfers(&b, 5);
	ck_assert_uint_eq(restore_one(dir), ci);
	/*
	 * An incremental of another instance into this set: its generations
	 * have the same names and other bytes.  Refused, and the set is intact.
	 */
	{
		struct bank o;
		char *ofull = tu_tempdir(), *snap2 = tu_tempdir();
		int clash = 0;
		bank_create(&o, CACHE_PAGES, 0);
		CK(JetBackupInstance(o.inst, ofull, 0, NULL));
		roll_gens(&o, 1);
		gens_present(o.dir, present, sizeof(present));
		for (uint32_t g = 1; g < sizeof(present); g++)
			if (present[g]) {
				char *p = gen_path(dir, g);
				clash += access(p, F_OK) == 0;
				free(p);
			}
		ck_assert_msg(clash > 0, "no generation name in common: the test proves nothing");
		cp_all(dir, snap2);
		CK_ERR(JetBackupInstance(o.inst, dir, JET_bitBackupIncremental, NULL), JET_errFileAlreadyExists);
		ck_assert_int_eq(count_files(dir), count_files(snap2));
		d = opendir(snap2);
		ck_assert(d != NULL);
		while ((de = readdir(d)) != NULL) {
			char *a, *x;
			if (de->d_name[0] == '.')
				continue;
			a = tu_path(snap2, de->d_name);
			x = tu_path(dir, de->d_name);
			ck_assert_msg(files_equal(a, x), "another instance's incremental changed %s of the set", de->d_name);
			free(a);
			free(x);
		}
		closedir(d);
		ck_assert_uint_eq(restore_one(dir), ci);
		bank_term(&o);
		bank_free(&o);
		tu_rmdir(ofull);
		tu_rmdir(snap2);
		free(ofull);
		free(snap2);
	}
	bank_term(&b);
	tu_rmdir(dir);
	tu_rmdir(snap);
	free(dir);
	free(snap);
	bank_free(&b);
}
END_TEST

static Suite *
backupdir_suite(void)
{
	Suite *s = suite_create("backupdir");

	tu_add_test(s, "backupinstance_truncation_fails", test_backupinstance_truncation_fails, 60);
	tu_add_test(s, "backupinstance_same_name", test_backupinstance_same_name, 60);
	tu_add_test(s, "backupinstance_dirs", test_backupinstance_dirs, 60);
	tu_add_test(s, "backupinstance_failure", test_backupinstance_failure, 60);
	tu_add_test(s, "backupinstance_atomic", test_backupinstance_atomic, 60);
	tu_add_test(s, "incremental_same_dir", test_incremental_same_dir, 60);
	return s;
}

int
main(void)
{
	return tu_run(backupdir_suite());
}
