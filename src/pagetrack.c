/*
 * pagetrack.c -- which database pages each log generation changed (issue 16).
 *
 * The log is the source of truth; a page summary is derived data that can be
 * rebuilt from its generation's log and that outlives it (so a delta after a
 * truncating backup or circular logging still knows what changed).
 *
 * A SUMMARY is the file <base>pXXXXX.jps beside <base>XXXXX.log (same
 * generation digits).  It lists the pages changed by every record that
 * STARTS in the generation: LSN in [first_lsn, end_lsn), the same rule by
 * which the reader assigns a record to a generation (log.c).  Little-endian:
 *      0 u32 CRC-32C of bytes 4..size-1
 *      4 u32 magic 'JPTS'      8 u32 version (1)     12 u32 generation
 *     16 u32 file size        20 u32 number of attach-map entries
 *     24 u64 first LSN of the generation (its header's first_lsn)
 *     32 u64 end LSN (its END segment's LSN: the next generation's first)
 *     40 log signature (28)   68 u32 number of database entries
 *     72 the attach map as of end_lsn, per entry: u32 dbid, u32 state
 *        (1 attached, 2 unknown), database signature (28)
 *        then per database entry: u32 dbid, u32 state, database signature,
 *        u32 page count, then that many (u32 pgno, u64 LSN of the last
 *        record of the generation that changed it), ascending by pgno.
 * A database is identified by its signature (dbids are reused).  A change to
 * a dbid whose attachment is not known (its attach record is in a generation
 * whose log and summary are both gone) is kept under state 2, "unknown": a
 * query of any database across that generation fails closed.
 *
 * WHEN.  The log writer (log.c, the one flusher) notes each record's pages as
 * it writes the segment the record starts in; a roll writes the closed
 * generation's summary after its END segment and before the next generation
 * is renamed into place (tmp, fsync, rename, fsync dir).  A failure to
 * write it is a warning, not a stop: the log is still there.
 *
 * INVARIANTS
 *  P1. A generation's log is deleted (circular logging, JetTruncateLog) only
 *      after pagetrack_ensure found or rebuilt its valid summary; if it
 *      cannot, the log stays.  So a generation without a log has a summary
 *      unless its log was lost outside the engine -- and that is a gap.
 *  P2. A summary is trusted only with the right magic, version, CRC,
 *      generation and log signature; anything else is rebuilt from its log
 *      or, without one, reported as a gap: never reset, never skipped.
 *  P3. At every start (log_open_for_run) every closed generation whose log
 *      exists and whose summary is missing or invalid is rebuilt, oldest
 *      first (a crash between a roll and its summary, old log sets).  A
 *      clean shutdown saves the current generation's summary up to the
 *      log's end (pagetrack_save_current); the start that closes it there
 *      takes it, any other end makes it invalid.
 *  P4. A run with logging off (JET_paramRecovery off) leaves the durable
 *      marker <base>nolog.jps; while it exists every query fails closed.
 *      Each database attached in such a run loses the backups its header
 *      recorded, before the run can change it (dbfile_attach), so once a
 *      full backup is recorded in every attached database the marker has
 *      done its work and goes (pagetrack_full_recorded): a database that
 *      was changed unlogged has no base older than that run.
 *  P5. Summaries are deleted only below the oldest full backup's gen_low of
 *      every attached database and the checkpoint's generation, and only
 *      once their log is gone (pagetrack_prune).
 *
 * WRITES THAT BYPASS THE LOG.  Page writes go through the cache (cache.c),
 * which writes only pages changed by logged transactions or redo; space.c
 * logs every allocation, including pages past the old pgno_last.  Two writes
 * are not logged: the database header (pages 0 and 1 of the file: dbhdr.c,
 * never a page number here) and the file's growth ahead of pgno_last
 * (dbfile_ensure_pages), which adds zero pages only; the file never shrinks.
 * A delta therefore carries the header and the file's size itself.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

#include "format.h"

enum pt_state { PT_DETACHED = 0, PT_ATTACHED = 1, PT_UNKNOWN = 2 };

struct pt_page {
	uint32_t pgno;
	lsn_t lsn;			/* last record of the generation that changed it */
};

struct pt_db {
	uint32_t dbid;
	enum pt_state state;
	struct jet_sig sign_db;
	struct pt_page *pages;
	size_t npages, cap;
	size_t sorted;			/* pages[0..sorted) are sorted and unique */
};

struct pt_slot {
	enum pt_state state;
	struct jet_sig sign_db;
};

struct pagetrack_gen {
	uint32_t gen;
	lsn_t first_lsn, end_lsn;
	struct jet_sig sign_log;
	uint32_t page_size;
	struct pt_slot map[JET_MAX_ATTACHED_DATABASES + 1];	/* by dbid, as of the last record noted */
	struct pt_db *dbs;
	size_t ndbs;
};

