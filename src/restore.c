/*
 * restore.c -- hard recovery: rebuilding an instance from backup sets.
 *
 * A backup set is a directory of streamed database images (backup.c) and
 * closed log generations; a delta set holds page deltas (<db>.delta,
 * delta.c, doc/delta-format.md) in place of the images, and comes right
 * after the full set it was taken against: FULL DELTA [INCREMENTAL...].
 * Restore:
 *  0. with a delta set, matches each delta to the full's image of its
 *     database and checks that the image is the delta's base (delta_check_base,
 *     apply's own checks: JET_errDatabasePatchFileMismatch, whose message names
 *     the full the delta needs and the one given), refusing a delta set
 *     first or alone (JET_errMissingFullBackup), two delta sets or one after
 *     an incremental (JET_errInvalidBackupSequence), a delta with no image
 *     and an image with no delta -- all before anything is written; then
 *     applies each delta to a staged copy of its image, in a directory of
 *     the target (never the full set's own file: an apply that fails
 *     half-way leaves its image unusable), and the staged images stand for
 *     the full's from step 1 on: the logs replayed start at the delta's
 *     gen_low, from the delta set and the sets after it, and must be of the
 *     delta's log set;
 *  1. checks each image: a database header stamped by a backup
 *     (JET_errRestoreOfNonBackupDatabase otherwise), both header copies sound
 *     and identical (JET_errDatabaseCorrupted), a sound trailer
 *     (JET_errMissingPatchPage, JET_errBadPatchPage) that agrees with the
 *     header (JET_errDatabasePatchFileMismatch), the size the trailer says,
 *     and the checksum of every page (JET_errReadVerifyFailure,
 *     JET_errReadPgnoVerifyFailure), as ESE's restore does;
 *  2. gathers the log generations of every set in order (a full set, then
 *     incremental or differential ones), optionally followed by the
 *     generations of a live log directory and its <base>.log, and checks them:
 *     one signature, the databases' (JET_errGivenLogFileHasBadSignature); no
 *     gap (JET_errMissingLogFile); each naming its predecessor
 *     (JET_errGivenLogFileIsNotContiguous); each intact (JET_errLogFileCorrupt);
 *     covering what every image needs (JET_errStartingRestoreLogTooHigh,
 *     JET_errEndingRestoreLogTooLow), and the stop generation if one is given
 *     (JET_errMissingLogFile, unless the log directory that replay goes on
 *     into holds the next generation);
 * Steps 0 to 2 are the one checker of backup sets (restore_chain_*):
 * `jetutil verify-backup` runs it too, in a mode that reports every problem
 * instead of stopping at the first, so the two never disagree.  Checking the
 * pages here, before anything is written, rather than while copying costs a
 * second read of each image.  Measured on 180 MB of images: the check takes
 * about 80 ms (2.3 GB/s; the second read, from the page cache, some 40 ms of
 * it), where the restore of that set with little log to replay takes 0.3 to
 * 0.5 s; for that a failure leaves nothing to remove.
 *  3. writes the databases where they go (header first, marked dirty and no
 *     longer a backup copy; the trailer dropped), copies the logs, writes a
 *     checkpoint at the first generation the images need;
 *     For a restore to a moment (JetfsRestoreSetsStopAt), the transaction
 *     records of the chain are then read for the first one committed after
 *     it (rst_find_stop): a moment before the images' consistent point or
 *     after the last commit is refused here, and the generation of that
 *     record becomes the stop generation;
 *  4. runs recovery on a private instance in restore mode: log records of
 *     databases that are not being restored are skipped, and records of those
 *     that are apply to their new location; replay stops after the stop
 *     generation if one is given, or before the record of the first commit
 *     after the moment, where the restored log is cut (log_cut_at_stop);
 *  5. shuts down cleanly.  The databases then open with JetInit like any.
 * Nothing is written until every check has passed, but for the staged
 * images of step 0 (which steps 1 and 2 check); a failed restore removes
 * what it wrote in the target, staged images included, and a successful one
 * removes the staged images.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evtarget.h"
#include "jet_int.h"

struct restore {
	struct restore_chain c;
	JET_PFNSTATUS pfn;
	char **written;			/* files created in the target (removed on failure) */
	size_t nwritten;
	uint32_t stop_gen;		/* replay no further (0: all) */
	lsn_t stop_lsn;			/* and not the record there (restore to a moment; 0: none) */
};

struct restore_opts {
	const char *const *sets;
	size_t nsets;
	const char *sysdir, *logdir;	/* checkpoint and logs of the restored instance */
	const char *dbdir;		/* where databases go (NULL: their original paths) */
	const JET_RSTMAP *map;
	long nmap;
	const char *roll_forward;	/* a live log directory, or NULL */
	uint32_t stop_gen;
	JET_JETFSSTOPAT *stop_at;	/* restore to a moment, or NULL */
	const char *base;
	JET_PFNSTATUS pfn;
	int event_target;
	int overwrite_dbs;		/* ESE's in-place restores replace the databases */
};

static void
rst_progress(struct restore *r, JET_SNT snt, unsigned long done, unsigned long total)
{
	JET_SNPROG prog = { sizeof(prog), done, total };

	if (r->pfn != NULL)
		r->pfn(0, JET_snpRestore, snt, &prog);
}

static void
rst_free(struct restore *r)
{
	restore_chain_free(&r->c);
	for (size_t i = 0; i < r->nwritten; i++)
		free(r->written[i]);
	free(r->written);
}

/* ---- the one checker of backup sets (steps 1 and 2) ---- */

/* Bad pages named one by one to a reporting caller, before a summary. */
#define RST_BAD_PAGES_LISTED 10

/*
 * A problem: restore (no report callback) logs it as an event and stops with
 * err; verify-backup is told and goes on (JET_errSuccess), and the first
 * error is kept.
 */
static JET_ERR __attribute__((format(printf, 4, 5)))
rst_problem(struct restore_chain *c, JET_ERR err, int event_id, const char *fmt, ...)
{
	char msg[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->problems++ == 0)
		c->err = err;
	if (c->report == NULL) {
		event_log(NULL, EVENT_ERROR, event_id, "%s", msg);
		return err;
	}
	c->report(c->report_arg, 1, msg);
	return JET_errSuccess;
}

