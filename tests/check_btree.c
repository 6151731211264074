/*
 * check_btree.c -- the B+tree, through the public API, against an in-memory
 * model: a sorted array of (key, value) where a value is described by its
 * length and a seed that generates its bytes.
 *
 * Every phase (inserts in sequential, reverse and random order, replaces
 * between inline and long values, deletes that empty whole leaves, deletes of
 * everything, re-inserts, restarts) ends with check_all(): a forward and a
 * backward scan compared record by record with the model, JetfsVerifyDatabase
 * with the model's record count, and a white-box page census (every page up
 * to the space page's pgno_last is the space page, a page of a tree, a page
 * of a long-value chain or on the free list, exactly once).
 *
 * JET_TEST_SEED=n changes the random seed (printed on failure).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "table.h"

/* Leaf record layout (btree.c): u8 flags, u8 key length, u32 value length, key, value or u32 LV pgno. */
#define T_LEAF_LV 0x1
#define T_LEAF_HDR 6

#define KEYMAX JET_cbKeyMost
#define VAL_BIG (100 * 1024)

/* ---- random numbers ---- */

static uint64_t rng_state;
static uint64_t seed_used;

static void
rng_seed(uint64_t salt)
{
	const char *e = getenv("JET_TEST_SEED");

	seed_used = (e != NULL ? strtoull(e, NULL, 0) : 0x5eed1234abcdULL) ^ salt;
	rng_state = seed_used * 0x9E3779B97F4A7C15ULL + 1;
}

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static size_t
rng_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

/* ---- the model ---- */

struct rec {
	uint8_t key[KEYMAX];
	size_t klen;
	uint32_t seed;
	size_t vlen;
};

struct model {
	struct rec **r;			/* sorted by key */
	size_t n, cap;
};

static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* First index whose key is >= key (upper: > key). */
static size_t
model_bound(const struct model *m, const uint8_t *key, size_t klen, int upper)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = key_cmp(m->r[mid]->key, m->r[mid]->klen, key, klen);
		if (c < 0 || (upper && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct rec *
model_find(const struct model *m, const uint8_t *key, size_t klen)
{
	size_t i = model_bound(m, key, klen, 0);

	return i < m->n && key_cmp(m->r[i]->key, m->r[i]->klen, key, klen) == 0 ? m->r[i] : NULL;
}

static void
model_add(struct model *m, const struct rec *r)
{
	size_t i = model_bound(m, r->key, r->klen, 0);
	struct rec *c = malloc(sizeof(*c));

	ck_assert(c != NULL);
	*c = *r;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 1024;
		m->r = realloc(m->r, m->cap * sizeof(*m->r));
		ck_assert(m->r != NULL);
	}
	memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(*m->r));
	m->r[i] = c;
	m->n++;
}

static void
model_del(struct model *m, const uint8_t *key, size_t klen)
{
	size_t i = model_bound(m, key, klen, 0);

	ck_assert(i < m->n && key_cmp(m->r[i]->key, m->r[i]->klen, key, klen) == 0);
	free(m->r[i]);
	memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(*m->r));
	m->n--;
}

static void
model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->r[i]);
	free(m->r);
	memset(m, 0, sizeof(*m));
}

/* The bytes of a value: a function of its seed. */
static void
fill_val(uint8_t *buf, uint32_t seed, size_t len)
{
	uint64_t x = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;

	for (size_t i = 0; i < len; i++) {
		if ((i & 7) == 0) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
		}
		buf[i] = (uint8_t)(x >> (8 * (i & 7)));
	}
}

/* Value sizes: inline, around the inline limit (~2 KiB), several pages, 100 KiB. */
static size_t
pick_vlen(void)
{
	size_t r = rng_below(1000);

	if (r < 20)
		return 0;
	if (r < 500)
		return 1 + rng_below(300);
	if (r < 750)
		return 300 + rng_below(1900);
	if (r < 950)
		return 2200 + rng_below(20000);
	if (r < 995)
		return 20000 + rng_below(30000);
	return VAL_BIG;
}

/* A value size on the other side of the inline / long-value boundary. */
static size_t
pick_vlen_flip(size_t old)
{
	if (old <= 1500)
		return rng_below(8) == 0 ? VAL_BIG : 2100 + rng_below(30000);
	return rng_below(6) == 0 ? 0 : rng_below(1500);
}

static void
random_key(struct rec *r)
{
	size_t kind = rng_below(100);

	if (kind < 8)
		r->klen = rng_below(4);
	else if (kind < 20)
		r->klen = KEYMAX - rng_below(8);
	else
		r->klen = rng_below(KEYMAX + 1);
	for (size_t i = 0; i < r->klen; i++) {
		uint64_t b = rng();
		/* Plenty of 0x00 and 0xFF bytes, and long common prefixes. */
		r->key[i] = (b & 0x300) == 0 ? 0x00 : (b & 0x300) == 0x100 ? 0xFF : (i < 3 ? (uint8_t)(b & 0x7) : (uint8_t)b);
	}
}

/* n distinct keys in ascending order, some of them prefixes of others; the empty key first. */
static struct rec *
make_keys(size_t n, int with_empty)
{
	struct model m = { 0 };
	struct rec *out = calloc(n, sizeof(*out)), r;

	ck_assert(out != NULL);
	memset(&r, 0, sizeof(r));
	if (with_empty) {
		r.klen = 0;
		model_add(&m, &r);
	}
	while (m.n < n) {
		random_key(&r);
		if (m.n > 0 && rng_below(20) == 0) {
			/* a prefix or an extension of an existing key */
			const struct rec *o = m.r[rng_below(m.n)];
			r = *o;
			if (r.klen > 0 && rng_below(2) == 0)
				r.klen = rng_below(r.klen);
			else if (r.klen < KEYMAX)
				r.key[r.klen++] = (uint8_t)rng();
		}
		if (model_find(&m, r.key, r.klen) == NULL)
			model_add(&m, &r);
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = *m.r[i];
		out[i].seed = (uint32_t)rng();
		out[i].vlen = pick_vlen();
	}
	model_free(&m);
	return out;
}

