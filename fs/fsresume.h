/*
 * fsresume.h -- what a jetfs mount served, kept in the instance's client
 * area so that a mount that takes the backup over finds it (fsresume.c).
 */
#ifndef JETFS_FSRESUME_H
#define JETFS_FSRESUME_H

#include <stddef.h>
#include <stdint.h>

#include "jet.h"
#include "ranges.h"

struct fsresume;

/*
 * The account of the running backup of inst, for a set of n files of these
 * sizes: made (empty) at a Begin, found at a takeover (*carried 1 when it
 * holds a predecessor's account of this very set).  NULL, with msg saying
 * why: no account is kept (an older instance, a set that does not match).
 */
struct fsresume *fsresume_open(JET_INSTANCE inst, const uint64_t *sizes, size_t n, int *carried, char *msg,
    size_t cb);
void fsresume_free(struct fsresume *r);
/* After [off, off + n) of file i was added to covered: keeps what it completed. */
void fsresume_mark(struct fsresume *r, size_t i, const struct ranges *covered, uint64_t off, uint64_t n);
/* Adds to covered what the account holds of file i. */
JET_ERR fsresume_load(struct fsresume *r, size_t i, struct ranges *covered);
void fsresume_note_failed_read(struct fsresume *r);
unsigned fsresume_failed_reads(const struct fsresume *r);

#endif
