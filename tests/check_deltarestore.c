/*
 * check_deltarestore.c -- restore of a full set followed by a delta set
 * (restore.c step 0, issue 16): the staged apply, and every refusal, each
 * before anything is left in the target.
 *
 * The fixture builds a delta set as the engine's delta backup would: two
 * point-in-time fulls of the bank (the second after transfers and new
 * records that grow the database); the second's file page 0 is the header
 * stamped at its Begin (bk[BK_FULL_PREV] = the first full), and its pages are
 * the Begin images, so the pages that differ between the two images make the
 * delta of the first full as of the second's Begin (as in check_delta.c).
 * The delta set is that delta, named bank.edb.delta, with the second full's
 * log generations (the mark's gen_low..gen_high).  FULL1 + DELTA restores to
 * the second full's counter; an incremental taken after the second full
 * continues the chain (FULL1 DELTA INC).
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "bankutil.h"

#define NEW_RECORDS 60		/* of NEW_VALUE bytes: grows the database between the two fulls */
#define NEW_VALUE 3000

struct fx {
	struct bank b;
	char *full1, *full2, *dset, *inc, *work;
	char *img1;			/* full 1's image of bank.edb */
	uint8_t *i1, *i2;		/* the two fulls' images */
	size_t l1, l2;
	uint32_t ps, p1, p2;
	uint32_t *pgnos, n;		/* the pages that changed from full 1 to full 2 */
	struct bk_trailer t1, t2;	/* the fulls' trailers (t2.bk: the delta's mark) */
	uint64_t c2, c3;		/* the counter at full 2 (the delta's Begin), at the incremental */
	uint64_t us_mid;		/* a moment after full 2's Begin, before the transfers after it */
};

static const uint8_t *
page_in(const uint8_t *img, uint32_t ps, uint32_t pgno)
{
	return img + page_offset(pgno, ps);
}

static JET_ERR
read_from_image(void *arg, uint32_t pgno, uint8_t *page)
{
	struct fx *f = arg;

	memcpy(page, page_in(f->i2, f->ps, pgno), f->ps);
	return JET_errSuccess;
}

