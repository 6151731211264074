/*
 * testutil.h -- helpers shared by the Check suites.
 */
#ifndef JET_TESTUTIL_H
#define JET_TESTUTIL_H

#include <check.h>

#include "jet_int.h"
#include "rowkv.h"

/* Fails the test with the error's name unless err >= 0 (or == want). */
#define CK(expr) do { JET_ERR ck_err_ = (expr); ck_assert_msg(ck_err_ >= 0, "%s -> %s (%ld)", #expr, JetErrorName(ck_err_), ck_err_); } while (0)
#define CK_ERR(expr, want) do { JET_ERR ck_err_ = (expr); ck_assert_msg(ck_err_ == (want), "%s -> %s (%ld), expected %s", #expr, JetErrorName(ck_err_), ck_err_, JetErrorName(want)); } while (0)

/* A fresh private directory under $TMPDIR (removed by tu_rmdir). */
char *tu_tempdir(void);
void tu_rmdir(const char *dir);
char *tu_path(const char *dir, const char *name);

/* An instance whose system and log paths are dir, events off, small logs. */
JET_INSTANCE tu_instance(const char *dir, unsigned long log_kb, unsigned long cache_pages);

/* Creates dir/name.edb with one table "t" (or opens both if they exist). */
void tu_open_db(JET_INSTANCE inst, const char *dir, const char *name, JET_SESID *sesp, JET_DBID *dbidp,
	JET_TABLEID *tablep);

/* Inserts / replaces a record (key, value); returns the error. */
JET_ERR tu_put(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, const void *val, size_t vallen);
/* Reads the value of key into a malloc'd buffer; returns the error. */
JET_ERR tu_get(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, void **valp, size_t *lenp);

/* The header of database path (the test fails if it cannot be read). */
struct db_header tu_hdr_of(const char *path);
/* Header edits (the arg is unused): another database's signature, another log set's. */
void tu_hdr_other_db(struct db_header *h, void *arg);
void tu_hdr_other_log_set(struct db_header *h, void *arg);
/* Copies a file byte for byte (to corrupt copies, not originals). */
void tu_copy_file(const char *from, const char *to);
/* Overwrites len bytes at off of a file with byte b. */
void tu_scribble(const char *path, uint64_t off, size_t len, int b);
/* Inverts the byte at off of a file. */
void tu_flip_byte(const char *path, long off);

/* Adds test as a case of its own, so that CK_RUN_CASE=name runs just that one. */
void tu_add_test(Suite *s, const char *name, const TTest *test, int timeout);
/* Runs a Check suite (the engine's own events off unless JET_TEST_EVENTS);
 * returns the process exit status. */
int tu_run(Suite *s);

/* The log generations (edb*.log) present in dir, as a bitmap: map[g] = 1. */
void gens_present(const char *dir, uint8_t *map, size_t maplen);

#endif