/* Something a reporting caller may show, that restore does not act on. */
static void __attribute__((format(printf, 2, 3)))
rst_note(struct restore_chain *c, const char *fmt, ...)
{
	char msg[1400];
	va_list ap;

	if (c->report == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->report(c->report_arg, 0, msg);
}

/* A staged image is the chain's own: it goes with the chain, on success as on failure. */
static JET_ERR
rst_unstage_image(struct restore_image *d)
{
	JET_ERR err;

	if (d->full == NULL)
		return JET_errSuccess;
	err = os_unlink(d->src);
	free(d->src);
	d->src = d->full;
	d->full = NULL;
	return err;
}

/*
 * Removes the staged images and their directory; the first error.  A
 * restore says what it could not remove (it cannot do more about it).
 */
static JET_ERR
rst_unstage(struct restore_chain *c)
{
	JET_ERR err = JET_errSuccess, e;

	for (size_t i = 0; i < c->nimgs; i++)
		if ((e = rst_unstage_image(&c->imgs[i])) < 0 && err >= 0)
			err = e;
	if (c->staging != NULL && (e = os_rmdir(c->staging)) < 0 && err >= 0)
		err = e;
	if (err >= 0) {
		free(c->staging);
		c->staging = NULL;
	}
	return err;
}

void
restore_chain_free(struct restore_chain *c)
{
	(void)rst_unstage(c);
	for (size_t i = 0; i < c->nimgs; i++) {
		free(c->imgs[i].src);
		free(c->imgs[i].dst);
	}
	for (size_t i = 0; i < c->ndeltas; i++)
		free(c->deltas[i].path);
	for (size_t i = 0; i < c->nlogs; i++)
		free(c->logs[i].path);
	free(c->logs);
	free(c->staging);
	c->staging = NULL;
	c->logs = NULL;
	c->nimgs = c->ndeltas = c->nlogs = c->logs_cap = 0;
}

/*
 * Both header copies of an image: a backup copies them as they are, so a
 * damaged or differing one is damage in the copy, not a choice to make.
 */
static JET_ERR
rst_check_header_copies(struct restore_chain *c, const char *path, os_file *f, uint32_t ps)
{
	uint8_t *buf = malloc(2 * (size_t)ps);
	struct db_header h;
	int good = 0;
	JET_ERR err;

	if (buf == NULL)
		return JET_errOutOfMemory;
	if ((err = os_pread(f, buf, 2 * (size_t)ps, 0)) < 0)
		err = rst_problem(c, err, 1022, "%s: the header pages cannot be read (%s)", path, JetErrorName(err));
	else
		for (int i = 0; i < 2 && err >= 0; i++)
			if (dbhdr_decode(buf + (size_t)i * ps, ps, &h) < 0)
				err = rst_problem(c, JET_errDatabaseCorrupted, 1018, "%s: header copy %d is damaged", path, i);
			else
				good++;
	if (err >= 0 && good == 2 && memcmp(buf, buf + ps, ps) != 0)
		err = rst_problem(c, JET_errDatabaseCorrupted, 1018, "%s: the two header copies differ", path);
	free(buf);
	return err;
}

/* Whether trailer t belongs to image header h (jetutil header and verify judge a trailer by it too). */
int
restore_trailer_matches(const struct db_header *h, const struct bk_trailer *t)
{
	return dbhdr_sig_equal(&t->sign_db, &h->sign_db) && dbhdr_sig_equal(&t->sign_log, &h->sign_log) &&
	    t->bk.lsn_mark == h->bk[BK_FULL_CUR].lsn_mark && t->pgno_last == h->pgno_last;
}

/* Checks a database image whose header d->hdr is read: a backup's, its copies, size and trailer (step 1). */
static JET_ERR
rst_check_image(struct restore_chain *c, const char *path, os_file *f, struct restore_image *d)
{
	uint64_t size, want;
	uint8_t *page = NULL;
	JET_ERR err;

	if (!(d->hdr.flags & DBHDR_FLAG_BACKUP_COPY) || d->hdr.bk[BK_FULL_CUR].gen_low == 0)
		return rst_problem(c, JET_errRestoreOfNonBackupDatabase, 615,
		    "%s is a database, not a backup image of one", path);
	ERR(rst_check_header_copies(c, path, f, d->hdr.page_size));
	ERR(os_size(f, &size));
	want = ((uint64_t)d->hdr.pgno_last + 3) * d->hdr.page_size;
	if (size != want) {
		err = rst_problem(c, size < want ? JET_errMissingPatchPage : JET_errBadBackupDatabaseSize, 534,
		    "%s: the image is not the size its header says (%llu bytes, not %llu: truncated?)", path,
		    (unsigned long long)size, (unsigned long long)want);
		goto err;
	}
	if ((page = malloc(d->hdr.page_size)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	ERR(os_pread(f, page, d->hdr.page_size, ((uint64_t)d->hdr.pgno_last + 2) * d->hdr.page_size));
	if ((err = backup_trailer_decode(page, d->hdr.page_size, &d->trailer)) < 0) {
		err = rst_problem(c, err, 535, "%s: the backup trailer page is damaged", path);
		goto err;
	}
	if (!restore_trailer_matches(&d->hdr, &d->trailer)) {
		err = rst_problem(c, JET_errDatabasePatchFileMismatch, 552, "%s: the trailer does not belong to this header",
		    path);
		goto err;
	}
	d->trailer_ok = 1;
err:
	free(page);
	return err;
}

/*
 * Verifies the checksum of every page of an image, as ESE's restore does:
 * a page that redo would rewrite completely is still a damaged copy.  The
 * format allows all-zero pages (never written); anything else must carry its
 * own page number and a good checksum.
 */
static JET_ERR
rst_check_pages(struct restore_chain *c, struct restore_image *d)
{
	enum { CHUNK = 64 };
	uint32_t ps = d->hdr.page_size, last = d->hdr.pgno_last;
	uint8_t *buf = malloc((size_t)ps * CHUNK);
	os_file *f = NULL;
	JET_ERR err;

	if (buf == NULL)
		return JET_errOutOfMemory;
	ERR(os_open(d->src, OS_READ, &f));
	for (uint32_t pg = 1; pg <= last;) {
		uint32_t n = last - pg + 1 < CHUNK ? last - pg + 1 : CHUNK;
		if ((err = os_pread(f, buf, (size_t)n * ps, page_offset(pg, ps))) < 0) {
			err = rst_problem(c, err, 1022, "%s: pages %u to %u cannot be read (%s)", d->src, pg, pg + n - 1,
			    JetErrorName(err));
			goto err;
		}
		for (uint32_t i = 0; i < n; i++, pg++) {
			const uint8_t *p = buf + (size_t)i * ps;
			JET_ERR v = page_verify(p, ps, pg);
			d->pages++;
			if (v == JET_errPageNotInitialized)
				d->uninit++;
			else if (v < 0 && d->bad++ < RST_BAD_PAGES_LISTED)
				ERR(rst_problem(c, v, 478, "%s: page %u: %s (%s)", d->src, pg,
				    v == JET_errReadPgnoVerifyFailure ? "it holds another page's image" : "bad checksum",
				    JetErrorName(v)));
		}
	}
	if (d->bad > RST_BAD_PAGES_LISTED)
		err = rst_problem(c, JET_errReadVerifyFailure, 478, "%s: %llu bad pages in all", d->src,
		    (unsigned long long)d->bad);
err:
	os_close(f);
	free(buf);
	return err;
}

JET_ERR
restore_chain_add_log(struct restore_chain *c, uint32_t gen, const char *path, int current)
{
	for (size_t i = 0; i < c->nlogs; i++)
		if (c->logs[i].gen == gen && !current && !c->logs[i].current) {
			/* A later set has the same generation: identical, keep the later. */
			char *p = strdup(path);
			if (p == NULL)
				return JET_errOutOfMemory;
			free(c->logs[i].path);
			c->logs[i].path = p;
			return JET_errSuccess;
		}
	if (c->nlogs == c->logs_cap) {
		size_t ncap = c->logs_cap ? c->logs_cap * 2 : 64;
		struct restore_log *n = realloc(c->logs, ncap * sizeof(*n));
		if (n == NULL)
			return JET_errOutOfMemory;
		c->logs = n;
		c->logs_cap = ncap;
	}
	c->logs[c->nlogs].gen = gen;
	c->logs[c->nlogs].current = current;
	if ((c->logs[c->nlogs].path = strdup(path)) == NULL)
		return JET_errOutOfMemory;
	c->nlogs++;
	return JET_errSuccess;
}

static int
rst_log_cmp(const void *a, const void *b)
{
	const struct restore_log *x = a, *y = b;

	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return x->current - y->current;
}

static int
rst_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Whether a file without a usable header ends with a backup trailer: an
 * image whose header pages were lost, which must not pass for a stranger
 * (restore would go on without that database).
 */
static int
rst_has_trailer(os_file *f)
{
	uint8_t *page = malloc(PAGE_SIZE_MAX);
	struct bk_trailer t;
	uint64_t size;
	int found = 0;

	if (page == NULL || os_size(f, &size) < 0)
		goto out;
	for (uint32_t ps = PAGE_SIZE_MIN; ps <= PAGE_SIZE_MAX && !found; ps *= 2)
		found = size >= 3ULL * ps && size % ps == 0 && os_pread(f, page, ps, size - ps) >= 0 &&
		    backup_trailer_decode(page, ps, &t) >= 0;
out:
	free(page);
	return found;
}

/*
 * A page delta (its JDLT magic: whatever its name, a delta is never taken
 * for a stranger and skipped), checked whole; which set it is in and what it
 * goes over is judged once every set is scanned (restore_chain_match_deltas).
 * A damaged one stays listed: verify-backup still matches it to its image.
 */
static JET_ERR
rst_scan_delta(struct restore_chain *c, const char *p)
{
	struct restore_delta *d;
	char msg[1000];
	JET_ERR err;

	if (c->ndeltas == JET_MAX_ATTACHED_DATABASES)
		return rst_problem(c, JET_errTooManyAttachedDatabases, 1022, "%s: more than %d page deltas", p,
		    JET_MAX_ATTACHED_DATABASES);
	d = &c->deltas[c->ndeltas];
	memset(d, 0, sizeof(*d));
	d->set = c->nsets > 0 ? c->nsets - 1 : 0;
	d->img = -1;
	if ((d->path = strdup(p)) == NULL)
		return JET_errOutOfMemory;
	c->ndeltas++;
	if ((err = delta_verify(p, &d->h, msg, sizeof(msg))) < 0)
		return rst_problem(c, err, 552, "%s", msg);
	d->ok = 1;
	return JET_errSuccess;
}

/* A file of a set that is not a log generation: an image, a delta, damage, or nothing of ours. */
static JET_ERR
rst_scan_file(struct restore_chain *c, const char *p, int take_images)
{
	uint8_t magic[8];
	size_t got = 0;
	struct log_file_header lh;
	struct db_header h;
	os_file *f;
	JET_ERR err;

	if ((err = os_open(p, OS_READ, &f)) < 0)
		return rst_problem(c, err, 1022, "backup file %s cannot be read: %s", p, JetErrorName(err));
	if ((err = os_pread_partial(f, magic, sizeof(magic), 0, &got)) < 0) {
		err = rst_problem(c, err, 1022, "backup file %s cannot be read: %s", p, JetErrorName(err));
		goto out;
	}
	/* Ignored, it could be the set's last generation, renamed: replay would silently stop short. */
	if (log_header_read(f, &lh) >= 0)
		err = rst_problem(c, JET_errLogGenerationMismatch, 501, "%s holds log generation %u under a name that "
		    "restore does not take (%s%05X.log)", p, lh.gen, c->base, lh.gen);
	else if (got == sizeof(magic) && get32(magic + FMT_OFF_MAGIC) == DELTA_MAGIC)
		err = rst_scan_delta(c, p);
	else if ((err = dbhdr_read(f, &h)) < 0) {
		/* A file that says it is a database but has no usable header is a damaged image, not a stranger. */
		err = os_is_io_error(err) || (got == sizeof(magic) && get32(magic + 4) == DB_MAGIC) || rst_has_trailer(f) ?
		    rst_problem(c, os_is_io_error(err) ? err : JET_errDatabaseCorrupted, 1022,
		    "%s: a database file whose header cannot be read (%s)", p, JetErrorName(err)) : JET_errSuccess;
	} else if (!take_images && c->nimgs == 0)
		/* Sets given out of order: the replay would start from nothing. */
		err = rst_problem(c, JET_errMissingFullBackup, 560, "%s is a database image, but the first set given has "
		    "none: the first set must be a full backup (give the sets in order: FULL INCREMENTAL...)", p);
	else if (!take_images)
		rst_note(c, "%s: ignored: images are taken from the first set only", p);
	else if (c->nimgs == JET_MAX_ATTACHED_DATABASES)
		err = rst_problem(c, JET_errTooManyAttachedDatabases, 1022, "%s: more than %d database images", p,
		    JET_MAX_ATTACHED_DATABASES);
	else {
		struct restore_image *d = &c->imgs[c->nimgs];
		memset(d, 0, sizeof(*d));
		d->hdr = h;
		d->delta = -1;
		if ((err = rst_check_image(c, p, f, d)) >= 0 &&
		    (d->hdr.flags & DBHDR_FLAG_BACKUP_COPY) && d->hdr.bk[BK_FULL_CUR].gen_low != 0) {
			/* A damaged image stays listed for verify-backup: its range and pages still matter. */
			if ((d->src = strdup(p)) == NULL)
				err = JET_errOutOfMemory;
			else
				c->nimgs++;
		}
	}
out:
	os_close(f);
	return err;
}

/* Scans a directory: images (first set only) and closed generations. */
JET_ERR
restore_chain_scan(struct restore_chain *c, const char *dir, int take_images)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	JET_ERR err = JET_errSuccess;

	c->nsets++;
	if (d == NULL)
		return rst_problem(c, JET_errInvalidPath, 1023, "backup directory %s cannot be read", dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*names));
			if (nn == NULL) {
				err = JET_errOutOfMemory;
				goto out;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			err = JET_errOutOfMemory;
			goto out;
		}
		n++;
	}
	/* In name order: what verify-backup prints is then stable. */
	if (n > 0)
		qsort(names, n, sizeof(*names), rst_name_cmp);
	for (size_t i = 0; i < n && err >= 0; i++) {
		char name[16];
		uint32_t gen;
		char *p = os_path_join(dir, names[i]);
		if (p == NULL) {
			err = JET_errOutOfMemory;
			break;
		}
		snprintf(name, sizeof(name), "%s.log", c->base);
		if (log_parse_name(c->base, names[i], &gen))
			err = restore_chain_add_log(c, gen, p, 0);
		else if (strcmp(names[i], name) == 0)
			rst_note(c, "%s: ignored: a current log file is not part of a backup set", p);
		else if (!os_is_dir(p))
			err = rst_scan_file(c, p, take_images);
		free(p);
	}
out:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

/*
 * The page deltas of the sets (step 0, before anything is written): a delta
 * set comes right after the full set it was taken against, one delta set at
 * most, and each delta goes over the full's image of its own database, the
 * one its base names (delta_check_base: apply's own checks, nothing
 * written).  A delta set holds a delta of every database (the engine's
 * backup lists one per database), so a full image without one is refused
 * too: restored from the full alone it would need generations that the
 * delta set does not hold.  alone_ok: a delta set given alone is checked as
 * such (verify-backup), not refused as a restore without its full.
 */
JET_ERR
restore_chain_match_deltas(struct restore_chain *c, int alone_ok)
{
	size_t dset = SIZE_MAX;		/* the delta set (SIZE_MAX: none yet) */
	char msg[1000];
	JET_ERR err;

	for (size_t i = 0; i < c->ndeltas; i++) {
		struct restore_delta *d = &c->deltas[i];
		if (dset == SIZE_MAX)
			dset = d->set;
		if (d->set == 0) {
			if (!alone_ok || c->nimgs > 0)
				RET(rst_problem(c, JET_errMissingFullBackup, 560, "%s is a page delta in the first set given: a "
				    "delta restores only over the full backup it was taken against, which must come first "
				    "(give the sets in order: FULL DELTA [INCREMENTAL...])", d->path));
			continue;
		}
		if (d->set != dset) {
			RET(rst_problem(c, JET_errInvalidBackupSequence, 560, "%s is in a second delta set (%s is in "
			    "another): a restore takes one delta set, right after its full (FULL DELTA [INCREMENTAL...])",
			    d->path, c->deltas[0].path));
			continue;
		}
		if (d->set != 1) {
			RET(rst_problem(c, JET_errInvalidBackupSequence, 560, "%s: a delta set must come right after the full "
			    "set it was taken against (FULL DELTA [INCREMENTAL...]); it is set %zu of those given", d->path,
			    d->set + 1));
			continue;
		}
		if (!d->ok)
			continue;	/* damaged: delta_verify's problem was reported at the scan */
		for (size_t j = 0; j < i; j++)
			if (c->deltas[j].ok && dbhdr_sig_equal(&c->deltas[j].h.sign_db, &d->h.sign_db))
				RET(rst_problem(c, JET_errDatabaseDuplicate, 1201, "%s and %s are deltas of the same database",
				    c->deltas[j].path, d->path));
		for (size_t k = 0; k < c->nimgs && d->img < 0; k++)
			if (dbhdr_sig_equal(&c->imgs[k].hdr.sign_db, &d->h.sign_db))
				d->img = (int)k;
		if (d->img < 0) {
			RET(rst_problem(c, JET_errDatabasePatchFileMismatch, 552, "%s is a delta of %s, but the full set "
			    "given first has no image of that database (another database's, or another instance's, delta)",
			    d->path, d->h.path));
			continue;
		}
		if ((err = delta_check_base(d->path, c->imgs[d->img].src, NULL, msg, sizeof(msg))) < 0) {
			d->img = -1;
			RET(rst_problem(c, err, 552, "%s", msg));
		}
	}
	for (size_t k = 0; dset != SIZE_MAX && dset != 0 && k < c->nimgs; k++) {
		int found = 0;
		for (size_t i = 0; i < c->ndeltas && !found; i++)
			found = c->deltas[i].set == dset && c->deltas[i].ok &&
			    dbhdr_sig_equal(&c->deltas[i].h.sign_db, &c->imgs[k].hdr.sign_db);
		if (!found)
			RET(rst_problem(c, JET_errFileNotFound, 1811, "%s: the delta set has no sound delta of this "
			    "database (its delta is damaged or missing): restored from the full alone, it would need log "
			    "generations from %u that the delta set does not hold", c->imgs[k].src,
			    c->imgs[k].hdr.bk[BK_FULL_CUR].gen_low));
	}
	return JET_errSuccess;
}

/* Copies from into a new file to, synced; *createdp: whether to was created (it is the caller's to remove). */
static JET_ERR
rst_copy_new(const char *from, const char *to, int *createdp)
{
	os_file *src = NULL, *dst = NULL;
	uint64_t size;
	JET_ERR err;

	*createdp = 0;
	ERR(os_open(from, OS_READ, &src));
	ERR(os_size(src, &size));
	ERR(os_open(to, OS_WRITE | OS_CREATE | OS_EXCL, &dst));
	*createdp = 1;
	ERR(os_copy_range(src, 0, dst, 0, size));
	err = os_fsync(dst);
err:
	os_close(src);
	os_close(dst);
	return err;
}

/* Applies delta i to a staged copy of its full image, which then stands for that image (its header re-read). */
static JET_ERR
rst_stage_one(struct restore_chain *c, size_t i)
{
	struct restore_delta *dl = &c->deltas[i];
	struct restore_image *d = &c->imgs[dl->img];
	const char *slash = strrchr(d->src, '/');
	char *staged = os_path_join(c->staging, slash != NULL ? slash + 1 : d->src), msg[1000];
	struct db_header h;
	os_file *f = NULL;
	int created;
	JET_ERR err;

	if (staged == NULL)
		return JET_errOutOfMemory;
	/* The staged copy is the chain's from here on: removed with it, whatever happens next. */
	d->full = d->src;
	d->src = staged;
	d->delta = (int)i;
	if ((err = rst_copy_new(d->full, d->src, &created)) < 0) {
		err = rst_problem(c, err, 1022, "%s cannot be copied to %s to apply %s (%s)", d->full, d->src, dl->path,
		    JetErrorName(err));
		goto fail;
	}
	if ((err = delta_apply(dl->path, d->src, msg, sizeof(msg))) < 0) {
		err = rst_problem(c, err, 552, "%s (applied to %s, a copy of %s, now removed)", msg, d->src, d->full);
		goto fail;
	}
	if ((err = os_open(d->src, OS_READ, &f)) < 0 || (err = dbhdr_read(f, &h)) < 0) {
		err = rst_problem(c, err, 1022, "%s: the image %s made of %s cannot be read back (%s)", dl->path, d->src,
		    d->full, JetErrorName(err));
		goto fail;
	}
	/* Step 1 from the start on the applied image: what restore takes is what was checked. */
	d->hdr = h;
	d->trailer_ok = 0;
	d->pages = d->uninit = d->bad = 0;
	memset(&d->trailer, 0, sizeof(d->trailer));
	err = rst_check_image(c, d->src, f, d);
	os_close(f);
	return err;
fail:
	os_close(f);
	/* Reporting: the full's own image stays listed, so the rest of the chain is still checked. */
	(void)rst_unstage_image(d);
	d->delta = -1;
	return err;
}

/*
 * Step 0, continued: each matched delta applied to a staged copy of its
 * full image, in a new directory under parent (restore: the target, so
 * that the copy costs no space elsewhere and goes with the restore), never
 * to the full set's own file: an apply that fails half-way leaves its image
 * unusable (D3 in delta.c).  The staged images then stand for the full's in
 * steps 1 to 3; restore_chain_free removes them and the directory.
 */
JET_ERR
restore_chain_stage_deltas(struct restore_chain *c, const char *parent)
{
	char *dir;
	size_t len;

	for (size_t i = 0; i < c->nimgs; i++)
		c->imgs[i].delta = -1;
	for (size_t i = 0; i < c->ndeltas; i++) {
		if (c->deltas[i].img < 0)
			continue;
		if (c->staging == NULL) {
			len = strlen(parent) + sizeof("/.jetfs-delta-XXXXXX");
			if ((dir = malloc(len)) == NULL)
				return JET_errOutOfMemory;
			snprintf(dir, len, "%s/.jetfs-delta-XXXXXX", parent);
			if (mkdtemp(dir) == NULL) {
				JET_ERR err = rst_problem(c, JET_errDiskIO, 1022, "cannot create a directory to stage the "
				    "images that deltas go over in %s: %s", parent, strerror(errno));
				free(dir);
				return err;
			}
			c->staging = dir;
		}
		RET(rst_stage_one(c, i));
	}
	return JET_errSuccess;
}

/* Generations after the stop (0: none) are not replayed: drops them. */
static void
rst_drop_logs_after(struct restore_chain *c, uint32_t stop_gen)
{
	while (stop_gen != 0 && c->nlogs > 0 && c->logs[c->nlogs - 1].gen > stop_gen) {
		free(c->logs[c->nlogs - 1].path);
		c->nlogs--;
	}
	if (c->nlogs > 0 && c->high > c->logs[c->nlogs - 1].gen)
		c->high = c->logs[c->nlogs - 1].gen;
}

/*
 * A delta set given alone (verify-backup): its deltas say which generations
 * the set must hold and of which log set, as a full's images do.
 */
static JET_ERR
rst_need_of_deltas(struct restore_chain *c, const struct jet_sig **signp)
{
	for (size_t i = 0; i < c->ndeltas; i++) {
		const struct restore_delta *d = &c->deltas[i];
		if (!d->ok)
			continue;
		if (*signp == NULL)
			*signp = &d->h.sign_log;
		else if (!dbhdr_sig_equal(&d->h.sign_log, *signp))
			RET(rst_problem(c, JET_errDatabasesNotFromSameSnapshot, 555, "%s and %s belong to different log sets",
			    d->path, c->deltas[0].path));
		if (d->h.mark.gen_low < c->need_low)
			c->need_low = d->h.mark.gen_low;
		if (d->h.mark.gen_high > c->need_high)
			c->need_high = d->h.mark.gen_high;
	}
	return JET_errSuccess;
}

/* Step 1 for the images kept, then step 2: the log chain. */
JET_ERR
restore_chain_check(struct restore_chain *c, uint32_t stop_gen)
{
	const struct jet_sig *sign = c->nimgs > 0 ? &c->imgs[0].hdr.sign_log : NULL;
	struct jet_sig first_log;	/* an incremental set alone: the first log's set is the set */
	uint64_t prev_time = 0;
	int have_prev = 0;
	/* Images, or deltas alone: what the logs must cover is known (else an incremental set alone). */
	int deltas_alone = c->nimgs == 0 && c->ndeltas > 0;
	int needs = c->nimgs > 0 || deltas_alone;
	const char *whose = c->nimgs > 0 ? "databases" : deltas_alone ? "deltas" : "first log";

	c->need_low = needs ? UINT32_MAX : 0;
	c->need_high = 0;
	if (deltas_alone) {
		RET(rst_need_of_deltas(c, &sign));
		if (sign == NULL)	/* every delta damaged: reported at the scan */
			return c->problems > 0 ? c->err : JET_errBadPatchPage;
	}
	for (size_t i = 0; i < c->nimgs; i++) {
		struct restore_image *d = &c->imgs[i];
		if (!dbhdr_sig_equal(&d->hdr.sign_log, sign))
			RET(rst_problem(c, JET_errDatabasesNotFromSameSnapshot, 555, "%s and %s belong to different log sets",
			    d->src, c->imgs[0].src));
		/* Two images of one database: restore would keep one of them, whichever came last. */
		for (size_t j = 0; j < i; j++)
			if (dbhdr_sig_equal(&d->hdr.sign_db, &c->imgs[j].hdr.sign_db))
				RET(rst_problem(c, JET_errDatabaseDuplicate, 1201, "%s and %s are images of the same database",
				    c->imgs[j].src, d->src));
		if (d->hdr.bk[BK_FULL_CUR].gen_low < c->need_low)
			c->need_low = d->hdr.bk[BK_FULL_CUR].gen_low;
		if (d->trailer_ok && d->trailer.bk.gen_high > c->need_high)
			c->need_high = d->trailer.bk.gen_high;
		if (d->trailer_ok)
			RET(rst_check_pages(c, d));
	}
	if (c->nlogs > 0)
		qsort(c->logs, c->nlogs, sizeof(*c->logs), rst_log_cmp);
	/* A stop before the images are consistent cannot be reached: say what they need against what was given. */
	if (stop_gen != 0 && needs && stop_gen < (c->need_high != 0 ? c->need_high : c->need_low)) {
		char given[64] = "no log generation";
		if (c->nlogs > 0)
			snprintf(given, sizeof(given), "generations %u to %u", c->logs[0].gen, c->logs[c->nlogs - 1].gen);
		/* Not RET: the checks after it would only repeat this one as missing generations. */
		rst_problem(c, JET_errEndingRestoreLogTooLow, 553, "stop generation %u (0x%X) is before the end of the "
		    "full backup: its images need generations %u to %u (0x%X to 0x%X) at least; the sets give %s",
		    stop_gen, stop_gen, c->need_low, c->need_high, c->need_low, c->need_high, given);
		return c->err;
	}
	rst_drop_logs_after(c, stop_gen);
	if (!needs && c->nlogs == 0)
		return rst_problem(c, JET_errFileNotFound, 1811, "no database image and no log generation found");
	/* Start at the oldest generation any image needs. */
	while (needs && c->nlogs > 0 && c->logs[0].gen < c->need_low) {
		rst_note(c, "%s: not needed (before generation %u)", c->logs[0].path, c->need_low);
		free(c->logs[0].path);
		memmove(c->logs, c->logs + 1, (c->nlogs - 1) * sizeof(*c->logs));
		c->nlogs--;
	}
	/* After the drop: a delta's image needs none of the full's logs, so they may all have gone. */
	if (needs && (c->nlogs == 0 || c->logs[0].gen > c->need_low))
		RET(rst_problem(c, JET_errStartingRestoreLogTooHigh, 554,
		    "log generation %u is missing: the %s need generations %u to %u", c->need_low,
		    c->nimgs > 0 ? "images" : "deltas", c->need_low, c->need_high));
	for (size_t i = 0; i < c->nlogs; i++) {
		struct restore_log *l = &c->logs[i];
		struct log_file_header h;
		JET_ERR err;
		if (i > 0 && l->gen != c->logs[i - 1].gen + 1) {
			have_prev = 0;
			if (l->gen - 1 == c->logs[i - 1].gen + 1)
				RET(rst_problem(c, JET_errMissingLogFile, 528, "log generation %u is missing from the backup sets",
				    c->logs[i - 1].gen + 1));
			else
				RET(rst_problem(c, JET_errMissingLogFile, 528,
				    "log generations %u to %u are missing from the backup sets", c->logs[i - 1].gen + 1,
				    l->gen - 1));
		}
		if (l->current) {
			os_file *f;
			if ((err = os_open(l->path, OS_READ, &f)) == JET_errFileNotFound)
				continue;	/* a live roll renamed it: copied when caught up */
			if (err < 0)
				return err;
			err = log_header_read(f, &h);
			os_close(f);
			if (err >= 0 && !dbhdr_sig_equal(&h.sign_log, sign))
				err = JET_errBadLogSignature;
			if (err >= 0 && h.gen != l->gen)
				continue;	/* rolled since the scan: caught up after the copy */
		} else
			err = log_verify_path(l->path, l->gen, sign, &h);
		if (err == JET_errLogGenerationMismatch) {
			have_prev = 0;
			RET(rst_problem(c, err, 501, "%s is not generation %u: its header says generation %u (a renamed copy, "
			    "or another instance's log)", l->path, l->gen, h.gen));
			continue;
		}
		if (err == JET_errBadLogSignature) {
			have_prev = 0;
			RET(rst_problem(c, JET_errGivenLogFileHasBadSignature, 555,
			    "%s belongs to another log set than the %s", l->path, whose));
			continue;
		}
		if (err < 0) {
			have_prev = 0;
			RET(rst_problem(c, err, 501, "%s is damaged (%s)", l->path, JetErrorName(err)));
			continue;
		}
		if (sign == NULL) {
			first_log = h.sign_log;
			sign = &first_log;
		}
		if (have_prev && h.time_prev != prev_time)
			RET(rst_problem(c, JET_errGivenLogFileIsNotContiguous, 556,
			    "%s does not follow generation %u (its previous-generation time is not that generation's "
			    "creation time)", l->path, l->gen - 1));
		prev_time = h.time_create;
		have_prev = 1;
	}
	if (c->nlogs > 0 && c->logs[c->nlogs - 1].gen < c->need_high)
		RET(rst_problem(c, JET_errEndingRestoreLogTooLow, 553,
		    "the logs end at generation %u but the %s need generations up to %u", c->logs[c->nlogs - 1].gen,
		    c->nimgs > 0 ? "images" : "deltas", c->need_high));
	c->low = c->nlogs > 0 ? c->logs[0].gen : 0;
	c->high = c->nlogs > 0 ? c->logs[c->nlogs - 1].gen : 0;
	return c->problems > 0 ? c->err : JET_errSuccess;
}

/* Adds the live generations after the backup's last, and <base>.log. */
static JET_ERR
rst_scan_live(struct restore *r, const char *dir, uint32_t after)
{
	char name[16];
	char *cur;
	JET_ERR err;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return JET_errInvalidLogDirectory;
	err = JET_errSuccess;
	while ((de = readdir(d)) != NULL && err >= 0) {
		uint32_t gen;
		if (log_parse_name(r->c.base, de->d_name, &gen) && gen > after) {
			char *p = os_path_join(dir, de->d_name);
			err = p == NULL ? JET_errOutOfMemory : restore_chain_add_log(&r->c, gen, p, 0);
			free(p);
		}
	}
	closedir(d);
	snprintf(name, sizeof(name), "%s.log", r->c.base);
	if (err >= 0 && (cur = os_path_join(dir, name)) != NULL) {
		os_file *f;
		struct log_file_header h;
		if (os_open(cur, OS_READ, &f) >= 0) {
			if (log_header_read(f, &h) >= 0 && h.gen > after)
				err = restore_chain_add_log(&r->c, h.gen, cur, 1);
			os_close(f);
		}
		free(cur);
	}
	return err;
}

/* A moment in an event: the time, and the @epoch form that --stop-at accepts, to the microsecond. */
static const char *
rst_fmt_moment(uint64_t us, char *buf, size_t len)
{
	char t[40];

	dbhdr_time_format(us, t, sizeof(t));
	snprintf(buf, len, "%s (@%llu.%06llu)", t, (unsigned long long)(us / 1000000u),
	    (unsigned long long)(us % 1000000u));
	return buf;
}

/* What the chain's transaction records say about restoring it to a moment. */
struct rst_moments {
	uint64_t consistent, last, replayed;
	uint32_t stop_gen;
	lsn_t stop_lsn;			/* the first transaction after the moment (0: none) */
	uint32_t untimed_gen;		/* a transaction of log format 1 where the moment falls (0: none) */
};

/*
 * Reads the transaction records of the checked chain (r->c, consecutive
 * generations from r->c.low) for restore to moment t: see
 * JetfsRestoreSetsStopAt in jet.h.  Commit times never decrease in log order
 * (log.c), so the first transaction after t ends what is replayed.
 */
static JET_ERR
rst_scan_moments(const struct restore *r, uint64_t t, struct rst_moments *m)
{
	const char **paths = calloc(r->c.nlogs, sizeof(*paths));
	struct log_reader lr;
	struct log_commit c;
	uint32_t untimed = 0;		/* generation of the last transaction without a time since one with */
	int rc, open = 0;
	JET_ERR err = JET_errSuccess;

	memset(m, 0, sizeof(*m));
	if (paths == NULL)
		return JET_errOutOfMemory;
	for (size_t i = 0; i < r->c.nlogs; i++)
		paths[i] = r->c.logs[i].path;
	ERR(log_reader_open_files(&lr, NULL, r->c.base, paths, r->c.low, r->c.nlogs, &r->c.imgs[0].hdr.sign_log));
	open = 1;
	m->consistent = lr.hdr.time_create;
	while ((rc = log_reader_next_commit(&lr, &c, &err)) == 1) {
		if (!c.timed) {
			untimed = c.gen;
			continue;
		}
		if (c.gen <= r->c.need_high && c.time > m->consistent)
			m->consistent = c.time;
		if (m->stop_lsn == 0 && c.time > t) {
			m->stop_lsn = c.lsn;
			m->stop_gen = c.gen;
			m->untimed_gen = untimed;
		}
		if (m->stop_lsn == 0)
			m->replayed = c.time;
		m->last = c.time;
		untimed = 0;
	}
	if (rc < 0)
		goto err;
	if (m->stop_lsn == 0)
		m->untimed_gen = untimed;
	if (m->last < m->consistent)
		m->last = m->consistent;
err:
	if (open)
		log_reader_close(&lr);
	free(paths);
	return err;
}

/*
 * Restore to a moment: where replay stops (r->stop_gen, r->stop_lsn), found
 * before anything is written, or the refusal of a moment the chain cannot
 * restore (its event names the moments it can).
 */
static JET_ERR
rst_find_stop(struct restore *r, JET_JETFSSTOPAT *sa)
{
	struct rst_moments m;
	char a[80], b[80];

	RET(rst_scan_moments(r, sa->usStopAt, &m));
	sa->usConsistent = m.consistent;
	sa->usLastCommit = m.last;
	if (m.untimed_gen != 0) {
		event_log(NULL, EVENT_ERROR, 514, "cannot restore to %s: transactions in log generation %u (log format %u, "
		    "written before commit times) have no time; restore to a generation instead",
		    rst_fmt_moment(sa->usStopAt, a, sizeof(a)), m.untimed_gen, LOG_VERSION_UNTIMED);
		return JET_errBadLogVersion;
	}
	if (sa->usStopAt < m.consistent) {
		event_log(NULL, EVENT_ERROR, 553, "cannot restore to %s: it is %.6f s before the earliest moment the "
		    "backup can be restored to, %s (the databases' consistent point)", rst_fmt_moment(sa->usStopAt, a,
		    sizeof(a)), (double)(m.consistent - sa->usStopAt) / 1e6, rst_fmt_moment(m.consistent, b, sizeof(b)));
		return JET_errEndingRestoreLogTooLow;
	}
	if (sa->usStopAt > m.last) {
		event_log(NULL, EVENT_ERROR, 557, "cannot restore to %s: it is %.6f s after the last commit in the logs "
		    "given, %s; what was committed after that is not in them", rst_fmt_moment(sa->usStopAt, a, sizeof(a)),
		    (double)(sa->usStopAt - m.last) / 1e6, rst_fmt_moment(m.last, b, sizeof(b)));
		return JET_errMissingRestoreLogFiles;
	}
	sa->usLastReplayed = m.replayed;
	sa->genStop = m.stop_lsn != 0 ? m.stop_gen : r->c.high;
	r->stop_gen = sa->genStop;
	r->stop_lsn = m.stop_lsn;
	rst_drop_logs_after(&r->c, r->stop_gen);
	return JET_errSuccess;
}

static JET_ERR
rst_note_written(struct restore *r, const char *path)
{
	char **n = realloc(r->written, (r->nwritten + 1) * sizeof(*n));

	if (n == NULL)
		return JET_errOutOfMemory;
	r->written = n;
	if ((n[r->nwritten] = strdup(path)) == NULL)
		return JET_errOutOfMemory;
	r->nwritten++;
	return JET_errSuccess;
}

static JET_ERR
rst_copy_file(struct restore *r, const char *from, const char *to)
{
	int created;
	JET_ERR err = rst_copy_new(from, to, &created), noted;

	if (created && (noted = rst_note_written(r, to)) < 0 && err >= 0)
		err = noted;
	return err;
}

/*
 * A staged image (a delta applied to a copy of its full's) is the target's
 * own file already: renamed into place and cut at its trailer, it needs no
 * second copy.  0: done (dst open); 1: not staged, or another file system
 * (the caller copies).  The image and a database share their layout up to
 * the trailer: header copies in pages 0 and 1, database page p at p + 1.
 */
static JET_ERR
rst_move_staged(struct restore *r, struct restore_image *d, os_file **dstp)
{
	char *dir;
	JET_ERR err;

	if (d->full == NULL)
		return 1;
	if (os_exists(d->dst))
		RET(os_unlink(d->dst));
	if (os_rename(d->src, d->dst) < 0)
		return 1;
	/* Not the staging's any more: a failed restore removes it as it removes what it wrote. */
	free(d->src);
	d->src = d->full;
	d->full = NULL;
	RET(rst_note_written(r, d->dst));
	if ((dir = os_path_dir(d->dst)) == NULL)
		return JET_errOutOfMemory;
	err = os_fsync_dir(dir);
	free(dir);
	RET(err);
	RET(os_open(d->dst, OS_WRITE, dstp));
	return os_truncate(*dstp, ((uint64_t)d->hdr.pgno_last + 2) * d->hdr.page_size);
}

/* Writes a database image to its destination as a database needing redo. */
static JET_ERR
rst_place_db(struct restore *r, struct restore_image *d, uint32_t high)
{
	uint32_t ps = d->hdr.page_size;
	struct db_header h = d->hdr;
	os_file *src = NULL, *dst = NULL;
	JET_ERR err;

	if ((err = rst_move_staged(r, d, &dst)) < 0)
		goto err;
	if (err == 1) {
		ERR(os_open(d->src, OS_READ, &src));
		if (os_exists(d->dst))
			ERR(os_unlink(d->dst));
		ERR(os_open(d->dst, OS_WRITE | OS_CREATE | OS_EXCL, &dst));
		ERR(rst_note_written(r, d->dst));
		ERR(os_copy_range(src, 2ULL * ps, dst, 2ULL * ps, (uint64_t)d->hdr.pgno_last * ps));
	}
	ERR(os_fsync(dst));
	h.flags &= ~DBHDR_FLAG_BACKUP_COPY;
	h.dbstate = JET_dbstateDirtyShutdown;
	h.bk[BK_FULL_CUR].gen_high = high;
	if (h.gen_max_required < d->trailer.bk.gen_high)
		h.gen_max_required = h.gen_max_committed = d->trailer.bk.gen_high;
	ERR(dbhdr_write(dst, &h));
err:
	os_close(src);
	os_close(dst);
	return err;
}

/* The generation in a log file's header, or 0 if it cannot be read. */
static uint32_t
rst_file_gen(const char *path)
{
	struct log_file_header h;
	os_file *f;
	uint32_t gen = 0;

	if (os_open(path, OS_READ, &f) >= 0) {
		if (log_header_read(f, &h) >= 0)
			gen = h.gen;
		os_close(f);
	}
	return gen;
}

/*
 * A stop generation past the last one given: replay reaches it only through
 * generations already in the log directory (JetExternalRestore replays on
 * into szLogPath); without the next one there, the restore would end at an
 * earlier point than asked for, silently.
 */
static JET_ERR
rst_check_stop(const struct restore *r, const struct restore_opts *o)
{
	char name[16], *p;
	int have;

	if (o->stop_gen == 0 || r->c.high >= o->stop_gen)
		return JET_errSuccess;
	if ((p = log_name_path(o->logdir, r->c.base, r->c.high + 1)) == NULL)
		return JET_errOutOfMemory;
	have = os_exists(p);
	free(p);
	snprintf(name, sizeof(name), "%s.log", r->c.base);
	if (!have) {
		if ((p = os_path_join(o->logdir, name)) == NULL)
			return JET_errOutOfMemory;
		have = rst_file_gen(p) == r->c.high + 1;
		free(p);
	}
	if (have)
		return JET_errSuccess;
	event_log(NULL, EVENT_ERROR, 528, "replay up to generation %u was asked for, but the logs end at generation %u",
	    o->stop_gen, r->c.high);
	return JET_errMissingLogFile;
}

/*
 * A live instance may roll its log while we copy (<base>.log becomes a
 * closed generation and a new <base>.log appears).  Until the copied current
 * log directly follows the last copied generation, copy the generations the
 * roll closed and the current log again.
 */
static JET_ERR
rst_catch_up_live(struct restore *r, const struct restore_opts *o)
{
	char name[16], *src, *dst;
	uint32_t last = 0;
	JET_ERR err = JET_errSuccess;

	for (size_t i = 0; i < r->c.nlogs; i++)
		if (!r->c.logs[i].current && r->c.logs[i].gen > last)
			last = r->c.logs[i].gen;
	snprintf(name, sizeof(name), "%s.log", r->c.base);
	src = os_path_join(o->roll_forward, name);
	dst = os_path_join(o->logdir, name);
	if (src == NULL || dst == NULL) {
		err = JET_errOutOfMemory;
		goto out;
	}
	for (int attempt = 0, absent = 0; attempt < 200; attempt++) {
		uint32_t cur;
		/* Copy the closed generations that are now on disk. */
		for (;;) {
			char *from = log_name_path(o->roll_forward, r->c.base, last + 1);
			char *to = log_name_path(o->logdir, r->c.base, last + 1);
			int have = from != NULL && os_exists(from);
			err = from == NULL || to == NULL ? JET_errOutOfMemory : have ? rst_copy_file(r, from, to) : 0;
			free(from);
			free(to);
			if (err < 0)
				goto out;
			if (!have)
				break;
			last++;
		}
		if ((cur = rst_file_gen(dst)) == last + 1)
			goto out;
		/* <base>.log is briefly absent in the middle of a roll; a stopped instance may have none. */
		if (!os_exists(src)) {
			if (++absent >= 20 && cur == 0)
				goto out;
			usleep(10000);
			continue;
		}
		if (os_exists(dst) && (err = os_unlink(dst)) < 0)
			goto out;
		err = rst_copy_file(r, src, dst);
		if (err < 0 && err != JET_errFileNotFound)
			goto out;
		err = JET_errSuccess;
	}
	event_log(NULL, EVENT_ERROR, 528, "the live log in %s keeps rolling: cannot copy a consistent end", o->roll_forward);
	err = JET_errMissingLogFile;
out:
	free(src);
	free(dst);
	return err;
}

/*
 * A restore to a moment that stops in the live current log (roll-forward):
 * that generation as copied, <base>.log if the copy is still it, else (the
 * live log rolled since the scan) the closed file the roll made of it.  Not
 * rst_catch_up_live: the generations after the stop must not be copied.
 */
static JET_ERR
rst_copy_stop_gen(struct restore *r, const struct restore_opts *o)
{
	char name[16], *cur, *from = NULL, *to = NULL;
	JET_ERR err = JET_errSuccess;

	snprintf(name, sizeof(name), "%s.log", r->c.base);
	if ((cur = os_path_join(o->logdir, name)) == NULL)
		return JET_errOutOfMemory;
	if (rst_file_gen(cur) == r->stop_gen)
		goto err;
	if (os_exists(cur))
		ERR(os_unlink(cur));
	from = log_name_path(o->roll_forward, r->c.base, r->stop_gen);
	to = log_name_path(o->logdir, r->c.base, r->stop_gen);
	err = from == NULL || to == NULL ? JET_errOutOfMemory : rst_copy_file(r, from, to);
err:
	free(cur);
	free(from);
	free(to);
	return err;
}

/* The first record boundary at or after the start of generation gen. */
static JET_ERR
rst_start_lsn(struct restore *r, size_t from, lsn_t *lsnp)
{
	for (size_t i = from; i < r->c.nlogs; i++) {
		struct log_file_header h;
		os_file *f;
		JET_ERR err;
		RET(os_open(r->c.logs[i].path, OS_READ, &f));
		err = log_header_read(f, &h);
		os_close(f);
		if (err < 0)
			return err;
		if (h.first_record_lsn != 0) {
			*lsnp = h.first_record_lsn;
			return JET_errSuccess;
		}
	}
	return JET_errLogFileCorrupt;
}

/* The most cache a restore takes, whatever the size of the databases. */
#define RST_CACHE_MAX (1ULL << 30)
#define RST_CACHE_MIN_PAGES 1024

/*
 * Redo visits pages in log order, all over the databases: a cache that holds
 * them reads each page once and writes it once, at the end, where a small
 * one evicts and reads again at every turn (216 MB of log into two 5 MB
 * databases: 64 s with the default 8 MiB cache).  So the private instance
 * gets the databases' size and a quarter for growth, at most RST_CACHE_MAX
 * and an eighth of the machine's memory.
 */
static unsigned long
rst_cache_pages(const struct restore *r, unsigned long page_size)
{
	uint64_t pages = RST_CACHE_MIN_PAGES, cap = RST_CACHE_MAX / page_size, mem = os_physical_memory() / 8 / page_size;

	for (size_t i = 0; i < r->c.nimgs; i++)
		pages += r->c.imgs[i].hdr.pgno_last + r->c.imgs[i].hdr.pgno_last / 4;
	if (mem != 0 && mem < cap)
		cap = mem;
	if (pages > cap)
		pages = cap;
	return (unsigned long)(pages < RST_CACHE_MIN_PAGES ? RST_CACHE_MIN_PAGES : pages);
}

/* Hard recovery on a private instance over the target. */
static JET_ERR
rst_recover(struct restore *r, const char *sysdir, const char *logdir, int event_target, unsigned long page_size)
{
	struct restore_map map;
	JET_INSTANCE inst = 0;
	struct jet_inst *in;
	JET_ERR err;

	memset(&map, 0, sizeof(map));
	for (size_t i = 0; i < r->c.nimgs; i++) {
		map.db[i].sign_db = r->c.imgs[i].hdr.sign_db;
		map.db[i].dbid = r->c.imgs[i].hdr.dbid;
		map.db[i].path = r->c.imgs[i].dst;
	}
	map.n = r->c.nimgs;
	RET(JetCreateInstance(&inst, NULL));
	if ((err = JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, sysdir)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, logdir)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, r->c.base)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramDatabasePageSize, page_size, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramCacheSizeMax, rst_cache_pages(r, page_size), NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget, (JET_API_PTR)event_target, NULL)) < 0) {
		JetTerm(inst);
		return err;
	}
	in = handle_get(HANDLE_INSTANCE, inst);
	in->restore = &map;
	in->restore_stop_gen = r->stop_gen;
	in->restore_stop_lsn = r->stop_lsn;
	err = JetInit(&inst);
	in->restore = NULL;
	if (err < 0) {
		JetTerm(inst);
		return err;
	}
	/* After a hard recovery the previous backups no longer chain (as ESE). */
	olock_lock(&in->inst_lock);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		struct jet_db *db = in->dbs[i];
		if (db == NULL)
			continue;
		for (int k = 0; k < BK_NSLOTS; k++)
			if (k != BK_FULL_CUR)
				memset(&db->hdr.bk[k], 0, sizeof(db->hdr.bk[k]));
	}
	olock_unlock(&in->inst_lock);
	return JetTerm(inst);
}


