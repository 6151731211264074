/*
 * check_backup.c -- ESE's external backup API and restore:
 *  1. the state machine in ESE mode: every illegal call order returns ESE's
 *     code (reference/ese-backup-internals.md §2.3, §2.4, jet.h's table);
 *  2. what End records in the database header (§2.6);
 *  3. consistency under load, ESE mode and point-in-time mode: a writer
 *     thread runs bank transfers while the backup is taken; the restored
 *     instance keeps the sum invariant and a commit counter in the right
 *     range (point-in-time: exactly the committed state at Begin);
 *  4. a full / incremental / incremental / differential chain restored with
 *     JetfsRestoreSets, and roll-forward through the live log directory;
 *  5. truncation safety with a crash in between;
 *  6. damaged pages and logs during the backup;
 *  7. JetBackupInstance (directories, atomic sets, failures, status) and
 *     restore's errors.
 *
 * The bank: database bank.edb, table "t", NACCT accounts "acctNNNNNN" with a
 * VAL_SIZE value (u64 balance, u64 counter of the last transfer that touched
 * it, a pattern), and "counter", the number of transfers, which every
 * transfer increments in the same transaction.  The sum of the balances never
 * changes and no account has a last-transfer number above the counter.
 *
 * Check runs each test in a child process, so fault injection and instances
 * do not leak from one test to the next.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* The records of these tests have string keys. */
#define kv_get(ses, t, key, val, len) rowkv_get(ses, t, key, strlen(key), val, len)
#define kv_put(ses, t, key, val, len, insert) rowkv_put(ses, t, key, strlen(key), val, len, insert)

#define NACCT 1500
#define BAL0 1000
#define VAL_SIZE 64
#define LOG_KB 128
#define CACHE_PAGES 64
#define CACHE_SMALL 16		/* forces page writes (evictions) under load */
#define FILLER_SIZE (40 * 1024)
#define MAXNAMES 256

/* ---- the bank ---- */

struct bank {
	char *dir;
	char *dbpath;
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	unsigned long cache;
	unsigned seed;
};

static void
acct_key(unsigned a, char *key)
{
	snprintf(key, 16, "acct%06u", a);
}

static void
acct_value(uint8_t *val, unsigned a, uint64_t balance, uint64_t last)
{
	put64(val, balance);
	put64(val + 8, last);
	for (int i = 16; i < VAL_SIZE; i++)
		val[i] = (uint8_t)(a * 7 + (unsigned)i);
}

/* One transfer in its own transaction; *counterp gets the new counter. */
static JET_ERR
transfer(JET_SESID ses, JET_TABLEID t, unsigned *seed, uint64_t *counterp)
{
	unsigned from = (unsigned)rand_r(seed) % NACCT, to;
	char kf[16], kt[16];
	uint8_t vf[VAL_SIZE], vt[VAL_SIZE], vc[8];
	uint64_t amount = (uint64_t)(rand_r(seed) % 50) + 1, counter;
	JET_ERR err;

	do
		to = (unsigned)rand_r(seed) % NACCT;
	while (to == from);
	acct_key(from, kf);
	acct_key(to, kt);
	if ((err = JetBeginTransaction(ses)) < 0)
		return err;
	if ((err = kv_get(ses, t, "counter", vc, 8)) < 0 || (err = kv_get(ses, t, kf, vf, VAL_SIZE)) < 0 ||
	    (err = kv_get(ses, t, kt, vt, VAL_SIZE)) < 0)
		goto fail;
	counter = get64(vc) + 1;
	if (get64(vf) < amount)
		amount = get64(vf);
	acct_value(vf, from, get64(vf) - amount, counter);
	acct_value(vt, to, get64(vt) + amount, counter);
	put64(vc, counter);
	if ((err = kv_put(ses, t, kf, vf, VAL_SIZE, 0)) < 0 || (err = kv_put(ses, t, kt, vt, VAL_SIZE, 0)) < 0 ||
	    (err = kv_put(ses, t, "counter", vc, 8, 0)) < 0)
		goto fail;
	if ((err = JetCommitTransaction(ses, 0)) < 0)
		return err;
	if (counterp != NULL)
		*counterp = counter;
	return JET_errSuccess;
fail:
	JetRollback(ses, 0);
	return err;
}

static void
transfers(struct bank *b, int n)
{
	for (int i = 0; i < n; i++)
		CK(transfer(b->ses, b->t, &b->seed, NULL));
}

static uint64_t
counter_of(JET_SESID ses, JET_TABLEID t)
{
	uint8_t vc[8];

	CK(kv_get(ses, t, "counter", vc, 8));
	return get64(vc);
}

static uint64_t
bank_counter(struct bank *b)
{
	return counter_of(b->ses, b->t);
}

/* The invariants of a bank database; returns its counter. */
static uint64_t
bank_check(JET_SESID ses, JET_DBID dbid, JET_TABLEID t)
{
	uint64_t sum = 0, n = 0, maxlast = 0, counter;
	JET_JETFSVERIFY info;
	JET_ERR err;

	for (err = JetMove(ses, t, JET_MoveFirst, 0); err == JET_errSuccess; err = JetMove(ses, t, JET_MoveNext, 0)) {
		char key[64];
		uint8_t val[VAL_SIZE], want[VAL_SIZE];
		unsigned long kl = 0, vl = 0;
		unsigned a;
		CK(JetRetrieveColumn(ses, t, JET_columnidKey, key, sizeof(key) - 1, &kl, 0, NULL));
		ck_assert_uint_lt(kl, sizeof(key));
		key[kl] = '\0';
		if (strncmp(key, "acct", 4) != 0)
			continue;
		CK(JetRetrieveColumn(ses, t, JET_columnidValue, val, sizeof(val), &vl, 0, NULL));
		ck_assert_msg(vl == VAL_SIZE, "%s has %lu bytes", key, vl);
		a = (unsigned)strtoul(key + 4, NULL, 10);
		acct_value(want, a, get64(val), get64(val + 8));
		ck_assert_msg(memcmp(val, want, VAL_SIZE) == 0, "%s: damaged value", key);
		sum += get64(val);
		if (get64(val + 8) > maxlast)
			maxlast = get64(val + 8);
		n++;
	}
	ck_assert_msg(err == JET_errNoCurrentRecord, "scan ended with %s", JetErrorName(err));
	ck_assert_msg(n == NACCT, "%llu accounts, expected %d", (unsigned long long)n, NACCT);
	ck_assert_msg(sum == (uint64_t)NACCT * BAL0, "sum of balances %llu, expected %llu", (unsigned long long)sum,
	    (unsigned long long)NACCT * BAL0);
	counter = counter_of(ses, t);
	ck_assert_msg(maxlast <= counter, "an account was changed by transfer %llu but the counter is %llu",
	    (unsigned long long)maxlast, (unsigned long long)counter);
	memset(&info, 0, sizeof(info));
	info.cbStruct = sizeof(info);
	err = JetfsVerifyDatabase(ses, dbid, &info);
	ck_assert_msg(err == JET_errSuccess, "JetfsVerifyDatabase -> %s: %s", JetErrorName(err), info.szProblem);
	ck_assert_uint_ge(info.crecords, NACCT + 1);
	ck_assert_uint_eq(info.cpagesBad, 0);
	return counter;
}

static struct jet_inst *
inst_of(JET_INSTANCE inst)
{
	struct jet_inst *in = handle_get(HANDLE_INSTANCE, inst);

	ck_assert(in != NULL);
	return in;
}

static uint32_t
cur_gen(JET_INSTANCE inst)
{
	struct jet_inst *in = inst_of(inst);
	uint32_t g;

	olock_lock(&in->log.lock);
	g = in->log.cur_gen;
	olock_unlock(&in->log.lock);
	return g;
}

/* Rewrites the filler record until the log has moved on n generations. */
static void
roll_gens(struct bank *b, uint32_t n)
{
	uint32_t start = cur_gen(b->inst);
	static uint8_t filler[FILLER_SIZE];
	int have = rowkv_seek(b->ses, b->t, "filler", strlen("filler")) >= 0;

	for (int i = 0; cur_gen(b->inst) < start + n; i++) {
		ck_assert_msg(i < 400, "the log does not roll");
		for (size_t k = 0; k < sizeof(filler); k++)
			filler[k] = (uint8_t)(k * 31 + (size_t)i * 17 + b->seed);
		CK(JetBeginTransaction(b->ses));
		CK(kv_put(b->ses, b->t, "filler", filler, sizeof(filler), !have));
		CK(JetCommitTransaction(b->ses, 0));
		have = 1;
	}
}

/* Checkpoint depth of instances made by bank_create (0: the default). */
static unsigned long g_ckpt_depth;

static JET_INSTANCE
bank_instance(const char *dir, unsigned long cache, int circular)
{
	JET_INSTANCE inst = tu_instance(dir, LOG_KB, cache);

	if (circular)
		CK(JetSetSystemParameter(&inst, 0, JET_paramCircularLog, 1, NULL));
	if (g_ckpt_depth != 0)
		CK(JetSetSystemParameter(&inst, 0, JET_paramCheckpointDepthMax, g_ckpt_depth, NULL));
	CK(JetInit(&inst));
	return inst;
}

/* Creates the bank in a new directory. */
static void
bank_create(struct bank *b, unsigned long cache, int circular)
{
	uint8_t val[VAL_SIZE], vc[8];
	char key[16];

	memset(b, 0, sizeof(*b));
	b->dir = tu_tempdir();
	b->dbpath = tu_path(b->dir, "bank.edb");
	b->cache = cache;
	b->seed = 4242;
	b->inst = bank_instance(b->dir, cache, circular);
	CK(JetBeginSession(b->inst, &b->ses, NULL, NULL));
	CK(JetCreateDatabase(b->ses, b->dbpath, NULL, &b->dbid, 0));
	CK(JetCreateTable(b->ses, b->dbid, "t", 0, 0, &b->t));
	CK(JetBeginTransaction(b->ses));
	for (unsigned a = 0; a < NACCT; a++) {
		acct_key(a, key);
		acct_value(val, a, BAL0, 0);
		CK(kv_put(b->ses, b->t, key, val, VAL_SIZE, 1));
		if (a % 500 == 499) {
			CK(JetCommitTransaction(b->ses, 0));
			CK(JetBeginTransaction(b->ses));
		}
	}
	put64(vc, 0);
	CK(kv_put(b->ses, b->t, "counter", vc, 8, 1));
	CK(JetCommitTransaction(b->ses, 0));
}

/* Starts the bank's instance again (recovering it if needed). */
static void
bank_restart(struct bank *b)
{
	JET_ERR err;

	b->inst = bank_instance(b->dir, b->cache, 0);
	CK(JetBeginSession(b->inst, &b->ses, NULL, NULL));
	err = JetOpenDatabase(b->ses, b->dbpath, NULL, &b->dbid, 0);
	if (err == JET_errDatabaseNotFound) {
		CK(JetAttachDatabase(b->ses, b->dbpath, 0));
		err = JetOpenDatabase(b->ses, b->dbpath, NULL, &b->dbid, 0);
	}
	CK(err);
	CK(JetOpenTable(b->ses, b->dbid, "t", NULL, 0, 0, &b->t));
}

static void
bank_term(struct bank *b)
{
	CK(JetEndSession(b->ses, 0));
	CK(JetTerm(b->inst));
	b->inst = 0;
}

static void
bank_free(struct bank *b)
{
	tu_rmdir(b->dir);
	free(b->dir);
	free(b->dbpath);
}

/* A second database dir/name with a few records, attached, closed for b->ses. */
static char *
bank_add_db(struct bank *b, const char *name)
{
	char *path = tu_path(b->dir, name);
	JET_DBID dbid;
	JET_TABLEID t;
	uint8_t val[VAL_SIZE];

	CK(JetCreateDatabase(b->ses, path, NULL, &dbid, 0));
	CK(JetCreateTable(b->ses, dbid, "t", 0, 0, &t));
	memset(val, 0x33, sizeof(val));
	for (int i = 0; i < 200; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%05d", i);
		CK(kv_put(b->ses, t, key, val, sizeof(val), 1));
	}
	CK(JetCloseTable(b->ses, t));
	CK(JetCloseDatabase(b->ses, dbid, 0));
	return path;
}

/* ---- files and lists ---- */

static unsigned long
page_size_of(JET_INSTANCE inst)
{
	JET_API_PTR ps = 0;

	CK(JetGetSystemParameter(inst, 0, JET_paramDatabasePageSize, &ps, NULL, 0));
	return (unsigned long)ps;
}

static void *
abuf(size_t len)
{
	void *p = NULL;

	ck_assert(posix_memalign(&p, 4096, len + 4096) == 0);
	memset(p, 0, len + 4096);
	return p;
}

static const char *
base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static char *
real_of(const char *path)
{
	char *r = realpath(path, NULL);

	ck_assert_msg(r != NULL, "realpath %s", path);
	return r;
}

/* Splits a double-NUL list; returns the count. */
static int
split_list(char *szz, unsigned long len, char **names)
{
	int n = 0;

	ck_assert_msg(len >= 1 && szz[len - 1] == '\0', "the list does not end with NUL");
	for (char *p = szz; *p != '\0'; p += strlen(p) + 1) {
		ck_assert_msg(p < szz + len, "the list runs past its size");
		ck_assert(n < MAXNAMES);
		names[n++] = p;
	}
	return n;
}

enum list_kind { L_ATTACH, L_LOGS, L_TRUNCATE };

/* Gets a list (size first, then the data): returns the buffer, fills names. */
static char *
get_list(JET_INSTANCE inst, enum list_kind k, char **names, int *np, JET_LOGINFO *li)
{
	unsigned long need = 0, got = 0;
	char *buf;
	JET_LOGINFO tmp;

	if (li == NULL)
		li = &tmp;
	memset(li, 0, sizeof(*li));
	li->cbSize = sizeof(*li);
	switch (k) {
	case L_ATTACH: CK(JetGetAttachInfoInstance(inst, NULL, 0, &need)); break;
	case L_LOGS: CK(JetGetLogInfoInstance2(inst, NULL, 0, &need, li)); break;
	case L_TRUNCATE: CK(JetGetTruncateLogInfoInstance(inst, NULL, 0, &need)); break;
	}
	ck_assert_uint_ge(need, 1);
	buf = calloc(1, need + 16);
	ck_assert(buf != NULL);
	switch (k) {
	case L_ATTACH: CK(JetGetAttachInfoInstance(inst, buf, need, &got)); break;
	case L_LOGS: CK(JetGetLogInfoInstance2(inst, buf, need, &got, li)); break;
	case L_TRUNCATE: CK(JetGetTruncateLogInfoInstance(inst, buf, need, &got)); break;
	}
	*np = split_list(buf, need, names);
	return buf;
}

static int
gen_of_name(const char *path, uint32_t *genp)
{
	return log_parse_name("edb", base_of(path), genp);
}

static char *
gen_path(const char *dir, uint32_t gen)
{
	char *p = log_name_path(dir, "edb", gen);

	ck_assert(p != NULL);
	return p;
}

/* The trailer of a streamed database image. */
static void
trailer_of(const char *img, struct bk_trailer *tr)
{
	struct db_header h = tu_hdr_of(img);
	os_file *f;
	uint8_t *page = abuf(h.page_size);

	CK(os_open(img, OS_READ, &f));
	CK(os_pread(f, page, h.page_size, ((uint64_t)h.pgno_last + 2) * h.page_size));
	os_close(f);
	CK(backup_trailer_decode(page, h.page_size, tr));
	free(page);
}

static int
bk_is_zero(const struct bkinfo *bi)
{
	return bi->lsn_mark == 0 && bi->time_mark == 0 && bi->gen_low == 0 && bi->gen_high == 0;
}

#define ck_assert_bk_zero(h, slot) ck_assert_msg(bk_is_zero(&(h).bk[slot]), \
	"header slot %s holds a backup (gens %u-%u)", #slot, (h).bk[slot].gen_low, (h).bk[slot].gen_high)
#define ck_assert_bk_range(h, slot, lo, hi) ck_assert_msg((h).bk[slot].gen_low == (lo) && \
	(h).bk[slot].gen_high == (hi) && (h).bk[slot].lsn_mark != 0, \
	"header slot %s holds gens %u-%u (mark %llu), expected %lu-%lu", #slot, (h).bk[slot].gen_low, \
	(h).bk[slot].gen_high, (unsigned long long)(h).bk[slot].lsn_mark, (unsigned long)(lo), (unsigned long)(hi))
#define ck_assert_bk_same(a, b, slot) ck_assert_msg(memcmp(&(a).bk[slot], &(b).bk[slot], sizeof((a).bk[slot])) == 0, \
	"header slot %s changed: gens %u-%u -> %u-%u", #slot, (a).bk[slot].gen_low, (a).bk[slot].gen_high, \
	(b).bk[slot].gen_low, (b).bk[slot].gen_high)

static int
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char *p;
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = tu_path(dir, de->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			n++;
		free(p);
	}
	closedir(d);
	return n;
}

/* The generations present in a log directory, as a bitmap over 0..4095. */
static void
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

