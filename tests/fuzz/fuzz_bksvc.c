/*
 * fuzz_bksvc.c -- libFuzzer harness for the backup service (src/bksvc.c).
 *
 * The input is the byte stream a client sends to the service's socket
 * (doc/protocol.md): framing, the Hello, then any requests, each opcode's
 * payload as it comes.  The path is the real one: one instance per fuzzing
 * process, started by JetInit with JET_paramJetfsBackupSocket, with a
 * database attached; for each input the harness connects to the socket as a
 * client would, sends the input (then shuts down its sending side, an EOF),
 * reads every reply until the server closes the connection, and checks
 *   - every reply is well framed (8 <= len <= 16 MiB), and the stream ends on
 *     a reply boundary;
 *   - the service served this client (it was not refused as a second client:
 *     the previous connection had been closed and its hang-up processed);
 *   - once the client is gone, no backup of it is left running in the
 *     instance (a client death aborts its backup, invariant S2);
 * besides everything the sanitizers check in the service thread and in the
 * backup code it drives.
 *
 * Paths in requests.  OpenFile takes an attached database's path or a log
 * file's full path, which must be fixed bytes for seeds (and fuzzer
 * mutations) to reach them, yet each fuzzing process needs a private
 * directory.  So the directory is opened on file descriptor FZ_DIRFD and the
 * instance's system and log paths are "/proc/self/fd/250": the database is
 * /proc/self/fd/250/fz.edb (the engine resolves it to the real path, as
 * JetOpenFileInstance resolves the name it is given), the logs are
 * /proc/self/fd/250/edb00001.log and so on, the same in every process.
 *
 * The instance is started anew (files removed) every FZ_RESET_EVERY inputs,
 * so the log generations that backups roll over do not fill the disk.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "fuzz_common.h"

#define FZ_DIRFD 250
#define FZ_LINK "/proc/self/fd/250"
#define FZ_RESET_EVERY 2000
#define FZ_IDLE_WAIT_MS 10000

static JET_INSTANCE fz_inst;
static struct jet_inst *fz_ji;
static char fz_sock[108];
static unsigned long fz_runs;
static int fz_verbose;		/* FUZZ_BKSVC_VERBOSE=1: print every reply's status */

#define FZ_JET(expr) do { \
	JET_ERR e_ = (expr); \
	if (e_ < 0) { \
		fprintf(stderr, "fuzz_bksvc: %s: %s (%ld)\n", #expr, JetErrorName(e_), e_); \
		abort(); \
	} \
} while (0)

static void
fz_put(JET_SESID ses, JET_TABLEID t, const char *key, const char *val)
{
	FZ_JET(JetPrepareUpdate(ses, t, JET_prepInsert));
	FZ_JET(JetSetColumn(ses, t, JET_columnidKey, key, (unsigned long)strlen(key), 0, NULL));
	FZ_JET(JetSetColumn(ses, t, JET_columnidValue, val, (unsigned long)strlen(val), 0, NULL));
	FZ_JET(JetUpdate(ses, t, NULL, 0, NULL));
}

/* A fresh instance in the private directory, serving on FZ_LINK/bk.sock, with FZ_LINK/fz.edb attached. */
static void
fz_start(void)
{
	JET_SESID ses;
	JET_DBID dbid;
	JET_TABLEID t;
	char key[32], val[200];

	fz_clear_dir(fz_dir);
	fz_inst = 0;
	FZ_JET(JetCreateInstance(&fz_inst, "fuzz_bksvc"));
	FZ_JET(JetSetSystemParameter(&fz_inst, 0, JET_paramSystemPath, 0, FZ_LINK));
	FZ_JET(JetSetSystemParameter(&fz_inst, 0, JET_paramLogFilePath, 0, FZ_LINK));
	FZ_JET(JetSetSystemParameter(&fz_inst, 0, JET_paramLogFileSize, 64, NULL));
	FZ_JET(JetSetSystemParameter(&fz_inst, 0, JET_paramCacheSizeMax, 64, NULL));
	FZ_JET(JetSetSystemParameter(&fz_inst, 0, JET_paramJetfsEventTarget, JET_JetfsEventNone, NULL));
	FZ_JET(JetSetSystemParameter(&fz_inst, 0, JET_paramJetfsBackupSocket, 0, fz_sock));
	/* A dropped client's backup must end at once, which the harness checks (no hold). */
	FZ_JET(JetSetSystemParameter(&fz_inst, 0, JET_paramJetfsBackupHoldTime, 0, NULL));
	FZ_JET(JetInit(&fz_inst));
	FZ_JET(JetBeginSession(fz_inst, &ses, NULL, NULL));
	FZ_JET(JetCreateDatabase(ses, FZ_LINK "/fz.edb", NULL, &dbid, 0));
	FZ_JET(JetCreateTable(ses, dbid, "t", 0, 0, &t));
	FZ_JET(JetBeginTransaction(ses));
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%06d", i);
		snprintf(val, sizeof(val), "v%0150d", i);
		fz_put(ses, t, key, val);
	}
	FZ_JET(JetCommitTransaction(ses, 0));
	FZ_JET(JetCloseTable(ses, t));
	FZ_JET(JetCloseDatabase(ses, dbid, 0));
	FZ_JET(JetEndSession(ses, 0));
	if ((fz_ji = handle_get(HANDLE_INSTANCE, fz_inst)) == NULL)
		fz_die("handle_get");
}

