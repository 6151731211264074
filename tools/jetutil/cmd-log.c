/*
 * cmd-log.c -- jetutil log FILE...: log file headers and integrity (eseutil
 * /ml), and the check of one log file that verify uses too.  Segments are
 * read by the engine's own reader (log_segment_read, log.c); the walk here
 * is the tool's: it counts, and tells a torn tail from damage.  The commit
 * times of a generation's transactions (the moments restore --stop-at can
 * choose from) are read by the engine's record reader.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetutil.h"

struct seg_walk {
	uint32_t nsegs;
	uint64_t payload;
	int end_found;
	uint64_t end_off;		/* file offset of the END segment, or of the valid end */
	lsn_t end_lsn;
	lsn_t pos;			/* stream position after the last good segment */
	int damaged;
	char problem[200];
	uint32_t beyond;		/* valid later segments past the end (current log) */
};

static uint64_t
align_sector(uint64_t n)
{
	return (n + LOG_SECTOR - 1) & ~(uint64_t)(LOG_SECTOR - 1);
}

/*
 * Walks the segments of a log file.  strict (a closed generation): every
 * segment up to END must be sound.  Otherwise (<base>.log) the first bad
 * segment is the valid end, and later valid segments are counted.
 */
static JET_ERR
walk_segments(os_file *f, const struct log_file_header *h, int strict, struct seg_walk *w)
{
	uint8_t *buf = NULL;
	uint64_t off = LOG_HDR_SIZE;
	JET_ERR err = JET_errSuccess;

	memset(w, 0, sizeof(*w));
	w->pos = h->first_lsn;
	for (;;) {
		uint32_t len = 0, flags = 0;
		lsn_t lsn = 0;
		const char *why = NULL;
		char whybuf[120];
		int rc = log_segment_read(f, h, off, &buf, &len, &flags, &lsn, &why, &err);

		if (rc < 0)
			goto out;
		if (rc == 1 && !(flags & SEGF_END) && lsn != w->pos) {
			snprintf(whybuf, sizeof(whybuf), "segment LSN %llu where %llu was expected", (unsigned long long)lsn,
			    (unsigned long long)w->pos);
			why = whybuf;
			rc = 0;
		}
		if (rc == 1 && (flags & SEGF_END) && lsn > w->pos) {
			snprintf(whybuf, sizeof(whybuf), "END segment at LSN %llu past the data's end %llu",
			    (unsigned long long)lsn, (unsigned long long)w->pos);
			why = whybuf;
			rc = 0;
		}
		if (rc == 0) {
			w->end_off = off;
			w->end_lsn = w->pos;
			if (strict) {
				w->damaged = 1;
				snprintf(w->problem, sizeof(w->problem), "damaged at offset %llu (after %u good segments): %s",
				    (unsigned long long)off, w->nsegs, why);
				goto out;
			}
			snprintf(w->problem, sizeof(w->problem), "%s", why);
			/* A torn tail, or damage? Count sound segments further on. */
			for (uint64_t o = off + LOG_SECTOR; o + LOG_SEG_HDR <= h->file_size; o += LOG_SECTOR) {
				const char *w2;
				if (log_segment_read(f, h, o, &buf, &len, &flags, &lsn, &w2, &err) == 1 && lsn >= w->pos) {
					w->beyond++;
					o = align_sector(o + LOG_SEG_HDR + len) - LOG_SECTOR;
				}
			}
			err = JET_errSuccess;
			goto out;
		}
		w->nsegs++;
		if (flags & SEGF_END) {
			w->end_found = 1;
			w->end_off = off;
			w->end_lsn = lsn;
			goto out;
		}
		w->payload += len;
		w->pos += len;
		off += align_sector(LOG_SEG_HDR + len);
	}
out:
	free(buf);
	return err;
}

/* 1 if name is <base>XXXXX.log (or 8 digits), 0 if <base>.log, -1 otherwise. */
static int
name_kind(const char *name, const char *base, uint32_t *genp)
{
	char cur[16];

	if (log_parse_name(base, name, genp))
		return 1;
	snprintf(cur, sizeof(cur), "%s.log", base);
	return strcmp(name, cur) == 0 ? 0 : -1;
}

static void
print_header(const struct log_file_header *h)
{
	char a[160], b[40];

	util_field("Generation", "%u (0x%x)", h->gen, h->gen);
	util_field("Format version", "%u%s", h->version,
	    h->version == LOG_VERSION_UNTIMED ? " (transactions carry no commit time)" : "");
	util_printable(h->base, a, sizeof(a));
	util_field("Base name", "%s", a);
	util_field("Creation time", "%s", util_fmt_time(h->time_create, b, sizeof(b)));
	util_field("Prev gen. creation", "%s", util_fmt_time(h->time_prev, b, sizeof(b)));
	util_field("Log Signature", "%s", util_fmt_sig(&h->sign_log, a, sizeof(a)));
	util_field("File size", "%u bytes (%u KiB)", h->file_size, h->file_size / 1024);
	util_field("cbDbPage", "%u", h->page_size);
	util_field("First LSN", "%llu", (unsigned long long)h->first_lsn);
	util_field("First record LSN", "%llu%s", (unsigned long long)h->first_record_lsn,
	    h->first_record_lsn == 0 ? " (no record starts here)" : "");
	util_field("Checkpoint at creation", "gen %u, LSN %llu", h->ckpt_gen, (unsigned long long)h->ckpt_lsn);
	util_field("Circular logging", "%s", (h->flags & LOGF_CIRCULAR) ? "yes" : "no");
}

/*
 * The commit times of the transactions that start in generation h->gen, in
 * path: the first and the last, in the form restore --stop-at takes.  The
 * next generation's file beside it, if there is one, completes a record that
 * ends there.
 */