static JET_ERR
rst_destination(struct restore *r, const struct restore_opts *o, struct restore_image *d)
{
	const char *slash = strrchr(d->trailer.path, '/');
	const char *name = slash ? slash + 1 : d->trailer.path;

	for (long i = 0; i < o->nmap; i++) {
		const char *from = o->map[i].szDatabaseName;
		const char *fslash = from ? strrchr(from, '/') : NULL;
		/*
		 * Canonical, as the engine would have made it: the restored
		 * instance logs the database under this name and must find it
		 * again whatever name the application attaches it by.
		 */
		if (from != NULL && (strcmp(from, d->trailer.path) == 0 || strcmp(fslash ? fslash + 1 : from, name) == 0))
			return dbfile_realpath(o->map[i].szNewDatabaseName, 0, &d->dst);
	}
	if (o->nmap > 0)
		return JET_errSuccess;	/* not in the map: not restored (as ESE) */
	(void)r;
	if (o->dbdir == NULL)
		d->dst = strdup(d->trailer.path);
	else
		d->dst = os_path_join(o->dbdir, name);
	return d->dst != NULL ? JET_errSuccess : JET_errOutOfMemory;
}

/* The restored log file of an entry (in the target log directory). */
static char *
rst_log_dest(const struct restore *r, const struct restore_opts *o, const struct restore_log *l)
{
	char name[16];

	if (!l->current)
		return log_name_path(o->logdir, r->c.base, l->gen);
	snprintf(name, sizeof(name), "%s.log", r->c.base);
	return os_path_join(o->logdir, name);
}