static uint8_t *
slurp(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *buf;

	ck_assert_msg(fd >= 0, "open %s", path);
	ck_assert(fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert(buf != NULL);
	ck_assert(pread(fd, buf, (size_t)st.st_size, 0) == st.st_size);
	close(fd);
	*lenp = (size_t)st.st_size;
	return buf;
}

static int
files_equal(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = slurp(a, &la), *y = slurp(b, &lb);
	int eq = la == lb && memcmp(x, y, la) == 0;

	free(x);
	free(y);
	return eq;
}

/* Copies every plain file of directory from into directory to. */
static void
cp_all(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *de;

	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		char *a = tu_path(from, de->d_name), *b;
		struct stat st;
		if (stat(a, &st) == 0 && S_ISREG(st.st_mode)) {
			b = tu_path(to, de->d_name);
			tu_copy_file(a, b);
			free(b);
		}
		free(a);
	}
	closedir(d);
}

/* ---- the writer thread ---- */

struct writer {
	JET_INSTANCE inst;
	const char *dbpath;
	pthread_t thread;
	pthread_mutex_t pause;		/* held around each transfer */
	atomic_int stop;
	atomic_ullong done;
	JET_ERR err;
	const char *what;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	unsigned seed = 777;
	JET_ERR err;

	if ((err = JetBeginSession(w->inst, &ses, NULL, NULL)) < 0) {
		w->err = err;
		w->what = "JetBeginSession";
		return NULL;
	}
	if ((err = JetOpenDatabase(ses, w->dbpath, NULL, &dbid, 0)) < 0 ||
	    (err = JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t)) < 0) {
		w->err = err;
		w->what = "open";
		JetEndSession(ses, 0);
		return NULL;
	}
	while (!atomic_load(&w->stop)) {
		pthread_mutex_lock(&w->pause);
		err = transfer(ses, t, &seed, NULL);
		pthread_mutex_unlock(&w->pause);
		if (err < 0) {
			w->err = err;
			w->what = "transfer";
			break;
		}
		atomic_fetch_add(&w->done, 1);
	}
	JetEndSession(ses, 0);
	return NULL;
}

static void
writer_start(struct writer *w, struct bank *b)
{
	memset(w, 0, sizeof(*w));
	w->inst = b->inst;
	w->dbpath = b->dbpath;
	pthread_mutex_init(&w->pause, NULL);
	ck_assert(pthread_create(&w->thread, NULL, writer_main, w) == 0);
}

/* Waits until the writer has done n more transfers. */
static void
writer_wait(struct writer *w, unsigned long long n)
{
	unsigned long long target = atomic_load(&w->done) + n;
	struct timespec ts = { 0, 200000 };

	while (atomic_load(&w->done) < target) {
		ck_assert_msg(w->err == JET_errSuccess, "writer: %s -> %s", w->what, JetErrorName(w->err));
		nanosleep(&ts, NULL);
	}
}

static void
writer_stop(struct writer *w)
{
	atomic_store(&w->stop, 1);
	ck_assert(pthread_join(w->thread, NULL) == 0);
	ck_assert_msg(w->err == JET_errSuccess, "writer: %s -> %s", w->what, JetErrorName(w->err));
	pthread_mutex_destroy(&w->pause);
}

static void
hook_writer_wait(void *arg)
{
	writer_wait(arg, 3);
}

static void
hook_writer_wait_more(void *arg)
{
	writer_wait(arg, 40);
}

/* ---- an ESE-mode backup by hand ---- */

struct bkrun {
	JET_GRBIT grbit;		/* Begin */
	int begun;			/* Begin already called */
	int truncate;
	JET_GRBIT endbits;		/* 0: JET_bitBackupEndNormal */
	void (*between)(void *);	/* between two reads of a database */
	void (*before_logs)(void *);	/* after the databases, before JetGetLogInfo */
	void *arg;
	unsigned seed;
	JET_LOGINFO li;			/* out: the log range */
	int nlogs;			/* out */
};

/* Copies one backup file with sequential reads of random sizes; returns its size. */
static uint64_t
ese_copy(JET_INSTANCE inst, const char *name, const char *outdir, struct bkrun *r, int is_db)
{
	unsigned long ps = page_size_of(inst), lo = 0, hi = 0, got = 0;
	uint8_t *buf = abuf(16 * ps);
	char *to = tu_path(outdir, base_of(name));
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint64_t off = 0, size;
	JET_HANDLE h = 0;
	int first = 1;

	ck_assert_msg(fd >= 0, "create %s", to);
	CK(JetOpenFileInstance(inst, name, &h, &lo, &hi));
	size = (uint64_t)hi << 32 | lo;
	for (;;) {
		unsigned long cb = first ? 3 * ps : (1 + (unsigned long)rand_r(&r->seed) % 16) * ps;
		JET_ERR err = JetReadFileInstance(inst, h, buf, cb, &got);
		ck_assert_msg(err == JET_errSuccess, "JetReadFileInstance(%s) -> %s", name, JetErrorName(err));
		first = 0;
		if (got == 0)
			break;
		ck_assert_uint_le(got, cb);
		ck_assert(pwrite(fd, buf, got, (off_t)off) == (ssize_t)got);
		off += got;
		if (is_db && r->between != NULL)
			r->between(r->arg);
	}
	ck_assert_msg(off == size, "%s: read %llu bytes, OpenFile said %llu", name, (unsigned long long)off,
	    (unsigned long long)size);
	CK(JetCloseFileInstance(inst, h));
	ck_assert(fsync(fd) == 0);
	close(fd);
	free(to);
	free(buf);
	return size;
}

static void
ese_backup(JET_INSTANCE inst, const char *outdir, struct bkrun *r)
{
	char *names[MAXNAMES], *buf;
	int n;

	if (r->seed == 0)
		r->seed = 99;
	if (!r->begun)
		CK(JetBeginExternalBackupInstance(inst, r->grbit));
	if (!(r->grbit & JET_bitBackupIncremental)) {
		buf = get_list(inst, L_ATTACH, names, &n, NULL);
		for (int i = 0; i < n; i++)
			ese_copy(inst, names[i], outdir, r, 1);
		free(buf);
	}
	if (r->before_logs != NULL)
		r->before_logs(r->arg);
	buf = get_list(inst, L_LOGS, names, &n, &r->li);
	r->nlogs = n;
	for (int i = 0; i < n; i++)
		ese_copy(inst, names[i], outdir, r, 0);
	free(buf);
	if (r->truncate)
		CK(JetTruncateLogInstance(inst));
	CK(JetEndExternalBackupInstance2(inst, r->endbits ? r->endbits : JET_bitBackupEndNormal));
}

/* ---- restore and open ---- */

/* Opens a restored instance in dir; checks the bank; returns its counter. */
static uint64_t
open_restored(const char *dir)
{
	JET_INSTANCE inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	char *path = tu_path(dir, "bank.edb");
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	uint64_t c;
	JET_ERR err;

	CK(JetInit(&inst));
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	err = JetOpenDatabase(ses, path, NULL, &dbid, 0);
	ck_assert_msg(err == JET_errSuccess, "JetOpenDatabase of the restored %s -> %s", path, JetErrorName(err));
	CK(JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t));
	c = bank_check(ses, dbid, t);
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	free(path);
	return c;
}

static uint64_t
restore_sets(const char *const *sets, unsigned long n, const char *rollfwd, unsigned long genstop)
{
	char *target = tu_tempdir();
	JET_ERR err = JetfsRestoreSets(sets, n, target, rollfwd, genstop, NULL);
	uint64_t c;

	ck_assert_msg(err == JET_errSuccess, "JetfsRestoreSets(%lu sets%s) -> %s", n, rollfwd ? " + roll-forward" : "",
	    JetErrorName(err));
	c = open_restored(target);
	tu_rmdir(target);
	free(target);
	return c;
}

static uint64_t
restore_one(const char *set)
{
	const char *sets[1] = { set };

	return restore_sets(sets, 1, NULL, 0);
}

/* A restore that must fail with want and leave no file in its target. */
static void
restore_fails(const char *const *sets, unsigned long n, JET_ERR want)
{
	char *target = tu_tempdir();
	JET_ERR err = JetfsRestoreSets(sets, n, target, NULL, 0, NULL);

	ck_assert_msg(err == want, "JetfsRestoreSets -> %s, expected %s", JetErrorName(err), JetErrorName(want));
	ck_assert_msg(count_files(target) == 0, "a failed restore left %d files in its target", count_files(target));
	tu_rmdir(target);
	free(target);
}

/* ======================================================================
 * 1. The state machine (ESE mode)
 * ====================================================================== */

