/*
 * check_os.c -- unit tests of the OS layer (src/os.c): file I/O, error
 * mapping, path helpers and fault injection.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char *dir;

static void
setup(void)
{
	os_fault_disarm();
	unsetenv("JET_FAULT");
	dir = tu_tempdir();
}

static void
teardown(void)
{
	os_fault_disarm();
	unsetenv("JET_FAULT");
	tu_rmdir(dir);
	free(dir);
	dir = NULL;
}

/* Size of a file by stat (-1 if missing). */
static long long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Creates dir/name holding len bytes of b; returns the path. */
static char *
make_file(const char *name, size_t len, int b)
{
	char *p = tu_path(dir, name);
	os_file *f;
	uint8_t *buf = malloc(len + 1);

	ck_assert(buf != NULL);
	memset(buf, b, len);
	CK(os_open(p, OS_WRITE | OS_CREATE, &f));
	if (len > 0)
		CK(os_pwrite(f, buf, len, 0));
	os_close(f);
	free(buf);
	return p;
}

/* Reads a whole file into a malloc'd buffer (*lenp its size). */
static uint8_t *
slurp(const char *path, size_t *lenp)
{
	long long size = file_size(path);
	uint8_t *buf;
	int fd;

	ck_assert_msg(size >= 0, "%s missing", path);
	buf = malloc((size_t)size + 1);
	ck_assert(buf != NULL);
	fd = open(path, O_RDONLY);
	ck_assert(fd >= 0);
	ck_assert_int_eq(read(fd, buf, (size_t)size), size);
	close(fd);
	*lenp = (size_t)size;
	return buf;
}

/* ---- plain I/O ---- */

START_TEST(test_open_missing)
{
	char *p = tu_path(dir, "nope");
	char *q = tu_path(dir, "nodir/file");
	os_file *f = (os_file *)1;

	CK_ERR(os_open(p, OS_READ, &f), JET_errFileNotFound);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(os_last_errno(), ENOENT);
	CK_ERR(os_open(p, OS_WRITE, &f), JET_errFileNotFound);
	ck_assert(!os_exists(p));
	/* OS_CREATE does not create missing directories. */
	CK_ERR(os_open(q, OS_WRITE | OS_CREATE, &f), JET_errFileNotFound);
	ck_assert_int_eq(os_last_errno(), ENOENT);
	free(p);
	free(q);
}
END_TEST

START_TEST(test_open_create_excl)
{
	char *p = tu_path(dir, "f");
	os_file *f = NULL, *g = (os_file *)1;

	CK(os_open(p, OS_WRITE | OS_CREATE | OS_EXCL, &f));
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->path, p);
	ck_assert(os_exists(p));
	ck_assert(!os_is_dir(p));
	CK_ERR(os_open(p, OS_WRITE | OS_CREATE | OS_EXCL, &g), JET_errFileAlreadyExists);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(os_last_errno(), EEXIST);
	/* Without OS_EXCL an existing file opens. */
	CK(os_open(p, OS_WRITE | OS_CREATE, &g));
	os_close(g);
	os_close(f);
	os_close(NULL);		/* harmless */
	free(p);
}
END_TEST

START_TEST(test_open_not_dir)
{
	char *p = make_file("plain", 10, 'x');
	char *q = tu_path(dir, "plain/sub");
	os_file *f;

	/* A file used as a directory: ENOTDIR -> JET_errInvalidPath. */
	CK_ERR(os_open(q, OS_WRITE | OS_CREATE, &f), JET_errInvalidPath);
	ck_assert_int_eq(os_last_errno(), ENOTDIR);
	free(p);
	free(q);
}
END_TEST

START_TEST(test_open_access_denied)
{
	char *p = make_file("ro", 10, 'x');
	os_file *f;

	if (geteuid() == 0) {
		/* root ignores permissions: check read-only opening works instead */
		CK(os_open(p, OS_READ, &f));
		os_close(f);
		free(p);
		return;
	}
	ck_assert_int_eq(chmod(p, 0400), 0);
	CK_ERR(os_open(p, OS_WRITE, &f), JET_errFileAccessDenied);
	ck_assert_int_eq(os_last_errno(), EACCES);
	CK(os_open(p, OS_READ, &f));
	os_close(f);
	free(p);
}
END_TEST

