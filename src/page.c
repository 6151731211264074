/*
 * page.c -- the database page format.
 *
 * Every page of a database file past the two header pages has this 40-byte
 * header, all fields little-endian:
 *
 *    0  u32  checksum: CRC-32C of bytes 4..page_size, seeded with the pgno,
 *            so a page written at the wrong place fails verification
 *    4  u32  pgno: the page's own number (file offset = (pgno + 1) * size)
 *    8  u64  dbtime of the last change (per database, strictly increasing)
 *   16  u8   type (enum page_type)
 *   17  u8   flags
 *   18  u16  number of slots (B+tree pages)
 *   20  u16  free_lo: end of the slot array
 *   22  u16  free_hi: start of the record area (records grow down from the end)
 *   24  u32  next: right sibling (B+tree), next chunk (long value), next free page
 *   28  u32  prev: left sibling
 *   32  u32  aux: leftmost child (internal), bytes used (long value)
 *   36  u32  objid: the tree (table) that owns the page
 *
 * Invariants: a page on disk is either all zero (never written; reads as
 * JET_errPageNotInitialized, which backup tolerates) or carries a good
 * checksum and its own pgno.  The checksum is computed when a page leaves the
 * cache (page_seal) and checked when it enters it (page_verify); pages in the
 * cache never carry a meaningful checksum.
 */
#include "config.h"

#include <string.h>

#include "jet_int.h"

static uint32_t
page_checksum(const uint8_t *page, uint32_t page_size, uint32_t pgno)
{
	uint8_t seed[4];

	put32(seed, pgno);
	return crc32c(crc32c(0, seed, 4), page + 4, page_size - 4);
}

void
page_seal(uint8_t *page, uint32_t page_size)
{
	put32(page + PG_CHECKSUM, page_checksum(page, page_size, get32(page + PG_PGNO)));
}

int
page_is_zero(const uint8_t *page, uint32_t page_size)
{
	static const uint8_t zero[64];

	for (uint32_t off = 0; off < page_size; off += sizeof(zero))
		if (memcmp(page + off, zero, sizeof(zero)) != 0)
			return 0;
	return 1;
}

/*
 * Returns JET_errSuccess, JET_errPageNotInitialized (all zero),
 * JET_errReadPgnoVerifyFailure (good checksum, wrong page number: a
 * misdirected write) or JET_errReadVerifyFailure (bad checksum).
 */
JET_ERR
page_verify(const uint8_t *page, uint32_t page_size, uint32_t pgno)
{
	uint32_t stored = get32(page + PG_CHECKSUM);

	if (stored == page_checksum(page, page_size, pgno))
		return get32(page + PG_PGNO) == pgno ? JET_errSuccess : JET_errReadPgnoVerifyFailure;
	if (page_is_zero(page, page_size))
		return JET_errPageNotInitialized;
	if (stored == page_checksum(page, page_size, get32(page + PG_PGNO)))
		return JET_errReadPgnoVerifyFailure;
	return JET_errReadVerifyFailure;
}

void
page_init(uint8_t *page, uint32_t page_size, uint32_t pgno, enum page_type type, uint32_t objid)
{
	memset(page, 0, page_size);
	put32(page + PG_PGNO, pgno);
	page[PG_TYPE] = (uint8_t)type;
	put16(page + PG_FREE_LO, PAGE_HDR_SIZE);
	/* free_hi == page_size would not fit in 16 bits for 64 KiB pages; we stop at 32 KiB. */
	put16(page + PG_FREE_HI, (uint16_t)page_size);
	put32(page + PG_OBJID, objid);
}
