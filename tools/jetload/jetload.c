/*
 * jetload -- the demo and test application for libjet: a bank.
 *
 *   jetload create DIR [--accounts N] [--databases N] [--circular] [--log-size KB]
 *   jetload run DIR [--seconds S] [--threads T] [--rate TPS] [--lazy] [--hot PCT] [--socket PATH]
 *                   [--hold-time S] [--kept-max MIB] [--free-floor MIB]
 *   jetload verify DIR
 *
 * The instance lives in DIR (checkpoint, logs, and databases bank0.edb ...).
 * Account i lives in database i % databases, table "accounts", key the
 * 8-byte big-endian account number, value a 16-byte record (balance,
 * last transfer).  Database 0 also has table "meta" with the number of
 * accounts, the total of all balances (which transfers never change) and
 * the commit counter, which every transfer increments in the same
 * transaction.  jetload.conf in DIR keeps the instance settings.
 *
 * "run" prints, at least once a second, a status line with commits=N: the
 * counter value of the last transfer whose durable commit returned, so a test
 * that kills it knows a lower bound for what recovery must keep.
 *
 * This file owns main and the three commands; the bank's storage (settings,
 * instance, handles, encoding) is bank.c's.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jetload.h"
#include "os.h"
#include "rowkv.h"

static volatile sig_atomic_t stop_requested;
static atomic_ullong durable_commits;
static atomic_ullong done_transfers;

void
jetload_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("jetload: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

void
jetload_check(JET_ERR err, const char *what)
{
	if (err < 0)
		jetload_die("%s: %s (%s, %ld)", what, JetErrorString(err), JetErrorName(err), err);
}

static unsigned long
parse_ulong(const char *s, const char *opt, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == '-' || v < min || v > max)
		jetload_die("%s: '%s' is not a number from %lu to %lu", opt, s, min, max);
	return v;
}

/* A percentage above 0 and at most 100, decimals allowed (--hot 0.5). */
static double
parse_percent(const char *s, const char *opt)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0 && v <= 100))
		jetload_die("%s: '%s' is not a percentage above 0 and at most 100", opt, s);
	return v;
}

