/*
 * bksvc.c -- the backup service: an instance with JET_paramJetfsBackupSocket
 * serves ESE's external-backup API on a Unix socket, to one client at a time,
 * so that another process (jetfs) can back it up.  The wire format, limits
 * and every rule about malformed input are in doc/protocol.md.
 *
 * One thread per instance (started by JetInit, stopped by JetTerm) polls the
 * listening socket, the connected client and a stop pipe.  A request is
 * executed by calling the ordinary Jet*Instance backup functions on a handle
 * of the service's own (a second JET_INSTANCE handle of the same instance), so
 * the state machine and its errors are backup.c's.
 *
 * INVARIANTS
 *  S1. The service thread never blocks without also watching the stop pipe,
 *      and never waits more than the timeout for a client once a message
 *      started (reading it, or writing its reply), so JetTerm's bksvc_stop
 *      returns promptly and a stuck client never holds the instance.  (A
 *      backup call in progress is finished first: they are bounded, except
 *      a point-in-time Begin, which waits for running transactions.)
 *  S2. A connection only continues, stops or ends the backup it began
 *      (conn.bk is the instance's struct backup it created); when it goes
 *      away for any reason with that backup still running, the service ends
 *      it with JET_bitBackupEndAbort, or holds it (S4).
 *  S3. Nothing a client sends is trusted: every length is checked against
 *      the limits before it is used, every payload against its opcode.
 *  S4. ... except a point-in-time backup whose connection is lost (closed,
 *      timed out, a protocol error) while the service runs: it is held
 *      (backup.c K5) for JET_paramJetfsBackupHoldTime, and a later
 *      connection of the same uid may take it over (TakeOver), which makes
 *      it that connection's for S2.  The service thread checks the hold at
 *      least once a second and aborts it when the time is up.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "jet_int.h"

#define SVC_TIMEOUT_MS 30000
#define SVC_REFUSE_DRAIN 65536
#define SVC_ALIGN 4096			/* JetReadFileInstance's buffer alignment */
#define SVC_FIXED_MAX 96		/* the largest fixed part of a reply (BackupInfo's) */
_Static_assert(BKPROTO_INFO_FIXED <= SVC_FIXED_MAX, "BackupInfo's reply fits svc_reply_fds");

static atomic_int svc_timeout_ms = SVC_TIMEOUT_MS;

void
bksvc_set_timeout_ms(int ms)
{
	atomic_store(&svc_timeout_ms, ms > 0 ? ms : SVC_TIMEOUT_MS);
}

struct svc_conn {
	int fd;				/* -1: no client */
	pid_t pid;
	uid_t uid;
	int hello;			/* the Hello was answered */
	uint32_t version;		/* the protocol version agreed in the Hello */
	int64_t hello_deadline;
	uint32_t seq;			/* expected seq of the next request */
	int owns;			/* began a backup that may still run */
	const struct backup *bk;	/* ... this one (S2) */
	uint8_t *req;			/* BKPROTO_REQ_MAX bytes */
	uint8_t *data;			/* read buffer, 4096-aligned */
	size_t data_cap;
	char *list;			/* list buffer */
	size_t list_cap;
};

struct bksvc {
	struct jet_inst *inst;
	JET_INSTANCE h;			/* the service's own handle of the instance */
	char path[sizeof(((struct inst_params *)0)->backup_socket)];
	int lfd;
	int stop_rd, stop_wr;
	dev_t dev;			/* the socket file created, removed at stop if still it */
	ino_t ino;
	pthread_t thread;
	struct svc_conn c;
};

enum io_result { IO_OK, IO_EOF, IO_TIMEOUT, IO_STOP, IO_ERROR };

static const char *const io_what[] = { "ok", "end of file", "timeout", "service stopping", "socket error" };

static int64_t
deadline_in(void)
{
	return os_monotonic_ms() + atomic_load(&svc_timeout_ms);
}

/* Waits for events on fd, watching the stop pipe: 1 ready, 0 deadline passed, -1 stop or error. */
static int
svc_wait(struct bksvc *s, int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = { { s->stop_rd, POLLIN, 0 }, { fd, events, 0 } };
		int64_t left = deadline - os_monotonic_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(p, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		if (p[0].revents)
			return -1;
		if (p[1].revents)
			return 1;
	}
}

static enum io_result
svc_recv(struct bksvc *s, void *buf, size_t n, int64_t deadline, size_t *gotp)
{
	size_t got = 0;
	enum io_result res = IO_OK;

	while (got < n) {
		ssize_t r = recv(s->c.fd, (uint8_t *)buf + got, n - got, 0);
		int w;
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0) {
			res = IO_EOF;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			res = errno == ECONNRESET ? IO_EOF : IO_ERROR;
			break;
		}
		if ((w = svc_wait(s, s->c.fd, POLLIN, deadline)) <= 0) {
			res = w == 0 ? IO_TIMEOUT : IO_STOP;
			break;
		}
	}
	if (gotp != NULL)
		*gotp = got;
	return res;
}

