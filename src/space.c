/*
 * space.c -- page allocation inside a database.
 *
 * Page 1 (PGNO_SPACE) holds, after the page header: the highest allocated
 * pgno, the head of the free-page list and its length, and the next object
 * id.  Freed pages are chained through their PG_NEXT field.  The space page
 * is an ordinary logged page, so allocation is transactional: a rolled-back
 * transaction gives its pages back, and redo rebuilds the space state.
 * The file itself grows ahead of pgno_last in JET_paramDbExtensionSize
 * steps (db_ensure_file_pages), which is not logged: redo may write past
 * the end of the file.
 */
#include "config.h"

#include "jet_int.h"

#define PGNO_LIMIT 0x7FFFFFF0U

JET_ERR
space_alloc(struct jet_session *s, struct jet_db *db, enum page_type type, uint32_t objid, struct frame **fp)
{
	struct frame *sp = NULL, *f = NULL;
	uint32_t pgno, head;
	JET_ERR err;

	*fp = NULL;
	ERR(cache_get(db, PGNO_SPACE, &sp));
	ERR(txn_write(s, sp));
	head = get32(sp->data + SP_FREE_HEAD);
	if (head != 0) {
		ERR(cache_get(db, head, &f));
		if (f->data[PG_TYPE] != PAGE_FREE) {
			event_log(db->inst, EVENT_ERROR, 447, "%s: free-list page %u is in use: the space tree is damaged",
			    db->path, head);
			err = JET_errSPAvailExtCorrupted;
			goto err;
		}
		ERR(txn_write(s, f));
		put32(sp->data + SP_FREE_HEAD, get32(f->data + PG_NEXT));
		put32(sp->data + SP_FREE_COUNT, get32(sp->data + SP_FREE_COUNT) - 1);
		pgno = head;
	} else {
		pgno = get32(sp->data + SP_PGNO_LAST) + 1;
		if (pgno >= PGNO_LIMIT) {
			err = JET_errOutOfDatabaseSpace;
			goto err;
		}
		ERR(db_ensure_file_pages(db, pgno));
		ERR(cache_get_new(db, pgno, &f));
		ERR(txn_write(s, f));
		put32(sp->data + SP_PGNO_LAST, pgno);
	}
	{
		uint64_t dbtime = get64(f->data + PG_DBTIME);
		page_init(f->data, db->hdr.page_size, pgno, type, objid);
		put64(f->data + PG_DBTIME, dbtime);
	}
	*fp = f;
	f = NULL;
err:
	if (f != NULL)
		cache_unpin(f);
	if (sp != NULL)
		cache_unpin(sp);
	return err;
}

JET_ERR
space_free(struct jet_session *s, struct jet_db *db, uint32_t pgno)
{
	struct frame *sp = NULL, *f = NULL;
	JET_ERR err;

	if (pgno <= PGNO_CATALOG) {
		err = JET_errInternalError;
		goto err;
	}
	ERR(cache_get(db, PGNO_SPACE, &sp));
	ERR(cache_get(db, pgno, &f));
	ERR(txn_write(s, sp));
	ERR(txn_write(s, f));
	{
		uint64_t dbtime = get64(f->data + PG_DBTIME);
		page_init(f->data, db->hdr.page_size, pgno, PAGE_FREE, 0);
		put64(f->data + PG_DBTIME, dbtime);
	}
	put32(f->data + PG_NEXT, get32(sp->data + SP_FREE_HEAD));
	put32(sp->data + SP_FREE_HEAD, pgno);
	put32(sp->data + SP_FREE_COUNT, get32(sp->data + SP_FREE_COUNT) + 1);
err:
	if (f != NULL)
		cache_unpin(f);
	if (sp != NULL)
		cache_unpin(sp);
	return err;
}

JET_ERR
space_pgno_last(struct jet_db *db, uint32_t *pgnop)
{
	struct frame *sp;

	RET(cache_get(db, PGNO_SPACE, &sp));
	*pgnop = get32(sp->data + SP_PGNO_LAST);
	cache_unpin(sp);
	return JET_errSuccess;
}

JET_ERR
space_new_objid(struct jet_session *s, struct jet_db *db, uint32_t *objidp)
{
	struct frame *sp;
	JET_ERR err;

	RET(cache_get(db, PGNO_SPACE, &sp));
	if ((err = txn_write(s, sp)) >= 0) {
		*objidp = get32(sp->data + SP_NEXT_OBJID);
		put32(sp->data + SP_NEXT_OBJID, *objidp + 1);
	}
	cache_unpin(sp);
	return err;
}