static int
cmd_create(const char *dir, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "accounts", required_argument, NULL, 'a' }, { "databases", required_argument, NULL, 'd' },
		{ "circular", no_argument, NULL, 'c' }, { "log-size", required_argument, NULL, 'l' },
		{ "cache", required_argument, NULL, 'C' }, { NULL, 0, NULL, 0 },
	};
	struct bank b = { .dir = dir, .conf = { .accounts = 1000, .databases = 1, .log_kb = 5120, .cache_pages = 1024 },
	    .hold_s = -1, .kept_max_mb = -1, .free_floor_mb = -1 };
	struct handles h;
	char name[PATH_MAX];
	uint8_t key[8], val[VALUE_SIZE];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': b.conf.accounts = parse_ulong(optarg, "--accounts", 2, 100000000); break;
		case 'd': b.conf.databases = parse_ulong(optarg, "--databases", 1, DB_MAX); break;
		case 'c': b.conf.circular = 1; break;
		case 'l': b.conf.log_kb = parse_ulong(optarg, "--log-size", 64, 32768); break;
		case 'C': b.conf.cache_pages = parse_ulong(optarg, "--cache", 16, 1UL << 26); break;
		default: return 2;
		}
	}
	if (optind != argc)
		jetload_die("create: unexpected argument '%s'", argv[optind]);
	if (os_mkdir_p(dir) < 0)
		jetload_die("cannot create directory %s", dir);
	{
		char *p = bank_conf_path(dir);
		if (os_exists(p))
			jetload_die("%s already holds a jetload instance", dir);
		free(p);
	}
	bank_open_instance(&b, 1);
	jetload_check(JetBeginSession(b.inst, &h.ses, NULL, NULL), "JetBeginSession");
	for (unsigned long i = 0; i < b.conf.databases; i++) {
		bank_db_name(&b, i, name, sizeof(name));
		jetload_check(JetCreateDatabase(h.ses, name, NULL, &h.dbid[i], 0), name);
		jetload_check(JetCreateTable(h.ses, h.dbid[i], "accounts", 0, 0, &h.accounts[i]), "create table accounts");
	}
	jetload_check(JetCreateTable(h.ses, h.dbid[0], "meta", 0, 0, &h.meta), "create table meta");
	jetload_check(JetBeginTransaction(h.ses), "JetBeginTransaction");
	for (unsigned long a = 0; a < b.conf.accounts; a++) {
		bank_key(a, key);
		bank_put_u64(val, BALANCE_START);
		bank_put_u64(val + 8, 0);
		jetload_check(rowkv_put(h.ses, h.accounts[a % b.conf.databases], key, 8, val, sizeof(val), 1), "insert account");
		if (a % 1000 == 999) {
			jetload_check(JetCommitTransaction(h.ses, JET_bitCommitLazyFlush), "commit");
			jetload_check(JetBeginTransaction(h.ses), "JetBeginTransaction");
		}
	}
	bank_put_u64(val, (uint64_t)b.conf.accounts * BALANCE_START);
	jetload_check(rowkv_put(h.ses, h.meta, "total", 5, val, 8, 1), "insert total");
	bank_put_u64(val, 0);
	jetload_check(rowkv_put(h.ses, h.meta, "commits", 7, val, 8, 1), "insert commits");
	jetload_check(JetCommitTransaction(h.ses, 0), "commit");
	bank_conf_write(dir, &b.conf);
	bank_handles_close(&h);
	jetload_check(JetTerm(b.inst), "JetTerm");
	printf("created %s: %lu accounts in %lu database(s), total %lu, log generations of %lu KiB%s\n", dir,
	    b.conf.accounts, b.conf.databases, b.conf.accounts * BALANCE_START, b.conf.log_kb,
	    b.conf.circular ? ", circular logging" : "");
	return 0;
}

