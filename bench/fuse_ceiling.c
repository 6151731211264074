/*
 * fuse_ceiling -- the "FUSE ceiling" of a machine: a minimal in-memory
 * libfuse3 (low-level API) filesystem that serves one read-only file as fast
 * as FUSE allows, so that jetfs's read throughput can be compared with the
 * best any FUSE filesystem could do on the same kernel and CPU.
 *
 *   fuse_ceiling [-f] [-s] [-d] [-o opts] --size BYTES MOUNTPOINT
 *
 * The mount holds one file, "data" (mode 0444, st_blksize 1 MiB), of BYTES
 * bytes (suffixes K, M, G, T = KiB, MiB, GiB, TiB; "1G" and "1GiB" are the
 * same).  Byte i of the file is (i mod 251).  The content comes from one
 * region preallocated at start-up and filled once with that pattern: a read
 * at offset OFF is answered with fuse_reply_buf() from region + (OFF mod 251),
 * so nothing is allocated, generated or copied in user space per request.
 *
 * Options of its own (with -o, besides the usual libfuse ones):
 *   direct_io       open replies with FOPEN_DIRECT_IO (no page cache)
 *   readahead=KIB   after the mount is initialised, write KIB to
 *                   /sys/class/bdi/MAJ:MIN/read_ahead_kb of the mount
 *                   (MAJ:MIN from /proc/self/mountinfo).  This must happen
 *                   after the kernel processed the INIT reply, which sets
 *                   the bdi's readahead to min(bdi value, INIT max_readahead),
 *                   so a helper thread first stat()s the mountpoint (that
 *                   request waits for INIT) and writes the value afterwards.
 *                   Needs root.
 *   max_read=N      limits read requests to N bytes; given both to the session
 *                   (-o max_read=N) and as conn->max_read in init, as libfuse
 *                   3.14 fails INIT with EPROTO when the two differ.
 * Every open reply sets keep_cache.  -s runs the single-threaded loop, -d
 * logs every request (libfuse's debug output), -f stays in the foreground.
 *
 * At exit it prints one line to stderr summarising the READ requests it
 * served: count, bytes, request sizes (power-of-two buckets), the most
 * requests in the handler at once, and how many started below the highest
 * offset already requested ("behind", the reordering the kernel's
 * asynchronous readahead causes).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define ROOT_INO FUSE_ROOT_ID
#define DATA_INO 2
#define DATA_NAME "data"
#define PATTERN_PERIOD 251u                 /* byte i of the file is i % 251 */
#define DATA_BLKSIZE (1u << 20)              /* st_blksize */
#define REGION_MIN (4u << 20)                /* >= the largest request (1 MiB in 3.14) */
#define ATTR_TIMEOUT 86400.0
#define MAX_IOV 64
#define SIZE_BUCKETS 33                      /* bucket b: sizes in (2^(b-1), 2^b] */

/* ---- options ---- */

struct fc_opts {
	char *size_str;
	int direct_io;
	int readahead_kb;                        /* -1: leave the kernel's value */
	unsigned max_read;                       /* 0: libfuse's default */
};

enum { KEY_MAX_READ };

#define FC_OPT(t, member, value) { t, offsetof(struct fc_opts, member), value }

static const struct fuse_opt fc_optspec[] = {
	FC_OPT("--size %s", size_str, 0),        /* also matches --size=X, as "=X" */
	FC_OPT("direct_io", direct_io, 1),
	FC_OPT("readahead=%d", readahead_kb, 0),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_END
};

/* ---- state (set up before the session starts, read-only afterwards) ---- */

static struct {
	uint64_t size;                           /* st_size of "data" */
	int direct_io;
	int readahead_kb;
	unsigned max_read;
	const char *mountpoint;
	time_t mtime;
	unsigned char *region;                   /* span + PATTERN_PERIOD bytes */
	size_t span;                             /* multiple of PATTERN_PERIOD */
} g;

/* Statistics of READ requests (relaxed atomics: counters only). */
static struct {
	atomic_ullong reads;
	atomic_ullong bytes;
	atomic_ullong eof_reads;                 /* at or past st_size */
	atomic_ullong behind;                    /* offset < highest offset seen */
	atomic_ullong max_behind;                /* largest such distance */
	atomic_ullong hi_off;                    /* highest offset seen + 1 */
	atomic_uint inflight;
	atomic_uint max_inflight;
	atomic_ullong bucket[SIZE_BUCKETS];
} st;

/* The kernel's proposals as seen in init(), for the summary. */
static unsigned init_max_readahead, init_max_write, init_max_read;

static void atomic_max_ull(atomic_ullong *a, unsigned long long v)
{
	unsigned long long cur = atomic_load_explicit(a, memory_order_relaxed);

	while (cur < v && !atomic_compare_exchange_weak_explicit(a, &cur, v,
			memory_order_relaxed, memory_order_relaxed))
		;
}

