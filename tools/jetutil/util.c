/*
 * util.c -- what every jetutil command uses: the usage text and messages,
 * allocation that exits on failure, the text format of fields, times and
 * signatures, directory listings, and the progress and event settings of
 * the commands that run the engine (backup, restore).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include "evtarget.h"
#include "jetutil.h"

#define LABEL_W 24

int util_quiet;

void
util_usage(FILE *f)
{
	fprintf(f,
	    "usage: jetutil header DB [--json]\n"
	    "       jetutil log FILE...\n"
	    "       jetutil checkpoint CHK\n"
	    "       jetutil verify FILE...\n"
	    "       jetutil verify-backup DIR [DIR...]\n"
	    "       jetutil restore -t TARGETDIR [--roll-forward LOGDIR] [--stop-gen N] [--quiet] BACKUPDIR...\n"
	    "       jetutil backup INSTANCEDIR BACKUPDIR [--incremental] [--point-in-time] [--quiet]\n"
	    "       jetutil backup --socket PATH BACKUPDIR [--incremental] [--point-in-time] [--quiet]\n"
	    "       jetutil --help | --version\n");
}

void
util_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("jetutil: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	util_usage(stderr);
	exit(2);
}

void
util_errmsg(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fputs("jetutil: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const char *
util_jet_problem(JET_ERR err, char *buf, size_t len)
{
	snprintf(buf, len, "%s (%ld): %s", JetErrorName(err), err, JetErrorString(err));
	return buf;
}

/* Why a file could not be opened: errno's text when there is one. */
const char *
util_open_problem(JET_ERR err)
{
	int e = os_last_errno();

	if (err == JET_errFileNotFound)
		return "no such file";
	return e != 0 ? strerror(e) : JetErrorString(err);
}

void *
util_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		util_errmsg("out of memory");
		exit(1);
	}
	return p;
}

char *
util_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL) {
		util_errmsg("out of memory");
		exit(1);
	}
	return p;
}

char *
util_xjoin(const char *dir, const char *name)
{
	char *p = os_path_join(dir, name);

	if (p == NULL) {
		util_errmsg("out of memory");
		exit(1);
	}
	return p;
}

const char *
util_base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* A copy of s fit for a terminal: non-printable bytes become '?'. */
void
util_printable(const char *s, char *out, size_t len)
{
	size_t i = 0;

	for (; *s != '\0' && i + 1 < len; s++)
		out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[i] = '\0';
}

const char *
util_fmt_time(uint64_t us, char *buf, size_t len)
{
	dbhdr_time_format(us, buf, len);
	return buf;
}

const char *
util_fmt_sig(const struct jet_sig *s, char *buf, size_t len)
{
	char t[40], host[20];

	util_printable(s->host, host, sizeof(host));
	snprintf(buf, len, "Create time: %s Rand: %u Computer: %s", util_fmt_time(s->time_create, t, sizeof(t)),
	    s->random, host);
	return buf;
}

void
util_field(const char *label, const char *fmt, ...)
{
	va_list ap;

	printf("%*s: ", LABEL_W, label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

const char *
util_state_name(uint32_t st)
{
	switch (st) {
	case JET_dbstateJustCreated: return "Just Created";
	case JET_dbstateDirtyShutdown: return "Dirty Shutdown";
	case JET_dbstateCleanShutdown: return "Clean Shutdown";
	case JET_dbstateBeingConverted: return "Being Converted";
	case JET_dbstateForceDetach: return "Force Detach";
	default: return "Unknown";
	}
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of a directory, sorted; NULL if it cannot be read. */
char **
util_list_dir(const char *dir, size_t *np)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*np = 0;
	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*names));
			if (nn == NULL) {
				util_errmsg("out of memory");
				exit(1);
			}
			names = nn;
		}
		names[n++] = util_xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	*np = n;
	return names == NULL ? util_xmalloc(1) : names;
}

void
util_free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

const char *util_status_what = "restore";

JET_ERR JET_API
util_status_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv)
{
	const JET_SNPROG *prog = pv;

	(void)sesid;
	(void)snp;
	if (util_quiet)
		return JET_errSuccess;
	switch (snt) {
	case JET_sntBegin:
		fprintf(stderr, "%s: started\n", util_status_what);
		break;
	case JET_sntProgress:
		if (prog != NULL && prog->cunitTotal > 0)
			fprintf(stderr, "%s: %lu%%\n", util_status_what, prog->cunitDone * 100 / prog->cunitTotal);
		break;
	case JET_sntComplete:
		fprintf(stderr, "%s: complete (100%%)\n", util_status_what);
		break;
	case JET_sntFail:
		fprintf(stderr, "%s: failed\n", util_status_what);
		break;
	default:
		break;
	}
	return JET_errSuccess;
}

/* Where the engine's events go: JETFS_EVENTS, stderr by default (main checks the value). */
int
util_events_target(void)
{
	return evtarget_from_env(JET_JetfsEventStderr);
}

/* After a failure whose details are in the events: where to find them, if not here. */
void
util_events_hint(const char *more)
{
	if (util_events_target() == JET_JetfsEventSyslog)
		util_errmsg("(details are in the system log under \"libjet\"; JETFS_EVENTS=stderr shows them here%s)", more);
	else if (util_events_target() == JET_JetfsEventNone)
		util_errmsg("(JETFS_EVENTS=none hides the details; JETFS_EVENTS=stderr shows them here%s)", more);
}
