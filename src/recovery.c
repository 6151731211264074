/*
 * recovery.c -- soft recovery (JetInit): redo the log from the checkpoint.
 *
 * Redo applies each committed transaction's page operations in log order.
 * A page change carries the page's dbtime before and after it:
 *   - a full image is applied when the page on disk is older than the image
 *     (or unreadable: torn, never written);
 *   - a diff is applied when the page is exactly at "dbtime before", skipped
 *     when it is already at or past "dbtime after", and anything else means
 *     the page lost a change the log cannot supply (JET_errDbTimeTooOld).
 *
 * INVARIANTS
 *  R1. The first change to a page after it was last written is logged as a
 *      full image (txn.c), and the checkpoint never passes a dirty page's
 *      first record (cache.c, checkpoint.c).  So from the checkpoint on, every
 *      page whose last write may have been torn meets a full image before any
 *      diff: a torn page never loses committed data.
 *  R2. Only committed transactions are in the log: there is no undo pass.
 *  R3. Redo is idempotent (dbtime gating), so a crash during recovery is
 *      followed by the same recovery again.
 * At the end the torn tail of <base>.log is closed off with an END segment
 * (its void bytes can never be read as records), a new generation starts,
 * every page is flushed and a checkpoint is written.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

struct redo_ctx {
	struct jet_inst *inst;
	struct jet_db **dbs;
	JET_GRBIT grbit;
	uint64_t records, pages_applied;
	uint64_t commit_time;		/* of the last transaction replayed */
};

static JET_ERR
redo_corrupt(struct jet_inst *inst, lsn_t lsn, const char *what)
{
	event_log(inst, EVENT_ERROR, 501, "log record at LSN %llu is malformed: %s", (unsigned long long)lsn, what);
	return JET_errLogFileCorrupt;
}

static JET_ERR
redo_page(struct jet_inst *inst, struct jet_db *db, const uint8_t *op, const uint8_t *body, size_t bodylen,
    lsn_t start, lsn_t end, size_t *usedp)
{
	uint32_t ps = inst->cache.page_size, pgno = get32(op + 4);
	uint64_t before = get64(op + 8), after = get64(op + 16), cur;
	unsigned kind = op[1], nranges = get16(op + 2);
	struct frame *f = NULL;
	JET_ERR err;
	size_t used = 0;
	int readable = 1;

	if (pgno == 0 || after <= before)
		return redo_corrupt(inst, start, "impossible page operation");
	if (kind == LOP_IMAGE) {
		if (bodylen < ps)
			return redo_corrupt(inst, start, "truncated page image");
		used = ps;
	} else if (kind == LOP_DIFF) {
		for (unsigned i = 0; i < nranges; i++) {
			uint32_t off, len;
			if (used + 4 > bodylen)
				return redo_corrupt(inst, start, "truncated diff");
			off = get16(body + used);
			len = get16(body + used + 2);
			if (off < 4 || off + len > ps || used + 4 + len > bodylen)
				return redo_corrupt(inst, start, "diff range outside the page");
			used += 4 + len;
		}
	} else
		return redo_corrupt(inst, start, "unknown page operation");
	*usedp = used;

	err = cache_get(db, pgno, &f);
	if (err == JET_errPageNotInitialized || err == JET_errReadVerifyFailure || err == JET_errReadPgnoVerifyFailure) {
		readable = 0;
		RET(cache_get_new(db, pgno, &f));
	} else if (err < 0)
		return err;
	cur = readable ? get64(f->data + PG_DBTIME) : 0;
	if (kind == LOP_IMAGE) {
		if (!readable || cur < after) {
			memcpy(f->data, body, ps);
			if (get32(f->data + PG_PGNO) != pgno || get64(f->data + PG_DBTIME) != after) {
				cache_unpin(f);
				return redo_corrupt(inst, start, "page image names another page");
			}
			cache_mark_redone(f, start, end);
		}
	} else if (readable && cur >= after) {
		/* already on disk */
	} else if (readable && cur == before) {
		for (size_t pos = 0; pos < used;) {
			uint32_t off = get16(body + pos), len = get16(body + pos + 2);
			memcpy(f->data + off, body + pos + 4, len);
			pos += 4 + len;
		}
		put64(f->data + PG_DBTIME, after);
		cache_mark_redone(f, start, end);
	} else {
		event_log(inst, EVENT_ERROR, 566,
		    "%s: page %u is at dbtime %llu but the log continues from %llu (%s): changes are missing",
		    db->path, pgno, (unsigned long long)cur, (unsigned long long)before,
		    readable ? "a log generation or a page write was lost" : "the page is damaged");
		cache_unpin(f);
		return readable ? JET_errDbTimeTooOld : JET_errReadVerifyFailure;
	}
	if (after > db->dbtime)
		db->dbtime = after;
	cache_unpin(f);
	return JET_errSuccess;
}

