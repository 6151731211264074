/*
 * check_page.c -- unit tests of CRC-32C, the page format (page.c) and the
 * database header and signatures (dbhdr.c).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char *dir;

static void
setup(void)
{
	dir = tu_tempdir();
}

static void
teardown(void)
{
	tu_rmdir(dir);
	free(dir);
	dir = NULL;
}

/* Bit-at-a-time CRC-32C, the reference the fast versions must match. */
static uint32_t
crc_ref(const uint8_t *p, size_t len)
{
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78U : c >> 1;
	}
	return ~c;
}

/* A deterministic pseudo-random generator (xorshift). */
static uint32_t rng_state = 0x12345678u;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void
fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rng();
}

/* ---- CRC-32C ---- */

START_TEST(test_crc_vectors)
{
	uint8_t buf[32];

	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
	ck_assert_uint_eq(crc32c(0x1234, "", 0), 0x1234);
	ck_assert_uint_eq(crc32c(0, "a", 1), 0xC1D04330u);
	/* RFC 3720 (iSCSI) B.4 */
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xFF, sizeof(buf));
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x113FDB5Cu);
}
END_TEST

/* Bit by bit, as the polynomial defines it: what every faster way must equal. */
static uint32_t
crc_reference(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78U : crc >> 1;
	}
	return ~crc;
}

/* Every length around the three-stream strides (crc32c.c), from any start and alignment. */
START_TEST(test_crc_long)
{
	static uint8_t buf[20000 + 8];

	fill_random(buf, sizeof(buf));
	for (size_t len = 0; len <= 20000; len += len < 3200 ? 1 : 97) {
		size_t align = len % 8;
		uint32_t start = (uint32_t)len * 2654435761U;
		ck_assert_msg(crc32c(start, buf + align, len) == crc_reference(start, buf + align, len),
		    "crc32c of %zu bytes at alignment %zu", len, align);
	}
}
END_TEST

START_TEST(test_crc_incremental)
{
	const char *s = "123456789";
	uint8_t buf[1000];

	for (size_t k = 0; k <= 9; k++)
		ck_assert_uint_eq(crc32c(crc32c(0, s, k), s + k, 9 - k), 0xE3069283u);
	fill_random(buf, sizeof(buf));
	for (size_t k = 0; k <= sizeof(buf); k += 37) {
		uint32_t whole = crc32c(0, buf, sizeof(buf));
		ck_assert_uint_eq(crc32c(crc32c(0, buf, k), buf + k, sizeof(buf) - k), whole);
	}
	/* three pieces */
	ck_assert_uint_eq(crc32c(crc32c(crc32c(0, buf, 3), buf + 3, 500), buf + 503, 497),
	    crc32c(0, buf, 1000));
}
END_TEST

/* The fast path (hardware or slicing-by-8) agrees with the bitwise reference
 * at every length and alignment. */
START_TEST(test_crc_reference)
{
	uint8_t buf[600];

	fill_random(buf, sizeof(buf));
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += (len < 40 ? 1 : 53))
			ck_assert_msg(crc32c(0, buf + off, len) == crc_ref(buf + off, len), "off %zu len %zu", off, len);
	/* a single changed bit changes the crc */
	{
		uint32_t c = crc32c(0, buf, sizeof(buf));
		buf[300] ^= 0x10;
		ck_assert_uint_ne(crc32c(0, buf, sizeof(buf)), c);
	}
}
END_TEST

/* ---- pages ---- */

static const uint32_t page_sizes[] = { 4096, 8192, 16384, 32768 };

