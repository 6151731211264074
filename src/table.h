/*
 * table.h -- cursors on tables (table.c), shared with session.c and db.c.
 */
#ifndef JET_TABLE_H
#define JET_TABLE_H

#include "jet_int.h"

struct jet_cursor {
	JET_TABLEID handle;
	struct jet_session *s;
	struct jet_db *db;
	uint32_t objid;
	char name[JET_cbNameMost + 1];
	int readonly;
	struct btree_cursor bt;
	uint8_t search_key[JET_cbKeyMost];
	size_t search_keylen;
	int key_made;
	unsigned long prep;		/* 0: none, else JET_prep* + 1 */
	uint8_t upd_key[JET_cbKeyMost];
	size_t upd_keylen;
	int upd_key_set;
	uint8_t *upd_val;
	size_t upd_vallen, upd_valcap;
	struct jet_cursor *next;
};

void table_close_all(struct jet_session *s);
int table_open_on(struct jet_session *s, struct jet_db *db);
void table_rollback_cleanup(struct jet_session *s);
JET_ERR table_catalog_init(struct jet_session *s, struct jet_db *db);
JET_ERR table_find(struct jet_db *db, const char *name, uint32_t *rootp, uint32_t *objidp);
JET_ERR table_list(struct jet_db *db, char ***namesp, size_t *np);

#endif