static void
shuffle(struct rec *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_below(i);
		struct rec t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* ---- an instance with one database and table "t" ---- */

struct env {
	char *dir;
	char *dbpath;
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	unsigned long cache;
	uint8_t *buf, *buf2;		/* VAL_BIG + 1 bytes each */
};

static void
env_start(struct env *e)
{
	e->inst = tu_instance(e->dir, 1024, e->cache);
	CK(JetSetSystemParameter(&e->inst, 0, JET_paramCircularLog, 1, NULL));
	CK(JetSetSystemParameter(&e->inst, 0, JET_paramDbExtensionSize, 16, NULL));
	CK(JetInit(&e->inst));
	tu_open_db(e->inst, e->dir, "bt.edb", &e->ses, &e->dbid, &e->t);
}

static void
env_open(struct env *e, unsigned long cache)
{
	memset(e, 0, sizeof(*e));
	e->dir = tu_tempdir();
	e->dbpath = tu_path(e->dir, "bt.edb");
	e->cache = cache;
	e->buf = malloc(VAL_BIG + 1);
	e->buf2 = malloc(VAL_BIG + 1);
	ck_assert(e->buf != NULL && e->buf2 != NULL);
	env_start(e);
}

static void
env_restart(struct env *e)
{
	CK(JetTerm(e->inst));
	env_start(e);
}

static void
env_close(struct env *e)
{
	CK(JetTerm(e->inst));
	tu_rmdir(e->dir);
	free(e->dir);
	free(e->dbpath);
	free(e->buf);
	free(e->buf2);
}

/* ---- engine operations ---- */

static JET_ERR
seek_eq(JET_SESID ses, JET_TABLEID t, const uint8_t *key, size_t klen)
{
	JET_ERR err = JetMakeKey(ses, t, key, (unsigned long)klen, JET_bitNewKey | (klen == 0 ? JET_bitKeyDataZeroLength : 0));

	return err < 0 ? err : JetSeek(ses, t, JET_bitSeekEQ);
}

/* Sets the value column of the prepared record; big values in appended pieces. */
static JET_ERR
set_value(struct env *e, JET_TABLEID t, const struct rec *r)
{
	JET_ERR err;

	fill_val(e->buf, r->seed, r->vlen);
	if (r->vlen == 0)
		return JetSetColumn(e->ses, t, JET_columnidValue, NULL, 0, JET_bitSetZeroLength, NULL);
	if (r->vlen < 50000)
		return JetSetColumn(e->ses, t, JET_columnidValue, e->buf, (unsigned long)r->vlen, 0, NULL);
	for (size_t off = 0; off < r->vlen; off += 30000) {
		size_t n = r->vlen - off < 30000 ? r->vlen - off : 30000;
		if ((err = JetSetColumn(e->ses, t, JET_columnidValue, e->buf + off, (unsigned long)n,
		    off == 0 ? 0 : JET_bitSetAppendLV, NULL)) < 0)
			return err;
	}
	return JET_errSuccess;
}

static JET_ERR
eng_insert(struct env *e, JET_TABLEID t, const struct rec *r)
{
	JET_ERR err;

	if ((err = JetPrepareUpdate(e->ses, t, JET_prepInsert)) < 0)
		return err;
	if ((err = JetSetColumn(e->ses, t, JET_columnidKey, r->key, (unsigned long)r->klen,
	    r->klen == 0 ? JET_bitSetZeroLength : 0, NULL)) >= 0 &&
	    (err = set_value(e, t, r)) >= 0 && (err = JetUpdate(e->ses, t, NULL, 0, NULL)) >= 0)
		return err;
	JetPrepareUpdate(e->ses, t, JET_prepCancel);
	return err;
}

static JET_ERR
eng_replace(struct env *e, JET_TABLEID t, const struct rec *r)
{
	JET_ERR err;

	if ((err = seek_eq(e->ses, t, r->key, r->klen)) < 0)
		return err;
	if ((err = JetPrepareUpdate(e->ses, t, JET_prepReplace)) < 0)
		return err;
	if ((err = set_value(e, t, r)) >= 0 && (err = JetUpdate(e->ses, t, NULL, 0, NULL)) >= 0)
		return err;
	JetPrepareUpdate(e->ses, t, JET_prepCancel);
	return err;
}

static JET_ERR
eng_delete(struct env *e, JET_TABLEID t, const uint8_t *key, size_t klen)
{
	JET_ERR err;

	if ((err = seek_eq(e->ses, t, key, klen)) < 0)
		return err;
	return JetDelete(e->ses, t);
}

/* Runs one operation in its own transaction, committed lazily (rolled back on error). */
static int
txn_begin(struct env *e)
{
	CK(JetBeginTransaction(e->ses));
	return 0;
}

static JET_ERR
txn_end(struct env *e, JET_ERR err)
{
	if (err < 0)
		CK(JetRollback(e->ses, 0));
	else
		CK(JetCommitTransaction(e->ses, JET_bitCommitLazyFlush));
	return err;
}

#define TXN(e, expr) txn_end((e), (txn_begin(e), (expr)))

static void
insert_all(struct env *e, struct model *m, const struct rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		JET_ERR err = TXN(e, eng_insert(e, e->t, &recs[i]));
		if (model_find(m, recs[i].key, recs[i].klen) != NULL) {
			ck_assert_msg(err == JET_errKeyDuplicate, "insert of a duplicate #%zu -> %s", i, JetErrorName(err));
			continue;
		}
		ck_assert_msg(err == JET_errSuccess, "insert #%zu (klen %zu, vlen %zu) -> %s (seed %llx)", i,
		    recs[i].klen, recs[i].vlen, JetErrorName(err), (unsigned long long)seed_used);
		model_add(m, &recs[i]);
	}
}

/* ---- white-box helpers (internals, with the write lock held) ---- */

static struct jet_db *
env_db(struct env *e)
{
	struct jet_session *s = handle_get(HANDLE_SESSION, e->ses);

	ck_assert(s != NULL && s->level == 0);
	ck_assert(s->inst->dbs[e->dbid] != NULL);
	return s->inst->dbs[e->dbid];
}

struct census {
	struct jet_db *db;
	uint8_t *seen;
	uint32_t last;
	unsigned leaves, empty_leaves, internals, lv_pages, free_pages;
	int leaf_depth;			/* levels, the leaves included */
};

static void
census_mark(struct census *c, uint32_t pgno, const char *what)
{
	ck_assert_msg(pgno >= 1 && pgno <= c->last, "%s page %u beyond pgno_last %u", what, pgno, c->last);
	ck_assert_msg(!c->seen[pgno], "%s page %u is reachable twice", what, pgno);
	c->seen[pgno] = 1;
}