static uint64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void
spit(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert(fd >= 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Writes the delta of pages pgnos[0..n-1] of full 2's image under stamp to dir/bank.edb.delta. */
static void
write_delta(struct fx *f, const uint8_t *stamp, const char *dir)
{
	struct delta_writer *w;
	char *path = tu_path(dir, "bank.edb.delta");
	uint64_t size;
	uint8_t *buf;

	CK(delta_writer_open(stamp, f->ps, f->b.dbpath, f->pgnos, f->n, read_from_image, f, &w));
	size = delta_writer_size(w);
	buf = malloc(size);
	CK(delta_writer_read(w, buf, 0, size));
	delta_writer_close(w);
	spit(path, buf, size);
	free(buf);
	free(path);
}

/* Full 2's logs into dir: the delta set's generations. */
static void
copy_logs(struct fx *f, const char *dir)
{
	for (uint32_t g = f->t2.bk.gen_low; g <= f->t2.bk.gen_high; g++) {
		char *from = gen_path(f->full2, g), *to = gen_path(dir, g);
		tu_copy_file(from, to);
		free(from);
		free(to);
	}
}

/* A delta set under stamp (NULL: full 2's own) in a new directory. */
static char *
make_dset(struct fx *f, const uint8_t *stamp)
{
	char *dir = tu_tempdir();

	write_delta(f, stamp != NULL ? stamp : f->i2, dir);
	copy_logs(f, dir);
	return dir;
}

static void
fx_make(struct fx *f)
{
	uint8_t val[NEW_VALUE];
	char *img2;

	memset(f, 0, sizeof(*f));
	bank_create(&f->b, CACHE_PAGES, 0);
	f->full1 = tu_tempdir();
	f->full2 = tu_tempdir();
	f->inc = tu_tempdir();
	f->work = tu_tempdir();
	transfers(&f->b, 20);
	CK(JetBackupInstance(f->b.inst, f->full1, JET_bitBackupJetfsPointInTime, NULL));
	transfers(&f->b, 3);
	memset(val, 0x5a, sizeof(val));
	for (int i = 0; i < NEW_RECORDS; i++) {
		char key[16];
		snprintf(key, sizeof(key), "new%05d", i);
		CK(JetBeginTransaction(f->b.ses));
		CK(kv_put(f->b.ses, f->b.t, key, val, sizeof(val), 1));
		CK(JetCommitTransaction(f->b.ses, 0));
	}
	f->c2 = bank_counter(&f->b);
	CK(JetBackupInstance(f->b.inst, f->full2, JET_bitBackupJetfsPointInTime, NULL));
	usleep(20000);
	f->us_mid = now_us();
	usleep(20000);
	transfers(&f->b, 10);
	roll_gens(&f->b, 1);
	CK(JetBackupInstance(f->b.inst, f->inc, JET_bitBackupIncremental, NULL));
	f->c3 = bank_counter(&f->b);
	bank_term(&f->b);
	f->img1 = tu_path(f->full1, "bank.edb");
	img2 = tu_path(f->full2, "bank.edb");
	f->i1 = slurp(f->img1, &f->l1);
	f->i2 = slurp(img2, &f->l2);
	trailer_of(f->img1, &f->t1);
	trailer_of(img2, &f->t2);
	f->ps = tu_hdr_of(f->img1).page_size;
	f->p1 = tu_hdr_of(f->img1).pgno_last;
	f->p2 = tu_hdr_of(img2).pgno_last;
	f->pgnos = malloc(f->p2 * sizeof(*f->pgnos));
	for (uint32_t p = 1; p <= f->p2; p++)
		if (p > f->p1 || memcmp(page_in(f->i1, f->ps, p), page_in(f->i2, f->ps, p), f->ps) != 0)
			f->pgnos[f->n++] = p;
	ck_assert_msg(f->n > 2 && f->n < f->p2, "%u of %u pages changed (full 1: %u)", f->n, f->p2, f->p1);
	ck_assert(f->c2 < f->c3);
	f->dset = make_dset(f, NULL);
	free(img2);
}

static void
fx_free(struct fx *f)
{
	const char *dirs[] = { f->full1, f->full2, f->dset, f->inc, f->work };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		tu_rmdir(dirs[i]);
		free((char *)dirs[i]);
	}
	bank_free(&f->b);
	free(f->img1);
	free(f->i1);
	free(f->i2);
	free(f->pgnos);
}

/* Every entry of dir, hidden ones and directories too (a staging directory left behind counts). */
static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Whether dir holds a staging directory of restore or verify. */
static int
has_staging(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL)
		found |= strncmp(de->d_name, ".jetfs-delta-", 13) == 0;
	closedir(d);
	return found;
}

/* Restores sets into a new target: the counter, and no staged image left there. */
static uint64_t
restore_ok(const char *const *sets, unsigned long n, unsigned long genstop)
{
	char *target = tu_tempdir();
	JET_ERR err = JetfsRestoreSets(sets, n, target, NULL, genstop, NULL);
	uint64_t c;

	ck_assert_msg(err == JET_errSuccess, "JetfsRestoreSets(%lu sets, stop %lu) -> %s", n, genstop, JetErrorName(err));
	ck_assert_msg(!has_staging(target), "a restore left its staged images in %s", target);
	c = open_restored(target);
	tu_rmdir(target);
	free(target);
	return c;
}

/* The problems the one checker reports for sets (verify-backup's mode), staging under the work directory. */
struct report {
	char text[16384];
	int problems;
};

static void
report_cb(void *arg, int problem, const char *msg)
{
	struct report *r = arg;
	size_t len = strlen(r->text);

	if (!problem)
		return;
	r->problems++;
	snprintf(r->text + len, sizeof(r->text) - len, "%s\n", msg);
}

static JET_ERR
chain_report(struct fx *f, const char *const *sets, int n, int alone_ok, struct report *r, struct restore_chain *c)
{
	memset(r, 0, sizeof(*r));
	memset(c, 0, sizeof(*c));
	snprintf(c->base, sizeof(c->base), "edb");
	c->report = report_cb;
	c->report_arg = r;
	for (int i = 0; i < n; i++)
		(void)restore_chain_scan(c, sets[i], i == 0);
	(void)restore_chain_match_deltas(c, alone_ok);
	if (c->nimgs > 0)
		(void)restore_chain_stage_deltas(c, f->work);
	return restore_chain_check(c, 0);
}

