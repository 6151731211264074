/*
 * check_log.c -- unit tests of the write-ahead log (src/log.c): names,
 * generation rollover, the reader, and recovery's answers to damaged log
 * sets (each must fail with ESE's error and leave every file untouched).
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format.h"
#include "testutil.h"

#define LOG_KB 64
#define CACHE_PAGES 1024	/* big enough that a checkpoint is not forced by dirty pages */
#define VAL_LEN 700
#define NREC 400		/* about 5 generations of 64 KiB */

static char *dir, *dir2, *bak;

static void
setup(void)
{
	dir = tu_tempdir();
	dir2 = tu_tempdir();
	bak = tu_tempdir();
}

static void
teardown(void)
{
	tu_rmdir(dir);
	tu_rmdir(dir2);
	tu_rmdir(bak);
	free(dir);
	free(dir2);
	free(bak);
	dir = dir2 = bak = NULL;
}

/* ---- workload ---- */

static void
key_of(int i, char *k)
{
	snprintf(k, 16, "key%06d", i);
}

static void
val_of(int i, uint8_t *v)
{
	for (int j = 0; j < VAL_LEN; j++)
		v[j] = (uint8_t)(i * 31 + j * 7 + (j >> 8));
}

/* Inserts records [from, to), one transaction each. */
static void
put_range(JET_SESID ses, JET_TABLEID t, int from, int to, JET_GRBIT commit)
{
	uint8_t v[VAL_LEN];
	char k[16];

	for (int i = from; i < to; i++) {
		key_of(i, k);
		val_of(i, v);
		CK(JetBeginTransaction(ses));
		CK(tu_put(ses, t, k, strlen(k), v, VAL_LEN));
		CK(JetCommitTransaction(ses, commit));
	}
}

static void
check_range(JET_SESID ses, JET_TABLEID t, int from, int to)
{
	uint8_t v[VAL_LEN];
	char k[16];

	for (int i = from; i < to; i++) {
		void *got;
		size_t len;
		key_of(i, k);
		val_of(i, v);
		CK(tu_get(ses, t, k, strlen(k), &got, &len));
		ck_assert_msg(len == VAL_LEN && memcmp(got, v, VAL_LEN) == 0, "record %d differs", i);
		free(got);
	}
}

/*
 * Runs an instance in d: inserts [from, to) (lazy commits, then one durable
 * commit that makes all of them durable) and ends it, abruptly or not.
 */
static void
run_work(const char *d, int from, int to, int abrupt)
{
	JET_INSTANCE inst = tu_instance(d, LOG_KB, CACHE_PAGES);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;

	CK(JetInit(&inst));
	tu_open_db(inst, d, "data.edb", &ses, &dbid, &t);
	if (to - 1 > from)
		put_range(ses, t, from, to - 1, JET_bitCommitLazyFlush);
	put_range(ses, t, to - 1, to, 0);
	CK(JetTerm2(inst, abrupt ? JET_bitTermAbrupt : JET_bitTermComplete));
}

/* Starts an instance on d (recovering), checks [from, to), ends it cleanly. */
static void
verify_data(const char *d, int from, int to)
{
	JET_INSTANCE inst = tu_instance(d, LOG_KB, CACHE_PAGES);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;

	CK(JetInit(&inst));
	tu_open_db(inst, d, "data.edb", &ses, &dbid, &t);
	check_range(ses, t, from, to);
	CK(JetTerm(inst));
}

/* Tries JetInit on d; returns its error (the instance is freed). */
static JET_ERR
try_init(const char *d)
{
	JET_INSTANCE inst = tu_instance(d, LOG_KB, CACHE_PAGES);
	JET_ERR err = JetInit(&inst);

	if (err >= 0)
		CK(JetTerm2(inst, JET_bitTermAbrupt));
	else
		CK(JetTerm(inst));
	return err;
}

/* ---- files ---- */

static char *
gen_path(const char *d, uint32_t gen)
{
	char name[32];

	if (gen <= 0xFFFFF)
		snprintf(name, sizeof(name), "edb%05X.log", gen);
	else
		snprintf(name, sizeof(name), "edb%08X.log", gen);
	return tu_path(d, name);
}

/* Closed generations in d: lowest and highest (0 if none), and their count. */
static size_t
scan_gens(const char *d, uint32_t *lo, uint32_t *hi)
{
	DIR *dp = opendir(d);
	struct dirent *de;
	size_t n = 0;
	uint32_t g;

	ck_assert(dp != NULL);
	*lo = UINT32_MAX;
	*hi = 0;
	while ((de = readdir(dp)) != NULL)
		if (log_parse_name("edb", de->d_name, &g)) {
			n++;
			if (g < *lo)
				*lo = g;
			if (g > *hi)
				*hi = g;
		}
	closedir(dp);
	if (n == 0)
		*lo = 0;
	return n;
}