static void
census_lv(struct census *c, uint32_t pgno)
{
	for (unsigned guard = 0; pgno != 0; guard++) {
		struct frame *f;
		uint32_t next;
		ck_assert(guard <= c->last);
		CK(cache_get(c->db, pgno, &f));
		ck_assert_msg(f->data[PG_TYPE] == PAGE_LV, "LV page %u has type %d", pgno, f->data[PG_TYPE]);
		census_mark(c, pgno, "long-value");
		next = get32(f->data + PG_NEXT);
		cache_unpin(f);
		c->lv_pages++;
		pgno = next;
	}
}

static void
census_tree(struct census *c, uint32_t pgno, int depth)
{
	struct frame *f;
	uint8_t *p;
	unsigned n;
	uint32_t *kids = NULL, *lvs = NULL;
	size_t nkids = 0, nlvs = 0;

	ck_assert(depth < 32);
	CK(cache_get(c->db, pgno, &f));
	p = f->data;
	n = get16(p + PG_NSLOTS);
	census_mark(c, pgno, "tree");
	if (p[PG_TYPE] == PAGE_LEAF) {
		c->leaves++;
		if (n == 0)
			c->empty_leaves++;
		if (c->leaf_depth == 0)
			c->leaf_depth = depth + 1;
		ck_assert_msg(c->leaf_depth == depth + 1, "leaf %u at depth %d, others at %d", pgno, depth + 1, c->leaf_depth);
		lvs = malloc((n + 1) * sizeof(*lvs));
		ck_assert(lvs != NULL);
		for (unsigned i = 0; i < n; i++) {
			const uint8_t *r = p + get16(p + PAGE_HDR_SIZE + 2 * i);
			if (r[0] & T_LEAF_LV)
				lvs[nlvs++] = get32(r + T_LEAF_HDR + r[1]);
		}
	} else {
		ck_assert_msg(p[PG_TYPE] == PAGE_INTERNAL, "tree page %u has type %d", pgno, p[PG_TYPE]);
		c->internals++;
		kids = malloc((n + 1) * sizeof(*kids));
		ck_assert(kids != NULL);
		kids[nkids++] = get32(p + PG_AUX);
		for (unsigned i = 0; i < n; i++)
			kids[nkids++] = get32(p + get16(p + PAGE_HDR_SIZE + 2 * i) + 1);
	}
	cache_unpin(f);
	for (size_t i = 0; i < nlvs; i++)
		census_lv(c, lvs[i]);
	for (size_t i = 0; i < nkids; i++)
		census_tree(c, kids[i], depth + 1);
	free(lvs);
	free(kids);
}

struct tree_info {
	unsigned depth, leaves, empty_leaves, internals, lv_pages, free_pages;
	uint32_t pgno_last;
};

/*
 * Accounts for every page of the database: each of 1..pgno_last must be the
 * space page, a tree page, a long-value page or a free page, exactly once.
 * Returns the shape of table `name`'s tree.
 */
static struct tree_info
census(struct env *e, const char *name)
{
	struct jet_db *db = env_db(e);
	struct jet_inst *inst = db->inst;
	struct census c = { .db = db };
	struct tree_info ti = { 0 };
	struct frame *sp;
	uint32_t head, count, walked = 0;
	char **names;
	size_t nnames;

	pthread_mutex_lock(&inst->write_lock);
	CK(cache_get(db, PGNO_SPACE, &sp));
	c.last = get32(sp->data + SP_PGNO_LAST);
	head = get32(sp->data + SP_FREE_HEAD);
	count = get32(sp->data + SP_FREE_COUNT);
	cache_unpin(sp);
	c.seen = calloc(c.last + 1, 1);
	ck_assert(c.seen != NULL);
	census_mark(&c, PGNO_SPACE, "space");
	census_tree(&c, PGNO_CATALOG, 0);
	CK(table_list(db, &names, &nnames));
	for (size_t i = 0; i < nnames; i++) {
		uint32_t root, objid;
		CK(table_find(db, names[i], &root, &objid));
		if (name != NULL && strcmp(names[i], name) == 0) {
			struct census sub = c;
			sub.leaves = sub.empty_leaves = sub.internals = sub.lv_pages = 0;
			sub.leaf_depth = 0;
			census_tree(&sub, root, 0);
			ti.depth = (unsigned)sub.leaf_depth;
			ti.leaves = sub.leaves;
			ti.empty_leaves = sub.empty_leaves;
			ti.internals = sub.internals;
			ti.lv_pages = sub.lv_pages;
		} else {
			c.leaf_depth = 0;
			census_tree(&c, root, 0);
		}
		free(names[i]);
	}
	free(names);
	/* The free list: list pages, each an array of free page numbers. */
	for (uint32_t pgno = head, lists = 0; pgno != 0; lists++) {
		struct frame *f;
		uint32_t n;
		ck_assert_msg(lists <= c.last, "free list loops");
		CK(cache_get(db, pgno, &f));
		ck_assert_msg(f->data[PG_TYPE] == PAGE_FREELIST, "free-list page %u has type %d", pgno, f->data[PG_TYPE]);
		census_mark(&c, pgno, "free list");
		walked++;
		n = get32(f->data + PG_AUX);
		ck_assert_msg(n <= (db->hdr.page_size - PAGE_HDR_SIZE) / 4, "free-list page %u holds %u", pgno, n);
		for (uint32_t i = 0; i < n; i++, walked++)
			census_mark(&c, get32(f->data + PAGE_HDR_SIZE + 4 * i), "free");
		pgno = get32(f->data + PG_NEXT);
		cache_unpin(f);
	}
	ck_assert_msg(walked == count, "free list holds %u pages, the space page says %u", walked, count);
	for (uint32_t pgno = 1; pgno <= c.last; pgno++)
		if (!c.seen[pgno]) {
			struct frame *f;
			int type = -1;
			if (cache_get(db, pgno, &f) >= 0) {
				type = f->data[PG_TYPE];
				cache_unpin(f);
			}
			pthread_mutex_unlock(&inst->write_lock);
			ck_abort_msg("page %u (type %d) of %u is leaked: in no tree, chain or free list", pgno, type, c.last);
		}
	pthread_mutex_unlock(&inst->write_lock);
	free(c.seen);
	ti.free_pages = walked;
	ti.pgno_last = c.last;
	return ti;
}

/* ---- checks against the model ---- */