/*
 * Refuses, before anything is written, two databases restored to one path,
 * and a target that already holds a checkpoint, one of the logs, or (unless
 * the API restores in place, as JetRestoreInstance does) one of the
 * databases.
 */
static JET_ERR
rst_preflight(const struct restore *r, const struct restore_opts *o)
{
	struct jet_inst tmp;
	char *p;
	int exists;

	/* Restored into one directory, two databases of one file name would be one file. */
	for (size_t i = 0; i < r->c.nimgs; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->c.imgs[i].dst, r->c.imgs[j].dst) == 0) {
				event_log(NULL, EVENT_ERROR, 1201, "%s and %s would both be restored to %s",
				    r->c.imgs[j].src, r->c.imgs[i].src, r->c.imgs[i].dst);
				return JET_errDatabaseDuplicate;
			}
	memset(&tmp, 0, sizeof(tmp));
	snprintf(tmp.p.system_path, sizeof(tmp.p.system_path), "%s", o->sysdir);
	snprintf(tmp.p.base_name, sizeof(tmp.p.base_name), "%s", r->c.base);
	if ((p = checkpoint_path(&tmp)) == NULL)
		return JET_errOutOfMemory;
	if ((exists = os_exists(p)))
		event_log(NULL, EVENT_ERROR, 1814, "%s already exists in the restore target", p);
	free(p);
	for (size_t i = 0; i < r->c.nlogs && !exists; i++) {
		if ((p = rst_log_dest(r, o, &r->c.logs[i])) == NULL)
			return JET_errOutOfMemory;
		if ((exists = os_exists(p)))
			event_log(NULL, EVENT_ERROR, 1814, "%s already exists in the restore target", p);
		free(p);
	}
	for (size_t i = 0; i < r->c.nimgs && !exists && !o->overwrite_dbs; i++)
		if ((exists = os_exists(r->c.imgs[i].dst)))
			event_log(NULL, EVENT_ERROR, 1814, "%s already exists in the restore target", r->c.imgs[i].dst);
	return exists ? JET_errFileAlreadyExists : JET_errSuccess;
}

