/*
 * mount.c -- JetfsMountInstance / JetfsUnmountInstance (jetfs.h): the jetfs
 * file system on an instance of the calling process, served by a thread.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsops.h"
#include "jetfs.h"

struct jetfs_mount {
	struct jetfs *fs;
	/* Made before the loop's thread: a mount that cannot serve is refused, never left mounted and dead. */
	struct fuse_loop_config *cfg;
	pthread_t loop;
};

static void *
loop_main(void *arg)
{
	struct jetfs_mount *m = arg;

	fuse_session_loop_mt(m->fs->se, m->cfg);
	return NULL;
}

JET_ERR JET_API
JetfsMountInstance(JET_INSTANCE instance, JET_PCSTR szMountPoint, JET_PCSTR szOptions, JET_JETFSMOUNT *pmount)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fsops_options opt;
	struct jetfs_mount *m = NULL;
	struct source *src;
	JET_ERR err = JET_errInvalidParameter;

	if (pmount == NULL || szMountPoint == NULL || *szMountPoint == '\0' || instance == 0 ||
	    instance == JET_instanceNil)
		return JET_errInvalidParameter;
	*pmount = NULL;
	if (fuse_opt_add_arg(&args, "jetfs") != 0 ||
	    (szOptions != NULL && *szOptions != '\0' && (fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, szOptions) != 0))) {
		err = JET_errOutOfMemory;
		goto err;
	}
	if (fsops_parse_options(&args, &opt) != 0)
		goto err;
	if ((m = calloc(1, sizeof(*m))) == NULL || (src = source_instance_new(instance)) == NULL ||
	    (m->fs = fsops_new(src, &opt, JET_JetfsEventSyslog)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	if (fsops_session_new(m->fs, &args) != 0)
		goto err_fs;
	if (fsops_mount(m->fs, szMountPoint) != 0) {
		err = JET_errInvalidPath;
		goto err_fs;
	}
	if ((m->cfg = fuse_loop_cfg_create()) == NULL || pthread_create(&m->loop, NULL, loop_main, m) != 0) {
		err = JET_errOutOfMemory;
		goto err_fs;
	}
	fuse_opt_free_args(&args);
	*pmount = m;
	return JET_errSuccess;

err_fs:
	fsops_finish(m->fs);
	m->fs = NULL;
err:
	if (m != NULL && m->cfg != NULL)
		fuse_loop_cfg_destroy(m->cfg);
	free(m);
	fuse_opt_free_args(&args);
	return err;
}

/*
 * Detaches the mount so that the loop sees the connection end once the last
 * reader is gone: umount2(MNT_DETACH) as root, fusermount3 -u -z otherwise
 * (what fusermount3 -u does for the daemon).
 */
static void
detach(const char *mountpoint)
{
	pid_t pid;
	int status;

	if (geteuid() == 0) {
		if (umount2(mountpoint, MNT_DETACH) != 0)
			perror("jetfs: umount2");
		return;
	}
	if ((pid = fork()) == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", "--", mountpoint, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0)
			;
}

JET_ERR JET_API
JetfsUnmountInstance(JET_JETFSMOUNT mount, JET_GRBIT *pgrbitEnded)
{
	unsigned long grbit;

	if (mount == NULL)
		return JET_errInvalidParameter;
	detach(mount->fs->mountpoint);
	pthread_join(mount->loop, NULL);
	grbit = fsops_finish(mount->fs);
	if (pgrbitEnded != NULL)
		*pgrbitEnded = grbit;
	fuse_loop_cfg_destroy(mount->cfg);
	free(mount);
	return JET_errSuccess;
}
