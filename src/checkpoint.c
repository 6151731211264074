/*
 * checkpoint.c -- the checkpoint file <base>.chk and the checkpoint itself.
 *
 * FORMAT (little-endian): 0 u32 CRC-32C of bytes 4..size-1, 4 u32 magic
 * 'JCHK', 8 u32 version, 12 u32 file type (4), 16 u32 file size, 20 u32
 * checkpoint generation, 24 u64 checkpoint LSN (redo starts there), 32 log
 * signature (28), 60 u64 time written, 68 u64 last full backup LSN, 76 u64
 * its time, 84 u64 last incremental backup LSN, 92 u64 its time, 100 u32
 * attached databases; from 1024, per database: u32 dbid, database signature
 * (28), u16 path length, path.  667 u8 file type.
 *
 * The file is replaced atomically (written beside, synced, renamed, the
 * directory synced), so a crash leaves the old or the new one, never a mix.
 *
 * INVARIANTS
 *  C1. Every change recorded before the checkpoint LSN is in the database
 *      files (their pages were written and fsynced).  Each page's first
 *      change after it is logged as a full image (txn.c).
 *  C2. Each attached database's header is written, with gen_min_required
 *      and dbtime, before a checkpoint file that relies on it.
 *  C3. The checkpoint LSN is a record boundary.
 *  C4. The attached databases have distinct dbids and distinct paths (they
 *      are inst->dbs[] when written); a file that says otherwise is corrupt.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

#include "format.h"

char *
checkpoint_path(struct jet_inst *inst)
{
	char name[16];

	snprintf(name, sizeof(name), "%s.chk", inst->p.base_name);
	return os_path_join(inst->p.system_path, name);
}

void
checkpoint_state_free(struct checkpoint_state *ck)
{
	for (size_t i = 0; i < ck->nattach; i++)
		free(ck->attach[i].path);
	ck->nattach = 0;
}

JET_ERR
checkpoint_read(const char *path, struct checkpoint_state *ck)
{
	os_file *file = NULL;
	uint8_t *buf = NULL;
	uint64_t size;
	size_t off;
	JET_ERR err;

	memset(ck, 0, sizeof(*ck));
	if ((err = os_open(path, OS_READ, &file)) < 0)
		return err == JET_errFileNotFound ? JET_errCheckpointFileNotFound : err;
	ERR(os_size(file, &size));
	err = JET_errCheckpointCorrupt;
	if (size < CHK_ATTACH_OFF || size > CHK_SIZE_MAX)
		goto err;
	if ((buf = malloc(size)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	ERR(os_pread(file, buf, size, 0));
	err = JET_errCheckpointCorrupt;
	if (get32(buf + 4) != CHK_MAGIC || get32(buf + 8) != CHK_VERSION || get32(buf + 12) != JET_filetypeCheckpoint ||
	    get32(buf + 16) != size || get32(buf) != crc32c(0, buf + 4, size - 4))
		goto err;
	ck->gen = get32(buf + 20);
	ck->lsn = get64(buf + 24);
	dbhdr_sig_decode(buf + 32, &ck->sign_log);
	ck->time_written = get64(buf + 60);
	ck->full_backup_lsn = get64(buf + 68);
	ck->full_backup_time = get64(buf + 76);
	ck->inc_backup_lsn = get64(buf + 84);
	ck->inc_backup_time = get64(buf + 92);
	if (get32(buf + 100) > JET_MAX_ATTACHED_DATABASES || ck->lsn == 0 || ck->gen == 0)
		goto err;
	off = CHK_ATTACH_OFF;
	for (uint32_t i = 0, n = get32(buf + 100); i < n; i++) {
		struct ckpt_attach *a = &ck->attach[i];
		size_t len;
		if (off + 4 + SIG_SIZE + 2 > size)
			goto err;
		a->dbid = get32(buf + off);
		dbhdr_sig_decode(buf + off + 4, &a->sign_db);
		len = get16(buf + off + 4 + SIG_SIZE);
		off += 4 + SIG_SIZE + 2;
		if (len == 0 || off + len > size || a->dbid < 1 || a->dbid > JET_MAX_ATTACHED_DATABASES ||
		    memchr(buf + off, '\0', len) != NULL)
			goto err;
		if ((a->path = strndup((char *)buf + off, len)) == NULL) {
			err = JET_errOutOfMemory;
			goto err;
		}
		ck->nattach++;
		/* C4: one database per dbid, one dbid per file (recovery opens each as dbs[dbid]). */
		for (uint32_t j = 0; j < i; j++)
			if (ck->attach[j].dbid == a->dbid || strcmp(ck->attach[j].path, a->path) == 0)
				goto err;
		off += len;
	}
	err = JET_errSuccess;
