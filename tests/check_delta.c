/*
 * check_delta.c -- page delta files (delta.c): the format, its writer, its
 * verifier and its apply over a base full's streamed image.
 *
 * The fixture takes two real point-in-time full backups of the bank, the
 * second after transfers and enough new records to extend the database.
 * The second image's file page 0 is the database header stamped at its Begin
 * (bk[BK_FULL_PREV] = the first full, bk[BK_FULL_CUR] = its own mark) and
 * its pages are the Begin images: exactly what a delta taken at that moment
 * holds.  The pages that differ between the two images are the changed
 * pages, so full 1 + the delta must be full 2, byte for byte, and restore
 * with full 2's logs must give full 2's counter.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bankutil.h"

#define NEW_RECORDS 60		/* of NEW_VALUE bytes: grows the database between the two fulls */
#define NEW_VALUE 3000

struct fx {
	struct bank b;
	char *set1, *set2, *work;
	char *mix;			/* set_to_apply's set */
	char *img1, *img2;		/* the two fulls' images of bank.edb */
	uint8_t *i1, *i2;		/* their bytes */
	size_t l1, l2;
	uint32_t ps, p1, p2;		/* page size, pgno_last of each */
	uint32_t *pgnos, n;		/* the pages that changed from full 1 to full 2 */
	uint64_t c2;			/* the counter at full 2 */
};

static const uint8_t *
page_in(const uint8_t *img, uint32_t ps, uint32_t pgno)
{
	return img + page_offset(pgno, ps);
}

/* The Begin images of the second full: what a backup reads for the delta. */
static JET_ERR
read_from_image(void *arg, uint32_t pgno, uint8_t *page)
{
	struct fx *f = arg;

	memcpy(page, page_in(f->i2, f->ps, pgno), f->ps);
	return JET_errSuccess;
}

static void
fx_make(struct fx *f)
{
	uint8_t val[NEW_VALUE];

	memset(f, 0, sizeof(*f));
	bank_create(&f->b, CACHE_PAGES, 0);
	f->set1 = tu_tempdir();
	f->set2 = tu_tempdir();
	f->work = tu_tempdir();
	transfers(&f->b, 20);
	CK(JetBackupInstance(f->b.inst, f->set1, JET_bitBackupJetfsPointInTime, NULL));
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
	CK(JetBackupInstance(f->b.inst, f->set2, JET_bitBackupJetfsPointInTime, NULL));
	bank_term(&f->b);
	f->img1 = tu_path(f->set1, "bank.edb");
	f->img2 = tu_path(f->set2, "bank.edb");
	f->i1 = slurp(f->img1, &f->l1);
	f->i2 = slurp(f->img2, &f->l2);
	f->ps = tu_hdr_of(f->img1).page_size;
	f->p1 = tu_hdr_of(f->img1).pgno_last;
	f->p2 = tu_hdr_of(f->img2).pgno_last;
	ck_assert_msg(f->p2 > f->p1, "the database did not grow between the fulls (%u, %u pages)", f->p1, f->p2);
	f->pgnos = malloc(f->p2 * sizeof(*f->pgnos));
	for (uint32_t p = 1; p <= f->p2; p++)
		if (p > f->p1 || memcmp(page_in(f->i1, f->ps, p), page_in(f->i2, f->ps, p), f->ps) != 0)
			f->pgnos[f->n++] = p;
	ck_assert_msg(f->n > 0 && f->n < f->p2, "%u of %u pages changed (full 1: %u)", f->n, f->p2, f->p1);
}

static void
fx_free(struct fx *f)
{
	tu_rmdir(f->set1);
	tu_rmdir(f->set2);
	tu_rmdir(f->work);
	if (f->mix != NULL)
		tu_rmdir(f->mix);
	free(f->mix);
	bank_free(&f->b);
	free(f->set1);
	free(f->set2);
	free(f->work);
	free(f->img1);
	free(f->img2);
	free(f->i1);
	free(f->i2);
	free(f->pgnos);
}

/* The second full's stamp with changes: f's page 0 of image 2, re-encoded. */
static uint8_t *
stamp_with(struct fx *f, void (*change)(struct db_header *h, void *arg), void *arg)
{
	uint8_t *stamp = malloc(f->ps);
	struct db_header h;

	CK(dbhdr_decode(f->i2, f->ps, &h));
	if (change != NULL)
		change(&h, arg);
	dbhdr_encode(&h, stamp);
	return stamp;
}

