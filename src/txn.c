/*
 * txn.c -- transactions: before-images, commit records, rollback.
 *
 * A transaction's first change to a page at each nesting level keeps the
 * page's previous image (struct txn_page) and makes the transaction the
 * frame's owner, which pins it in the cache and keeps it off the disk
 * (no-steal).  Entries of level L always form a suffix of s->pages, because
 * levels nest.  Rollback of level L copies the images back; commit of L > 1
 * hands them to L - 1 (where L - 1 has no image of its own for the page).
 *
 * The outermost commit writes one LREC_TXN record holding every page the
 * transaction changed:
 *     record header (8), u64 commit time (microseconds since the epoch,
 *     CLOCK_REALTIME; log format 2, see log.c), u32 op count, then per op:
 *     u8 dbid, u8 kind, u16 range count, u32 pgno,
 *     u64 dbtime before, u64 dbtime after, then
 *       LOP_IMAGE: the whole page (its checksum field zero), or
 *       LOP_DIFF:  ranges of (u16 offset, u16 length, bytes) against the
 *                  page as of dbtime before.
 * A page's first change after the redo horizon of the newest checkpoint is
 * logged as a full image, so redo never depends on what a torn write may
 * have left of it (invariant R1 in recovery.c).  Each changed page gets a new
 * dbtime from its database's counter.
 *
 * Redo needs nothing else: uncommitted work is never logged, so recovery has
 * no undo pass and an uncommitted transaction leaves no trace.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

#define DIFF_GAP 16

JET_ERR
txn_write(struct jet_session *s, struct frame *f)
{
	struct cache *cache = &s->inst->cache;
	struct txn_page *tp;
	uint32_t owned_limit = (uint32_t)(cache->nframes - cache->nframes / 8);

	if (f->owner == s && f->owner_level == s->level)
		return JET_errSuccess;
	if (s->level == 0 || (f->owner != NULL && f->owner != s))
		return JET_errInternalError;
	if (f->owner == NULL && s->npages >= owned_limit)
		return JET_errVersionStoreOutOfMemory;
	if (s->npages == s->pages_cap) {
		size_t ncap = s->pages_cap ? s->pages_cap * 2 : 32;
		struct txn_page *n = realloc(s->pages, ncap * sizeof(*n));
		if (n == NULL)
			return JET_errOutOfMemory;
		s->pages = n;
		s->pages_cap = ncap;
	}
	tp = &s->pages[s->npages];
	if ((tp->before = malloc(cache->page_size)) == NULL)
		return JET_errOutOfMemory;
	memcpy(tp->before, f->data, cache->page_size);
	tp->frame = f;
	tp->level = s->level;
	olock_lock(&cache->lock);
	tp->prev_level = f->owner == s ? f->owner_level : 0;
	if (f->owner == NULL) {
		f->pins++;
		f->committed = tp->before;
	}
	f->owner = s;
	f->owner_level = s->level;
	olock_unlock(&cache->lock);
	s->npages++;
	return JET_errSuccess;
}

/* Appends op bytes to a growing record buffer. */
struct recbuf {
	uint8_t *p;
	size_t len, cap;
};

static uint8_t *
recbuf_grow(struct recbuf *b, size_t n)
{
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		uint8_t *np;
		while (ncap < b->len + n)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			return NULL;
		b->p = np;
		b->cap = ncap;
	}
	b->len += n;
	return b->p + b->len - n;
}

/*
 * The end of the run of equal bytes of before and after that starts at i.
 * A commit scans every page it changed, mostly equal bytes: eight at a time
 * this is the commit's cheapest part, a byte at a time it was half of a
 * lazy commit's CPU (perf, bench_engine).
 */
static uint32_t
txn_same_run_end(const uint8_t *before, const uint8_t *after, uint32_t i, uint32_t ps)
{
	uint64_t x, y;

	for (; i + 8 <= ps; i += 8) {
		memcpy(&x, before + i, 8);
		memcpy(&y, after + i, 8);
		if (x != y)
			break;
	}
	while (i < ps && before[i] == after[i])
		i++;
	return i;
}

