/*
 * bkclient.c -- the client of the backup service (bksvc.c): JetfsConnectBackup
 * gives a remote JET_INSTANCE handle, and every external-backup call given
 * such a handle (bkapi.c) runs the operations of bkclient_ops here, so a
 * backup program calls the same functions for an instance in its own process
 * and for one in another process.  Wire format: doc/protocol.md.
 *
 * INVARIANTS
 *  C1. One request in flight per connection (conn.lock, taken by a call's
 *      first request and held until the call returns, cl_leave), so replies
 *      never interleave; the FUSE driver calls from several threads.
 *  C2. A connection is freed only when no call uses it: calls hold a
 *      reference taken under reg_lock together with the handle lookup, and
 *      JetfsDisconnectBackup frees the handle first, shuts the socket down
 *      (waking a call waiting for its reply) and waits for the references.
 *  C3. Any transport failure or malformed reply breaks the connection for
 *      good: that call and every later one get JET_errBackupAbortByServer.
 *  C4. Results reach the caller's pointers exactly as the local call would
 *      set them: the server reports which outputs the local call wrote.
 *  C5. With a timeout set (JetfsSetBackupTimeout), each request must be sent
 *      and its whole reply received by one deadline.  A request that misses
 *      it breaks the connection (C3): a reply that arrives later would be
 *      taken for the answer to the next request.  That call fails with
 *      JET_errDeviceTimeout, later ones as C3 says.
 *  C6. Direct reads (protocol version 2): a point-in-time file the server
 *      shares (ShareFile: its read-only descriptors, SCM_RIGHTS) is read
 *      here by pitread.c, without a request, without conn.lock, in
 *      parallel.  A direct read counts only if the connection still holds
 *      after it: the instance that keeps the Begin images must be alive
 *      (a dead one keeps nothing, and a new process may write the files).
 *      A read pitread.c cannot serve goes to the server as a ReadFileAt,
 *      whose answer decides.  What was read directly is reported before
 *      the file is closed (NoteServed), so the server counts what was
 *      copied as if it had served it.  Descriptors arrive only with a
 *      ShareFile or ClientArea reply; any other a server sends is closed
 *      at once.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "jet_int.h"
#include "ranges.h"

#define CL_HELLO_TIMEOUT_S 30
#define CL_ALIGN 4096

struct bkconn {
	struct olock lock;		/* C1 */
	int fd;
	atomic_int broken;		/* C3; read without the lock by direct reads (C6) */
	int timed_out;			/* C5: the deadline passed; breaks the connection */
	unsigned timeout_ms;		/* C5; 0: none */
	int64_t deadline_ms;		/* C5: of the request in flight (os_monotonic_ms) */
	uint32_t seq;			/* of the last request sent */
	uint32_t page_size;
	uint32_t read_max;
	uint32_t version;		/* the protocol version agreed in the Hello */
	int rx_fds[BKPROTO_SHARE_FDS_MAX];	/* descriptors received with the reply being read (C6) */
	int nrx;
	struct pitread_set *direct;	/* C6: the files read here */
	int refs;			/* under reg_lock (C2) */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cond = PTHREAD_COND_INITIALIZER;

/* ---- transport ---- */

/* Waits until fd is ready for events or the request's deadline (C5) passes: 0, or -1. */
static int
cl_wait(struct bkconn *c, short events)
{
	struct pollfd pfd = { c->fd, events, 0 };
	int r;

	if (c->timeout_ms == 0)
		return 0;
	do {
		int64_t left = c->deadline_ms - os_monotonic_ms();
		if (left <= 0) {
			c->timed_out = 1;
			return -1;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
	} while (r == 0 || (r < 0 && errno == EINTR));
	return r < 0 ? -1 : 0;
}

static int
cl_send_all(struct bkconn *c, const void *buf, size_t n)
{
	size_t sent = 0;

	while (sent < n) {
		if (cl_wait(c, POLLOUT) < 0)
			return -1;
		ssize_t r = send(c->fd, (const uint8_t *)buf + sent, n - sent, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		sent += (size_t)r;
	}
	return 0;
}

static void
cl_close_rx(struct bkconn *c)
{
	while (c->nrx > 0)
		close(c->rx_fds[--c->nrx]);
}

/* Keeps the descriptors a message carried (C6); more than a reply may carry is a broken server. */
static int
cl_take_fds(struct bkconn *c, struct msghdr *msg)
{
	int bad = (msg->msg_flags & MSG_CTRUNC) != 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		size_t nfd;
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0))
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->nrx < BKPROTO_SHARE_FDS_MAX)
				c->rx_fds[c->nrx++] = fd;
			else {
				close(fd);
				bad = 1;
			}
		}
	}
	return bad ? -1 : 0;
}

