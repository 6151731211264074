/*
 * check_bksvc.c -- the backup service (bksvc.c) and its client (bkclient.c):
 * a point-in-time backup of a live instance over the socket, restored and
 * checked; the same call sequence on a local and a remote handle gives the
 * same results; one client at a time; a client that dies aborts its backup,
 * or leaves it held for a takeover by its uid until the hold expires;
 * malformed input never hurts the server; other uids are refused.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define NKEYS 300
#define WAIT_MS 10000		/* bound of every "wait for the server to notice" loop */

struct srv {
	char *dir;
	char *sock;
	char *dbpath;
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
};

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
key_of(char *buf, size_t len, const char *prefix, unsigned long n)
{
	snprintf(buf, len, "%s%06lu", prefix, n);
}

static void
put_str(JET_SESID ses, JET_TABLEID t, const char *key, const char *val)
{
	CK(tu_put(ses, t, key, strlen(key), val, strlen(val) + 1));
}

/* An instance in a new directory serving its backup on dir/bk.sock, with NKEYS records "k..." = "v0-...". */
static void
srv_start(struct srv *s, unsigned long log_kb)
{
	char key[32], val[160];

	memset(s, 0, sizeof(*s));
	s->dir = tu_tempdir();
	s->sock = tu_path(s->dir, "bk.sock");
	s->dbpath = tu_path(s->dir, "a.edb");
	s->inst = tu_instance(s->dir, log_kb, 512);
	CK(JetSetSystemParameter(&s->inst, 0, JET_paramJetfsBackupSocket, 0, s->sock));
	/* ESE's behaviour, a lost client's backup aborted at once; the hold_ tests set a hold. */
	CK(JetSetSystemParameter(&s->inst, 0, JET_paramJetfsBackupHoldTime, 0, NULL));
	CK(JetInit(&s->inst));
	tu_open_db(s->inst, s->dir, "a.edb", &s->ses, &s->dbid, &s->t);
	CK(JetBeginTransaction(s->ses));
	for (unsigned long i = 0; i < NKEYS; i++) {
		key_of(key, sizeof(key), "k", i);
		snprintf(val, sizeof(val), "v0-%06lu-%0120lu", i, i);
		put_str(s->ses, s->t, key, val);
	}
	CK(JetCommitTransaction(s->ses, 0));
}

static void
srv_stop(struct srv *s)
{
	if (s->inst != 0) {
		CK(JetEndSession(s->ses, 0));
		CK(JetTerm2(s->inst, JET_bitTermStopBackup));
	}
	tu_rmdir(s->dir);
	free(s->dir);
	free(s->sock);
	free(s->dbpath);
}

/* Connects, retrying while the server still serves a previous client (bounded). */
static JET_INSTANCE
connect_retry(const char *sock)
{
	JET_INSTANCE r = 0;
	JET_ERR err = JET_errSuccess;

	for (int i = 0; i < WAIT_MS / 10; i++) {
		if ((err = JetfsConnectBackup(sock, &r)) != JET_errBackupInProgress)
			break;
		sleep_ms(10);
	}
	ck_assert_msg(err >= 0, "JetfsConnectBackup -> %s", JetErrorName(err));
	return r;
}

/* The server still serves: a new client can begin and end a backup. */
static void
served_again(const char *sock)
{
	JET_INSTANCE r = connect_retry(sock);
	JET_ERR err = JET_errBackupInProgress;

	/* A backup a dropped client left may take the server a moment to abort. */
	for (int i = 0; i < WAIT_MS / 10 && err == JET_errBackupInProgress; i++)
		if ((err = JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime)) == JET_errBackupInProgress)
			sleep_ms(10);
	CK(err);
	CK(JetEndExternalBackupInstance2(r, JET_bitBackupEndAbort));
	CK(JetfsDisconnectBackup(r));
}

/* ---- raw protocol, for malformed input ---- */

static int
raw_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ck_assert(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
	return fd;
}

