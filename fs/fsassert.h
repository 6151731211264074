/*
 * fsassert.h -- the preconditions of jetfs's functions, checked.
 *
 * FS_REQUIRE(cond, failed) states what a function needs from its caller
 * (mostly: "the lock is held").  A debugging build (--enable-debug,
 * JET_DEBUG) aborts at the first broken one, with the file, the line and
 * the condition, so the test that broke it points at it.  A release build
 * must not abort a mount that serves a backup, nor go on with state it
 * cannot trust: it logs the condition (fuse_log, the daemon's error
 * channel) and the function returns `failed` at once -- -EIO, or the NULL or
 * refusal its callers already turn into EIO -- so the operation fails and the
 * mount lives on.  A function that returns nothing just does nothing.
 *
 * The locks those preconditions name are olocks (src/olock.h, shared with
 * the engine): a mutex that records its holder.
 */
#ifndef JETFS_FSASSERT_H
#define JETFS_FSASSERT_H

#include "olock.h"

/* Reports a broken precondition; returns only in a release build. */
void fsassert_failed(const char *cond, const char *file, int line);

/* `failed` is empty in a function that returns nothing. */
#define FS_REQUIRE(cond, failed) do { \
		if (!(cond)) { \
			fsassert_failed(#cond, __FILE__, __LINE__); \
			return failed; \
		} \
	} while (0)

#endif