/*
 * A restore of sets that must fail with want: the target left empty (no
 * staging directory either), the full set's image untouched, and the
 * checker's report says what is wrong (says, if not NULL).  early: refused
 * before anything is written in the target, which every write there would
 * fail to show (a sticky fault on the target's path).
 */
static void
refused_how(struct fx *f, const char *const *sets, unsigned long n, JET_ERR want, const char *says, int early)
{
	char *target = tu_tempdir();
	struct report r;
	struct restore_chain c;
	JET_ERR err;
	size_t len;
	uint8_t *now;

	if (early)
		os_fault_arm(OS_FAULT_EIO, 1, 1, 0, target);
	err = JetfsRestoreSets(sets, n, target, NULL, 0, NULL);
	os_fault_disarm();

	ck_assert_msg(err == want, "JetfsRestoreSets -> %s, expected %s", JetErrorName(err), JetErrorName(want));
	ck_assert_msg(entries(target) == 0, "a refused restore left %d entries in its target", entries(target));
	now = slurp(f->img1, &len);
	ck_assert_msg(len == f->l1 && memcmp(now, f->i1, len) == 0, "a refused restore changed the full's image");
	free(now);
	if (says != NULL) {
		(void)chain_report(f, sets, (int)n, 0, &r, &c);
		ck_assert_msg(r.problems > 0 && strstr(r.text, says) != NULL, "the report says \"%s\", not \"...%s...\"",
		    r.text, says);
		ck_assert_msg(c.err == want, "the report's first error is %s, not %s", JetErrorName(c.err),
		    JetErrorName(want));
		restore_chain_free(&c);
		ck_assert_msg(!has_staging(f->work), "the checker left its staged images");
	}
	tu_rmdir(target);
	free(target);
}

/* Refused before anything is written in the target. */
static void
refused(struct fx *f, const char *const *sets, unsigned long n, JET_ERR want, const char *says)
{
	refused_how(f, sets, n, want, says, 1);
}

/* Refused by the chain check of the staged images (step 1 or 2), which the staging's writes precede. */
static void
refused_late(struct fx *f, const char *const *sets, unsigned long n, JET_ERR want, const char *says)
{
	refused_how(f, sets, n, want, says, 0);
}

/* FULL DELTA is the state at the delta's Begin; FULL DELTA INC goes on; the full set is never written. */
START_TEST(test_full_delta)
{
	struct fx f;
	size_t len;
	uint8_t *now;

	fx_make(&f);
	{
		const char *sets[3] = { f.full1, f.dset, f.inc };
		uint64_t got = restore_ok(sets, 2, 0);
		ck_assert_msg(got == f.c2, "full + delta: counter %llu, expected %llu (the delta's Begin)",
		    (unsigned long long)got, (unsigned long long)f.c2);
		got = restore_ok(sets, 3, 0);
		ck_assert_msg(got == f.c3, "full + delta + incremental: counter %llu, expected %llu",
		    (unsigned long long)got, (unsigned long long)f.c3);
	}
	{
		/* Against the full alone: the full's own counter, not the delta's (nothing of it stayed). */
		const char *sets[1] = { f.full1 };
		ck_assert_uint_lt(restore_ok(sets, 1, 0), f.c2);
	}
	now = slurp(f.img1, &len);
	ck_assert_msg(len == f.l1 && memcmp(now, f.i1, len) == 0, "restore wrote to the full set's image");
	free(now);
	fx_free(&f);
}
END_TEST

