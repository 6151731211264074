/*
 * check_api.c -- the ESE API contract: handles, instance lifecycle and
 * system parameters, ESE's legacy one-instance mode, transactions, the update
 * and retrieve API, DDL, databases (create, attach, detach, damaged and dirty
 * files), concurrency, and the error texts.  Every expected error is ESE's
 * value from jet_err.h.
 *
 * Check runs each test in a child process, so process-wide state (default
 * parameters, the legacy instance) does not leak from one test to the next.
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- helpers ---- */

struct env {
	char *dir;
	char *dbpath;
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
};

static void
env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->dir = tu_tempdir();
	e->dbpath = tu_path(e->dir, "api.edb");
	e->inst = tu_instance(e->dir, 1024, 256);
	CK(JetInit(&e->inst));
	tu_open_db(e->inst, e->dir, "api.edb", &e->ses, &e->dbid, &e->t);
}

static void
env_close(struct env *e)
{
	CK(JetTerm(e->inst));
	tu_rmdir(e->dir);
	free(e->dir);
	free(e->dbpath);
}

static void
put_str(JET_SESID ses, JET_TABLEID t, const char *key, const char *val)
{
	JET_ERR err = tu_put(ses, t, key, strlen(key), val, strlen(val));

	ck_assert_msg(err >= 0, "put %s -> %s", key, JetErrorName(err));
}

/* The value of key as a string, or NULL if there is no such record. */
static char *
get_str(JET_SESID ses, JET_TABLEID t, const char *key)
{
	void *v;
	size_t len;
	JET_ERR err = tu_get(ses, t, key, strlen(key), &v, &len);

	if (err == JET_errRecordNotFound)
		return NULL;
	ck_assert_msg(err >= 0, "get %s -> %s", key, JetErrorName(err));
	((char *)v)[len] = '\0';
	return v;
}

#define ck_assert_value(ses, t, key, want) do { \
	char *ck_v_ = get_str((ses), (t), (key)); \
	const char *ck_w_ = (want); \
	if (ck_w_ == NULL) \
		ck_assert_msg(ck_v_ == NULL, "%s = \"%s\", expected no record", (key), ck_v_); \
	else \
		ck_assert_msg(ck_v_ != NULL && strcmp(ck_v_, ck_w_) == 0, "%s = %s%s%s, expected \"%s\"", (key), \
		    ck_v_ ? "\"" : "", ck_v_ ? ck_v_ : "(no record)", ck_v_ ? "\"" : "", ck_w_); \
	free(ck_v_); \
} while (0)

static JET_ERR
seek_eq(JET_SESID ses, JET_TABLEID t, const char *key)
{
	JET_ERR err = JetMakeKey(ses, t, key, (unsigned long)strlen(key), JET_bitNewKey);

	return err < 0 ? err : JetSeek(ses, t, JET_bitSeekEQ);
}

static uint64_t
count_records(JET_SESID ses, JET_TABLEID t)
{
	uint64_t n = 0;
	JET_ERR err;

	for (err = JetMove(ses, t, JET_MoveFirst, 0); err == JET_errSuccess; err = JetMove(ses, t, JET_MoveNext, 0))
		n++;
	ck_assert_msg(err == JET_errNoCurrentRecord, "scan ended with %s", JetErrorName(err));
	return n;
}

static void
verify_db(JET_SESID ses, JET_DBID dbid, uint64_t records)
{
	JET_JETFSVERIFY info;
	JET_ERR err;

	memset(&info, 0, sizeof(info));
	info.cbStruct = sizeof(info);
	err = JetfsVerifyDatabase(ses, dbid, &info);
	ck_assert_msg(err == JET_errSuccess, "verify -> %s: %s", JetErrorName(err), info.szProblem);
	ck_assert_msg(info.crecords == records, "verify counted %llu records, expected %llu",
	    (unsigned long long)info.crecords, (unsigned long long)records);
}

static uint8_t *
read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	ck_assert_msg(f != NULL, "open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len + 1);
	ck_assert(buf != NULL);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*lenp = (size_t)len;
	return buf;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- handles ---- */

START_TEST(test_handles_session_table)
{
	struct env e;
	JET_SESID ses2, ses3, stale;
	JET_DBID dbid2;
	JET_TABLEID t2, closed;

	env_open(&e);
	put_str(e.ses, e.t, "a", "1");
	CK(JetBeginSession(e.inst, &ses2, NULL, NULL));
	CK(JetOpenDatabase(ses2, e.dbpath, NULL, &dbid2, 0));
	CK(JetOpenTable(ses2, dbid2, "t", NULL, 0, 0, &t2));

	/* A cursor of another session. */
	CK_ERR(JetMove(e.ses, t2, JET_MoveFirst, 0), JET_errSesidTableIdMismatch);
	CK_ERR(JetMakeKey(ses2, e.t, "a", 1, JET_bitNewKey), JET_errSesidTableIdMismatch);
	CK_ERR(JetPrepareUpdate(e.ses, t2, JET_prepInsert), JET_errSesidTableIdMismatch);
	CK_ERR(JetRetrieveColumn(e.ses, t2, JET_columnidValue, NULL, 0, NULL, 0, NULL), JET_errSesidTableIdMismatch);
	CK_ERR(JetDelete(e.ses, t2), JET_errSesidTableIdMismatch);
	CK_ERR(JetCloseTable(e.ses, t2), JET_errSesidTableIdMismatch);
	CK(JetMove(ses2, t2, JET_MoveFirst, 0));	/* still ses2's */

	/* A closed cursor. */
	CK(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, 0, &closed));
	CK(JetCloseTable(e.ses, closed));
	CK_ERR(JetMove(e.ses, closed, JET_MoveFirst, 0), JET_errInvalidTableId);
	CK_ERR(JetCloseTable(e.ses, closed), JET_errInvalidTableId);
	CK_ERR(JetSeek(e.ses, closed, JET_bitSeekEQ), JET_errInvalidTableId);
	/* Forged ones: nil, zero, another generation or slot, another kind of handle. */
	CK_ERR(JetMove(e.ses, JET_tableidNil, JET_MoveFirst, 0), JET_errInvalidTableId);
	CK_ERR(JetMove(e.ses, 0, JET_MoveFirst, 0), JET_errInvalidTableId);
	CK_ERR(JetMove(e.ses, e.t ^ (1ULL << 40), JET_MoveFirst, 0), JET_errInvalidTableId);
	CK_ERR(JetMove(e.ses, e.t + 1000, JET_MoveFirst, 0), JET_errInvalidTableId);
	CK_ERR(JetMove(e.ses, (JET_TABLEID)e.ses, JET_MoveFirst, 0), JET_errInvalidTableId);
	CK_ERR(JetMove(e.ses, (JET_TABLEID)e.inst, JET_MoveFirst, 0), JET_errInvalidTableId);
	CK(JetMove(e.ses, e.t, JET_MoveFirst, 0));

	/* A session that ended, even once its slot is reused. */
	stale = ses2;
	CK(JetEndSession(ses2, 0));
	CK_ERR(JetBeginTransaction(stale), JET_errInvalidSesid);
	CK_ERR(JetMove(stale, t2, JET_MoveFirst, 0), JET_errInvalidSesid);
	CK_ERR(JetEndSession(stale, 0), JET_errInvalidSesid);
	CK(JetBeginSession(e.inst, &ses3, NULL, NULL));
	ck_assert(ses3 != stale);
	CK_ERR(JetBeginTransaction(stale), JET_errInvalidSesid);
	CK_ERR(JetOpenDatabase(stale, e.dbpath, NULL, &dbid2, 0), JET_errInvalidSesid);
	/* The ended session's cursor died with it. */
	CK_ERR(JetMove(ses3, t2, JET_MoveFirst, 0), JET_errInvalidTableId);
	CK(JetBeginTransaction(ses3));
	CK(JetRollback(ses3, 0));
	CK(JetEndSession(ses3, 0));
	/* Forged sessions. */
	CK_ERR(JetBeginTransaction(0), JET_errInvalidSesid);
	CK_ERR(JetBeginTransaction(JET_sesidNil), JET_errInvalidSesid);
	CK_ERR(JetBeginTransaction(12345), JET_errInvalidSesid);
	CK_ERR(JetBeginTransaction(e.ses ^ (1ULL << 33)), JET_errInvalidSesid);
	CK_ERR(JetBeginTransaction((JET_SESID)e.t), JET_errInvalidSesid);
	CK_ERR(JetBeginTransaction((JET_SESID)e.inst), JET_errInvalidSesid);
	CK_ERR(JetCommitTransaction((JET_SESID)e.t, 0), JET_errInvalidSesid);
	CK_ERR(JetCreateTable((JET_SESID)e.t, e.dbid, "x", 0, 0, &t2), JET_errInvalidSesid);
	/* NULL output pointers. */
	CK_ERR(JetBeginSession(e.inst, NULL, NULL, NULL), JET_errInvalidParameter);
	CK_ERR(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, 0, NULL), JET_errInvalidParameter);
	CK_ERR(JetCreateTable(e.ses, e.dbid, "x", 0, 0, NULL), JET_errInvalidParameter);
	CK_ERR(JetOpenDatabase(e.ses, e.dbpath, NULL, NULL, 0), JET_errInvalidParameter);
	CK_ERR(JetCreateInstance(NULL, "x"), JET_errInvalidParameter);

	/* After JetTerm every handle of the instance is dead. */
	{
		JET_INSTANCE inst = e.inst;
		JET_SESID ses = e.ses;
		JET_TABLEID t = e.t;
		CK(JetTerm(inst));
		CK_ERR(JetBeginTransaction(ses), JET_errInvalidSesid);
		CK_ERR(JetMove(ses, t, JET_MoveFirst, 0), JET_errInvalidSesid);
		CK_ERR(JetBeginSession(inst, &ses2, NULL, NULL), JET_errInvalidParameter);
		CK_ERR(JetSetSystemParameter(&inst, 0, JET_paramCacheSizeMax, 100, NULL), JET_errInvalidInstance);
		CK_ERR(JetTerm(inst), JET_errInvalidParameter);
	}
	tu_rmdir(e.dir);
	free(e.dir);
	free(e.dbpath);
}
END_TEST

START_TEST(test_handles_instance)
{
	char *dir = tu_tempdir();
	JET_INSTANCE inst = tu_instance(dir, 1024, 64), bogus = inst ^ (1ULL << 36), other;
	JET_API_PTR v = 0;
	JET_SESID ses;

	/* Not initialized yet. */
	CK_ERR(JetBeginSession(inst, &ses, NULL, NULL), JET_errNotInitialized);
	CK_ERR(JetSetSystemParameter(&bogus, 0, JET_paramCacheSizeMax, 100, NULL), JET_errInvalidInstance);
	CK_ERR(JetGetSystemParameter(bogus, 0, JET_paramCacheSizeMax, &v, NULL, 0), JET_errInvalidInstance);
	CK_ERR(JetInit(&bogus), JET_errInvalidInstance);
	CK_ERR(JetBeginSession(bogus, &ses, NULL, NULL), JET_errInvalidParameter);
	CK_ERR(JetTerm(bogus), JET_errInvalidParameter);
	CK(JetInit(&inst));
	CK_ERR(JetBeginSession(bogus, &ses, NULL, NULL), JET_errInvalidParameter);
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	/* A session handle is not an instance handle, and the reverse. */
	{
		JET_INSTANCE as_inst = (JET_INSTANCE)ses;
		CK_ERR(JetSetSystemParameter(&as_inst, 0, JET_paramCircularLog, 1, NULL), JET_errInvalidInstance);
		CK_ERR(JetBeginSession(as_inst, &other, NULL, NULL), JET_errInvalidParameter);
	}
	CK_ERR(JetEndSession((JET_SESID)inst, 0), JET_errInvalidSesid);
	/* Instance names are unique. */
	CK(JetCreateInstance(&other, "named"));
	{
		JET_INSTANCE dup;
		CK_ERR(JetCreateInstance(&dup, "named"), JET_errInstanceNameInUse);
	}
	CK(JetTerm(other));	/* never initialized: just freed */
	CK_ERR(JetTerm(other), JET_errInvalidParameter);
	CK(JetCreateInstance(&other, "named"));
	CK(JetTerm(other));
	CK(JetTerm(inst));
	tu_rmdir(dir);
	free(dir);
}
END_TEST

