/*
 * check_paths.c -- every path the engine takes, in every form an
 * application may write it (issue 12, "ESE's path conventions").
 *
 * One table: for each path parameter (system path, log path, database
 * directory, backup socket, backup directory, restore target) and each form
 * (trailing slash, "//", "." and ".." components, relative, through a
 * symlinked directory, through a missing directory with and without
 * JET_paramCreatePathIfNotExist, a regular file where a directory is
 * expected, an overlong path), a row says either that the whole cycle
 * works -- init, create, commit, a point-in-time backup (JetBackupInstance),
 * an ESE-mode external backup with JetTruncateLogInstance, both sets
 * restored (JetfsRestoreSets) and the restored data read back -- or which
 * call refuses the path and with which error.  A refusal anywhere but at
 * the call that takes the path fails the row: that is the bug this suite
 * guards against (a log path "/srv/logs/" ran and committed, then every
 * backup failed with JET_errInvalidParameter).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

enum slot { S_SYS, S_LOG, S_DB, S_SOCK, S_SET, S_TARGET };
enum form { F_PLAIN, F_TRAIL, F_DSLASH, F_DOT, F_DOTDOT, F_REL, F_SYMLINK, F_MISSING, F_MISSING_CREATE, F_FILE,
	F_LONG };
/* The call of the cycle that takes (or first uses) the path. */
enum stage { ST_NONE, ST_SETPARAM, ST_INIT, ST_CREATE, ST_BACKUP, ST_RESTORE };

struct row {
	enum slot slot;
	enum form form;
	enum stage stage;	/* ST_NONE: the whole cycle works */
	JET_ERR want;		/* the error at stage */
};

#define WORKS(slot) \
	{ slot, F_PLAIN, ST_NONE, 0 }, { slot, F_TRAIL, ST_NONE, 0 }, { slot, F_DSLASH, ST_NONE, 0 }, \
	{ slot, F_DOT, ST_NONE, 0 }, { slot, F_DOTDOT, ST_NONE, 0 }, { slot, F_REL, ST_NONE, 0 }, \
	{ slot, F_SYMLINK, ST_NONE, 0 }, { slot, F_MISSING_CREATE, ST_NONE, 0 }

static const struct row rows[] = {
	WORKS(S_SYS),
	{ S_SYS, F_MISSING, ST_INIT, JET_errInvalidPath },
	{ S_SYS, F_FILE, ST_INIT, JET_errInvalidPath },
	{ S_SYS, F_LONG, ST_SETPARAM, JET_errInvalidPath },
	WORKS(S_LOG),
	{ S_LOG, F_MISSING, ST_INIT, JET_errInvalidPath },
	{ S_LOG, F_FILE, ST_INIT, JET_errInvalidPath },
	{ S_LOG, F_LONG, ST_SETPARAM, JET_errInvalidPath },
	WORKS(S_DB),
	{ S_DB, F_MISSING, ST_CREATE, JET_errInvalidPath },
	{ S_DB, F_FILE, ST_CREATE, JET_errInvalidPath },
	{ S_DB, F_LONG, ST_CREATE, JET_errInvalidPath },
	WORKS(S_SOCK),
	{ S_SOCK, F_MISSING, ST_INIT, JET_errInvalidPath },
	{ S_SOCK, F_FILE, ST_SETPARAM, JET_errInvalidPath },	/* a path through a file */
	{ S_SOCK, F_LONG, ST_SETPARAM, JET_errInvalidPath },
	WORKS(S_SET),
	{ S_SET, F_MISSING, ST_BACKUP, JET_errInvalidPath },
	{ S_SET, F_FILE, ST_BACKUP, JET_errInvalidPath },
	{ S_SET, F_LONG, ST_BACKUP, JET_errInvalidPath },
	/* jetutil restore's target is created whether or not it exists. */
	WORKS(S_TARGET),
	{ S_TARGET, F_MISSING, ST_NONE, 0 },
	{ S_TARGET, F_FILE, ST_RESTORE, JET_errInvalidPath },
	{ S_TARGET, F_LONG, ST_RESTORE, JET_errInvalidPath },
};

