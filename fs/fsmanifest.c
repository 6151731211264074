/*
 * fsmanifest.c -- the SHA256SUMS of a mount's backup set (see fsmanifest.h).
 *
 * INVARIANTS
 *  M1. A file's hash covers exactly its bytes [0, hashed), in order; it is
 *      advanced only under the file's lock, and finished once hashed is its
 *      size.  A served read that starts beyond hashed waits for the reads
 *      in front of it, answered by other threads: while another read of the
 *      file is pending (M3) up to FSM_PENDING_WAIT_MS, since that one is
 *      about to hash its bytes (under load or a sanitizer it can take
 *      longer than a few ms); with none pending, only FSM_WAIT_MS.  Then
 *      the gap is read again.
 *      One that starts beyond hashed + FSM_GAP_MAX is ignored: it will be
 *      hashed again when the manifest is read.
 *      Hashing runs after the reply (fsops.c), so neither the wait nor the
 *      hash delays a reader: it overlaps the engine's read of the next
 *      request.
 *  M2. Lock order: a file's lock, then whatever the read function takes
 *      (the backup's lock).  No caller holds the backup's lock when it calls
 *      in, and the progress counters are atomics, so the status (made under
 *      the backup's lock) never takes a lock of the manifest.
 *  M3. A read served counts as pending from before its reply until its
 *      bytes were offered to the hash, and the manifest's read waits for
 *      pending reads (bounded) before it reads a file again: a tool that
 *      opens SHA256SUMS right after the last read of the set (tar, cp)
 *      would else make jetfs read that last request again.
 *  M5. A read's path never waits for a hash: marking a read pending takes
 *      no lock (the counter is atomic), since the file's lock is held for a
 *      whole chunk's hash, and the next request of a sequential reader is
 *      served while the previous one is hashed.  Waits that look at the
 *      counter do so under the file's lock, woken by the served side.
 *  M6. A served read already hashed or queued takes no lock either: hashed
 *      is mirrored in an atomic, and the read that brings pending to 0
 *      takes the lock only if someone waits for that (waiters: counted
 *      before the waiter looks at pending, pending lowered before the
 *      reader looks at waiters, so one of the two sees the other).
 *  M7. The hash keeps up: a read that would start more than FSM_AHEAD_MAX
 *      beyond what is hashed, while reads in front of it are still to be
 *      fed, waits before its reply (bounded, FSM_PENDING_WAIT_MS) for the
 *      hash to come closer.  So a reader faster than one core's SHA-256
 *      runs at the hash's speed instead of leaving the rest of the file to
 *      be read again when SHA256SUMS is read; one large file is bounded by
 *      one core's SHA-256, several files hash on several cores.
 *  M8. In-order bytes are hashed by the manifest's own thread: a read
 *      that continues what is hashed or queued (queued_end) is copied, in
 *      request order before its reply (fsmanifest_pending), into one of
 *      FSM_QUEUE chunk buffers and left to fsm_hasher, so the
 *      hash of a sequential reader runs on its own core without waiting
 *      for the FUSE threads to hand the file's lock to each other.  The
 *      queue has its own lock (qlock), which no hash ever holds; the hasher
 *      takes a file's lock per chunk, as every other path that hashes
 *      does, and hashes only what continues the hash (a chunk another path
 *      already covered is skipped).  A full queue makes the served side
 *      wait (bounded), and M7 counts queued bytes as bytes in front.
 *  M4. The text is made once, after every hash is finished, and never
 *      changes after: it is the same bytes at every read.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsassert.h"
#include "fsmanifest.h"
#include "manifest.h"

/* A readahead window or two: what requests answered out of order skip. */
#define FSM_GAP_MAX (8u << 20)
/* M7: how far a sequential reader may run ahead of its file's hash. */
#define FSM_AHEAD_MAX (FSM_GAP_MAX - FSM_CHUNK)
#define FSM_CHUNK (1u << 20)
#define FSM_WAIT_MS 20
/* How long the manifest's read, or a read served ahead, waits for served bytes still to be hashed. */
#define FSM_PENDING_WAIT_MS 2000
/* M8: chunks of FSM_CHUNK copied for the hasher: at most this many MiB. */
#define FSM_QUEUE 8

struct fsm_file {
	struct olock lock;
	pthread_cond_t advanced;	/* hashed moved on */
	struct manifest_hash *hash;	/* NULL before the first byte and once done */
	uint64_t hashed;
	atomic_uint_fast64_t hashed_seen;	/* M6: hashed, or less, read without the lock */
	atomic_uint pending;		/* reads served whose bytes are still to come (M5: no lock) */
	atomic_uint_fast64_t queued_end;	/* M8: end of the bytes queued for the hasher (written under qlock) */
	atomic_uint waiters;		/* M6: threads waiting for pending reads to be fed */
	int done;
	uint8_t digest[MANIFEST_DIGEST_SIZE];
};