err:
	if (err < 0)
		checkpoint_state_free(ck);
	free(buf);
	os_close(file);
	return err;
}

JET_ERR
checkpoint_write(struct jet_inst *inst, const struct checkpoint_state *ck)
{
	char *path = checkpoint_path(inst), *tmp = NULL;
	uint8_t *buf = calloc(1, CHK_SIZE_MAX);
	os_file *file = NULL;
	size_t off = CHK_ATTACH_OFF;
	JET_ERR err;

	if (path == NULL || buf == NULL || asprintf(&tmp, "%s.new", path) < 0) {
		tmp = NULL;
		err = JET_errOutOfMemory;
		goto err;
	}
	put32(buf + 4, CHK_MAGIC);
	put32(buf + 8, CHK_VERSION);
	put32(buf + 12, JET_filetypeCheckpoint);
	put32(buf + 20, ck->gen);
	put64(buf + 24, ck->lsn);
	dbhdr_sig_encode(&ck->sign_log, buf + 32);
	put64(buf + 60, dbhdr_time_now_us());
	put64(buf + 68, ck->full_backup_lsn);
	put64(buf + 76, ck->full_backup_time);
	put64(buf + 84, ck->inc_backup_lsn);
	put64(buf + 92, ck->inc_backup_time);
	put32(buf + 100, (uint32_t)ck->nattach);
	buf[667] = JET_filetypeCheckpoint;
	for (size_t i = 0; i < ck->nattach; i++) {
		size_t len = strlen(ck->attach[i].path);
		if (len > 4096) {
			err = JET_errInvalidPath;
			goto err;
		}
		put32(buf + off, ck->attach[i].dbid);
		dbhdr_sig_encode(&ck->attach[i].sign_db, buf + off + 4);
		put16(buf + off + 4 + SIG_SIZE, (uint16_t)len);
		memcpy(buf + off + 4 + SIG_SIZE + 2, ck->attach[i].path, len);
		off += 4 + SIG_SIZE + 2 + len;
	}
	put32(buf + 16, (uint32_t)off);
	put32(buf, crc32c(0, buf + 4, off - 4));
	if (os_exists(tmp))
		ERR(os_unlink(tmp));
	ERR(os_open(tmp, OS_WRITE | OS_CREATE | OS_EXCL, &file));
	ERR(os_pwrite(file, buf, off, 0));
	ERR(os_fsync(file));
	os_close(file);
	file = NULL;
	ERR(os_rename(tmp, path));
	ERR(os_fsync_dir(inst->p.system_path));
err:
	os_close(file);
	free(buf);
	free(path);
	free(tmp);
	return err;
}

/* Fills the attach list of ck from the instance: inst->dbs needs inst_lock. */
static JET_ERR
checkpoint_collect_attach(struct jet_inst *inst, struct checkpoint_state *ck)
{
	JET_ASSERT(inst, olock_held(&inst->inst_lock));
	ck->nattach = 0;
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		struct jet_db *db = inst->dbs[i];
		if (db == NULL)
			continue;
		ck->attach[ck->nattach].dbid = db->dbid;
		ck->attach[ck->nattach].sign_db = db->hdr.sign_db;
		if ((ck->attach[ck->nattach].path = strdup(db->path)) == NULL) {
			checkpoint_state_free(ck);
			return JET_errOutOfMemory;
		}
		ck->nattach++;
	}
	return JET_errSuccess;
}

/*
 * Circular logging: deletes the generations below below_gen, each once its
 * page summary is durable (pagetrack.c P1), then the summaries no full
 * backup's delta can need (below keep_summaries_gen, P5).
 */
