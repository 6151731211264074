/*
 * cache.c -- the buffer cache: a fixed number of page frames
 * (JET_paramCacheSizeMax), so memory does not grow with the database.
 *
 * Invariants:
 *  - A frame owned by a transaction (frame->owner) holds uncommitted
 *    changes: it is pinned, never evicted, and its data never written to
 *    disk (no-steal), so an uncommitted change can never reach the database
 *    file.  A checkpoint may write its committed image instead (the owner's
 *    first before-image, frame->committed), so a page that some transaction
 *    always holds (a counter) does not pin the checkpoint forever.
 *  - A dirty frame (rec_lsn != 0) is written only after the log is durable
 *    up to its page_lsn (write-ahead rule), and becomes clean only after the
 *    database file has been fsynced.
 *  - rec_lsn is at or below the start of the first record whose change is
 *    not yet on disk; a checkpoint writes every frame whose rec_lsn is below
 *    its redo point (cache_flush), the committed image of owned frames.
 * Eviction is a clock over unpinned, unowned frames, clean ones first.
 */
#include "config.h"

#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

static size_t
cache_hash(const struct cache *cache, const struct jet_db *db, uint32_t pgno)
{
	uint64_t k = ((uint64_t)(uintptr_t)db >> 4) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)pgno * 0xC2B2AE3D27D4EB4FULL;
	return (size_t)(k >> 17) & (cache->hash_size - 1);
}

JET_ERR
cache_init(struct cache *cache, size_t nframes, uint32_t page_size)
{
	memset(cache, 0, sizeof(*cache));
	if (nframes < 16)
		nframes = 16;
	cache->nframes = nframes;
	cache->page_size = page_size;
	for (cache->hash_size = 64; cache->hash_size < nframes * 2; cache->hash_size *= 2)
		;
	if (posix_memalign((void **)&cache->mem, 4096, nframes * page_size) != 0)
		cache->mem = NULL;
	cache->frames = calloc(nframes, sizeof(*cache->frames));
	cache->hash = calloc(cache->hash_size, sizeof(*cache->hash));
	if (cache->mem == NULL || cache->frames == NULL || cache->hash == NULL) {
		cache_destroy(cache);
		return JET_errOutOfMemory;
	}
	for (size_t i = 0; i < nframes; i++)
		cache->frames[i].data = cache->mem + i * page_size;
	olock_init(&cache->lock);
	pthread_cond_init(&cache->cond, NULL);
	return JET_errSuccess;
}

void
cache_destroy(struct cache *cache)
{
	if (cache->frames != NULL) {
		olock_destroy(&cache->lock);
		pthread_cond_destroy(&cache->cond);
	}
	free(cache->mem);
	free(cache->frames);
	free(cache->hash);
	memset(cache, 0, sizeof(*cache));
}

static struct frame *
cache_lookup(struct cache *cache, struct jet_db *db, uint32_t pgno)
{
	for (struct frame *f = cache->hash[cache_hash(cache, db, pgno)]; f != NULL; f = f->hnext)
		if (f->db == db && f->pgno == pgno)
			return f;
	return NULL;
}

static void
cache_unhash(struct cache *cache, struct frame *f)
{
	struct frame **pp = &cache->hash[cache_hash(cache, f->db, f->pgno)];

	while (*pp != f)
		pp = &(*pp)->hnext;
	*pp = f->hnext;
	f->hnext = NULL;
	f->db = NULL;
}

static void
cache_rehash(struct cache *cache, struct frame *f, struct jet_db *db, uint32_t pgno)
{
	size_t b = cache_hash(cache, db, pgno);

	f->db = db;
	f->pgno = pgno;
	f->hnext = cache->hash[b];
	cache->hash[b] = f;
}

/*
 * Writes one dirty frame out, called under the cache lock and returning with
 * it (dropped around the I/O).  The frame stays dirty: the caller marks it
 * clean after the file is fsynced.  *versionp receives the version written.
 */
