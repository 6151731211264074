/*
 * rowkv.h -- one record of a key/value table (JET_columnidKey and
 * JET_columnidValue) through the public API: the seek, put and get that the
 * demo application, the benchmarks and the tests share.
 */
#ifndef JET_ROWKV_H
#define JET_ROWKV_H

#include <stddef.h>

#include "jet.h"

/*
 * Positions t on the record of key (keylen 0: the zero-length key);
 * JET_errRecordNotFound if there is none.
 */
JET_ERR rowkv_seek(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen);

/*
 * Writes a new record (insert != 0) or the value of the record t is on
 * (after a successful rowkv_seek).
 */
JET_ERR rowkv_update(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, const void *val, size_t vallen,
	int insert);

/*
 * Inserts the record (insert != 0: JET_errKeyDuplicate if it exists) or
 * replaces the value of an existing one (JET_errRecordNotFound if absent).
 */
JET_ERR rowkv_put(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, const void *val, size_t vallen,
	int insert);

/*
 * Reads the value of key into val, which must be exactly vallen bytes long:
 * JET_errDatabaseCorrupted if the stored value has another length.
 */
JET_ERR rowkv_get(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, void *val, size_t vallen);

#endif
