/*
 * space.c -- page allocation inside a database.
 *
 * Page 1 (PGNO_SPACE) holds, after the page header: the highest allocated
 * pgno, the first free-list page, the number of free pages, and the next
 * object id.  A free-list page (PAGE_FREELIST) holds PG_AUX page numbers
 * after its header and links the next list page through PG_NEXT.  Freeing a
 * page appends its number to the first list page (when that one is full,
 * the freed page itself becomes the new first list page); a freed page's
 * content is left alone.  So freeing N pages changes about N / 2000 pages,
 * and deleting a table of any size fits in one transaction.
 *
 * The space page and the list pages are ordinary logged pages, so allocation
 * is transactional: a rolled-back transaction gives its pages back, and redo
 * rebuilds the space state.  The file itself grows ahead of pgno_last in
 * JET_paramDbExtensionSize steps (dbfile_ensure_pages), which is not logged:
 * redo may write past the end of the file.
 */
#include "config.h"

#include "jet_int.h"

#define PGNO_LIMIT 0x7FFFFFF0U

static uint32_t
space_list_cap(uint32_t ps)
{
	return (ps - PAGE_HDR_SIZE) / 4;
}

static JET_ERR
space_corrupt(struct jet_db *db, uint32_t pgno, const char *what)
{
	event_log(db->inst, EVENT_ERROR, 447, "%s: free-space page %u is damaged: %s", db->path, pgno, what);
	return JET_errSPAvailExtCorrupted;
}

/* Reinitializes a page for its new use, keeping its dbtime. */
static void
space_reinit(struct frame *f, uint32_t ps, enum page_type type, uint32_t objid)
{
	uint64_t dbtime = get64(f->data + PG_DBTIME);

	page_init(f->data, ps, f->pgno, type, objid);
	put64(f->data + PG_DBTIME, dbtime);
}

/* Takes a page number off the free list (0: the list is empty). */
static JET_ERR
space_pop_free(struct jet_session *s, struct jet_db *db, struct frame *sp, uint32_t *pgnop, struct frame **listp)
{
	uint32_t head = get32(sp->data + SP_FREE_HEAD), n;
	struct frame *lp;

	*pgnop = 0;
	*listp = NULL;
	if (head == 0)
		return JET_errSuccess;
	RET(cache_get(db, head, &lp));
	n = get32(lp->data + PG_AUX);
	if (lp->data[PG_TYPE] != PAGE_FREELIST || n > space_list_cap(db->hdr.page_size)) {
		cache_unpin(lp);
		return space_corrupt(db, head, "not a free-list page");
	}
	if (n > 0) {
		JET_ERR err = txn_write(s, lp);
		if (err >= 0) {
			*pgnop = get32(lp->data + PAGE_HDR_SIZE + 4 * (n - 1));
			put32(lp->data + PG_AUX, n - 1);
		}
		cache_unpin(lp);
		if (err >= 0 && (*pgnop <= PGNO_CATALOG || *pgnop > get32(sp->data + SP_PGNO_LAST)))
			err = space_corrupt(db, head, "lists an impossible page");
		return err;
	}
	/* An empty list page is itself the free page handed out. */
	put32(sp->data + SP_FREE_HEAD, get32(lp->data + PG_NEXT));
	*pgnop = head;
	*listp = lp;
	return JET_errSuccess;
}

JET_ERR
space_alloc(struct jet_session *s, struct jet_db *db, enum page_type type, uint32_t objid, struct frame **fp)
{
	struct frame *sp = NULL, *f = NULL;
	uint32_t pgno;
	JET_ERR err;

	*fp = NULL;
	ERR(cache_get(db, PGNO_SPACE, &sp));
	ERR(txn_write(s, sp));
	ERR(space_pop_free(s, db, sp, &pgno, &f));
	if (pgno != 0) {
		if (f == NULL)
			ERR(cache_get(db, pgno, &f));
		put32(sp->data + SP_FREE_COUNT, get32(sp->data + SP_FREE_COUNT) - 1);
	} else {
		pgno = get32(sp->data + SP_PGNO_LAST) + 1;
		if (pgno >= PGNO_LIMIT) {
			err = JET_errOutOfDatabaseSpace;
			goto err;
		}
		ERR(dbfile_ensure_pages(db, pgno));
		ERR(cache_get_new(db, pgno, &f));
		put32(sp->data + SP_PGNO_LAST, pgno);
	}
	ERR(txn_write(s, f));
	space_reinit(f, db->hdr.page_size, type, objid);
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
	uint32_t ps = db->hdr.page_size, head, n;
	struct frame *sp = NULL, *lp = NULL;
	JET_ERR err;

	if (pgno <= PGNO_CATALOG)
		return JET_errInternalError;
	ERR(cache_get(db, PGNO_SPACE, &sp));
	ERR(txn_write(s, sp));
	head = get32(sp->data + SP_FREE_HEAD);
	if (head != 0) {
		ERR(cache_get(db, head, &lp));
		if (lp->data[PG_TYPE] != PAGE_FREELIST) {
			err = space_corrupt(db, head, "not a free-list page");
			goto err;
		}
		n = get32(lp->data + PG_AUX);
		if (n < space_list_cap(ps)) {
			ERR(txn_write(s, lp));
			put32(lp->data + PAGE_HDR_SIZE + 4 * n, pgno);
			put32(lp->data + PG_AUX, n + 1);
			goto counted;
		}
		cache_unpin(lp);
		lp = NULL;
	}
	/* No list page with room: the freed page becomes the first one. */
	ERR(cache_get(db, pgno, &lp));
	ERR(txn_write(s, lp));
	space_reinit(lp, ps, PAGE_FREELIST, 0);
	put32(lp->data + PG_NEXT, head);
	put32(sp->data + SP_FREE_HEAD, pgno);
counted:
	put32(sp->data + SP_FREE_COUNT, get32(sp->data + SP_FREE_COUNT) + 1);
err:
	if (lp != NULL)
		cache_unpin(lp);
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