static JET_ERR
redo_txn(struct redo_ctx *ctx, const uint8_t *rec, size_t len, uint32_t version, lsn_t start, lsn_t end)
{
	uint64_t time;
	size_t pos = log_txn_ops_offset(rec, len, version, &time);
	uint32_t nops;

	if (pos == 0)
		return redo_corrupt(ctx->inst, start, "short transaction record");
	if (time > ctx->commit_time)
		ctx->commit_time = time;
	nops = get32(rec + pos);
	pos += 4;
	for (uint32_t i = 0; i < nops; i++) {
		const uint8_t *op = rec + pos;
		struct jet_db *db;
		size_t used = 0;
		if (pos + LOP_HDR_SIZE > len)
			return redo_corrupt(ctx->inst, start, "truncated page operation");
		if (op[0] < 1 || op[0] > JET_MAX_ATTACHED_DATABASES)
			return redo_corrupt(ctx->inst, start, "bad database id");
		db = ctx->dbs[op[0]];
		if (db == NULL) {
			if (!(ctx->grbit & JET_bitReplayIgnoreMissingDB) && ctx->inst->restore == NULL) {
				event_log(ctx->inst, EVENT_ERROR, 1216,
				    "the log changes database id %u, which is not attached", op[0]);
				return JET_errAttachedDatabaseMismatch;
			}
			/* Skip the operation: measure it as if applied. */
			if (op[1] == LOP_IMAGE)
				used = ctx->inst->cache.page_size;
			else
				for (unsigned r = 0, n = get16(op + 2); r < n; r++) {
					if (pos + LOP_HDR_SIZE + used + 4 > len)
						return redo_corrupt(ctx->inst, start, "truncated diff");
					used += 4 + get16(op + LOP_HDR_SIZE + used + 2);
				}
		} else
			RET(redo_page(ctx->inst, db, op, op + LOP_HDR_SIZE, len - pos - LOP_HDR_SIZE, start, end, &used));
		pos += LOP_HDR_SIZE + used;
		ctx->pages_applied++;
	}
	if (pos > len)
		return redo_corrupt(ctx->inst, start, "operations overrun the record");
	return JET_errSuccess;
}

/* Checks an opened database against the log set and its attach record. */
static JET_ERR
redo_check_db(struct redo_ctx *ctx, struct jet_db *db, const struct jet_sig *sign_db)
{
	struct jet_inst *inst = ctx->inst;

	if (!dbhdr_sig_equal(&db->hdr.sign_db, sign_db)) {
		event_log(inst, EVENT_ERROR, 531, "%s is not the database the log attached (signature differs)", db->path);
		return JET_errBadDbSignature;
	}
	if (db->hdr.dbstate != JET_dbstateJustCreated && !dbhdr_sig_equal(&db->hdr.sign_log, &inst->log.sign_log)) {
		event_log(inst, EVENT_ERROR, 539, "%s belongs to another log set", db->path);
		return JET_errDatabaseLogSetMismatch;
	}
	if ((db->hdr.flags & DBHDR_FLAG_BACKUP_COPY) && !(ctx->grbit & JET_bitAllowSoftRecoveryOnBackup)) {
		event_log(inst, EVENT_ERROR, 544,
		    "%s is a backup copy that has not been restored (hard recovery): use jetutil restore", db->path);
		return JET_errSoftRecoveryOnBackupDatabase;
	}
	return JET_errSuccess;
}