static void
read_log_header(const char *path, struct log_file_header *h)
{
	os_file *f;

	CK(os_open(path, OS_READ, &f));
	CK(log_header_read(f, h));
	os_close(f);
}

static uint8_t *
slurp(const char *path, size_t *lenp)
{
	struct stat st;
	uint8_t *buf;
	int fd;

	ck_assert_msg(stat(path, &st) == 0, "%s missing", path);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert(buf != NULL);
	fd = open(path, O_RDONLY);
	ck_assert(fd >= 0);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*lenp = (size_t)st.st_size;
	return buf;
}

static void
spew(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_msg(fd >= 0, "create %s", path);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* A snapshot of every file in a directory: name, size, CRC-32C. */
#define SNAP_MAX 64
struct snap {
	size_t n;
	char name[SNAP_MAX][64];
	size_t size[SNAP_MAX];
	uint32_t crc[SNAP_MAX];
};

static int
name_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void
snap_take(const char *d, struct snap *s)
{
	DIR *dp = opendir(d);
	struct dirent *de;

	ck_assert(dp != NULL);
	memset(s, 0, sizeof(*s));
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		ck_assert(s->n < SNAP_MAX);
		ck_assert(strlen(de->d_name) < sizeof(s->name[0]));
		strcpy(s->name[s->n++], de->d_name);
	}
	closedir(dp);
	qsort(s->name, s->n, sizeof(s->name[0]), name_cmp);
	for (size_t i = 0; i < s->n; i++) {
		char *p = tu_path(d, s->name[i]);
		uint8_t *buf = slurp(p, &s->size[i]);
		s->crc[i] = crc32c(0, buf, s->size[i]);
		free(buf);
		free(p);
	}
}

static void
snap_assert_same(const struct snap *a, const struct snap *b)
{
	ck_assert_msg(a->n == b->n, "%zu files before, %zu after", a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		ck_assert_str_eq(a->name[i], b->name[i]);
		ck_assert_msg(a->size[i] == b->size[i], "%s changed size", a->name[i]);
		ck_assert_msg(a->crc[i] == b->crc[i], "%s changed", a->name[i]);
	}
}