static void
raw_send(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void
raw_req(int fd, uint32_t op, uint32_t seq, const void *payload, uint32_t n)
{
	uint8_t buf[64];

	ck_assert(n <= sizeof(buf) - 12);
	put32(buf, 8 + n);
	put32(buf + 4, op);
	put32(buf + 8, seq);
	if (n > 0)
		memcpy(buf + 12, payload, n);
	raw_send(fd, buf, 12 + n);
}

/* Reads n bytes within the bound; returns the bytes read (< n: end of file). */
static size_t
raw_read(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;
		ck_assert_msg(poll(&p, 1, WAIT_MS) == 1, "no answer from the server within %d ms", WAIT_MS);
		r = recv(fd, (uint8_t *)buf + got, n - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Reads one reply; its payload goes to payload (cap bytes).  Returns 0, or -1 at end of file. */
static int
raw_reply(int fd, uint32_t *seq, JET_ERR *status, uint8_t *payload, size_t cap, uint32_t *plen)
{
	uint8_t hdr[12];

	if (raw_read(fd, hdr, 12) < 12)
		return -1;
	ck_assert_uint_ge(get32(hdr), 8);
	ck_assert_uint_le(get32(hdr) - 8, cap);
	*seq = get32(hdr + 4);
	*status = (JET_ERR)(int32_t)get32(hdr + 8);
	*plen = get32(hdr) - 8;
	ck_assert_uint_eq(raw_read(fd, payload, *plen), *plen);
	return 0;
}

static void
raw_expect(int fd, uint32_t want_seq, JET_ERR want)
{
	uint8_t payload[64];
	uint32_t seq, plen;
	JET_ERR status;

	ck_assert_msg(raw_reply(fd, &seq, &status, payload, sizeof(payload), &plen) == 0, "no reply");
	ck_assert_uint_eq(seq, want_seq);
	ck_assert_msg(status == want, "status %s, expected %s", JetErrorName(status), JetErrorName(want));
}

/* Reads until the server closes (bounded); returns the bytes that came before. */
static size_t
raw_expect_eof(int fd)
{
	uint8_t sink[256];
	size_t n, total = 0;

	while ((n = raw_read(fd, sink, sizeof(sink))) == sizeof(sink))
		total += n;
	return total + n;
}

/* A connection that said Hello with this protocol version (retried while the server still serves a previous client). */
static int
raw_hello_version(const char *sock, uint32_t version)
{
	for (int i = 0; i < WAIT_MS / 10; i++) {
		int fd = raw_connect(sock);
		uint8_t p[64];
		uint32_t seq, plen;
		JET_ERR status;

		put32(p, BKPROTO_MAGIC);
		put32(p + 4, version);
		raw_req(fd, BKPROTO_HELLO, 1, p, 8);
		ck_assert_int_eq(raw_reply(fd, &seq, &status, p, sizeof(p), &plen), 0);
		if (seq == 0 && status == JET_errBackupInProgress) {
			close(fd);
			sleep_ms(10);
			continue;
		}
		ck_assert_uint_eq(seq, 1);
		CK(status);
		return fd;
	}
	ck_abort_msg("the server stays busy");
	return -1;
}

static int
raw_hello(const char *sock)
{
	return raw_hello_version(sock, BKPROTO_VERSION);
}

/* One reply and the descriptors that came with it (at most maxfds are kept; the count is returned). */
static int
raw_reply_fds(int fd, uint32_t *seq, JET_ERR *status, uint8_t *payload, size_t cap, uint32_t *plen, int *fds,
    int maxfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	uint8_t hdr[12];
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr msg;
	struct pollfd pfd = { fd, POLLIN, 0 };
	int n = 0;
	ssize_t r;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "no answer from the server within %d ms", WAIT_MS);
	/* Descriptors come with the reply's first byte, which a read does not join to the bytes after it. */
	r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	ck_assert_int_gt(r, 0);
	ck_assert_uint_eq(raw_read(fd, hdr + r, 12 - (size_t)r), 12 - (size_t)r);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int got;
				memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (n < maxfds)
					fds[n] = got;
				else
					close(got);
				n++;
			}
	*seq = get32(hdr + 4);
	*status = (JET_ERR)(int32_t)get32(hdr + 8);
	*plen = get32(hdr) - 8;
	ck_assert_uint_le(*plen, cap);
	ck_assert_uint_eq(raw_read(fd, payload, *plen), *plen);
	return n;
}

/* ---- a full point-in-time backup of a live instance ---- */

/*
 * ShareFile and NoteServed (protocol version 2): the descriptors of a
 * point-in-time file, read-only; a version 1 client, a wrong handle, an ESE
 * mode backup or a range past the end get an error and no descriptor.
 */
START_TEST(test_share_file)
{
	struct srv s;
	uint8_t p[64], *reply = malloc(64 + 2 * 32768);
	uint32_t seq, plen, next;
	uint64_t h, size;
	JET_ERR st;
	int fd, fds[8], n;
	struct stat sb;

	ck_assert_ptr_nonnull(reply);
	srv_start(&s, 256);

	/* Version 1 speaks no ShareFile. */
	fd = raw_hello_version(s.sock, 1);
	put64(p, 1);
	raw_req(fd, BKPROTO_SHARE_FILE, 2, p, 8);
	raw_expect(fd, 2, JET_errFeatureNotAvailable);
	close(fd);

	fd = raw_hello(s.sock);
	raw_req(fd, BKPROTO_SHARE_FILE, 2, p, 8);
	raw_expect(fd, 2, JET_errNoBackup);
	raw_req(fd, BKPROTO_SHARE_FILE, 3, p, 4);
	raw_expect(fd, 3, JET_errInvalidParameter);
	put32(p, JET_bitBackupJetfsPointInTime);
	raw_req(fd, BKPROTO_BEGIN, 4, p, 4);
	raw_expect(fd, 4, JET_errSuccess);
	raw_req(fd, BKPROTO_OPEN_FILE, 5, s.dbpath, (uint32_t)strlen(s.dbpath));
	ck_assert_int_eq(raw_reply(fd, &seq, &st, reply, 64, &plen), 0);
	CK(st);
	ck_assert_uint_eq(plen, 16);
	h = get64(reply);
	size = get64(reply + 8);

	put64(p, h);
	raw_req(fd, BKPROTO_SHARE_FILE, 6, p, 8);
	n = raw_reply_fds(fd, &seq, &st, reply, 64 + 2 * 32768, &plen, fds, 8);
	CK(st);
	/* The database file, the backup's state, the spill file, the kept-page map. */
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(get64(reply), size);
	ck_assert_uint_eq(get32(reply + 16), 4);
	ck_assert_uint_eq(get32(reply + 20), 2);
	ck_assert_uint_eq(plen, 24 + 2 * get32(reply + 8));
	ck_assert_uint_eq((get32(reply + 12) + 3ull) * get32(reply + 8), size);
	for (int i = 0; i < 4; i++) {
		/* Read-only: the backup's reader can never write the database, its images or the map. */
		ck_assert_int_eq(fstat(fds[i], &sb), 0);
		ck_assert(S_ISREG(sb.st_mode));
		errno = 0;
		ck_assert_int_eq(write(fds[i], "x", 1), -1);
		ck_assert_int_eq(errno, EBADF);
	}
	ck_assert_int_eq(pread(fds[1], p, 4, BKS_OFF_MAGIC), 4);
	ck_assert_uint_eq(get32(p), BKS_MAGIC);
	ck_assert_int_eq(pread(fds[3], p, 4, KPM_OFF_MAGIC), 4);
	ck_assert_uint_eq(get32(p), KPM_MAGIC);
	for (int i = 0; i < 4; i++)
		close(fds[i]);

	/* A wrong handle: an error, no descriptor. */
	put64(p, h + 1000);
	raw_req(fd, BKPROTO_SHARE_FILE, 7, p, 8);
	ck_assert_int_eq(raw_reply_fds(fd, &seq, &st, reply, 64, &plen, fds, 8), 0);
	ck_assert_int_eq(st, JET_errInvalidParameter);

	/* NoteServed: inside the file only. */
	put64(p, h);
	put64(p + 8, size);
	put64(p + 16, 1);
	raw_req(fd, BKPROTO_NOTE_SERVED, 8, p, 24);
	raw_expect(fd, 8, JET_errInvalidParameter);
	put64(p + 8, 0);
	put64(p + 16, UINT64_MAX);
	raw_req(fd, BKPROTO_NOTE_SERVED, 9, p, 24);
	raw_expect(fd, 9, JET_errInvalidParameter);
	raw_req(fd, BKPROTO_NOTE_SERVED, 10, p, 20);
	raw_expect(fd, 10, JET_errInvalidParameter);
	put64(p + 16, size);
	raw_req(fd, BKPROTO_NOTE_SERVED, 11, p, 24);
	raw_expect(fd, 11, JET_errSuccess);
	put32(p, JET_bitBackupEndAbort);
	raw_req(fd, BKPROTO_END, 12, p, 4);
	raw_expect(fd, 12, JET_errSuccess);

	/* ESE mode: nothing to share (its reads are sequential, through the instance). */
	put32(p, 0);
	raw_req(fd, BKPROTO_BEGIN, 13, p, 4);
	raw_expect(fd, 13, JET_errSuccess);
	raw_req(fd, BKPROTO_OPEN_FILE, 14, s.dbpath, (uint32_t)strlen(s.dbpath));
	ck_assert_int_eq(raw_reply(fd, &seq, &st, reply, 64, &plen), 0);
	CK(st);
	put64(p, get64(reply));
	raw_req(fd, BKPROTO_SHARE_FILE, 15, p, 8);
	ck_assert_int_eq(raw_reply_fds(fd, &seq, &st, reply, 64, &plen, fds, 8), 0);
	ck_assert_int_eq(st, JET_errInvalidBackupSequence);
	next = 16;
	put32(p, JET_bitBackupEndAbort);
	raw_req(fd, BKPROTO_END, next, p, 4);
	raw_expect(fd, next, JET_errSuccess);
	close(fd);
	free(reply);
	srv_stop(&s);
}
END_TEST

struct writer {
	JET_INSTANCE inst;
	const char *dir;
	atomic_int stop;
	atomic_ulong committed;		/* counter of the last commit that returned */
	JET_ERR err;
};

/* Transaction c: "ctr" = c, "w<c>" = value, and "k<c % NKEYS>" = "v1-<c>". */
static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	char key[32], val[200];
	JET_ERR err = JET_errSuccess;

	tu_open_db(w->inst, w->dir, "a.edb", &ses, &dbid, &t);
	for (unsigned long c = 1; !atomic_load(&w->stop) && err >= 0; c++) {
		uint8_t cb[8];
		put64(cb, c);
		if ((err = JetBeginTransaction(ses)) < 0)
			break;
		key_of(key, sizeof(key), "w", c);
		snprintf(val, sizeof(val), "w-%06lu-%0150lu", c, c);
		if ((err = tu_put(ses, t, key, strlen(key), val, strlen(val) + 1)) >= 0 &&
		    (err = tu_put(ses, t, "ctr", 3, cb, 8)) >= 0) {
			key_of(key, sizeof(key), "k", c % NKEYS);
			snprintf(val, sizeof(val), "v1-%06lu-%0120lu", c, c);
			err = tu_put(ses, t, key, strlen(key), val, strlen(val) + 1);
		}
		if (err < 0) {
			JetRollback(ses, 0);
			break;
		}
		if ((err = JetCommitTransaction(ses, JET_bitCommitLazyFlush)) >= 0)
			atomic_store(&w->committed, c);
	}
	w->err = err;
	JetEndSession(ses, 0);
	return NULL;
}

static uint8_t *
aligned(size_t n)
{
	void *p;

	ck_assert(posix_memalign(&p, 4096, n) == 0);
	memset(p, 0xA5, n);
	return p;
}

static const char *
base_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void
write_file(const char *dir, const char *name, const uint8_t *data, size_t n)
{
	char *path = tu_path(dir, name);
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	free(path);
}