static void
check_record(struct env *e, JET_TABLEID t, const struct rec *r, const char *dir, size_t i)
{
	uint8_t key[KEYMAX + 1];
	unsigned long got = 0;
	JET_ERR err;

	err = JetRetrieveColumn(e->ses, t, JET_columnidKey, key, sizeof(key), &got, 0, NULL);
	ck_assert_msg(err == (r->klen == 0 ? JET_wrnColumnNull : JET_errSuccess), "%s scan #%zu: key -> %s", dir, i,
	    JetErrorName(err));
	ck_assert_msg(got == r->klen && memcmp(key, r->key, r->klen) == 0,
	    "%s scan #%zu: key of %lu bytes, model has %zu (seed %llx)", dir, i, got, r->klen,
	    (unsigned long long)seed_used);
	err = JetRetrieveColumn(e->ses, t, JET_columnidValue, e->buf2, VAL_BIG + 1, &got, 0, NULL);
	ck_assert_msg(err == (r->vlen == 0 ? JET_wrnColumnNull : JET_errSuccess), "%s scan #%zu: value -> %s", dir, i,
	    JetErrorName(err));
	ck_assert_msg(got == r->vlen, "%s scan #%zu: value of %lu bytes, model has %zu", dir, i, got, r->vlen);
	fill_val(e->buf, r->seed, r->vlen);
	ck_assert_msg(memcmp(e->buf, e->buf2, r->vlen) == 0, "%s scan #%zu: value bytes differ", dir, i);
}

static void
check_scan(struct env *e, JET_TABLEID t, const struct model *m)
{
	JET_ERR err;
	size_t i;

	err = JetMove(e->ses, t, JET_MoveFirst, 0);
	for (i = 0; i < m->n && err == JET_errSuccess; i++) {
		check_record(e, t, m->r[i], "forward", i);
		err = JetMove(e->ses, t, JET_MoveNext, 0);
	}
	ck_assert_msg(i == m->n && err == JET_errNoCurrentRecord, "forward scan: %zu of %zu records, then %s", i, m->n,
	    JetErrorName(err));

	err = JetMove(e->ses, t, JET_MoveLast, 0);
	for (i = m->n; i > 0 && err == JET_errSuccess; i--) {
		check_record(e, t, m->r[i - 1], "backward", i - 1);
		err = JetMove(e->ses, t, JET_MovePrevious, 0);
	}
	ck_assert_msg(i == 0 && err == JET_errNoCurrentRecord, "backward scan: %zu records missing, then %s", i,
	    JetErrorName(err));
}

static void
check_verify(struct env *e, unsigned long tables, uint64_t records)
{
	JET_JETFSVERIFY info;
	JET_ERR err;

	memset(&info, 0, sizeof(info));
	info.cbStruct = sizeof(info);
	err = JetfsVerifyDatabase(e->ses, e->dbid, &info);
	ck_assert_msg(err == JET_errSuccess, "verify -> %s: %s", JetErrorName(err), info.szProblem);
	ck_assert_msg(info.cpagesBad == 0 && info.szProblem[0] == '\0', "verify: %s", info.szProblem);
	ck_assert_uint_eq(info.ctables, tables);
	ck_assert_msg(info.crecords == records, "verify counted %llu records, the model has %llu",
	    (unsigned long long)info.crecords, (unsigned long long)records);
}

static struct tree_info
check_all(struct env *e, const struct model *m)
{
	check_scan(e, e->t, m);
	check_verify(e, 1, m->n);
	return census(e, "t");
}

/* ---- seeks against the model ---- */

static void
expect_seek(struct env *e, const struct model *m, const uint8_t *key, size_t klen, JET_GRBIT how)
{
	size_t lo = model_bound(m, key, klen, 0), hi = model_bound(m, key, klen, 1), want;
	int exact = hi > lo, found;
	uint8_t got[KEYMAX];
	unsigned long gotlen = 0;
	JET_ERR err, want_err;

	switch (how) {
	case JET_bitSeekEQ: found = exact; want = lo; break;
	case JET_bitSeekGE: found = lo < m->n; want = lo; break;
	case JET_bitSeekGT: found = hi < m->n; want = hi; break;
	case JET_bitSeekLE: found = hi > 0; want = hi - 1; break;
	default: found = lo > 0; want = lo - 1; break;
	}
	CK(JetMakeKey(e->ses, e->t, key, (unsigned long)klen, JET_bitNewKey | (klen == 0 ? JET_bitKeyDataZeroLength : 0)));
	err = JetSeek(e->ses, e->t, how);
	if (!found) {
		ck_assert_msg(err == JET_errRecordNotFound, "seek %#lx (klen %zu) -> %s, expected JET_errRecordNotFound",
		    how, klen, JetErrorName(err));
		return;
	}
	want_err = key_cmp(m->r[want]->key, m->r[want]->klen, key, klen) == 0 ? JET_errSuccess : JET_wrnSeekNotEqual;
	ck_assert_msg(err == want_err, "seek %#lx (klen %zu) -> %s, expected %s", how, klen, JetErrorName(err),
	    JetErrorName(want_err));
	CK(JetRetrieveColumn(e->ses, e->t, JET_columnidKey, got, sizeof(got), &gotlen, 0, NULL));
	ck_assert_msg(key_cmp(got, gotlen, m->r[want]->key, m->r[want]->klen) == 0,
	    "seek %#lx (klen %zu) landed on the wrong record (klen %lu, expected #%zu klen %zu)", how, klen, gotlen,
	    want, m->r[want]->klen);
	/* The cursor is really there: its neighbours are the model's. */
	if (rng_below(4) == 0) {
		int dir = rng_below(2) ? 1 : -1;
		err = JetMove(e->ses, e->t, dir, 0);
		if ((dir > 0 && want + 1 >= m->n) || (dir < 0 && want == 0))
			ck_assert_msg(err == JET_errNoCurrentRecord, "move past the end -> %s", JetErrorName(err));
		else {
			CK(err);
			CK(JetRetrieveColumn(e->ses, e->t, JET_columnidKey, got, sizeof(got), &gotlen, 0, NULL));
			ck_assert(key_cmp(got, gotlen, m->r[want + dir]->key, m->r[want + dir]->klen) == 0);
		}
	}
}

static const JET_GRBIT seek_kinds[] = { JET_bitSeekEQ, JET_bitSeekGE, JET_bitSeekGT, JET_bitSeekLE, JET_bitSeekLT };

