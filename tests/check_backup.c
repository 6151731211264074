/*
 * check_backup.c -- ESE's external backup API (backup.c):
 *  - the state machine in ESE mode: every illegal call order returns ESE's
 *    code (reference/ese-backup-internals.md §2.3, §2.4, jet.h's table);
 *  - what End records in the database header (§2.6);
 *  - consistency under load, ESE mode and point-in-time mode: a writer
 *    thread runs bank transfers (bankutil.h) while the backup is taken; the
 *    restored instance keeps the sum invariant and a commit counter in the
 *    right range (point-in-time: exactly the committed state at Begin);
 *  - truncation safety with a crash in between;
 *  - damaged pages and logs during the backup.
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

/* ======================================================================
 * The state machine (ESE mode)
 * ====================================================================== */

START_TEST(test_no_backup)
{
	struct bank b;
	unsigned long ps, cb = 0, lo, hi;
	char szz[4096];
	uint8_t *buf;
	JET_HANDLE h = 0;
	JET_LOGINFO li = { sizeof(li), 0, 0, "" };
	char *logname;

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	buf = abuf(4 * ps);
	logname = gen_path(b.dir, 1);
	for (int round = 0; round < 3; round++) {
		CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
		CK_ERR(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi), JET_errNoBackup);
		CK_ERR(JetOpenFileInstance(b.inst, logname, &h, &lo, &hi), JET_errNoBackup);
		CK_ERR(JetReadFileInstance(b.inst, 1, buf, 3 * ps, &cb), JET_errNoBackup);
		CK_ERR(JetfsReadFileAt(b.inst, 1, 0, buf, 4096, &cb), JET_errNoBackup);
		CK_ERR(JetCloseFileInstance(b.inst, 1), JET_errNoBackup);
		CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
		CK_ERR(JetGetLogInfoInstance2(b.inst, szz, sizeof(szz), &cb, &li), JET_errNoBackup);
		CK_ERR(JetGetTruncateLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
		CK_ERR(JetTruncateLogInstance(b.inst), JET_errNoBackup);
		CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
		CK_ERR(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndNormal), JET_errNoBackup);
		CK_ERR(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort), JET_errNoBackup);
		/* JetStopBackup with no backup succeeds (ESE) and starts nothing. */
		CK(JetStopBackupInstance(b.inst));
		if (round == 0) {
			/* After a complete backup, nothing runs any more. */
			struct bkrun r = { .truncate = 1 };
			char *out = tu_tempdir();
			ese_backup(b.inst, out, &r);
			tu_rmdir(out);
			free(out);
		} else if (round == 1) {
			/* Nor after an aborted one. */
			CK(JetBeginExternalBackupInstance(b.inst, 0));
			CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
		}
	}
	free(logname);
	free(buf);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_begin_rules)
{
	static const JET_GRBIT bad[] = {
		JET_bitBackupAtomic, JET_bitBackupSnapshot, JET_bitBackupAtomic | JET_bitBackupIncremental,
		JET_bitBackupSnapshot | JET_bitBackupJetfsPointInTime, 0x80, 0x100, 0x40000000,
	};
	static const JET_GRBIT kinds[] = { 0, JET_bitBackupIncremental, JET_bitBackupJetfsPointInTime };
	struct bank b, c;
	unsigned long cb;
	char szz[4096];

	bank_create(&b, CACHE_PAGES, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		JET_ERR err = JetBeginExternalBackupInstance(b.inst, bad[i]);
		ck_assert_msg(err == JET_errInvalidGrbit, "Begin(0x%lx) -> %s, expected JET_errInvalidGrbit", bad[i],
		    JetErrorName(err));
		CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	}
	/* No full backup recorded yet. */
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental), JET_errMissingFullBackup);
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);

	/* One backup at a time, whatever the kinds. */
	{
		struct bkrun r = { .truncate = 1 };
		char *out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		tu_rmdir(out);
		free(out);
	}
	for (size_t i = 0; i < 3; i++) {
		CK(JetBeginExternalBackupInstance(b.inst, kinds[i]));
		for (size_t j = 0; j < 3; j++) {
			JET_ERR err = JetBeginExternalBackupInstance(b.inst, kinds[j]);
			ck_assert_msg(err == JET_errBackupInProgress, "Begin(0x%lx) during Begin(0x%lx) -> %s", kinds[j],
			    kinds[i], JetErrorName(err));
		}
		/* The first backup is still there. */
		if (kinds[i] & JET_bitBackupIncremental)
			CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
		else
			CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
		CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	}

	/* A full backup without truncation is a Copy: it does not enable incrementals. */
	bank_term(&b);
	bank_free(&b);
	bank_create(&b, CACHE_PAGES, 0);
	{
		struct bkrun r = { .truncate = 0 };
		char *out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		tu_rmdir(out);
		free(out);
	}
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental), JET_errMissingFullBackup);
	bank_term(&b);
	bank_free(&b);

	/* Circular logging: full backups only. */
	bank_create(&c, CACHE_PAGES, 1);
	CK_ERR(JetBeginExternalBackupInstance(c.inst, JET_bitBackupIncremental), JET_errInvalidBackup);
	CK_ERR(JetGetAttachInfoInstance(c.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	{
		char *out = tu_tempdir();
		CK_ERR(JetBackupInstance(c.inst, out, JET_bitBackupIncremental, NULL), JET_errInvalidBackup);
		CK(JetBackupInstance(c.inst, out, 0, NULL));
		CK_ERR(JetBeginExternalBackupInstance(c.inst, JET_bitBackupIncremental), JET_errInvalidBackup);
		tu_rmdir(out);
		free(out);
	}
	bank_term(&c);
	bank_free(&c);
}
END_TEST

START_TEST(test_incremental_rules)
{
	struct bank b;
	unsigned long cb, lo, hi;
	char szz[4096], *names[MAXNAMES], *buf;
	int n;
	JET_HANDLE h;

	bank_create(&b, CACHE_PAGES, 0);
	CK(JetBackupInstance(b.inst, NULL, 0, NULL));	/* truncation only: records nothing */
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental), JET_errMissingFullBackup);
	{
		char *out = tu_tempdir();
		CK(JetBackupInstance(b.inst, out, 0, NULL));
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 20);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental));
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	CK_ERR(JetGetAttachInfoInstance(b.inst, NULL, 0, &cb), JET_errInvalidBackupSequence);
	/* A database cannot be opened in an incremental backup. */
	CK_ERR(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi), JET_errInvalidBackupSequence);
	/* The log files can. */
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	ck_assert_int_ge(n, 1);
	CK(JetOpenFileInstance(b.inst, names[0], &h, &lo, &hi));
	CK(JetCloseFileInstance(b.inst, h));
	free(buf);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_open_rules)
{
	struct bank b;
	unsigned long cb, lo, hi, ps;
	char szz[4096], *names[MAXNAMES], *buf, *db2, *logname;
	int n;
	JET_HANDLE h, h2;
	uint8_t *rb;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	transfers(&b, 20);
	ps = page_size_of(b.inst);
	rb = abuf(8 * ps);
	logname = gen_path(b.dir, 1);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	/* Before JetGetLogInfo a log is "not an attached database"; the session goes on. */
	CK_ERR(JetOpenFileInstance(b.inst, logname, &h, &lo, &hi), JET_errDatabaseNotFound);
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	CK_ERR(JetOpenFileInstance(b.inst, "", &h, &lo, &hi), JET_errInvalidParameter);
	CK_ERR(JetOpenFileInstance(b.inst, NULL, &h, &lo, &hi), JET_errInvalidParameter);
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	/* TruncateLog before GetLogInfo. */
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errInvalidBackupSequence);
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	/* Another spelling of the same path is the same database. */
	{
		char *alt = tu_path(b.dir, "./bank.edb");
		CK(JetOpenFileInstance(b.inst, alt, &h, &lo, &hi));
		CK(JetCloseFileInstance(b.inst, h));
		free(alt);
	}
	/* One file at a time. */
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	CK_ERR(JetOpenFileInstance(b.inst, db2, &h2, &lo, &hi), JET_errOutOfMemory);
	CK_ERR(JetOpenFileInstance(b.inst, b.dbpath, &h2, &lo, &hi), JET_errOutOfMemory);
	/* GetLogInfo with a file open. */
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	CK_ERR(JetGetTruncateLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errInvalidBackupSequence);
	/* The session is alive and the first file still reads. */
	CK(JetReadFileInstance(b.inst, h, rb, 4 * ps, &cb));
	ck_assert_uint_eq(cb, 4 * ps);
	CK(JetCloseFileInstance(b.inst, h));
	CK_ERR(JetCloseFileInstance(b.inst, h), JET_errInvalidParameter);
	CK(JetOpenFileInstance(b.inst, db2, &h2, &lo, &hi));
	CK(JetCloseFileInstance(b.inst, h2));
	/* After GetLogInfo a database cannot be opened, and that ends the session. */
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	free(buf);
	CK_ERR(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi), JET_errInvalidBackupSequence);
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	/* Nothing was recorded. */
	{
		struct db_header hd = tu_hdr_of(b.dbpath);
		ck_assert_bk_zero(hd, BK_FULL_PREV);
		ck_assert_bk_zero(hd, BK_COPY_PREV);
	}
	free(logname);
	free(rb);
	free(db2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_read_rules)
{
	struct bank b;
	unsigned long cb, lo, hi, ps, got;
	char *names[MAXNAMES], *buf;
	int n;
	JET_HANDLE h;
	uint8_t *rb;
	uint64_t size, off;
	struct db_header hd, live;
	struct bk_trailer tr;
	char *real;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	ps = page_size_of(b.inst);
	rb = abuf(16 * ps);
	real = real_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	size = (uint64_t)hi << 32 | lo;
	ck_assert_uint_eq(size % ps, 0);
	/* Buffer rules: each fails alone and the session goes on. */
	CK_ERR(JetReadFileInstance(b.inst, h, rb + 8, 4 * ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb + 512, 4 * ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 3 * ps + 512, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 2 * ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb, ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h + 17, rb, 4 * ps, &cb), JET_errInvalidParameter);
	/* The first good read: the stamped header twice, then pages. */
	CK(JetReadFileInstance(b.inst, h, rb, 3 * ps, &got));
	ck_assert_uint_eq(got, 3 * ps);
	ck_assert_msg(memcmp(rb, rb + ps, ps) == 0, "the two header pages of the stream differ");
	CK(dbhdr_decode(rb, (uint32_t)ps, &hd));
	live = tu_hdr_of(b.dbpath);
	ck_assert_msg(hd.flags & DBHDR_FLAG_BACKUP_COPY, "the streamed header is not marked as a backup copy");
	ck_assert_msg(!(live.flags & DBHDR_FLAG_BACKUP_COPY), "the live header is marked as a backup copy");
	ck_assert_uint_ne(hd.bk[BK_FULL_CUR].gen_low, 0);
	ck_assert_uint_eq(size, ((uint64_t)hd.pgno_last + 3) * ps);
	/* Later reads may be one page. */
	off = got;
	CK(JetReadFileInstance(b.inst, h, rb, ps, &got));
	ck_assert_uint_eq(got, ps);
	off += got;
	while (off < size) {
		CK(JetReadFileInstance(b.inst, h, rb, 16 * ps, &got));
		ck_assert_uint_gt(got, 0);
		off += got;
	}
	ck_assert_uint_eq(off, size);
	/* The last page is the trailer. */
	CK(backup_trailer_decode(rb + got - ps, (uint32_t)ps, &tr));
	ck_assert_str_eq(tr.path, real);
	ck_assert_uint_eq(tr.bk.gen_low, hd.bk[BK_FULL_CUR].gen_low);
	ck_assert_uint_eq(tr.pgno_last, hd.pgno_last);
	/* End of file. */
	CK(JetReadFileInstance(b.inst, h, rb, 4 * ps, &got));
	ck_assert_uint_eq(got, 0);
	CK(JetCloseFileInstance(b.inst, h));
	/* JetfsReadFileAt is for point-in-time backups only. */
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	CK_ERR(JetfsReadFileAt(b.inst, h, 0, rb, 4096, &got), JET_errInvalidBackupSequence);
	CK(JetCloseFileInstance(b.inst, h));

	/* Logs: the first read must be at least 2 pages. */
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	ck_assert_int_ge(n, 1);
	CK(JetOpenFileInstance(b.inst, names[0], &h, &lo, &hi));
	CK_ERR(JetReadFileInstance(b.inst, h, rb, ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb + 100, 2 * ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 2 * ps + 1, &cb), JET_errInvalidParameter);
	CK(JetReadFileInstance(b.inst, h, rb, 2 * ps, &got));
	ck_assert_uint_eq(got, 2 * ps);
	CK(JetReadFileInstance(b.inst, h, rb, ps, &got));
	ck_assert_uint_eq(got, ps);
	CK(JetCloseFileInstance(b.inst, h));
	free(buf);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	free(real);
	free(rb);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_log_phase_rules)
{
	struct bank b;
	unsigned long cb, lo, hi, ps, got;
	char szz[8192], *names[MAXNAMES], *buf, *cur, *missing;
	int n;
	JET_HANDLE h;
	uint8_t *rb;
	struct bkrun r = { 0 };
	char *out = tu_tempdir();

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	rb = abuf(16 * ps);
	cur = tu_path(b.dir, "edb.log");
	missing = tu_path(b.dir, "edb0ABCD.log");
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ese_copy(b.inst, names[0], out, &r, 1);
	free(buf);
	roll_gens(&b, 3);
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	ck_assert_int_ge(n, 3);
	/* The current log is not a backup file. */
	CK_ERR(JetOpenFileInstance(b.inst, cur, &h, &lo, &hi), JET_errInvalidParameter);
	/* A log open: no GetLogInfo, no truncation, no second file. */
	CK(JetOpenFileInstance(b.inst, names[0], &h, &lo, &hi));
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errInvalidBackupSequence);
	{
		JET_HANDLE h2;
		CK_ERR(JetOpenFileInstance(b.inst, names[1], &h2, &lo, &hi), JET_errOutOfMemory);
	}
	/* Read only part of it. */
	CK(JetReadFileInstance(b.inst, h, rb, 2 * ps, &got));
	CK(JetCloseFileInstance(b.inst, h));
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errLogFileNotCopied);
	/* Every log but the last. */
	for (int i = 0; i < n - 1; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errLogFileNotCopied);
	ese_copy(b.inst, names[n - 1], out, &r, 0);
	CK(JetTruncateLogInstance(b.inst));
	/* A generation that does not exist ends the session. */
	CK_ERR(JetOpenFileInstance(b.inst, missing, &h, &lo, &hi), JET_errMissingFileToBackup);
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	free(buf);
	free(cur);
	free(missing);
	free(rb);
	tu_rmdir(out);
	free(out);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_end_rules)
{
	struct bank b;
	unsigned long cb;
	char szz[4096], *names[MAXNAMES], *buf;
	int n;
	struct bkrun r = { 0 };
	char *out = tu_tempdir();
	struct db_header before, after;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 10);
	before = tu_hdr_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK_ERR(JetEndExternalBackupInstance2(b.inst, 0), JET_errInvalidParameter);
	CK_ERR(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndNormal | JET_bitBackupEndAbort),
	    JET_errInvalidParameter);
	CK_ERR(JetEndExternalBackupInstance2(b.inst, JET_bitBackupTruncateDone), JET_errInvalidParameter);
	/* Still running. */
	CK_ERR(JetBeginExternalBackupInstance(b.inst, 0), JET_errBackupInProgress);
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	/* Every database read to its end, but no GetLogInfo: End succeeds, records nothing. */
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], out, &r, 1);
	free(buf);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndNormal | JET_bitBackupTruncateDone));
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "End(Normal) without GetLogInfo changed header slot %d", s);
	{
		struct jet_inst *in = inst_of(b.inst);
		ck_assert_bk_zero(in->dbs[1]->hdr, BK_FULL_PREV);
		ck_assert_bk_zero(in->dbs[1]->hdr, BK_COPY_PREV);
	}
	/* Nor does an incremental begin. */
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental), JET_errMissingFullBackup);
	tu_rmdir(out);
	free(out);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_stop_backup)
{
	struct bank b;
	unsigned long cb, lo, hi, ps, got;
	char szz[8192], *names[MAXNAMES], *buf;
	int n;
	JET_HANDLE h, h2;
	uint8_t *rb;
	struct bkrun r = { 0 };
	char *out = tu_tempdir();
	struct db_header before, after;
	uint8_t present[4096], present2[4096];

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	rb = abuf(8 * ps);
	roll_gens(&b, 2);
	before = tu_hdr_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ese_copy(b.inst, names[0], out, &r, 1);
	free(buf);
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	for (int i = 0; i < n - 1; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	CK(JetOpenFileInstance(b.inst, names[n - 1], &h, &lo, &hi));
	gens_present(b.dir, present, sizeof(present));
	CK(JetStopBackupInstance(b.inst));
	CK(JetStopBackupInstance(b.inst));
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 2 * ps, &got), JET_errBackupAbortByServer);
	CK_ERR(JetCloseFileInstance(b.inst, h), JET_errBackupAbortByServer);
	CK_ERR(JetOpenFileInstance(b.inst, names[0], &h2, &lo, &hi), JET_errBackupAbortByServer);
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errBackupAbortByServer);
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errBackupAbortByServer);
	CK_ERR(JetGetTruncateLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errBackupAbortByServer);
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errBackupAbortByServer);
	CK_ERR(JetfsReadFileAt(b.inst, h, 0, rb, ps, &got), JET_errBackupAbortByServer);
	CK_ERR(JetBeginExternalBackupInstance(b.inst, 0), JET_errBackupInProgress);
	/* End succeeds, as an abort: nothing recorded, nothing truncated. */
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndNormal | JET_bitBackupTruncateDone));
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a stopped backup changed header slot %d", s);
	gens_present(b.dir, present2, sizeof(present2));
	for (size_t g = 0; g < sizeof(present); g++)
		ck_assert_msg(!present[g] || present2[g], "generation %zu was deleted by a stopped backup", g);
	/* A new backup clears the stop. */
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	free(buf);
	free(rb);
	tu_rmdir(out);
	free(out);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_term_attach_detach)
{
	struct bank b;
	char *db2, *db3;
	unsigned long cb;
	char szz[4096];
	JET_DBID d;
	struct db_header hd;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	db3 = bank_add_db(&b, "third.edb");
	CK(JetDetachDatabase(b.ses, db3));
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK_ERR(JetTerm(b.inst), JET_errBackupInProgress);
	CK_ERR(JetTerm2(b.inst, JET_bitTermComplete), JET_errBackupInProgress);
	CK_ERR(JetAttachDatabase(b.ses, db3, 0), JET_errBackupInProgress);
	CK_ERR(JetDetachDatabase(b.ses, db2), JET_errBackupInProgress);
	/* The instance and the backup are still there. */
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	transfers(&b, 3);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	/* Without a backup both work. */
	CK(JetDetachDatabase(b.ses, db2));
	CK(JetAttachDatabase(b.ses, db3, 0));
	CK(JetOpenDatabase(b.ses, db3, NULL, &d, 0));
	CK(JetCloseDatabase(b.ses, d, 0));
	/* JetTerm2(StopBackup) ends a backup with the instance. */
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	CK(JetTerm2(b.inst, JET_bitTermStopBackup));
	hd = tu_hdr_of(b.dbpath);
	ck_assert_uint_eq(hd.dbstate, JET_dbstateCleanShutdown);
	ck_assert_bk_zero(hd, BK_FULL_PREV);
	ck_assert_bk_zero(hd, BK_COPY_PREV);
	/* It starts again, and a backup can run. */
	bank_restart(&b);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	bank_term(&b);
	free(db2);
	free(db3);
	bank_free(&b);
}
END_TEST