static JET_ERR
cache_write_frame(struct cache *cache, struct frame *f, uint8_t *buf, uint64_t *versionp)
{
	struct jet_db *db = f->db;
	uint32_t pgno = f->pgno;
	lsn_t lsn = f->page_lsn;
	JET_ERR err;

	JET_ASSERT(db->inst, olock_held(&cache->lock));
	f->writing = 1;
	f->pins++;
	memcpy(buf, f->owner != NULL ? f->committed : f->data, cache->page_size);
	*versionp = f->version;
	olock_unlock(&cache->lock);

	err = log_flush_to(&db->inst->log, lsn);
	if (err >= 0)
		err = dbfile_note_page_write(db, lsn);
	if (err >= 0)
		err = dbfile_ensure_pages(db, pgno);
	if (err >= 0) {
		page_seal(buf, cache->page_size);
		/* A backup reading the file must see whole pages, and its snapshot the old one. */
		olock_lock(&db->bk_io_lock);
		err = snapshot_preserve(db, pgno);
		if (err >= 0)
			err = os_pwrite(db->file, buf, cache->page_size, page_offset(pgno, cache->page_size));
		olock_unlock(&db->bk_io_lock);
	}

	olock_lock(&cache->lock);
	f->writing = 0;
	f->pins--;
	cache->writes++;
	pthread_cond_broadcast(&cache->cond);
	return err;
}

/*
 * After a write of version is durable: the frame is clean unless it changed
 * since.  An owned frame whose committed image was written is clean too, as
 * long as its transaction has not begun committing (which clears committed).
 * If it changed and the write served a checkpoint at horizon, every change
 * not written starts at or after horizon (commits before it were complete
 * when the image was copied), so rec_lsn moves up to horizon.
 */
static void
cache_mark_clean(struct cache *cache, struct frame *f, const struct jet_db *db, uint32_t pgno, uint64_t version,
    const uint8_t *image, lsn_t horizon)
{
	/* The frame may have been evicted and reused while the lock was dropped. */
	if (f->rec_lsn == 0 || f->db != db || f->pgno != pgno)
		return;
	if (f->version == version && (f->owner == NULL ? image == NULL : f->committed == image)) {
		f->rec_lsn = 0;
		cache->ndirty--;
	} else if (horizon > f->rec_lsn)
		f->rec_lsn = horizon;
}

struct flush_item {
	struct frame *f;
	struct jet_db *db;
	uint32_t pgno;
	uint64_t version;
	const uint8_t *image;		/* committed image written for an owned frame */
	int written;
};

static int
flush_item_cmp(const void *a, const void *b)
{
	const struct flush_item *x = a, *y = b;

	if (x->db->dbid != y->db->dbid)
		return x->db->dbid < y->db->dbid ? -1 : 1;
	return x->pgno < y->pgno ? -1 : x->pgno > y->pgno;
}

/*
 * Writes the frames of items[0, n) that are still dirty, in file order,
 * fsyncs each database file written once, then marks the frames clean
 * (horizon: as cache_mark_clean).  Called under the cache lock, returns with
 * it; dropped around the I/O.  *completep tells whether every frame still
 * dirty was written: one caught in the middle of its commit is not.
 */
static JET_ERR
cache_write_items(struct cache *cache, struct flush_item *items, size_t n, uint8_t *buf, lsn_t horizon,
    int *completep)
{
	JET_ERR err = JET_errSuccess;
	int synced[JET_MAX_ATTACHED_DATABASES + 1] = { 0 };

	JET_ASSERT(n > 0 ? items[0].db->inst : NULL, olock_held(&cache->lock));
	*completep = 1;
	qsort(items, n, sizeof(*items), flush_item_cmp);
	for (size_t i = 0; i < n && err >= 0; i++) {
		struct frame *f = items[i].f;
		items[i].written = 0;
		if (f->db != items[i].db || f->pgno != items[i].pgno || f->rec_lsn == 0)
			continue;
		/* Caught mid-commit or being evicted: wait for it, briefly. */
		for (int tries = 0; (f->writing || (f->owner != NULL && f->committed == NULL)) && tries < 1000; tries++) {
			olock_unlock(&cache->lock);
			sched_yield();
			olock_lock(&cache->lock);
		}
		if (f->db != items[i].db || f->pgno != items[i].pgno || f->rec_lsn == 0)
			continue;
		if (f->writing || (f->owner != NULL && f->committed == NULL)) {
			*completep = 0;
			continue;
		}
		items[i].image = f->owner != NULL ? f->committed : NULL;
		err = cache_write_frame(cache, f, buf, &items[i].version);
		items[i].written = err >= 0;
	}
	olock_unlock(&cache->lock);
	for (size_t i = 0; i < n; i++) {
		JET_ERR e;
		if (!items[i].written || synced[items[i].db->dbid])
			continue;
		synced[items[i].db->dbid] = 1;
		if ((e = os_fsync(items[i].db->file)) < 0) {
			err = e;
			synced[items[i].db->dbid] = -1;
		}
	}
	olock_lock(&cache->lock);
	for (size_t i = 0; i < n; i++)
		if (items[i].written && synced[items[i].db->dbid] == 1)
			cache_mark_clean(cache, items[i].f, items[i].db, items[i].pgno, items[i].version, items[i].image,
			    horizon);
	return err;
}

