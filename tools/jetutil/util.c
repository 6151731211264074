/*
 * util.c -- what every jetutil command uses: the usage text and messages,
 * allocation that exits on failure, the text format of fields, times and
 * signatures, the moments restore --stop-at takes and prints, directory listings, and the progress and event settings of
 * the commands that run the engine (backup, restore).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>

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
	    "       jetutil restore -t TARGETDIR [--roll-forward LOGDIR] [--stop-gen N | --stop-at TIME] [--quiet]\n"
	    "               FULLDIR [DELTADIR] [INCREMENTALDIR...]\n"
	    "       jetutil backup INSTANCEDIR BACKUPDIR [--incremental | --delta] [--point-in-time] [--quiet]\n"
	    "       jetutil backup --socket PATH BACKUPDIR [--incremental | --delta] [--point-in-time] [--quiet]\n"
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

/*
 * A moment of restore --stop-at, to the microsecond: the time of day as
 *     YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM|-HH:MM|+HHMM|-HHMM]
 * ('T' or one space between date and time; local time unless a zone is
 * given), or seconds since the epoch as @SECONDS[.ffffff].  At most six
 * digits of fraction: commit times are microseconds.
 */

/* n decimal digits at *sp (advanced past them), 0 if there are not n. */
static int
moment_digits(const char **sp, int n, long *vp)
{
	long v = 0;

	for (int i = 0; i < n; i++) {
		if ((*sp)[i] < '0' || (*sp)[i] > '9')
			return 0;
		v = v * 10 + ((*sp)[i] - '0');
	}
	*sp += n;
	*vp = v;
	return 1;
}

/* An optional fraction of a second, ".d" to ".dddddd", in microseconds. */
static int
moment_fraction(const char **sp, long *usp, const char **whyp)
{
	long scale = 100000;

	*usp = 0;
	if (**sp != '.')
		return 1;
	if ((*sp)[1] < '0' || (*sp)[1] > '9') {
		*whyp = "a '.' must be followed by digits of a second";
		return 0;
	}
	for ((*sp)++; **sp >= '0' && **sp <= '9'; (*sp)++, scale /= 10) {
		if (scale == 0) {
			*whyp = "more than six digits of fraction (times are microseconds)";
			return 0;
		}
		*usp += (**sp - '0') * scale;
	}
	return 1;
}

static int
moment_epoch(const char *s, uint64_t *usp, const char **whyp)
{
	unsigned long long sec = 0;
	long us;

	if (*s < '0' || *s > '9') {
		*whyp = "'@' must be followed by seconds since the epoch";
		return -1;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		if (sec > 253402300799ULL) {	/* 9999-12-31T23:59:59Z */
			*whyp = "too far in the future";
			return -1;
		}
		sec = sec * 10 + (unsigned long long)(*s - '0');
	}
	if (!moment_fraction(&s, &us, whyp))
		return -1;
	if (*s != '\0') {
		*whyp = "unexpected characters after the seconds";
		return -1;
	}
	if (sec == 0 && us == 0) {
		*whyp = "the epoch itself is before any log";
		return -1;
	}
	*usp = sec * 1000000u + (uint64_t)us;
	return 0;
}

/* The zone after the time: "" (local), Z, +HH:MM, -HH:MM, +HHMM or -HHMM; *offp seconds east of UTC. */
static int
moment_zone(const char *s, int *localp, long *offp, const char **whyp)
{
	long hh, mm;
	int sign;

	*localp = *s == '\0';
	*offp = 0;
	if (*s == '\0' || (s[0] == 'Z' && s[1] == '\0'))
		return 1;
	if (*s != '+' && *s != '-') {
		*whyp = "unexpected characters after the time (a zone is Z, +HH:MM or -HH:MM)";
		return 0;
	}
	sign = *s++ == '-' ? -1 : 1;
	if (moment_digits(&s, 2, &hh) && *s == ':')
		s++;
	if (s[-1] == '-' || s[-1] == '+' || !moment_digits(&s, 2, &mm) || *s != '\0' || hh > 14 || mm > 59) {
		*whyp = "a zone is Z, +HH:MM or -HH:MM (at most 14 hours)";
		return 0;
	}
	*offp = sign * (hh * 3600 + mm * 60);
	return 1;
}

int
util_parse_moment(const char *s, uint64_t *usp, const char **whyp)
{
	long y, mo, d, h, mi, sec, us, off;
	struct tm tm, back;
	time_t t;
	int local;

	*whyp = NULL;
	if (*s == '@')
		return moment_epoch(s + 1, usp, whyp);
	if (!moment_digits(&s, 4, &y) || *s++ != '-' || !moment_digits(&s, 2, &mo) || *s++ != '-' ||
	    !moment_digits(&s, 2, &d) || (*s != 'T' && *s != ' ') || (s++, !moment_digits(&s, 2, &h)) || *s++ != ':' ||
	    !moment_digits(&s, 2, &mi) || *s++ != ':' || !moment_digits(&s, 2, &sec)) {
		*whyp = "expected YYYY-MM-DDTHH:MM:SS (or a space for the T)";
		return -1;
	}
	if (!moment_fraction(&s, &us, whyp) || !moment_zone(s, &local, &off, whyp))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) {
		*whyp = "a field is out of range (year from 1970, month 1-12, day 1-31, hour 0-23, minute and second 0-59)";
		return -1;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)sec;
	tm.tm_isdst = -1;
	back = tm;
	t = local ? mktime(&tm) : timegm(&tm) - off;
	/* mktime and timegm normalize: a day past the month's end, or a local time a clock change skipped, moves. */
	if (t == (time_t)-1 || tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min) {
		*whyp = local ? "no such date, or no such local time (skipped by a clock change)" : "no such date";
		return -1;
	}
	if (t <= 0) {
		*whyp = "before the epoch";
		return -1;
	}
	*usp = (uint64_t)t * 1000000u + (uint64_t)us;
	return 0;
}

/* A moment as util_parse_moment reads it back exactly: local time, its zone, microseconds. */
const char *
util_fmt_moment(uint64_t us, char *buf, size_t len)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;
	long off;

	if (localtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "@%llu.%06llu", (unsigned long long)(us / 1000000u), (unsigned long long)(us % 1000000u));
		return buf;
	}
	off = tm.tm_gmtoff;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06llu%c%02ld:%02ld", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned long long)(us % 1000000u), off < 0 ? '-' : '+',
	    labs(off) / 3600, labs(off) % 3600 / 60);
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