START_TEST(test_lists)
{
	struct bank b;
	char *db2, *r1, *r2, *names[MAXNAMES], *names2[MAXNAMES], *buf, *buf2;
	unsigned long need, got, cb;
	int n, n2;
	JET_LOGINFO li, li2;
	char *next;
	char szz[8192];

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	r1 = real_of(b.dbpath);
	r2 = real_of(db2);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	roll_gens(&b, 2);

	/* Attach list: cbMax 0 asks the size; too small fails; the content. */
	need = 0;
	CK(JetGetAttachInfoInstance(b.inst, NULL, 0, &need));
	ck_assert_uint_eq(need, strlen(r1) + 1 + strlen(r2) + 1 + 1);
	buf = malloc(need + 8);
	memset(buf, 'X', need + 8);
	CK_ERR(JetGetAttachInfoInstance(b.inst, buf, need - 1, &got), JET_errBufferTooSmall);
	CK_ERR(JetGetAttachInfoInstance(b.inst, buf, 1, &got), JET_errBufferTooSmall);
	got = 0;
	CK(JetGetAttachInfoInstance(b.inst, buf, need + 8, &got));
	ck_assert_uint_eq(got, need);
	ck_assert_msg(buf[need - 1] == '\0' && buf[need - 2] == '\0', "the list is not double-NUL terminated");
	n = split_list(buf, need, names);
	ck_assert_int_eq(n, 2);
	ck_assert_msg((strcmp(names[0], r1) == 0 && strcmp(names[1], r2) == 0) ||
	    (strcmp(names[0], r2) == 0 && strcmp(names[1], r1) == 0), "attach list: %s, %s", names[0], names[1]);
	free(buf);

	/* Log list: the same buffer rules; JetGetLogInfoInstance2's range matches the names. */
	memset(&li, 0, sizeof(li));
	li.cbSize = sizeof(li) - 1;
	CK_ERR(JetGetLogInfoInstance2(b.inst, szz, sizeof(szz), &cb, &li), JET_errInvalidParameter);
	need = 0;
	CK(JetGetLogInfoInstance(b.inst, NULL, 0, &need));
	ck_assert_uint_gt(need, 1);
	buf = malloc(need + 8);
	memset(buf, 'X', need + 8);
	li.cbSize = sizeof(li);
	CK_ERR(JetGetLogInfoInstance2(b.inst, buf, need - 1, &got, &li), JET_errBufferTooSmall);
	memset(&li, 0, sizeof(li));
	li.cbSize = sizeof(li);
	got = 0;
	CK(JetGetLogInfoInstance2(b.inst, buf, need, &got, &li));
	ck_assert_uint_eq(got, need);
	ck_assert_msg(buf[need - 1] == '\0' && buf[need - 2] == '\0', "the log list is not double-NUL terminated");
	n = split_list(buf, need, names);
	ck_assert_str_eq(li.szBaseName, "edb");
	ck_assert_uint_ge(li.ulGenHigh, li.ulGenLow);
	ck_assert_uint_eq((unsigned long)n, li.ulGenHigh - li.ulGenLow + 1);
	ck_assert_uint_ge(n, 2);
	for (int i = 0; i < n; i++) {
		uint32_t g = 0;
		char *want = gen_path(b.dir, (uint32_t)(li.ulGenLow + (unsigned long)i));
		ck_assert_msg(gen_of_name(names[i], &g) && g == li.ulGenLow + (unsigned long)i,
		    "log list entry %d is %s, expected generation %lu", i, names[i], li.ulGenLow + (unsigned long)i);
		ck_assert_str_eq(names[i], want);
		ck_assert_msg(access(names[i], R_OK) == 0, "%s is listed but does not exist", names[i]);
		free(want);
	}
	/* The first call closed the current generation, once: it is the one after the list. */
	next = gen_path(b.dir, (uint32_t)li.ulGenHigh + 1);
	ck_assert_uint_eq(cur_gen(b.inst), li.ulGenHigh + 1);
	ck_assert_msg(access(next, F_OK) != 0, "%s exists: the log rolled again", next);
	buf2 = get_list(b.inst, L_LOGS, names2, &n2, &li2);
	ck_assert_int_eq(n2, n);
	for (int i = 0; i < n; i++)
		ck_assert_str_eq(names2[i], names[i]);
	ck_assert_uint_eq(li2.ulGenLow, li.ulGenLow);
	ck_assert_uint_eq(li2.ulGenHigh, li.ulGenHigh);
	free(buf2);
	buf2 = get_list(b.inst, L_TRUNCATE, names2, &n2, NULL);
	for (int i = 0; i < n2; i++) {
		uint32_t g = 0;
		ck_assert(gen_of_name(names2[i], &g));
		ck_assert_uint_le(g, li.ulGenHigh);
	}
	free(buf2);
	ck_assert_uint_eq(cur_gen(b.inst), li.ulGenHigh + 1);
	ck_assert_msg(access(next, F_OK) != 0, "%s exists: the log rolled again", next);
	/* The attach list still answers in the log phase of a full backup. */
	CK(JetGetAttachInfoInstance(b.inst, NULL, 0, &need));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	free(next);
	free(buf);
	free(r1);
	free(r2);
	free(db2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ======================================================================
 * What End records in the header (ESE §2.6)
 * ====================================================================== */

START_TEST(test_header_recording)
{
	struct bank b;
	struct db_header h0, h1, h2, h3, h4, h5, h6;
	char *out;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 10);
	h0 = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(bk_is_zero(&h0.bk[s]), "a new database has backup slot %d set", s);

	/* Full without truncation: Copy. */
	{
		struct bkrun r = { .truncate = 0 };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h1 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h1, BK_COPY_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_zero(h1, BK_FULL_PREV);
		ck_assert_bk_zero(h1, BK_INC_PREV);
		ck_assert_bk_zero(h1, BK_DIFF_PREV);
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 10);
	/* Full, End with TruncateDone and no JetTruncateLog: Full. */
	{
		struct bkrun r = { .truncate = 0, .endbits = JET_bitBackupEndNormal | JET_bitBackupTruncateDone };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h2 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h2, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_same(h1, h2, BK_COPY_PREV);
		ck_assert_uint_gt(h2.bk[BK_FULL_PREV].lsn_mark, h1.bk[BK_COPY_PREV].lsn_mark);
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 10);
	/* Incremental with truncation: Incremental. */
	{
		struct bkrun r = { .grbit = JET_bitBackupIncremental, .truncate = 1 };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h3 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h3, BK_INC_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_same(h2, h3, BK_FULL_PREV);
		ck_assert_bk_same(h2, h3, BK_COPY_PREV);
		ck_assert_bk_zero(h3, BK_DIFF_PREV);
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 10);
	/* Incremental without truncation: Differential. */
	{
		struct bkrun r = { .grbit = JET_bitBackupIncremental, .truncate = 0 };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h4 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h4, BK_DIFF_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_same(h3, h4, BK_INC_PREV);
		ck_assert_bk_same(h3, h4, BK_FULL_PREV);
		ck_assert_bk_same(h3, h4, BK_COPY_PREV);
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 10);
	/* An aborted backup records nothing, even with every file read. */
	{
		struct bkrun r = { .truncate = 0, .endbits = JET_bitBackupEndAbort };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h5 = tu_hdr_of(b.dbpath);
		for (int s = 0; s < BK_NSLOTS; s++)
			ck_assert_msg(memcmp(&h4.bk[s], &h5.bk[s], sizeof(h4.bk[s])) == 0,
			    "End(Abort) changed header slot %d", s);
		tu_rmdir(out);
		free(out);
	}
	/* Full with truncation: Full, and the incremental history starts over. */
	{
		struct bkrun r = { .truncate = 1 };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h6 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h6, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_zero(h6, BK_INC_PREV);
		ck_assert_bk_zero(h6, BK_DIFF_PREV);
		ck_assert_bk_same(h5, h6, BK_COPY_PREV);
		tu_rmdir(out);
		free(out);
	}
	/* The header on disk after a clean shutdown says the same. */
	bank_term(&b);
	h5 = tu_hdr_of(b.dbpath);
	for (int s = BK_FULL_PREV; s <= BK_DIFF_PREV; s++)
		ck_assert_msg(memcmp(&h6.bk[s], &h5.bk[s], sizeof(h6.bk[s])) == 0,
		    "header slot %d changed at shutdown", s);
	bank_free(&b);
}
END_TEST

START_TEST(test_header_partial_db)
{
	struct bank b;
	char *db2, *r2, *names[MAXNAMES], *buf, *tn[MAXNAMES], *tbuf;
	int n, nt;
	struct bkrun r = { 0 };
	char *out = tu_tempdir();
	struct db_header h1, h2;
	unsigned long ps, got, lo, hi;
	uint8_t *rb;
	JET_HANDLE h;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	r2 = real_of(db2);
	ps = page_size_of(b.inst);
	rb = abuf(4 * ps);
	roll_gens(&b, 2);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ck_assert_int_eq(n, 2);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i], r2) == 0) {
			/* Not read to its end. */
			CK(JetOpenFileInstance(b.inst, names[i], &h, &lo, &hi));
			CK(JetReadFileInstance(b.inst, h, rb, 3 * ps, &got));
			CK(JetCloseFileInstance(b.inst, h));
		} else
			ese_copy(b.inst, names[i], out, &r, 1);
	}
	free(buf);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	/* The database never backed up still needs every log: nothing may be truncated (ESE). */
	tbuf = get_list(b.inst, L_TRUNCATE, tn, &nt, NULL);
	ck_assert_msg(nt == 0, "truncation would delete %d generations although %s was never backed up", nt, db2);
	free(tbuf);
	CK(JetTruncateLogInstance(b.inst));
	CK(JetEndExternalBackupInstance(b.inst));
	free(buf);
	h1 = tu_hdr_of(b.dbpath);
	h2 = tu_hdr_of(db2);
	ck_assert_bk_range(h1, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(bk_is_zero(&h2.bk[s]), "a database not read to its end got backup slot %d", s);
	tu_rmdir(out);
	free(out);
	free(rb);
	free(r2);
	free(db2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ======================================================================
 * Consistency under load
 * ====================================================================== */

START_TEST(test_load_ese)
{
	struct bank b;
	struct writer w;
	char *full = tu_tempdir(), *inc = tu_tempdir();
	uint64_t c0, c1, c2, c3, got;

	bank_create(&b, CACHE_SMALL, 0);
	writer_start(&w, &b);
	writer_wait(&w, 30);
	/* (a) full, by hand, while transfers run. */
	c0 = bank_counter(&b);
	{
		struct bkrun r = { .truncate = 1, .between = hook_writer_wait, .before_logs = hook_writer_wait_more,
		    .arg = &w };
		ese_backup(b.inst, full, &r);
	}
	c1 = bank_counter(&b);
	writer_wait(&w, 30);
	/* An incremental under load too. */
	c2 = bank_counter(&b);
	{
		struct bkrun r = { .grbit = JET_bitBackupIncremental, .truncate = 1,
		    .before_logs = hook_writer_wait_more, .arg = &w };
		ese_backup(b.inst, inc, &r);
	}
	c3 = bank_counter(&b);
	writer_wait(&w, 10);
	writer_stop(&w);
	ck_assert_uint_lt(c0, c1);
	got = restore_one(full);
	ck_assert_msg(got >= c0 && got <= c1, "restored full backup: counter %llu, not in [%llu, %llu]",
	    (unsigned long long)got, (unsigned long long)c0, (unsigned long long)c1);
	{
		const char *sets[2] = { full, inc };
		got = restore_sets(sets, 2, NULL, 0);
		ck_assert_msg(got >= c2 && got <= c3, "restored full + incremental: counter %llu, not in [%llu, %llu]",
		    (unsigned long long)got, (unsigned long long)c2, (unsigned long long)c3);
	}
	bank_check(b.ses, b.dbid, b.t);
	bank_term(&b);
	tu_rmdir(full);
	tu_rmdir(inc);
	free(full);
	free(inc);
	bank_free(&b);
}
END_TEST

struct pit_chunk {
	int file;
	uint64_t off;
	unsigned long len;
};

START_TEST(test_load_pit)
{
	struct bank b;
	struct writer w;
	char *set = tu_tempdir(), *spill;
	char *anames[MAXNAMES], *lnames[MAXNAMES], *abuf_, *lbuf;
	int na, nl, nf = 0;
	JET_LOGINFO li;
	struct {
		char *name;
		JET_HANDLE h;
		uint64_t size;
		int fd;
	} files[MAXNAMES];
	struct pit_chunk *chunks = NULL;
	size_t nchunks = 0, cap = 0;
	unsigned seed = 31337;
	uint8_t *rb = abuf(64 * 1024), *cmp = abuf(64 * 1024);
	uint64_t c_before, c_after, got;
	unsigned long cb;
	struct stat st;
	struct db_header hd;

	bank_create(&b, CACHE_SMALL, 0);
	ck_assert(asprintf(&spill, "%s.jfsbk", inst_of(b.inst)->dbs[b.dbid]->path) > 0);
	writer_start(&w, &b);
	writer_wait(&w, 30);
	/* The writer is paused around Begin: the committed state at Begin is known exactly. */
	pthread_mutex_lock(&w.pause);
	c_before = bank_counter(&b);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	c_after = bank_counter(&b);
	pthread_mutex_unlock(&w.pause);
	ck_assert_uint_eq(c_before, c_after);

	/* The whole set is known at once. */
	abuf_ = get_list(b.inst, L_ATTACH, anames, &na, NULL);
	lbuf = get_list(b.inst, L_LOGS, lnames, &nl, &li);
	ck_assert_int_eq(na, 1);
	ck_assert_int_ge(nl, 1);
	/* Every file open at once: the logs now, the database once the writer has
	 * changed pages and pushed them to disk in the generation after the set. */
	for (int k = 0; k < na + nl; k++) {
		int i = (k + na) % (na + nl);
		unsigned long lo, hi;
		char *to;
		if (i == 0) {
			writer_wait(&w, 50);
			CK(checkpoint_run(inst_of(b.inst), 0));
			writer_wait(&w, 20);
			CK(checkpoint_run(inst_of(b.inst), 0));
			ck_assert_msg(stat(spill, &st) == 0 && st.st_size > 0,
			    "no page image was kept in %s although pages were written during the backup", spill);
		}
		files[nf].name = i < na ? anames[i] : lnames[i - na];
		CK(JetOpenFileInstance(b.inst, files[nf].name, &files[nf].h, &lo, &hi));
		files[nf].size = (uint64_t)hi << 32 | lo;
		to = tu_path(set, base_of(files[nf].name));
		files[nf].fd = open(to, O_RDWR | O_CREAT | O_TRUNC, 0644);
		ck_assert(files[nf].fd >= 0);
		free(to);
		for (uint64_t off = 0; off < files[nf].size;) {
			unsigned long len = 1 + (unsigned long)rand_r(&seed) % 20000;
			if (len > files[nf].size - off)
				len = (unsigned long)(files[nf].size - off);
			if (nchunks == cap) {
				cap = cap ? cap * 2 : 256;
				chunks = realloc(chunks, cap * sizeof(*chunks));
				ck_assert(chunks != NULL);
			}
			chunks[nchunks++] = (struct pit_chunk){ nf, off, len };
			off += len;
		}
		nf++;
	}
	/* Random order. */
	for (size_t i = nchunks; i > 1; i--) {
		size_t j = (size_t)rand_r(&seed) % i;
		struct pit_chunk t = chunks[i - 1];
		chunks[i - 1] = chunks[j];
		chunks[j] = t;
	}
	for (size_t i = 0; i < nchunks; i++) {
		struct pit_chunk *c = &chunks[i];
		cb = 0;
		CK(JetfsReadFileAt(b.inst, files[c->file].h, c->off, rb, c->len, &cb));
		ck_assert_msg(cb == c->len, "JetfsReadFileAt(%s, %llu, %lu) read %lu", files[c->file].name,
		    (unsigned long long)c->off, c->len, cb);
		ck_assert(pwrite(files[c->file].fd, rb, cb, (off_t)c->off) == (ssize_t)cb);
		if (i % 8 == 7) {
			writer_wait(&w, 2);
			if (i % 64 == 63)
				CK(checkpoint_run(inst_of(b.inst), 0));
		}
	}
	/* Reread ranges: the same bytes every time. */
	for (int k = 0; k < 40; k++) {
		int f = rand_r(&seed) % nf;
		uint64_t off = (uint64_t)rand_r(&seed) % files[f].size;
		unsigned long len = 1 + (unsigned long)rand_r(&seed) % 30000;
		unsigned long want = off + len > files[f].size ? (unsigned long)(files[f].size - off) : len;
		if (k % 4 == 0)
			writer_wait(&w, 3);
		CK(JetfsReadFileAt(b.inst, files[f].h, off, rb, len, &cb));
		ck_assert_uint_eq(cb, want);
		ck_assert(pread(files[f].fd, cmp, want, (off_t)off) == (ssize_t)want);
		ck_assert_msg(memcmp(rb, cmp, want) == 0, "%s: bytes %llu+%lu differ on a second read",
		    files[f].name, (unsigned long long)off, want);
	}
	/* At and across the end of file. */
	CK(JetfsReadFileAt(b.inst, files[0].h, files[0].size, rb, 100, &cb));
	ck_assert_uint_eq(cb, 0);
	CK(JetfsReadFileAt(b.inst, files[0].h, files[0].size - 10, rb, 100, &cb));
	ck_assert_uint_eq(cb, 10);
	/* The image needs no log beyond the set. */
	for (int i = 0; i < nf; i++)
		if (strcmp(base_of(files[i].name), "bank.edb") == 0) {
			struct bk_trailer tr;
			char *img = tu_path(set, "bank.edb");
			ck_assert(fsync(files[i].fd) == 0);
			trailer_of(img, &tr);
			ck_assert_msg(tr.bk.gen_low == li.ulGenLow && tr.bk.gen_high <= li.ulGenHigh,
			    "the image's trailer needs generations %u-%u, the set has %lu-%lu", tr.bk.gen_low,
			    tr.bk.gen_high, li.ulGenLow, li.ulGenHigh);
			free(img);
		}
	for (int i = 0; i < nf; i++) {
		CK(JetCloseFileInstance(b.inst, files[i].h));
		ck_assert(fsync(files[i].fd) == 0);
		close(files[i].fd);
	}
	CK(JetEndExternalBackupInstance(b.inst));
	ck_assert_msg(access(spill, F_OK) != 0, "%s is still there after End", spill);
	hd = tu_hdr_of(b.dbpath);
	ck_assert_bk_range(hd, BK_COPY_PREV, li.ulGenLow, li.ulGenHigh);
	writer_wait(&w, 10);
	writer_stop(&w);
	got = restore_one(set);
	ck_assert_msg(got == c_before, "restored point-in-time backup: counter %llu, committed at Begin %llu",
	    (unsigned long long)got, (unsigned long long)c_before);
	bank_check(b.ses, b.dbid, b.t);
	bank_term(&b);
	free(abuf_);
	free(lbuf);
	free(chunks);
	free(rb);
	free(cmp);
	free(spill);
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

/* An ESE-mode image must say which logs it needs: at least up to the
 * generation current when its last page was read (ESE makes the trailer at
 * the end of the read), since pages written meanwhile carry those changes. */
START_TEST(test_trailer_covers_read)
{
	struct bank b;
	struct writer w;
	char *set = tu_tempdir(), *img, *names[MAXNAMES], *buf;
	int n, fd;
	unsigned long ps, lo, hi, got;
	uint8_t *rb;
	uint64_t size, off = 0;
	uint32_t g_last = 0;
	JET_HANDLE h;
	struct bk_trailer tr;
	struct bkrun r = { 0 };
	JET_ERR err;
	const char *sets[1] = { set };
	char *target = tu_tempdir();

	bank_create(&b, CACHE_SMALL, 0);
	ps = page_size_of(b.inst);
	rb = abuf(4 * ps);
	writer_start(&w, &b);
	writer_wait(&w, 20);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	size = (uint64_t)hi << 32 | lo;
	img = tu_path(set, "bank.edb");
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert(fd >= 0);
	for (int first = 1; off < size; first = 0) {
		if (!first && off == 3 * ps) {
			/* The log moves on; pages with those changes reach the disk. */
			roll_gens(&b, 2);
			writer_wait(&w, 40);
			CK(checkpoint_run(inst_of(b.inst), 0));
		}
		g_last = cur_gen(b.inst);
		CK(JetReadFileInstance(b.inst, h, rb, first ? 3 * ps : ps, &got));
		ck_assert_uint_gt(got, 0);
		ck_assert(pwrite(fd, rb, got, (off_t)off) == (ssize_t)got);
		off += got;
	}
	CK(JetCloseFileInstance(b.inst, h));
	ck_assert(fsync(fd) == 0);
	close(fd);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], set, &r, 0);
	free(buf);
	CK(JetEndExternalBackupInstance(b.inst));
	writer_stop(&w);
	trailer_of(img, &tr);
	/* Restoring only the generations the image asks for must give a consistent database. */
	err = JetfsRestoreSets(sets, 1, target, NULL, tr.bk.gen_high, NULL);
	ck_assert_msg(err == JET_errSuccess || err == JET_errEndingRestoreLogTooLow,
	    "restore stopped at the trailer's generation %u -> %s", tr.bk.gen_high, JetErrorName(err));
	if (err == JET_errSuccess)
		open_restored(target);
	ck_assert_msg(tr.bk.gen_high >= g_last,
	    "the image's trailer needs generations up to %u, but its last page was read in generation %u",
	    tr.bk.gen_high, g_last);
	/* The whole set restores. */
	restore_one(set);
	bank_term(&b);
	tu_rmdir(target);
	free(target);
	free(img);
	free(rb);
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

/*
 * An incremental whose first log does not follow the last backup recorded in
 * the header is refused (ESE mode at JetGetLogInfo, point-in-time mode at
 * Begin, where the set is fixed), with nothing recorded; after a new full
 * backup the chain goes on.
 */
START_TEST(test_incremental_gap)
{
	struct bank b;
	char *names[MAXNAMES], *buf;
	int n;
	struct db_header h1, h2;
	JET_LOGINFO li;
	uint8_t present[4096];
	uint32_t H;
	unsigned long cb;
	char szz[8192];

	bank_create(&b, CACHE_PAGES, 0);
	for (int pit = 0; pit < 2; pit++) {
		JET_GRBIT mode = pit ? JET_bitBackupJetfsPointInTime : 0;
		char *f = tu_tempdir(), *f2 = tu_tempdir(), *i1 = tu_tempdir();
		uint32_t oldest = 0;
		roll_gens(&b, 2);
		CK(JetBackupInstance(b.inst, f, mode, NULL));
		h1 = tu_hdr_of(b.dbpath);
		H = h1.bk[BK_FULL_PREV].gen_high;
		ck_assert_uint_ne(H, 0);
		roll_gens(&b, 3);
		/* An incremental lists every generation still on disk. */
		gens_present(b.dir, present, sizeof(present));
		for (uint32_t g = 1; g < sizeof(present) && oldest == 0; g++)
			if (present[g])
				oldest = g;
		ck_assert_uint_le(oldest, H + 1);
		CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental | mode));
		buf = get_list(b.inst, L_LOGS, names, &n, &li);
		ck_assert_uint_eq(li.ulGenLow, oldest);
		free(buf);
		CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
		/* Generations after the full backup disappear (not needed for recovery any more). */
		CK(checkpoint_run(inst_of(b.inst), 1));
		for (uint32_t g = oldest; g <= H + 1; g++) {
			char *p = gen_path(b.dir, g);
			unlink(p);
			free(p);
		}
		if (pit)
			CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental | mode),
			    JET_errMissingFileToBackup);
		else {
			CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental | mode));
			CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errMissingFileToBackup);
		}
		CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
		CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
		/* So does the all-in-one call, and it leaves nothing in the directory. */
		CK_ERR(JetBackupInstance(b.inst, i1, JET_bitBackupIncremental | mode, NULL), JET_errMissingFileToBackup);
		ck_assert_int_eq(count_files(i1), 0);
		h2 = tu_hdr_of(b.dbpath);
		for (int s = 0; s < BK_NSLOTS; s++)
			ck_assert_msg(memcmp(&h1.bk[s], &h2.bk[s], sizeof(h1.bk[s])) == 0, "header slot %d changed", s);
		/* A new full backup starts a new chain: its incremental is sound again. */
		CK(JetBackupInstance(b.inst, f2, mode, NULL));
		roll_gens(&b, 1);
		CK(JetBackupInstance(b.inst, i1, JET_bitBackupIncremental | mode, NULL));
		h2 = tu_hdr_of(b.dbpath);
		ck_assert_uint_le(h2.bk[BK_INC_PREV].gen_low, h2.bk[BK_FULL_PREV].gen_high + 1);
		ck_assert_uint_gt(h2.bk[BK_INC_PREV].gen_high, h2.bk[BK_FULL_PREV].gen_high);
		{
			const char *sets[2] = { f2, i1 };
			uint64_t want = bank_counter(&b);
			ck_assert_uint_eq(restore_sets(sets, 2, NULL, 0), want);
		}
		tu_rmdir(f);
		tu_rmdir(f2);
		tu_rmdir(i1);
		free(f);
		free(f2);
		free(i1);
	}
	bank_term(&b);
	bank_free(&b);
}
END_TEST

