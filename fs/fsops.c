/*
 * fsops.c -- the jetfs file system: one handler per FUSE operation, each
 * replying exactly once.
 *
 * THE TREE (inode numbers are fixed; readdir order = inode order = name
 * order, so rsync (name order), tar (readdir order) and cp -a (inode order)
 * all read the files in the same order):
 *   1 /                      dr-x------
 *   2 /backup                dr-x------
 *   3 /backup/delta          dr-x------  first lookup or opendir inside begins
 *   4 /backup/full           dr-x------  a backup of that kind (delta: a page
 *   5 /backup/incremental    dr-x------  delta, JET_bitBackupJetfsDelta); the
 *                                        others then answer EBUSY
 *   6 /backup/status         -r--------  text, made at open
 *   7 /backup/truncate       -rw-------  write: JetTruncateLog; read: text
 *   16 + i                   -r--------  file i of the set, in the directory
 *                                        of the running kind
 *   16 + n                   -r--------  SHA256SUMS of the n files, last
 *                                        (tar and cp -a read it after them)
 * Sizes, st_blocks, times (Begin) and inode numbers of the set are final at
 * Begin (fsbackup.c F1); the kernel may cache them for the whole mount.
 * status and truncate are direct_io with st_size 0, as in /proc: their text
 * is made when they are opened.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsops.h"
#include "manifest.h"

enum {
	INO_ROOT = 1,
	INO_BACKUP = 2,
	INO_DELTA = 3,
	INO_FULL = 4,
	INO_INCREMENTAL = 5,
	INO_STATUS = 6,
	INO_TRUNCATE = 7,
	INO_FILE_BASE = 16,
};

/* The set never changes: the kernel may keep names and attributes forever. */
#define FSOPS_CACHE_S 86400.0
#define FSOPS_BLKSIZE (1 << 20)
/* statfs(2)'s f_type of a FUSE mount (linux/magic.h has no name for it). */
#define FUSE_SUPER_MAGIC 0x65735546

struct node {
	fuse_ino_t ino;
	fuse_ino_t parent;
	const char *name;
	mode_t mode;
};

static const struct node fixed_nodes[] = {
	{ INO_ROOT, INO_ROOT, "", S_IFDIR | 0500 },
	{ INO_BACKUP, INO_ROOT, "backup", S_IFDIR | 0500 },
	{ INO_DELTA, INO_BACKUP, "delta", S_IFDIR | 0500 },
	{ INO_FULL, INO_BACKUP, "full", S_IFDIR | 0500 },
	{ INO_INCREMENTAL, INO_BACKUP, "incremental", S_IFDIR | 0500 },
	{ INO_STATUS, INO_BACKUP, "status", S_IFREG | 0400 },
	{ INO_TRUNCATE, INO_BACKUP, "truncate", S_IFREG | 0600 },
};
#define NFIXED (sizeof(fixed_nodes) / sizeof(fixed_nodes[0]))

/*
 * The texts of status and truncate, made at open, kept by id (the fh) in a
 * table under a lock, and copied out under it: a READ that the kernel gave
 * up on (an interrupted reader) may still be answered after its RELEASE has
 * freed the text, so a read must never use a pointer taken from fh.
 */
struct text_file {
	uint64_t id;
	char *s;
	size_t n;
};

static pthread_mutex_t texts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct text_file *texts;
static size_t ntexts;
static uint64_t texts_last_id;

/* Takes s over; returns its id, or 0 (s freed) if out of memory. */
static uint64_t
text_register(char *s)
{
	struct text_file *t;
	uint64_t id = 0;

	pthread_mutex_lock(&texts_lock);
	if ((t = realloc(texts, (ntexts + 1) * sizeof(*texts))) != NULL) {
		texts = t;
		id = ++texts_last_id;
		texts[ntexts++] = (struct text_file){ id, s, strlen(s) };
	} else {
		free(s);
	}
	pthread_mutex_unlock(&texts_lock);
	return id;
}

static void
text_unregister(uint64_t id)
{
	pthread_mutex_lock(&texts_lock);
	for (size_t i = 0; i < ntexts; i++)
		if (texts[i].id == id) {
			free(texts[i].s);
			texts[i] = texts[--ntexts];
			break;
		}
	if (ntexts == 0) {
		free(texts);
		texts = NULL;
	}
	pthread_mutex_unlock(&texts_lock);
}

