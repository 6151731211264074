/*
 * delta.c -- page delta files: the pages of a database that changed since
 * its base full backup, as of the delta's Begin, and how they are applied
 * over the base's streamed image (issue 16; doc/delta-format.md in full).
 *
 * FORMAT.  File pages of the database's page size ps, all integers
 * little-endian, constants in format.h:
 *   file page 0: the delta header:
 *        0 u32 CRC-32C of bytes 4..ps-1     4 u32 magic "JDLT"
 *        8 u32 version                      12 u32 page size
 *       16 database signature (28)          44 log signature (28)
 *       72 base: the bkinfo of the base full (u64 mark LSN, u64 mark time,
 *          u32 gen_low, u32 gen_high), its database's bk[BK_FULL_PREV]
 *       96 mark: the delta's own bkinfo (its Begin; gen_low..gen_high: the
 *          log generations restore replays after the pages)
 *      120 u32 pgno_last at the delta's Begin  124 u32 page count n
 *      128 u32 CRC-32C of the index pages (padding included)
 *      132 u16 path length, 134 the database's path; the rest zero.
 *   file page 1: the stamp: the database header as a backup stamps it at the
 *       delta's Begin (backup.c bk_stamp_header: file page 0 of a streamed
 *       image), verbatim, with its own CRC;
 *   file pages 2 .. 2+I-1: the index, I = DELTA_INDEX_PAGES(n, ps): n entries
 *       (u32 pgno, u32 CRC-32C of that page's ps bytes), then zeros;
 *   file pages 2+I .. 2+I+n-1: the pages, in index order.
 * The size, (2 + I + n) * ps, depends on n and ps only (delta_size), so a
 * listing can give it before a byte is produced.
 *
 * INVARIANTS
 *  D1. The header agrees with the stamp: same page size, signatures and
 *      pgno_last; the stamp is a backup copy whose bk[BK_FULL_CUR] is the
 *      mark (LSN, time, gen_low) and whose bk[BK_FULL_PREV] is the base; the
 *      base is a recorded full (LSN not 0) older than the mark.  The writer
 *      takes every field from the stamp, so it cannot write them apart.
 *  D2. The index is strictly increasing, every pgno in 1..pgno_last; n <=
 *      pgno_last.  Every page carries a good page checksum and its own pgno,
 *      or is all zero (allocated, never written: page.c), and its CRC-32C is
 *      its index entry's.  The writer checks each page as it indexes it and
 *      again, against the index, when it serves it; readers check all of it
 *      (delta_verify), and apply checks every page again as it writes it.
 *  D3. Apply writes nothing until the delta and the image were checked whole
 *      and the image is the base's (same database, same log set, its mark
 *      the delta's base).  From its first write until its last the image is
 *      refused by restore (no trailer that matches its header) and named by
 *      apply as an interrupted apply: the delta's header page goes where the
 *      old trailer is and where the new one will be, before the stamp; the
 *      new trailer is written last; an fsync between each step.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

struct delta_writer {
	uint32_t ps, npages;
	uint8_t *head;			/* header, stamp and index pages */
	uint64_t head_size, size;
	uint32_t *pgnos;
	delta_read_page_fn read_page;
	void *arg;
	uint8_t *page;			/* the page being served */
};

/* An open delta whose header, stamp and index were checked (D1, D2). */
struct delta_reader {
	const char *path;
	os_file *file;
	struct delta_header h;
	uint8_t *head;			/* header, stamp and index pages, as read */
	uint8_t *page;
	char *msg;
	size_t msglen;
};

uint64_t
delta_size(uint32_t page_size, uint32_t npages)
{
	return (2 + DELTA_INDEX_PAGES(npages, page_size) + npages) * page_size;
}

/* The same backup: the mark's LSN, time and first generation (gen_high: see delta_image_is_base). */
static int
delta_same_backup(const struct bkinfo *a, const struct bkinfo *b)
{
	return a->lsn_mark == b->lsn_mark && a->time_mark == b->time_mark && a->gen_low == b->gen_low;
}

