/*
 * table.c -- tables and cursors: the ESE data API over B+trees.
 *
 * The catalog is the B+tree rooted at page 2 of each database, keyed by table
 * name; a catalog value is u32 root pgno, u32 object id.  A table's records
 * are (key, value): JET_columnidKey is the primary index, JET_columnidValue a
 * long binary of any length.
 *
 * A cursor remembers its position as the current key, so it stays valid
 * across other sessions' splits and deletes: moving re-seeks from that key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define CATALOG_VALUE 8

static JET_ERR
table_enter(JET_SESID sesid, JET_TABLEID tableid, struct jet_session **sp, struct jet_cursor **cp)
{
	struct jet_cursor *c;

	RET(session_enter(sesid, sp));
	c = handle_get(HANDLE_TABLE, tableid);
	if (c == NULL || c->s != *sp) {
		session_leave(*sp);
		return c == NULL ? JET_errInvalidTableId : JET_errSesidTableIdMismatch;
	}
	*cp = c;
	return JET_errSuccess;
}

static JET_ERR
table_check_name(const char *name)
{
	size_t len;

	if (name == NULL || (len = strlen(name)) == 0 || len > JET_cbNameMost)
		return JET_errInvalidName;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == '[' || name[i] == ']' || name[i] == '!' || name[i] == '.')
			return JET_errInvalidName;
	return name[0] == ' ' ? JET_errInvalidName : JET_errSuccess;
}

static struct jet_db *
table_db(struct jet_session *s, JET_DBID dbid)
{
	if (dbid < 1 || dbid > JET_MAX_ATTACHED_DATABASES || !s->db_open[dbid])
		return NULL;
	return s->inst->dbs[dbid];
}

static void
catalog_cursor(struct jet_db *db, struct btree_cursor *bc)
{
	memset(bc, 0, sizeof(*bc));
	bc->db = db;
	bc->root = PGNO_CATALOG;
}

JET_ERR
table_find(struct jet_db *db, const char *name, uint32_t *rootp, uint32_t *objidp)
{
	struct btree_cursor bc;
	uint8_t *val;
	size_t len;
	JET_ERR err;

	catalog_cursor(db, &bc);
	if ((err = btree_seek(&bc, (const uint8_t *)name, strlen(name), BT_SEEK_EQ)) < 0)
		return err == JET_errRecordNotFound ? JET_errObjectNotFound : err;
	RET(btree_value(&bc, &val, &len));
	if (len != CATALOG_VALUE) {
		free(val);
		event_log(db->inst, EVENT_ERROR, 1220, "%s: catalog entry for table %s is damaged", db->path, name);
		return JET_errCatalogCorrupted;
	}
	*rootp = get32(val);
	*objidp = get32(val + 4);
	free(val);
	return JET_errSuccess;
}

/* The names of every table (jetfs verification and tools). */
JET_ERR
table_list(struct jet_db *db, char ***namesp, size_t *np)
{
	struct btree_cursor bc;
	char **names = NULL;
	size_t n = 0;
	JET_ERR err;

	*namesp = NULL;
	*np = 0;
	catalog_cursor(db, &bc);
	for (err = btree_first(&bc); err >= 0; err = btree_next(&bc)) {
		char **nn = realloc(names, (n + 1) * sizeof(*names));
		if (nn == NULL || (nn[n] = strndup((char *)bc.key, bc.keylen)) == NULL) {
			names = nn != NULL ? nn : names;
			err = JET_errOutOfMemory;
			break;
		}
		names = nn;
		n++;
	}
	if (err != JET_errRecordNotFound) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return err;
	}
	*namesp = names;
	*np = n;
	return JET_errSuccess;
}

/* Creates the space page and the catalog root of a new database. */
JET_ERR
table_catalog_init(struct jet_session *s, struct jet_db *db)
{
	struct frame *sp;
	JET_ERR err;

	RET(dbfile_ensure_pages(db, PGNO_CATALOG));
	RET(cache_get_new(db, PGNO_SPACE, &sp));
	if ((err = txn_write(s, sp)) >= 0) {
		page_init(sp->data, db->hdr.page_size, PGNO_SPACE, PAGE_SPACE, 1);
		put32(sp->data + SP_PGNO_LAST, PGNO_CATALOG);
		put32(sp->data + SP_NEXT_OBJID, 3);
	}
	cache_unpin(sp);
	return err < 0 ? err : btree_init_root(s, db, PGNO_CATALOG, 2);
}