static void
fz_stop(void)
{
	if (fz_inst != 0)
		JetTerm2(fz_inst, JET_bitTermStopBackup);
	fz_inst = 0;
	fz_ji = NULL;
}

static void
fz_atexit(void)
{
	fz_stop();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	(void)argc;
	(void)argv;
	fz_workdir("bksvc");
	if ((fd = open(fz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fz_die(fz_dir);
	if (fd != FZ_DIRFD && (dup2(fd, FZ_DIRFD) < 0 || close(fd) < 0))
		fz_die("dup2");
	snprintf(fz_sock, sizeof(fz_sock), "%s/bk.sock", FZ_LINK);
	fz_verbose = getenv("FUZZ_BKSVC_VERBOSE") != NULL && atoi(getenv("FUZZ_BKSVC_VERBOSE")) > 0;
	fz_start();
	atexit(fz_atexit);	/* runs before fz_cleanup (registered first) removes the files */
	return 0;
}

static int64_t
fz_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until no backup runs: the previous client's was aborted when it went away (S2). */
static void
fz_wait_no_backup(void)
{
	int64_t deadline = fz_now_ms() + FZ_IDLE_WAIT_MS;

	for (;;) {
		int running;
		pthread_mutex_lock(&fz_ji->backup_lock);
		running = fz_ji->backup != NULL;
		pthread_mutex_unlock(&fz_ji->backup_lock);
		if (!running)
			return;
		FZ_CHECK(fz_now_ms() < deadline, "a disconnected client's backup is still running after %d ms",
		    FZ_IDLE_WAIT_MS);
		usleep(100);
	}
}

/* The reply stream, parsed as it comes. */
struct fz_replies {
	uint8_t hdr[12];
	size_t have;		/* bytes of hdr[] filled */
	uint64_t left;		/* payload bytes still to skip */
	unsigned long n;
};

static void
fz_replies_feed(struct fz_replies *r, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (r->have < sizeof(r->hdr)) {
			size_t k = sizeof(r->hdr) - r->have < n ? sizeof(r->hdr) - r->have : n;
			memcpy(r->hdr + r->have, p, k);
			r->have += k;
			p += k;
			n -= k;
			if (r->have == sizeof(r->hdr)) {
				uint32_t len = get32(r->hdr), seq = get32(r->hdr + 4);
				JET_ERR status = (int32_t)get32(r->hdr + 8);
				FZ_CHECK(len >= 8 && len <= BKPROTO_MSG_MAX, "reply %lu: length %u", r->n, len);
				FZ_CHECK(!(seq == 0 && (status == JET_errBackupInProgress || status == JET_errPermissionDenied)),
				    "the service refused the client (%s): the previous connection was not done",
				    JetErrorName(status));
				if (fz_verbose)
					fprintf(stderr, "fuzz_bksvc: reply seq %u: %s (%ld), %u bytes\n", seq,
					    JetErrorName(status), (long)status, len - 8);
				r->left = len - 8;
				r->n++;
				if (r->left == 0)
					r->have = 0;
			}
			continue;
		}
		{
			size_t k = r->left < n ? (size_t)r->left : n;
			r->left -= k;
			p += k;
			n -= k;
		}
		if (r->left == 0)
			r->have = 0;
	}
}

/* One client connection: send data, read until the server closes. */
static void
fz_session(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa;
	struct fz_replies rep;
	static uint8_t buf[1 << 16];
	size_t sent = 0;
	int fd, wr_open = 1;

	memset(&rep, 0, sizeof(rep));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, fz_sock, strlen(fz_sock));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		fz_die("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fz_die("connect to the backup service");
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		fz_die("fcntl");
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (wr_open && sent == size) {
			shutdown(fd, SHUT_WR);
			wr_open = 0;
		}
		if (wr_open)
			p.events |= POLLOUT;
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fz_die("poll");
		}
		if (wr_open && (p.revents & POLLOUT)) {
			ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				wr_open = 0;	/* the server closed: it read what it wanted */
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			if (r > 0)
				fz_replies_feed(&rep, buf, (size_t)r);
			else if (r == 0 || (errno != EAGAIN && errno != EINTR))
				break;
		}
	}
	FZ_CHECK(rep.have == 0, "the server closed the connection inside reply %lu", rep.n);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (++fz_runs % FZ_RESET_EVERY == 0) {
		fz_wait_no_backup();
		fz_stop();
		fz_start();
	}
	fz_wait_no_backup();
	fz_session(data, size);
	return 0;
}