START_TEST(test_page_init)
{
	uint32_t ps = 8192;
	uint8_t *pg = malloc(ps);

	ck_assert(pg != NULL);
	memset(pg, 0x5A, ps);
	page_init(pg, ps, 77, PAGE_LEAF, 1234);
	ck_assert_uint_eq(get32(pg + PG_PGNO), 77);
	ck_assert_uint_eq(pg[PG_TYPE], PAGE_LEAF);
	ck_assert_uint_eq(pg[PG_FLAGS], 0);
	ck_assert_uint_eq(get16(pg + PG_NSLOTS), 0);
	ck_assert_uint_eq(get16(pg + PG_FREE_LO), PAGE_HDR_SIZE);
	ck_assert_uint_eq(get16(pg + PG_FREE_HI), ps);
	ck_assert_uint_eq(get32(pg + PG_OBJID), 1234);
	ck_assert_uint_eq(get64(pg + PG_DBTIME), 0);
	ck_assert_uint_eq(get32(pg + PG_NEXT), 0);
	ck_assert_uint_eq(get32(pg + PG_PREV), 0);
	ck_assert_uint_eq(get32(pg + PG_AUX), 0);
	for (uint32_t i = PAGE_HDR_SIZE; i < ps; i++)
		ck_assert_msg(pg[i] == 0, "byte %u not cleared", i);
	ck_assert(!page_is_zero(pg, ps));
	free(pg);
}
END_TEST

START_TEST(test_page_seal_verify)
{
	for (size_t k = 0; k < sizeof(page_sizes) / sizeof(page_sizes[0]); k++) {
		uint32_t ps = page_sizes[k];
		uint8_t *pg = malloc(ps);

		ck_assert(pg != NULL);
		page_init(pg, ps, 5, PAGE_INTERNAL, 9);
		fill_random(pg + PAGE_HDR_SIZE, ps - PAGE_HDR_SIZE);
		put64(pg + PG_DBTIME, 42);
		page_seal(pg, ps);
		CK_ERR(page_verify(pg, ps, 5), JET_errSuccess);
		/* the checksum is CRC-32C of bytes 4.. seeded with the pgno */
		{
			uint8_t seed[4];
			put32(seed, 5);
			ck_assert_uint_eq(get32(pg + PG_CHECKSUM), crc32c(crc32c(0, seed, 4), pg + 4, ps - 4));
		}
		/* sealing twice is stable */
		page_seal(pg, ps);
		CK_ERR(page_verify(pg, ps, 5), JET_errSuccess);
		free(pg);
	}
}
END_TEST

START_TEST(test_page_flipped_byte)
{
	uint32_t ps = 8192;
	uint8_t *pg = malloc(ps);
	const uint32_t offs[] = { 0, 3, 4, 8, 16, 39, 40, 41, 4095, 4096, 8191 };

	ck_assert(pg != NULL);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		page_init(pg, ps, 3, PAGE_LEAF, 2);
		fill_random(pg + PAGE_HDR_SIZE, 100);
		page_seal(pg, ps);
		pg[offs[i]] ^= 0x01;
		CK_ERR(page_verify(pg, ps, 3), JET_errReadVerifyFailure);
		pg[offs[i]] ^= 0x01;
		CK_ERR(page_verify(pg, ps, 3), JET_errSuccess);
		pg[offs[i]] ^= 0xFF;
		CK_ERR(page_verify(pg, ps, 3), JET_errReadVerifyFailure);
	}
	free(pg);
}
END_TEST

START_TEST(test_page_wrong_pgno)
{
	uint32_t ps = 4096;
	uint8_t *pg = malloc(ps);
	uint8_t seed[4];

	ck_assert(pg != NULL);
	/* sealed as page 7, read at 8 (a misdirected write) */
	page_init(pg, ps, 7, PAGE_LEAF, 2);
	page_seal(pg, ps);
	CK_ERR(page_verify(pg, ps, 7), JET_errSuccess);
	CK_ERR(page_verify(pg, ps, 8), JET_errReadPgnoVerifyFailure);
	CK_ERR(page_verify(pg, ps, 0x10007), JET_errReadPgnoVerifyFailure);
	/* a checksum seeded with 8 but a header that says 7 */
	put32(seed, 8);
	put32(pg + PG_CHECKSUM, crc32c(crc32c(0, seed, 4), pg + 4, ps - 4));
	CK_ERR(page_verify(pg, ps, 8), JET_errReadPgnoVerifyFailure);
	CK_ERR(page_verify(pg, ps, 7), JET_errReadVerifyFailure);
	free(pg);
}
END_TEST

