/*
 * verify.c -- JetfsVerifyDatabase: every page's checksum, then every tree.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

static JET_ERR
verify_pages(struct jet_db *db, JET_JETFSVERIFY *info)
{
	uint32_t ps = db->hdr.page_size, last;
	uint8_t *buf = malloc(ps);
	JET_ERR err;

	if (buf == NULL)
		return JET_errOutOfMemory;
	if ((err = space_pgno_last(db, &last)) < 0)
		goto out;
	for (uint32_t pgno = 1; pgno <= last; pgno++) {
		if ((err = dbfile_read_page(db, pgno, buf)) < 0)
			goto out;
		info->cpagesChecked++;
		err = page_verify(buf, ps, pgno);
		if (err == JET_errPageNotInitialized)
			info->cpagesUninitialized++;
		else if (err < 0)
			info->cpagesBad++;
		if (err < 0 && info->szProblem[0] == '\0')
			snprintf(info->szProblem, sizeof(info->szProblem), "page %u: %s", pgno, JetErrorName(err));
	}
	err = info->szProblem[0] ? JET_errDatabaseCorrupted : JET_errSuccess;
out:
	free(buf);
	return err;
}

static JET_ERR
verify_trees(struct jet_db *db, JET_JETFSVERIFY *info)
{
	char **names = NULL, msg[200] = "";
	size_t n = 0;
	uint64_t records;
	JET_ERR err;

	if ((err = btree_verify(db, PGNO_CATALOG, &records, msg, sizeof(msg))) < 0) {
		snprintf(info->szProblem, sizeof(info->szProblem), "catalog: %s", msg);
		return err;
	}
	RET(table_list(db, &names, &n));
	for (size_t i = 0; i < n; i++) {
		uint32_t root, objid;
		if (err >= 0 && (err = table_find(db, names[i], &root, &objid)) >= 0 &&
		    (err = btree_verify(db, root, &records, msg, sizeof(msg))) >= 0) {
			info->ctables++;
			info->crecords += records;
		} else if (err < 0 && info->szProblem[0] == '\0')
			snprintf(info->szProblem, sizeof(info->szProblem), "table %s: %s", names[i],
			    msg[0] ? msg : JetErrorName(err));
		free(names[i]);
	}
	free(names);
	return err;
}

JET_ERR JET_API
JetfsVerifyDatabase(JET_SESID sesid, JET_DBID dbid, JET_JETFSVERIFY *info)
{
	struct jet_session *s;
	struct jet_db *db;
	int implicit;
	JET_ERR err;

	if (info == NULL || info->cbStruct < sizeof(*info))
		return JET_errInvalidParameter;
	memset(info, 0, sizeof(*info));
	info->cbStruct = sizeof(*info);
	RET(session_enter(sesid, &s));
	if (dbid < 1 || dbid > JET_MAX_ATTACHED_DATABASES || !s->db_open[dbid] || (db = s->inst->dbs[dbid]) == NULL)
		err = JET_errInvalidDatabaseId;
	else if (s->level > 0)
		err = JET_errInTransaction;
	else if ((err = txn_enter(s, &implicit)) >= 0) {
		err = cache_flush(s->inst, db, 0, NULL);
		if (err >= 0)
			err = verify_pages(db, info);
		if (err >= 0)
			err = verify_trees(db, info);
		err = txn_leave(s, implicit, err);
	}
	session_leave(s);
	return err;
}