START_TEST(test_read_write_roundtrip)
{
	char *p = tu_path(dir, "rw");
	os_file *f;
	uint8_t a[1000], b[1000], z[100];
	uint64_t size = 1;

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 7 + 3);
	CK(os_open(p, OS_WRITE | OS_CREATE, &f));
	CK(os_size(f, &size));
	ck_assert_uint_eq(size, 0);
	CK(os_pwrite(f, a, sizeof(a), 0));
	CK(os_pwrite(f, a, 100, 5000));		/* leaves a hole */
	CK(os_fsync(f));
	CK(os_size(f, &size));
	ck_assert_uint_eq(size, 5100);
	memset(b, 0, sizeof(b));
	CK(os_pread(f, b, sizeof(b), 0));
	ck_assert_mem_eq(a, b, sizeof(a));
	CK(os_pread(f, b, 100, 5000));
	ck_assert_mem_eq(a, b, 100);
	/* the hole reads as zeros */
	memset(z, 0, sizeof(z));
	memset(b, 0xEE, sizeof(b));
	CK(os_pread(f, b, 100, 2000));
	ck_assert_mem_eq(b, z, 100);
	/* overwrite in the middle */
	CK(os_pwrite(f, z, 10, 10));
	CK(os_pread(f, b, 30, 0));
	ck_assert_mem_eq(b, a, 10);
	ck_assert_mem_eq(b + 10, z, 10);
	ck_assert_mem_eq(b + 20, a + 20, 10);
	os_close(f);
	/* what went through os_pwrite is what the file holds */
	{
		size_t len;
		uint8_t *all = slurp(p, &len);
		ck_assert_uint_eq(len, 5100);
		ck_assert_mem_eq(all + 20, a + 20, sizeof(a) - 20);
		free(all);
	}
	free(p);
}
END_TEST

START_TEST(test_pread_short)
{
	char *p = make_file("short", 100, 'q');
	os_file *f;
	uint8_t buf[200];
	size_t got = 12345;

	CK(os_open(p, OS_READ, &f));
	CK_ERR(os_pread(f, buf, 200, 0), JET_errFileIOBeyondEOF);
	CK_ERR(os_pread(f, buf, 1, 100), JET_errFileIOBeyondEOF);
	CK_ERR(os_pread(f, buf, 10, 5000), JET_errFileIOBeyondEOF);
	CK(os_pread(f, buf, 100, 0));
	CK(os_pread(f, buf, 0, 100));
	/* the partial form reports how much it got */
	memset(buf, 0, sizeof(buf));
	CK(os_pread_partial(f, buf, 200, 50, &got));
	ck_assert_uint_eq(got, 50);
	ck_assert_int_eq(buf[0], 'q');
	ck_assert_int_eq(buf[49], 'q');
	ck_assert_int_eq(buf[50], 0);
	CK(os_pread_partial(f, buf, 10, 1000, &got));
	ck_assert_uint_eq(got, 0);
	/* writing through a read-only handle fails with an I/O error */
	CK_ERR(os_pwrite(f, buf, 1, 0), JET_errDiskIO);
	ck_assert_int_eq(os_last_errno(), EBADF);
	os_close(f);
	free(p);
}
END_TEST

START_TEST(test_truncate)
{
	char *p = make_file("tr", 1000, 'a');
	os_file *f;
	uint64_t size;
	uint8_t buf[1000], z[500];

	CK(os_open(p, OS_WRITE, &f));
	CK(os_truncate(f, 300));
	CK(os_size(f, &size));
	ck_assert_uint_eq(size, 300);
	ck_assert_int_eq(file_size(p), 300);
	CK_ERR(os_pread(f, buf, 301, 0), JET_errFileIOBeyondEOF);
	CK(os_pread(f, buf, 300, 0));
	for (int i = 0; i < 300; i++)
		ck_assert_int_eq(buf[i], 'a');
	/* growing zero-fills */
	CK(os_truncate(f, 800));
	CK(os_size(f, &size));
	ck_assert_uint_eq(size, 800);
	memset(z, 0, sizeof(z));
	CK(os_pread(f, buf, 500, 300));
	ck_assert_mem_eq(buf, z, 500);
	CK(os_truncate(f, 0));
	CK(os_size(f, &size));
	ck_assert_uint_eq(size, 0);
	os_close(f);
	free(p);
}
END_TEST

/*
 * os_copy_range: the bytes arrive whole at their offset (across MiB pieces,
 * at odd offsets), a source that ends first is JET_errFileIOBeyondEOF, and
 * fault injection sees each piece as a read of the source and a write of
 * the destination.
 */
