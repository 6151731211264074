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
 * fsmutex: a mutex that knows its owner, because "the lock is held" cannot
 * be asked of a pthread mutex.  Only the calling thread's own answer is
 * exact, which is the one a precondition needs.
 */
#ifndef JETFS_FSASSERT_H
#define JETFS_FSASSERT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

/* Reports a broken precondition; returns only in a release build. */
void fsassert_failed(const char *cond, const char *file, int line);

/* `failed` is empty in a function that returns nothing. */
#define FS_REQUIRE(cond, failed) do { \
		if (!(cond)) { \
			fsassert_failed(#cond, __FILE__, __LINE__); \
			return failed; \
		} \
	} while (0)

struct fsmutex {
	pthread_mutex_t mutex;
	/* Written only by the holder; atomic because any thread may ask. */
	_Atomic pthread_t owner;
	atomic_bool held;
};

static inline void
fsmutex_init(struct fsmutex *m)
{
	pthread_mutex_init(&m->mutex, NULL);
	atomic_init(&m->held, false);
}

static inline void
fsmutex_destroy(struct fsmutex *m)
{
	pthread_mutex_destroy(&m->mutex);
}

static inline void
fsmutex_lock(struct fsmutex *m)
{
	pthread_mutex_lock(&m->mutex);
	atomic_store(&m->owner, pthread_self());
	atomic_store(&m->held, true);
}

static inline void
fsmutex_unlock(struct fsmutex *m)
{
	atomic_store(&m->held, false);
	pthread_mutex_unlock(&m->mutex);
}

/* Whether the calling thread holds m. */
static inline bool
fsmutex_held(struct fsmutex *m)
{
	return atomic_load(&m->held) && pthread_equal(atomic_load(&m->owner), pthread_self());
}

/* pthread_cond_wait and _timedwait: the mutex is let go meanwhile. */
static inline int
fsmutex_wait(pthread_cond_t *cond, struct fsmutex *m, const struct timespec *until)
{
	int rc;

	atomic_store(&m->held, false);
	rc = until == NULL ? pthread_cond_wait(cond, &m->mutex) : pthread_cond_timedwait(cond, &m->mutex, until);
	atomic_store(&m->owner, pthread_self());
	atomic_store(&m->held, true);
	return rc;
}

#endif