static JET_ERR
restore_run(const struct restore_opts *o)
{
	struct restore r;
	struct checkpoint_state ck;
	size_t kept = 0;
	JET_ERR err;

	memset(&r, 0, sizeof(r));
	memset(&ck, 0, sizeof(ck));
	snprintf(r.c.base, sizeof(r.c.base), "%s", o->base);
	r.pfn = o->pfn;
	rst_progress(&r, JET_sntBegin, 0, 100);
	if (o->nsets == 0) {
		err = JET_errInvalidParameter;
		goto err;
	}
	for (size_t i = 0; i < o->nsets; i++)
		ERR(restore_chain_scan(&r.c, o->sets[i], i == 0));
	ERR(restore_chain_match_deltas(&r.c, 0));
	if (r.c.nimgs == 0) {
		event_log(NULL, EVENT_ERROR, 1811, "no database backup image in %s", o->sets[0]);
		err = JET_errFileNotFound;
		goto err;
	}
	/* Step 0: the first write, in a directory of the target that goes with the restore, success or not. */
	ERR(restore_chain_stage_deltas(&r.c, o->dbdir != NULL ? o->dbdir : o->sysdir));
	for (size_t i = 0; i < r.c.nimgs; i++) {
		ERR(rst_destination(&r, o, &r.c.imgs[i]));
		if (r.c.imgs[i].dst == NULL) {
			(void)rst_unstage_image(&r.c.imgs[i]);
			free(r.c.imgs[i].src);
			continue;
		}
		r.c.imgs[kept++] = r.c.imgs[i];
	}
	r.c.nimgs = kept;
	if (r.c.nimgs == 0) {
		err = JET_errDatabaseNotFound;
		goto err;
	}
	if (o->roll_forward != NULL) {
		uint32_t last = 0;
		for (size_t i = 0; i < r.c.nlogs; i++)
			if (r.c.logs[i].gen > last)
				last = r.c.logs[i].gen;
		ERR(rst_scan_live(&r, o->roll_forward, last));
	}
	ERR(restore_chain_check(&r.c, o->stop_gen));
	r.stop_gen = o->stop_gen;
	if (o->stop_at != NULL)
		ERR(rst_find_stop(&r, o->stop_at));
	ERR(rst_check_stop(&r, o));
	ERR(rst_preflight(&r, o));
	rst_progress(&r, JET_sntProgress, 10, 100);

	/* Step 3: nothing was written before this point. */
	for (size_t i = 0; i < r.c.nlogs; i++) {
		char *to = rst_log_dest(&r, o, &r.c.logs[i]);
		if (to == NULL) {
			err = JET_errOutOfMemory;
			goto err;
		}
		err = rst_copy_file(&r, r.c.logs[i].path, to);
		free(to);
		if (err == JET_errFileNotFound && r.c.logs[i].current)
			err = JET_errSuccess;	/* renamed by a roll meanwhile: caught up below */
		if (err < 0)
			goto err;
	}
	if (o->roll_forward != NULL && r.c.nlogs > 0 && r.c.logs[r.c.nlogs - 1].current)
		ERR(r.stop_lsn != 0 ? rst_copy_stop_gen(&r, o) : rst_catch_up_live(&r, o));
	for (size_t i = 0; i < r.c.nimgs; i++)
		ERR(rst_place_db(&r, &r.c.imgs[i], r.c.high));
	rst_progress(&r, JET_sntProgress, 50, 100);
	ERR(rst_start_lsn(&r, 0, &ck.lsn));
	ck.gen = r.c.low;
	ck.sign_log = r.c.imgs[0].hdr.sign_log;
	for (size_t i = 0; i < r.c.nimgs; i++) {
		ck.attach[i].dbid = r.c.imgs[i].hdr.dbid;
		ck.attach[i].sign_db = r.c.imgs[i].hdr.sign_db;
		ck.attach[i].path = r.c.imgs[i].dst;
	}
	ck.nattach = r.c.nimgs;
	{
		/* checkpoint_write wants an instance for its paths. */
		struct jet_inst tmp;
		char *chk;
		memset(&tmp, 0, sizeof(tmp));
		snprintf(tmp.p.system_path, sizeof(tmp.p.system_path), "%s", o->sysdir);
		snprintf(tmp.p.base_name, sizeof(tmp.p.base_name), "%s", r.c.base);
		if ((chk = checkpoint_path(&tmp)) == NULL) {
			err = JET_errOutOfMemory;
			goto err;
		}
		err = rst_note_written(&r, chk);
		free(chk);
		if (err < 0)
			goto err;
		ERR(checkpoint_write(&tmp, &ck));
	}
	ERR(rst_recover(&r, o->sysdir, o->logdir, o->event_target, r.c.imgs[0].hdr.page_size));
	if (r.c.staging != NULL && (err = rst_unstage(&r.c)) < 0)
		event_log(NULL, EVENT_WARNING, 454, "the restore is complete, but its staged images in %s cannot be "
		    "removed (%s): remove that directory", r.c.staging, JetErrorName(err));
	rst_progress(&r, JET_sntComplete, 100, 100);
	if (o->stop_at != NULL) {
		char a[80], b[80];
		event_log(NULL, EVENT_INFO, 205, "restore complete: log generations %u to %u replayed up to %s, the last "
		    "commit at or before %s", r.c.low, r.c.high, rst_fmt_moment(o->stop_at->usLastReplayed, a, sizeof(a)),
		    rst_fmt_moment(o->stop_at->usStopAt, b, sizeof(b)));
	} else
		event_log(NULL, EVENT_INFO, 205, "restore complete: log generations %u to %u replayed", r.c.low, r.c.high);
	rst_free(&r);
	return JET_errSuccess;
err:
	for (size_t i = 0; i < r.nwritten; i++)
		os_unlink(r.written[i]);
	if (r.c.staging != NULL && rst_unstage(&r.c) < 0)
		event_log(NULL, EVENT_ERROR, 454, "the staged images of the failed restore in %s cannot be removed: "
		    "remove that directory", r.c.staging);
	rst_progress(&r, JET_sntFail, 0, 100);
	event_log(NULL, EVENT_ERROR, 454, "restore failed: %s (%s, %ld)", JetErrorString(err), JetErrorName(err), err);
	rst_free(&r);
	return err;
}