/*
 * Finds a frame to reuse.  Returns it unhashed and pinned, or NULL with
 * *errp set.  When every candidate is dirty it writes a batch of them, the
 * cold ones the clock's second lap meets, with one fsync per file: one
 * fsync per evicted page made redo into a small cache crawl (121,640 fsyncs
 * for 216 MB of log in an 8 MiB cache).  The lock is dropped meanwhile.
 */
static struct frame *
cache_victim(struct cache *cache, JET_ERR *errp)
{
	size_t batch_max = cache->nframes / 8 < 1 ? 1 : cache->nframes / 8 > 1024 ? 1024 : cache->nframes / 8;
	struct flush_item *batch = NULL;
	uint8_t *buf = NULL;
	int oom = 0;

	for (int round = 0; round < 4; round++) {
		size_t n = 0;
		int complete;

		for (size_t step = 0; step < 2 * cache->nframes; step++) {
			struct frame *f = &cache->frames[cache->clock_hand];
			cache->clock_hand = (cache->clock_hand + 1) % cache->nframes;
			if (f->pins > 0 || f->owner != NULL || f->writing)
				continue;
			if (f->db == NULL) {
				free(buf);
				free(batch);
				f->pins = 1;
				return f;
			}
			if (f->ref) {
				f->ref = 0;
				continue;
			}
			if (f->rec_lsn == 0) {
				free(buf);
				free(batch);
				cache_unhash(cache, f);
				f->pins = 1;
				return f;
			}
			/* The second lap meets each frame once: no item twice. */
			if (step >= cache->nframes && n < batch_max) {
				if (batch == NULL && (batch = malloc(batch_max * sizeof(*batch))) == NULL) {
					oom = 1;
					break;
				}
				batch[n].f = f;
				batch[n].db = f->db;
				batch[n].pgno = f->pgno;
				n++;
			}
		}
		if (n == 0)
			break;
		/* Only dirty frames are free to go: write a batch and retry. */
		if (buf == NULL && (buf = malloc(cache->page_size)) == NULL) {
			free(batch);
			*errp = JET_errOutOfMemory;
			return NULL;
		}
		if ((*errp = cache_write_items(cache, batch, n, buf, 0, &complete)) < 0) {
			free(buf);
			free(batch);
			return NULL;
		}
	}
	*errp = oom ? JET_errOutOfMemory : JET_errOutOfBuffers;
	free(buf);
	free(batch);
	return NULL;
}

static JET_ERR
cache_get_frame(struct jet_db *db, uint32_t pgno, int fresh, struct frame **fp)
{
	struct cache *cache = &db->inst->cache;
	struct frame *f;
	JET_ERR err = JET_errSuccess;

	*fp = NULL;
	olock_lock(&cache->lock);
	if ((f = cache_lookup(cache, db, pgno)) != NULL) {
		/* A frame being written may still be read and changed: the writer took a copy. */
		f->pins++;
		f->ref = 1;
		cache->hits++;
		if (fresh)
			memset(f->data, 0, cache->page_size);
		olock_unlock(&cache->lock);
		*fp = f;
		return JET_errSuccess;
	}
	if ((f = cache_victim(cache, &err)) == NULL)
		goto out;
	/* The victim search may have dropped the lock: someone may have loaded the page. */
	if (cache_lookup(cache, db, pgno) != NULL) {
		f->pins = 0;
		olock_unlock(&cache->lock);
		return cache_get_frame(db, pgno, fresh, fp);
	}
	cache->misses++;
	if (fresh)
		memset(f->data, 0, cache->page_size);
	else if ((err = dbfile_read_page(db, pgno, f->data)) >= 0)
		err = page_verify(f->data, cache->page_size, pgno);
	if (err < 0) {
		f->pins = 0;
		goto out;
	}
	f->ref = 1;
	f->rec_lsn = f->page_lsn = f->fpi_lsn = 0;
	f->version = ++cache->next_version;
	f->owner = NULL;
	f->owner_level = 0;
	cache_rehash(cache, f, db, pgno);
	*fp = f;
out:
	olock_unlock(&cache->lock);
	if (err == JET_errReadVerifyFailure || err == JET_errReadPgnoVerifyFailure)
		event_log(db->inst, EVENT_ERROR, 474,
		    "%s: page %u failed verification (%s): the database is damaged on disk",
		    db->path, pgno, JetErrorName(err));
	return err;
}

