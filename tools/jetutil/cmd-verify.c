/*
 * cmd-verify.c -- jetutil verify FILE...: checksum every page of a database
 * or backup image, every segment of a log, a checkpoint file (eseutil /k).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetutil.h"

#define LIST_MAX 50			/* bad pages listed per file */

struct pgstats {
	uint64_t checked, bad, uninit, wrong;
	uint32_t listed;
};

/* Checksums pages first..last of a database file (pgno p at file page p + 1). */
static JET_ERR
verify_pages(os_file *f, const char *path, uint32_t ps, uint32_t first, uint32_t last, struct pgstats *st)
{
	enum { CHUNK = 64 };
	uint8_t *buf = util_xmalloc((size_t)ps * CHUNK);
	JET_ERR err = JET_errSuccess;

	for (uint64_t pg = first; pg <= last && err >= 0;) {
		uint32_t n = last - pg + 1 < CHUNK ? (uint32_t)(last - pg + 1) : CHUNK;
		if ((err = os_pread(f, buf, (size_t)n * ps, page_offset((uint32_t)pg, ps))) < 0)
			break;
		for (uint32_t i = 0; i < n; i++, pg++) {
			const uint8_t *p = buf + (size_t)i * ps;
			JET_ERR v = page_verify(p, ps, (uint32_t)pg);
			st->checked++;
			if (v == JET_errPageNotInitialized)
				st->uninit++;
			else if (v == JET_errReadPgnoVerifyFailure || v == JET_errReadVerifyFailure) {
				int wrong = v == JET_errReadPgnoVerifyFailure;
				if (wrong)
					st->wrong++;
				else
					st->bad++;
				if (st->listed++ < LIST_MAX) {
					if (wrong)
						printf("%s: page %llu: wrong page number (it is page %u)\n", path,
						    (unsigned long long)pg, get32(p + PG_PGNO));
					else
						printf("%s: page %llu: bad checksum\n", path, (unsigned long long)pg);
				} else if (st->listed == LIST_MAX + 1)
					printf("%s: (more bad pages not listed)\n", path);
			}
		}
	}
	free(buf);
	return err;
}

struct db_check {
	struct hdr_copies hc;
	struct pgstats st;
	int is_image;
	int trailer_ok;
	struct bk_trailer t;
	int ok;
};

/* Checks a database or backup image already known to have a header. */
static void
check_database(const char *path, os_file *f, struct db_check *dc)
{
	uint32_t ps = dc->hc.ps, last;
	uint64_t file_pages = dc->hc.size / ps;
	char why[200];
	JET_ERR err;

	dc->ok = 1;
	dc->is_image = (dc->hc.h.flags & DBHDR_FLAG_BACKUP_COPY) != 0;
	for (int i = 0; i < 2; i++)
		if (!dc->hc.ok[i]) {
			printf("%s: header copy %d is %s\n", path, i, dc->hc.why[i]);
			dc->ok = 0;
		}
	if (dc->hc.ok[0] && dc->hc.ok[1] && !dc->hc.identical) {
		printf("%s: the two header copies differ\n", path);
		dc->ok = 0;
	}
	if (dc->is_image) {
		dc->trailer_ok = inspect_read_trailer(f, &dc->hc, &dc->t, why, sizeof(why)) == 0;
		if (!dc->trailer_ok) {
			printf("%s: backup trailer: %s\n", path, why);
			dc->ok = 0;
		}
		last = dc->hc.h.pgno_last;
		if ((uint64_t)last + 2 > file_pages)
			last = file_pages > 2 ? (uint32_t)(file_pages - 2) : 0;
	} else {
		last = file_pages > 2 ? (uint32_t)(file_pages - 2) : 0;
		if (dc->hc.size % ps != 0) {
			printf("%s: the file size is not a multiple of the page size (%llu bytes past the last page)\n",
			    path, (unsigned long long)(dc->hc.size % ps));
			dc->ok = 0;
		}
		/* At a clean shutdown pgno_last is the highest page in use, and a file never shrinks. */
		if (dc->hc.h.dbstate == JET_dbstateCleanShutdown && last < dc->hc.h.pgno_last) {
			printf("%s: the file ends at page %u but its Clean Shutdown header has pages in use up to %u: "
			    "truncated\n", path, last, dc->hc.h.pgno_last);
			dc->ok = 0;
		}
	}
	if (last > 0 && (err = verify_pages(f, path, ps, 1, last, &dc->st)) < 0) {
		printf("%s: read error: %s\n", path, util_jet_problem(err, why, sizeof(why)));
		dc->ok = 0;
	}
	if (dc->st.bad > 0 || dc->st.wrong > 0)
		dc->ok = 0;
	printf("%s: %s, %u-byte pages: %llu pages checked, %llu bad checksums, %llu uninitialized, "
	    "%llu wrong page numbers%s\n", path, dc->is_image ? "backup image" : "database", ps,
	    (unsigned long long)dc->st.checked, (unsigned long long)dc->st.bad, (unsigned long long)dc->st.uninit,
	    (unsigned long long)dc->st.wrong, dc->is_image ? (dc->trailer_ok ? ", trailer OK" : ", trailer BAD") : "");
}

int
cmd_verify_file(const char *path)
{
	os_file *f;
	enum ftype ft;
	JET_ERR err;
	char msg[200];

	if ((err = os_open(path, OS_READ, &f)) < 0) {
		printf("%s: cannot open: %s\n", path, util_open_problem(err));
		return 1;
	}
	ft = inspect_sniff(f);
	if (ft == FT_LOG) {
		os_close(f);
		return cmd_log_check_file(path, 0);
	}
	if (ft == FT_CHK) {
		struct checkpoint_state ck;
		os_close(f);
		if ((err = checkpoint_read(path, &ck)) < 0) {
			printf("%s: checkpoint file: %s\n", path, err == JET_errCheckpointCorrupt ?
			    "damaged (bad checksum or fields)" : util_jet_problem(err, msg, sizeof(msg)));
			return 1;
		}
		checkpoint_state_free(&ck);
		printf("%s: checkpoint file: checksum OK\n", path);
		return 0;
	}
	{
		struct db_check dc;
		memset(&dc, 0, sizeof(dc));
		if ((err = inspect_read_hdr_copies(f, &dc.hc)) < 0) {
			os_close(f);
			printf("%s: read error: %s\n", path, util_jet_problem(err, msg, sizeof(msg)));
			return 1;
		}
		if (!dc.hc.have) {
			os_close(f);
			if (ft == FT_DB || ft == FT_DB_DAMAGED)
				printf("%s: a database whose two header copies are both unusable (copy 0: %s; copy 1: %s)\n",
				    path, dc.hc.why[0], dc.hc.why[1]);
			else if (ft == FT_ZERO)
				printf("%s: all zero: not a libjet file (an unused, preallocated file such as %stmp.log?)\n",
				    path, BASE_NAME);
			else
				printf("%s: not a libjet database, backup image, log or checkpoint file\n", path);
			return 1;
		}
		check_database(path, f, &dc);
		os_close(f);
		return !dc.ok;
	}
}

int
cmd_verify_run(int argc, char **argv)
{
	int bad = 0;

	if (argc - optind < 1)
		util_usage_error("verify: at least one file expected");
	for (int i = optind; i < argc; i++)
		bad |= cmd_verify_file(argv[i]);
	return bad;
}
