/*
 * snapshot.c -- the copy-on-write snapshot of a database for a point-in-time
 * backup: the Begin image of every page overwritten while the backup runs,
 * kept in the spill file <db>.jfsbk (dbfile_spill_path), and the kept-page
 * map that says which pages have one.  A storage concern below the cache: the
 * cache's page write calls snapshot_preserve; the backup (backup.c) creates,
 * reads, shares and frees it.
 *
 * THE SPILL FILE mirrors the database file: the kept image of page p lies at
 * page_offset(p), where p lies in the database file.  It is sparse: only the
 * pages written during the backup take space.
 *
 * THE KEPT-PAGE MAP (format.h, KPM_*) is shared memory (a sealed memfd), so
 * that readers of the set (pitread.c), here or in another process, need no
 * request to the instance to know where a page's Begin image is.  Native
 * byte order (it never leaves the machine).  Header: magic, version,
 * pgno_last, page size, state (0 while the snapshot holds; else the JET_ERR
 * every read now gets: an image could not be kept, or the backup ended).
 * Then bit p of the bitmap: page p has a kept image.  Readers get read-only
 * descriptors (os_reopen_readonly): only this file writes the map.
 *
 * INVARIANTS (K2 in backup.c)
 *  S1. Created at a point-in-time Begin, when no transaction runs (write
 *      lock) and every page is on disk and synced; from then on the first
 *      write of a page up to the Begin pgno_last first copies the page on
 *      disk (its Begin image) to the spill file.  So a read through
 *      snapshot_read sees the Begin state.
 *  S2. db->snap and the kept images change only under db->bk_io_lock, which
 *      every page write and every backup read of the instance takes.
 *  S3. An image that cannot be kept voids the snapshot (state), never the
 *      live write: the backup's reads return the error from then on.
 *  S4. Ordering for readers that take no lock (pitread.c P1): a bit is set
 *      only after its image is wholly in the spill file, and before the first
 *      byte of the page's new contents reaches the database file; the state
 *      is set before any write the snapshot no longer covers (a failed image,
 *      or the snapshot's end).  Both stores are sequentially consistent and
 *      followed by a full fence, so a reader that saw any byte of a new page
 *      in the file and then reads the map sees the bit, or the state.
 *  S6. Sharing is an optimization: a map that cannot be shared (no memfd,
 *      no /proc) is private memory, and snapshot_share says so; nothing
 *      else changes.
 *  S5. Memory: one bit per page of the database in shared memory, touched
 *      only where pages are written; the spill file goes when the snapshot is
 *      freed (a stale one is removed when the database is opened, dbfile.c).
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "jet_int.h"

struct snapshot {
	uint32_t pgno_last;
	char *spill_path;
	os_file *spill;
	int map_fd;
	uint8_t *map;
	size_t map_size;
	/* S2: read-only descriptors for readers (snapshot_share), made at create */
	int share_db_fd, share_spill_fd, share_map_fd;
	_Atomic uint64_t kept_bytes;	/* in the spill file (JetfsGetBackupInfo reads it without the lock) */
};

static _Atomic uint64_t *
snap_word(struct snapshot *snap, uint32_t pgno)
{
	return (_Atomic uint64_t *)(void *)(snap->map + KPM_HDR_SIZE) + pgno / 64;
}

static _Atomic int32_t *
snap_state(struct snapshot *snap)
{
	return (_Atomic int32_t *)(void *)(snap->map + KPM_OFF_STATE);
}

static int
snap_kept(struct snapshot *snap, uint32_t pgno)
{
	return pgno <= snap->pgno_last && (atomic_load(snap_word(snap, pgno)) >> (pgno % 64) & 1) != 0;
}

/* S4: the store every lock-free reader must see before the write it covers. */
static void
snap_set_state(struct snapshot *snap, JET_ERR err)
{
	pitread_state_set(snap->map + KPM_OFF_STATE, err);
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
	if (snap == NULL || atomic_load(snap_state(snap)) != 0 || pgno > snap->pgno_last || snap_kept(snap, pgno))
		return JET_errSuccess;
	if ((buf = malloc(ps)) == NULL)
		err = JET_errOutOfMemory;
	else if ((err = dbfile_read_page(db, pgno, buf)) >= 0)
		err = os_pwrite(snap->spill, buf, ps, page_offset(pgno, ps));
	free(buf);
	if (err < 0) {
		/* The backup fails, never the live write: its reads now return the error (S3, S4). */
		event_log(db->inst, EVENT_ERROR, 218, "%s: cannot keep the backup image of page %u (%s): the backup fails",
		    db->path, pgno, JetErrorString(err));
		snap_set_state(snap, err);
		return JET_errSuccess;
	}
	atomic_fetch_add(&snap->kept_bytes, ps);
	atomic_fetch_or(snap_word(snap, pgno), UINT64_C(1) << (pgno % 64));
	atomic_thread_fence(memory_order_seq_cst);	/* S4: before the caller's write of the page */
	return JET_errSuccess;
}

static void
snap_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
snap_destroy(struct snapshot *snap)
{
	snap_close_fd(&snap->share_db_fd);
	snap_close_fd(&snap->share_spill_fd);
	snap_close_fd(&snap->share_map_fd);
	if (snap->map_fd >= 0)
		os_shm_free(snap->map_fd, snap->map, snap->map_size);
	else
		free(snap->map);
	os_close(snap->spill);
	if (snap->spill_path != NULL)
		os_unlink(snap->spill_path);
	free(snap->spill_path);
	free(snap);
}

