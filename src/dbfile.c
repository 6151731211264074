/*
 * dbfile.c -- the database file layer: the files attached to an instance,
 * below the cache.  It owns a database's file, its in-memory header (written
 * under db->hdr_lock, and only in an order that never lets the header claim
 * less log than the pages need), the file's size, the instance's table of
 * attached databases (inst->dbs, under inst_lock) and the header effects of
 * the log records that change only a header (backup state, LREC_BACKUP).
 *
 * A new database is born as a header only (dbstate JustCreated, then
 * DirtyShutdown once attached); its space page and catalog root are created
 * by the first transaction, so they are in the log like any other page.
 *
 * It calls only the log (the generation of an LSN) and the base layer, so the
 * cache, recovery and the backup can all use it from above.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

/*
 * A database's canonical name (os_path_normalize), under which it is found,
 * logged and backed up whatever name the application gives.  Its directory
 * must exist, or is created (mode 0700) with create_dir -- JetCreateDatabase
 * under JET_paramCreatePathIfNotExist, as ESE.  A name ending in '/' names a
 * directory, not a database.
 */
JET_ERR
dbfile_realpath(const char *path, int create_dir, char **outp)
{
	char *dir = NULL;
	JET_ERR err;

	*outp = NULL;
	if (path == NULL || *path == '\0' || path[strlen(path) - 1] == '/')
		return JET_errInvalidPath;
	ERR(os_path_normalize(path, outp));
	if ((dir = os_path_dir(*outp)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	if (!os_is_dir(dir) && (!create_dir || os_mkdir_p(dir) < 0)) {
		err = JET_errInvalidPath;
		goto err;
	}
	free(dir);
	return JET_errSuccess;
err:
	free(dir);
	free(*outp);
	*outp = NULL;
	return err;
}

static struct jet_db *
dbfile_alloc(struct jet_inst *inst, const char *path)
{
	struct jet_db *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return NULL;
	if ((db->path = strdup(path)) == NULL) {
		free(db);
		return NULL;
	}
	db->inst = inst;
	pthread_mutex_init(&db->hdr_lock, NULL);
	olock_init(&db->bk_io_lock);
	return db;
}

void
dbfile_free(struct jet_db *db)
{
	if (db == NULL)
		return;
	os_close(db->file);
	pthread_mutex_destroy(&db->hdr_lock);
	olock_destroy(&db->bk_io_lock);
	free(db->path);
	free(db);
}

static JET_ERR
dbfile_size_pages(struct jet_db *db)
{
	uint64_t size;

	RET(os_size(db->file, &size));
	db->file_pages = size / db->hdr.page_size > 2 ? (uint32_t)(size / db->hdr.page_size - 2) : 0;
	return JET_errSuccess;
}

/* Creates the file with its header (state JustCreated). */
JET_ERR
dbfile_format_new(struct jet_inst *inst, const char *path, uint32_t dbid, const struct jet_sig *sign_db,
    int overwrite, struct jet_db **dbp)
{
	struct jet_db *db = dbfile_alloc(inst, path);
	char *dir = NULL;
	JET_ERR err;

	*dbp = NULL;
	if (db == NULL)
		return JET_errOutOfMemory;
	if (overwrite && os_exists(path))
		ERR(os_unlink(path));
	ERR(os_open(path, OS_WRITE | OS_CREATE | OS_EXCL, &db->file));
	db->dbid = dbid;
	db->hdr.version = DB_FORMAT_VERSION;
	db->hdr.page_size = (uint32_t)inst->p.page_size;
	db->hdr.dbstate = JET_dbstateJustCreated;
	db->hdr.dbid = dbid;
	db->hdr.sign_db = *sign_db;
	db->hdr.sign_log = inst->log.sign_log;
	ERR(dbhdr_write(db->file, &db->hdr));
	if ((dir = os_path_dir(path)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	ERR(os_fsync_dir(dir));
	ERR(dbfile_size_pages(db));
	*dbp = db;
	db = NULL;
err:
	free(dir);
	if (db != NULL) {
		if (db->file != NULL)
			os_unlink(path);
		dbfile_free(db);
	}
	return err;
}

/* The file where a point-in-time backup keeps Begin images of the database's pages (snapshot.c). */
char *
dbfile_spill_path(const char *path)
{
	char *p;

	return asprintf(&p, "%s.jfsbk", path) < 0 ? NULL : p;
}

/*
 * A spill file is deleted when its backup ends; one that is still there when
 * the database is opened (recovery at JetInit, or an attach) was left by a
 * process that died during a backup.  Recovery never needs it, no backup of
 * a database being opened can run, and it may be as large as the database:
 * it goes now, not at the next backup, and the event says so.
 */
static void
dbfile_remove_stale_spill(struct jet_inst *inst, const char *path)
{
	char *spill = dbfile_spill_path(path);
	os_file *f;
	uint64_t size = 0;
	JET_ERR err;

	if (spill == NULL || !os_exists(spill)) {
		free(spill);
		return;
	}
	if (os_open(spill, OS_READ, &f) >= 0) {
		if (os_size(f, &size) < 0)
			size = 0;
		os_close(f);
	}
	err = os_unlink(spill);
	event_log(inst, err >= 0 ? EVENT_INFO : EVENT_WARNING, 709,
	    "%s: the backup image file %s (%llu bytes) of a backup that never ended %s", path, spill,
	    (unsigned long long)size, err >= 0 ? "was removed" : "could not be removed");
	free(spill);
}

/* Opens an existing database file and reads its header. */
JET_ERR
dbfile_open(struct jet_inst *inst, const char *path, struct jet_db **dbp)
{
	struct jet_db *db = dbfile_alloc(inst, path);
	JET_ERR err;

	*dbp = NULL;
	if (db == NULL)
		return JET_errOutOfMemory;
	ERR(os_open(path, OS_WRITE, &db->file));
	if ((err = dbhdr_read(db->file, &db->hdr)) < 0) {
		event_log(inst, EVENT_ERROR, 1206, "%s is not a database or its header is damaged (%s)", path,
		    JetErrorName(err));
		goto err;
	}
	if (db->hdr.page_size != inst->p.page_size) {
		event_log(inst, EVENT_ERROR, 1213, "%s has %u-byte pages; the instance uses %lu", path,
		    db->hdr.page_size, inst->p.page_size);
		err = JET_errPageSizeMismatch;
		goto err;
	}
	db->dbid = db->hdr.dbid;
	db->dbtime = db->hdr.dbtime;
	ERR(dbfile_size_pages(db));
	dbfile_remove_stale_spill(inst, path);
	*dbp = db;
	return JET_errSuccess;
err:
	dbfile_free(db);
	return err;
}

JET_ERR
dbfile_write_header(struct jet_db *db)
{
	JET_ERR err;

	pthread_mutex_lock(&db->hdr_lock);
	err = dbhdr_write(db->file, &db->hdr);
	pthread_mutex_unlock(&db->hdr_lock);
	if (err < 0)
		event_log(db->inst, EVENT_ERROR, 219, "%s: unable to write the database header: %s", db->path,
		    JetErrorString(err));
	return err;
}

/* Grows the file so that page pgno fits, in JET_paramDbExtensionSize steps. */
JET_ERR
dbfile_ensure_pages(struct jet_db *db, uint32_t pgno)
{
	uint32_t want;
	JET_ERR err = JET_errSuccess;

	pthread_mutex_lock(&db->hdr_lock);
	if (pgno > db->file_pages) {
		want = pgno + (uint32_t)db->inst->p.db_extension;
		if ((err = os_truncate(db->file, page_offset(want + 1, db->hdr.page_size))) >= 0)
			db->file_pages = want;
	}
	pthread_mutex_unlock(&db->hdr_lock);
	return err;
}

/*
 * Called before a page whose last change is at page_lsn is written: the
 * header's gen_max_required must cover it first, so the header never claims
 * the file needs less log than it does.
 */
JET_ERR
dbfile_note_page_write(struct jet_db *db, lsn_t page_lsn)
{
	uint32_t gen = log_gen_of(&db->inst->log, page_lsn);
	JET_ERR err = JET_errSuccess;

	pthread_mutex_lock(&db->hdr_lock);
	if (page_lsn > db->max_written_lsn)
		db->max_written_lsn = page_lsn;
	if (gen > db->hdr.gen_max_required && db->inst->log.enabled) {
		db->hdr.gen_max_required = gen;
		db->hdr.gen_max_committed = gen;
		err = dbhdr_write(db->file, &db->hdr);
	}
	pthread_mutex_unlock(&db->hdr_lock);
	return err;
}

struct jet_db *
dbfile_find_path(struct jet_inst *inst, const char *path)
{
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (inst->dbs[i] != NULL && strcmp(inst->dbs[i]->path, path) == 0)
			return inst->dbs[i];
	return NULL;
}

/* Reads a page from disk; a page beyond the end of the file reads as zeros. */
JET_ERR
dbfile_read_page(struct jet_db *db, uint32_t pgno, uint8_t *buf)
{
	uint32_t ps = db->hdr.page_size;
	size_t got;
	JET_ERR err = os_pread_partial(db->file, buf, ps, page_offset(pgno, ps), &got);

	if (err < 0)
		return err;
	if (got < ps)
		memset(buf + got, 0, ps - got);
	return JET_errSuccess;
}

/*
 * Makes a database part of the running instance: header dirty, synced.
 * With logging off, or in another log set than the one the header names,
 * the backups recorded in the header are voided first: the changes this run
 * makes are in no log of their chain (none at all, or a log set whose
 * generations and LSNs reuse the old numbers for other records), so no
 * incremental or page delta may build on a full taken before it
 * (pagetrack.c P4, backup.c K7).
 */
JET_ERR
dbfile_attach(struct jet_inst *inst, struct jet_db *db)
{
	static const int slots[] = { BK_FULL_PREV, BK_INC_PREV, BK_COPY_PREV, BK_DIFF_PREV };
	int voided = 0, other_set;
	JET_ERR err;

	pthread_mutex_lock(&db->hdr_lock);
	other_set = db->hdr.sign_log.time_create != 0 && !dbhdr_sig_equal(&db->hdr.sign_log, &inst->log.sign_log);
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]) && (!inst->log.enabled || other_set); i++)
		if (db->hdr.bk[slots[i]].lsn_mark != 0 || db->hdr.bk[slots[i]].gen_low != 0) {
			memset(&db->hdr.bk[slots[i]], 0, sizeof(db->hdr.bk[0]));
			voided = 1;
		}
	db->hdr.dbstate = JET_dbstateDirtyShutdown;
	db->hdr.sign_log = inst->log.sign_log;
	db->hdr.lsn_consistent = 0;
	db->hdr.time_consistent = 0;
	db->hdr.dbtime = db->dbtime;
	if (db->hdr.gen_max_required < inst->log.cur_gen)
		db->hdr.gen_max_required = db->hdr.gen_max_committed = inst->log.cur_gen;
	if (db->hdr.gen_min_required == 0 || db->hdr.gen_min_required > inst->log.cur_gen)
		db->hdr.gen_min_required = inst->log.cur_gen;
	err = dbhdr_write(db->file, &db->hdr);
	pthread_mutex_unlock(&db->hdr_lock);
	if (err < 0)
		return err;
	if (voided)
		event_log(inst, EVENT_WARNING, 247, "%s: attached %s: the backups recorded in its header are void, since "
		    "this run's changes are in no log of their chain; the next incremental or page delta needs a new full "
		    "backup", db->path, !inst->log.enabled ? "with logging off (JET_paramRecovery off)" :
		    "to another log set than the one its header names");
	olock_lock(&inst->inst_lock);
	inst->dbs[db->dbid] = db;
	olock_unlock(&inst->inst_lock);
	return JET_errSuccess;
}

/* Hard recovery (restore.c sets inst->restore): where the database of that signature goes, or NULL. */
const char *
dbfile_restore_path(const struct restore_map *map, const struct jet_sig *sign_db)
{
	for (size_t i = 0; i < map->n; i++)
		if (dbhdr_sig_equal(&map->db[i].sign_db, sign_db))
			return map->db[i].path;
	return NULL;
}

/*
 * The backup phase record (ESE's lrtypBackup2): header, u8 phase, u8 dbid,
 * u8 slot, pad, bkinfo.  Encoded here with its redo, so the layout is in one
 * place; backup.c logs it.
 */
void
dbfile_backup_rec_encode(uint8_t *rec, enum bk_phase phase, uint32_t dbid, int slot, const struct bkinfo *bi)
{
	memset(rec, 0, DBFILE_BKREC_SIZE);
	rec[4] = LREC_BACKUP;
	rec[LREC_HDR_SIZE] = (uint8_t)phase;
	rec[LREC_HDR_SIZE + 1] = (uint8_t)dbid;
	rec[LREC_HDR_SIZE + 2] = (uint8_t)slot;
	if (bi != NULL)
		dbhdr_bkinfo_encode(bi, rec + LREC_HDR_SIZE + 8);
}

/*
 * Records a backup in db's header (in memory; dbfile_write_header writes it).
 * Takes hdr_lock itself: End and recovery's redo are its only callers, and
 * the lock is uncontended during recovery.
 */
void
dbfile_apply_backup(struct jet_db *db, int slot, const struct bkinfo *bi)
{
	struct db_header *h = &db->hdr;

	pthread_mutex_lock(&db->hdr_lock);
	if (bi->lsn_mark >= h->bk[slot].lsn_mark) {
		h->bk[slot] = *bi;
		if (slot == BK_FULL_PREV) {
			memset(&h->bk[BK_INC_PREV], 0, sizeof(h->bk[0]));
			memset(&h->bk[BK_DIFF_PREV], 0, sizeof(h->bk[0]));
		}
	}
	pthread_mutex_unlock(&db->hdr_lock);
}

/* Redo of a backup record: only Update changes a database, and only its header. */
JET_ERR
dbfile_redo_backup(struct jet_db **dbs, const uint8_t *rec, size_t len)
{
	struct bkinfo bi;
	uint32_t dbid;
	int slot;

	if (len != DBFILE_BKREC_SIZE)
		return JET_errLogFileCorrupt;
	if (rec[LREC_HDR_SIZE] != BKP_UPDATE)
		return JET_errSuccess;
	dbid = rec[LREC_HDR_SIZE + 1];
	slot = rec[LREC_HDR_SIZE + 2];
	if (dbid < 1 || dbid > JET_MAX_ATTACHED_DATABASES || slot >= BK_NSLOTS)
		return JET_errLogFileCorrupt;
	if (dbs[dbid] == NULL)
		return JET_errSuccess;
	dbhdr_bkinfo_decode(rec + LREC_HDR_SIZE + 8, &bi);
	dbfile_apply_backup(dbs[dbid], slot, &bi);
	return JET_errSuccess;
}