/* Copies up to size bytes of text id at off into buf: the count, or -EBADF. */
static ssize_t
text_copy(uint64_t id, char *buf, size_t size, off_t off)
{
	ssize_t n = -EBADF;

	pthread_mutex_lock(&texts_lock);
	for (size_t i = 0; i < ntexts; i++)
		if (texts[i].id == id) {
			size_t left = off < 0 || (size_t)off >= texts[i].n ? 0 : texts[i].n - (size_t)off;
			n = (ssize_t)(left < size ? left : size);
			if (n > 0)
				memcpy(buf, texts[i].s + off, (size_t)n);
			break;
		}
	pthread_mutex_unlock(&texts_lock);
	return n;
}

static char *read_buffer(struct jetfs *fs, size_t size);

static struct jetfs *
fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static const struct node *
fixed_node(fuse_ino_t ino)
{
	return ino >= 1 && ino <= NFIXED ? &fixed_nodes[ino - 1] : NULL;
}

static enum fsb_kind
dir_kind(fuse_ino_t ino)
{
	return ino == INO_FULL ? FSB_FULL : ino == INO_INCREMENTAL ? FSB_INCREMENTAL : ino == INO_DELTA ? FSB_DELTA :
	    FSB_NONE;
}

/* The set's file for an inode, or NULL. */
static const struct fsb_file *
set_file(struct jetfs *fs, fuse_ino_t ino, size_t *index)
{
	if (ino < INO_FILE_BASE || fsbackup_kind(fs->backup) == FSB_NONE)
		return NULL;
	*index = ino - INO_FILE_BASE;
	return fsbackup_file(fs->backup, *index);
}

/* The inode of SHA256SUMS, once a set with one has begun; else 0. */
static fuse_ino_t
manifest_ino(struct jetfs *fs)
{
	if (fsbackup_kind(fs->backup) == FSB_NONE || !fsbackup_has_manifest(fs->backup))
		return 0;
	return INO_FILE_BASE + fsbackup_count(fs->backup);
}

static int
make_attr(struct jetfs *fs, fuse_ino_t ino, struct stat *st)
{
	const struct node *n = fixed_node(ino);
	const struct fsb_file *f;
	uint64_t size;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = FSOPS_BLKSIZE;
	if (n != NULL) {
		st->st_mode = n->mode;
		st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
		st->st_atim = st->st_mtim = st->st_ctim = fs->mounted_at;
		return 0;
	}
	if ((f = set_file(fs, ino, &i)) != NULL)
		size = f->size;
	else if (ino == manifest_ino(fs))
		size = fsbackup_manifest_size(fs->backup);
	else
		return -ENOENT;
	st->st_mode = S_IFREG | 0400;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_atim = st->st_mtim = st->st_ctim = fsbackup_time(fs->backup);
	return 0;
}

static void
reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;
	int rc;

	memset(&e, 0, sizeof(e));
	if ((rc = make_attr(fs_of(req), ino, &e.attr)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	e.ino = ino;
	e.attr_timeout = FSOPS_CACHE_S;
	e.entry_timeout = FSOPS_CACHE_S;
	fuse_reply_entry(req, &e);
}

/* Binary search of the sorted set. */
static int
find_file(struct jetfs *fs, const char *name, size_t *index)
{
	size_t lo = 0, hi = fsbackup_count(fs->backup);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, fsbackup_file(fs->backup, mid)->name);
		if (c == 0) {
			*index = mid;
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

/* ---- handlers ---- */

static void
jetfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct jetfs *fs = userdata;

	if (fs->opt.max_read != 0)
		conn->max_read = fs->opt.max_read;
	/* Reads of a backup file can run concurrently; nothing to write back. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void
jetfs_destroy(void *userdata)
{
	struct jetfs *fs = userdata;

	fsbackup_end(fs->backup);
}

static void
jetfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct jetfs *fs = fs_of(req);
	enum fsb_kind kind = dir_kind(parent);
	size_t i;
	int rc;

	/* No file has such a name; a disk would say so, not ENOENT. */
	if (strlen(name) > NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (kind != FSB_NONE) {
		if ((rc = fsbackup_begin(fs->backup, kind)) < 0) {
			fuse_reply_err(req, -rc);
			return;
		}
		if (strcmp(name, MANIFEST_NAME) == 0 && manifest_ino(fs) != 0)
			reply_entry(req, manifest_ino(fs));
		else if ((rc = find_file(fs, name, &i)) < 0)
			fuse_reply_err(req, -rc);
		else
			reply_entry(req, INO_FILE_BASE + i);
		return;
	}
	for (size_t k = 1; k < NFIXED; k++)
		if (fixed_nodes[k].parent == parent && strcmp(fixed_nodes[k].name, name) == 0) {
			reply_entry(req, fixed_nodes[k].ino);
			return;
		}
	fuse_reply_err(req, ENOENT);
}

static void
jetfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int rc;

	(void)fi;
	if ((rc = make_attr(fs_of(req), ino, &st)) < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, FSOPS_CACHE_S);
}

/* Only `echo > backup/truncate` (size 0, times) is accepted: it opens with
 * O_TRUNC.  Any other change would change the tree: EROFS, as a write. */
static void
jetfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	const int harmless = FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
	    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;

	if (ino != INO_TRUNCATE || (to_set & ~harmless) != 0 || ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	jetfs_getattr(req, ino, fi);
}

/*
 * The tree never changes: every request that would change it is refused as on
 * a read-only mount (EROFS, as README and jetfs(1) say), not left to libfuse's
 * ENOSYS ("Function not implemented" sends a user looking for a missing
 * feature).  A name too long for any file system is ENAMETOOLONG first, as
 * the kernel answers on a disk.
 */
static void
reply_read_only(fuse_req_t req, const char *name)
{
	fuse_reply_err(req, name != NULL && strlen(name) > NAME_MAX ? ENAMETOOLONG : EROFS);
}

static void
jetfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)mode;
	(void)rdev;
	reply_read_only(req, name);
}

