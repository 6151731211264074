/*
 * fsresume.c -- what a jetfs mount served, kept where its death cannot lose
 * it: in the client area of the backup (JetfsBackupClientArea), shared
 * memory that the instance keeps until the backup ends.  A jetfs killed
 * mid-copy leaves its account there; `jetfs -o resume` takes the held
 * backup over (JetfsTakeOverBackup) and reads it back, so rsync --partial
 * finishes the copy and truncation and a normal End work as if nothing had
 * happened.
 *
 * THE AREA (this file's format; the instance never reads it), native byte
 * order (it never leaves the machine):
 *   0  u32 magic 'JFSA'      4  u32 version (1)
 *   8  u32 files             12 u32 unit (FSR_UNIT bytes per bit)
 *   16 u32 failed reads      20 u32 reserved
 *   24 per file, in the set's order (names sorted, fsbackup.c): u64 size,
 *      u64 offset of its bitmap from the area's start
 *   then the bitmaps, 8-byte aligned: bit u of a file is set when every
 *      byte of unit u ([u * unit, min((u + 1) * unit, size))) was served.
 *
 * INVARIANTS
 *  R1. A bit is set only once every byte of its unit was copied into a
 *      reply (fsbackup.c F2's covered ranges); so the area never claims more
 *      than was served, and loses at most the partial units at the edges of
 *      what was served (they are read again).
 *  R2. The header is written last, after the area was checked to be zero:
 *      a jetfs killed before it leaves an area a successor starts afresh.
 *      A successor uses an area only if its header matches the set it
 *      listed (file count, every size); else it serves as if nothing had
 *      been served, which is never wrong (it only reads again).
 *  R3. Written only under fsbackup's lock, by one jetfs at a time (the
 *      instance serves one client): no atomics needed.
 *  R4. The instance may be anyone's process (root's jetfs serves any uid):
 *      the area is mapped only if it is a memfd sealed against shrinking
 *      of exactly the size asked (so no access can fault), and where a
 *      bitmap lies is computed here from the set, never read from the area
 *      after the check (so no write can leave it).  Its bits are trusted as
 *      the instance's word on what was sent, like everything it serves.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsresume.h"

#define FSR_MAGIC 0x4153464AU	/* "JFSA" */
#define FSR_VERSION 1
#define FSR_UNIT 4096u
#define FSR_HDR 24

struct fsresume {
	uint8_t *map;
	size_t size;
	size_t nfiles;
	uint64_t *sizes;		/* copies of the set's sizes (what the area was laid out for) */
	uint64_t *offs;			/* R4: where each file's bitmap lies, computed here */
};

static uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t
rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint64_t
units_of(uint64_t size)
{
	return (size + FSR_UNIT - 1) / FSR_UNIT;
}

/* The area's size for a set, and each file's bitmap offset in offs (may be NULL). */
static uint64_t
layout(const uint64_t *sizes, size_t n, uint64_t *offs)
{
	uint64_t at = FSR_HDR + 16 * (uint64_t)n;

	for (size_t i = 0; i < n; i++) {
		at = (at + 7) & ~(uint64_t)7;
		if (offs != NULL)
			offs[i] = at;
		at += (units_of(sizes[i]) + 7) / 8;
	}
	return at;
}

static uint8_t *
bitmap_of(struct fsresume *r, size_t i)
{
	return r->map + r->offs[i];
}

/* R2: whether the area was laid out for this very set. */
static int
matches(const struct fsresume *r)
{
	int ok = rd32(r->map) == FSR_MAGIC && rd32(r->map + 4) == FSR_VERSION && rd32(r->map + 8) == r->nfiles &&
	    rd32(r->map + 12) == FSR_UNIT;

	for (size_t i = 0; ok && i < r->nfiles; i++)
		ok = rd64(r->map + FSR_HDR + 16 * i) == r->sizes[i] && rd64(r->map + FSR_HDR + 16 * i + 8) == r->offs[i];
	return ok;
}

/* R4: a sealed memfd of exactly size bytes, which no one can shrink under the mapping. */
static int
safe_to_map(int fd, uint64_t size)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & F_SEAL_SHRINK) && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == size;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static void
write_header(struct fsresume *r)
{
	for (size_t i = 0; i < r->nfiles; i++) {
		wr64(r->map + FSR_HDR + 16 * i, r->sizes[i]);
		wr64(r->map + FSR_HDR + 16 * i + 8, r->offs[i]);
	}
	wr32(r->map + 4, FSR_VERSION);
	wr32(r->map + 8, (uint32_t)r->nfiles);
	wr32(r->map + 12, FSR_UNIT);
	wr32(r->map, FSR_MAGIC);	/* last (R2) */
}

