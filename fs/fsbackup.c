/*
 * fsbackup.c -- the backup session behind a jetfs mount (see fsbackup.h).
 *
 * One mount runs at most one backup, always in point-in-time mode
 * (JET_bitBackupJetfsPointInTime): the whole set, with exact sizes, is known
 * at Begin, so listings never change, and JetfsReadFileAt serves any offset
 * in any order any number of times, which is how the kernel's readahead and
 * several readers ask for bytes.
 *
 * INVARIANTS
 *  F1. The set (names, sizes, Begin time) is written once, under the lock,
 *      before kind leaves FSB_NONE, and never changes after: FUSE handlers
 *      read it without the lock once they saw the kind set.
 *  F2. Every byte served is accounted in its file's covered ranges; every
 *      failed read is counted.  End is normal only if every file is covered
 *      completely and no read failed and the connection held; truncation
 *      needs the same.  Tools report a failed read at best as "file shrank",
 *      so the file system must not rely on them.
 *  F3. An engine file handle stays open while its file is incomplete (the
 *      engine counts a file as copied only when one handle served all of
 *      it).  A complete file keeps its handle, so that reading it again
 *      (rsync -c, a second copy) costs no request, until its room is
 *      needed (fsb_make_room_locked closes complete idle files), truncation
 *      or End: at most FSB_OPEN_MAX are open (the engine's own limit is 64).
 *      The reads that hash a file for SHA256SUMS go to its end through one
 *      handle, the tool's if it has one, so that handle has then served
 *      all of it, and is closed too: else hashing a set of more files than
 *      FSB_OPEN_MAX that no tool read yet (rsync reads SHA256SUMS first)
 *      would run out of handles.
 *  F4. No call on the instance is made under the lock: an instance that
 *      does not answer (stopped, swapping) must not stop status, which is
 *      how an admin finds out what is stuck.  Each call is listed in calls
 *      while it runs.  A file being opened or closed is marked (opening,
 *      closing) and other readers of it wait on changed; truncation marks
 *      the session (truncating) and reads wait for it.  A call that the
 *      instance did not answer in time (JetfsSetBackupTimeout) or that lost
 *      the connection makes the session lost: every later read fails, and
 *      the backup ends as an abort.
 *  F5. Reads made to hash the set for SHA256SUMS (fsmanifest.c) are not
 *      served bytes: they count for nothing in F2, but a failed one is a
 *      failed read like any other (the set is not good).
 *  F7. Bytes read ahead for a reader (a small read is answered from a
 *      slot filled by one larger read of the instance) are not served
 *      bytes either: a byte counts in F2 only when it is copied into a
 *      reply, so a reader killed anywhere counts for exactly what it was
 *      sent.  That is why jetfs reads ahead itself, in a few slots, instead
 *      of letting the kernel do it in the page cache, which FUSE cannot tell
 *      apart from the reader's own reads (doc/fuse-options.md).  A failed
 *      read ahead is a failed read (F5).  Slots are filled without the lock
 *      (filling) and read under it.
 *  F6. Names and sizes come from the instance, which may be anyone's
 *      process on the other end of a socket that root's jetfs was pointed
 *      at: before a set is listed, every name must be one a directory can
 *      hold (non-empty, not . or .., no '/', at most NAME_MAX bytes) with no
 *      control character anywhere in its path, and every size below
 *      FSB_SIZE_MAX and a multiple of FSB_SIZE_UNIT.  A set with one bad
 *      entry is refused whole, and the entry is printed escaped (set_escape):
 *      nothing the server sent reaches status or a terminal raw.
 *  F8. A backup outlives this mount (backup.c K5): what was served (F2)
 *      and the failed reads are also kept in the instance's client area
 *      (fsresume.c), and `-o resume` takes a held backup over instead of
 *      beginning one: the same set (names in the same order, so the same
 *      inode numbers; sizes; the instance's Begin time, which both mounts
 *      show), with the predecessor's account.  Whenever an engine handle
 *      of a file is opened, what F2 counts of the file is reported on it
 *      (JetfsNoteServed), and at a takeover every file the account holds
 *      wholly is opened, reported and closed: so the instance counts as
 *      copied what a killed mount served directly and never reported.
 *  F9. What the instance says of the backup (JetfsGetBackupInfo: kept
 *      images against the cap, how it ended) is asked once a second by a
 *      thread of its own (fsb_info_main), never by status (F4); status
 *      shows the last answer and its age.  An instance that ended the
 *      backup itself (a cap, a floor, a hold that expired) is reported
 *      once, with its reason, and the end is an abort.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "bkname.h"
#include "fsassert.h"
#include "fsbackup.h"
#include "fsmanifest.h"
#include "fsresume.h"
#include "manifest.h"
#include "ranges.h"

#define FSB_OPEN_MAX 48
#define FSB_MSG 512
#define FSB_DELTA_NO_TRUNCATION "a page delta truncates no log (the logs since the full are what an incremental " \
	"chain needs); truncate with a full or incremental backup"
/* F6: the largest size a file of the set may have: offsets plus a request
 * (at most 4 GiB) never overflow, and st_size (off_t) holds it. */
#define FSB_SIZE_MAX (UINT64_C(1) << 62)
/* F6: every database page and log block is a multiple of this. */
#define FSB_SIZE_UNIT 512

struct fsb_state {
	JET_HANDLE handle;
	int open;
	int opening, closing;		/* F4 */
	unsigned readers;
	struct ranges covered;
	uint64_t served;		/* bytes served, re-reads included */
	unsigned failed_reads;
	JET_ERR error;			/* the engine took the file out (a damaged page) */
};

/* F7: a run of a file read ahead. */
#define FSB_SLOTS 4
struct fsb_slot {
	char *data;			/* readahead bytes */
	size_t file, len;		/* len 0: empty */
	uint64_t off;
	int filling;
	unsigned long long used;	/* for the least recently used */
};

struct fsbackup {
	struct olock lock;
	pthread_cond_t changed;
	struct source *src;
	unsigned wait_ms;
	int event_target;	/* JET_JetfsEvent*: where fsb_log writes */
	int with_manifest;
	size_t readahead;		/* F7; 0: none */
	struct fsb_slot slots[FSB_SLOTS];
	unsigned long long slot_clock;

	enum fsb_kind kind;
	int beginning;
	int ended;
	unsigned long end_grbit;
	JET_INSTANCE inst;
	struct timespec begun_at;
	unsigned long gen_low, gen_high;
	struct fsb_file *files;
	struct fsb_state *state;
	size_t nfiles, nopen;
	struct fsmanifest *manifest;

	unsigned failed_reads;
	int lost;			/* the connection is gone (F4) */
	char lost_why[FSB_MSG];
	struct fsb_call *calls;		/* F4: the calls on the instance in progress */
	int truncating;
	int truncated;
	char *truncated_list;		/* the names JetGetTruncateLogInfo gave */
	char begin_error[FSB_MSG];
	char last_error[FSB_MSG];
	char first_failed_read[FSB_MSG];	/* the cause; the later ones may follow from it */
	char end_outcome[FSB_MSG];

	int resume;			/* F8: -o resume */
	int resumed;			/* F8: this mount took the backup over */
	struct fsresume *account;	/* F8; NULL: none kept */
	char account_note[FSB_MSG];
	JETFS_BACKUPINFO info;		/* F9: the instance's last answer (info.cbStruct 0: none yet) */
	struct timespec info_at;
	int info_running, info_stop;
	pthread_t info_thread;
	char instance_ended[FSB_MSG];	/* F9: the instance ended the backup, and why */
};

/* A call on the instance in progress (F4), for status. */
struct fsb_call {
	struct fsb_call *next;
	struct timespec since;
	char what[160];
};

static int fsb_manifest_reader(void *ctx, size_t i, void *buf, size_t n, uint64_t off);
static const char *kind_name(enum fsb_kind k);
static void fsb_report_account(struct fsbackup *b);
static void fsb_info_start(struct fsbackup *b);

/* ---- messages ---- */