static void
jetfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent;
	(void)mode;
	reply_read_only(req, name);
}

/* unlink and rmdir */
static void
jetfs_remove(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	reply_read_only(req, name);
}

static void
jetfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link;
	(void)parent;
	reply_read_only(req, name);
}

static void
jetfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
    unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)flags;
	reply_read_only(req, newname);
}

static void
jetfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	reply_read_only(req, newname);
}

static void
jetfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)mode;
	(void)fi;
	reply_read_only(req, name);
}

static void
jetfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	reply_read_only(req, NULL);
}

static void
jetfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	reply_read_only(req, NULL);
}

/*
 * Adds one entry at *len to buf (of cap bytes; NULL only measures), its
 * offset the end of the entry, so a listing is the same bytes every time.
 */
static void
dir_add(fuse_req_t req, char *buf, size_t cap, size_t *len, const char *name, fuse_ino_t ino, mode_t mode)
{
	struct stat st;
	size_t need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);

	if (buf != NULL && *len + need <= cap) {
		memset(&st, 0, sizeof(st));
		st.st_ino = ino;
		st.st_mode = mode;
		fuse_add_direntry(req, buf + *len, need, name, &st, (off_t)(*len + need));
	}
	*len += need;
}

/* Writes the listing of directory n (whose set, if any, has begun); returns its length. */
static size_t
dir_listing(fuse_req_t req, struct jetfs *fs, const struct node *n, char *buf, size_t cap)
{
	size_t len = 0;

	dir_add(req, buf, cap, &len, ".", n->ino, S_IFDIR);
	dir_add(req, buf, cap, &len, "..", n->parent, S_IFDIR);
	for (size_t k = 1; k < NFIXED; k++)
		if (fixed_nodes[k].parent == n->ino)
			dir_add(req, buf, cap, &len, fixed_nodes[k].name, fixed_nodes[k].ino, fixed_nodes[k].mode);
	if (dir_kind(n->ino) != FSB_NONE) {
		for (size_t i = 0; i < fsbackup_count(fs->backup); i++)
			dir_add(req, buf, cap, &len, fsbackup_file(fs->backup, i)->name, INO_FILE_BASE + i, S_IFREG);
		if (manifest_ino(fs) != 0)
			dir_add(req, buf, cap, &len, MANIFEST_NAME, manifest_ino(fs), S_IFREG);
	}
	return len;
}