START_TEST(test_copy_range)
{
	char *ps = tu_path(dir, "src"), *pd = tu_path(dir, "dst");
	size_t len = (3u << 20) + 4099;
	uint8_t *buf = malloc(len), *back = malloc(len);
	os_file *src, *dst;

	ck_assert(buf != NULL && back != NULL);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + i / 4096);
	CK(os_open(ps, OS_WRITE | OS_CREATE, &src));
	CK(os_pwrite(src, buf, len, 0));
	CK(os_open(pd, OS_WRITE | OS_CREATE, &dst));
	CK(os_copy_range(src, 5, dst, 1000, len - 5));
	ck_assert_int_eq(file_size(pd), (long)(1000 + len - 5));
	CK(os_pread(dst, back, len - 5, 1000));
	ck_assert(memcmp(back, buf + 5, len - 5) == 0);
	CK_ERR(os_copy_range(src, len - 10, dst, 0, 20), JET_errFileIOBeyondEOF);
	/* the second piece's write fails: the first is there, nothing after it */
	CK(os_truncate(dst, 0));
	os_fault_arm(OS_FAULT_EIO, 2, 0, 0, "/dst");
	CK_ERR(os_copy_range(src, 0, dst, 0, len), JET_errDiskIO);
	os_fault_disarm();
	ck_assert_int_eq(file_size(pd), 1 << 20);
	/* a read fault of the source */
	os_fault_arm(OS_FAULT_EIO, 1, 0, 1, "/src");
	CK_ERR(os_copy_range(src, 0, dst, 0, len), JET_errDiskIO);
	os_fault_disarm();
	os_close(src);
	os_close(dst);
	free(buf);
	free(back);
	free(ps);
	free(pd);
}
END_TEST