/* --stop-gen and --stop-at with a delta in the chain: replay starts at the delta's gen_low. */
START_TEST(test_stop)
{
	struct fx f;
	JET_JETFSSTOPAT sa;
	char *target;
	JET_ERR err;

	fx_make(&f);
	{
		const char *sets[3] = { f.full1, f.dset, f.inc };
		uint64_t got = restore_ok(sets, 3, f.t2.bk.gen_high);
		ck_assert_msg(got == f.c2, "stop at the delta's last generation: counter %llu, expected %llu",
		    (unsigned long long)got, (unsigned long long)f.c2);
		/* Before the delta's end: its image is not consistent yet. */
		if (f.t2.bk.gen_high > 1) {
			target = tu_tempdir();
			err = JetfsRestoreSets(sets, 3, target, NULL, f.t2.bk.gen_high - 1, NULL);
			ck_assert_msg(err == JET_errEndingRestoreLogTooLow, "stop before the delta's end -> %s",
			    JetErrorName(err));
			ck_assert_int_eq(entries(target), 0);
			tu_rmdir(target);
			free(target);
		}
		/* A moment after the delta's Begin, before the transfers of the incremental. */
		target = tu_tempdir();
		memset(&sa, 0, sizeof(sa));
		sa.cbStruct = sizeof(sa);
		sa.usStopAt = f.us_mid;
		err = JetfsRestoreSetsStopAt(sets, 3, target, NULL, &sa, NULL);
		ck_assert_msg(err == JET_errSuccess, "stop-at after the delta's Begin -> %s", JetErrorName(err));
		ck_assert(!has_staging(target));
		ck_assert_uint_eq(open_restored(target), f.c2);
		tu_rmdir(target);
		free(target);
	}
	fx_free(&f);
}
END_TEST

static void
other_instance(struct db_header *h, void *arg)
{
	tu_hdr_other_db(h, arg);
	tu_hdr_other_log_set(h, arg);
}

/* Full 2's stamp, changed. */
static uint8_t *
stamp_with(struct fx *f, void (*change)(struct db_header *h, void *arg))
{
	uint8_t *stamp = malloc(f->ps);
	struct db_header h;

	CK(dbhdr_decode(f->i2, f->ps, &h));
	change(&h, NULL);
	dbhdr_encode(&h, stamp);
	return stamp;
}

/* A delta set whose delta is another base's, database's, instance's, or log set's. */
START_TEST(test_refuse_mismatch)
{
	struct fx f;
	char need[160], *d;
	uint8_t *stamp;

	fx_make(&f);
	/* Full 2 given as the full: the message names the full the delta needs and the one given. */
	snprintf(need, sizeof(need), "needs the full backup of");
	{
		const char *sets[2] = { f.full2, f.dset };
		char lsn[64];
		refused(&f, sets, 2, JET_errDatabasePatchFileMismatch, need);
		snprintf(lsn, sizeof(lsn), "mark LSN %llu, log generations %u to %u", (unsigned long long)f.t1.bk.lsn_mark,
		    f.t1.bk.gen_low, f.t1.bk.gen_high);
		refused(&f, sets, 2, JET_errDatabasePatchFileMismatch, lsn);
		snprintf(lsn, sizeof(lsn), "mark LSN %llu", (unsigned long long)f.t2.bk.lsn_mark);
		refused(&f, sets, 2, JET_errDatabasePatchFileMismatch, lsn);
	}
	/* Another database's delta, another instance's (no image of its database in the full), the same
	 * database in another log set. */
	{
		static const struct {
			void (*edit)(struct db_header *, void *);
			const char *says;
		} foreign[] = {
			{ tu_hdr_other_db, "has no image of that database" },
			{ other_instance, "has no image of that database" },
			{ tu_hdr_other_log_set, "another log set" },
		};
		for (size_t k = 0; k < sizeof(foreign) / sizeof(foreign[0]); k++) {
			stamp = stamp_with(&f, foreign[k].edit);
			d = make_dset(&f, stamp);
			{
				const char *sets[2] = { f.full1, d };
				refused(&f, sets, 2, JET_errDatabasePatchFileMismatch, foreign[k].says);
			}
			tu_rmdir(d);
			free(d);
			free(stamp);
		}
	}
	fx_free(&f);
}
END_TEST

/* A delta set without its full before it, two delta sets, a delta set after an incremental. */
START_TEST(test_refuse_order)
{
	struct fx f;
	char *d2;

	fx_make(&f);
	{
		const char *sets[1] = { f.dset };
		refused(&f, sets, 1, JET_errMissingFullBackup, "page delta in the first set given");
	}
	{
		const char *sets[2] = { f.dset, f.full1 };
		refused(&f, sets, 2, JET_errMissingFullBackup, "page delta in the first set given");
	}
	d2 = make_dset(&f, NULL);
	{
		const char *sets[3] = { f.full1, f.dset, d2 };
		refused(&f, sets, 3, JET_errInvalidBackupSequence, "second delta set");
	}
	{
		const char *sets[3] = { f.full1, f.inc, f.dset };
		refused(&f, sets, 3, JET_errInvalidBackupSequence, "right after the full");
	}
	/* Under another name, a delta is still a delta: never skipped as a stranger. */
	{
		char *from = tu_path(d2, "bank.edb.delta"), *to = tu_path(d2, "renamed.bin");
		const char *sets[1] = { d2 };
		ck_assert(rename(from, to) == 0);
		refused(&f, sets, 1, JET_errMissingFullBackup, "renamed.bin is a page delta");
		free(from);
		free(to);
	}
	tu_rmdir(d2);
	free(d2);
	fx_free(&f);
}
END_TEST