START_TEST(test_no_backup)
{
	struct bank b;
	unsigned long ps, cb = 0, lo, hi;
	char szz[4096];
	uint8_t *buf;
	JET_HANDLE h = 0;
	JET_LOGINFO li = { sizeof(li), 0, 0, "" };
	char *logname;

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	buf = abuf(4 * ps);
	logname = gen_path(b.dir, 1);
	for (int round = 0; round < 3; round++) {
		CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
		CK_ERR(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi), JET_errNoBackup);
		CK_ERR(JetOpenFileInstance(b.inst, logname, &h, &lo, &hi), JET_errNoBackup);
		CK_ERR(JetReadFileInstance(b.inst, 1, buf, 3 * ps, &cb), JET_errNoBackup);
		CK_ERR(JetfsReadFileAt(b.inst, 1, 0, buf, 4096, &cb), JET_errNoBackup);
		CK_ERR(JetCloseFileInstance(b.inst, 1), JET_errNoBackup);
		CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
		CK_ERR(JetGetLogInfoInstance2(b.inst, szz, sizeof(szz), &cb, &li), JET_errNoBackup);
		CK_ERR(JetGetTruncateLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
		CK_ERR(JetTruncateLogInstance(b.inst), JET_errNoBackup);
		CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
		CK_ERR(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndNormal), JET_errNoBackup);
		CK_ERR(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort), JET_errNoBackup);
		/* JetStopBackup with no backup succeeds (ESE) and starts nothing. */
		CK(JetStopBackupInstance(b.inst));
		if (round == 0) {
			/* After a complete backup, nothing runs any more. */
			struct bkrun r = { .truncate = 1 };
			char *out = tu_tempdir();
			ese_backup(b.inst, out, &r);
			tu_rmdir(out);
			free(out);
		} else if (round == 1) {
			/* Nor after an aborted one. */
			CK(JetBeginExternalBackupInstance(b.inst, 0));
			CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
		}
	}
	free(logname);
	free(buf);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_begin_rules)
{
	static const JET_GRBIT bad[] = {
		JET_bitBackupAtomic, JET_bitBackupSnapshot, JET_bitBackupAtomic | JET_bitBackupIncremental,
		JET_bitBackupSnapshot | JET_bitBackupJetfsPointInTime, 0x80, 0x100, 0x40000000,
	};
	static const JET_GRBIT kinds[] = { 0, JET_bitBackupIncremental, JET_bitBackupJetfsPointInTime };
	struct bank b, c;
	unsigned long cb;
	char szz[4096];

	bank_create(&b, CACHE_PAGES, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		JET_ERR err = JetBeginExternalBackupInstance(b.inst, bad[i]);
		ck_assert_msg(err == JET_errInvalidGrbit, "Begin(0x%lx) -> %s, expected JET_errInvalidGrbit", bad[i],
		    JetErrorName(err));
		CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	}
	/* No full backup recorded yet. */
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental), JET_errMissingFullBackup);
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);

	/* One backup at a time, whatever the kinds. */
	{
		struct bkrun r = { .truncate = 1 };
		char *out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		tu_rmdir(out);
		free(out);
	}
	for (size_t i = 0; i < 3; i++) {
		CK(JetBeginExternalBackupInstance(b.inst, kinds[i]));
		for (size_t j = 0; j < 3; j++) {
			JET_ERR err = JetBeginExternalBackupInstance(b.inst, kinds[j]);
			ck_assert_msg(err == JET_errBackupInProgress, "Begin(0x%lx) during Begin(0x%lx) -> %s", kinds[j],
			    kinds[i], JetErrorName(err));
		}
		/* The first backup is still there. */
		if (kinds[i] & JET_bitBackupIncremental)
			CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
		else
			CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
		CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	}

	/* A full backup without truncation is a Copy: it does not enable incrementals. */
	bank_term(&b);
	bank_free(&b);
	bank_create(&b, CACHE_PAGES, 0);
	{
		struct bkrun r = { .truncate = 0 };
		char *out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		tu_rmdir(out);
		free(out);
	}
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental), JET_errMissingFullBackup);
	bank_term(&b);
	bank_free(&b);

	/* Circular logging: full backups only. */
	bank_create(&c, CACHE_PAGES, 1);
	CK_ERR(JetBeginExternalBackupInstance(c.inst, JET_bitBackupIncremental), JET_errInvalidBackup);
	CK_ERR(JetGetAttachInfoInstance(c.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	{
		char *out = tu_tempdir();
		CK_ERR(JetBackupInstance(c.inst, out, JET_bitBackupIncremental, NULL), JET_errInvalidBackup);
		CK(JetBackupInstance(c.inst, out, 0, NULL));
		CK_ERR(JetBeginExternalBackupInstance(c.inst, JET_bitBackupIncremental), JET_errInvalidBackup);
		tu_rmdir(out);
		free(out);
	}
	bank_term(&c);
	bank_free(&c);
}
END_TEST

START_TEST(test_incremental_rules)
{
	struct bank b;
	unsigned long cb, lo, hi;
	char szz[4096], *names[MAXNAMES], *buf;
	int n;
	JET_HANDLE h;

	bank_create(&b, CACHE_PAGES, 0);
	CK(JetBackupInstance(b.inst, NULL, 0, NULL));	/* truncation only: records nothing */
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental), JET_errMissingFullBackup);
	{
		char *out = tu_tempdir();
		CK(JetBackupInstance(b.inst, out, 0, NULL));
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 20);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental));
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	CK_ERR(JetGetAttachInfoInstance(b.inst, NULL, 0, &cb), JET_errInvalidBackupSequence);
	/* A database cannot be opened in an incremental backup. */
	CK_ERR(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi), JET_errInvalidBackupSequence);
	/* The log files can. */
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	ck_assert_int_ge(n, 1);
	CK(JetOpenFileInstance(b.inst, names[0], &h, &lo, &hi));
	CK(JetCloseFileInstance(b.inst, h));
	free(buf);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_open_rules)
{
	struct bank b;
	unsigned long cb, lo, hi, ps;
	char szz[4096], *names[MAXNAMES], *buf, *db2, *logname;
	int n;
	JET_HANDLE h, h2;
	uint8_t *rb;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	transfers(&b, 20);
	ps = page_size_of(b.inst);
	rb = abuf(8 * ps);
	logname = gen_path(b.dir, 1);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	/* Before JetGetLogInfo a log is "not an attached database"; the session goes on. */
	CK_ERR(JetOpenFileInstance(b.inst, logname, &h, &lo, &hi), JET_errDatabaseNotFound);
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	CK_ERR(JetOpenFileInstance(b.inst, "", &h, &lo, &hi), JET_errInvalidParameter);
	CK_ERR(JetOpenFileInstance(b.inst, NULL, &h, &lo, &hi), JET_errInvalidParameter);
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	/* TruncateLog before GetLogInfo. */
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errInvalidBackupSequence);
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	/* Another spelling of the same path is the same database. */
	{
		char *alt = tu_path(b.dir, "./bank.edb");
		CK(JetOpenFileInstance(b.inst, alt, &h, &lo, &hi));
		CK(JetCloseFileInstance(b.inst, h));
		free(alt);
	}
	/* One file at a time. */
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	CK_ERR(JetOpenFileInstance(b.inst, db2, &h2, &lo, &hi), JET_errOutOfMemory);
	CK_ERR(JetOpenFileInstance(b.inst, b.dbpath, &h2, &lo, &hi), JET_errOutOfMemory);
	/* GetLogInfo with a file open. */
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	CK_ERR(JetGetTruncateLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errInvalidBackupSequence);
	/* The session is alive and the first file still reads. */
	CK(JetReadFileInstance(b.inst, h, rb, 4 * ps, &cb));
	ck_assert_uint_eq(cb, 4 * ps);
	CK(JetCloseFileInstance(b.inst, h));
	CK_ERR(JetCloseFileInstance(b.inst, h), JET_errInvalidParameter);
	CK(JetOpenFileInstance(b.inst, db2, &h2, &lo, &hi));
	CK(JetCloseFileInstance(b.inst, h2));
	/* After GetLogInfo a database cannot be opened, and that ends the session. */
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	free(buf);
	CK_ERR(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi), JET_errInvalidBackupSequence);
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	/* Nothing was recorded. */
	{
		struct db_header hd = tu_hdr_of(b.dbpath);
		ck_assert_bk_zero(hd, BK_FULL_PREV);
		ck_assert_bk_zero(hd, BK_COPY_PREV);
	}
	free(logname);
	free(rb);
	free(db2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_read_rules)
{
	struct bank b;
	unsigned long cb, lo, hi, ps, got;
	char *names[MAXNAMES], *buf;
	int n;
	JET_HANDLE h;
	uint8_t *rb;
	uint64_t size, off;
	struct db_header hd, live;
	struct bk_trailer tr;
	char *real;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	ps = page_size_of(b.inst);
	rb = abuf(16 * ps);
	real = real_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	size = (uint64_t)hi << 32 | lo;
	ck_assert_uint_eq(size % ps, 0);
	/* Buffer rules: each fails alone and the session goes on. */
	CK_ERR(JetReadFileInstance(b.inst, h, rb + 8, 4 * ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb + 512, 4 * ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 3 * ps + 512, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 2 * ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb, ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h + 17, rb, 4 * ps, &cb), JET_errInvalidParameter);
	/* The first good read: the stamped header twice, then pages. */
	CK(JetReadFileInstance(b.inst, h, rb, 3 * ps, &got));
	ck_assert_uint_eq(got, 3 * ps);
	ck_assert_msg(memcmp(rb, rb + ps, ps) == 0, "the two header pages of the stream differ");
	CK(dbhdr_decode(rb, (uint32_t)ps, &hd));
	live = tu_hdr_of(b.dbpath);
	ck_assert_msg(hd.flags & DBHDR_FLAG_BACKUP_COPY, "the streamed header is not marked as a backup copy");
	ck_assert_msg(!(live.flags & DBHDR_FLAG_BACKUP_COPY), "the live header is marked as a backup copy");
	ck_assert_uint_ne(hd.bk[BK_FULL_CUR].gen_low, 0);
	ck_assert_uint_eq(size, ((uint64_t)hd.pgno_last + 3) * ps);
	/* Later reads may be one page. */
	off = got;
	CK(JetReadFileInstance(b.inst, h, rb, ps, &got));
	ck_assert_uint_eq(got, ps);
	off += got;
	while (off < size) {
		CK(JetReadFileInstance(b.inst, h, rb, 16 * ps, &got));
		ck_assert_uint_gt(got, 0);
		off += got;
	}
	ck_assert_uint_eq(off, size);
	/* The last page is the trailer. */
	CK(backup_trailer_decode(rb + got - ps, (uint32_t)ps, &tr));
	ck_assert_str_eq(tr.path, real);
	ck_assert_uint_eq(tr.bk.gen_low, hd.bk[BK_FULL_CUR].gen_low);
	ck_assert_uint_eq(tr.pgno_last, hd.pgno_last);
	/* End of file. */
	CK(JetReadFileInstance(b.inst, h, rb, 4 * ps, &got));
	ck_assert_uint_eq(got, 0);
	CK(JetCloseFileInstance(b.inst, h));
	/* JetfsReadFileAt is for point-in-time backups only. */
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	CK_ERR(JetfsReadFileAt(b.inst, h, 0, rb, 4096, &got), JET_errInvalidBackupSequence);
	CK(JetCloseFileInstance(b.inst, h));

	/* Logs: the first read must be at least 2 pages. */
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	ck_assert_int_ge(n, 1);
	CK(JetOpenFileInstance(b.inst, names[0], &h, &lo, &hi));
	CK_ERR(JetReadFileInstance(b.inst, h, rb, ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb + 100, 2 * ps, &cb), JET_errInvalidParameter);
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 2 * ps + 1, &cb), JET_errInvalidParameter);
	CK(JetReadFileInstance(b.inst, h, rb, 2 * ps, &got));
	ck_assert_uint_eq(got, 2 * ps);
	CK(JetReadFileInstance(b.inst, h, rb, ps, &got));
	ck_assert_uint_eq(got, ps);
	CK(JetCloseFileInstance(b.inst, h));
	free(buf);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	free(real);
	free(rb);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_log_phase_rules)
{
	struct bank b;
	unsigned long cb, lo, hi, ps, got;
	char szz[8192], *names[MAXNAMES], *buf, *cur, *missing;
	int n;
	JET_HANDLE h;
	uint8_t *rb;
	struct bkrun r = { 0 };
	char *out = tu_tempdir();

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	rb = abuf(16 * ps);
	cur = tu_path(b.dir, "edb.log");
	missing = tu_path(b.dir, "edb0ABCD.log");
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ese_copy(b.inst, names[0], out, &r, 1);
	free(buf);
	roll_gens(&b, 3);
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	ck_assert_int_ge(n, 3);
	/* The current log is not a backup file. */
	CK_ERR(JetOpenFileInstance(b.inst, cur, &h, &lo, &hi), JET_errInvalidParameter);
	/* A log open: no GetLogInfo, no truncation, no second file. */
	CK(JetOpenFileInstance(b.inst, names[0], &h, &lo, &hi));
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errInvalidBackupSequence);
	{
		JET_HANDLE h2;
		CK_ERR(JetOpenFileInstance(b.inst, names[1], &h2, &lo, &hi), JET_errOutOfMemory);
	}
	/* Read only part of it. */
	CK(JetReadFileInstance(b.inst, h, rb, 2 * ps, &got));
	CK(JetCloseFileInstance(b.inst, h));
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errLogFileNotCopied);
	/* Every log but the last. */
	for (int i = 0; i < n - 1; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errLogFileNotCopied);
	ese_copy(b.inst, names[n - 1], out, &r, 0);
	CK(JetTruncateLogInstance(b.inst));
	/* A generation that does not exist ends the session. */
	CK_ERR(JetOpenFileInstance(b.inst, missing, &h, &lo, &hi), JET_errMissingFileToBackup);
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	free(buf);
	free(cur);
	free(missing);
	free(rb);
	tu_rmdir(out);
	free(out);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_end_rules)
{
	struct bank b;
	unsigned long cb;
	char szz[4096], *names[MAXNAMES], *buf;
	int n;
	struct bkrun r = { 0 };
	char *out = tu_tempdir();
	struct db_header before, after;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 10);
	before = tu_hdr_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK_ERR(JetEndExternalBackupInstance2(b.inst, 0), JET_errInvalidParameter);
	CK_ERR(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndNormal | JET_bitBackupEndAbort),
	    JET_errInvalidParameter);
	CK_ERR(JetEndExternalBackupInstance2(b.inst, JET_bitBackupTruncateDone), JET_errInvalidParameter);
	/* Still running. */
	CK_ERR(JetBeginExternalBackupInstance(b.inst, 0), JET_errBackupInProgress);
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	/* Every database read to its end, but no GetLogInfo: End succeeds, records nothing. */
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], out, &r, 1);
	free(buf);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndNormal | JET_bitBackupTruncateDone));
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "End(Normal) without GetLogInfo changed header slot %d", s);
	{
		struct jet_inst *in = inst_of(b.inst);
		ck_assert_bk_zero(in->dbs[1]->hdr, BK_FULL_PREV);
		ck_assert_bk_zero(in->dbs[1]->hdr, BK_COPY_PREV);
	}
	/* Nor does an incremental begin. */
	CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental), JET_errMissingFullBackup);
	tu_rmdir(out);
	free(out);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_stop_backup)
{
	struct bank b;
	unsigned long cb, lo, hi, ps, got;
	char szz[8192], *names[MAXNAMES], *buf;
	int n;
	JET_HANDLE h, h2;
	uint8_t *rb;
	struct bkrun r = { 0 };
	char *out = tu_tempdir();
	struct db_header before, after;
	uint8_t present[4096], present2[4096];

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	rb = abuf(8 * ps);
	roll_gens(&b, 2);
	before = tu_hdr_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ese_copy(b.inst, names[0], out, &r, 1);
	free(buf);
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	for (int i = 0; i < n - 1; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	CK(JetOpenFileInstance(b.inst, names[n - 1], &h, &lo, &hi));
	gens_present(b.dir, present, sizeof(present));
	CK(JetStopBackupInstance(b.inst));
	CK(JetStopBackupInstance(b.inst));
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 2 * ps, &got), JET_errBackupAbortByServer);
	CK_ERR(JetCloseFileInstance(b.inst, h), JET_errBackupAbortByServer);
	CK_ERR(JetOpenFileInstance(b.inst, names[0], &h2, &lo, &hi), JET_errBackupAbortByServer);
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errBackupAbortByServer);
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errBackupAbortByServer);
	CK_ERR(JetGetTruncateLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errBackupAbortByServer);
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errBackupAbortByServer);
	CK_ERR(JetfsReadFileAt(b.inst, h, 0, rb, ps, &got), JET_errBackupAbortByServer);
	CK_ERR(JetBeginExternalBackupInstance(b.inst, 0), JET_errBackupInProgress);
	/* End succeeds, as an abort: nothing recorded, nothing truncated. */
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndNormal | JET_bitBackupTruncateDone));
	CK_ERR(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a stopped backup changed header slot %d", s);
	gens_present(b.dir, present2, sizeof(present2));
	for (size_t g = 0; g < sizeof(present); g++)
		ck_assert_msg(!present[g] || present2[g], "generation %zu was deleted by a stopped backup", g);
	/* A new backup clears the stop. */
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	free(buf);
	free(rb);
	tu_rmdir(out);
	free(out);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

START_TEST(test_term_attach_detach)
{
	struct bank b;
	char *db2, *db3;
	unsigned long cb;
	char szz[4096];
	JET_DBID d;
	struct db_header hd;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	db3 = bank_add_db(&b, "third.edb");
	CK(JetDetachDatabase(b.ses, db3));
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK_ERR(JetTerm(b.inst), JET_errBackupInProgress);
	CK_ERR(JetTerm2(b.inst, JET_bitTermComplete), JET_errBackupInProgress);
	CK_ERR(JetAttachDatabase(b.ses, db3, 0), JET_errBackupInProgress);
	CK_ERR(JetDetachDatabase(b.ses, db2), JET_errBackupInProgress);
	/* The instance and the backup are still there. */
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	transfers(&b, 3);
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	/* Without a backup both work. */
	CK(JetDetachDatabase(b.ses, db2));
	CK(JetAttachDatabase(b.ses, db3, 0));
	CK(JetOpenDatabase(b.ses, db3, NULL, &d, 0));
	CK(JetCloseDatabase(b.ses, d, 0));
	/* JetTerm2(StopBackup) ends a backup with the instance. */
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetGetAttachInfoInstance(b.inst, szz, sizeof(szz), &cb));
	CK(JetTerm2(b.inst, JET_bitTermStopBackup));
	hd = tu_hdr_of(b.dbpath);
	ck_assert_uint_eq(hd.dbstate, JET_dbstateCleanShutdown);
	ck_assert_bk_zero(hd, BK_FULL_PREV);
	ck_assert_bk_zero(hd, BK_COPY_PREV);
	/* It starts again, and a backup can run. */
	bank_restart(&b);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	bank_term(&b);
	free(db2);
	free(db3);
	bank_free(&b);
}
END_TEST