/* Encodes the changes of one page, as a diff when that is smaller. */
static JET_ERR
txn_encode_op(struct recbuf *b, struct txn_page *tp, uint32_t ps, int full_image)
{
	const uint8_t *before = tp->before, *after = tp->frame->data;
	size_t op_start = b->len, nranges = 0;
	uint8_t *op;

	if ((op = recbuf_grow(b, LOP_HDR_SIZE)) == NULL)
		return JET_errOutOfMemory;
	op[0] = (uint8_t)tp->frame->db->dbid;
	put32(op + 4, tp->frame->pgno);
	put64(op + 8, get64(before + PG_DBTIME));
	put64(op + 16, get64(after + PG_DBTIME));
	if (!full_image) {
		for (uint32_t i = 4; i < ps;) {
			uint32_t start, end, same;
			uint8_t *r;
			if (before[i] == after[i]) {
				i = txn_same_run_end(before, after, i, ps);
				continue;
			}
			start = end = i;
			for (same = 0; end < ps && same < DIFF_GAP; end++)
				same = before[end] == after[end] ? same + 1 : 0;
			end -= same;
			if (b->len - op_start + 4 + (end - start) > ps / 2) {
				full_image = 1;
				break;
			}
			if ((r = recbuf_grow(b, 4 + (end - start))) == NULL)
				return JET_errOutOfMemory;
			put16(r, (uint16_t)start);
			put16(r + 2, (uint16_t)(end - start));
			memcpy(r + 4, after + start, end - start);
			nranges++;
			i = end;
		}
	}
	if (full_image) {
		uint8_t *img;
		b->len = op_start + LOP_HDR_SIZE;
		if ((img = recbuf_grow(b, ps)) == NULL)
			return JET_errOutOfMemory;
		memcpy(img, after, ps);
		put32(img + PG_CHECKSUM, 0);
		nranges = 0;
	}
	op = b->p + op_start;
	op[1] = full_image ? LOP_IMAGE : LOP_DIFF;
	tp->full = full_image;
	put16(op + 2, (uint16_t)nranges);
	return JET_errSuccess;
}

static void
txn_release_lock(struct jet_session *s)
{
	if (s->holds_lock) {
		s->holds_lock = 0;
		pthread_mutex_unlock(&s->inst->write_lock);
	}
}

static void
txn_restore(struct jet_session *s, size_t from)
{
	uint32_t ps = s->inst->cache.page_size;

	for (size_t i = s->npages; i-- > from;) {
		struct txn_page *tp = &s->pages[i];
		memcpy(tp->frame->data, tp->before, ps);
		if (tp->prev_level == 0)
			cache_release_owned(tp->frame, 0, 0);
		else
			tp->frame->owner_level = tp->prev_level;
		free(tp->before);
	}
	s->npages = from;
}

/* Now, or the previous commit's time if the clock was stepped back since. */
static uint64_t
txn_commit_time(uint64_t previous)
{
	uint64_t now = dbhdr_time_now_us();

	return now > previous ? now : previous;
}

/*
 * The outermost commit: log, publish, release the lock, wait for durability.
 * The record is built and appended under the log lock, so the checkpoint's
 * redo horizon cannot move between the choice of full image or diff and the
 * append (invariant R1 in recovery.c).
 */
static JET_ERR
txn_commit_outer(struct jet_session *s, JET_GRBIT grbit)
{
	struct jet_inst *inst = s->inst;
	struct jet_log *log = &inst->log;
	uint32_t ps = inst->cache.page_size;
	struct recbuf b = { 0 };
	lsn_t start = 0, end = 0, horizon;
	JET_ERR err = JET_errSuccess;

	if (s->npages == 0)
		goto done;
	if (recbuf_grow(&b, LREC_TXN_OFF_NOPS + 4) == NULL) {
		err = JET_errOutOfMemory;
		goto rollback;
	}
	memset(b.p, 0, LREC_TXN_OFF_NOPS + 4);
	b.p[4] = LREC_TXN;
	put32(b.p + LREC_TXN_OFF_NOPS, (uint32_t)s->npages);
	olock_lock(&log->lock);
	/* Taken under the log lock: commit times never decrease in log order (restore --stop-at). */
	log->commit_time = txn_commit_time(log->commit_time);
	put64(b.p + LREC_TXN_OFF_TIME, log->commit_time);
	horizon = log->fpi_horizon;
	start = log->append_lsn;
	for (size_t i = 0; i < s->npages && err >= 0; i++) {
		struct txn_page *tp = &s->pages[i];
		struct frame *f = tp->frame;
		int full = f->fpi_lsn < horizon || f->fpi_lsn == 0 || page_is_zero(tp->before, ps);
		put64(f->data + PG_DBTIME, __atomic_add_fetch(&f->db->dbtime, 1, __ATOMIC_SEQ_CST));
		err = txn_encode_op(&b, tp, ps, full);
	}
	if (err >= 0)
		err = log_append_locked(log, b.p, b.len, &start, &end);
	if (err >= 0)
		log->in_flight++;
	olock_unlock(&log->lock);
	if (err < 0)
		goto rollback;
	for (size_t i = 0; i < s->npages; i++) {
		struct frame *f = s->pages[i].frame;
		if (s->pages[i].full)
			f->fpi_lsn = start;
		cache_mark_dirty(f, start);
		cache_release_owned(f, end, 1);
		free(s->pages[i].before);
	}
	olock_lock(&log->lock);
	log->in_flight--;
	pthread_cond_broadcast(&log->cond);
	olock_unlock(&log->lock);
	s->npages = 0;
	s->last_commit_lsn = end;
	__atomic_add_fetch(&inst->commits, 1, __ATOMIC_RELAXED);
done:
	free(b.p);
	s->level = 0;
	txn_release_lock(s);
	if (end != 0 && !(grbit & JET_bitCommitLazyFlush))
		err = log_flush_to(log, end);
	return err;
rollback:
	free(b.p);
	txn_restore(s, 0);
	s->level = 0;
	txn_release_lock(s);
	return err;
}