static void
check_seeks(struct env *e, const struct model *m, size_t probes)
{
	uint8_t ff[KEYMAX];
	struct rec r;

	memset(ff, 0xFF, sizeof(ff));

	/* The ends: nothing is below the empty key, nothing above 255 bytes of 0xFF. */
	for (size_t k = 0; k < 5; k++) {
		expect_seek(e, m, NULL, 0, seek_kinds[k]);
		expect_seek(e, m, ff, KEYMAX, seek_kinds[k]);
		if (m->n > 0) {
			expect_seek(e, m, m->r[0]->key, m->r[0]->klen, seek_kinds[k]);
			expect_seek(e, m, m->r[m->n - 1]->key, m->r[m->n - 1]->klen, seek_kinds[k]);
		}
	}
	for (size_t i = 0; i < probes; i++) {
		if (m->n > 0 && rng_below(2) == 0) {
			r = *m->r[rng_below(m->n)];
			if (rng_below(3) == 0) {	/* a near miss: one byte more or less */
				if (r.klen > 0 && rng_below(2) == 0)
					r.klen--;
				else if (r.klen < KEYMAX)
					r.key[r.klen++] = (uint8_t)rng();
			}
		} else
			random_key(&r);
		expect_seek(e, m, r.key, r.klen, seek_kinds[rng_below(5)]);
	}
}

/* ---- tests ---- */

/* Inserts in a given order, checks, deletes every other record, checks, re-inserts. */
static void
run_ordered(int order)
{
	struct env e;
	struct model m = { 0 };
	struct rec *recs;
	struct tree_info ti;
	const size_t n = 3000;

	rng_seed(0x100 + (uint64_t)order);
	env_open(&e, 64);
	recs = make_keys(n, 1);
	if (order < 0)
		for (size_t i = 0; i < n / 2; i++) {
			struct rec t = recs[i];
			recs[i] = recs[n - 1 - i];
			recs[n - 1 - i] = t;
		}
	else if (order == 0)
		shuffle(recs, n);
	insert_all(&e, &m, recs, n);
	ck_assert_uint_eq(m.n, n);
	ti = check_all(&e, &m);
	ck_assert_msg(ti.depth >= 3, "tree depth %u after %zu inserts (%u leaves)", ti.depth, n, ti.leaves);
	ck_assert(ti.lv_pages > 0);
	check_seeks(&e, &m, 300);

	/* Every other record, in key order. */
	for (size_t i = 0; i < m.n; i++) {
		struct rec r = *m.r[i];
		ck_assert_msg(TXN(&e, eng_delete(&e, e.t, r.key, r.klen)) == JET_errSuccess, "delete #%zu", i);
		model_del(&m, r.key, r.klen);
	}
	check_all(&e, &m);
	check_seeks(&e, &m, 200);
	/* Back again (duplicates of the survivors are refused). */
	shuffle(recs, n);
	insert_all(&e, &m, recs, n);
	ck_assert_uint_eq(m.n, n);
	check_all(&e, &m);
	free(recs);
	model_free(&m);
	env_close(&e);
}

START_TEST(test_sequential)
{
	run_ordered(1);
}
END_TEST

START_TEST(test_reverse)
{
	run_ordered(-1);
}
END_TEST

/* Random inserts; replaces across the inline / long boundary; deletes that
 * empty whole leaves; deleting everything; re-inserts; restart. */
START_TEST(test_random_phases)
{
	struct env e;
	struct model m = { 0 };
	struct rec *recs;
	struct tree_info ti;
	const size_t n = 4000;
	size_t from, count;

	rng_seed(0x200);
	env_open(&e, 64);
	recs = make_keys(n, 1);
	/* Two values of 100 KiB at least, whatever the seed. */
	recs[1].vlen = recs[n / 2].vlen = VAL_BIG;
	shuffle(recs, n);
	insert_all(&e, &m, recs, n);
	/* Duplicates are refused, whatever their value. */
	for (size_t i = 0; i < 50; i++) {
		struct rec r = *m.r[rng_below(m.n)];
		r.vlen = pick_vlen();
		ck_assert_int_eq(TXN(&e, eng_insert(&e, e.t, &r)), JET_errKeyDuplicate);
	}
	ti = check_all(&e, &m);
	ck_assert_msg(ti.depth >= 3, "tree depth %u after %zu inserts", ti.depth, n);

	/* Replace: inline <-> long value, and same-size rewrites. */
	for (size_t i = 0; i < 800; i++) {
		struct rec *r = m.r[rng_below(m.n)];
		struct rec nr = *r;
		nr.seed = (uint32_t)rng();
		nr.vlen = rng_below(5) == 0 ? r->vlen : pick_vlen_flip(r->vlen);
		ck_assert_msg(TXN(&e, eng_replace(&e, e.t, &nr)) == JET_errSuccess, "replace #%zu", i);
		*r = nr;
	}
	check_all(&e, &m);

	/* A run of 400 neighbours: whole leaves empty (they stay, linked and searchable). */
	from = m.n / 3;
	count = 400;
	{
		struct rec before = *m.r[from - 1], after = *m.r[from + count];
		for (size_t i = 0; i < count; i++) {
			struct rec r = *m.r[from];
			ck_assert(TXN(&e, eng_delete(&e, e.t, r.key, r.klen)) == JET_errSuccess);
			model_del(&m, r.key, r.klen);
		}
		ti = check_all(&e, &m);
		ck_assert_msg(ti.empty_leaves >= 1, "no leaf was emptied by deleting %zu neighbours (%u leaves)", count,
		    ti.leaves);
		/* Seeks into the hole cross the empty leaves. */
		expect_seek(&e, &m, before.key, before.klen, JET_bitSeekGT);
		expect_seek(&e, &m, after.key, after.klen, JET_bitSeekLT);
		for (size_t k = 0; k < 5; k++)
			expect_seek(&e, &m, after.key, after.klen > 0 ? after.klen - 1 : 0, seek_kinds[k]);
	}
	/* Then a quarter of the rest, at random. */
	for (size_t i = m.n / 4; i > 0; i--) {
		struct rec r = *m.r[rng_below(m.n)];
		ck_assert(TXN(&e, eng_delete(&e, e.t, r.key, r.klen)) == JET_errSuccess);
		model_del(&m, r.key, r.klen);
	}
	check_all(&e, &m);
	check_seeks(&e, &m, 400);

	/* Everything back, with new values. */
	for (size_t i = 0; i < n; i++) {
		recs[i].seed = (uint32_t)rng();
		recs[i].vlen = pick_vlen();
	}
	insert_all(&e, &m, recs, n);
	ck_assert_uint_eq(m.n, n);
	check_all(&e, &m);

	/* Delete everything by walking: JetDelete, then JetMove Next lands on the successor. */
	{
		size_t deleted = 0;
		JET_ERR err;
		CK(JetMove(e.ses, e.t, JET_MoveFirst, 0));
		do {
			CK(JetBeginTransaction(e.ses));
			CK(JetDelete(e.ses, e.t));
			CK(JetCommitTransaction(e.ses, JET_bitCommitLazyFlush));
			deleted++;
			err = JetMove(e.ses, e.t, JET_MoveNext, 0);
			if (err == JET_errSuccess && deleted < m.n) {
				uint8_t k[KEYMAX];
				unsigned long kl = 0;
				JetRetrieveColumn(e.ses, e.t, JET_columnidKey, k, sizeof(k), &kl, 0, NULL);
				ck_assert_msg(key_cmp(k, kl, m.r[deleted]->key, m.r[deleted]->klen) == 0,
				    "after deleting #%zu, Next is not its successor", deleted - 1);
			}
		} while (err == JET_errSuccess);
		ck_assert_msg(err == JET_errNoCurrentRecord, "walk-delete ended with %s", JetErrorName(err));
		ck_assert_uint_eq(deleted, n);
		for (size_t i = 0; i < n; i++)
			free(m.r[i]);
		m.n = 0;
	}
	ti = check_all(&e, &m);
	ck_assert_uint_eq(ti.lv_pages, 0);
	ck_assert_int_eq(JetMove(e.ses, e.t, JET_MoveLast, 0), JET_errNoCurrentRecord);
	for (size_t k = 0; k < 5; k++)
		expect_seek(&e, &m, recs[0].key, recs[0].klen, seek_kinds[k]);

	/* And again from empty, in another order. */
	shuffle(recs, n);
	insert_all(&e, &m, recs, n);
	check_all(&e, &m);

	/* Survives a clean restart. */
	env_restart(&e);
	check_all(&e, &m);
	check_seeks(&e, &m, 200);
	free(recs);
	model_free(&m);
	env_close(&e);
}
END_TEST