/* ---- the API ---- */

/* The instance's paths and settings, for the restore of an uninitialized one. */
static JET_ERR
rst_instance(JET_INSTANCE instance, struct jet_inst **instp)
{
	struct jet_inst *inst;

	if (instance == 0 || instance == JET_instanceNil) {
		JET_ERR err = instance_legacy(&instance);
		if (err < 0)
			return err == JET_errInvalidParameter ? JET_errSuccess : err;
	}
	if ((inst = handle_get(HANDLE_INSTANCE, instance)) == NULL)
		return JET_errInvalidInstance;
	if (inst->initialized)
		return JET_errAfterInitialization;
	*instp = inst;
	return JET_errSuccess;
}

JET_ERR JET_API
JetRestoreInstance(JET_INSTANCE instance, JET_PCSTR sz, JET_PCSTR szDest, JET_PFNSTATUS pfn)
{
	struct jet_inst *inst = NULL;
	struct restore_opts o;
	const char *sets[1];

	if (sz == NULL || *sz == '\0')
		return JET_errInvalidParameter;
	RET(rst_instance(instance, &inst));
	memset(&o, 0, sizeof(o));
	sets[0] = sz;
	o.sets = sets;
	o.nsets = 1;
	o.sysdir = inst != NULL ? inst->p.system_path : ".";
	o.logdir = szDest != NULL && *szDest ? szDest : inst != NULL ? inst->p.log_path : ".";
	o.base = inst != NULL ? inst->p.base_name : "edb";
	o.pfn = pfn;
	o.overwrite_dbs = 1;
	o.event_target = inst != NULL ? (int)inst->p.event_target : JET_JetfsEventSyslog;
	return restore_run(&o);
}