/* Reads a whole backup file twice, with JetfsReadFileAt and JetReadFileInstance; both must agree. */
static uint8_t *
read_both_ways(JET_INSTANCE r, const char *name, size_t *sizep)
{
	JET_HANDLE h;
	unsigned long lo, hi, got;
	uint64_t size, off = 0;
	uint8_t *at, *seq;
	size_t cap, n = 0;

	CK(JetOpenFileInstance(r, name, &h, &lo, &hi));
	size = (uint64_t)hi << 32 | lo;
	ck_assert_uint_gt(size, 0);
	/* Positional, in odd pieces, the second half first. */
	at = malloc(size + 1);
	ck_assert(at != NULL);
	for (int pass = 0; pass < 2; pass++) {
		uint64_t from = pass == 0 ? size / 2 : 0, to = pass == 0 ? size : size / 2;
		for (off = from; off < to; off += got) {
			unsigned long want = to - off < 100003 ? (unsigned long)(to - off) : 100003;
			CK(JetfsReadFileAt(r, h, off, at + off, want, &got));
			ck_assert_uint_eq(got, want);
		}
	}
	/* Past the end: nothing. */
	CK(JetfsReadFileAt(r, h, size, at, 10, &got));
	ck_assert_uint_eq(got, 0);
	/* Sequential, ESE's rules: 16 MiB reads (split by the client into 8 MiB requests). */
	cap = 16u << 20;
	seq = aligned((size_t)size + cap);
	for (;;) {
		CK(JetReadFileInstance(r, h, seq + n, (unsigned long)cap, &got));
		if (got == 0)
			break;
		n += got;
		ck_assert_uint_le(n, size);
		if (got < cap)	/* then n is no longer a multiple of 4096: the next read must be the end */
			ck_assert_uint_eq(n, size);
	}
	ck_assert_uint_eq(n, size);
	ck_assert_msg(memcmp(at, seq, size) == 0, "%s: positional and sequential reads differ", name);
	free(seq);
	CK(JetCloseFileInstance(r, h));
	*sizep = (size_t)size;
	return at;
}

struct reader {
	JET_INSTANCE r;
	JET_HANDLE h;
	const uint8_t *expect;
	size_t size;
	unsigned seed;
	int bad;
	JET_ERR err;
};

/* Random positional reads from several threads (the FUSE driver's pattern). */
static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	uint8_t *buf = malloc(70000);

	for (int i = 0; i < 60 && buf != NULL; i++) {
		unsigned long off = (unsigned long)rand_r(&rd->seed) % rd->size, got;
		unsigned long n = 1 + (unsigned long)rand_r(&rd->seed) % 70000;
		if ((rd->err = JetfsReadFileAt(rd->r, rd->h, off, buf, n, &got)) < 0)
			break;
		if (got != (off + n > rd->size ? rd->size - off : n) || memcmp(buf, rd->expect + off, got) != 0)
			rd->bad++;
	}
	free(buf);
	return NULL;
}

static void
check_restored(const char *target, unsigned long lo, unsigned long hi_bound)
{
	JET_INSTANCE inst = tu_instance(target, 9216, 512);
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	char key[32], val[200];
	void *v;
	size_t len;
	unsigned long c;

	CK(JetInit(&inst));
	tu_open_db(inst, target, "a.edb", &ses, &dbid, &t);
	CK(tu_get(ses, t, "ctr", 3, &v, &len));
	ck_assert_uint_eq(len, 8);
	c = (unsigned long)get64(v);
	free(v);
	ck_assert_msg(c >= lo && c <= hi_bound, "restored counter %lu outside [%lu, %lu]", c, lo, hi_bound);
	for (unsigned long i = 1; i <= c; i++) {
		key_of(key, sizeof(key), "w", i);
		CK(tu_get(ses, t, key, strlen(key), &v, &len));
		snprintf(val, sizeof(val), "w-%06lu-%0150lu", i, i);
		ck_assert_str_eq(v, val);
		free(v);
	}
	key_of(key, sizeof(key), "w", c + 1);
	CK_ERR(tu_get(ses, t, key, strlen(key), &v, &len), JET_errRecordNotFound);
	for (unsigned long i = 0; i < NKEYS; i++) {
		unsigned long last = c >= i ? c - (c - i) % NKEYS : 0;	/* newest transaction <= c that wrote k<i> */
		key_of(key, sizeof(key), "k", i);
		CK(tu_get(ses, t, key, strlen(key), &v, &len));
		if (last >= 1 && last % NKEYS == i)
			snprintf(val, sizeof(val), "v1-%06lu-%0120lu", last, last);
		else
			snprintf(val, sizeof(val), "v0-%06lu-%0120lu", i, i);
		ck_assert_str_eq(v, val);
		free(v);
	}
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
}

