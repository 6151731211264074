/*
 * evtarget.h -- where events go, from the environment variable JETFS_EVENTS:
 * "stderr", "syslog" or "none".  One variable for jetutil, jetload, jetfs and
 * libjet's events of work done without an instance, so a user learns it once.
 * Header-only: jetfs is linked with libjet's public symbols only.
 */
#ifndef EVTARGET_H
#define EVTARGET_H

#include <stdlib.h>
#include <string.h>

#include "jet.h"

/* JET_JetfsEvent* as JETFS_EVENTS says; dflt if it is unset or empty; -1 if it names no target. */
static inline int
evtarget_from_env(int dflt)
{
	const char *e = getenv("JETFS_EVENTS");

	if (e == NULL || *e == '\0')
		return dflt;
	if (strcmp(e, "stderr") == 0)
		return JET_JetfsEventStderr;
	if (strcmp(e, "syslog") == 0)
		return JET_JetfsEventSyslog;
	if (strcmp(e, "none") == 0)
		return JET_JetfsEventNone;
	return -1;
}

#endif