/* ---- instance lifecycle and parameters ---- */

START_TEST(test_init_twice)
{
	char *dir = tu_tempdir();
	JET_INSTANCE inst = tu_instance(dir, 1024, 64);
	JET_SESID ses;

	CK(JetInit(&inst));
	CK_ERR(JetInit(&inst), JET_errAlreadyInitialized);
	CK_ERR(JetInit2(&inst, 0), JET_errAlreadyInitialized);
	/* Still running. */
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	/* JetInit2's grbits. */
	inst = tu_instance(dir, 1024, 64);
	CK_ERR(JetInit2(&inst, 0x80000000UL), JET_errInvalidGrbit);
	CK(JetInit2(&inst, JET_bitTruncateLogsAfterRecovery));
	CK(JetTerm(inst));
	tu_rmdir(dir);
	free(dir);
}
END_TEST

struct int_param {
	unsigned long id;
	JET_API_PTR value;
	int fixed;
};

START_TEST(test_params_after_init)
{
	static const struct int_param ints[] = {
		{ JET_paramMaxSessions, 77, 1 }, { JET_paramMaxOpenTables, 500, 1 }, { JET_paramLogFileSize, 256, 1 },
		{ JET_paramLogBuffers, 512, 1 }, { JET_paramCacheSizeMax, 300, 1 }, { JET_paramDatabasePageSize, 4096, 1 },
		{ JET_paramCircularLog, 1, 0 }, { JET_paramDbExtensionSize, 32, 0 },
		{ JET_paramCheckpointDepthMax, 1 << 20, 0 }, { JET_paramNoInformationEvent, 1, 0 },
		{ JET_paramCreatePathIfNotExist, 1, 0 },
	};
	static const unsigned long strs[] = { JET_paramSystemPath, JET_paramLogFilePath, JET_paramBaseName, JET_paramTempPath };
	char *dir = tu_tempdir(), buf[1024];
	JET_INSTANCE inst = tu_instance(dir, 1024, 64);
	JET_API_PTR v;

	CK(JetInit(&inst));
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		JET_API_PTR before;
		JET_ERR err;
		CK(JetGetSystemParameter(inst, 0, ints[i].id, &before, NULL, 0));
		err = JetSetSystemParameter(&inst, 0, ints[i].id, ints[i].value, NULL);
		CK(JetGetSystemParameter(inst, 0, ints[i].id, &v, NULL, 0));
		if (ints[i].fixed) {
			ck_assert_msg(err == JET_errAlreadyInitialized, "param %lu after JetInit -> %s", ints[i].id,
			    JetErrorName(err));
			ck_assert_msg(v == before, "param %lu changed by a refused set", ints[i].id);
		} else {
			ck_assert_msg(err == JET_errSuccess, "param %lu after JetInit -> %s", ints[i].id, JetErrorName(err));
			ck_assert_uint_eq(v, ints[i].value);
		}
	}
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		CK_ERR(JetSetSystemParameter(&inst, 0, strs[i], 0, "xyz"), JET_errAlreadyInitialized);
	CK_ERR(JetSetSystemParameter(&inst, 0, JET_paramRecovery, 0, "Off"), JET_errAlreadyInitialized);
	CK(JetGetSystemParameter(inst, 0, JET_paramSystemPath, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, dir);
	CK(JetGetSystemParameter(inst, 0, JET_paramBaseName, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "edb");
	/* Event source is not fixed. */
	CK(JetSetSystemParameter(&inst, 0, JET_paramEventSource, 0, "api-test"));
	CK(JetGetSystemParameter(inst, 0, JET_paramEventSource, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "api-test");
	CK(JetTerm(inst));
	tu_rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(test_params_roundtrip)
{
	static const struct int_param ints[] = {
		{ JET_paramMaxSessions, 1, 0 }, { JET_paramMaxSessions, 30000, 0 }, { JET_paramMaxOpenTables, 10, 0 },
		{ JET_paramLogFileSize, 64, 0 }, { JET_paramLogFileSize, 32768, 0 }, { JET_paramLogFileSize, 1000, 0 },
		{ JET_paramLogBuffers, 4096, 0 }, { JET_paramCircularLog, 1, 0 }, { JET_paramCircularLog, 0, 0 },
		{ JET_paramDbExtensionSize, 1, 0 }, { JET_paramCacheSizeMax, 4321, 0 },
		{ JET_paramCheckpointDepthMax, 1 << 22, 0 }, { JET_paramDatabasePageSize, 4096, 0 },
		{ JET_paramDatabasePageSize, 16384, 0 }, { JET_paramDatabasePageSize, 32768, 0 },
		{ JET_paramDatabasePageSize, 8192, 0 }, { JET_paramCreatePathIfNotExist, 1, 0 },
		{ JET_paramMaxInstances, 5, 0 }, { JET_paramNoInformationEvent, 1, 0 },
		{ JET_paramJetfsEventTarget, JET_JetfsEventNone, 0 },
		{ JET_paramLegacyFileNames, JET_bitESE98FileNames | JET_bitEightDotThreeSoftCompat, 0 },
	};
	static const struct int_param bad[] = {
		{ JET_paramLogFileSize, 63, 0 }, { JET_paramLogFileSize, 32769, 0 }, { JET_paramLogFileSize, 0, 0 },
		{ JET_paramDatabasePageSize, 5000, 0 }, { JET_paramDatabasePageSize, 12288, 0 },
		{ JET_paramDatabasePageSize, 2048, 0 }, { JET_paramDatabasePageSize, 65536, 0 },
		{ JET_paramDatabasePageSize, 0, 0 }, { JET_paramCircularLog, 2, 0 }, { JET_paramMaxSessions, 0, 0 },
		{ JET_paramJetfsEventTarget, 3, 0 },
	};
	char *dir = tu_tempdir(), buf[64];
	JET_INSTANCE inst;
	JET_API_PTR v;

	CK(JetCreateInstance(&inst, "params"));
	/* Documented defaults. */
	CK(JetGetSystemParameter(inst, 0, JET_paramBaseName, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "edb");
	CK(JetGetSystemParameter(inst, 0, JET_paramSystemPath, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, ".");
	CK(JetGetSystemParameter(inst, 0, JET_paramLogFilePath, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, ".");
	CK(JetGetSystemParameter(inst, 0, JET_paramDatabasePageSize, &v, NULL, 0));
	ck_assert_uint_eq(v, 8192);
	CK(JetGetSystemParameter(inst, 0, JET_paramLogFileSize, &v, NULL, 0));
	ck_assert_uint_eq(v, 5120);
	CK(JetGetSystemParameter(inst, 0, JET_paramCacheSizeMax, &v, NULL, 0));
	ck_assert_uint_eq(v, 1024);
	CK(JetGetSystemParameter(inst, 0, JET_paramMaxSessions, &v, NULL, 0));
	ck_assert_uint_eq(v, 128);
	CK(JetGetSystemParameter(inst, 0, JET_paramDbExtensionSize, &v, NULL, 0));
	ck_assert_uint_eq(v, 256);
	CK(JetGetSystemParameter(inst, 0, JET_paramRecovery, &v, buf, sizeof(buf)));
	ck_assert_uint_eq(v, 1);

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		v = 12345678;
		CK(JetSetSystemParameter(&inst, 0, ints[i].id, ints[i].value, NULL));
		CK(JetGetSystemParameter(inst, 0, ints[i].id, &v, NULL, 0));
		ck_assert_msg(v == ints[i].value, "param %lu: set %llu, got %llu", ints[i].id,
		    (unsigned long long)ints[i].value, (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		JET_API_PTR before;
		CK(JetGetSystemParameter(inst, 0, bad[i].id, &before, NULL, 0));
		CK_ERR(JetSetSystemParameter(&inst, 0, bad[i].id, bad[i].value, NULL), JET_errInvalidParameter);
		CK(JetGetSystemParameter(inst, 0, bad[i].id, &v, NULL, 0));
		ck_assert_msg(v == before, "param %lu changed by a refused value", bad[i].id);
	}
	/* Strings. */
	CK(JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, "abc"));
	CK(JetGetSystemParameter(inst, 0, JET_paramBaseName, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "abc");
	CK_ERR(JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, "ab"), JET_errInvalidParameter);
	CK_ERR(JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, "abcd"), JET_errInvalidParameter);
	CK_ERR(JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, ""), JET_errInvalidParameter);
	CK_ERR(JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, NULL), JET_errInvalidParameter);
	CK(JetGetSystemParameter(inst, 0, JET_paramBaseName, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "abc");
	CK(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, dir));
	CK(JetGetSystemParameter(inst, 0, JET_paramSystemPath, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, dir);
	/* A buffer one byte short of the string and its NUL; exactly enough. */
	CK_ERR(JetGetSystemParameter(inst, 0, JET_paramSystemPath, NULL, buf, (unsigned long)strlen(dir)),
	    JET_errBufferTooSmall);
	CK(JetGetSystemParameter(inst, 0, JET_paramSystemPath, NULL, buf, (unsigned long)strlen(dir) + 1));
	ck_assert_str_eq(buf, dir);
	CK(JetSetSystemParameter(&inst, 0, JET_paramEventSource, 0, "src"));
	CK(JetGetSystemParameter(inst, 0, JET_paramEventSource, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "src");
	/* "On"/"Off". */
	CK(JetSetSystemParameter(&inst, 0, JET_paramRecovery, 0, "Off"));
	memset(buf, 0, sizeof(buf));
	CK(JetGetSystemParameter(inst, 0, JET_paramRecovery, &v, buf, sizeof(buf)));
	ck_assert_uint_eq(v, 0);
	ck_assert_str_eq(buf, "off");
	CK(JetSetSystemParameter(&inst, 0, JET_paramRecovery, 0, "on"));
	CK(JetGetSystemParameter(inst, 0, JET_paramRecovery, &v, NULL, 0));
	ck_assert_uint_eq(v, 1);
	CK_ERR(JetSetSystemParameter(&inst, 0, JET_paramRecovery, 0, "maybe"), JET_errInvalidParameter);
	/* Unknown parameters. */
	CK_ERR(JetSetSystemParameter(&inst, 0, 9999, 1, NULL), JET_errInvalidParameter);
	CK_ERR(JetGetSystemParameter(inst, 0, 9999, &v, buf, sizeof(buf)), JET_errInvalidParameter);
	CK_ERR(JetSetSystemParameter(&inst, 0, 0x4A7F, 1, NULL), JET_errInvalidParameter);
	CK_ERR(JetSetSystemParameter(NULL, 0, 9999, 1, NULL), JET_errInvalidParameter);
	/* NULL output. */
	CK_ERR(JetGetSystemParameter(inst, 0, JET_paramCacheSizeMax, NULL, NULL, 0), JET_errInvalidParameter);
	/* Defaults for instances created later. */
	CK(JetSetSystemParameter(NULL, 0, JET_paramCacheSizeMax, 333, NULL));
	{
		JET_INSTANCE later;
		CK(JetCreateInstance(&later, "later"));
		CK(JetGetSystemParameter(later, 0, JET_paramCacheSizeMax, &v, NULL, 0));
		ck_assert_uint_eq(v, 333);
		CK(JetTerm(later));
	}
	CK(JetGetSystemParameter(inst, 0, JET_paramCacheSizeMax, &v, NULL, 0));
	ck_assert_uint_eq(v, 4321);
	CK(JetSetSystemParameter(NULL, 0, JET_paramCacheSizeMax, 1024, NULL));
	CK(JetTerm(inst));
	tu_rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(test_invalid_path)
{
	char *dir = tu_tempdir(), *missing = tu_path(dir, "no/such/logs"), *log;
	JET_INSTANCE inst = tu_instance(dir, 1024, 64);
	JET_SESID ses;

	CK(JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, missing));
	CK_ERR(JetInit(&inst), JET_errInvalidPath);
	ck_assert(!is_dir(missing));
	CK_ERR(JetBeginSession(inst, &ses, NULL, NULL), JET_errNotInitialized);
	/* The same instance, told to create the path. */
	CK(JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL));
	CK(JetInit(&inst));
	ck_assert(is_dir(missing));
	log = tu_path(missing, "edb.log");
	ck_assert_msg(access(log, F_OK) == 0, "no %s", log);
	CK(JetTerm(inst));
	free(log);
	free(missing);

	/* A missing system path too. */
	missing = tu_path(dir, "nosys");
	inst = tu_instance(dir, 1024, 64);
	CK(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, missing));
	CK_ERR(JetInit(&inst), JET_errInvalidPath);
	CK(JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL));
	CK(JetInit(&inst));
	ck_assert(is_dir(missing));
	CK(JetTerm(inst));
	free(missing);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

static void
legacy_defaults(const char *dir)
{
	CK(JetSetSystemParameter(NULL, 0, JET_paramSystemPath, 0, dir));
	CK(JetSetSystemParameter(NULL, 0, JET_paramLogFilePath, 0, dir));
	CK(JetSetSystemParameter(NULL, 0, JET_paramLogFileSize, 1024, NULL));
	CK(JetSetSystemParameter(NULL, 0, JET_paramJetfsEventTarget,
	    getenv("JET_TEST_EVENTS") ? JET_JetfsEventStderr : JET_JetfsEventNone, NULL));
}

START_TEST(test_legacy_mode)
{
	char *dir = tu_tempdir(), *path = tu_path(dir, "legacy.edb"), buf[1024];
	JET_INSTANCE other, zero = 0;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	JET_API_PTR v;

	legacy_defaults(dir);
	CK(JetInit(NULL));
	CK_ERR(JetCreateInstance(&other, "x"), JET_errRunningInOneInstanceMode);
	/* A second JetInit is refused, and the running instance stays as it was. */
	CK_ERR(JetInit(NULL), JET_errAlreadyInitialized);
	CK_ERR(JetCreateInstance(&other, "x"), JET_errRunningInOneInstanceMode);
	CK_ERR(JetInit(&zero), JET_errAlreadyInitialized);
	ck_assert(zero == 0);
	CK_ERR(JetCreateInstance2(&other, "x", "X", 0), JET_errRunningInOneInstanceMode);
	/* The parameters are the instance's now: fixed ones refuse, reads see them. */
	CK_ERR(JetSetSystemParameter(NULL, 0, JET_paramLogFilePath, 0, "/"), JET_errAlreadyInitialized);
	CK_ERR(JetSetSystemParameter(NULL, 0, JET_paramCacheSizeMax, 100, NULL), JET_errAlreadyInitialized);
	CK(JetGetSystemParameter(0, 0, JET_paramSystemPath, NULL, buf, sizeof(buf)));
	ck_assert_str_eq(buf, dir);
	CK(JetGetSystemParameter(JET_instanceNil, 0, JET_paramLogFileSize, &v, NULL, 0));
	ck_assert_uint_eq(v, 1024);
	/* Sessions on instance 0 (or nil) work. */
	CK(JetBeginSession(0, &ses, NULL, NULL));
	CK(JetCreateDatabase(ses, path, NULL, &dbid, 0));
	CK(JetCreateTable(ses, dbid, "t", 0, 0, &t));
	put_str(ses, t, "k", "legacy");
	ck_assert_value(ses, t, "k", "legacy");
	{
		JET_SESID ses2;
		CK(JetBeginSession(JET_instanceNil, &ses2, NULL, NULL));
		CK(JetEndSession(ses2, 0));
	}
	CK(JetTerm(0));
	/* The files are in the legacy defaults' directory. */
	{
		char *log = tu_path(dir, "edb.log"), *chk = tu_path(dir, "edb.chk");
		ck_assert(access(log, F_OK) == 0);
		ck_assert(access(chk, F_OK) == 0);
		free(log);
		free(chk);
	}
	ck_assert_uint_eq(tu_hdr_of(path).dbstate, JET_dbstateCleanShutdown);
	/* Again, with JetInit(&zero): the handle comes back; the data survived. */
	CK(JetInit(&zero));
	ck_assert(zero != 0 && zero != JET_instanceNil);
	CK(JetBeginSession(zero, &ses, NULL, NULL));
	CK(JetAttachDatabase(ses, path, 0));
	CK(JetOpenDatabase(ses, path, NULL, &dbid, 0));
	CK(JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t));
	ck_assert_value(ses, t, "k", "legacy");
	CK(JetTerm(zero));
	/* Once legacy mode is over, instances can be created again... */
	CK(JetCreateInstance(&other, "after"));
	/* ...and then legacy mode is refused. */
	CK_ERR(JetInit(NULL), JET_errRunningInMultiInstanceMode);
	CK(JetTerm(other));
	tu_rmdir(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_multi_instance_mode)
{
	char *dir = tu_tempdir();
	JET_INSTANCE a, zero = 0;

	legacy_defaults(dir);
	CK(JetCreateInstance(&a, "a"));
	CK_ERR(JetInit(NULL), JET_errRunningInMultiInstanceMode);
	CK_ERR(JetInit(&zero), JET_errRunningInMultiInstanceMode);
	CK(JetSetSystemParameter(&a, 0, JET_paramSystemPath, 0, dir));
	CK(JetSetSystemParameter(&a, 0, JET_paramLogFilePath, 0, dir));
	CK(JetInit(&a));
	CK_ERR(JetInit(NULL), JET_errRunningInMultiInstanceMode);
	CK(JetTerm(a));
	/* With no instance left, legacy mode is allowed. */
	CK(JetInit(NULL));
	CK(JetTerm(0));
	tu_rmdir(dir);
	free(dir);
}
END_TEST

/* ---- transactions ---- */

START_TEST(test_txn_nested)
{
	struct env e;
	JET_TABLEID t2;

	env_open(&e);
	put_str(e.ses, e.t, "base", "0");
	/* A second table, whose pages the inner levels touch first. */
	CK(JetCreateTable(e.ses, e.dbid, "t2", 0, 0, &t2));
	put_str(e.ses, t2, "base", "0");
	/* Commit inner, roll back outer: both undone. */
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "a", "outer");
	put_str(e.ses, e.t, "base", "1");
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "b", "inner");
	put_str(e.ses, e.t, "base", "2");
	put_str(e.ses, t2, "b", "inner");
	put_str(e.ses, t2, "base", "2");
	CK(JetCommitTransaction(e.ses, 0));
	ck_assert_value(e.ses, e.t, "b", "inner");
	ck_assert_value(e.ses, e.t, "base", "2");
	ck_assert_value(e.ses, t2, "b", "inner");
	CK(JetRollback(e.ses, 0));
	ck_assert_value(e.ses, e.t, "a", NULL);
	ck_assert_value(e.ses, e.t, "b", NULL);
	ck_assert_value(e.ses, e.t, "base", "0");
	ck_assert_value(e.ses, t2, "b", NULL);
	ck_assert_value(e.ses, t2, "base", "0");

	/* Roll back inner: outer's changes stay, and commit. */
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "a", "outer");
	put_str(e.ses, e.t, "base", "1");
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "b", "inner");
	put_str(e.ses, e.t, "base", "2");
	CK(seek_eq(e.ses, e.t, "a"));
	CK(JetDelete(e.ses, e.t));
	ck_assert_value(e.ses, e.t, "a", NULL);
	CK(JetRollback(e.ses, 0));
	ck_assert_value(e.ses, e.t, "a", "outer");
	ck_assert_value(e.ses, e.t, "b", NULL);
	ck_assert_value(e.ses, e.t, "base", "1");
	CK(JetCommitTransaction(e.ses, 0));
	ck_assert_value(e.ses, e.t, "a", "outer");
	ck_assert_value(e.ses, e.t, "base", "1");

	/* Three levels: roll back the middle one after committing the innermost. */
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "l1", "x");
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "l2", "x");
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "l3", "x");
	put_str(e.ses, e.t, "l1", "y");
	CK(JetCommitTransaction(e.ses, 0));
	CK(JetRollback(e.ses, 0));
	ck_assert_value(e.ses, e.t, "l1", "x");
	ck_assert_value(e.ses, e.t, "l2", NULL);
	ck_assert_value(e.ses, e.t, "l3", NULL);
	CK(JetCommitTransaction(e.ses, 0));
	ck_assert_value(e.ses, e.t, "l1", "x");
	ck_assert_uint_eq(count_records(e.ses, e.t), 3);
	ck_assert_uint_eq(count_records(e.ses, t2), 1);
	verify_db(e.ses, e.dbid, 4);

	/* The committed state is what a restart sees. */
	CK(JetTerm(e.inst));
	e.inst = tu_instance(e.dir, 1024, 256);
	CK(JetInit(&e.inst));
	tu_open_db(e.inst, e.dir, "api.edb", &e.ses, &e.dbid, &e.t);
	ck_assert_value(e.ses, e.t, "a", "outer");
	ck_assert_value(e.ses, e.t, "base", "1");
	ck_assert_value(e.ses, e.t, "l1", "x");
	ck_assert_uint_eq(count_records(e.ses, e.t), 3);
	env_close(&e);
}
END_TEST