/* The empty key and empty values are ordinary records. */
START_TEST(test_zero_length)
{
	struct env e;
	struct model m = { 0 };
	struct rec r;
	uint8_t buf[16];
	unsigned long got = 99;

	rng_seed(0x300);
	env_open(&e, 256);
	memset(&r, 0, sizeof(r));
	/* The empty key with an empty value. */
	CK(eng_insert(&e, e.t, &r));
	model_add(&m, &r);
	ck_assert_int_eq(eng_insert(&e, e.t, &r), JET_errKeyDuplicate);
	CK(seek_eq(e.ses, e.t, NULL, 0));
	ck_assert_int_eq(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL), JET_wrnColumnNull);
	ck_assert_uint_eq(got, 0);
	got = 99;
	ck_assert_int_eq(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, NULL), JET_wrnColumnNull);
	ck_assert_uint_eq(got, 0);
	/* Keys of 1 byte 0x00 and 255 bytes of 0x00 sort after it. */
	r.klen = 1;
	r.vlen = 3000;
	r.seed = 7;
	CK(eng_insert(&e, e.t, &r));
	model_add(&m, &r);
	r.klen = KEYMAX;
	r.vlen = 0;
	CK(eng_insert(&e, e.t, &r));
	model_add(&m, &r);
	check_all(&e, &m);
	CK(JetMove(e.ses, e.t, JET_MoveFirst, 0));
	ck_assert_int_eq(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL), JET_wrnColumnNull);
	check_seeks(&e, &m, 50);
	/* The empty key's value becomes long, then empty again. */
	r = *m.r[0];
	r.vlen = VAL_BIG;
	CK(eng_replace(&e, e.t, &r));
	*m.r[0] = r;
	check_all(&e, &m);
	r.vlen = 0;
	CK(eng_replace(&e, e.t, &r));
	*m.r[0] = r;
	check_all(&e, &m);
	CK(eng_delete(&e, e.t, NULL, 0));
	model_del(&m, NULL, 0);
	ck_assert_int_eq(seek_eq(e.ses, e.t, NULL, 0), JET_errRecordNotFound);
	check_all(&e, &m);
	model_free(&m);
	env_close(&e);
}
END_TEST