START_TEST(test_page_zero)
{
	for (size_t k = 0; k < sizeof(page_sizes) / sizeof(page_sizes[0]); k++) {
		uint32_t ps = page_sizes[k];
		uint8_t *pg = calloc(1, ps);

		ck_assert(pg != NULL);
		ck_assert(page_is_zero(pg, ps));
		CK_ERR(page_verify(pg, ps, 1), JET_errPageNotInitialized);
		CK_ERR(page_verify(pg, ps, 12345), JET_errPageNotInitialized);
		pg[ps - 1] = 1;
		ck_assert(!page_is_zero(pg, ps));
		CK_ERR(page_verify(pg, ps, 1), JET_errReadVerifyFailure);
		pg[ps - 1] = 0;
		pg[0] = 1;
		ck_assert(!page_is_zero(pg, ps));
		CK_ERR(page_verify(pg, ps, 1), JET_errReadVerifyFailure);
		free(pg);
	}
}
END_TEST

/* ---- database header ---- */

static void
sig_fill(struct jet_sig *s, uint32_t r, uint64_t t, const char *host)
{
	memset(s, 0, sizeof(*s));
	s->random = r;
	s->time_create = t;
	snprintf(s->host, sizeof(s->host), "%s", host);
}

/* A header with a distinct value in every field. */
static void
hdr_fill(struct db_header *h, uint32_t ps)
{
	memset(h, 0, sizeof(*h));
	h->version = DB_FORMAT_VERSION;
	h->page_size = ps;
	h->dbstate = JET_dbstateDirtyShutdown;
	h->dbid = 3;
	sig_fill(&h->sign_db, 0xDEADBEEFu, 0x0102030405060708ull, "dbhost");
	sig_fill(&h->sign_log, 0xCAFEBABEu, 0x1112131415161718ull, "loghost-long-na");
	h->dbtime = 0x2122232425262728ull;
	h->lsn_consistent = 0x3132333435363738ull;
	h->lsn_attach = 0x4142434445464748ull;
	h->lsn_detach = 0x5152535455565758ull;
	h->time_consistent = 0x6162636465666768ull;
	h->time_attach = 0x7172737475767778ull;
	h->time_detach = 0x8182838485868788ull;
	h->gen_min_required = 0x91929394u;
	h->gen_max_required = 0xA1A2A3A4u;
	h->gen_max_committed = 0xB1B2B3B4u;
	h->gen_consistent = 0xC1C2C3C4u;
	h->gen_attach = 0xD1D2D3D4u;
	h->pgno_last = 0xE1E2E3E4u;
	for (int i = 0; i < BK_NSLOTS; i++) {
		h->bk[i].lsn_mark = 0x1000000000000000ull * (uint64_t)(i + 1) + 1;
		h->bk[i].time_mark = 0x0100000000000000ull * (uint64_t)(i + 1) + 2;
		h->bk[i].gen_low = 0x100u * (uint32_t)(i + 1) + 3;
		h->bk[i].gen_high = 0x10000u * (uint32_t)(i + 1) + 4;
	}
	h->flags = DBHDR_FLAG_BACKUP_COPY;
}

static void
sig_assert_eq(const struct jet_sig *a, const struct jet_sig *b)
{
	ck_assert_uint_eq(a->random, b->random);
	ck_assert_uint_eq(a->time_create, b->time_create);
	ck_assert_str_eq(a->host, b->host);
	ck_assert(dbhdr_sig_equal(a, b));
}