struct fsresume *
fsresume_open(JET_INSTANCE inst, const uint64_t *sizes, size_t n, int *carried, char *msg, size_t cb)
{
	struct fsresume *r = calloc(1, sizeof(*r));
	unsigned long long got = 0;
	uint64_t want;
	JET_ERR err;
	int fd = -1;

	*carried = 0;
	if (r == NULL || (r->sizes = malloc((n ? n : 1) * sizeof(*r->sizes))) == NULL ||
	    (r->offs = malloc((n ? n : 1) * sizeof(*r->offs))) == NULL) {
		snprintf(msg, cb, "out of memory");
		goto err;
	}
	memcpy(r->sizes, sizes, n * sizeof(*sizes));
	r->nfiles = n;
	want = layout(sizes, n, r->offs);
	if ((err = JetfsBackupClientArea(inst, want, &fd, &got)) < 0) {
		snprintf(msg, cb, "the instance keeps no account for this client: %s (%ld)", JetErrorString(err), err);
		goto err;
	}
	if (got != want) {
		snprintf(msg, cb, "the account the instance keeps was made for another set (%llu bytes, %llu expected): "
		    "every file is read again", got, (unsigned long long)want);
		goto err;
	}
	if (!safe_to_map(fd, got)) {
		snprintf(msg, cb, "the account the instance offers is not a sealed memory area of %llu bytes: not used",
		    got);
		goto err;
	}
	r->size = (size_t)got;
	r->map = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	fd = -1;
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		snprintf(msg, cb, "cannot map the account the instance keeps: %m");
		goto err;
	}
	if (matches(r))
		*carried = 1;
	else if (all_zero(r->map, r->size))
		write_header(r);
	else {
		snprintf(msg, cb, "the account the instance keeps does not match this set: every file is read again");
		goto err;
	}
	return r;

err:
	if (fd >= 0)
		close(fd);
	fsresume_free(r);
	return NULL;
}

void
fsresume_free(struct fsresume *r)
{
	if (r == NULL)
		return;
	if (r->map != NULL)
		munmap(r->map, r->size);
	free(r->sizes);
	free(r->offs);
	free(r);
}

/* R1: the units of [off, off + n) that covered, which holds it, now covers wholly. */
void
fsresume_mark(struct fsresume *r, size_t i, const struct ranges *covered, uint64_t off, uint64_t n)
{
	uint64_t lo = 0, hi = 0, size;
	uint8_t *bits;

	if (r == NULL || i >= r->nfiles || n == 0)
		return;
	size = r->sizes[i];
	for (size_t k = 0; k < covered->n; k++)
		if (covered->r[k][0] <= off && off + n <= covered->r[k][1]) {
			lo = covered->r[k][0];
			hi = covered->r[k][1];
			break;
		}
	bits = bitmap_of(r, i);
	for (uint64_t u = off / FSR_UNIT; u * FSR_UNIT < off + n; u++) {
		uint64_t ulo = u * FSR_UNIT, uhi = ulo + FSR_UNIT < size ? ulo + FSR_UNIT : size;
		if (lo <= ulo && uhi <= hi)
			bits[u / 8] |= (uint8_t)(1u << (u % 8));
	}
}

JET_ERR
fsresume_load(struct fsresume *r, size_t i, struct ranges *covered)
{
	const uint8_t *bits;
	uint64_t units, size;

	if (r == NULL || i >= r->nfiles)
		return JET_errSuccess;
	size = r->sizes[i];
	units = units_of(size);
	bits = bitmap_of(r, i);
	for (uint64_t u = 0; u < units;) {
		uint64_t v;
		if (!(bits[u / 8] & (1u << (u % 8)))) {
			u++;
			continue;
		}
		for (v = u; v < units && (bits[v / 8] & (1u << (v % 8))); v++)
			;
		if (ranges_add(covered, u * FSR_UNIT, v * FSR_UNIT < size ? v * FSR_UNIT : size) < 0)
			return JET_errOutOfMemory;
		u = v;
	}
	return JET_errSuccess;
}

void
fsresume_note_failed_read(struct fsresume *r)
{
	if (r != NULL)
		wr32(r->map + 16, rd32(r->map + 16) + 1);
}

unsigned
fsresume_failed_reads(const struct fsresume *r)
{
	return r == NULL ? 0 : rd32(r->map + 16);
}