/* A damaged or truncated delta, a delta set whose delta is missing: refused before any write. */
START_TEST(test_refuse_damaged)
{
	struct fx f;
	char *path = NULL;
	uint8_t *d;
	size_t len;

	fx_make(&f);
	path = tu_path(f.dset, "bank.edb.delta");
	d = slurp(path, &len);
	{
		const char *sets[2] = { f.full1, f.dset };
		d[len - (size_t)f.ps / 2] ^= 1;	/* in the last page */
		spit(path, d, len);
		refused(&f, sets, 2, JET_errReadVerifyFailure, "does not match its index entry's CRC");
		d[len - (size_t)f.ps / 2] ^= 1;
		spit(path, d, len - 1);
		refused(&f, sets, 2, JET_errMissingPatchPage, "truncated");
		/* Its delta gone, the set is logs that do not follow the full: the image has no delta. */
		ck_assert(unlink(path) == 0);
		refused(&f, sets, 2, JET_errMissingLogFile, NULL);
		spit(path, d, len);
		ck_assert_uint_eq(restore_ok(sets, 2, 0), f.c2);
		/* Without its logs: the full's are all before what the applied image needs, and no substitute. */
		for (uint32_t g = f.t2.bk.gen_low; g <= f.t2.bk.gen_high; g++) {
			char *log = gen_path(f.dset, g);
			ck_assert(unlink(log) == 0);
			free(log);
		}
		refused_late(&f, sets, 2, JET_errStartingRestoreLogTooHigh, "is missing: the images need generations");
	}
	free(d);
	free(path);
	fx_free(&f);
}
END_TEST

/*
 * Another instance in the sets: a generation of its log in the delta set is
 * refused (the delta's log set is the one replayed); its image in the full
 * set, which has no delta in the delta set, too.
 */
START_TEST(test_refuse_other_logs)
{
	struct fx f;
	struct bank o;
	char *mine, *theirs, *oset, *fullx, *from, *to;

	fx_make(&f);
	bank_create(&o, CACHE_PAGES, 0);
	oset = tu_tempdir();
	CK(JetBackupInstance(o.inst, oset, JET_bitBackupJetfsPointInTime, NULL));	/* before: it truncates */
	while (cur_gen(o.inst) <= f.t2.bk.gen_high)
		roll_gens(&o, 1);
	bank_term(&o);
	/* A full set with an image the delta set has no delta of: refused, not restored from the full alone. */
	fullx = tu_tempdir();
	cp_all(f.full1, fullx);
	from = tu_path(oset, "bank.edb");
	to = tu_path(fullx, "other.edb");
	tu_copy_file(from, to);
	{
		const char *sets[2] = { fullx, f.dset };
		refused(&f, sets, 2, JET_errFileNotFound, "other.edb: the delta set has no sound delta of this database");
	}
	tu_rmdir(fullx);
	tu_rmdir(oset);
	free(fullx);
	free(oset);
	free(from);
	free(to);
	mine = gen_path(f.dset, f.t2.bk.gen_high);
	theirs = gen_path(o.dir, f.t2.bk.gen_high);
	tu_copy_file(theirs, mine);
	{
		const char *sets[2] = { f.full1, f.dset };
		refused_late(&f, sets, 2, JET_errGivenLogFileHasBadSignature, "belongs to another log set");
	}
	free(mine);
	free(theirs);
	bank_free(&o);
	fx_free(&f);
}
END_TEST

/*
 * The staged apply fails at every write in turn (the copy, then each step
 * of the apply): the restore fails, and neither the half-applied staged
 * image nor its directory is left in the target; the full is untouched.
 */
