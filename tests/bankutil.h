/*
 * bankutil.h -- the bank and the backup helpers shared by the suites of the
 * backup modules (check_backup, check_backupdir, check_restore).
 *
 * The bank: database bank.edb, table "t", NACCT accounts "acctNNNNNN" with a
 * VAL_SIZE value (u64 balance, u64 counter of the last transfer that touched
 * it, a pattern), and "counter", the number of transfers, which every
 * transfer increments in the same transaction.  The sum of the balances never
 * changes and no account has a last-transfer number above the counter.
 */
#ifndef JET_BANKUTIL_H
#define JET_BANKUTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

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

enum list_kind { L_ATTACH, L_LOGS, L_TRUNCATE };

#define ck_assert_bk_zero(h, slot) ck_assert_msg(bk_is_zero(&(h).bk[slot]), \
	"header slot %s holds a backup (gens %u-%u)", #slot, (h).bk[slot].gen_low, (h).bk[slot].gen_high)
#define ck_assert_bk_range(h, slot, lo, hi) ck_assert_msg((h).bk[slot].gen_low == (lo) && \
	(h).bk[slot].gen_high == (hi) && (h).bk[slot].lsn_mark != 0, \
	"header slot %s holds gens %u-%u (mark %llu), expected %lu-%lu", #slot, (h).bk[slot].gen_low, \
	(h).bk[slot].gen_high, (unsigned long long)(h).bk[slot].lsn_mark, (unsigned long)(lo), (unsigned long)(hi))
#define ck_assert_bk_same(a, b, slot) ck_assert_msg(memcmp(&(a).bk[slot], &(b).bk[slot], sizeof((a).bk[slot])) == 0, \
	"header slot %s changed: gens %u-%u -> %u-%u", #slot, (a).bk[slot].gen_low, (a).bk[slot].gen_high, \
	(b).bk[slot].gen_low, (b).bk[slot].gen_high)

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

/* The bank (bankutil.c says what each does). */
void acct_key(unsigned a, char *key);
void acct_value(uint8_t *val, unsigned a, uint64_t balance, uint64_t last);
JET_ERR transfer(JET_SESID ses, JET_TABLEID t, unsigned *seed, uint64_t *counterp);
JET_ERR transfer_among(JET_SESID ses, JET_TABLEID t, unsigned *seed, unsigned lo, unsigned span, uint64_t *counterp);
void transfers(struct bank *b, int n);
uint64_t counter_of(JET_SESID ses, JET_TABLEID t);
uint64_t bank_counter(struct bank *b);
uint64_t bank_check(JET_SESID ses, JET_DBID dbid, JET_TABLEID t);
struct jet_inst *inst_of(JET_INSTANCE inst);
uint32_t cur_gen(JET_INSTANCE inst);
void roll_gens(struct bank *b, uint32_t n);
/* Checkpoint depth of instances made by bank_create (0: the default). */
extern unsigned long g_ckpt_depth;
JET_INSTANCE bank_instance(const char *dir, unsigned long cache, int circular);
void bank_create(struct bank *b, unsigned long cache, int circular);
void bank_restart(struct bank *b);
void bank_open_table(struct bank *b);
void bank_term(struct bank *b);
void bank_free(struct bank *b);
char *bank_add_db(struct bank *b, const char *name);

/* Files, lists and headers. */
unsigned long page_size_of(JET_INSTANCE inst);
void *abuf(size_t len);
const char *base_of(const char *path);
char *real_of(const char *path);
int split_list(char *szz, unsigned long len, char **names);
char *get_list(JET_INSTANCE inst, enum list_kind k, char **names, int *np, JET_LOGINFO *li);
int gen_of_name(const char *path, uint32_t *genp);
char *gen_path(const char *dir, uint32_t gen);
void trailer_of(const char *img, struct bk_trailer *tr);
int bk_is_zero(const struct bkinfo *bi);
int count_files(const char *dir);
uint8_t *slurp(const char *path, size_t *lenp);
int files_equal(const char *a, const char *b);
void cp_all(const char *from, const char *to);

/* The writer thread. */
void writer_start(struct writer *w, struct bank *b);
void writer_wait(struct writer *w, unsigned long long n);
void writer_stop(struct writer *w);
void hook_writer_wait(void *arg);
void hook_writer_wait_more(void *arg);

/* Backups by hand, restores. */
uint64_t ese_copy(JET_INSTANCE inst, const char *name, const char *outdir, struct bkrun *r, int is_db);
void ese_backup(JET_INSTANCE inst, const char *outdir, struct bkrun *r);
uint64_t open_restored(const char *dir);
uint64_t restore_sets(const char *const *sets, unsigned long n, const char *rollfwd, unsigned long genstop);
uint64_t restore_one(const char *set);
void restore_fails(const char *const *sets, unsigned long n, JET_ERR want);
/* A backup status callback that rolls g_cb_bank's log on by 4 generations,
 * once, between the databases and the log list. */
extern struct bank *g_cb_bank;
JET_ERR roll_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv);

#endif
