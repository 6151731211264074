/*
 * fsbackup.h -- the backup session of a jetfs mount: begins a point-in-time
 * backup on the first look inside backup/full/, incremental/ or delta/, serves
 * reads of its files at any offset, accounts for every byte served and every
 * failed read, truncates the logs when allowed, and ends the backup at
 * unmount (normal if every file was read completely and no read failed,
 * abort otherwise).  Thread-safe: FUSE calls it from several threads.
 */
#ifndef JETFS_FSBACKUP_H
#define JETFS_FSBACKUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "source.h"

enum fsb_kind { FSB_NONE = 0, FSB_FULL = 1, FSB_INCREMENTAL = 2, FSB_DELTA = 3 };

/* A file of the backup set: fixed from Begin to unmount. */
struct fsb_file {
	char *name;		/* as listed: the base name, files sorted by it */
	char *source_name;	/* as JetOpenFileInstance takes it */
	uint64_t size;
};

struct fsbackup;

/* with_manifest: 0 for no SHA256SUMS (-o nomanifest): nothing is hashed.
 * readahead: a read smaller than this is served from a run of this many
 * bytes read at once (0: none); only the bytes sent count as read. */
struct fsbackup *fsbackup_new(struct source *src, unsigned wait_ms, int event_target, int with_manifest,
    size_t readahead);
/* Ends a running backup (as fsbackup_end) and frees everything, the source too. */
void fsbackup_free(struct fsbackup *b);

/* Begins the backup of this kind, or returns at once if it runs already.
 * @return 0, -EBUSY (the other kind runs; another backup client, still busy
 *   after the wait), -ECONNREFUSED (no instance serves the socket), -EACCES,
 *   -ECONNRESET (the instance dropped the connection), -EIO (any other
 *   failure; status says which). */
int fsbackup_begin(struct fsbackup *b, enum fsb_kind kind);
/* At mount, -o resume: takes the backup the instance holds for a lost
 * mount over (fsbackup.c F8).  0, or a negative errno with msg saying why. */
int fsbackup_resume(struct fsbackup *b, char *msg, size_t cb);
/* Whether the instance holds a backup for a lost client; msg describes it. */
int fsbackup_held(struct fsbackup *b, char *msg, size_t cb);
/* The running kind (FSB_NONE before Begin). */
enum fsb_kind fsbackup_kind(struct fsbackup *b);
/* The set, valid once fsbackup_begin succeeded. */
size_t fsbackup_count(struct fsbackup *b);
const struct fsb_file *fsbackup_file(struct fsbackup *b, size_t i);
struct timespec fsbackup_time(struct fsbackup *b);

/* Reads n bytes at off of file i: n bytes, fewer only at its end.
 * @return bytes read, or -EIO (recorded: blocks truncation, ends as abort). */
ssize_t fsbackup_read(struct fsbackup *b, size_t i, void *buf, size_t n, uint64_t off);
/* Feeds bytes fsbackup_read gave (and the reader was sent) to SHA256SUMS's
 * hash of file i.  Must follow every fsbackup_read that returned bytes, after
 * the reply: it may wait for the reads in front of it (fsmanifest.c M1). */
void fsbackup_served(struct fsbackup *b, size_t i, const void *buf, size_t n, uint64_t off);

/* SHA256SUMS of the set (fsmanifest.h): whether there is one, its exact
 * size, and its bytes (hashing what is still unhashed first).  Valid once
 * fsbackup_begin succeeded.  @return bytes read, or -EIO (a read of the set
 * failed). */
int fsbackup_has_manifest(struct fsbackup *b);
uint64_t fsbackup_manifest_size(struct fsbackup *b);
ssize_t fsbackup_manifest_read(struct fsbackup *b, void *buf, size_t n, uint64_t off);

/* Runs JetTruncateLog, once every file was read completely and no read failed.
 * @return 0 (also when already done), -EPERM (not allowed yet: the reason is
 *   in the status), -EBUSY (a read is in progress), -EIO. */
int fsbackup_truncate(struct fsbackup *b);

/* Texts of backup/status and backup/truncate (malloc'd, NUL-terminated). */
char *fsbackup_status_text(struct fsbackup *b);
char *fsbackup_truncate_text(struct fsbackup *b);

/* Ends the backup (JetEndExternalBackupInstance2: normal or abort, as above),
 * logs the outcome, and lets the source go.  Later calls do nothing.
 * @return JET_bitBackupEndNormal, JET_bitBackupEndAbort (also when none began
 *   because the last attempt to begin failed), or 0 (none was asked for). */
unsigned long fsbackup_end(struct fsbackup *b);

/* For SIGTERM/SIGINT (any thread): if a call on the instance is waiting for
 * its answer, gives up the connection, so the FUSE request waiting on it fails
 * at once and the backup ends as an abort.  Otherwise changes nothing. */
void fsbackup_interrupt(struct fsbackup *b);

#endif