START_TEST(test_rename_unlink)
{
	char *a = make_file("a", 10, '1');
	char *b = make_file("b", 20, '2');
	char *c = tu_path(dir, "c");

	CK(os_rename(a, c));
	ck_assert(!os_exists(a));
	ck_assert(os_exists(c));
	ck_assert_int_eq(file_size(c), 10);
	/* rename replaces an existing target */
	CK(os_rename(c, b));
	ck_assert(!os_exists(c));
	ck_assert_int_eq(file_size(b), 10);
	CK_ERR(os_rename(a, c), JET_errFileNotFound);
	ck_assert_int_eq(os_last_errno(), ENOENT);
	CK(os_unlink(b));
	ck_assert(!os_exists(b));
	CK_ERR(os_unlink(b), JET_errFileNotFound);
	ck_assert_int_eq(os_last_errno(), ENOENT);
	CK(os_fsync_dir(dir));
	CK_ERR(os_fsync_dir(c), JET_errFileNotFound);
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(test_mkdir_p)
{
	char *deep = tu_path(dir, "x/y/z");
	char *slash, *file, *under_file;

	ck_assert(asprintf(&slash, "%s/s1/s2/", dir) > 0);
	ck_assert(!os_exists(deep));
	CK(os_mkdir_p(deep));
	ck_assert(os_is_dir(deep));
	CK(os_mkdir_p(deep));		/* already there */
	CK(os_mkdir_p(dir));
	CK(os_mkdir_p(slash));		/* trailing slash */
	ck_assert(os_is_dir(slash));
	CK_ERR(os_mkdir_p(""), JET_errInvalidPath);
	file = make_file("afile", 1, 'f');
	CK_ERR(os_mkdir_p(file), JET_errInvalidPath);	/* exists, not a directory */
	ck_assert(!os_is_dir(file));
	under_file = tu_path(dir, "afile/sub");
	CK_ERR(os_mkdir_p(under_file), JET_errInvalidPath);
	ck_assert(!os_exists(under_file));
	{
		char *huge = malloc(5000);
		ck_assert(huge != NULL);
		memset(huge, 'a', 4999);
		huge[0] = '/';
		huge[4999] = '\0';
		CK_ERR(os_mkdir_p(huge), JET_errInvalidPath);
		free(huge);
	}
	free(deep);
	free(slash);
	free(file);
	free(under_file);
}
END_TEST

START_TEST(test_path_helpers)
{
	static const struct {
		const char *dir, *name, *want;
	} joins[] = {
		{ "a", "b", "a/b" },
		{ "a/", "b", "a/b" },
		{ "/", "b", "/b" },
		{ "", "b", "b" },
		{ "/x/y", "edb.log", "/x/y/edb.log" },
	};
	static const struct {
		const char *path, *want;
	} dirs[] = {
		{ "a/b/c", "a/b" },
		{ "/x", "/" },
		{ "x", "." },
		{ "/x/y/edb.log", "/x/y" },
		{ "./f", "." },
	};

	for (size_t i = 0; i < sizeof(joins) / sizeof(joins[0]); i++) {
		char *p = os_path_join(joins[i].dir, joins[i].name);
		ck_assert_ptr_nonnull(p);
		ck_assert_str_eq(p, joins[i].want);
		free(p);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = os_path_dir(dirs[i].path);
		ck_assert_ptr_nonnull(p);
		ck_assert_str_eq(p, dirs[i].want);
		free(p);
	}
	ck_assert(os_is_dir(dir));
	ck_assert(os_exists(dir));
}
END_TEST

/* ---- fault injection ---- */

START_TEST(test_fault_eio_once)
{
	char *p = tu_path(dir, "f");
	os_file *f;
	uint8_t buf[512], rd[512];

	memset(buf, 'w', sizeof(buf));
	CK(os_open(p, OS_WRITE | OS_CREATE, &f));
	os_fault_arm(OS_FAULT_EIO, 3, 0, 0, NULL);
	CK(os_pwrite(f, buf, sizeof(buf), 0));		/* 1 */
	CK(os_pread(f, rd, sizeof(rd), 0));		/* reads do not count */
	CK(os_fsync(f));				/* 2 */
	CK(os_pread(f, rd, sizeof(rd), 0));
	memset(buf, 'X', sizeof(buf));
	CK_ERR(os_pwrite(f, buf, sizeof(buf), 512), JET_errDiskIO);	/* 3: fails */
	ck_assert_int_eq(os_last_errno(), EIO);
	ck_assert_int_eq(file_size(p), 512);		/* nothing was written */
	/* once only */
	CK(os_pwrite(f, buf, sizeof(buf), 512));
	CK(os_fsync(f));
	for (int i = 0; i < 20; i++)
		CK(os_pwrite(f, buf, 1, 0));
	ck_assert_int_eq(file_size(p), 1024);
	os_fault_disarm();
	os_close(f);
	free(p);
}
END_TEST

START_TEST(test_fault_enospc_sticky)
{
	char *p = tu_path(dir, "f");
	char *q = tu_path(dir, "g");
	os_file *f;
	uint8_t buf[100] = { 0 };

	CK(os_open(p, OS_WRITE | OS_CREATE, &f));
	os_fault_arm(OS_FAULT_ENOSPC, 1, 1, 0, NULL);
	for (int i = 0; i < 5; i++) {
		CK_ERR(os_pwrite(f, buf, sizeof(buf), 0), JET_errDiskFull);
		ck_assert_int_eq(os_last_errno(), ENOSPC);
	}
	CK_ERR(os_fsync(f), JET_errDiskFull);
	CK_ERR(os_truncate(f, 10), JET_errDiskFull);
	CK_ERR(os_rename(p, q), JET_errDiskFull);
	CK_ERR(os_unlink(p), JET_errDiskFull);
	ck_assert(os_exists(p));
	ck_assert(!os_exists(q));
	ck_assert_int_eq(file_size(p), 0);
	/* reads still work */
	CK(os_pread_partial(f, buf, 10, 0, &(size_t){ 0 }));
	os_fault_disarm();
	CK(os_pwrite(f, buf, sizeof(buf), 0));
	ck_assert_int_eq(file_size(p), 100);
	os_close(f);
	free(p);
	free(q);
}
END_TEST

START_TEST(test_fault_enospc_once)
{
	char *p = tu_path(dir, "f");
	os_file *f;
	uint8_t buf[100] = { 0 };

	CK(os_open(p, OS_WRITE | OS_CREATE, &f));
	os_fault_arm(OS_FAULT_ENOSPC, 2, 0, 0, NULL);
	CK(os_pwrite(f, buf, sizeof(buf), 0));
	CK_ERR(os_pwrite(f, buf, sizeof(buf), 100), JET_errDiskFull);
	CK(os_pwrite(f, buf, sizeof(buf), 100));
	CK(os_pwrite(f, buf, sizeof(buf), 200));
	ck_assert_int_eq(file_size(p), 300);
	os_fault_disarm();
	os_close(f);
	free(p);
}
END_TEST

START_TEST(test_fault_read)
{
	char *p = make_file("r", 100, 'r');
	os_file *f;
	uint8_t buf[100];
	size_t got = 99;

	CK(os_open(p, OS_WRITE, &f));
	os_fault_arm(OS_FAULT_EIO, 2, 0, 1, NULL);
	/* writes do not count down a read fault */
	for (int i = 0; i < 5; i++)
		CK(os_pwrite(f, buf, 10, 0));
	CK(os_fsync(f));
	CK(os_pread(f, buf, 100, 0));		/* read 1 */
	CK_ERR(os_pread_partial(f, buf, 100, 0, &got), JET_errDiskIO);	/* read 2 */
	ck_assert_uint_eq(got, 0);
	ck_assert_int_eq(os_last_errno(), EIO);
	CK(os_pread(f, buf, 100, 0));		/* fired once */
	/* sticky read fault */
	os_fault_arm(OS_FAULT_EIO, 1, 1, 1, NULL);
	CK_ERR(os_pread(f, buf, 100, 0), JET_errDiskIO);
	CK_ERR(os_pread(f, buf, 100, 0), JET_errDiskIO);
	CK(os_pwrite(f, buf, 10, 0));
	os_fault_disarm();
	CK(os_pread(f, buf, 100, 0));
	os_close(f);
	free(p);
}
END_TEST

START_TEST(test_fault_match)
{
	char *foo = make_file("foo.dat", 0, 0);
	char *bar = make_file("bar.dat", 0, 0);
	os_file *ff, *fb;
	uint8_t buf[64] = { 1 };

	CK(os_open(foo, OS_WRITE, &ff));
	CK(os_open(bar, OS_WRITE, &fb));
	os_fault_arm(OS_FAULT_EIO, 2, 0, 0, "foo");
	/* other files neither fail nor count */
	for (int i = 0; i < 10; i++)
		CK(os_pwrite(fb, buf, sizeof(buf), 0));
	CK(os_fsync(fb));
	CK(os_pwrite(ff, buf, sizeof(buf), 0));	/* foo 1 */
	CK_ERR(os_fsync(ff), JET_errDiskIO);	/* foo 2 */
	CK(os_fsync(ff));
	CK(os_pwrite(fb, buf, sizeof(buf), 64));
	/* sticky with a match */
	os_fault_arm(OS_FAULT_ENOSPC, 1, 1, 0, "foo");
	CK(os_pwrite(fb, buf, sizeof(buf), 128));
	CK_ERR(os_pwrite(ff, buf, sizeof(buf), 64), JET_errDiskFull);
	CK(os_pwrite(fb, buf, sizeof(buf), 192));
	CK_ERR(os_pwrite(ff, buf, sizeof(buf), 64), JET_errDiskFull);
	ck_assert_int_eq(file_size(foo), 64);
	ck_assert_int_eq(file_size(bar), 256);
	os_fault_disarm();
	os_close(ff);
	os_close(fb);
	free(foo);
	free(bar);
}
END_TEST

/* Every write-class operation takes part in the countdown and can fail. */
START_TEST(test_fault_write_classes)
{
	char *a = make_file("a", 50, 'a');
	char *b = tu_path(dir, "b");
	char *n = tu_path(dir, "new");
	os_file *f, *g = (os_file *)1;
	uint64_t size;

	CK(os_open(a, OS_WRITE, &f));

	os_fault_arm(OS_FAULT_EIO, 1, 0, 0, NULL);
	CK_ERR(os_truncate(f, 10), JET_errDiskIO);
	CK(os_size(f, &size));
	ck_assert_uint_eq(size, 50);

	os_fault_arm(OS_FAULT_EIO, 1, 0, 0, NULL);
	CK_ERR(os_rename(a, b), JET_errDiskIO);
	ck_assert(os_exists(a));
	ck_assert(!os_exists(b));

	os_fault_arm(OS_FAULT_EIO, 1, 0, 0, NULL);
	CK_ERR(os_unlink(a), JET_errDiskIO);
	ck_assert(os_exists(a));

	os_fault_arm(OS_FAULT_EIO, 1, 0, 0, NULL);
	CK_ERR(os_fsync_dir(dir), JET_errDiskIO);

	os_fault_arm(OS_FAULT_EIO, 1, 0, 0, NULL);
	CK_ERR(os_fsync(f), JET_errDiskIO);

	/* creating a file is a write-class operation */
	os_fault_arm(OS_FAULT_EIO, 1, 0, 0, NULL);
	CK_ERR(os_open(n, OS_WRITE | OS_CREATE, &g), JET_errDiskIO);
	ck_assert_ptr_null(g);
	ck_assert(!os_exists(n));
	/* opening an existing file without OS_CREATE is not */
	os_fault_arm(OS_FAULT_EIO, 1, 0, 0, NULL);
	CK(os_open(a, OS_WRITE, &g));
	os_close(g);
	/* nor is os_size */
	CK(os_size(f, &size));
	/* the fault is still armed: the next write-class op fails */
	CK_ERR(os_truncate(f, 10), JET_errDiskIO);
	CK(os_truncate(f, 10));
	os_fault_disarm();
	os_close(f);
	free(a);
	free(b);
	free(n);
}
END_TEST

/* os.h: "ENOSPC: the operation fails with ENOSPC (JET_errDiskFull)", for every write-class op. */
START_TEST(test_fault_enospc_on_create)
{
	char *n = tu_path(dir, "new");
	os_file *g = NULL;

	os_fault_arm(OS_FAULT_ENOSPC, 1, 0, 0, NULL);
	CK_ERR(os_open(n, OS_WRITE | OS_CREATE, &g), JET_errDiskFull);
	ck_assert(!os_exists(n));
	os_fault_disarm();
	os_close(g);
	free(n);
}
END_TEST

START_TEST(test_fault_disarm_and_seen)
{
	char *p = make_file("f", 10, 'f');
	os_file *f;
	uint8_t buf[10];
	long before;

	CK(os_open(p, OS_WRITE, &f));
	os_fault_arm(OS_FAULT_EIO, 2, 1, 0, NULL);
	os_fault_disarm();
	for (int i = 0; i < 5; i++)
		CK(os_pwrite(f, buf, sizeof(buf), 0));
	/* every checked operation is counted, armed or not */
	before = os_fault_ops_seen();
	CK(os_pwrite(f, buf, sizeof(buf), 0));
	CK(os_pread(f, buf, sizeof(buf), 0));
	CK(os_fsync(f));
	ck_assert_int_eq(os_fault_ops_seen() - before, 3);
	/* a countdown below 1 means the first operation */
	os_fault_arm(OS_FAULT_EIO, 0, 0, 0, NULL);
	CK_ERR(os_pwrite(f, buf, sizeof(buf), 0), JET_errDiskIO);
	/* re-arming restarts the countdown */
	os_fault_arm(OS_FAULT_EIO, 3, 0, 0, NULL);
	CK(os_pwrite(f, buf, sizeof(buf), 0));
	os_fault_arm(OS_FAULT_EIO, 2, 0, 0, NULL);
	CK(os_pwrite(f, buf, sizeof(buf), 0));
	CK_ERR(os_pwrite(f, buf, sizeof(buf), 0), JET_errDiskIO);
	os_fault_disarm();
	os_close(f);
	free(p);
}
END_TEST

static int
arm_env(const char *spec)
{
	if (spec == NULL)
		unsetenv("JET_FAULT");
	else
		ck_assert_int_eq(setenv("JET_FAULT", spec, 1), 0);
	return os_fault_arm_from_env();
}

START_TEST(test_fault_env_parse)
{
	static const char *const bad[] = {
		"bogus:1", "eio", "eio:", "eio:0", "eio:-1", "eio:x", "eio:1x", "eio:1:foo",
		"eio:1:", "eio:1:sticky:bogus", "EIO:1", "enospc:abc", "torn:", "crash:0",
		"eio:99999999999999999999999",
	};
	static const char *const good[] = {
		"eio:3", "enospc:1:sticky", "eio:1:read", "crash:2", "torn:1:match=foo",
		"eio:2:sticky:read", "enospc:5:read:sticky", "eio:1:match=a:b", "torn:7",
	};
	char *p = make_file("f", 10, 'f');
	os_file *f;
	uint8_t buf[10];

	ck_assert_int_eq(arm_env(NULL), 0);
	ck_assert_int_eq(arm_env(""), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		os_fault_disarm();
		ck_assert_msg(arm_env(good[i]) == 1, "JET_FAULT=%s rejected", good[i]);
	}
	os_fault_disarm();
	CK(os_open(p, OS_WRITE, &f));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(arm_env(bad[i]) == -1, "JET_FAULT=%s accepted", bad[i]);
		/* a rejected spec arms nothing */
		CK(os_pwrite(f, buf, sizeof(buf), 0));
		CK(os_pread(f, buf, sizeof(buf), 0));
	}
	os_fault_disarm();
	os_close(f);
	free(p);
}
END_TEST