/* Copies every file of from into to. */
static void
copy_dir(const char *from, const char *to)
{
	char *cmd;

	ck_assert(asprintf(&cmd, "cp -p '%s'/* '%s'/", from, to) > 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

/* ---- a crashed log set ---- */

struct crashed {
	uint32_t ck_gen;	/* generation of the checkpoint */
	uint32_t lo, hi;	/* closed generations on disk */
};

/*
 * Leaves in d a log set after an abrupt stop: [0, n) committed, several
 * closed generations past the checkpoint's, so that recovery reads them.
 * A pristine copy of every file goes to bak.
 */
static void
make_crashed(const char *d, int n, struct crashed *c)
{
	struct checkpoint_state ck;
	char *chk = tu_path(d, "edb.chk");

	run_work(d, 0, n, 1);
	CK(checkpoint_read(chk, &ck));
	c->ck_gen = ck.gen;
	checkpoint_state_free(&ck);
	ck_assert_uint_ge(scan_gens(d, &c->lo, &c->hi), 3);
	ck_assert_uint_le(c->lo, c->ck_gen);
	/* recovery must need at least two closed generations after the checkpoint's */
	ck_assert_msg(c->hi >= c->ck_gen + 2, "checkpoint at generation %u, last closed %u", c->ck_gen, c->hi);
	if (bak != NULL && d == dir)
		copy_dir(d, bak);
	free(chk);
}

/* Puts the pristine files back and checks that the set then recovers. */
static void
restore_and_recover(int n)
{
	copy_dir(bak, dir);
	verify_data(dir, 0, n);
}

/* The offset and payload length of the first segment of a log file. */
static void
first_segment(const char *path, uint64_t *offp, uint32_t *lenp)
{
	size_t len;
	uint8_t *buf = slurp(path, &len);

	ck_assert_uint_ge(len, LOG_HDR_SIZE + LOG_SECTOR);
	ck_assert_uint_eq(get32(buf + LOG_HDR_SIZE), SEG_MAGIC);
	*offp = LOG_HDR_SIZE;
	*lenp = get32(buf + LOG_HDR_SIZE + SEG_OFF_LEN);
	ck_assert_uint_gt(*lenp, 0);
	free(buf);
}

/*
 * Walks the valid segments of a log file (magic, checksum, generation);
 * returns their count and the offset and total size of the last one.
 */
static int
last_segment(const char *path, uint64_t *offp, size_t *sizep)
{
	size_t len;
	uint8_t *buf = slurp(path, &len);
	struct log_file_header h;
	uint64_t off = LOG_HDR_SIZE;
	int n = 0;

	read_log_header(path, &h);
	while (off + LOG_SEG_HDR <= len) {
		uint8_t *s = buf + off;
		uint32_t plen = get32(s + SEG_OFF_LEN);
		size_t total = (LOG_SEG_HDR + plen + LOG_SECTOR - 1) & ~(size_t)(LOG_SECTOR - 1);
		if (get32(s + SEG_OFF_MAGIC) != SEG_MAGIC || get32(s + SEG_OFF_GEN) != h.gen ||
		    off + LOG_SEG_HDR + plen > len ||
		    get32(s + SEG_OFF_CRC) != crc32c(0, s + SEG_OFF_GEN, LOG_SEG_HDR - SEG_OFF_GEN + plen))
			break;
		*offp = off;
		*sizep = total;
		n++;
		off += total;
	}
	free(buf);
	return n;
}

/* ---- names ---- */

START_TEST(test_parse_name)
{
	static const struct {
		const char *name;
		uint32_t gen;
	} good[] = {
		{ "edb00001.log", 1 },
		{ "edb0000A.log", 10 },
		{ "edb0000000A.log", 10 },
		{ "edbFFFFF.log", 0xFFFFF },
		{ "edb00100000.log", 0x100000 },
		{ "edb12345.log", 0x12345 },
		{ "edbABCDE.log", 0xABCDE },
	};
	static const char *const bad[] = {
		"edb0001.log", "edb00001.LOG", "edbg0001.log", "edb.log", "xyz00001.log",
		"edb00000.log", "edb000001.log", "edb0000a.log", "edb00001.log.bak", "edb00001.lo",
		"edbtmp.log", "edb.chk", "edb00001", "", "edb0000000000.log", "edb-0001.log",
		"edb 0001.log", "EDB00001.log", "edb7FFFFFFF.log",
	};
	uint32_t gen;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		gen = 0;
		ck_assert_msg(log_parse_name("edb", good[i].name, &gen) == 1, "%s rejected", good[i].name);
		ck_assert_msg(gen == good[i].gen, "%s: generation %u", good[i].name, gen);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gen = 12345;
		ck_assert_msg(log_parse_name("edb", bad[i], &gen) == 0, "%s accepted", bad[i]);
		ck_assert_uint_eq(gen, 12345);
	}
	/* another base name */
	ck_assert(log_parse_name("xyz", "xyz00001.log", &gen) && gen == 1);
	ck_assert(!log_parse_name("xyz", "edb00001.log", &gen));
}
END_TEST

START_TEST(test_gen_path_names)
{
	struct jet_inst *inst = calloc(1, sizeof(*inst));
	static const struct {
		uint32_t gen;
		const char *name;
	} cases[] = {
		{ 1, "edb00001.log" }, { 0x1F, "edb0001F.log" }, { 0xFFFFF, "edbFFFFF.log" },
		{ 0x100000, "edb00100000.log" }, { 0x7FFFF000, "edb7FFFF000.log" },
	};

	ck_assert(inst != NULL);
	snprintf(inst->p.log_path, sizeof(inst->p.log_path), "/some/dir");
	snprintf(inst->p.system_path, sizeof(inst->p.system_path), "/sys/dir");
	snprintf(inst->p.base_name, sizeof(inst->p.base_name), "edb");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = log_gen_path(inst, cases[i].gen), want[64];
		uint32_t gen = 0;
		snprintf(want, sizeof(want), "/some/dir/%s", cases[i].name);
		ck_assert_str_eq(p, want);
		/* names the engine makes are names it parses back */
		ck_assert(log_parse_name("edb", cases[i].name, &gen));
		ck_assert_uint_eq(gen, cases[i].gen);
		free(p);
	}
	{
		char *p = log_cur_path(inst), *c = checkpoint_path(inst);
		ck_assert_str_eq(p, "/some/dir/edb.log");
		ck_assert_str_eq(c, "/sys/dir/edb.chk");
		free(p);
		free(c);
	}
	free(inst);
}
END_TEST

/* ---- the log file header ---- */