START_TEST(test_staged_apply_fails)
{
	struct fx f;
	const char *sets[2];
	int failed = 0, cleanup_faults = 0;

	fx_make(&f);
	sets[0] = f.full1;
	sets[1] = f.dset;
	for (long k = 1;; k++) {
		char *target = tu_tempdir();
		size_t len;
		uint8_t *now;
		JET_ERR err;
		os_fault_arm(OS_FAULT_EIO, k, 0, 0, "/.jetfs-delta-");
		err = JetfsRestoreSets(sets, 2, target, NULL, 0, NULL);
		os_fault_disarm();
		if (err >= 0 && has_staging(target)) {
			/* The fault hit the removal of the staging (its file, its directory) after a complete restore. */
			ck_assert_int_le(++cleanup_faults, 2);
			tu_rmdir(target);
			free(target);
			continue;
		}
		if (err >= 0) {
			ck_assert(!has_staging(target));
			ck_assert_uint_eq(open_restored(target), f.c2);
			tu_rmdir(target);
			free(target);
			break;
		}
		failed++;
		ck_assert_msg(err == JET_errDiskIO, "write %ld of the staging -> %s", k, JetErrorName(err));
		ck_assert_msg(entries(target) == 0, "write %ld failed: %d entries left in the target", k, entries(target));
		now = slurp(f.img1, &len);
		ck_assert_msg(len == f.l1 && memcmp(now, f.i1, len) == 0, "write %ld failed: the full's image changed", k);
		free(now);
		tu_rmdir(target);
		free(target);
	}
	/* The copy's writes, then the apply's: each delta page is one.  (The staged image is renamed into
	 * place, not removed: only the staging directory's removal can fail after a complete restore.) */
	ck_assert_int_ge(failed, (int)f.n);
	fx_free(&f);
}
END_TEST

/* The checker in verify-backup's mode: a delta set alone, and with its full. */
START_TEST(test_verify_mode)
{
	struct fx f;
	struct report r;
	struct restore_chain c;
	char *last;

	fx_make(&f);
	{
		const char *sets[2] = { f.dset, NULL };
		CK(chain_report(&f, sets, 1, 1, &r, &c));
		ck_assert_msg(r.problems == 0, "a sound delta set alone: %s", r.text);
		ck_assert_uint_eq(c.ndeltas, 1);
		ck_assert_uint_eq(c.need_low, f.t2.bk.gen_low);
		ck_assert_uint_eq(c.need_high, f.t2.bk.gen_high);
		ck_assert_uint_eq(c.low, f.t2.bk.gen_low);
		ck_assert_uint_eq(c.high, f.t2.bk.gen_high);
		restore_chain_free(&c);
		/* Its last generation missing: the delta says it is needed. */
		last = gen_path(f.dset, f.t2.bk.gen_high);
		{
			char *moved = tu_path(f.work, "moved.log");
			ck_assert(rename(last, moved) == 0);
			ck_assert(chain_report(&f, sets, 1, 1, &r, &c) < 0);
			ck_assert_msg(strstr(r.text, "is missing: the deltas need generations") != NULL, "%s", r.text);
			restore_chain_free(&c);
			ck_assert(rename(moved, last) == 0);
			free(moved);
		}
		free(last);
	}
	{
		/* Two delta sets alone: the second is named as such. */
		char *d2 = make_dset(&f, NULL);
		const char *sets[2] = { f.dset, d2 };
		ck_assert(chain_report(&f, sets, 2, 1, &r, &c) < 0 || r.problems > 0);
		ck_assert_msg(strstr(r.text, "is in a second delta set") != NULL, "%s", r.text);
		restore_chain_free(&c);
		tu_rmdir(d2);
		free(d2);
	}
	{
		const char *sets[3] = { f.full1, f.dset, f.inc };
		CK(chain_report(&f, sets, 3, 0, &r, &c));
		ck_assert_msg(r.problems == 0, "full + delta + incremental: %s", r.text);
		ck_assert_uint_eq(c.nimgs, 1);
		ck_assert_msg(c.imgs[0].full != NULL && strcmp(c.imgs[0].full, f.img1) == 0, "the image is not staged");
		ck_assert_uint_eq(c.imgs[0].hdr.pgno_last, f.p2);
		ck_assert_uint_eq(c.imgs[0].pages, f.p2);
		ck_assert_uint_eq(c.need_low, f.t2.bk.gen_low);
		ck_assert_uint_eq(c.low, f.t2.bk.gen_low);
		restore_chain_free(&c);
		ck_assert_msg(!has_staging(f.work), "the checker left its staged images");
	}
	fx_free(&f);
}
END_TEST

