/*
 * event.c -- the instance's event log: ESE writes events to the Windows event
 * log; libjet writes them to syslog (tag "libjet", facility LOG_DAEMON), or to
 * stderr, or nowhere (JET_paramJetfsEventTarget).  Each event carries ESE's
 * event id where ESE has one, and names the instance.  Events of work done
 * without an instance (the client side of a backup) follow the environment
 * variable JETFS_EVENTS ("stderr", "syslog", "none"; default syslog: a
 * library does not write to its caller's stderr unasked).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "evtarget.h"
#include "jet_int.h"

static pthread_once_t syslog_once = PTHREAD_ONCE_INIT;

static void
event_open_syslog(void)
{
	openlog("libjet", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
event_log(struct jet_inst *inst, enum event_level level, int id, const char *fmt, ...)
{
	static const char *const level_names[] = { "info", "warning", "error" };
	static const int priorities[] = { LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[1024];
	const char *who = "libjet";
	int target = JET_JetfsEventSyslog;
	va_list ap;

	if (inst != NULL) {
		if (inst->p.no_info_events && level == EVENT_INFO)
			return;
		target = (int)inst->p.event_target;
		who = inst->p.event_source[0] ? inst->p.event_source : inst->name;
	} else if ((target = evtarget_from_env(JET_JetfsEventSyslog)) < 0) {
		target = JET_JetfsEventSyslog;	/* a misspelt value: the tools refuse it, the event is not lost */
	}
	if (target == JET_JetfsEventNone)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (target == JET_JetfsEventStderr) {
		fprintf(stderr, "libjet[%s] %s (event %d): %s\n", who, level_names[level], id, msg);
		return;
	}
	pthread_once(&syslog_once, event_open_syslog);
	syslog(priorities[level], "[%s] event %d: %s", who, id, msg);
}
