/*
 * cmd-backup.c -- jetutil backup INSTANCEDIR BACKUPDIR, or --socket PATH
 * BACKUPDIR: a full, incremental or (--delta) page delta backup of an
 * instance at rest (opened here) or live in another process (over its backup
 * socket), then its SHA256SUMS.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "jetutil.h"

/* Log file size, page size and circular flag of an instance, from its current log. */
static void
instance_log_params(const char *dir, unsigned long *kbp, unsigned long *psp, unsigned long *circp)
{
	char *p = util_xjoin(dir, BASE_NAME ".log");
	struct log_file_header h;
	os_file *f;

	if (os_open(p, OS_READ, &f) >= 0) {
		if (log_header_read(f, &h) >= 0) {
			*kbp = h.file_size / 1024;
			*psp = h.page_size;
			*circp = (h.flags & LOGF_CIRCULAR) != 0;
		}
		os_close(f);
	}
	free(p);
}

/* A backup its lost client left held is why none can begin: say which, and what to do. */
static void
backup_say_held(JET_INSTANCE inst)
{
	JETFS_BACKUPINFO info = { .cbStruct = sizeof(info) };

	if (JetfsGetBackupInfo(inst, &info) < 0 || !info.fHeld)
		return;
	util_errmsg("backup: backup %#llx is held for its lost client (uid %lu) for another %llu s: "
	    "`jetfs -o resume` takes it over; else it is aborted then", info.ullId, info.ulHeldUid,
	    (info.ullHeldMsLeft + 999) / 1000);
}

/* What a backup of these options is, in messages. */
static const char *
backup_kind(int incremental, int delta)
{
	return delta ? "delta" : incremental ? "incremental" : "full";
}

/*
 * The grbit of JetBackupInstance: a delta is a point-in-time backup (its
 * pages are the Begin images), so --delta implies --point-in-time.
 */
static JET_GRBIT
backup_grbit(int incremental, int pit, int delta)
{
	if (delta)
		return JET_bitBackupJetfsDelta | JET_bitBackupJetfsPointInTime;
	return (incremental ? JET_bitBackupIncremental : 0) | (pit ? JET_bitBackupJetfsPointInTime : 0);
}

/* jetutil backup --socket PATH BACKUPDIR: a live instance in another process. */
static int
backup_remote(const char *sock, int argc, char **argv, int incremental, int pit, int delta)
{
	JET_INSTANCE inst = 0;
	const char *bdir;
	char msg[200];
	int created;
	JET_ERR err;

	if (argc - optind != 1)
		util_usage_error("backup --socket: one backup directory expected");
	bdir = argv[optind];
	created = !os_exists(bdir);
	if (created && os_mkdir_p(bdir) < 0) {
		util_errmsg("backup: cannot create %s", bdir);
		return 1;
	}
	util_status_what = delta ? "delta backup" : incremental ? "incremental backup" : "full backup";
	if ((err = JetfsConnectBackup(sock, &inst)) < 0) {
		util_errmsg("backup: cannot reach the instance at %s: %s", sock, util_jet_problem(err, msg, sizeof(msg)));
		goto fail;
	}
	err = JetBackupInstance(inst, bdir, backup_grbit(incremental, pit, delta), util_status_cb);
	if (err == JET_errBackupInProgress)
		backup_say_held(inst);
	JetfsDisconnectBackup(inst);
	if (err < 0) {
		util_errmsg("backup: JetBackupInstance over %s failed: %s", sock, util_jet_problem(err, msg, sizeof(msg)));
		util_events_hint("");
		goto fail;
	}
	if (backupset_write_manifest(bdir) < 0)
		return 1;
	printf("%s%s backup over %s to %s complete\n", backup_kind(incremental, delta),
	    pit || delta ? " point-in-time" : "", sock, bdir);
	return 0;
fail:
	if (created && os_is_dir(bdir))
		os_rmdir(bdir);
	return 1;
}

int
cmd_backup_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "incremental", no_argument, NULL, 'i' }, { "quiet", no_argument, NULL, 'q' },
		{ "socket", required_argument, NULL, 's' }, { "point-in-time", no_argument, NULL, 'p' },
		{ "delta", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	JET_INSTANCE inst = 0;
	unsigned long kb = 5120, ps = 8192, circ = 0;
	const char *sock = NULL;
	int incremental = 0, pit = 0, delta = 0, c, created;
	const char *idir, *bdir, *step;
	char msg[200], *chk;
	JET_ERR err;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'i': incremental = 1; break;
		case 'q': util_quiet = 1; break;
		case 's': sock = optarg; break;
		case 'p': pit = 1; break;
		case 'd': delta = 1; break;
		case 'h': util_usage(stdout); return 0;
		default: util_usage(stderr); return 2;
		}
	}
	/* A delta is pages since the last full, not logs since the last backup: one or the other. */
	if (delta && incremental)
		util_usage_error("backup: --delta and --incremental: one kind of backup, not two");
	if (sock != NULL)
		return backup_remote(sock, argc, argv, incremental, pit, delta);
	if (argc - optind != 2)
		util_usage_error("backup: an instance directory and a backup directory expected");
	idir = argv[optind];
	bdir = argv[optind + 1];
	chk = util_xjoin(idir, BASE_NAME ".chk");
	if (!os_is_dir(idir) || !os_exists(chk)) {
		util_errmsg("backup: %s is not a libjet instance directory (no %s.chk)", idir, BASE_NAME);
		free(chk);
		return 1;
	}
	free(chk);
	instance_log_params(idir, &kb, &ps, &circ);
	created = !os_exists(bdir);
	util_status_what = delta ? "delta backup" : incremental ? "incremental backup" : "full backup";
	step = "JetCreateInstance";
	if ((err = JetCreateInstance(&inst, NULL)) < 0)
		goto fail;
	step = "setting the instance parameters";
	if ((err = JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, idir)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, idir)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, BASE_NAME)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramLogFileSize, kb, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramDatabasePageSize, ps, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramCircularLog, circ, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramEventSource, 0, "jetutil")) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget, (JET_API_PTR)util_events_target(), NULL)) < 0)
		goto fail;
	step = "JetInit (open and recover the instance)";
	if ((err = JetInit(&inst)) < 0)
		goto fail;
	step = "JetBackupInstance";
	if ((err = JetBackupInstance(inst, bdir, backup_grbit(incremental, pit, delta), util_status_cb)) < 0)
		goto fail;
	step = "JetTerm";
	err = JetTerm(inst);
	inst = 0;
	if (err < 0)
		goto fail;
	if (backupset_write_manifest(bdir) < 0)
		return 1;
	{
		size_t n;
		char **names = util_list_dir(bdir, &n);
		printf("%s backup of %s to %s complete:", backup_kind(incremental, delta), idir, bdir);
		for (size_t i = 0; names != NULL && i < n; i++)
			printf(" %s", names[i]);
		putchar('\n');
		if (names != NULL)
			util_free_list(names, n);
	}
	return 0;
fail:
	util_errmsg("backup: %s failed: %s", step, util_jet_problem(err, msg, sizeof(msg)));
	util_events_hint("");
	if (inst != 0)
		JetTerm2(inst, JET_bitTermStopBackup);
	if (created && os_is_dir(bdir))
		os_rmdir(bdir);		/* only if still empty */
	return 1;
}