static void
hdr_assert_eq(const struct db_header *a, const struct db_header *b)
{
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_uint_eq(a->page_size, b->page_size);
	ck_assert_uint_eq(a->dbstate, b->dbstate);
	ck_assert_uint_eq(a->dbid, b->dbid);
	sig_assert_eq(&a->sign_db, &b->sign_db);
	sig_assert_eq(&a->sign_log, &b->sign_log);
	ck_assert_uint_eq(a->dbtime, b->dbtime);
	ck_assert_uint_eq(a->lsn_consistent, b->lsn_consistent);
	ck_assert_uint_eq(a->lsn_attach, b->lsn_attach);
	ck_assert_uint_eq(a->lsn_detach, b->lsn_detach);
	ck_assert_uint_eq(a->time_consistent, b->time_consistent);
	ck_assert_uint_eq(a->time_attach, b->time_attach);
	ck_assert_uint_eq(a->time_detach, b->time_detach);
	ck_assert_uint_eq(a->gen_min_required, b->gen_min_required);
	ck_assert_uint_eq(a->gen_max_required, b->gen_max_required);
	ck_assert_uint_eq(a->gen_max_committed, b->gen_max_committed);
	ck_assert_uint_eq(a->gen_consistent, b->gen_consistent);
	ck_assert_uint_eq(a->gen_attach, b->gen_attach);
	ck_assert_uint_eq(a->pgno_last, b->pgno_last);
	for (int i = 0; i < BK_NSLOTS; i++) {
		ck_assert_uint_eq(a->bk[i].lsn_mark, b->bk[i].lsn_mark);
		ck_assert_uint_eq(a->bk[i].time_mark, b->bk[i].time_mark);
		ck_assert_uint_eq(a->bk[i].gen_low, b->bk[i].gen_low);
		ck_assert_uint_eq(a->bk[i].gen_high, b->bk[i].gen_high);
	}
	ck_assert_uint_eq(a->flags, b->flags);
}

/* Recomputes the header checksum after a deliberate edit. */
static void
hdr_reseal(uint8_t *page, uint32_t ps)
{
	put32(page, crc32c(0, page + 4, ps - 4));
}

START_TEST(test_dbhdr_roundtrip)
{
	for (size_t k = 0; k < sizeof(page_sizes) / sizeof(page_sizes[0]); k++) {
		uint32_t ps = page_sizes[k];
		uint8_t *pg = malloc(ps);
		struct db_header h, d;

		ck_assert(pg != NULL);
		hdr_fill(&h, ps);
		memset(pg, 0x77, ps);
		dbhdr_encode(&h, pg);
		/* fixed fields of the layout; literal offsets on purpose: they pin the format against format.h */
		ck_assert_uint_eq(get32(pg + 4), DB_MAGIC);
		ck_assert_uint_eq(get32(pg + 8), DB_FORMAT_VERSION);
		ck_assert_uint_eq(get32(pg + 12), JET_filetypeDatabase);
		ck_assert_uint_eq(get32(pg + 16), ps);
		ck_assert_uint_eq(pg[667], JET_filetypeDatabase);
		ck_assert_uint_eq(get32(pg), crc32c(0, pg + 4, ps - 4));
		ck_assert_uint_eq(pg[ps - 1], 0);	/* the rest is zero */
		memset(&d, 0x55, sizeof(d));
		CK(dbhdr_decode(pg, ps, &d));
		hdr_assert_eq(&h, &d);
		/* a longer buffer is fine too (the page size comes from the page) */
		if (ps < PAGE_SIZE_MAX) {
			uint8_t *big = calloc(1, PAGE_SIZE_MAX);
			ck_assert(big != NULL);
			memcpy(big, pg, ps);
			memset(big + ps, 0xEE, PAGE_SIZE_MAX - ps);
			CK(dbhdr_decode(big, PAGE_SIZE_MAX, &d));
			hdr_assert_eq(&h, &d);
			free(big);
		}
		free(pg);
	}
}
END_TEST