START_TEST(test_txn_depth_and_errors)
{
	struct env e;

	env_open(&e);
	CK_ERR(JetCommitTransaction(e.ses, 0), JET_errNotInTransaction);
	CK_ERR(JetRollback(e.ses, 0), JET_errNotInTransaction);
	CK_ERR(JetRollback(e.ses, JET_bitRollbackAll), JET_errNotInTransaction);
	for (int i = 1; i <= 7; i++) {
		char k[8];
		CK(JetBeginTransaction(e.ses));
		snprintf(k, sizeof(k), "k%d", i);
		put_str(e.ses, e.t, k, "v");
	}
	CK_ERR(JetBeginTransaction(e.ses), JET_errTransTooDeep);
	CK_ERR(JetBeginTransaction(e.ses), JET_errTransTooDeep);
	CK_ERR(JetCommitTransaction(e.ses, 0x4000), JET_errInvalidGrbit);
	CK_ERR(JetRollback(e.ses, 0x4000), JET_errInvalidGrbit);
	/* Still 7 levels deep: 7 commits, then none. */
	for (int i = 0; i < 7; i++)
		CK(JetCommitTransaction(e.ses, 0));
	CK_ERR(JetCommitTransaction(e.ses, 0), JET_errNotInTransaction);
	ck_assert_uint_eq(count_records(e.ses, e.t), 7);

	/* JET_bitRollbackAll ends every level. */
	for (int i = 0; i < 5; i++) {
		CK(JetBeginTransaction(e.ses));
		put_str(e.ses, e.t, "k1", i % 2 ? "odd" : "even");
		put_str(e.ses, e.t, i % 2 ? "new-odd" : "new-even", "x");
	}
	CK(JetRollback(e.ses, JET_bitRollbackAll));
	CK_ERR(JetRollback(e.ses, 0), JET_errNotInTransaction);
	CK_ERR(JetCommitTransaction(e.ses, 0), JET_errNotInTransaction);
	ck_assert_value(e.ses, e.t, "k1", "v");
	ck_assert_value(e.ses, e.t, "new-odd", NULL);
	ck_assert_value(e.ses, e.t, "new-even", NULL);
	/* The 7 levels are available again. */
	for (int i = 0; i < 7; i++)
		CK(JetBeginTransaction(e.ses));
	CK_ERR(JetBeginTransaction(e.ses), JET_errTransTooDeep);
	CK(JetRollback(e.ses, JET_bitRollbackAll));
	/* DDL on databases is refused inside a transaction. */
	CK(JetBeginTransaction(e.ses));
	{
		char *p = tu_path(e.dir, "intxn.edb");
		JET_DBID d;
		CK_ERR(JetCreateDatabase(e.ses, p, NULL, &d, 0), JET_errInTransaction);
		CK_ERR(JetDetachDatabase(e.ses, e.dbpath), JET_errInTransaction);
		CK_ERR(JetAttachDatabase(e.ses, e.dbpath, 0), JET_errInTransaction);
		free(p);
	}
	{
		JET_JETFSVERIFY info;
		memset(&info, 0, sizeof(info));
		info.cbStruct = sizeof(info);
		CK_ERR(JetfsVerifyDatabase(e.ses, e.dbid, &info), JET_errInTransaction);
	}
	CK(JetRollback(e.ses, 0));
	verify_db(e.ses, e.dbid, 7);
	env_close(&e);
}
END_TEST