static enum io_result
svc_send(struct bksvc *s, const void *buf, size_t n, int64_t deadline, int more)
{
	size_t sent = 0;

	while (sent < n) {
		ssize_t r = send(s->c.fd, (const uint8_t *)buf + sent, n - sent, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
		int w;
		if (r >= 0) {
			sent += (size_t)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE || errno == ECONNRESET ? IO_EOF : IO_ERROR;
		if ((w = svc_wait(s, s->c.fd, POLLOUT, deadline)) <= 0)
			return w == 0 ? IO_TIMEOUT : IO_STOP;
	}
	return IO_OK;
}

/* ---- replies ---- */

/* Sends the first byte of a reply with descriptors attached (SCM_RIGHTS); the rest goes by svc_send. */
static enum io_result
svc_send_fds(struct bksvc *s, const uint8_t *buf, const int *fds, int nfds, int64_t deadline)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * BKPROTO_SHARE_FDS_MAX)];
	} ctl;
	struct iovec iov = { (void *)buf, 1 };
	struct msghdr msg;
	struct cmsghdr *cm;

	memset(&msg, 0, sizeof(msg));
	memset(&ctl, 0, sizeof(ctl));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	for (;;) {
		ssize_t r = sendmsg(s->c.fd, &msg, MSG_NOSIGNAL | MSG_MORE);
		int w;
		if (r == 1)
			return IO_OK;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE || errno == ECONNRESET ? IO_EOF : IO_ERROR;
		if ((w = svc_wait(s, s->c.fd, POLLOUT, deadline)) <= 0)
			return w == 0 ? IO_TIMEOUT : IO_STOP;
	}
}

/*
 * Sends a reply: the fixed part (at most SVC_FIXED_MAX bytes), with nfds descriptors
 * attached to its first byte, then, separately, bulk data.  0, or -1 (drop).
 */
static int
svc_reply_fds(struct bksvc *s, uint32_t seq, JET_ERR status, const void *fixed, size_t nfixed, const void *bulk,
    size_t nbulk, const int *fds, int nfds)
{
	uint8_t hdr[12 + SVC_FIXED_MAX];
	int64_t deadline = deadline_in();
	enum io_result r = IO_OK;
	size_t first = 0;

	put32(hdr, (uint32_t)(8 + nfixed + nbulk));
	put32(hdr + 4, seq);
	put32(hdr + 8, (uint32_t)(int32_t)status);
	if (nfixed > 0)
		memcpy(hdr + 12, fixed, nfixed);
	if (nfds > 0 && (r = svc_send_fds(s, hdr, fds, nfds, deadline)) == IO_OK)
		first = 1;
	if (r == IO_OK)
		r = svc_send(s, hdr + first, 12 + nfixed - first, deadline, nbulk > 0);
	if (r == IO_OK && nbulk > 0)
		r = svc_send(s, bulk, nbulk, deadline, 0);
	if (r != IO_OK) {
		if (r != IO_EOF && r != IO_STOP)
			event_log(s->inst, EVENT_WARNING, 706,
			    "backup service: client pid %ld: sending a reply failed (%s): disconnected", (long)s->c.pid,
			    io_what[r]);
		return -1;
	}
	return 0;
}

static int
svc_reply(struct bksvc *s, uint32_t seq, JET_ERR status, const void *fixed, size_t nfixed, const void *bulk,
    size_t nbulk)
{
	return svc_reply_fds(s, seq, status, fixed, nfixed, bulk, nbulk, NULL, 0);
}

static int
svc_status(struct bksvc *s, uint32_t seq, JET_ERR status)
{
	return svc_reply(s, seq, status, NULL, 0, NULL, 0);
}

/* A protocol error that ends the connection: event, reply if possible, drop. */
static int
svc_protocol_error(struct bksvc *s, uint32_t seq, JET_ERR status, const char *what)
{
	event_log(s->inst, EVENT_WARNING, 706, "backup service: client pid %ld: %s: disconnected", (long)s->c.pid, what);
	svc_status(s, seq, status);
	return -1;
}

/* ---- ownership (S2) ---- */

static int
svc_owns(struct bksvc *s)
{
	struct svc_conn *c = &s->c;
	int owns;

	if (!c->owns)
		return 0;
	pthread_mutex_lock(&s->inst->backup_lock);
	owns = s->inst->backup == c->bk;
	pthread_mutex_unlock(&s->inst->backup_lock);
	if (!owns)
		c->owns = 0;
	return owns;
}

/* S2: the instance's backup, just begun or taken over, becomes the connection's. */
static void
svc_adopt_backup(struct bksvc *s)
{
	struct svc_conn *c = &s->c;

	pthread_mutex_lock(&s->inst->backup_lock);
	c->bk = s->inst->backup;
	pthread_mutex_unlock(&s->inst->backup_lock);
	c->owns = c->bk != NULL;
}

/* ---- buffers ---- */

static uint8_t *
svc_data(struct svc_conn *c, size_t n)
{
	if (n < SVC_ALIGN)
		n = SVC_ALIGN;
	if (c->data_cap < n) {
		void *p;
		free(c->data);
		c->data = NULL;
		c->data_cap = 0;
		if (posix_memalign(&p, SVC_ALIGN, n) != 0)
			return NULL;
		c->data = p;
		c->data_cap = n;
	}
	return c->data;
}