static JET_ERR
cursor_new(struct jet_session *s, struct jet_db *db, const char *name, uint32_t root, uint32_t objid, int readonly,
    JET_TABLEID *ptableid)
{
	struct jet_inst *inst = s->inst;
	struct jet_cursor *c;

	olock_lock(&inst->inst_lock);
	if (inst->ncursors >= inst->p.max_open_tables) {
		olock_unlock(&inst->inst_lock);
		return JET_errTooManyOpenTables;
	}
	inst->ncursors++;
	olock_unlock(&inst->inst_lock);
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->handle = handle_new(HANDLE_TABLE, c)) == 0) {
		free(c);
		olock_lock(&inst->inst_lock);
		inst->ncursors--;
		olock_unlock(&inst->inst_lock);
		return JET_errOutOfMemory;
	}
	c->s = s;
	c->db = db;
	c->objid = objid;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->readonly = readonly;
	c->bt.db = db;
	c->bt.root = root;
	c->next = s->cursors;
	s->cursors = c;
	*ptableid = c->handle;
	return JET_errSuccess;
}

static void
cursor_free(struct jet_session *s, struct jet_cursor *c)
{
	for (struct jet_cursor **pp = &s->cursors; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	handle_free(c->handle);
	olock_lock(&s->inst->inst_lock);
	s->inst->ncursors--;
	olock_unlock(&s->inst->inst_lock);
	free(c->upd_val);
	free(c);
}

void
table_close_all(struct jet_session *s)
{
	while (s->cursors != NULL)
		cursor_free(s, s->cursors);
}

/* Has the session a cursor open on a table of db? */
int
table_open_on(struct jet_session *s, struct jet_db *db)
{
	for (struct jet_cursor *c = s->cursors; c != NULL; c = c->next)
		if (c->db == db)
			return 1;
	return 0;
}

/* After a rollback, prepared updates are cancelled (as in ESE). */
void
table_rollback_cleanup(struct jet_session *s)
{
	for (struct jet_cursor *c = s->cursors; c != NULL; c = c->next)
		c->prep = 0;
}

/* JET_errTableInUse if a cursor of any session has the table open: the sessions' cursors need inst_lock. */
static JET_ERR
table_unused(struct jet_inst *inst, struct jet_db *db, uint32_t objid)
{
	JET_ASSERT(inst, olock_held(&inst->inst_lock));
	for (struct jet_session *s = inst->sessions; s != NULL; s = s->next)
		for (struct jet_cursor *c = s->cursors; c != NULL; c = c->next)
			if (c->db == db && c->objid == objid)
				return JET_errTableInUse;
	return JET_errSuccess;
}

JET_ERR JET_API
JetCreateTable(JET_SESID sesid, JET_DBID dbid, JET_PCSTR szTableName, unsigned long lPages, unsigned long lDensity,
    JET_TABLEID *ptableid)
{
	struct jet_session *s;
	struct jet_db *db;
	struct btree_cursor bc;
	uint32_t root, objid;
	uint8_t val[CATALOG_VALUE];
	int implicit;
	JET_ERR err;

	(void)lPages;
	if (ptableid == NULL)
		return JET_errInvalidParameter;
	RET(session_enter(sesid, &s));
	if ((db = table_db(s, dbid)) == NULL) {
		err = JET_errInvalidDatabaseId;
		goto out;
	}
	if ((err = table_check_name(szTableName)) < 0)
		goto out;
	if (lDensity != 0 && (lDensity < 20 || lDensity > 100)) {
		err = JET_errDensityInvalid;
		goto out;
	}
	if ((err = txn_enter(s, &implicit)) < 0)
		goto out;
	err = table_find(db, szTableName, &root, &objid);
	if (err >= 0)
		err = JET_errTableDuplicate;
	else if (err == JET_errObjectNotFound) {
		if ((err = space_new_objid(s, db, &objid)) >= 0 && (err = btree_create(s, db, objid, &root)) >= 0) {
			put32(val, root);
			put32(val + 4, objid);
			catalog_cursor(db, &bc);
			err = btree_insert(s, &bc, (const uint8_t *)szTableName, strlen(szTableName), val, sizeof(val), 0);
		}
	}
	err = txn_leave(s, implicit, err);
	if (err >= 0)
		err = cursor_new(s, db, szTableName, root, objid, 0, ptableid);
out:
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetOpenTable(JET_SESID sesid, JET_DBID dbid, JET_PCSTR szTableName, const void *pvParameters,
    unsigned long cbParameters, JET_GRBIT grbit, JET_TABLEID *ptableid)
{
	struct jet_session *s;
	struct jet_db *db;
	uint32_t root, objid;
	int implicit;
	JET_ERR err;

	if (ptableid == NULL || pvParameters != NULL || cbParameters != 0)
		return JET_errInvalidParameter;
	if (grbit & ~(JET_bitTableDenyWrite | JET_bitTableDenyRead | JET_bitTableReadOnly | JET_bitTableUpdatable))
		return JET_errInvalidGrbit;
	RET(session_enter(sesid, &s));
	if ((db = table_db(s, dbid)) == NULL)
		err = JET_errInvalidDatabaseId;
	else if ((err = table_check_name(szTableName)) >= 0 && (err = txn_enter(s, &implicit)) >= 0) {
		err = txn_leave(s, implicit, table_find(db, szTableName, &root, &objid));
		if (err >= 0)
			err = cursor_new(s, db, szTableName, root, objid, (grbit & JET_bitTableReadOnly) != 0, ptableid);
	}
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetCloseTable(JET_SESID sesid, JET_TABLEID tableid)
{
	struct jet_session *s;
	struct jet_cursor *c;

	RET(table_enter(sesid, tableid, &s, &c));
	cursor_free(s, c);
	session_leave(s);
	return JET_errSuccess;
}

JET_ERR JET_API
JetDeleteTable(JET_SESID sesid, JET_DBID dbid, JET_PCSTR szTableName)
{
	struct jet_session *s;
	struct jet_db *db;
	struct btree_cursor bc;
	uint32_t root, objid;
	int implicit;
	JET_ERR err, busy;

	RET(session_enter(sesid, &s));
	if ((db = table_db(s, dbid)) == NULL) {
		err = JET_errInvalidDatabaseId;
		goto out;
	}
	if ((err = table_check_name(szTableName)) < 0 || (err = txn_enter(s, &implicit)) < 0)
		goto out;
	if ((err = table_find(db, szTableName, &root, &objid)) >= 0) {
		olock_lock(&s->inst->inst_lock);
		busy = table_unused(s->inst, db, objid);
		olock_unlock(&s->inst->inst_lock);
		catalog_cursor(db, &bc);
		if (busy < 0)
			err = busy;
		else if ((err = btree_seek(&bc, (const uint8_t *)szTableName, strlen(szTableName), BT_SEEK_EQ)) >= 0 &&
		    (err = btree_delete(s, &bc)) >= 0)
			err = btree_drop(s, db, root);
	}
	err = txn_leave(s, implicit, err);
out:
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetPrepareUpdate(JET_SESID sesid, JET_TABLEID tableid, unsigned long prep)
{
	struct jet_session *s;
	struct jet_cursor *c;
	JET_ERR err = JET_errSuccess;

	RET(table_enter(sesid, tableid, &s, &c));
	switch (prep) {
	case JET_prepCancel:
		if (c->prep == 0)
			err = JET_errUpdateNotPrepared;
		c->prep = 0;
		break;
	case JET_prepInsert:
	case JET_prepReplace:
	case JET_prepReplaceNoLock:
		if (c->readonly) {
			err = JET_errPermissionDenied;
			break;
		}
		if (c->prep != 0) {
			err = JET_errAlreadyPrepared;
			break;
		}
		c->upd_vallen = 0;
		c->upd_key_set = 0;
		if (prep != JET_prepInsert) {
			int implicit;
			uint8_t *val = NULL;
			size_t len = 0;
			if (!c->bt.positioned) {
				err = JET_errNoCurrentRecord;
				break;
			}
			if ((err = txn_enter(s, &implicit)) < 0)
				break;
			err = txn_leave(s, implicit, btree_value(&c->bt, &val, &len));
			if (err < 0)
				break;
			free(c->upd_val);
			c->upd_val = val;
			c->upd_vallen = c->upd_valcap = len;
			memcpy(c->upd_key, c->bt.key, c->bt.keylen);
			c->upd_keylen = c->bt.keylen;
			c->upd_key_set = 1;
		}
		c->prep = prep + 1;
		break;
	default:
		err = JET_errInvalidParameter;
	}
	session_leave(s);
	return err;
}

static JET_ERR
cursor_value_room(struct jet_cursor *c, size_t len)
{
	if (len > c->upd_valcap) {
		size_t ncap = c->upd_valcap ? c->upd_valcap : 256;
		uint8_t *n;
		while (ncap < len)
			ncap *= 2;
		if ((n = realloc(c->upd_val, ncap)) == NULL)
			return JET_errOutOfMemory;
		c->upd_val = n;
		c->upd_valcap = ncap;
	}
	return JET_errSuccess;
}

JET_ERR JET_API
JetSetColumn(JET_SESID sesid, JET_TABLEID tableid, JET_COLUMNID columnid, const void *pvData, unsigned long cbData,
    JET_GRBIT grbit, JET_SETINFO *psetinfo)
{
	struct jet_session *s;
	struct jet_cursor *c;
	JET_ERR err = JET_errSuccess;
	size_t off;

	RET(table_enter(sesid, tableid, &s, &c));
	if (grbit & ~(JET_bitSetAppendLV | JET_bitSetOverwriteLV | JET_bitSetSizeLV | JET_bitSetZeroLength)) {
		err = JET_errInvalidGrbit;
		goto out;
	}
	if (c->prep == 0) {
		err = JET_errUpdateNotPrepared;
		goto out;
	}
	if (pvData == NULL && cbData > 0 && !(grbit & JET_bitSetSizeLV)) {
		err = JET_errInvalidParameter;
		goto out;
	}
	if (psetinfo != NULL && psetinfo->cbStruct < sizeof(JET_SETINFO)) {
		err = JET_errInvalidParameter;
		goto out;
	}
	if (columnid == JET_columnidKey) {
		if (c->prep != JET_prepInsert + 1)
			err = JET_errColumnNotUpdatable;
		else if (cbData > JET_cbKeyMost)
			err = JET_errKeyTooBig;
		else {
			memcpy(c->upd_key, pvData, cbData);
			c->upd_keylen = cbData;
			c->upd_key_set = cbData > 0 || (grbit & JET_bitSetZeroLength);
		}
		goto out;
	}
	if (columnid != JET_columnidValue) {
		err = JET_errBadColumnId;
		goto out;
	}
	if (grbit & JET_bitSetSizeLV) {
		if ((err = cursor_value_room(c, cbData)) >= 0) {
			if (cbData > c->upd_vallen)
				memset(c->upd_val + c->upd_vallen, 0, cbData - c->upd_vallen);
			c->upd_vallen = cbData;
		}
		goto out;
	}
	off = (grbit & JET_bitSetAppendLV) ? c->upd_vallen : 0;
	if (psetinfo != NULL && psetinfo->ibLongValue != 0) {
		if (!(grbit & JET_bitSetOverwriteLV) || psetinfo->ibLongValue > c->upd_vallen) {
			err = JET_errInvalidParameter;
			goto out;
		}
		off = psetinfo->ibLongValue;
	}
	if ((err = cursor_value_room(c, off + cbData)) < 0)
		goto out;
	if (cbData > 0)
		memcpy(c->upd_val + off, pvData, cbData);
	if ((grbit & (JET_bitSetAppendLV | JET_bitSetOverwriteLV)) == 0 || off + cbData > c->upd_vallen)
		c->upd_vallen = off + cbData;
out:
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetUpdate(JET_SESID sesid, JET_TABLEID tableid, void *pvBookmark, unsigned long cbBookmark, unsigned long *pcbActual)
{
	struct jet_session *s;
	struct jet_cursor *c;
	int implicit;
	JET_ERR err;

	RET(table_enter(sesid, tableid, &s, &c));
	if (c->prep == 0) {
		err = JET_errUpdateNotPrepared;
		goto out;
	}
	if (!c->upd_key_set) {
		err = JET_errNullKeyDisallowed;
		goto out;
	}
	if ((err = txn_enter(s, &implicit)) < 0)
		goto out;
	err = btree_insert(s, &c->bt, c->upd_key, c->upd_keylen, c->upd_val, c->upd_vallen, c->prep != JET_prepInsert + 1);
	err = txn_leave(s, implicit, err);
	if (err >= 0) {
		c->prep = 0;
		if (pcbActual != NULL)
			*pcbActual = c->upd_keylen;
		if (pvBookmark != NULL)
			memcpy(pvBookmark, c->upd_key, cbBookmark < c->upd_keylen ? cbBookmark : c->upd_keylen);
	}
out:
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetMakeKey(JET_SESID sesid, JET_TABLEID tableid, const void *pvData, unsigned long cbData, JET_GRBIT grbit)
{
	struct jet_session *s;
	struct jet_cursor *c;
	JET_ERR err = JET_errSuccess;

	RET(table_enter(sesid, tableid, &s, &c));
	if (grbit & ~(JET_bitNewKey | JET_bitNormalizedKey | JET_bitKeyDataZeroLength))
		err = JET_errInvalidGrbit;
	else if (pvData == NULL && cbData > 0)
		err = JET_errInvalidParameter;
	else if (!(grbit & JET_bitNewKey) && !c->key_made)
		err = JET_errKeyNotMade;
	else {
		size_t base = (grbit & JET_bitNewKey) ? 0 : c->search_keylen;
		if (base + cbData > JET_cbKeyMost)
			err = JET_errKeyTooBig;
		else {
			if (cbData > 0)
				memcpy(c->search_key + base, pvData, cbData);
			c->search_keylen = base + cbData;
			c->key_made = 1;
		}
	}
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetSeek(JET_SESID sesid, JET_TABLEID tableid, JET_GRBIT grbit)
{
	static const struct { JET_GRBIT bit; int how; } seeks[] = {
		{ JET_bitSeekEQ, BT_SEEK_EQ }, { JET_bitSeekGE, BT_SEEK_GE }, { JET_bitSeekGT, BT_SEEK_GT },
		{ JET_bitSeekLE, BT_SEEK_LE }, { JET_bitSeekLT, BT_SEEK_LT },
	};
	struct jet_session *s;
	struct jet_cursor *c;
	int implicit, how = -1;
	JET_ERR err;

	RET(table_enter(sesid, tableid, &s, &c));
	for (size_t i = 0; i < sizeof(seeks) / sizeof(seeks[0]); i++)
		if ((grbit & ~JET_bitSetIndexRange) == seeks[i].bit)
			how = seeks[i].how;
	if (how < 0)
		err = JET_errInvalidGrbit;
	else if (!c->key_made)
		err = JET_errKeyNotMade;
	else if ((err = txn_enter(s, &implicit)) >= 0) {
		err = txn_leave(s, implicit, btree_seek(&c->bt, c->search_key, c->search_keylen, how));
		if (how == BT_SEEK_EQ && err == JET_wrnSeekNotEqual)
			err = JET_errRecordNotFound;
		c->key_made = 0;
	}
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetMove(JET_SESID sesid, JET_TABLEID tableid, long cRow, JET_GRBIT grbit)
{
	struct jet_session *s;
	struct jet_cursor *c;
	int implicit;
	JET_ERR err;

	RET(table_enter(sesid, tableid, &s, &c));
	if (grbit != 0) {
		err = JET_errInvalidGrbit;
		goto out;
	}
	if ((err = txn_enter(s, &implicit)) < 0)
		goto out;
	if (cRow == (long)JET_MoveFirst)
		err = btree_first(&c->bt);
	else if (cRow == JET_MoveLast)
		err = btree_last(&c->bt);
	else if (cRow > 0) {
		if (!c->bt.positioned && !c->bt.between)
			err = JET_errNoCurrentRecord;
		for (long i = 0; i < cRow && err >= 0; i++)
			err = btree_next(&c->bt);
	} else if (cRow < 0) {
		if (!c->bt.positioned && !c->bt.between)
			err = JET_errNoCurrentRecord;
		for (long i = 0; i > cRow && err >= 0; i--)
			err = btree_prev(&c->bt);
	} else if (!c->bt.positioned)
		err = JET_errNoCurrentRecord;
	if (err == JET_errRecordNotFound)
		err = JET_errNoCurrentRecord;
	err = txn_leave(s, implicit, err);
out:
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetRetrieveColumn(JET_SESID sesid, JET_TABLEID tableid, JET_COLUMNID columnid, void *pvData, unsigned long cbData,
    unsigned long *pcbActual, JET_GRBIT grbit, JET_RETINFO *pretinfo)
{
	struct jet_session *s;
	struct jet_cursor *c;
	uint8_t *val = NULL;
	const uint8_t *src;
	size_t len, off = 0;
	int implicit;
	JET_ERR err = JET_errSuccess;

	RET(table_enter(sesid, tableid, &s, &c));
	if (grbit & ~JET_bitRetrieveCopy) {
		err = JET_errInvalidGrbit;
		goto out;
	}
	if ((pvData == NULL && cbData > 0) || (pretinfo != NULL && pretinfo->cbStruct < sizeof(JET_RETINFO))) {
		err = JET_errInvalidParameter;
		goto out;
	}
	if (columnid != JET_columnidKey && columnid != JET_columnidValue) {
		err = JET_errBadColumnId;
		goto out;
	}
	if (grbit & JET_bitRetrieveCopy) {
		if (c->prep == 0) {
			err = JET_errUpdateNotPrepared;
			goto out;
		}
		src = columnid == JET_columnidKey ? c->upd_key : c->upd_val;
		len = columnid == JET_columnidKey ? c->upd_keylen : c->upd_vallen;
	} else if (!c->bt.positioned) {
		err = JET_errNoCurrentRecord;
		goto out;
	} else if (columnid == JET_columnidKey) {
		src = c->bt.key;
		len = c->bt.keylen;
	} else {
		if ((err = txn_enter(s, &implicit)) < 0)
			goto out;
		err = txn_leave(s, implicit, btree_value(&c->bt, &val, &len));
		if (err == JET_errRecordDeleted)
			err = JET_errNoCurrentRecord;
		if (err < 0)
			goto out;
		src = val;
	}
	if (pretinfo != NULL)
		off = pretinfo->ibLongValue < len ? pretinfo->ibLongValue : len;
	if (pcbActual != NULL)
		*pcbActual = (unsigned long)(len - off);
	if (len - off > cbData) {
		if (cbData > 0)
			memcpy(pvData, src + off, cbData);
		err = JET_wrnBufferTruncated;
	} else {
		if (len - off > 0)
			memcpy(pvData, src + off, len - off);
		err = len == 0 ? JET_wrnColumnNull : JET_errSuccess;
	}
out:
	free(val);
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetDelete(JET_SESID sesid, JET_TABLEID tableid)
{
	struct jet_session *s;
	struct jet_cursor *c;
	int implicit;
	JET_ERR err;

	RET(table_enter(sesid, tableid, &s, &c));
	if (c->readonly)
		err = JET_errPermissionDenied;
	else if (!c->bt.positioned)
		err = JET_errNoCurrentRecord;
	else if ((err = txn_enter(s, &implicit)) >= 0) {
		err = btree_delete(s, &c->bt);
		if (err == JET_errRecordDeleted)
			err = JET_errNoCurrentRecord;
		err = txn_leave(s, implicit, err);
	}
	session_leave(s);
	return err;
}
