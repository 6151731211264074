/*
 * olock.h -- a mutex that knows which thread holds it.
 *
 * A pthread mutex cannot say who holds it, so "called with the lock held"
 * could only be a comment.  An olock records its holder, and a function
 * states the precondition as a check: JET_ASSERT(inst, olock_held(&l)) in
 * the engine, FS_REQUIRE(olock_held(&l), ...) in jetfs.  Header-only: jetfs
 * links libjet's public symbols only, and both use the same lock.
 *
 * owner is meaningful while held is set; only the holder changes either, so
 * a thread sees itself as the owner only while it holds the lock.  They are
 * atomic because any thread may ask.  held is stored with release and
 * loaded with acquire: a thread that sees another's held = 1 also sees that
 * thread's owner, so it never mistakes itself for the holder; owner itself
 * needs no ordering.  On x86 and ARM64 these are plain moves: the engine
 * takes the cache and log locks on every page access and commit, where a
 * sequentially consistent store (a locked exchange) would cost.  A
 * condition wait gives the lock up meanwhile, and so does the record.
 */
#ifndef JET_OLOCK_H
#define JET_OLOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

struct olock {
	pthread_mutex_t m;
	_Atomic(pthread_t) owner;
	atomic_int held;
};

static inline void
olock_init(struct olock *l)
{
	pthread_mutex_init(&l->m, NULL);
	atomic_init(&l->owner, pthread_self());
	atomic_init(&l->held, 0);
}

static inline void
olock_destroy(struct olock *l)
{
	pthread_mutex_destroy(&l->m);
}

static inline void
olock_note_held(struct olock *l)
{
	atomic_store_explicit(&l->owner, pthread_self(), memory_order_relaxed);
	atomic_store_explicit(&l->held, 1, memory_order_release);
}

static inline void
olock_lock(struct olock *l)
{
	pthread_mutex_lock(&l->m);
	olock_note_held(l);
}

static inline void
olock_unlock(struct olock *l)
{
	atomic_store_explicit(&l->held, 0, memory_order_release);
	pthread_mutex_unlock(&l->m);
}

/* Whether the calling thread holds l (the only exact answer there is). */
static inline int
olock_held(struct olock *l)
{
	return atomic_load_explicit(&l->held, memory_order_acquire) &&
	    pthread_equal(atomic_load_explicit(&l->owner, memory_order_relaxed), pthread_self());
}

/* pthread_cond_timedwait on l, or pthread_cond_wait when until is NULL. */
static inline int
olock_timedwait(pthread_cond_t *c, struct olock *l, const struct timespec *until)
{
	int rc;

	atomic_store_explicit(&l->held, 0, memory_order_release);
	rc = until == NULL ? pthread_cond_wait(c, &l->m) : pthread_cond_timedwait(c, &l->m, until);
	olock_note_held(l);
	return rc;
}

static inline void
olock_wait(pthread_cond_t *c, struct olock *l)
{
	(void)olock_timedwait(c, l, NULL);
}

#endif
