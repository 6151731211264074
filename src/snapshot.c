/*
 * snapshot.c -- the copy-on-write snapshot of a database for a point-in-time
 * backup: the Begin image of every page overwritten while the backup runs,
 * kept in the spill file <db>.jfsbk (dbfile_spill_path) with an index in
 * memory.  A storage concern below the cache: the cache's page write calls
 * snapshot_preserve; the backup (backup.c) creates, reads and frees it.
 *
 * INVARIANTS (K2 in backup.c)
 *  S1. Created at a point-in-time Begin, when no transaction runs (write
 *      lock) and every page is on disk and synced; from then on the first
 *      write of a page up to the Begin pgno_last first copies the page on
 *      disk (its Begin image) to the spill file.  So a read through
 *      snapshot_read sees the Begin state.
 *  S2. db->snap and the kept images change only under db->bk_io_lock, which
 *      every page write and every backup read of the file takes.
 *  S3. An image that cannot be kept voids the snapshot (failed), never the
 *      live write: the backup's reads return the error from then on.
 *  S4. One kept image per page written during the backup, on disk; the
 *      index is 8 bytes per kept page.  The spill file goes when the
 *      snapshot is freed (a stale one is removed when the database is opened,
 *      dbfile.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

struct snapshot {
	uint32_t pgno_last;
	char *spill_path;
	os_file *spill;
	uint32_t nkept;
	uint32_t *keys;			/* open addressing: pgno (0 = empty) */
	uint32_t *slots;		/* spill slot of keys[i] */
	uint32_t cap;
	JET_ERR failed;			/* an image could not be kept: the snapshot is void */
};

static uint32_t *
snap_find(struct snapshot *snap, uint32_t pgno)
{
	uint32_t i;

	if (snap->cap == 0)
		return NULL;
	for (i = (pgno * 2654435761U) & (snap->cap - 1); snap->keys[i] != 0; i = (i + 1) & (snap->cap - 1))
		if (snap->keys[i] == pgno)
			return &snap->slots[i];
	return NULL;
}

static JET_ERR
snap_insert(struct snapshot *snap, uint32_t pgno, uint32_t slot)
{
	uint32_t i;

	if ((snap->nkept + 1) * 2 > snap->cap) {
		uint32_t ncap = snap->cap ? snap->cap * 2 : 1024, *ok = snap->keys, *os = snap->slots, ocap = snap->cap;
		if ((snap->keys = calloc(ncap, sizeof(uint32_t))) == NULL ||
		    (snap->slots = calloc(ncap, sizeof(uint32_t))) == NULL) {
			free(snap->keys);
			snap->keys = ok;
			snap->slots = os;
			return JET_errOutOfMemory;
		}
		snap->cap = ncap;
		for (uint32_t j = 0; j < ocap; j++)
			if (ok[j] != 0) {
				for (i = (ok[j] * 2654435761U) & (ncap - 1); snap->keys[i] != 0; i = (i + 1) & (ncap - 1))
					;
				snap->keys[i] = ok[j];
				snap->slots[i] = os[j];
			}
		free(ok);
		free(os);
	}
	for (i = (pgno * 2654435761U) & (snap->cap - 1); snap->keys[i] != 0; i = (i + 1) & (snap->cap - 1))
		;
	snap->keys[i] = pgno;
	snap->slots[i] = slot;
	snap->nkept++;
	return JET_errSuccess;
}

/* Before page pgno is overwritten: keep its Begin image (S2: under bk_io_lock). */
JET_ERR
snapshot_preserve(struct jet_db *db, uint32_t pgno)
{
	struct snapshot *snap = db->snap;
	uint32_t ps = db->hdr.page_size;
	uint8_t *buf;
	JET_ERR err;

	JET_ASSERT(db->inst, olock_held(&db->bk_io_lock));
	if (snap == NULL || snap->failed < 0 || pgno > snap->pgno_last || snap_find(snap, pgno) != NULL)
		return JET_errSuccess;
	if ((buf = malloc(ps)) == NULL)
		return JET_errOutOfMemory;
	err = dbfile_read_page(db, pgno, buf);
	if (err >= 0)
		err = os_pwrite(snap->spill, buf, ps, (uint64_t)snap->nkept * ps);
	if (err >= 0)
		err = snap_insert(snap, pgno, snap->nkept);
	free(buf);
	if (err < 0) {
		/* The backup fails, never the live write: its reads now return the error. */
		event_log(db->inst, EVENT_ERROR, 218, "%s: cannot keep the backup image of page %u (%s): the backup fails",
		    db->path, pgno, JetErrorString(err));
		snap->failed = err;
	}
	return JET_errSuccess;
}

/* The backup ended or failed: its kept images and the spill file go. */
void
snapshot_free(struct jet_db *db)
{
	struct snapshot *snap;

	olock_lock(&db->bk_io_lock);
	snap = db->snap;
	db->snap = NULL;
	olock_unlock(&db->bk_io_lock);
	if (snap == NULL)
		return;
	os_close(snap->spill);
	if (snap->spill_path != NULL)
		os_unlink(snap->spill_path);
	free(snap->spill_path);
	free(snap->keys);
	free(snap->slots);
	free(snap);
}

/* At a point-in-time Begin (S1): an empty snapshot of pages 1..pgno_last, with a new spill file. */
JET_ERR
snapshot_create(struct jet_db *db, uint32_t pgno_last)
{
	struct snapshot *snap = calloc(1, sizeof(*snap));
	JET_ERR err;

	if (snap == NULL || (snap->spill_path = dbfile_spill_path(db->path)) == NULL) {
		free(snap);
		return JET_errOutOfMemory;
	}
	snap->pgno_last = pgno_last;
	if (os_exists(snap->spill_path))
		os_unlink(snap->spill_path);
	if ((err = os_open(snap->spill_path, OS_WRITE | OS_CREATE | OS_EXCL, &snap->spill)) < 0) {
		free(snap->spill_path);
		free(snap);
		return err;
	}
	olock_lock(&db->bk_io_lock);
	db->snap = snap;
	olock_unlock(&db->bk_io_lock);
	return JET_errSuccess;
}

/* Why the snapshot is void, or success (also with no snapshot); S2: under bk_io_lock. */
JET_ERR
snapshot_failed(struct jet_db *db)
{
	JET_ASSERT(db->inst, olock_held(&db->bk_io_lock));
	return db->snap != NULL && db->snap->failed < 0 ? db->snap->failed : JET_errSuccess;
}

/* Whether page pgno has a kept image; S2: under bk_io_lock, which the caller checked with snapshot_failed. */
int
snapshot_kept(struct jet_db *db, uint32_t pgno)
{
	return db->snap != NULL && snap_find(db->snap, pgno) != NULL;
}

/* Reads page pgno as it was at Begin: its kept image, or the file; S2: under bk_io_lock. */
JET_ERR
snapshot_read(struct jet_db *db, uint32_t pgno, uint8_t *out)
{
	uint32_t ps = db->hdr.page_size, *slot;

	JET_ASSERT(db->inst, olock_held(&db->bk_io_lock));
	RET(snapshot_failed(db));
	if (db->snap != NULL && (slot = snap_find(db->snap, pgno)) != NULL)
		return os_pread(db->snap->spill, out, ps, (uint64_t)*slot * ps);
	return dbfile_read_page(db, pgno, out);
}
