/*
 * os.c -- POSIX file I/O for libjet, with fault injection (see os.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

static _Thread_local int os_errno;

static struct {
	pthread_mutex_t lock;
	enum os_fault_kind kind;
	long countdown;
	int sticky, on_reads, fired;
	char match[256];
	atomic_long seen;
	uint64_t free_bytes;		/* os_fault_free_space; UINT64_MAX: the real free space */
	char free_match[256];
} fault = { .lock = PTHREAD_MUTEX_INITIALIZER, .free_bytes = UINT64_MAX };

int
os_last_errno(void)
{
	return os_errno;
}

uint64_t
os_physical_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

int64_t
os_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
os_is_io_error(JET_ERR err)
{
	return err == JET_errDiskIO || err == JET_errDiskFull || err == JET_errOutOfMemory ||
	    err == JET_errOutOfFileHandles || err == JET_errFileAccessDenied;
}

static JET_ERR
os_jet_error(int err)
{
	os_errno = err;
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return JET_errDiskFull;
	case ENOENT:
		return JET_errFileNotFound;
	case EACCES:
	case EPERM:
	case EROFS:
		return JET_errFileAccessDenied;
	case EEXIST:
		return JET_errFileAlreadyExists;
	case ENAMETOOLONG:
	case ENOTDIR:
		return JET_errInvalidPath;
	case ENOMEM:
		return JET_errOutOfMemory;
	case EMFILE:
	case ENFILE:
		return JET_errOutOfFileHandles;
	default:
		return JET_errDiskIO;
	}
}

void
os_fault_arm(enum os_fault_kind kind, long countdown, int sticky, int on_reads, const char *path_match)
{
	pthread_mutex_lock(&fault.lock);
	fault.kind = kind;
	fault.countdown = countdown < 1 ? 1 : countdown;
	fault.sticky = sticky;
	fault.on_reads = on_reads;
	fault.fired = 0;
	fault.match[0] = '\0';
	if (path_match != NULL) {
		strncpy(fault.match, path_match, sizeof(fault.match) - 1);
		fault.match[sizeof(fault.match) - 1] = '\0';
	}
	pthread_mutex_unlock(&fault.lock);
}

void
os_fault_disarm(void)
{
	pthread_mutex_lock(&fault.lock);
	fault.kind = OS_FAULT_NONE;
	pthread_mutex_unlock(&fault.lock);
}

long
os_fault_ops_seen(void)
{
	return atomic_load(&fault.seen);
}

void
os_fault_free_space(uint64_t bytes, const char *path_match)
{
	pthread_mutex_lock(&fault.lock);
	fault.free_bytes = bytes;
	snprintf(fault.free_match, sizeof(fault.free_match), "%s", path_match != NULL ? path_match : "");
	pthread_mutex_unlock(&fault.lock);
}

JET_ERR
os_free_space(const char *path, uint64_t *freep)
{
	struct statvfs sv;
	int faked;

	pthread_mutex_lock(&fault.lock);
	faked = fault.free_bytes != UINT64_MAX && strstr(path, fault.free_match) != NULL;
	*freep = fault.free_bytes;
	pthread_mutex_unlock(&fault.lock);
	if (faked)
		return JET_errSuccess;
	if (statvfs(path, &sv) != 0)
		return os_jet_error(errno);
	*freep = (uint64_t)sv.f_bavail * sv.f_frsize;
	return JET_errSuccess;
}