START_TEST(test_fault_env_semantics)
{
	char *p = make_file("foo.dat", 100, 'f');
	char *q = make_file("bar.dat", 100, 'b');
	os_file *f, *g;
	uint8_t buf[100];

	CK(os_open(p, OS_WRITE, &f));
	CK(os_open(q, OS_WRITE, &g));

	/* eio:3 -- the third write-class op fails, once */
	ck_assert_int_eq(arm_env("eio:3"), 1);
	CK(os_pwrite(f, buf, 10, 0));
	CK(os_pread(f, buf, 10, 0));
	CK(os_fsync(f));
	CK_ERR(os_pwrite(f, buf, 10, 0), JET_errDiskIO);
	CK(os_pwrite(f, buf, 10, 0));

	/* enospc:1:sticky -- every write-class op from the first fails */
	ck_assert_int_eq(arm_env("enospc:1:sticky"), 1);
	for (int i = 0; i < 4; i++)
		CK_ERR(os_pwrite(g, buf, 10, 0), JET_errDiskFull);
	CK_ERR(os_fsync(f), JET_errDiskFull);
	os_fault_disarm();

	/* eio:1:read -- the first read fails, writes are untouched */
	ck_assert_int_eq(arm_env("eio:1:read"), 1);
	CK(os_pwrite(f, buf, 10, 0));
	CK_ERR(os_pread(f, buf, 10, 0), JET_errDiskIO);
	CK(os_pread(f, buf, 10, 0));

	/* eio:2:match=bar -- only bar.dat counts */
	ck_assert_int_eq(arm_env("eio:2:match=bar"), 1);
	CK(os_pwrite(f, buf, 10, 0));
	CK(os_pwrite(f, buf, 10, 0));
	CK(os_pwrite(g, buf, 10, 0));
	CK(os_pwrite(f, buf, 10, 0));
	CK_ERR(os_pwrite(g, buf, 10, 0), JET_errDiskIO);
	CK(os_pwrite(g, buf, 10, 0));

	os_fault_disarm();
	os_close(f);
	os_close(g);
	free(p);
	free(q);
}
END_TEST

