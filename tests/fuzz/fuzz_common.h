/*
 * fuzz_common.h -- helpers shared by the libFuzzer harnesses (header only:
 * each harness is one translation unit linked against libjet-fuzz.a).
 *
 * Every harness works in a private directory made once per process under
 * $TMPDIR (removed at exit), so several fuzzers, or the jobs of one
 * (-jobs=N, -fork=N), never share a file.  Engine events go nowhere
 * (JETFS_EVENTS=none): a hostile file makes the engine log an error event
 * for nearly every input.
 */
#ifndef JET_FUZZ_COMMON_H
#define JET_FUZZ_COMMON_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jet_int.h"

/* The fuzzer's checks of the engine's results: a failure is a finding. */
#define FZ_CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "FUZZ CHECK FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

/* libFuzzer's entry points, which every harness defines. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fz_dir;

static inline void
fz_die(const char *what)
{
	perror(what);
	abort();
}

/* Removes every entry of dir (files only: the harnesses make no subdirectory). */
static inline void
fz_clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static inline void
fz_cleanup(void)
{
	if (fz_dir != NULL) {
		fz_clear_dir(fz_dir);
		rmdir(fz_dir);
	}
}

/* The private directory (made on the first call). */
static inline const char *
fz_workdir(const char *name)
{
	const char *tmp = getenv("TMPDIR");
	char *t;

	if (fz_dir != NULL)
		return fz_dir;
	setenv("JETFS_EVENTS", "none", 1);
	if (asprintf(&t, "%s/jetfuzz-%s.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp", name) < 0 || mkdtemp(t) == NULL)
		fz_die("jetfuzz: mkdtemp");
	fz_dir = t;
	atexit(fz_cleanup);
	return fz_dir;
}

static inline char *
fz_path(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", fz_dir, name) < 0)
		fz_die("jetfuzz: asprintf");
	return p;
}

/* Writes data to path (replacing it), then zero-extends the file to pad_to bytes if shorter. */
static inline void
fz_write_file(const char *path, const uint8_t *data, size_t len, size_t pad_to)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t done = 0;

	if (fd < 0)
		fz_die(path);
	while (done < len) {
		ssize_t r = write(fd, data + done, len - done);
		if (r <= 0)
			fz_die(path);
		done += (size_t)r;
	}
	if (pad_to > len && ftruncate(fd, (off_t)pad_to) < 0)
		fz_die(path);
	close(fd);
}

/*
 * The jetutil commands print; the harnesses that run them send stdout to
 * /dev/null for good, and stderr only around the call (libFuzzer and the
 * sanitizers keep writing their reports to file descriptor 2).
 */
static FILE *fz_null;
static FILE *fz_saved_stderr;

static inline void
fz_quiet_begin(void)
{
	if (fz_null == NULL) {
		if ((fz_null = fopen("/dev/null", "w")) == NULL)
			fz_die("/dev/null");
		stdout = fz_null;
	}
	fz_saved_stderr = stderr;
	stderr = fz_null;
}

static inline void
fz_quiet_end(void)
{
	fflush(fz_null);
	stderr = fz_saved_stderr;
}

#endif