JET_ERR JET_API
JetRestore2(JET_PCSTR sz, JET_PCSTR szDest, JET_PFNSTATUS pfn)
{
	return JetRestoreInstance(0, sz, szDest, pfn);
}

JET_ERR JET_API
JetRestore(JET_PCSTR sz, JET_PFNSTATUS pfn)
{
	return JetRestoreInstance(0, sz, NULL, pfn);
}

JET_ERR JET_API
JetExternalRestore2(JET_PSTR szCheckpointFilePath, JET_PSTR szLogPath, JET_RSTMAP *rgrstmap, long crstfilemap,
    JET_PSTR szBackupLogPath, JET_LOGINFO *pLogInfo, JET_PSTR szTargetInstanceName, JET_PSTR szTargetInstanceLogPath,
    JET_PSTR szTargetInstanceCheckpointPath, JET_PFNSTATUS pfn)
{
	struct restore_opts o;
	const char *sets[1];

	if (szCheckpointFilePath == NULL || szLogPath == NULL || szBackupLogPath == NULL || crstfilemap < 0 ||
	    (crstfilemap > 0 && rgrstmap == NULL) || (pLogInfo != NULL && pLogInfo->cbSize < sizeof(*pLogInfo)))
		return JET_errInvalidParameter;
	if (szTargetInstanceName != NULL || szTargetInstanceLogPath != NULL || szTargetInstanceCheckpointPath != NULL)
		return JET_errBadRestoreTargetInstance;
	memset(&o, 0, sizeof(o));
	sets[0] = szBackupLogPath;
	o.sets = sets;
	o.nsets = 1;
	o.sysdir = szCheckpointFilePath;
	o.logdir = szLogPath;
	o.map = rgrstmap;
	o.nmap = crstfilemap;
	o.base = pLogInfo != NULL && pLogInfo->szBaseName[0] ? pLogInfo->szBaseName : "edb";
	o.stop_gen = pLogInfo != NULL ? (uint32_t)pLogInfo->ulGenHigh : 0;
	o.pfn = pfn;
	o.overwrite_dbs = 1;
	return restore_run(&o);
}

