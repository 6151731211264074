/*
 * btree.c -- B+trees of (key, value) records, one per table and one for the
 * catalog.
 *
 * PAGES are slotted: after the 40-byte header, an array of u16 record
 * offsets in key order grows up from free_lo; records grow down from the end
 * of the page to free_hi.  Deleting leaves a hole that is reclaimed when the
 * page is compacted before an insert.
 *   leaf record:     u8 flags, u8 key length, u32 value length, key, then
 *                    the value, or (flags & LEAF_LV) the u32 first page of
 *                    a long-value chain holding it
 *   internal record: u8 key length, u32 child, key; the child holds keys
 *                    >= this key (and < the next one); PG_AUX is the child
 *                    for keys below the first record
 *   long-value page: PG_AUX bytes of data after the header, PG_NEXT the next
 *                    chunk (0 at the end)
 * Leaves are linked both ways through PG_NEXT / PG_PREV.
 *
 * INVARIANTS (checked by btree_verify)
 *  B1. Keys are strictly increasing within a page, along the leaf chain, and
 *      every key of a subtree lies within its parent's bounds.
 *  B2. All leaves are at the same depth; a tree's root page never moves
 *      (a root split moves the root's records into a new child).
 *  B3. A long-value chain holds exactly its record's value length.
 * Empty leaves are allowed (records are deleted without merging pages, as
 * ESE does until online defragmentation); they stay linked and searchable.
 *
 * Callers hold the instance's write lock (txn_enter): trees are never
 * searched and changed at the same time.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

#define LEAF_LV 0x1
#define LEAF_HDR 6
#define INT_HDR 5
#define BT_DEPTH_MAX 32

static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* ---- node primitives ---- */

static inline unsigned
node_n(const uint8_t *p)
{
	return get16(p + PG_NSLOTS);
}

static inline uint8_t *
node_rec(uint8_t *p, unsigned i)
{
	return p + get16(p + PAGE_HDR_SIZE + 2 * i);
}

static inline int
node_is_leaf(const uint8_t *p)
{
	return p[PG_TYPE] == PAGE_LEAF;
}

static void
node_key(uint8_t *p, unsigned i, const uint8_t **key, size_t *len)
{
	uint8_t *r = node_rec(p, i);

	if (node_is_leaf(p)) {
		*len = r[1];
		*key = r + LEAF_HDR;
	} else {
		*len = r[0];
		*key = r + INT_HDR;
	}
}

static size_t
rec_size(const uint8_t *p, const uint8_t *r)
{
	if (p[PG_TYPE] == PAGE_LEAF)
		return LEAF_HDR + r[1] + ((r[0] & LEAF_LV) ? 4 : get32(r + 2));
	return INT_HDR + r[0];
}

static inline uint32_t
int_child(uint8_t *p, unsigned i)
{
	return get32(node_rec(p, i) + 1);
}