START_TEST(test_txn_rollback_invisible)
{
	struct env e;
	JET_SESID ses2;
	JET_DBID dbid2;
	JET_TABLEID t2;
	char k[16], v[16];

	env_open(&e);
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "key%03d", i);
		snprintf(v, sizeof(v), "val%d", i);
		put_str(e.ses, e.t, k, v);
	}
	/* Inserts, replaces (inline and long), deletes: all undone. */
	CK(JetBeginTransaction(e.ses));
	for (int i = 100; i < 400; i++) {
		snprintf(k, sizeof(k), "key%03d", i);
		put_str(e.ses, e.t, k, "new");
	}
	for (int i = 0; i < 100; i += 3) {
		snprintf(k, sizeof(k), "key%03d", i);
		if (i % 2) {
			char *big = malloc(20000);
			ck_assert(big != NULL);
			memset(big, 'B', 20000);
			CK(tu_put(e.ses, e.t, k, strlen(k), big, 20000));
			free(big);
		} else
			put_str(e.ses, e.t, k, "changed");
	}
	for (int i = 1; i < 100; i += 3) {
		snprintf(k, sizeof(k), "key%03d", i);
		CK(seek_eq(e.ses, e.t, k));
		CK(JetDelete(e.ses, e.t));
	}
	ck_assert_uint_eq(count_records(e.ses, e.t), 100 + 300 - 33);
	/* A prepared update does not survive the rollback. */
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepInsert));
	CK(JetSetColumn(e.ses, e.t, JET_columnidKey, "zz", 2, 0, NULL));
	CK(JetRollback(e.ses, 0));
	CK_ERR(JetUpdate(e.ses, e.t, NULL, 0, NULL), JET_errUpdateNotPrepared);
	ck_assert_uint_eq(count_records(e.ses, e.t), 100);
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "key%03d", i);
		snprintf(v, sizeof(v), "val%d", i);
		ck_assert_value(e.ses, e.t, k, v);
	}
	ck_assert_value(e.ses, e.t, "key100", NULL);
	ck_assert_value(e.ses, e.t, "zz", NULL);
	/* Another session sees the same. */
	CK(JetBeginSession(e.inst, &ses2, NULL, NULL));
	CK(JetOpenDatabase(ses2, e.dbpath, NULL, &dbid2, 0));
	CK(JetOpenTable(ses2, dbid2, "t", NULL, 0, 0, &t2));
	ck_assert_uint_eq(count_records(ses2, t2), 100);
	/* Ending a session rolls its transaction back (and lets others in). */
	CK(JetBeginTransaction(ses2));
	put_str(ses2, t2, "from-ses2", "x");
	CK(JetEndSession(ses2, 0));
	ck_assert_value(e.ses, e.t, "from-ses2", NULL);
	put_str(e.ses, e.t, "after", "y");
	verify_db(e.ses, e.dbid, 101);
	/* Nothing of it after a restart either. */
	CK(JetTerm(e.inst));
	e.inst = tu_instance(e.dir, 1024, 256);
	CK(JetInit(&e.inst));
	tu_open_db(e.inst, e.dir, "api.edb", &e.ses, &e.dbid, &e.t);
	ck_assert_uint_eq(count_records(e.ses, e.t), 101);
	ck_assert_value(e.ses, e.t, "key003", "val3");
	env_close(&e);
}
END_TEST

START_TEST(test_txn_lazy_commit)
{
	struct env e;

	env_open(&e);
	/* Nothing lazy yet: waiting is a no-op. */
	CK(JetCommitTransaction(e.ses, JET_bitWaitLastLevel0Commit));
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "lazy1", "x");
	CK(JetCommitTransaction(e.ses, JET_bitCommitLazyFlush));
	CK(JetBeginTransaction(e.ses));
	put_str(e.ses, e.t, "lazy2", "y");
	CK(JetCommitTransaction(e.ses, JET_bitCommitLazyFlush));
	CK(JetCommitTransaction(e.ses, JET_bitWaitLastLevel0Commit));
	CK(JetCommitTransaction(e.ses, JET_bitWaitAllLevel0Commit));
	/* Waiting is for outside a transaction. */
	CK(JetBeginTransaction(e.ses));
	CK_ERR(JetCommitTransaction(e.ses, JET_bitWaitLastLevel0Commit), JET_errInTransaction);
	CK(JetCommitTransaction(e.ses, 0));
	ck_assert_value(e.ses, e.t, "lazy1", "x");
	/* Durable: an abrupt end (no flush, no clean shutdown) and recovery keep both. */
	CK(JetTerm2(e.inst, JET_bitTermAbrupt));
	ck_assert_uint_eq(tu_hdr_of(e.dbpath).dbstate, JET_dbstateDirtyShutdown);
	e.inst = tu_instance(e.dir, 1024, 256);
	CK(JetInit(&e.inst));
	tu_open_db(e.inst, e.dir, "api.edb", &e.ses, &e.dbid, &e.t);
	ck_assert_value(e.ses, e.t, "lazy1", "x");
	ck_assert_value(e.ses, e.t, "lazy2", "y");
	verify_db(e.ses, e.dbid, 2);
	env_close(&e);
}
END_TEST

/* ---- the update API ---- */

START_TEST(test_update_errors)
{
	struct env e;
	JET_TABLEID ro;
	char buf[64];
	unsigned long got;

	env_open(&e);
	CK_ERR(JetUpdate(e.ses, e.t, NULL, 0, NULL), JET_errUpdateNotPrepared);
	CK_ERR(JetSetColumn(e.ses, e.t, JET_columnidValue, "x", 1, 0, NULL), JET_errUpdateNotPrepared);
	CK_ERR(JetPrepareUpdate(e.ses, e.t, JET_prepCancel), JET_errUpdateNotPrepared);
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, JET_bitRetrieveCopy, NULL),
	    JET_errUpdateNotPrepared);
	/* Replace needs a current record. */
	CK_ERR(JetPrepareUpdate(e.ses, e.t, JET_prepReplace), JET_errNoCurrentRecord);
	CK_ERR(JetPrepareUpdate(e.ses, e.t, 99), JET_errInvalidParameter);

	CK(JetPrepareUpdate(e.ses, e.t, JET_prepInsert));
	CK_ERR(JetPrepareUpdate(e.ses, e.t, JET_prepInsert), JET_errAlreadyPrepared);
	CK_ERR(JetPrepareUpdate(e.ses, e.t, JET_prepReplace), JET_errAlreadyPrepared);
	/* No key: JET_errNullKeyDisallowed; the update stays prepared. */
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "v", 1, 0, NULL));
	CK_ERR(JetUpdate(e.ses, e.t, NULL, 0, NULL), JET_errNullKeyDisallowed);
	CK_ERR(JetSetColumn(e.ses, e.t, 0, "x", 1, 0, NULL), JET_errBadColumnId);
	CK_ERR(JetSetColumn(e.ses, e.t, 3, "x", 1, 0, NULL), JET_errBadColumnId);
	CK_ERR(JetSetColumn(e.ses, e.t, 0xFFFF, "x", 1, 0, NULL), JET_errBadColumnId);
	CK_ERR(JetSetColumn(e.ses, e.t, JET_columnidValue, "x", 1, 0x10000, NULL), JET_errInvalidGrbit);
	/* Cancel: nothing written, nothing prepared. */
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepCancel));
	CK_ERR(JetPrepareUpdate(e.ses, e.t, JET_prepCancel), JET_errUpdateNotPrepared);
	CK_ERR(JetUpdate(e.ses, e.t, NULL, 0, NULL), JET_errUpdateNotPrepared);
	ck_assert_uint_eq(count_records(e.ses, e.t), 0);

	/* A key made of nothing at all is a null key too. */
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepInsert));
	CK(JetSetColumn(e.ses, e.t, JET_columnidKey, "", 0, 0, NULL));
	CK_ERR(JetUpdate(e.ses, e.t, NULL, 0, NULL), JET_errNullKeyDisallowed);
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepCancel));

	/* Duplicate keys. */
	put_str(e.ses, e.t, "dup", "first");
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepInsert));
	CK(JetSetColumn(e.ses, e.t, JET_columnidKey, "dup", 3, 0, NULL));
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "second", 6, 0, NULL));
	CK_ERR(JetUpdate(e.ses, e.t, NULL, 0, NULL), JET_errKeyDuplicate);
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepCancel));
	ck_assert_value(e.ses, e.t, "dup", "first");

	/* The key cannot change on replace. */
	CK(seek_eq(e.ses, e.t, "dup"));
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepReplace));
	CK_ERR(JetSetColumn(e.ses, e.t, JET_columnidKey, "other", 5, 0, NULL), JET_errColumnNotUpdatable);
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "third", 5, 0, NULL));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "dup", "third");
	ck_assert_value(e.ses, e.t, "other", NULL);
	/* JET_prepReplaceNoLock works like replace. */
	CK(seek_eq(e.ses, e.t, "dup"));
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepReplaceNoLock));
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "fourth", 6, 0, NULL));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "dup", "fourth");

	/* The bookmark is the key. */
	{
		char bm[16];
		unsigned long cb = 0;
		CK(JetPrepareUpdate(e.ses, e.t, JET_prepInsert));
		CK(JetSetColumn(e.ses, e.t, JET_columnidKey, "bookmark", 8, 0, NULL));
		CK(JetUpdate(e.ses, e.t, bm, sizeof(bm), &cb));
		ck_assert_uint_eq(cb, 8);
		ck_assert(memcmp(bm, "bookmark", 8) == 0);
		/* and the cursor is on the new record */
		CK(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL));
		ck_assert(got == 8 && memcmp(buf, "bookmark", 8) == 0);
	}

	/* A read-only cursor. */
	CK(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, JET_bitTableReadOnly, &ro));
	CK(JetMove(e.ses, ro, JET_MoveFirst, 0));
	CK_ERR(JetPrepareUpdate(e.ses, ro, JET_prepInsert), JET_errPermissionDenied);
	CK_ERR(JetPrepareUpdate(e.ses, ro, JET_prepReplace), JET_errPermissionDenied);
	CK_ERR(JetDelete(e.ses, ro), JET_errPermissionDenied);
	CK(JetCloseTable(e.ses, ro));
	ck_assert_uint_eq(count_records(e.ses, e.t), 2);
	verify_db(e.ses, e.dbid, 2);
	env_close(&e);
}
END_TEST

/* Prepares a replace of key's record. */
static void
prep_replace(struct env *e, const char *key)
{
	CK(seek_eq(e->ses, e->t, key));
	CK(JetPrepareUpdate(e->ses, e->t, JET_prepReplace));
}