/*
 * The engine's own delta backup, end to end: a full backup with truncation
 * (so the header records it as FullPrev, the base), transfers and new
 * records, then a delta backup whose Begin is taken while a writer is
 * paused (the counter at Begin is known) and whose files are read while it
 * runs again; FULL + DELTA restores exactly the Begin's counter, and an
 * incremental after it continues the chain.
 */
START_TEST(test_engine_delta)
{
	struct bank b;
	struct writer w;
	struct db_header h;
	char *full = tu_tempdir(), *delta = tu_tempdir(), *inc = tu_tempdir(), *dpath;
	uint8_t val[NEW_VALUE];
	uint64_t c_begin, c_inc, got;
	struct bkrun r;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	CK(JetBackupInstance(b.inst, full, 0, NULL));
	h = tu_hdr_of(b.dbpath);
	ck_assert_msg(h.bk[BK_FULL_PREV].lsn_mark != 0, "the full backup is not recorded: no base for a delta");
	transfers(&b, 30);
	memset(val, 0x3c, sizeof(val));
	for (int i = 0; i < NEW_RECORDS; i++) {
		char key[16];
		snprintf(key, sizeof(key), "new%05d", i);
		CK(JetBeginTransaction(b.ses));
		CK(kv_put(b.ses, b.t, key, val, sizeof(val), 1));
		CK(JetCommitTransaction(b.ses, 0));
	}
	writer_start(&w, &b);
	writer_wait(&w, 20);
	ck_assert(pthread_mutex_lock(&w.pause) == 0);
	c_begin = bank_counter(&b);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsDelta | JET_bitBackupJetfsPointInTime));
	ck_assert(pthread_mutex_unlock(&w.pause) == 0);
	memset(&r, 0, sizeof(r));
	r.grbit = JET_bitBackupJetfsDelta | JET_bitBackupJetfsPointInTime;
	r.begun = 1;
	r.between = hook_writer_wait;
	r.arg = &w;
	ese_backup(b.inst, delta, &r);
	writer_wait(&w, 20);
	writer_stop(&w);
	dpath = tu_path(delta, "bank.edb.delta");
	ck_assert_msg(access(dpath, F_OK) == 0, "the delta set has no bank.edb.delta");
	free(dpath);
	CK(JetBackupInstance(b.inst, inc, JET_bitBackupIncremental, NULL));
	c_inc = bank_counter(&b);
	ck_assert_uint_gt(c_inc, c_begin);
	bank_term(&b);
	{
		const char *sets[3] = { full, delta, inc };
		got = restore_ok(sets, 2, 0);
		ck_assert_msg(got == c_begin, "full + engine delta: counter %llu, expected %llu (at the delta's Begin)",
		    (unsigned long long)got, (unsigned long long)c_begin);
		got = restore_ok(sets, 3, 0);
		ck_assert_msg(got == c_inc, "full + engine delta + incremental: counter %llu, expected %llu",
		    (unsigned long long)got, (unsigned long long)c_inc);
	}
	tu_rmdir(full);
	tu_rmdir(delta);
	tu_rmdir(inc);
	free(full);
	free(delta);
	free(inc);
	bank_free(&b);
}
END_TEST

static Suite *
deltarestore_suite(void)
{
	Suite *s = suite_create("deltarestore");

	tu_add_test(s, "full_delta", test_full_delta, 120);
	tu_add_test(s, "stop", test_stop, 120);
	tu_add_test(s, "refuse_mismatch", test_refuse_mismatch, 120);
	tu_add_test(s, "refuse_order", test_refuse_order, 120);
	tu_add_test(s, "refuse_damaged", test_refuse_damaged, 120);
	tu_add_test(s, "refuse_other_logs", test_refuse_other_logs, 120);
	tu_add_test(s, "staged_apply_fails", test_staged_apply_fails, 300);
	tu_add_test(s, "verify_mode", test_verify_mode, 120);
	tu_add_test(s, "engine_delta", test_engine_delta, 180);
	return s;
}

int
main(void)
{
	return tu_run(deltarestore_suite());
}