static int
cl_recv_all(struct bkconn *c, void *buf, size_t n)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * BKPROTO_SHARE_FDS_MAX)];
	} ctl;
	size_t got = 0;

	while (got < n) {
		struct iovec iov = { (uint8_t *)buf + got, n - got };
		struct msghdr msg;
		ssize_t r;
		if (cl_wait(c, POLLIN) < 0)
			return -1;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		r = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || cl_take_fds(c, &msg) < 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* C3, C5: the call that missed its deadline learns it; every other one that the connection is gone. */
static JET_ERR
cl_break(struct bkconn *c)
{
	if (!c->broken) {
		c->broken = 1;
		shutdown(c->fd, SHUT_RDWR);
		if (c->timed_out)
			return JET_errDeviceTimeout;
	}
	return JET_errBackupAbortByServer;
}

/*
 * Sends a request and reads its reply's header: *statusp the server's
 * status, *plenp the payload length still to read.  JET_errSuccess, or
 * JET_errBackupAbortByServer (the connection is broken).
 */
static JET_ERR
cl_call(struct bkconn *c, uint32_t op, const void *p, size_t n, JET_ERR *statusp, uint32_t *plenp)
{
	uint8_t hdr[12 + 32];
	uint32_t len;

	if (!olock_held(&c->lock))
		olock_lock(&c->lock);	/* C1: until the call returns (cl_leave) */
	cl_close_rx(c);
	if (c->broken)
		return JET_errBackupAbortByServer;
	c->deadline_ms = os_monotonic_ms() + c->timeout_ms;
	c->seq++;
	put32(hdr, (uint32_t)(8 + n));
	put32(hdr + 4, op);
	put32(hdr + 8, c->seq);
	if (n <= 32) {
		if (n > 0)
			memcpy(hdr + 12, p, n);
		if (cl_send_all(c, hdr, 12 + n) < 0)
			return cl_break(c);
	} else if (cl_send_all(c, hdr, 12) < 0 || cl_send_all(c, p, n) < 0)
		return cl_break(c);
	if (cl_recv_all(c, hdr, 12) < 0)
		return cl_break(c);
	len = get32(hdr);
	if (len < 8 || len > BKPROTO_MSG_MAX || get32(hdr + 4) != c->seq)
		return cl_break(c);
	*statusp = (JET_ERR)(int32_t)get32(hdr + 8);
	*plenp = len - 8;
	return JET_errSuccess;
}

/* Reads the fixed part of a reply payload, which must be exactly nfixed (+ bulk) bytes. */
static JET_ERR
cl_fixed(struct bkconn *c, uint32_t plen, void *fixed, uint32_t nfixed)
{
	if (plen < nfixed || cl_recv_all(c, fixed, nfixed) < 0)
		return cl_break(c);
	return JET_errSuccess;
}

/* ---- handles (C2) ---- */

/* The connection a remote handle names, held until released (C2; C1's lock comes with a request); NULL: not a remote handle. */
struct bkconn *
bkclient_acquire(JET_INSTANCE instance)
{
	struct bkconn *c;

	pthread_mutex_lock(&reg_lock);
	if ((c = handle_get(HANDLE_REMOTE, instance)) != NULL)
		c->refs++;
	pthread_mutex_unlock(&reg_lock);
	return c;
}

static JET_ERR
cl_release(struct bkconn *c, JET_ERR err)
{
	if (olock_held(&c->lock))
		olock_unlock(&c->lock);
	pthread_mutex_lock(&reg_lock);
	if (--c->refs == 0)
		pthread_cond_broadcast(&reg_cond);
	pthread_mutex_unlock(&reg_lock);
	return err;
}

/* After each call bkapi.c made on an acquired connection. */
static void
cl_leave(void *obj)
{
	(void)cl_release(obj, JET_errSuccess);
}

/* A grbit with bits above 31 travels as bit 31, which no backup call defines. */
static uint32_t
cl_grbit(JET_GRBIT grbit)
{
	return (uint64_t)grbit > UINT32_MAX ? (uint32_t)grbit | 0x80000000u : (uint32_t)grbit;
}

static uint32_t
cl_u32(unsigned long v)
{
	return (uint64_t)v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* A request whose reply is a bare status. */
static JET_ERR
cl_simple(struct bkconn *c, uint32_t op, const void *p, size_t n)
{
	JET_ERR err, status;
	uint32_t plen;

	if ((err = cl_call(c, op, p, n, &status, &plen)) < 0)
		return err;
	if (plen != 0)
		return cl_break(c);
	return status;
}

/* ---- connect ---- */

static JET_ERR
cl_errno(int e)
{
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTDIR:
		return JET_errFileNotFound;
	case EACCES:
	case EPERM:
		return JET_errPermissionDenied;
	case ENAMETOOLONG:
	case ENOTSOCK:
	case EPROTOTYPE:
	case ELOOP:
		return JET_errInvalidPath;
	case ENOMEM:
	case ENOBUFS:
		return JET_errOutOfMemory;
	case EMFILE:
	case ENFILE:
		return JET_errOutOfFileHandles;
	case EAGAIN:
		return JET_errBackupInProgress;
	default:
		return JET_errBackupAbortByServer;
	}
}

static JET_ERR
cl_hello(struct bkconn *c)
{
	uint8_t req[20], hdr[12], out[20];
	uint32_t len, ps, rmax;
	JET_ERR status;
	int sent;

	/* The Hello must come back in time; later calls wait as JetfsSetBackupTimeout says (C5). */
	c->timeout_ms = CL_HELLO_TIMEOUT_S * 1000;
	c->deadline_ms = os_monotonic_ms() + c->timeout_ms;
	put32(req, 16);
	put32(req + 4, BKPROTO_HELLO);
	put32(req + 8, 1);
	put32(req + 12, BKPROTO_MAGIC);
	put32(req + 16, BKPROTO_VERSION);
	c->seq = 1;
	/* A refused peer may find the socket closed before its Hello is sent: read the refusal anyway. */
	sent = cl_send_all(c, req, sizeof(req));
	if (cl_recv_all(c, hdr, sizeof(hdr)) < 0)
		return JET_errBackupAbortByServer;
	len = get32(hdr);
	status = (JET_ERR)(int32_t)get32(hdr + 8);
	if (get32(hdr + 4) == 0 && len == 8 && status < 0)
		return status;		/* refused: another client is connected, or this uid */
	if (sent < 0 || len < 8 || len > BKPROTO_MSG_MAX || get32(hdr + 4) != 1)
		return JET_errBackupAbortByServer;
	if (status < 0)
		return status == JET_errFeatureNotAvailable ? status : JET_errBackupAbortByServer;
	if (len - 8 != sizeof(out) || cl_recv_all(c, out, sizeof(out)) < 0)
		return JET_errBackupAbortByServer;
	if (get32(out) != BKPROTO_MAGIC)
		return JET_errBackupAbortByServer;
	if (get32(out + 4) < 1 || get32(out + 4) > BKPROTO_VERSION)
		return JET_errFeatureNotAvailable;
	c->version = get32(out + 4);
	ps = get32(out + 8);
	rmax = get32(out + 12);
	if (ps < PAGE_SIZE_MIN || ps > PAGE_SIZE_MAX || (ps & (ps - 1)) != 0 || rmax == 0 || rmax % PAGE_SIZE_MAX != 0)
		return JET_errBackupAbortByServer;
	c->page_size = ps;
	c->read_max = rmax < BKPROTO_READ_MAX ? rmax : BKPROTO_READ_MAX;
	c->timeout_ms = 0;
	return JET_errSuccess;
}

JET_ERR JET_API
JetfsConnectBackup(JET_PCSTR szSocketPath, JET_INSTANCE *pinstance)
{
	struct sockaddr_un sa;
	struct bkconn *c;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	JET_ERR err;

	if (szSocketPath == NULL || *szSocketPath == '\0' || pinstance == NULL)
		return JET_errInvalidParameter;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(szSocketPath) >= sizeof(sa.sun_path))
		return JET_errInvalidPath;
	memcpy(sa.sun_path, szSocketPath, strlen(szSocketPath));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return JET_errOutOfMemory;
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		err = cl_errno(errno);
		free(c);
		return err;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = cl_errno(errno);
		goto err;
	}
	/* Trust the server as it trusts us: itself or root (root trusts the path it chose). */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0 || crlen != sizeof(cr) ||
	    (geteuid() != 0 && cr.uid != geteuid() && cr.uid != 0)) {
		err = JET_errPermissionDenied;
		goto err;
	}
	if ((err = cl_hello(c)) < 0)
		goto err;
	cl_close_rx(c);		/* C6: a Hello carries no descriptor */
	if ((c->direct = pitread_set_new()) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	olock_init(&c->lock);
	if ((*pinstance = handle_new(HANDLE_REMOTE, c)) == 0) {
		olock_destroy(&c->lock);
		err = JET_errOutOfMemory;
		goto err;
	}
	return JET_errSuccess;
err:
	cl_close_rx(c);
	pitread_set_free(c->direct);
	close(c->fd);
	free(c);
	return err;
}