START_TEST(test_set_column_lv)
{
	struct env e;
	JET_SETINFO si;
	char buf[64];
	unsigned long got = 0;

	env_open(&e);
	/* Append builds a value piece by piece, on insert... */
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepInsert));
	CK(JetSetColumn(e.ses, e.t, JET_columnidKey, "k", 1, 0, NULL));
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "abc", 3, 0, NULL));
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "def", 3, JET_bitSetAppendLV, NULL));
	/* the prepared record, read back with JET_bitRetrieveCopy */
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, JET_bitRetrieveCopy, NULL));
	ck_assert(got == 6 && memcmp(buf, "abcdef", 6) == 0);
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, JET_bitRetrieveCopy, NULL));
	ck_assert(got == 1 && buf[0] == 'k');
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "k", "abcdef");
	/* ...and on replace, to the record's value. */
	prep_replace(&e, "k");
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "gh", 2, JET_bitSetAppendLV, NULL));
	/* The copy has it, the record not yet. */
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, JET_bitRetrieveCopy, NULL));
	ck_assert(got == 8 && memcmp(buf, "abcdefgh", 8) == 0);
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, NULL));
	ck_assert(got == 6 && memcmp(buf, "abcdef", 6) == 0);
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "k", "abcdefgh");
	/* A plain set replaces the whole value. */
	prep_replace(&e, "k");
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "xy", 2, 0, NULL));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "k", "xy");

	/* JET_bitSetSizeLV truncates and extends (with zeros). */
	put_str(e.ses, e.t, "k", "abcdef");
	prep_replace(&e, "k");
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, NULL, 2, JET_bitSetSizeLV, NULL));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "k", "ab");
	prep_replace(&e, "k");
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, NULL, 5, JET_bitSetSizeLV, NULL));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	CK(seek_eq(e.ses, e.t, "k"));
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, NULL));
	ck_assert(got == 5 && memcmp(buf, "ab\0\0\0", 5) == 0);
	prep_replace(&e, "k");
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, NULL, 0, JET_bitSetSizeLV, NULL));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	CK(seek_eq(e.ses, e.t, "k"));
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, NULL), JET_wrnColumnNull);
	ck_assert_uint_eq(got, 0);

	/* JET_bitSetOverwriteLV at ibLongValue: in place, or past the end. */
	put_str(e.ses, e.t, "k", "abcdef");
	prep_replace(&e, "k");
	memset(&si, 0, sizeof(si));
	si.cbStruct = sizeof(si);
	si.ibLongValue = 2;
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "XY", 2, JET_bitSetOverwriteLV, &si));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "k", "abXYef");
	prep_replace(&e, "k");
	si.ibLongValue = 5;
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "ZZZ", 3, JET_bitSetOverwriteLV, &si));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "k", "abXYeZZZ");
	/* Overwrite at 0 with a short piece keeps the rest. */
	prep_replace(&e, "k");
	CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "A", 1, JET_bitSetOverwriteLV, NULL));
	CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
	ck_assert_value(e.ses, e.t, "k", "AbXYeZZZ");
	/* Bad setinfo. */
	prep_replace(&e, "k");
	si.cbStruct = 4;
	CK_ERR(JetSetColumn(e.ses, e.t, JET_columnidValue, "Q", 1, JET_bitSetOverwriteLV, &si), JET_errInvalidParameter);
	si.cbStruct = sizeof(si);
	si.ibLongValue = 100;
	CK_ERR(JetSetColumn(e.ses, e.t, JET_columnidValue, "Q", 1, JET_bitSetOverwriteLV, &si), JET_errInvalidParameter);
	CK(JetPrepareUpdate(e.ses, e.t, JET_prepCancel));
	ck_assert_value(e.ses, e.t, "k", "AbXYeZZZ");

	/* A long value edited in the middle, across page boundaries. */
	{
		size_t len = 50000;
		char *big = malloc(len), *back = malloc(len);
		ck_assert(big != NULL && back != NULL);
		for (size_t i = 0; i < len; i++)
			big[i] = (char)('a' + i % 26);
		CK(tu_put(e.ses, e.t, "big", 3, big, len));
		prep_replace(&e, "big");
		si.ibLongValue = 8190;
		CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "0123456789", 10, JET_bitSetOverwriteLV, &si));
		CK(JetSetColumn(e.ses, e.t, JET_columnidValue, "END", 3, JET_bitSetAppendLV, NULL));
		CK(JetUpdate(e.ses, e.t, NULL, 0, NULL));
		memcpy(big + 8190, "0123456789", 10);
		CK(seek_eq(e.ses, e.t, "big"));
		CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, back, (unsigned long)len, &got, 0, NULL),
		    JET_wrnBufferTruncated);
		ck_assert_uint_eq(got, len + 3);
		ck_assert(memcmp(back, big, len) == 0);
		free(big);
		free(back);
	}
	verify_db(e.ses, e.dbid, 2);
	env_close(&e);
}
END_TEST

START_TEST(test_retrieve)
{
	struct env e;
	JET_RETINFO ri;
	char val[100], buf[128];
	unsigned long got;

	env_open(&e);
	for (int i = 0; i < 100; i++)
		val[i] = (char)('A' + i % 50);
	CK(tu_put(e.ses, e.t, "k", 1, val, 100));
	CK(seek_eq(e.ses, e.t, "k"));
	/* Truncated: the first cbData bytes, the full size, nothing more written. */
	memset(buf, '#', sizeof(buf));
	got = 0;
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, 10, &got, 0, NULL), JET_wrnBufferTruncated);
	ck_assert_uint_eq(got, 100);
	ck_assert(memcmp(buf, val, 10) == 0 && buf[10] == '#');
	/* Just the size. */
	got = 0;
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, NULL, 0, &got, 0, NULL), JET_wrnBufferTruncated);
	ck_assert_uint_eq(got, 100);
	/* Exactly enough. */
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, 100, &got, 0, NULL), JET_errSuccess);
	ck_assert(got == 100 && memcmp(buf, val, 100) == 0);
	/* From an offset: the rest, and its size. */
	memset(&ri, 0, sizeof(ri));
	ri.cbStruct = sizeof(ri);
	ri.ibLongValue = 90;
	memset(buf, '#', sizeof(buf));
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, &ri), JET_errSuccess);
	ck_assert_uint_eq(got, 10);
	ck_assert(memcmp(buf, val + 90, 10) == 0 && buf[10] == '#');
	ri.ibLongValue = 40;
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, 5, &got, 0, &ri), JET_wrnBufferTruncated);
	ck_assert_uint_eq(got, 60);
	ck_assert(memcmp(buf, val + 40, 5) == 0);
	ri.cbStruct = 2;
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, 5, &got, 0, &ri), JET_errInvalidParameter);
	/* The key column; bad columns; bad grbits. */
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL));
	ck_assert(got == 1 && buf[0] == 'k');
	CK_ERR(JetRetrieveColumn(e.ses, e.t, 3, buf, sizeof(buf), &got, 0, NULL), JET_errBadColumnId);
	CK_ERR(JetRetrieveColumn(e.ses, e.t, 0, buf, sizeof(buf), &got, 0, NULL), JET_errBadColumnId);
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0x800, NULL), JET_errInvalidGrbit);
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, NULL, 10, &got, 0, NULL), JET_errInvalidParameter);

	/* An empty value: JET_wrnColumnNull, size 0. */
	CK(tu_put(e.ses, e.t, "empty", 5, "", 0));
	CK(seek_eq(e.ses, e.t, "empty"));
	got = 77;
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, NULL), JET_wrnColumnNull);
	ck_assert_uint_eq(got, 0);
	/* A long value from an offset inside its third page. */
	{
		size_t len = 30000;
		uint8_t *big = malloc(len);
		ck_assert(big != NULL);
		for (size_t i = 0; i < len; i++)
			big[i] = (uint8_t)(i * 7 + i / 256);
		CK(tu_put(e.ses, e.t, "long", 4, big, len));
		CK(seek_eq(e.ses, e.t, "long"));
		ri.cbStruct = sizeof(ri);
		ri.ibLongValue = 20000;
		CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, 64, &got, 0, &ri), JET_wrnBufferTruncated);
		ck_assert_uint_eq(got, len - 20000);
		ck_assert(memcmp(buf, big + 20000, 64) == 0);
		free(big);
	}
	env_close(&e);
}
END_TEST

START_TEST(test_cursor_moves)
{
	struct env e;
	char buf[16];
	unsigned long got;

	env_open(&e);
	/* An empty table. */
	CK_ERR(JetMove(e.ses, e.t, JET_MoveFirst, 0), JET_errNoCurrentRecord);
	CK_ERR(JetMove(e.ses, e.t, JET_MoveLast, 0), JET_errNoCurrentRecord);
	CK_ERR(JetMove(e.ses, e.t, JET_MoveNext, 0), JET_errNoCurrentRecord);
	CK_ERR(JetMove(e.ses, e.t, JET_MovePrevious, 0), JET_errNoCurrentRecord);
	CK_ERR(JetMove(e.ses, e.t, 0, 0), JET_errNoCurrentRecord);
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, NULL), JET_errNoCurrentRecord);
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL), JET_errNoCurrentRecord);
	CK_ERR(JetDelete(e.ses, e.t), JET_errNoCurrentRecord);
	CK_ERR(JetMove(e.ses, e.t, JET_MoveFirst, 1), JET_errInvalidGrbit);

	for (char c = 'a'; c <= 'j'; c++) {
		char k[2] = { c, 0 };
		put_str(e.ses, e.t, k, k);
	}
	CK(JetMove(e.ses, e.t, JET_MoveFirst, 0));
	CK(JetMove(e.ses, e.t, 3, 0));
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL));
	ck_assert(got == 1 && buf[0] == 'd');
	CK(JetMove(e.ses, e.t, -2, 0));
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL));
	ck_assert(got == 1 && buf[0] == 'b');
	CK(JetMove(e.ses, e.t, 0, 0));
	CK_ERR(JetMove(e.ses, e.t, 9, 0), JET_errNoCurrentRecord);
	CK(JetMove(e.ses, e.t, JET_MoveLast, 0));
	CK_ERR(JetMove(e.ses, e.t, JET_MoveNext, 0), JET_errNoCurrentRecord);
	CK(JetMove(e.ses, e.t, JET_MoveFirst, 0));
	CK_ERR(JetMove(e.ses, e.t, JET_MovePrevious, 0), JET_errNoCurrentRecord);

	/* Delete: the cursor sits between the neighbours; Next / Previous land on them. */
	CK(seek_eq(e.ses, e.t, "e"));
	CK(JetDelete(e.ses, e.t));
	CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, NULL), JET_errNoCurrentRecord);
	CK_ERR(JetDelete(e.ses, e.t), JET_errNoCurrentRecord);
	CK_ERR(JetPrepareUpdate(e.ses, e.t, JET_prepReplace), JET_errNoCurrentRecord);
	CK(JetMove(e.ses, e.t, JET_MoveNext, 0));
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL));
	ck_assert(got == 1 && buf[0] == 'f');
	CK(seek_eq(e.ses, e.t, "f"));
	CK(JetDelete(e.ses, e.t));
	CK(JetMove(e.ses, e.t, JET_MovePrevious, 0));
	CK(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL));
	ck_assert(got == 1 && buf[0] == 'd');
	/* The last record: Next after deleting it is the end. */
	CK(JetMove(e.ses, e.t, JET_MoveLast, 0));
	CK(JetDelete(e.ses, e.t));
	CK_ERR(JetMove(e.ses, e.t, JET_MoveNext, 0), JET_errNoCurrentRecord);
	/* The first: Previous after deleting it is the end. */
	CK(JetMove(e.ses, e.t, JET_MoveFirst, 0));
	CK(JetDelete(e.ses, e.t));
	CK_ERR(JetMove(e.ses, e.t, JET_MovePrevious, 0), JET_errNoCurrentRecord);
	ck_assert_uint_eq(count_records(e.ses, e.t), 6);
	/* Another session's delete of the current record. */
	{
		JET_SESID ses2;
		JET_DBID d2;
		JET_TABLEID t2;
		CK(JetBeginSession(e.inst, &ses2, NULL, NULL));
		CK(JetOpenDatabase(ses2, e.dbpath, NULL, &d2, 0));
		CK(JetOpenTable(ses2, d2, "t", NULL, 0, 0, &t2));
		CK(seek_eq(e.ses, e.t, "c"));
		CK(seek_eq(ses2, t2, "c"));
		CK(JetDelete(ses2, t2));
		CK_ERR(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, buf, sizeof(buf), &got, 0, NULL), JET_errNoCurrentRecord);
		CK(JetMove(e.ses, e.t, JET_MoveNext, 0));
		CK(JetRetrieveColumn(e.ses, e.t, JET_columnidKey, buf, sizeof(buf), &got, 0, NULL));
		ck_assert(got == 1 && buf[0] == 'd');
		CK(JetEndSession(ses2, 0));
	}
	verify_db(e.ses, e.dbid, 5);
	env_close(&e);
}
END_TEST

/* ---- DDL ---- */

