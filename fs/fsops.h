/*
 * fsops.h -- the jetfs file system: its FUSE low-level handlers, its options,
 * and what the daemon (jetfs.c) and the in-process mount (mount.c) share.
 */
#ifndef JETFS_FSOPS_H
#define JETFS_FSOPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>

#include "fsbackup.h"

struct fsops_options {
	unsigned wait_s;		/* -o wait=S: for another backup client to finish */
	unsigned timeout_s;		/* -o timeout=S: for the instance to answer a request; 0: none */
	unsigned readahead_kb;		/* -o readahead=KIB: fsbackup.c F7; 0: none */
	unsigned max_read;		/* -o max_read=N, also given to the kernel in INIT */
	int no_manifest;		/* -o nomanifest: no SHA256SUMS, nothing hashed */
	int resume;			/* -o resume: take over a held backup at mount (fsbackup.c F8) */
};

#define FSOPS_DEFAULT_WAIT_S 30
#define FSOPS_DEFAULT_TIMEOUT_S 60
#define FSOPS_DEFAULT_READAHEAD_KB 1024
#define FSOPS_MAX_READAHEAD_KB 8192

struct jetfs {
	struct fsbackup *backup;
	struct fsops_options opt;
	struct timespec mounted_at;
	uid_t uid;
	gid_t gid;
	struct fuse_session *se;
	char *mountpoint;
	pthread_key_t read_buffer;
};

/* Parses jetfs's own -o options out of args (max_read stays in for FUSE).
 * @return 0, or -1 after a message on stderr. */
int fsops_parse_options(struct fuse_args *args, struct fsops_options *opt);
/* Prints the help of jetfs's own options. */
void fsops_options_help(void);

/* A file system over src (taken over, freed with it) and its FUSE session. */
struct jetfs *fsops_new(struct source *src, const struct fsops_options *opt, int event_target);
int fsops_session_new(struct jetfs *fs, struct fuse_args *args);
int fsops_mount(struct jetfs *fs, const char *mountpoint);
/* After the loop: unmount if still mounted, destroy the session (which ends
 * the backup), free everything.  Returns the End grbit (fsbackup_end). */
unsigned long fsops_finish(struct jetfs *fs);

#endif
