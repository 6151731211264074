/*
 * source.c -- the two backup sources of jetfs (see source.h): the backup
 * service socket of an instance running in another process, and an instance
 * of the calling process (JetfsMountInstance).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "source.h"

struct socket_source {
	struct source base;
	char *path;
};

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static unsigned long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/*
 * The service serves one client at a time, and a jetfs that has just been
 * unmounted may still be ending its backup (DESTROY comes after fusermount3
 * returns): so "another client is connected" is retried until wait_ms.
 */
static JET_ERR
socket_acquire(struct source *src, unsigned wait_ms, JET_INSTANCE *instance)
{
	struct socket_source *s = (struct socket_source *)src;
	unsigned long long deadline = now_ms() + wait_ms;
	unsigned pause = 10;
	JET_ERR err;

	for (;;) {
		err = JetfsConnectBackup(s->path, instance);
		if (err >= 0 && (err = JetfsSetBackupTimeout(*instance, src->timeout_s * 1000ul)) < 0)
			JetfsDisconnectBackup(*instance);
		if (err != JET_errBackupInProgress || now_ms() >= deadline)
			return err;
		sleep_ms(pause);
		if (pause < 200)
			pause *= 2;
	}
}

static void
socket_release(struct source *src, JET_INSTANCE instance)
{
	(void)src;
	JetfsDisconnectBackup(instance);
}

/* A busy service is a running one: only a missing or refusing socket fails. */
static JET_ERR
socket_probe(struct source *src)
{
	JET_INSTANCE instance;
	JET_ERR err = socket_acquire(src, 0, &instance);

	if (err == JET_errBackupInProgress)
		return JET_errSuccess;
	if (err >= 0)
		socket_release(src, instance);
	return err;
}

static void
socket_free(struct source *src)
{
	struct socket_source *s = (struct socket_source *)src;

	free(s->path);
	free(s);
}

struct source *
source_socket_new(const char *socket_path, unsigned timeout_s)
{
	struct socket_source *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->path = strdup(socket_path)) == NULL) {
		free(s);
		return NULL;
	}
	s->base.acquire = socket_acquire;
	s->base.release = socket_release;
	s->base.probe = socket_probe;
	s->base.free = socket_free;
	s->base.timeout_s = timeout_s;
	snprintf(s->base.description, sizeof(s->base.description), "socket %s", socket_path);
	return &s->base;
}

struct instance_source {
	struct source base;
	JET_INSTANCE instance;
};

/* The application's instance: its own JetBackupInstance may be running, which
 * Begin reports as JET_errBackupInProgress and the caller retries. */
static JET_ERR
instance_acquire(struct source *src, unsigned wait_ms, JET_INSTANCE *instance)
{
	(void)wait_ms;
	*instance = ((struct instance_source *)src)->instance;
	return JET_errSuccess;
}

static void
instance_release(struct source *src, JET_INSTANCE instance)
{
	(void)src;
	(void)instance;
}

static JET_ERR
instance_probe(struct source *src)
{
	(void)src;
	return JET_errSuccess;
}

static void
instance_free(struct source *src)
{
	free(src);
}

struct source *
source_instance_new(JET_INSTANCE instance)
{
	struct instance_source *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->instance = instance;
	s->base.acquire = instance_acquire;
	s->base.release = instance_release;
	s->base.probe = instance_probe;
	s->base.free = instance_free;
	snprintf(s->base.description, sizeof(s->base.description), "instance %#lx of this process",
	    (unsigned long)instance);
	return &s->base;
}
