/*
 * db.c -- database files attached to an instance: creating, opening, the
 * in-memory header and the file's size.
 *
 * A new database is born as a header only (dbstate JustCreated, then
 * DirtyShutdown once attached); its space page and catalog root are created
 * by the first transaction, so they are in the log like any other page.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/*
 * A database's canonical name (os_path_normalize), under which it is found,
 * logged and backed up whatever name the application gives.  Its directory
 * must exist, or is created (mode 0700) with create_dir -- JetCreateDatabase
 * under JET_paramCreatePathIfNotExist, as ESE.  A name ending in '/' names a
 * directory, not a database.
 */
JET_ERR
db_realpath(const char *path, int create_dir, char **outp)
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
db_alloc(struct jet_inst *inst, const char *path)
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
	pthread_mutex_init(&db->bk_io_lock, NULL);
	return db;
}

void
db_free(struct jet_db *db)
{
	if (db == NULL)
		return;
	os_close(db->file);
	pthread_mutex_destroy(&db->hdr_lock);
	pthread_mutex_destroy(&db->bk_io_lock);
	free(db->path);
	free(db);
}

static JET_ERR
db_size_pages(struct jet_db *db)
{
	uint64_t size;

	RET(os_size(db->file, &size));
	db->file_pages = size / db->hdr.page_size > 2 ? (uint32_t)(size / db->hdr.page_size - 2) : 0;
	return JET_errSuccess;
}

/* Creates the file with its header (state JustCreated). */
JET_ERR
db_format_new(struct jet_inst *inst, const char *path, uint32_t dbid, const struct jet_sig *sign_db,
    int overwrite, struct jet_db **dbp)
{
	struct jet_db *db = db_alloc(inst, path);
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
	ERR(db_size_pages(db));
	*dbp = db;
	db = NULL;
err:
	free(dir);
	if (db != NULL) {
		if (db->file != NULL)
			os_unlink(path);
		db_free(db);
	}
	return err;
}