static const char *const slot_names[] = { "system path", "log path", "database directory", "backup socket directory",
	"backup directory", "restore target" };
static const char *const form_names[] = { "plain", "trailing /", "//", "./", "../", "relative", "symlink",
	"missing dir", "missing dir + CreatePathIfNotExist", "a file", "overlong" };

/* The paths a row makes, freed when it ends. */
static char *owned[32];
static int nowned;

static char *
own(char *p)
{
	ck_assert(p != NULL && nowned < (int)(sizeof(owned) / sizeof(owned[0])));
	return owned[nowned++] = p;
}

static void
free_owned(void)
{
	while (nowned > 0)
		free(owned[--nowned]);
}

/* a b c d, concatenated. */
static char *
cat(const char *a, const char *b, const char *c, const char *d)
{
	char *p;

	ck_assert(asprintf(&p, "%s%s%s%s", a, b, c, d) > 0);
	return p;
}

/*
 * The path, in form f, of directory root/name (root is the cwd, so that
 * relative forms name the same directory); creates what the form needs.
 */
static char *
form_path(const char *root, enum form f, const char *name)
{
	char *real = tu_path(root, name), *p = NULL, *link;
	size_t n;

	if (f != F_MISSING && f != F_MISSING_CREATE && f != F_FILE && f != F_LONG)
		ck_assert_msg(mkdir(real, 0700) == 0, "mkdir %s: %s", real, strerror(errno));
	switch (f) {
	case F_PLAIN:
		p = strdup(real);
		break;
	case F_TRAIL:
		p = cat(root, "/", name, "/");
		break;
	case F_DSLASH:
		p = cat(root, "//", name, "//");
		break;
	case F_DOT:
		p = cat(root, "/./", name, "/.");
		break;
	case F_DOTDOT:
		(void)mkdir("x", 0700);
		p = cat(root, "/x/../", name, "");
		break;
	case F_REL:
		p = cat("./", name, "/", "");
		break;
	case F_SYMLINK:
		link = cat(root, "/link-", name, "");
		ck_assert(symlink(real, link) == 0);
		p = cat(link, "/", "", "");
		free(link);
		break;
	case F_MISSING:
	case F_MISSING_CREATE:
		p = cat(root, "/missing/", name, "");
		break;
	case F_FILE:
		fclose(fopen(real, "w"));
		p = strdup(real);
		break;
	case F_LONG:
		n = strlen(root) + 5000;
		ck_assert((p = malloc(n + 3)) != NULL);
		snprintf(p, n + 3, "%s/", root);
		for (size_t i = strlen(p); i < n; i += 2)
			memcpy(p + i, "a/", 3);
		break;
	}
	free(real);
	return own(p);
}

/* dir/name, with no separator added if dir ends with one (the form keeps its own). */
static char *
in_dir(const char *dir, const char *name)
{
	return own(cat(dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name, ""));
}

static void
put(JET_SESID ses, JET_TABLEID t, const char *k, const char *v)
{
	CK(JetBeginTransaction(ses));
	CK(tu_put(ses, t, k, strlen(k), v, strlen(v)));
	CK(JetCommitTransaction(ses, JET_bitCommitLazyFlush));
}

/* Copies one file of an external backup to dir. */
static void
ext_copy(JET_INSTANCE inst, const char *name, const char *dir)
{
	const char *slash = strrchr(name, '/');
	char *to = tu_path(dir, slash != NULL ? slash + 1 : name);
	unsigned long lo, hi, got;
	static _Alignas(4096) char buf[65536];	/* ESE's buffer rules */
	JET_HANDLE h;
	JET_ERR err;
	FILE *out;

	err = JetOpenFileInstance(inst, name, &h, &lo, &hi);
	ck_assert_msg(err >= 0, "JetOpenFileInstance(%s) -> %s", name, JetErrorName(err));
	ck_assert((out = fopen(to, "w")) != NULL);
	do {
		CK(JetReadFileInstance(inst, h, buf, sizeof(buf), &got));
		ck_assert(fwrite(buf, 1, got, out) == got);
	} while (got > 0);
	ck_assert(fclose(out) == 0);
	CK(JetCloseFileInstance(inst, h));
	free(to);
}