/* Runs fn in a child process and returns its exit status (-1: not exited). */
static int
run_child(void (*fn)(void))
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *child_path, *child_path2;

/* Child: two writes, crash armed at the second. Exit 1 on unexpected errors. */
static void
child_crash(void)
{
	os_file *f;
	uint8_t a[100], b[100];

	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	if (os_open(child_path, OS_WRITE | OS_CREATE, &f) < 0)
		_exit(1);
	os_fault_arm(OS_FAULT_CRASH, 2, 0, 0, NULL);
	if (os_pwrite(f, a, sizeof(a), 0) < 0)
		_exit(2);
	(void)os_pwrite(f, b, sizeof(b), 100);	/* dies here */
	_exit(3);
}

START_TEST(test_fault_crash)
{
	size_t len;
	uint8_t *data;

	child_path = tu_path(dir, "crash.dat");
	ck_assert_int_eq(run_child(child_crash), OS_CRASH_EXIT_STATUS);
	/* the first write happened, the second did not */
	data = slurp(child_path, &len);
	ck_assert_uint_eq(len, 100);
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(data[i], 'A');
	free(data);
	free(child_path);
}
END_TEST

/* Child: crash armed from the environment at the 2nd write-class op (an fsync). */
static void
child_crash_env(void)
{
	os_file *f;
	uint8_t a[10] = { 0 };

	if (setenv("JET_FAULT", "crash:2", 1) != 0 || os_fault_arm_from_env() != 1)
		_exit(1);
	if (os_open(child_path, OS_WRITE, &f) < 0 || os_pwrite(f, a, sizeof(a), 0) < 0)
		_exit(2);
	(void)os_fsync(f);
	_exit(3);
}