/* Each field lands in its own place: changing one changes only that field. */
START_TEST(test_dbhdr_fields_independent)
{
	uint32_t ps = 4096;
	uint8_t *a = malloc(ps), *b = malloc(ps);
	struct db_header h, d;

	ck_assert(a != NULL && b != NULL);
	hdr_fill(&h, ps);
	dbhdr_encode(&h, a);
	h.gen_attach++;
	dbhdr_encode(&h, b);
	ck_assert_uint_eq(get32(b + 160), 0xD1D2D3D5u);
	for (uint32_t i = 4; i < ps; i++)
		if (i != 160)
			ck_assert_msg(a[i] == b[i], "byte %u differs", i);
	CK(dbhdr_decode(b, ps, &d));
	hdr_assert_eq(&h, &d);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_dbhdr_decode_bad)
{
	uint32_t ps = 8192;
	uint8_t *pg = malloc(ps);
	struct db_header h, d;

	ck_assert(pg != NULL);
	hdr_fill(&h, ps);

	/* too short a buffer */
	dbhdr_encode(&h, pg);
	CK_ERR(dbhdr_decode(pg, 4095, &d), JET_errDatabaseCorrupted);
	CK_ERR(dbhdr_decode(pg, 4096, &d), JET_errDatabaseCorrupted);	/* 8 KiB page in 4 KiB */
	/* checksum */
	pg[1000] ^= 1;
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
	/* magic */
	dbhdr_encode(&h, pg);
	put32(pg + 4, 0x12345678);
	hdr_reseal(pg, ps);
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
	/* file type */
	dbhdr_encode(&h, pg);
	put32(pg + 12, JET_filetypeLog);
	hdr_reseal(pg, ps);
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
	/* page sizes: not a power of two, too small, too large */
	{
		const uint32_t bad[] = { 6000, 2048, 65536, 0, 8193 };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			dbhdr_encode(&h, pg);
			put32(pg + 16, bad[i]);
			hdr_reseal(pg, ps);
			CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
		}
	}
	/* dbstate out of range */
	dbhdr_encode(&h, pg);
	put32(pg + 20, 0);
	hdr_reseal(pg, ps);
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
	put32(pg + 20, 999);
	hdr_reseal(pg, ps);
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
	/* dbid out of range */
	dbhdr_encode(&h, pg);
	put32(pg + 24, 0);
	hdr_reseal(pg, ps);
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
	put32(pg + 24, JET_MAX_ATTACHED_DATABASES + 1);
	hdr_reseal(pg, ps);
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
	/* a future format version, checksum intact */
	dbhdr_encode(&h, pg);
	put32(pg + 8, DB_FORMAT_VERSION + 1);
	hdr_reseal(pg, ps);
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errInvalidDatabaseVersion);
	/* all zero */
	memset(pg, 0, ps);
	CK_ERR(dbhdr_decode(pg, ps, &d), JET_errDatabaseCorrupted);
	free(pg);
}
END_TEST

/* Writes the two header copies of a database file of npages data pages. */
static char *
write_db_file(const char *name, const struct db_header *h, uint32_t npages)
{
	char *p = tu_path(dir, name);
	os_file *f;

	CK(os_open(p, OS_WRITE | OS_CREATE, &f));
	CK(os_truncate(f, (uint64_t)(npages + 2) * h->page_size));
	CK(dbhdr_write(f, h));
	os_close(f);
	return p;
}

static void
rewrite_hdr(const char *path, const struct db_header *h)
{
	os_file *f;

	CK(os_open(path, OS_WRITE, &f));
	CK(dbhdr_write(f, h));
	os_close(f);
}

static JET_ERR
read_hdr(const char *path, struct db_header *h)
{
	os_file *f;
	JET_ERR err;

	CK(os_open(path, OS_READ, &f));
	memset(h, 0, sizeof(*h));
	err = dbhdr_read(f, h);
	os_close(f);
	return err;
}

static uint8_t *
read_bytes(const char *path, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY);

	ck_assert(buf != NULL && fd >= 0);
	ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
	return buf;
}

static void
write_bytes(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);

	ck_assert(fd >= 0);
	ck_assert_int_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

START_TEST(test_dbhdr_write_read)
{
	for (size_t k = 0; k < sizeof(page_sizes) / sizeof(page_sizes[0]); k++) {
		uint32_t ps = page_sizes[k];
		struct db_header h, d;
		char name[32];
		char *p;
		uint8_t *c0, *c1;

		snprintf(name, sizeof(name), "db%u.edb", ps);
		hdr_fill(&h, ps);
		p = write_db_file(name, &h, 4);
		/* both copies identical */
		c0 = read_bytes(p, 0, ps);
		c1 = read_bytes(p, ps, ps);
		ck_assert_mem_eq(c0, c1, ps);
		CK(read_hdr(p, &d));
		hdr_assert_eq(&h, &d);
		free(c0);
		free(c1);
		free(p);
	}
}
END_TEST