static char *
svc_list(struct svc_conn *c, size_t n)
{
	if (c->list_cap < n) {
		char *p = malloc(n);
		if (p == NULL)
			return NULL;
		free(c->list);
		c->list = p;
		c->list_cap = n;
	}
	return c->list;
}

/* ---- requests ---- */

static int
svc_hello(struct bksvc *s, uint32_t seq, const uint8_t *p, uint32_t n)
{
	uint8_t out[20];
	JET_ERR status = JET_errSuccess;

	put32(out, BKPROTO_MAGIC);
	put32(out + 4, BKPROTO_VERSION);
	put32(out + 8, (uint32_t)s->inst->p.page_size);
	put32(out + 12, BKPROTO_READ_MAX);
	memset(out + 16, 0, 4);
	memcpy(out + 16, s->inst->p.base_name, strnlen(s->inst->p.base_name, 3));
	if (n != 8 || get32(p) != BKPROTO_MAGIC)
		status = JET_errInvalidParameter;
	else if (get32(p + 4) < 1)
		status = JET_errFeatureNotAvailable;
	if (status < 0) {
		event_log(s->inst, EVENT_WARNING, 706, "backup service: client pid %ld: %s: disconnected",
		    (long)s->c.pid, status == JET_errInvalidParameter ? "not a backup protocol Hello" :
		    "no common protocol version");
		svc_reply(s, seq, status, out, sizeof(out), NULL, 0);
		return -1;
	}
	s->c.hello = 1;
	s->c.version = get32(p + 4) < BKPROTO_VERSION ? get32(p + 4) : BKPROTO_VERSION;
	put32(out + 4, s->c.version);
	return svc_reply(s, seq, JET_errSuccess, out, sizeof(out), NULL, 0);
}

/* GetAttachInfo, GetLogInfo, GetTruncateLogInfo: reply u32 set, u32 cbActual, [loginfo], list. */
static int
svc_list_op(struct bksvc *s, uint32_t op, uint32_t seq, const uint8_t *p, uint32_t n)
{
	uint32_t allowed = BKPROTO_F_NULL_BUF | (op == BKPROTO_GET_LOG_INFO ? BKPROTO_F_LOGINFO : 0);
	size_t nfixed = op == BKPROTO_GET_LOG_INFO ? 20 : 8;
	uint8_t out[20];
	unsigned long cb = ULONG_MAX, cap = 0;
	JET_LOGINFO li;
	char *buf = NULL;
	uint32_t flags = 0, set = 0;
	JET_ERR status;

	memset(out, 0, sizeof(out));
	memset(&li, 0, sizeof(li));
	li.cbSize = sizeof(li);
	li.ulGenLow = ULONG_MAX;
	if (n != 8 || ((flags = get32(p + 4)) & ~allowed) != 0)
		status = JET_errInvalidParameter;
	else if (!svc_owns(s))
		status = JET_errNoBackup;
	else {
		cap = get32(p) > BKPROTO_LIST_MAX ? BKPROTO_LIST_MAX : get32(p);
		if (!(flags & BKPROTO_F_NULL_BUF) && cap > 0 && (buf = svc_list(&s->c, cap)) == NULL)
			status = JET_errOutOfMemory;
		else if (op == BKPROTO_GET_ATTACH_INFO)
			status = JetGetAttachInfoInstance(s->h, buf, cap, &cb);
		else if (op == BKPROTO_GET_TRUNCATE_LOG_INFO)
			status = JetGetTruncateLogInfoInstance(s->h, buf, cap, &cb);
		else
			status = JetGetLogInfoInstance2(s->h, buf, cap, &cb, (flags & BKPROTO_F_LOGINFO) ? &li : NULL);
	}
	if (cb != ULONG_MAX && cb <= UINT32_MAX) {
		set |= BKPROTO_SET_CB;
		put32(out + 4, (uint32_t)cb);
	}
	if (op == BKPROTO_GET_LOG_INFO && li.ulGenLow != ULONG_MAX) {
		set |= BKPROTO_SET_LOGINFO;
		put32(out + 8, (uint32_t)li.ulGenLow);
		put32(out + 12, (uint32_t)li.ulGenHigh);
		memcpy(out + 16, li.szBaseName, JET_BASE_NAME_LENGTH);
	}
	put32(out, set);
	if (status >= 0 && buf != NULL && (set & BKPROTO_SET_CB) && cb <= cap)
		return svc_reply(s, seq, status, out, nfixed, buf, cb);
	return svc_reply(s, seq, status, out, nfixed, NULL, 0);
}

static int
svc_open_file(struct bksvc *s, uint32_t seq, const uint8_t *p, uint32_t n)
{
	uint8_t out[16];
	JET_HANDLE hf = 0;
	unsigned long lo = 0, hi = 0;
	char *name;
	JET_ERR status;

	if (n > BKPROTO_NAME_MAX || memchr(p, '\0', n) != NULL)
		return svc_status(s, seq, JET_errInvalidParameter);
	if (!svc_owns(s))
		return svc_status(s, seq, JET_errNoBackup);
	if ((name = malloc(n + 1)) == NULL)
		return svc_status(s, seq, JET_errOutOfMemory);
	memcpy(name, p, n);
	name[n] = '\0';
	status = JetOpenFileInstance(s->h, name, &hf, &lo, &hi);
	free(name);
	if (status < 0)
		return svc_status(s, seq, status);
	put64(out, hf);
	put64(out + 8, (uint64_t)hi << 32 | (lo & 0xFFFFFFFFu));
	return svc_reply(s, seq, status, out, sizeof(out), NULL, 0);
}