static JET_ERR
delta_fail(char *msg, size_t msglen, JET_ERR err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static JET_ERR
delta_fail(char *msg, size_t msglen, JET_ERR err, const char *fmt, ...)
{
	va_list ap;

	if (msg != NULL && msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return err;
}

static void
delta_header_encode(const struct delta_header *h, uint8_t *page)
{
	memset(page, 0, h->page_size);
	put32(page + FMT_OFF_MAGIC, DELTA_MAGIC);
	put32(page + DELTA_OFF_VERSION, DELTA_VERSION);
	put32(page + DELTA_OFF_PAGE_SIZE, h->page_size);
	dbhdr_sig_encode(&h->sign_db, page + DELTA_OFF_SIGN_DB);
	dbhdr_sig_encode(&h->sign_log, page + DELTA_OFF_SIGN_LOG);
	dbhdr_bkinfo_encode(&h->base, page + DELTA_OFF_BASE);
	dbhdr_bkinfo_encode(&h->mark, page + DELTA_OFF_MARK);
	put32(page + DELTA_OFF_PGNO_LAST, h->pgno_last);
	put32(page + DELTA_OFF_NPAGES, h->npages);
	put32(page + DELTA_OFF_INDEX_CRC, h->index_crc);
	put16(page + DELTA_OFF_PATH_LEN, (uint16_t)strlen(h->path));
	memcpy(page + DELTA_OFF_PATH, h->path, strlen(h->path));
	put32(page + FMT_OFF_CRC, crc32c(0, page + 4, h->page_size - 4));
}

/*
 * The header fields a stamp gives (D1), or why the stamp cannot be a
 * delta's: not a sound header of page size ps, not a backup's stamp, or a
 * database with no recorded full backup to be the base.
 */
static JET_ERR
delta_header_of_stamp(const uint8_t *stamp, uint32_t ps, struct delta_header *h, char *msg, size_t msglen)
{
	struct db_header sh;

	if (dbhdr_decode(stamp, ps, &sh) < 0 || sh.page_size != ps)
		return delta_fail(msg, msglen, JET_errBadPatchPage, "the stamped database header is damaged");
	if (!(sh.flags & DBHDR_FLAG_BACKUP_COPY) || sh.bk[BK_FULL_CUR].lsn_mark == 0 || sh.bk[BK_FULL_CUR].gen_low == 0)
		return delta_fail(msg, msglen, JET_errBadPatchPage, "the stamped database header is not a backup's");
	if (sh.bk[BK_FULL_PREV].lsn_mark == 0)
		return delta_fail(msg, msglen, JET_errMissingFullBackup,
		    "the database has no recorded full backup to be the delta's base");
	if (sh.bk[BK_FULL_PREV].lsn_mark >= sh.bk[BK_FULL_CUR].lsn_mark)
		return delta_fail(msg, msglen, JET_errBadPatchPage,
		    "the base full's mark (LSN %llu) is not before the delta's (LSN %llu)",
		    (unsigned long long)sh.bk[BK_FULL_PREV].lsn_mark, (unsigned long long)sh.bk[BK_FULL_CUR].lsn_mark);
	memset(h, 0, sizeof(*h));
	h->page_size = ps;
	h->sign_db = sh.sign_db;
	h->sign_log = sh.sign_log;
	h->base = sh.bk[BK_FULL_PREV];
	h->mark = sh.bk[BK_FULL_CUR];
	h->pgno_last = sh.pgno_last;
	return JET_errSuccess;
}

/* A page a delta may hold as database page pgno (D2): sound, or all zero. */
static JET_ERR
delta_check_page(const uint8_t *page, uint32_t ps, uint32_t pgno)
{
	JET_ERR v = page_verify(page, ps, pgno);

	return v == JET_errPageNotInitialized ? JET_errSuccess : v;
}

static const char *
delta_page_problem(JET_ERR v)
{
	return v == JET_errReadPgnoVerifyFailure ? "it holds another page's image" : "bad page checksum";
}

/* ---- the writer ---- */

/*
 * A writer of the delta of pages pgnos[0..npages-1] (strictly increasing),
 * whose Begin images read_page gives, with header fields from stamp: the
 * database header as the backup stamped it at the delta's Begin (ps bytes).
 * Reads and checks every page once, here, for the index; delta_writer_read
 * reads each again as it serves it.
 */
JET_ERR
delta_writer_open(const uint8_t *stamp, uint32_t ps, const char *path, const uint32_t *pgnos, uint32_t npages,
	delta_read_page_fn read_page, void *arg, struct delta_writer **wp)
{
	struct delta_writer *w;
	struct delta_header h;
	uint8_t *index;
	JET_ERR err;

	*wp = NULL;
	RET(delta_header_of_stamp(stamp, ps, &h, NULL, 0));
	if (strlen(path) > DELTA_PATH_MAX || npages > h.pgno_last)
		return JET_errInvalidParameter;
	for (uint32_t i = 0; i < npages; i++)
		if (pgnos[i] < 1 || pgnos[i] > h.pgno_last || (i > 0 && pgnos[i] <= pgnos[i - 1]))
			return JET_errInvalidParameter;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return JET_errOutOfMemory;
	w->ps = ps;
	w->npages = npages;
	w->read_page = read_page;
	w->arg = arg;
	w->size = delta_size(ps, npages);
	w->head_size = (DELTA_INDEX_PAGE + DELTA_INDEX_PAGES(npages, ps)) * ps;
	if ((w->head = calloc(1, w->head_size)) == NULL || (w->page = malloc(ps)) == NULL ||
	    (w->pgnos = malloc(((size_t)npages + 1) * sizeof(*w->pgnos))) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	if (npages > 0)
		memcpy(w->pgnos, pgnos, (size_t)npages * sizeof(*pgnos));
	index = w->head + (size_t)DELTA_INDEX_PAGE * ps;
	for (uint32_t i = 0; i < npages; i++) {
		ERR(read_page(arg, pgnos[i], w->page));
		ERR(delta_check_page(w->page, ps, pgnos[i]));
		put32(index + (size_t)i * DELTA_ENTRY_SIZE, pgnos[i]);
		put32(index + (size_t)i * DELTA_ENTRY_SIZE + 4, crc32c(0, w->page, ps));
	}
	h.npages = npages;
	h.index_crc = crc32c(0, index, w->head_size - (size_t)DELTA_INDEX_PAGE * ps);
	snprintf(h.path, sizeof(h.path), "%s", path);
	delta_header_encode(&h, w->head);
	memcpy(w->head + (size_t)DELTA_STAMP_PAGE * ps, stamp, ps);
	*wp = w;
	return JET_errSuccess;
err:
	delta_writer_close(w);
	return err;
}

uint64_t
delta_writer_size(const struct delta_writer *w)
{
	return w->size;
}

/*
 * Bytes [off, off + len) of the delta, which must lie within it.  A page
 * whose Begin image now reads differently from the one indexed (the source
 * changed under the backup) is JET_errReadVerifyFailure: never served.
 */
JET_ERR
delta_writer_read(struct delta_writer *w, uint8_t *buf, uint64_t off, size_t len)
{
	if (off > w->size || len > w->size - off)
		return JET_errInvalidParameter;
	while (len > 0) {
		size_t n;
		if (off < w->head_size) {
			n = w->head_size - off < len ? (size_t)(w->head_size - off) : len;
			memcpy(buf, w->head + off, n);
		} else {
			uint64_t k = (off - w->head_size) / w->ps, in = (off - w->head_size) % w->ps;
			const uint8_t *entry = w->head + (size_t)DELTA_INDEX_PAGE * w->ps + k * DELTA_ENTRY_SIZE;
			RET(w->read_page(w->arg, w->pgnos[k], w->page));
			if (crc32c(0, w->page, w->ps) != get32(entry + 4))
				return JET_errReadVerifyFailure;
			n = w->ps - in < len ? (size_t)(w->ps - in) : len;
			memcpy(buf, w->page + in, n);
		}
		buf += n;
		off += n;
		len -= n;
	}
	return JET_errSuccess;
}

void
delta_writer_close(struct delta_writer *w)
{
	if (w == NULL)
		return;
	free(w->head);
	free(w->page);
	free(w->pgnos);
	free(w);
}

/* ---- the reader ---- */

static void
delta_reader_close(struct delta_reader *r)
{
	os_close(r->file);
	free(r->head);
	free(r->page);
}

/* Decodes and checks the header page (file page 0) of a delta of size bytes. */
static JET_ERR
delta_header_check(struct delta_reader *r, const uint8_t *page, uint32_t ps, uint64_t size)
{
	struct delta_header *h = &r->h;
	uint16_t plen = get16(page + DELTA_OFF_PATH_LEN);

	if (get32(page + FMT_OFF_CRC) != crc32c(0, page + 4, ps - 4))
		return delta_fail(r->msg, r->msglen, JET_errBadPatchPage, "%s: the delta header (offset 0) is damaged",
		    r->path);
	if (get32(page + DELTA_OFF_VERSION) != DELTA_VERSION)
		return delta_fail(r->msg, r->msglen, JET_errBadPatchPage, "%s: delta format version %u, not %u", r->path,
		    get32(page + DELTA_OFF_VERSION), DELTA_VERSION);
	memset(h, 0, sizeof(*h));
	h->page_size = ps;
	dbhdr_sig_decode(page + DELTA_OFF_SIGN_DB, &h->sign_db);
	dbhdr_sig_decode(page + DELTA_OFF_SIGN_LOG, &h->sign_log);
	dbhdr_bkinfo_decode(page + DELTA_OFF_BASE, &h->base);
	dbhdr_bkinfo_decode(page + DELTA_OFF_MARK, &h->mark);
	h->pgno_last = get32(page + DELTA_OFF_PGNO_LAST);
	h->npages = get32(page + DELTA_OFF_NPAGES);
	h->index_crc = get32(page + DELTA_OFF_INDEX_CRC);
	if (plen > DELTA_PATH_MAX || memchr(page + DELTA_OFF_PATH, '\0', plen) != NULL)
		return delta_fail(r->msg, r->msglen, JET_errBadPatchPage, "%s: the delta header's path is damaged",
		    r->path);
	memcpy(h->path, page + DELTA_OFF_PATH, plen);
	if (h->npages > h->pgno_last)
		return delta_fail(r->msg, r->msglen, JET_errBadPatchPage, "%s: %u pages in a database of %u", r->path,
		    h->npages, h->pgno_last);
	if (size != delta_size(ps, h->npages))
		return delta_fail(r->msg, r->msglen,
		    size < delta_size(ps, h->npages) ? JET_errMissingPatchPage : JET_errBadBackupDatabaseSize,
		    "%s: %llu bytes, not the %llu that %u pages of %u make (%s)", r->path, (unsigned long long)size,
		    (unsigned long long)delta_size(ps, h->npages), h->npages, ps,
		    size < delta_size(ps, h->npages) ? "truncated" : "trailing bytes");
	return JET_errSuccess;
}

/* The stamp agrees with the header (D1). */
static JET_ERR
delta_stamp_check(struct delta_reader *r)
{
	uint32_t ps = r->h.page_size;
	struct delta_header s;
	char why[160];
	JET_ERR err;

	if ((err = delta_header_of_stamp(r->head + (size_t)DELTA_STAMP_PAGE * ps, ps, &s, why, sizeof(why))) < 0)
		return delta_fail(r->msg, r->msglen, err, "%s: file page %u (offset %llu): %s", r->path, DELTA_STAMP_PAGE,
		    (unsigned long long)DELTA_STAMP_PAGE * ps, why);
	if (!dbhdr_sig_equal(&s.sign_db, &r->h.sign_db) || !dbhdr_sig_equal(&s.sign_log, &r->h.sign_log) ||
	    memcmp(&s.base, &r->h.base, sizeof(s.base)) != 0 || memcmp(&s.mark, &r->h.mark, sizeof(s.mark)) != 0 ||
	    s.pgno_last != r->h.pgno_last)
		return delta_fail(r->msg, r->msglen, JET_errBadPatchPage,
		    "%s: the stamped database header (offset %llu) disagrees with the delta header", r->path,
		    (unsigned long long)DELTA_STAMP_PAGE * ps);
	return JET_errSuccess;
}

/* The index: its CRC, then strictly increasing page numbers within the database (D2). */
static JET_ERR
delta_index_check(struct delta_reader *r)
{
	uint32_t ps = r->h.page_size;
	const uint8_t *index = r->head + (size_t)DELTA_INDEX_PAGE * ps;
	uint64_t index_off = (uint64_t)DELTA_INDEX_PAGE * ps;

	if (crc32c(0, index, DELTA_INDEX_PAGES(r->h.npages, ps) * ps) != r->h.index_crc)
		return delta_fail(r->msg, r->msglen, JET_errBadPatchPage, "%s: the index (offset %llu, %llu pages) is "
		    "damaged", r->path, (unsigned long long)index_off, (unsigned long long)DELTA_INDEX_PAGES(r->h.npages, ps));
	for (uint32_t i = 0; i < r->h.npages; i++) {
		uint32_t pgno = get32(index + (size_t)i * DELTA_ENTRY_SIZE);
		uint32_t prev = i > 0 ? get32(index + (size_t)(i - 1) * DELTA_ENTRY_SIZE) : 0;
		if (pgno < 1 || pgno > r->h.pgno_last || pgno <= prev)
			return delta_fail(r->msg, r->msglen, JET_errBadPatchPage,
			    "%s: index entry %u (offset %llu): page %u %s", r->path, i,
			    (unsigned long long)(index_off + (uint64_t)i * DELTA_ENTRY_SIZE), pgno,
			    pgno < 1 || pgno > r->h.pgno_last ? "is outside the database" : "is not after the one before");
	}
	return JET_errSuccess;
}

static JET_ERR
delta_reader_open(struct delta_reader *r, const char *path, char *msg, size_t msglen)
{
	uint8_t first[PAGE_SIZE_MIN];
	uint64_t size, head_size;
	size_t got;
	uint32_t ps;
	JET_ERR err;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->msg = msg;
	r->msglen = msglen;
	if ((err = os_open(path, OS_READ, &r->file)) < 0)
		return delta_fail(msg, msglen, err, "%s cannot be opened (%s)", path, JetErrorName(err));
	ERR(os_size(r->file, &size));
	ERR(os_pread_partial(r->file, first, sizeof(first), 0, &got));
	if (got < sizeof(first) || get32(first + FMT_OFF_MAGIC) != DELTA_MAGIC) {
		err = delta_fail(msg, msglen, got < sizeof(first) ? JET_errMissingPatchPage : JET_errBadPatchPage,
		    "%s is not a page delta (%s)", path, got < sizeof(first) ? "too short" : "no JDLT magic at offset 4");
		goto err;
	}
	ps = get32(first + DELTA_OFF_PAGE_SIZE);
	if (ps < PAGE_SIZE_MIN || ps > PAGE_SIZE_MAX || (ps & (ps - 1)) != 0 || size < 2ULL * ps) {
		err = delta_fail(msg, msglen, JET_errBadPatchPage, "%s: page size %u (offset %d) is not one, or the "
		    "file (%llu bytes) ends before its stamp", path, ps, DELTA_OFF_PAGE_SIZE, (unsigned long long)size);
		goto err;
	}
	if ((r->page = malloc(ps)) == NULL || (r->head = malloc(2 * (size_t)ps)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	ERR(os_pread(r->file, r->head, 2 * (size_t)ps, 0));
	ERR(delta_header_check(r, r->head, ps, size));
	ERR(delta_stamp_check(r));
	head_size = (DELTA_INDEX_PAGE + DELTA_INDEX_PAGES(r->h.npages, ps)) * ps;
	free(r->head);
	if ((r->head = malloc(head_size)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	ERR(os_pread(r->file, r->head, head_size, 0));
	ERR(delta_index_check(r));
	return JET_errSuccess;
err:
	delta_reader_close(r);
	memset(r, 0, sizeof(*r));
	return err;
}

/* Reads the i-th page of the delta into r->page and checks it against its index entry and itself (D2). */
static JET_ERR
delta_reader_page(struct delta_reader *r, uint32_t i, uint32_t *pgnop)
{
	uint32_t ps = r->h.page_size;
	const uint8_t *entry = r->head + (size_t)DELTA_INDEX_PAGE * ps + (size_t)i * DELTA_ENTRY_SIZE;
	uint64_t off = delta_size(ps, r->h.npages) - (uint64_t)(r->h.npages - i) * ps;
	JET_ERR err;

	*pgnop = get32(entry);
	if ((err = os_pread(r->file, r->page, ps, off)) < 0)
		return delta_fail(r->msg, r->msglen, err, "%s: page %u (offset %llu) cannot be read (%s)", r->path,
		    *pgnop, (unsigned long long)off, JetErrorName(err));
	if (crc32c(0, r->page, ps) != get32(entry + 4))
		return delta_fail(r->msg, r->msglen, JET_errReadVerifyFailure,
		    "%s: page %u (offset %llu) does not match its index entry's CRC", r->path, *pgnop,
		    (unsigned long long)off);
	if ((err = delta_check_page(r->page, ps, *pgnop)) < 0)
		return delta_fail(r->msg, r->msglen, err, "%s: page %u (offset %llu): %s", r->path, *pgnop,
		    (unsigned long long)off, delta_page_problem(err));
	return JET_errSuccess;
}

static JET_ERR
delta_reader_check_pages(struct delta_reader *r)
{
	uint32_t pgno;

	for (uint32_t i = 0; i < r->h.npages; i++)
		RET(delta_reader_page(r, i, &pgno));
	return JET_errSuccess;
}

/* Checks a delta whole (D1, D2); its header into *h.  msg says what is wrong and where. */
JET_ERR
delta_verify(const char *path, struct delta_header *h, char *msg, size_t msglen)
{
	struct delta_reader r;
	JET_ERR err;

	RET(delta_reader_open(&r, path, msg, msglen));
	if ((err = delta_reader_check_pages(&r)) >= 0)
		*h = r.h;
	delta_reader_close(&r);
	return err;
}

/* ---- apply ---- */

static void
delta_describe(const struct bkinfo *bi, char *buf, size_t len)
{
	char when[40];

	dbhdr_time_format(bi->time_mark, when, sizeof(when));
	snprintf(buf, len, "the full backup of %s (mark LSN %llu, log generations %u to %u)", when,
	    (unsigned long long)bi->lsn_mark, bi->gen_low, bi->gen_high);
}

/*
 * Whether image (header ih, trailer it) is a whole streamed image of the
 * delta's base: same database and log set, and its backup mark, in the
 * header and the trailer, the delta's base.  gen_high is not compared: an
 * ESE-mode image's trailer names the last generation with a change, which
 * may differ from the range its End recorded in the header slot.
 */
static JET_ERR
delta_image_is_base(struct delta_reader *r, const char *image, const struct db_header *ih,
	const struct bk_trailer *it)
{
	char need[160], have[160];

	if (!dbhdr_sig_equal(&ih->sign_db, &r->h.sign_db))
		return delta_fail(r->msg, r->msglen, JET_errDatabasePatchFileMismatch,
		    "%s is an image of another database than delta %s's (%s)", image, r->path, r->h.path);
	if (!dbhdr_sig_equal(&ih->sign_log, &r->h.sign_log))
		return delta_fail(r->msg, r->msglen, JET_errDatabasePatchFileMismatch,
		    "%s belongs to another log set than delta %s", image, r->path);
	if (!delta_same_backup(&ih->bk[BK_FULL_CUR], &r->h.base) || !delta_same_backup(&it->bk, &r->h.base)) {
		delta_describe(&r->h.base, need, sizeof(need));
		delta_describe(&it->bk, have, sizeof(have));
		return delta_fail(r->msg, r->msglen, JET_errDatabasePatchFileMismatch,
		    "delta %s needs %s; %s is an image of %s", r->path, need, image, have);
	}
	return JET_errSuccess;
}

/* Reads and checks the streamed image the delta will be applied to; nothing written. */
static JET_ERR
delta_image_check(struct delta_reader *r, os_file *f, const char *image, struct db_header *ih)
{
	uint32_t ps = r->h.page_size;
	struct bk_trailer it;
	uint64_t size;
	JET_ERR err;

	if ((err = dbhdr_read(f, ih)) < 0)
		return delta_fail(r->msg, r->msglen, err, "%s: the database header cannot be read (%s)", image,
		    JetErrorName(err));
	if (!(ih->flags & DBHDR_FLAG_BACKUP_COPY) || ih->bk[BK_FULL_CUR].gen_low == 0)
		return delta_fail(r->msg, r->msglen, JET_errRestoreOfNonBackupDatabase,
		    "%s is a database, not a backup image of one", image);
	if (ih->page_size != ps)
		return delta_fail(r->msg, r->msglen, JET_errDatabasePatchFileMismatch,
		    "%s has pages of %u bytes, delta %s of %u", image, ih->page_size, r->path, ps);
	RET(os_size(f, &size));
	if (size >= ((uint64_t)ih->pgno_last + 3) * ps) {
		RET(os_pread(f, r->page, ps, ((uint64_t)ih->pgno_last + 2) * ps));
		if (get32(r->page + FMT_OFF_MAGIC) == DELTA_MAGIC)
			return delta_fail(r->msg, r->msglen, JET_errBadPatchPage,
			    "%s: an apply of a delta stopped half-way (a delta header where the trailer goes): the "
			    "image is unusable; copy the full backup's image again", image);
	}
	if (size != ((uint64_t)ih->pgno_last + 3) * ps)
		return delta_fail(r->msg, r->msglen, JET_errBadBackupDatabaseSize,
		    "%s: %llu bytes, not the %llu its header says", image, (unsigned long long)size,
		    ((unsigned long long)ih->pgno_last + 3) * ps);
	if (backup_trailer_decode(r->page, ps, &it) < 0 || it.pgno_last != ih->pgno_last)
		return delta_fail(r->msg, r->msglen, JET_errBadPatchPage, "%s: the backup trailer (offset %llu) is "
		    "damaged or not this header's", image, ((unsigned long long)ih->pgno_last + 2) * ps);
	return delta_image_is_base(r, image, ih, &it);
}

/* The trailer a backup streamed at the delta's Begin would carry (backup.c bk_make_trailer). */
static void
delta_trailer_encode(const struct delta_reader *r, uint8_t *page)
{
	uint32_t ps = r->h.page_size;
	struct db_header sh;
	struct bk_trailer t;

	(void)dbhdr_decode(r->head + (size_t)DELTA_STAMP_PAGE * ps, ps, &sh);	/* checked at open */
	memset(&t, 0, sizeof(t));
	t.bk = r->h.mark;
	t.sign_db = r->h.sign_db;
	t.sign_log = r->h.sign_log;
	t.gen_min_required = sh.gen_min_required;
	t.gen_max_required = sh.gen_max_required;
	t.gen_max_committed = sh.gen_max_committed;
	t.pgno_last = r->h.pgno_last;
	t.page_size = ps;
	snprintf(t.path, sizeof(t.path), "%s", r->h.path);
	backup_trailer_encode(&t, page, ps);
}

/*
 * What delta_apply checks before its first write, without writing: the
 * delta whole (D1, D2) and image_path, a sound streamed image of the delta's
 * base (same database and log set, its mark the delta's base).  Restore runs
 * it before it writes anything in its target, and verify-backup to judge a
 * delta against a full, so that both refuse what apply would, with apply's
 * message.  The delta's header into *h (may be NULL).
 */
JET_ERR
delta_check_base(const char *delta_path, const char *image_path, struct delta_header *h, char *msg, size_t msglen)
{
	struct delta_reader r;
	struct db_header ih;
	os_file *f = NULL;
	JET_ERR err;

	RET(delta_reader_open(&r, delta_path, msg, msglen));
	ERR(delta_reader_check_pages(&r));
	if ((err = os_open(image_path, OS_READ, &f)) < 0) {
		err = delta_fail(msg, msglen, err, "%s cannot be opened (%s)", image_path, JetErrorName(err));
		goto err;
	}
	ERR(delta_image_check(&r, f, image_path, &ih));
	if (h != NULL)
		*h = r.h;
err:
	os_close(f);
	delta_reader_close(&r);
	return err;
}

/*
 * Applies delta_path to image_path, a streamed image of its base full:
 * afterwards the image is the one a full backup streamed at the delta's
 * Begin would be (header copies the stamp, database pages as of the Begin,
 * pgno_last the delta's, its trailer), for restore to take like any.
 * Nothing is written unless the delta checks whole and the image is its
 * base's; see D3 for a failure half-way.
 */
JET_ERR
delta_apply(const char *delta_path, const char *image_path, char *msg, size_t msglen)
{
	struct delta_reader r;
	struct db_header ih;
	os_file *f = NULL;
	uint32_t ps, old_last, new_last, pgno;
	JET_ERR err;

	RET(delta_reader_open(&r, delta_path, msg, msglen));
	ps = r.h.page_size;
	ERR(delta_reader_check_pages(&r));
	if ((err = os_open(image_path, OS_WRITE, &f)) < 0) {
		err = delta_fail(msg, msglen, err, "%s cannot be opened (%s)", image_path, JetErrorName(err));
		goto err;
	}
	ERR(delta_image_check(&r, f, image_path, &ih));
	old_last = ih.pgno_last;
	new_last = r.h.pgno_last;

	/*
	 * D3: from here until the new trailer is synced, the trailer's place
	 * of the header on disk, old or new, holds the delta's header page.
	 */
	ERR(os_pwrite(f, r.head, ps, ((uint64_t)old_last + 2) * ps));
	ERR(os_fsync(f));
	ERR(os_pwrite(f, r.head, ps, ((uint64_t)new_last + 2) * ps));
	ERR(os_fsync(f));
	ERR(os_pwrite(f, r.head + (size_t)DELTA_STAMP_PAGE * ps, ps, 0));
	ERR(os_pwrite(f, r.head + (size_t)DELTA_STAMP_PAGE * ps, ps, ps));
	ERR(os_fsync(f));
	ERR(os_truncate(f, ((uint64_t)new_last + 3) * ps));
	if (new_last > old_last) {
		/* The old trailer's place is database page old_last + 1 now: never written unless the delta has it. */
		memset(r.page, 0, ps);
		ERR(os_pwrite(f, r.page, ps, page_offset(old_last + 1, ps)));
	}
	for (uint32_t i = 0; i < r.h.npages; i++) {
		ERR(delta_reader_page(&r, i, &pgno));
		ERR(os_pwrite(f, r.page, ps, page_offset(pgno, ps)));
	}
	ERR(os_fsync(f));
	delta_trailer_encode(&r, r.page);
	ERR(os_pwrite(f, r.page, ps, ((uint64_t)new_last + 2) * ps));
	ERR(os_fsync(f));
err:
	os_close(f);
	delta_reader_close(&r);
	return err;
}