static void
fsb_log(struct fsbackup *b, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
fsb_log(struct fsbackup *b, int prio, const char *fmt, ...)
{
	char msg[FSB_MSG];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (b->event_target == JET_JetfsEventSyslog)
		syslog(prio, "%s", msg);
	else if (b->event_target == JET_JetfsEventStderr)
		fprintf(stderr, "jetfs: %s\n", msg);
}

static int
fsb_errno(JET_ERR err)
{
	switch (err) {
	case JET_errBackupInProgress:
		return EBUSY;
	case JET_errFileNotFound:
		return ECONNREFUSED;
	case JET_errPermissionDenied:
		return EACCES;
	case JET_errBackupAbortByServer:
		return ECONNRESET;
	case JET_errOutOfMemory:
		return ENOMEM;
	default:
		return EIO;
	}
}

/* ---- calls on the instance (F4) ---- */

static void
fsb_call_begin_locked(struct fsbackup *b, struct fsb_call *call, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fsb_call_begin_locked(struct fsbackup *b, struct fsb_call *call, const char *fmt, ...)
{
	va_list ap;

	FS_REQUIRE(olock_held(&b->lock), );
	va_start(ap, fmt);
	vsnprintf(call->what, sizeof(call->what), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &call->since);
	call->next = b->calls;
	b->calls = call;
}

static void
fsb_call_end_locked(struct fsbackup *b, struct fsb_call *call)
{
	FS_REQUIRE(olock_held(&b->lock), );
	for (struct fsb_call **p = &b->calls; *p != NULL; p = &(*p)->next)
		if (*p == call) {
			*p = call->next;
			break;
		}
}

static double
seconds_since(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* A call that timed out or lost the connection leaves nothing to talk to: the session is lost (F4). */
static void
fsb_call_failed_locked(struct fsbackup *b, const struct fsb_call *call, JET_ERR err)
{
	FS_REQUIRE(olock_held(&b->lock), );
	if (err != JET_errDeviceTimeout && err != JET_errBackupAbortByServer)
		return;
	if (!b->lost && err == JET_errDeviceTimeout && b->src->timeout_s == 0)
		/* An in-process mount of a remote handle whose owner set the timeout. */
		snprintf(b->lost_why, sizeof(b->lost_why), "the instance did not answer the %s in time", call->what);
	else if (!b->lost && err == JET_errDeviceTimeout)
		snprintf(b->lost_why, sizeof(b->lost_why), "the instance did not answer the %s within %u s",
		    call->what, b->src->timeout_s);
	else if (!b->lost && JetfsCheckBackupConnection(b->inst) == JET_errBackupAbortByServer)
		/* Hung up: the process went away (killed, crashed, exited), not a JetStopBackup. */
		snprintf(b->lost_why, sizeof(b->lost_why), "the instance went away: connection lost at the %s "
		    "(the application stopped or was killed)", call->what);
	else if (!b->lost)
		snprintf(b->lost_why, sizeof(b->lost_why), "the instance aborted the backup at the %s "
		    "(JetStopBackup or JetTerm)", call->what);
	b->lost = 1;
}

/* The text of a call's failure: for a lost session, why it was lost (the engine's text names neither). */
static const char *
fsb_err_text(const struct fsbackup *b, JET_ERR err)
{
	if (b->lost && (err == JET_errDeviceTimeout || err == JET_errBackupAbortByServer))
		return b->lost_why;
	return JetErrorString(err);
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static size_t
file_index_of(struct fsbackup *b, const struct fsb_state *st)
{
	return (size_t)(st - b->state);
}

static int
file_complete(const struct fsb_file *f, const struct fsb_state *st)
{
	return st->covered.total == f->size;
}

/* ---- lifetime ---- */

struct fsbackup *
fsbackup_new(struct source *src, unsigned wait_ms, int event_target, int with_manifest, size_t readahead)
{
	struct fsbackup *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	olock_init(&b->lock);
	pthread_cond_init(&b->changed, NULL);
	b->src = src;
	b->wait_ms = wait_ms;
	b->event_target = event_target;
	b->with_manifest = with_manifest;
	b->readahead = readahead;
	return b;
}

static void
fsb_free_set(struct fsbackup *b)
{
	/* First: its hasher thread reads the set's sizes until it is joined. */
	fsmanifest_free(b->manifest);
	b->manifest = NULL;
	for (size_t i = 0; i < b->nfiles; i++) {
		free(b->files[i].name);
		free(b->files[i].source_name);
		free(b->state[i].covered.r);
	}
	free(b->files);
	free(b->state);
	b->files = NULL;
	b->state = NULL;
	b->nfiles = 0;
}

void
fsbackup_free(struct fsbackup *b)
{
	if (b == NULL)
		return;
	fsbackup_end(b);
	fsb_free_set(b);
	for (size_t k = 0; k < FSB_SLOTS; k++)
		free(b->slots[k].data);
	free(b->truncated_list);
	if (b->src != NULL)
		b->src->free(b->src);
	pthread_cond_destroy(&b->changed);
	olock_destroy(&b->lock);
	free(b);
}

/* ---- Begin ---- */

/* Calls a list function of the ESE A-variant kind (size first, then fill). */
static JET_ERR
fsb_get_list(JET_INSTANCE inst, int logs, char **list, JET_LOGINFO *info)
{
	unsigned long cb = 0, need = 0;
	JET_ERR err;

	*list = NULL;
	for (int attempt = 0; attempt < 4; attempt++) {
		char *buf = cb ? malloc(cb) : NULL;
		if (cb && buf == NULL)
			return JET_errOutOfMemory;
		if (logs)
			err = JetGetLogInfoInstance2(inst, buf, cb, &need, info);
		else
			err = JetGetAttachInfoInstance(inst, buf, cb, &need);
		if (err >= 0 && cb >= need && buf != NULL) {
			*list = buf;
			return JET_errSuccess;
		}
		free(buf);
		if (err < 0 && err != JET_errBufferTooSmall)
			return err;
		cb = need + 1;
	}
	return JET_errBufferTooSmall;
}

static int
file_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fsb_file *)a)->name, ((const struct fsb_file *)b)->name);
}

/* Adds the names of a double-NUL list to the set. */
static JET_ERR
fsb_add_files(struct fsb_file **files, size_t *n, const char *list)
{
	for (const char *p = list; p != NULL && *p != '\0'; p += strlen(p) + 1) {
		struct fsb_file *f = realloc(*files, (*n + 1) * sizeof(**files));
		if (f == NULL)
			return JET_errOutOfMemory;
		*files = f;
		f = &f[*n];
		memset(f, 0, sizeof(*f));
		f->source_name = strdup(p);
		f->name = strdup(base_name(p));
		(*n)++;
		if (f->source_name == NULL || f->name == NULL)
			return JET_errOutOfMemory;
	}
	return JET_errSuccess;
}

static void
fsb_free_files(struct fsb_file *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(files[i].name);
		free(files[i].source_name);
	}
	free(files);
}

/* A Begin time as status and messages show it: local time, with the zone. */
static void
fsb_local_time(time_t t, char *buf, size_t cb)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, cb, "%Y-%m-%d %H:%M:%S %z", &tm);
}

/* The kind of a backup begun with grbit (JetfsGetBackupInfo tells it). */
static enum fsb_kind
fsb_kind_of(JET_GRBIT grbit)
{
	return grbit & JET_bitBackupIncremental ? FSB_INCREMENTAL : grbit & JET_bitBackupJetfsDelta ? FSB_DELTA :
	    FSB_FULL;
}

/* The Begin bits of a kind: always point-in-time (F1). */
static JET_GRBIT
fsb_grbit_of(enum fsb_kind kind)
{
	return JET_bitBackupJetfsPointInTime | (kind == FSB_INCREMENTAL ? JET_bitBackupIncremental :
	    kind == FSB_DELTA ? JET_bitBackupJetfsDelta : 0);
}

/* "backup 0x... (full, begun ...) held for its lost client (uid U) for another N s", from info. */
static void
fsb_describe_held(const JETFS_BACKUPINFO *info, char *msg, size_t cb)
{
	char when[64];

	fsb_local_time((time_t)(info->ullBeginTimeUs / 1000000), when, sizeof(when));
	snprintf(msg, cb, "backup %#llx (%s, begun %s) is held for its lost client (uid %lu) for another %llu s",
	    info->ullId, kind_name(fsb_kind_of(info->grbit)), when, info->ulHeldUid,
	    (info->ullHeldMsLeft + 999) / 1000);
}

