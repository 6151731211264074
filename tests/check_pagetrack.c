/*
 * check_pagetrack.c -- page tracking (pagetrack.c): which pages changed
 * since an LSN, from the page summaries of closed generations and the
 * current generation's set.
 *
 * The reference is the database itself: each change gives a page a new
 * dbtime from the database's counter, so with one session the pages changed
 * by the records at LSN >= L are exactly the pages whose dbtime is above the
 * counter's value when the record at L began.  Every test compares the query
 * with that set (equal: never smaller, never larger), after the damage it
 * inflicts (a crash before a summary, a flipped byte, a foreign summary,
 * circular logging, file extension), or checks that it fails closed.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "format.h"

#define LOG_KB 64

struct env {
	char *dir;
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
};

/* A mark: the LSN the next record starts at and the database's dbtime then. */
struct mark {
	lsn_t lsn;
	uint64_t dbtime;
};

static struct jet_inst *
env_inst(struct env *e)
{
	struct jet_inst *in = handle_get(HANDLE_INSTANCE, e->inst);

	ck_assert(in != NULL);
	return in;
}

static struct jet_db *
env_db(struct env *e)
{
	struct jet_inst *in = env_inst(e);

	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (in->dbs[i] != NULL)
			return in->dbs[i];
	ck_abort_msg("no database attached");
	return NULL;
}

static void
env_open(struct env *e, int circular, const char *recovery)
{
	e->inst = tu_instance(e->dir, LOG_KB, 512);
	CK(JetSetSystemParameter(&e->inst, 0, JET_paramCircularLog, (JET_API_PTR)circular, NULL));
	CK(JetSetSystemParameter(&e->inst, 0, JET_paramDbExtensionSize, 16, NULL));
	if (recovery != NULL)
		CK(JetSetSystemParameter(&e->inst, 0, JET_paramRecovery, 0, recovery));
	CK(JetInit(&e->inst));
	tu_open_db(e->inst, e->dir, "t.edb", &e->ses, &e->dbid, &e->t);
}

static void
env_close(struct env *e, int abrupt)
{
	CK(JetTerm2(e->inst, abrupt ? JET_bitTermAbrupt : JET_bitTermComplete));
}

/* Closes the instance and removes its directory. */
static void
env_done(struct env *e, int abrupt)
{
	env_close(e, abrupt);
	tu_rmdir(e->dir);
	free(e->dir);
}

static struct mark
mark_now(struct env *e)
{
	struct jet_inst *in = env_inst(e);
	struct mark m;

	olock_lock(&in->log.lock);
	m.lsn = in->log.append_lsn;
	olock_unlock(&in->log.lock);
	m.dbtime = __atomic_load_n(&env_db(e)->dbtime, __ATOMIC_SEQ_CST);
	return m;
}

/* Transactions first..first+n-1: new keys and rewrites of a few hot ones. */
static void
work(struct env *e, unsigned first, unsigned n)
{
	uint8_t val[600];

	for (unsigned i = first; i < first + n; i++) {
		char key[32];
		int kl = snprintf(key, sizeof(key), i % 3 ? "k%07u" : "hot%02u", i % 3 ? i : i % 17);
		memset(val, (int)i, sizeof(val));
		CK(tu_put(e->ses, e->t, key, (size_t)kl, val, 100 + i % 500));
	}
}

/* The pages whose dbtime is above dbtime: changed after the mark. */
static void
reference(struct env *e, uint64_t dbtime, uint32_t **pagesp, size_t *np)
{
	struct jet_db *db = env_db(e);
	uint32_t *pages = malloc(((size_t)db->file_pages + 1) * sizeof(*pages));
	size_t n = 0;

	ck_assert(pages != NULL);
	for (uint32_t pgno = 1; pgno <= db->file_pages; pgno++) {
		struct frame *f;
		JET_ERR err = cache_get(db, pgno, &f);
		if (err == JET_errPageNotInitialized)
			continue;
		CK(err);
		if (get64(f->data + PG_DBTIME) > dbtime)
			pages[n++] = pgno;
		cache_unpin(f);
	}
	*pagesp = pages;
	*np = n;
}