/* ReadFile (u64 handle, u32 cb, u32 flags), ReadFileAt (u64 handle, u64 offset, u32 cb, u32 flags). */
static int
svc_read(struct bksvc *s, uint32_t op, uint32_t seq, const uint8_t *p, uint32_t n)
{
	uint32_t want = op == BKPROTO_READ_FILE ? 16 : 24, cb = 0, flags = 0, set = 0;
	unsigned long got = ULONG_MAX;
	uint8_t out[8];
	uint8_t *buf = NULL;
	JET_ERR status;

	memset(out, 0, sizeof(out));
	if (n == want) {
		cb = get32(p + want - 8);
		flags = get32(p + want - 4);
	}
	if (n != want || (flags & ~(uint32_t)(BKPROTO_F_NULL_BUF | BKPROTO_F_NULL_PCB)) != 0 || cb > BKPROTO_READ_MAX)
		status = JET_errInvalidParameter;
	else if (!svc_owns(s))
		status = JET_errNoBackup;
	else if (!(flags & BKPROTO_F_NULL_BUF) && (buf = svc_data(&s->c, cb)) == NULL)
		status = JET_errOutOfMemory;
	else if (op == BKPROTO_READ_FILE)
		status = JetReadFileInstance(s->h, get64(p), buf, cb, (flags & BKPROTO_F_NULL_PCB) ? NULL : &got);
	else
		status = JetfsReadFileAt(s->h, get64(p), get64(p + 8), buf, cb,
		    (flags & BKPROTO_F_NULL_PCB) ? NULL : &got);
	if (got != ULONG_MAX && got <= cb) {
		set = BKPROTO_SET_CB;
		put32(out + 4, (uint32_t)got);
	}
	put32(out, set);
	if (status >= 0 && set && buf != NULL && got > 0)
		return svc_reply(s, seq, status, out, sizeof(out), buf, got);
	return svc_reply(s, seq, status, out, sizeof(out), NULL, 0);
}

/* What a request of version v and n bytes (want expected) gets before its call: an error, or success. */
static JET_ERR
svc_version_check(struct bksvc *s, uint32_t v, uint32_t n, uint32_t want)
{
	if (s->c.version < v)
		return JET_errFeatureNotAvailable;
	return n != want ? JET_errInvalidParameter : JET_errSuccess;
}

/* The same for a call on the connection's own backup. */
static JET_ERR
svc_v2_check(struct bksvc *s, uint32_t n, uint32_t want)
{
	JET_ERR err = svc_version_check(s, 2, n, want);

	if (err < 0)
		return err;
	return svc_owns(s) ? JET_errSuccess : JET_errNoBackup;
}

/*
 * ShareFile (u64 handle): the descriptors of an open file of a point-in-time
 * set, so that the client reads it itself (pitread.c).  Reply: u64 size, u32
 * page size, u32 pgno_last, u32 descriptors, u32 pages; then the header and
 * trailer pages (pages = 2, databases); the descriptors travel with the
 * reply's first byte.
 */
static int
svc_share_file(struct bksvc *s, uint32_t seq, const uint8_t *p, uint32_t n)
{
	struct backup_share sh;
	uint8_t out[24], *pages = NULL;
	uint32_t ps;
	JET_ERR status;
	int rc;

	if ((status = svc_v2_check(s, n, 8)) < 0 || (status = backup_share_file(s->inst, get64(p), &sh)) < 0)
		return svc_status(s, seq, status);
	ps = sh.desc.header != NULL ? sh.desc.page_size : 0;
	if (ps != 0 && (pages = malloc(2 * (size_t)ps)) == NULL) {
		backup_share_free(&sh);
		return svc_status(s, seq, JET_errOutOfMemory);
	}
	if (ps != 0) {
		memcpy(pages, sh.desc.header, ps);
		memcpy(pages + ps, sh.desc.trailer, ps);
	}
	put64(out, sh.desc.size);
	put32(out + 8, sh.desc.page_size);
	put32(out + 12, sh.desc.pgno_last);
	put32(out + 16, (uint32_t)sh.nfds);
	put32(out + 20, ps != 0 ? 2 : 0);
	rc = svc_reply_fds(s, seq, JET_errSuccess, out, sizeof(out), pages, 2 * (size_t)ps, sh.fds, sh.nfds);
	free(pages);
	backup_share_free(&sh);		/* the client has its own copies of the descriptors now */
	return rc;
}

/* NoteServed (u64 handle, u64 offset, u64 length): bytes the client read itself count as served. */
static int
svc_note_served(struct bksvc *s, uint32_t seq, const uint8_t *p, uint32_t n)
{
	JET_ERR status = svc_v2_check(s, n, 24);

	if (status >= 0)
		status = backup_note_served(s->inst, get64(p), get64(p + 8), get64(p + 16));
	return svc_status(s, seq, status);
}