static void atomic_max_u(atomic_uint *a, unsigned v)
{
	unsigned cur = atomic_load_explicit(a, memory_order_relaxed);

	while (cur < v && !atomic_compare_exchange_weak_explicit(a, &cur, v,
			memory_order_relaxed, memory_order_relaxed))
		;
}

static unsigned size_bucket(size_t size)
{
	unsigned b = 0;

	while (b + 1 < SIZE_BUCKETS && ((size_t)1 << b) < size)
		b++;
	return b;
}

/* ---- filesystem operations ---- */

static void fill_attr(fuse_ino_t ino, struct stat *stbuf)
{
	memset(stbuf, 0, sizeof *stbuf);
	stbuf->st_ino = ino;
	stbuf->st_uid = getuid();
	stbuf->st_gid = getgid();
	stbuf->st_atime = stbuf->st_mtime = stbuf->st_ctime = g.mtime;
	stbuf->st_blksize = DATA_BLKSIZE;
	if (ino == ROOT_INO) {
		stbuf->st_mode = S_IFDIR | 0555;
		stbuf->st_nlink = 2;
	} else {
		stbuf->st_mode = S_IFREG | 0444;
		stbuf->st_nlink = 1;
		stbuf->st_size = (off_t)g.size;
		stbuf->st_blocks = (blkcnt_t)((g.size + 511) / 512);
	}
}

static void fc_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (g.max_read)
		conn->max_read = g.max_read;
	init_max_readahead = conn->max_readahead;
	init_max_write = conn->max_write;
	init_max_read = conn->max_read;
}

static void fc_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (parent != ROOT_INO || strcmp(name, DATA_NAME) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof e);
	e.ino = DATA_INO;
	e.generation = 1;
	e.attr_timeout = ATTR_TIMEOUT;
	e.entry_timeout = ATTR_TIMEOUT;
	fill_attr(DATA_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fc_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat stbuf;

	(void)fi;
	if (ino != ROOT_INO && ino != DATA_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &stbuf);
	fuse_reply_attr(req, &stbuf, ATTR_TIMEOUT);
}

