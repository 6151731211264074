/*
 * cmd-checkpoint.c -- jetutil checkpoint CHK: the checkpoint file (eseutil
 * /mk), as the engine reads it (checkpoint_read).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "jetutil.h"

int
cmd_checkpoint_run(int argc, char **argv)
{
	struct checkpoint_state ck;
	char a[160], b[40];
	JET_ERR err;

	if (argc - optind != 1)
		util_usage_error("checkpoint: exactly one checkpoint file expected");
	if ((err = checkpoint_read(argv[optind], &ck)) < 0) {
		if (err == JET_errCheckpointFileNotFound)
			util_errmsg("cannot open %s: %s", argv[optind], util_open_problem(JET_errFileNotFound));
		else if (err == JET_errCheckpointCorrupt)
			util_errmsg("%s is not a checkpoint file, or it is damaged (%s)", argv[optind], JetErrorName(err));
		else
			util_errmsg("%s: %s", argv[optind], util_jet_problem(err, a, sizeof(a)));
		return 1;
	}
	printf("Checkpoint: %s\n\n", argv[optind]);
	util_field("File Type", "Checkpoint");
	util_field("Checkpoint", "gen %u (0x%x), LSN %llu", ck.gen, ck.gen, (unsigned long long)ck.lsn);
	util_field("Log Signature", "%s", util_fmt_sig(&ck.sign_log, a, sizeof(a)));
	util_field("Time written", "%s", util_fmt_time(ck.time_written, b, sizeof(b)));
	util_field("Last full backup", "LSN %llu  %s", (unsigned long long)ck.full_backup_lsn,
	    util_fmt_time(ck.full_backup_time, b, sizeof(b)));
	util_field("Last incr. backup", "LSN %llu  %s", (unsigned long long)ck.inc_backup_lsn,
	    util_fmt_time(ck.inc_backup_time, b, sizeof(b)));
	util_field("Attached databases", "%zu", ck.nattach);
	for (size_t i = 0; i < ck.nattach; i++) {
		char label[32];
		snprintf(label, sizeof(label), "dbid %u", ck.attach[i].dbid);
		util_printable(ck.attach[i].path, a, sizeof(a));
		util_field(label, "%s", a);
		util_field("DB Signature", "%s", util_fmt_sig(&ck.attach[i].sign_db, a, sizeof(a)));
	}
	checkpoint_state_free(&ck);
	return 0;
}