/*
 * BackupInfo: u64 id, u64 begin time (us), u32 grbit, u32 takeovers, u32
 * held, u32 held uid, u64 held ms left, u64 kept bytes, u64 cap, u64 last
 * end id, u32 last end error, u32 text length; then the text (no NUL).
 */
static int
svc_backup_info(struct bksvc *s, uint32_t seq, uint32_t n)
{
	JETFS_BACKUPINFO info = { .cbStruct = sizeof(info) };
	uint8_t out[BKPROTO_INFO_FIXED];
	JET_ERR status;
	size_t len;

	if ((status = svc_version_check(s, 3, n, 0)) < 0 || (status = JetfsGetBackupInfo(s->h, &info)) < 0)
		return svc_status(s, seq, status);
	len = strnlen(info.szLastEnd, sizeof(info.szLastEnd) - 1);
	put64(out, info.ullId);
	put64(out + 8, info.ullBeginTimeUs);
	put32(out + 16, (uint32_t)info.grbit);
	put32(out + 20, (uint32_t)info.cTakeOvers);
	put32(out + 24, (uint32_t)info.fHeld);
	put32(out + 28, (uint32_t)info.ulHeldUid);
	put64(out + 32, info.ullHeldMsLeft);
	put64(out + 40, info.cbKept);
	put64(out + 48, info.cbKeptMax);
	put64(out + 56, info.ullLastEndId);
	put32(out + 64, (uint32_t)(int32_t)info.errLastEnd);
	put32(out + 68, (uint32_t)len);
	return svc_reply(s, seq, JET_errSuccess, out, sizeof(out), info.szLastEnd, len);
}

/* TakeOver (u64 id, 0: any): the held backup becomes this connection's (S2). */
static int
svc_take_over(struct bksvc *s, uint32_t seq, const uint8_t *p, uint32_t n)
{
	struct svc_conn *c = &s->c;
	JET_ERR status = svc_version_check(s, 3, n, 8);

	if (status >= 0 && svc_owns(s))
		status = JET_errBackupInProgress;	/* its own backup runs: nothing is held */
	if (status >= 0 && (status = backup_take_over(s->inst, get64(p), c->uid, (long)c->pid)) >= 0)
		svc_adopt_backup(s);
	return svc_status(s, seq, status);
}

/* ClientArea (u64 size): reply u64 size, with the area's descriptor. */
static int
svc_client_area(struct bksvc *s, uint32_t seq, const uint8_t *p, uint32_t n)
{
	unsigned long long size = 0;
	uint8_t out[8];
	JET_ERR status = svc_version_check(s, 3, n, 8);
	int fd = -1, rc;

	if (status >= 0)
		status = svc_owns(s) ? JetfsBackupClientArea(s->h, get64(p), &fd, &size) : JET_errNoBackup;
	if (status < 0)
		return svc_status(s, seq, status);
	put64(out, size);
	rc = svc_reply_fds(s, seq, JET_errSuccess, out, sizeof(out), NULL, 0, &fd, 1);
	close(fd);
	return rc;
}

static int
svc_end(struct bksvc *s, uint32_t seq, const uint8_t *p, uint32_t n)
{
	JET_GRBIT grbit, mode;
	JET_ERR status;

	if (n != 4)
		return svc_status(s, seq, JET_errInvalidParameter);
	grbit = get32(p);
	mode = grbit & (JET_bitBackupEndNormal | JET_bitBackupEndAbort);
	if (svc_owns(s)) {
		status = JetEndExternalBackupInstance2(s->h, grbit);
		if (status >= 0 || status == JET_errNoBackup)
			s->c.owns = 0;
	} else if (mode != JET_bitBackupEndNormal && mode != JET_bitBackupEndAbort)
		status = JET_errInvalidParameter;	/* the local call's checks, in its order */
	else if (grbit & ~(JET_GRBIT)(JET_bitBackupEndNormal | JET_bitBackupEndAbort | JET_bitBackupTruncateDone))
		status = JET_errInvalidGrbit;
	else
		status = JET_errNoBackup;
	return svc_status(s, seq, status);
}