JET_ERR JET_API
JetExternalRestore(JET_PSTR szCheckpointFilePath, JET_PSTR szLogPath, JET_RSTMAP *rgrstmap, long crstfilemap,
    JET_PSTR szBackupLogPath, long genLow, long genHigh, JET_PFNSTATUS pfn)
{
	JET_LOGINFO li = { sizeof(li), (unsigned long)genLow, (unsigned long)genHigh, "edb" };

	if (genLow < 0 || genHigh < 0 || (genHigh != 0 && genHigh < genLow))
		return JET_errInvalidParameter;
	return JetExternalRestore2(szCheckpointFilePath, szLogPath, rgrstmap, crstfilemap, szBackupLogPath,
	    genHigh != 0 ? &li : NULL, NULL, NULL, NULL, pfn);
}

/* JetfsRestoreSets and JetfsRestoreSetsStopAt: a stop generation or a moment (or neither). */
static JET_ERR
rst_sets(const char *const *rgszBackupDirs, unsigned long cDirs, JET_PCSTR szTargetDir,
    JET_PCSTR szRollForwardLogDir, unsigned long genStop, JET_JETFSSTOPAT *stop_at, JET_PFNSTATUS pfn)
{
	struct restore_opts o;
	char *target = NULL;
	JET_ERR err;

	if (rgszBackupDirs == NULL || cDirs == 0 || szTargetDir == NULL || *szTargetDir == '\0')
		return JET_errInvalidParameter;
	for (unsigned long i = 0; i < cDirs; i++)
		if (rgszBackupDirs[i] == NULL || !os_is_dir(rgszBackupDirs[i]))
			return JET_errInvalidPath;
	/* Databases are found by their canonical path afterwards. */
	RET(os_path_normalize(szTargetDir, &target));
	if (!os_is_dir(target) && (err = os_mkdir_p(target)) < 0)
		goto err;
	memset(&o, 0, sizeof(o));
	o.sets = rgszBackupDirs;
	o.nsets = cDirs;
	o.sysdir = o.logdir = o.dbdir = target;
	o.roll_forward = szRollForwardLogDir != NULL && *szRollForwardLogDir ? szRollForwardLogDir : NULL;
	o.stop_gen = (uint32_t)genStop;
	o.stop_at = stop_at;
	o.base = "edb";
	o.pfn = pfn;
	if ((o.event_target = evtarget_from_env(JET_JetfsEventSyslog)) < 0)
		o.event_target = JET_JetfsEventSyslog;
	err = restore_run(&o);
err:
	free(target);
	return err;
}

JET_ERR JET_API
JetfsRestoreSets(const char *const *rgszBackupDirs, unsigned long cDirs, JET_PCSTR szTargetDir,
    JET_PCSTR szRollForwardLogDir, unsigned long genStop, JET_PFNSTATUS pfn)
{
	return rst_sets(rgszBackupDirs, cDirs, szTargetDir, szRollForwardLogDir, genStop, NULL, pfn);
}

JET_ERR JET_API
JetfsRestoreSetsStopAt(const char *const *rgszBackupDirs, unsigned long cDirs, JET_PCSTR szTargetDir,
    JET_PCSTR szRollForwardLogDir, JET_JETFSSTOPAT *pstopat, JET_PFNSTATUS pfn)
{
	if (pstopat == NULL || pstopat->cbStruct < sizeof(*pstopat) || pstopat->usStopAt == 0)
		return JET_errInvalidParameter;
	pstopat->usConsistent = pstopat->usLastCommit = pstopat->usLastReplayed = 0;
	pstopat->genStop = 0;
	return rst_sets(rgszBackupDirs, cDirs, szTargetDir, szRollForwardLogDir, 0, pstopat, pfn);
}