START_TEST(test_log_header)
{
	struct log_file_header h, d;
	uint8_t *buf = calloc(1, 65536);
	char *p = tu_path(dir, "hdr.log");
	os_file *f;

	ck_assert(buf != NULL);
	memset(&h, 0, sizeof(h));
	h.gen = 0x1234;
	h.file_size = 65536;
	h.page_size = 8192;
	h.flags = LOGF_CIRCULAR;
	h.time_create = 0x1111222233334444ull;
	h.time_prev = 0x5555666677778888ull;
	dbhdr_sig_make(&h.sign_log);
	h.first_lsn = 0x99990000ull;
	h.first_record_lsn = 0x99990010ull;
	h.ckpt_lsn = 0x1000;
	h.ckpt_gen = 0x1230;
	memcpy(h.base, "edb", 4);
	log_header_encode(&h, buf);
	/* Literal offsets on purpose: they pin the format against format.h. */
	ck_assert_uint_eq(buf[667], JET_filetypeLog);
	ck_assert_uint_eq(get32(buf + 12), JET_filetypeLog);
	spew(p, buf, 65536);
	CK(os_open(p, OS_READ, &f));
	CK(log_header_read(f, &d));
	os_close(f);
	ck_assert_uint_eq(d.gen, h.gen);
	ck_assert_uint_eq(d.file_size, h.file_size);
	ck_assert_uint_eq(d.page_size, h.page_size);
	ck_assert_uint_eq(d.flags, h.flags);
	ck_assert_uint_eq(d.time_create, h.time_create);
	ck_assert_uint_eq(d.time_prev, h.time_prev);
	ck_assert(dbhdr_sig_equal(&d.sign_log, &h.sign_log));
	ck_assert_uint_eq(d.first_lsn, h.first_lsn);
	ck_assert_uint_eq(d.first_record_lsn, h.first_record_lsn);
	ck_assert_uint_eq(d.ckpt_lsn, h.ckpt_lsn);
	ck_assert_uint_eq(d.ckpt_gen, h.ckpt_gen);
	ck_assert_str_eq(d.base, "edb");

	/* a flipped byte */
	buf[200] ^= 4;
	spew(p, buf, 65536);
	CK(os_open(p, OS_READ, &f));
	CK_ERR(log_header_read(f, &d), JET_errLogFileCorrupt);
	os_close(f);
	buf[200] ^= 4;
	/* a future version (checksum recomputed) */
	put32(buf + 8, LOG_VERSION + 1);
	put32(buf, crc32c(0, buf + 4, LOG_HDR_SIZE - 4));
	spew(p, buf, 65536);
	CK(os_open(p, OS_READ, &f));
	CK_ERR(log_header_read(f, &d), JET_errBadLogVersion);
	os_close(f);
	/* a header claiming a bigger file than there is */
	log_header_encode(&h, buf);
	spew(p, buf, 32768 + 4096);
	CK(os_open(p, OS_READ, &f));
	CK_ERR(log_header_read(f, &d), JET_errLogFileCorrupt);
	os_close(f);
	/* shorter than a header */
	spew(p, buf, 100);
	CK(os_open(p, OS_READ, &f));
	CK_ERR(log_header_read(f, &d), JET_errLogFileCorrupt);
	os_close(f);
	/* generation 0 */
	h.gen = 0;
	log_header_encode(&h, buf);
	spew(p, buf, 65536);
	CK(os_open(p, OS_READ, &f));
	CK_ERR(log_header_read(f, &d), JET_errLogFileCorrupt);
	os_close(f);
	free(buf);
	free(p);
}
END_TEST

/* ---- rollover ---- */

START_TEST(test_rollover)
{
	JET_INSTANCE inst = tu_instance(dir, 64, 64);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	uint32_t lo, hi, lo2, hi2;
	size_t n;
	struct log_file_header prev, h;
	char *cur = tu_path(dir, "edb.log"), *tmp = tu_path(dir, "edbtmp.log");
	struct stat st;

	CK(JetInit(&inst));
	tu_open_db(inst, dir, "data.edb", &ses, &dbid, &t);
	put_range(ses, t, 0, NREC, 0);
	check_range(ses, t, 0, NREC);
	n = scan_gens(dir, &lo, &hi);
	CK(JetTerm(inst));

	/* edb.log is the current generation, edb00001.log ... the closed ones */
	ck_assert_uint_ge(n, 3);
	ck_assert_uint_eq(lo, 1);
	ck_assert_uint_eq(hi, n);
	ck_assert_uint_eq(scan_gens(dir, &lo2, &hi2), n);	/* a clean stop does not roll */
	ck_assert(os_exists(cur));
	/* edbtmp.log, when present, is the next generation prepared in advance:
	 * zero-filled, never a valid log file. */
	if (os_exists(tmp)) {
		os_file *f;
		struct log_file_header th;
		CK(os_open(tmp, OS_READ, &f));
		ck_assert_int_eq(log_header_read(f, &th), JET_errLogFileCorrupt);
		os_close(f);
	}
	for (uint32_t g = 1; g <= hi + 1; g++) {
		char *p = g <= hi ? gen_path(dir, g) : strdup(cur);
		read_log_header(p, &h);
		ck_assert_msg(h.gen == g, "%s holds generation %u", p, h.gen);
		ck_assert_uint_eq(h.file_size, 64 * 1024);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_int_eq(st.st_size, 64 * 1024);
		ck_assert_str_eq(h.base, "edb");
		if (g > 1) {
			ck_assert(dbhdr_sig_equal(&h.sign_log, &prev.sign_log));
			ck_assert_uint_eq(h.time_prev, prev.time_create);
			ck_assert_uint_gt(h.time_create, prev.time_create);
			ck_assert_uint_gt(h.first_lsn, prev.first_lsn);
			ck_assert_uint_ge(h.first_record_lsn, h.first_lsn);
		} else
			ck_assert_uint_eq(h.first_lsn, 1);
		prev = h;
		free(p);
	}

	/* the data survives a restart; the restart closes edb.log as the next generation */
	verify_data(dir, 0, NREC);
	n = scan_gens(dir, &lo2, &hi2);
	ck_assert_uint_eq(lo2, 1);
	ck_assert_uint_ge(hi2, hi + 1);
	ck_assert_uint_eq(n, hi2);
	read_log_header(cur, &h);
	ck_assert_uint_eq(h.gen, hi2 + 1);
	{
		char *p = gen_path(dir, hi + 1);
		read_log_header(p, &h);
		ck_assert(dbhdr_sig_equal(&h.sign_log, &prev.sign_log));
		ck_assert_uint_eq(h.time_create, prev.time_create);	/* the same file, renamed */
		free(p);
	}
	free(cur);
	free(tmp);
}
END_TEST