/* The file where a point-in-time backup keeps Begin images of the database's pages (backup.c). */
char *
db_spill_path(const char *path)
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
db_remove_stale_spill(struct jet_inst *inst, const char *path)
{
	char *spill = db_spill_path(path);
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
db_open_file(struct jet_inst *inst, const char *path, struct jet_db **dbp)
{
	struct jet_db *db = db_alloc(inst, path);
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
	ERR(db_size_pages(db));
	db_remove_stale_spill(inst, path);
	*dbp = db;
	return JET_errSuccess;
err:
	db_free(db);
	return err;
}

JET_ERR
db_write_header(struct jet_db *db)
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
db_ensure_file_pages(struct jet_db *db, uint32_t pgno)
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
db_note_page_write(struct jet_db *db, lsn_t page_lsn)
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
db_find_path(struct jet_inst *inst, const char *path)
{
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (inst->dbs[i] != NULL && strcmp(inst->dbs[i]->path, path) == 0)
			return inst->dbs[i];
	return NULL;
}

/* ---- the database API ---- */

/*
 * LREC_CREATEDB / LREC_ATTACH: record header, u8 dbid, 3 zero bytes, u32
 * page size, database signature (28), u16 path length, path (no NUL).
 * LREC_DETACH: record header, u8 dbid, 3 zero bytes.
 */
static JET_ERR
db_log_attach(struct jet_inst *inst, struct jet_db *db, enum log_rec_type type)
{
	size_t pathlen = strlen(db->path), len = LREC_HDR_SIZE + 8 + SIG_SIZE + 2 + pathlen;
	uint8_t *rec;
	JET_ERR err;

	if (pathlen > 4096)
		return JET_errInvalidPath;
	if ((rec = calloc(1, len)) == NULL)
		return JET_errOutOfMemory;
	rec[4] = (uint8_t)type;
	rec[LREC_HDR_SIZE] = (uint8_t)db->dbid;
	put32(rec + LREC_HDR_SIZE + 4, db->hdr.page_size);
	dbhdr_sig_encode(&db->hdr.sign_db, rec + LREC_HDR_SIZE + 8);
	put16(rec + LREC_HDR_SIZE + 8 + SIG_SIZE, (uint16_t)pathlen);
	memcpy(rec + LREC_HDR_SIZE + 8 + SIG_SIZE + 2, db->path, pathlen);
	err = txn_log_system(inst, rec, len, NULL);
	free(rec);
	return err;
}

static uint32_t
db_free_dbid(struct jet_inst *inst, uint32_t prefer)
{
	if (prefer >= 1 && prefer <= JET_MAX_ATTACHED_DATABASES && inst->dbs[prefer] == NULL)
		return prefer;
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (inst->dbs[i] == NULL)
			return i;
	return 0;
}

static void
db_session_open(struct jet_session *s, struct jet_db *db)
{
	pthread_mutex_lock(&s->inst->inst_lock);
	s->db_open[db->dbid]++;
	db->open_count++;
	pthread_mutex_unlock(&s->inst->inst_lock);
}

JET_ERR JET_API
JetCreateDatabase(JET_SESID sesid, JET_PCSTR szFilename, JET_PCSTR szConnect, JET_DBID *pdbid, JET_GRBIT grbit)
{
	struct jet_session *s;
	struct jet_inst *inst;
	struct jet_db *db = NULL;
	struct jet_sig sign;
	char *path = NULL;
	uint32_t dbid;
	int implicit;
	JET_ERR err;

	if (pdbid == NULL || (szConnect != NULL && *szConnect != '\0'))
		return JET_errInvalidParameter;
	if (grbit & ~(JET_bitDbOverwriteExisting | JET_bitDbRecoveryOff))
		return JET_errInvalidGrbit;
	RET(session_enter(sesid, &s));
	inst = s->inst;
	if (s->level > 0) {
		err = JET_errInTransaction;
		goto out;
	}
	ERR(db_realpath(szFilename, inst->p.create_path != 0, &path));
	pthread_mutex_lock(&inst->inst_lock);
	if (db_find_path(inst, path) != NULL)
		err = JET_errDatabaseDuplicate;
	else if ((dbid = db_free_dbid(inst, 1)) == 0)
		err = JET_errTooManyAttachedDatabases;
	else if (!(grbit & JET_bitDbOverwriteExisting) && os_exists(path))
		err = JET_errFileAlreadyExists;
	pthread_mutex_unlock(&inst->inst_lock);
	if (err < 0)
		goto out;
	dbhdr_sig_make(&sign);
	ERR(db_format_new(inst, path, dbid, &sign, (grbit & JET_bitDbOverwriteExisting) != 0, &db));
	db->hdr.lsn_attach = inst->log.append_lsn;
	db->hdr.time_attach = dbhdr_time_now_us();
	db->hdr.gen_attach = inst->log.cur_gen;
	if ((err = db_log_attach(inst, db, LREC_CREATEDB)) < 0) {
		os_unlink(path);
		goto out;
	}
	ERR(instance_attach_db(inst, db));
	if ((err = txn_enter(s, &implicit)) >= 0)
		err = txn_leave(s, implicit, table_catalog_init(s, db));
	db_session_open(s, db);
	*pdbid = db->dbid;
	event_log(inst, EVENT_INFO, 325, "database %s created (dbid %u)", path, db->dbid);
	db = NULL;
err:
out:
	if (db != NULL && inst->dbs[db->dbid] != db)
		db_free(db);
	free(path);
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetAttachDatabase(JET_SESID sesid, JET_PCSTR szFilename, JET_GRBIT grbit)
{
	struct jet_session *s;
	struct jet_inst *inst;
	struct jet_db *db = NULL;
	char *path = NULL;
	uint32_t dbid;
	JET_ERR err;

	if (grbit & ~(JET_bitDbReadOnly | JET_bitDbDeleteCorruptIndexes))
		return JET_errInvalidGrbit;
	RET(session_enter(sesid, &s));
	inst = s->inst;
	if (s->level > 0) {
		err = JET_errInTransaction;
		goto out;
	}
	ERR(db_realpath(szFilename, 0, &path));
	if (!os_exists(path)) {
		err = JET_errFileNotFound;
		goto out;
	}
	pthread_mutex_lock(&inst->inst_lock);
	err = db_find_path(inst, path) != NULL ? JET_wrnDatabaseAttached : JET_errSuccess;
	pthread_mutex_unlock(&inst->inst_lock);
	if (err != JET_errSuccess || inst->backup != NULL) {
		if (err == JET_errSuccess)
			err = JET_errBackupInProgress;
		goto out;
	}
	ERR(db_open_file(inst, path, &db));
	if (db->hdr.flags & DBHDR_FLAG_BACKUP_COPY) {
		event_log(inst, EVENT_ERROR, 544, "%s is a backup copy: restore it with hard recovery first", path);
		err = JET_errSoftRecoveryOnBackupDatabase;
		goto out;
	}
	if (db->hdr.dbstate != JET_dbstateCleanShutdown) {
		event_log(inst, EVENT_ERROR, 550,
		    "%s was not shut down cleanly: it needs recovery with its own log files first", path);
		err = JET_errDatabaseDirtyShutdown;
		goto out;
	}
	pthread_mutex_lock(&inst->inst_lock);
	dbid = db_free_dbid(inst, db->hdr.dbid);
	pthread_mutex_unlock(&inst->inst_lock);
	if (dbid == 0) {
		err = JET_errTooManyAttachedDatabases;
		goto out;
	}
	db->dbid = db->hdr.dbid = dbid;
	db->hdr.lsn_attach = inst->log.append_lsn;
	db->hdr.time_attach = dbhdr_time_now_us();
	db->hdr.gen_attach = inst->log.cur_gen;
	ERR(db_log_attach(inst, db, LREC_ATTACH));
	ERR(instance_attach_db(inst, db));
	event_log(inst, EVENT_INFO, 326, "database %s attached (dbid %u)", path, dbid);
	db = NULL;
err:
out:
	if (db != NULL && inst->dbs[db->dbid] != db)
		db_free(db);
	free(path);
	session_leave(s);
	return err;
}

static JET_ERR
db_detach_one(struct jet_inst *inst, struct jet_db *db)
{
	uint8_t rec[LREC_HDR_SIZE + 4] = { 0 };
	lsn_t start, end;
	JET_ERR err;

	if (db->open_count > 0)
		return JET_errDatabaseInUse;
	pthread_mutex_lock(&inst->write_lock);
	err = cache_flush(inst, db, 0, NULL);
	if (err >= 0) {
		rec[4] = LREC_DETACH;
		rec[LREC_HDR_SIZE] = (uint8_t)db->dbid;
		err = log_append(&inst->log, rec, sizeof(rec), &start, &end);
	}
	if (err >= 0)
		err = log_flush_to(&inst->log, end);
	if (err >= 0)
		err = space_pgno_last(db, &db->hdr.pgno_last);
	if (err >= 0) {
		db->hdr.dbstate = JET_dbstateCleanShutdown;
		db->hdr.dbtime = db->dbtime;
		db->hdr.lsn_consistent = db->hdr.lsn_detach = end;
		db->hdr.gen_consistent = inst->log.cur_gen;
		db->hdr.time_consistent = db->hdr.time_detach = dbhdr_time_now_us();
		err = db_write_header(db);
	}
	if (err >= 0) {
		pthread_mutex_lock(&inst->inst_lock);
		inst->dbs[db->dbid] = NULL;
		pthread_mutex_unlock(&inst->inst_lock);
		cache_drop_db(db);
		event_log(inst, EVENT_INFO, 327, "database %s detached", db->path);
		db_free(db);
	}
	pthread_mutex_unlock(&inst->write_lock);
	return err;
}

JET_ERR JET_API
JetDetachDatabase(JET_SESID sesid, JET_PCSTR szFilename)
{
	struct jet_session *s;
	struct jet_inst *inst;
	char *path = NULL;
	JET_ERR err = JET_errSuccess;

	RET(session_enter(sesid, &s));
	inst = s->inst;
	if (s->level > 0)
		err = JET_errInTransaction;
	else if (inst->backup != NULL)
		err = JET_errBackupInProgress;
	else if (szFilename == NULL || *szFilename == '\0') {
		for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES && err >= 0; i++)
			if (inst->dbs[i] != NULL)
				err = db_detach_one(inst, inst->dbs[i]);
	} else if ((err = db_realpath(szFilename, 0, &path)) >= 0) {
		struct jet_db *db = db_find_path(inst, path);
		err = db == NULL ? JET_errDatabaseNotFound : db_detach_one(inst, db);
	}
	if (err >= 0)
		err = checkpoint_run(inst, 0);
	free(path);
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetOpenDatabase(JET_SESID sesid, JET_PCSTR szFilename, JET_PCSTR szConnect, JET_DBID *pdbid, JET_GRBIT grbit)
{
	struct jet_session *s;
	struct jet_db *db;
	char *path = NULL;
	JET_ERR err;

	if (pdbid == NULL || (szConnect != NULL && *szConnect != '\0'))
		return JET_errInvalidParameter;
	if (grbit & ~(JET_bitDbReadOnly | JET_bitDbExclusive))
		return JET_errInvalidGrbit;
	RET(session_enter(sesid, &s));
	if ((err = db_realpath(szFilename, 0, &path)) >= 0) {
		pthread_mutex_lock(&s->inst->inst_lock);
		db = db_find_path(s->inst, path);
		pthread_mutex_unlock(&s->inst->inst_lock);
		if (db == NULL)
			err = JET_errDatabaseNotFound;
		else {
			db_session_open(s, db);
			*pdbid = db->dbid;
		}
	} else if (err == JET_errInvalidPath)
		err = JET_errDatabaseNotFound;
	free(path);
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetCloseDatabase(JET_SESID sesid, JET_DBID dbid, JET_GRBIT grbit)
{
	struct jet_session *s;
	JET_ERR err = JET_errSuccess;

	(void)grbit;
	RET(session_enter(sesid, &s));
	if (dbid < 1 || dbid > JET_MAX_ATTACHED_DATABASES || s->db_open[dbid] == 0 || s->inst->dbs[dbid] == NULL)
		err = JET_errInvalidDatabaseId;
	else if (s->db_open[dbid] == 1 && table_open_on(s, s->inst->dbs[dbid]))
		err = JET_errDatabaseInUse;
	else {
		struct jet_db *db = s->inst->dbs[dbid];
		pthread_mutex_lock(&s->inst->inst_lock);
		s->db_open[dbid]--;
		db->open_count--;
		pthread_mutex_unlock(&s->inst->inst_lock);
	}
	session_leave(s);
	return err;
}