struct fsmanifest {
	const struct fsb_file *files;
	size_t n;
	struct fsm_file *f;
	fsm_read_fn read;
	void *ctx;
	uint64_t size;
	atomic_size_t nhashed;
	atomic_uint_fast64_t reread;
	struct olock text_lock;
	char *text;

	/* M8 */
	pthread_mutex_t qlock;
	pthread_cond_t qcond, qspace;	/* a chunk queued; a buffer free */
	struct fsm_chunk {
		size_t file, len;
		uint64_t off;
		char *data;		/* FSM_CHUNK bytes, allocated at first use */
	} q[FSM_QUEUE];
	unsigned qhead, qn;
	int qstop, hasher_ok;
	pthread_t hasher;
};

static void *fsm_hasher(void *arg);

struct fsmanifest *
fsmanifest_new(const struct fsb_file *files, size_t n, fsm_read_fn read, void *ctx)
{
	struct fsmanifest *m = calloc(1, sizeof(*m));

	if (m == NULL || (m->f = calloc(n ? n : 1, sizeof(*m->f))) == NULL) {
		free(m);
		return NULL;
	}
	m->files = files;
	m->n = n;
	m->read = read;
	m->ctx = ctx;
	atomic_init(&m->nhashed, 0);
	atomic_init(&m->reread, 0);
	olock_init(&m->text_lock);
	for (size_t i = 0; i < n; i++) {
		olock_init(&m->f[i].lock);
		pthread_cond_init(&m->f[i].advanced, NULL);
		m->size += manifest_line_size(files[i].name);
	}
	pthread_mutex_init(&m->qlock, NULL);
	pthread_cond_init(&m->qcond, NULL);
	pthread_cond_init(&m->qspace, NULL);
	/* Without its thread the manifest still works: every path hashes in the reader's thread. */
	m->hasher_ok = pthread_create(&m->hasher, NULL, fsm_hasher, m) == 0;
	return m;
}

void
fsmanifest_free(struct fsmanifest *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->qlock);
	m->qstop = 1;
	pthread_cond_broadcast(&m->qcond);
	pthread_mutex_unlock(&m->qlock);
	if (m->hasher_ok)
		pthread_join(m->hasher, NULL);
	for (unsigned k = 0; k < FSM_QUEUE; k++)
		free(m->q[k].data);
	pthread_cond_destroy(&m->qspace);
	pthread_cond_destroy(&m->qcond);
	pthread_mutex_destroy(&m->qlock);
	for (size_t i = 0; i < m->n; i++) {
		manifest_hash_free(m->f[i].hash);
		pthread_cond_destroy(&m->f[i].advanced);
		olock_destroy(&m->f[i].lock);
	}
	olock_destroy(&m->text_lock);
	free(m->f);
	free(m->text);
	free(m);
}

uint64_t
fsmanifest_size(const struct fsmanifest *m)
{
	return m->size;
}

