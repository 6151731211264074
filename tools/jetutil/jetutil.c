/*
 * jetutil -- the offline tool for libjet files (eseutil's dump, checksum,
 * backup and restore modes).
 *
 *   jetutil header DB [--json]         the database header (eseutil /mh)
 *   jetutil log FILE...                log file headers and integrity (/ml)
 *   jetutil checkpoint CHK             the checkpoint file (/mk)
 *   jetutil verify FILE...             checksum every page or segment (/k)
 *   jetutil verify-backup DIR...       check a copied backup set (and its SHA256SUMS)
 *   jetutil restore -t DIR [--roll-forward LOGDIR] [--stop-gen N | --stop-at TIME] FULL [DELTA] [INC...]
 *   jetutil backup INSTANCEDIR BACKUPDIR [--incremental | --delta] [--point-in-time]
 *   jetutil backup --socket PATH BACKUPDIR [--incremental | --delta] [--point-in-time]
 *
 * Everything but restore and backup only reads files, with the engine's own
 * decoders (dbhdr.c, log.c, checkpoint.c, backup.c); a damaged or foreign
 * file is reported, never trusted.  Exit status: 0 all good, 1 a problem
 * found (or an engine call failed), 2 bad usage.
 *
 * This file owns main: the environment (JETFS_EVENTS, JET_FAULT) and the
 * command table; each command is in cmd-NAME.c (jetutil.h).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetutil.h"

int
main(int argc, char **argv)
{
	static const struct jetutil_cmd cmds[] = {
		{ "header", cmd_header_run, 1 }, { "log", cmd_log_run, 0 }, { "checkpoint", cmd_checkpoint_run, 0 },
		{ "verify", cmd_verify_run, 0 }, { "verify-backup", cmd_verify_backup_run, 0 }, { "restore", cmd_restore_run, 1 },
		{ "backup", cmd_backup_run, 1 },
	};
	static char progname[64];

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)) {
		util_usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("jetutil %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc < 2)
		util_usage_error("a command is expected");
	/*
	 * A command-line tool says why it failed where it runs: the engine's
	 * events default to stderr (libjet's own default, for work done without
	 * an instance such as a restore, is the system log).
	 */
	if (util_events_target() < 0)
		util_usage_error("JETFS_EVENTS=%s: stderr, syslog or none", getenv("JETFS_EVENTS"));
	if (getenv("JETFS_EVENTS") == NULL || *getenv("JETFS_EVENTS") == '\0')
		setenv("JETFS_EVENTS", "stderr", 1);
	/* As jetload: JET_FAULT makes an I/O fail (tests/faults.test, restore under EIO / ENOSPC). */
	if (os_fault_arm_from_env() < 0)
		util_usage_error("JET_FAULT: bad fault specification");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		argc--;
		argv++;
		snprintf(progname, sizeof(progname), "jetutil %s", cmds[i].name);
		argv[0] = progname;	/* getopt's messages */
		optind = 1;
		if (!cmds[i].own_options) {
			/* File operands only; "--" ends options, --help is honoured. */
			for (int k = 1; k < argc; k++) {
				if (strcmp(argv[k], "--") == 0)
					break;
				if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
					util_usage(stdout);
					return 0;
				}
				if (argv[k][0] == '-' && argv[k][1] != '\0')
					util_usage_error("%s: unknown option '%s'", cmds[i].name, argv[k]);
			}
			if (argc > 1 && strcmp(argv[1], "--") == 0)
				optind = 2;
		}
		return cmds[i].run(argc, argv);
	}
	util_usage_error("unknown command '%s'", argv[1]);
}