JET_ERR JET_API
JetfsDisconnectBackup(JET_INSTANCE instance)
{
	struct bkconn *c;

	pthread_mutex_lock(&reg_lock);
	if ((c = handle_get(HANDLE_REMOTE, instance)) == NULL) {
		pthread_mutex_unlock(&reg_lock);
		return JET_errInvalidParameter;
	}
	handle_free(instance);
	shutdown(c->fd, SHUT_RDWR);	/* wakes a call waiting for its reply */
	while (c->refs > 0)
		pthread_cond_wait(&reg_cond, &reg_lock);
	pthread_mutex_unlock(&reg_lock);
	cl_close_rx(c);
	pitread_set_free(c->direct);	/* descriptors go with the connection */
	close(c->fd);
	olock_destroy(&c->lock);
	free(c);
	return JET_errSuccess;
}

JET_ERR JET_API
JetfsSetBackupTimeout(JET_INSTANCE instance, unsigned long cMilliseconds)
{
	struct bkconn *c;

	if (cMilliseconds > INT_MAX || (c = bkclient_acquire(instance)) == NULL)
		return JET_errInvalidParameter;
	olock_lock(&c->lock);
	c->timeout_ms = (unsigned)cMilliseconds;
	return cl_release(c, JET_errSuccess);
}

