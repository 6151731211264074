/*
 * bankutil.c -- the bank, the writer thread, backups by hand and restores
 * (bankutil.h), for the suites of the backup modules.
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

#include "bankutil.h"

void
acct_key(unsigned a, char *key)
{
	snprintf(key, 16, "acct%06u", a);
}

void
acct_value(uint8_t *val, unsigned a, uint64_t balance, uint64_t last)
{
	put64(val, balance);
	put64(val + 8, last);
	for (int i = 16; i < VAL_SIZE; i++)
		val[i] = (uint8_t)(a * 7 + (unsigned)i);
}

/* One transfer in its own transaction; *counterp gets the new counter. */
JET_ERR
transfer(JET_SESID ses, JET_TABLEID t, unsigned *seed, uint64_t *counterp)
{
	return transfer_among(ses, t, seed, 0, NACCT, counterp);
}

/* transfer, between two of the accounts lo .. lo+span-1 (span >= 2). */
JET_ERR
transfer_among(JET_SESID ses, JET_TABLEID t, unsigned *seed, unsigned lo, unsigned span, uint64_t *counterp)
{
	unsigned from = lo + (unsigned)rand_r(seed) % span, to;
	char kf[16], kt[16];
	uint8_t vf[VAL_SIZE], vt[VAL_SIZE], vc[8];
	uint64_t amount = (uint64_t)(rand_r(seed) % 50) + 1, counter;
	JET_ERR err;

	do
		to = lo + (unsigned)rand_r(seed) % span;
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

void
transfers(struct bank *b, int n)
{
	for (int i = 0; i < n; i++)
		CK(transfer(b->ses, b->t, &b->seed, NULL));
}

uint64_t
counter_of(JET_SESID ses, JET_TABLEID t)
{
	uint8_t vc[8];

	CK(kv_get(ses, t, "counter", vc, 8));
	return get64(vc);
}

uint64_t
bank_counter(struct bank *b)
{
	return counter_of(b->ses, b->t);
}

/* The invariants of a bank database; returns its counter. */
uint64_t
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

struct jet_inst *
inst_of(JET_INSTANCE inst)
{
	struct jet_inst *in = handle_get(HANDLE_INSTANCE, inst);

	ck_assert(in != NULL);
	return in;
}

uint32_t
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
void
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
unsigned long g_ckpt_depth;

JET_INSTANCE
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
void
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
void
bank_restart(struct bank *b)
{
	b->inst = bank_instance(b->dir, b->cache, 0);
	bank_open_table(b);
}

/* On the bank's running instance b->inst: a session, the database (attached if need be), the table. */
void
bank_open_table(struct bank *b)
{
	JET_ERR err;

	CK(JetBeginSession(b->inst, &b->ses, NULL, NULL));
	err = JetOpenDatabase(b->ses, b->dbpath, NULL, &b->dbid, 0);
	if (err == JET_errDatabaseNotFound) {
		CK(JetAttachDatabase(b->ses, b->dbpath, 0));
		err = JetOpenDatabase(b->ses, b->dbpath, NULL, &b->dbid, 0);
	}
	CK(err);
	CK(JetOpenTable(b->ses, b->dbid, "t", NULL, 0, 0, &b->t));
}

void
bank_term(struct bank *b)
{
	CK(JetEndSession(b->ses, 0));
	CK(JetTerm(b->inst));
	b->inst = 0;
}

void
bank_free(struct bank *b)
{
	tu_rmdir(b->dir);
	free(b->dir);
	free(b->dbpath);
}

/* A second database dir/name with a few records, attached, closed for b->ses. */
char *
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

unsigned long
page_size_of(JET_INSTANCE inst)
{
	JET_API_PTR ps = 0;

	CK(JetGetSystemParameter(inst, 0, JET_paramDatabasePageSize, &ps, NULL, 0));
	return (unsigned long)ps;
}

void *
abuf(size_t len)
{
	void *p = NULL;

	ck_assert(posix_memalign(&p, 4096, len + 4096) == 0);
	memset(p, 0, len + 4096);
	return p;
}

const char *
base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

char *
real_of(const char *path)
{
	char *r = realpath(path, NULL);

	ck_assert_msg(r != NULL, "realpath %s", path);
	return r;
}

/* Splits a double-NUL list; returns the count. */
int
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

/* Gets a list (size first, then the data): returns the buffer, fills names. */
char *
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

int
gen_of_name(const char *path, uint32_t *genp)
{
	return log_parse_name("edb", base_of(path), genp);
}

char *
gen_path(const char *dir, uint32_t gen)
{
	char *p = log_name_path(dir, "edb", gen);

	ck_assert(p != NULL);
	return p;
}

/* The trailer of a streamed database image. */
void
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

int
bk_is_zero(const struct bkinfo *bi)
{
	return bi->lsn_mark == 0 && bi->time_mark == 0 && bi->gen_low == 0 && bi->gen_high == 0;
}

int
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


uint8_t *
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

int
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
void
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

void
writer_start(struct writer *w, struct bank *b)
{
	memset(w, 0, sizeof(*w));
	w->inst = b->inst;
	w->dbpath = b->dbpath;
	pthread_mutex_init(&w->pause, NULL);
	ck_assert(pthread_create(&w->thread, NULL, writer_main, w) == 0);
}

/* Waits until the writer has done n more transfers. */
void
writer_wait(struct writer *w, unsigned long long n)
{
	unsigned long long target = atomic_load(&w->done) + n;
	struct timespec ts = { 0, 200000 };

	while (atomic_load(&w->done) < target) {
		ck_assert_msg(w->err == JET_errSuccess, "writer: %s -> %s", w->what, JetErrorName(w->err));
		nanosleep(&ts, NULL);
	}
}

void
writer_stop(struct writer *w)
{
	atomic_store(&w->stop, 1);
	ck_assert(pthread_join(w->thread, NULL) == 0);
	ck_assert_msg(w->err == JET_errSuccess, "writer: %s -> %s", w->what, JetErrorName(w->err));
	pthread_mutex_destroy(&w->pause);
}

void
hook_writer_wait(void *arg)
{
	writer_wait(arg, 3);
}

void
hook_writer_wait_more(void *arg)
{
	writer_wait(arg, 40);
}

/* Copies one backup file with sequential reads of random sizes; returns its size. */
uint64_t
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

void
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
uint64_t
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

uint64_t
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

uint64_t
restore_one(const char *set)
{
	const char *sets[1] = { set };

	return restore_sets(sets, 1, NULL, 0);
}

/* A restore that must fail with want and leave no file in its target. */
void
restore_fails(const char *const *sets, unsigned long n, JET_ERR want)
{
	char *target = tu_tempdir();
	JET_ERR err = JetfsRestoreSets(sets, n, target, NULL, 0, NULL);

	ck_assert_msg(err == want, "JetfsRestoreSets -> %s, expected %s", JetErrorName(err), JetErrorName(want));
	ck_assert_msg(count_files(target) == 0, "a failed restore left %d files in its target", count_files(target));
	tu_rmdir(target);
	free(target);
}
struct bank *g_cb_bank;

JET_ERR
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