static void fc_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	static const struct { const char *name; fuse_ino_t ino; mode_t mode; } ent[] = {
		{ ".", ROOT_INO, S_IFDIR }, { "..", ROOT_INO, S_IFDIR }, { DATA_NAME, DATA_INO, S_IFREG },
	};
	char buf[512];
	size_t used = 0, cap = size < sizeof buf ? size : sizeof buf;

	(void)fi;
	if (ino != ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	for (off_t i = off < 0 ? 0 : off; i < (off_t)(sizeof ent / sizeof ent[0]); i++) {
		struct stat stbuf;
		size_t len;

		memset(&stbuf, 0, sizeof stbuf);
		stbuf.st_ino = ent[i].ino;
		stbuf.st_mode = ent[i].mode;
		len = fuse_add_direntry(req, buf + used, cap - used, ent[i].name, &stbuf, i + 1);
		if (len > cap - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
}

static void fc_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != DATA_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fi->direct_io = g.direct_io ? 1 : 0;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void fc_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	unsigned long long uoff, hi, left;
	const unsigned char *p;
	unsigned n;

	(void)fi;
	if (ino != DATA_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	uoff = (unsigned long long)off;

	n = atomic_fetch_add_explicit(&st.inflight, 1, memory_order_relaxed) + 1;
	atomic_max_u(&st.max_inflight, n);
	atomic_fetch_add_explicit(&st.reads, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st.bucket[size_bucket(size)], 1, memory_order_relaxed);
	hi = atomic_load_explicit(&st.hi_off, memory_order_relaxed);
	if (hi > uoff + 1) {
		atomic_fetch_add_explicit(&st.behind, 1, memory_order_relaxed);
		atomic_max_ull(&st.max_behind, hi - 1 - uoff);
	} else {
		atomic_max_ull(&st.hi_off, uoff + 1);
	}

	if (uoff >= g.size) {
		atomic_fetch_add_explicit(&st.eof_reads, 1, memory_order_relaxed);
		fuse_reply_buf(req, NULL, 0);
		goto out;
	}
	left = g.size - uoff;
	if (size > left)
		size = (size_t)left;
	atomic_fetch_add_explicit(&st.bytes, size, memory_order_relaxed);

	p = g.region + uoff % PATTERN_PERIOD;
	if (size <= g.span) {
		fuse_reply_buf(req, (const char *)p, size);
	} else {
		/* Larger than the region (never with 3.14's 1 MiB limit): g.span is
		 * a multiple of the period, so repeating the region continues the
		 * pattern. */
		struct iovec iov[MAX_IOV];
		size_t cnt = 0, rest = size;

		while (rest > 0 && cnt < MAX_IOV) {
			iov[cnt].iov_base = (void *)p;
			iov[cnt].iov_len = rest < g.span ? rest : g.span;
			rest -= iov[cnt].iov_len;
			cnt++;
		}
		if (rest > 0)
			fuse_reply_err(req, EIO);
		else
			fuse_reply_iov(req, iov, (int)cnt);
	}
out:
	atomic_fetch_sub_explicit(&st.inflight, 1, memory_order_relaxed);
}

static const struct fuse_lowlevel_ops fc_ops = {
	.init = fc_init,
	.lookup = fc_lookup,
	.getattr = fc_getattr,
	.readdir = fc_readdir,
	.open = fc_open,
	.read = fc_read,
};

/* ---- readahead helper ---- */

/* Undoes mountinfo's octal escapes (\040 etc.) in place. */
static void unescape_octal(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

/* MAJ:MIN of the topmost FUSE mount on PATH per /proc/self/mountinfo;
 * 0 if found. */
static int mountinfo_dev(const char *path, unsigned *maj, unsigned *min)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL;
	size_t cap = 0;
	int found = -1;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		unsigned ma, mi;
		char mnt[PATH_MAX + 1], fstype[256];
		const char *sep;

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE ... */
		if (sscanf(line, "%*u %*u %u:%u %*s %4096s", &ma, &mi, mnt) != 3)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%255s", fstype) != 1)
			continue;
		if (strcmp(fstype, "fuse") != 0 && strncmp(fstype, "fuse.", 5) != 0)
			continue;
		unescape_octal(mnt);
		if (strcmp(mnt, path) == 0) {
			*maj = ma;
			*min = mi;
			found = 0;                       /* keep going: the last one is on top */
		}
	}
	free(line);
	fclose(f);
	return found;
}

static int read_sysfs_uint(const char *path, unsigned *v)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%u", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

static void *readahead_thread(void *arg)
{
	struct stat sb;
	unsigned maj, min, before = 0, after = 0;
	char path[128];
	FILE *f;

	(void)arg;
	/* GETATTR of the root waits until the kernel has processed INIT. */
	if (stat(g.mountpoint, &sb) != 0) {
		fprintf(stderr, "fuse_ceiling: readahead: stat %s: %s\n", g.mountpoint, strerror(errno));
		return NULL;
	}
	if (mountinfo_dev(g.mountpoint, &maj, &min) != 0) {
		fprintf(stderr, "fuse_ceiling: readahead: %s not in /proc/self/mountinfo, using st_dev\n",
			g.mountpoint);
		maj = major(sb.st_dev);
		min = minor(sb.st_dev);
	} else if (maj != major(sb.st_dev) || min != minor(sb.st_dev)) {
		fprintf(stderr, "fuse_ceiling: readahead: mountinfo says %u:%u, st_dev is %u:%u\n",
			maj, min, major(sb.st_dev), minor(sb.st_dev));
	}
	snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	if (read_sysfs_uint(path, &before) != 0) {
		fprintf(stderr, "fuse_ceiling: readahead: read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", g.readahead_kb) < 0 || fclose(f) != 0) {
		fprintf(stderr, "fuse_ceiling: readahead: write %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (read_sysfs_uint(path, &after) != 0)
		after = 0;
	fprintf(stderr, "fuse_ceiling: %s: %u -> %u (asked %d)\n", path, before, after, g.readahead_kb);
	return NULL;
}

/* ---- command line ---- */

static int fc_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct fc_opts *o = data;

	(void)outargs;
	if (key == KEY_MAX_READ) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(arg + strlen("max_read="), &end, 10);  /* as libfuse's %u */
		if (errno || *end || v == 0 || v > UINT_MAX) {
			fprintf(stderr, "fuse_ceiling: bad option %s\n", arg);
			return -1;
		}
		o->max_read = (unsigned)v;
	}
	return 1;                                    /* keep: libfuse sees it too */
}

/* BYTES with an optional binary suffix K/M/G/T, optionally followed by "iB"
 * or "B". */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (s && *s == '=')
		s++;
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0))
		end += strlen(end);
	if (*end || (shift && v > (UINT64_MAX >> shift)) || (v << shift) > (uint64_t)INT64_MAX)
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void usage(const char *prog)
{
	printf("usage: %s [-f] [-s] [-d] [-o opts] --size BYTES MOUNTPOINT\n"
	       "\n"
	       "Serves one read-only file, MOUNTPOINT/" DATA_NAME ", of BYTES bytes (K/M/G/T suffixes\n"
	       "are binary); byte i is i %% %u.\n"
	       "\n"
	       "options of fuse_ceiling:\n"
	       "    -o direct_io        open replies with direct_io\n"
	       "    -o readahead=KIB    set the mount's bdi read_ahead_kb after INIT (root)\n"
	       "    -o max_read=N       limit read requests to N bytes (session and init)\n"
	       "\n", prog, PATTERN_PERIOD);
}

