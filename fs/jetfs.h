/**
 * @file jetfs.h
 * @brief jetfs: mount the backups of a libjet instance of this process.
 *
 * The jetfs daemon (jetfs(1)) mounts an instance running in another process
 * through its backup socket.  These two calls mount an instance of the
 * calling application instead, in a thread of its own, with the same file
 * system: MOUNTPOINT/backup/full/, backup/incremental/ and backup/delta/ (a point-in-time
 * backup begins at the first look inside), backup/status, backup/truncate;
 * see jetfs(1) for the tree and its rules.  Compile and link with
 * `pkg-config --cflags --libs libjetfs` (libjetfs(3)).  Both calls are jetfs
 * extensions; ESE has nothing like them.
 *
 * @code
 * JET_JETFSMOUNT mount;
 * JetfsMountInstance(instance, "/mnt/backup", "wait=10", &mount);
 * ...  rsync -a /mnt/backup/backup/full/ /srv/backup/  ...
 * JET_GRBIT ended;
 * JetfsUnmountInstance(mount, &ended);   // JET_bitBackupEndNormal: recorded
 * @endcode
 */
#ifndef JETFS_H
#define JETFS_H

#include <jet.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A mounted file system. */
typedef struct jetfs_mount *JET_JETFSMOUNT;

/**
 * Mounts the backups of instance (an initialized instance of this process,
 * or a remote handle from JetfsConnectBackup, which the caller disconnects
 * after the unmount) on szMountPoint, an existing directory, and serves it
 * from a thread of its own until JetfsUnmountInstance.  szOptions (may be
 * NULL) is a comma-separated list of jetfs(1)'s -o options: wait=S,
 * readahead=KIB, nomanifest, direct_io, max_read=N, timeout=S (no effect
 * here: for a remote handle the caller uses JetfsSetBackupTimeout), and
 * FUSE's own (allow_other, ...; auto_unmount is not available in-process).  The instance must stay
 * initialized until the unmount: while a backup runs JetTerm fails with
 * JET_errBackupInProgress (as ESE); JetTerm2 with JET_bitTermStopBackup
 * aborts it, and reads then fail with EIO.
 * @return JET_errInvalidParameter (NULL instance, mount point or pmount, or
 *   an unknown or bad option: a message went to stderr), JET_errInvalidPath
 *   (the mount point does not exist or cannot be mounted on, e.g. no
 *   permission for /dev/fuse, or is already a FUSE mount: a second mount
 *   would hide the first), JET_errOutOfMemory.
 */
JET_ERR JET_API JetfsMountInstance(JET_INSTANCE instance, JET_PCSTR szMountPoint, JET_PCSTR szOptions,
	JET_JETFSMOUNT *pmount);

/**
 * Unmounts (lazily: a reader that still has a file open keeps being served
 * until it closes it, and this call waits for that), ends the backup --
 * JET_bitBackupEndNormal if every file of the set was read completely and no
 * read failed, else JET_bitBackupEndAbort -- and frees the mount.  What was
 * done goes to *pgrbitEnded (may be NULL): JET_bitBackupEndNormal,
 * JET_bitBackupEndAbort (also if a backup was asked for and could not begin:
 * status said why), or 0 if no backup was asked for.
 * @return JET_errInvalidParameter (NULL mount), JET_errSuccess otherwise
 *   (the file system is gone even if ending the backup failed: then
 *   *pgrbitEnded is JET_bitBackupEndAbort).
 */
JET_ERR JET_API JetfsUnmountInstance(JET_JETFSMOUNT mount, JET_GRBIT *pgrbitEnded);

#ifdef __cplusplus
}
#endif

#endif