/* Writes the delta of pages pgnos[0..n-1] of image 2 under stamp to work/name; returns its path. */
static char *
make_delta(struct fx *f, const uint8_t *stamp, const uint32_t *pgnos, uint32_t n, const char *name)
{
	struct delta_writer *w;
	char *path = tu_path(f->work, name);
	uint64_t size;
	uint8_t *buf;
	int fd;

	CK(delta_writer_open(stamp, f->ps, f->b.dbpath, pgnos, n, read_from_image, f, &w));
	size = delta_writer_size(w);
	ck_assert_uint_eq(size, delta_size(f->ps, n));
	buf = malloc(size);
	CK(delta_writer_read(w, buf, 0, size));
	delta_writer_close(w);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert(fd >= 0);
	ck_assert_int_eq(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
	return path;
}

static char *
copy_of(struct fx *f, const char *from, const char *name)
{
	char *p = tu_path(f->work, name);

	tu_copy_file(from, p);
	return p;
}

/* Full 2's set with full 1's image in it: where the delta goes.  Returns the image's path. */
static char *
set_to_apply(struct fx *f)
{
	char *image;

	f->mix = tu_tempdir();
	cp_all(f->set2, f->mix);
	image = tu_path(f->mix, "bank.edb");
	tu_copy_file(f->img1, image);
	return image;
}

/* Full 1 + the delta is full 2, byte for byte, and restores to full 2's counter. */
START_TEST(test_round_trip)
{
	struct fx f;
	struct delta_header h;
	struct bk_trailer t1, t2;
	char msg[512], *delta, *applied;

	fx_make(&f);
	delta = make_delta(&f, f.i2, f.pgnos, f.n, "bank.delta");
	CK(delta_verify(delta, &h, msg, sizeof(msg)));
	trailer_of(f.img1, &t1);
	trailer_of(f.img2, &t2);
	ck_assert(memcmp(&h.base, &t1.bk, sizeof(h.base)) == 0);
	ck_assert(memcmp(&h.mark, &t2.bk, sizeof(h.mark)) == 0);
	ck_assert(dbhdr_sig_equal(&h.sign_db, &t2.sign_db) && dbhdr_sig_equal(&h.sign_log, &t2.sign_log));
	ck_assert_uint_eq(h.pgno_last, f.p2);
	ck_assert_uint_eq(h.npages, f.n);
	ck_assert_str_eq(h.path, f.b.dbpath);

	applied = set_to_apply(&f);
	CK(delta_apply(delta, applied, msg, sizeof(msg)));
	ck_assert_msg(files_equal(applied, f.img2), "full 1 + delta is not full 2");
	ck_assert_uint_eq(restore_one(f.mix), f.c2);

	/* Applied once, the image is full 2's: the same delta is refused, the image untouched. */
	CK_ERR(delta_apply(delta, applied, msg, sizeof(msg)), JET_errDatabasePatchFileMismatch);
	ck_assert_msg(files_equal(applied, f.img2), "a refused apply wrote");
	free(applied);
	free(delta);
	fx_free(&f);
}
END_TEST

/* Byte ranges in odd chunks are the whole; the writer refuses what would not verify. */
START_TEST(test_writer_ranges)
{
	static const size_t chunks[] = { 1, 7, 4095, 4097, 12289, 3 * 4096 + 5, 65536 };
	struct fx f;
	struct delta_writer *w;
	uint32_t bad[3];
	uint8_t *whole, *part, *stamp;
	uint64_t size, off = 0;
	char *delta;
	size_t len;

	fx_make(&f);
	delta = make_delta(&f, f.i2, f.pgnos, f.n, "bank.delta");
	whole = slurp(delta, &len);
	CK(delta_writer_open(f.i2, f.ps, f.b.dbpath, f.pgnos, f.n, read_from_image, &f, &w));
	size = delta_writer_size(w);
	ck_assert_uint_eq(size, len);
	part = malloc(size);
	for (unsigned i = 0; off < size; i++) {
		size_t n = chunks[i % (sizeof(chunks) / sizeof(chunks[0]))];
		if (n > size - off)
			n = (size_t)(size - off);
		CK(delta_writer_read(w, part + off, off, n));
		off += n;
	}
	ck_assert_msg(memcmp(part, whole, size) == 0, "chunked reads differ from the whole");
	CK_ERR(delta_writer_read(w, part, size - 1, 2), JET_errInvalidParameter);
	/* A Begin image that reads differently when served than when indexed is never served. */
	f.i2[page_offset(f.pgnos[0], f.ps) + 100] ^= 1;
	CK_ERR(delta_writer_read(w, part, size - (uint64_t)f.n * f.ps, f.ps), JET_errReadVerifyFailure);
	delta_writer_close(w);
	/* ... and a page that does not verify is not indexed. */
	CK_ERR(delta_writer_open(f.i2, f.ps, f.b.dbpath, f.pgnos, f.n, read_from_image, &f, &w),
	    JET_errReadVerifyFailure);
	f.i2[page_offset(f.pgnos[0], f.ps) + 100] ^= 1;

	/* The list: strictly increasing, within 1..pgno_last. */
	bad[0] = f.pgnos[1], bad[1] = f.pgnos[0], bad[2] = f.pgnos[2];
	CK_ERR(delta_writer_open(f.i2, f.ps, f.b.dbpath, bad, 3, read_from_image, &f, &w), JET_errInvalidParameter);
	bad[0] = bad[1] = f.pgnos[0];
	CK_ERR(delta_writer_open(f.i2, f.ps, f.b.dbpath, bad, 2, read_from_image, &f, &w), JET_errInvalidParameter);
	bad[0] = 0;
	CK_ERR(delta_writer_open(f.i2, f.ps, f.b.dbpath, bad, 1, read_from_image, &f, &w), JET_errInvalidParameter);
	bad[0] = f.p2 + 1;
	CK_ERR(delta_writer_open(f.i2, f.ps, f.b.dbpath, bad, 1, read_from_image, &f, &w), JET_errInvalidParameter);
	/* The stamp: a database with no recorded full has no base; a damaged stamp is no stamp. */
	stamp = malloc(f.ps);
	memcpy(stamp, f.i1, f.ps);	/* full 1's: the first full, nothing recorded before it */
	CK_ERR(delta_writer_open(stamp, f.ps, f.b.dbpath, f.pgnos, 0, read_from_image, &f, &w),
	    JET_errMissingFullBackup);
	memcpy(stamp, f.i2, f.ps);
	stamp[200] ^= 1;
	CK_ERR(delta_writer_open(stamp, f.ps, f.b.dbpath, f.pgnos, 0, read_from_image, &f, &w), JET_errBadPatchPage);
	free(stamp);
	free(part);
	free(whole);
	free(delta);
	fx_free(&f);
}
END_TEST

/* Recomputes the index CRC and the header CRC of a delta in memory (to test the checks behind them). */
static void
reseal(uint8_t *d, uint32_t ps)
{
	uint32_t n = get32(d + DELTA_OFF_NPAGES);

	put32(d + DELTA_OFF_INDEX_CRC, crc32c(0, d + (size_t)DELTA_INDEX_PAGE * ps, DELTA_INDEX_PAGES(n, ps) * ps));
	put32(d + FMT_OFF_CRC, crc32c(0, d + 4, ps - 4));
}

static void
spit(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert(fd >= 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* The copy of a delta changed by change is refused by verify with want and a message naming where. */
static void
corrupt_fails(struct fx *f, const uint8_t *good, size_t len, void (*change)(uint8_t *d, size_t *len, struct fx *f),
	JET_ERR want, const char *says)
{
	uint8_t *d = malloc(len + 1);
	char *path = tu_path(f->work, "bad.delta"), msg[512] = "";
	struct delta_header h;
	JET_ERR err;

	memcpy(d, good, len);
	change(d, &len, f);
	spit(path, d, len);
	err = delta_verify(path, &h, msg, sizeof(msg));
	ck_assert_msg(err == want && strstr(msg, says) != NULL, "verify -> %s \"%s\", expected %s \"...%s...\"",
	    JetErrorName(err), msg, JetErrorName(want), says);
	free(path);
	free(d);
}

static uint8_t *
index_entry(uint8_t *d, struct fx *f, uint32_t i)
{
	return d + (size_t)DELTA_INDEX_PAGE * f->ps + (size_t)i * DELTA_ENTRY_SIZE;
}

static uint8_t *
data_page(uint8_t *d, size_t len, struct fx *f, uint32_t i)
{
	return d + len - (size_t)(f->n - i) * f->ps;
}

static void c_header(uint8_t *d, size_t *len, struct fx *f) { (void)len; (void)f; d[DELTA_OFF_PGNO_LAST] ^= 1; }
static void c_magic(uint8_t *d, size_t *len, struct fx *f) { (void)len; (void)f; d[FMT_OFF_MAGIC] ^= 1; }
static void c_version(uint8_t *d, size_t *len, struct fx *f) { put32(d + DELTA_OFF_VERSION, 2); reseal(d, f->ps); (void)len; }
static void c_stamp(uint8_t *d, size_t *len, struct fx *f) { (void)len; d[f->ps + 300] ^= 1; }
static void c_index(uint8_t *d, size_t *len, struct fx *f) { (void)len; index_entry(d, f, 1)[0] ^= 1; }
static void c_index_crc(uint8_t *d, size_t *len, struct fx *f) { (void)len; index_entry(d, f, 2)[5] ^= 1; }
static void c_page(uint8_t *d, size_t *len, struct fx *f) { data_page(d, *len, f, f->n / 2)[f->ps / 2] ^= 1; }
static void c_truncated(uint8_t *d, size_t *len, struct fx *f) { (void)d; (void)f; *len -= 1; }
static void c_short(uint8_t *d, size_t *len, struct fx *f) { (void)d; (void)f; *len = 100; }
static void c_garbage(uint8_t *d, size_t *len, struct fx *f) { (void)f; d[(*len)++] = 0; }

/* The entry's page CRC changed and the index resealed: the page no longer matches it. */
static void
c_entry_crc_sealed(uint8_t *d, size_t *len, struct fx *f)
{
	(void)len;
	index_entry(d, f, 3)[4] ^= 1;
	reseal(d, f->ps);
}

/* A page whose own checksum is bad, its index entry and the index resealed over it. */
static void
c_page_checksum(uint8_t *d, size_t *len, struct fx *f)
{
	uint8_t *p = data_page(d, *len, f, 1);

	p[f->ps - 1] ^= 1;
	put32(index_entry(d, f, 1) + 4, crc32c(0, p, f->ps));
	reseal(d, f->ps);
}

static void
c_unsorted(uint8_t *d, size_t *len, struct fx *f)
{
	uint8_t e[DELTA_ENTRY_SIZE];

	(void)len;
	memcpy(e, index_entry(d, f, 0), sizeof(e));
	memcpy(index_entry(d, f, 0), index_entry(d, f, 1), sizeof(e));
	memcpy(index_entry(d, f, 1), e, sizeof(e));
	reseal(d, f->ps);
}

static void
c_duplicate(uint8_t *d, size_t *len, struct fx *f)
{
	(void)len;
	memcpy(index_entry(d, f, 1), index_entry(d, f, 0), DELTA_ENTRY_SIZE);
	reseal(d, f->ps);
}

static void
c_beyond(uint8_t *d, size_t *len, struct fx *f)
{
	(void)len;
	put32(index_entry(d, f, f->n - 1), f->p2 + 1);
	reseal(d, f->ps);
}

static void
c_zero_pgno(uint8_t *d, size_t *len, struct fx *f)
{
	(void)len;
	put32(index_entry(d, f, 0), 0);
	reseal(d, f->ps);
}

/* The header and the stamp disagree, each sound (D1). */
static void
c_header_pgno_last(uint8_t *d, size_t *len, struct fx *f)
{
	(void)len;
	put32(d + DELTA_OFF_PGNO_LAST, f->p2 + 1);
	reseal(d, f->ps);
}

static void
c_header_sign_db(uint8_t *d, size_t *len, struct fx *f)
{
	(void)len;
	d[DELTA_OFF_SIGN_DB] ^= 1;
	reseal(d, f->ps);
}

static void
c_header_base(uint8_t *d, size_t *len, struct fx *f)
{
	(void)len;
	d[DELTA_OFF_BASE] ^= 1;
	reseal(d, f->ps);
}

/* More pages than the database has: the header is refused before the index is read. */
static void
c_too_many(uint8_t *d, size_t *len, struct fx *f)
{
	(void)len;
	put32(d + DELTA_OFF_NPAGES, f->p2 + 1);
	put32(d + FMT_OFF_CRC, crc32c(0, d + 4, f->ps - 4));
}

/* Every class of damage is caught by verify, with what and where; a damaged delta is never applied. */
START_TEST(test_corruption)
{
	struct fx f;
	struct delta_header h;
	uint8_t *good, *d;
	char *delta, *bad, *applied, msg[512];
	size_t len;

	fx_make(&f);
	ck_assert_uint_ge(f.n, 4);
	delta = make_delta(&f, f.i2, f.pgnos, f.n, "bank.delta");
	good = slurp(delta, &len);
	corrupt_fails(&f, good, len, c_header, JET_errBadPatchPage, "the delta header (offset 0) is damaged");
	corrupt_fails(&f, good, len, c_magic, JET_errBadPatchPage, "no JDLT magic");
	corrupt_fails(&f, good, len, c_version, JET_errBadPatchPage, "version 2");
	corrupt_fails(&f, good, len, c_stamp, JET_errBadPatchPage, "file page 1");
	corrupt_fails(&f, good, len, c_index, JET_errBadPatchPage, "the index (offset");
	corrupt_fails(&f, good, len, c_index_crc, JET_errBadPatchPage, "the index (offset");
	corrupt_fails(&f, good, len, c_page, JET_errReadVerifyFailure, "does not match its index entry's CRC");
	corrupt_fails(&f, good, len, c_entry_crc_sealed, JET_errReadVerifyFailure, "does not match its index entry");
	corrupt_fails(&f, good, len, c_page_checksum, JET_errReadVerifyFailure, "bad page checksum");
	corrupt_fails(&f, good, len, c_truncated, JET_errMissingPatchPage, "truncated");
	corrupt_fails(&f, good, len, c_short, JET_errMissingPatchPage, "too short");
	corrupt_fails(&f, good, len, c_garbage, JET_errBadBackupDatabaseSize, "trailing bytes");
	corrupt_fails(&f, good, len, c_unsorted, JET_errBadPatchPage, "is not after the one before");
	corrupt_fails(&f, good, len, c_duplicate, JET_errBadPatchPage, "is not after the one before");
	corrupt_fails(&f, good, len, c_beyond, JET_errBadPatchPage, "is outside the database");
	corrupt_fails(&f, good, len, c_zero_pgno, JET_errBadPatchPage, "is outside the database");
	corrupt_fails(&f, good, len, c_header_pgno_last, JET_errBadPatchPage, "disagrees with the delta header");
	corrupt_fails(&f, good, len, c_header_sign_db, JET_errBadPatchPage, "disagrees with the delta header");
	corrupt_fails(&f, good, len, c_header_base, JET_errBadPatchPage, "disagrees with the delta header");
	corrupt_fails(&f, good, len, c_too_many, JET_errBadPatchPage, "pages in a database of");

	/* Any byte: a sweep over the whole file, every region (header, stamp, index and padding, pages). */
	bad = tu_path(f.work, "flip.delta");
	d = malloc(len);
	for (size_t off = 0; off < len; off += 89) {
		memcpy(d, good, len);
		d[off] ^= 0x40;
		spit(bad, d, len);
		ck_assert_msg(delta_verify(bad, &h, msg, sizeof(msg)) < 0, "a byte changed at offset %zu passes", off);
	}

	/* apply checks the delta whole before it writes. */
	memcpy(d, good, len);
	c_page(d, &len, &f);
	spit(bad, d, len);
	applied = copy_of(&f, f.img1, "applied.edb");
	CK_ERR(delta_apply(bad, applied, msg, sizeof(msg)), JET_errReadVerifyFailure);
	ck_assert_msg(files_equal(applied, f.img1), "apply of a damaged delta wrote");
	free(applied);
	free(d);
	free(bad);
	free(good);
	free(delta);
	fx_free(&f);
}
END_TEST

/* apply to an image of mine that is not the delta's base: refused, the image byte-identical. */
static void
apply_refused(struct fx *f, const char *delta, const char *image, JET_ERR want, const char *says)
{
	char *target = copy_of(f, image, "target.edb"), msg[512] = "";
	JET_ERR err = delta_apply(delta, target, msg, sizeof(msg));

	ck_assert_msg(err == want && strstr(msg, says) != NULL, "apply -> %s \"%s\", expected %s \"...%s...\"",
	    JetErrorName(err), msg, JetErrorName(want), says);
	ck_assert_msg(files_equal(target, image), "a refused apply wrote to %s", target);
	free(target);
}

START_TEST(test_refuse_other_base)
{
	struct fx f;
	uint8_t *stamp;
	char *delta, *other, *set, need[64];
	struct bk_trailer t1;

	fx_make(&f);
	delta = make_delta(&f, f.i2, f.pgnos, f.n, "bank.delta");
	/* Another full (full 2 itself): the message names the full it needs. */
	trailer_of(f.img1, &t1);
	snprintf(need, sizeof(need), "mark LSN %llu, log generations %u to %u", (unsigned long long)t1.bk.lsn_mark,
	    t1.bk.gen_low, t1.bk.gen_high);
	apply_refused(&f, delta, f.img2, JET_errDatabasePatchFileMismatch, need);
	/* A third full, taken after: also not the base. */
	set = tu_tempdir();
	bank_restart(&f.b);
	CK(JetBackupInstance(f.b.inst, set, JET_bitBackupJetfsPointInTime, NULL));
	bank_term(&f.b);
	other = tu_path(set, "bank.edb");
	apply_refused(&f, delta, other, JET_errDatabasePatchFileMismatch, need);
	free(delta);
	/* Another database; another log set. */
	stamp = stamp_with(&f, tu_hdr_other_db, NULL);
	delta = make_delta(&f, stamp, f.pgnos, f.n, "otherdb.delta");
	apply_refused(&f, delta, f.img1, JET_errDatabasePatchFileMismatch, "another database");
	free(stamp);
	free(delta);
	stamp = stamp_with(&f, tu_hdr_other_log_set, NULL);
	delta = make_delta(&f, stamp, f.pgnos, f.n, "otherlog.delta");
	apply_refused(&f, delta, f.img1, JET_errDatabasePatchFileMismatch, "another log set");
	/* Not a backup image at all: the live database. */
	apply_refused(&f, delta, f.b.dbpath, JET_errRestoreOfNonBackupDatabase, "not a backup image");
	free(stamp);
	free(delta);
	tu_rmdir(set);
	free(set);
	free(other);
	fx_free(&f);
}
END_TEST

/*
 * An apply that fails at any write (D3) leaves an image that restore and
 * apply refuse, never a mix of the two fulls.
 */
START_TEST(test_apply_interrupted)
{
	struct fx f;
	char *delta, *applied, msg[512];
	const char *sets[1];
	JET_ERR err;
	int failed = 0, mixed = 0;

	fx_make(&f);
	delta = make_delta(&f, f.i2, f.pgnos, f.n, "bank.delta");
	applied = set_to_apply(&f);
	sets[0] = f.mix;
	for (long k = 1;; k++) {
		char *target = tu_tempdir();
		tu_copy_file(f.img1, applied);
		os_fault_arm(OS_FAULT_EIO, k, 0, 0, applied);
		err = delta_apply(delta, applied, msg, sizeof(msg));
		os_fault_disarm();
		if (err >= 0) {
			tu_rmdir(target);
			free(target);
			break;
		}
		failed++;
		ck_assert_msg(err == JET_errDiskIO, "write %ld -> %s", k, JetErrorName(err));
		/*
		 * Full 1 untouched (the first write failed) or, only when the
		 * last fsync failed, full 2 whole; anything between is refused.
		 */
		if (!files_equal(applied, f.img1) && !files_equal(applied, f.img2)) {
			err = JetfsRestoreSets(sets, 1, target, NULL, 0, NULL);
			ck_assert_msg(err < 0, "restore took an image whose apply failed at write %ld", k);
			ck_assert_int_eq(count_files(target), 0);
			err = delta_apply(delta, applied, msg, sizeof(msg));
			ck_assert_msg(err == JET_errBadPatchPage && strstr(msg, "stopped half-way") != NULL,
			    "apply again after write %ld -> %s \"%s\"", k, JetErrorName(err), msg);
			mixed++;
		}
		tu_rmdir(target);
		free(target);
	}
	ck_assert_int_ge(failed, (int)f.n);
	ck_assert_int_ge(mixed, (int)f.n);
	ck_assert_msg(files_equal(applied, f.img2), "full 1 + delta is not full 2");
	free(applied);
	free(delta);
	fx_free(&f);
}
END_TEST

static void
set_pgno_last(struct db_header *h, void *arg)
{
	h->pgno_last = *(uint32_t *)arg;
}

/* The image after apply, against the pages expected: header pages the stamp, trailer the delta's. */
static void
check_image(struct fx *f, const char *image, const uint8_t *stamp, uint32_t last, const uint8_t *pages)
{
	size_t len;
	uint8_t *img = slurp(image, &len);
	struct bk_trailer t;
	struct bk_trailer t2;

	ck_assert_uint_eq(len, ((uint64_t)last + 3) * f->ps);
	ck_assert(memcmp(img, stamp, f->ps) == 0 && memcmp(img + f->ps, stamp, f->ps) == 0);
	for (uint32_t p = 1; p <= last; p++)
		ck_assert_msg(memcmp(page_in(img, f->ps, p), page_in(pages, f->ps, p), f->ps) == 0, "page %u differs", p);
	trailer_of(image, &t);
	trailer_of(f->img2, &t2);
	ck_assert_uint_eq(t.pgno_last, last);
	ck_assert(memcmp(&t.bk, &t2.bk, sizeof(t.bk)) == 0);
	free(img);
}

/* A delta whose database is smaller than its base's: the image is cut to it. */
START_TEST(test_shrink)
{
	struct fx f;
	uint32_t last, n = 0;
	uint8_t *stamp;
	char *delta, *applied, msg[512];

	fx_make(&f);
	last = f.p1 - 3;
	while (n < f.n && f.pgnos[n] <= last)
		n++;
	stamp = stamp_with(&f, set_pgno_last, &last);
	delta = make_delta(&f, stamp, f.pgnos, n, "shrink.delta");
	applied = copy_of(&f, f.img1, "applied.edb");
	CK(delta_apply(delta, applied, msg, sizeof(msg)));
	check_image(&f, applied, stamp, last, f.i2);
	free(stamp);
	free(delta);
	free(applied);
	fx_free(&f);
}
END_TEST

/* No page changed: the delta is its header and stamp; the image keeps its pages and takes the new mark. */
START_TEST(test_empty)
{
	struct fx f;
	struct delta_header h;
	uint8_t *stamp, *expect;
	char *delta, *applied, msg[512];
	size_t len;

	fx_make(&f);
	stamp = stamp_with(&f, set_pgno_last, &f.p1);
	delta = make_delta(&f, stamp, NULL, 0, "empty.delta");
	free(slurp(delta, &len));
	ck_assert_uint_eq(len, 2 * (size_t)f.ps);
	CK(delta_verify(delta, &h, msg, sizeof(msg)));
	ck_assert_uint_eq(h.npages, 0);
	applied = copy_of(&f, f.img1, "applied.edb");
	CK(delta_apply(delta, applied, msg, sizeof(msg)));
	check_image(&f, applied, stamp, f.p1, f.i1);
	free(applied);
	/* Grown with no page: the new pages read as never written, the old trailer's place too. */
	expect = calloc(1, ((size_t)f.p2 + 3) * f.ps);
	memcpy(expect, f.i1, ((size_t)f.p1 + 2) * f.ps);
	free(delta);
	delta = make_delta(&f, f.i2, NULL, 0, "grown.delta");
	applied = copy_of(&f, f.img1, "applied.edb");
	CK(delta_apply(delta, applied, msg, sizeof(msg)));
	check_image(&f, applied, f.i2, f.p2, expect);
	free(expect);
	free(stamp);
	free(delta);
	free(applied);
	fx_free(&f);
}
END_TEST

static Suite *
delta_suite(void)
{
	Suite *s = suite_create("delta");

	tu_add_test(s, "round_trip", test_round_trip, 120);
	tu_add_test(s, "writer_ranges", test_writer_ranges, 60);
	tu_add_test(s, "corruption", test_corruption, 120);
	tu_add_test(s, "refuse_other_base", test_refuse_other_base, 60);
	tu_add_test(s, "apply_interrupted", test_apply_interrupted, 240);
	tu_add_test(s, "shrink", test_shrink, 60);
	tu_add_test(s, "empty", test_empty, 60);
	return s;
}

int
main(void)
{
	return tu_run(delta_suite());
}
