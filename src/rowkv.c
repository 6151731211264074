/*
 * rowkv.c -- key/value records over the public API (see rowkv.h).
 */
#include "config.h"

#include "rowkv.h"

JET_ERR
rowkv_seek(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen)
{
	JET_ERR err = JetMakeKey(ses, t, key, (unsigned long)keylen,
	    JET_bitNewKey | (keylen == 0 ? JET_bitKeyDataZeroLength : 0));

	return err < 0 ? err : JetSeek(ses, t, JET_bitSeekEQ);
}

JET_ERR
rowkv_update(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, const void *val, size_t vallen,
    int insert)
{
	JET_ERR err;

	if ((err = JetPrepareUpdate(ses, t, insert ? JET_prepInsert : JET_prepReplace)) < 0)
		return err;
	if (insert && (err = JetSetColumn(ses, t, JET_columnidKey, key, (unsigned long)keylen,
	    keylen == 0 ? JET_bitSetZeroLength : 0, NULL)) < 0)
		return err;
	if ((err = JetSetColumn(ses, t, JET_columnidValue, val, (unsigned long)vallen, 0, NULL)) < 0)
		return err;
	return JetUpdate(ses, t, NULL, 0, NULL);
}

JET_ERR
rowkv_put(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, const void *val, size_t vallen, int insert)
{
	JET_ERR err;

	if (!insert && (err = rowkv_seek(ses, t, key, keylen)) < 0)
		return err;
	return rowkv_update(ses, t, key, keylen, val, vallen, insert);
}

JET_ERR
rowkv_get(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, void *val, size_t vallen)
{
	unsigned long got = 0;
	JET_ERR err;

	if ((err = rowkv_seek(ses, t, key, keylen)) < 0)
		return err;
	if ((err = JetRetrieveColumn(ses, t, JET_columnidValue, val, (unsigned long)vallen, &got, 0, NULL)) < 0)
		return err;
	return got == vallen ? JET_errSuccess : JET_errDatabaseCorrupted;
}