/* The instance's word on its backup; a zeroed info (cbStruct 0) if it has none to give (an older instance). */
static void
fsb_get_info(JET_INSTANCE inst, JETFS_BACKUPINFO *info)
{
	memset(info, 0, sizeof(*info));
	info->cbStruct = sizeof(*info);
	if (JetfsGetBackupInfo(inst, info) < 0)
		memset(info, 0, sizeof(*info));
}

/* Begin, or (-o resume) take the held backup over; *pkind: the kind it has. */
static JET_ERR
fsb_begin_or_take_over(struct fsbackup *b, JET_INSTANCE inst, enum fsb_kind *pkind, char *msg)
{
	JET_GRBIT grbit = fsb_grbit_of(*pkind);
	struct timespec pause = { 0, 50 * 1000000L };
	JETFS_BACKUPINFO info;
	JET_ERR err;

	if (b->resume) {
		if ((err = JetfsTakeOverBackup(inst, 0)) < 0) {
			fsb_get_info(inst, &info);
			if (err == JET_errNoBackup && info.ullId == 0)
				snprintf(msg, FSB_MSG, "cannot resume: no backup is held by %s%s%s", b->src->description,
				    info.ullLastEndId ? "; the last one ended: " : "", info.ullLastEndId ? info.szLastEnd : "");
			else if (err == JET_errNoBackup)
				snprintf(msg, FSB_MSG, "cannot resume: backup %#llx runs with its client connected (not held)",
				    info.ullId);
			else if (err == JET_errPermissionDenied)
				snprintf(msg, FSB_MSG, "cannot resume: backup %#llx was begun by uid %lu, not this uid (%lu)",
				    info.ullId, info.ulHeldUid, (unsigned long)geteuid());
			else
				snprintf(msg, FSB_MSG, "cannot resume a backup of %s: %s (%ld)", b->src->description,
				    JetErrorString(err), err);
			return err;
		}
		fsb_get_info(inst, &info);
		*pkind = fsb_kind_of(info.grbit);
		return JET_errSuccess;
	}
	for (unsigned waited = 0;; waited += 50) {
		err = JetBeginExternalBackupInstance(inst, grbit);
		if (err != JET_errBackupInProgress)
			break;
		/* A held backup waits for its own client, not for this one: say so now. */
		fsb_get_info(inst, &info);
		if (info.fHeld) {
			fsb_describe_held(&info, msg, FSB_MSG);
			snprintf(msg + strlen(msg), FSB_MSG - strlen(msg), ": mount with -o resume to finish it");
			return err;
		}
		if (waited >= b->wait_ms)
			break;
		nanosleep(&pause, NULL);
	}
	if (err < 0 && *pkind == FSB_DELTA && err == JET_errMissingFullBackup)
		snprintf(msg, FSB_MSG, "cannot begin a page delta on %s: a database has no full backup recorded "
		    "(a full whose logs were truncated: copy backup/full/, then write backup/truncate) (%ld)",
		    b->src->description, err);
	else if (err < 0 && *pkind == FSB_DELTA && err != JET_errBackupInProgress)
		snprintf(msg, FSB_MSG, "cannot begin a page delta on %s: %s (%ld); the instance's event 245 names the "
		    "database and why its changed pages cannot all be known: a full backup starts again from there",
		    b->src->description, JetErrorString(err), err);
	else if (err < 0)
		snprintf(msg, FSB_MSG, "cannot begin a backup on %s: %s (%ld)", b->src->description, JetErrorString(err),
		    err);
	return err;
}

/*
 * Begin proper, outside the lock: connect, Begin (waiting a bounded time for
 * a backup that still runs) or take the held backup over, list the
 * databases and logs, size each, and find the account (F8).  On failure
 * the backup is ended as an abort (a taken-over one is left to the
 * instance, which holds it again) and msg says why.
 */
static JET_ERR
fsb_start(struct fsbackup *b, enum fsb_kind *pkind, JET_INSTANCE *pinst, struct fsb_file **pfiles, size_t *pn,
    JET_LOGINFO *info, char *msg)
{
	struct fsb_file *files = NULL;
	char *dbs = NULL, *logs = NULL;
	const char *step;
	size_t n = 0;
	JET_ERR err;
	int began = 0;
	enum fsb_kind kind;

	step = "connect to";
	if ((err = b->src->acquire(b->src, b->wait_ms, pinst)) < 0)
		goto err_unacquired;
	if ((err = fsb_begin_or_take_over(b, *pinst, pkind, msg)) < 0)
		goto err_msg;
	kind = *pkind;
	began = !b->resume;
	step = "list the databases of";
	if (kind != FSB_INCREMENTAL && ((err = fsb_get_list(*pinst, 0, &dbs, NULL)) < 0 ||
	    (err = fsb_add_files(&files, &n, dbs)) < 0))
		goto err;
	step = "list the log files of";
	info->cbSize = sizeof(*info);
	if ((err = fsb_get_list(*pinst, 1, &logs, info)) < 0 || (err = fsb_add_files(&files, &n, logs)) < 0)
		goto err;
	switch (bkname_check_set(dbs, logs, "jetfs cannot serve", msg, FSB_MSG)) {
	case BKNAME_OK:
		break;
	case BKNAME_NOMEM:
		err = JET_errOutOfMemory;
		goto err;
	default:
		err = JET_errInvalidParameter;
		goto err_msg;
	}
	qsort(files, n, sizeof(*files), file_name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (b->with_manifest && (!manifest_name_ok(files[i].name) || strcmp(files[i].name, MANIFEST_NAME) == 0)) {
			snprintf(msg, FSB_MSG, "%s cannot be listed beside %s (a backslash, a newline or that very "
			    "name): rename the database", files[i].source_name, MANIFEST_NAME);
			err = JET_errInvalidParameter;
			goto err_msg;
		}
	}
	step = "open the backup files of";
	for (size_t i = 0; i < n; i++) {
		JET_HANDLE h;
		unsigned long lo, hi;
		if ((err = JetOpenFileInstance(*pinst, files[i].source_name, &h, &lo, &hi)) < 0) {
			snprintf(msg, FSB_MSG, "cannot open %s for the backup: %s", files[i].source_name,
			    JetErrorString(err));
			goto err_msg;
		}
		files[i].size = (uint64_t)hi << 32 | lo;
		if ((err = JetCloseFileInstance(*pinst, h)) < 0)
			goto err;
		if (files[i].size >= FSB_SIZE_MAX || files[i].size % FSB_SIZE_UNIT != 0) {
			snprintf(msg, FSB_MSG, "the instance gave %s a size jetfs cannot serve: %llu bytes (not a "
			    "multiple of %u below 2^62): the set is refused", files[i].source_name,
			    (unsigned long long)files[i].size, FSB_SIZE_UNIT);
			err = JET_errInvalidParameter;
			goto err_msg;
		}
	}
	free(dbs);
	free(logs);
	*pfiles = files;
	*pn = n;
	return JET_errSuccess;

err:
	snprintf(msg, FSB_MSG, "cannot %s %s: %s (%ld)", step, b->src->description, JetErrorString(err), err);
err_msg:
	if (began)
		JetEndExternalBackupInstance2(*pinst, JET_bitBackupEndAbort);
	/* A taken-over backup goes back to the hold when the connection goes. */
	b->src->release(b->src, *pinst);
	free(dbs);
	free(logs);
	fsb_free_files(files, n);
	return err;
err_unacquired:
	snprintf(msg, FSB_MSG, "cannot %s %s: %s (%ld)", step, b->src->description, JetErrorString(err), err);
	return err;
}

/*
 * F8: the account of what is served, found or made; a takeover's predecessor
 * account is loaded into covered (under the lock: the set is not yet
 * published, F1).  Outside the lock: it asks the instance.
 */
