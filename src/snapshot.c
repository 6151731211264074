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
 *  S7. A backup never costs the application its disk.  Before an image is
 *      kept, its bytes are reserved in the instance's total of kept images
 *      (inst->backup_kept_bytes, every database's snapshot together) and
 *      the free space of the spill file's file system is read
 *      (os_free_space): an image that would take the total past
 *      JET_paramJetfsBackupKeptMax, or the free space below
 *      JET_paramJetfsBackupFreeFloor, is not kept; the snapshot is void
 *      (state JET_errBackupAbortByServer, S3, S4) with the limit and its
 *      numbers, which backup_guard (backup.c K6) turns into the backup's
 *      abort within a tick of the instance's background thread.  So the
 *      total never passes the cap, and the write goes on.  When the
 *      snapshot is freed the spill file is truncated before it is unlinked:
 *      its space comes back even while a reader in another process still
 *      holds a descriptor of it; such a reader fails by the states set
 *      before (P1, P5 in pitread.c), never serves the hole.
 */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
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
	/* S7: the limit that voided the snapshot, for backup_guard; under bk_io_lock */
	int limit_event;		/* 230: JET_paramJetfsBackupKeptMax; 231: the floor; 0: none */
	char limit_why[224];
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

/* S7: the image is not kept; the snapshot is void and says which limit, for backup_guard. */
static void
snap_void_by_limit(struct snapshot *snap, int event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
snap_void_by_limit(struct snapshot *snap, int event, const char *fmt, ...)
{
	va_list ap;

	snap->limit_event = event;
	va_start(ap, fmt);
	vsnprintf(snap->limit_why, sizeof(snap->limit_why), fmt, ap);
	va_end(ap);
	snap_set_state(snap, JET_errBackupAbortByServer);
}

/*
 * S7: reserves the ps bytes of page pgno's image in the instance's total, or
 * voids the snapshot if they would pass the cap or leave the spill file's
 * file system below the floor.  1: keep it.
 */
static int
snap_reserve(struct jet_db *db, struct snapshot *snap, uint32_t pgno, uint32_t ps)
{
	struct jet_inst *inst = db->inst;
	unsigned long cap_mb = inst->p.backup_kept_max_mb, floor_mb = inst->p.backup_free_floor_mb;
	uint64_t cap = (uint64_t)cap_mb << 20, floor = (uint64_t)floor_mb << 20;
	uint64_t kept = atomic_load(&inst->backup_kept_bytes), avail;

	do {
		if (cap != 0 && kept + ps > cap) {
			snap_void_by_limit(snap, 230, "the kept images reached the cap (JET_paramJetfsBackupKeptMax %lu MiB): "
			    "%llu bytes kept, page %u of %s needs %u more", cap_mb, (unsigned long long)kept, pgno,
			    db->path, ps);
			return 0;
		}
	} while (!atomic_compare_exchange_weak(&inst->backup_kept_bytes, &kept, kept + ps));
	if (floor != 0 && os_free_space(snap->spill_path, &avail) >= 0 && avail < floor + ps) {
		atomic_fetch_sub(&inst->backup_kept_bytes, ps);
		snap_void_by_limit(snap, 231, "%llu bytes free beside %s, below the floor (JET_paramJetfsBackupFreeFloor "
		    "%lu MiB), with %llu bytes kept", (unsigned long long)avail, snap->spill_path, floor_mb,
		    (unsigned long long)kept);
		return 0;
	}
	return 1;
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
	if (!snap_reserve(db, snap, pgno, ps))
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
		atomic_fetch_sub(&db->inst->backup_kept_bytes, ps);
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
	if (snap->spill != NULL)
		(void)os_truncate(snap->spill, 0);	/* S7: the space comes back now */
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
	if (snap != NULL) {
		snap_set_state(snap, JET_errNoBackup);
		atomic_fetch_sub(&db->inst->backup_kept_bytes, atomic_load(&snap->kept_bytes));
	}
	olock_unlock(&db->bk_io_lock);
	if (snap != NULL)
		snap_destroy(snap);
}

/* S7: the limit (event 230 or 231) that voided the snapshot, with why, or 0. */
int
snapshot_limit_hit(struct jet_db *db, char *why, size_t why_size)
{
	int event = 0;

	olock_lock(&db->bk_io_lock);
	if (db->snap != NULL && (event = db->snap->limit_event) != 0)
		snprintf(why, why_size, "%s", db->snap->limit_why);
	olock_unlock(&db->bk_io_lock);
	return event;
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