static int
count_gens(const char *dir)
{
	uint8_t present[4096];
	int n = 0;

	gens_present(dir, present, sizeof(present));
	for (size_t g = 0; g < sizeof(present); g++)
		n += present[g];
	return n;
}

/*
 * Backups begun and aborted in a loop on a quiet instance (a timer, a probe)
 * must not add a log generation each: at most one for the whole loop, in
 * point-in-time mode (Begin closes the generation) and in ESE mode
 * (JetGetLogInfo does).  Sets taken on the quiet instance then end with a
 * generation closed earlier: they restore exactly to the committed state,
 * full and incremental, and so do those taken once it is busy again.
 */
START_TEST(test_quiet_begin_loop)
{
	struct bank b;
	char *f, *i1, *i2;
	int before;
	uint64_t c;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	for (int pit = 0; pit < 2; pit++) {
		JET_GRBIT mode = pit ? JET_bitBackupJetfsPointInTime : 0;
		before = count_gens(b.dir);
		for (int i = 0; i < 50; i++) {
			char *names[MAXNAMES], *buf;
			int n;
			CK(JetBeginExternalBackupInstance(b.inst, mode));
			buf = get_list(b.inst, L_LOGS, names, &n, NULL);
			ck_assert_int_gt(n, 0);
			free(buf);
			CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
			if (i % 10 == 0)
				CK(checkpoint_run(inst_of(b.inst), 0));
		}
		ck_assert_msg(count_gens(b.dir) <= before + 1, "%s: 50 Begin/abort on a quiet instance: %d -> %d log files",
		    pit ? "point-in-time" : "ESE mode", before, count_gens(b.dir));
	}
	for (int pit = 0; pit < 2; pit++) {
		JET_GRBIT mode = pit ? JET_bitBackupJetfsPointInTime : 0;
		f = tu_tempdir();
		i1 = tu_tempdir();
		i2 = tu_tempdir();
		/* Quiet: a full backup, then an incremental with nothing new. */
		c = bank_counter(&b);
		CK(JetBackupInstance(b.inst, f, mode, NULL));
		ck_assert_uint_eq(restore_one(f), c);
		before = count_gens(b.dir);
		CK(JetBackupInstance(b.inst, i1, JET_bitBackupIncremental | mode, NULL));
		ck_assert_int_le(count_gens(b.dir), before + 1);
		{
			const char *sets[3] = { f, i1, i2 };
			ck_assert_uint_eq(restore_sets(sets, 2, NULL, 0), c);
			/* Busy again: the next incremental holds the new commits. */
			transfers(&b, 30);
			c = bank_counter(&b);
			CK(JetBackupInstance(b.inst, i2, JET_bitBackupIncremental | mode, NULL));
			ck_assert_uint_eq(restore_sets(sets, 3, NULL, 0), c);
		}
		tu_rmdir(f);
		tu_rmdir(i1);
		tu_rmdir(i2);
		free(f);
		free(i1);
		free(i2);
	}
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* Reads a whole backup file with JetfsReadFileAt; returns its size. */
static uint64_t
pit_read_all(JET_INSTANCE inst, const char *name)
{
	unsigned long lo, hi, got;
	JET_HANDLE h;
	uint64_t size, off;
	uint8_t *rb = abuf(256 * 1024);

	CK(JetOpenFileInstance(inst, name, &h, &lo, &hi));
	size = (uint64_t)hi << 32 | lo;
	for (off = 0; off < size; off += got) {
		CK(JetfsReadFileAt(inst, h, off, rb, 256 * 1024, &got));
		ck_assert_uint_gt(got, 0);
	}
	CK(JetCloseFileInstance(inst, h));
	free(rb);
	return size;
}

/*
 * K3: a point-in-time set may be read any number of times until End (jetfs:
 * until unmount), truncation included.  When the checkpoint moved past the
 * set's first generation during the backup (commits after Begin), truncation
 * must still leave every generation of the set.
 */
START_TEST(test_pit_truncate_keeps_set)
{
	struct bank b;
	char *names[MAXNAMES], *anames[MAXNAMES], *buf, *abufp;
	int n, na;
	JET_LOGINFO li;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	CK(JetBackupInstance(b.inst, NULL, 0, NULL));
	roll_gens(&b, 2);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	abufp = get_list(b.inst, L_ATTACH, anames, &na, NULL);
	buf = get_list(b.inst, L_LOGS, names, &n, &li);
	/* The instance goes on: the checkpoint moves into a later generation. */
	transfers(&b, 50);
	CK(checkpoint_run(inst_of(b.inst), 1));
	ck_assert_uint_gt(inst_of(b.inst)->ckpt.gen, li.ulGenLow);
	for (int i = 0; i < na; i++)
		pit_read_all(b.inst, anames[i]);
	for (int i = 0; i < n; i++)
		pit_read_all(b.inst, names[i]);
	CK(JetTruncateLogInstance(b.inst));
	for (int i = 0; i < n; i++) {
		ck_assert_msg(access(names[i], F_OK) == 0, "truncation deleted %s of the running set", names[i]);
		pit_read_all(b.inst, names[i]);
	}
	CK(JetEndExternalBackupInstance(b.inst));
	free(buf);
	free(abufp);
	/* An incremental's truncation still deletes what it copied, all but its last generation. */
	roll_gens(&b, 3);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime | JET_bitBackupIncremental));
	buf = get_list(b.inst, L_LOGS, names, &n, &li);
	ck_assert_int_ge(n, 3);
	for (int i = 0; i < n; i++)
		pit_read_all(b.inst, names[i]);
	CK(checkpoint_run(inst_of(b.inst), 1));
	CK(JetTruncateLogInstance(b.inst));
	for (int i = 0; i < n; i++)
		ck_assert_msg((access(names[i], F_OK) == 0) == (i == n - 1), "after the incremental's truncation: %s %s",
		    names[i], i == n - 1 ? "is gone" : "is still there");
	CK(JetEndExternalBackupInstance(b.inst));
	free(buf);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- what a killed backup leaves ---- */