/* ---- the set of one generation ---- */

static int
pt_page_cmp(const void *a, const void *b)
{
	const struct pt_page *x = a, *y = b;

	if (x->pgno != y->pgno)
		return x->pgno < y->pgno ? -1 : 1;
	return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

/* Sorts and keeps one entry per page, the one with the highest LSN. */
static void
pt_db_compact(struct pt_db *d)
{
	size_t k = 0;

	if (d->sorted == d->npages)
		return;
	qsort(d->pages, d->npages, sizeof(*d->pages), pt_page_cmp);
	for (size_t i = 0; i < d->npages; i++) {
		if (k > 0 && d->pages[k - 1].pgno == d->pages[i].pgno)
			k--;
		d->pages[k++] = d->pages[i];
	}
	d->npages = d->sorted = k;
}

static JET_ERR
pt_db_add(struct pt_db *d, uint32_t pgno, lsn_t lsn)
{
	if (d->npages == d->cap) {
		size_t ncap;
		struct pt_page *n;

		pt_db_compact(d);
		if (d->npages < d->cap / 2)
			goto add;
		ncap = d->cap ? d->cap * 2 : 256;
		if ((n = realloc(d->pages, ncap * sizeof(*n))) == NULL)
			return JET_errOutOfMemory;
		d->pages = n;
		d->cap = ncap;
	}
add:
	d->pages[d->npages].pgno = pgno;
	d->pages[d->npages].lsn = lsn;
	d->npages++;
	return JET_errSuccess;
}

static struct pt_db *
pt_find_db(struct pagetrack_gen *g, uint32_t dbid)
{
	const struct pt_slot *slot = &g->map[dbid];
	enum pt_state state = slot->state == PT_ATTACHED ? PT_ATTACHED : PT_UNKNOWN;
	struct pt_db *n;

	for (size_t i = 0; i < g->ndbs; i++)
		if (g->dbs[i].dbid == dbid && g->dbs[i].state == state &&
		    (state == PT_UNKNOWN || dbhdr_sig_equal(&g->dbs[i].sign_db, &slot->sign_db)))
			return &g->dbs[i];
	if ((n = realloc(g->dbs, (g->ndbs + 1) * sizeof(*n))) == NULL)
		return NULL;
	g->dbs = n;
	n = &g->dbs[g->ndbs++];
	memset(n, 0, sizeof(*n));
	n->dbid = dbid;
	n->state = state;
	if (state == PT_ATTACHED)
		n->sign_db = slot->sign_db;
	return n;
}

static void
pt_gen_clear(struct pagetrack_gen *g)
{
	for (size_t i = 0; i < g->ndbs; i++)
		free(g->dbs[i].pages);
	free(g->dbs);
	g->dbs = NULL;
	g->ndbs = 0;
}

static void
pt_gen_free(struct pagetrack_gen *g)
{
	if (g != NULL)
		pt_gen_clear(g);
	free(g);
}

/*
 * Notes the pages record rec (whole, starting at lsn) changes, and the
 * attachments it makes; version is its generation's log format.
 */
static JET_ERR
pt_note(struct pagetrack_gen *g, const uint8_t *rec, size_t len, uint32_t version, lsn_t lsn)
{
	uint64_t time;
	size_t pos;
	uint32_t nops, dbid;

	switch (rec[4]) {
	case LREC_CREATEDB:
	case LREC_ATTACH:
		if (len < LREC_HDR_SIZE + 8 + SIG_SIZE || (dbid = rec[LREC_HDR_SIZE]) < 1 ||
		    dbid > JET_MAX_ATTACHED_DATABASES)
			return JET_errLogFileCorrupt;
		g->map[dbid].state = PT_ATTACHED;
		dbhdr_sig_decode(rec + LREC_HDR_SIZE + 8, &g->map[dbid].sign_db);
		return JET_errSuccess;
	case LREC_DETACH:
		if (len < LREC_HDR_SIZE + 1 || (dbid = rec[LREC_HDR_SIZE]) < 1 || dbid > JET_MAX_ATTACHED_DATABASES)
			return JET_errLogFileCorrupt;
		g->map[dbid].state = PT_DETACHED;
		return JET_errSuccess;
	case LREC_TXN:
		break;
	default:
		return JET_errSuccess;	/* backup marks change a header only */
	}
	if ((pos = log_txn_ops_offset(rec, len, version, &time)) == 0 || pos + 4 > len)
		return JET_errLogFileCorrupt;
	nops = get32(rec + pos);
	pos += 4;
	for (uint32_t i = 0; i < nops; i++) {
		const uint8_t *op = rec + pos;
		struct pt_db *d;
		size_t used = 0;

		if (pos + LOP_HDR_SIZE > len || op[0] < 1 || op[0] > JET_MAX_ATTACHED_DATABASES)
			return JET_errLogFileCorrupt;
		if (op[1] == LOP_IMAGE)
			used = g->page_size;
		else
			for (unsigned r = 0, n = get16(op + 2); r < n; r++) {
				if (pos + LOP_HDR_SIZE + used + 4 > len)
					return JET_errLogFileCorrupt;
				used += 4 + get16(op + LOP_HDR_SIZE + used + 2);
			}
		pos += LOP_HDR_SIZE + used;
		if (pos > len)
			return JET_errLogFileCorrupt;
		if ((d = pt_find_db(g, op[0])) == NULL)
			return JET_errOutOfMemory;
		RET(pt_db_add(d, get32(op + 4), lsn));
	}
	return JET_errSuccess;
}

/* ---- the summary file ---- */

#define PT_OFF_NMAP 20
#define PT_OFF_FIRST 24
#define PT_OFF_END 32
#define PT_OFF_SIGN 40
#define PT_OFF_NDBS 68
#define PT_HDR 72
#define PT_MAP_ENTRY (8 + SIG_SIZE)
#define PT_DB_ENTRY (12 + SIG_SIZE)
#define PT_PAGE 12

/*
 * <base>pXXXXX.jps: the log's name with a 'p' after the base (so a name
 * pattern meant for the logs, <base>0..., never takes a summary for one).
 */
static char *
pt_summary_path(struct jet_inst *inst, uint32_t gen)
{
	char *log = log_gen_path(inst, gen), *p = NULL;
	size_t len, at;

	if (log != NULL && (p = malloc((len = strlen(log)) + 2)) != NULL) {
		at = len - strlen(strrchr(log, '/') != NULL ? strrchr(log, '/') + 1 : log) + strlen(inst->p.base_name);
		memcpy(p, log, at);
		p[at] = 'p';
		memcpy(p + at + 1, log + at, len - at - 3);
		memcpy(p + len - 2, "jps", 4);
	}
	free(log);
	return p;
}

static char *
pt_nolog_path(struct jet_inst *inst)
{
	char name[32];

	snprintf(name, sizeof(name), "%snolog.jps", inst->p.base_name);
	return os_path_join(inst->p.log_path, name);
}

static JET_ERR
pt_encode(struct pagetrack_gen *g, uint8_t **bufp, size_t *lenp)
{
	size_t size = PT_HDR, nmap = 0, pos;
	uint8_t *buf;

	for (uint32_t id = 1; id <= JET_MAX_ATTACHED_DATABASES; id++)
		nmap += g->map[id].state != PT_DETACHED;
	size += nmap * PT_MAP_ENTRY;
	for (size_t i = 0; i < g->ndbs; i++) {
		pt_db_compact(&g->dbs[i]);
		size += PT_DB_ENTRY + g->dbs[i].npages * PT_PAGE;
	}
	if (size > UINT32_MAX)
		return JET_errOutOfMemory;
	if ((buf = calloc(1, size)) == NULL)
		return JET_errOutOfMemory;
	put32(buf + FMT_OFF_MAGIC, PT_MAGIC);
	put32(buf + FMT_OFF_VERSION, PT_VERSION);
	put32(buf + PT_OFF_GEN, g->gen);
	put32(buf + PT_OFF_SIZE, (uint32_t)size);
	put32(buf + PT_OFF_NMAP, (uint32_t)nmap);
	put64(buf + PT_OFF_FIRST, g->first_lsn);
	put64(buf + PT_OFF_END, g->end_lsn);
	dbhdr_sig_encode(&g->sign_log, buf + PT_OFF_SIGN);
	put32(buf + PT_OFF_NDBS, (uint32_t)g->ndbs);
	pos = PT_HDR;
	for (uint32_t id = 1; id <= JET_MAX_ATTACHED_DATABASES; id++) {
		if (g->map[id].state == PT_DETACHED)
			continue;
		put32(buf + pos, id);
		put32(buf + pos + 4, g->map[id].state);
		dbhdr_sig_encode(&g->map[id].sign_db, buf + pos + 8);
		pos += PT_MAP_ENTRY;
	}
	for (size_t i = 0; i < g->ndbs; i++) {
		const struct pt_db *d = &g->dbs[i];
		put32(buf + pos, d->dbid);
		put32(buf + pos + 4, d->state);
		dbhdr_sig_encode(&d->sign_db, buf + pos + 8);
		put32(buf + pos + 8 + SIG_SIZE, (uint32_t)d->npages);
		pos += PT_DB_ENTRY;
		for (size_t k = 0; k < d->npages; k++, pos += PT_PAGE) {
			put32(buf + pos, d->pages[k].pgno);
			put64(buf + pos + 4, d->pages[k].lsn);
		}
	}
	put32(buf, crc32c(0, buf + 4, size - 4));
	*bufp = buf;
	*lenp = size;
	return JET_errSuccess;
}

/* Decodes and checks a summary (P2); *whyp says what is wrong. */
static JET_ERR
pt_decode(const uint8_t *buf, size_t size, uint32_t gen, const struct jet_sig *sign_log, struct pagetrack_gen *g,
    const char **whyp)
{
	size_t nmap, pos = PT_HDR;
	struct jet_sig sign;

	*whyp = "it is damaged";
	memset(g, 0, sizeof(*g));
	if (size < PT_HDR || get32(buf + FMT_OFF_MAGIC) != PT_MAGIC || get32(buf + FMT_OFF_VERSION) != PT_VERSION ||
	    get32(buf + PT_OFF_SIZE) != size || get32(buf) != crc32c(0, buf + 4, size - 4))
		return JET_errLogFileCorrupt;
	dbhdr_sig_decode(buf + PT_OFF_SIGN, &sign);
	if (!dbhdr_sig_equal(&sign, sign_log)) {
		*whyp = "it belongs to another log set (log signature)";
		return JET_errBadLogSignature;
	}
	if (get32(buf + PT_OFF_GEN) != gen) {
		*whyp = "it names another generation";
		return JET_errLogFileCorrupt;
	}
	g->gen = gen;
	g->sign_log = sign;
	g->first_lsn = get64(buf + PT_OFF_FIRST);
	g->end_lsn = get64(buf + PT_OFF_END);
	nmap = get32(buf + PT_OFF_NMAP);
	if (g->end_lsn < g->first_lsn || nmap > JET_MAX_ATTACHED_DATABASES || pos + nmap * PT_MAP_ENTRY > size)
		return JET_errLogFileCorrupt;
	for (size_t i = 0; i < nmap; i++, pos += PT_MAP_ENTRY) {
		uint32_t id = get32(buf + pos), state = get32(buf + pos + 4);
		if (id < 1 || id > JET_MAX_ATTACHED_DATABASES || (state != PT_ATTACHED && state != PT_UNKNOWN))
			return JET_errLogFileCorrupt;
		g->map[id].state = state;
		dbhdr_sig_decode(buf + pos + 8, &g->map[id].sign_db);
	}
	for (uint32_t i = 0, n = get32(buf + PT_OFF_NDBS); i < n; i++) {
		struct pt_db *d;
		size_t np;
		if (pos + PT_DB_ENTRY > size || (np = get32(buf + pos + 8 + SIG_SIZE)) > (size - pos) / PT_PAGE)
			goto corrupt;
		if ((d = realloc(g->dbs, (g->ndbs + 1) * sizeof(*d))) == NULL) {
			pt_gen_clear(g);
			return JET_errOutOfMemory;
		}
		g->dbs = d;
		d = &g->dbs[g->ndbs++];
		memset(d, 0, sizeof(*d));
		d->dbid = get32(buf + pos);
		d->state = get32(buf + pos + 4);
		dbhdr_sig_decode(buf + pos + 8, &d->sign_db);
		pos += PT_DB_ENTRY;
		if (pos + np * PT_PAGE > size || (np > 0 && (d->pages = malloc(np * sizeof(*d->pages))) == NULL))
			goto corrupt;
		for (size_t k = 0; k < np; k++, pos += PT_PAGE) {
			d->pages[k].pgno = get32(buf + pos);
			d->pages[k].lsn = get64(buf + pos + 4);
		}
		d->npages = d->sorted = d->cap = np;
	}
	if (pos != size)
		goto corrupt;
	return JET_errSuccess;
corrupt:
	pt_gen_clear(g);
	return JET_errLogFileCorrupt;
}

/* Replaces the summary of g->gen atomically and durably. */
static JET_ERR
pt_write(struct jet_inst *inst, struct pagetrack_gen *g)
{
	char *path = pt_summary_path(inst, g->gen), *tmp = NULL;
	uint8_t *buf = NULL;
	size_t len;
	os_file *f = NULL;
	JET_ERR err;

	if (path == NULL || (tmp = malloc(strlen(path) + 5)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	sprintf(tmp, "%s.tmp", path);
	ERR(pt_encode(g, &buf, &len));
	if (os_exists(tmp))
		ERR(os_unlink(tmp));
	ERR(os_open(tmp, OS_WRITE | OS_CREATE | OS_EXCL, &f));
	ERR(os_pwrite(f, buf, len, 0));
	ERR(os_fsync(f));
	os_close(f);
	f = NULL;
	ERR(os_rename(tmp, path));
	err = os_fsync_dir(inst->p.log_path);
err:
	os_close(f);
	free(buf);
	free(tmp);
	free(path);
	return err;
}

/* Reads and checks the summary of gen (JET_errFileNotFound: none). */
static JET_ERR
pt_read(struct jet_inst *inst, uint32_t gen, struct pagetrack_gen *g, const char **whyp)
{
	char *path = pt_summary_path(inst, gen);
	os_file *f = NULL;
	uint8_t *buf = NULL;
	uint64_t size;
	JET_ERR err;

	*whyp = "it is missing";
	memset(g, 0, sizeof(*g));
	if (path == NULL)
		return JET_errOutOfMemory;
	if (!os_exists(path)) {
		err = JET_errFileNotFound;
		goto err;
	}
	*whyp = "it cannot be read";
	ERR(os_open(path, OS_READ, &f));
	ERR(os_size(f, &size));
	if (size > UINT32_MAX || (buf = malloc(size > 0 ? size : 1)) == NULL) {
		err = size > UINT32_MAX ? JET_errLogFileCorrupt : JET_errOutOfMemory;
		goto err;
	}
	ERR(os_pread(f, buf, size, 0));
	err = pt_decode(buf, size, gen, &inst->log.sign_log, g, whyp);
err:
	os_close(f);
	free(buf);
	free(path);
	return err;
}

/* The first LSN of generation gen's log, from its header (0: no such log). */
static lsn_t
pt_log_first_lsn(struct jet_inst *inst, uint32_t gen)
{
	char *path = log_gen_path(inst, gen);
	struct log_file_header h;
	lsn_t lsn = 0;

	if (path != NULL && os_exists(path) && log_verify_path(path, gen, &inst->log.sign_log, &h) >= 0)
		lsn = h.first_lsn;
	free(path);
	return lsn;
}

/*
 * Builds the summary of closed generation gen from its log into g: the
 * attach map it starts with is the previous generation's (its summary, else
 * "unknown" for every dbid, but empty for generation 1).  end_lsn: where it
 * ends (0: the next generation's first LSN).
 */
static JET_ERR
pt_rebuild(struct jet_inst *inst, uint32_t gen, lsn_t end_lsn, struct pagetrack_gen *g)
{
	struct pagetrack_gen prev;
	struct log_reader r;
	const char *why;
	JET_ERR err;
	int rc;

	memset(g, 0, sizeof(*g));
	g->gen = gen;
	g->sign_log = inst->log.sign_log;
	g->page_size = (uint32_t)inst->p.page_size;
	if ((g->first_lsn = pt_log_first_lsn(inst, gen)) == 0)
		return JET_errMissingLogFile;
	g->end_lsn = end_lsn != 0 ? end_lsn : pt_log_first_lsn(inst, gen + 1);
	if (g->end_lsn == 0)
		return JET_errMissingLogFile;
	if (gen > 1 && pt_read(inst, gen - 1, &prev, &why) >= 0) {
		memcpy(g->map, prev.map, sizeof(g->map));
		pt_gen_clear(&prev);
	} else if (gen > 1)
		for (uint32_t id = 1; id <= JET_MAX_ATTACHED_DATABASES; id++)
			g->map[id].state = PT_UNKNOWN;
	RET(log_reader_open(&r, inst, inst->p.log_path, inst->p.base_name, gen, 0, &inst->log.sign_log));
	for (;;) {
		uint8_t *rec;
		size_t len;
		lsn_t start;
		if ((rc = log_reader_next(&r, &rec, &len, &start, &err)) <= 0)
			break;
		if (start >= g->end_lsn)
			break;
		if (start >= g->first_lsn && (err = pt_note(g, rec, len, r.rec_version, start)) < 0)
			break;
	}
	log_reader_close(&r);
	if (rc < 0 || err < 0) {
		pt_gen_clear(g);
		return err < 0 ? err : JET_errLogFileCorrupt;
	}
	return JET_errSuccess;
}

/*
 * Loads the valid summary of closed generation gen, rebuilding (and
 * rewriting) it from its log when it is missing or invalid (P2).  On a gap,
 * why says what is wrong.
 */
static JET_ERR
pt_load(struct jet_inst *inst, uint32_t gen, lsn_t end_lsn, struct pagetrack_gen *g, char *why, size_t cb)
{
	const char *bad;
	JET_ERR err = pt_read(inst, gen, g, &bad), rebuilt;

	if (err >= 0 && end_lsn != 0 && g->end_lsn != end_lsn) {
		/* Saved while the generation was current (pagetrack_save_current), and it went on. */
		pt_gen_clear(g);
		bad = "it ends before its generation does";
		err = JET_errLogFileCorrupt;
	}
	if (err >= 0 || err == JET_errOutOfMemory)
		return err;
	if ((rebuilt = pt_rebuild(inst, gen, end_lsn, g)) < 0) {
		snprintf(why, cb, "generation %u has no valid page summary (%s) and its log cannot be read (%s)", gen,
		    bad, JetErrorName(rebuilt));
		return err == JET_errFileNotFound ? JET_errMissingLogFile : err;
	}
	if (err != JET_errFileNotFound)
		event_log(inst, EVENT_WARNING, 240, "the page summary of log generation %u was rebuilt from its log: %s",
		    gen, bad);
	if ((err = pt_write(inst, g)) < 0)
		event_log(inst, EVENT_WARNING, 241, "cannot write the page summary of log generation %u: %s", gen,
		    JetErrorString(err));
	return JET_errSuccess;
}

/* ---- the engine's calls ---- */

/*
 * Starts tracking the generation gen that begins at first_lsn, after every
 * earlier one was closed (P3, P4).  Logging off: leaves the marker only.
 */
JET_ERR
pagetrack_start(struct jet_log *log, uint32_t gen, lsn_t first_lsn)
{
	struct jet_inst *inst = log->inst;
	struct pagetrack_gen *g;
	uint32_t *gens = NULL;
	size_t n;
	int have_cur;
	char why[256];
	JET_ERR err;

	if (!log->enabled) {
		char *path = pt_nolog_path(inst);
		os_file *f = NULL;
		if (path == NULL)
			return JET_errOutOfMemory;
		err = JET_errSuccess;
		if (!os_exists(path) && (err = os_open(path, OS_WRITE | OS_CREATE, &f)) >= 0 &&
		    (err = os_fsync(f)) >= 0)
			err = os_fsync_dir(inst->p.log_path);
		os_close(f);
		free(path);
		return err;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return JET_errOutOfMemory;
	ERR(log_scan_dir(inst, &gens, &n, &have_cur));
	for (size_t i = 0; i < n && gens[i] < gen; i++) {
		struct pagetrack_gen closed;
		if (pt_load(inst, gens[i], gens[i] + 1 == gen ? first_lsn : 0, &closed, why, sizeof(why)) < 0)
			event_log(inst, EVENT_WARNING, 242, "page tracking: %s", why);
		else
			pt_gen_clear(&closed);
	}
	/* A new log set starts with nothing attached; else recovery says (pagetrack_set_attached). */
	for (uint32_t id = 1; gen > 1 && id <= JET_MAX_ATTACHED_DATABASES; id++)
		g->map[id].state = PT_UNKNOWN;
	g->gen = gen;
	g->first_lsn = first_lsn;
	g->sign_log = log->sign_log;
	g->page_size = (uint32_t)inst->p.page_size;
	pt_gen_free(log->pt);
	log->pt = g;
	g = NULL;
err:
	pt_gen_free(g);
	free(gens);
	return err;
}

/*
 * Recovery, before the first record of the new generation: the databases
 * attached as it begins (dbs by dbid, NULL: none).
 */
void
pagetrack_set_attached(struct jet_log *log, struct jet_db *const *dbs)
{
	if (log->pt == NULL)
		return;
	for (uint32_t id = 1; id <= JET_MAX_ATTACHED_DATABASES; id++) {
		log->pt->map[id].state = dbs[id] != NULL ? PT_ATTACHED : PT_DETACHED;
		if (dbs[id] != NULL)
			log->pt->map[id].sign_db = dbs[id]->hdr.sign_db;
	}
}

/* The flusher: record rec starts at lsn in the current generation. */
JET_ERR
pagetrack_note(struct jet_log *log, const uint8_t *rec, lsn_t lsn)
{
	return pt_note(log->pt, rec, get32(rec), LOG_VERSION, lsn);
}

/*
 * The flusher, at a roll: the current generation ended at end_lsn (its END
 * segment is durable); writes its summary and starts the next one.
 */
void
pagetrack_roll(struct jet_log *log, lsn_t end_lsn)
{
	struct pagetrack_gen *g = log->pt;
	JET_ERR err;

	g->end_lsn = end_lsn;
	if ((err = pt_write(log->inst, g)) < 0)
		event_log(log->inst, EVENT_WARNING, 241, "cannot write the page summary of log generation %u: %s",
		    g->gen, JetErrorString(err));
	pt_gen_clear(g);
	g->gen++;
	g->first_lsn = end_lsn;
}

/*
 * A full checkpoint (clean shutdown): saves the current generation's summary
 * as far as it is flushed, so the next start, which closes the generation
 * right there, need not read its log again.  If the generation goes on
 * instead (a crash later), its end no longer matches and it is rebuilt.
 * Runs as the flusher, so no record is noted meanwhile.
 */
void
pagetrack_save_current(struct jet_log *log)
{
	JET_ERR err;

	olock_lock(&log->lock);
	while (log->flushing)
		olock_wait(&log->cond, &log->lock);
	log->flushing = 1;
	log->pt->end_lsn = log->flushed_lsn;
	olock_unlock(&log->lock);
	if ((err = pt_write(log->inst, log->pt)) < 0)
		event_log(log->inst, EVENT_WARNING, 241, "cannot write the page summary of log generation %u: %s",
		    log->pt->gen, JetErrorString(err));
	olock_lock(&log->lock);
	log->flushing = 0;
	pthread_cond_broadcast(&log->cond);
	olock_unlock(&log->lock);
}

void
pagetrack_free(struct jet_log *log)
{
	pt_gen_free(log->pt);
	log->pt = NULL;
}

/* P1: before the log of closed generation gen is deleted. */
JET_ERR
pagetrack_ensure(struct jet_inst *inst, uint32_t gen)
{
	struct pagetrack_gen g;
	char why[256];
	JET_ERR err = pt_load(inst, gen, 0, &g, why, sizeof(why));

	if (err < 0)
		event_log(inst, EVENT_WARNING, 243, "log generation %u is kept: %s", gen, why);
	else
		pt_gen_clear(&g);
	return err;
}

/* P5: deletes the summaries of generations below keep_gen whose log is gone. */
void
pagetrack_prune(struct jet_inst *inst, uint32_t keep_gen)
{
	DIR *d = opendir(inst->p.log_path);
	struct dirent *de;
	size_t bl = strlen(inst->p.base_name);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char name[64], *log, *sum;
		size_t nl = strlen(de->d_name);
		uint32_t gen;

		if (nl >= sizeof(name) || nl < bl + 5 || strncmp(de->d_name, inst->p.base_name, bl) != 0 ||
		    de->d_name[bl] != 'p' || strcmp(de->d_name + nl - 4, ".jps") != 0)
			continue;
		memcpy(name, de->d_name, bl);
		memcpy(name + bl, de->d_name + bl + 1, nl - bl - 4);
		memcpy(name + nl - 4, "log", 4);
		if (!log_parse_name(inst->p.base_name, name, &gen) || gen >= keep_gen)
			continue;
		log = log_gen_path(inst, gen);
		sum = pt_summary_path(inst, gen);
		if (log != NULL && sum != NULL && !os_exists(log) && os_unlink(sum) < 0)
			event_log(inst, EVENT_WARNING, 244, "cannot delete the page summary %s", sum);
		free(log);
		free(sum);
	}
	closedir(d);
}

/* P4: a full backup was recorded in every attached database. */
void
pagetrack_full_recorded(struct jet_inst *inst)
{
	char *nolog = pt_nolog_path(inst);

	if (nolog != NULL && os_exists(nolog) && os_unlink(nolog) >= 0) {
		os_fsync_dir(inst->p.log_path);
		event_log(inst, EVENT_INFO, 248, "page tracking: %s removed: every attached database has a full backup "
		    "taken after the last run with logging off", nolog);
	}
	free(nolog);
}

/* ---- the query ---- */

static int
pt_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct pt_result {
	uint32_t *pages;
	size_t n, cap;
};

static int
pt_any_since(const struct pt_db *d, lsn_t since_lsn)
{
	for (size_t k = 0; k < d->npages; k++)
		if (d->pages[k].lsn >= since_lsn)
			return 1;
	return 0;
}

/*
 * Adds to res the pages of db_sign that g's records at LSN >= since_lsn
 * changed; fails closed on a change to a database it cannot name.
 */
static JET_ERR
pt_collect(const struct pagetrack_gen *g, const struct jet_sig *db_sign, lsn_t since_lsn, struct pt_result *res,
    char *why, size_t cb)
{
	for (size_t i = 0; i < g->ndbs; i++) {
		const struct pt_db *d = &g->dbs[i];
		if (d->state == PT_UNKNOWN && pt_any_since(d, since_lsn)) {
			snprintf(why, cb,
			    "log generation %u changes database id %u, whose attachment is in no log or summary left",
			    g->gen, d->dbid);
			return JET_errMissingLogFile;
		}
		if (d->state == PT_UNKNOWN || !dbhdr_sig_equal(&d->sign_db, db_sign))
			continue;
		for (size_t k = 0; k < d->npages; k++) {
			if (d->pages[k].lsn < since_lsn)
				continue;
			if (res->n == res->cap) {
				size_t ncap = res->cap ? res->cap * 2 : 1024;
				uint32_t *p = realloc(res->pages, ncap * sizeof(*p));
				if (p == NULL)
					return JET_errOutOfMemory;
				res->pages = p;
				res->cap = ncap;
			}
			res->pages[res->n++] = d->pages[k].pgno;
		}
	}
	return JET_errSuccess;
}

/* Copies the current generation's set under the flusher protocol. */
static JET_ERR
pt_collect_current(struct jet_log *log, const struct jet_sig *db_sign, lsn_t since_lsn, lsn_t *first_lsnp,
    uint32_t *genp, struct pt_result *res, char *why, size_t cb)
{
	JET_ERR err;

	olock_lock(&log->lock);
	while (log->flushing)
		olock_wait(&log->cond, &log->lock);
	for (size_t i = 0; i < log->pt->ndbs; i++)
		pt_db_compact(&log->pt->dbs[i]);
	*first_lsnp = log->pt->first_lsn;
	*genp = log->pt->gen;
	err = pt_collect(log->pt, db_sign, since_lsn, res, why, cb);
	olock_unlock(&log->lock);
	return err;
}

/*
 * The first LSN of generation gen (its summary's, rebuilt from its log if
 * need be, or the current generation's): where a base full whose copy was
 * fuzzy (ESE mode: pages read while changes were still in the cache) stops
 * being the database's state, since only the checkpoint at its gen_low
 * promises what the copy holds.
 */
JET_ERR
pagetrack_gen_first_lsn(struct jet_inst *inst, uint32_t gen, lsn_t *lsnp, char *why, size_t cb)
{
	struct jet_log *log = &inst->log;
	struct pagetrack_gen g;
	int current;

	olock_lock(&log->lock);
	current = log->pt != NULL && log->pt->gen == gen;
	if (current)
		*lsnp = log->pt->first_lsn;
	olock_unlock(&log->lock);
	if (current)
		return JET_errSuccess;
	RET(pt_load(inst, gen, 0, &g, why, cb));
	*lsnp = g.first_lsn;
	pt_gen_clear(&g);
	return JET_errSuccess;
}

/*
 * Every page of the database db_sign changed by a record at LSN >= since_lsn
 * until now (records up to the last flushed one), sorted and unique, in
 * *pagesp (malloc'd) and *np.  since_lsn is a base full backup's mark: its
 * image holds every record before the mark, so the record AT the mark is
 * the first one the delta needs.  Fails closed, with the reason in why, on
 * any gap: logging was off, a generation in the range has neither a valid
 * summary nor its log, or belongs to another log set.
 */
JET_ERR
pagetrack_changed_since(struct jet_inst *inst, const struct jet_sig *db_sign, lsn_t since_lsn, uint32_t **pagesp,
    size_t *np, char *why, size_t cb)
{
	struct jet_log *log = &inst->log;
	struct pt_result res = { 0 };
	lsn_t first_lsn, until;
	uint32_t gen;
	char *nolog = pt_nolog_path(inst);
	JET_ERR err;

	*pagesp = NULL;
	*np = 0;
	snprintf(why, cb, "no error");
	if (nolog == NULL)
		return JET_errOutOfMemory;
	if (!log->enabled || os_exists(nolog)) {
		snprintf(why, cb, "the instance ran with logging off (JET_paramRecovery off, marker %s): its changes "
		    "are in no log", nolog);
		err = JET_errLoggingDisabled;
		goto err;
	}
	olock_lock(&log->lock);
	until = log->append_lsn;
	olock_unlock(&log->lock);
	ERR(log_flush_to(log, until));
	ERR(pt_collect_current(log, db_sign, since_lsn, &first_lsn, &gen, &res, why, cb));
	/* Closed generations, newest first, each ending where the next begins. */
	while (since_lsn < first_lsn) {
		struct pagetrack_gen g;
		if (--gen == 0) {
			snprintf(why, cb, "LSN %llu is before the log set began", (unsigned long long)since_lsn);
			err = JET_errMissingLogFile;
			goto err;
		}
		ERR(pt_load(inst, gen, first_lsn, &g, why, cb));
		err = pt_collect(&g, db_sign, since_lsn, &res, why, cb);
		first_lsn = g.first_lsn;
		pt_gen_clear(&g);
		if (err < 0)
			goto err;
	}
	if (res.n > 1) {
		size_t k = 0;
		qsort(res.pages, res.n, sizeof(*res.pages), pt_u32_cmp);
		for (size_t i = 0; i < res.n; i++)
			if (k == 0 || res.pages[k - 1] != res.pages[i])
				res.pages[k++] = res.pages[i];
		res.n = k;
	}
	*pagesp = res.pages;
	*np = res.n;
	res.pages = NULL;
err:
	free(res.pages);
	free(nolog);
	return err;
}