START_TEST(test_ddl)
{
	struct env e;
	JET_TABLEID t2, t3;
	JET_SESID ses2;
	JET_DBID dbid2;
	char name[JET_cbNameMost + 2];
	static const char *const bad_names[] = { "", "a\tb", "a\x01", "a.b", "[x]", "x!", " lead" };

	env_open(&e);
	CK_ERR(JetCreateTable(e.ses, e.dbid, "t", 0, 0, &t2), JET_errTableDuplicate);
	CK_ERR(JetOpenTable(e.ses, e.dbid, "nosuch", NULL, 0, 0, &t2), JET_errObjectNotFound);
	CK_ERR(JetDeleteTable(e.ses, e.dbid, "nosuch"), JET_errObjectNotFound);
	/* Names: 1 to 64 characters, no control characters. */
	memset(name, 'n', sizeof(name));
	name[JET_cbNameMost] = '\0';
	CK(JetCreateTable(e.ses, e.dbid, name, 0, 0, &t2));
	CK(JetCloseTable(e.ses, t2));
	CK(JetOpenTable(e.ses, e.dbid, name, NULL, 0, 0, &t2));
	CK(JetCloseTable(e.ses, t2));
	name[JET_cbNameMost] = 'n';
	name[JET_cbNameMost + 1] = '\0';
	CK_ERR(JetCreateTable(e.ses, e.dbid, name, 0, 0, &t2), JET_errInvalidName);
	CK_ERR(JetOpenTable(e.ses, e.dbid, name, NULL, 0, 0, &t2), JET_errInvalidName);
	CK_ERR(JetDeleteTable(e.ses, e.dbid, name), JET_errInvalidName);
	CK_ERR(JetCreateTable(e.ses, e.dbid, NULL, 0, 0, &t2), JET_errInvalidName);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		JET_ERR err = JetCreateTable(e.ses, e.dbid, bad_names[i], 0, 0, &t2);
		ck_assert_msg(err == JET_errInvalidName, "table name \"%s\" -> %s", bad_names[i], JetErrorName(err));
	}
	/* Density: 0 or 20..100. */
	CK_ERR(JetCreateTable(e.ses, e.dbid, "d", 0, 19, &t2), JET_errDensityInvalid);
	CK_ERR(JetCreateTable(e.ses, e.dbid, "d", 0, 101, &t2), JET_errDensityInvalid);
	CK_ERR(JetCreateTable(e.ses, e.dbid, "d", 0, 1, &t2), JET_errDensityInvalid);
	CK_ERR(JetOpenTable(e.ses, e.dbid, "d", NULL, 0, 0, &t2), JET_errObjectNotFound);
	CK(JetCreateTable(e.ses, e.dbid, "d20", 16, 20, &t2));
	CK(JetCloseTable(e.ses, t2));
	CK(JetCreateTable(e.ses, e.dbid, "d100", 0, 100, &t2));
	CK(JetCloseTable(e.ses, t2));
	/* Bad database ids and parameters. */
	CK_ERR(JetCreateTable(e.ses, 5, "x", 0, 0, &t2), JET_errInvalidDatabaseId);
	CK_ERR(JetCreateTable(e.ses, 0, "x", 0, 0, &t2), JET_errInvalidDatabaseId);
	CK_ERR(JetOpenTable(e.ses, 6, "t", NULL, 0, 0, &t2), JET_errInvalidDatabaseId);
	CK_ERR(JetOpenTable(e.ses, e.dbid, "t", "p", 1, 0, &t2), JET_errInvalidParameter);
	CK_ERR(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, 0x100, &t2), JET_errInvalidGrbit);

	/* Delete while another session, or this one, has a cursor on it. */
	put_str(e.ses, e.t, "r", "1");
	CK(JetBeginSession(e.inst, &ses2, NULL, NULL));
	CK(JetOpenDatabase(ses2, e.dbpath, NULL, &dbid2, 0));
	CK(JetOpenTable(ses2, dbid2, "d20", NULL, 0, 0, &t3));
	CK_ERR(JetDeleteTable(e.ses, e.dbid, "d20"), JET_errTableInUse);
	CK_ERR(JetDeleteTable(e.ses, e.dbid, "t"), JET_errTableInUse);
	CK(JetCloseTable(ses2, t3));
	CK(JetDeleteTable(e.ses, e.dbid, "d20"));
	CK_ERR(JetOpenTable(ses2, dbid2, "d20", NULL, 0, 0, &t3), JET_errObjectNotFound);
	CK(JetCloseTable(e.ses, e.t));
	CK(JetDeleteTable(ses2, dbid2, "t"));
	CK_ERR(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, 0, &e.t), JET_errObjectNotFound);
	/* A name can be used again, for an empty table. */
	CK(JetCreateTable(e.ses, e.dbid, "t", 0, 0, &e.t));
	ck_assert_uint_eq(count_records(e.ses, e.t), 0);
	/* A table created in a rolled-back transaction does not exist. */
	CK(JetBeginTransaction(e.ses));
	CK(JetCreateTable(e.ses, e.dbid, "ghost", 0, 0, &t2));
	CK(JetCloseTable(e.ses, t2));
	CK(JetRollback(e.ses, 0));
	CK_ERR(JetOpenTable(e.ses, e.dbid, "ghost", NULL, 0, 0, &t2), JET_errObjectNotFound);
	/* A deletion rolled back leaves the table and its data. */
	put_str(e.ses, e.t, "kept", "yes");
	CK(JetCloseTable(e.ses, e.t));
	CK(JetBeginTransaction(e.ses));
	CK(JetDeleteTable(e.ses, e.dbid, "t"));
	CK(JetRollback(e.ses, 0));
	CK(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, 0, &e.t));
	ck_assert_value(e.ses, e.t, "kept", "yes");
	CK(JetEndSession(ses2, 0));
	{
		JET_JETFSVERIFY info;
		memset(&info, 0, sizeof(info));
		info.cbStruct = sizeof(info);
		CK(JetfsVerifyDatabase(e.ses, e.dbid, &info));
		ck_assert_uint_eq(info.ctables, 3);	/* nnn..., d100, t */
		ck_assert_uint_eq(info.crecords, 1);
	}
	env_close(&e);
}
END_TEST

START_TEST(test_limits)
{
	char *dir = tu_tempdir();
	JET_INSTANCE inst = tu_instance(dir, 1024, 64);
	JET_SESID ses[4];
	JET_DBID dbid;
	JET_TABLEID t[5];
	char *paths[JET_MAX_ATTACHED_DATABASES + 1];

	CK(JetSetSystemParameter(&inst, 0, JET_paramMaxSessions, 3, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramMaxOpenTables, 4, NULL));
	CK(JetInit(&inst));
	for (int i = 0; i < 3; i++)
		CK(JetBeginSession(inst, &ses[i], NULL, NULL));
	CK_ERR(JetBeginSession(inst, &ses[3], NULL, NULL), JET_errOutOfSessions);
	CK(JetEndSession(ses[2], 0));
	CK(JetBeginSession(inst, &ses[2], NULL, NULL));
	/* Seven databases, not eight. */
	for (int i = 0; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		char name[16];
		snprintf(name, sizeof(name), "db%d.edb", i);
		paths[i] = tu_path(dir, name);
		if (i < JET_MAX_ATTACHED_DATABASES)
			CK(JetCreateDatabase(ses[0], paths[i], NULL, &dbid, 0));
		else
			CK_ERR(JetCreateDatabase(ses[0], paths[i], NULL, &dbid, 0), JET_errTooManyAttachedDatabases);
	}
	CK(JetCreateTable(ses[0], dbid, "t", 0, 0, &t[0]));
	/* Another session must open the database first. */
	CK_ERR(JetOpenTable(ses[1], dbid, "t", NULL, 0, 0, &t[1]), JET_errInvalidDatabaseId);
	for (int i = 1; i < 4; i++)
		CK(JetOpenTable(ses[0], dbid, "t", NULL, 0, 0, &t[i]));
	CK_ERR(JetOpenTable(ses[0], dbid, "t", NULL, 0, 0, &t[4]), JET_errTooManyOpenTables);
	CK(JetCloseTable(ses[0], t[3]));
	CK(JetOpenTable(ses[0], dbid, "t", NULL, 0, 0, &t[4]));
	CK(JetTerm(inst));
	for (int i = 0; i <= JET_MAX_ATTACHED_DATABASES; i++)
		free(paths[i]);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

/* ---- databases ---- */

START_TEST(test_db_create)
{
	struct env e;
	JET_DBID d;
	char *other, *junk;
	JET_TABLEID t;

	env_open(&e);
	CK_ERR(JetCreateDatabase(e.ses, e.dbpath, NULL, &d, 0), JET_errDatabaseDuplicate);
	CK_ERR(JetCreateDatabase(e.ses, e.dbpath, NULL, &d, JET_bitDbOverwriteExisting), JET_errDatabaseDuplicate);
	/* The same file by another name is the same database. */
	{
		char *alias;
		ck_assert(asprintf(&alias, "%s/./api.edb", e.dir) > 0);
		CK_ERR(JetCreateDatabase(e.ses, alias, NULL, &d, 0), JET_errDatabaseDuplicate);
		CK_ERR(JetAttachDatabase(e.ses, alias, 0), JET_wrnDatabaseAttached);
		free(alias);
	}
	/* A file that is in the way. */
	junk = tu_path(e.dir, "junk.edb");
	write_file(junk, "not a database", 14);
	CK_ERR(JetCreateDatabase(e.ses, junk, NULL, &d, 0), JET_errFileAlreadyExists);
	{
		size_t len;
		uint8_t *b = read_file(junk, &len);
		ck_assert(len == 14 && memcmp(b, "not a database", 14) == 0);
		free(b);
	}
	CK(JetCreateDatabase(e.ses, junk, NULL, &d, JET_bitDbOverwriteExisting));
	CK(JetCreateTable(e.ses, d, "t", 0, 0, &t));
	put_str(e.ses, t, "in", "junk");
	verify_db(e.ses, d, 1);
	/* Paths that cannot be. */
	other = tu_path(e.dir, "no/such/dir/x.edb");
	CK_ERR(JetCreateDatabase(e.ses, other, NULL, &d, 0), JET_errInvalidPath);
	CK_ERR(JetCreateDatabase(e.ses, "", NULL, &d, 0), JET_errInvalidPath);
	CK_ERR(JetCreateDatabase(e.ses, e.dbpath, "connect", &d, 0), JET_errInvalidParameter);
	CK_ERR(JetCreateDatabase(e.ses, other, NULL, &d, 0x40000), JET_errInvalidGrbit);
	free(other);
	free(junk);
	env_close(&e);
}
END_TEST

START_TEST(test_db_detach_attach)
{
	struct env e;
	JET_SESID ses2;
	JET_DBID d2;
	char *missing;
	char k[16];

	env_open(&e);
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "k%04d", i);
		put_str(e.ses, e.t, k, k);
	}
	ck_assert_uint_eq(tu_hdr_of(e.dbpath).dbstate, JET_dbstateDirtyShutdown);
	/* In use: by this session, then by another. */
	CK_ERR(JetDetachDatabase(e.ses, e.dbpath), JET_errDatabaseInUse);
	CK(JetCloseTable(e.ses, e.t));
	CK(JetCloseDatabase(e.ses, e.dbid, 0));
	CK_ERR(JetCloseDatabase(e.ses, e.dbid, 0), JET_errInvalidDatabaseId);
	CK(JetBeginSession(e.inst, &ses2, NULL, NULL));
	CK(JetOpenDatabase(ses2, e.dbpath, NULL, &d2, 0));
	CK(JetOpenDatabase(ses2, e.dbpath, NULL, &d2, 0));	/* opened twice... */
	CK_ERR(JetDetachDatabase(e.ses, e.dbpath), JET_errDatabaseInUse);
	CK(JetCloseDatabase(ses2, d2, 0));
	CK_ERR(JetDetachDatabase(e.ses, e.dbpath), JET_errDatabaseInUse);	/* ...closed once */
	CK(JetCloseDatabase(ses2, d2, 0));
	CK(JetDetachDatabase(e.ses, e.dbpath));
	/* Clean on disk; gone from the instance. */
	ck_assert_uint_eq(tu_hdr_of(e.dbpath).dbstate, JET_dbstateCleanShutdown);
	CK_ERR(JetDetachDatabase(e.ses, e.dbpath), JET_errDatabaseNotFound);
	CK_ERR(JetOpenDatabase(e.ses, e.dbpath, NULL, &e.dbid, 0), JET_errDatabaseNotFound);
	missing = tu_path(e.dir, "missing.edb");
	CK_ERR(JetDetachDatabase(e.ses, missing), JET_errDatabaseNotFound);
	CK_ERR(JetAttachDatabase(e.ses, missing, 0), JET_errFileNotFound);
	CK_ERR(JetOpenDatabase(e.ses, missing, NULL, &e.dbid, 0), JET_errDatabaseNotFound);
	/* Attach: the data is intact, the header dirty again while attached. */
	CK(JetAttachDatabase(e.ses, e.dbpath, 0));
	ck_assert_uint_eq(tu_hdr_of(e.dbpath).dbstate, JET_dbstateDirtyShutdown);
	CK_ERR(JetAttachDatabase(e.ses, e.dbpath, 0), JET_wrnDatabaseAttached);
	CK_ERR(JetAttachDatabase(e.ses, e.dbpath, 0x80000), JET_errInvalidGrbit);
	CK(JetOpenDatabase(e.ses, e.dbpath, NULL, &e.dbid, 0));
	CK(JetOpenTable(e.ses, e.dbid, "t", NULL, 0, 0, &e.t));
	ck_assert_uint_eq(count_records(e.ses, e.t), 200);
	ck_assert_value(e.ses, e.t, "k0123", "k0123");
	put_str(e.ses, e.t, "after", "attach");
	verify_db(e.ses, e.dbid, 201);
	/* Detach everything (NULL), with the cursors closed first. */
	CK(JetCloseTable(e.ses, e.t));
	CK(JetCloseDatabase(e.ses, e.dbid, 0));
	CK(JetDetachDatabase(e.ses, NULL));
	ck_assert_uint_eq(tu_hdr_of(e.dbpath).dbstate, JET_dbstateCleanShutdown);
	CK_ERR(JetDetachDatabase(e.ses, e.dbpath), JET_errDatabaseNotFound);
	/* Attached again, in another instance: the data is there. */
	CK(JetEndSession(ses2, 0));
	CK(JetTerm(e.inst));
	{
		char *dir2 = tu_tempdir();
		e.inst = tu_instance(dir2, 1024, 256);
		CK(JetInit(&e.inst));
		tu_open_db(e.inst, e.dir, "api.edb", &e.ses, &e.dbid, &e.t);
		ck_assert_uint_eq(count_records(e.ses, e.t), 201);
		ck_assert_value(e.ses, e.t, "after", "attach");
		CK(JetTerm(e.inst));
		tu_rmdir(dir2);
		free(dir2);
	}
	ck_assert_uint_eq(tu_hdr_of(e.dbpath).dbstate, JET_dbstateCleanShutdown);
	free(missing);
	tu_rmdir(e.dir);
	free(e.dir);
	free(e.dbpath);
}
END_TEST

