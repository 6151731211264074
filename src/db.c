/*
 * db.c -- the database API (JetCreateDatabase, JetAttachDatabase, ...): the
 * sessions' view of the database files that dbfile.c keeps.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

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
	olock_lock(&s->inst->inst_lock);
	s->db_open[db->dbid]++;
	db->open_count++;
	olock_unlock(&s->inst->inst_lock);
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
	ERR(dbfile_realpath(szFilename, inst->p.create_path != 0, &path));
	olock_lock(&inst->inst_lock);
	if (dbfile_find_path(inst, path) != NULL)
		err = JET_errDatabaseDuplicate;
	else if ((dbid = db_free_dbid(inst, 1)) == 0)
		err = JET_errTooManyAttachedDatabases;
	else if (!(grbit & JET_bitDbOverwriteExisting) && os_exists(path))
		err = JET_errFileAlreadyExists;
	olock_unlock(&inst->inst_lock);
	if (err < 0)
		goto out;
	dbhdr_sig_make(&sign);
	ERR(dbfile_format_new(inst, path, dbid, &sign, (grbit & JET_bitDbOverwriteExisting) != 0, &db));
	db->hdr.lsn_attach = inst->log.append_lsn;
	db->hdr.time_attach = dbhdr_time_now_us();
	db->hdr.gen_attach = inst->log.cur_gen;
	if ((err = db_log_attach(inst, db, LREC_CREATEDB)) < 0) {
		os_unlink(path);
		goto out;
	}
	ERR(dbfile_attach(inst, db));
	if ((err = txn_enter(s, &implicit)) >= 0)
		err = txn_leave(s, implicit, table_catalog_init(s, db));
	db_session_open(s, db);
	*pdbid = db->dbid;
	event_log(inst, EVENT_INFO, 325, "database %s created (dbid %u)", path, db->dbid);
	db = NULL;
err:
out:
	if (db != NULL && inst->dbs[db->dbid] != db)
		dbfile_free(db);
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
	ERR(dbfile_realpath(szFilename, 0, &path));
	if (!os_exists(path)) {
		err = JET_errFileNotFound;
		goto out;
	}
	olock_lock(&inst->inst_lock);
	err = dbfile_find_path(inst, path) != NULL ? JET_wrnDatabaseAttached : JET_errSuccess;
	olock_unlock(&inst->inst_lock);
	if (err != JET_errSuccess || inst->backup != NULL) {
		if (err == JET_errSuccess)
			err = JET_errBackupInProgress;
		goto out;
	}
	ERR(dbfile_open(inst, path, &db));
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
	olock_lock(&inst->inst_lock);
	dbid = db_free_dbid(inst, db->hdr.dbid);
	olock_unlock(&inst->inst_lock);
	if (dbid == 0) {
		err = JET_errTooManyAttachedDatabases;
		goto out;
	}
	db->dbid = db->hdr.dbid = dbid;
	db->hdr.lsn_attach = inst->log.append_lsn;
	db->hdr.time_attach = dbhdr_time_now_us();
	db->hdr.gen_attach = inst->log.cur_gen;
	ERR(db_log_attach(inst, db, LREC_ATTACH));
	ERR(dbfile_attach(inst, db));
	event_log(inst, EVENT_INFO, 326, "database %s attached (dbid %u)", path, dbid);
	db = NULL;
err:
out:
	if (db != NULL && inst->dbs[db->dbid] != db)
		dbfile_free(db);
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
		err = dbfile_write_header(db);
	}
	if (err >= 0) {
		olock_lock(&inst->inst_lock);
		inst->dbs[db->dbid] = NULL;
		olock_unlock(&inst->inst_lock);
		cache_drop_db(db);
		event_log(inst, EVENT_INFO, 327, "database %s detached", db->path);
		dbfile_free(db);
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
	} else if ((err = dbfile_realpath(szFilename, 0, &path)) >= 0) {
		struct jet_db *db = dbfile_find_path(inst, path);
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
	if ((err = dbfile_realpath(szFilename, 0, &path)) >= 0) {
		olock_lock(&s->inst->inst_lock);
		db = dbfile_find_path(s->inst, path);
		olock_unlock(&s->inst->inst_lock);
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
		olock_lock(&s->inst->inst_lock);
		s->db_open[dbid]--;
		db->open_count--;
		olock_unlock(&s->inst->inst_lock);
	}
	session_leave(s);
	return err;
}