START_TEST(test_lists)
{
	struct bank b;
	char *db2, *r1, *r2, *names[MAXNAMES], *names2[MAXNAMES], *buf, *buf2;
	unsigned long need, got, cb;
	int n, n2;
	JET_LOGINFO li, li2;
	char *next;
	char szz[8192];

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	r1 = real_of(b.dbpath);
	r2 = real_of(db2);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	roll_gens(&b, 2);

	/* Attach list: cbMax 0 asks the size; too small fails; the content. */
	need = 0;
	CK(JetGetAttachInfoInstance(b.inst, NULL, 0, &need));
	ck_assert_uint_eq(need, strlen(r1) + 1 + strlen(r2) + 1 + 1);
	buf = malloc(need + 8);
	memset(buf, 'X', need + 8);
	CK_ERR(JetGetAttachInfoInstance(b.inst, buf, need - 1, &got), JET_errBufferTooSmall);
	CK_ERR(JetGetAttachInfoInstance(b.inst, buf, 1, &got), JET_errBufferTooSmall);
	got = 0;
	CK(JetGetAttachInfoInstance(b.inst, buf, need + 8, &got));
	ck_assert_uint_eq(got, need);
	ck_assert_msg(buf[need - 1] == '\0' && buf[need - 2] == '\0', "the list is not double-NUL terminated");
	n = split_list(buf, need, names);
	ck_assert_int_eq(n, 2);
	ck_assert_msg((strcmp(names[0], r1) == 0 && strcmp(names[1], r2) == 0) ||
	    (strcmp(names[0], r2) == 0 && strcmp(names[1], r1) == 0), "attach list: %s, %s", names[0], names[1]);
	free(buf);

	/* Log list: the same buffer rules; JetGetLogInfoInstance2's range matches the names. */
	memset(&li, 0, sizeof(li));
	li.cbSize = sizeof(li) - 1;
	CK_ERR(JetGetLogInfoInstance2(b.inst, szz, sizeof(szz), &cb, &li), JET_errInvalidParameter);
	need = 0;
	CK(JetGetLogInfoInstance(b.inst, NULL, 0, &need));
	ck_assert_uint_gt(need, 1);
	buf = malloc(need + 8);
	memset(buf, 'X', need + 8);
	li.cbSize = sizeof(li);
	CK_ERR(JetGetLogInfoInstance2(b.inst, buf, need - 1, &got, &li), JET_errBufferTooSmall);
	memset(&li, 0, sizeof(li));
	li.cbSize = sizeof(li);
	got = 0;
	CK(JetGetLogInfoInstance2(b.inst, buf, need, &got, &li));
	ck_assert_uint_eq(got, need);
	ck_assert_msg(buf[need - 1] == '\0' && buf[need - 2] == '\0', "the log list is not double-NUL terminated");
	n = split_list(buf, need, names);
	ck_assert_str_eq(li.szBaseName, "edb");
	ck_assert_uint_ge(li.ulGenHigh, li.ulGenLow);
	ck_assert_uint_eq((unsigned long)n, li.ulGenHigh - li.ulGenLow + 1);
	ck_assert_uint_ge(n, 2);
	for (int i = 0; i < n; i++) {
		uint32_t g = 0;
		char *want = gen_path(b.dir, (uint32_t)(li.ulGenLow + (unsigned long)i));
		ck_assert_msg(gen_of_name(names[i], &g) && g == li.ulGenLow + (unsigned long)i,
		    "log list entry %d is %s, expected generation %lu", i, names[i], li.ulGenLow + (unsigned long)i);
		ck_assert_str_eq(names[i], want);
		ck_assert_msg(access(names[i], R_OK) == 0, "%s is listed but does not exist", names[i]);
		free(want);
	}
	/* The first call closed the current generation, once: it is the one after the list. */
	next = gen_path(b.dir, (uint32_t)li.ulGenHigh + 1);
	ck_assert_uint_eq(cur_gen(b.inst), li.ulGenHigh + 1);
	ck_assert_msg(access(next, F_OK) != 0, "%s exists: the log rolled again", next);
	buf2 = get_list(b.inst, L_LOGS, names2, &n2, &li2);
	ck_assert_int_eq(n2, n);
	for (int i = 0; i < n; i++)
		ck_assert_str_eq(names2[i], names[i]);
	ck_assert_uint_eq(li2.ulGenLow, li.ulGenLow);
	ck_assert_uint_eq(li2.ulGenHigh, li.ulGenHigh);
	free(buf2);
	buf2 = get_list(b.inst, L_TRUNCATE, names2, &n2, NULL);
	for (int i = 0; i < n2; i++) {
		uint32_t g = 0;
		ck_assert(gen_of_name(names2[i], &g));
		ck_assert_uint_le(g, li.ulGenHigh);
	}
	free(buf2);
	ck_assert_uint_eq(cur_gen(b.inst), li.ulGenHigh + 1);
	ck_assert_msg(access(next, F_OK) != 0, "%s exists: the log rolled again", next);
	/* The attach list still answers in the log phase of a full backup. */
	CK(JetGetAttachInfoInstance(b.inst, NULL, 0, &need));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	free(next);
	free(buf);
	free(r1);
	free(r2);
	free(db2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ======================================================================
 * 2. What End records in the header (ESE §2.6)
 * ====================================================================== */

START_TEST(test_header_recording)
{
	struct bank b;
	struct db_header h0, h1, h2, h3, h4, h5, h6;
	char *out;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 10);
	h0 = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(bk_is_zero(&h0.bk[s]), "a new database has backup slot %d set", s);

	/* Full without truncation: Copy. */
	{
		struct bkrun r = { .truncate = 0 };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h1 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h1, BK_COPY_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_zero(h1, BK_FULL_PREV);
		ck_assert_bk_zero(h1, BK_INC_PREV);
		ck_assert_bk_zero(h1, BK_DIFF_PREV);
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 10);
	/* Full, End with TruncateDone and no JetTruncateLog: Full. */
	{
		struct bkrun r = { .truncate = 0, .endbits = JET_bitBackupEndNormal | JET_bitBackupTruncateDone };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h2 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h2, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_same(h1, h2, BK_COPY_PREV);
		ck_assert_uint_gt(h2.bk[BK_FULL_PREV].lsn_mark, h1.bk[BK_COPY_PREV].lsn_mark);
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 10);
	/* Incremental with truncation: Incremental. */
	{
		struct bkrun r = { .grbit = JET_bitBackupIncremental, .truncate = 1 };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h3 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h3, BK_INC_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_same(h2, h3, BK_FULL_PREV);
		ck_assert_bk_same(h2, h3, BK_COPY_PREV);
		ck_assert_bk_zero(h3, BK_DIFF_PREV);
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 10);
	/* Incremental without truncation: Differential. */
	{
		struct bkrun r = { .grbit = JET_bitBackupIncremental, .truncate = 0 };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h4 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h4, BK_DIFF_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_same(h3, h4, BK_INC_PREV);
		ck_assert_bk_same(h3, h4, BK_FULL_PREV);
		ck_assert_bk_same(h3, h4, BK_COPY_PREV);
		tu_rmdir(out);
		free(out);
	}
	transfers(&b, 10);
	/* An aborted backup records nothing, even with every file read. */
	{
		struct bkrun r = { .truncate = 0, .endbits = JET_bitBackupEndAbort };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h5 = tu_hdr_of(b.dbpath);
		for (int s = 0; s < BK_NSLOTS; s++)
			ck_assert_msg(memcmp(&h4.bk[s], &h5.bk[s], sizeof(h4.bk[s])) == 0,
			    "End(Abort) changed header slot %d", s);
		tu_rmdir(out);
		free(out);
	}
	/* Full with truncation: Full, and the incremental history starts over. */
	{
		struct bkrun r = { .truncate = 1 };
		out = tu_tempdir();
		ese_backup(b.inst, out, &r);
		h6 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h6, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_zero(h6, BK_INC_PREV);
		ck_assert_bk_zero(h6, BK_DIFF_PREV);
		ck_assert_bk_same(h5, h6, BK_COPY_PREV);
		tu_rmdir(out);
		free(out);
	}
	/* The header on disk after a clean shutdown says the same. */
	bank_term(&b);
	h5 = tu_hdr_of(b.dbpath);
	for (int s = BK_FULL_PREV; s <= BK_DIFF_PREV; s++)
		ck_assert_msg(memcmp(&h6.bk[s], &h5.bk[s], sizeof(h6.bk[s])) == 0,
		    "header slot %d changed at shutdown", s);
	bank_free(&b);
}
END_TEST

START_TEST(test_header_partial_db)
{
	struct bank b;
	char *db2, *r2, *names[MAXNAMES], *buf, *tn[MAXNAMES], *tbuf;
	int n, nt;
	struct bkrun r = { 0 };
	char *out = tu_tempdir();
	struct db_header h1, h2;
	unsigned long ps, got, lo, hi;
	uint8_t *rb;
	JET_HANDLE h;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	r2 = real_of(db2);
	ps = page_size_of(b.inst);
	rb = abuf(4 * ps);
	roll_gens(&b, 2);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ck_assert_int_eq(n, 2);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i], r2) == 0) {
			/* Not read to its end. */
			CK(JetOpenFileInstance(b.inst, names[i], &h, &lo, &hi));
			CK(JetReadFileInstance(b.inst, h, rb, 3 * ps, &got));
			CK(JetCloseFileInstance(b.inst, h));
		} else
			ese_copy(b.inst, names[i], out, &r, 1);
	}
	free(buf);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	/* The database never backed up still needs every log: nothing may be truncated (ESE). */
	tbuf = get_list(b.inst, L_TRUNCATE, tn, &nt, NULL);
	ck_assert_msg(nt == 0, "truncation would delete %d generations although %s was never backed up", nt, db2);
	free(tbuf);
	CK(JetTruncateLogInstance(b.inst));
	CK(JetEndExternalBackupInstance(b.inst));
	free(buf);
	h1 = tu_hdr_of(b.dbpath);
	h2 = tu_hdr_of(db2);
	ck_assert_bk_range(h1, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(bk_is_zero(&h2.bk[s]), "a database not read to its end got backup slot %d", s);
	tu_rmdir(out);
	free(out);
	free(rb);
	free(r2);
	free(db2);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ======================================================================
 * 3. Consistency under load
 * ====================================================================== */

START_TEST(test_load_ese)
{
	struct bank b;
	struct writer w;
	char *full = tu_tempdir(), *inc = tu_tempdir();
	uint64_t c0, c1, c2, c3, got;

	bank_create(&b, CACHE_SMALL, 0);
	writer_start(&w, &b);
	writer_wait(&w, 30);
	/* (a) full, by hand, while transfers run. */
	c0 = bank_counter(&b);
	{
		struct bkrun r = { .truncate = 1, .between = hook_writer_wait, .before_logs = hook_writer_wait_more,
		    .arg = &w };
		ese_backup(b.inst, full, &r);
	}
	c1 = bank_counter(&b);
	writer_wait(&w, 30);
	/* An incremental under load too. */
	c2 = bank_counter(&b);
	{
		struct bkrun r = { .grbit = JET_bitBackupIncremental, .truncate = 1,
		    .before_logs = hook_writer_wait_more, .arg = &w };
		ese_backup(b.inst, inc, &r);
	}
	c3 = bank_counter(&b);
	writer_wait(&w, 10);
	writer_stop(&w);
	ck_assert_uint_lt(c0, c1);
	got = restore_one(full);
	ck_assert_msg(got >= c0 && got <= c1, "restored full backup: counter %llu, not in [%llu, %llu]",
	    (unsigned long long)got, (unsigned long long)c0, (unsigned long long)c1);
	{
		const char *sets[2] = { full, inc };
		got = restore_sets(sets, 2, NULL, 0);
		ck_assert_msg(got >= c2 && got <= c3, "restored full + incremental: counter %llu, not in [%llu, %llu]",
		    (unsigned long long)got, (unsigned long long)c2, (unsigned long long)c3);
	}
	bank_check(b.ses, b.dbid, b.t);
	bank_term(&b);
	tu_rmdir(full);
	tu_rmdir(inc);
	free(full);
	free(inc);
	bank_free(&b);
}
END_TEST

struct pit_chunk {
	int file;
	uint64_t off;
	unsigned long len;
};

START_TEST(test_load_pit)
{
	struct bank b;
	struct writer w;
	char *set = tu_tempdir(), *spill;
	char *anames[MAXNAMES], *lnames[MAXNAMES], *abuf_, *lbuf;
	int na, nl, nf = 0;
	JET_LOGINFO li;
	struct {
		char *name;
		JET_HANDLE h;
		uint64_t size;
		int fd;
	} files[MAXNAMES];
	struct pit_chunk *chunks = NULL;
	size_t nchunks = 0, cap = 0;
	unsigned seed = 31337;
	uint8_t *rb = abuf(64 * 1024), *cmp = abuf(64 * 1024);
	uint64_t c_before, c_after, got;
	unsigned long cb;
	struct stat st;
	struct db_header hd;

	bank_create(&b, CACHE_SMALL, 0);
	ck_assert(asprintf(&spill, "%s.jfsbk", inst_of(b.inst)->dbs[b.dbid]->path) > 0);
	writer_start(&w, &b);
	writer_wait(&w, 30);
	/* The writer is paused around Begin: the committed state at Begin is known exactly. */
	pthread_mutex_lock(&w.pause);
	c_before = bank_counter(&b);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	c_after = bank_counter(&b);
	pthread_mutex_unlock(&w.pause);
	ck_assert_uint_eq(c_before, c_after);

	/* The whole set is known at once. */
	abuf_ = get_list(b.inst, L_ATTACH, anames, &na, NULL);
	lbuf = get_list(b.inst, L_LOGS, lnames, &nl, &li);
	ck_assert_int_eq(na, 1);
	ck_assert_int_ge(nl, 1);
	/* Every file open at once: the logs now, the database once the writer has
	 * changed pages and pushed them to disk in the generation after the set. */
	for (int k = 0; k < na + nl; k++) {
		int i = (k + na) % (na + nl);
		unsigned long lo, hi;
		char *to;
		if (i == 0) {
			writer_wait(&w, 50);
			CK(checkpoint_run(inst_of(b.inst), 0));
			writer_wait(&w, 20);
			CK(checkpoint_run(inst_of(b.inst), 0));
			ck_assert_msg(stat(spill, &st) == 0 && st.st_size > 0,
			    "no page image was kept in %s although pages were written during the backup", spill);
		}
		files[nf].name = i < na ? anames[i] : lnames[i - na];
		CK(JetOpenFileInstance(b.inst, files[nf].name, &files[nf].h, &lo, &hi));
		files[nf].size = (uint64_t)hi << 32 | lo;
		to = tu_path(set, base_of(files[nf].name));
		files[nf].fd = open(to, O_RDWR | O_CREAT | O_TRUNC, 0644);
		ck_assert(files[nf].fd >= 0);
		free(to);
		for (uint64_t off = 0; off < files[nf].size;) {
			unsigned long len = 1 + (unsigned long)rand_r(&seed) % 20000;
			if (len > files[nf].size - off)
				len = (unsigned long)(files[nf].size - off);
			if (nchunks == cap) {
				cap = cap ? cap * 2 : 256;
				chunks = realloc(chunks, cap * sizeof(*chunks));
				ck_assert(chunks != NULL);
			}
			chunks[nchunks++] = (struct pit_chunk){ nf, off, len };
			off += len;
		}
		nf++;
	}
	/* Random order. */
	for (size_t i = nchunks; i > 1; i--) {
		size_t j = (size_t)rand_r(&seed) % i;
		struct pit_chunk t = chunks[i - 1];
		chunks[i - 1] = chunks[j];
		chunks[j] = t;
	}
	for (size_t i = 0; i < nchunks; i++) {
		struct pit_chunk *c = &chunks[i];
		cb = 0;
		CK(JetfsReadFileAt(b.inst, files[c->file].h, c->off, rb, c->len, &cb));
		ck_assert_msg(cb == c->len, "JetfsReadFileAt(%s, %llu, %lu) read %lu", files[c->file].name,
		    (unsigned long long)c->off, c->len, cb);
		ck_assert(pwrite(files[c->file].fd, rb, cb, (off_t)c->off) == (ssize_t)cb);
		if (i % 8 == 7) {
			writer_wait(&w, 2);
			if (i % 64 == 63)
				CK(checkpoint_run(inst_of(b.inst), 0));
		}
	}
	/* Reread ranges: the same bytes every time. */
	for (int k = 0; k < 40; k++) {
		int f = rand_r(&seed) % nf;
		uint64_t off = (uint64_t)rand_r(&seed) % files[f].size;
		unsigned long len = 1 + (unsigned long)rand_r(&seed) % 30000;
		unsigned long want = off + len > files[f].size ? (unsigned long)(files[f].size - off) : len;
		if (k % 4 == 0)
			writer_wait(&w, 3);
		CK(JetfsReadFileAt(b.inst, files[f].h, off, rb, len, &cb));
		ck_assert_uint_eq(cb, want);
		ck_assert(pread(files[f].fd, cmp, want, (off_t)off) == (ssize_t)want);
		ck_assert_msg(memcmp(rb, cmp, want) == 0, "%s: bytes %llu+%lu differ on a second read",
		    files[f].name, (unsigned long long)off, want);
	}
	/* At and across the end of file. */
	CK(JetfsReadFileAt(b.inst, files[0].h, files[0].size, rb, 100, &cb));
	ck_assert_uint_eq(cb, 0);
	CK(JetfsReadFileAt(b.inst, files[0].h, files[0].size - 10, rb, 100, &cb));
	ck_assert_uint_eq(cb, 10);
	/* The image needs no log beyond the set. */
	for (int i = 0; i < nf; i++)
		if (strcmp(base_of(files[i].name), "bank.edb") == 0) {
			struct bk_trailer tr;
			char *img = tu_path(set, "bank.edb");
			ck_assert(fsync(files[i].fd) == 0);
			trailer_of(img, &tr);
			ck_assert_msg(tr.bk.gen_low == li.ulGenLow && tr.bk.gen_high <= li.ulGenHigh,
			    "the image's trailer needs generations %u-%u, the set has %lu-%lu", tr.bk.gen_low,
			    tr.bk.gen_high, li.ulGenLow, li.ulGenHigh);
			free(img);
		}
	for (int i = 0; i < nf; i++) {
		CK(JetCloseFileInstance(b.inst, files[i].h));
		ck_assert(fsync(files[i].fd) == 0);
		close(files[i].fd);
	}
	CK(JetEndExternalBackupInstance(b.inst));
	ck_assert_msg(access(spill, F_OK) != 0, "%s is still there after End", spill);
	hd = tu_hdr_of(b.dbpath);
	ck_assert_bk_range(hd, BK_COPY_PREV, li.ulGenLow, li.ulGenHigh);
	writer_wait(&w, 10);
	writer_stop(&w);
	got = restore_one(set);
	ck_assert_msg(got == c_before, "restored point-in-time backup: counter %llu, committed at Begin %llu",
	    (unsigned long long)got, (unsigned long long)c_before);
	bank_check(b.ses, b.dbid, b.t);
	bank_term(&b);
	free(abuf_);
	free(lbuf);
	free(chunks);
	free(rb);
	free(cmp);
	free(spill);
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST


/* An ESE-mode image must say which logs it needs: at least up to the
 * generation current when its last page was read (ESE makes the trailer at
 * the end of the read), since pages written meanwhile carry those changes. */
START_TEST(test_trailer_covers_read)
{
	struct bank b;
	struct writer w;
	char *set = tu_tempdir(), *img, *names[MAXNAMES], *buf;
	int n, fd;
	unsigned long ps, lo, hi, got;
	uint8_t *rb;
	uint64_t size, off = 0;
	uint32_t g_last = 0;
	JET_HANDLE h;
	struct bk_trailer tr;
	struct bkrun r = { 0 };
	JET_ERR err;
	const char *sets[1] = { set };
	char *target = tu_tempdir();

	bank_create(&b, CACHE_SMALL, 0);
	ps = page_size_of(b.inst);
	rb = abuf(4 * ps);
	writer_start(&w, &b);
	writer_wait(&w, 20);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	size = (uint64_t)hi << 32 | lo;
	img = tu_path(set, "bank.edb");
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert(fd >= 0);
	for (int first = 1; off < size; first = 0) {
		if (!first && off == 3 * ps) {
			/* The log moves on; pages with those changes reach the disk. */
			roll_gens(&b, 2);
			writer_wait(&w, 40);
			CK(checkpoint_run(inst_of(b.inst), 0));
		}
		g_last = cur_gen(b.inst);
		CK(JetReadFileInstance(b.inst, h, rb, first ? 3 * ps : ps, &got));
		ck_assert_uint_gt(got, 0);
		ck_assert(pwrite(fd, rb, got, (off_t)off) == (ssize_t)got);
		off += got;
	}
	CK(JetCloseFileInstance(b.inst, h));
	ck_assert(fsync(fd) == 0);
	close(fd);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], set, &r, 0);
	free(buf);
	CK(JetEndExternalBackupInstance(b.inst));
	writer_stop(&w);
	trailer_of(img, &tr);
	/* Restoring only the generations the image asks for must give a consistent database. */
	err = JetfsRestoreSets(sets, 1, target, NULL, tr.bk.gen_high, NULL);
	ck_assert_msg(err == JET_errSuccess || err == JET_errEndingRestoreLogTooLow,
	    "restore stopped at the trailer's generation %u -> %s", tr.bk.gen_high, JetErrorName(err));
	if (err == JET_errSuccess)
		open_restored(target);
	ck_assert_msg(tr.bk.gen_high >= g_last,
	    "the image's trailer needs generations up to %u, but its last page was read in generation %u",
	    tr.bk.gen_high, g_last);
	/* The whole set restores. */
	restore_one(set);
	bank_term(&b);
	tu_rmdir(target);
	free(target);
	free(img);
	free(rb);
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

/*
 * An incremental whose first log does not follow the last backup recorded in
 * the header is refused (ESE mode at JetGetLogInfo, point-in-time mode at
 * Begin, where the set is fixed), with nothing recorded; after a new full
 * backup the chain goes on.
 */
START_TEST(test_incremental_gap)
{
	struct bank b;
	char *names[MAXNAMES], *buf;
	int n;
	struct db_header h1, h2;
	JET_LOGINFO li;
	uint8_t present[4096];
	uint32_t H;
	unsigned long cb;
	char szz[8192];

	bank_create(&b, CACHE_PAGES, 0);
	for (int pit = 0; pit < 2; pit++) {
		JET_GRBIT mode = pit ? JET_bitBackupJetfsPointInTime : 0;
		char *f = tu_tempdir(), *f2 = tu_tempdir(), *i1 = tu_tempdir();
		uint32_t oldest = 0;
		roll_gens(&b, 2);
		CK(JetBackupInstance(b.inst, f, mode, NULL));
		h1 = tu_hdr_of(b.dbpath);
		H = h1.bk[BK_FULL_PREV].gen_high;
		ck_assert_uint_ne(H, 0);
		roll_gens(&b, 3);
		/* An incremental lists every generation still on disk. */
		gens_present(b.dir, present, sizeof(present));
		for (uint32_t g = 1; g < sizeof(present) && oldest == 0; g++)
			if (present[g])
				oldest = g;
		ck_assert_uint_le(oldest, H + 1);
		CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental | mode));
		buf = get_list(b.inst, L_LOGS, names, &n, &li);
		ck_assert_uint_eq(li.ulGenLow, oldest);
		free(buf);
		CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
		/* Generations after the full backup disappear (not needed for recovery any more). */
		CK(checkpoint_run(inst_of(b.inst), 1));
		for (uint32_t g = oldest; g <= H + 1; g++) {
			char *p = gen_path(b.dir, g);
			unlink(p);
			free(p);
		}
		if (pit)
			CK_ERR(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental | mode),
			    JET_errMissingFileToBackup);
		else {
			CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupIncremental | mode));
			CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errMissingFileToBackup);
		}
		CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
		CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
		/* So does the all-in-one call, and it leaves nothing in the directory. */
		CK_ERR(JetBackupInstance(b.inst, i1, JET_bitBackupIncremental | mode, NULL), JET_errMissingFileToBackup);
		ck_assert_int_eq(count_files(i1), 0);
		h2 = tu_hdr_of(b.dbpath);
		for (int s = 0; s < BK_NSLOTS; s++)
			ck_assert_msg(memcmp(&h1.bk[s], &h2.bk[s], sizeof(h1.bk[s])) == 0, "header slot %d changed", s);
		/* A new full backup starts a new chain: its incremental is sound again. */
		CK(JetBackupInstance(b.inst, f2, mode, NULL));
		roll_gens(&b, 1);
		CK(JetBackupInstance(b.inst, i1, JET_bitBackupIncremental | mode, NULL));
		h2 = tu_hdr_of(b.dbpath);
		ck_assert_uint_le(h2.bk[BK_INC_PREV].gen_low, h2.bk[BK_FULL_PREV].gen_high + 1);
		ck_assert_uint_gt(h2.bk[BK_INC_PREV].gen_high, h2.bk[BK_FULL_PREV].gen_high);
		{
			const char *sets[2] = { f2, i1 };
			uint64_t want = bank_counter(&b);
			ck_assert_uint_eq(restore_sets(sets, 2, NULL, 0), want);
		}
		tu_rmdir(f);
		tu_rmdir(f2);
		tu_rmdir(i1);
		free(f);
		free(f2);
		free(i1);
	}
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* The records bank_add_db put in database name of the restored instance in dir. */
static void
check_added_db(const char *dir, const char *name)
{
	JET_INSTANCE inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	char *path = tu_path(dir, name);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	uint8_t val[VAL_SIZE], want[VAL_SIZE];

	memset(want, 0x33, sizeof(want));
	CK(JetInit(&inst));
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	CK(JetOpenDatabase(ses, path, NULL, &dbid, 0));
	CK(JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t));
	for (int i = 0; i < 200; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%05d", i);
		CK(kv_get(ses, t, key, val, sizeof(val)));
		ck_assert_msg(memcmp(val, want, sizeof(val)) == 0, "%s: record %s differs", path, key);
	}
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	free(path);
}