/* A crash in a child process (no JetTerm at all): the parent recovers. */
START_TEST(test_crash_child_recovers)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		JET_INSTANCE inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
		JET_SESID ses;
		JET_DBID dbid;
		JET_TABLEID t;
		if (JetInit(&inst) < 0)
			_exit(1);
		tu_open_db(inst, dir, "data.edb", &ses, &dbid, &t);
		put_range(ses, t, 0, 300, 0);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		uint32_t lo, hi;
		ck_assert_uint_ge(scan_gens(dir, &lo, &hi), 2);
	}
	verify_data(dir, 0, 300);
	/* and again: recovery left a consistent set */
	verify_data(dir, 0, 300);
}
END_TEST

/* ---- damaged log sets ---- */

START_TEST(test_bad_flipped_segment)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *p;
	uint64_t off;
	uint32_t len;
	size_t flen;
	uint8_t *buf;

	make_crashed(dir, NREC, &c);
	p = gen_path(dir, c.ck_gen + 1);
	first_segment(p, &off, &len);
	buf = slurp(p, &flen);
	buf[off + LOG_SEG_HDR + len / 2] ^= 0x40;	/* inside the payload */
	spew(p, buf, flen);
	free(buf);
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errLogFileCorrupt);
	free(p);
	restore_and_recover(NREC);
}
END_TEST

/* A byte flipped in a segment header (its LSN) is corruption too. */
START_TEST(test_bad_segment_header)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *p;
	uint64_t off;
	uint32_t len;

	make_crashed(dir, NREC, &c);
	p = gen_path(dir, c.ck_gen + 1);
	first_segment(p, &off, &len);
	{
		size_t flen;
		uint8_t *buf = slurp(p, &flen);
		buf[off + 24] ^= 0x01;		/* LSN of the first payload byte */
		spew(p, buf, flen);
		free(buf);
	}
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errLogFileCorrupt);
	free(p);
	restore_and_recover(NREC);
}
END_TEST

START_TEST(test_bad_missing_generation)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *p;

	make_crashed(dir, NREC, &c);
	p = gen_path(dir, c.ck_gen + 1);
	ck_assert_int_eq(unlink(p), 0);
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errMissingLogFile);
	free(p);
	restore_and_recover(NREC);
}
END_TEST

/* The generation the checkpoint points at is itself missing. */
START_TEST(test_bad_missing_checkpoint_generation)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *p;

	make_crashed(dir, NREC, &c);
	p = gen_path(dir, c.ck_gen);
	ck_assert_int_eq(unlink(p), 0);
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errMissingLogFile);
	free(p);
	restore_and_recover(NREC);
}
END_TEST

START_TEST(test_bad_foreign_log)
{
	struct crashed c, c2;
	struct snap before, after;
	char *mine, *theirs;
	JET_INSTANCE inst;
	JET_ERR err;

	make_crashed(dir, NREC, &c);
	make_crashed(dir2, NREC, &c2);
	ck_assert_uint_ge(c2.hi, c.ck_gen + 1);
	mine = gen_path(dir, c.ck_gen + 1);
	theirs = gen_path(dir2, c.ck_gen + 1);
	tu_copy_file(theirs, mine);
	snap_take(dir, &before);
	inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	err = JetInit(&inst);
	ck_assert_msg(err == JET_errBadLogSignature || err == JET_errInvalidLogSequence,
	    "JetInit -> %s (%ld)", JetErrorName(err), err);
	CK(JetTerm(inst));
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	free(mine);
	free(theirs);
	restore_and_recover(NREC);
}
END_TEST

/* A generation of the same log set but out of place (a stale copy of another one). */
START_TEST(test_bad_wrong_generation_in_place)
{
	struct crashed c;
	struct snap before, after;
	char *a, *b;
	JET_INSTANCE inst;
	JET_ERR err;

	make_crashed(dir, NREC, &c);
	a = gen_path(dir, c.ck_gen + 1);
	b = gen_path(dir, c.ck_gen + 2);
	tu_copy_file(b, a);		/* generation g+2's file named g+1 */
	snap_take(dir, &before);
	inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	err = JetInit(&inst);
	ck_assert_msg(err == JET_errLogGenerationMismatch || err == JET_errInvalidLogSequence ||
	    err == JET_errMissingLogFile, "JetInit -> %s (%ld)", JetErrorName(err), err);
	CK(JetTerm(inst));
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	free(a);
	free(b);
	restore_and_recover(NREC);
}
END_TEST

