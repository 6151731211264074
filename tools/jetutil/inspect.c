/*
 * inspect.c -- what a file is (database, log, checkpoint, by the common
 * prefix of the formats, src/format.h), and a database file's two header
 * copies and a backup image's trailer, each classified sound or not with
 * the reason: header, verify and restore report on them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetutil.h"

/* NULL if the page is a sound header (decoded into *h), else what is wrong. */
static const char *
hdr_copy_problem(const uint8_t *p, size_t got, struct db_header *h)
{
	uint32_t ps;
	JET_ERR err;

	if (got < PAGE_SIZE_MIN)
		return "missing (the file is too short)";
	if (page_is_zero(p, PAGE_SIZE_MIN))
		return "all zero";
	if (get32(p + FMT_OFF_MAGIC) != DB_MAGIC || get32(p + FMT_OFF_FILETYPE) != JET_filetypeDatabase)
		return "not a database header (bad magic or file type)";
	ps = get32(p + DBHDR_OFF_PAGE_SIZE);
	if (ps < PAGE_SIZE_MIN || ps > PAGE_SIZE_MAX || (ps & (ps - 1)) != 0)
		return "impossible page size";
	if (ps > got)
		return "truncated";
	if (get32(p + FMT_OFF_CRC) != crc32c(0, p + FMT_OFF_MAGIC, ps - FMT_OFF_MAGIC))
		return "bad checksum";
	err = dbhdr_decode(p, (uint32_t)got, h);
	if (err == JET_errInvalidDatabaseVersion)
		return "unsupported format version";
	if (err < 0)
		return "impossible field values";
	return NULL;
}

/* Reads and classifies both header copies; returns < 0 only on an I/O error. */
JET_ERR
inspect_read_hdr_copies(os_file *f, struct hdr_copies *hc)
{
	uint8_t *b0 = util_xmalloc(PAGE_SIZE_MAX), *b1 = util_xmalloc(PAGE_SIZE_MAX);
	struct db_header h1;
	size_t got0 = 0, got1 = 0;
	JET_ERR err;

	memset(hc, 0, sizeof(*hc));
	ERR(os_size(f, &hc->size));
	ERR(os_pread_partial(f, b0, PAGE_SIZE_MAX, 0, &got0));
	hc->why[0] = hdr_copy_problem(b0, got0, &hc->h);
	hc->ok[0] = hc->why[0] == NULL;
	if (hc->ok[0]) {
		hc->ps = hc->h.page_size;
		ERR(os_pread_partial(f, b1, hc->ps, hc->ps, &got1));
		hc->why[1] = hdr_copy_problem(b1, got1, &h1);
		if (hc->why[1] == NULL && h1.page_size != hc->ps)
			hc->why[1] = "a different page size";
	} else {
		/* The shadow sits one page further: try each legal page size. */
		hc->why[1] = "not found";
		for (uint32_t ps = PAGE_SIZE_MIN; ps <= PAGE_SIZE_MAX; ps *= 2) {
			const char *why;
			if (os_pread_partial(f, b1, ps, ps, &got1) < 0 || got1 != ps)
				continue;
			why = hdr_copy_problem(b1, got1, &h1);
			if (why == NULL && h1.page_size == ps) {
				hc->ps = ps;
				hc->h = h1;
				hc->why[1] = NULL;
				break;
			}
		}
		/* Copy 0 names a page size: say what is at its shadow's place. */
		if (hc->why[1] != NULL && got0 >= PAGE_SIZE_MIN && get32(b0 + FMT_OFF_MAGIC) == DB_MAGIC) {
			uint32_t ps = get32(b0 + DBHDR_OFF_PAGE_SIZE);
			if (ps >= PAGE_SIZE_MIN && ps <= PAGE_SIZE_MAX && (ps & (ps - 1)) == 0 &&
			    os_pread_partial(f, b1, ps, ps, &got1) >= 0)
				hc->why[1] = hdr_copy_problem(b1, got1, &h1);
			if (hc->why[1] == NULL)
				hc->why[1] = "bad checksum";	/* impossible: found above */
		}
	}
	hc->ok[1] = hc->why[1] == NULL;
	hc->have = hc->ok[0] || hc->ok[1];
	hc->identical = hc->ok[0] && hc->ok[1] && memcmp(b0, b1, hc->ps) == 0;
	err = JET_errSuccess;
err:
	free(b0);
	free(b1);
	return err;
}

const char *
inspect_copy_status(const struct hdr_copies *hc, int i)
{
	return hc->ok[i] ? "OK" : hc->why[i];
}

/* The trailer of a backup image: 0 with *t, or a problem in why. */
int
inspect_read_trailer(os_file *f, const struct hdr_copies *hc, struct bk_trailer *t, char *why, size_t len)
{
	uint32_t ps = hc->ps;
	uint64_t want = ((uint64_t)hc->h.pgno_last + 3) * ps;
	uint8_t *page;
	JET_ERR err;

	memset(t, 0, sizeof(*t));
	if (hc->size < want) {
		snprintf(why, len, "missing: the image has %llu bytes, its header says %llu (truncated copy?)",
		    (unsigned long long)hc->size, (unsigned long long)want);
		return -1;
	}
	page = util_xmalloc(ps);
	err = os_pread(f, page, ps, want - ps);
	if (err >= 0)
		err = backup_trailer_decode(page, ps, t);
	free(page);
	if (err < 0) {
		snprintf(why, len, "%s", err == JET_errBadPatchPage ? "damaged (bad checksum, magic or fields)" :
		    JetErrorString(err));
		return -1;
	}
	if (!restore_trailer_matches(&hc->h, t)) {
		snprintf(why, len, "does not belong to this header (signatures, mark or page count differ)");
		return -1;
	}
	if (hc->size != want) {
		snprintf(why, len, "the image has %llu bytes, its header says %llu", (unsigned long long)hc->size,
		    (unsigned long long)want);
		return -1;
	}
	return 0;
}

enum ftype
inspect_sniff(os_file *f)
{
	uint8_t b[PAGE_SIZE_MIN];
	size_t got = 0;

	if (os_pread_partial(f, b, sizeof(b), 0, &got) < 0 || got < 16)
		return FT_NONE;
	switch (get32(b + FMT_OFF_MAGIC)) {
	case DB_MAGIC: return FT_DB;
	case LOG_MAGIC: return FT_LOG;
	case CHK_MAGIC: return FT_CHK;
	}
	if (got > H_FILETYPE_ESE && b[H_FILETYPE_ESE] == JET_filetypeDatabase)
		return FT_DB_DAMAGED;
	if (got == sizeof(b) && page_is_zero(b, sizeof(b)))
		return FT_ZERO;
	return FT_NONE;
}
