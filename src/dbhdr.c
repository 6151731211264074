/*
 * dbhdr.c -- the database header page, signatures and times.
 *
 * File pages 0 and 1 of a database hold the header and its shadow copy,
 * identical when all is well.  Both are written (0 first, fsync, then 1,
 * fsync), so a write torn in one leaves the other intact; a reader takes
 * page 0 if its checksum holds, else page 1.  Layout (little-endian), the
 * rest of the page zero:
 *
 *    0 u32 checksum: CRC-32C of bytes 4..page_size
 *    4 u32 magic 0x89abcdef (ESE's ulDAEMagic)     8 u32 format version
 *   12 u32 file type (JET_filetypeDatabase)        16 u32 page size
 *   20 u32 dbstate (JET_dbstate*)                  24 u32 dbid
 *   28 u32 flags (DBHDR_FLAG_*)
 *   32 sign_db (28)   60 sign_log (28): random u32, time u64, host[16]
 *   88 u64 dbtime when the header was written
 *   96 u64 lsn_consistent  104 u64 lsn_attach  112 u64 lsn_detach
 *  120 u64 time_consistent 128 u64 time_attach 136 u64 time_detach
 *  144 u32 gen_min_required  148 gen_max_required  152 gen_max_committed
 *  156 u32 gen_consistent    160 gen_attach        164 pgno_last
 *  168 six backup slots of 24 bytes (lsn u64, time u64, gen_low u32,
 *      gen_high u32): FullPrev, IncPrev, CopyPrev, DiffPrev, FullCur, SnapCur
 *      (below)
 *  667 u8 file type again (ESE keeps le_filetype at 667 in every header kind)
 *
 * BACKUP SLOTS (ESE's BKINFO; written by JetEndExternalBackup, backup.c
 * bk_record, and redone from the log's backup Update record): each holds the
 * log position and time of the backup's mark and the log generations the
 * backup copied, gen_low..gen_high.  FullPrev: the last full backup whose
 * logs were truncated (it clears IncPrev and DiffPrev); IncPrev: the last
 * incremental that truncated; CopyPrev / DiffPrev: full / incremental without
 * truncation (they start no chain and continue none).  FullCur: only in a
 * streamed image (the backup it belongs to; gen_low = the first generation
 * it needs).  A chain is FullPrev, then incrementals, each starting at or
 * below the previous gen_high + 1: an incremental whose oldest log on disk is
 * above max(FullPrev, IncPrev).gen_high + 1 of any database is refused
 * (JET_errMissingFileToBackup), since the generations in between are in no
 * set.  All zero: never backed up (an incremental gets JET_errMissingFullBackup).
 *
 * Invariant: the header is written (and synced) with dbstate
 * DirtyShutdown before any data page of an attached database is written, and
 * CleanShutdown only after every page is on disk.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jet_int.h"

#include "format.h"

uint64_t
dbhdr_time_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
dbhdr_time_to_logtime(uint64_t us, JET_LOGTIME *lt)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;
	unsigned ms = (unsigned)((us / 1000u) % 1000u);

	memset(lt, 0, sizeof(*lt));
	if (us == 0 || gmtime_r(&t, &tm) == NULL)
		return;
	lt->bSeconds = (char)tm.tm_sec;
	lt->bMinutes = (char)tm.tm_min;
	lt->bHours = (char)tm.tm_hour;
	lt->bDay = (char)tm.tm_mday;
	lt->bMonth = (char)(tm.tm_mon + 1);
	lt->bYear = (char)tm.tm_year;
	lt->fTimeIsUTC = 1;
	lt->bMillisecondsHigh = (char)(ms >> 8);
}

void
dbhdr_time_format(uint64_t us, char *buf, size_t len)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;

	if (us == 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "none");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)((us / 1000u) % 1000u));
}

void
dbhdr_sig_make(struct jet_sig *sig)
{
	uint8_t rnd[4] = { 0 };
	FILE *f = fopen("/dev/urandom", "rb");

	memset(sig, 0, sizeof(*sig));
	if (f == NULL || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
		uint64_t t = dbhdr_time_now_us() ^ ((uint64_t)getpid() << 20);
		put32(rnd, (uint32_t)(t ^ (t >> 32)));
	}
	if (f != NULL)
		fclose(f);
	sig->random = get32(rnd);
	sig->time_create = dbhdr_time_now_us();
	if (gethostname(sig->host, sizeof(sig->host)) != 0)
		strcpy(sig->host, "localhost");
	sig->host[sizeof(sig->host) - 1] = '\0';
}

void
dbhdr_sig_encode(const struct jet_sig *sig, uint8_t *p)
{
	put32(p, sig->random);
	put64(p + 4, sig->time_create);
	memcpy(p + 12, sig->host, 16);
}

void
dbhdr_sig_decode(const uint8_t *p, struct jet_sig *sig)
{
	sig->random = get32(p);
	sig->time_create = get64(p + 4);
	memcpy(sig->host, p + 12, 16);
	sig->host[15] = '\0';
}

/* A backup's bkinfo as every format stores it (BK_SIZE bytes): u64 mark LSN, u64 mark time, u32 gen_low, gen_high. */
void
dbhdr_bkinfo_encode(const struct bkinfo *bi, uint8_t *p)
{
	put64(p, bi->lsn_mark);
	put64(p + 8, bi->time_mark);
	put32(p + 16, bi->gen_low);
	put32(p + 20, bi->gen_high);
}