/* One request, validated against its opcode.  0: go on, -1: drop the client. */
static int
svc_dispatch(struct bksvc *s, uint32_t op, uint32_t seq, const uint8_t *p, uint32_t n)
{
	struct svc_conn *c = &s->c;
	JET_ERR status;

	if (!c->hello) {
		if (op != BKPROTO_HELLO)
			return svc_protocol_error(s, seq, JET_errInvalidOperation, "the first request is not a Hello");
		return svc_hello(s, seq, p, n);
	}
	switch (op) {
	case BKPROTO_HELLO:
		return svc_status(s, seq, JET_errInvalidOperation);
	case BKPROTO_BEGIN:
		if (n != 4)
			return svc_status(s, seq, JET_errInvalidParameter);
		status = JetBeginExternalBackupInstance(s->h, get32(p));
		if (status >= 0)
			svc_adopt_backup(s);
		return svc_status(s, seq, status);
	case BKPROTO_GET_ATTACH_INFO:
	case BKPROTO_GET_LOG_INFO:
	case BKPROTO_GET_TRUNCATE_LOG_INFO:
		return svc_list_op(s, op, seq, p, n);
	case BKPROTO_OPEN_FILE:
		return svc_open_file(s, seq, p, n);
	case BKPROTO_READ_FILE:
	case BKPROTO_READ_FILE_AT:
		return svc_read(s, op, seq, p, n);
	case BKPROTO_CLOSE_FILE:
		if (n != 8)
			return svc_status(s, seq, JET_errInvalidParameter);
		if (!svc_owns(s))
			return svc_status(s, seq, JET_errNoBackup);
		return svc_status(s, seq, JetCloseFileInstance(s->h, get64(p)));
	case BKPROTO_TRUNCATE_LOG:
		if (n != 0)
			return svc_status(s, seq, JET_errInvalidParameter);
		if (!svc_owns(s))
			return svc_status(s, seq, JET_errNoBackup);
		return svc_status(s, seq, JetTruncateLogInstance(s->h));
	case BKPROTO_END:
		return svc_end(s, seq, p, n);
	case BKPROTO_SHARE_FILE:
		return svc_share_file(s, seq, p, n);
	case BKPROTO_NOTE_SERVED:
		return svc_note_served(s, seq, p, n);
	case BKPROTO_BACKUP_INFO:
		return svc_backup_info(s, seq, n);
	case BKPROTO_TAKE_OVER:
		return svc_take_over(s, seq, p, n);
	case BKPROTO_CLIENT_AREA:
		return svc_client_area(s, seq, p, n);
	case BKPROTO_STOP:
		if (n != 0)
			return svc_status(s, seq, JET_errInvalidParameter);
		/* Only the connection's own backup; "no backup" is success, as locally. */
		return svc_status(s, seq, svc_owns(s) ? JetStopBackupInstance(s->h) : JET_errSuccess);
	default:
		return svc_status(s, seq, JET_errFeatureNotAvailable);
	}
}

/* Reads and serves one request (the socket is readable).  0: go on, -1: drop. */
static int
svc_serve_one(struct bksvc *s)
{
	struct svc_conn *c = &s->c;
	uint8_t lenb[4];
	uint32_t len, op, seq;
	int64_t deadline = deadline_in();
	enum io_result r;
	size_t got;
	char what[128];

	r = svc_recv(s, lenb, 4, deadline, &got);
	if (r == IO_EOF && got == 0)
		return -1;		/* an orderly disconnect between messages */
	if (r == IO_OK) {
		len = get32(lenb);
		if (len < 8 || len > BKPROTO_REQ_MAX) {
			snprintf(what, sizeof(what), "a request of %lu bytes (limits 8..%u)", (unsigned long)len,
			    BKPROTO_REQ_MAX);
			return svc_protocol_error(s, 0, JET_errInvalidParameter, what);
		}
		r = svc_recv(s, c->req, len, deadline, NULL);
	}
	if (r != IO_OK) {
		if (r != IO_STOP)
			event_log(s->inst, EVENT_WARNING, 706,
			    "backup service: client pid %ld: truncated request (%s): disconnected", (long)c->pid,
			    io_what[r]);
		return -1;
	}
	op = get32(c->req);
	seq = get32(c->req + 4);
	if (seq != c->seq) {
		snprintf(what, sizeof(what), "request sequence %lu, expected %lu", (unsigned long)seq,
		    (unsigned long)c->seq);
		return svc_protocol_error(s, seq, JET_errInvalidParameter, what);
	}
	c->seq++;
	return svc_dispatch(s, op, seq, c->req + 8, len - 8);
}

/* ---- connections ---- */

/* The connection goes; its backup is held for a takeover (S4) unless the service stops (hold 0). */
static void
svc_drop(struct bksvc *s, const char *why, int hold)
{
	struct svc_conn *c = &s->c;

	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	if (svc_owns(s) && hold && backup_hold(s->inst, c->bk, c->uid, (long)c->pid) >= 0)
		event_log(s->inst, EVENT_WARNING, 704,
		    "backup service: client pid %ld disconnected (%s) with its backup running: backup held",
		    (long)c->pid, why);
	else if (svc_owns(s)) {
		JET_ERR err = JetEndExternalBackupInstance2(s->h, JET_bitBackupEndAbort);
		if (err >= 0)
			event_log(s->inst, EVENT_WARNING, 704,
			    "backup service: client pid %ld disconnected (%s) with its backup running: backup aborted",
			    (long)c->pid, why);
		else
			event_log(s->inst, EVENT_WARNING, 704,
			    "backup service: client pid %ld disconnected (%s) with its backup running; it could not be "
			    "aborted now (%s): JetTerm ends it", (long)c->pid, why, JetErrorName(err));
	} else
		event_log(s->inst, EVENT_INFO, 705, "backup service: client pid %ld disconnected (%s)", (long)c->pid, why);
	c->owns = 0;
	c->bk = NULL;
	free(c->req);
	free(c->data);
	free(c->list);
	c->req = NULL;
	c->data = NULL;
	c->list = NULL;
	c->data_cap = c->list_cap = 0;
}