/*
 * Only the shutdown: the call in flight holds conn.lock (C1) and may wait for
 * its reply for as long as the timeout; reg_lock keeps the descriptor open
 * (C2).  The call in flight and every later one then break (C3).
 */
JET_ERR JET_API
JetfsBreakBackup(JET_INSTANCE instance)
{
	struct bkconn *c;

	pthread_mutex_lock(&reg_lock);
	if ((c = handle_get(HANDLE_REMOTE, instance)) != NULL)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&reg_lock);
	return c != NULL ? JET_errSuccess : JET_errInvalidParameter;
}

/* Without C1's lock: a look at the socket's state, which reads and writes nothing. */
static int
cl_alive(struct bkconn *c)
{
	struct pollfd pfd = { c->fd, POLLRDHUP, 0 };

	return !c->broken && !(poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)));
}

JET_ERR JET_API
JetfsCheckBackupConnection(JET_INSTANCE instance)
{
	struct bkconn *c;
	int alive = 0;

	pthread_mutex_lock(&reg_lock);
	if ((c = handle_get(HANDLE_REMOTE, instance)) != NULL)
		alive = cl_alive(c);
	pthread_mutex_unlock(&reg_lock);
	if (c == NULL)
		return JET_errInvalidParameter;
	return alive ? JET_errSuccess : JET_errBackupAbortByServer;
}

/* ---- the backup calls ---- */

/* A backup's handles are numbered again by the next one: the files read here (C6) go at Begin and End. */
static JET_ERR
cl_begin(void *obj, JET_GRBIT grbit)
{
	struct bkconn *c = obj;
	uint8_t p[4];

	pitread_set_clear(c->direct);
	put32(p, cl_grbit(grbit));
	return cl_simple(c, BKPROTO_BEGIN, p, sizeof(p));
}