static JET_ERR
redo_attach(struct redo_ctx *ctx, const uint8_t *rec, size_t len, lsn_t start, int create)
{
	struct jet_inst *inst = ctx->inst;
	struct jet_sig sign;
	struct jet_db *db = NULL;
	uint32_t dbid, pathlen;
	char *path;
	JET_ERR err;

	if (len < LREC_HDR_SIZE + 8 + SIG_SIZE + 2)
		return redo_corrupt(inst, start, "short attach record");
	dbid = rec[LREC_HDR_SIZE];
	dbhdr_sig_decode(rec + LREC_HDR_SIZE + 8, &sign);
	pathlen = get16(rec + LREC_HDR_SIZE + 8 + SIG_SIZE);
	if (dbid < 1 || dbid > JET_MAX_ATTACHED_DATABASES || pathlen == 0 ||
	    LREC_HDR_SIZE + 8 + SIG_SIZE + 2 + pathlen != len ||
	    get32(rec + LREC_HDR_SIZE + 4) != inst->p.page_size)
		return redo_corrupt(inst, start, "bad attach record");
	if (inst->restore != NULL) {
		/* Hard recovery touches only the databases being restored, wherever they went. */
		const char *to = dbfile_restore_path(inst->restore, &sign);
		if (to == NULL)
			return JET_errSuccess;
		path = strdup(to);
	} else
		path = strndup((const char *)rec + LREC_HDR_SIZE + 8 + SIG_SIZE + 2, pathlen);
	if (path == NULL)
		return JET_errOutOfMemory;
	if (ctx->dbs[dbid] != NULL) {
		err = strcmp(ctx->dbs[dbid]->path, path) == 0 && dbhdr_sig_equal(&ctx->dbs[dbid]->hdr.sign_db, &sign) ?
		    JET_errSuccess : redo_corrupt(inst, start, "database id attached twice");
		goto out;
	}
	err = dbfile_open(inst, path, &db);
	if (err == JET_errFileNotFound && create)
		err = dbfile_format_new(inst, path, dbid, &sign, 0, &db);
	if (err == JET_errFileNotFound && (ctx->grbit & JET_bitReplayIgnoreMissingDB)) {
		event_log(inst, EVENT_WARNING, 1216, "database %s is missing; its changes are skipped", path);
		err = JET_errSuccess;
		goto out;
	}
	if (err < 0) {
		event_log(inst, EVENT_ERROR, 1216, "recovery needs database %s: %s", path, JetErrorString(err));
		if (err == JET_errFileNotFound)
			err = JET_errAttachedDatabaseMismatch;
		goto out;
	}
	if ((err = redo_check_db(ctx, db, &sign)) < 0) {
		dbfile_free(db);
		goto out;
	}
	db->dbid = dbid;
	ctx->dbs[dbid] = db;
out:
	free(path);
	return err;
}

static JET_ERR
redo_detach(struct redo_ctx *ctx, const uint8_t *rec, size_t len, lsn_t start, lsn_t end)
{
	struct jet_db *db;
	uint32_t dbid;

	if (len != LREC_HDR_SIZE + 4 || (dbid = rec[LREC_HDR_SIZE]) < 1 || dbid > JET_MAX_ATTACHED_DATABASES)
		return redo_corrupt(ctx->inst, start, "bad detach record");
	if ((db = ctx->dbs[dbid]) == NULL)
		return JET_errSuccess;
	RET(cache_flush(ctx->inst, db, 0, NULL));
	db->hdr.dbstate = JET_dbstateCleanShutdown;
	db->hdr.dbtime = db->dbtime;
	db->hdr.lsn_consistent = db->hdr.lsn_detach = end;
	db->hdr.time_consistent = db->hdr.time_detach = dbhdr_time_now_us();
	RET(dbfile_write_header(db));
	cache_drop_db(db);
	dbfile_free(db);
	ctx->dbs[dbid] = NULL;
	return JET_errSuccess;
}