/*
 * Two databases with the same base name (a/data.edb, b/data.edb) would
 * overwrite one another in the set: JetBackupInstance refuses before copying
 * anything, nothing is recorded, no log is truncated.  Renamed, both are
 * backed up and restored.
 */
START_TEST(test_backupinstance_same_name)
{
	struct bank b;
	char *sub, *a, *bb, *b2, *out, *target;
	struct db_header ha, hb, hm;
	uint8_t before[4096], after[4096];

	bank_create(&b, CACHE_PAGES, 0);
	sub = tu_path(b.dir, "a");
	ck_assert(mkdir(sub, 0755) == 0);
	free(sub);
	sub = tu_path(b.dir, "b");
	ck_assert(mkdir(sub, 0755) == 0);
	free(sub);
	a = bank_add_db(&b, "a/data.edb");
	bb = bank_add_db(&b, "b/data.edb");
	CK(JetBackupInstance(b.inst, NULL, 0, NULL));	/* truncation has something to delete next time */
	roll_gens(&b, 2);
	for (int pit = 0; pit < 2; pit++) {
		out = tu_tempdir();
		hm = tu_hdr_of(b.dbpath);
		ha = tu_hdr_of(a);
		hb = tu_hdr_of(bb);
		gens_present(b.dir, before, sizeof(before));
		CK_ERR(JetBackupInstance(b.inst, out, pit ? JET_bitBackupJetfsPointInTime : 0, NULL),
		    JET_errFileAlreadyExists);
		ck_assert_int_eq(count_files(out), 0);
		gens_present(b.dir, after, sizeof(after));
		for (size_t g = 0; g < sizeof(before); g++)
			ck_assert_msg(!before[g] || after[g], "generation %zu was truncated", g);
		for (int s = 0; s < BK_NSLOTS; s++) {
			ck_assert_bk_same(hm, tu_hdr_of(b.dbpath), s);
			ck_assert_bk_same(ha, tu_hdr_of(a), s);
			ck_assert_bk_same(hb, tu_hdr_of(bb), s);
		}
		/* The backup was ended. */
		CK(JetBeginExternalBackupInstance(b.inst, 0));
		CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
		tu_rmdir(out);
		free(out);
	}
	/* Renamed: a distinct name for each; both backed up, both restored. */
	CK(JetDetachDatabase(b.ses, bb));
	b2 = tu_path(b.dir, "b/data2.edb");
	ck_assert(rename(bb, b2) == 0);
	CK(JetAttachDatabase(b.ses, b2, 0));
	for (int pit = 0; pit < 2; pit++) {
		const char *sets[1];
		uint64_t c = bank_counter(&b);
		out = tu_tempdir();
		target = tu_tempdir();
		CK(JetBackupInstance(b.inst, out, pit ? JET_bitBackupJetfsPointInTime : 0, NULL));
		ck_assert_uint_ne(tu_hdr_of(a).bk[BK_FULL_PREV].gen_low, 0);
		ck_assert_uint_ne(tu_hdr_of(b2).bk[BK_FULL_PREV].gen_low, 0);
		sets[0] = out;
		CK(JetfsRestoreSets(sets, 1, target, NULL, 0, NULL));
		ck_assert_uint_eq(open_restored(target), c);
		check_added_db(target, "data.edb");
		check_added_db(target, "data2.edb");
		tu_rmdir(target);
		tu_rmdir(out);
		free(target);
		free(out);
	}
	bank_term(&b);
	free(a);
	free(bb);
	free(b2);
	bank_free(&b);
}
END_TEST

static int
count_gens(const char *dir)
{
	uint8_t present[4096];
	int n = 0;

	gens_present(dir, present, sizeof(present));
	for (size_t g = 0; g < sizeof(present); g++)
		n += present[g];
	return n;
}

/*
 * Backups begun and aborted in a loop on a quiet instance (a timer, a probe)
 * must not add a log generation each: at most one for the whole loop, in
 * point-in-time mode (Begin closes the generation) and in ESE mode
 * (JetGetLogInfo does).  Sets taken on the quiet instance then end with a
 * generation closed earlier: they restore exactly to the committed state,
 * full and incremental, and so do those taken once it is busy again.
 */
START_TEST(test_quiet_begin_loop)
{
	struct bank b;
	char *f, *i1, *i2;
	int before;
	uint64_t c;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	for (int pit = 0; pit < 2; pit++) {
		JET_GRBIT mode = pit ? JET_bitBackupJetfsPointInTime : 0;
		before = count_gens(b.dir);
		for (int i = 0; i < 50; i++) {
			char *names[MAXNAMES], *buf;
			int n;
			CK(JetBeginExternalBackupInstance(b.inst, mode));
			buf = get_list(b.inst, L_LOGS, names, &n, NULL);
			ck_assert_int_gt(n, 0);
			free(buf);
			CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
			if (i % 10 == 0)
				CK(checkpoint_run(inst_of(b.inst), 0));
		}
		ck_assert_msg(count_gens(b.dir) <= before + 1, "%s: 50 Begin/abort on a quiet instance: %d -> %d log files",
		    pit ? "point-in-time" : "ESE mode", before, count_gens(b.dir));
	}
	for (int pit = 0; pit < 2; pit++) {
		JET_GRBIT mode = pit ? JET_bitBackupJetfsPointInTime : 0;
		f = tu_tempdir();
		i1 = tu_tempdir();
		i2 = tu_tempdir();
		/* Quiet: a full backup, then an incremental with nothing new. */
		c = bank_counter(&b);
		CK(JetBackupInstance(b.inst, f, mode, NULL));
		ck_assert_uint_eq(restore_one(f), c);
		before = count_gens(b.dir);
		CK(JetBackupInstance(b.inst, i1, JET_bitBackupIncremental | mode, NULL));
		ck_assert_int_le(count_gens(b.dir), before + 1);
		{
			const char *sets[3] = { f, i1, i2 };
			ck_assert_uint_eq(restore_sets(sets, 2, NULL, 0), c);
			/* Busy again: the next incremental holds the new commits. */
			transfers(&b, 30);
			c = bank_counter(&b);
			CK(JetBackupInstance(b.inst, i2, JET_bitBackupIncremental | mode, NULL));
			ck_assert_uint_eq(restore_sets(sets, 3, NULL, 0), c);
		}
		tu_rmdir(f);
		tu_rmdir(i1);
		tu_rmdir(i2);
		free(f);
		free(i1);
		free(i2);
	}
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* Reads a whole backup file with JetfsReadFileAt; returns its size. */
static uint64_t
pit_read_all(JET_INSTANCE inst, const char *name)
{
	unsigned long lo, hi, got;
	JET_HANDLE h;
	uint64_t size, off;
	uint8_t *rb = abuf(256 * 1024);

	CK(JetOpenFileInstance(inst, name, &h, &lo, &hi));
	size = (uint64_t)hi << 32 | lo;
	for (off = 0; off < size; off += got) {
		CK(JetfsReadFileAt(inst, h, off, rb, 256 * 1024, &got));
		ck_assert_uint_gt(got, 0);
	}
	CK(JetCloseFileInstance(inst, h));
	free(rb);
	return size;
}

/*
 * K3: a point-in-time set may be read any number of times until End (jetfs:
 * until unmount), truncation included.  When the checkpoint moved past the
 * set's first generation during the backup (commits after Begin), truncation
 * must still leave every generation of the set.
 */
START_TEST(test_pit_truncate_keeps_set)
{
	struct bank b;
	char *names[MAXNAMES], *anames[MAXNAMES], *buf, *abufp;
	int n, na;
	JET_LOGINFO li;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	CK(JetBackupInstance(b.inst, NULL, 0, NULL));
	roll_gens(&b, 2);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	abufp = get_list(b.inst, L_ATTACH, anames, &na, NULL);
	buf = get_list(b.inst, L_LOGS, names, &n, &li);
	/* The instance goes on: the checkpoint moves into a later generation. */
	transfers(&b, 50);
	CK(checkpoint_run(inst_of(b.inst), 1));
	ck_assert_uint_gt(inst_of(b.inst)->ckpt.gen, li.ulGenLow);
	for (int i = 0; i < na; i++)
		pit_read_all(b.inst, anames[i]);
	for (int i = 0; i < n; i++)
		pit_read_all(b.inst, names[i]);
	CK(JetTruncateLogInstance(b.inst));
	for (int i = 0; i < n; i++) {
		ck_assert_msg(access(names[i], F_OK) == 0, "truncation deleted %s of the running set", names[i]);
		pit_read_all(b.inst, names[i]);
	}
	CK(JetEndExternalBackupInstance(b.inst));
	free(buf);
	free(abufp);
	/* An incremental's truncation still deletes what it copied, all but its last generation. */
	roll_gens(&b, 3);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime | JET_bitBackupIncremental));
	buf = get_list(b.inst, L_LOGS, names, &n, &li);
	ck_assert_int_ge(n, 3);
	for (int i = 0; i < n; i++)
		pit_read_all(b.inst, names[i]);
	CK(checkpoint_run(inst_of(b.inst), 1));
	CK(JetTruncateLogInstance(b.inst));
	for (int i = 0; i < n; i++)
		ck_assert_msg((access(names[i], F_OK) == 0) == (i == n - 1), "after the incremental's truncation: %s %s",
		    names[i], i == n - 1 ? "is gone" : "is still there");
	CK(JetEndExternalBackupInstance(b.inst));
	free(buf);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/* ---- what a killed backup leaves ---- */

/* Runs fn(arg) with the instance events of the tests (JET_TEST_EVENTS) going to stderr, captured. */
static char *
with_events(void (*fn)(void *), void *arg)
{
	char tmpl[] = "/tmp/jetevents.XXXXXX";
	int fd = mkstemp(tmpl), saved = dup(2);
	const char *was = getenv("JET_TEST_EVENTS");
	char *out;
	size_t len;

	ck_assert(fd >= 0 && saved >= 0);
	fflush(stderr);
	ck_assert(dup2(fd, 2) == 2);
	setenv("JET_TEST_EVENTS", "1", 1);
	fn(arg);
	fflush(stderr);
	if (was == NULL)
		unsetenv("JET_TEST_EVENTS");
	ck_assert(dup2(saved, 2) == 2);
	close(saved);
	close(fd);
	out = (char *)slurp(tmpl, &len);
	unlink(tmpl);
	if (was != NULL)
		fputs(out, stderr);
	return out;
}

static void
restart_cb(void *arg)
{
	bank_restart(arg);
}

struct attach_arg {
	struct bank *b;
	const char *path;
};