static struct fsresume *
fsb_open_account(struct fsbackup *b, JET_INSTANCE inst, const struct fsb_file *files, size_t n, int *carried,
    char *note)
{
	uint64_t *sizes = malloc((n ? n : 1) * sizeof(*sizes));
	struct fsresume *r;

	*carried = 0;
	if (sizes == NULL) {
		snprintf(note, FSB_MSG, "not kept: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		sizes[i] = files[i].size;
	r = fsresume_open(inst, sizes, n, carried, note, FSB_MSG);
	free(sizes);
	if (r != NULL)
		snprintf(note, FSB_MSG, "kept by the instance%s", *carried ? "; carried over from the mount before" :
		    b->resume ? "; the mount before kept none: every file is read again" : "");
	return r;
}

static int
fsb_begin(struct fsbackup *b, enum fsb_kind kind)
{
	struct fsb_file *files = NULL;
	struct fsb_call call;
	JET_LOGINFO info;
	JETFS_BACKUPINFO binfo;
	JET_INSTANCE inst = 0;
	struct fsresume *account = NULL;
	char msg[FSB_MSG], note[FSB_MSG];
	size_t n = 0;
	JET_ERR err;
	int rc, carried = 0;

	olock_lock(&b->lock);
	while (b->beginning)
		olock_wait(&b->changed, &b->lock);
	if (b->kind != FSB_NONE || b->ended) {
		rc = b->kind == kind || (b->resume && kind == FSB_NONE) ? 0 : -EBUSY;
		olock_unlock(&b->lock);
		return rc;
	}
	b->beginning = 1;
	fsb_call_begin_locked(b, &call, "%s", b->resume ? "takeover of the held backup" : kind == FSB_FULL ?
	    "begin of a full backup" : kind == FSB_DELTA ? "begin of a page delta" : "begin of an incremental backup");
	olock_unlock(&b->lock);

	memset(&info, 0, sizeof(info));
	err = fsb_start(b, &kind, &inst, &files, &n, &info, msg);
	if (err >= 0) {
		fsb_get_info(inst, &binfo);
		account = fsb_open_account(b, inst, files, n, &carried, note);
	}

	olock_lock(&b->lock);
	fsb_call_end_locked(b, &call);
	b->beginning = 0;
	if (err < 0) {
		snprintf(b->begin_error, sizeof(b->begin_error), "%s", msg);
		rc = -fsb_errno(err);
	} else if ((b->state = calloc(n ? n : 1, sizeof(*b->state))) == NULL ||
	    (b->with_manifest && (b->manifest = fsmanifest_new(files, n, fsb_manifest_reader, b)) == NULL)) {
		snprintf(b->begin_error, sizeof(b->begin_error), "out of memory");
		free(b->state);
		b->state = NULL;
		fsresume_free(account);
		if (!b->resume)
			JetEndExternalBackupInstance2(inst, JET_bitBackupEndAbort);
		b->src->release(b->src, inst);
		fsb_free_files(files, n);
		rc = -ENOMEM;
	} else {
		b->begin_error[0] = '\0';
		b->inst = inst;
		b->files = files;
		b->nfiles = n;
		b->gen_low = info.ulGenLow;
		b->gen_high = info.ulGenHigh;
		b->account = account;
		snprintf(b->account_note, sizeof(b->account_note), "%s", note);
		b->info = binfo;
		clock_gettime(CLOCK_MONOTONIC, &b->info_at);
		b->resumed = b->resume;
		/* F8: the instance's Begin time, which a mount that takes over shows too. */
		if (binfo.ullBeginTimeUs != 0) {
			b->begun_at.tv_sec = (time_t)(binfo.ullBeginTimeUs / 1000000);
			b->begun_at.tv_nsec = (long)(binfo.ullBeginTimeUs % 1000000) * 1000;
		} else
			clock_gettime(CLOCK_REALTIME, &b->begun_at);
		for (size_t i = 0; i < n && carried; i++) {
			if (fsresume_load(account, i, &b->state[i].covered) < 0)
				snprintf(b->account_note, sizeof(b->account_note), "out of memory loading the account: "
				    "some files are read again");
			b->state[i].served = b->state[i].covered.total;
		}
		b->failed_reads = fsresume_failed_reads(account);
		if (b->failed_reads > 0)
			snprintf(b->first_failed_read, sizeof(b->first_failed_read), "%u read%s failed before the "
			    "takeover (see the events of the mount before)", b->failed_reads,
			    b->failed_reads == 1 ? "" : "s");
		b->kind = kind;		/* F1: published last */
		rc = 0;
	}
	pthread_cond_broadcast(&b->changed);
	olock_unlock(&b->lock);
	if (rc != 0) {
		fsb_log(b, LOG_ERR, "%s", msg);
		return rc;
	}
	fsb_log(b, LOG_INFO, "%s backup %#llx %s on %s: %zu files, log generations %lu-%lu", kind_name(kind),
	    binfo.ullId, b->resume ? "taken over" : "begun", b->src->description, n, info.ulGenLow, info.ulGenHigh);
	if (carried)
		fsb_report_account(b);
	fsb_info_start(b);
	return 0;
}

int
fsbackup_begin(struct fsbackup *b, enum fsb_kind kind)
{
	return fsb_begin(b, kind);
}

int
fsbackup_resume(struct fsbackup *b, char *msg, size_t cb)
{
	int rc;

	b->resume = 1;
	rc = fsb_begin(b, FSB_NONE);
	if (rc < 0) {
		olock_lock(&b->lock);
		snprintf(msg, cb, "%s", b->begin_error);
		olock_unlock(&b->lock);
	}
	return rc;
}

int
fsbackup_held(struct fsbackup *b, char *msg, size_t cb)
{
	JETFS_BACKUPINFO info;
	JET_INSTANCE inst;

	if (b->src->acquire(b->src, 0, &inst) < 0)
		return 0;
	fsb_get_info(inst, &info);
	b->src->release(b->src, inst);
	if (!info.fHeld)
		return 0;
	fsb_describe_held(&info, msg, cb);
	return 1;
}

enum fsb_kind
fsbackup_kind(struct fsbackup *b)
{
	enum fsb_kind k;

	olock_lock(&b->lock);
	k = b->kind;
	olock_unlock(&b->lock);
	return k;
}

size_t
fsbackup_count(struct fsbackup *b)
{
	return b->nfiles;
}

const struct fsb_file *
fsbackup_file(struct fsbackup *b, size_t i)
{
	return i < b->nfiles ? &b->files[i] : NULL;
}

struct timespec
fsbackup_time(struct fsbackup *b)
{
	return b->begun_at;
}

/* ---- reads ---- */

/*
 * Closes the engine handle of a file (F3) that no read uses.  Drops the lock
 * for the call (F4), so the caller must check again what it saw before.
 */
static void
fsb_close_locked(struct fsbackup *b, struct fsb_state *st)
{
	const char *name = b->files[file_index_of(b, st)].name;
	struct fsb_call call;
	JET_ERR err;

	FS_REQUIRE(olock_held(&b->lock), );
	if (!st->open || st->readers != 0 || st->closing)
		return;
	st->open = 0;
	st->closing = 1;
	fsb_call_begin_locked(b, &call, "close of %s", name);
	olock_unlock(&b->lock);
	err = JetCloseFileInstance(b->inst, st->handle);
	olock_lock(&b->lock);
	fsb_call_end_locked(b, &call);
	st->closing = 0;
	b->nopen--;	/* only now: the engine's count of open files is what FSB_OPEN_MAX bounds */
	if (err < 0) {
		fsb_call_failed_locked(b, &call, err);
		if (st->error == JET_errSuccess)
			snprintf(b->last_error, sizeof(b->last_error), "closing %s: %.300s", name,
			    fsb_err_text(b, err));
	}
	pthread_cond_broadcast(&b->changed);
}

/* Makes room for one more open handle by closing a complete, idle file. */
static void
fsb_make_room_locked(struct fsbackup *b)
{
	for (size_t i = 0; i < b->nfiles && b->nopen >= FSB_OPEN_MAX; i++)
		if (b->state[i].open && b->state[i].readers == 0 && file_complete(&b->files[i], &b->state[i]))
			fsb_close_locked(b, &b->state[i]);
}

static void
fsb_record_failure_locked(struct fsbackup *b, struct fsb_state *st, JET_ERR err, uint64_t off, size_t n,
    const char *what)
{
	const struct fsb_file *f = &b->files[file_index_of(b, st)];

	FS_REQUIRE(olock_held(&b->lock), );
	/* As ESE, the engine ends its backup at a failed log read: say so, not "No backup in progress". */
	if (err == JET_errNoBackup && what == NULL && b->failed_reads > 0)
		what = "the instance ended the backup at the first failed read";
	if ((err == JET_errDeviceTimeout || err == JET_errBackupAbortByServer) && what == NULL && b->lost)
		what = b->lost_why;
	st->failed_reads++;
	b->failed_reads++;
	fsresume_note_failed_read(b->account);
	if (err == JET_errReadVerifyFailure || err == JET_errReadPgnoVerifyFailure ||
	    err == JET_errLogReadVerifyFailure || err == JET_errDiskIO) {
		/* The engine has taken the file out of the session (and closed it). */
		st->error = err;
		if (st->open) {
			st->open = 0;
			b->nopen--;
		}
	}
	snprintf(b->last_error, sizeof(b->last_error), "read of %s at %llu (+%zu): %.300s (%ld)", f->name,
	    (unsigned long long)off, n, what ? what : JetErrorString(err), err);
	if (b->first_failed_read[0] == '\0')
		memcpy(b->first_failed_read, b->last_error, sizeof(b->first_failed_read));
	fsb_log(b, LOG_ERR, "%s", b->last_error);
}

/* Counts [off, off + n) of a file as served (F2). */
static ssize_t
fsb_account_locked(struct fsbackup *b, struct fsb_state *st, uint64_t off, size_t n)
{
	FS_REQUIRE(olock_held(&b->lock), -EIO);
	if (ranges_add(&st->covered, off, off + n) < 0) {
		fsb_record_failure_locked(b, st, JET_errOutOfMemory, off, n, NULL);
		return -EIO;
	}
	fsresume_mark(b->account, file_index_of(b, st), &st->covered, off, n);
	st->served += n;
	return (ssize_t)n;
}

/* An older instance cannot hear what was served (F8): it was not told by a predecessor either. */
static JET_ERR
fsb_note_served(JET_INSTANCE inst, JET_HANDLE h, uint64_t off, uint64_t len)
{
	JET_ERR err = JetfsNoteServed(inst, h, off, len);

	return err == JET_errFeatureNotAvailable ? JET_errSuccess : err;
}

/*
 * Opens the engine handle of a file that is not open (F3), reporting on it
 * what F2 counts of the file (F8).  Under the lock, dropped for the calls
 * (F4).  0, or -EIO with the failure recorded.
 */
static int
fsb_open_locked(struct fsbackup *b, struct fsb_state *st, uint64_t off, size_t n)
{
	const struct fsb_file *f = &b->files[file_index_of(b, st)];
	struct fsb_call call;
	JET_HANDLE h;
	JET_ERR err;
	int opened;

	FS_REQUIRE(olock_held(&b->lock), -EIO);
	while (!b->ended && !b->lost && st->error == JET_errSuccess && !st->open) {
		unsigned long lo, hi;
		if (st->opening || st->closing || b->truncating) {
			olock_wait(&b->changed, &b->lock);
			continue;
		}
		fsb_make_room_locked(b);
		if (st->open || st->opening || st->closing || b->truncating || b->ended || b->lost)
			continue;	/* the room was made without the lock */
		if (b->nopen >= FSB_OPEN_MAX) {
			fsb_record_failure_locked(b, st, JET_errOutOfFileHandles, off, n,
			    "too many files are being read at once");
			return -EIO;
		}
		st->opening = 1;
		b->nopen++;
		fsb_call_begin_locked(b, &call, "open of %s", f->name);
		olock_unlock(&b->lock);
		err = JetOpenFileInstance(b->inst, f->source_name, &h, &lo, &hi);
		opened = err >= 0;
		/* F8; covered changes only through an open handle, and no read passes this loop meanwhile. */
		for (size_t k = 0; err >= 0 && k < st->covered.n; k++)
			err = fsb_note_served(b->inst, h, st->covered.r[k][0], st->covered.r[k][1] - st->covered.r[k][0]);
		if (err < 0 && opened)
			(void)JetCloseFileInstance(b->inst, h);
		olock_lock(&b->lock);
		fsb_call_end_locked(b, &call);
		st->opening = 0;
		pthread_cond_broadcast(&b->changed);
		if (err < 0) {
			b->nopen--;
			fsb_call_failed_locked(b, &call, err);
			fsb_record_failure_locked(b, st, err, off, n, NULL);
			return -EIO;
		}
		st->handle = h;
		st->open = 1;
	}
	return 0;
}

/* Reads through the engine; the bytes count as served (F2) only if served (F5, F7). */
static ssize_t
fsb_read(struct fsbackup *b, size_t i, void *buf, size_t n, uint64_t off, int served)
{
	const struct fsb_file *f;
	struct fsb_state *st;
	struct fsb_call call;
	unsigned long got = 0;
	JET_HANDLE h;
	JET_ERR err;
	ssize_t rc;

	if (i >= b->nfiles)
		return -ENOENT;
	f = &b->files[i];
	st = &b->state[i];
	if (off >= f->size)
		return 0;
	if (n > f->size - off)
		n = (size_t)(f->size - off);

	olock_lock(&b->lock);
	if (fsb_open_locked(b, st, off, n) < 0) {
		olock_unlock(&b->lock);
		return -EIO;
	}
	if (b->ended || b->lost || st->error != JET_errSuccess) {
		fsb_record_failure_locked(b, st, b->lost ? JET_errBackupAbortByServer :
		    st->error != JET_errSuccess ? st->error : JET_errNoBackup, off, n,
		    b->ended ? "the backup has ended" : NULL);
		olock_unlock(&b->lock);
		return -EIO;
	}
	st->readers++;
	h = st->handle;
	fsb_call_begin_locked(b, &call, "read of %s at %llu (+%zu)", f->name, (unsigned long long)off, n);
	olock_unlock(&b->lock);

	err = JetfsReadFileAt(b->inst, h, off, buf, (unsigned long)n, &got);

	olock_lock(&b->lock);
	fsb_call_end_locked(b, &call);
	st->readers--;
	if (err < 0)
		fsb_call_failed_locked(b, &call, err);
	if (err < 0 || got != n) {
		fsb_record_failure_locked(b, st, err < 0 ? err : JET_errDiskIO, off, n,
		    err < 0 ? NULL : "short read inside the file");
		rc = -EIO;
	} else if (served) {
		rc = fsb_account_locked(b, st, off, n);
	} else {
		rc = (ssize_t)n;
		if (off + n == f->size)
			fsb_close_locked(b, st);
	}
	olock_unlock(&b->lock);
	return rc;
}

/* F7: a slot holding [off, off + n) of file i, or NULL. */
static struct fsb_slot *
fsb_slot_find_locked(struct fsbackup *b, size_t i, size_t n, uint64_t off)
{
	for (size_t k = 0; k < FSB_SLOTS; k++) {
		struct fsb_slot *sl = &b->slots[k];
		if (!sl->filling && sl->len != 0 && sl->file == i && off >= sl->off && off + n <= sl->off + sl->len)
			return sl;
	}
	return NULL;
}

/*
 * F7: serves a small read from a slot, filling the least recently used one
 * with readahead bytes from off first if none holds it.  @return as
 * fsb_read; -EAGAIN if every slot is being filled (the caller reads alone).
 */
static ssize_t
fsb_read_ahead(struct fsbackup *b, size_t i, void *buf, size_t n, uint64_t off)
{
	const struct fsb_file *f = &b->files[i];
	struct fsb_slot *sl, *lru = NULL;
	ssize_t rc;

	olock_lock(&b->lock);
	if (b->ended || b->lost || b->state[i].error != JET_errSuccess) {
		olock_unlock(&b->lock);
		return -EAGAIN;	/* fsb_read fails it, and records why */
	}
	if ((sl = fsb_slot_find_locked(b, i, n, off)) == NULL) {
		for (size_t k = 0; k < FSB_SLOTS; k++)
			if (!b->slots[k].filling && (lru == NULL || b->slots[k].used < lru->used))
				lru = &b->slots[k];
		if (lru == NULL || (lru->data == NULL && (lru->data = malloc(b->readahead)) == NULL)) {
			olock_unlock(&b->lock);
			return -EAGAIN;
		}
		sl = lru;
		sl->filling = 1;
		sl->file = i;
		sl->off = off;
		sl->len = 0;
		olock_unlock(&b->lock);
		rc = fsb_read(b, i, sl->data, (size_t)(f->size - off < b->readahead ? f->size - off : b->readahead),
		    off, 0);
		/* Hashed now, in order, a MiB at a time: the small reads served from it are then (fsmanifest.c M6). */
		if (rc > 0 && b->manifest != NULL)
			fsmanifest_offer(b->manifest, i, sl->data, (size_t)rc, off);
		olock_lock(&b->lock);
		sl->filling = 0;
		if (rc < 0) {
			olock_unlock(&b->lock);
			return rc;
		}
		sl->len = (size_t)rc;
	}
	sl->used = ++b->slot_clock;
	memcpy(buf, sl->data + (off - sl->off), n);
	rc = fsb_account_locked(b, &b->state[i], off, n);
	olock_unlock(&b->lock);
	return rc;
}

ssize_t
fsbackup_read(struct fsbackup *b, size_t i, void *buf, size_t n, uint64_t off)
{
	ssize_t rc = -EAGAIN;

	if (i < b->nfiles && off < b->files[i].size) {
		if (n > b->files[i].size - off)
			n = (size_t)(b->files[i].size - off);
		if (n < b->readahead)
			rc = fsb_read_ahead(b, i, buf, n, off);
	}
	if (rc == -EAGAIN)
		rc = fsb_read(b, i, buf, n, off, 1);

	if (rc > 0 && b->manifest != NULL)
		fsmanifest_pending(b->manifest, i, buf, (size_t)rc, off);
	return rc;
}

void
fsbackup_served(struct fsbackup *b, size_t i, const void *buf, size_t n, uint64_t off)
{
	if (b->manifest != NULL)
		fsmanifest_served(b->manifest, i, buf, n, off);
}

static int
fsb_manifest_reader(void *ctx, size_t i, void *buf, size_t n, uint64_t off)
{
	ssize_t rc = fsb_read(ctx, i, buf, n, off, 0);

	return rc < 0 ? (int)rc : (size_t)rc == n ? 0 : -EIO;
}

int
fsbackup_has_manifest(struct fsbackup *b)
{
	return b->manifest != NULL;
}

uint64_t
fsbackup_manifest_size(struct fsbackup *b)
{
	return b->manifest != NULL ? fsmanifest_size(b->manifest) : 0;
}

ssize_t
fsbackup_manifest_read(struct fsbackup *b, void *buf, size_t n, uint64_t off)
{
	return b->manifest != NULL ? fsmanifest_read(b->manifest, buf, n, off) : -ENOENT;
}

/* ---- truncation ---- */

/* Why truncation (or a normal end) is not allowed yet; NULL if it is. */
static const char *
fsb_incomplete_locked(struct fsbackup *b, char *why, size_t cb)
{
	size_t unread = 0, first = 0;

	FS_REQUIRE(olock_held(&b->lock), "internal error: the backup's lock is not held");
	if (b->kind == FSB_NONE)
		return "no backup has begun";
	if (b->lost)
		return b->lost_why;
	/* A failed read comes first: the instance may have ended the backup because of it. */
	if (b->failed_reads != 0) {
		snprintf(why, cb, "%u read%s failed (%s%.300s)", b->failed_reads, b->failed_reads == 1 ? "" : "s",
		    b->failed_reads == 1 ? "" : "first: ", b->first_failed_read);
		return why;
	}
	if (b->instance_ended[0] != '\0')
		return b->instance_ended;
	for (size_t i = 0; i < b->nfiles; i++)
		if (!file_complete(&b->files[i], &b->state[i]) && unread++ == 0)
			first = i;
	if (unread == 0)
		return NULL;
	snprintf(why, cb, "%zu of %zu files not read completely (first: %s, %llu of %llu bytes)", unread, b->nfiles,
	    b->files[first].name, (unsigned long long)b->state[first].covered.total,
	    (unsigned long long)b->files[first].size);
	return why;
}

/* Joins a double-NUL list into lines of base names. */
static char *
list_to_lines(const char *list)
{
	size_t cb = 1;
	char *out, *p;

	for (const char *q = list; *q; q += strlen(q) + 1)
		cb += strlen(base_name(q)) + 1;
	if ((out = p = malloc(cb)) == NULL)
		return NULL;
	for (const char *q = list; *q; q += strlen(q) + 1)
		p += sprintf(p, "%s\n", base_name(q));
	*p = '\0';
	return out;
}

/*
 * What JetTruncateLog would delete, as lines; NULL and msg on failure.
 * Drops the lock for the calls (F4).
 */
static char *
fsb_truncate_candidates_locked(struct fsbackup *b, char *msg, size_t cb)
{
	unsigned long need = 0;
	char *list = NULL, *lines;
	struct fsb_call call;
	JET_ERR err;

	/* The caller reports msg when the precondition fails too. */
	snprintf(msg, cb, "internal error: the backup's lock is not held");
	FS_REQUIRE(olock_held(&b->lock), NULL);
	fsb_call_begin_locked(b, &call, "listing of the logs to truncate");
	olock_unlock(&b->lock);
	err = JetGetTruncateLogInfoInstance(b->inst, NULL, 0, &need);
	if (err >= 0 && (list = calloc(1, need + 2)) != NULL)
		err = JetGetTruncateLogInfoInstance(b->inst, list, need + 2, &need);
	olock_lock(&b->lock);
	fsb_call_end_locked(b, &call);
	if (err < 0)
		fsb_call_failed_locked(b, &call, err);
	if (err < 0 || list == NULL) {
		snprintf(msg, cb, "cannot list the logs to truncate: %.300s", list == NULL ? "out of memory" :
		    fsb_err_text(b, err));
		free(list);
		return NULL;
	}
	lines = list_to_lines(list);
	free(list);
	return lines;
}

/*
 * One line for the log: how many files, the first and the last.  Log names
 * count in hex ("16 files, edb00001.log to edb00010.log" reads as a
 * contradiction): the generations are given in decimal too, so the count
 * and the range read the same.
 */
static void
fsb_log_truncated(struct fsbackup *b, const char *lines)
{
	const char *last = lines, *nl;
	unsigned first_gen, last_gen;
	size_t n = 0;

	for (const char *p = lines; (nl = strchr(p, '\n')) != NULL; p = nl + 1, n++)
		last = p;
	if (n == 0)
		fsb_log(b, LOG_INFO, "logs truncated: none was needed any more");
	else if (sscanf(lines, "edb%8X.log\n", &first_gen) == 1 && sscanf(last, "edb%8X.log\n", &last_gen) == 1)
		fsb_log(b, LOG_INFO, "logs truncated: %zu file%s, generations %u to %u (%.*s to %.*s)", n,
		    n == 1 ? "" : "s", first_gen, last_gen, (int)strcspn(lines, "\n"), lines, (int)strcspn(last, "\n"),
		    last);
	else
		fsb_log(b, LOG_INFO, "logs truncated: %zu file%s, %.*s to %.*s", n, n == 1 ? "" : "s",
		    (int)strcspn(lines, "\n"), lines, (int)strcspn(last, "\n"), last);
}

int
fsbackup_truncate(struct fsbackup *b)
{
	char why[FSB_MSG];
	const char *refusal;
	struct fsb_call call;
	char *lines = NULL;
	JET_ERR err;
	int rc = 0;

	olock_lock(&b->lock);
	if (b->truncated)
		goto out;
	if (b->truncating) {
		rc = -EBUSY;
		goto out;
	}
	if (b->kind == FSB_DELTA) {
		snprintf(b->last_error, sizeof(b->last_error), "truncation refused: %s", FSB_DELTA_NO_TRUNCATION);
		rc = -EOPNOTSUPP;
		goto out;
	}
	if ((refusal = fsb_incomplete_locked(b, why, sizeof(why))) != NULL)
		goto refused;
	/* The engine truncates only with every backup file closed; no read opens one meanwhile (F4). */
	b->truncating = 1;
	for (size_t i = 0; i < b->nfiles; i++)
		fsb_close_locked(b, &b->state[i]);
	if (b->nopen != 0) {
		rc = -EBUSY;
		goto done;
	}
	if ((lines = fsb_truncate_candidates_locked(b, why, sizeof(why))) == NULL) {
		snprintf(b->last_error, sizeof(b->last_error), "truncation failed: %.400s", why);
		rc = -EIO;
		goto done;
	}
	/* A read may have failed while the lock was dropped. */
	if ((refusal = fsb_incomplete_locked(b, why, sizeof(why))) != NULL) {
		b->truncating = 0;
		pthread_cond_broadcast(&b->changed);
		free(lines);
		goto refused;
	}
	fsb_call_begin_locked(b, &call, "truncation of the logs");
	olock_unlock(&b->lock);
	err = JetTruncateLogInstance(b->inst);
	olock_lock(&b->lock);
	fsb_call_end_locked(b, &call);
	if (err < 0) {
		fsb_call_failed_locked(b, &call, err);
		snprintf(b->last_error, sizeof(b->last_error), "truncation failed: %.300s (%ld)",
		    fsb_err_text(b, err), err);
		fsb_log(b, LOG_ERR, "%s", b->last_error);
		free(lines);
		rc = -EIO;
		goto done;
	}
	b->truncated = 1;
	b->truncated_list = lines;
	fsb_log_truncated(b, lines);
done:
	b->truncating = 0;
	pthread_cond_broadcast(&b->changed);
out:
	olock_unlock(&b->lock);
	return rc;
refused:
	snprintf(b->last_error, sizeof(b->last_error), "truncation refused: %s", refusal);
	fsb_log(b, LOG_WARNING, "%s", b->last_error);
	olock_unlock(&b->lock);
	return -EPERM;
}

/* ---- texts ---- */

struct text {
	char *s;
	size_t n, cap;
	int failed;
};

static void
text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int len;

	for (;;) {
		va_start(ap, fmt);
		len = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
		va_end(ap);
		if (len < 0) {
			t->failed = 1;
			return;
		}
		if (t->s != NULL && t->n + (size_t)len < t->cap) {
			t->n += (size_t)len;
			return;
		}
		size_t cap = (t->cap + (size_t)len + 1) * 2;
		char *s = realloc(t->s, cap);
		if (s == NULL) {
			t->failed = 1;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
}

static char *
text_done(struct text *t)
{
	if (t->failed) {
		free(t->s);
		return NULL;
	}
	return t->s ? t->s : strdup("");
}

static const char *
kind_name(enum fsb_kind k)
{
	return k == FSB_FULL ? "full" : k == FSB_INCREMENTAL ? "incremental" : k == FSB_DELTA ? "page delta" : "none";
}

char *
fsbackup_status_text(struct fsbackup *b)
{
	struct text t = { 0 };
	char why[FSB_MSG], when[64];
	const char *refusal;
	uint64_t total = 0, covered = 0;

	olock_lock(&b->lock);
	text_add(&t, "source: %s\n", b->src->description);
	text_add(&t, "backup: %s%s\n", kind_name(b->kind), b->ended ? " (ended)" : "");
	if (b->begin_error[0])
		text_add(&t, "begin failed: %s\n", b->begin_error);
	/*
	 * Before it predicts the end: an instance that went away while nothing
	 * waited on it has closed the connection, and has aborted the backup.
	 * (A look at the socket, no request: nothing waits under the lock.)
	 */
	if (b->kind != FSB_NONE && !b->ended && !b->lost &&
	    JetfsCheckBackupConnection(b->inst) == JET_errBackupAbortByServer) {
		snprintf(b->lost_why, sizeof(b->lost_why), "the instance closed the connection (it stopped, was "
		    "killed or aborted the backup)");
		b->lost = 1;
	}
	if (b->kind != FSB_NONE) {
		fsb_local_time(b->begun_at.tv_sec, when, sizeof(when));
		text_add(&t, "begun: %s (point in time)\n", when);
		if (b->info.ullId != 0)
			text_add(&t, "id: %#llx%s\n", b->info.ullId, b->resumed ? ", resumed: taken over from a lost mount" :
			    "");
		if (b->info.cbStruct != 0 && (b->info.ullId != 0 || b->info.ullLastEndId != 0)) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			text_add(&t, "kept images: %.1f MiB", (double)b->info.cbKept / 1048576);
			if (b->info.cbKeptMax != 0)
				text_add(&t, " of a cap of %.0f MiB", (double)b->info.cbKeptMax / 1048576);
			else
				text_add(&t, " (no cap)");
			text_add(&t, " (the instance said, %.0f s ago)\n", (double)(now.tv_sec - b->info_at.tv_sec));
		}
		text_add(&t, "served account: %s\n", b->account != NULL || b->account_note[0] ? b->account_note :
		    "not kept");
		if (b->instance_ended[0] != '\0')
			text_add(&t, "instance: %s\n", b->instance_ended);
		text_add(&t, "log generations: %lu-%lu\n", b->gen_low, b->gen_high);
		text_add(&t, "files: %zu\n", b->nfiles);
		for (size_t i = 0; i < b->nfiles; i++) {
			const struct fsb_file *f = &b->files[i];
			const struct fsb_state *st = &b->state[i];
			total += f->size;
			covered += st->covered.total;
			text_add(&t, "  %-24s %12llu / %-12llu %s", f->name, (unsigned long long)st->covered.total,
			    (unsigned long long)f->size, file_complete(f, st) ? "complete" : "incomplete");
			if (st->served > st->covered.total)
				text_add(&t, ", %llu bytes served", (unsigned long long)st->served);
			if (st->failed_reads)
				text_add(&t, ", %u failed read%s", st->failed_reads, st->failed_reads == 1 ? "" : "s");
			if (st->error != JET_errSuccess)
				text_add(&t, ", error: %s (%ld)", JetErrorString(st->error), st->error);
			text_add(&t, "\n");
		}
		text_add(&t, "read: %llu / %llu bytes\n", (unsigned long long)covered, (unsigned long long)total);
		if (b->manifest != NULL) {
			size_t hashed;
			uint64_t reread;
			fsmanifest_progress(b->manifest, &hashed, &reread);
			text_add(&t, "%s: %zu of %zu files hashed, %llu bytes read again to hash\n", MANIFEST_NAME,
			    hashed, b->nfiles, (unsigned long long)reread);
		}
		text_add(&t, "failed reads: %u\n", b->failed_reads);
		if (b->failed_reads > 1)
			text_add(&t, "first failed read: %s\n", b->first_failed_read);
		if (b->lost)
			text_add(&t, "connection: lost (%s)\n", b->lost_why);
	}
	for (const struct fsb_call *c = b->calls; c != NULL; c = c->next)
		text_add(&t, "waiting for the instance: %s, for %.1f s%s\n", c->what, seconds_since(&c->since),
		    b->src->timeout_s ? "" : " (no timeout)");
	if (b->last_error[0])
		text_add(&t, "last error: %s\n", b->last_error);
	refusal = fsb_incomplete_locked(b, why, sizeof(why));
	if (b->truncated)
		text_add(&t, "truncation: done\n");
	else if (b->kind == FSB_DELTA)
		text_add(&t, "truncation: never (%s)\n", FSB_DELTA_NO_TRUNCATION);
	else if (b->kind != FSB_NONE)
		text_add(&t, "truncation: %s%s\n", refusal ? "not allowed: " : "allowed", refusal ? refusal : "");
	if (b->ended)
		text_add(&t, "ended: %s\n", b->end_outcome);
	else if (b->kind == FSB_NONE && b->begin_error[0] != '\0')
		text_add(&t, "on unmount: nothing to end, but no backup was taken (jetfs exits 2)\n");
	else if (b->kind == FSB_NONE)
		text_add(&t, "on unmount: nothing to end\n");
	else if (refusal == NULL)
		text_add(&t, "on unmount: end normal (the backup is recorded in the database headers)\n");
	else
		text_add(&t, "on unmount: end abort (%s)\n", refusal);
	olock_unlock(&b->lock);
	return text_done(&t);
}

char *
fsbackup_truncate_text(struct fsbackup *b)
{
	struct text t = { 0 };
	char why[FSB_MSG];
	const char *refusal;
	char *lines;

	olock_lock(&b->lock);
	if (b->kind == FSB_NONE || b->ended) {
		text_add(&t, "no backup is running: nothing to truncate\n");
	} else if (b->truncated) {
		text_add(&t, "truncated:\n%s", b->truncated_list);
	} else if (b->kind == FSB_DELTA) {
		text_add(&t, "truncation not allowed: %s\n", FSB_DELTA_NO_TRUNCATION);
	} else {
		refusal = fsb_incomplete_locked(b, why, sizeof(why));
		text_add(&t, "truncation %s%s\n", refusal ? "not allowed yet: " : "allowed: write to this file to run it",
		    refusal ? refusal : "");
		if ((lines = fsb_truncate_candidates_locked(b, why, sizeof(why))) == NULL)
			text_add(&t, "%s\n", why);
		else
			text_add(&t, "would truncate:\n%s", *lines ? lines : "(none)\n");
		free(lines);
	}
	olock_unlock(&b->lock);
	return text_done(&t);
}

/* ---- a backup that outlives the mount (F8, F9) ---- */

/* F8: every file the predecessor's account holds wholly is reported copied (opened, told, closed). */
static void
fsb_report_account(struct fsbackup *b)
{
	olock_lock(&b->lock);
	for (size_t i = 0; i < b->nfiles; i++) {
		struct fsb_state *st = &b->state[i];
		if (!file_complete(&b->files[i], st) || st->open)
			continue;
		if (fsb_open_locked(b, st, 0, 0) < 0)
			break;
		fsb_close_locked(b, st);
	}
	olock_unlock(&b->lock);
}

/* F9: the instance's word on the backup, once a second, until End. */
static void *
fsb_info_main(void *arg)
{
	struct fsbackup *b = arg;
	JETFS_BACKUPINFO info;
	struct timespec until;
	uint64_t id;

	olock_lock(&b->lock);
	id = b->info.ullId;
	clock_gettime(CLOCK_REALTIME, &until);
	while (!b->info_stop && !b->lost) {
		until.tv_sec += 1;
		while (!b->info_stop && olock_timedwait(&b->changed, &b->lock, &until) != ETIMEDOUT)
			;	/* changed is broadcast for many things: wait for the second */
		if (b->info_stop)
			break;
		olock_unlock(&b->lock);
		fsb_get_info(b->inst, &info);
		olock_lock(&b->lock);
		if (info.cbStruct == 0 || b->info_stop)
			continue;
		b->info = info;
		clock_gettime(CLOCK_MONOTONIC, &b->info_at);
		if (id != 0 && info.ullId != id && info.ullLastEndId == id && b->instance_ended[0] == '\0') {
			snprintf(b->instance_ended, sizeof(b->instance_ended), "the instance ended the backup: %s",
			    info.szLastEnd);
			fsb_log(b, LOG_ERR, "%s", b->instance_ended);
		}
	}
	olock_unlock(&b->lock);
	return NULL;
}

static void
fsb_info_start(struct fsbackup *b)
{
	olock_lock(&b->lock);
	if (b->info.cbStruct != 0 && pthread_create(&b->info_thread, NULL, fsb_info_main, b) == 0)
		b->info_running = 1;
	olock_unlock(&b->lock);
}

/* Before End: the thread must not ask about a backup that is going. */
static void
fsb_info_stop(struct fsbackup *b)
{
	int running;

	olock_lock(&b->lock);
	b->info_stop = 1;
	running = b->info_running;
	b->info_running = 0;
	pthread_cond_broadcast(&b->changed);
	olock_unlock(&b->lock);
	if (running)
		pthread_join(b->info_thread, NULL);
}

/* ---- End ---- */

unsigned long
fsbackup_end(struct fsbackup *b)
{
	char why[FSB_MSG];
	int lost_before;
	const char *refusal;
	struct fsb_call call;
	unsigned long grbit;
	JET_ERR err;

	olock_lock(&b->lock);
	while (b->beginning)
		olock_wait(&b->changed, &b->lock);
	if (b->ended || b->kind == FSB_NONE) {
		if (!b->ended && b->begin_error[0] != '\0') {
			/* A backup was asked for and none was taken: that is no success (exit 2, not 0). */
			b->end_grbit = JET_bitBackupEndAbort;
			snprintf(b->end_outcome, sizeof(b->end_outcome), "abort: no backup was taken: %.400s",
			    b->begin_error);
			fsb_log(b, LOG_WARNING, "unmounted: %s", b->end_outcome);
		} else if (!b->ended) {
			snprintf(b->end_outcome, sizeof(b->end_outcome), "no backup was begun");
			fsb_log(b, LOG_INFO, "unmounted: no backup was begun");
		}
		b->ended = 1;
		grbit = b->end_grbit;
		olock_unlock(&b->lock);
		return grbit;
	}
	olock_unlock(&b->lock);
	fsb_info_stop(b);
	olock_lock(&b->lock);
	refusal = fsb_incomplete_locked(b, why, sizeof(why));
	grbit = refusal == NULL ? JET_bitBackupEndNormal : JET_bitBackupEndAbort;
	for (size_t i = 0; i < b->nfiles; i++) {
		b->state[i].readers = 0;	/* no FUSE request runs any more */
		fsb_close_locked(b, &b->state[i]);
	}
	/* A close may have failed, or lost the connection, without the lock. */
	if ((refusal = fsb_incomplete_locked(b, why, sizeof(why))) != NULL)
		grbit = JET_bitBackupEndAbort;
	fsb_call_begin_locked(b, &call, "end of the backup");
	olock_unlock(&b->lock);
	err = JetEndExternalBackupInstance2(b->inst, grbit);
	olock_lock(&b->lock);
	fsb_call_end_locked(b, &call);
	lost_before = b->lost;
	if (err < 0)
		fsb_call_failed_locked(b, &call, err);	/* before the release: it looks at the connection */
	b->src->release(b->src, b->inst);
	b->ended = 1;
	fsresume_free(b->account);
	b->account = NULL;
	if (err < 0 && lost_before && err == JET_errBackupAbortByServer) {
		grbit = JET_bitBackupEndAbort;
		snprintf(b->end_outcome, sizeof(b->end_outcome), "abort: %.400s; the instance aborts the backup, "
		    "nothing was recorded", b->lost_why);
	} else if (err < 0) {
		grbit = JET_bitBackupEndAbort;
		snprintf(b->end_outcome, sizeof(b->end_outcome), "abort: ending the backup failed: %.300s (%ld)%s",
		    fsb_err_text(b, err), err,
		    err == JET_errBackupAbortByServer || err == JET_errDeviceTimeout ?
		    "; the instance aborts it, nothing was recorded" : "");
	} else if (grbit == JET_bitBackupEndNormal) {
		snprintf(b->end_outcome, sizeof(b->end_outcome),
		    "normal: %s backup of %zu files recorded in the database headers%s", kind_name(b->kind), b->nfiles,
		    b->truncated ? ", logs truncated" : b->kind == FSB_FULL ? " as a Copy (no logs truncated: no "
		    "incremental can follow it; truncate to start a chain)" : b->kind == FSB_DELTA ? " as a Differential "
		    "(a page delta truncates no log; restore it over its base full)" :
		    " as a Differential (no logs truncated)");
	} else {
		snprintf(b->end_outcome, sizeof(b->end_outcome), "abort: %s; nothing recorded", refusal);
	}
	b->end_grbit = grbit;
	fsb_log(b, grbit == JET_bitBackupEndNormal ? LOG_INFO : LOG_WARNING, "backup ended: %s", b->end_outcome);
	olock_unlock(&b->lock);
	return grbit;
}

void
fsbackup_interrupt(struct fsbackup *b)
{
	const struct fsb_call *oldest = NULL;

	olock_lock(&b->lock);
	for (const struct fsb_call *c = b->calls; c != NULL; c = c->next)
		oldest = c;
	if (oldest != NULL && b->kind != FSB_NONE && !b->ended) {
		if (!b->lost)
			snprintf(b->lost_why, sizeof(b->lost_why), "jetfs was stopped while the %s had waited %.1f s "
			    "for the instance", oldest->what, seconds_since(&oldest->since));
		b->lost = 1;
		fsb_log(b, LOG_WARNING, "%s: closing the connection (the instance aborts the backup)", b->lost_why);
		JetfsBreakBackup(b->inst);
	}
	olock_unlock(&b->lock);
}