static JET_ERR
cl_end(void *obj, JET_GRBIT grbit)
{
	struct bkconn *c = obj;
	uint8_t p[4];
	JET_ERR err;

	put32(p, cl_grbit(grbit));
	err = cl_simple(c, BKPROTO_END, p, sizeof(p));
	pitread_set_clear(c->direct);
	return err;
}

static JET_ERR
cl_stop(void *obj)
{
	return cl_simple(obj, BKPROTO_STOP, NULL, 0);
}

static JET_ERR
cl_truncate_log(void *obj)
{
	return cl_simple(obj, BKPROTO_TRUNCATE_LOG, NULL, 0);
}

/* Bytes read without a request (C6), or by a client this one took over from, count as served. */
static JET_ERR
cl_note_served(void *obj, JET_HANDLE hfFile, unsigned long long ib, unsigned long long cb)
{
	struct bkconn *c = obj;
	uint8_t p[24];

	if (c->version < 2)
		return JET_errFeatureNotAvailable;
	put64(p, hfFile);
	put64(p + 8, ib);
	put64(p + 16, cb);
	return cl_simple(c, BKPROTO_NOTE_SERVED, p, sizeof(p));
}

/* C6: what was read directly counts as served, then the file closes. */
static JET_ERR
cl_close_file(void *obj, JET_HANDLE hfFile)
{
	struct bkconn *c = obj;
	struct ranges served;
	uint8_t p[8];
	JET_ERR err = JET_errSuccess;

	pitread_set_remove(c->direct, hfFile, &served);
	for (size_t i = 0; i < served.n && err >= 0; i++)
		err = cl_note_served(c, hfFile, served.r[i][0], served.r[i][1] - served.r[i][0]);
	ranges_free(&served);
	if (err < 0)
		return err;
	put64(p, hfFile);
	return cl_simple(c, BKPROTO_CLOSE_FILE, p, 8);
}

/* GetAttachInfo, GetLogInfo, GetTruncateLogInfo: ESE's A-variant rules, applied by the server's local call. */
static JET_ERR
cl_list(struct bkconn *c, uint32_t op, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual,
    JET_LOGINFO *pLogInfo)
{
	uint32_t nfixed = op == BKPROTO_GET_LOG_INFO ? 20 : 8, plen, set, cb;
	uint8_t p[8], out[20];
	JET_ERR err, status;

	put32(p, cl_u32(cbMax));
	put32(p + 4, (szz == NULL ? BKPROTO_F_NULL_BUF : 0) | (pLogInfo != NULL ? BKPROTO_F_LOGINFO : 0));
	if ((err = cl_call(c, op, p, sizeof(p), &status, &plen)) < 0 || (err = cl_fixed(c, plen, out, nfixed)) < 0)
		return err;
	set = get32(out);
	cb = get32(out + 4);
	plen -= nfixed;
	if (plen > 0) {
		/* The list: exactly cbActual bytes, within the caller's buffer, double-NUL-terminated. */
		if (status < 0 || szz == NULL || !(set & BKPROTO_SET_CB) || plen != cb || cb > cbMax ||
		    cl_recv_all(c, szz, plen) < 0 || szz[cb - 1] != '\0' || (cb >= 2 && szz[cb - 2] != '\0'))
			return cl_break(c);
	} else if (status >= 0 && cbMax != 0 && szz != NULL)
		return cl_break(c);
	if ((set & BKPROTO_SET_CB) && pcbActual != NULL)
		*pcbActual = cb;
	if ((set & BKPROTO_SET_LOGINFO) && pLogInfo != NULL) {
		pLogInfo->ulGenLow = get32(out + 8);
		pLogInfo->ulGenHigh = get32(out + 12);
		memcpy(pLogInfo->szBaseName, out + 16, JET_BASE_NAME_LENGTH);
		pLogInfo->szBaseName[JET_BASE_NAME_LENGTH] = '\0';
	}
	return status;
}

static JET_ERR
cl_get_attach_info(void *obj, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual)
{
	return cl_list(obj, BKPROTO_GET_ATTACH_INFO, szz, cbMax, pcbActual, NULL);
}

static JET_ERR
cl_get_log_info(void *obj, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual,
    JET_LOGINFO *pLogInfo)
{
	return cl_list(obj, BKPROTO_GET_LOG_INFO, szz, cbMax, pcbActual, pLogInfo);
}