START_TEST(test_fault_crash_env)
{
	child_path = make_file("c.dat", 5, 'c');
	ck_assert_int_eq(run_child(child_crash_env), OS_CRASH_EXIT_STATUS);
	ck_assert_int_eq(file_size(child_path), 10);
	free(child_path);
}
END_TEST

#define TORN_LEN 4096

/* Child: torn:1:match=foo -- a write to bar succeeds whole, the write to foo tears. */
static void
child_torn(void)
{
	os_file *f, *g;
	uint8_t *buf = malloc(TORN_LEN);

	if (buf == NULL || setenv("JET_FAULT", "torn:1:match=foo", 1) != 0 || os_fault_arm_from_env() != 1)
		_exit(1);
	memset(buf, 0xAB, TORN_LEN);
	if (os_open(child_path2, OS_WRITE | OS_CREATE, &g) < 0 || os_pwrite(g, buf, TORN_LEN, 0) < 0 ||
	    os_fsync(g) < 0)
		_exit(2);
	if (os_open(child_path, OS_WRITE, &f) < 0)	/* exists: opening is not a write-class op */
		_exit(3);
	(void)os_pwrite(f, buf, TORN_LEN, 0);	/* tears and dies */
	_exit(4);
}

START_TEST(test_fault_torn)
{
	size_t len;
	uint8_t *data;

	child_path = make_file("foo.log", 0, 0);
	child_path2 = tu_path(dir, "bar.log");
	ck_assert_int_eq(run_child(child_torn), OS_CRASH_EXIT_STATUS);
	/* bar: whole */
	data = slurp(child_path2, &len);
	ck_assert_uint_eq(len, TORN_LEN);
	free(data);
	/* foo: a proper, non-empty prefix of the buffer */
	data = slurp(child_path, &len);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_lt(len, TORN_LEN);
	ck_assert_msg(len % 512 != 0, "torn write of %zu bytes is sector aligned", len);
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(data[i], 0xAB);
	free(data);
	free(child_path);
	free(child_path2);
}
END_TEST