/* Seek semantics over a multi-level tree, and the key-making errors. */
START_TEST(test_seek)
{
	struct env e;
	struct model m = { 0 };
	struct rec *recs;
	uint8_t big[KEYMAX + 1];
	const size_t n = 1500;
	JET_TABLEID t2;

	rng_seed(0x400);
	env_open(&e, 128);
	/* An empty table: nothing anywhere. */
	for (size_t k = 0; k < 5; k++)
		expect_seek(&e, &m, (const uint8_t *)"k", 1, seek_kinds[k]);
	recs = make_keys(n, 0);
	for (size_t i = 0; i < n; i++)
		recs[i].vlen = rng_below(400);
	shuffle(recs, n);
	insert_all(&e, &m, recs, n);
	check_all(&e, &m);
	check_seeks(&e, &m, 3000);
	/* Every existing key, in every mode. */
	for (size_t i = 0; i < m.n; i += 7)
		for (size_t k = 0; k < 5; k++)
			expect_seek(&e, &m, m.r[i]->key, m.r[i]->klen, seek_kinds[k]);

	/* Key-making errors. */
	CK(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, 0, &t2));
	ck_assert_int_eq(JetSeek(e.ses, t2, JET_bitSeekEQ), JET_errKeyNotMade);
	ck_assert_int_eq(JetSeek(e.ses, t2, JET_bitSeekGE), JET_errKeyNotMade);
	ck_assert_int_eq(JetMakeKey(e.ses, t2, "ab", 2, 0), JET_errKeyNotMade);
	ck_assert_int_eq(JetSeek(e.ses, t2, JET_bitSeekEQ), JET_errKeyNotMade);
	/* A seek uses the key up. */
	CK(JetMakeKey(e.ses, t2, m.r[5]->key, (unsigned long)m.r[5]->klen, JET_bitNewKey | JET_bitKeyDataZeroLength));
	CK(JetSeek(e.ses, t2, JET_bitSeekEQ));
	ck_assert_int_eq(JetSeek(e.ses, t2, JET_bitSeekEQ), JET_errKeyNotMade);
	/* Appending builds the key piece by piece. */
	{
		const struct rec *r = m.r[m.n / 2];
		uint8_t got[KEYMAX];
		unsigned long gl = 0;
		size_t half = r->klen / 2;
		CK(JetMakeKey(e.ses, t2, r->key, (unsigned long)half, JET_bitNewKey));
		CK(JetMakeKey(e.ses, t2, r->key + half, (unsigned long)(r->klen - half), 0));
		CK(JetSeek(e.ses, t2, JET_bitSeekEQ));
		CK(JetRetrieveColumn(e.ses, t2, JET_columnidKey, got, sizeof(got), &gl, 0, NULL));
		ck_assert(key_cmp(got, gl, r->key, r->klen) == 0);
		/* JET_bitNewKey starts over. */
		CK(JetMakeKey(e.ses, t2, "zzz", 3, JET_bitNewKey));
		CK(JetMakeKey(e.ses, t2, r->key, (unsigned long)r->klen, JET_bitNewKey));
		CK(JetSeek(e.ses, t2, JET_bitSeekEQ));
	}
	memset(big, 'k', sizeof(big));
	ck_assert_int_eq(JetMakeKey(e.ses, t2, big, KEYMAX + 1, JET_bitNewKey), JET_errKeyTooBig);
	CK(JetMakeKey(e.ses, t2, big, KEYMAX, JET_bitNewKey));
	ck_assert_int_eq(JetMakeKey(e.ses, t2, big, 1, 0), JET_errKeyTooBig);
	CK(JetMakeKey(e.ses, t2, big, 200, JET_bitNewKey));
	ck_assert_int_eq(JetMakeKey(e.ses, t2, big, 56, 0), JET_errKeyTooBig);
	CK(JetMakeKey(e.ses, t2, big, 55, 0));
	/* A record with a 256-byte key cannot be made either. */
	CK(JetPrepareUpdate(e.ses, t2, JET_prepInsert));
	ck_assert_int_eq(JetSetColumn(e.ses, t2, JET_columnidKey, big, KEYMAX + 1, 0, NULL), JET_errKeyTooBig);
	CK(JetSetColumn(e.ses, t2, JET_columnidKey, big, KEYMAX, 0, NULL));
	fill_val(e.buf, 0, 1);
	CK(JetSetColumn(e.ses, t2, JET_columnidValue, e.buf, 1, 0, NULL));
	CK(JetUpdate(e.ses, t2, NULL, 0, NULL));
	{
		struct rec r;
		memset(&r, 0, sizeof(r));
		memcpy(r.key, big, KEYMAX);
		r.klen = KEYMAX;
		r.vlen = 1;
		model_add(&m, &r);
	}
	/* Not a seek mode, or two at once. */
	CK(JetMakeKey(e.ses, t2, "a", 1, JET_bitNewKey));
	ck_assert_int_eq(JetSeek(e.ses, t2, 0), JET_errInvalidGrbit);
	CK(JetMakeKey(e.ses, t2, "a", 1, JET_bitNewKey));
	ck_assert_int_eq(JetSeek(e.ses, t2, JET_bitSeekEQ | JET_bitSeekGE), JET_errInvalidGrbit);
	CK(JetCloseTable(e.ses, t2));
	check_all(&e, &m);
	free(recs);
	model_free(&m);
	env_close(&e);
}
END_TEST

/* A database that only ever saw JetTerm / JetInit (and a second restart). */
START_TEST(test_persist)
{
	struct env e;
	struct model m = { 0 };
	struct rec *recs;
	const size_t n = 1500;

	rng_seed(0x500);
	env_open(&e, 64);
	recs = make_keys(n, 1);
	shuffle(recs, n);
	insert_all(&e, &m, recs, n / 2);
	env_restart(&e);
	check_all(&e, &m);
	insert_all(&e, &m, recs + n / 2, n - n / 2);
	for (size_t i = 0; i < 300; i++) {
		struct rec *r = m.r[rng_below(m.n)];
		struct rec nr = *r;
		nr.seed = (uint32_t)rng();
		nr.vlen = pick_vlen_flip(r->vlen);
		CK(TXN(&e, eng_replace(&e, e.t, &nr)));
		*r = nr;
	}
	for (size_t i = 0; i < 300; i++) {
		struct rec r = *m.r[rng_below(m.n)];
		CK(TXN(&e, eng_delete(&e, e.t, r.key, r.klen)));
		model_del(&m, r.key, r.klen);
	}
	env_restart(&e);
	check_all(&e, &m);
	env_restart(&e);
	check_all(&e, &m);
	check_seeks(&e, &m, 200);
	free(recs);
	model_free(&m);
	env_close(&e);
}
END_TEST

static off_t
file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* JetDeleteTable frees every page; a new table with the same data reuses them. */
START_TEST(test_delete_table_reuse)
{
	struct env e;
	struct model m = { 0 };
	struct rec *recs;
	struct tree_info ti1, ti2, ti3;
	const size_t n = 600;
	JET_TABLEID t2;
	off_t size1, size2;

	rng_seed(0x600);
	env_open(&e, 1024);
	CK(JetSetSystemParameter(&e.inst, 0, JET_paramDbExtensionSize, 1, NULL));
	recs = make_keys(n, 1);
	for (size_t i = 0; i < n; i++)
		recs[i].vlen = recs[i].vlen > 40000 ? 40000 : recs[i].vlen;
	shuffle(recs, n);
	insert_all(&e, &m, recs, n);
	ti1 = check_all(&e, &m);
	size1 = file_size(e.dbpath);
	ck_assert(ti1.depth >= 2 && ti1.lv_pages > 0);

	/* Not while a cursor is open on it. */
	ck_assert_int_eq(JetDeleteTable(e.ses, e.dbid, "t"), JET_errTableInUse);
	CK(JetCloseTable(e.ses, e.t));
	CK(JetDeleteTable(e.ses, e.dbid, "t"));
	ck_assert_int_eq(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, 0, &t2), JET_errObjectNotFound);
	ck_assert_int_eq(JetDeleteTable(e.ses, e.dbid, "t"), JET_errObjectNotFound);
	check_verify(&e, 0, 0);
	ti2 = census(&e, NULL);
	ck_assert_uint_eq(ti2.pgno_last, ti1.pgno_last);
	/* Every page of the table went to the free list. */
	ck_assert_msg(ti2.free_pages >= ti1.free_pages + ti1.leaves + ti1.internals + ti1.lv_pages,
	    "%u pages free after the delete, %u before + %u tree + %u LV", ti2.free_pages, ti1.free_pages,
	    ti1.leaves + ti1.internals, ti1.lv_pages);

	/* The same data again, in a new table: no new page. */
	CK(JetCreateTable(e.ses, e.dbid, "t2", 0, 0, &e.t));
	model_free(&m);
	insert_all(&e, &m, recs, n);
	check_scan(&e, e.t, &m);
	check_verify(&e, 1, m.n);
	ti3 = census(&e, "t2");
	size2 = file_size(e.dbpath);
	ck_assert_msg(ti3.pgno_last <= ti1.pgno_last, "pgno_last grew from %u to %u: freed pages not reused",
	    ti1.pgno_last, ti3.pgno_last);
	ck_assert_msg(size2 <= size1, "the database grew from %lld to %lld bytes", (long long)size1, (long long)size2);
	free(recs);
	model_free(&m);
	env_close(&e);
}
END_TEST

