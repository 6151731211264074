/*
 * jetfs.c -- the jetfs daemon: jetfs [options] SOCKET MOUNTPOINT mounts the
 * live instance serving SOCKET (see doc/jetfs.1).
 *
 * Exit status: 0 unmounted, the backup ended normally or none was begun;
 * 2 unmounted, the backup ended as an abort; 1 could not mount.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>

#include "evtarget.h"
#include "fsops.h"

static void
usage(FILE *to)
{
	fprintf(to, "usage: jetfs [options] SOCKET MOUNTPOINT\n"
	    "Mounts the live instance serving the backup socket SOCKET; reading\n"
	    "MOUNTPOINT/backup/full/, backup/incremental/ or backup/delta/ streams a point-in-time backup.\n");
}

/*
 * SIGTERM, SIGINT, SIGHUP: as libfuse's own handler, the loop is told to end;
 * and the stopper thread is woken, because the loop ends only once every
 * request being served has been answered, and one may be waiting for an
 * instance that does not answer (stopped, hung): the stopper gives up that
 * connection (fsbackup_interrupt), so the request fails at once.
 */
static struct fuse_session *stop_session;
static sem_t stop_sem;
static volatile sig_atomic_t stop_done;

static void
on_stop_signal(int sig)
{
	(void)sig;
	fuse_session_exit(stop_session);
	sem_post(&stop_sem);
}

static void *
stopper_main(void *arg)
{
	struct jetfs *fs = arg;

	for (;;) {
		while (sem_wait(&stop_sem) != 0)
			;
		if (stop_done)
			return NULL;
		fsbackup_interrupt(fs->backup);
	}
}

static int
set_stop_handlers(struct fuse_session *se, void (*handler)(int))
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGTERM };
	struct sigaction sa;

	stop_session = se;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = handler;	/* no SA_RESTART: the loop's waits must see EINTR, as libfuse's */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -1;
	sa.sa_handler = handler == SIG_DFL ? SIG_DFL : SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

/*
 * The stopper starts with the stop signals blocked: one delivered to it would
 * wake neither the loop nor a request.
 */
static int
start_stopper(struct jetfs *fs, pthread_t *stopper)
{
	sigset_t stop, old;
	int rc;

	sigemptyset(&stop);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	rc = pthread_create(stopper, NULL, stopper_main, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc == 0 ? 0 : -1;
}

/*
 * SOCKET must be a socket: anything else is a mistake whose cause the user
 * should read, not "File not found" from the connection.  A directory as
 * SOCKET and a socket as MOUNTPOINT: the arguments were given the wrong way
 * round.  0, or -1 after saying why.
 */
static int
check_socket(const char *socket_path, const char *mountpoint)
{
	struct stat st, mst;

	if (stat(socket_path, &st) != 0) {
		fprintf(stderr, "jetfs: SOCKET %s: %s\n", socket_path,
		    errno == ENOENT ? "does not exist (is the application running, with "
		    "JET_paramJetfsBackupSocket set to this path?)" : strerror(errno));
		return -1;
	}
	if (S_ISSOCK(st.st_mode))
		return 0;
	if (S_ISDIR(st.st_mode) && stat(mountpoint, &mst) == 0 && S_ISSOCK(mst.st_mode)) {
		fprintf(stderr, "jetfs: %s is a directory and %s a socket: the arguments are the wrong way "
		    "round (jetfs SOCKET MOUNTPOINT)\n", socket_path, mountpoint);
		return -1;
	}
	fprintf(stderr, "jetfs: SOCKET %s is not a socket (it is %s)\n", socket_path,
	    S_ISDIR(st.st_mode) ? "a directory" : S_ISREG(st.st_mode) ? "a regular file" : "not a socket file");
	return -1;
}

/* Takes SOCKET, the first non-option argument, out of args. */
static int
take_socket(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	char **socket_path = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && *socket_path == NULL) {
		if ((*socket_path = strdup(arg)) == NULL)
			return -1;
		return 0;
	}
	return 1;
}