static JET_ERR
cl_get_truncate_log_info(void *obj, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual)
{
	return cl_list(obj, BKPROTO_GET_TRUNCATE_LOG_INFO, szz, cbMax, pcbActual, NULL);
}

/*
 * C6: asks for the descriptors of an open file and makes it readable here.
 * A server that shares nothing (not point-in-time, a damaged log) or
 * descriptors that do not hold up (pitread.c P3) leave the reads to the
 * server; only a malformed reply fails, breaking the connection (C3).
 */
static JET_ERR
cl_share(struct bkconn *c, JET_HANDLE hf, const char *name, uint64_t size)
{
	struct pitread_desc desc;
	struct pitread_file *pf;
	uint8_t p[8], out[24], *pages = NULL;
	uint32_t plen, npages, nfds;
	JET_ERR err, status;
	int fds[BKPROTO_SHARE_FDS_MAX];

	put64(p, hf);
	if ((err = cl_call(c, BKPROTO_SHARE_FILE, p, sizeof(p), &status, &plen)) < 0)
		return err;
	if (status < 0)
		return plen == 0 && c->nrx == 0 ? JET_errSuccess : cl_break(c);
	if ((err = cl_fixed(c, plen, out, sizeof(out))) < 0)
		return err;
	nfds = get32(out + 16);
	npages = get32(out + 20);
	memset(&desc, 0, sizeof(desc));
	desc.name = name;
	desc.size = get64(out);
	desc.page_size = get32(out + 8);
	desc.pgno_last = get32(out + 12);
	if (desc.size != size || (npages != 0 && npages != 2) ||
	    nfds != (npages ? (uint32_t)PITREAD_FDS_DB : (uint32_t)PITREAD_FDS_LOG) ||
	    (npages != 0 && desc.page_size != c->page_size) || plen - sizeof(out) != npages * c->page_size)
		return cl_break(c);
	if (npages != 0) {
		if ((pages = malloc(2 * (size_t)c->page_size)) == NULL)
			return cl_break(c);	/* the reply cannot be read past: the stream is lost */
		if (cl_recv_all(c, pages, 2 * (size_t)c->page_size) < 0) {
			free(pages);
			return cl_break(c);
		}
		desc.header = pages;
		desc.trailer = pages + c->page_size;
	}
	if ((uint32_t)c->nrx != nfds) {
		free(pages);
		return cl_break(c);
	}
	memcpy(fds, c->rx_fds, sizeof(int) * nfds);
	c->nrx = 0;
	err = pitread_open(&desc, fds, (int)nfds, &pf);
	free(pages);
	if (err >= 0)
		(void)pitread_set_put(c->direct, hf, pf);	/* out of memory: the reads go to the server */
	return JET_errSuccess;
}

static JET_ERR
cl_open_file(void *obj, JET_PCSTR szFileName, JET_HANDLE *phfFile, unsigned long *pulFileSizeLow,
    unsigned long *pulFileSizeHigh)
{
	struct bkconn *c = obj;
	size_t n = szFileName != NULL ? strlen(szFileName) : 0;
	uint8_t out[16];
	uint32_t plen;
	JET_ERR err, status;

	/* Invalid arguments travel as an empty name: the local call's InvalidParameter, in its order. */
	if (szFileName == NULL || phfFile == NULL || n > BKPROTO_NAME_MAX)
		n = 0;
	if ((err = cl_call(c, BKPROTO_OPEN_FILE, szFileName, n, &status, &plen)) < 0)
		return err;
	if (status < 0)
		return plen == 0 ? status : cl_break(c);
	if (plen != sizeof(out) || (err = cl_fixed(c, plen, out, sizeof(out))) < 0)
		return cl_break(c);
	*phfFile = get64(out);
	if (pulFileSizeLow != NULL)
		*pulFileSizeLow = (unsigned long)(get64(out + 8) & 0xFFFFFFFFu);
	if (pulFileSizeHigh != NULL)
		*pulFileSizeHigh = (unsigned long)(get64(out + 8) >> 32);
	if (c->version >= 2 && (err = cl_share(c, *phfFile, szFileName, get64(out + 8))) < 0)
		return err;
	return status;
}