/* The backup ended or failed: readers are told (S4), the kept images and the spill file go. */
void
snapshot_free(struct jet_db *db)
{
	struct snapshot *snap;

	olock_lock(&db->bk_io_lock);
	snap = db->snap;
	db->snap = NULL;
	if (snap != NULL)
		snap_set_state(snap, JET_errNoBackup);
	olock_unlock(&db->bk_io_lock);
	if (snap != NULL)
		snap_destroy(snap);
}

/* At a point-in-time Begin (S1): an empty snapshot of pages 1..pgno_last, with a new spill file and map. */
JET_ERR
snapshot_create(struct jet_db *db, uint32_t pgno_last)
{
	struct snapshot *snap = calloc(1, sizeof(*snap));
	JET_ERR err;

	if (snap == NULL)
		return JET_errOutOfMemory;
	snap->map_fd = snap->share_db_fd = snap->share_spill_fd = snap->share_map_fd = -1;
	snap->pgno_last = pgno_last;
	snap->map_size = KPM_SIZE(pgno_last);
	if ((snap->spill_path = dbfile_spill_path(db->path)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	if (os_exists(snap->spill_path))
		os_unlink(snap->spill_path);
	if ((err = os_open(snap->spill_path, OS_WRITE | OS_CREATE | OS_EXCL, &snap->spill)) < 0)
		goto err;
	/*
	 * S6: without shared memory (memfd) or /proc, the map is private and
	 * nothing is shared: readers then go through the instance (backup.c).
	 */
	if (os_shm_create("jetfs-kept-pages", snap->map_size, &snap->map_fd, (void **)&snap->map) < 0 ||
	    os_reopen_readonly(db->file->fd, &snap->share_db_fd) < 0 ||
	    os_reopen_readonly(snap->spill->fd, &snap->share_spill_fd) < 0 ||
	    os_reopen_readonly(snap->map_fd, &snap->share_map_fd) < 0) {
		snap_close_fd(&snap->share_db_fd);
		snap_close_fd(&snap->share_spill_fd);
		snap_close_fd(&snap->share_map_fd);
		if (snap->map == NULL && (snap->map = calloc(1, snap->map_size)) == NULL) {
			err = JET_errOutOfMemory;
			goto err;
		}
	}
	put32(snap->map + KPM_OFF_MAGIC, KPM_MAGIC);
	put32(snap->map + KPM_OFF_VERSION, KPM_VERSION);
	put32(snap->map + KPM_OFF_PGNO_LAST, pgno_last);
	put32(snap->map + KPM_OFF_PAGE_SIZE, db->hdr.page_size);
	olock_lock(&db->bk_io_lock);
	db->snap = snap;
	olock_unlock(&db->bk_io_lock);
	return JET_errSuccess;
err:
	snap_destroy(snap);
	return err;
}

/* Why the snapshot is void, or success (also with no snapshot); S2: under bk_io_lock. */
JET_ERR
snapshot_failed(struct jet_db *db)
{
	JET_ASSERT(db->inst, olock_held(&db->bk_io_lock));
	return db->snap != NULL ? (JET_ERR)atomic_load(snap_state(db->snap)) : JET_errSuccess;
}

/* Whether page pgno has a kept image; S2: under bk_io_lock, which the caller checked with snapshot_failed. */
int
snapshot_kept(struct jet_db *db, uint32_t pgno)
{
	return db->snap != NULL && snap_kept(db->snap, pgno);
}

/* Reads page pgno as it was at Begin: its kept image, or the file; S2: under bk_io_lock. */
JET_ERR
snapshot_read(struct jet_db *db, uint32_t pgno, uint8_t *out)
{
	uint32_t ps = db->hdr.page_size;

	JET_ASSERT(db->inst, olock_held(&db->bk_io_lock));
	RET(snapshot_failed(db));
	if (snapshot_kept(db, pgno))
		return os_pread(db->snap->spill, out, ps, page_offset(pgno, ps));
	return dbfile_read_page(db, pgno, out);
}

/*
 * The read-only descriptors a reader of the set needs (pitread.c): the
 * database file, the spill file and the map.  They stay the snapshot's:
 * valid until snapshot_free; the caller duplicates (dup, SCM_RIGHTS) what it
 * keeps.  JET_errNoBackup if there is no snapshot.
 */
JET_ERR
snapshot_share(struct jet_db *db, int *db_fd, int *spill_fd, int *map_fd)
{
	JET_ERR err = JET_errNoBackup;

	olock_lock(&db->bk_io_lock);
	if (db->snap != NULL && db->snap->share_map_fd < 0)
		err = JET_errFeatureNotAvailable;	/* S6 */
	else if (db->snap != NULL) {
		*db_fd = db->snap->share_db_fd;
		*spill_fd = db->snap->share_spill_fd;
		*map_fd = db->snap->share_map_fd;
		err = JET_errSuccess;
	}
	olock_unlock(&db->bk_io_lock);
	return err;
}

/* Bytes of kept images; 0 without a snapshot. */
uint64_t
snapshot_kept_bytes(struct jet_db *db)
{
	struct snapshot *snap = db->snap;

	return snap == NULL ? 0 : atomic_load(&snap->kept_bytes);
}
