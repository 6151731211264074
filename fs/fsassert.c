/*
 * fsassert.c -- what a broken precondition does (fsassert.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fsassert.h"
#include "fsops.h"

void
fsassert_failed(const char *cond, const char *file, int line)
{
#ifdef JET_DEBUG
	fprintf(stderr, "jetfs: %s:%d: precondition failed: %s\n", file, line, cond);
	abort();
#else
	fuse_log(FUSE_LOG_ERR, "jetfs: internal error: %s:%d: precondition failed: %s (the operation fails with EIO)\n",
	    file, line, cond);
#endif
}