/* One reply with seq 0 to a peer that is not served, then close. */
static void
svc_refuse(int fd, JET_ERR status)
{
	uint8_t msg[12], sink[4096];
	size_t drained = 0;
	ssize_t r;

	put32(msg, 8);
	put32(msg + 4, 0);
	put32(msg + 8, (uint32_t)(int32_t)status);
	(void)!send(fd, msg, sizeof(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	/* Read what the peer already sent (its Hello), so the close is not a reset. */
	while (drained < SVC_REFUSE_DRAIN && (r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		drained += (size_t)r;
	close(fd);
}

static void
svc_accept(struct bksvc *s)
{
	struct svc_conn *c = &s->c;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The connection stays queued: do not spin on it. */
			event_log(s->inst, EVENT_WARNING, 706, "backup service: cannot accept a connection: %s",
			    strerror(errno));
			svc_wait(s, s->stop_rd, 0, os_monotonic_ms() + 100);
		}
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0 || crlen != sizeof(cr)) {
		event_log(s->inst, EVENT_WARNING, 702, "backup service: refused a peer whose credentials are unknown");
		svc_refuse(fd, JET_errPermissionDenied);
		return;
	}
	if (cr.uid != geteuid() && cr.uid != 0) {
		event_log(s->inst, EVENT_WARNING, 702,
		    "backup service: refused pid %ld: uid %lu is neither the instance's (%lu) nor root", (long)cr.pid,
		    (unsigned long)cr.uid, (unsigned long)geteuid());
		svc_refuse(fd, JET_errPermissionDenied);
		return;
	}
	if (c->fd >= 0) {
		event_log(s->inst, EVENT_WARNING, 703,
		    "backup service: refused pid %ld: client pid %ld is connected (one client at a time)", (long)cr.pid,
		    (long)c->pid);
		svc_refuse(fd, JET_errBackupInProgress);
		return;
	}
	if ((c->req = malloc(BKPROTO_REQ_MAX)) == NULL) {
		svc_refuse(fd, JET_errOutOfMemory);
		return;
	}
	c->fd = fd;
	c->pid = cr.pid;
	c->uid = cr.uid;
	c->hello = 0;
	c->version = 0;
	c->hello_deadline = deadline_in();
	c->seq = 1;
	c->owns = 0;
	c->bk = NULL;
	event_log(s->inst, EVENT_INFO, 701, "backup service: client pid %ld (uid %lu) connected", (long)cr.pid,
	    (unsigned long)cr.uid);
}

static void *
svc_main(void *arg)
{
	struct bksvc *s = arg;
	struct svc_conn *c = &s->c;

	for (;;) {
		struct pollfd p[3] = { { s->stop_rd, POLLIN, 0 }, { s->lfd, POLLIN, 0 }, { c->fd, POLLIN, 0 } };
		int np = c->fd >= 0 ? 3 : 2, timeout, r;
		/* S4: a held backup is checked at least once a second (JetStopBackup ends it too). */
		int64_t left = backup_expire_held(s->inst);

		if (left >= 0)
			left = left < 1000 ? left : 1000;
		if (c->fd >= 0 && !c->hello) {
			int64_t hello_left = c->hello_deadline - os_monotonic_ms();
			if (hello_left < 0)
				hello_left = 0;
			if (left < 0 || hello_left < left)
				left = hello_left;
		}
		timeout = left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left;
		r = poll(p, (nfds_t)np, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r < 0)
			continue;
		if (p[0].revents)
			break;
		/* The client first: a hang-up is processed before a connection queued behind it. */
		if (c->fd >= 0) {
			if (p[2].revents) {
				if (svc_serve_one(s) < 0)
					svc_drop(s, "connection closed", 1);
			} else if (!c->hello && os_monotonic_ms() >= c->hello_deadline) {
				event_log(s->inst, EVENT_WARNING, 706,
				    "backup service: client pid %ld sent no Hello in time: disconnected", (long)c->pid);
				svc_drop(s, "no Hello", 1);
			}
		}
		if (p[1].revents & POLLIN)
			svc_accept(s);
		else if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			/* Should not happen; never spin on it. */
			event_log(s->inst, EVENT_WARNING, 706, "backup service: the listening socket reports an error");
			svc_wait(s, s->stop_rd, 0, os_monotonic_ms() + 1000);
		}
	}
	svc_drop(s, "the service is stopping", 0);
	return NULL;
}

/* ---- start and stop ---- */

static void
svc_free(struct bksvc *s)
{
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stop_rd >= 0)
		close(s->stop_rd);
	if (s->stop_wr >= 0)
		close(s->stop_wr);
	if (s->ino != 0) {
		struct stat st;
		if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
			unlink(s->path);
	}
	if (s->h != 0)
		handle_free(s->h);
	free(s);
}