void
dbhdr_bkinfo_decode(const uint8_t *p, struct bkinfo *bi)
{
	bi->lsn_mark = get64(p);
	bi->time_mark = get64(p + 8);
	bi->gen_low = get32(p + 16);
	bi->gen_high = get32(p + 20);
}

int
dbhdr_sig_equal(const struct jet_sig *a, const struct jet_sig *b)
{
	return a->random == b->random && a->time_create == b->time_create &&
	    strncmp(a->host, b->host, sizeof(a->host)) == 0;
}

void
dbhdr_sig_to_jet(const struct jet_sig *sig, JET_SIGNATURE *out)
{
	memset(out, 0, sizeof(*out));
	out->ulRandom = sig->random;
	dbhdr_time_to_logtime(sig->time_create, &out->logtimeCreate);
	memcpy(out->szComputerName, sig->host, sizeof(out->szComputerName));
}

void
dbhdr_encode(const struct db_header *h, uint8_t *page)
{
	memset(page, 0, h->page_size);
	put32(page + 4, DB_MAGIC);
	put32(page + 8, h->version);
	put32(page + 12, JET_filetypeDatabase);
	put32(page + 16, h->page_size);
	put32(page + 20, h->dbstate);
	put32(page + 24, h->dbid);
	put32(page + 28, h->flags);
	dbhdr_sig_encode(&h->sign_db, page + 32);
	dbhdr_sig_encode(&h->sign_log, page + 60);
	put64(page + 88, h->dbtime);
	put64(page + 96, h->lsn_consistent);
	put64(page + 104, h->lsn_attach);
	put64(page + 112, h->lsn_detach);
	put64(page + 120, h->time_consistent);
	put64(page + 128, h->time_attach);
	put64(page + 136, h->time_detach);
	put32(page + 144, h->gen_min_required);
	put32(page + 148, h->gen_max_required);
	put32(page + 152, h->gen_max_committed);
	put32(page + 156, h->gen_consistent);
	put32(page + 160, h->gen_attach);
	put32(page + 164, h->pgno_last);
	for (int i = 0; i < BK_NSLOTS; i++)
		dbhdr_bkinfo_encode(&h->bk[i], page + BK_OFF + i * BK_SIZE);
	page[H_FILETYPE_ESE] = JET_filetypeDatabase;
	put32(page, crc32c(0, page + 4, h->page_size - 4));
}

/*
 * Decodes a header page of len bytes (the page size is read from it).
 * JET_errDatabaseCorrupted for anything that is not a sound header.
 */