/* Runs fn(arg) with the instance events of the tests (JET_TEST_EVENTS) going to stderr, captured. */
static char *
with_events(void (*fn)(void *), void *arg)
{
	char tmpl[] = "/tmp/jetevents.XXXXXX";
	int fd = mkstemp(tmpl), saved = dup(2);
	const char *was = getenv("JET_TEST_EVENTS");
	char *out;
	size_t len;

	ck_assert(fd >= 0 && saved >= 0);
	fflush(stderr);
	ck_assert(dup2(fd, 2) == 2);
	setenv("JET_TEST_EVENTS", "1", 1);
	fn(arg);
	fflush(stderr);
	if (was == NULL)
		unsetenv("JET_TEST_EVENTS");
	ck_assert(dup2(saved, 2) == 2);
	close(saved);
	close(fd);
	out = (char *)slurp(tmpl, &len);
	unlink(tmpl);
	if (was != NULL)
		fputs(out, stderr);
	return out;
}

static void
restart_cb(void *arg)
{
	bank_restart(arg);
}

struct attach_arg {
	struct bank *b;
	const char *path;
};

static void
attach_cb(void *arg)
{
	struct attach_arg *a = arg;

	CK(JetAttachDatabase(a->b->ses, a->path, 0));
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * The spill file of a point-in-time backup (<db>.jfsbk) whose process was
 * killed: JetInit (recovery opens the database) removes it and says so; so
 * does JetAttachDatabase of a database that has one.
 */
START_TEST(test_stale_spill)
{
	struct bank b;
	char *spill, *two, *two_spill, *ev;
	pid_t pid;
	int st;

	bank_create(&b, CACHE_SMALL, 0);
	spill = malloc(strlen(b.dbpath) + 8);
	sprintf(spill, "%s.jfsbk", b.dbpath);
	bank_term(&b);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		/* The application: a backup running, pages written under it, then kill -9. */
		bank_restart(&b);
		CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
		transfers(&b, 200);
		CK(checkpoint_run(inst_of(b.inst), 1));
		raise(SIGKILL);
		_exit(3);
	}
	ck_assert(waitpid(pid, &st, 0) == pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ck_assert_msg(file_size(spill) > 0, "the killed backup left no spill file to test with");
	ev = with_events(restart_cb, &b);
	ck_assert_msg(access(spill, F_OK) != 0, "%s survived JetInit", spill);
	ck_assert_msg(strstr(ev, "event 709") != NULL && strstr(ev, spill) != NULL && strstr(ev, "removed") != NULL,
	    "no event about %s in: %s", spill, ev);
	free(ev);
	bank_check(b.ses, b.dbid, b.t);

	/* A detached database with a stale spill file, attached again. */
	two = bank_add_db(&b, "two.edb");
	CK(JetDetachDatabase(b.ses, two));
	two_spill = malloc(strlen(two) + 8);
	sprintf(two_spill, "%s.jfsbk", two);
	{
		FILE *fp = fopen(two_spill, "w");
		struct attach_arg a = { &b, two };
		ck_assert(fp != NULL && fputs("stale", fp) >= 0 && fclose(fp) == 0);
		ev = with_events(attach_cb, &a);
	}
	ck_assert_msg(access(two_spill, F_OK) != 0, "%s survived JetAttachDatabase", two_spill);
	ck_assert_msg(strstr(ev, two_spill) != NULL && strstr(ev, "(5 bytes)") != NULL, "no event about %s in: %s",
	    two_spill, ev);
	free(ev);
	bank_term(&b);
	free(spill);
	free(two);
	free(two_spill);
	bank_free(&b);
}
END_TEST

struct roll_arg {
	struct bank *b;
	struct writer *w;
};

static void
hook_roll_under_load(void *arg)
{
	struct roll_arg *ra = arg;

	writer_wait(ra->w, 40);
	roll_gens(ra->b, 3);
	CK(checkpoint_run(inst_of(ra->b->inst), 0));
	writer_wait(ra->w, 20);
}

static void
hook_roll_wait(void *arg)
{
	struct roll_arg *ra = arg;

	writer_wait(ra->w, 3);
}

/* Circular logging deletes old generations all the time, never one the backup lists. */
START_TEST(test_circular_full)
{
	struct bank b;
	struct writer w;
	struct roll_arg ra;
	char *set = tu_tempdir();
	uint64_t c0, c1, got;
	uint8_t present[4096];

	g_ckpt_depth = 64 * 1024;
	bank_create(&b, CACHE_SMALL, 1);
	writer_start(&w, &b);
	ra.b = &b;
	ra.w = &w;
	roll_gens(&b, 3);
	writer_wait(&w, 20);
	c0 = bank_counter(&b);
	{
		struct bkrun r = { .truncate = 1, .between = hook_roll_wait, .before_logs = hook_roll_under_load,
		    .arg = &ra };
		ese_backup(b.inst, set, &r);
		ck_assert_int_ge(r.nlogs, 3);
	}
	c1 = bank_counter(&b);
	roll_gens(&b, 2);
	writer_wait(&w, 10);
	CK(checkpoint_run(inst_of(b.inst), 0));
	writer_stop(&w);
	gens_present(b.dir, present, sizeof(present));
	ck_assert_msg(!present[1] && !present[2], "circular logging deleted nothing: the test proves nothing");
	got = restore_one(set);
	ck_assert_msg(got >= c0 && got <= c1, "restored: counter %llu, not in [%llu, %llu]", (unsigned long long)got,
	    (unsigned long long)c0, (unsigned long long)c1);
	bank_term(&b);
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

/* A point-in-time backup by a sequential JetfsReadFileAt copy; returns the counter at Begin. */
static uint64_t
pit_backup(struct bank *b, struct writer *w, const char *dir, JET_GRBIT grbit, int truncate)
{
	char *names[MAXNAMES], *buf;
	int n, na = 0;
	uint64_t c, c2;
	uint8_t *rb = abuf(256 * 1024);
	char *anames[MAXNAMES], *abufp = NULL;

	pthread_mutex_lock(&w->pause);
	c = bank_counter(b);
	CK(JetBeginExternalBackupInstance(b->inst, JET_bitBackupJetfsPointInTime | grbit));
	c2 = bank_counter(b);
	pthread_mutex_unlock(&w->pause);
	ck_assert_uint_eq(c, c2);
	if (grbit & JET_bitBackupIncremental) {
		unsigned long cb;
		char szz[4096];
		CK_ERR(JetGetAttachInfoInstance(b->inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	} else
		abufp = get_list(b->inst, L_ATTACH, anames, &na, NULL);
	buf = get_list(b->inst, L_LOGS, names, &n, NULL);
	writer_wait(w, 30);
	CK(checkpoint_run(inst_of(b->inst), 0));
	for (int i = 0; i < na + n; i++) {
		const char *name = i < na ? anames[i] : names[i - na];
		unsigned long lo, hi, got;
		JET_HANDLE h;
		char *to = tu_path(dir, base_of(name));
		int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		uint64_t size, off;
		ck_assert(fd >= 0);
		CK(JetOpenFileInstance(b->inst, name, &h, &lo, &hi));
		size = (uint64_t)hi << 32 | lo;
		for (off = 0; off < size; off += got) {
			CK(JetfsReadFileAt(b->inst, h, off, rb, 100000, &got));
			ck_assert_uint_gt(got, 0);
			ck_assert(pwrite(fd, rb, got, (off_t)off) == (ssize_t)got);
			writer_wait(w, 1);
		}
		CK(JetCloseFileInstance(b->inst, h));
		ck_assert(fsync(fd) == 0);
		close(fd);
		free(to);
	}
	if (truncate)
		CK(JetTruncateLogInstance(b->inst));
	CK(JetEndExternalBackupInstance(b->inst));
	free(buf);
	free(abufp);
	free(rb);
	return c;
}

START_TEST(test_pit_chain)
{
	struct bank b;
	struct writer w;
	char *f = tu_tempdir(), *i1 = tu_tempdir();
	uint64_t cf, ci, got;
	struct db_header hd;

	bank_create(&b, CACHE_SMALL, 0);
	writer_start(&w, &b);
	writer_wait(&w, 20);
	cf = pit_backup(&b, &w, f, 0, 1);
	hd = tu_hdr_of(b.dbpath);
	ck_assert_uint_ne(hd.bk[BK_FULL_PREV].gen_low, 0);
	writer_wait(&w, 40);
	ci = pit_backup(&b, &w, i1, JET_bitBackupIncremental, 1);
	hd = tu_hdr_of(b.dbpath);
	ck_assert_uint_ne(hd.bk[BK_INC_PREV].gen_low, 0);
	writer_wait(&w, 10);
	writer_stop(&w);
	ck_assert_uint_lt(cf, ci);
	{
		const char *sets[2] = { f, i1 };
		got = restore_sets(sets, 1, NULL, 0);
		ck_assert_msg(got == cf, "point-in-time full: counter %llu, at Begin %llu", (unsigned long long)got,
		    (unsigned long long)cf);
		got = restore_sets(sets, 2, NULL, 0);
		ck_assert_msg(got == ci, "point-in-time full + incremental: counter %llu, at Begin %llu",
		    (unsigned long long)got, (unsigned long long)ci);
	}
	bank_term(&b);
	tu_rmdir(f);
	tu_rmdir(i1);
	free(f);
	free(i1);
	bank_free(&b);
}
END_TEST

/* Point-in-time: a file counts as copied only when every byte was read. */
START_TEST(test_pit_partial_read)
{
	struct bank b;
	char *names[MAXNAMES], *buf, *anames[MAXNAMES], *abufp;
	int n, na;
	uint8_t *rb = abuf(8192);
	uint8_t present[4096], present2[4096];
	struct db_header before, after;

	bank_create(&b, CACHE_PAGES, 0);
	roll_gens(&b, 2);
	CK(checkpoint_run(inst_of(b.inst), 1));
	transfers(&b, 10);
	before = tu_hdr_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	abufp = get_list(b.inst, L_ATTACH, anames, &na, NULL);
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	/* A few bytes of every 4 KiB block of every file: most of each file is never read. */
	for (int i = 0; i < na + n; i++) {
		unsigned long lo, hi, got;
		JET_HANDLE h;
		uint64_t size;
		CK(JetOpenFileInstance(b.inst, i < na ? anames[i] : names[i - na], &h, &lo, &hi));
		size = (uint64_t)hi << 32 | lo;
		for (uint64_t off = 0; off < size; off += 4096)
			CK(JetfsReadFileAt(b.inst, h, off, rb, 16, &got));
		CK(JetCloseFileInstance(b.inst, h));
	}
	gens_present(b.dir, present, sizeof(present));
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errLogFileNotCopied);
	/* Asked for a normal end it cannot have: the backup ends, and End says so. */
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errLogFileNotCopied);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	gens_present(b.dir, present2, sizeof(present2));
	for (size_t g = 0; g < sizeof(present); g++)
		ck_assert_msg(!present[g] || present2[g], "generation %zu was truncated although it was not copied", g);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a database that was not copied was recorded as backed up (slot %d)", s);
	free(buf);
	free(abufp);
	free(rb);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/*
 * Point-in-time: JetStopBackup between the last read (and the truncation) and
 * End makes End(normal) record an abort; ESE returns success all the same,
 * and a client would report a backup the headers do not hold.  In
 * point-in-time mode End fails instead; in ESE mode it still succeeds.
 */
START_TEST(test_pit_end_after_stop)
{
	for (int pit = 0; pit <= 1; pit++) {
		struct bank b;
		struct bkrun r = { 0 };
		char *names[MAXNAMES], *buf, *out = tu_tempdir();
		int n;
		struct db_header before, after;

		bank_create(&b, CACHE_PAGES, 0);
		roll_gens(&b, 2);
		before = tu_hdr_of(b.dbpath);
		CK(JetBeginExternalBackupInstance(b.inst, pit ? JET_bitBackupJetfsPointInTime : 0));
		buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
		for (int i = 0; i < n; i++)
			ese_copy(b.inst, names[i], out, &r, 1);
		free(buf);
		buf = get_list(b.inst, L_LOGS, names, &n, NULL);
		for (int i = 0; i < n; i++)
			ese_copy(b.inst, names[i], out, &r, 0);
		free(buf);
		CK(JetStopBackupInstance(b.inst));
		CK_ERR(JetEndExternalBackupInstance(b.inst), pit ? JET_errBackupAbortByServer : JET_errSuccess);
		CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
		after = tu_hdr_of(b.dbpath);
		for (int s = 0; s < BK_NSLOTS; s++)
			ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
			    "%s: a stopped backup changed header slot %d", pit ? "point-in-time" : "ESE", s);
		tu_rmdir(out);
		free(out);
		bank_term(&b);
		bank_free(&b);
	}
}
END_TEST
/* ======================================================================
 * Truncation safety
 * ====================================================================== */

START_TEST(test_truncate_crash)
{
	struct bank b;
	char *f = tu_tempdir(), *inc = tu_tempdir();
	char *names[MAXNAMES], *buf, *tn[MAXNAMES], *tbuf;
	int n, nt;
	struct bkrun r = { 0 };
	uint64_t c1, c2, got;
	struct checkpoint_state ck;
	char *chk;
	uint32_t maxdel = 0;

	bank_create(&b, CACHE_PAGES, 0);
	roll_gens(&b, 3);
	CK(checkpoint_run(inst_of(b.inst), 1));
	/* Then the checkpoint lags: generations recovery needs exist above it. */
	roll_gens(&b, 2);
	transfers(&b, 20);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], f, &r, 1);
	free(buf);
	transfers(&b, 10);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], f, &r, 0);
	free(buf);
	tbuf = get_list(b.inst, L_TRUNCATE, tn, &nt, NULL);
	ck_assert_msg(nt > 0, "nothing to truncate: the test needs a checkpoint past some generations");
	CK(JetTruncateLogInstance(b.inst));
	CK(JetEndExternalBackupInstance(b.inst));
	chk = tu_path(b.dir, "edb.chk");
	CK(checkpoint_read(chk, &ck));
	for (int i = 0; i < nt; i++) {
		uint32_t g = 0;
		ck_assert(gen_of_name(tn[i], &g));
		ck_assert_msg(access(tn[i], F_OK) != 0, "%s was listed for truncation but is still there", tn[i]);
		ck_assert_msg(g < ck.gen, "generation %u was truncated but the checkpoint is at %u", g, ck.gen);
		if (g > maxdel)
			maxdel = g;
	}
	/* Every generation from the oldest kept up to the current one is there. */
	for (uint32_t g = maxdel + 1; g < cur_gen(b.inst); g++) {
		char *p = gen_path(b.dir, g);
		ck_assert_msg(access(p, F_OK) == 0, "generation %u (checkpoint %u) is gone after truncation", g, ck.gen);
		free(p);
	}
	checkpoint_state_free(&ck);
	free(tbuf);
	/* Crash, with committed work after the checkpoint. */
	transfers(&b, 25);
	c1 = bank_counter(&b);
	CK(JetTerm2(b.inst, JET_bitTermAbrupt));
	bank_restart(&b);
	got = bank_check(b.ses, b.dbid, b.t);
	ck_assert_msg(got == c1, "after the crash: counter %llu, committed %llu", (unsigned long long)got,
	    (unsigned long long)c1);
	/* The full backup is still recorded: an incremental follows it. */
	transfers(&b, 15);
	CK(JetBackupInstance(b.inst, inc, JET_bitBackupIncremental, NULL));
	c2 = bank_counter(&b);
	transfers(&b, 5);
	{
		const char *sets[2] = { f, inc };
		got = restore_sets(sets, 2, NULL, 0);
		ck_assert_msg(got == c2, "full + incremental after a crash: counter %llu, expected %llu",
		    (unsigned long long)got, (unsigned long long)c2);
	}
	bank_term(&b);
	free(chk);
	tu_rmdir(f);
	tu_rmdir(inc);
	free(f);
	free(inc);
	bank_free(&b);
}
END_TEST