JET_ERR
txn_commit_level(struct jet_session *s, JET_GRBIT grbit)
{
	size_t k = s->npages, j;

	if (s->level == 1)
		return txn_commit_outer(s, grbit);
	/* Hand this level's images to the enclosing level, which keeps its own if it has one. */
	while (k > 0 && s->pages[k - 1].level == s->level)
		k--;
	for (size_t i = j = k; i < s->npages; i++) {
		struct txn_page *tp = &s->pages[i];
		tp->frame->owner_level = s->level - 1;
		if (tp->prev_level == s->level - 1) {
			free(tp->before);
			continue;
		}
		tp->level = s->level - 1;
		s->pages[j++] = *tp;
	}
	s->npages = j;
	s->level--;
	return JET_errSuccess;
}

void
txn_rollback_level(struct jet_session *s)
{
	size_t k = s->npages;

	while (k > 0 && s->pages[k - 1].level == s->level)
		k--;
	txn_restore(s, k);
	if (--s->level == 0)
		txn_release_lock(s);
}

/*
 * Every data operation runs between txn_enter and txn_leave.  Inside a
 * transaction the first call takes the instance's write lock until the
 * outermost commit or rollback, and each call runs in a savepoint (one more
 * nesting level), so a call that fails half-way (a split that ran out of
 * space) is undone whole and the transaction can go on.  Outside a
 * transaction the call is its own (implicit) transaction, committed durably
 * at txn_leave if it succeeded.
 */
#define TXN_IMPLICIT 1
#define TXN_SAVEPOINT 2

JET_ERR
txn_enter(struct jet_session *s, int *implicitp)
{
	struct jet_inst *inst = s->inst;

	*implicitp = s->level == 0 ? TXN_IMPLICIT : TXN_SAVEPOINT;
	s->level++;
	if (!s->holds_lock) {
		pthread_mutex_lock(&inst->write_lock);
		s->holds_lock = 1;
	}
	if (inst->unavailable != JET_errSuccess) {
		JET_ERR err = inst->unavailable;
		txn_rollback_level(s);
		return err;
	}
	return JET_errSuccess;
}

JET_ERR
txn_leave(struct jet_session *s, int implicit, JET_ERR err)
{
	JET_ERR cerr;

	if (err < 0) {
		txn_rollback_level(s);
		return err;
	}
	cerr = txn_commit_level(s, implicit == TXN_IMPLICIT ? 0 : JET_bitCommitLazyFlush);
	return cerr < 0 ? cerr : err;
}

/*
 * Logs a record that changes no page (attach, detach, backup marks) and
 * waits until it is durable.  Takes the write lock so records never
 * interleave with a commit's bookkeeping.
 */
JET_ERR
txn_log_system(struct jet_inst *inst, const uint8_t *rec, size_t len, lsn_t *endp)
{
	lsn_t start, end;
	JET_ERR err;

	pthread_mutex_lock(&inst->write_lock);
	err = log_append(&inst->log, rec, len, &start, &end);
	pthread_mutex_unlock(&inst->write_lock);
	if (err >= 0)
		err = log_flush_to(&inst->log, end);
	if (endp != NULL)
		*endp = err >= 0 ? end : 0;
	return err;
}