/* An existing path: a stale socket is removed; anything else refuses to start. */
static JET_ERR
svc_clear_path(struct jet_inst *inst, const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return JET_errSuccess;
		event_log(inst, EVENT_ERROR, 707, "backup service: cannot use %s: %s", path, strerror(errno));
		return JET_errInvalidPath;
	}
	if (!S_ISSOCK(st.st_mode)) {
		event_log(inst, EVENT_ERROR, 707, "backup service: %s exists and is not a socket", path);
		return JET_errInvalidPath;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		event_log(inst, EVENT_ERROR, 707, "backup service: socket: %s", strerror(errno));
		return JET_errInvalidPath;
	}
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(fd);
	if (r == 0 || e == EAGAIN || e == EINPROGRESS) {
		event_log(inst, EVENT_ERROR, 707, "backup service: %s is in use (a running process answers on it)", path);
		return JET_errInvalidPath;
	}
	if (e == ENOENT)
		return JET_errSuccess;
	if (e != ECONNREFUSED) {
		event_log(inst, EVENT_ERROR, 707, "backup service: cannot probe %s: %s", path, strerror(e));
		return JET_errInvalidPath;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		event_log(inst, EVENT_ERROR, 707, "backup service: cannot remove the stale socket %s: %s", path,
		    strerror(errno));
		return JET_errInvalidPath;
	}
	event_log(inst, EVENT_INFO, 700, "backup service: removed the stale socket %s (nobody answered on it)", path);
	return JET_errSuccess;
}

/*
 * The socket's directory must exist, or is created under
 * JET_paramCreatePathIfNotExist (as ESE creates the folders it needs),
 * mode 0700: who can enter the directory can reach the socket, so one the
 * engine makes is private to the application's user.
 */
static JET_ERR
svc_make_dir(struct jet_inst *inst, const char *path)
{
	char *dir = os_path_dir(path);
	JET_ERR err = JET_errSuccess;

	if (dir == NULL)
		return JET_errOutOfMemory;
	if (!os_is_dir(dir) && (!inst->p.create_path || os_mkdir_p(dir) < 0)) {
		event_log(inst, EVENT_ERROR, 707, "backup service: the socket's directory %s does not exist%s", dir,
		    inst->p.create_path ? " and cannot be created" : " (JET_paramCreatePathIfNotExist creates it)");
		err = JET_errInvalidPath;
	}
	free(dir);
	return err;
}

JET_ERR
bksvc_start(struct jet_inst *inst)
{
	struct sockaddr_un sa;
	struct bksvc *s;
	struct stat st;
	sigset_t all, old;
	int pfd[2], r;
	JET_ERR err;

	if (inst->p.backup_socket[0] == '\0' || inst->restore != NULL)
		return JET_errSuccess;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return JET_errOutOfMemory;
	s->inst = inst;
	s->lfd = s->stop_rd = s->stop_wr = s->c.fd = -1;
	snprintf(s->path, sizeof(s->path), "%s", inst->p.backup_socket);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(s->path) >= sizeof(sa.sun_path)) {
		event_log(inst, EVENT_ERROR, 707, "backup service: the socket path %s is too long", s->path);
		err = JET_errInvalidPath;
		goto err;
	}
	memcpy(sa.sun_path, s->path, strlen(s->path));
	if ((err = svc_make_dir(inst, s->path)) < 0 || (err = svc_clear_path(inst, s->path, &sa)) < 0)
		goto err;
	err = JET_errInvalidPath;
	if ((s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		event_log(inst, EVENT_ERROR, 707, "backup service: socket: %s", strerror(errno));
		goto err;
	}
	/* Mode 0600 from the start: the socket inode's mode becomes the file's at bind. */
	if (fchmod(s->lfd, 0600) < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		event_log(inst, EVENT_ERROR, 707, "backup service: cannot create %s: %s", s->path, strerror(errno));
		goto err;
	}
	if (lstat(s->path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		event_log(inst, EVENT_ERROR, 707, "backup service: %s vanished after bind", s->path);
		goto err;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (chmod(s->path, 0600) < 0 || listen(s->lfd, 8) < 0) {
		event_log(inst, EVENT_ERROR, 707, "backup service: cannot listen on %s: %s", s->path, strerror(errno));
		goto err;
	}
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0) {
		event_log(inst, EVENT_ERROR, 707, "backup service: pipe: %s", strerror(errno));
		err = JET_errOutOfFileHandles;
		goto err;
	}
	s->stop_rd = pfd[0];
	s->stop_wr = pfd[1];
	if ((s->h = handle_new(HANDLE_INSTANCE, inst)) == 0) {
		err = JET_errOutOfMemory;
		goto err;
	}
	/* The service thread takes no signal: they belong to the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, svc_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		event_log(inst, EVENT_ERROR, 707, "backup service: cannot start its thread: %s", strerror(r));
		err = JET_errOutOfThreads;
		goto err;
	}
	inst->bksvc = s;
	event_log(inst, EVENT_INFO, 700, "backup service listening on %s", s->path);
	return JET_errSuccess;
err:
	svc_free(s);
	return err;
}

void
bksvc_stop(struct jet_inst *inst)
{
	struct bksvc *s = inst->bksvc;

	if (s == NULL)
		return;
	while (write(s->stop_wr, "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(s->thread, NULL);
	inst->bksvc = NULL;
	event_log(inst, EVENT_INFO, 708, "backup service on %s stopped", s->path);
	svc_free(s);
}