START_TEST(test_dbhdr_shadow_fallback)
{
	for (size_t k = 0; k < sizeof(page_sizes) / sizeof(page_sizes[0]); k++) {
		uint32_t ps = page_sizes[k];
		struct db_header h, d;
		char name[32];
		char *p;

		snprintf(name, sizeof(name), "db%u.edb", ps);
		hdr_fill(&h, ps);
		h.dbid = (uint32_t)k + 1;
		p = write_db_file(name, &h, 2);
		/* page 0 scribbled entirely */
		tu_scribble(p, 0, ps, 0xA5);
		CK(read_hdr(p, &d));
		hdr_assert_eq(&h, &d);
		/* page 0 with one byte flipped */
		rewrite_hdr(p, &h);
		tu_scribble(p, 200, 1, 0x00);
		CK(read_hdr(p, &d));
		hdr_assert_eq(&h, &d);
		/* page 0 zeroed */
		tu_scribble(p, 0, ps, 0);
		CK(read_hdr(p, &d));
		hdr_assert_eq(&h, &d);
		/* and both bad */
		tu_scribble(p, ps + 100, 4, 0x33);
		CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
		free(p);
	}
}
END_TEST

START_TEST(test_dbhdr_both_bad)
{
	uint32_t ps = 8192;
	struct db_header h, d;
	char *p;

	hdr_fill(&h, ps);
	p = write_db_file("a.edb", &h, 2);
	tu_scribble(p, 10, 1, 0xFF);
	tu_scribble(p, ps + 10, 1, 0xFF);
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	free(p);

	/* page 0 bad, page 1 a header for another page size at the wrong place */
	p = write_db_file("b.edb", &h, 2);
	tu_scribble(p, 0, ps * 2, 0);
	{
		struct db_header h4;
		uint8_t *pg = malloc(4096);
		hdr_fill(&h4, 4096);
		dbhdr_encode(&h4, pg);
		write_bytes(p, ps, pg, 4096);	/* a 4 KiB header at offset 8192 is not a shadow copy */
		free(pg);
	}
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	free(p);
}
END_TEST

START_TEST(test_dbhdr_garbage_file)
{
	char *p = tu_path(dir, "garbage.edb");
	uint8_t *buf = malloc(65536);
	struct db_header d;

	ck_assert(buf != NULL);
	fill_random(buf, 65536);
	{
		int fd = open(p, O_WRONLY | O_CREAT, 0600);
		ck_assert(fd >= 0);
		ck_assert_int_eq(write(fd, buf, 65536), 65536);
		close(fd);
	}
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	/* garbage that starts with the right magic and type */
	put32(buf + 4, DB_MAGIC);
	put32(buf + 12, JET_filetypeDatabase);
	put32(buf + 16, 8192);
	write_bytes(p, 0, buf, 65536);
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	free(buf);
	free(p);
}
END_TEST

START_TEST(test_dbhdr_truncated)
{
	uint32_t ps = 8192;
	struct db_header h, d;
	char *p;

	hdr_fill(&h, ps);
	p = write_db_file("t.edb", &h, 2);
	CK(read_hdr(p, &d));
	/* only page 0, cut short: the file is smaller than two minimal pages */
	ck_assert_int_eq(truncate(p, 8191), 0);
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	ck_assert_int_eq(truncate(p, 4096), 0);
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	ck_assert_int_eq(truncate(p, 0), 0);
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	free(p);

	/* page 0 bad and the shadow cut off in the middle */
	p = write_db_file("u.edb", &h, 2);
	tu_scribble(p, 0, 16, 0xEE);
	ck_assert_int_eq(truncate(p, ps + ps / 2), 0);
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	free(p);
}
END_TEST