static void
attach_cb(void *arg)
{
	struct attach_arg *a = arg;

	CK(JetAttachDatabase(a->b->ses, a->path, 0));
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * The spill file of a point-in-time backup (<db>.jfsbk) whose process was
 * killed: JetInit (recovery opens the database) removes it and says so; so
 * does JetAttachDatabase of a database that has one.
 */
START_TEST(test_stale_spill)
{
	struct bank b;
	char *spill, *two, *two_spill, *ev;
	pid_t pid;
	int st;

	bank_create(&b, CACHE_SMALL, 0);
	spill = malloc(strlen(b.dbpath) + 8);
	sprintf(spill, "%s.jfsbk", b.dbpath);
	bank_term(&b);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		/* The application: a backup running, pages written under it, then kill -9. */
		bank_restart(&b);
		CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
		transfers(&b, 200);
		CK(checkpoint_run(inst_of(b.inst), 1));
		raise(SIGKILL);
		_exit(3);
	}
	ck_assert(waitpid(pid, &st, 0) == pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ck_assert_msg(file_size(spill) > 0, "the killed backup left no spill file to test with");
	ev = with_events(restart_cb, &b);
	ck_assert_msg(access(spill, F_OK) != 0, "%s survived JetInit", spill);
	ck_assert_msg(strstr(ev, "event 709") != NULL && strstr(ev, spill) != NULL && strstr(ev, "removed") != NULL,
	    "no event about %s in: %s", spill, ev);
	free(ev);
	bank_check(b.ses, b.dbid, b.t);

	/* A detached database with a stale spill file, attached again. */
	two = bank_add_db(&b, "two.edb");
	CK(JetDetachDatabase(b.ses, two));
	two_spill = malloc(strlen(two) + 8);
	sprintf(two_spill, "%s.jfsbk", two);
	{
		FILE *fp = fopen(two_spill, "w");
		struct attach_arg a = { &b, two };
		ck_assert(fp != NULL && fputs("stale", fp) >= 0 && fclose(fp) == 0);
		ev = with_events(attach_cb, &a);
	}
	ck_assert_msg(access(two_spill, F_OK) != 0, "%s survived JetAttachDatabase", two_spill);
	ck_assert_msg(strstr(ev, two_spill) != NULL && strstr(ev, "(5 bytes)") != NULL, "no event about %s in: %s",
	    two_spill, ev);
	free(ev);
	bank_term(&b);
	free(spill);
	free(two);
	free(two_spill);
	bank_free(&b);
}
END_TEST

struct roll_arg {
	struct bank *b;
	struct writer *w;
};

static void
hook_roll_under_load(void *arg)
{
	struct roll_arg *ra = arg;

	writer_wait(ra->w, 40);
	roll_gens(ra->b, 3);
	CK(checkpoint_run(inst_of(ra->b->inst), 0));
	writer_wait(ra->w, 20);
}

static void
hook_roll_wait(void *arg)
{
	struct roll_arg *ra = arg;

	writer_wait(ra->w, 3);
}

/* Circular logging deletes old generations all the time, never one the backup lists. */
START_TEST(test_circular_full)
{
	struct bank b;
	struct writer w;
	struct roll_arg ra;
	char *set = tu_tempdir();
	uint64_t c0, c1, got;
	uint8_t present[4096];

	g_ckpt_depth = 64 * 1024;
	bank_create(&b, CACHE_SMALL, 1);
	writer_start(&w, &b);
	ra.b = &b;
	ra.w = &w;
	roll_gens(&b, 3);
	writer_wait(&w, 20);
	c0 = bank_counter(&b);
	{
		struct bkrun r = { .truncate = 1, .between = hook_roll_wait, .before_logs = hook_roll_under_load,
		    .arg = &ra };
		ese_backup(b.inst, set, &r);
		ck_assert_int_ge(r.nlogs, 3);
	}
	c1 = bank_counter(&b);
	roll_gens(&b, 2);
	writer_wait(&w, 10);
	CK(checkpoint_run(inst_of(b.inst), 0));
	writer_stop(&w);
	gens_present(b.dir, present, sizeof(present));
	ck_assert_msg(!present[1] && !present[2], "circular logging deleted nothing: the test proves nothing");
	got = restore_one(set);
	ck_assert_msg(got >= c0 && got <= c1, "restored: counter %llu, not in [%llu, %llu]", (unsigned long long)got,
	    (unsigned long long)c0, (unsigned long long)c1);
	bank_term(&b);
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

/* ESE's own flow: JetRestoreInstance puts the database back where it was, then JetInit. */
START_TEST(test_restore_instance)
{
	struct bank b;
	char *set = tu_tempdir(), *db2;
	uint64_t c;
	JET_INSTANCE ri;
	DIR *d;
	struct dirent *de;
	JET_DBID d2;
	JET_TABLEID t2;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	transfers(&b, 20);
	roll_gens(&b, 1);
	CK(JetBackupInstance(b.inst, set, 0, NULL));
	c = bank_counter(&b);
	transfers(&b, 10);
	bank_term(&b);
	/* The instance is lost. */
	d = opendir(b.dir);
	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		char *p = tu_path(b.dir, de->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			ck_assert(unlink(p) == 0);
		free(p);
	}
	closedir(d);
	ri = tu_instance(b.dir, LOG_KB, CACHE_PAGES);
	err = JetRestoreInstance(ri, set, NULL, NULL);
	ck_assert_msg(err == JET_errSuccess, "JetRestoreInstance -> %s", JetErrorName(err));
	ck_assert_msg(access(b.dbpath, F_OK) == 0 && access(db2, F_OK) == 0, "the databases are not back in place");
	err = JetInit(&ri);
	ck_assert_msg(err == JET_errSuccess, "JetInit after JetRestoreInstance -> %s", JetErrorName(err));
	b.inst = ri;
	CK(JetBeginSession(b.inst, &b.ses, NULL, NULL));
	CK(JetOpenDatabase(b.ses, b.dbpath, NULL, &b.dbid, 0));
	CK(JetOpenTable(b.ses, b.dbid, "t", NULL, 0, 0, &b.t));
	ck_assert_uint_eq(bank_check(b.ses, b.dbid, b.t), c);
	CK(JetOpenDatabase(b.ses, db2, NULL, &d2, 0));
	CK(JetOpenTable(b.ses, d2, "t", NULL, 0, 0, &t2));
	CK(rowkv_seek(b.ses, t2, "k00199", strlen("k00199")));
	/* Restoring again into the now initialized instance is refused. */
	CK_ERR(JetRestoreInstance(b.inst, set, NULL, NULL), JET_errAfterInitialization);
	bank_term(&b);
	free(db2);
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

/* A point-in-time backup by a sequential JetfsReadFileAt copy; returns the counter at Begin. */
static uint64_t
pit_backup(struct bank *b, struct writer *w, const char *dir, JET_GRBIT grbit, int truncate)
{
	char *names[MAXNAMES], *buf;
	int n, na = 0;
	uint64_t c, c2;
	uint8_t *rb = abuf(256 * 1024);
	char *anames[MAXNAMES], *abufp = NULL;

	pthread_mutex_lock(&w->pause);
	c = bank_counter(b);
	CK(JetBeginExternalBackupInstance(b->inst, JET_bitBackupJetfsPointInTime | grbit));
	c2 = bank_counter(b);
	pthread_mutex_unlock(&w->pause);
	ck_assert_uint_eq(c, c2);
	if (grbit & JET_bitBackupIncremental) {
		unsigned long cb;
		char szz[4096];
		CK_ERR(JetGetAttachInfoInstance(b->inst, szz, sizeof(szz), &cb), JET_errInvalidBackupSequence);
	} else
		abufp = get_list(b->inst, L_ATTACH, anames, &na, NULL);
	buf = get_list(b->inst, L_LOGS, names, &n, NULL);
	writer_wait(w, 30);
	CK(checkpoint_run(inst_of(b->inst), 0));
	for (int i = 0; i < na + n; i++) {
		const char *name = i < na ? anames[i] : names[i - na];
		unsigned long lo, hi, got;
		JET_HANDLE h;
		char *to = tu_path(dir, base_of(name));
		int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		uint64_t size, off;
		ck_assert(fd >= 0);
		CK(JetOpenFileInstance(b->inst, name, &h, &lo, &hi));
		size = (uint64_t)hi << 32 | lo;
		for (off = 0; off < size; off += got) {
			CK(JetfsReadFileAt(b->inst, h, off, rb, 100000, &got));
			ck_assert_uint_gt(got, 0);
			ck_assert(pwrite(fd, rb, got, (off_t)off) == (ssize_t)got);
			writer_wait(w, 1);
		}
		CK(JetCloseFileInstance(b->inst, h));
		ck_assert(fsync(fd) == 0);
		close(fd);
		free(to);
	}
	if (truncate)
		CK(JetTruncateLogInstance(b->inst));
	CK(JetEndExternalBackupInstance(b->inst));
	free(buf);
	free(abufp);
	free(rb);
	return c;
}

START_TEST(test_pit_chain)
{
	struct bank b;
	struct writer w;
	char *f = tu_tempdir(), *i1 = tu_tempdir();
	uint64_t cf, ci, got;
	struct db_header hd;

	bank_create(&b, CACHE_SMALL, 0);
	writer_start(&w, &b);
	writer_wait(&w, 20);
	cf = pit_backup(&b, &w, f, 0, 1);
	hd = tu_hdr_of(b.dbpath);
	ck_assert_uint_ne(hd.bk[BK_FULL_PREV].gen_low, 0);
	writer_wait(&w, 40);
	ci = pit_backup(&b, &w, i1, JET_bitBackupIncremental, 1);
	hd = tu_hdr_of(b.dbpath);
	ck_assert_uint_ne(hd.bk[BK_INC_PREV].gen_low, 0);
	writer_wait(&w, 10);
	writer_stop(&w);
	ck_assert_uint_lt(cf, ci);
	{
		const char *sets[2] = { f, i1 };
		got = restore_sets(sets, 1, NULL, 0);
		ck_assert_msg(got == cf, "point-in-time full: counter %llu, at Begin %llu", (unsigned long long)got,
		    (unsigned long long)cf);
		got = restore_sets(sets, 2, NULL, 0);
		ck_assert_msg(got == ci, "point-in-time full + incremental: counter %llu, at Begin %llu",
		    (unsigned long long)got, (unsigned long long)ci);
	}
	bank_term(&b);
	tu_rmdir(f);
	tu_rmdir(i1);
	free(f);
	free(i1);
	bank_free(&b);
}
END_TEST


/* Point-in-time: a file counts as copied only when every byte was read. */
START_TEST(test_pit_partial_read)
{
	struct bank b;
	char *names[MAXNAMES], *buf, *anames[MAXNAMES], *abufp;
	int n, na;
	uint8_t *rb = abuf(8192);
	uint8_t present[4096], present2[4096];
	struct db_header before, after;

	bank_create(&b, CACHE_PAGES, 0);
	roll_gens(&b, 2);
	CK(checkpoint_run(inst_of(b.inst), 1));
	transfers(&b, 10);
	before = tu_hdr_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, JET_bitBackupJetfsPointInTime));
	abufp = get_list(b.inst, L_ATTACH, anames, &na, NULL);
	buf = get_list(b.inst, L_LOGS, names, &n, NULL);
	/* A few bytes of every 4 KiB block of every file: most of each file is never read. */
	for (int i = 0; i < na + n; i++) {
		unsigned long lo, hi, got;
		JET_HANDLE h;
		uint64_t size;
		CK(JetOpenFileInstance(b.inst, i < na ? anames[i] : names[i - na], &h, &lo, &hi));
		size = (uint64_t)hi << 32 | lo;
		for (uint64_t off = 0; off < size; off += 4096)
			CK(JetfsReadFileAt(b.inst, h, off, rb, 16, &got));
		CK(JetCloseFileInstance(b.inst, h));
	}
	gens_present(b.dir, present, sizeof(present));
	CK_ERR(JetTruncateLogInstance(b.inst), JET_errLogFileNotCopied);
	/* Asked for a normal end it cannot have: the backup ends, and End says so. */
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errLogFileNotCopied);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	gens_present(b.dir, present2, sizeof(present2));
	for (size_t g = 0; g < sizeof(present); g++)
		ck_assert_msg(!present[g] || present2[g], "generation %zu was truncated although it was not copied", g);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a database that was not copied was recorded as backed up (slot %d)", s);
	free(buf);
	free(abufp);
	free(rb);
	bank_term(&b);
	bank_free(&b);
}
END_TEST

/*
 * Point-in-time: JetStopBackup between the last read (and the truncation) and
 * End makes End(normal) record an abort; ESE returns success all the same,
 * and a client would report a backup the headers do not hold.  In
 * point-in-time mode End fails instead; in ESE mode it still succeeds.
 */
START_TEST(test_pit_end_after_stop)
{
	for (int pit = 0; pit <= 1; pit++) {
		struct bank b;
		struct bkrun r = { 0 };
		char *names[MAXNAMES], *buf, *out = tu_tempdir();
		int n;
		struct db_header before, after;

		bank_create(&b, CACHE_PAGES, 0);
		roll_gens(&b, 2);
		before = tu_hdr_of(b.dbpath);
		CK(JetBeginExternalBackupInstance(b.inst, pit ? JET_bitBackupJetfsPointInTime : 0));
		buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
		for (int i = 0; i < n; i++)
			ese_copy(b.inst, names[i], out, &r, 1);
		free(buf);
		buf = get_list(b.inst, L_LOGS, names, &n, NULL);
		for (int i = 0; i < n; i++)
			ese_copy(b.inst, names[i], out, &r, 0);
		free(buf);
		CK(JetStopBackupInstance(b.inst));
		CK_ERR(JetEndExternalBackupInstance(b.inst), pit ? JET_errBackupAbortByServer : JET_errSuccess);
		CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
		after = tu_hdr_of(b.dbpath);
		for (int s = 0; s < BK_NSLOTS; s++)
			ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
			    "%s: a stopped backup changed header slot %d", pit ? "point-in-time" : "ESE", s);
		tu_rmdir(out);
		free(out);
		bank_term(&b);
		bank_free(&b);
	}
}
END_TEST

/* ======================================================================
 * 4. Chains and roll-forward
 * ====================================================================== */

START_TEST(test_chain)
{
	struct bank b;
	char *f = tu_tempdir(), *i1 = tu_tempdir(), *i2 = tu_tempdir(), *d = tu_tempdir();
	uint64_t cf, c1, c2, c3, c4, got;
	struct db_header h2, h3;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 30);
	CK(JetBackupInstance(b.inst, f, 0, NULL));
	cf = bank_counter(&b);
	transfers(&b, 30);
	roll_gens(&b, 1);
	CK(JetBackupInstance(b.inst, i1, JET_bitBackupIncremental, NULL));
	c1 = bank_counter(&b);
	transfers(&b, 30);
	CK(JetBackupInstance(b.inst, i2, JET_bitBackupIncremental, NULL));
	c2 = bank_counter(&b);
	h2 = tu_hdr_of(b.dbpath);
	ck_assert_uint_ne(h2.bk[BK_INC_PREV].gen_low, 0);
	transfers(&b, 30);
	{
		struct bkrun r = { .grbit = JET_bitBackupIncremental, .truncate = 0 };
		ese_backup(b.inst, d, &r);
		h3 = tu_hdr_of(b.dbpath);
		ck_assert_bk_range(h3, BK_DIFF_PREV, r.li.ulGenLow, r.li.ulGenHigh);
		ck_assert_bk_same(h2, h3, BK_INC_PREV);
		ck_assert_bk_same(h2, h3, BK_FULL_PREV);
	}
	c3 = bank_counter(&b);
	transfers(&b, 30);
	c4 = bank_counter(&b);
	ck_assert(cf < c1 && c1 < c2 && c2 < c3 && c3 < c4);
	{
		const char *sets[4] = { f, i1, i2, d };
		got = restore_sets(sets, 1, NULL, 0);
		ck_assert_msg(got == cf, "full alone: counter %llu, expected %llu", (unsigned long long)got,
		    (unsigned long long)cf);
		got = restore_sets(sets, 2, NULL, 0);
		ck_assert_msg(got == c1, "full + incremental: counter %llu, expected %llu", (unsigned long long)got,
		    (unsigned long long)c1);
		got = restore_sets(sets, 4, NULL, 0);
		ck_assert_msg(got == c3, "full + 2 incrementals + differential: counter %llu, expected %llu",
		    (unsigned long long)got, (unsigned long long)c3);
		/* And on through the live log directory. */
		bank_term(&b);
		got = restore_sets(sets, 4, b.dir, 0);
		ck_assert_msg(got == c4, "chain + roll-forward: counter %llu, live %llu", (unsigned long long)got,
		    (unsigned long long)c4);
	}
	tu_rmdir(f);
	tu_rmdir(i1);
	tu_rmdir(i2);
	tu_rmdir(d);
	free(f);
	free(i1);
	free(i2);
	free(d);
	bank_free(&b);
}
END_TEST

START_TEST(test_roll_forward)
{
	struct bank b;
	char *f = tu_tempdir();
	uint64_t cf, clive, got;
	struct db_header hd;
	const char *sets[1] = { f };

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 30);
	CK(JetBackupInstance(b.inst, f, 0, NULL));
	cf = bank_counter(&b);
	hd = tu_hdr_of(b.dbpath);
	ck_assert_uint_ne(hd.bk[BK_FULL_PREV].gen_high, 0);
	transfers(&b, 20);
	roll_gens(&b, 2);
	transfers(&b, 20);
	clive = bank_counter(&b);
	/* While the instance runs (every commit is durable, so in its logs). */
	got = restore_sets(sets, 1, b.dir, 0);
	ck_assert_msg(got == clive, "full + roll-forward through a running instance's logs: counter %llu, live %llu",
	    (unsigned long long)got, (unsigned long long)clive);
	bank_term(&b);
	got = restore_sets(sets, 1, b.dir, 0);
	ck_assert_msg(got == clive, "full + roll-forward: counter %llu, live %llu", (unsigned long long)got,
	    (unsigned long long)clive);
	/* Stopping after the backup's last generation gives the backup's state. */
	got = restore_sets(sets, 1, b.dir, hd.bk[BK_FULL_PREV].gen_high);
	ck_assert_msg(got == cf, "full + roll-forward stopped at %u: counter %llu, expected %llu",
	    hd.bk[BK_FULL_PREV].gen_high, (unsigned long long)got, (unsigned long long)cf);
	/* The live instance is untouched by all this. */
	bank_restart(&b);
	ck_assert_uint_eq(bank_check(b.ses, b.dbid, b.t), clive);
	bank_term(&b);
	tu_rmdir(f);
	free(f);
	bank_free(&b);
}
END_TEST


/* Roll-forward through the logs of an instance that is writing. */
START_TEST(test_roll_forward_live)
{
	struct bank b;
	struct writer w;
	char *f = tu_tempdir();
	const char *sets[1] = { f };

	bank_create(&b, CACHE_SMALL, 0);
	transfers(&b, 30);
	CK(JetBackupInstance(b.inst, f, 0, NULL));
	writer_start(&w, &b);
	for (int round = 0; round < 5; round++) {
		uint64_t c0, c1, got;
		writer_wait(&w, 30);
		c0 = bank_counter(&b);
		/* A commit is visible before its log flush ends (jet.h): make what we saw durable. */
		CK(JetCommitTransaction(b.ses, JET_bitWaitAllLevel0Commit));
		got = restore_sets(sets, 1, b.dir, 0);
		c1 = bank_counter(&b);
		ck_assert_msg(got >= c0 && got <= c1, "roll-forward through a live log: counter %llu, not in [%llu, %llu]",
		    (unsigned long long)got, (unsigned long long)c0, (unsigned long long)c1);
	}
	writer_stop(&w);
	bank_term(&b);
	tu_rmdir(f);
	free(f);
	bank_free(&b);
}
END_TEST

/* ======================================================================
 * 5. Truncation safety
 * ====================================================================== */

START_TEST(test_truncate_crash)
{
	struct bank b;
	char *f = tu_tempdir(), *inc = tu_tempdir();
	char *names[MAXNAMES], *buf, *tn[MAXNAMES], *tbuf;
	int n, nt;
	struct bkrun r = { 0 };
	uint64_t c1, c2, got;
	struct checkpoint_state ck;
	char *chk;
	uint32_t maxdel = 0;

	bank_create(&b, CACHE_PAGES, 0);
	roll_gens(&b, 3);
	CK(checkpoint_run(inst_of(b.inst), 1));
	/* Then the checkpoint lags: generations recovery needs exist above it. */
	roll_gens(&b, 2);
	transfers(&b, 20);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], f, &r, 1);
	free(buf);
	transfers(&b, 10);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], f, &r, 0);
	free(buf);
	tbuf = get_list(b.inst, L_TRUNCATE, tn, &nt, NULL);
	ck_assert_msg(nt > 0, "nothing to truncate: the test needs a checkpoint past some generations");
	CK(JetTruncateLogInstance(b.inst));
	CK(JetEndExternalBackupInstance(b.inst));
	chk = tu_path(b.dir, "edb.chk");
	CK(checkpoint_read(chk, &ck));
	for (int i = 0; i < nt; i++) {
		uint32_t g = 0;
		ck_assert(gen_of_name(tn[i], &g));
		ck_assert_msg(access(tn[i], F_OK) != 0, "%s was listed for truncation but is still there", tn[i]);
		ck_assert_msg(g < ck.gen, "generation %u was truncated but the checkpoint is at %u", g, ck.gen);
		if (g > maxdel)
			maxdel = g;
	}
	/* Every generation from the oldest kept up to the current one is there. */
	for (uint32_t g = maxdel + 1; g < cur_gen(b.inst); g++) {
		char *p = gen_path(b.dir, g);
		ck_assert_msg(access(p, F_OK) == 0, "generation %u (checkpoint %u) is gone after truncation", g, ck.gen);
		free(p);
	}
	checkpoint_state_free(&ck);
	free(tbuf);
	/* Crash, with committed work after the checkpoint. */
	transfers(&b, 25);
	c1 = bank_counter(&b);
	CK(JetTerm2(b.inst, JET_bitTermAbrupt));
	bank_restart(&b);
	got = bank_check(b.ses, b.dbid, b.t);
	ck_assert_msg(got == c1, "after the crash: counter %llu, committed %llu", (unsigned long long)got,
	    (unsigned long long)c1);
	/* The full backup is still recorded: an incremental follows it. */
	transfers(&b, 15);
	CK(JetBackupInstance(b.inst, inc, JET_bitBackupIncremental, NULL));
	c2 = bank_counter(&b);
	transfers(&b, 5);
	{
		const char *sets[2] = { f, inc };
		got = restore_sets(sets, 2, NULL, 0);
		ck_assert_msg(got == c2, "full + incremental after a crash: counter %llu, expected %llu",
		    (unsigned long long)got, (unsigned long long)c2);
	}
	bank_term(&b);
	free(chk);
	tu_rmdir(f);
	tu_rmdir(inc);
	free(f);
	free(inc);
	bank_free(&b);
}
END_TEST