START_TEST(test_bad_garbage_header)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *p;
	size_t flen;
	uint8_t *buf;
	uint32_t x = 0x9E3779B9u;

	make_crashed(dir, NREC, &c);
	p = gen_path(dir, c.ck_gen + 1);
	buf = slurp(p, &flen);
	for (size_t i = 0; i < LOG_HDR_SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	spew(p, buf, flen);
	free(buf);
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errLogFileCorrupt);
	free(p);
	restore_and_recover(NREC);
}
END_TEST

/* A log file cut short (smaller than its header says). */
START_TEST(test_bad_truncated_generation)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *p;

	make_crashed(dir, NREC, &c);
	p = gen_path(dir, c.ck_gen + 1);
	ck_assert_int_eq(truncate(p, 8192), 0);
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errLogFileCorrupt);
	free(p);
	restore_and_recover(NREC);
}
END_TEST

START_TEST(test_bad_checkpoint_corrupt)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *chk = tu_path(dir, "edb.chk");

	make_crashed(dir, NREC, &c);
	tu_scribble(chk, 24, 2, 0xC3);		/* the checkpoint LSN */
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errCheckpointCorrupt);
	/* cut short */
	ck_assert_int_eq(truncate(chk, 100), 0);
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errCheckpointCorrupt);
	free(chk);
	restore_and_recover(NREC);
}
END_TEST

START_TEST(test_bad_checkpoint_missing)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *chk = tu_path(dir, "edb.chk");

	make_crashed(dir, NREC, &c);
	ck_assert_int_eq(unlink(chk), 0);
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errCheckpointFileNotFound);
	ck_assert(!os_exists(chk));
	free(chk);
	restore_and_recover(NREC);
}
END_TEST

/* Garbage in edb.log's header: the current generation is unusable. */
START_TEST(test_bad_current_garbage_header)
{
	struct crashed c;
	struct snap before, after;
	JET_ERR err;
	char *cur = tu_path(dir, "edb.log");

	make_crashed(dir, NREC, &c);
	tu_scribble(cur, 0, LOG_HDR_SIZE, 0x6B);
	snap_take(dir, &before);
	err = try_init(dir);
	snap_take(dir, &after);
	snap_assert_same(&before, &after);
	CK_ERR(err, JET_errLogFileCorrupt);
	free(cur);
	restore_and_recover(NREC);
}
END_TEST

/* A torn last segment in edb.log is the end of the log, not corruption. */
START_TEST(test_torn_tail)
{
	JET_INSTANCE inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	char *cur = tu_path(dir, "edb.log");
	uint64_t off = 0;
	size_t size = 0;
	int nseg, extra = 0;

	CK(JetInit(&inst));
	tu_open_db(inst, dir, "data.edb", &ses, &dbid, &t);
	put_range(ses, t, 0, NREC - 1, JET_bitCommitLazyFlush);
	put_range(ses, t, NREC - 1, NREC, 0);		/* everything so far is durable */
	/* then durable commits of their own, until edb.log holds two segments or more */
	do {
		char k[16];
		snprintf(k, sizeof(k), "tail%d", extra++);
		CK(JetBeginTransaction(ses));
		CK(tu_put(ses, t, k, strlen(k), "x", 1));
		CK(JetCommitTransaction(ses, 0));
		nseg = last_segment(cur, &off, &size);
	} while (nseg < 2 && extra < 50);
	ck_assert_int_ge(nseg, 2);
	CK(JetTerm2(inst, JET_bitTermAbrupt));

	/* tear the last segment: keep its first 100 bytes, then garbage */
	ck_assert_uint_ge(size, LOG_SECTOR);
	tu_scribble(cur, off + 100, size - 100, 0xE7);
	ck_assert_int_eq(last_segment(cur, &off, &size), nseg - 1);
	verify_data(dir, 0, NREC);

	/* the log goes on after the tear, and a later restart finds everything */
	inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	CK(JetInit(&inst));
	tu_open_db(inst, dir, "data.edb", &ses, &dbid, &t);
	put_range(ses, t, NREC, NREC + 50, 0);
	CK(JetTerm2(inst, JET_bitTermAbrupt));
	verify_data(dir, 0, NREC + 50);
	free(cur);
}
END_TEST