/* Child: TORN on an operation that cannot tear (fsync) is a crash before it. */
static void
child_torn_rename(void)
{
	os_file *f;
	uint8_t a[10] = { 0 };

	if (os_open(child_path, OS_WRITE, &f) < 0)
		_exit(1);
	os_fault_arm(OS_FAULT_TORN, 2, 0, 0, NULL);
	if (os_pwrite(f, a, sizeof(a), 0) < 0)
		_exit(2);
	(void)os_rename(child_path, child_path2);	/* dies before renaming */
	_exit(3);
}

START_TEST(test_fault_torn_non_write)
{
	child_path = make_file("t.dat", 0, 0);
	child_path2 = tu_path(dir, "t2.dat");
	ck_assert_int_eq(run_child(child_torn_rename), OS_CRASH_EXIT_STATUS);
	ck_assert(os_exists(child_path));
	ck_assert(!os_exists(child_path2));
	ck_assert_int_eq(file_size(child_path), 10);
	free(child_path);
	free(child_path2);
}
END_TEST

/* Child: crash armed on reads fires at the Nth read, not at writes. */
static void
child_crash_read(void)
{
	os_file *f;
	uint8_t a[10] = { 0 };

	if (os_open(child_path, OS_WRITE, &f) < 0)
		_exit(1);
	os_fault_arm(OS_FAULT_CRASH, 2, 0, 1, NULL);
	for (int i = 0; i < 5; i++)
		if (os_pwrite(f, a, sizeof(a), 0) < 0)
			_exit(2);
	if (os_pread(f, a, sizeof(a), 0) < 0)
		_exit(3);
	(void)os_pread(f, a, sizeof(a), 0);
	_exit(4);
}

START_TEST(test_fault_crash_read)
{
	child_path = make_file("r.dat", 10, 'r');
	ck_assert_int_eq(run_child(child_crash_read), OS_CRASH_EXIT_STATUS);
	free(child_path);
}
END_TEST

/* Without a fault the child exits normally (the harness itself can fail). */
static void
child_no_fault(void)
{
	os_file *f;
	uint8_t a[10] = { 0 };

	if (os_open(child_path, OS_WRITE, &f) < 0 || os_pwrite(f, a, sizeof(a), 0) < 0 || os_fsync(f) < 0)
		_exit(1);
	os_close(f);
	_exit(0);
}

START_TEST(test_fault_none_in_child)
{
	child_path = make_file("n.dat", 10, 'n');
	ck_assert_int_eq(run_child(child_no_fault), 0);
	free(child_path);
}
END_TEST

static Suite *
os_suite(void)
{
	Suite *s = suite_create("os");
	TCase *io = tcase_create("io");
	TCase *fault = tcase_create("fault");

	tcase_add_checked_fixture(io, setup, teardown);
	tcase_add_test(io, test_open_missing);
	tcase_add_test(io, test_open_create_excl);
	tcase_add_test(io, test_open_not_dir);
	tcase_add_test(io, test_open_access_denied);
	tcase_add_test(io, test_read_write_roundtrip);
	tcase_add_test(io, test_pread_short);
	tcase_add_test(io, test_truncate);
	tcase_add_test(io, test_copy_range);
	tcase_add_test(io, test_rename_unlink);
	tcase_add_test(io, test_mkdir_p);
	tcase_add_test(io, test_path_helpers);
	suite_add_tcase(s, io);

	tcase_add_checked_fixture(fault, setup, teardown);
	tcase_add_test(fault, test_fault_eio_once);
	tcase_add_test(fault, test_fault_enospc_sticky);
	tcase_add_test(fault, test_fault_enospc_once);
	tcase_add_test(fault, test_fault_read);
	tcase_add_test(fault, test_fault_match);
	tcase_add_test(fault, test_fault_write_classes);
	tcase_add_test(fault, test_fault_enospc_on_create);
	tcase_add_test(fault, test_fault_disarm_and_seen);
	tcase_add_test(fault, test_fault_env_parse);
	tcase_add_test(fault, test_fault_env_semantics);
	tcase_add_test(fault, test_fault_crash);
	tcase_add_test(fault, test_fault_crash_env);
	tcase_add_test(fault, test_fault_torn);
	tcase_add_test(fault, test_fault_torn_non_write);
	tcase_add_test(fault, test_fault_crash_read);
	tcase_add_test(fault, test_fault_none_in_child);
	suite_add_tcase(s, fault);
	return s;
}

int
main(void)
{
	return tu_run(os_suite());
}