int
main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct fsops_options opt;
	struct fuse_loop_config *loop;
	struct source *src;
	struct jetfs *fs;
	pthread_t stopper;
	char *socket_path = NULL, *absolute;
	unsigned long grbit;
	JET_ERR err;
	int events, rc = 1;

	memset(&cmd, 0, sizeof(cmd));
	if (fuse_opt_parse(&args, &socket_path, NULL, take_socket) != 0 || fsops_parse_options(&args, &opt) != 0 ||
	    fuse_parse_cmdline(&args, &cmd) != 0) {
		usage(stderr);
		goto out;
	}
	if (cmd.show_help) {
		usage(stdout);
		printf("\n");
		fsops_options_help();
		printf("\nFUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		rc = 0;
		goto out;
	}
	if (cmd.show_version) {
		printf("jetfs %s\n", PACKAGE_VERSION);
		fuse_lowlevel_version();
		rc = 0;
		goto out;
	}
	if (socket_path == NULL || cmd.mountpoint == NULL) {
		fprintf(stderr, "jetfs: %s\n", socket_path == NULL ? "no SOCKET given" : "no MOUNTPOINT given");
		usage(stderr);
		goto out;
	}
	/* In the foreground its events are a command's messages; a daemon has no terminal. */
	if ((events = evtarget_from_env(cmd.foreground ? JET_JetfsEventStderr : JET_JetfsEventSyslog)) < 0) {
		fprintf(stderr, "jetfs: JETFS_EVENTS=%s: stderr, syslog or none\n", getenv("JETFS_EVENTS"));
		goto out;
	}
	openlog("jetfs", LOG_PID, LOG_DAEMON);
	/* The daemon runs in /, so a relative SOCKET must be made absolute now. */
	if ((absolute = realpath(socket_path, NULL)) != NULL) {
		free(socket_path);
		socket_path = absolute;
	}
	/* Fail now, with the cause, rather than at the first ls. */
	if (check_socket(socket_path, cmd.mountpoint) != 0)
		goto out;
	if ((src = source_socket_new(socket_path, opt.timeout_s)) == NULL) {
		fprintf(stderr, "jetfs: out of memory\n");
		goto out;
	}
	if ((err = src->probe(src)) < 0) {
		fprintf(stderr, "jetfs: cannot back up through %s: %s (%ld)%s\n", socket_path, JetErrorString(err), err,
		    err == JET_errFileNotFound ? ": no instance serves it: nobody listens on it (the application is not "
		    "running or has not set JET_paramJetfsBackupSocket)" : "");
		src->free(src);
		goto out;
	}
	if ((fs = fsops_new(src, &opt, events)) == NULL) {
		fprintf(stderr, "jetfs: out of memory\n");
		goto out;
	}
	if (fsops_session_new(fs, &args) != 0) {
		fprintf(stderr, "jetfs: cannot create the FUSE session (see the message above)\n");
		fsops_finish(fs);
		goto out;
	}
	if (sem_init(&stop_sem, 0, 0) != 0 || set_stop_handlers(fs->se, on_stop_signal) != 0 ||
	    fsops_mount(fs, cmd.mountpoint) != 0) {
		fprintf(stderr, "jetfs: cannot mount on %s\n", cmd.mountpoint);
		set_stop_handlers(fs->se, SIG_DFL);
		fsops_finish(fs);
		goto out;
	}
	fuse_daemonize(cmd.foreground);
	if (start_stopper(fs, &stopper) != 0) {
		fprintf(stderr, "jetfs: cannot start a thread\n");
		set_stop_handlers(fs->se, SIG_DFL);
		fsops_finish(fs);
		goto out;
	}
	if (cmd.singlethread) {
		rc = fuse_session_loop(fs->se);
	} else if ((loop = fuse_loop_cfg_create()) != NULL) {
		fuse_loop_cfg_set_clone_fd(loop, (unsigned)cmd.clone_fd);
		if (cmd.max_threads != UINT_MAX)
			fuse_loop_cfg_set_max_threads(loop, cmd.max_threads);
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
		rc = fuse_session_loop_mt(fs->se, loop);
		fuse_loop_cfg_destroy(loop);
	} else {
		fprintf(stderr, "jetfs: out of memory for the FUSE loop's configuration\n");
		rc = -1;
	}
	set_stop_handlers(fs->se, SIG_DFL);
	stop_done = 1;
	sem_post(&stop_sem);
	pthread_join(stopper, NULL);
	grbit = fsops_finish(fs);
	/*
	 * ECONNABORTED: the kernel aborted the connection (fusectl's abort, a
	 * forced unmount) instead of a plain unmount's ENODEV.  The mount is gone
	 * either way, and the backup has ended by its own account: that decides.
	 */
	rc = rc < 0 && rc != -ECONNABORTED ? 1 : grbit == JET_bitBackupEndAbort ? 2 : 0;
out:
	free(socket_path);
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