int
os_fault_arm_from_env(void)
{
	const char *spec = getenv("JET_FAULT");
	enum os_fault_kind kind;
	char *end, *match = NULL;
	long n;
	int sticky = 0, reads = 0;

	if (spec == NULL || *spec == '\0')
		return 0;
	if (strncmp(spec, "eio:", 4) == 0)
		kind = OS_FAULT_EIO, spec += 4;
	else if (strncmp(spec, "enospc:", 7) == 0)
		kind = OS_FAULT_ENOSPC, spec += 7;
	else if (strncmp(spec, "torn:", 5) == 0)
		kind = OS_FAULT_TORN, spec += 5;
	else if (strncmp(spec, "crash:", 6) == 0)
		kind = OS_FAULT_CRASH, spec += 6;
	else
		return -1;
	errno = 0;
	n = strtol(spec, &end, 10);
	if (errno != 0 || end == spec || n < 1)
		return -1;
	while (*end == ':') {
		end++;
		if (strncmp(end, "sticky", 6) == 0)
			sticky = 1, end += 6;
		else if (strncmp(end, "read", 4) == 0)
			reads = 1, end += 4;
		else if (strncmp(end, "match=", 6) == 0) {
			match = end + 6;
			break;
		} else
			return -1;
	}
	if (match == NULL && *end != '\0')
		return -1;
	os_fault_arm(kind, n, sticky, reads, match);
	return 1;
}

/*
 * Decide whether this operation is the one that fails.  Returns the fault
 * to apply, or OS_FAULT_NONE.  CRASH is carried out here, and so is TORN
 * for an operation that cannot be torn (it becomes a crash).
 */
static enum os_fault_kind
os_fault_check(const char *path, int is_read, int can_tear)
{
	enum os_fault_kind kind = OS_FAULT_NONE;

	atomic_fetch_add(&fault.seen, 1);
	pthread_mutex_lock(&fault.lock);
	if (fault.kind == OS_FAULT_NONE || fault.on_reads != is_read)
		goto out;
	if (fault.match[0] != '\0' && (path == NULL || strstr(path, fault.match) == NULL))
		goto out;
	if (fault.fired && fault.sticky) {
		kind = fault.kind;
		goto out;
	}
	if (fault.fired || --fault.countdown > 0)
		goto out;
	fault.fired = 1;
	kind = fault.kind;
	if (!fault.sticky && (kind == OS_FAULT_EIO || kind == OS_FAULT_ENOSPC))
		fault.kind = OS_FAULT_NONE;
out:
	pthread_mutex_unlock(&fault.lock);
	if (kind == OS_FAULT_CRASH || (kind == OS_FAULT_TORN && !can_tear))
		_exit(OS_CRASH_EXIT_STATUS);
	return kind;
}

static JET_ERR
os_fault_error(enum os_fault_kind kind)
{
	return os_jet_error(kind == OS_FAULT_ENOSPC ? ENOSPC : EIO);
}

JET_ERR
os_open(const char *path, int flags, os_file **filep)
{
	int oflags = (flags & OS_WRITE) ? O_RDWR : O_RDONLY;
	int fd;

	*filep = NULL;
	if (flags & OS_CREATE)
		oflags |= O_CREAT;
	if (flags & OS_EXCL)
		oflags |= O_EXCL;
	if (flags & OS_CREATE) {
		enum os_fault_kind kind = os_fault_check(path, 0, 0);
		if (kind != OS_FAULT_NONE)
			return os_fault_error(kind);
	}
	fd = open(path, oflags | O_CLOEXEC, 0600);
	if (fd < 0)
		return os_jet_error(errno);
	return os_adopt(fd, path, filep);
}

void
os_close(os_file *file)
{
	if (file == NULL)
		return;
	close(file->fd);
	free(file->path);
	free(file);
}

JET_ERR
os_reopen_readonly(int fd, int *fdp)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((*fdp = open(proc, O_RDONLY | O_CLOEXEC)) < 0)
		return os_jet_error(errno);
	return JET_errSuccess;
}