/* A record, read by the format (version) of the generation it starts in. */
static JET_ERR
redo_record(struct redo_ctx *ctx, const uint8_t *rec, size_t len, uint32_t version, lsn_t start, lsn_t end)
{
	ctx->records++;
	switch (rec[4]) {
	case LREC_TXN:
		return redo_txn(ctx, rec, len, version, start, end);
	case LREC_CREATEDB:
		return redo_attach(ctx, rec, len, start, 1);
	case LREC_ATTACH:
		return redo_attach(ctx, rec, len, start, 0);
	case LREC_DETACH:
		return redo_detach(ctx, rec, len, start, end);
	case LREC_BACKUP:
		return dbfile_redo_backup(ctx->dbs, rec, len);
	default:
		return redo_corrupt(ctx->inst, start, "unknown record type");
	}
}

/* Records the first LSN of each generation on disk, for log_gen_of(). */
static JET_ERR
recovery_load_gens(struct jet_inst *inst, uint32_t from_gen)
{
	uint32_t *gens;
	size_t n;
	int have_cur;
	JET_ERR err = JET_errSuccess;

	RET(log_scan_dir(inst, &gens, &n, &have_cur));
	for (size_t i = 0; i < n && err >= 0; i++) {
		char *p;
		os_file *f;
		struct log_file_header h;
		if (gens[i] < from_gen)
			continue;
		if ((p = log_gen_path(inst, gens[i])) == NULL) {
			err = JET_errOutOfMemory;
			break;
		}
		if (os_open(p, OS_READ, &f) >= 0) {
			if (log_header_read(f, &h) >= 0 && h.gen == gens[i]) {
				olock_lock(&inst->log.lock);
				if (inst->log.ngens == inst->log.gens_cap) {
					size_t ncap = inst->log.gens_cap ? inst->log.gens_cap * 2 : 64;
					struct log_gen *g = realloc(inst->log.gens, ncap * sizeof(*g));
					if (g == NULL)
						err = JET_errOutOfMemory;
					else {
						inst->log.gens = g;
						inst->log.gens_cap = ncap;
					}
				}
				if (err >= 0) {
					inst->log.gens[inst->log.ngens].gen = h.gen;
					inst->log.gens[inst->log.ngens].first_lsn = h.first_lsn;
					inst->log.ngens++;
				}
				olock_unlock(&inst->log.lock);
			}
			os_close(f);
		}
		free(p);
	}
	free(gens);
	return err;
}

/* Opens closed generation gen for writing: the END segment where a restore to a moment stopped. */
static JET_ERR
recovery_open_gen(struct jet_inst *inst, uint32_t gen)
{
	char *path = log_gen_path(inst, gen);
	JET_ERR err;

	if (path == NULL)
		return JET_errOutOfMemory;
	err = os_open(path, OS_WRITE, &inst->log.cur);
	free(path);
	return err;
}

/* Is <base>.log generation gen (closed by a recovery that stopped before renaming it)? */
static int
recovery_cur_is_gen(const char *cur, uint32_t gen)
{
	struct log_file_header h;
	os_file *f;
	int same = 0;

	if (os_open(cur, OS_READ, &f) >= 0) {
		same = log_header_read(f, &h) >= 0 && h.gen == gen;
		os_close(f);
	}
	return same;
}