/* An ESE-mode full backup through the external API, logs truncated after. */
static void
ext_backup(JET_INSTANCE inst, const char *dir)
{
	char list[8192];
	unsigned long got;

	ck_assert(mkdir(dir, 0700) == 0);
	CK(JetBeginExternalBackupInstance(inst, 0));
	CK(JetGetAttachInfoInstance(inst, list, sizeof(list), &got));
	for (char *p = list; *p != '\0'; p += strlen(p) + 1)
		ext_copy(inst, p, dir);
	CK(JetGetLogInfoInstance(inst, list, sizeof(list), &got));
	for (char *p = list; *p != '\0'; p += strlen(p) + 1)
		ext_copy(inst, p, dir);
	CK(JetTruncateLogInstance(inst));
	CK(JetEndExternalBackupInstance(inst));
}

/* Opens the instance restored in dir and checks its records. */
static void
check_restored(const char *dir, int nkeys)
{
	JET_INSTANCE inst = tu_instance(dir, 256, 64);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	void *v;
	size_t len;

	CK(JetInit(&inst));
	tu_open_db(inst, dir, "a.edb", &ses, &dbid, &t);
	for (int i = 0; i < 2; i++) {
		const char *k = i == 0 ? "k1" : "k2";

		if (i < nkeys) {
			CK(tu_get(ses, t, k, 2, &v, &len));
			ck_assert(len == 2 && memcmp(v, i == 0 ? "v1" : "v2", 2) == 0);
			free(v);
		} else
			CK_ERR(tu_get(ses, t, k, 2, &v, &len), JET_errRecordNotFound);
	}
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
}

/* At the call that takes the path of slot, the row's outcome; true if the row ends there. */
static int
at(const struct row *r, enum stage st, enum slot slot, JET_ERR err, const char *what)
{
	if (r->stage == st && r->slot == slot) {
		ck_assert_msg(err == r->want, "%s, %s: %s -> %s, expected %s", slot_names[r->slot], form_names[r->form],
		    what, JetErrorName(err), JetErrorName(r->want));
		return 1;
	}
	ck_assert_msg(err >= 0, "%s, %s: %s -> %s (the path must work or be refused earlier)", slot_names[r->slot],
	    form_names[r->form], what, JetErrorName(err));
	return 0;
}