JET_ERR
os_dup(int fd, int *fdp)
{
	if ((*fdp = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return os_jet_error(errno);
	return JET_errSuccess;
}

JET_ERR
os_adopt(int fd, const char *label, os_file **filep)
{
	os_file *file;

	*filep = NULL;
	if ((file = calloc(1, sizeof(*file))) == NULL || (file->path = strdup(label)) == NULL) {
		free(file);
		close(fd);
		return JET_errOutOfMemory;
	}
	file->fd = fd;
	*filep = file;
	return JET_errSuccess;
}

JET_ERR
os_shm_create(const char *label, size_t size, int *fdp, void **mapp)
{
	enum os_fault_kind kind;
	int fd;
	void *map;
	JET_ERR err;

	*fdp = -1;
	*mapp = NULL;
	/* A write for fault injection: tests take shared memory away (its label is the path matched). */
	if ((kind = os_fault_check(label, 0, 0)) != OS_FAULT_NONE)
		return os_fault_error(kind);
	if ((fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
		return os_jet_error(errno);
	if (ftruncate(fd, (off_t)size) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		err = os_jet_error(errno);
		close(fd);
		return err;
	}
	if ((map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		err = os_jet_error(errno);
		close(fd);
		return err;
	}
	*fdp = fd;
	*mapp = map;
	return JET_errSuccess;
}

void
os_shm_free(int fd, void *map, size_t size)
{
	if (map != NULL)
		munmap(map, size);
	if (fd >= 0)
		close(fd);
}

JET_ERR
os_pread_partial(os_file *file, void *buf, size_t len, uint64_t off, size_t *gotp)
{
	size_t done = 0;
	ssize_t n;

	*gotp = 0;
	if (os_fault_check(file->path, 1, 0) != OS_FAULT_NONE)
		return os_jet_error(EIO);
	while (done < len) {
		n = pread(file->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return os_jet_error(errno);
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*gotp = done;
	return JET_errSuccess;
}

JET_ERR
os_pread(os_file *file, void *buf, size_t len, uint64_t off)
{
	size_t got;
	JET_ERR err = os_pread_partial(file, buf, len, off, &got);

	if (err == JET_errSuccess && got != len) {
		os_errno = 0;
		return JET_errFileIOBeyondEOF;
	}
	return err;
}

JET_ERR
os_pwrite(os_file *file, const void *buf, size_t len, uint64_t off)
{
	enum os_fault_kind kind = os_fault_check(file->path, 0, 1);
	size_t done = 0;
	ssize_t n;

	if (kind == OS_FAULT_TORN) {
		/* Write a prefix that is not sector aligned, then die. */
		size_t part = len > 1 ? len / 2 + 17 : len;
		if (part > len)
			part = len;
		if (pwrite(file->fd, buf, part, (off_t)off) < 0)
			_exit(OS_CRASH_EXIT_STATUS);
		_exit(OS_CRASH_EXIT_STATUS);
	}
	if (kind != OS_FAULT_NONE)
		return os_fault_error(kind);
	while (done < len) {
		n = pwrite(file->fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return os_jet_error(errno);
		}
		done += (size_t)n;
	}
	return JET_errSuccess;
}

/*
 * Copies len bytes of src at soff to dst at doff: in the kernel
 * (copy_file_range: no pass through this process's memory, a clone where
 * the file system shares extents), else through a buffer.  Fault injection
 * sees a read of src and a write of dst per MiB, as os_pread and os_pwrite
 * would (a torn write is a crash here).  JET_errFileIOBeyondEOF if src ends
 * first.
 */
JET_ERR
os_copy_range(os_file *src, uint64_t soff, os_file *dst, uint64_t doff, uint64_t len)
{
	const size_t chunk = 1u << 20;
	uint8_t *buf = NULL;
	int in_kernel = 1;
	JET_ERR err = JET_errSuccess;

	while (len > 0 && err >= 0) {
		size_t n = len < chunk ? (size_t)len : chunk, done = 0;
		enum os_fault_kind kind = os_fault_check(src->path, 1, 0);

		if (kind == OS_FAULT_NONE)
			kind = os_fault_check(dst->path, 0, 0);
		if (kind != OS_FAULT_NONE) {
			err = os_fault_error(kind);
			break;
		}
		while (done < n && in_kernel) {
			loff_t so = (loff_t)(soff + done), dof = (loff_t)(doff + done);
			ssize_t k = copy_file_range(src->fd, &so, dst->fd, &dof, n - done, 0);
			if (k > 0)
				done += (size_t)k;
			else if (k == 0) {
				os_errno = 0;
				err = JET_errFileIOBeyondEOF;
				break;
			} else if (errno == EINTR)
				continue;
			else if (done == 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
				in_kernel = 0;	/* not between these files: through a buffer from now on */
			else {
				err = os_jet_error(errno);
				break;
			}
		}
		if (err >= 0 && done < n) {
			ssize_t k;
			if (buf == NULL && (buf = malloc(chunk)) == NULL)
				return JET_errOutOfMemory;
			while (err >= 0 && done < n) {
				if ((k = pread(src->fd, buf, n - done, (off_t)(soff + done))) == 0) {
					os_errno = 0;
					err = JET_errFileIOBeyondEOF;
				} else if (k < 0 && errno != EINTR)
					err = os_jet_error(errno);
				else if (k > 0) {
					size_t w = 0;
					while (err >= 0 && w < (size_t)k) {
						ssize_t m = pwrite(dst->fd, buf + w, (size_t)k - w, (off_t)(doff + done + w));
						if (m >= 0)
							w += (size_t)m;
						else if (errno != EINTR)
							err = os_jet_error(errno);
					}
					done += w;
				}
			}
		}
		soff += n;
		doff += n;
		len -= n;
	}
	free(buf);
	return err;
}

JET_ERR
os_fsync(os_file *file)
{
	enum os_fault_kind kind = os_fault_check(file->path, 0, 0);

	if (kind != OS_FAULT_NONE)
		return os_fault_error(kind);
	if (fdatasync(file->fd) != 0)
		return os_jet_error(errno);
	return JET_errSuccess;
}

JET_ERR
os_truncate(os_file *file, uint64_t size)
{
	enum os_fault_kind kind = os_fault_check(file->path, 0, 0);

	if (kind != OS_FAULT_NONE)
		return os_fault_error(kind);
	if (ftruncate(file->fd, (off_t)size) != 0)
		return os_jet_error(errno);
	return JET_errSuccess;
}

JET_ERR
os_size(os_file *file, uint64_t *sizep)
{
	struct stat st;

	if (fstat(file->fd, &st) != 0)
		return os_jet_error(errno);
	*sizep = (uint64_t)st.st_size;
	return JET_errSuccess;
}

JET_ERR
os_unlink(const char *path)
{
	enum os_fault_kind kind = os_fault_check(path, 0, 0);

	if (kind != OS_FAULT_NONE)
		return os_fault_error(kind);
	if (unlink(path) != 0)
		return os_jet_error(errno);
	return JET_errSuccess;
}

JET_ERR
os_rename(const char *from, const char *to)
{
	enum os_fault_kind kind = os_fault_check(to, 0, 0);

	if (kind != OS_FAULT_NONE)
		return os_fault_error(kind);
	if (rename(from, to) != 0)
		return os_jet_error(errno);
	return JET_errSuccess;
}

JET_ERR
os_fsync_dir(const char *dir)
{
	enum os_fault_kind kind = os_fault_check(dir, 0, 0);
	int fd;

	if (kind != OS_FAULT_NONE)
		return os_fault_error(kind);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return os_jet_error(errno);
	if (fsync(fd) != 0) {
		int err = errno;
		close(fd);
		return os_jet_error(err);
	}
	close(fd);
	return JET_errSuccess;
}

/*
 * Replaces path with len bytes of buf, atomically and durably: tmp is
 * written whole and synced, renamed over path, and dir (path's directory)
 * synced.  A crash leaves path old or new, never torn; a tmp left by one is
 * removed first.
 */
JET_ERR
os_replace_file(const char *path, const char *tmp, const void *buf, size_t len, const char *dir)
{
	os_file *f = NULL;
	JET_ERR err = JET_errSuccess;

	if (os_exists(tmp))
		err = os_unlink(tmp);
	if (err >= 0 && (err = os_open(tmp, OS_WRITE | OS_CREATE | OS_EXCL, &f)) >= 0 &&
	    (err = os_pwrite(f, buf, len, 0)) >= 0)
		err = os_fsync(f);
	os_close(f);
	if (err >= 0 && (err = os_rename(tmp, path)) >= 0)
		err = os_fsync_dir(dir);
	return err;
}

JET_ERR
os_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return JET_errInvalidPath;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0700) != 0 && errno != EEXIST)
				return os_jet_error(errno);
			if (c == '\0')
				break;
			*p = c;
		}
	}
	return os_is_dir(path) ? JET_errSuccess : JET_errInvalidPath;
}

JET_ERR
os_rmdir(const char *path)
{
	enum os_fault_kind kind = os_fault_check(path, 0, 0);

	if (kind != OS_FAULT_NONE)
		return os_fault_error(kind);
	if (rmdir(path) != 0)
		return os_jet_error(errno);
	return JET_errSuccess;
}

/*
 * Takes an exclusive lock on a directory (flock on the directory itself, so
 * no lock file is needed), for one instance per log directory.
 * JET_errFileAccessDenied if another open holds it.
 */
JET_ERR
os_lock_dir(const char *dir, int *fdp)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*fdp = -1;
	if (fd < 0)
		return os_jet_error(errno);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		close(fd);
		return err == EWOULDBLOCK ? JET_errFileAccessDenied : os_jet_error(err);
	}
	*fdp = fd;
	return JET_errSuccess;
}

void
os_unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd);
}