static JET_ERR
query(struct env *e, lsn_t since, uint32_t **pagesp, size_t *np, char *why, size_t cb)
{
	return pagetrack_changed_since(env_inst(e), &env_db(e)->hdr.sign_db, since, pagesp, np, why, cb);
}

/* The query since lsn equals the pages changed after dbtime. */
static void
expect_exact(struct env *e, lsn_t since, uint64_t dbtime, const char *what)
{
	uint32_t *got, *want;
	size_t ngot, nwant;
	char why[512];
	JET_ERR err = query(e, since, &got, &ngot, why, sizeof(why));

	ck_assert_msg(err >= 0, "%s: query since %llu: %s: %s", what, (unsigned long long)since, JetErrorName(err), why);
	reference(e, dbtime, &want, &nwant);
	ck_assert_msg(ngot == nwant, "%s: since LSN %llu: %zu pages, the database says %zu", what,
	    (unsigned long long)since, ngot, nwant);
	for (size_t i = 0; i < ngot; i++)
		ck_assert_msg(got[i] == want[i], "%s: page %zu is %u, the database says %u", what, i, got[i], want[i]);
	free(got);
	free(want);
}

static void
expect_refused(struct env *e, lsn_t since, JET_ERR want, const char *reason)
{
	uint32_t *got = (uint32_t *)1;
	size_t n = 1;
	char why[512];
	JET_ERR err = query(e, since, &got, &n, why, sizeof(why));

	ck_assert_msg(err == want, "query: %s (%s), expected %s", JetErrorName(err), why, JetErrorName(want));
	ck_assert_msg(got == NULL && n == 0, "a refused query returned pages");
	ck_assert_msg(strstr(why, reason) != NULL, "the reason \"%s\" does not say \"%s\"", why, reason);
}

static char *
summary_path(struct env *e, uint32_t gen)
{
	char name[32];

	snprintf(name, sizeof(name), "edbp%05X.jps", gen);
	return tu_path(e->dir, name);
}

static char *
log_path(struct env *e, uint32_t gen)
{
	char name[32];

	snprintf(name, sizeof(name), "edb%05X.log", gen);
	return tu_path(e->dir, name);
}

static uint32_t
current_gen(struct env *e)
{
	return env_inst(e)->log.cur_gen;
}

/* The generation a mark's LSN is in. */
static uint32_t
gen_of(struct env *e, lsn_t lsn)
{
	return log_gen_of(&env_inst(e)->log, lsn);
}

/* ---- exact answers, and the boundary at a record's LSN ---- */

START_TEST(test_exact_across_generations)
{
	struct env e = { .dir = tu_tempdir() };
	struct mark before, after, start;

	env_open(&e, 0, NULL);
	work(&e, 0, 50);
	start = mark_now(&e);
	work(&e, 50, 300);
	ck_assert_msg(current_gen(&e) >= gen_of(&e, start.lsn) + 3, "too few generations: %u", current_gen(&e));
	expect_exact(&e, start.lsn, start.dbtime, "since an older mark");
	/* The last record: no later one changes its pages again. */
	before = mark_now(&e);
	work(&e, 350, 1);
	after = mark_now(&e);
	ck_assert(after.dbtime > before.dbtime);
	expect_exact(&e, before.lsn, before.dbtime, "at the record's LSN");
	expect_exact(&e, before.lsn - 1, before.dbtime, "just before the record's LSN");
	expect_exact(&e, before.lsn + 1, after.dbtime, "just after the record's LSN");
	expect_exact(&e, after.lsn, after.dbtime, "at the end");
	env_done(&e, 0);
}
END_TEST

/* ---- a crash between a roll and its summary ---- */

