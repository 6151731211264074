/*
 * testutil.c -- helpers shared by the Check suites.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

char *
tu_tempdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *t;

	ck_assert(asprintf(&t, "%s/jetcheck.XXXXXX", base) > 0);
	ck_assert_msg(mkdtemp(t) != NULL, "mkdtemp %s", t);
	return t;
}

void
tu_rmdir(const char *dir)
{
	char *cmd;

	if (dir == NULL || strstr(dir, "jetcheck.") == NULL)
		return;
	ck_assert(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

char *
tu_path(const char *dir, const char *name)
{
	char *p = os_path_join(dir, name);

	ck_assert(p != NULL);
	return p;
}

JET_INSTANCE
tu_instance(const char *dir, unsigned long log_kb, unsigned long cache_pages)
{
	JET_INSTANCE inst = 0;

	CK(JetCreateInstance(&inst, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, dir));
	CK(JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, dir));
	CK(JetSetSystemParameter(&inst, 0, JET_paramLogFileSize, log_kb, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramCacheSizeMax, cache_pages, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget,
	    getenv("JET_TEST_EVENTS") ? JET_JetfsEventStderr : JET_JetfsEventNone, NULL));
	return inst;
}

void
tu_open_db(JET_INSTANCE inst, const char *dir, const char *name, JET_SESID *sesp, JET_DBID *dbidp,
    JET_TABLEID *tablep)
{
	char *path = tu_path(dir, name);
	JET_ERR err;

	CK(JetBeginSession(inst, sesp, NULL, NULL));
	err = JetOpenDatabase(*sesp, path, NULL, dbidp, 0);
	if (err == JET_errDatabaseNotFound) {
		if (access(path, F_OK) == 0) {
			CK(JetAttachDatabase(*sesp, path, 0));
			CK(JetOpenDatabase(*sesp, path, NULL, dbidp, 0));
		} else {
			CK(JetCreateDatabase(*sesp, path, NULL, dbidp, 0));
			CK(JetCreateTable(*sesp, *dbidp, "t", 0, 0, tablep));
			free(path);
			return;
		}
	} else
		CK(err);
	CK(JetOpenTable(*sesp, *dbidp, "t", NULL, 0, 0, tablep));
	free(path);
}

JET_ERR
tu_put(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, const void *val, size_t vallen)
{
	return rowkv_update(ses, t, key, keylen, val, vallen, rowkv_seek(ses, t, key, keylen) < 0);
}

JET_ERR
tu_get(JET_SESID ses, JET_TABLEID t, const void *key, size_t keylen, void **valp, size_t *lenp)
{
	unsigned long got = 0;
	void *buf;
	JET_ERR err;

	*valp = NULL;
	*lenp = 0;
	if ((err = rowkv_seek(ses, t, key, keylen)) < 0)
		return err;
	err = JetRetrieveColumn(ses, t, JET_columnidValue, NULL, 0, &got, 0, NULL);
	if (err < 0)
		return err;
	buf = malloc(got + 1);
	ck_assert(buf != NULL);
	if (got > 0)
		CK(JetRetrieveColumn(ses, t, JET_columnidValue, buf, got, &got, 0, NULL));
	*valp = buf;
	*lenp = got;
	return JET_errSuccess;
}

void
tu_copy_file(const char *from, const char *to)
{
	char *cmd;

	ck_assert(asprintf(&cmd, "cp '%s' '%s'", from, to) > 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

void
tu_scribble(const char *path, uint64_t off, size_t len, int b)
{
	int fd = open(path, O_WRONLY);
	uint8_t *buf = malloc(len);

	ck_assert_msg(fd >= 0, "open %s", path);
	ck_assert(buf != NULL);
	memset(buf, b, len);
	ck_assert_int_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
	free(buf);
}

void
tu_flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c;

	ck_assert_msg(f != NULL, "open %s", path);
	ck_assert(fseek(f, off, SEEK_SET) == 0 && (c = fgetc(f)) != EOF);
	ck_assert(fseek(f, off, SEEK_SET) == 0 && fputc(c ^ 0xff, f) != EOF);
	ck_assert(fclose(f) == 0);
}

void
tu_hdr_other_db(struct db_header *h, void *arg)
{
	(void)arg;
	h->sign_db.random++;
}

void
tu_hdr_other_log_set(struct db_header *h, void *arg)
{
	(void)arg;
	h->sign_log.random++;
}

struct db_header
tu_hdr_of(const char *path)
{
	struct db_header h;
	os_file *f;

	CK(os_open(path, OS_READ, &f));
	CK(dbhdr_read(f, &h));
	os_close(f);
	return h;
}

void
tu_add_test(Suite *s, const char *name, const TTest *test, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

int
tu_run(Suite *s)
{
	SRunner *sr;
	int failed;

	/* The instances the engine opens itself (restore's, the backup
	 * service's, jetfs's) report through JETFS_EVENTS: nowhere, unless
	 * JET_TEST_EVENTS asks for the events as tu_instance does. */
	setenv("JETFS_EVENTS", getenv("JET_TEST_EVENTS") ? "stderr" : "none", 0);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The generations present in a log directory, as a bitmap over 0..maplen-1. */
void
gens_present(const char *dir, uint8_t *map, size_t maplen)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	memset(map, 0, maplen);
	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		uint32_t g;
		if (log_parse_name("edb", de->d_name, &g) && g < maplen)
			map[g] = 1;
	}
	closedir(d);
}