/* ======================================================================
 * Damage found by the backup
 * ====================================================================== */

START_TEST(test_corrupt_page)
{
	struct bank b;
	char *db2, *r2, *names[MAXNAMES], *buf;
	int n;
	unsigned long ps, lo, hi, got;
	uint8_t *rb;
	uint32_t victim = 0;
	struct db_header before, before2, after, after2;
	struct bkrun r = { 0 };
	char *out = tu_tempdir(), *out2 = tu_tempdir();
	JET_HANDLE h;
	JET_ERR err = JET_errSuccess;
	uint64_t off = 0;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	r2 = real_of(db2);
	transfers(&b, 20);
	ps = page_size_of(b.inst);
	rb = abuf(4 * ps);
	/* Every page on disk and clean: restart. */
	bank_term(&b);
	bank_restart(&b);
	{
		/* A used page in the middle of the file. */
		os_file *fh;
		uint32_t last = 0;
		CK(space_pgno_last(inst_of(b.inst)->dbs[b.dbid], &last));
		CK(os_open(b.dbpath, OS_READ, &fh));
		for (uint32_t p = last / 2 + 1; p <= last && victim == 0; p++) {
			CK(os_pread(fh, rb, ps, page_offset(p, (uint32_t)ps)));
			if (!page_is_zero(rb, (uint32_t)ps) && page_verify(rb, (uint32_t)ps, p) == JET_errSuccess)
				victim = p;
		}
		os_close(fh);
		ck_assert_msg(victim != 0, "no used page to damage");
	}
	before = tu_hdr_of(b.dbpath);
	before2 = tu_hdr_of(db2);
	tu_scribble(b.dbpath, page_offset(victim, (uint32_t)ps) + 200, 300, 0xA5);

	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ck_assert_int_eq(n, 2);
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	for (got = 1; got > 0;) {
		err = JetReadFileInstance(b.inst, h, rb, 4 * ps, &got);
		if (err < 0)
			break;
		off += got;
	}
	ck_assert_msg(err == JET_errReadVerifyFailure, "reading a damaged page (%u) -> %s after %llu bytes", victim,
	    JetErrorName(err), (unsigned long long)off);
	/* The file was closed; the session goes on with the other database. */
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 4 * ps, &got), JET_errInvalidParameter);
	CK_ERR(JetCloseFileInstance(b.inst, h), JET_errInvalidParameter);
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], r2) == 0)
			ese_copy(b.inst, names[i], out, &r, 1);
	free(buf);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	free(buf);
	CK(JetTruncateLogInstance(b.inst));
	CK(JetEndExternalBackupInstance(b.inst));
	after = tu_hdr_of(b.dbpath);
	after2 = tu_hdr_of(db2);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "the damaged database's header slot %d changed", s);
	ck_assert_bk_range(after2, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
	ck_assert_bk_zero(before2, BK_FULL_PREV);
	/* JetBackupInstance fails with the same error and leaves nothing. */
	CK_ERR(JetBackupInstance(b.inst, out2, 0, NULL), JET_errReadVerifyFailure);
	ck_assert_int_eq(count_files(out2), 0);
	bank_term(&b);
	tu_rmdir(out);
	tu_rmdir(out2);
	free(out);
	free(out2);
	free(rb);
	free(r2);
	free(db2);
	bank_free(&b);
}
END_TEST