START_TEST(test_full_pit_backup)
{
	struct srv s;
	struct writer w;
	pthread_t wt;
	JET_INSTANCE r;
	char *bkdir, *target, szz[8192], logs[65536];
	unsigned long cb = 0, lo, hi_bound, c_begin;
	JET_LOGINFO li = { sizeof(li), 0, 0, "" };
	struct stat st;
	size_t size;

	srv_start(&s, 9216);	/* 9 MiB generations: sequential reads of logs are split */
	bkdir = tu_path(s.dir, "set");
	target = tu_path(s.dir, "restored");
	ck_assert_int_eq(mkdir(bkdir, 0700), 0);
	ck_assert_int_eq(stat(s.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));

	memset(&w, 0, sizeof(w));
	w.inst = s.inst;
	w.dir = s.dir;
	ck_assert_int_eq(pthread_create(&wt, NULL, writer_main, &w), 0);
	while (atomic_load(&w.committed) < 100)
		sleep_ms(1);

	CK(JetfsConnectBackup(s.sock, &r));
	lo = atomic_load(&w.committed);
	CK(JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime));
	c_begin = atomic_load(&w.committed);
	hi_bound = c_begin + 1;
	/* Let the writer overwrite pages the backup still needs. */
	while (atomic_load(&w.committed) < c_begin + 200)
		sleep_ms(1);

	/* Lists, with ESE's A-variant buffer rules. */
	CK(JetGetAttachInfoInstance(r, NULL, 0, &cb));
	ck_assert_uint_eq(cb, strlen(s.dbpath) + 2);
	CK_ERR(JetGetAttachInfoInstance(r, szz, 3, &cb), JET_errBufferTooSmall);
	ck_assert_uint_eq(cb, strlen(s.dbpath) + 2);
	CK(JetGetAttachInfoInstance(r, szz, sizeof(szz), &cb));
	ck_assert_str_eq(szz, s.dbpath);
	ck_assert_int_eq(szz[strlen(szz) + 1], '\0');

	/* Every file, both ways; a database read from several threads at once. */
	{
		uint8_t *db = read_both_ways(r, szz, &size);
		struct reader rd[4];
		pthread_t rt[4];
		JET_HANDLE h;
		unsigned long l, hgh;
		write_file(bkdir, base_of(szz), db, size);
		CK(JetOpenFileInstance(r, szz, &h, &l, &hgh));
		for (int i = 0; i < 4; i++) {
			rd[i] = (struct reader){ r, h, db, size, (unsigned)i * 7919u + 1, 0, 0 };
			ck_assert_int_eq(pthread_create(&rt[i], NULL, reader_main, &rd[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(rt[i], NULL);
			CK(rd[i].err);
			ck_assert_int_eq(rd[i].bad, 0);
		}
		CK(JetCloseFileInstance(r, h));
		free(db);
	}
	CK(JetGetLogInfoInstance2(r, logs, sizeof(logs), &cb, &li));
	ck_assert_str_eq(li.szBaseName, "edb");
	ck_assert_uint_le(li.ulGenLow, li.ulGenHigh);
	{
		unsigned long n = 0;
		for (const char *p = logs; *p; p += strlen(p) + 1) {
			uint8_t *data = read_both_ways(r, p, &size);
			ck_assert_uint_eq(size, 9216u * 1024);
			write_file(bkdir, base_of(p), data, size);
			free(data);
			n++;
		}
		ck_assert_uint_eq(n, li.ulGenHigh - li.ulGenLow + 1);
	}
	CK(JetEndExternalBackupInstance2(r, JET_bitBackupEndNormal));
	CK_ERR(JetEndExternalBackupInstance2(r, JET_bitBackupEndNormal), JET_errNoBackup);
	CK(JetfsDisconnectBackup(r));
	CK_ERR(JetBeginExternalBackupInstance(r, 0), JET_errInvalidParameter);

	atomic_store(&w.stop, 1);
	pthread_join(wt, NULL);
	CK(w.err);
	ck_assert_uint_gt(atomic_load(&w.committed), hi_bound);

	{
		const char *sets[1] = { bkdir };
		CK(JetfsRestoreSets(sets, 1, target, NULL, 0, NULL));
	}
	check_restored(target, lo, hi_bound);
	free(bkdir);
	free(target);
	srv_stop(&s);
}
END_TEST

/* ---- the same calls, local and remote, give the same results ---- */

#define NRES 96

struct script {
	JET_ERR err[NRES];
	unsigned long val[NRES];
	int n;
};

static void
rec(struct script *sc, JET_ERR err, unsigned long val)
{
	ck_assert_int_lt(sc->n, NRES);
	sc->err[sc->n] = err;
	sc->val[sc->n] = val;
	sc->n++;
}

static void
run_script(JET_INSTANCE r, const char *dbpath, struct script *sc)
{
	char szz[4096];
	unsigned long cb, got, lo, hi;
	JET_HANDLE h, h2;
	JET_LOGINFO li = { sizeof(li), 0, 0, "" }, small = { 4, 0, 0, "" };
	uint8_t *buf = aligned(1u << 20);
	JET_ERR err;

	memset(sc, 0, sizeof(*sc));
	cb = 7;
	rec(sc, JetGetAttachInfoInstance(r, szz, sizeof(szz), &cb), cb);
	rec(sc, JetEndExternalBackupInstance2(r, JET_bitBackupEndNormal), 0);
	rec(sc, JetEndExternalBackupInstance2(r, 0), 0);
	rec(sc, JetEndExternalBackupInstance2(r, JET_bitBackupEndNormal | 0x1000), 0);
	rec(sc, JetOpenFileInstance(r, NULL, &h, &lo, &hi), 0);
	rec(sc, JetReadFileInstance(r, 1, buf, 65536, &got), 0);
	rec(sc, JetStopBackupInstance(r), 0);
	rec(sc, JetBeginExternalBackupInstance(r, JET_bitBackupSnapshot), 0);
	rec(sc, JetBeginExternalBackupInstance(r, JET_bitBackupAtomic), 0);
	rec(sc, JetBeginExternalBackupInstance(r, (JET_GRBIT)1 << 40), 0);

	/* ESE mode. */
	rec(sc, JetBeginExternalBackupInstance(r, 0), 0);
	rec(sc, JetBeginExternalBackupInstance(r, 0), 0);
	cb = 7;
	rec(sc, JetGetAttachInfoInstance(r, NULL, 0, &cb), cb);
	cb = 7;
	rec(sc, JetGetAttachInfoInstance(r, szz, 1, &cb), cb);
	cb = 7;
	rec(sc, JetGetAttachInfoInstance(r, NULL, 100, &cb), cb);
	rec(sc, JetGetAttachInfoInstance(r, szz, sizeof(szz), NULL), 0);
	cb = 7;
	rec(sc, JetGetAttachInfoInstance(r, szz, sizeof(szz), &cb), cb);
	rec(sc, strcmp(szz, dbpath), 0);
	rec(sc, JetOpenFileInstance(r, NULL, &h, &lo, &hi), 0);
	rec(sc, JetOpenFileInstance(r, "", &h, &lo, &hi), 0);
	rec(sc, JetOpenFileInstance(r, dbpath, NULL, &lo, &hi), 0);
	rec(sc, JetOpenFileInstance(r, "/nonexistent/x.edb", &h, &lo, &hi), 0);
	h = 0;
	lo = hi = 7;
	err = JetOpenFileInstance(r, dbpath, &h, &lo, &hi);
	rec(sc, err, h);
	rec(sc, JetOpenFileInstance(r, dbpath, &h2, NULL, NULL), 0);	/* a second file: ESE says OutOfMemory */
	got = 7;
	rec(sc, JetReadFileInstance(r, h, buf + 1, 65536, &got), got);
	rec(sc, JetReadFileInstance(r, h, NULL, 65536, &got), got);
	rec(sc, JetReadFileInstance(r, h, buf, 65536, NULL), 0);
	rec(sc, JetReadFileInstance(r, h, buf, 8192, &got), got);		/* first read <= 2 pages */
	rec(sc, JetReadFileInstance(r, h, buf, 65537, &got), got);
	rec(sc, JetReadFileInstance(r, h, buf, 0, &got), got);
	rec(sc, JetReadFileInstance(r, 99, buf, 65536, &got), got);
	rec(sc, JetfsReadFileAt(r, h, 0, buf, 100, &got), got);	/* not point-in-time */
	{
		unsigned long total = 0;
		do {
			got = 7;
			err = JetReadFileInstance(r, h, buf, 1u << 20, &got);
			total += got;
		} while (err >= 0 && got > 0);
		rec(sc, err, total);
		rec(sc, (JET_ERR)0, total == ((unsigned long)hi << 32 | lo));
	}
	rec(sc, JetCloseFileInstance(r, h), 0);
	rec(sc, JetCloseFileInstance(r, h), 0);
	rec(sc, JetTruncateLogInstance(r), 0);				/* before GetLogInfo */
	rec(sc, JetGetLogInfoInstance2(r, szz, sizeof(szz), &cb, &small), 0);
	li.ulGenLow = li.ulGenHigh = 0;
	cb = 7;
	err = JetGetLogInfoInstance2(r, NULL, 0, &cb, &li);
	rec(sc, err, li.ulGenHigh >= li.ulGenLow && li.ulGenLow > 0 && strcmp(li.szBaseName, "edb") == 0);
	cb = 7;
	rec(sc, JetGetLogInfoInstance2(r, szz, 2, &cb, NULL), cb > 2);
	rec(sc, JetGetLogInfoInstance(r, szz, sizeof(szz), &cb), cb > 2);
	rec(sc, JetGetTruncateLogInfoInstance(r, NULL, 0, &cb), 0);
	rec(sc, JetOpenFileInstance(r, dbpath, &h, &lo, &hi), 0);		/* a database after the log list */
	rec(sc, JetTruncateLogInstance(r), 0);
	rec(sc, JetEndExternalBackupInstance2(r, JET_bitBackupEndNormal), 0);

	/* Stop. */
	rec(sc, JetBeginExternalBackupInstance(r, 0), 0);
	rec(sc, JetStopBackupInstance(r), 0);
	rec(sc, JetGetAttachInfoInstance(r, NULL, 0, &cb), 0);
	rec(sc, JetOpenFileInstance(r, dbpath, &h, &lo, &hi), 0);
	rec(sc, JetTruncateLogInstance(r), 0);
	rec(sc, JetEndExternalBackupInstance2(r, 0), 0);
	rec(sc, JetEndExternalBackupInstance2(r, JET_bitBackupEndNormal), 0);
	rec(sc, JetEndExternalBackupInstance2(r, JET_bitBackupEndNormal), 0);
	rec(sc, JetStopBackupInstance(r), 0);

	/* Point-in-time. */
	rec(sc, JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime), 0);
	cb = 7;
	rec(sc, JetGetLogInfoInstance2(r, szz, sizeof(szz), &cb, &li), cb > 2);
	h = h2 = 0;
	rec(sc, JetOpenFileInstance(r, dbpath, &h, &lo, &hi), 0);
	rec(sc, JetOpenFileInstance(r, szz, &h2, NULL, NULL), h2 != h);	/* several files open */
	got = 7;
	rec(sc, JetfsReadFileAt(r, h, 0, NULL, 0, &got), got);
	got = 7;
	rec(sc, JetfsReadFileAt(r, h, 0, NULL, 10, &got), got);
	rec(sc, JetfsReadFileAt(r, h, 0, buf, 10, NULL), 0);
	got = 7;
	rec(sc, JetfsReadFileAt(r, h, ((unsigned long long)hi << 32 | lo) + 100, buf, 10, &got), got);
	got = 7;
	rec(sc, JetfsReadFileAt(r, h, ((unsigned long long)hi << 32 | lo) - 5, buf + 3, 10, &got), got);
	got = 7;
	rec(sc, JetfsReadFileAt(r, 77, 0, buf, 10, &got), got);
	rec(sc, JetCloseFileInstance(r, h2), 0);
	rec(sc, JetEndExternalBackupInstance2(r, JET_bitBackupEndAbort), 0);
	rec(sc, JetCloseFileInstance(r, h), 0);
	free(buf);
}

START_TEST(test_same_as_local)
{
	struct srv s;
	struct script local, remote;
	JET_INSTANCE r;

	srv_start(&s, 256);
	run_script(s.inst, s.dbpath, &local);
	CK(JetfsConnectBackup(s.sock, &r));
	run_script(r, s.dbpath, &remote);
	CK(JetfsDisconnectBackup(r));
	ck_assert_int_eq(local.n, remote.n);
	for (int i = 0; i < local.n; i++)
		ck_assert_msg(local.err[i] == remote.err[i] && local.val[i] == remote.val[i],
		    "step %d: local %s / %lu, remote %s / %lu", i, JetErrorName(local.err[i]), local.val[i],
		    JetErrorName(remote.err[i]), remote.val[i]);
	srv_stop(&s);
}
END_TEST

/* ---- the socket file ---- */

START_TEST(test_socket_file)
{
	struct srv s, s2;
	JET_INSTANCE inst2;
	struct stat st;
	char *other, *file;
	int fd;

	srv_start(&s, 256);
	ck_assert_int_eq(lstat(s.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_uid, geteuid());

	/* A second instance on the same live socket does not start. */
	other = tu_tempdir();
	inst2 = tu_instance(other, 256, 64);
	CK(JetSetSystemParameter(&inst2, 0, JET_paramJetfsBackupSocket, 0, s.sock));
	CK_ERR(JetInit(&inst2), JET_errInvalidPath);
	CK(JetTerm(inst2));
	ck_assert_int_eq(lstat(s.sock, &st), 0);	/* still the first one's */
	served_again(s.sock);

	/* Nor on a path that is not a socket. */
	file = tu_path(other, "plain");
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	ck_assert(fd >= 0);
	close(fd);
	inst2 = tu_instance(other, 256, 64);
	CK(JetSetSystemParameter(&inst2, 0, JET_paramJetfsBackupSocket, 0, file));
	CK_ERR(JetInit(&inst2), JET_errInvalidPath);
	CK(JetTerm(inst2));
	ck_assert_int_eq(access(file, F_OK), 0);
	free(file);
	tu_rmdir(other);
	free(other);

	/* JetTerm removes the socket; a stale one (nobody answers) is replaced. */
	{
		char *sock = strdup(s.sock), *dir = strdup(s.dir);
		struct sockaddr_un sa;
		CK(JetEndSession(s.ses, 0));
		CK(JetTerm(s.inst));
		ck_assert_int_eq(access(sock, F_OK), -1);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, sock, strlen(sock));
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
		ck_assert_int_eq(lstat(sock, &st), 0);
		memset(&s2, 0, sizeof(s2));
		s2.inst = tu_instance(dir, 256, 64);
		CK(JetSetSystemParameter(&s2.inst, 0, JET_paramJetfsBackupSocket, 0, sock));
		CK(JetInit(&s2.inst));
		ck_assert_int_eq(lstat(sock, &st), 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0600);
		served_again(sock);
		CK(JetTerm(s2.inst));
		ck_assert_int_eq(access(sock, F_OK), -1);
		tu_rmdir(dir);
		free(sock);
		free(dir);
		free(s.dir);
		free(s.sock);
		free(s.dbpath);
	}
}
END_TEST

/* ---- one client at a time ---- */

START_TEST(test_second_client)
{
	struct srv s;
	JET_INSTANCE r1, r2 = 0;
	int fd;

	srv_start(&s, 256);
	CK(JetfsConnectBackup(s.sock, &r1));
	/* Connected, no backup yet: still busy. */
	CK_ERR(JetfsConnectBackup(s.sock, &r2), JET_errBackupInProgress);
	CK(JetBeginExternalBackupInstance(r1, JET_bitBackupJetfsPointInTime));
	CK_ERR(JetfsConnectBackup(s.sock, &r2), JET_errBackupInProgress);
	/* The refusal also reaches a client that has not said Hello yet. */
	fd = raw_connect(s.sock);
	raw_expect(fd, 0, JET_errBackupInProgress);
	raw_expect_eof(fd);
	close(fd);
	/* The first client goes on undisturbed. */
	CK(JetGetAttachInfoInstance(r1, NULL, 0, NULL));
	/* A local backup is refused too while the remote one runs. */
	CK_ERR(JetBeginExternalBackupInstance(s.inst, 0), JET_errBackupInProgress);
	CK(JetEndExternalBackupInstance2(r1, JET_bitBackupEndAbort));
	CK(JetfsDisconnectBackup(r1));
	served_again(s.sock);

	/* A local backup that runs is not the remote client's to continue or end. */
	r1 = connect_retry(s.sock);
	CK(JetBeginExternalBackupInstance(s.inst, JET_bitBackupJetfsPointInTime));
	CK_ERR(JetGetAttachInfoInstance(r1, NULL, 0, NULL), JET_errNoBackup);
	CK_ERR(JetEndExternalBackupInstance2(r1, JET_bitBackupEndAbort), JET_errNoBackup);
	CK(JetStopBackupInstance(r1));
	CK_ERR(JetBeginExternalBackupInstance(r1, 0), JET_errBackupInProgress);
	CK(JetGetAttachInfoInstance(s.inst, NULL, 0, NULL));	/* not stopped */
	CK(JetEndExternalBackupInstance2(s.inst, JET_bitBackupEndAbort));
	CK(JetfsDisconnectBackup(r1));
	srv_stop(&s);
}
END_TEST

/* ---- a client that goes away aborts its backup ---- */

START_TEST(test_client_disconnects)
{
	struct srv s;
	JET_INSTANCE r;
	JET_HANDLE h;
	unsigned long lo, hi, got;
	char buf[100];
	pid_t pid;
	int status, fd;
	uint8_t p[4];

	srv_start(&s, 256);

	/* Disconnect in the middle of reading a file. */
	CK(JetfsConnectBackup(s.sock, &r));
	CK(JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime));
	CK(JetOpenFileInstance(r, s.dbpath, &h, &lo, &hi));
	CK(JetfsReadFileAt(r, h, 0, buf, sizeof(buf), &got));
	CK(JetfsDisconnectBackup(r));
	served_again(s.sock);

	/* A raw client: Begin, then close the socket. */
	fd = raw_hello(s.sock);
	put32(p, JET_bitBackupJetfsPointInTime);
	raw_req(fd, BKPROTO_BEGIN, 2, p, 4);
	raw_expect(fd, 2, JET_errSuccess);
	ck_assert(backup_running(handle_get(HANDLE_INSTANCE, s.inst)));
	close(fd);
	served_again(s.sock);

	/* A client process that dies. */
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		JET_INSTANCE rc;
		JET_ERR e = JET_errBackupInProgress;
		for (int i = 0; i < WAIT_MS / 10 && e == JET_errBackupInProgress; i++)
			if ((e = JetfsConnectBackup(s.sock, &rc)) == JET_errBackupInProgress)
				sleep_ms(10);
		if (e < 0 || JetBeginExternalBackupInstance(rc, JET_bitBackupJetfsPointInTime) < 0)
			_exit(1);
		_exit(0);	/* dies without End or disconnect */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	served_again(s.sock);
	/* Nothing of those backups is left: a local one begins. */
	CK(JetBeginExternalBackupInstance(s.inst, 0));
	CK(JetEndExternalBackupInstance2(s.inst, JET_bitBackupEndAbort));
	srv_stop(&s);
}
END_TEST

