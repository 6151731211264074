/*
 * source.h -- where a jetfs mount gets its backups from.
 *
 * Every backup call jetfs makes is an ordinary external-backup call of
 * jet.h on a JET_INSTANCE, and libjet accepts two kinds of handle there: an
 * instance of this process, and a remote handle from JetfsConnectBackup.  A
 * source is what differs between the two: how to obtain the handle when a
 * backup begins, and how to let it go when the backup has ended.
 */
#ifndef JETFS_SOURCE_H
#define JETFS_SOURCE_H

#include "jet.h"

struct source {
	/* Obtains the instance to back up.  Waits at most wait_ms for another
	 * backup client to go away (JET_errBackupInProgress). */
	JET_ERR (*acquire)(struct source *src, unsigned wait_ms, JET_INSTANCE *instance);
	/* Lets the instance go, once the backup has ended. */
	void (*release)(struct source *src, JET_INSTANCE instance);
	/* Checks at mount time that backups can be taken (the socket answers). */
	JET_ERR (*probe)(struct source *src);
	void (*free)(struct source *src);
	char description[160];	/* for status and messages: "socket /run/x.sock" */
	unsigned timeout_s;	/* how long a call may wait for the instance; 0: no limit */
};

/* timeout_s: JetfsSetBackupTimeout on each connection (0: none). */
struct source *source_socket_new(const char *socket_path, unsigned timeout_s);
struct source *source_instance_new(JET_INSTANCE instance);

#endif