JET_ERR
dbhdr_decode(const uint8_t *page, uint32_t len, struct db_header *h)
{
	uint32_t ps;

	if (len < PAGE_SIZE_MIN || get32(page + 4) != DB_MAGIC || get32(page + 12) != JET_filetypeDatabase)
		return JET_errDatabaseCorrupted;
	ps = get32(page + 16);
	if (ps < PAGE_SIZE_MIN || ps > PAGE_SIZE_MAX || (ps & (ps - 1)) != 0 || ps > len)
		return JET_errDatabaseCorrupted;
	if (get32(page) != crc32c(0, page + 4, ps - 4))
		return JET_errDatabaseCorrupted;
	if (get32(page + 8) != DB_FORMAT_VERSION)
		return JET_errInvalidDatabaseVersion;
	memset(h, 0, sizeof(*h));
	h->version = get32(page + 8);
	h->page_size = ps;
	h->dbstate = get32(page + 20);
	h->dbid = get32(page + 24);
	h->flags = get32(page + 28);
	dbhdr_sig_decode(page + 32, &h->sign_db);
	dbhdr_sig_decode(page + 60, &h->sign_log);
	h->dbtime = get64(page + 88);
	h->lsn_consistent = get64(page + 96);
	h->lsn_attach = get64(page + 104);
	h->lsn_detach = get64(page + 112);
	h->time_consistent = get64(page + 120);
	h->time_attach = get64(page + 128);
	h->time_detach = get64(page + 136);
	h->gen_min_required = get32(page + 144);
	h->gen_max_required = get32(page + 148);
	h->gen_max_committed = get32(page + 152);
	h->gen_consistent = get32(page + 156);
	h->gen_attach = get32(page + 160);
	h->pgno_last = get32(page + 164);
	for (int i = 0; i < BK_NSLOTS; i++)
		dbhdr_bkinfo_decode(page + BK_OFF + i * BK_SIZE, &h->bk[i]);
	if (h->dbstate < JET_dbstateJustCreated || h->dbstate > JET_dbstateForceDetach ||
	    h->dbid < 1 || h->dbid > JET_MAX_ATTACHED_DATABASES)
		return JET_errDatabaseCorrupted;
	return JET_errSuccess;
}

/* Reads the header: copy 0, else the shadow copy 1. */
JET_ERR
dbhdr_read(os_file *file, struct db_header *h)
{
	uint8_t *buf = malloc(PAGE_SIZE_MAX);
	JET_ERR err, err0 = JET_errDatabaseCorrupted;
	size_t got;
	uint64_t size;

	if (buf == NULL)
		return JET_errOutOfMemory;
	ERR(os_size(file, &size));
	if (size < 2 * PAGE_SIZE_MIN) {
		err = JET_errDatabaseCorrupted;
		goto err;
	}
	ERR(os_pread_partial(file, buf, PAGE_SIZE_MAX, 0, &got));
	if ((err0 = dbhdr_decode(buf, (uint32_t)got, h)) == JET_errSuccess)
		goto done;
	/* The shadow sits one page further; try each legal page size. */
	for (uint32_t ps = PAGE_SIZE_MIN; ps <= PAGE_SIZE_MAX; ps *= 2) {
		if (os_pread_partial(file, buf, ps, ps, &got) == JET_errSuccess && got == ps &&
		    dbhdr_decode(buf, ps, h) == JET_errSuccess && h->page_size == ps)
			goto done;
	}
	err = err0;
	goto err;
done:
	err = JET_errSuccess;
err:
	free(buf);
	return err;
}

JET_ERR
dbhdr_write(os_file *file, const struct db_header *h)
{
	uint8_t *buf = malloc(h->page_size);
	JET_ERR err;

	if (buf == NULL)
		return JET_errOutOfMemory;
	dbhdr_encode(h, buf);
	ERR(os_pwrite(file, buf, h->page_size, 0));
	ERR(os_fsync(file));
	ERR(os_pwrite(file, buf, h->page_size, h->page_size));
	ERR(os_fsync(file));
err:
	free(buf);
	return err;
}