static void
print_commit_times(const char *path, const struct log_file_header *h)
{
	const char *paths[2] = { path, NULL };
	char *dir = util_xstrdup(path), *slash = strrchr(dir, '/'), *next, a[64], b[64], e[200];
	struct log_reader r;
	struct log_commit c;
	uint64_t first = 0, last = 0, ncommits = 0, nuntimed = 0;
	int rc;
	JET_ERR err;

	if (slash != NULL)
		*slash = '\0';
	next = log_name_path(slash != NULL ? dir : ".", h->base, h->gen + 1);
	if (next != NULL && os_exists(next))
		paths[1] = next;
	if ((err = log_reader_open_files(&r, NULL, h->base, paths, h->gen, paths[1] != NULL ? 2 : 1, &h->sign_log)) < 0) {
		util_field("Commit times", "unknown (%s)", util_jet_problem(err, e, sizeof(e)));
		goto out;
	}
	while ((rc = log_reader_next_commit(&r, &c, &err)) == 1 && c.gen == h->gen) {
		ncommits++;
		if (!c.timed) {
			nuntimed++;
			continue;
		}
		if (first == 0)
			first = c.time;
		last = c.time;
	}
	log_reader_close(&r);
	if (rc < 0)
		util_field("Commit times", "unknown (%s)", util_jet_problem(err, e, sizeof(e)));
	else if (ncommits == 0)
		util_field("Commit times", "none (no transaction starts in this generation)");
	else if (nuntimed == ncommits)
		util_field("Commit times", "not recorded (log format %u): %llu transactions", h->version,
		    (unsigned long long)ncommits);
	else
		util_field("Commit times", "%s to %s (%llu transactions)", util_fmt_moment(first, a, sizeof(a)),
		    util_fmt_moment(last, b, sizeof(b)), (unsigned long long)ncommits);
out:
	free(next);
	free(dir);
}

/* The verdict on a log file: "Integrity check ..." on its own line (log) or after the path (verify). */
static int
verdict(const char *path, int show_header, const char *problem)
{
	if (show_header)
		printf(problem ? "Integrity check FAILED: %s\n" : "Integrity check passed\n", problem);
	else if (problem)
		printf("%s: integrity check FAILED: %s\n", path, problem);
	return problem != NULL;
}

/*
 * Checks one log file; prints its header when show_header.  Returns 0 if
 * sound, 1 if not (the problem printed).
 */
int
cmd_log_check_file(const char *path, int show_header)
{
	struct log_file_header h;
	struct seg_walk w;
	uint32_t name_gen = 0;
	int kind;
	os_file *f;
	char msg[512];
	JET_ERR err;

	if (show_header)
		printf("%s:\n", path);
	if ((err = os_open(path, OS_READ, &f)) < 0) {
		snprintf(msg, sizeof(msg), "cannot open: %s", util_open_problem(err));
		return verdict(path, show_header, msg);
	}
	if ((err = log_header_read(f, &h)) < 0) {
		os_close(f);
		if (err == JET_errLogFileCorrupt)
			snprintf(msg, sizeof(msg), "not a log file, or its header is damaged");
		else if (err == JET_errBadLogVersion)
			snprintf(msg, sizeof(msg), "unsupported log format version");
		else
			util_jet_problem(err, msg, sizeof(msg));
		return verdict(path, show_header, msg);
	}
	kind = name_kind(util_base_of(path), h.base, &name_gen);
	if (show_header)
		print_header(&h);
	if (kind == 1 && name_gen != h.gen) {
		os_close(f);
		snprintf(msg, sizeof(msg), "the file name says generation %u, the header %u", name_gen, h.gen);
		return verdict(path, show_header, msg);
	}
	/* A closed generation (by its name) must be sound up to END. */
	err = walk_segments(f, &h, kind == 1, &w);
	os_close(f);
	if (err < 0) {
		char e[200];
		snprintf(msg, sizeof(msg), "read error: %s", util_jet_problem(err, e, sizeof(e)));
		return verdict(path, show_header, msg);
	}
	if (show_header)
		util_field("Segments", "%u (%llu bytes of records)", w.nsegs, (unsigned long long)w.payload);
	if (w.damaged)
		return verdict(path, show_header, w.problem);
	if (show_header) {
		print_commit_times(path, &h);
		if (w.end_found)
			util_field("End", "END segment at offset %llu, LSN %llu (closed)", (unsigned long long)w.end_off,
			    (unsigned long long)w.end_lsn);
		else
			util_field("Valid end", "offset %llu, LSN %llu (then: %s)", (unsigned long long)w.end_off,
			    (unsigned long long)w.end_lsn, w.problem);
	}
	if (w.beyond > 0) {
		snprintf(msg, sizeof(msg), "damaged at offset %llu (%s), yet %u sound segment(s) follow: "
		    "committed records past the damage would be lost (after a crash during a write this can also "
		    "be a torn write)", (unsigned long long)w.end_off, w.problem, w.beyond);
		return verdict(path, show_header, msg);
	}
	if (!show_header)
		printf("%s: log generation %u: %u segments checked, LSN %llu to %llu%s: integrity check passed\n", path,
		    h.gen, w.nsegs, (unsigned long long)h.first_lsn, (unsigned long long)w.end_lsn,
		    w.end_found ? " (closed)" : " (current log, valid end)");
	return verdict(path, show_header, NULL);
}

int
cmd_log_run(int argc, char **argv)
{
	int bad = 0;

	if (argc - optind < 1)
		util_usage_error("log: at least one log file expected");
	for (int i = optind; i < argc; i++) {
		if (i > optind)
			putchar('\n');
		bad |= cmd_log_check_file(argv[i], 1);
	}
	return bad;
}