/* jet.h: JetCloseDatabase "(its cursors must be closed) ... JET_errDatabaseInUse (cursors open)". */
START_TEST(test_db_close_with_cursor)
{
	struct env e;

	env_open(&e);
	put_str(e.ses, e.t, "a", "b");
	CK_ERR(JetCloseDatabase(e.ses, e.dbid, 0), JET_errDatabaseInUse);
	CK(JetMove(e.ses, e.t, JET_MoveFirst, 0));
	env_close(&e);
}
END_TEST

START_TEST(test_db_attach_garbage)
{
	struct env e;
	char *g = NULL, *small, *empty;
	uint8_t *data = malloc(3 * 8192), *after;
	size_t len;
	JET_DBID d;

	env_open(&e);
	ck_assert(data != NULL);
	srand(42);
	for (size_t i = 0; i < 3 * 8192; i++)
		data[i] = (uint8_t)rand();
	g = tu_path(e.dir, "garbage.edb");
	write_file(g, data, 3 * 8192);
	CK_ERR(JetAttachDatabase(e.ses, g, 0), JET_errDatabaseCorrupted);
	after = read_file(g, &len);
	ck_assert_msg(len == 3 * 8192 && memcmp(after, data, len) == 0, "attach modified a file it refused");
	free(after);
	CK_ERR(JetOpenDatabase(e.ses, g, NULL, &d, 0), JET_errDatabaseNotFound);
	/* A few bytes, nothing at all. */
	small = tu_path(e.dir, "small.edb");
	write_file(small, "JET", 3);
	CK_ERR(JetAttachDatabase(e.ses, small, 0), JET_errDatabaseCorrupted);
	after = read_file(small, &len);
	ck_assert(len == 3 && memcmp(after, "JET", 3) == 0);
	free(after);
	empty = tu_path(e.dir, "empty.edb");
	write_file(empty, "", 0);
	CK_ERR(JetAttachDatabase(e.ses, empty, 0), JET_errDatabaseCorrupted);
	ck_assert_int_eq(access(empty, F_OK), 0);
	/* A real database whose two header copies are both damaged. */
	CK(JetCloseTable(e.ses, e.t));
	CK(JetCloseDatabase(e.ses, e.dbid, 0));
	CK(JetDetachDatabase(e.ses, e.dbpath));
	tu_scribble(e.dbpath, 100, 8, 0x5A);
	tu_scribble(e.dbpath, 8192 + 100, 8, 0x5A);
	CK_ERR(JetAttachDatabase(e.ses, e.dbpath, 0), JET_errDatabaseCorrupted);
	/* The instance goes on. */
	{
		char *p = tu_path(e.dir, "fine.edb");
		JET_TABLEID t;
		CK(JetCreateDatabase(e.ses, p, NULL, &d, 0));
		CK(JetCreateTable(e.ses, d, "t", 0, 0, &t));
		put_str(e.ses, t, "x", "y");
		verify_db(e.ses, d, 1);
		free(p);
	}
	free(data);
	free(g);
	free(small);
	free(empty);
	env_close(&e);
}
END_TEST

START_TEST(test_db_attach_dirty)
{
	struct env e;
	char *copy;
	char k[16];
	uint8_t *before, *after;
	size_t blen, alen;

	env_open(&e);
	for (int i = 0; i < 300; i++) {
		snprintf(k, sizeof(k), "k%04d", i);
		put_str(e.ses, e.t, k, "value");
	}
	verify_db(e.ses, e.dbid, 300);	/* flushes every page */
	copy = tu_path(e.dir, "copy.edb");
	tu_copy_file(e.dbpath, copy);
	ck_assert_uint_eq(tu_hdr_of(copy).dbstate, JET_dbstateDirtyShutdown);
	before = read_file(copy, &blen);
	CK_ERR(JetAttachDatabase(e.ses, copy, 0), JET_errDatabaseDirtyShutdown);
	after = read_file(copy, &alen);
	ck_assert_msg(alen == blen && memcmp(before, after, blen) == 0, "attach modified a dirty database it refused");
	free(after);
	/* In another instance too. */
	{
		char *dir2 = tu_tempdir();
		JET_INSTANCE i2 = tu_instance(dir2, 1024, 64);
		JET_SESID s2;
		CK(JetInit(&i2));
		CK(JetBeginSession(i2, &s2, NULL, NULL));
		CK_ERR(JetAttachDatabase(s2, copy, 0), JET_errDatabaseDirtyShutdown);
		CK(JetTerm(i2));
		tu_rmdir(dir2);
		free(dir2);
	}
	after = read_file(copy, &alen);
	ck_assert(alen == blen && memcmp(before, after, blen) == 0);
	free(after);
	free(before);
	/* The original goes on. */
	put_str(e.ses, e.t, "more", "data");
	verify_db(e.ses, e.dbid, 301);
	free(copy);
	env_close(&e);
}
END_TEST

/* ---- concurrency ---- */

#define ACCOUNTS 100
#define START_BALANCE 1000
#define THREADS 4
#define TRANSFERS 2000

struct bank {
	JET_INSTANCE inst;
	const char *path;
	atomic_int done;
	atomic_long commits, rollbacks, audits;
	pthread_mutex_t lock;
	char failure[256];
};

struct worker {
	struct bank *bank;
	int id;
};

/* Records the first failure of any thread (Check's asserts are for the main thread). */
static void
bank_fail(struct bank *b, const char *what, long n, JET_ERR err)
{
	pthread_mutex_lock(&b->lock);
	if (b->failure[0] == '\0')
		snprintf(b->failure, sizeof(b->failure), "%s #%ld: %s (%ld)", what, n, JetErrorName(err), err);
	pthread_mutex_unlock(&b->lock);
}

static void
acct_key(int i, char *k)
{
	snprintf(k, 8, "acct%02d", i);
}

static JET_ERR
acct_read(JET_SESID ses, JET_TABLEID t, int i, long long *balance)
{
	char k[8];
	unsigned long got = 0;
	JET_ERR err;

	acct_key(i, k);
	if ((err = JetMakeKey(ses, t, k, 6, JET_bitNewKey)) < 0 || (err = JetSeek(ses, t, JET_bitSeekEQ)) < 0)
		return err;
	if ((err = JetRetrieveColumn(ses, t, JET_columnidValue, balance, sizeof(*balance), &got, 0, NULL)) < 0)
		return err;
	return got == sizeof(*balance) ? JET_errSuccess : JET_errInternalError;
}

static JET_ERR
acct_write(JET_SESID ses, JET_TABLEID t, int i, long long balance)
{
	char k[8];
	JET_ERR err;

	acct_key(i, k);
	if ((err = JetMakeKey(ses, t, k, 6, JET_bitNewKey)) < 0 || (err = JetSeek(ses, t, JET_bitSeekEQ)) < 0 ||
	    (err = JetPrepareUpdate(ses, t, JET_prepReplace)) < 0)
		return err;
	if ((err = JetSetColumn(ses, t, JET_columnidValue, &balance, sizeof(balance), 0, NULL)) < 0 ||
	    (err = JetUpdate(ses, t, NULL, 0, NULL)) < 0)
		JetPrepareUpdate(ses, t, JET_prepCancel);
	return err;
}

static int
bank_open(struct bank *b, JET_SESID *ses, JET_TABLEID *t)
{
	JET_DBID dbid;
	JET_ERR err;

	if ((err = JetBeginSession(b->inst, ses, NULL, NULL)) < 0 ||
	    (err = JetOpenDatabase(*ses, b->path, NULL, &dbid, 0)) < 0 ||
	    (err = JetOpenTable(*ses, dbid, "t", NULL, 0, 0, t)) < 0) {
		bank_fail(b, "session setup", 0, err);
		return -1;
	}
	return 0;
}

static void *
bank_worker(void *arg)
{
	struct worker *w = arg;
	struct bank *b = w->bank;
	uint64_t x = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1);
	JET_SESID ses;
	JET_TABLEID t;

	if (bank_open(b, &ses, &t) < 0)
		return NULL;
	for (long n = 0; n < TRANSFERS; n++) {
		int from, to;
		long long fb, tb, amount;
		JET_ERR err;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		from = (int)(x % ACCOUNTS);
		to = (int)((x >> 16) % (ACCOUNTS - 1));
		to = to >= from ? to + 1 : to;
		amount = (long long)((x >> 32) % 200);
		if ((err = JetBeginTransaction(ses)) < 0 || (err = acct_read(ses, t, from, &fb)) < 0 ||
		    (err = acct_read(ses, t, to, &tb)) < 0 || (err = acct_write(ses, t, from, fb - amount)) < 0 ||
		    (err = acct_write(ses, t, to, tb + amount)) < 0) {
			bank_fail(b, "transfer", n, err);
			JetRollback(ses, JET_bitRollbackAll);
			break;
		}
		if ((x >> 40) % 10 == 0) {
			/* A change of mind: nothing of it may remain. */
			err = JetRollback(ses, 0);
			atomic_fetch_add(&b->rollbacks, 1);
		} else {
			err = JetCommitTransaction(ses, (x >> 44) % 16 == 0 ? 0 : JET_bitCommitLazyFlush);
			atomic_fetch_add(&b->commits, 1);
		}
		if (err < 0) {
			bank_fail(b, "commit or rollback", n, err);
			break;
		}
	}
	{
		JET_ERR err = JetEndSession(ses, 0);
		if (err < 0)
			bank_fail(b, "end session", 0, err);
	}
	return NULL;
}

/* Sums the accounts in transactions while the workers run: always the same. */
static void *
bank_auditor(void *arg)
{
	struct bank *b = arg;
	JET_SESID ses;
	JET_TABLEID t;

	if (bank_open(b, &ses, &t) < 0)
		return NULL;
	while (!atomic_load(&b->done)) {
		long long sum = 0, v;
		long n = 0;
		unsigned long got;
		JET_ERR err;
		if ((err = JetBeginTransaction(ses)) < 0) {
			bank_fail(b, "audit begin", 0, err);
			break;
		}
		for (err = JetMove(ses, t, JET_MoveFirst, 0); err == JET_errSuccess; err = JetMove(ses, t, JET_MoveNext, 0)) {
			if ((err = JetRetrieveColumn(ses, t, JET_columnidValue, &v, sizeof(v), &got, 0, NULL)) < 0)
				break;
			sum += v;
			n++;
		}
		JetRollback(ses, 0);
		if (err != JET_errNoCurrentRecord) {
			bank_fail(b, "audit scan", n, err);
			break;
		}
		if (n != ACCOUNTS || sum != (long long)ACCOUNTS * START_BALANCE) {
			char msg[96];
			snprintf(msg, sizeof(msg), "audit saw %ld accounts summing to %lld, after audit", n, sum);
			bank_fail(b, msg, atomic_load(&b->audits), 0);
			break;
		}
		atomic_fetch_add(&b->audits, 1);
		sched_yield();
	}
	JetEndSession(ses, 0);
	return NULL;
}