/* Opening backup/full, incremental or delta begins the backup (so its listing is final). */
static void
jetfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jetfs *fs = fs_of(req);
	const struct node *n = fixed_node(ino);
	enum fsb_kind kind = dir_kind(ino);
	int rc;

	if (n == NULL || !S_ISDIR(n->mode)) {
		fuse_reply_err(req, n == NULL ? ENOENT : ENOTDIR);
		return;
	}
	if (kind != FSB_NONE && (rc = fsbackup_begin(fs->backup, kind)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = 0;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/*
 * The listing is made again for each call, in a per-thread buffer: no state
 * hangs on the open directory, so a READDIR answered after its RELEASEDIR (an
 * interrupted reader) uses nothing freed.  The set never changes, so every
 * call sees the same bytes.
 */
static void
jetfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct jetfs *fs = fs_of(req);
	const struct node *n = fixed_node(ino);
	size_t len;
	char *buf;

	(void)fi;
	if (n == NULL || !S_ISDIR(n->mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (dir_kind(ino) != FSB_NONE && fsbackup_kind(fs->backup) != dir_kind(ino)) {
		fuse_reply_err(req, EBUSY);
		return;
	}
	len = dir_listing(req, fs, n, NULL, 0);
	if ((buf = read_buffer(fs, len)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	dir_listing(req, fs, n, buf, len);
	if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, buf + off, len - (size_t)off < size ? len - (size_t)off : size);
}

static void
jetfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jetfs *fs = fs_of(req);
	const struct node *n = fixed_node(ino);
	int accmode = fi->flags & O_ACCMODE;
	const struct fsb_file *f;
	size_t i;

	if (n != NULL && S_ISDIR(n->mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (n == NULL) {
		f = set_file(fs, ino, &i);
		if (f == NULL && ino != manifest_ino(fs)) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		if (accmode != O_RDONLY || (fi->flags & O_TRUNC)) {
			fuse_reply_err(req, EROFS);
			return;
		}
		if (f == NULL) {
			/* SHA256SUMS: small, and made when first read. */
			fi->direct_io = 1;
			fuse_reply_open(req, fi);
			return;
		}
		fi->fh = i;
		/* Exact accounting (fsbackup.c F7): with the page cache, the
		 * kernel's readahead asks for bytes the tool may never read (a
		 * tool killed near the end would count as having read it all),
		 * and FUSE cannot tell those requests from the tool's own. */
		fi->direct_io = 1;
		fuse_reply_open(req, fi);
		return;
	}
	if (ino == INO_STATUS && accmode != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* status, truncate: the text of this moment, for this open. */
	fi->fh = 0;
	fi->direct_io = 1;
	if (accmode != O_WRONLY) {
		char *text = ino == INO_STATUS ? fsbackup_status_text(fs->backup) : fsbackup_truncate_text(fs->backup);
		if (text == NULL || (fi->fh = text_register(text)) == 0) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	fuse_reply_open(req, fi);
}

static void
free_read_buffer(void *p)
{
	free(p);
}

/* A buffer of the largest request, one per FUSE thread, reused. */
static char *
read_buffer(struct jetfs *fs, size_t size)
{
	struct { size_t cap; char data[]; } *b = pthread_getspecific(fs->read_buffer);

	if (b == NULL || b->cap < size) {
		size_t cap = size < FSOPS_BLKSIZE ? FSOPS_BLKSIZE : size;
		free(b);
		if ((b = malloc(sizeof(*b) + cap)) == NULL) {
			pthread_setspecific(fs->read_buffer, NULL);
			return NULL;
		}
		b->cap = cap;
		pthread_setspecific(fs->read_buffer, b);
	}
	return b->data;
}

static void
jetfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct jetfs *fs = fs_of(req);
	int of_set = 0;
	ssize_t got;
	char *buf;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((buf = read_buffer(fs, size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ino == INO_STATUS || ino == INO_TRUNCATE) {
		got = text_copy(fi->fh, buf, size, off);
	} else if (ino == manifest_ino(fs)) {
		got = fsbackup_manifest_read(fs->backup, buf, size, (uint64_t)off);
	} else {
		got = fsbackup_read(fs->backup, fi->fh, buf, size, (uint64_t)off);
		of_set = 1;
	}
	if (got < 0) {
		fuse_reply_err(req, (int)-got);
		return;
	}
	fuse_reply_buf(req, buf, (size_t)got);
	/* SHA256SUMS's hash of the bytes sent, off the reader's path: the
	 * reader's next request is being served meanwhile (fsmanifest.c M1). */
	if (of_set && got > 0)
		fsbackup_served(fs->backup, fi->fh, buf, (size_t)got, (uint64_t)off);
}

static void
jetfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	int rc;

	(void)buf;
	(void)off;
	(void)fi;
	if (ino != INO_TRUNCATE) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if ((rc = fsbackup_truncate(fs_of(req)->backup)) < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void
jetfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if ((ino == INO_STATUS || ino == INO_TRUNCATE) && fi->fh != 0)
		text_unregister(fi->fh);
	fuse_reply_err(req, 0);
}

static void
jetfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct jetfs *fs = fs_of(req);
	struct statvfs sv;
	uint64_t total = 0;

	(void)ino;
	if (fsbackup_kind(fs->backup) != FSB_NONE) {
		for (size_t i = 0; i < fsbackup_count(fs->backup); i++)
			total += fsbackup_file(fs->backup, i)->size;
		total += fsbackup_manifest_size(fs->backup);
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = FSOPS_BLKSIZE;
	sv.f_frsize = 512;
	sv.f_blocks = (fsblkcnt_t)((total + 511) / 512);
	sv.f_files = INO_FILE_BASE + fsbackup_count(fs->backup) + (manifest_ino(fs) != 0);
	sv.f_namemax = NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops jetfs_ops = {
	.init = jetfs_init,
	.destroy = jetfs_destroy,
	.lookup = jetfs_lookup,
	.getattr = jetfs_getattr,
	.setattr = jetfs_setattr,
	.mknod = jetfs_mknod,
	.mkdir = jetfs_mkdir,
	.unlink = jetfs_remove,
	.rmdir = jetfs_remove,
	.symlink = jetfs_symlink,
	.rename = jetfs_rename,
	.link = jetfs_link,
	.create = jetfs_create,
	.setxattr = jetfs_setxattr,
	.removexattr = jetfs_removexattr,
	.opendir = jetfs_opendir,
	.readdir = jetfs_readdir,
	.open = jetfs_open,
	.read = jetfs_read,
	.write = jetfs_write,
	.release = jetfs_release,
	.statfs = jetfs_statfs,
};

/* ---- options ---- */

enum { KEY_MAX_READ, KEY_DIRECT_IO, KEY_NO_MANIFEST, KEY_WAIT, KEY_TIMEOUT, KEY_READAHEAD, KEY_RESUME };

/* Numbers are parsed here, not with fuse_opt's %u, which takes "-1" and wraps what overflows. */
static const struct fuse_opt jetfs_opts[] = {
	FUSE_OPT_KEY("wait=", KEY_WAIT),
	FUSE_OPT_KEY("timeout=", KEY_TIMEOUT),
	FUSE_OPT_KEY("readahead=", KEY_READAHEAD),
	FUSE_OPT_KEY("direct_io", KEY_DIRECT_IO),
	FUSE_OPT_KEY("nomanifest", KEY_NO_MANIFEST),
	FUSE_OPT_KEY("resume", KEY_RESUME),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_END
};

static int
parse_unsigned(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == '-' || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* NAME=N with N in [0, max]: 0, or -1 after saying why. */
static int
opt_number(const char *arg, unsigned max, const char *unit, unsigned *out)
{
	const char *eq = strchr(arg, '=');

	if (parse_unsigned(eq + 1, max, out) == 0)
		return 0;
	fprintf(stderr, "jetfs: bad option %s: a number of %s from 0 to %u\n", arg, unit, max);
	return -1;
}

static int
opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct fsops_options *opt = data;

	(void)outargs;
	switch (key) {
	case KEY_WAIT:
		return opt_number(arg, 3600, "seconds", &opt->wait_s);
	case KEY_TIMEOUT:
		return opt_number(arg, 86400, "seconds", &opt->timeout_s);
	case KEY_READAHEAD:
		return opt_number(arg, FSOPS_MAX_READAHEAD_KB, "KiB", &opt->readahead_kb);
	case KEY_DIRECT_IO:
		return 0;	/* the only mode now; accepted so that older command lines and fstab still mount */
	case KEY_NO_MANIFEST:
		opt->no_manifest = 1;
		return 0;
	case KEY_RESUME:
		opt->resume = 1;
		return 0;
	case KEY_MAX_READ:
		if (parse_unsigned(arg + strlen("max_read="), 1u << 30, &opt->max_read) < 0 || opt->max_read < 4096) {
			fprintf(stderr, "jetfs: bad option %s: a number of bytes from 4096 to 1073741824\n", arg);
			return -1;
		}
		return 1;	/* FUSE needs it too (fuse_common.h: set both) */
	default:
		return 1;
	}
}

int
fsops_parse_options(struct fuse_args *args, struct fsops_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->wait_s = FSOPS_DEFAULT_WAIT_S;
	opt->timeout_s = FSOPS_DEFAULT_TIMEOUT_S;
	opt->readahead_kb = FSOPS_DEFAULT_READAHEAD_KB;
	return fuse_opt_parse(args, opt, jetfs_opts, opt_proc) != 0 ? -1 : 0;
}

void
fsops_options_help(void)
{
	printf("jetfs options:\n"
	    "    -o wait=SECONDS        how long a backup waits for another backup client\n"
	    "                           of the instance to finish (default %d)\n"
	    "    -o timeout=SECONDS     how long a request may wait for the instance's\n"
	    "                           answer before it fails with EIO and the backup\n"
	    "                           is given up (default %d; 0: no limit)\n"
	    "    -o readahead=KIB       a read smaller than this is served from one read\n"
	    "                           of this size from the instance (default %d;\n"
	    "                           0: none)\n"
	    "    -o max_read=BYTES      largest read request\n"
	    "    -o nomanifest          no SHA256SUMS: nothing is hashed (faster where\n"
	    "                           the CPU is short)\n"
	    "    -o resume              take over the backup the instance holds for a\n"
	    "                           jetfs that died: the same set, what it served\n"
	    "                           counts, and the copy goes on (jetfs(1) RESUME)\n",
	    FSOPS_DEFAULT_WAIT_S, FSOPS_DEFAULT_TIMEOUT_S, FSOPS_DEFAULT_READAHEAD_KB);
}

/* ---- lifetime ---- */

struct jetfs *
fsops_new(struct source *src, const struct fsops_options *opt, int event_target)
{
	struct jetfs *fs = calloc(1, sizeof(*fs));

	if (fs == NULL || pthread_key_create(&fs->read_buffer, free_read_buffer) != 0) {
		free(fs);
		src->free(src);
		return NULL;
	}
	if ((fs->backup = fsbackup_new(src, opt->wait_s * 1000, event_target, !opt->no_manifest,
	    (size_t)opt->readahead_kb * 1024)) == NULL) {
		pthread_key_delete(fs->read_buffer);
		free(fs);
		src->free(src);
		return NULL;
	}
	fs->opt = *opt;
	fs->uid = geteuid();
	fs->gid = getegid();
	clock_gettime(CLOCK_REALTIME, &fs->mounted_at);
	return fs;
}

int
fsops_session_new(struct jetfs *fs, struct fuse_args *args)
{
	/* Permissions by mode (0400/0500: the owner only), and a name in the mount table. */
	if (fuse_opt_add_arg(args, "-odefault_permissions,fsname=jetfs,subtype=jetfs") != 0)
		return -1;
	fs->se = fuse_session_new(args, &jetfs_ops, sizeof(jetfs_ops), fs);
	return fs->se != NULL ? 0 : -1;
}

int
fsops_mount(struct jetfs *fs, const char *mountpoint)
{
	struct statfs sfs;
	struct stat st;
	char msg[512];

	/* The root is a directory: FUSE would mount it on a file and answer EIO. */
	if (stat(mountpoint, &st) != 0) {
		fprintf(stderr, "jetfs: %s: %s\n", mountpoint, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "jetfs: %s: not a directory\n", mountpoint);
		return -1;
	}
	/* A second mount would stack on the first and hide it, both "working":
	 * one of them is a mistake (a unit started twice, a missed unmount). */
	if (statfs(mountpoint, &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC) {
		fprintf(stderr, "jetfs: %s is already a FUSE mount (another jetfs?): unmount it first "
		    "(fusermount3 -u %s)\n", mountpoint, mountpoint);
		return -1;
	}
	if ((fs->mountpoint = realpath(mountpoint, NULL)) == NULL)
		fs->mountpoint = strdup(mountpoint);
	if (fs->mountpoint == NULL)
		return -1;
	if (fs->opt.resume && fsbackup_resume(fs->backup, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "jetfs: %s\n", msg);
		return -1;
	}
	if (!fs->opt.resume && fsbackup_held(fs->backup, msg, sizeof(msg)))
		fprintf(stderr, "jetfs: warning: %s; until it is taken over (-o resume) or aborted, no new backup "
		    "can begin here (EBUSY)\n", msg);
	return fuse_session_mount(fs->se, fs->mountpoint);
}

unsigned long
fsops_finish(struct jetfs *fs)
{
	unsigned long grbit;

	if (fs->se != NULL) {
		fuse_session_unmount(fs->se);
		fuse_session_destroy(fs->se);	/* DESTROY: fsbackup_end */
	}
	grbit = fsbackup_end(fs->backup);
	fsbackup_free(fs->backup);
	pthread_key_delete(fs->read_buffer);
	free(fs->mountpoint);
	free(fs);
	return grbit;
}