/* First slot whose key is >= key (upper: > key). */
static unsigned
node_search(uint8_t *p, const uint8_t *key, size_t keylen, int upper, int *exact)
{
	unsigned lo = 0, hi = node_n(p);

	*exact = 0;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const uint8_t *k;
		size_t kl;
		int c;
		node_key(p, mid, &k, &kl);
		c = key_cmp(k, kl, key, keylen);
		if (c == 0)
			*exact = 1;
		if (c < 0 || (upper && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint32_t
node_child_for(uint8_t *p, const uint8_t *key, size_t keylen)
{
	int exact;
	unsigned i = node_search(p, key, keylen, 1, &exact);

	return i == 0 ? get32(p + PG_AUX) : int_child(p, i - 1);
}

static size_t
node_used(uint8_t *p)
{
	size_t used = 0;

	for (unsigned i = 0; i < node_n(p); i++)
		used += rec_size(p, node_rec(p, i));
	return used;
}

/* Rewrites a page's records from recs (which must not point into it). */
static void
node_fill(uint8_t *p, uint32_t ps, uint8_t *const *recs, const size_t *lens, unsigned n)
{
	uint32_t hi = ps;

	for (unsigned i = 0; i < n; i++) {
		hi -= (uint32_t)lens[i];
		memcpy(p + hi, recs[i], lens[i]);
		put16(p + PAGE_HDR_SIZE + 2 * i, (uint16_t)hi);
	}
	put16(p + PG_NSLOTS, (uint16_t)n);
	put16(p + PG_FREE_LO, (uint16_t)(PAGE_HDR_SIZE + 2 * n));
	put16(p + PG_FREE_HI, (uint16_t)hi);
}

static JET_ERR
node_compact(uint8_t *p, uint32_t ps)
{
	unsigned n = node_n(p);
	uint8_t *copy = malloc(ps), **recs = malloc((n + 1) * sizeof(*recs));
	size_t *lens = malloc((n + 1) * sizeof(*lens));

	if (copy == NULL || recs == NULL || lens == NULL) {
		free(copy);
		free(recs);
		free(lens);
		return JET_errOutOfMemory;
	}
	memcpy(copy, p, ps);
	for (unsigned i = 0; i < n; i++) {
		recs[i] = node_rec(copy, i);
		lens[i] = rec_size(copy, recs[i]);
	}
	node_fill(p, ps, recs, lens, n);
	free(copy);
	free(recs);
	free(lens);
	return JET_errSuccess;
}

/* Inserts a record at slot i if it fits (compacting if need be); 0 if not. */
static int
node_try_insert(uint8_t *p, uint32_t ps, unsigned i, const uint8_t *rec, size_t len, JET_ERR *errp)
{
	unsigned n = node_n(p);
	size_t lo = get16(p + PG_FREE_LO), hi = get16(p + PG_FREE_HI);

	*errp = JET_errSuccess;
	if (hi - lo < len + 2) {
		if (ps - PAGE_HDR_SIZE - 2 * n - node_used(p) < len + 2)
			return 0;
		if ((*errp = node_compact(p, ps)) < 0)
			return 0;
		lo = get16(p + PG_FREE_LO);
		hi = get16(p + PG_FREE_HI);
	}
	hi -= len;
	memcpy(p + hi, rec, len);
	memmove(p + PAGE_HDR_SIZE + 2 * (i + 1), p + PAGE_HDR_SIZE + 2 * i, 2 * (n - i));
	put16(p + PAGE_HDR_SIZE + 2 * i, (uint16_t)hi);
	put16(p + PG_NSLOTS, (uint16_t)(n + 1));
	put16(p + PG_FREE_LO, (uint16_t)(lo + 2));
	put16(p + PG_FREE_HI, (uint16_t)hi);
	return 1;
}

static void
node_remove(uint8_t *p, unsigned i)
{
	unsigned n = node_n(p);

	memmove(p + PAGE_HDR_SIZE + 2 * i, p + PAGE_HDR_SIZE + 2 * (i + 1), 2 * (n - i - 1));
	put16(p + PG_NSLOTS, (uint16_t)(n - 1));
	put16(p + PG_FREE_LO, (uint16_t)(PAGE_HDR_SIZE + 2 * (n - 1)));
}

/* ---- long values ---- */

static size_t
lv_chunk(uint32_t ps)
{
	return ps - PAGE_HDR_SIZE;
}

static JET_ERR
lv_write(struct jet_session *s, struct jet_db *db, uint32_t objid, const uint8_t *val, size_t len, uint32_t *firstp)
{
	struct frame *prev = NULL, *f;
	size_t chunk = lv_chunk(db->hdr.page_size), off = 0;
	JET_ERR err = JET_errSuccess;

	*firstp = 0;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		if ((err = space_alloc(s, db, PAGE_LV, objid, &f)) < 0)
			break;
		memcpy(f->data + PAGE_HDR_SIZE, val + off, n);
		put32(f->data + PG_AUX, (uint32_t)n);
		if (prev == NULL)
			*firstp = f->pgno;
		else {
			put32(prev->data + PG_NEXT, f->pgno);
			cache_unpin(prev);
		}
		prev = f;
		off += n;
	}
	if (prev != NULL)
		cache_unpin(prev);
	return err;
}

static JET_ERR
lv_corrupt(struct jet_db *db, uint32_t pgno)
{
	event_log(db->inst, EVENT_ERROR, 1526, "%s: long-value chain broken at page %u", db->path, pgno);
	return JET_errLVCorrupted;
}

static JET_ERR
lv_read(struct jet_db *db, uint32_t pgno, uint8_t *out, size_t len)
{
	size_t off = 0;
	struct frame *f;

	while (off < len) {
		size_t n;
		if (pgno == 0)
			return lv_corrupt(db, pgno);
		RET(cache_get(db, pgno, &f));
		n = get32(f->data + PG_AUX);
		if (f->data[PG_TYPE] != PAGE_LV || n == 0 || n > lv_chunk(db->hdr.page_size) || off + n > len) {
			cache_unpin(f);
			return lv_corrupt(db, pgno);
		}
		memcpy(out + off, f->data + PAGE_HDR_SIZE, n);
		off += n;
		pgno = get32(f->data + PG_NEXT);
		cache_unpin(f);
	}
	return pgno == 0 ? JET_errSuccess : lv_corrupt(db, pgno);
}

static JET_ERR
lv_free(struct jet_session *s, struct jet_db *db, uint32_t pgno)
{
	struct frame *f;

	for (size_t guard = 0; pgno != 0; guard++) {
		uint32_t next;
		RET(cache_get(db, pgno, &f));
		next = get32(f->data + PG_NEXT);
		if (f->data[PG_TYPE] != PAGE_LV || guard > (1u << 31)) {
			cache_unpin(f);
			return lv_corrupt(db, pgno);
		}
		cache_unpin(f);
		RET(space_free(s, db, pgno));
		pgno = next;
	}
	return JET_errSuccess;
}

/* ---- descent ---- */

struct btree_path {
	uint32_t pgno[BT_DEPTH_MAX];
	unsigned depth;			/* index of the leaf in pgno[] */
};

static JET_ERR
btree_corrupt(struct jet_db *db, uint32_t pgno, const char *what)
{
	event_log(db->inst, EVENT_ERROR, 447, "%s: B+tree page %u is damaged: %s", db->path, pgno, what);
	return JET_errBadPageLink;
}

/* Descends to the leaf for key; returns it pinned. */
static JET_ERR
btree_descend(struct jet_db *db, uint32_t root, const uint8_t *key, size_t keylen, struct btree_path *path,
    struct frame **leafp)
{
	uint32_t pgno = root;
	struct frame *f;

	for (unsigned d = 0;; d++) {
		if (d >= BT_DEPTH_MAX)
			return btree_corrupt(db, pgno, "tree too deep (a cycle?)");
		RET(cache_get(db, pgno, &f));
		if (path != NULL)
			path->pgno[d] = pgno;
		if (node_is_leaf(f->data)) {
			if (path != NULL)
				path->depth = d;
			*leafp = f;
			return JET_errSuccess;
		}
		if (f->data[PG_TYPE] != PAGE_INTERNAL) {
			cache_unpin(f);
			return btree_corrupt(db, pgno, "not a B+tree page");
		}
		pgno = node_child_for(f->data, key, keylen);
		cache_unpin(f);
	}
}

JET_ERR
btree_init_root(struct jet_session *s, struct jet_db *db, uint32_t pgno, uint32_t objid)
{
	struct frame *f;
	JET_ERR err;

	RET(cache_get_new(db, pgno, &f));
	if ((err = txn_write(s, f)) >= 0)
		page_init(f->data, db->hdr.page_size, pgno, PAGE_LEAF, objid);
	cache_unpin(f);
	return err;
}

JET_ERR
btree_create(struct jet_session *s, struct jet_db *db, uint32_t objid, uint32_t *rootp)
{
	struct frame *f;

	RET(space_alloc(s, db, PAGE_LEAF, objid, &f));
	*rootp = f->pgno;
	cache_unpin(f);
	return JET_errSuccess;
}

/* ---- insert and split ---- */

static JET_ERR btree_insert_at(struct jet_session *s, struct jet_db *db, struct btree_path *path, unsigned level,
    struct frame *f, unsigned pos, const uint8_t *rec, size_t len);

/* The root's records move into a new child so the root keeps its pgno. */
static JET_ERR
btree_push_down_root(struct jet_session *s, struct jet_db *db, struct btree_path *path, struct frame *root,
    struct frame **childp)
{
	uint32_t ps = db->hdr.page_size;
	struct frame *c;
	uint64_t dbtime;

	RET(space_alloc(s, db, (enum page_type)root->data[PG_TYPE], get32(root->data + PG_OBJID), &c));
	dbtime = get64(c->data + PG_DBTIME);
	memcpy(c->data, root->data, ps);
	put32(c->data + PG_PGNO, c->pgno);
	put64(c->data + PG_DBTIME, dbtime);
	put32(c->data + PG_NEXT, 0);
	put32(c->data + PG_PREV, 0);
	dbtime = get64(root->data + PG_DBTIME);
	page_init(root->data, ps, root->pgno, PAGE_INTERNAL, get32(root->data + PG_OBJID));
	put64(root->data + PG_DBTIME, dbtime);
	put32(root->data + PG_AUX, c->pgno);
	memmove(&path->pgno[1], &path->pgno[0], (path->depth + 1) * sizeof(path->pgno[0]));
	path->pgno[1] = c->pgno;
	path->depth++;
	*childp = c;
	return JET_errSuccess;
}

static JET_ERR
btree_split(struct jet_session *s, struct jet_db *db, struct btree_path *path, unsigned level, struct frame *f,
    unsigned pos, const uint8_t *rec, size_t len)
{
	uint32_t ps = db->hdr.page_size;
	uint8_t *p = f->data, *copy = NULL, **recs = NULL, sep[INT_HDR + JET_cbKeyMost];
	size_t *lens = NULL, total = 0, acc = 0, seplen;
	unsigned n = node_n(p), all = n + 1, cut;
	int leaf = node_is_leaf(p);
	struct frame *r = NULL, *next = NULL;
	uint64_t dbtime;
	JET_ERR err;

	if (level == 0) {
		struct frame *child;
		ERR(btree_push_down_root(s, db, path, f, &child));
		err = btree_split(s, db, path, 1, child, pos, rec, len);
		cache_unpin(child);
		return err;
	}
	copy = malloc(ps);
	recs = malloc(all * sizeof(*recs));
	lens = malloc(all * sizeof(*lens));
	if (copy == NULL || recs == NULL || lens == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	memcpy(copy, p, ps);
	for (unsigned i = 0, j = 0; i < all; i++) {
		if (i == pos) {
			recs[i] = (uint8_t *)rec;
			lens[i] = len;
		} else {
			recs[i] = node_rec(copy, j);
			lens[i] = rec_size(copy, recs[i]);
			j++;
		}
		total += lens[i] + 2;
	}
	/* Appending at the right edge: leave the left page full (sequential loads). */
	if (leaf && pos == n && get32(p + PG_NEXT) == 0)
		cut = n;
	else {
		for (cut = 0; cut < all - 1 && acc + lens[cut] + 2 <= total / 2; cut++)
			acc += lens[cut] + 2;
		if (cut == 0)
			cut = 1;
	}
	if (!leaf && cut >= all - 1)
		cut = all - 2;
	ERR(space_alloc(s, db, leaf ? PAGE_LEAF : PAGE_INTERNAL, get32(p + PG_OBJID), &r));
	if (leaf) {
		const uint8_t *k = recs[cut] + LEAF_HDR;
		seplen = recs[cut][1];
		sep[0] = (uint8_t)seplen;
		memcpy(sep + INT_HDR, k, seplen);
		node_fill(r->data, ps, recs + cut, lens + cut, all - cut);
		put32(r->data + PG_NEXT, get32(p + PG_NEXT));
		put32(r->data + PG_PREV, f->pgno);
		if (get32(p + PG_NEXT) != 0) {
			ERR(cache_get(db, get32(p + PG_NEXT), &next));
			ERR(txn_write(s, next));
			put32(next->data + PG_PREV, r->pgno);
		}
		put32(p + PG_NEXT, r->pgno);
	} else {
		/* The middle record goes up; its child becomes the right page's leftmost. */
		seplen = recs[cut][0];
		sep[0] = (uint8_t)seplen;
		memcpy(sep + INT_HDR, recs[cut] + INT_HDR, seplen);
		put32(r->data + PG_AUX, get32(recs[cut] + 1));
		node_fill(r->data, ps, recs + cut + 1, lens + cut + 1, all - cut - 1);
	}
	put32(sep + 1, r->pgno);
	dbtime = get64(p + PG_DBTIME);
	node_fill(p, ps, recs, lens, cut);
	put64(p + PG_DBTIME, dbtime);
	{
		struct frame *parent;
		int exact;
		unsigned ppos;
		ERR(cache_get(db, path->pgno[level - 1], &parent));
		ppos = node_search(parent->data, sep + INT_HDR, seplen, 1, &exact);
		err = btree_insert_at(s, db, path, level - 1, parent, ppos, sep, INT_HDR + seplen);
		cache_unpin(parent);
	}
err:
	if (r != NULL)
		cache_unpin(r);
	if (next != NULL)
		cache_unpin(next);
	free(copy);
	free(recs);
	free(lens);
	return err;
}

static JET_ERR
btree_insert_at(struct jet_session *s, struct jet_db *db, struct btree_path *path, unsigned level, struct frame *f,
    unsigned pos, const uint8_t *rec, size_t len)
{
	JET_ERR err;

	RET(txn_write(s, f));
	if (node_try_insert(f->data, db->hdr.page_size, pos, rec, len, &err))
		return JET_errSuccess;
	if (err < 0)
		return err;
	return btree_split(s, db, path, level, f, pos, rec, len);
}

static size_t
btree_inline_max(uint32_t ps)
{
	return (ps - PAGE_HDR_SIZE) / 4 - 2;
}

static JET_ERR
btree_free_record_lv(struct jet_session *s, struct jet_db *db, const uint8_t *r)
{
	return (r[0] & LEAF_LV) ? lv_free(s, db, get32(r + LEAF_HDR + r[1])) : JET_errSuccess;
}

JET_ERR
btree_insert(struct jet_session *s, struct btree_cursor *c, const uint8_t *key, size_t keylen, const uint8_t *val,
    size_t vallen, int replace)
{
	struct jet_db *db = c->db;
	uint32_t ps = db->hdr.page_size;
	uint8_t *rec = NULL;
	size_t reclen;
	struct btree_path path;
	struct frame *leaf = NULL;
	unsigned pos;
	int exact;
	JET_ERR err;

	if (keylen > JET_cbKeyMost)
		return JET_errKeyTooBig;
	if (vallen > UINT32_MAX)
		return JET_errRecordTooBig;
	ERR(btree_descend(db, c->root, key, keylen, &path, &leaf));
	pos = node_search(leaf->data, key, keylen, 0, &exact);
	if (exact && !replace) {
		err = JET_errKeyDuplicate;
		goto err;
	}
	if (!exact && replace) {
		err = JET_errRecordDeleted;
		goto err;
	}
	reclen = LEAF_HDR + keylen + vallen;
	if ((rec = malloc(reclen > LEAF_HDR + keylen + 4 ? reclen : LEAF_HDR + keylen + 4)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	rec[0] = 0;
	rec[1] = (uint8_t)keylen;
	put32(rec + 2, (uint32_t)vallen);
	memcpy(rec + LEAF_HDR, key, keylen);
	if (reclen > btree_inline_max(ps)) {
		uint32_t first;
		ERR(lv_write(s, db, get32(leaf->data + PG_OBJID), val, vallen, &first));
		rec[0] = LEAF_LV;
		put32(rec + LEAF_HDR + keylen, first);
		reclen = LEAF_HDR + keylen + 4;
	} else if (vallen > 0)
		memcpy(rec + LEAF_HDR + keylen, val, vallen);
	ERR(txn_write(s, leaf));
	if (exact && !(rec[0] & LEAF_LV)) {
		uint8_t *old = node_rec(leaf->data, pos);
		if (!(old[0] & LEAF_LV) && rec_size(leaf->data, old) == reclen) {
			/* Same size: overwrite in place, the smallest change to log. */
			memcpy(old, rec, reclen);
			goto positioned;
		}
	}
	if (exact) {
		ERR(btree_free_record_lv(s, db, node_rec(leaf->data, pos)));
		node_remove(leaf->data, pos);
	}
	ERR(btree_insert_at(s, db, &path, path.depth, leaf, pos, rec, reclen));
positioned:
	memcpy(c->key, key, keylen);
	c->keylen = keylen;
	c->positioned = 1;
	c->between = 0;
err:
	if (leaf != NULL)
		cache_unpin(leaf);
	free(rec);
	return err;
}

/* ---- positioning ---- */

/* Positions on the first record >= key (or > key) starting at leaf f, walking right. */
static JET_ERR
btree_settle_right(struct btree_cursor *c, struct frame *f, unsigned i)
{
	for (size_t guard = 0;; guard++) {
		uint32_t next;
		if (i < node_n(f->data)) {
			const uint8_t *k;
			node_key(f->data, i, &k, &c->keylen);
			memcpy(c->key, k, c->keylen);
			c->positioned = 1;
			c->between = 0;
			cache_unpin(f);
			return JET_errSuccess;
		}
		next = get32(f->data + PG_NEXT);
		cache_unpin(f);
		if (next == 0)
			return JET_errRecordNotFound;
		if (guard > (1u << 31))
			return btree_corrupt(c->db, next, "leaf chain loops");
		RET(cache_get(c->db, next, &f));
		if (!node_is_leaf(f->data)) {
			cache_unpin(f);
			return btree_corrupt(c->db, next, "leaf chain leads to a non-leaf");
		}
		i = 0;
	}
}

/* Positions on the last record at slot i - 1 or before, walking left. */
static JET_ERR
btree_settle_left(struct btree_cursor *c, struct frame *f, unsigned i)
{
	for (size_t guard = 0;; guard++) {
		uint32_t prev;
		if (i > 0) {
			const uint8_t *k;
			node_key(f->data, i - 1, &k, &c->keylen);
			memcpy(c->key, k, c->keylen);
			c->positioned = 1;
			c->between = 0;
			cache_unpin(f);
			return JET_errSuccess;
		}
		prev = get32(f->data + PG_PREV);
		cache_unpin(f);
		if (prev == 0)
			return JET_errRecordNotFound;
		if (guard > (1u << 31))
			return btree_corrupt(c->db, prev, "leaf chain loops");
		RET(cache_get(c->db, prev, &f));
		if (!node_is_leaf(f->data)) {
			cache_unpin(f);
			return btree_corrupt(c->db, prev, "leaf chain leads to a non-leaf");
		}
		i = node_n(f->data);
	}
}

/*
 * Seeks; returns JET_errSuccess on an exact match, JET_wrnSeekNotEqual when
 * GE/GT/LE/LT found another key, JET_errRecordNotFound.  The cursor is left
 * unchanged on JET_errRecordNotFound.
 */
JET_ERR
btree_seek(struct btree_cursor *c, const uint8_t *key, size_t keylen, int how)
{
	struct btree_cursor save = *c;
	struct frame *f;
	unsigned i;
	int exact;
	JET_ERR err;

	RET(btree_descend(c->db, c->root, key, keylen, NULL, &f));
	i = node_search(f->data, key, keylen, how == BT_SEEK_GT || how == BT_SEEK_LE, &exact);
	switch (how) {
	case BT_SEEK_EQ:
		if (!exact) {
			cache_unpin(f);
			return JET_errRecordNotFound;
		}
		/* fall through */
	case BT_SEEK_GE:
	case BT_SEEK_GT:
		err = btree_settle_right(c, f, i);
		break;
	default:
		err = btree_settle_left(c, f, i);
		break;
	}
	if (err < 0) {
		*c = save;
		return err;
	}
	return key_cmp(c->key, c->keylen, key, keylen) == 0 ? JET_errSuccess : JET_wrnSeekNotEqual;
}

JET_ERR
btree_first(struct btree_cursor *c)
{
	struct frame *f;

	RET(btree_descend(c->db, c->root, (const uint8_t *)"", 0, NULL, &f));
	return btree_settle_right(c, f, 0);
}

JET_ERR
btree_last(struct btree_cursor *c)
{
	static const uint8_t maxkey[JET_cbKeyMost + 1] = {
		[0 ... JET_cbKeyMost] = 0xFF
	};
	struct frame *f;

	RET(btree_descend(c->db, c->root, maxkey, sizeof(maxkey), NULL, &f));
	return btree_settle_left(c, f, node_n(f->data));
}

JET_ERR
btree_next(struct btree_cursor *c)
{
	JET_ERR err;

	if (!c->positioned && !c->between)
		return btree_first(c);
	err = btree_seek(c, c->key, c->keylen, c->between ? BT_SEEK_GE : BT_SEEK_GT);
	return err == JET_wrnSeekNotEqual ? JET_errSuccess : err;
}

JET_ERR
btree_prev(struct btree_cursor *c)
{
	JET_ERR err;

	if (!c->positioned && !c->between)
		return btree_last(c);
	err = btree_seek(c, c->key, c->keylen, BT_SEEK_LT);
	return err == JET_wrnSeekNotEqual ? JET_errSuccess : err;
}

/* Finds the current record in its leaf (pinned). */
static JET_ERR
btree_locate(struct btree_cursor *c, struct btree_path *path, struct frame **fp, unsigned *posp)
{
	int exact;

	if (!c->positioned)
		return JET_errNoCurrentRecord;
	RET(btree_descend(c->db, c->root, c->key, c->keylen, path, fp));
	*posp = node_search((*fp)->data, c->key, c->keylen, 0, &exact);
	if (!exact) {
		cache_unpin(*fp);
		return JET_errRecordDeleted;
	}
	return JET_errSuccess;
}

/* The current record's value, in a buffer the caller frees. */
JET_ERR
btree_value(struct btree_cursor *c, uint8_t **valp, size_t *lenp)
{
	struct frame *f;
	unsigned pos;
	uint8_t *r, *out;
	size_t len;
	JET_ERR err;

	*valp = NULL;
	*lenp = 0;
	RET(btree_locate(c, NULL, &f, &pos));
	r = node_rec(f->data, pos);
	len = get32(r + 2);
	if ((out = malloc(len ? len : 1)) == NULL) {
		cache_unpin(f);
		return JET_errOutOfMemory;
	}
	if (r[0] & LEAF_LV) {
		uint32_t first = get32(r + LEAF_HDR + r[1]);
		cache_unpin(f);
		if ((err = lv_read(c->db, first, out, len)) < 0) {
			free(out);
			return err;
		}
	} else {
		memcpy(out, r + LEAF_HDR + r[1], len);
		cache_unpin(f);
	}
	*valp = out;
	*lenp = len;
	return JET_errSuccess;
}

JET_ERR
btree_delete(struct jet_session *s, struct btree_cursor *c)
{
	struct frame *f;
	unsigned pos;
	JET_ERR err;

	RET(btree_locate(c, NULL, &f, &pos));
	if ((err = txn_write(s, f)) >= 0 && (err = btree_free_record_lv(s, c->db, node_rec(f->data, pos))) >= 0) {
		node_remove(f->data, pos);
		c->positioned = 0;
		c->between = 1;
	}
	cache_unpin(f);
	return err;
}

/* Frees every page of a tree, its root included. */
static JET_ERR
btree_drop_page(struct jet_session *s, struct jet_db *db, uint32_t pgno, unsigned depth)
{
	struct frame *f;
	JET_ERR err = JET_errSuccess;

	if (depth >= BT_DEPTH_MAX)
		return btree_corrupt(db, pgno, "tree too deep");
	RET(cache_get(db, pgno, &f));
	if (node_is_leaf(f->data)) {
		for (unsigned i = 0; i < node_n(f->data) && err >= 0; i++)
			err = btree_free_record_lv(s, db, node_rec(f->data, i));
	} else if (f->data[PG_TYPE] == PAGE_INTERNAL) {
		err = btree_drop_page(s, db, get32(f->data + PG_AUX), depth + 1);
		for (unsigned i = 0; i < node_n(f->data) && err >= 0; i++)
			err = btree_drop_page(s, db, int_child(f->data, i), depth + 1);
	} else
		err = btree_corrupt(db, pgno, "not a B+tree page");
	cache_unpin(f);
	return err < 0 ? err : space_free(s, db, pgno);
}

JET_ERR
btree_drop(struct jet_session *s, struct jet_db *db, uint32_t root)
{
	return btree_drop_page(s, db, root, 0);
}

/* ---- verification ---- */

struct btree_verify_state {
	struct jet_db *db;
	char *msg;
	size_t msglen;
	int leaf_depth;
	uint32_t prev_leaf;
	uint32_t expect_next;
	uint8_t last_key[JET_cbKeyMost];
	size_t last_keylen;
	int have_last;
	uint64_t nrecords;
};

static JET_ERR
btree_verify_fail(struct btree_verify_state *v, uint32_t pgno, const char *what)
{
	snprintf(v->msg, v->msglen, "page %u: %s", pgno, what);
	return JET_errDatabaseCorrupted;
}

static JET_ERR
btree_verify_page(struct btree_verify_state *v, uint32_t pgno, int depth, const uint8_t *lo, size_t lolen,
    const uint8_t *hi, size_t hilen, uint32_t objid)
{
	uint32_t ps = v->db->hdr.page_size;
	struct frame *f;
	uint8_t *p;
	JET_ERR err = JET_errSuccess;
	unsigned n;

	if (depth >= BT_DEPTH_MAX)
		return btree_verify_fail(v, pgno, "tree deeper than possible (a cycle)");
	RET(cache_get(v->db, pgno, &f));
	p = f->data;
	n = node_n(p);
	if (p[PG_TYPE] != PAGE_LEAF && p[PG_TYPE] != PAGE_INTERNAL) {
		err = btree_verify_fail(v, pgno, "not a B+tree page");
		goto out;
	}
	if (get32(p + PG_OBJID) != objid) {
		err = btree_verify_fail(v, pgno, "belongs to another tree");
		goto out;
	}
	if (get16(p + PG_FREE_LO) != PAGE_HDR_SIZE + 2 * n || get16(p + PG_FREE_HI) < get16(p + PG_FREE_LO) ||
	    get16(p + PG_FREE_HI) > ps) {
		err = btree_verify_fail(v, pgno, "slot array and free space disagree");
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t off = get16(p + PAGE_HDR_SIZE + 2 * i);
		const uint8_t *k;
		size_t kl;
		if (off < get16(p + PG_FREE_HI) || off + (node_is_leaf(p) ? LEAF_HDR : INT_HDR) > ps ||
		    off + rec_size(p, p + off) > ps) {
			err = btree_verify_fail(v, pgno, "record outside the page");
			goto out;
		}
		node_key(p, i, &k, &kl);
		if ((lo != NULL && key_cmp(k, kl, lo, lolen) < 0) || (hi != NULL && key_cmp(k, kl, hi, hilen) >= 0)) {
			err = btree_verify_fail(v, pgno, "key outside its parent's range");
			goto out;
		}
		if (i > 0) {
			const uint8_t *pk;
			size_t pkl;
			node_key(p, i - 1, &pk, &pkl);
			if (key_cmp(pk, pkl, k, kl) >= 0) {
				err = btree_verify_fail(v, pgno, "keys out of order");
				goto out;
			}
		}
	}
	if (node_is_leaf(p)) {
		if (v->leaf_depth < 0)
			v->leaf_depth = depth;
		else if (v->leaf_depth != depth) {
			err = btree_verify_fail(v, pgno, "leaves at different depths");
			goto out;
		}
		if (get32(p + PG_PREV) != v->prev_leaf || (v->prev_leaf != 0 && v->expect_next != pgno)) {
			err = btree_verify_fail(v, pgno, "leaf chain does not match the tree");
			goto out;
		}
		for (unsigned i = 0; i < n; i++) {
			uint8_t *r = node_rec(p, i);
			const uint8_t *k;
			size_t kl;
			node_key(p, i, &k, &kl);
			if (v->have_last && key_cmp(v->last_key, v->last_keylen, k, kl) >= 0) {
				err = btree_verify_fail(v, pgno, "leaf chain out of order");
				goto out;
			}
			memcpy(v->last_key, k, kl);
			v->last_keylen = kl;
			v->have_last = 1;
			if (r[0] & LEAF_LV) {
				size_t len = get32(r + 2);
				uint8_t *tmp = malloc(len ? len : 1);
				if (tmp == NULL) {
					err = JET_errOutOfMemory;
					goto out;
				}
				err = lv_read(v->db, get32(r + LEAF_HDR + r[1]), tmp, len);
				free(tmp);
				if (err < 0) {
					err = btree_verify_fail(v, pgno, "long value chain does not hold its length");
					goto out;
				}
			}
			v->nrecords++;
		}
		v->prev_leaf = pgno;
		v->expect_next = get32(p + PG_NEXT);
	} else {
		const uint8_t *clo = lo, *k;
		size_t clolen = lolen, kl;
		uint32_t child = get32(p + PG_AUX);
		for (unsigned i = 0; i <= n && err >= 0; i++) {
			const uint8_t *chi = hi;
			size_t chilen = hilen;
			if (i < n) {
				node_key(p, i, &k, &kl);
				chi = k;
				chilen = kl;
			}
			err = btree_verify_page(v, child, depth + 1, clo, clolen, chi, chilen, objid);
			if (i < n) {
				clo = k;
				clolen = kl;
				child = int_child(p, i);
			}
		}
	}
out:
	cache_unpin(f);
	return err;
}

/* Checks B1-B3 over a whole tree; on failure msg says where. */
JET_ERR
btree_verify(struct jet_db *db, uint32_t root, uint64_t *nrecords, char *msg, size_t msglen)
{
	struct btree_verify_state v = { .db = db, .msg = msg, .msglen = msglen, .leaf_depth = -1 };
	struct frame *f;
	JET_ERR err;
	uint32_t objid, last_leaf;


	RET(cache_get(db, root, &f));
	objid = get32(f->data + PG_OBJID);
	cache_unpin(f);
	if ((err = btree_verify_page(&v, root, 0, NULL, 0, NULL, 0, objid)) < 0)
		return err;
	last_leaf = v.prev_leaf;
	err = v.expect_next == 0 ? JET_errSuccess : btree_verify_fail(&v, last_leaf, "last leaf has a right sibling");
	*nrecords = v.nrecords;
	return err;
}