/*
 * One read request of at most read_max bytes into pv (NULL: none).  *setp
 * says whether the server's local call wrote cbActual.
 */
static JET_ERR
cl_read_one(struct bkconn *c, uint32_t op, JET_HANDLE hf, uint64_t ib, void *pv, uint32_t cb, uint32_t flags,
    JET_ERR *statusp, int *setp, uint32_t *gotp)
{
	uint8_t p[24], out[8];
	uint32_t n = 0, plen;
	JET_ERR err;

	put64(p, hf);
	n = 8;
	if (op == BKPROTO_READ_FILE_AT) {
		put64(p + 8, ib);
		n = 16;
	}
	put32(p + n, cb);
	put32(p + n + 4, flags);
	n += 8;
	if ((err = cl_call(c, op, p, n, statusp, &plen)) < 0 || (err = cl_fixed(c, plen, out, sizeof(out))) < 0)
		return err;
	plen -= sizeof(out);
	*setp = (get32(out) & BKPROTO_SET_CB) != 0;
	*gotp = get32(out + 4);
	if (*gotp > cb)
		return cl_break(c);
	if (plen > 0 && (*statusp < 0 || !*setp || plen != *gotp || pv == NULL || cl_recv_all(c, pv, plen) < 0))
		return cl_break(c);
	if (plen == 0 && *statusp >= 0 && *setp && *gotp != 0)
		return cl_break(c);
	return JET_errSuccess;
}

/* ReadFile and ReadFileAt; reads above read_max are split (doc/protocol.md). */
static JET_ERR
cl_read(struct bkconn *c, uint32_t op, JET_HANDLE hf, uint64_t ib, void *pv, unsigned long cb,
    unsigned long *pcbActual)
{
	uint32_t flags = 0, got;
	unsigned long done = 0;
	JET_ERR err, status = JET_errSuccess;
	int set;

	if (pv == NULL || (op == BKPROTO_READ_FILE && ((uintptr_t)pv % CL_ALIGN != 0 ||
	    (cb > c->read_max && cb % c->page_size != 0))))
		flags |= BKPROTO_F_NULL_BUF;
	if (pcbActual == NULL)
		flags |= BKPROTO_F_NULL_PCB;
	if (flags != 0 || cb <= c->read_max) {
		/* One request; an invalid call gets the server's local call's error, in its order. */
		uint32_t n = cb > c->read_max ? c->read_max : (uint32_t)cb;
		if ((err = cl_read_one(c, op, hf, ib, flags & BKPROTO_F_NULL_BUF ? NULL : pv, n, flags, &status, &set,
		    &got)) < 0)
			return err;
		if (set && pcbActual != NULL)
			*pcbActual = got;
		return status;
	}
	while (done < cb) {
		uint32_t n = cb - done > c->read_max ? c->read_max : (uint32_t)(cb - done);
		if ((err = cl_read_one(c, op, hf, ib + done, (uint8_t *)pv + done, n, 0, &status, &set, &got)) < 0)
			return err;
		if (status < 0) {
			/* A later part failed: the call fails as a local failed read does. */
			if (set || done > 0)
				*pcbActual = 0;
			return status;
		}
		done += got;
		if (got < n)
			break;
	}
	*pcbActual = done;
	return status;
}

static JET_ERR
cl_read_file(void *obj, JET_HANDLE hfFile, void *pv, unsigned long cb, unsigned long *pcbActual)
{
	return cl_read(obj, BKPROTO_READ_FILE, hfFile, 0, pv, cb, pcbActual);
}

/* C6: a shared file is read here; what pitread.c cannot serve, and every other file, by the server. */
static JET_ERR
cl_read_file_at(void *obj, JET_HANDLE hfFile, unsigned long long ib, void *pv, unsigned long cb,
    unsigned long *pcbActual)
{
	struct bkconn *c = obj;
	struct pitread_file *pf = pv != NULL && pcbActual != NULL ? pitread_set_get(c->direct, hfFile) : NULL;
	JET_ERR err;
	size_t got;

	if (pf != NULL) {
		/* Bytes counted though the connection is gone count for nothing: the server aborts the backup. */
		err = pitread_read(pf, ib, pv, cb, &got);
		if (err >= 0 && !cl_alive(c))
			err = JET_errBackupAbortByServer;
		pitread_unref(pf);
		if (err >= 0) {
			*pcbActual = (unsigned long)got;
			return JET_errSuccess;
		}
		if (err == JET_errBackupAbortByServer)
			return err;
	}
	err = cl_read(c, BKPROTO_READ_FILE_AT, hfFile, ib, pv, cb, pcbActual);
	if (err < 0 && pf != NULL)
		pitread_set_remove(c->direct, hfFile, NULL);	/* the server took the file out */
	return err;
}