struct worker {
	struct bank *b;
	unsigned long hot;		/* --hot: the accounts drawn from, 0..hot-1 (0: all) */
	unsigned seed;
	double rate;			/* per thread, 0: unlimited */
	int lazy;
	time_t end;
	JET_ERR err;
	char what[128];
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One transfer between two of the first n accounts; returns the commit counter it wrote, or an error. */
static JET_ERR
transfer(struct handles *h, const struct conf *conf, unsigned long n, unsigned *seed, int lazy, uint64_t *counterp)
{
	unsigned long from = (unsigned long)rand_r(seed) % n, to;
	uint8_t kf[8], kt[8], vf[VALUE_SIZE], vt[VALUE_SIZE], vc[8];
	uint64_t amount = (uint64_t)(rand_r(seed) % 50) + 1, counter;
	JET_ERR err;

	do
		to = (unsigned long)rand_r(seed) % n;
	while (to == from);
	bank_key(from, kf);
	bank_key(to, kt);
	if ((err = JetBeginTransaction(h->ses)) < 0)
		return err;
	if ((err = rowkv_get(h->ses, h->meta, "commits", 7, vc, 8)) < 0)
		goto fail;
	counter = bank_get_u64(vc) + 1;
	if ((err = rowkv_get(h->ses, h->accounts[from % conf->databases], kf, 8, vf, sizeof(vf))) < 0 ||
	    (err = rowkv_get(h->ses, h->accounts[to % conf->databases], kt, 8, vt, sizeof(vt))) < 0)
		goto fail;
	if (bank_get_u64(vf) < amount)
		amount = bank_get_u64(vf);
	bank_put_u64(vf, bank_get_u64(vf) - amount);
	bank_put_u64(vf + 8, counter);
	bank_put_u64(vt, bank_get_u64(vt) + amount);
	bank_put_u64(vt + 8, counter);
	bank_put_u64(vc, counter);
	if ((err = rowkv_put(h->ses, h->accounts[from % conf->databases], kf, 8, vf, sizeof(vf), 0)) < 0 ||
	    (err = rowkv_put(h->ses, h->accounts[to % conf->databases], kt, 8, vt, sizeof(vt), 0)) < 0 ||
	    (err = rowkv_put(h->ses, h->meta, "commits", 7, vc, 8, 0)) < 0)
		goto fail;
	if ((err = JetCommitTransaction(h->ses, lazy ? JET_bitCommitLazyFlush : 0)) < 0)
		return err;
	*counterp = counter;
	return JET_errSuccess;
fail:
	JetRollback(h->ses, 0);
	return err;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct handles h;
	double start = now_s();
	uint64_t n = 0, counter;

	bank_handles_open(w->b, &h);
	while (!stop_requested && (w->end == 0 || time(NULL) < w->end)) {
		if ((w->err = transfer(&h, &w->b->conf, w->hot ? w->hot : w->b->conf.accounts, &w->seed, w->lazy,
		    &counter)) < 0) {
			snprintf(w->what, sizeof(w->what), "transfer");
			stop_requested = 1;
			break;
		}
		n++;
		atomic_fetch_add(&done_transfers, 1);
		if (!w->lazy) {
			unsigned long long cur = atomic_load(&durable_commits);
			while (cur < counter && !atomic_compare_exchange_weak(&durable_commits, &cur, counter))
				;
		}
		if (w->rate > 0) {
			double due = start + (double)n / w->rate, t = now_s();
			if (due > t) {
				struct timespec ts = { (time_t)(due - t), (long)((due - t - (double)(time_t)(due - t)) * 1e9) };
				nanosleep(&ts, NULL);
			}
		}
	}
	bank_handles_close(&h);
	return NULL;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int
cmd_run(const char *dir, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' }, { "threads", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' }, { "lazy", no_argument, NULL, 'L' },
		{ "hot", required_argument, NULL, 'h' },
		{ "socket", required_argument, NULL, 'S' }, { "hold-time", required_argument, NULL, 'H' },
		{ "kept-max", required_argument, NULL, 'K' }, { "free-floor", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	struct bank b = { .dir = dir, .hold_s = -1, .kept_max_mb = -1, .free_floor_mb = -1 };
	unsigned long seconds = 0, threads = 1, rate = 0;
	int lazy = 0, c, rc = 0;
	double hot_pct = 100;
	unsigned long hot = 0;
	struct worker *w;
	pthread_t *tids;
	struct sigaction sa;
	double t0, last;
	unsigned long long last_done = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': seconds = parse_ulong(optarg, "--seconds", 0, 86400 * 365); break;
		case 't': threads = parse_ulong(optarg, "--threads", 1, 64); break;
		case 'r': rate = parse_ulong(optarg, "--rate", 0, 10000000); break;
		case 'L': lazy = 1; break;
		case 'h': hot_pct = parse_percent(optarg, "--hot"); break;
		case 'S': b.socket = optarg; break;
		case 'H': b.hold_s = (long)parse_ulong(optarg, "--hold-time", 0, 7 * 24 * 3600); break;
		case 'K': b.kept_max_mb = (long)parse_ulong(optarg, "--kept-max", 0, 1ul << 40); break;
		case 'F': b.free_floor_mb = (long)parse_ulong(optarg, "--free-floor", 0, 1ul << 40); break;
		default: return 2;
		}
	}
	if (optind != argc)
		jetload_die("run: unexpected argument '%s'", argv[optind]);
	bank_conf_read(dir, &b.conf);
	/* The hot set: the first accounts, so that it lies in few pages of each database (keys are in order). */
	if (hot_pct < 100) {
		hot = (unsigned long)((double)b.conf.accounts * hot_pct / 100 + 0.999999);
		if (hot < 2)
			hot = 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	bank_open_instance(&b, 0);
	{
		struct handles h;
		uint8_t vc[8];
		bank_handles_open(&b, &h);
		jetload_check(rowkv_get(h.ses, h.meta, "commits", 7, vc, 8), "read the commit counter");
		atomic_store(&durable_commits, bank_get_u64(vc));
		bank_handles_close(&h);
	}
	w = calloc(threads, sizeof(*w));
	tids = calloc(threads, sizeof(*tids));
	if (w == NULL || tids == NULL)
		jetload_die("out of memory");
	for (unsigned long i = 0; i < threads; i++) {
		w[i].b = &b;
		w[i].seed = (unsigned)(time(NULL) ^ (getpid() << 8) ^ (i * 7919));
		w[i].rate = rate ? (double)rate / (double)threads : 0;
		w[i].lazy = lazy;
		w[i].hot = hot;
		w[i].end = seconds ? time(NULL) + (time_t)seconds : 0;
		if (pthread_create(&tids[i], NULL, worker_main, &w[i]) != 0)
			jetload_die("cannot start a thread");
	}
	printf("running on %s: %lu thread(s)%s%s commits=%llu\n", dir, threads, lazy ? ", lazy commits" : "",
	    rate ? ", rate-limited" : "", (unsigned long long)atomic_load(&durable_commits));
	/* JetInit returned with the service listening: a recipe may wait for this line, not sleep. */
	if (b.socket != NULL)
		printf("socket ready: %s\n", b.socket);
	fflush(stdout);
	t0 = last = now_s();
	while (!stop_requested && (seconds == 0 || now_s() - t0 < (double)seconds)) {
		struct timespec ts = { 0, 250000000 };
		double t;
		nanosleep(&ts, NULL);
		if ((t = now_s()) - last >= 1.0) {
			unsigned long long done = atomic_load(&done_transfers);
			printf("commits=%llu tps=%.0f\n", (unsigned long long)atomic_load(&durable_commits),
			    (double)(done - last_done) / (t - last));
			fflush(stdout);
			last = t;
			last_done = done;
		}
	}
	stop_requested = 1;
	for (unsigned long i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		if (w[i].err < 0) {
			fprintf(stderr, "jetload: %s: %s (%s)\n", w[i].what, JetErrorString(w[i].err), JetErrorName(w[i].err));
			rc = 1;
		}
	}
	{
		double t = now_s() - t0;
		unsigned long long done = atomic_load(&done_transfers);
		printf("stopped: commits=%llu transfers=%llu in %.1f s (%.0f/s)\n",
		    (unsigned long long)atomic_load(&durable_commits), done, t, t > 0 ? (double)done / t : 0.0);
	}
	/* A backup a socket client left running must not keep the bank from shutting down. */
	jetload_check(b.socket != NULL ? JetTerm2(b.inst, JET_bitTermStopBackup) : JetTerm(b.inst), "JetTerm");
	free(w);
	free(tids);
	return rc;
}

static int
cmd_verify(const char *dir, int argc, char **argv)
{
	struct bank b = { .dir = dir, .hold_s = -1, .kept_max_mb = -1, .free_floor_mb = -1 };
	char *conf = bank_conf_path(dir);
	struct handles h;
	uint8_t key[8], val[VALUE_SIZE];
	uint64_t sum = 0, total, commits, seen = 0, max_last = 0, transferred = 0;
	unsigned long highest = 0;
	int bad = 0;
	JET_ERR err;

	if (argc > 1)
		jetload_die("verify: unexpected argument '%s'", argv[1]);
	if (access(conf, F_OK) == 0)
		bank_conf_read(dir, &b.conf);
	else
		bank_conf_from_databases(&b);
	free(conf);
	bank_open_instance(&b, 0);
	bank_handles_open(&b, &h);
	for (unsigned long i = 0; i < b.conf.databases; i++) {
		JET_JETFSVERIFY info = { .cbStruct = sizeof(info) };
		err = JetfsVerifyDatabase(h.ses, h.dbid[i], &info);
		printf("database %lu: %llu pages checked, %llu bad, %lu tables, %llu records%s%s\n", i,
		    info.cpagesChecked, info.cpagesBad, info.ctables, info.crecords, info.szProblem[0] ? ": " : "",
		    info.szProblem);
		if (err < 0) {
			fprintf(stderr, "jetload: database %lu failed verification: %s\n", i, JetErrorName(err));
			bad = 1;
		}
	}
	jetload_check(rowkv_get(h.ses, h.meta, "total", 5, val, 8), "read the total");
	total = bank_get_u64(val);
	/* create made the total BALANCE_START per account, and transfers keep it. */
	if (b.conf.accounts == 0)
		b.conf.accounts = (unsigned long)(total / BALANCE_START);
	jetload_check(rowkv_get(h.ses, h.meta, "commits", 7, val, 8), "read the commit counter");
	commits = bank_get_u64(val);
	for (unsigned long d = 0; d < b.conf.databases; d++) {
		for (err = JetMove(h.ses, h.accounts[d], JET_MoveFirst, 0); err >= 0;
		    err = JetMove(h.ses, h.accounts[d], JET_MoveNext, 0)) {
			unsigned long got;
			jetload_check(JetRetrieveColumn(h.ses, h.accounts[d], JET_columnidValue, val, sizeof(val), &got, 0, NULL),
			    "read an account");
			if (got != sizeof(val)) {
				fprintf(stderr, "jetload: an account record has %lu bytes\n", got);
				bad = 1;
			}
			sum += bank_get_u64(val);
			if (bank_get_u64(val + 8) > max_last)
				max_last = bank_get_u64(val + 8);
			if (bank_get_u64(val + 8) != 0) {
				jetload_check(JetRetrieveColumn(h.ses, h.accounts[d], JET_columnidKey, key, sizeof(key), &got, 0,
				    NULL), "read an account's key");
				transferred++;
				if (bank_account_of_key(key) > highest)
					highest = bank_account_of_key(key);
			}
			seen++;
		}
		if (err != JET_errNoCurrentRecord)
			jetload_check(err, "scan accounts");
	}
	if (seen != b.conf.accounts) {
		fprintf(stderr, "jetload: %llu accounts found, %lu expected\n", (unsigned long long)seen, b.conf.accounts);
		bad = 1;
	}
	if (sum != total) {
		fprintf(stderr, "jetload: balances sum to %llu, expected %llu\n", (unsigned long long)sum,
		    (unsigned long long)total);
		bad = 1;
	}
	if (max_last != commits) {
		fprintf(stderr, "jetload: the newest account change is transfer %llu but the counter says %llu\n",
		    (unsigned long long)max_last, (unsigned long long)commits);
		bad = 1;
	}
	bank_handles_close(&h);
	jetload_check(JetTerm(b.inst), "JetTerm");
	printf("accounts that took part in a transfer: %llu, the highest %lu\n", (unsigned long long)transferred,
	    highest);
	printf("%s: accounts=%llu total=%llu commits=%llu\n", bad ? "FAILED" : "ok", (unsigned long long)seen,
	    (unsigned long long)sum, (unsigned long long)commits);
	return bad;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: jetload create DIR [--accounts N] [--databases N] [--circular] [--log-size KB] [--cache PAGES]\n"
	    "       jetload run DIR [--seconds S] [--threads T] [--rate TPS] [--lazy] [--hot PCT] [--socket PATH]\n"
	    "                       [--hold-time S] [--kept-max MIB] [--free-floor MIB]\n"
	    "       jetload verify DIR\n");
}

int
main(int argc, char **argv)
{
	const char *cmd, *dir;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("jetload %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	if (os_fault_arm_from_env() < 0)
		jetload_die("JET_FAULT: bad fault specification");
	cmd = argv[1];
	dir = argv[2];
	argv[2] = argv[1];
	if (strcmp(cmd, "create") == 0)
		return cmd_create(dir, argc - 2, argv + 2);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(dir, argc - 2, argv + 2);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(dir, argc - 2, argv + 2);
	usage(stderr);
	return 2;
}