START_TEST(test_corrupt_log)
{
	struct bank b;
	char *names[MAXNAMES], *buf;
	int n;
	unsigned long ps, lo, hi, got, cb;
	uint8_t *rb;
	struct db_header before, after;
	struct bkrun r = { 0 };
	char *out = tu_tempdir(), *victim;
	char szz[4096];
	JET_HANDLE h;

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	rb = abuf(4 * ps);
	before = tu_hdr_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ese_copy(b.inst, names[0], out, &r, 1);
	free(buf);
	roll_gens(&b, 3);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	ck_assert_int_ge(n, 3);
	/* A full generation in the middle of the list. */
	victim = names[n / 2];
	tu_scribble(victim, LOG_HDR_SIZE + 64, 64, 0x5A);
	for (int i = 0; i < n / 2; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	CK(JetOpenFileInstance(b.inst, victim, &h, &lo, &hi));
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 4 * ps, &got), JET_errLogReadVerifyFailure);
	/* The session is over. */
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 4 * ps, &got), JET_errNoBackup);
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a failed backup changed header slot %d", s);
	free(buf);
	bank_term(&b);
	tu_rmdir(out);
	free(out);
	free(rb);
	bank_free(&b);
}
END_TEST

/*
 * A precondition that does not hold (issue 13): the snapshot's calls need
 * the database's bk_io_lock, held by the calling thread.  Without it, or
 * with another thread holding it, the instance goes down and the call
 * returns JET_errInternalError; a -DJET_DEBUG build aborts instead.
 */