START_TEST(test_dbhdr_bad_page_size)
{
	uint32_t ps = 8192;
	struct db_header h, d;
	uint8_t *pg = malloc(ps);
	char *p;

	ck_assert(pg != NULL);
	hdr_fill(&h, ps);
	p = write_db_file("ps.edb", &h, 2);
	dbhdr_encode(&h, pg);
	put32(pg + 16, 12288);	/* not a power of two */
	hdr_reseal(pg, ps);
	write_bytes(p, 0, pg, ps);
	write_bytes(p, ps, pg, ps);
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	put32(pg + 16, 65536);	/* too large */
	hdr_reseal(pg, ps);
	write_bytes(p, 0, pg, ps);
	write_bytes(p, ps, pg, ps);
	CK_ERR(read_hdr(p, &d), JET_errDatabaseCorrupted);
	free(pg);
	free(p);
}
END_TEST

START_TEST(test_dbhdr_future_version)
{
	uint32_t ps = 8192;
	struct db_header h, d;
	uint8_t *pg = malloc(ps);
	char *p;

	ck_assert(pg != NULL);
	hdr_fill(&h, ps);
	p = write_db_file("v.edb", &h, 2);
	dbhdr_encode(&h, pg);
	put32(pg + 8, DB_FORMAT_VERSION + 1);
	hdr_reseal(pg, ps);
	/* only page 0 from the future: the shadow is still readable */
	write_bytes(p, 0, pg, ps);
	CK(read_hdr(p, &d));
	hdr_assert_eq(&h, &d);
	/* both copies from the future */
	write_bytes(p, ps, pg, ps);
	CK_ERR(read_hdr(p, &d), JET_errInvalidDatabaseVersion);
	free(pg);
	free(p);
}
END_TEST

/* A header the engine wrote: a scribbled page 0 still reads from the shadow. */
START_TEST(test_dbhdr_engine_database)
{
	JET_INSTANCE inst = tu_instance(dir, 64, 64);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	struct db_header good, d;
	char *p = tu_path(dir, "real.edb");

	CK(JetInit(&inst));
	tu_open_db(inst, dir, "real.edb", &ses, &dbid, &t);
	CK(tu_put(ses, t, "k", 1, "v", 1));
	CK(JetTerm(inst));
	CK(read_hdr(p, &good));
	ck_assert_uint_eq(good.version, DB_FORMAT_VERSION);
	ck_assert_uint_eq(good.page_size, 8192);
	ck_assert_uint_eq(good.dbstate, JET_dbstateCleanShutdown);
	ck_assert_uint_ge(good.dbid, 1);
	tu_scribble(p, 0, 8192, 0x5C);
	CK(read_hdr(p, &d));
	hdr_assert_eq(&good, &d);
	/* and the engine attaches it (the first header write repairs page 0) */
	inst = tu_instance(dir, 64, 64);
	CK(JetInit(&inst));
	tu_open_db(inst, dir, "real.edb", &ses, &dbid, &t);
	{
		void *v;
		size_t len;
		CK(tu_get(ses, t, "k", 1, &v, &len));
		ck_assert_uint_eq(len, 1);
		ck_assert_mem_eq(v, "v", 1);
		free(v);
	}
	CK(JetTerm(inst));
	{
		uint8_t *c0 = read_bytes(p, 0, 8192);
		CK(dbhdr_decode(c0, 8192, &d));
		free(c0);
	}
	free(p);
}
END_TEST

/* ---- signatures ---- */

START_TEST(test_sig_roundtrip)
{
	struct jet_sig a, b;
	uint8_t buf[SIG_SIZE + 4];

	sig_fill(&a, 0x01020304u, 0x1122334455667788ull, "myhost");
	memset(buf, 0xCC, sizeof(buf));
	dbhdr_sig_encode(&a, buf);
	ck_assert_uint_eq(get32(buf), 0x01020304u);
	ck_assert_uint_eq(get64(buf + 4), 0x1122334455667788ull);
	ck_assert_mem_eq(buf + 12, "myhost", 7);
	ck_assert_uint_eq(buf[SIG_SIZE], 0xCC);		/* stays inside its 28 bytes */
	memset(&b, 0x99, sizeof(b));
	dbhdr_sig_decode(buf, &b);
	sig_assert_eq(&a, &b);

	/* a 16-byte host field without a NUL decodes to 15 characters */
	memset(buf + 12, 'h', 16);
	dbhdr_sig_decode(buf, &b);
	ck_assert_uint_eq(strlen(b.host), 15);
	ck_assert_uint_eq(b.random, 0x01020304u);
}
END_TEST