/* Garbage appended after the valid end of edb.log (stale bytes, not a segment). */
START_TEST(test_garbage_after_tail)
{
	JET_INSTANCE inst = tu_instance(dir, LOG_KB, CACHE_PAGES);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	char *cur = tu_path(dir, "edb.log");
	uint64_t off = 0;
	size_t size = 0;
	int nseg;

	CK(JetInit(&inst));
	tu_open_db(inst, dir, "data.edb", &ses, &dbid, &t);
	put_range(ses, t, 0, 100, 0);
	CK(JetTerm2(inst, JET_bitTermAbrupt));
	nseg = last_segment(cur, &off, &size);
	ck_assert_int_ge(nseg, 1);
	if (off + size + 3 * LOG_SECTOR <= LOG_KB * 1024)
		tu_scribble(cur, off + size, 3 * LOG_SECTOR, 0x4A);	/* 'J' bytes: like a magic, never valid */
	verify_data(dir, 0, 100);
	free(cur);
}
END_TEST

/* ---- the reader ---- */

struct recinfo {
	lsn_t lsn;
	size_t len;
	uint32_t crc;
	uint8_t type;
};

/* An instance that only carries "no events" for the reader. */
static struct jet_inst *
quiet_inst(void)
{
	static struct jet_inst *q;

	if (q == NULL) {
		q = calloc(1, sizeof(*q));
		ck_assert(q != NULL);
		q->p.event_target = getenv("JET_TEST_EVENTS") ? JET_JetfsEventStderr : JET_JetfsEventNone;
		snprintf(q->name, sizeof(q->name), "reader");
	}
	return q;
}

/* Reads every record from first_gen on; returns the count. */
static size_t
read_all(const char *d, uint32_t first_gen, uint32_t last_gen, lsn_t seek, struct recinfo *out, size_t max,
    uint32_t *end_gen)
{
	struct log_reader r;
	size_t n = 0;
	uint8_t *rec;
	size_t len;
	lsn_t lsn;
	JET_ERR err = JET_errSuccess;
	int rc;

	CK(log_reader_open(&r, quiet_inst(), d, "edb", first_gen, last_gen, NULL));
	if (seek != 0)
		CK(log_reader_seek(&r, seek));
	while ((rc = log_reader_next(&r, &rec, &len, &lsn, &err)) == 1) {
		ck_assert(n < max);
		ck_assert_uint_eq(get32(rec), len);
		out[n].lsn = lsn;
		out[n].len = len;
		out[n].crc = crc32c(0, rec, len);
		out[n].type = rec[4];
		n++;
	}
	ck_assert_msg(rc == 0, "log_reader_next -> %d (%s)", rc, JetErrorName(err));
	if (end_gen != NULL)
		*end_gen = r.gen;
	log_reader_close(&r);
	return n;
}

#define MAXREC 4096

START_TEST(test_reader_order)
{
	struct recinfo *all = calloc(MAXREC, sizeof(*all)), *part = calloc(MAXREC, sizeof(*part));
	uint32_t lo, hi, end_gen;
	size_t n, ntxn = 0, ncreate = 0;
	struct log_file_header h3;

	ck_assert(all != NULL && part != NULL);
	run_work(dir, 0, NREC, 0);
	ck_assert_uint_ge(scan_gens(dir, &lo, &hi), 3);
	ck_assert_uint_eq(lo, 1);

	n = read_all(dir, 1, 0, 0, all, MAXREC, &end_gen);
	ck_assert_uint_eq(end_gen, hi + 1);		/* read through edb.log */
	ck_assert_uint_eq(all[0].lsn, 1);
	for (size_t i = 0; i < n; i++) {
		ck_assert(all[i].type >= LREC_TXN && all[i].type < LREC_MAX);
		if (all[i].type == LREC_TXN)
			ntxn++;
		if (all[i].type == LREC_CREATEDB)
			ncreate++;
		if (i > 0) {
			ck_assert_uint_gt(all[i].lsn, all[i - 1].lsn);
			ck_assert_msg(all[i].lsn == all[i - 1].lsn + all[i - 1].len,
			    "record %zu at %llu, previous ends at %llu", i, (unsigned long long)all[i].lsn,
			    (unsigned long long)(all[i - 1].lsn + all[i - 1].len));
		}
	}
	ck_assert_uint_ge(ntxn, NREC);
	ck_assert_uint_eq(ncreate, 1);

	/* from generation 3: the records starting at its first record boundary */
	{
		char *p = gen_path(dir, 3);
		read_log_header(p, &h3);
		free(p);
	}
	{
		size_t k = 0, m = read_all(dir, 3, 0, 0, part, MAXREC, NULL);
		while (k < n && all[k].lsn < h3.first_record_lsn)
			k++;
		ck_assert_uint_gt(k, 0);
		ck_assert_uint_eq(m, n - k);
		for (size_t i = 0; i < m; i++) {
			ck_assert_uint_eq(part[i].lsn, all[k + i].lsn);
			ck_assert_uint_eq(part[i].crc, all[k + i].crc);
		}
	}
	/* seek to a record in the middle of generation 3 */
	{
		size_t k = 0, m;
		while (k < n && all[k].lsn < h3.first_record_lsn)
			k++;
		k += 3;
		ck_assert_uint_lt(k, n);
		m = read_all(dir, 3, 0, all[k].lsn, part, MAXREC, NULL);
		ck_assert_uint_eq(m, n - k);
		ck_assert_uint_eq(part[0].lsn, all[k].lsn);
		ck_assert_uint_eq(part[0].crc, all[k].crc);
		ck_assert_uint_eq(part[m - 1].lsn, all[n - 1].lsn);
	}
	/* stop after generation 2: whole records that end within it */
	{
		size_t m = read_all(dir, 1, 2, 0, part, MAXREC, &end_gen), k = 0;
		ck_assert_uint_eq(end_gen, 2);
		while (k < n && all[k].lsn + all[k].len <= h3.first_lsn)
			k++;
		ck_assert_uint_eq(m, k);
		ck_assert_uint_gt(m, 0);
		for (size_t i = 0; i < m; i++)
			ck_assert_uint_eq(part[i].crc, all[i].crc);
	}
	free(all);
	free(part);
}
END_TEST

