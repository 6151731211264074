/*
 * os.h -- the engine's only door to the file system.
 *
 * Every byte libjet reads or writes, every fsync, rename and unlink goes
 * through these functions, so that tests can make any of them fail: an
 * I/O error, a full disk, a write torn half-way, or a crash (the process
 * exits at once, as after a power cut) at the Nth write.
 *
 * Errors are returned as JET_ERR codes (negative), mapped from errno in one
 * place (os_jet_error); the errno itself is kept in os_last_errno() for
 * messages.
 */
#ifndef JET_OS_H
#define JET_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jet.h"

typedef struct os_file {
	int fd;
	char *path;
} os_file;

/* Open flags. */
#define OS_READ      0x0	/* read only */
#define OS_WRITE     0x1	/* read and write */
#define OS_CREATE    0x2	/* create if missing */
#define OS_EXCL      0x4	/* fail if it exists */

JET_ERR os_open(const char *path, int flags, os_file **filep);
void os_close(os_file *file);
JET_ERR os_pread(os_file *file, void *buf, size_t len, uint64_t off);
JET_ERR os_pread_partial(os_file *file, void *buf, size_t len, uint64_t off, size_t *gotp);
JET_ERR os_pwrite(os_file *file, const void *buf, size_t len, uint64_t off);
JET_ERR os_copy_range(os_file *src, uint64_t soff, os_file *dst, uint64_t doff, uint64_t len);
JET_ERR os_fsync(os_file *file);
JET_ERR os_truncate(os_file *file, uint64_t size);
JET_ERR os_size(os_file *file, uint64_t *sizep);

/*
 * Descriptors shared with a reader of a point-in-time backup (snapshot.c,
 * pitread.c), in this process or another one (SCM_RIGHTS, bksvc.c).
 *
 * os_reopen_readonly: a new read-only descriptor of the very file fd is open
 *   on (through /proc/self/fd: the same inode even if the path was renamed),
 *   so a reader can never write the database.
 * os_dup: another descriptor of the same open file (close-on-exec).
 * os_adopt: wraps a descriptor received from elsewhere as an os_file, named
 *   label (what fault injection matches), and takes it over.
 * os_shm_create: size bytes of zeroed shared memory (a memfd, sealed so that
 *   it can never shrink or grow), mapped read-write in this process.
 */
JET_ERR os_reopen_readonly(int fd, int *fdp);
JET_ERR os_dup(int fd, int *fdp);
JET_ERR os_adopt(int fd, const char *label, os_file **filep);
JET_ERR os_shm_create(const char *label, size_t size, int *fdp, void **mapp);
void os_shm_free(int fd, void *map, size_t size);

JET_ERR os_unlink(const char *path);
JET_ERR os_rename(const char *from, const char *to);
JET_ERR os_fsync_dir(const char *dir);
JET_ERR os_replace_file(const char *path, const char *tmp, const void *buf, size_t len, const char *dir);
JET_ERR os_mkdir_p(const char *path);
JET_ERR os_rmdir(const char *path);
JET_ERR os_lock_dir(const char *dir, int *fdp);
void os_unlock_dir(int fd);
int os_exists(const char *path);
int os_is_dir(const char *path);
int os_last_errno(void);
/* The machine's physical memory in bytes, 0 if unknown (sizes caches). */
uint64_t os_physical_memory(void);
/* Milliseconds of CLOCK_MONOTONIC: for deadlines, which a clock change must not move. */
int64_t os_monotonic_ms(void);
/*
 * Whether err says that the device or the system failed (an I/O error, a
 * full disk, no memory or file handles, no permission) rather than that
 * what was read is not what was expected: callers that classify files by
 * their content must not take a file they could not read for a file of
 * another kind.
 */
int os_is_io_error(JET_ERR err);

/* Path helpers (not I/O). */
/*
 * The one form in which libjet keeps and compares a path it was given:
 * absolute (against the cwd at the call), no "//", "." or ".." components,
 * no trailing '/', and the existing part resolved through symlinks, so that
 * two names of one file are the same string.  A part that does not exist
 * yet is kept (it may be created).  JET_errInvalidPath: empty, longer than
 * PATH_MAX, or through a file or a symlink loop.
 */
JET_ERR os_path_normalize(const char *path, char **outp);
char *os_path_join(const char *dir, const char *name);
char *os_path_dir(const char *path);

/*
 * Fault injection.  A fault spec arms a countdown over write-class
 * operations (pwrite, fsync, rename, unlink, truncate) or read operations:
 *   kind   what happens when the countdown reaches zero
 *   EIO    the operation fails with EIO (JET_errDiskIO)
 *   ENOSPC the operation fails with ENOSPC (JET_errDiskFull)
 *   TORN   a pwrite writes a prefix of its buffer, then the process exits
 *   CRASH  the process exits before the operation
 * A fault fires once (EIO/ENOSPC may be made sticky).  The environment
 * variable JET_FAULT="kind:N[:sticky][:read][:match=SUBSTR]" arms it at
 * startup (read by jetload and the tests), os_fault_arm() from code.
 */
enum os_fault_kind { OS_FAULT_NONE, OS_FAULT_EIO, OS_FAULT_ENOSPC, OS_FAULT_TORN, OS_FAULT_CRASH };

void os_fault_arm(enum os_fault_kind kind, long countdown, int sticky, int on_reads, const char *path_match);
/*
 * os_free_space: the bytes an unprivileged writer may still add to the file
 * system holding path (statvfs f_bavail).  os_fault_free_space makes it
 * report bytes for every path containing path_match (NULL: every path), so
 * that a test can fake a nearly full disk; UINT64_MAX turns that off.
 */
JET_ERR os_free_space(const char *path, uint64_t *freep);
void os_fault_free_space(uint64_t bytes, const char *path_match);
void os_fault_disarm(void);
int os_fault_arm_from_env(void);
long os_fault_ops_seen(void);
#define OS_CRASH_EXIT_STATUS 86

#endif