/* ======================================================================
 * 6. Damage found by the backup
 * ====================================================================== */

START_TEST(test_corrupt_page)
{
	struct bank b;
	char *db2, *r2, *names[MAXNAMES], *buf;
	int n;
	unsigned long ps, lo, hi, got;
	uint8_t *rb;
	uint32_t victim = 0;
	struct db_header before, before2, after, after2;
	struct bkrun r = { 0 };
	char *out = tu_tempdir(), *out2 = tu_tempdir();
	JET_HANDLE h;
	JET_ERR err = JET_errSuccess;
	uint64_t off = 0;

	bank_create(&b, CACHE_PAGES, 0);
	db2 = bank_add_db(&b, "second.edb");
	r2 = real_of(db2);
	transfers(&b, 20);
	ps = page_size_of(b.inst);
	rb = abuf(4 * ps);
	/* Every page on disk and clean: restart. */
	bank_term(&b);
	bank_restart(&b);
	{
		/* A used page in the middle of the file. */
		os_file *fh;
		uint32_t last = 0;
		CK(space_pgno_last(inst_of(b.inst)->dbs[b.dbid], &last));
		CK(os_open(b.dbpath, OS_READ, &fh));
		for (uint32_t p = last / 2 + 1; p <= last && victim == 0; p++) {
			CK(os_pread(fh, rb, ps, page_offset(p, (uint32_t)ps)));
			if (!page_is_zero(rb, (uint32_t)ps) && page_verify(rb, (uint32_t)ps, p) == JET_errSuccess)
				victim = p;
		}
		os_close(fh);
		ck_assert_msg(victim != 0, "no used page to damage");
	}
	before = tu_hdr_of(b.dbpath);
	before2 = tu_hdr_of(db2);
	tu_scribble(b.dbpath, page_offset(victim, (uint32_t)ps) + 200, 300, 0xA5);

	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ck_assert_int_eq(n, 2);
	CK(JetOpenFileInstance(b.inst, b.dbpath, &h, &lo, &hi));
	for (got = 1; got > 0;) {
		err = JetReadFileInstance(b.inst, h, rb, 4 * ps, &got);
		if (err < 0)
			break;
		off += got;
	}
	ck_assert_msg(err == JET_errReadVerifyFailure, "reading a damaged page (%u) -> %s after %llu bytes", victim,
	    JetErrorName(err), (unsigned long long)off);
	/* The file was closed; the session goes on with the other database. */
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 4 * ps, &got), JET_errInvalidParameter);
	CK_ERR(JetCloseFileInstance(b.inst, h), JET_errInvalidParameter);
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], r2) == 0)
			ese_copy(b.inst, names[i], out, &r, 1);
	free(buf);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	for (int i = 0; i < n; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	free(buf);
	CK(JetTruncateLogInstance(b.inst));
	CK(JetEndExternalBackupInstance(b.inst));
	after = tu_hdr_of(b.dbpath);
	after2 = tu_hdr_of(db2);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "the damaged database's header slot %d changed", s);
	ck_assert_bk_range(after2, BK_FULL_PREV, r.li.ulGenLow, r.li.ulGenHigh);
	ck_assert_bk_zero(before2, BK_FULL_PREV);
	/* JetBackupInstance fails with the same error and leaves nothing. */
	CK_ERR(JetBackupInstance(b.inst, out2, 0, NULL), JET_errReadVerifyFailure);
	ck_assert_int_eq(count_files(out2), 0);
	bank_term(&b);
	tu_rmdir(out);
	tu_rmdir(out2);
	free(out);
	free(out2);
	free(rb);
	free(r2);
	free(db2);
	bank_free(&b);
}
END_TEST

START_TEST(test_corrupt_log)
{
	struct bank b;
	char *names[MAXNAMES], *buf;
	int n;
	unsigned long ps, lo, hi, got, cb;
	uint8_t *rb;
	struct db_header before, after;
	struct bkrun r = { 0 };
	char *out = tu_tempdir(), *victim;
	char szz[4096];
	JET_HANDLE h;

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	rb = abuf(4 * ps);
	before = tu_hdr_of(b.dbpath);
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	buf = get_list(b.inst, L_ATTACH, names, &n, NULL);
	ese_copy(b.inst, names[0], out, &r, 1);
	free(buf);
	roll_gens(&b, 3);
	buf = get_list(b.inst, L_LOGS, names, &n, &r.li);
	ck_assert_int_ge(n, 3);
	/* A full generation in the middle of the list. */
	victim = names[n / 2];
	tu_scribble(victim, LOG_HDR_SIZE + 64, 64, 0x5A);
	for (int i = 0; i < n / 2; i++)
		ese_copy(b.inst, names[i], out, &r, 0);
	CK(JetOpenFileInstance(b.inst, victim, &h, &lo, &hi));
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 4 * ps, &got), JET_errLogReadVerifyFailure);
	/* The session is over. */
	CK_ERR(JetReadFileInstance(b.inst, h, rb, 4 * ps, &got), JET_errNoBackup);
	CK_ERR(JetGetLogInfoInstance(b.inst, szz, sizeof(szz), &cb), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance(b.inst), JET_errNoBackup);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a failed backup changed header slot %d", s);
	free(buf);
	bank_term(&b);
	tu_rmdir(out);
	free(out);
	free(rb);
	bank_free(&b);
}
END_TEST

/* ======================================================================
 * 7. JetBackupInstance and restore errors
 * ====================================================================== */

static int g_status_seen[8];
static int g_status_last = -1;

static JET_ERR
status_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv)
{
	(void)sesid;
	(void)pv;
	if (snp == JET_snpBackup && snt < 8) {
		g_status_seen[snt]++;
		g_status_last = (int)snt;
	}
	return JET_errSuccess;
}

static void
status_reset(void)
{
	memset(g_status_seen, 0, sizeof(g_status_seen));
	g_status_last = -1;
}

START_TEST(test_backupinstance_dirs)
{
	struct bank b;
	char *dir = tu_tempdir(), *junk, *missing, *nested, *set;
	uint64_t c;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	/* Not empty. */
	junk = tu_path(dir, "junk");
	{
		FILE *fj = fopen(junk, "w");
		ck_assert(fj != NULL);
		fputs("x", fj);
		fclose(fj);
	}
	CK_ERR(JetBackupInstance(b.inst, dir, 0, NULL), JET_errBackupDirectoryNotEmpty);
	ck_assert_int_eq(count_files(dir), 1);
	/* Missing. */
	missing = tu_path(dir, "missing");
	CK_ERR(JetBackupInstance(b.inst, missing, 0, NULL), JET_errInvalidPath);
	ck_assert_msg(access(missing, F_OK) != 0, "a missing backup directory was created");
	/* Nothing is running after these failures. */
	CK(JetBeginExternalBackupInstance(b.inst, 0));
	CK(JetEndExternalBackupInstance2(b.inst, JET_bitBackupEndAbort));
	/* With JET_paramCreatePathIfNotExist it is created; the callback sees begin and complete. */
	CK(JetSetSystemParameter(&b.inst, 0, JET_paramCreatePathIfNotExist, 1, NULL));
	nested = tu_path(missing, "a/b");
	status_reset();
	CK(JetBackupInstance(b.inst, nested, 0, status_cb));
	ck_assert_int_eq(g_status_seen[JET_sntBegin], 1);
	ck_assert_int_eq(g_status_seen[JET_sntComplete], 1);
	ck_assert_int_eq(g_status_seen[JET_sntFail], 0);
	ck_assert_int_eq(g_status_last, JET_sntComplete);
	ck_assert_int_ge(count_files(nested), 2);
	set = tu_path(nested, "bank.edb");
	ck_assert_msg(access(set, F_OK) == 0, "no bank.edb in the backup set");
	free(set);
	set = tu_path(nested, "edb.chk");
	ck_assert_msg(access(set, F_OK) != 0, "the checkpoint file was copied");
	free(set);
	c = bank_counter(&b);
	ck_assert_uint_eq(restore_one(nested), c);
	bank_term(&b);
	free(junk);
	free(missing);
	free(nested);
	tu_rmdir(dir);
	free(dir);
	bank_free(&b);
}
END_TEST

static struct bank *g_moving_bank;

/* Between the databases and the log list: the instance goes on, the checkpoint moves on. */
static JET_ERR
move_ckpt_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv)
{
	(void)sesid;
	(void)pv;
	status_cb(sesid, snp, snt, pv);
	if (snp == JET_snpBackup && snt == JET_sntProgress && g_moving_bank != NULL) {
		roll_gens(g_moving_bank, 3);
		CK(checkpoint_run(inst_of(g_moving_bank->inst), 1));
		g_moving_bank = NULL;
	}
	return JET_errSuccess;
}

/*
 * Truncation that fails half way (its second unlink), after deleting a
 * generation of the new set that no other set holds: the set must stay,
 * complete and restorable, although JetBackupInstance fails.
 */
START_TEST(test_backupinstance_truncation_fails)
{
	struct bank b;
	char *dir = tu_tempdir(), *match, *set, *img;
	uint8_t present2[4096];
	uint32_t low, lost = 0;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	roll_gens(&b, 2);
	CK(checkpoint_run(inst_of(b.inst), 1));
	/*
	 * The set starts at the checkpoint's generation G; the next one is
	 * closed (renamed to its name) during the backup, and its unlink fails.
	 */
	match = gen_path(b.dir, inst_of(b.inst)->ckpt.gen + 1);
	set = tu_path(dir, "set");
	ck_assert(mkdir(set, 0755) == 0);
	status_reset();
	g_moving_bank = &b;
	os_fault_arm(OS_FAULT_EIO, 2, 0, 0, match);
	err = JetBackupInstance(b.inst, set, 0, move_ckpt_cb);
	os_fault_disarm();
	ck_assert_msg(err == JET_errDiskIO, "JetBackupInstance with a failing truncation -> %s", JetErrorName(err));
	ck_assert_int_eq(g_status_seen[JET_sntFail], 1);
	img = tu_path(set, "bank.edb");
	ck_assert_msg(access(img, F_OK) == 0, "the set was removed after its logs were truncated");
	low = tu_hdr_of(img).bk[BK_FULL_CUR].gen_low;
	gens_present(b.dir, present2, sizeof(present2));
	/* Every generation from the set's first that is gone from the instance. */
	for (uint32_t g = low; g < cur_gen(b.inst); g++)
		if (!present2[g]) {
			char *p = gen_path(set, g);
			ck_assert_msg(access(p, F_OK) == 0, "generation %u was truncated and is not in the set", g);
			free(p);
			lost++;
		}
	ck_assert_msg(lost > 0, "no generation of the set was truncated: the test proves nothing");
	ck_assert_uint_eq(restore_one(set), bank_counter(&b));
	bank_term(&b);
	free(img);
	free(set);
	free(match);
	tu_rmdir(dir);
	free(dir);
	bank_free(&b);
}
END_TEST

START_TEST(test_backupinstance_failure)
{
	struct bank b;
	char *dir = tu_tempdir(), *bk, *sub;
	uint8_t present[4096], present2[4096];
	struct db_header before, after;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	roll_gens(&b, 2);
	CK(checkpoint_run(inst_of(b.inst), 1));
	transfers(&b, 10);
	/* A full backup first, so that truncation would delete something. */
	sub = tu_path(dir, "first");
	ck_assert(mkdir(sub, 0755) == 0);
	CK(JetBackupInstance(b.inst, sub, 0, NULL));
	roll_gens(&b, 2);
	CK(checkpoint_run(inst_of(b.inst), 1));
	transfers(&b, 10);
	bk = tu_path(dir, "bkfail");
	ck_assert(mkdir(bk, 0755) == 0);
	gens_present(b.dir, present, sizeof(present));
	before = tu_hdr_of(b.dbpath);
	status_reset();
	os_fault_arm(OS_FAULT_EIO, 3, 0, 0, "bkfail");
	err = JetBackupInstance(b.inst, bk, 0, status_cb);
	os_fault_disarm();
	ck_assert_msg(err == JET_errDiskIO, "JetBackupInstance with a failing destination -> %s", JetErrorName(err));
	ck_assert_msg(count_files(bk) == 0, "a failed backup left %d files", count_files(bk));
	ck_assert_int_eq(g_status_seen[JET_sntBegin], 1);
	ck_assert_int_eq(g_status_seen[JET_sntComplete], 0);
	ck_assert_int_eq(g_status_seen[JET_sntFail], 1);
	gens_present(b.dir, present2, sizeof(present2));
	for (size_t g = 0; g < sizeof(present); g++)
		ck_assert_msg(!present[g] || present2[g], "generation %zu was deleted by a failed backup", g);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a failed backup changed header slot %d", s);
	/* No backup is left running; the next one works into the same directory. */
	CK(JetBackupInstance(b.inst, bk, 0, NULL));
	ck_assert_uint_eq(restore_one(bk), bank_counter(&b));
	bank_term(&b);
	free(sub);
	free(bk);
	tu_rmdir(dir);
	free(dir);
	bank_free(&b);
}
END_TEST

START_TEST(test_backupinstance_atomic)
{
	struct bank b;
	char *dir = tu_tempdir(), *snap = tu_tempdir(), *tmp, *old;
	uint64_t c1, c3;
	uint8_t present[4096], present2[4096];
	struct db_header before, after;
	JET_ERR err;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	CK(JetBackupInstance(b.inst, dir, JET_bitBackupAtomic, NULL));
	c1 = bank_counter(&b);
	ck_assert_int_ge(count_files(dir), 2);
	cp_all(dir, snap);
	transfers(&b, 20);
	roll_gens(&b, 1);
	/* The new set fails half-way: the old one stays, untouched. */
	gens_present(b.dir, present, sizeof(present));
	before = tu_hdr_of(b.dbpath);
	os_fault_arm(OS_FAULT_EIO, 3, 0, 0, "new.tmp");
	err = JetBackupInstance(b.inst, dir, JET_bitBackupAtomic, NULL);
	os_fault_disarm();
	ck_assert_msg(err == JET_errDiskIO, "atomic JetBackupInstance with a failing destination -> %s",
	    JetErrorName(err));
	tmp = tu_path(dir, "new.tmp");
	ck_assert_msg(count_files(tmp) <= 0, "the failed atomic backup left %d files in new.tmp", count_files(tmp));
	{
		DIR *d = opendir(snap);
		struct dirent *de;
		int n = 0;
		ck_assert(d != NULL);
		while ((de = readdir(d)) != NULL) {
			char *a, *x;
			if (de->d_name[0] == '.')
				continue;
			a = tu_path(snap, de->d_name);
			x = tu_path(dir, de->d_name);
			ck_assert_msg(access(x, F_OK) == 0 && files_equal(a, x), "%s of the old set changed", de->d_name);
			free(a);
			free(x);
			n++;
		}
		closedir(d);
		ck_assert_int_eq(count_files(dir), n);
	}
	gens_present(b.dir, present2, sizeof(present2));
	for (size_t g = 0; g < sizeof(present); g++)
		ck_assert_msg(!present[g] || present2[g], "generation %zu was deleted by a failed backup", g);
	after = tu_hdr_of(b.dbpath);
	for (int s = 0; s < BK_NSLOTS; s++)
		ck_assert_msg(memcmp(&before.bk[s], &after.bk[s], sizeof(before.bk[s])) == 0,
		    "a failed backup changed header slot %d", s);
	ck_assert_uint_eq(restore_one(dir), c1);
	/* Then a good one replaces it; the previous set is in old/. */
	transfers(&b, 10);
	CK(JetBackupInstance(b.inst, dir, JET_bitBackupAtomic, NULL));
	c3 = bank_counter(&b);
	old = tu_path(dir, "old");
	ck_assert_int_ge(count_files(old), 2);
	ck_assert_uint_eq(restore_one(dir), c3);
	ck_assert_uint_eq(restore_one(old), c1);
	bank_term(&b);
	free(tmp);
	free(old);
	tu_rmdir(dir);
	tu_rmdir(snap);
	free(dir);
	free(snap);
	bank_free(&b);
}
END_TEST

static struct bank *g_cb_bank;

static JET_ERR
roll_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv)
{
	(void)sesid;
	(void)pv;
	/* Between the databases and the log list: the set spans several generations. */
	if (snp == JET_snpBackup && snt == JET_sntProgress && g_cb_bank != NULL) {
		roll_gens(g_cb_bank, 4);
		g_cb_bank = NULL;
	}
	return JET_errSuccess;
}

/* A copy of set in a new directory; returns it. */
static char *
copy_set(const char *set)
{
	char *d = tu_tempdir();

	cp_all(set, d);
	return d;
}

static void
rm_gen(const char *dir, uint32_t g)
{
	char *p = gen_path(dir, g);

	ck_assert_msg(unlink(p) == 0, "unlink %s", p);
	free(p);
}


/* ESE's usual use: the incremental goes into the full set's directory.  A
 * failed incremental must leave the full set as it was. */