static void *
other_thread_snapshot_failed(void *arg)
{
	return (void *)(intptr_t)snapshot_failed(arg);
}

START_TEST(test_precondition_lock_held)
{
	struct jet_inst inst;
	struct jet_db db;
	pthread_t t;
	void *ret;

	memset(&inst, 0, sizeof(inst));
	memset(&db, 0, sizeof(db));
	inst.p.event_target = JET_JetfsEventNone;
	db.inst = &inst;
	olock_init(&db.bk_io_lock);
	olock_lock(&db.bk_io_lock);
	ck_assert_int_eq(snapshot_failed(&db), JET_errSuccess);
	ck_assert_int_eq(pthread_create(&t, NULL, other_thread_snapshot_failed, &db), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_int_eq((JET_ERR)(intptr_t)ret, JET_errInternalError);
	ck_assert_int_eq(inst.unavailable, JET_errInternalError);
	olock_unlock(&db.bk_io_lock);
	inst.unavailable = JET_errSuccess;
	ck_assert_int_eq(snapshot_failed(&db), JET_errInternalError);
	ck_assert_int_eq(inst.unavailable, JET_errInternalError);
	olock_destroy(&db.bk_io_lock);
}
END_TEST

static Suite *
backup_suite(void)
{
	Suite *s = suite_create("backup");

	tu_add_test(s, "no_backup", test_no_backup, 60);
	tu_add_test(s, "begin_rules", test_begin_rules, 60);
	tu_add_test(s, "incremental_rules", test_incremental_rules, 60);
	tu_add_test(s, "open_rules", test_open_rules, 60);
	tu_add_test(s, "read_rules", test_read_rules, 60);
	tu_add_test(s, "log_phase_rules", test_log_phase_rules, 60);
	tu_add_test(s, "end_rules", test_end_rules, 60);
	tu_add_test(s, "stop_backup", test_stop_backup, 60);
	tu_add_test(s, "term_attach_detach", test_term_attach_detach, 60);
	tu_add_test(s, "lists", test_lists, 60);
	tu_add_test(s, "header_recording", test_header_recording, 60);
	tu_add_test(s, "header_partial_db", test_header_partial_db, 60);
	tu_add_test(s, "load_ese", test_load_ese, 120);
	tu_add_test(s, "load_pit", test_load_pit, 120);
	tu_add_test(s, "trailer_covers_read", test_trailer_covers_read, 60);
	tu_add_test(s, "circular_full", test_circular_full, 60);
	tu_add_test(s, "pit_chain", test_pit_chain, 60);
	tu_add_test(s, "pit_end_after_stop", test_pit_end_after_stop, 60);
	tu_add_test(s, "pit_partial_read", test_pit_partial_read, 60);
	tu_add_test(s, "incremental_gap", test_incremental_gap, 60);
	tu_add_test(s, "stale_spill", test_stale_spill, 60);
	tu_add_test(s, "pit_truncate_keeps_set", test_pit_truncate_keeps_set, 60);
	tu_add_test(s, "quiet_begin_loop", test_quiet_begin_loop, 120);
	tu_add_test(s, "truncate_crash", test_truncate_crash, 60);
	tu_add_test(s, "corrupt_page", test_corrupt_page, 60);
	tu_add_test(s, "corrupt_log", test_corrupt_log, 60);
#ifdef JET_DEBUG
	TCase *tc = tcase_create("precondition_lock_held");
	tcase_add_test_raise_signal(tc, test_precondition_lock_held, SIGABRT);
	suite_add_tcase(s, tc);
#else
	tu_add_test(s, "precondition_lock_held", test_precondition_lock_held, 60);
#endif
	return s;
}

int
main(void)
{
	return tu_run(backup_suite());
}
