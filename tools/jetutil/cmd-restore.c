/*
 * cmd-restore.c -- jetutil restore -t DIR [--roll-forward LOGDIR]
 * [--stop-gen N | --stop-at TIME] FULL [DELTA] [INC...]: a new instance from
 * backup sets, by the engine (JetfsRestoreSets, JetfsRestoreSetsStopAt) once
 * every set matches its SHA256SUMS.  A delta set's deltas are applied by the
 * engine to staged copies of the full's images, in the target (restore.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetutil.h"
#include "manifest.h"

/* Decimal, or hex with 0x: log generations are hex in the log names (edb0000E.log). */
static unsigned long
parse_ulong(const char *s, const char *opt, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');

	errno = 0;
	v = strtoul(s, &end, hex ? 16 : 10);
	if (errno != 0 || end == s + (hex ? 2 : 0) || *end != '\0' || *s == '-' || *s == '+' || v < min || v > max)
		util_usage_error("%s: '%s' is not a number from %lu to %lu (decimal, or hex as 0x%lX to 0x%lX)", opt, s, min,
		    max, min, max);
	return v;
}

/* --stop-at TIME: a usage error (exit 2) names what is wrong and the forms accepted. */
static uint64_t
parse_moment(const char *s)
{
	const char *why;
	uint64_t us;

	if (util_parse_moment(s, &us, &why) < 0)
		util_usage_error("--stop-at: '%s' is not a time: %s; expected YYYY-MM-DDTHH:MM:SS[.ffffff] (local time) "
		    "with an optional zone Z or +HH:MM, or @SECONDS[.ffffff] since the epoch", s, why);
	return us;
}

/* Why the engine refused the moment, in the form --stop-at takes. */
static void
stop_at_refused(JET_ERR err, const JET_JETFSSTOPAT *sa)
{
	char a[64], b[64], c[64];

	util_fmt_moment(sa->usStopAt, a, sizeof(a));
	util_fmt_moment(sa->usConsistent, b, sizeof(b));
	util_fmt_moment(sa->usLastCommit, c, sizeof(c));
	if (err == JET_errEndingRestoreLogTooLow && sa->usConsistent != 0)
		util_errmsg("restore: --stop-at %s is %.6f s before the earliest moment this backup can be restored to: "
		    "--stop-at %s (nothing was restored)", a, (double)(sa->usConsistent - sa->usStopAt) / 1e6, b);
	else if (err == JET_errMissingRestoreLogFiles && sa->usLastCommit != 0)
		util_errmsg("restore: --stop-at %s is %.6f s after the last commit in the logs given, at %s: what was "
		    "committed after it is not in them, so the restore could go no further than --stop-at %s "
		    "(nothing was restored)", a, (double)(sa->usStopAt - sa->usLastCommit) / 1e6, c, c);
}