/* ---- the instance goes away under a client ---- */

START_TEST(test_connection_lost)
{
	struct srv s;
	JET_INSTANCE r;
	JET_HANDLE h;
	unsigned long lo, hi, got;
	char buf[100];

	srv_start(&s, 256);
	CK(JetfsConnectBackup(s.sock, &r));
	CK(JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime));
	CK(JetOpenFileInstance(r, s.dbpath, &h, &lo, &hi));
	/* JetTerm without StopBackup leaves a running remote backup alone. */
	CK_ERR(JetTerm(s.inst), JET_errBackupInProgress);
	CK(JetfsReadFileAt(r, h, 0, buf, sizeof(buf), &got));
	CK(JetEndSession(s.ses, 0));
	CK(JetTerm2(s.inst, JET_bitTermStopBackup));
	s.inst = 0;
	CK_ERR(JetfsReadFileAt(r, h, 0, buf, sizeof(buf), &got), JET_errBackupAbortByServer);
	CK_ERR(JetGetLogInfoInstance(r, NULL, 0, &got), JET_errBackupAbortByServer);
	CK_ERR(JetEndExternalBackupInstance2(r, JET_bitBackupEndAbort), JET_errBackupAbortByServer);
	CK_ERR(JetBeginExternalBackupInstance(r, 0), JET_errBackupAbortByServer);
	CK(JetfsDisconnectBackup(r));
	CK_ERR(JetfsDisconnectBackup(r), JET_errInvalidParameter);
	CK_ERR(JetfsConnectBackup(s.sock, &r), JET_errFileNotFound);
	CK_ERR(JetfsConnectBackup(NULL, &r), JET_errInvalidParameter);
	CK_ERR(JetfsConnectBackup("", &r), JET_errInvalidParameter);
	srv_stop(&s);
}
END_TEST