START_TEST(test_crash_before_summary)
{
	struct env e = { .dir = tu_tempdir() };
	struct mark m;
	uint32_t gen;
	char *sum;
	struct stat st, rebuilt;
	pid_t pid;
	int status;

	env_open(&e, 0, NULL);
	work(&e, 0, 20);
	m = mark_now(&e);
	gen = current_gen(&e);
	env_close(&e, 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		env_open(&e, 0, NULL);
		os_fault_arm(OS_FAULT_CRASH, 1, 0, 0, ".jps");
		work(&e, 20, 400);
		_exit(0);
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "the child did not crash at a summary");
	/* Generation gen + 1 closed, its summary as saved when it began (empty) or none. */
	sum = summary_path(&e, gen + 1);
	if (stat(sum, &st) != 0)
		st.st_size = 0;
	env_open(&e, 0, NULL);
	ck_assert_msg(stat(sum, &rebuilt) == 0 && rebuilt.st_size > st.st_size,
	    "%s was not rebuilt at the start (%lld bytes, %lld before)", sum, (long long)rebuilt.st_size,
	    (long long)st.st_size);
	free(sum);
	ck_assert_msg(current_gen(&e) >= gen + 2, "the crashed run closed no generation");
	for (uint32_t g = gen; g < current_gen(&e); g++) {
		sum = summary_path(&e, g);
		ck_assert_msg(access(sum, F_OK) == 0, "%s was not rebuilt", sum);
		free(sum);
	}
	expect_exact(&e, m.lsn, m.dbtime, "after recovery");
	env_done(&e, 0);
}
END_TEST

/* ---- a damaged summary ---- */

START_TEST(test_damaged_summary)
{
	struct env e = { .dir = tu_tempdir() };
	struct mark m;
	uint32_t gen;
	char *sum, *log;
	struct stat st;

	env_open(&e, 0, NULL);
	work(&e, 0, 20);
	m = mark_now(&e);
	work(&e, 20, 300);
	gen = gen_of(&e, m.lsn) + 1;
	ck_assert(gen < current_gen(&e));
	sum = summary_path(&e, gen);
	log = log_path(&e, gen);
	/* The low byte of the last page number it lists: a CRC that is not checked gives another page. */
	ck_assert(stat(sum, &st) == 0 && st.st_size > 72 + 12);
	tu_flip_byte(sum, (long)st.st_size - 12);
	expect_exact(&e, m.lsn, m.dbtime, "a flipped byte, its log present");
	/* Rebuilt and rewritten: now it is good without its log. */
	CK(os_unlink(log));
	expect_exact(&e, m.lsn, m.dbtime, "rebuilt summary, its log gone");
	tu_flip_byte(sum, (long)st.st_size - 12);
	expect_refused(&e, m.lsn, JET_errLogFileCorrupt, "no valid page summary");
	free(sum);
	free(log);
	env_done(&e, 1);
}
END_TEST

/* ---- a summary from another instance ---- */

START_TEST(test_foreign_summary)
{
	struct env e = { .dir = tu_tempdir() }, other = { .dir = tu_tempdir() };
	struct mark m;
	uint32_t gen;
	char *sum, *theirs, *log;

	env_open(&other, 0, NULL);
	work(&other, 1000, 300);
	env_close(&other, 0);
	env_open(&e, 0, NULL);
	work(&e, 0, 20);
	m = mark_now(&e);
	work(&e, 20, 300);
	gen = gen_of(&e, m.lsn) + 1;
	sum = summary_path(&e, gen);
	theirs = summary_path(&other, gen);
	log = log_path(&e, gen);
	ck_assert(access(theirs, F_OK) == 0);
	tu_copy_file(theirs, sum);
	expect_exact(&e, m.lsn, m.dbtime, "a foreign summary, the log present");
	tu_copy_file(theirs, sum);
	CK(os_unlink(log));
	expect_refused(&e, m.lsn, JET_errBadLogSignature, "another log set");
	free(sum);
	free(theirs);
	free(log);
	env_done(&e, 1);
	tu_rmdir(other.dir);
	free(other.dir);
}
END_TEST

/* ---- circular logging ---- */