int
cmd_restore_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' }, { "roll-forward", required_argument, NULL, 'r' },
		{ "stop-gen", required_argument, NULL, 's' }, { "stop-at", required_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *target = NULL, *roll = NULL;
	char abs_target[PATH_MAX];
	unsigned long stop = 0;
	JET_JETFSSTOPAT stop_at = { sizeof(stop_at), 0, 0, 0, 0, 0 };
	char msg[200];
	size_t n;
	char **names;
	int c, ndb = 0, created;
	struct backupset_report v;
	JET_ERR err;

	while ((c = getopt_long(argc, argv, "t:qh", opts, NULL)) != -1) {
		switch (c) {
		case 't': target = optarg; break;
		case 'r': roll = optarg; break;
		case 's': stop = parse_ulong(optarg, "--stop-gen", 1, 0x7FFFFFFFUL); break;
		case 'a': stop_at.usStopAt = parse_moment(optarg); break;
		case 'q': util_quiet = 1; break;
		case 'h': util_usage(stdout); return 0;
		default: util_usage(stderr); return 2;
		}
	}
	if (target == NULL || *target == '\0')
		util_usage_error("restore: a target directory (-t DIR) is required");
	if (argc - optind < 1)
		util_usage_error("restore: at least one backup directory expected");
	if (stop != 0 && stop_at.usStopAt != 0)
		util_usage_error("restore: --stop-gen and --stop-at: one stop, not two");
	for (int i = optind; i < argc; i++)
		if (!os_is_dir(argv[i])) {
			util_errmsg("restore: backup set %s is not a directory", argv[i]);
			return 1;
		}
	if (roll != NULL && !os_is_dir(roll)) {
		util_errmsg("restore: roll-forward log directory %s is not a directory", roll);
		return 1;
	}
	if (os_exists(target)) {
		if (!os_is_dir(target)) {
			util_errmsg("restore: target %s exists and is not a directory", target);
			return 1;
		}
		if ((names = util_list_dir(target, &n)) == NULL) {
			util_errmsg("restore: target %s cannot be read: %s", target, strerror(errno));
			return 1;
		}
		util_free_list(names, n);
		if (n > 0) {
			util_errmsg("restore: target directory %s is not empty (restore builds a new instance there; "
			    "nothing was changed)", target);
			return 1;
		}
	}
	/*
	 * Each set against its SHA256SUMS before anything is written: only a
	 * manifest knows a set's last generation.  Here and not in the engine,
	 * which does not hash (jet.h).
	 */
	memset(&v, 0, sizeof(v));
	v.out = stderr;
	v.quiet = util_quiet;
	for (int i = optind; i < argc && v.problems == 0; i++)
		backupset_check_manifest(&v, argv[i]);
	if (v.problems > 0) {
		util_errmsg("restore: a backup set is not what its %s says: nothing was restored "
		    "(jetutil verify-backup lists every problem)", MANIFEST_NAME);
		return 1;
	}
	/*
	 * The databases' paths in the restored checkpoint come from the target:
	 * give the engine an absolute one, so that they are absolute too (the
	 * engine opens databases by their real path).
	 */
	created = !os_exists(target);
	if ((err = os_mkdir_p(target)) < 0) {
		util_errmsg("restore: cannot create the target directory %s: %s", target, util_open_problem(err));
		return 1;
	}
	if (realpath(target, abs_target) == NULL) {
		util_errmsg("restore: %s: %s", target, strerror(errno));
		return 1;
	}
	target = abs_target;
	util_status_what = "restore";
	if (stop_at.usStopAt != 0)
		err = JetfsRestoreSetsStopAt((const char *const *)(argv + optind), (unsigned long)(argc - optind), target,
		    roll, &stop_at, util_status_cb);
	else
		err = JetfsRestoreSets((const char *const *)(argv + optind), (unsigned long)(argc - optind), target, roll,
		    stop, util_status_cb);
	if (err < 0) {
		if (created)
			os_rmdir(target);	/* only if still empty */
		util_errmsg("restore failed: %s", util_jet_problem(err, msg, sizeof(msg)));
		if (stop_at.usStopAt != 0)
			stop_at_refused(err, &stop_at);
		/*
		 * The engine's events name the file and the page or generation, but
		 * go to the system log unless JETFS_EVENTS=stderr: the sets are
		 * checked again (the failure's cost only) to say it here.
		 */
		if (util_events_target() != JET_JetfsEventStderr) {
			struct restore_chain chain;
			memset(&v, 0, sizeof(v));
			v.out = stderr;
			v.quiet = 1;
			backupset_check_chain(&v, &chain, argv + optind, argc - optind, (uint32_t)stop, 0);
			restore_chain_free(&chain);
			if (v.problems == 0)
				util_events_hint("");
		}
		return 1;
	}
	/* What was restored: the databases now in the target. */
	if ((names = util_list_dir(target, &n)) == NULL) {
		util_errmsg("restore: target %s cannot be read: %s", target, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char *p = util_xjoin(target, names[i]);
		os_file *f;
		struct hdr_copies hc;
		if (os_open(p, OS_READ, &f) >= 0) {
			if (inspect_sniff(f) == FT_DB && inspect_read_hdr_copies(f, &hc) >= 0 && hc.have) {
				printf("restored %s: %s, log generations %u to %u replayed\n", p, util_state_name(hc.h.dbstate),
				    hc.h.bk[BK_FULL_CUR].gen_low, hc.h.bk[BK_FULL_CUR].gen_high);
				ndb++;
			}
			os_close(f);
		}
		free(p);
	}
	util_free_list(names, n);
	if (stop_at.usStopAt != 0) {
		char a[64], b[64];
		printf("stopped at %s: every commit up to it replayed (the last at %s), none after it; the log ends in "
		    "generation %lu\n", util_fmt_moment(stop_at.usStopAt, a, sizeof(a)),
		    stop_at.usLastReplayed != 0 ? util_fmt_moment(stop_at.usLastReplayed, b, sizeof(b)) : "none",
		    stop_at.genStop);
	}
	printf("restore into %s complete: %d database(s)%s\n", target, ndb, roll != NULL ? ", rolled forward" : "");
	return 0;
}