START_TEST(test_concurrent_transfers)
{
	struct env e;
	struct bank b;
	struct worker w[THREADS];
	pthread_t th[THREADS], auditor;
	long long sum = 0, v;
	unsigned long got;
	JET_ERR err;

	env_open(&e);
	memset(&b, 0, sizeof(b));
	pthread_mutex_init(&b.lock, NULL);
	b.inst = e.inst;
	b.path = e.dbpath;
	CK(JetBeginTransaction(e.ses));
	for (int i = 0; i < ACCOUNTS; i++) {
		char k[8];
		long long bal = START_BALANCE;
		acct_key(i, k);
		CK(tu_put(e.ses, e.t, k, 6, &bal, sizeof(bal)));
	}
	CK(JetCommitTransaction(e.ses, 0));
	ck_assert_int_eq(pthread_create(&auditor, NULL, bank_auditor, &b), 0);
	for (int i = 0; i < THREADS; i++) {
		w[i].bank = &b;
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, bank_worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&b.done, 1);
	pthread_join(auditor, NULL);
	ck_assert_msg(b.failure[0] == '\0', "%s", b.failure);
	ck_assert_int_eq(atomic_load(&b.commits) + atomic_load(&b.rollbacks), THREADS * TRANSFERS);
	ck_assert(atomic_load(&b.audits) > 0);
	for (err = JetMove(e.ses, e.t, JET_MoveFirst, 0); err == JET_errSuccess; err = JetMove(e.ses, e.t, JET_MoveNext, 0)) {
		CK(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, &v, sizeof(v), &got, 0, NULL));
		sum += v;
	}
	ck_assert_int_eq(err, JET_errNoCurrentRecord);
	ck_assert_msg(sum == (long long)ACCOUNTS * START_BALANCE, "sum %lld", sum);
	verify_db(e.ses, e.dbid, ACCOUNTS);
	/* And after a restart. */
	CK(JetTerm(e.inst));
	e.inst = tu_instance(e.dir, 1024, 256);
	CK(JetInit(&e.inst));
	tu_open_db(e.inst, e.dir, "api.edb", &e.ses, &e.dbid, &e.t);
	sum = 0;
	for (err = JetMove(e.ses, e.t, JET_MoveFirst, 0); err == JET_errSuccess; err = JetMove(e.ses, e.t, JET_MoveNext, 0)) {
		CK(JetRetrieveColumn(e.ses, e.t, JET_columnidValue, &v, sizeof(v), &got, 0, NULL));
		sum += v;
	}
	ck_assert_msg(sum == (long long)ACCOUNTS * START_BALANCE, "sum %lld after restart", sum);
	pthread_mutex_destroy(&b.lock);
	env_close(&e);
}
END_TEST

/* Two threads on one session: the second gets JET_errSessionSharingViolation. */
struct sharer {
	JET_SESID ses;
	JET_TABLEID t;
	JET_ERR err;
};

static void *
sharer_main(void *arg)
{
	struct sharer *sh = arg;

	/* Blocks on the instance's write lock, inside the call, until the other session commits.
	 * (Retried while the main thread's own short calls hold the session.) */
	do
		sh->err = JetMove(sh->ses, sh->t, JET_MoveFirst, 0);
	while (sh->err == JET_errSessionSharingViolation);
	return NULL;
}

START_TEST(test_session_sharing)
{
	struct env e;
	JET_SESID ses2;
	JET_DBID dbid2;
	JET_TABLEID t2;
	struct sharer sh;
	pthread_t th;
	JET_ERR err = JET_errSuccess;
	long tries;

	env_open(&e);
	put_str(e.ses, e.t, "a", "1");
	CK(JetBeginSession(e.inst, &ses2, NULL, NULL));
	CK(JetOpenDatabase(ses2, e.dbpath, NULL, &dbid2, 0));
	CK(JetOpenTable(ses2, dbid2, "t", NULL, 0, 0, &t2));
	/* ses2 holds the write lock in a transaction. */
	CK(JetBeginTransaction(ses2));
	put_str(ses2, t2, "b", "2");
	sh.ses = e.ses;
	sh.t = e.t;
	sh.err = 1;
	ck_assert_int_eq(pthread_create(&th, NULL, sharer_main, &sh), 0);
	/* Once the thread is inside its call, every other call on the session is refused. */
	for (tries = 0; tries < 2000000; tries++) {
		err = JetMakeKey(e.ses, e.t, "a", 1, JET_bitNewKey);
		if (err == JET_errSessionSharingViolation)
			break;
		ck_assert_msg(err == JET_errSuccess, "JetMakeKey -> %s", JetErrorName(err));
		if (tries % 64 == 0)
			usleep(100);
	}
	ck_assert_msg(err == JET_errSessionSharingViolation, "no JET_errSessionSharingViolation while another thread "
	    "was inside a call on the session");
	CK_ERR(JetBeginTransaction(e.ses), JET_errSessionSharingViolation);
	CK_ERR(JetMove(e.ses, e.t, JET_MoveLast, 0), JET_errSessionSharingViolation);
	CK_ERR(JetEndSession(e.ses, 0), JET_errSessionSharingViolation);
	CK(JetCommitTransaction(ses2, 0));
	pthread_join(th, NULL);
	CK(sh.err);
	/* Free again. */
	CK(JetMove(e.ses, e.t, JET_MoveNext, 0));
	CK(JetBeginTransaction(e.ses));
	CK(JetRollback(e.ses, 0));
	ck_assert_value(e.ses, e.t, "b", "2");

	/* The same through the busy flag itself (what a concurrent call sets). */
	{
		struct jet_session *s = handle_get(HANDLE_SESSION, e.ses), *got;
		ck_assert(s != NULL);
		atomic_store(&s->busy, 1);
		CK_ERR(session_enter(e.ses, &got), JET_errSessionSharingViolation);
		ck_assert(got == NULL);
		CK_ERR(JetBeginTransaction(e.ses), JET_errSessionSharingViolation);
		CK_ERR(JetPrepareUpdate(e.ses, e.t, JET_prepInsert), JET_errSessionSharingViolation);
		CK_ERR(JetCloseTable(e.ses, e.t), JET_errSessionSharingViolation);
		atomic_store(&s->busy, 0);
		CK(session_enter(e.ses, &got));
		ck_assert(got == s);
		session_leave(got);
		CK(JetBeginTransaction(e.ses));
		CK(JetCommitTransaction(e.ses, 0));
	}
	env_close(&e);
}
END_TEST

/* ---- error texts ---- */

START_TEST(test_error_strings)
{
	static const struct { JET_ERR err; const char *name; } known[] = {
		{ JET_errSuccess, "JET_errSuccess" },
		{ JET_errKeyDuplicate, "JET_errKeyDuplicate" },
		{ JET_errInvalidSesid, "JET_errInvalidSesid" },
		{ JET_errDatabaseDirtyShutdown, "JET_errDatabaseDirtyShutdown" },
		{ JET_errSessionSharingViolation, "JET_errSessionSharingViolation" },
		{ JET_wrnBufferTruncated, "JET_wrnBufferTruncated" },
		{ JET_wrnColumnNull, "JET_wrnColumnNull" },
		{ JET_wrnSeekNotEqual, "JET_wrnSeekNotEqual" },
		{ JET_errFileCompressed, "JET_errFileCompressed" },
	};

	ck_assert_int_eq(JET_errKeyDuplicate, -1605);
	ck_assert_int_eq(JET_errSessionSharingViolation, -1910);
	ck_assert_int_eq(JET_wrnBufferTruncated, 1006);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		ck_assert_str_eq(JetErrorName(known[i].err), known[i].name);
		ck_assert(JetErrorString(known[i].err) != NULL && JetErrorString(known[i].err)[0] != '\0');
	}
	ck_assert_str_eq(JetErrorString(JET_errKeyDuplicate), "Illegal duplicate key");
	ck_assert_str_eq(JetErrorString(JET_errSuccess), "Successful Operation");
	ck_assert_str_eq(JetErrorString(JET_errInvalidSesid), "Invalid session handle");
	ck_assert_str_ne(JetErrorString(JET_errKeyDuplicate), JetErrorString(JET_errRecordNotFound));
	/* Unknown codes: text all the same, never NULL. */
	for (long err = -20000; err <= 20000; err += 7) {
		const char *n = JetErrorName(err), *s = JetErrorString(err);
		ck_assert_msg(n != NULL && *n != '\0' && s != NULL && *s != '\0', "no text for %ld", err);
	}
	ck_assert(JetErrorName(-123456) != NULL && JetErrorString(-123456) != NULL);
	ck_assert_str_ne(JetErrorName(-123456), "JET_errSuccess");
	ck_assert(strstr(JetErrorString(-123456), "nknown") != NULL);
	ck_assert(strstr(JetErrorString(123456), "nknown") != NULL);
	ck_assert(JetErrorName(LONG_MIN) != NULL && JetErrorName(LONG_MAX) != NULL);
	/* Every named code's name is a JET_err or JET_wrn name (-800 is ESE's internal errBackupAbortByCaller). */
	ck_assert(strstr(JetErrorName(-800), "BackupAbortByCaller") != NULL);
	for (long err = -10000; err <= 10000; err++) {
		const char *n = JetErrorName(err);
		if (strstr(n, "unknown") == NULL && err != -800)
			ck_assert_msg(strncmp(n, "JET_err", 7) == 0 || strncmp(n, "JET_wrn", 7) == 0,
			    "JetErrorName(%ld) = \"%s\"", err, n);
	}
}
END_TEST

static Suite *
api_suite(void)
{
	Suite *s = suite_create("api");

	tu_add_test(s, "handles_session_table", test_handles_session_table, 30);
	tu_add_test(s, "handles_instance", test_handles_instance, 30);
	tu_add_test(s, "init_twice", test_init_twice, 30);
	tu_add_test(s, "params_after_init", test_params_after_init, 30);
	tu_add_test(s, "params_roundtrip", test_params_roundtrip, 30);
	tu_add_test(s, "invalid_path", test_invalid_path, 30);
	tu_add_test(s, "legacy_mode", test_legacy_mode, 30);
	tu_add_test(s, "multi_instance_mode", test_multi_instance_mode, 30);
	tu_add_test(s, "txn_nested", test_txn_nested, 30);
	tu_add_test(s, "txn_depth_and_errors", test_txn_depth_and_errors, 30);
	tu_add_test(s, "txn_rollback_invisible", test_txn_rollback_invisible, 30);
	tu_add_test(s, "txn_lazy_commit", test_txn_lazy_commit, 30);
	tu_add_test(s, "update_errors", test_update_errors, 30);
	tu_add_test(s, "set_column_lv", test_set_column_lv, 30);
	tu_add_test(s, "retrieve", test_retrieve, 30);
	tu_add_test(s, "cursor_moves", test_cursor_moves, 30);
	tu_add_test(s, "ddl", test_ddl, 30);
	tu_add_test(s, "limits", test_limits, 30);
	tu_add_test(s, "db_create", test_db_create, 30);
	tu_add_test(s, "db_detach_attach", test_db_detach_attach, 30);
	tu_add_test(s, "db_close_with_cursor", test_db_close_with_cursor, 30);
	tu_add_test(s, "db_attach_garbage", test_db_attach_garbage, 30);
	tu_add_test(s, "db_attach_dirty", test_db_attach_dirty, 30);
	tu_add_test(s, "concurrent_transfers", test_concurrent_transfers, 120);
	tu_add_test(s, "session_sharing", test_session_sharing, 60);
	tu_add_test(s, "error_strings", test_error_strings, 30);
	return s;
}

int
main(void)
{
	return tu_run(api_suite());
}