/* Readers in several threads, and a disconnect in the middle of them. */
START_TEST(test_disconnect_under_readers)
{
	struct srv s;
	JET_INSTANCE r;
	JET_HANDLE h;
	unsigned long lo, hi;
	struct reader rd[4];
	pthread_t rt[4];
	uint8_t *expect;

	srv_start(&s, 256);
	CK(JetfsConnectBackup(s.sock, &r));
	CK(JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime));
	CK(JetOpenFileInstance(r, s.dbpath, &h, &lo, &hi));
	expect = calloc(1, lo);
	ck_assert(expect != NULL);
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){ r, h, expect, lo, (unsigned)i + 1, 0, 0 };
		ck_assert_int_eq(pthread_create(&rt[i], NULL, reader_main, &rd[i]), 0);
	}
	sleep_ms(5);
	CK(JetfsDisconnectBackup(r));
	for (int i = 0; i < 4; i++) {
		pthread_join(rt[i], NULL);
		ck_assert_msg(rd[i].err >= 0 || rd[i].err == JET_errBackupAbortByServer ||
		    rd[i].err == JET_errInvalidParameter, "reader %d: %s", i, JetErrorName(rd[i].err));
	}
	free(expect);
	served_again(s.sock);
	srv_stop(&s);
}
END_TEST

/* ---- malformed input ---- */

START_TEST(test_malformed)
{
	struct srv s;
	uint8_t p[64];
	int fd;

	srv_start(&s, 256);

	/* Garbage: its first 4 bytes are an absurd length. */
	fd = raw_connect(s.sock);
	raw_send(fd, "GARBAGE! \x01\x02\x03\xff\xfe garbage garbage garbage", 36);
	raw_expect(fd, 0, JET_errInvalidParameter);
	raw_expect_eof(fd);
	close(fd);
	served_again(s.sock);

	/* Oversized messages, before and after the Hello. */
	fd = raw_connect(s.sock);
	put32(p, BKPROTO_MSG_MAX + 1);
	raw_send(fd, p, 4);
	raw_expect(fd, 0, JET_errInvalidParameter);
	raw_expect_eof(fd);
	close(fd);
	fd = raw_hello(s.sock);
	put32(p, BKPROTO_REQ_MAX + 1);
	put32(p + 4, BKPROTO_OPEN_FILE);
	put32(p + 8, 2);
	raw_send(fd, p, 12);
	raw_expect(fd, 0, JET_errInvalidParameter);
	raw_expect_eof(fd);
	close(fd);
	/* Too short to hold an opcode. */
	fd = raw_connect(s.sock);
	put32(p, 4);
	put32(p + 4, BKPROTO_HELLO);
	raw_send(fd, p, 8);
	raw_expect(fd, 0, JET_errInvalidParameter);
	raw_expect_eof(fd);
	close(fd);
	served_again(s.sock);

	/* Unknown opcodes, a bad payload size, a second Hello: an error, the connection goes on. */
	fd = raw_hello(s.sock);
	raw_req(fd, 999, 2, NULL, 0);
	raw_expect(fd, 2, JET_errFeatureNotAvailable);
	raw_req(fd, 0, 3, NULL, 0);
	raw_expect(fd, 3, JET_errFeatureNotAvailable);
	raw_req(fd, BKPROTO_BEGIN, 4, p, 3);
	raw_expect(fd, 4, JET_errInvalidParameter);
	put32(p, BKPROTO_MAGIC);
	put32(p + 4, BKPROTO_VERSION);
	raw_req(fd, BKPROTO_HELLO, 5, p, 8);
	raw_expect(fd, 5, JET_errInvalidOperation);
	raw_req(fd, BKPROTO_OPEN_FILE, 6, "a\0b", 3);
	raw_expect(fd, 6, JET_errInvalidParameter);
	memset(p, 0, 16);
	put32(p + 8, BKPROTO_READ_MAX + 1);
	raw_req(fd, BKPROTO_READ_FILE, 7, p, 16);
	raw_expect(fd, 7, JET_errInvalidParameter);
	memset(p, 0, 8);
	put32(p + 4, 0x80);
	raw_req(fd, BKPROTO_GET_ATTACH_INFO, 8, p, 8);
	raw_expect(fd, 8, JET_errInvalidParameter);
	raw_req(fd, BKPROTO_STOP, 9, NULL, 0);
	raw_expect(fd, 9, JET_errSuccess);
	/* ... and a request out of the backup sequence gets the backup's error. */
	raw_req(fd, BKPROTO_TRUNCATE_LOG, 10, NULL, 0);
	raw_expect(fd, 10, JET_errNoBackup);
	/* A wrong sequence number ends the connection. */
	raw_req(fd, BKPROTO_STOP, 12, NULL, 0);
	raw_expect(fd, 12, JET_errInvalidParameter);
	raw_expect_eof(fd);
	close(fd);
	served_again(s.sock);

	/* The first request must be a Hello, with the right magic and a version. */
	fd = raw_connect(s.sock);
	raw_req(fd, BKPROTO_BEGIN, 1, p, 4);
	raw_expect(fd, 1, JET_errInvalidOperation);
	raw_expect_eof(fd);
	close(fd);
	fd = raw_connect(s.sock);
	put32(p, 0x12345678);
	put32(p + 4, 1);
	raw_req(fd, BKPROTO_HELLO, 1, p, 8);
	raw_expect(fd, 1, JET_errInvalidParameter);
	raw_expect_eof(fd);
	close(fd);
	fd = raw_connect(s.sock);
	put32(p, BKPROTO_MAGIC);
	put32(p + 4, 0);
	raw_req(fd, BKPROTO_HELLO, 1, p, 8);
	raw_expect(fd, 1, JET_errFeatureNotAvailable);
	raw_expect_eof(fd);
	close(fd);
	/* A newer client is answered with the newest version the server speaks. */
	{
		uint32_t seq, plen;
		JET_ERR st;
		fd = raw_connect(s.sock);
		put32(p, BKPROTO_MAGIC);
		put32(p + 4, 7);
		raw_req(fd, BKPROTO_HELLO, 1, p, 8);
		ck_assert_int_eq(raw_reply(fd, &seq, &st, p, sizeof(p), &plen), 0);
		CK(st);
		ck_assert_uint_eq(plen, 20);
		ck_assert_uint_eq(get32(p + 4), BKPROTO_VERSION);
		ck_assert_uint_eq(get32(p + 8), 8192);
		ck_assert_str_eq((char *)p + 16, "edb");
		close(fd);
	}

	/* Truncated: the client closes in the middle of a message. */
	fd = raw_hello(s.sock);
	put32(p, 16);
	put32(p + 4, BKPROTO_BEGIN);
	raw_send(fd, p, 6);
	close(fd);
	served_again(s.sock);

	/* Garbage in the middle of a backup: the connection ends, the backup is aborted. */
	fd = raw_hello(s.sock);
	put32(p, JET_bitBackupJetfsPointInTime);
	raw_req(fd, BKPROTO_BEGIN, 2, p, 4);
	raw_expect(fd, 2, JET_errSuccess);
	raw_send(fd, "\xff\xff\xff\xff garbage", 12);
	raw_expect(fd, 0, JET_errInvalidParameter);
	raw_expect_eof(fd);
	close(fd);
	served_again(s.sock);

	/* Truncated and then silent, or silent from the start: the timeout ends it. */
	bksvc_set_timeout_ms(300);
	fd = raw_hello(s.sock);
	put32(p, JET_bitBackupJetfsPointInTime);
	raw_req(fd, BKPROTO_BEGIN, 2, p, 4);
	raw_expect(fd, 2, JET_errSuccess);
	put32(p, 16);
	raw_send(fd, p, 7);
	ck_assert_uint_eq(raw_expect_eof(fd), 0);	/* closed, no reply */
	close(fd);
	served_again(s.sock);
	fd = raw_connect(s.sock);
	ck_assert_uint_eq(raw_expect_eof(fd), 0);
	close(fd);
	served_again(s.sock);
	bksvc_set_timeout_ms(0);
	srv_stop(&s);
}
END_TEST