static void
checkpoint_delete_old_logs(struct jet_inst *inst, uint32_t below_gen, uint32_t keep_summaries_gen)
{
	uint32_t *gens;
	size_t n;
	int have_cur;
	uint32_t keep = inst->log.min_gen_keep;

	if (keep != 0 && keep < below_gen)
		below_gen = keep;
	if (log_scan_dir(inst, &gens, &n, &have_cur) < 0)
		return;
	for (size_t i = 0; i < n && gens[i] < below_gen; i++) {
		char *p;
		if (pagetrack_ensure(inst, gens[i]) < 0) {
			below_gen = gens[i];
			break;
		}
		p = log_gen_path(inst, gens[i]);
		if (p != NULL && os_unlink(p) < 0)
			event_log(inst, EVENT_WARNING, 227, "circular logging: cannot delete %s", p);
		free(p);
	}
	free(gens);
	log_forget_gens_below(&inst->log, below_gen);
	pagetrack_prune(inst, keep_summaries_gen);
}

/*
 * Runs a checkpoint (fuzzy, like PostgreSQL's): the redo point is the end of
 * the log now; from now on a page's first change is logged as a full image;
 * every page changed before the redo point is written (and synced); then
 * the checkpoint file moves to the redo point.  full: also at term.
 */
static JET_ERR checkpoint_run_locked(struct jet_inst *inst, int full);

JET_ERR
checkpoint_run(struct jet_inst *inst, int full)
{
	JET_ERR err;

	pthread_mutex_lock(&inst->ckpt_lock);
	err = checkpoint_run_locked(inst, full);
	pthread_mutex_unlock(&inst->ckpt_lock);
	return err;
}

static JET_ERR
checkpoint_run_locked(struct jet_inst *inst, int full)
{
	struct checkpoint_state ck;
	struct jet_log *log = &inst->log;
	lsn_t redo;
	uint32_t gen, keep_summaries;
	int complete;
	JET_ERR err;

	olock_lock(&log->lock);
	redo = log->append_lsn;
	if (redo > log->fpi_horizon)
		log->fpi_horizon = redo;
	/* Commits appended before the redo point must be in the cache first. */
	while (log->in_flight > 0)
		olock_wait(&log->cond, &log->lock);
	olock_unlock(&log->lock);
	if (!full && redo == inst->ckpt.lsn)
		return JET_errSuccess;
	RET(cache_flush(inst, NULL, redo, &complete));
	if (!log->enabled || !complete)
		return JET_errSuccess;
	gen = log_gen_of(&inst->log, redo);

	keep_summaries = gen;
	olock_lock(&inst->inst_lock);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		struct jet_db *db = inst->dbs[i];
		if (db == NULL)
			continue;
		pthread_mutex_lock(&db->hdr_lock);
		/* A delta's base is the last full backup: its summaries from gen_low on stay. */
		if (db->hdr.bk[BK_FULL_PREV].lsn_mark != 0 && db->hdr.bk[BK_FULL_PREV].gen_low < keep_summaries)
			keep_summaries = db->hdr.bk[BK_FULL_PREV].gen_low;
		/* C2: the header's dbtime must cover every change the checkpoint passes. */
		if (db->hdr.gen_min_required != gen || db->hdr.dbtime != db->dbtime) {
			db->hdr.dbtime = __atomic_load_n(&db->dbtime, __ATOMIC_SEQ_CST);
			db->hdr.gen_min_required = gen;
			err = dbhdr_write(db->file, &db->hdr);
		} else
			err = JET_errSuccess;
		pthread_mutex_unlock(&db->hdr_lock);
		if (err < 0) {
			olock_unlock(&inst->inst_lock);
			return err;
		}
	}
	ck = inst->ckpt;
	ck.lsn = redo;
	ck.gen = gen;
	err = checkpoint_collect_attach(inst, &ck);
	if (err >= 0 && (err = checkpoint_write(inst, &ck)) >= 0) {
		checkpoint_state_free(&inst->ckpt);
		inst->ckpt = ck;
	} else
		checkpoint_state_free(&ck);
	olock_unlock(&inst->inst_lock);
	if (err >= 0 && inst->p.circular)
		checkpoint_delete_old_logs(inst, gen, keep_summaries);
	else if (err >= 0)
		pagetrack_prune(inst, keep_summaries);	/* the summaries of logs a backup truncated (P5) */
	if (err >= 0 && full)
		pagetrack_save_current(log);
	return err;
}