/* Pins a page, reading and verifying it on a miss. */
JET_ERR
cache_get(struct jet_db *db, uint32_t pgno, struct frame **fp)
{
	return cache_get_frame(db, pgno, 0, fp);
}

/* Pins a frame for a page that is being created: zeroed, not read. */
JET_ERR
cache_get_new(struct jet_db *db, uint32_t pgno, struct frame **fp)
{
	return cache_get_frame(db, pgno, 1, fp);
}

void
cache_unpin(struct frame *f)
{
	struct cache *cache = &f->db->inst->cache;

	olock_lock(&cache->lock);
	f->pins--;
	olock_unlock(&cache->lock);
}

/* Marks a frame dirty as of a record just appended at start. */
void
cache_mark_dirty(struct frame *f, lsn_t start)
{
	struct cache *cache = &f->db->inst->cache;

	olock_lock(&cache->lock);
	f->committed = NULL;
	if (f->rec_lsn == 0) {
		f->rec_lsn = start;
		cache->ndirty++;
	}
	olock_unlock(&cache->lock);
}

/* Records that redo changed a frame (recovery: no owner involved). */
void
cache_mark_redone(struct frame *f, lsn_t start, lsn_t end)
{
	struct cache *cache = &f->db->inst->cache;

	olock_lock(&cache->lock);
	if (f->rec_lsn == 0) {
		f->rec_lsn = start;
		cache->ndirty++;
	}
	f->page_lsn = end;
	f->version = ++cache->next_version;
	olock_unlock(&cache->lock);
}

/* Ends a transaction's ownership of a frame (and its pin). */
void
cache_release_owned(struct frame *f, lsn_t end, int committed)
{
	struct cache *cache = &f->db->inst->cache;

	olock_lock(&cache->lock);
	if (committed) {
		f->page_lsn = end;
		f->version = ++cache->next_version;
	}
	f->owner = NULL;
	f->owner_level = 0;
	f->committed = NULL;
	f->pins--;
	olock_unlock(&cache->lock);
}

/*
 * Writes every dirty frame (of only_db, or all) whose rec_lsn is below
 * below_lsn (0: all), in file order, the committed image of frames a
 * transaction holds; fsyncs the files and marks the frames clean.
 * *completep (if not NULL) tells whether every such frame was written: a
 * frame caught in the middle of its commit is not.
 */
JET_ERR
cache_flush(struct jet_inst *inst, struct jet_db *only_db, lsn_t below_lsn, int *completep)
{
	struct cache *cache = &inst->cache;
	struct flush_item *items;
	size_t n = 0;
	uint8_t *buf = malloc(cache->page_size);
	JET_ERR err;
	int complete;

	items = calloc(cache->nframes, sizeof(*items));
	if (items == NULL || buf == NULL) {
		free(items);
		free(buf);
		return JET_errOutOfMemory;
	}
	olock_lock(&cache->lock);
	for (size_t i = 0; i < cache->nframes; i++) {
		struct frame *f = &cache->frames[i];
		if (f->db == NULL || f->rec_lsn == 0)
			continue;
		if ((only_db != NULL && f->db != only_db) || (below_lsn != 0 && f->rec_lsn >= below_lsn))
			continue;
		items[n].f = f;
		items[n].db = f->db;
		items[n].pgno = f->pgno;
		n++;
	}
	err = cache_write_items(cache, items, n, buf, below_lsn, &complete);
	olock_unlock(&cache->lock);
	free(items);
	free(buf);
	if (completep != NULL)
		*completep = complete && err >= 0;
	return err;
}

/* Forgets every frame of a database (after a flush, or on an abrupt end). */
void
cache_drop_db(struct jet_db *db)
{
	struct cache *cache = &db->inst->cache;

	olock_lock(&cache->lock);
	for (size_t i = 0; i < cache->nframes; i++) {
		struct frame *f = &cache->frames[i];
		if (f->db != db)
			continue;
		while (f->writing)
			olock_wait(&cache->cond, &cache->lock);
		if (f->rec_lsn != 0)
			cache->ndirty--;
		cache_unhash(cache, f);
		f->rec_lsn = f->page_lsn = 0;
		f->pins = 0;
		f->owner = NULL;
		f->owner_level = 0;
		f->committed = NULL;
	}
	olock_unlock(&cache->lock);
}