/* now + ms, for pthread_cond_timedwait. */
static struct timespec
fsm_deadline(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Hashes n bytes that start at the file's hashed offset. */
static int
fsm_advance(struct fsmanifest *m, size_t i, const void *buf, size_t n)
{
	struct fsm_file *f = &m->f[i];

	FS_REQUIRE(olock_held(&f->lock), -EIO);
	if (f->hash == NULL && (f->hash = manifest_hash_new()) == NULL)
		return -ENOMEM;
	if (manifest_hash_update(f->hash, buf, n) < 0)
		return -EIO;
	f->hashed += n;
	atomic_store(&f->hashed_seen, f->hashed);
	pthread_cond_broadcast(&f->advanced);
	if (f->hashed == m->files[i].size) {
		if (manifest_hash_final(f->hash, f->digest) < 0)
			return -EIO;
		manifest_hash_free(f->hash);
		f->hash = NULL;
		f->done = 1;
		atomic_fetch_add(&m->nhashed, 1);
	}
	return 0;
}

/* Reads and hashes the file from its hashed offset to end. */
static int
fsm_hash_through(struct fsmanifest *m, size_t i, uint64_t end)
{
	struct fsm_file *f = &m->f[i];
	char *buf;
	int rc = 0;

	FS_REQUIRE(olock_held(&f->lock), -EIO);
	if (f->hashed >= end)
		return 0;
	if ((buf = malloc(FSM_CHUNK)) == NULL)
		return -ENOMEM;
	while (rc == 0 && f->hashed < end) {
		size_t n = end - f->hashed < FSM_CHUNK ? (size_t)(end - f->hashed) : FSM_CHUNK;
		if ((rc = m->read(m->ctx, i, buf, n, f->hashed)) == 0) {
			atomic_fetch_add(&m->reread, n);
			rc = fsm_advance(m, i, buf, n);
		}
	}
	free(buf);
	return rc;
}

/* M8: the manifest's thread: hashes queued chunks in order, each under its file's lock. */
static void *
fsm_hasher(void *arg)
{
	struct fsmanifest *m = arg;

	pthread_mutex_lock(&m->qlock);
	for (;;) {
		struct fsm_chunk c;
		struct fsm_file *f;
		while (m->qn == 0 && !m->qstop)
			pthread_cond_wait(&m->qcond, &m->qlock);
		if (m->qn == 0)
			break;
		c = m->q[m->qhead];	/* its buffer stays the queue's until qn goes down */
		pthread_mutex_unlock(&m->qlock);
		f = &m->f[c.file];
		olock_lock(&f->lock);
		if (!f->done && c.off <= f->hashed && c.off + c.len > f->hashed) {
			uint64_t skip = f->hashed - c.off;
			(void)fsm_advance(m, c.file, c.data + skip, (size_t)(c.len - skip));
		}
		pthread_cond_broadcast(&f->advanced);	/* also when skipped: waiters look at queued_end */
		olock_unlock(&f->lock);
		pthread_mutex_lock(&m->qlock);
		m->qhead = (m->qhead + 1) % FSM_QUEUE;
		m->qn--;
		pthread_cond_broadcast(&m->qspace);
	}
	pthread_mutex_unlock(&m->qlock);
	return NULL;
}

/* M6, M8: where what is hashed or queued for file i ends (without a lock: possibly less). */
static uint64_t
fsm_taken_end(struct fsm_file *f)
{
	uint64_t queued = atomic_load(&f->queued_end), hashed = atomic_load(&f->hashed_seen);

	return queued > hashed ? queued : hashed;
}

/* M8: queues a copy of [off, off + n) if it continues what is hashed or queued.  1 if queued. */
static int
fsm_enqueue(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off)
{
	struct fsm_file *f = &m->f[i];
	struct timespec until = fsm_deadline(FSM_PENDING_WAIT_MS);
	uint64_t end;
	int queued = 0;

	if (!m->hasher_ok || n == 0 || n > FSM_CHUNK)
		return 0;
	pthread_mutex_lock(&m->qlock);
	while (m->qn == FSM_QUEUE && !m->qstop && pthread_cond_timedwait(&m->qspace, &m->qlock, &until) == 0)
		;
	end = fsm_taken_end(f);
	if (off == end && m->qn < FSM_QUEUE && !m->qstop) {
		struct fsm_chunk *c = &m->q[(m->qhead + m->qn) % FSM_QUEUE];
		if (c->data == NULL)
			c->data = malloc(FSM_CHUNK);
		if (c->data != NULL) {
			memcpy(c->data, buf, n);
			c->file = i;
			c->off = off;
			c->len = n;
			m->qn++;
			atomic_store(&f->queued_end, off + n);
			pthread_cond_signal(&m->qcond);
			queued = 1;
		}
	}
	pthread_mutex_unlock(&m->qlock);
	return queued;
}

/* Bytes of file i still queued for the hasher (M8), read under the file's lock. */
static int
fsm_queued_locked(struct fsmanifest *m, size_t i)
{
	return atomic_load(&m->f[i].queued_end) > m->f[i].hashed;
}

/* Hashes [off, off + n) if it continues the hash, waiting a little for the reads in front (M1). */
static void
fsm_feed_locked(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off)
{
	struct fsm_file *f = &m->f[i];

	FS_REQUIRE(olock_held(&f->lock), );
	if (!f->done && off > f->hashed && off <= f->hashed + FSM_GAP_MAX) {
		struct timespec soon = fsm_deadline(FSM_WAIT_MS), late = fsm_deadline(FSM_PENDING_WAIT_MS);
		/* Another read still pending may be the one in front (M1, M3). */
		atomic_fetch_add(&f->waiters, 1);
		while (!f->done && off > f->hashed &&
		    olock_timedwait(&f->advanced, &f->lock, atomic_load(&f->pending) > 1 ? &late : &soon) == 0)
			;
		atomic_fetch_sub(&f->waiters, 1);
	}
	/* M1: a gap that is too far ahead is left to the manifest's read. */
	if (!f->done && off + n > f->hashed && off <= f->hashed + FSM_GAP_MAX &&
	    fsm_hash_through(m, i, off) == 0) {
		uint64_t skip = f->hashed - off;
		/* A failure leaves the hash where it was: the manifest's read tries again. */
		(void)fsm_advance(m, i, (const char *)buf + skip, (size_t)(n - skip));
	}
}

/* Bytes of file i for the hash: nothing if hashed or queued already (M6), else queued (M8), else fed here. */
static void
fsm_take(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off)
{
	if (off + n <= fsm_taken_end(&m->f[i]) || fsm_enqueue(m, i, buf, n, off))
		return;
	olock_lock(&m->f[i].lock);
	fsm_feed_locked(m, i, buf, n, off);
	olock_unlock(&m->f[i].lock);
}

void
fsmanifest_served(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off)
{
	struct fsm_file *f;
	unsigned p;

	if (m == NULL || i >= m->n)
		return;
	f = &m->f[i];
	fsm_take(m, i, buf, n, off);
	/* M5, M6: the last pending read wakes whoever waits for none (under the lock, so no wake is lost). */
	for (p = atomic_load(&f->pending); p > 0 && !atomic_compare_exchange_weak(&f->pending, &p, p - 1);)
		;
	if (p <= 1 && atomic_load(&f->waiters) > 0) {
		olock_lock(&f->lock);
		pthread_cond_broadcast(&f->advanced);
		olock_unlock(&f->lock);
	}
}

void
fsmanifest_offer(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off)
{
	if (m != NULL && i < m->n)
		fsm_take(m, i, buf, n, off);
}

void
fsmanifest_pending(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off)
{
	struct fsm_file *f;

	if (m == NULL || i >= m->n)
		return;
	f = &m->f[i];
	/* M7: too far ahead of a hash that reads in front of it will feed. */
	if (off > atomic_load(&f->hashed_seen) + FSM_AHEAD_MAX &&
	    (atomic_load(&f->pending) > 0 || atomic_load(&f->queued_end) > atomic_load(&f->hashed_seen))) {
		struct timespec until = fsm_deadline(FSM_PENDING_WAIT_MS);
		olock_lock(&f->lock);
		atomic_fetch_add(&f->waiters, 1);
		while (!f->done && off > f->hashed + FSM_AHEAD_MAX &&
		    (atomic_load(&f->pending) > 0 || fsm_queued_locked(m, i)) &&
		    olock_timedwait(&f->advanced, &f->lock, &until) == 0)
			;
		atomic_fetch_sub(&f->waiters, 1);
		olock_unlock(&f->lock);
	}
	atomic_fetch_add(&f->pending, 1);	/* M5 */
	/* M8: in request order, so a sequential reader's bytes continue the queue. */
	if (off + n > fsm_taken_end(f))
		(void)fsm_enqueue(m, i, buf, n, off);
}

/* Finishes every hash and makes the text once (M4). */
static int
fsm_make_text(struct fsmanifest *m)
{
	char *text, *p;
	int rc = 0;

	FS_REQUIRE(olock_held(&m->text_lock), -EIO);
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		struct timespec until = fsm_deadline(FSM_PENDING_WAIT_MS);
		olock_lock(&m->f[i].lock);
		/* M3 */
		atomic_fetch_add(&m->f[i].waiters, 1);
		while (!m->f[i].done && (atomic_load(&m->f[i].pending) > 0 || fsm_queued_locked(m, i)) &&
		    olock_timedwait(&m->f[i].advanced, &m->f[i].lock, &until) == 0)
			;
		atomic_fetch_sub(&m->f[i].waiters, 1);
		/* A chunk at a time, so a tool reading this file waits at most one chunk. */
		while (rc == 0 && !m->f[i].done) {
			uint64_t end = m->f[i].hashed + FSM_CHUNK;
			rc = fsm_hash_through(m, i, end < m->files[i].size ? end : m->files[i].size);
			if (m->files[i].size == 0 && rc == 0)
				rc = fsm_advance(m, i, "", 0);
			olock_unlock(&m->f[i].lock);
			olock_lock(&m->f[i].lock);
		}
		olock_unlock(&m->f[i].lock);
	}
	if (rc < 0)
		return rc;
	if ((text = p = malloc(m->size ? m->size : 1)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		manifest_format_line(p, m->f[i].digest, m->files[i].name);
		p += manifest_line_size(m->files[i].name);
	}
	m->text = text;
	return 0;
}

ssize_t
fsmanifest_read(struct fsmanifest *m, void *buf, size_t n, uint64_t off)
{
	int rc = 0;

	olock_lock(&m->text_lock);
	if (m->text == NULL)
		rc = fsm_make_text(m);
	olock_unlock(&m->text_lock);
	if (rc < 0)
		return -EIO;
	if (off >= m->size)
		return 0;
	if (n > m->size - off)
		n = (size_t)(m->size - off);
	memcpy(buf, m->text + off, n);
	return (ssize_t)n;
}

void
fsmanifest_progress(const struct fsmanifest *m, size_t *hashed, uint64_t *reread)
{
	*hashed = atomic_load(&m->nhashed);
	*reread = atomic_load(&m->reread);
}