START_TEST(test_incremental_same_dir)
{
	struct bank b;
	char *dir = tu_tempdir(), *snap = tu_tempdir();
	uint64_t cf, ci;
	struct db_header hd;
	uint8_t present[4096];
	int overlap = 0;
	JET_ERR err;
	DIR *d;
	struct dirent *de;

	bank_create(&b, CACHE_PAGES, 0);
	transfers(&b, 20);
	g_cb_bank = &b;
	CK(JetBackupInstance(b.inst, dir, 0, roll_cb));
	cf = bank_counter(&b);
	hd = tu_hdr_of(b.dbpath);
	/* Some generations of the set are still on disk: the incremental copies them again. */
	gens_present(b.dir, present, sizeof(present));
	for (uint32_t g = hd.bk[BK_FULL_PREV].gen_low; g <= hd.bk[BK_FULL_PREV].gen_high; g++)
		overlap += present[g];
	ck_assert_msg(overlap > 0, "no generation of the full set is left on disk: the test proves nothing");
	cp_all(dir, snap);
	transfers(&b, 20);
	os_fault_arm(OS_FAULT_EIO, 2, 0, 0, dir);
	err = JetBackupInstance(b.inst, dir, JET_bitBackupIncremental, NULL);
	os_fault_disarm();
	ck_assert_msg(err == JET_errDiskIO, "incremental with a failing destination -> %s", JetErrorName(err));
	d = opendir(snap);
	ck_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		char *a, *x;
		if (de->d_name[0] == '.')
			continue;
		a = tu_path(snap, de->d_name);
		x = tu_path(dir, de->d_name);
		ck_assert_msg(access(x, F_OK) == 0, "the failed incremental removed %s from the full set", de->d_name);
		ck_assert_msg(files_equal(a, x), "the failed incremental changed %s of the full set", de->d_name);
		free(a);
		free(x);
	}
	closedir(d);
	ck_assert_uint_eq(restore_one(dir), cf);
	/* A good incremental into the same directory. */
	CK(JetBackupInstance(b.inst, dir, JET_bitBackupIncremental, NULL));
	ci = bank_counter(&b);
	ck_assert_uint_gt(ci, cf);
	transfers(&b, 5);
	ck_assert_uint_eq(restore_one(dir), ci);
	/*
	 * An incremental of another instance into this set: its generations
	 * have the same names and other bytes.  Refused, and the set is intact.
	 */
	{
		struct bank o;
		char *ofull = tu_tempdir(), *snap2 = tu_tempdir();
		int clash = 0;
		bank_create(&o, CACHE_PAGES, 0);
		CK(JetBackupInstance(o.inst, ofull, 0, NULL));
		roll_gens(&o, 1);
		gens_present(o.dir, present, sizeof(present));
		for (uint32_t g = 1; g < sizeof(present); g++)
			if (present[g]) {
				char *p = gen_path(dir, g);
				clash += access(p, F_OK) == 0;
				free(p);
			}
		ck_assert_msg(clash > 0, "no generation name in common: the test proves nothing");
		cp_all(dir, snap2);
		CK_ERR(JetBackupInstance(o.inst, dir, JET_bitBackupIncremental, NULL), JET_errFileAlreadyExists);
		ck_assert_int_eq(count_files(dir), count_files(snap2));
		d = opendir(snap2);
		ck_assert(d != NULL);
		while ((de = readdir(d)) != NULL) {
			char *a, *x;
			if (de->d_name[0] == '.')
				continue;
			a = tu_path(snap2, de->d_name);
			x = tu_path(dir, de->d_name);
			ck_assert_msg(files_equal(a, x), "another instance's incremental changed %s of the set", de->d_name);
			free(a);
			free(x);
		}
		closedir(d);
		ck_assert_uint_eq(restore_one(dir), ci);
		bank_term(&o);
		bank_free(&o);
		tu_rmdir(ofull);
		tu_rmdir(snap2);
		free(ofull);
		free(snap2);
	}
	bank_term(&b);
	tu_rmdir(dir);
	tu_rmdir(snap);
	free(dir);
	free(snap);
	bank_free(&b);
}
END_TEST

START_TEST(test_restore_errors)
{
	struct bank b, other;
	char *set = tu_tempdir(), *m, *img, *p;
	struct db_header hd;
	uint32_t lo, hi, mid;
	uint64_t c;
	const char *sets[1];
	unsigned long ps;

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	transfers(&b, 20);
	g_cb_bank = &b;
	CK(JetBackupInstance(b.inst, set, 0, roll_cb));
	ck_assert_msg(g_cb_bank == NULL, "the progress callback was not called");
	c = bank_counter(&b);
	hd = tu_hdr_of(b.dbpath);
	lo = hd.bk[BK_FULL_PREV].gen_low;
	hi = hd.bk[BK_FULL_PREV].gen_high;
	ck_assert_msg(hi >= lo + 3, "the set has generations %u-%u, the test needs 4", lo, hi);
	mid = lo + (hi - lo) / 2;
	/* AfterInitialization: the live instance. */
	CK_ERR(JetRestoreInstance(b.inst, set, NULL, NULL), JET_errAfterInitialization);
	bank_term(&b);
	/* The set is good. */
	ck_assert_uint_eq(restore_one(set), c);

	/* A plain database in the set. */
	m = copy_set(set);
	img = tu_path(m, "bank.edb");
	tu_copy_file(b.dbpath, img);
	sets[0] = m;
	restore_fails(sets, 1, JET_errRestoreOfNonBackupDatabase);
	tu_rmdir(m);
	free(m);
	free(img);

	/* The logs from the last one the image needs (its trailer says which) missing. */
	m = copy_set(set);
	{
		struct bk_trailer tr;
		img = tu_path(m, "bank.edb");
		trailer_of(img, &tr);
		ck_assert_uint_ge(tr.bk.gen_high, lo);
		ck_assert_uint_le(tr.bk.gen_high, hi);
		for (uint32_t g = tr.bk.gen_high; g <= hi; g++)
			rm_gen(m, g);
		free(img);
	}
	sets[0] = m;
	restore_fails(sets, 1, JET_errEndingRestoreLogTooLow);
	tu_rmdir(m);
	free(m);

	/* The first log missing. */
	m = copy_set(set);
	rm_gen(m, lo);
	sets[0] = m;
	restore_fails(sets, 1, JET_errStartingRestoreLogTooHigh);
	tu_rmdir(m);
	free(m);

	/* A gap. */
	m = copy_set(set);
	rm_gen(m, mid);
	sets[0] = m;
	restore_fails(sets, 1, JET_errMissingLogFile);
	tu_rmdir(m);
	free(m);

	/* A log of another instance. */
	bank_create(&other, CACHE_PAGES, 0);
	for (int i = 0; cur_gen(other.inst) <= mid; i++) {
		char szz[8192];
		unsigned long cb;
		ck_assert(i < 100);
		CK(JetBeginExternalBackupInstance(other.inst, 0));
		CK(JetGetLogInfoInstance(other.inst, szz, sizeof(szz), &cb));
		CK(JetEndExternalBackupInstance2(other.inst, JET_bitBackupEndAbort));
	}
	m = copy_set(set);
	p = gen_path(m, mid);
	img = gen_path(other.dir, mid);
	ck_assert(unlink(p) == 0);
	tu_copy_file(img, p);
	sets[0] = m;
	restore_fails(sets, 1, JET_errGivenLogFileHasBadSignature);
	tu_rmdir(m);
	free(m);
	free(p);
	free(img);
	bank_term(&other);
	bank_free(&other);

	/* A damaged trailer page. */
	m = copy_set(set);
	img = tu_path(m, "bank.edb");
	{
		struct db_header ih = tu_hdr_of(img);
		ck_assert_uint_eq(ih.page_size, ps);
		tu_scribble(img, ((uint64_t)ih.pgno_last + 2) * ps + 300, 40, 0xEE);
	}
	sets[0] = m;
	restore_fails(sets, 1, JET_errBadPatchPage);
	tu_rmdir(m);
	free(m);
	free(img);

	/* JetRestoreInstance itself on the (clean) set, into a fresh instance: restores to the original path. */
	{
		JET_INSTANCE ri;
		char *rd = tu_tempdir();
		ri = tu_instance(rd, LOG_KB, CACHE_PAGES);
		m = copy_set(set);
		rm_gen(m, mid);
		CK_ERR(JetRestoreInstance(ri, m, NULL, NULL), JET_errMissingLogFile);
		ck_assert_int_eq(count_files(rd), 0);
		CK(JetTerm(ri));
		tu_rmdir(m);
		free(m);
		tu_rmdir(rd);
		free(rd);
	}
	tu_rmdir(set);
	free(set);
	bank_free(&b);
}
END_TEST

/*
 * A page of an image with a bad checksum (the image's last page, which redo
 * may well rewrite entirely): every restore refuses it before writing
 * anything, as ESE's restore verifies every page; JetRestoreInstance leaves
 * the database in place as it was.
 */
START_TEST(test_restore_bad_page)
{
	struct bank b;
	char *set = tu_tempdir(), *m, *img, *saved, *rd;
	const char *sets[1];
	struct db_header ih;
	unsigned long ps;
	JET_INSTANCE ri;

	bank_create(&b, CACHE_PAGES, 0);
	ps = page_size_of(b.inst);
	transfers(&b, 20);
	CK(JetBackupInstance(b.inst, set, 0, NULL));
	bank_term(&b);
	m = copy_set(set);
	img = tu_path(m, "bank.edb");
	ih = tu_hdr_of(img);
	tu_scribble(img, page_offset(ih.pgno_last, ps) + 100, 4, 0xEE);
	sets[0] = m;
	restore_fails(sets, 1, JET_errReadVerifyFailure);

	rd = tu_tempdir();
	saved = tu_path(rd, "saved.edb");
	tu_copy_file(b.dbpath, saved);
	ri = tu_instance(b.dir, LOG_KB, CACHE_PAGES);
	CK_ERR(JetRestoreInstance(ri, m, rd, NULL), JET_errReadVerifyFailure);
	ck_assert_msg(files_equal(b.dbpath, saved), "a refused JetRestoreInstance changed the database in place");
	ck_assert_int_eq(count_files(rd), 1);
	CK(JetTerm(ri));
	tu_rmdir(rd);
	tu_rmdir(m);
	tu_rmdir(set);
	free(saved);
	free(rd);
	free(img);
	free(m);
	free(set);
	bank_free(&b);
}
END_TEST

/*
 * Two databases with one file name in two directories, their images in one
 * set under two names: restored into one directory they would be one file
 * (one database silently lost); restore refuses before writing.
 */
START_TEST(test_restore_same_name)
{
	struct bank b;
	char *out1 = tu_tempdir(), *out2 = tu_tempdir(), *set = tu_tempdir(), *sub, *pa, *pb, *from, *to;
	struct bkrun r;
	const char *sets[1] = { set };

	bank_create(&b, CACHE_PAGES, 0);
	sub = tu_path(b.dir, "a");
	ck_assert(mkdir(sub, 0700) == 0);
	free(sub);
	sub = tu_path(b.dir, "b");
	ck_assert(mkdir(sub, 0700) == 0);
	free(sub);
	pa = bank_add_db(&b, "a/data.edb");
	memset(&r, 0, sizeof(r));
	ese_backup(b.inst, out1, &r);
	transfers(&b, 10);
	CK(JetDetachDatabase(b.ses, pa));
	pb = bank_add_db(&b, "b/data.edb");
	memset(&r, 0, sizeof(r));
	ese_backup(b.inst, out2, &r);
	bank_term(&b);
	/* a's image as data-a.edb, then b's as data.edb with the later logs; and the generations between. */
	cp_all(out1, set);
	from = tu_path(set, "data.edb");
	to = tu_path(set, "data-a.edb");
	ck_assert(rename(from, to) == 0);
	cp_all(out2, set);
	for (uint32_t g = 1; g < 4096; g++) {
		char *live = gen_path(b.dir, g), *in = gen_path(set, g);
		if (access(live, F_OK) == 0 && access(in, F_OK) != 0)
			tu_copy_file(live, in);
		free(live);
		free(in);
	}
	restore_fails(sets, 1, JET_errDatabaseDuplicate);
	tu_rmdir(out1);
	tu_rmdir(out2);
	tu_rmdir(set);
	free(from);
	free(to);
	free(pa);
	free(pb);
	free(out1);
	free(out2);
	free(set);
	bank_free(&b);
}
END_TEST

/*
 * A precondition that does not hold (issue 13): the snapshot's calls need
 * the database's bk_io_lock, held by the calling thread.  Without it, or
 * with another thread holding it, the instance goes down and the call
 * returns JET_errInternalError; a -DJET_DEBUG build aborts instead.
 */
static void *
other_thread_snapshot_failed(void *arg)
{
	return (void *)(intptr_t)snapshot_failed(arg);
}

START_TEST(test_precondition_lock_held)
{
	struct jet_inst inst;
	struct jet_db db;
	pthread_t t;
	void *ret;

	memset(&inst, 0, sizeof(inst));
	memset(&db, 0, sizeof(db));
	inst.p.event_target = JET_JetfsEventNone;
	db.inst = &inst;
	olock_init(&db.bk_io_lock);
	olock_lock(&db.bk_io_lock);
	ck_assert_int_eq(snapshot_failed(&db), JET_errSuccess);
	ck_assert_int_eq(pthread_create(&t, NULL, other_thread_snapshot_failed, &db), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_int_eq((JET_ERR)(intptr_t)ret, JET_errInternalError);
	ck_assert_int_eq(inst.unavailable, JET_errInternalError);
	olock_unlock(&db.bk_io_lock);
	inst.unavailable = JET_errSuccess;
	ck_assert_int_eq(snapshot_failed(&db), JET_errInternalError);
	ck_assert_int_eq(inst.unavailable, JET_errInternalError);
	olock_destroy(&db.bk_io_lock);
}
END_TEST

static Suite *
backup_suite(void)
{
	Suite *s = suite_create("backup");

	tu_add_test(s, "no_backup", test_no_backup, 60);
	tu_add_test(s, "begin_rules", test_begin_rules, 60);
	tu_add_test(s, "incremental_rules", test_incremental_rules, 60);
	tu_add_test(s, "open_rules", test_open_rules, 60);
	tu_add_test(s, "read_rules", test_read_rules, 60);
	tu_add_test(s, "log_phase_rules", test_log_phase_rules, 60);
	tu_add_test(s, "end_rules", test_end_rules, 60);
	tu_add_test(s, "stop_backup", test_stop_backup, 60);
	tu_add_test(s, "term_attach_detach", test_term_attach_detach, 60);
	tu_add_test(s, "lists", test_lists, 60);
	tu_add_test(s, "header_recording", test_header_recording, 60);
	tu_add_test(s, "header_partial_db", test_header_partial_db, 60);
	tu_add_test(s, "load_ese", test_load_ese, 120);
	tu_add_test(s, "load_pit", test_load_pit, 120);
	tu_add_test(s, "trailer_covers_read", test_trailer_covers_read, 60);
	tu_add_test(s, "circular_full", test_circular_full, 60);
	tu_add_test(s, "pit_chain", test_pit_chain, 60);
	tu_add_test(s, "pit_end_after_stop", test_pit_end_after_stop, 60);
	tu_add_test(s, "pit_partial_read", test_pit_partial_read, 60);
	tu_add_test(s, "chain", test_chain, 120);
	tu_add_test(s, "incremental_gap", test_incremental_gap, 60);
	tu_add_test(s, "stale_spill", test_stale_spill, 60);
	tu_add_test(s, "backupinstance_truncation_fails", test_backupinstance_truncation_fails, 60);
	tu_add_test(s, "pit_truncate_keeps_set", test_pit_truncate_keeps_set, 60);
	tu_add_test(s, "quiet_begin_loop", test_quiet_begin_loop, 120);
	tu_add_test(s, "backupinstance_same_name", test_backupinstance_same_name, 60);
	tu_add_test(s, "restore_instance", test_restore_instance, 60);
	tu_add_test(s, "restore_bad_page", test_restore_bad_page, 60);
	tu_add_test(s, "restore_same_name", test_restore_same_name, 60);
	tu_add_test(s, "roll_forward", test_roll_forward, 60);
	tu_add_test(s, "roll_forward_live", test_roll_forward_live, 60);
	tu_add_test(s, "truncate_crash", test_truncate_crash, 60);
	tu_add_test(s, "corrupt_page", test_corrupt_page, 60);
	tu_add_test(s, "corrupt_log", test_corrupt_log, 60);
	tu_add_test(s, "backupinstance_dirs", test_backupinstance_dirs, 60);
	tu_add_test(s, "backupinstance_failure", test_backupinstance_failure, 60);
	tu_add_test(s, "backupinstance_atomic", test_backupinstance_atomic, 60);
	tu_add_test(s, "incremental_same_dir", test_incremental_same_dir, 60);
	tu_add_test(s, "restore_errors", test_restore_errors, 60);
#ifdef JET_DEBUG
	TCase *tc = tcase_create("precondition_lock_held");
	tcase_add_test_raise_signal(tc, test_precondition_lock_held, SIGABRT);
	suite_add_tcase(s, tc);
#else
	tu_add_test(s, "precondition_lock_held", test_precondition_lock_held, 60);
#endif
	return s;
}

int
main(void)
{
	/* Restore's private instance logs nowhere unless asked. */
	setenv("JETFS_EVENTS", getenv("JET_TEST_EVENTS") ? "stderr" : "none", 0);
	return tu_run(backup_suite());
}