/* ---- peers of another uid ---- */

static int
child_other_uid(const char *sock, int socket_open)
{
	JET_INSTANCE r;
	struct sockaddr_un sa;
	uint8_t rep[12];
	int fd;

	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 10;
	if (!socket_open)	/* mode 0600: the kernel already refuses */
		return JetfsConnectBackup(sock, &r) == JET_errPermissionDenied ? 0 : 11;
	/* Mode 0666: connect works, the service refuses by SO_PEERCRED. */
	if (JetfsConnectBackup(sock, &r) != JET_errPermissionDenied)
		return 12;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock, strlen(sock));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 13;
	if (recv(fd, rep, sizeof(rep), MSG_WAITALL) != (ssize_t)sizeof(rep) || get32(rep) != 8 || get32(rep + 4) != 0 ||
	    (int32_t)get32(rep + 8) != JET_errPermissionDenied)
		return 14;
	if (recv(fd, rep, 1, 0) != 0)
		return 15;
	return 0;
}

START_TEST(test_other_uid)
{
	struct srv s;

	if (geteuid() != 0) {
		fprintf(stderr, "check_bksvc: SKIPPED test_other_uid: not root, cannot run a peer as uid 65534\n");
		return;
	}
	srv_start(&s, 256);
	ck_assert_int_eq(chmod(s.dir, 0711), 0);
	for (int open_mode = 0; open_mode < 2; open_mode++) {
		pid_t pid;
		int status;
		if (open_mode)
			ck_assert_int_eq(chmod(s.sock, 0666), 0);
		pid = fork();
		ck_assert(pid >= 0);
		if (pid == 0)
			_exit(child_other_uid(s.sock, open_mode));
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer uid 65534, socket mode %s: step %d",
		    open_mode ? "0666" : "0600", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	served_again(s.sock);
	srv_stop(&s);
}
END_TEST


/* ---- a backup that outlives its client (backup.c K5, bksvc.c S4) ---- */

/* The instance's backup, asked locally. */
static JETFS_BACKUPINFO
info_of(JET_INSTANCE inst)
{
	JETFS_BACKUPINFO info = { .cbStruct = sizeof(info) };

	CK(JetfsGetBackupInfo(inst, &info));
	return info;
}

/* Waits (bounded) until the backup is held, or (held 0) until none runs. */
static JETFS_BACKUPINFO
wait_held(JET_INSTANCE inst, int held)
{
	JETFS_BACKUPINFO info;

	for (int i = 0; i < WAIT_MS / 10; i++) {
		info = info_of(inst);
		if (held ? info.fHeld != 0 : info.ullId == 0)
			return info;
		sleep_ms(10);
	}
	ck_abort_msg("the backup is still %s after %d ms", held ? "not held" : "running", WAIT_MS);
	return info;
}

/* A client begins a point-in-time backup, reads the start of the database, keeps a note in its area, and vanishes. */
static uint64_t
begin_and_vanish(struct srv *s, uint8_t note)
{
	JET_INSTANCE r = connect_retry(s->sock);
	JET_HANDLE h;
	unsigned long lo, hi, got;
	unsigned long long cb;
	char buf[4096];
	uint8_t *area;
	int fd;

	CK(JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime));
	CK(JetOpenFileInstance(r, s->dbpath, &h, &lo, &hi));
	CK(JetfsReadFileAt(r, h, 0, buf, sizeof(buf), &got));
	CK(JetfsBackupClientArea(r, 8192, &fd, &cb));
	ck_assert_uint_eq(cb, 8192);
	area = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert(area != MAP_FAILED);
	close(fd);
	area[0] = note;
	area[8191] = note;
	munmap(area, 8192);
	CK(JetfsDisconnectBackup(r));
	return wait_held(s->inst, 1).ullId;
}

START_TEST(test_hold_take_over)
{
	struct srv s;
	JET_INSTANCE r;
	JETFS_BACKUPINFO before, info;
	JET_HANDLE h;
	unsigned long lo, hi, got, cbList;
	unsigned long long cb;
	char buf[4096], list[4096];
	uint8_t *area;
	uint64_t id;
	int fd;

	srv_start(&s, 256);
	CK(JetSetSystemParameter(&s.inst, 0, JET_paramJetfsBackupHoldTime, 60, NULL));
	id = begin_and_vanish(&s, 0x5a);
	before = info_of(s.inst);
	ck_assert_uint_eq(before.ullId, id);
	ck_assert_uint_ne(before.ullBeginTimeUs, 0);
	ck_assert_uint_eq(before.ulHeldUid, geteuid());
	ck_assert(before.ullHeldMsLeft > 50000 && before.ullHeldMsLeft <= 60000);

	/* Held: the application's own Begin gets ESE's answer; so does a new client's. */
	ck_assert_int_eq(JetBeginExternalBackupInstance(s.inst, JET_bitBackupJetfsPointInTime), JET_errBackupInProgress);
	r = connect_retry(s.sock);
	ck_assert_int_eq(JetBeginExternalBackupInstance(r, JET_bitBackupJetfsPointInTime), JET_errBackupInProgress);
	ck_assert_int_eq(JetfsTakeOverBackup(r, id + 1), JET_errNoBackup);	/* another id */
	CK(JetfsTakeOverBackup(r, id));
	ck_assert_int_eq(JetfsTakeOverBackup(r, id), JET_errBackupInProgress);	/* its own now */

	/* The same backup: id, Begin time; no longer held; taken over once. */
	info = (JETFS_BACKUPINFO){ .cbStruct = sizeof(info) };
	CK(JetfsGetBackupInfo(r, &info));
	ck_assert_uint_eq(info.ullId, id);
	ck_assert_uint_eq(info.ullBeginTimeUs, before.ullBeginTimeUs);
	ck_assert_uint_eq(info.fHeld, 0);
	ck_assert_uint_eq(info.cTakeOvers, 1);

	/* The area the vanished client wrote, as it left it. */
	CK(JetfsBackupClientArea(r, 1, &fd, &cb));
	ck_assert_uint_eq(cb, 8192);
	area = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert(area != MAP_FAILED);
	close(fd);
	ck_assert_uint_eq(area[0], 0x5a);
	ck_assert_uint_eq(area[8191], 0x5a);
	munmap(area, 8192);

	/* Finish: the first 4 KiB are reported, the rest read; the logs; End normal records it. */
	CK(JetOpenFileInstance(r, s.dbpath, &h, &lo, &hi));
	ck_assert_int_eq(JetfsNoteServed(r, h, 0, ((uint64_t)hi << 32 | lo) + 1), JET_errInvalidParameter);
	CK(JetfsNoteServed(r, h, 0, sizeof(buf)));
	for (uint64_t off = sizeof(buf); off < ((uint64_t)hi << 32 | lo); off += got)
		CK(JetfsReadFileAt(r, h, off, buf, sizeof(buf), &got));
	CK(JetCloseFileInstance(r, h));
	CK(JetGetLogInfoInstance(r, list, sizeof(list), &cbList));
	for (const char *l = list; *l; l += strlen(l) + 1) {
		CK(JetOpenFileInstance(r, l, &h, &lo, &hi));
		for (uint64_t off = 0; off < ((uint64_t)hi << 32 | lo); off += got)
			CK(JetfsReadFileAt(r, h, off, buf, sizeof(buf), &got));
		CK(JetCloseFileInstance(r, h));
	}
	CK(JetEndExternalBackupInstance2(r, JET_bitBackupEndNormal));
	info = info_of(s.inst);
	ck_assert_uint_eq(info.ullId, 0);
	ck_assert_uint_eq(info.ullLastEndId, id);
	CK(info.errLastEnd);
	ck_assert_ptr_nonnull(strstr(info.szLastEnd, "recorded"));
	CK(JetfsDisconnectBackup(r));
	srv_stop(&s);
}
END_TEST