/* JetDeleteTable of a table bigger than the cache (ESE deletes tables of any size). */
START_TEST(test_delete_big_table)
{
	struct env e;
	struct model m = { 0 };
	struct rec *recs;
	struct tree_info ti;
	const size_t n = 400;
	JET_ERR err;

	rng_seed(0x700);
	env_open(&e, 64);
	recs = make_keys(n, 0);
	for (size_t i = 0; i < n; i++)
		recs[i].vlen = 9000;	/* two LV pages each: ~800 pages, 12 times the cache */
	insert_all(&e, &m, recs, n);
	ti = check_all(&e, &m);
	ck_assert(ti.lv_pages >= 2 * n);
	CK(JetCloseTable(e.ses, e.t));
	err = JetDeleteTable(e.ses, e.dbid, "t");
	ck_assert_msg(err == JET_errSuccess, "JetDeleteTable of a %u-page table with a 64-page cache -> %s",
	    ti.leaves + ti.internals + ti.lv_pages, JetErrorName(err));
	check_verify(&e, 0, 0);
	census(&e, NULL);
	free(recs);
	model_free(&m);
	env_close(&e);
}
END_TEST

/*
 * An update that fails inside a transaction (here: the transaction touches
 * more pages than the cache can hold) must leave no trace (ESE's updates are
 * atomic): the transaction goes on and commits the updates that succeeded,
 * and the tree and the space map stay consistent.  Each size fills the
 * transaction with inserts of that size until one fails, commits, checks.
 */
static void
run_failed_updates(const size_t *sizes, size_t nsizes, uint64_t salt)
{
	struct env e;
	struct model m = { 0 };
	struct rec *recs;
	const size_t n = 2000;
	size_t next = 0;

	rng_seed(salt);
	env_open(&e, 64);
	recs = make_keys(n, 0);
	shuffle(recs, n);
	/* Some records committed first, so the tree has depth. */
	for (size_t i = 0; i < 300; i++)
		recs[i].vlen = 100 + rng_below(500);
	insert_all(&e, &m, recs, 300);
	next = 300;
	for (size_t k = 0; k < nsizes; k++) {
		size_t first = next;
		JET_ERR err = JET_errSuccess;
		CK(JetBeginTransaction(e.ses));
		while (next < n) {
			recs[next].vlen = sizes[k];
			if ((err = eng_insert(&e, e.t, &recs[next])) < 0)
				break;
			next++;
		}
		ck_assert_msg(next < n, "a transaction of %zu inserts fit in a 64-page cache", next - first);
		ck_assert_msg(err == JET_errOutOfBuffers || err == JET_errVersionStoreOutOfMemory,
		    "too big a transaction -> %s", JetErrorName(err));
		/* The failed record is not there; the others of the transaction are. */
		err = seek_eq(e.ses, e.t, recs[next].key, recs[next].klen);
		ck_assert_msg(err == JET_errRecordNotFound, "%zu-byte values: the update that failed is in the table (seek -> %s)",
		    sizes[k], JetErrorName(err));
		CK(JetCommitTransaction(e.ses, 0));
		for (size_t i = first; i < next; i++)
			model_add(&m, &recs[i]);
		next++;		/* the one that failed */
		check_all(&e, &m);
	}
	free(recs);
	model_free(&m);
	env_close(&e);
}

/* Inline values: the failure falls in a leaf split or in its parent's split. */
START_TEST(test_failed_update_split)
{
	static const size_t sizes[] = { 1500, 700, 1900 };

	run_failed_updates(sizes, sizeof(sizes) / sizeof(sizes[0]), 0x800);
}
END_TEST

/* Values of 2 to 8 pages: the failure falls at every point of a long-value chain. */
START_TEST(test_failed_update_lv)
{
	static const size_t sizes[] = { 9000, 17000, 25000, 33000, 41000, 49000, 57000 };

	run_failed_updates(sizes, sizeof(sizes) / sizeof(sizes[0]), 0x801);
}
END_TEST

/* jet.h documents JET_errVersionStoreOutOfMemory for a transaction larger than the cache. */
START_TEST(test_txn_too_big_error)
{
	struct env e;
	struct rec r;
	JET_ERR err = JET_errSuccess;

	rng_seed(0x900);
	env_open(&e, 64);
	memset(&r, 0, sizeof(r));
	CK(JetBeginTransaction(e.ses));
	for (unsigned i = 0; i < 200 && err >= 0; i++) {
		r.klen = 4;
		put32(r.key, __builtin_bswap32(i));
		r.vlen = 20000;
		r.seed = i;
		err = eng_insert(&e, e.t, &r);
	}
	ck_assert_msg(err == JET_errVersionStoreOutOfMemory,
	    "a transaction bigger than the cache -> %s, jet.h says JET_errVersionStoreOutOfMemory", JetErrorName(err));
	CK(JetRollback(e.ses, 0));
	env_close(&e);
}
END_TEST

static Suite *
btree_suite(void)
{
	Suite *s = suite_create("btree");

	tu_add_test(s, "sequential", test_sequential, 120);
	tu_add_test(s, "reverse", test_reverse, 120);
	tu_add_test(s, "random_phases", test_random_phases, 180);
	tu_add_test(s, "zero_length", test_zero_length, 60);
	tu_add_test(s, "seek", test_seek, 60);
	tu_add_test(s, "persist", test_persist, 120);
	tu_add_test(s, "delete_table_reuse", test_delete_table_reuse, 60);
	tu_add_test(s, "delete_big_table", test_delete_big_table, 60);
	tu_add_test(s, "failed_update_split", test_failed_update_split, 60);
	tu_add_test(s, "failed_update_lv", test_failed_update_lv, 60);
	tu_add_test(s, "txn_too_big_error", test_txn_too_big_error, 60);
	return s;
}

int
main(void)
{
	return tu_run(btree_suite());
}
