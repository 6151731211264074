/*
 * fsmanifest.h -- backup/full/SHA256SUMS and backup/incremental/SHA256SUMS:
 * the SHA-256 of every file of a mount's backup set, in sha256sum's format
 * (src/manifest.h), so that a copy can be checked with `sha256sum -c`.
 *
 * Its size is exact from Begin (a line is 67 bytes plus the name); its
 * hashes are made as the set streams: each byte a tool is served in file
 * order goes into the file's hash, and a small gap (a readahead request
 * answered before the one in front of it) is filled by reading it again.
 * What is still unhashed when SHA256SUMS is read -- all of it when rsync
 * reads it first, as its name sorts first -- is read through the backup
 * then.  Thread-safe.
 */
#ifndef JETFS_FSMANIFEST_H
#define JETFS_FSMANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fsbackup.h"

struct fsmanifest;

/* Reads exactly n bytes at off of file i of the set, not counting them as
 * served.  @return 0, or a negative errno. */
typedef int (*fsm_read_fn)(void *ctx, size_t i, void *buf, size_t n, uint64_t off);

/* A manifest of the n files (kept by reference: they outlive it).
 * @return the manifest, or NULL (out of memory). */
struct fsmanifest *fsmanifest_new(const struct fsb_file *files, size_t n, fsm_read_fn read, void *ctx);
void fsmanifest_free(struct fsmanifest *m);

/* The exact size of SHA256SUMS. */
uint64_t fsmanifest_size(const struct fsmanifest *m);

/* A read of file i is being served: the n bytes at off, before the reply
 * (fsmanifest.c M3, M7, M8: it may wait for the hash, and hands the bytes
 * to the manifest's thread when they continue the hash). */
void fsmanifest_pending(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off);
/* Feeds the n bytes at off of file i that a tool was served (after
 * fsmanifest_pending for that read). */
void fsmanifest_served(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off);
/* Feeds bytes of file i read for another reason (jetfs's readahead: the
 * same bytes as any read of the set), so the reads served from them later
 * find them hashed already (fsmanifest.c M6). */
void fsmanifest_offer(struct fsmanifest *m, size_t i, const void *buf, size_t n, uint64_t off);

/* Reads SHA256SUMS, finishing the hashes first if need be.
 * @return bytes copied (fewer than n only at its end), or -EIO. */
ssize_t fsmanifest_read(struct fsmanifest *m, void *buf, size_t n, uint64_t off);

/* For the status: files whose hash is complete, bytes read only to hash. */
void fsmanifest_progress(const struct fsmanifest *m, size_t *hashed, uint64_t *reread);

#endif