/*
 * A brand-new log set: generation 1, a new signature, an empty checkpoint.
 * The checkpoint is written first: a crash before the log exists leaves a
 * checkpoint at LSN 1 and no log, which the next start takes as a new log
 * set with that signature (never a log without a checkpoint).
 */
static JET_ERR
recovery_new_log_set(struct jet_inst *inst, const struct jet_sig *sign)
{
	memset(&inst->ckpt, 0, sizeof(inst->ckpt));
	if (sign != NULL)
		inst->log.sign_log = *sign;
	else
		dbhdr_sig_make(&inst->log.sign_log);
	inst->ckpt.sign_log = inst->log.sign_log;
	inst->ckpt.lsn = 1;
	inst->ckpt.gen = 1;
	RET(checkpoint_write(inst, &inst->ckpt));
	return log_open_for_run(&inst->log, 0, 0, 1);
}

JET_ERR
recovery_run(struct jet_inst *inst, JET_GRBIT grbit)
{
	struct redo_ctx ctx = { .inst = inst, .grbit = grbit };
	struct jet_db *dbs[JET_MAX_ATTACHED_DATABASES + 1] = { 0 };
	struct log_reader r;
	char *chk = checkpoint_path(inst), *cur = log_cur_path(inst);
	uint32_t *gens = NULL;
	size_t ngens;
	int have_cur, reader_open = 0;
	uint64_t t0 = dbhdr_time_now_us();
	JET_ERR err;

	ctx.dbs = dbs;
	if (chk == NULL || cur == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	ERR(log_lock_dir(&inst->log));
	ERR(log_scan_dir(inst, &gens, &ngens, &have_cur));
	err = checkpoint_read(chk, &inst->ckpt);
	if (err == JET_errCheckpointFileNotFound) {
		if (ngens == 0 && !have_cur) {
			if (grbit & JET_bitLogStreamMustExist) {
				err = JET_errFileNotFound;
				goto err;
			}
			err = recovery_new_log_set(inst, NULL);
			goto err;
		}
		event_log(inst, EVENT_ERROR, 542,
		    "the checkpoint file %s is missing but log files exist in %s: recovery cannot know where to start",
		    chk, inst->p.log_path);
		goto err;
	}
	if (err < 0) {
		event_log(inst, EVENT_ERROR, 533, "the checkpoint file %s is damaged (%s)", chk, JetErrorName(err));
		goto err;
	}
	inst->log.sign_log = inst->ckpt.sign_log;
	if (ngens == 0 && !have_cur && inst->ckpt.lsn == 1 && inst->ckpt.nattach == 0) {
		/* A first start that stopped between the checkpoint and the first log. */
		struct jet_sig sign = inst->ckpt.sign_log;
		checkpoint_state_free(&inst->ckpt);
		err = recovery_new_log_set(inst, &sign);
		goto err;
	}
	event_log(inst, EVENT_INFO, 300, "recovery starts at generation %u (LSN %llu) in %s", inst->ckpt.gen,
	    (unsigned long long)inst->ckpt.lsn, inst->p.log_path);

	for (size_t i = 0; i < inst->ckpt.nattach; i++) {
		struct ckpt_attach *a = &inst->ckpt.attach[i];
		struct jet_db *db;
		err = dbfile_open(inst, a->path, &db);
		if (err == JET_errFileNotFound && (grbit & JET_bitReplayIgnoreMissingDB))
			continue;
		if (err < 0) {
			event_log(inst, EVENT_ERROR, 1216, "recovery needs database %s: %s", a->path, JetErrorString(err));
			if (err == JET_errFileNotFound)
				err = JET_errAttachedDatabaseMismatch;
			goto err;
		}
		if ((err = redo_check_db(&ctx, db, &a->sign_db)) < 0) {
			dbfile_free(db);
			goto err;
		}
		db->dbid = a->dbid;
		dbs[a->dbid] = db;
	}

	ERR(log_reader_open(&r, inst, inst->p.log_path, inst->p.base_name, inst->ckpt.gen, inst->restore_stop_gen,
	    &inst->ckpt.sign_log));
	reader_open = 1;
	ERR(log_reader_seek(&r, inst->ckpt.lsn));
	if (inst->restore_stop_lsn != 0)
		log_reader_stop_at(&r, inst->restore_stop_lsn);
	for (;;) {
		uint8_t *rec;
		size_t len;
		lsn_t start;
		int rc = log_reader_next(&r, &rec, &len, &start, &err);
		if (rc < 0)
			goto err;
		if (rc == 0)
			break;
		if (start < inst->ckpt.lsn)
			continue;
		ERR(redo_record(&ctx, rec, len, r.rec_version, start, start + len));
	}
	inst->log.commit_time = ctx.commit_time;
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (dbs[i] != NULL && dbs[i]->hdr.gen_max_required > r.gen) {
			event_log(inst, EVENT_ERROR, 543, "%s needs log generations up to %u but the log ends at %u",
			    dbs[i]->path, dbs[i]->hdr.gen_max_required, r.gen);
			err = JET_errRequiredLogFilesMissing;
			goto err;
		}

	/*
	 * Close the log where it validly ends (a torn tail, or where a restore
	 * to a moment stopped), and go on in a new generation.
	 */
	inst->log.cur_gen = r.gen;
	inst->log.cur_time = r.hdr.time_create;
	inst->log.file_size = r.hdr.file_size;
	if ((r.in_current || r.stopped) && r.file != NULL) {
		if (r.in_current)
			ERR(os_open(cur, OS_WRITE, &inst->log.cur));
		else
			ERR(recovery_open_gen(inst, r.gen));
		inst->log.cur_off = r.end_off;
		inst->log.seg_seq = 0x10000;
		if (r.stopped)
			ERR(log_cut_at_stop(&inst->log, &r));
		{
			lsn_t end = r.end_lsn;
			log_reader_close(&r);
			reader_open = 0;
			ERR(log_close_current(&inst->log, end));
			ERR(recovery_load_gens(inst, inst->ckpt.gen));
			inst->log.file_size = (uint32_t)(inst->p.log_file_kb * 1024);
			ERR(log_open_for_run(&inst->log, inst->log.cur_gen, inst->log.cur_time, end));
		}
	} else {
		lsn_t end = r.end_lsn;
		if (os_exists(cur) && !recovery_cur_is_gen(cur, r.gen)) {
			event_log(inst, EVENT_ERROR, 515,
			    "%s does not continue generation %u: the log set is inconsistent", cur, r.gen);
			err = JET_errInvalidLogSequence;
			goto err;
		}
		log_reader_close(&r);
		reader_open = 0;
		ERR(recovery_load_gens(inst, inst->ckpt.gen));
		inst->log.file_size = (uint32_t)(inst->p.log_file_kb * 1024);
		ERR(log_open_for_run(&inst->log, inst->log.cur_gen, inst->log.cur_time, end));
	}

	pagetrack_set_attached(&inst->log, dbs);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		if (dbs[i] == NULL)
			continue;
		if ((err = dbfile_attach(inst, dbs[i])) < 0)
			goto err;
		dbs[i] = NULL;
	}
	ERR(checkpoint_run(inst, 1));
	event_log(inst, EVENT_INFO, 301,
	    "recovery done: %llu records, %llu page changes replayed in %.3f s; logging continues in generation %u",
	    (unsigned long long)ctx.records, (unsigned long long)ctx.pages_applied,
	    (double)(dbhdr_time_now_us() - t0) / 1e6, inst->log.cur_gen);
	err = JET_errSuccess;
err:
	if (reader_open)
		log_reader_close(&r);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (dbs[i] != NULL) {
			cache_drop_db(dbs[i]);
			dbfile_free(dbs[i]);
		}
	free(gens);
	free(chk);
	free(cur);
	return err;
}