/* The reader checks the signature and reports damage with ESE's codes. */
START_TEST(test_reader_errors)
{
	struct log_reader r;
	struct log_file_header h;
	struct jet_sig other;
	uint32_t lo, hi;
	char *p;

	run_work(dir, 0, 250, 0);
	ck_assert_uint_ge(scan_gens(dir, &lo, &hi), 2);
	p = gen_path(dir, 1);
	read_log_header(p, &h);

	/* the right signature opens, another one does not */
	CK(log_reader_open(&r, quiet_inst(), dir, "edb", 1, 0, &h.sign_log));
	log_reader_close(&r);
	other = h.sign_log;
	other.random ^= 1;
	CK_ERR(log_reader_open(&r, quiet_inst(), dir, "edb", 1, 0, &other), JET_errBadLogSignature);
	log_reader_close(&r);
	/* a generation that is not there (and is not edb.log either) */
	CK_ERR(log_reader_open(&r, quiet_inst(), dir, "edb", hi + 5, 0, NULL), JET_errMissingLogFile);
	log_reader_close(&r);
	/* a closed generation that holds another generation */
	{
		char *q = gen_path(dir, 2);
		tu_copy_file(p, q);
		CK_ERR(log_reader_open(&r, quiet_inst(), dir, "edb", 2, 0, NULL), JET_errLogGenerationMismatch);
		log_reader_close(&r);
		free(q);
	}
	/* reading across the copied file: generation 1 is followed by a mismatch */
	{
		uint8_t *rec;
		size_t len;
		lsn_t lsn;
		JET_ERR err = JET_errSuccess;
		int rc;
		CK(log_reader_open(&r, quiet_inst(), dir, "edb", 1, 0, NULL));
		while ((rc = log_reader_next(&r, &rec, &len, &lsn, &err)) == 1)
			;
		ck_assert_int_eq(rc, -1);
		CK_ERR(err, JET_errLogGenerationMismatch);
		log_reader_close(&r);
	}
	free(p);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *names = tcase_create("names");
	TCase *run = tcase_create("run");
	TCase *bad = tcase_create("bad");
	TCase *reader = tcase_create("reader");

	tcase_add_checked_fixture(names, setup, teardown);
	tcase_add_test(names, test_parse_name);
	tcase_add_test(names, test_gen_path_names);
	tcase_add_test(names, test_log_header);
	suite_add_tcase(s, names);

	tcase_add_checked_fixture(run, setup, teardown);
	tcase_set_timeout(run, 60);
	tcase_add_test(run, test_rollover);
	tcase_add_test(run, test_crash_child_recovers);
	tcase_add_test(run, test_torn_tail);
	tcase_add_test(run, test_garbage_after_tail);
	suite_add_tcase(s, run);

	tcase_add_checked_fixture(bad, setup, teardown);
	tcase_set_timeout(bad, 60);
	tcase_add_test(bad, test_bad_flipped_segment);
	tcase_add_test(bad, test_bad_segment_header);
	tcase_add_test(bad, test_bad_missing_generation);
	tcase_add_test(bad, test_bad_missing_checkpoint_generation);
	tcase_add_test(bad, test_bad_foreign_log);
	tcase_add_test(bad, test_bad_wrong_generation_in_place);
	tcase_add_test(bad, test_bad_garbage_header);
	tcase_add_test(bad, test_bad_truncated_generation);
	tcase_add_test(bad, test_bad_checkpoint_corrupt);
	tcase_add_test(bad, test_bad_checkpoint_missing);
	tcase_add_test(bad, test_bad_current_garbage_header);
	suite_add_tcase(s, bad);

	tcase_add_checked_fixture(reader, setup, teardown);
	tcase_set_timeout(reader, 60);
	tcase_add_test(reader, test_reader_order);
	tcase_add_test(reader, test_reader_errors);
	suite_add_tcase(s, reader);
	return s;
}

int
main(void)
{
	return tu_run(log_suite());
}