START_TEST(test_hold_expires)
{
	struct srv s;
	JETFS_BACKUPINFO info;
	char spill[4096];
	uint64_t id;

	srv_start(&s, 256);
	CK(JetSetSystemParameter(&s.inst, 0, JET_paramJetfsBackupHoldTime, 1, NULL));
	id = begin_and_vanish(&s, 1);
	snprintf(spill, sizeof(spill), "%s.jfsbk", s.dbpath);
	/* Write pages, so that images are kept while held. */
	CK(JetBeginTransaction(s.ses));
	for (unsigned long i = 0; i < NKEYS; i++) {
		char key[32];
		key_of(key, sizeof(key), "k", i);
		put_str(s.ses, s.t, key, "rewritten while held");
	}
	CK(JetCommitTransaction(s.ses, 0));
	info = wait_held(s.inst, 0);
	ck_assert_uint_eq(info.ullLastEndId, id);
	ck_assert_int_eq(info.errLastEnd, JET_errBackupAbortByServer);
	ck_assert_msg(strstr(info.szLastEnd, "nobody took it over in 1 s") != NULL, "%s", info.szLastEnd);
	ck_assert_int_ne(access(spill, F_OK), 0);
	served_again(s.sock);

	/* Stopped while held: ended at the next check, without waiting for the hold. */
	CK(JetSetSystemParameter(&s.inst, 0, JET_paramJetfsBackupHoldTime, 600, NULL));
	id = begin_and_vanish(&s, 2);
	CK(JetStopBackupInstance(s.inst));
	info = wait_held(s.inst, 0);
	ck_assert_uint_eq(info.ullLastEndId, id);
	ck_assert_msg(strstr(info.szLastEnd, "stopped while held") != NULL, "%s", info.szLastEnd);
	served_again(s.sock);

	/* JetTerm while held (srv_stop) ends it too: nothing waits for the hold. */
	begin_and_vanish(&s, 3);
	srv_stop(&s);
}
END_TEST

START_TEST(test_hold_other_uid)
{
	struct srv s;
	struct jet_inst *inst;
	JET_INSTANCE r;
	uint64_t id;

	srv_start(&s, 256);
	CK(JetSetSystemParameter(&s.inst, 0, JET_paramJetfsBackupHoldTime, 60, NULL));
	id = begin_and_vanish(&s, 1);
	inst = handle_get(HANDLE_INSTANCE, s.inst);
	/* The service takes over as the peer's uid: any uid but the one that began it is refused. */
	ck_assert_int_eq(backup_take_over(inst, id, geteuid() + 1, 1), JET_errPermissionDenied);
	ck_assert_int_eq(backup_take_over(inst, id, 65534, 1), JET_errPermissionDenied);
	ck_assert_uint_eq(info_of(s.inst).fHeld, 1);
	r = connect_retry(s.sock);
	CK(JetfsTakeOverBackup(r, 0));
	CK(JetEndExternalBackupInstance2(r, JET_bitBackupEndAbort));
	CK(JetfsDisconnectBackup(r));
	/* Nothing held now: a takeover finds nothing. */
	r = connect_retry(s.sock);
	ck_assert_int_eq(JetfsTakeOverBackup(r, 0), JET_errNoBackup);
	CK(JetfsDisconnectBackup(r));
	srv_stop(&s);
}
END_TEST

START_TEST(test_hold_protocol)
{
	struct srv s;
	uint8_t p[16], reply[512];
	uint32_t seq, plen;
	JET_ERR st;
	int fd, fds[2];

	srv_start(&s, 256);
	/* Version 2 speaks none of the version 3 requests. */
	fd = raw_hello_version(s.sock, 2);
	raw_req(fd, BKPROTO_BACKUP_INFO, 2, NULL, 0);
	raw_expect(fd, 2, JET_errFeatureNotAvailable);
	put64(p, 0);
	raw_req(fd, BKPROTO_TAKE_OVER, 3, p, 8);
	raw_expect(fd, 3, JET_errFeatureNotAvailable);
	raw_req(fd, BKPROTO_CLIENT_AREA, 4, p, 8);
	raw_expect(fd, 4, JET_errFeatureNotAvailable);
	close(fd);

	fd = raw_hello(s.sock);
	raw_req(fd, BKPROTO_BACKUP_INFO, 2, p, 1);		/* takes no payload */
	raw_expect(fd, 2, JET_errInvalidParameter);
	raw_req(fd, BKPROTO_TAKE_OVER, 3, p, 4);
	raw_expect(fd, 3, JET_errInvalidParameter);
	raw_req(fd, BKPROTO_CLIENT_AREA, 4, p, 8);		/* no backup of its own */
	raw_expect(fd, 4, JET_errNoBackup);
	put32(p, JET_bitBackupJetfsPointInTime);
	raw_req(fd, BKPROTO_BEGIN, 5, p, 4);
	raw_expect(fd, 5, JET_errSuccess);
	put64(p, 0);
	raw_req(fd, BKPROTO_CLIENT_AREA, 6, p, 8);		/* size 0 */
	raw_expect(fd, 6, JET_errInvalidParameter);
	put64(p, (1ull << 30) + 1);
	raw_req(fd, BKPROTO_CLIENT_AREA, 7, p, 8);		/* above 1 GiB */
	raw_expect(fd, 7, JET_errInvalidParameter);
	put64(p, 4096);
	raw_req(fd, BKPROTO_CLIENT_AREA, 8, p, 8);
	ck_assert_int_eq(raw_reply_fds(fd, &seq, &st, reply, sizeof(reply), &plen, fds, 2), 1);
	CK(st);
	ck_assert_uint_eq(plen, 8);
	ck_assert_uint_eq(get64(reply), 4096);
	ck_assert_int_eq(write(fds[0], "x", 1), 1);		/* read-write: the client keeps its account there */
	close(fds[0]);
	raw_req(fd, BKPROTO_BACKUP_INFO, 9, NULL, 0);
	ck_assert_int_eq(raw_reply(fd, &seq, &st, reply, sizeof(reply), &plen), 0);
	CK(st);
	ck_assert_uint_eq(plen, BKPROTO_INFO_FIXED + get32(reply + 68));
	ck_assert_uint_ne(get64(reply), 0);			/* the id */
	ck_assert_uint_eq(get32(reply + 24), 0);		/* not held */
	close(fd);
	/* The raw client vanished: with no hold set (srv_start), aborted at once. */
	wait_held(s.inst, 0);
	srv_stop(&s);
}
END_TEST

static Suite *
bksvc_suite(void)
{
	Suite *s = suite_create("bksvc");

	tu_add_test(s, "full_pit_backup", test_full_pit_backup, 300);
	tu_add_test(s, "same_as_local", test_same_as_local, 120);
	tu_add_test(s, "socket_file", test_socket_file, 120);
	tu_add_test(s, "second_client", test_second_client, 120);
	tu_add_test(s, "client_disconnects", test_client_disconnects, 120);
	tu_add_test(s, "connection_lost", test_connection_lost, 120);
	tu_add_test(s, "disconnect_under_readers", test_disconnect_under_readers, 120);
	tu_add_test(s, "malformed", test_malformed, 120);
	tu_add_test(s, "share_file", test_share_file, 120);
	tu_add_test(s, "other_uid", test_other_uid, 120);
	tu_add_test(s, "hold_take_over", test_hold_take_over, 120);
	tu_add_test(s, "hold_expires", test_hold_expires, 120);
	tu_add_test(s, "hold_other_uid", test_hold_other_uid, 120);
	tu_add_test(s, "hold_protocol", test_hold_protocol, 120);
	return s;
}

int
main(void)
{
	return tu_run(bksvc_suite());
}