static void print_stats(void)
{
	char sizes[1024];
	size_t used = 0;

	sizes[0] = '\0';
	for (unsigned b = 0; b < SIZE_BUCKETS; b++) {
		unsigned long long n = atomic_load(&st.bucket[b]);
		unsigned long long lim = 1ull << b;

		if (!n || used >= sizeof sizes)
			continue;
		if (lim >= (1u << 20))
			used += (size_t)snprintf(sizes + used, sizeof sizes - used, " <=%lluM:%llu", lim >> 20, n);
		else if (lim >= 1024)
			used += (size_t)snprintf(sizes + used, sizeof sizes - used, " <=%lluK:%llu", lim >> 10, n);
		else
			used += (size_t)snprintf(sizes + used, sizeof sizes - used, " <=%llu:%llu", lim, n);
	}
	fprintf(stderr,
		"fuse_ceiling: init max_readahead=%u max_write=%u max_read=%u; "
		"reads=%llu bytes=%llu eof=%llu max_inflight=%u behind=%llu max_behind=%llu sizes:%s\n",
		init_max_readahead, init_max_write, init_max_read,
		atomic_load(&st.reads), atomic_load(&st.bytes), atomic_load(&st.eof_reads),
		atomic_load(&st.max_inflight), atomic_load(&st.behind), atomic_load(&st.max_behind),
		sizes);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fc_opts opts = { .readahead_kb = -1 };
	struct fuse_cmdline_opts cmd;
	struct fuse_session *se = NULL;
	pthread_t ra_tid;
	int ra_started = 0, ret = 1;
	size_t cap;

	memset(&cmd, 0, sizeof cmd);
	if (fuse_opt_parse(&args, &opts, fc_optspec, fc_opt_proc) != 0)
		goto out;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out;
	if (cmd.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (cmd.show_version) {
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (!cmd.mountpoint || !opts.size_str) {
		usage(argv[0]);
		goto out;
	}
	if (parse_size(opts.size_str, &g.size) != 0) {
		fprintf(stderr, "fuse_ceiling: bad --size %s\n", opts.size_str);
		goto out;
	}
	if (opts.readahead_kb < -1) {
		fprintf(stderr, "fuse_ceiling: bad readahead=%d\n", opts.readahead_kb);
		goto out;
	}
	g.direct_io = opts.direct_io;
	g.readahead_kb = opts.readahead_kb;
	g.max_read = opts.max_read;
	g.mountpoint = cmd.mountpoint;           /* made absolute by fuse_parse_cmdline */
	g.mtime = time(NULL);

	/* The region: g.span bytes (a multiple of the period, at least any request)
	 * plus one period so that a reply can start at any phase. */
	cap = REGION_MIN;
	if (g.max_read > cap)
		cap = g.max_read;
	g.span = (cap / PATTERN_PERIOD + 1) * PATTERN_PERIOD;
	g.region = malloc(g.span + PATTERN_PERIOD);
	if (!g.region) {
		fprintf(stderr, "fuse_ceiling: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < g.span + PATTERN_PERIOD; i++)
		g.region[i] = (unsigned char)(i % PATTERN_PERIOD);

	se = fuse_session_new(&args, &fc_ops, sizeof fc_ops, NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_handlers;
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	/* Threads do not survive fuse_daemonize's fork: start the helper now. */
	if (g.readahead_kb >= 0) {
		if (pthread_create(&ra_tid, NULL, readahead_thread, NULL) == 0)
			ra_started = 1;
		else
			fprintf(stderr, "fuse_ceiling: cannot start the readahead thread\n");
	}

	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *config = fuse_loop_cfg_create();

		if (!config) {
			ret = -1;
		} else {
			fuse_loop_cfg_set_clone_fd(config, (unsigned)cmd.clone_fd);
			/* UINT_MAX means "not given"; 3.14 warns if it is passed on. */
			if (cmd.max_idle_threads != UINT_MAX)
				fuse_loop_cfg_set_idle_threads(config, cmd.max_idle_threads);
			fuse_loop_cfg_set_max_threads(config, cmd.max_threads);
			ret = fuse_session_loop_mt(se, config);
			fuse_loop_cfg_destroy(config);
		}
	}
	print_stats();
out_unmount:
	fuse_session_unmount(se);
	if (ra_started)
		pthread_join(ra_tid, NULL);
out_handlers:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out:
	free(g.region);
	free(cmd.mountpoint);
	free(opts.size_str);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