START_TEST(test_circular_keeps_summaries)
{
	struct env e = { .dir = tu_tempdir() };
	struct jet_db *db;
	struct mark m;
	uint32_t low;
	char *p;

	env_open(&e, 1, NULL);
	work(&e, 0, 200);
	m = mark_now(&e);
	low = gen_of(&e, m.lsn);
	/* A recorded full backup whose mark is m: its delta needs the summaries from low on. */
	db = env_db(&e);
	pthread_mutex_lock(&db->hdr_lock);
	db->hdr.bk[BK_FULL_PREV].lsn_mark = m.lsn;
	db->hdr.bk[BK_FULL_PREV].gen_low = low;
	db->hdr.bk[BK_FULL_PREV].gen_high = low;
	pthread_mutex_unlock(&db->hdr_lock);
	work(&e, 200, 400);
	CK(checkpoint_run(env_inst(&e), 0));
	p = log_path(&e, low);
	ck_assert_msg(access(p, F_OK) != 0, "circular logging kept %s", p);
	free(p);
	for (uint32_t g = 1; g < current_gen(&e); g++) {
		p = summary_path(&e, g);
		if (g < low)
			ck_assert_msg(access(p, F_OK) != 0, "%s is older than the full's gen_low %u but stays", p, low);
		else
			ck_assert_msg(access(p, F_OK) == 0, "%s is gone", p);
		free(p);
	}
	expect_exact(&e, m.lsn, m.dbtime, "logs deleted by circular logging");
	env_done(&e, 0);
}
END_TEST

/* ---- a database that grows ---- */

START_TEST(test_extension_pages)
{
	struct env e = { .dir = tu_tempdir() };
	uint32_t *got, old_last, new_last, old_file_pages, beyond = 0;
	size_t n;
	char why[256];
	struct mark m;

	env_open(&e, 0, NULL);
	work(&e, 0, 10);
	CK(space_pgno_last(env_db(&e), &old_last));
	old_file_pages = env_db(&e)->file_pages;
	m = mark_now(&e);
	work(&e, 10, 1500);
	CK(space_pgno_last(env_db(&e), &new_last));
	ck_assert_msg(env_db(&e)->file_pages > old_file_pages, "the file did not grow: %u pages, pgno_last %u then %u",
	    old_file_pages, old_last, new_last);
	CK(query(&e, m.lsn, &got, &n, why, sizeof(why)));
	for (size_t i = 0; i < n; i++)
		beyond += got[i] > old_last;
	ck_assert_msg(beyond > 0, "no page past the old pgno_last %u is in the answer", old_last);
	free(got);
	expect_exact(&e, m.lsn, m.dbtime, "after the file grew");
	env_done(&e, 0);
}
END_TEST

/* ---- logging off ---- */

START_TEST(test_logging_off_fails_closed)
{
	struct env e = { .dir = tu_tempdir() };
	struct mark m;

	env_open(&e, 0, NULL);
	work(&e, 0, 50);
	m = mark_now(&e);
	env_close(&e, 0);
	for (int run = 0; run < 2; run++) {	/* the second finds the marker there */
		env_open(&e, 0, "off");
		work(&e, 50 + 50 * (unsigned)run, 50);
		expect_refused(&e, m.lsn, JET_errLoggingDisabled, "logging off");
		env_close(&e, 0);
	}
	/* The marker outlives a new log set (everything else removed): that run's changes are in no log. */
	{
		char *p = tu_path(e.dir, "edbnolog.jps");
		DIR *d = opendir(e.dir);
		struct dirent *de;
		ck_assert_msg(access(p, F_OK) == 0, "no marker %s", p);
		free(p);
		ck_assert(d != NULL);
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' || strcmp(de->d_name, "edbnolog.jps") == 0)
				continue;
			p = tu_path(e.dir, de->d_name);
			ck_assert_msg(unlink(p) == 0, "cannot remove %s", p);
			free(p);
		}
		closedir(d);
	}
	env_open(&e, 0, "on");
	m = mark_now(&e);
	work(&e, 150, 50);
	expect_refused(&e, m.lsn, JET_errLoggingDisabled, "logging off");
	env_done(&e, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("pagetrack");

	tu_add_test(s, "exact_across_generations", test_exact_across_generations, 120);
	tu_add_test(s, "crash_before_summary", test_crash_before_summary, 120);
	tu_add_test(s, "damaged_summary", test_damaged_summary, 120);
	tu_add_test(s, "foreign_summary", test_foreign_summary, 120);
	tu_add_test(s, "circular_keeps_summaries", test_circular_keeps_summaries, 120);
	tu_add_test(s, "extension_pages", test_extension_pages, 120);
	tu_add_test(s, "logging_off_fails_closed", test_logging_off_fails_closed, 120);
	return tu_run(s);
}