START_TEST(test_sig_equal)
{
	struct jet_sig a, b;

	sig_fill(&a, 1, 2, "h");
	b = a;
	ck_assert(dbhdr_sig_equal(&a, &b));
	b.random = 3;
	ck_assert(!dbhdr_sig_equal(&a, &b));
	b = a;
	b.time_create = 3;
	ck_assert(!dbhdr_sig_equal(&a, &b));
	b = a;
	snprintf(b.host, sizeof(b.host), "g");
	ck_assert(!dbhdr_sig_equal(&a, &b));
	/* bytes after the host's NUL do not matter */
	b = a;
	b.host[10] = 'x';
	ck_assert(dbhdr_sig_equal(&a, &b));
}
END_TEST

START_TEST(test_sig_make)
{
	struct jet_sig a, b;
	JET_SIGNATURE js;
	uint8_t buf[SIG_SIZE];
	uint64_t t0 = dbhdr_time_now_us();

	dbhdr_sig_make(&a);
	dbhdr_sig_make(&b);
	ck_assert(!dbhdr_sig_equal(&a, &b));
	ck_assert_uint_ge(a.time_create, t0);
	ck_assert_uint_le(a.time_create, dbhdr_time_now_us());
	ck_assert_uint_gt(strlen(a.host), 0);
	ck_assert_uint_lt(strlen(a.host), sizeof(a.host));
	dbhdr_sig_encode(&a, buf);
	dbhdr_sig_decode(buf, &b);
	sig_assert_eq(&a, &b);
	dbhdr_sig_to_jet(&a, &js);
	ck_assert_uint_eq(js.ulRandom, a.random);
	ck_assert_int_eq(strncmp(js.szComputerName, a.host, sizeof(a.host)), 0);
	ck_assert_int_eq(js.logtimeCreate.fTimeIsUTC, 1);
	ck_assert_int_ge(js.logtimeCreate.bYear, 120);	/* 2020 or later */
}
END_TEST

static Suite *
page_suite(void)
{
	Suite *s = suite_create("page");
	TCase *crc = tcase_create("crc32c");
	TCase *page = tcase_create("page");
	TCase *hdr = tcase_create("dbhdr");
	TCase *sig = tcase_create("sig");

	tcase_add_test(crc, test_crc_vectors);
	tcase_add_test(crc, test_crc_incremental);
	tcase_add_test(crc, test_crc_long);
	tcase_add_test(crc, test_crc_reference);
	suite_add_tcase(s, crc);

	tcase_add_test(page, test_page_init);
	tcase_add_test(page, test_page_seal_verify);
	tcase_add_test(page, test_page_flipped_byte);
	tcase_add_test(page, test_page_wrong_pgno);
	tcase_add_test(page, test_page_zero);
	suite_add_tcase(s, page);

	tcase_add_checked_fixture(hdr, setup, teardown);
	tcase_add_test(hdr, test_dbhdr_roundtrip);
	tcase_add_test(hdr, test_dbhdr_fields_independent);
	tcase_add_test(hdr, test_dbhdr_decode_bad);
	tcase_add_test(hdr, test_dbhdr_write_read);
	tcase_add_test(hdr, test_dbhdr_shadow_fallback);
	tcase_add_test(hdr, test_dbhdr_both_bad);
	tcase_add_test(hdr, test_dbhdr_garbage_file);
	tcase_add_test(hdr, test_dbhdr_truncated);
	tcase_add_test(hdr, test_dbhdr_bad_page_size);
	tcase_add_test(hdr, test_dbhdr_future_version);
	tcase_add_test(hdr, test_dbhdr_engine_database);
	suite_add_tcase(s, hdr);

	tcase_add_test(sig, test_sig_roundtrip);
	tcase_add_test(sig, test_sig_equal);
	tcase_add_test(sig, test_sig_make);
	suite_add_tcase(s, sig);
	return s;
}

int
main(void)
{
	return tu_run(page_suite());
}