/* ---- version 3: a backup that outlives its client ---- */

static JET_ERR
cl_get_info(void *obj, JETFS_BACKUPINFO *info)
{
	struct bkconn *c = obj;
	uint8_t out[BKPROTO_INFO_FIXED];
	uint32_t plen, len;
	JET_ERR err, status;

	if (c->version < 3)
		return JET_errFeatureNotAvailable;
	if ((err = cl_call(c, BKPROTO_BACKUP_INFO, NULL, 0, &status, &plen)) < 0)
		return err;
	if (status < 0)
		return plen == 0 ? status : cl_break(c);
	if ((err = cl_fixed(c, plen, out, sizeof(out))) < 0)
		return err;
	len = get32(out + 68);
	if (len >= sizeof(info->szLastEnd) || plen - sizeof(out) != len)
		return cl_break(c);
	memset((char *)info + sizeof(info->cbStruct), 0, sizeof(*info) - sizeof(info->cbStruct));
	if (len > 0 && cl_recv_all(c, info->szLastEnd, len) < 0)
		return cl_break(c);
	info->ullId = get64(out);
	info->ullBeginTimeUs = get64(out + 8);
	info->grbit = get32(out + 16);
	info->cTakeOvers = get32(out + 20);
	info->fHeld = get32(out + 24) != 0;
	info->ulHeldUid = get32(out + 28);
	info->ullHeldMsLeft = get64(out + 32);
	info->cbKept = get64(out + 40);
	info->cbKeptMax = get64(out + 48);
	info->ullLastEndId = get64(out + 56);
	info->errLastEnd = (JET_ERR)(int32_t)get32(out + 64);
	return JET_errSuccess;
}

/* A backup's handles were another connection's: nothing read here before counts (C6). */
static JET_ERR
cl_take_over(void *obj, unsigned long long id)
{
	struct bkconn *c = obj;
	uint8_t p[8];

	if (c->version < 3)
		return JET_errFeatureNotAvailable;
	pitread_set_clear(c->direct);
	put64(p, id);
	return cl_simple(c, BKPROTO_TAKE_OVER, p, sizeof(p));
}

static JET_ERR
cl_client_area(void *obj, unsigned long long cb, int *pfd, unsigned long long *pcbActual)
{
	struct bkconn *c = obj;
	uint8_t p[8], out[8];
	uint32_t plen;
	JET_ERR err, status;

	if (c->version < 3)
		return JET_errFeatureNotAvailable;
	put64(p, cb);
	if ((err = cl_call(c, BKPROTO_CLIENT_AREA, p, sizeof(p), &status, &plen)) < 0)
		return err;
	if (status < 0)
		return plen == 0 && c->nrx == 0 ? status : cl_break(c);
	if (plen != sizeof(out) || cl_recv_all(c, out, sizeof(out)) < 0 || c->nrx != 1)
		return cl_break(c);
	*pfd = c->rx_fds[0];
	c->nrx = 0;
	if (pcbActual != NULL)
		*pcbActual = get64(out);
	return JET_errSuccess;
}

/* The remote instance's backup calls, forwarded over the socket; obj is the acquired struct bkconn. */
const struct bkapi_ops bkclient_ops = {
	.begin = cl_begin,
	.get_attach_info = cl_get_attach_info,
	.open_file = cl_open_file,
	.read_file = cl_read_file,
	.read_file_at = cl_read_file_at,
	.close_file = cl_close_file,
	.get_log_info = cl_get_log_info,
	.get_truncate_log_info = cl_get_truncate_log_info,
	.truncate_log = cl_truncate_log,
	.end = cl_end,
	.stop = cl_stop,
	.get_info = cl_get_info,
	.take_over = cl_take_over,
	.client_area = cl_client_area,
	.note_served = cl_note_served,
	.leave = cl_leave,
};