START_TEST(test_path_forms)
{
	const struct row *r = &rows[_i];
	char *root = tu_tempdir(), *inst_dir, *db_dir, *db, *sock = NULL, *set1, *set2, *t1, *t2;
	char *sets[1];
	JET_INSTANCE inst = 0;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	struct stat st;

	ck_assert(chdir(root) == 0);
	if (r->slot == S_SYS || r->slot == S_LOG)
		inst_dir = form_path(root, r->form, "inst");
	else
		inst_dir = form_path(root, F_PLAIN, "inst");
	CK(JetCreateInstance(&inst, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramLogFileSize, 256, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget,
	    getenv("JET_TEST_EVENTS") ? JET_JetfsEventStderr : JET_JetfsEventNone, NULL));
	if (r->form == F_MISSING_CREATE)
		CK(JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL));
	/* The other of system and log path stays apart, so that the one under test is really used. */
	if (at(r, ST_SETPARAM, S_SYS, JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0,
	    r->slot == S_SYS ? inst_dir : root), "JetSetSystemParameter(SystemPath)"))
		goto done;
	if (at(r, ST_SETPARAM, S_LOG, JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0,
	    r->slot == S_SYS ? root : inst_dir), "JetSetSystemParameter(LogFilePath)"))
		goto done;
	if (r->slot == S_SOCK) {
		char *dir = form_path(root, r->form, "sock");

		sock = in_dir(dir, "bk.sock");
		if (at(r, ST_SETPARAM, S_SOCK, JetSetSystemParameter(&inst, 0, JET_paramJetfsBackupSocket, 0, sock),
		    "JetSetSystemParameter(JetfsBackupSocket)"))
			goto done;
	}
	if (at(r, ST_INIT, r->slot, JetInit(&inst), "JetInit"))
		goto done;
	if (r->slot == S_SOCK) {
		const char *dir = r->form == F_MISSING_CREATE ? "missing/sock" : "sock";
		char *real = cat(root, "/", dir, "/bk.sock");

		ck_assert_msg(stat(real, &st) == 0 && S_ISSOCK(st.st_mode), "no socket at %s", real);
		free(real);
		/* Who may connect is the directory's business: created private. */
		ck_assert(stat(dir, &st) == 0);
		ck_assert(r->form != F_MISSING_CREATE || (st.st_mode & 0777) == 0700);
	}
	db_dir = r->slot == S_DB ? form_path(root, r->form, "db") : inst_dir;
	db = in_dir(db_dir, "a.edb");
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	if (at(r, ST_CREATE, S_DB, JetCreateDatabase(ses, db, NULL, &dbid, 0), "JetCreateDatabase"))
		goto done;
	CK(JetCreateTable(ses, dbid, "t", 0, 0, &t));
	put(ses, t, "k1", "v1");

	set1 = r->slot == S_SET ? form_path(root, r->form, "set1") : form_path(root, F_PLAIN, "set1");
	if (at(r, ST_BACKUP, S_SET, JetBackupInstance(inst, set1, JET_bitBackupJetfsPointInTime, NULL),
	    "JetBackupInstance(PointInTime)"))
		goto done;
	put(ses, t, "k2", "v2");
	set2 = own(tu_path(root, "set2"));
	ext_backup(inst, set2);
	/* The database is found again under every name the application may give it. */
	CK(JetCloseTable(ses, t));
	CK(JetCloseDatabase(ses, dbid, 0));
	CK(JetDetachDatabase(ses, db));
	CK(JetAttachDatabase(ses, db, 0));
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));

	if (r->slot == S_DB) {
		/* JetExternalRestore2 to a new name written in the form: found under any name afterwards. */
		char *ext = form_path(root, r->form == F_MISSING ? F_MISSING_CREATE : r->form, "ext");
		char *img = own(tu_path(set2, "a.edb")), *canon = own(tu_path(root, "ext/a.edb"));
		JET_RSTMAP map = { db, in_dir(ext, "a.edb") };

		/* The caller places the image itself, so the directory exists. */
		if (r->form == F_MISSING_CREATE) {
			canon = own(tu_path(root, "missing/ext/a.edb"));
			ck_assert(mkdir("missing/ext", 0700) == 0);
		}
		tu_copy_file(img, canon);
		CK(JetExternalRestore2(ext, ext, &map, 1, set2, NULL, NULL, NULL, NULL, NULL));
		check_restored(ext, 2);
	}
	t1 = r->slot == S_TARGET ? form_path(root, r->form, "t1") : own(tu_path(root, "t1"));
	sets[0] = set1;
	if (at(r, ST_RESTORE, S_TARGET, JetfsRestoreSets((const char *const *)sets, 1, t1, NULL, 0, NULL), "JetfsRestoreSets"))
		goto done;
	t2 = r->slot == S_TARGET ? form_path(root, r->form == F_MISSING ? F_MISSING_CREATE : r->form, "t2") :
	    own(tu_path(root, "t2"));
	sets[0] = set2;
	CK(JetfsRestoreSets((const char *const *)sets, 1, t2, NULL, 0, NULL));
	check_restored(t1, 1);
	check_restored(t2, 2);
done:
	free_owned();
	ck_assert(chdir("/") == 0);
	tu_rmdir(root);
	free(root);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("paths");
	TCase *tc = tcase_create("forms");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_path_forms, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	suite_add_tcase(s, tc);
	return tu_run(s);
}
