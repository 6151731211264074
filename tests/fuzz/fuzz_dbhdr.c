/*
 * fuzz_dbhdr.c -- libFuzzer harness for the database header reader.
 *
 * The input is the beginning of a database file: header page 0, its shadow
 * copy (file page 1), and whatever follows (format at the top of
 * src/dbhdr.c).  It is written to a private directory and read by:
 *   - dbhdr_read(), what JetAttachDatabase, recovery (dbfile_open) and
 *     restore call; a header it accepts is encoded again (dbhdr_encode) and
 *     must decode to the same fields;
 *   - `jetutil header FILE` and `jetutil header FILE --json`
 *     (cmd_header_run, tools/jetutil/cmd-header.c, linked in), which also
 *     decode the backup trailer of an image (backup_trailer_decode,
 *     backup.c), and `jetutil verify FILE` (cmd_verify_file), which checks
 *     every page.
 *
 * Header pages and trailers carry a CRC-32C, which random mutations never
 * get right; an input is also run with each checksum fixed up (page 0 by its
 * own page size field, a shadow at every legal page size whose page size
 * field names it, the trailer where the header says it is).  A crash input
 * found either way reproduces with this harness.
 */
#include "config.h"

#include "fuzz_common.h"

#include "jetutil.h"

static char *fz_db;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_workdir("dbhdr");
	fz_db = fz_path("in.edb");
	return 0;
}

static int
fz_legal_ps(uint32_t ps)
{
	return ps >= PAGE_SIZE_MIN && ps <= PAGE_SIZE_MAX && (ps & (ps - 1)) == 0;
}

/* What the engine accepted survives its own encoder: the same fields, the same bytes. */
static void
fz_roundtrip(const struct db_header *h)
{
	uint8_t *p1 = malloc(h->page_size), *p2 = malloc(h->page_size);
	struct db_header h2;
	JET_ERR err;

	if (p1 == NULL || p2 == NULL)
		fz_die("malloc");
	dbhdr_encode(h, p1);
	err = dbhdr_decode(p1, h->page_size, &h2);
	FZ_CHECK(err == JET_errSuccess, "the header the engine encoded does not decode: %s", JetErrorName(err));
	FZ_CHECK(h2.page_size == h->page_size && h2.dbstate == h->dbstate && h2.dbid == h->dbid &&
	    h2.flags == h->flags && h2.dbtime == h->dbtime && h2.pgno_last == h->pgno_last &&
	    h2.lsn_consistent == h->lsn_consistent && h2.gen_min_required == h->gen_min_required &&
	    h2.gen_max_required == h->gen_max_required && dbhdr_sig_equal(&h2.sign_db, &h->sign_db) &&
	    dbhdr_sig_equal(&h2.sign_log, &h->sign_log), "a header field changed in encode/decode");
	for (int i = 0; i < BK_NSLOTS; i++)
		FZ_CHECK(memcmp(&h2.bk[i], &h->bk[i], sizeof(h->bk[i])) == 0, "backup slot %d changed", i);
	dbhdr_encode(&h2, p2);
	FZ_CHECK(memcmp(p1, p2, h->page_size) == 0, "encode(decode(encode(h))) differs from encode(h)");
	free(p1);
	free(p2);
}

static void
fz_run(const uint8_t *data, size_t size)
{
	char *hdr_argv[] = { (char *)"header", fz_db, NULL };
	char *json_argv[] = { (char *)"header", fz_db, (char *)"--json", NULL };
	struct db_header h;
	os_file *f;
	JET_ERR err;

	fz_write_file(fz_db, data, size, 0);

	if (os_open(fz_db, OS_READ, &f) < 0)
		fz_die(fz_db);
	err = dbhdr_read(f, &h);
	os_close(f);
	if (err >= 0) {
		FZ_CHECK(fz_legal_ps(h.page_size), "page size %u", h.page_size);
		FZ_CHECK(h.dbid >= 1 && h.dbid <= JET_MAX_ATTACHED_DATABASES, "dbid %u", h.dbid);
		FZ_CHECK(h.dbstate >= JET_dbstateJustCreated && h.dbstate <= JET_dbstateForceDetach, "dbstate %u",
		    h.dbstate);
		FZ_CHECK(h.sign_db.host[15] == '\0' && h.sign_log.host[15] == '\0', "unterminated host name");
		fz_roundtrip(&h);
	} else
		FZ_CHECK(err == JET_errDatabaseCorrupted || err == JET_errInvalidDatabaseVersion, "dbhdr_read: %s",
		    JetErrorName(err));

	fz_quiet_begin();
	optind = 0;		/* getopt_long starts over */
	(void)cmd_header_run(2, hdr_argv);
	optind = 0;
	(void)cmd_header_run(3, json_argv);
	(void)cmd_verify_file(fz_db);
	fz_quiet_end();
}

static int
fz_fix_page(uint8_t *p, uint32_t ps)
{
	uint32_t crc = crc32c(0, p + FMT_OFF_MAGIC, ps - FMT_OFF_MAGIC);

	if (get32(p + FMT_OFF_CRC) == crc)
		return 0;
	put32(p + FMT_OFF_CRC, crc);
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;
	uint32_t ps0 = 0;
	int changed = 0;

	fz_run(data, size);
	if (size < 2 * PAGE_SIZE_MIN || (fixed = malloc(size)) == NULL)
		return 0;
	memcpy(fixed, data, size);
	/* Page 0, by its own page size. */
	if (get32(fixed + FMT_OFF_MAGIC) == DB_MAGIC && fz_legal_ps(get32(fixed + DBHDR_OFF_PAGE_SIZE)) &&
	    get32(fixed + DBHDR_OFF_PAGE_SIZE) <= size) {
		ps0 = get32(fixed + DBHDR_OFF_PAGE_SIZE);
		changed |= fz_fix_page(fixed, ps0);
	}
	/* A shadow copy at each page size it could be read at. */
	for (uint32_t ps = PAGE_SIZE_MIN; ps <= PAGE_SIZE_MAX && 2 * (size_t)ps <= size; ps *= 2)
		if (get32(fixed + ps + FMT_OFF_MAGIC) == DB_MAGIC && get32(fixed + ps + DBHDR_OFF_PAGE_SIZE) == ps)
			changed |= fz_fix_page(fixed + ps, ps);
	/* The trailer of a backup image: the last page, (pgno_last + 3) pages into the file. */
	if (ps0 != 0 && (get32(fixed + DBHDR_OFF_FLAGS) & DBHDR_FLAG_BACKUP_COPY)) {
		uint64_t end = ((uint64_t)get32(fixed + DBHDR_OFF_PGNO_LAST) + 3) * ps0;
		if (end <= size && get32(fixed + end - ps0 + FMT_OFF_MAGIC) == BK_TRAILER_MAGIC)
			changed |= fz_fix_page(fixed + end - ps0, ps0);
	}
	if (changed)
		fz_run(fixed, size);
	free(fixed);
	return 0;
}