int
os_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int
os_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * One walk over the components: the prefix built so far is kept resolved
 * (realpath) while it exists, so a ".." that follows a symlink goes where
 * the kernel would take it, and what comes after the first missing
 * component is only tidied (it may be created later, and then holds no
 * symlink).
 */
JET_ERR
os_path_normalize(const char *path, char **outp)
{
	char buf[PATH_MAX], real[PATH_MAX];
	const char *p, *end;
	size_t len, n;
	int exists = 1;
	struct stat st;

	*outp = NULL;
	if (path == NULL || *path == '\0' || strlen(path) >= PATH_MAX)
		return JET_errInvalidPath;
	if (*path == '/')
		len = 0;
	else if (getcwd(buf, sizeof(buf)) == NULL)
		return JET_errInvalidPath;
	else
		len = strcmp(buf, "/") == 0 ? 0 : strlen(buf);
	buf[len] = '\0';
	for (p = path; *p != '\0'; p = end) {
		while (*p == '/')
			p++;
		for (end = p; *end != '\0' && *end != '/'; end++)
			;
		n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.'))
			continue;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && buf[len - 1] != '/')
				len--;
			len = len > 0 ? len - 1 : 0;
			buf[len] = '\0';
			continue;
		}
		if (len + 1 + n >= sizeof(buf))
			return JET_errInvalidPath;
		buf[len++] = '/';
		memcpy(buf + len, p, n);
		buf[len += n] = '\0';
		if (!exists)
			continue;
		if (stat(buf, &st) != 0) {
			/* Through a file ("db.edb/x") or a loop: no call could use it. */
			if (errno != ENOENT)
				return JET_errInvalidPath;
			exists = 0;
			continue;
		}
		if (*end != '\0' && !S_ISDIR(st.st_mode))
			return JET_errInvalidPath;
		if (realpath(buf, real) == NULL)
			return JET_errInvalidPath;
		len = strlen(real);
		memcpy(buf, real, len + 1);
	}
	if (len == 0)
		memcpy(buf, "/", 2);
	return (*outp = strdup(buf)) != NULL ? JET_errSuccess : JET_errOutOfMemory;
}

char *
os_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = malloc(dl + nl + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, dir, dl);
	if (dl > 0 && dir[dl - 1] != '/')
		p[dl++] = '/';
	memcpy(p + dl, name, nl + 1);
	return p;
}

char *
os_path_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}
