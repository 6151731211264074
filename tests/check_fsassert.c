/*
 * check_fsassert.c -- jetfs's checked preconditions (fs/fsassert.h): an
 * olock answers "do I hold it?" for the calling thread only, across a
 * condition wait too; FS_REQUIRE aborts a debugging build (--enable-debug)
 * and makes a release build's function fail with EIO.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <check.h>

#include "fsassert.h"
#include "testutil.h"

/* A function whose caller must hold m, as fsbackup.c's _locked ones. */
static int
needs_lock(struct olock *m)
{
	FS_REQUIRE(olock_held(m), -EIO);
	return 0;
}

struct holder {
	struct olock *m;
	pthread_mutex_t gate;	/* held by the test while the holder holds m */
	int holding;
	pthread_cond_t changed;
};

static void *
holder_main(void *arg)
{
	struct holder *h = arg;

	olock_lock(h->m);
	pthread_mutex_lock(&h->gate);
	h->holding = 1;
	pthread_cond_broadcast(&h->changed);
	while (h->holding)
		pthread_cond_wait(&h->changed, &h->gate);
	pthread_mutex_unlock(&h->gate);
	olock_unlock(h->m);
	return NULL;
}

START_TEST(test_held)
{
	struct olock m;
	struct holder h = { .m = &m, .gate = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };
	pthread_t th;

	olock_init(&m);
	ck_assert(!olock_held(&m));
	olock_lock(&m);
	ck_assert(olock_held(&m));
	ck_assert_int_eq(needs_lock(&m), 0);
	olock_unlock(&m);
	ck_assert(!olock_held(&m));

	/* Held by another thread is not held by this one. */
	ck_assert_int_eq(pthread_create(&th, NULL, holder_main, &h), 0);
	pthread_mutex_lock(&h.gate);
	while (!h.holding)
		pthread_cond_wait(&h.changed, &h.gate);
	ck_assert(!olock_held(&m));
	h.holding = 0;
	pthread_cond_broadcast(&h.changed);
	pthread_mutex_unlock(&h.gate);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	olock_destroy(&m);
}
END_TEST

/* A condition wait lets the mutex go and takes it back: held again after. */
START_TEST(test_wait)
{
	struct olock m;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	struct timespec until;

	olock_init(&m);
	olock_lock(&m);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 1000000;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	ck_assert_int_eq(olock_timedwait(&cond, &m, &until), ETIMEDOUT);
	ck_assert(olock_held(&m));
	ck_assert_int_eq(needs_lock(&m), 0);
	olock_unlock(&m);
	olock_destroy(&m);
}
END_TEST

/* The broken precondition: aborts a debugging build (registered as raising
 * SIGABRT), fails with EIO in a release build. */
START_TEST(test_broken)
{
	struct olock m;

	olock_init(&m);
	ck_assert_int_eq(needs_lock(&m), -EIO);
	olock_destroy(&m);
}
END_TEST

static Suite *
fsassert_suite(void)
{
	Suite *s = suite_create("fsassert");
	TCase *tc = tcase_create("fsassert");

	tcase_add_test(tc, test_held);
	tcase_add_test(tc, test_wait);
#ifdef JET_DEBUG
	tcase_add_test_raise_signal(tc, test_broken, SIGABRT);
#else
	tcase_add_test(tc, test_broken);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(fsassert_suite());
}
