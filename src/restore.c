/*
 * restore.c -- hard recovery: rebuilding an instance from backup sets.
 *
 * A backup set is a directory of streamed database images (backup.c) and
 * closed log generations.  Restore:
 *  1. checks each image: a database header stamped by a backup
 *     (JET_errRestoreOfNonBackupDatabase otherwise), a sound trailer
 *     (JET_errMissingPatchPage, JET_errBadPatchPage) that agrees with the
 *     header (JET_errDatabasePatchFileMismatch), the size the trailer says;
 *  2. gathers the log generations of every set in order (a full set, then
 *     incremental or differential ones), optionally followed by the
 *     generations of a live log directory and its <base>.log, and checks them:
 *     one signature, the databases' (JET_errGivenLogFileHasBadSignature); no
 *     gap (JET_errMissingLogFile); each naming its predecessor
 *     (JET_errGivenLogFileIsNotContiguous); each intact (JET_errLogFileCorrupt);
 *     covering what every image needs (JET_errStartingRestoreLogTooHigh,
 *     JET_errEndingRestoreLogTooLow);
 *  3. writes the databases where they go (header first, marked dirty and no
 *     longer a backup copy; the trailer dropped), copies the logs, writes a
 *     checkpoint at the first generation the images need;
 *  4. runs recovery on a private instance in restore mode: log records of
 *     databases that are not being restored are skipped, and records of those
 *     that are apply to their new location; replay stops after the stop
 *     generation if one is given;
 *  5. shuts down cleanly.  The databases then open with JetInit like any.
 * Nothing is written until every check has passed; a failed restore removes
 * what it wrote in the target.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jet_int.h"

struct rst_db {
	char *src;			/* the image */
	char *dst;			/* where it is restored */
	struct db_header hdr;
	struct bk_trailer trailer;
};

struct rst_log {
	uint32_t gen;
	char *path;
	int current;			/* a live <base>.log (roll-forward) */
};

struct restore {
	char base[4];
	struct rst_db dbs[JET_MAX_ATTACHED_DATABASES];
	size_t ndbs;
	struct rst_log *logs;
	size_t nlogs, logs_cap;
	JET_PFNSTATUS pfn;
	char **written;			/* files created in the target (removed on failure) */
	size_t nwritten;
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
	const char *base;
	JET_PFNSTATUS pfn;
	int event_target;
	int overwrite_dbs;		/* ESE's in-place restores replace the databases */
};

const char *
restore_map_path(const struct restore_map *map, const struct jet_sig *sign_db)
{
	for (size_t i = 0; i < map->n; i++)
		if (sig_equal(&map->db[i].sign_db, sign_db))
			return map->db[i].path;
	return NULL;
}

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
	for (size_t i = 0; i < r->ndbs; i++) {
		free(r->dbs[i].src);
		free(r->dbs[i].dst);
	}
	for (size_t i = 0; i < r->nlogs; i++)
		free(r->logs[i].path);
	free(r->logs);
	for (size_t i = 0; i < r->nwritten; i++)
		free(r->written[i]);
	free(r->written);
}

/* Reads and checks a database image (step 1). */
static JET_ERR
rst_check_image(const char *path, struct rst_db *d)
{
	os_file *f;
	uint64_t size;
	uint8_t *page = NULL;
	JET_ERR err;

	RET(os_open(path, OS_READ, &f));
	if ((err = dbhdr_read(f, &d->hdr)) < 0)
		goto err;
	if (!(d->hdr.flags & DBHDR_FLAG_BACKUP_COPY) || d->hdr.bk[BK_FULL_CUR].gen_low == 0) {
		event_log(NULL, EVENT_ERROR, 615, "%s is a database, not a backup image of one", path);
		err = JET_errRestoreOfNonBackupDatabase;
		goto err;
	}
	ERR(os_size(f, &size));
	if (size != ((uint64_t)d->hdr.pgno_last + 3) * d->hdr.page_size) {
		event_log(NULL, EVENT_ERROR, 534, "%s: the image is not the size its header says (truncated?)", path);
		err = size < ((uint64_t)d->hdr.pgno_last + 3) * d->hdr.page_size ? JET_errMissingPatchPage :
		    JET_errBadBackupDatabaseSize;
		goto err;
	}
	if ((page = malloc(d->hdr.page_size)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	ERR(os_pread(f, page, d->hdr.page_size, ((uint64_t)d->hdr.pgno_last + 2) * d->hdr.page_size));
	if ((err = bk_trailer_decode(page, d->hdr.page_size, &d->trailer)) < 0) {
		event_log(NULL, EVENT_ERROR, 535, "%s: the backup trailer page is damaged", path);
		goto err;
	}
	if (!sig_equal(&d->trailer.sign_db, &d->hdr.sign_db) || !sig_equal(&d->trailer.sign_log, &d->hdr.sign_log) ||
	    d->trailer.bk.lsn_mark != d->hdr.bk[BK_FULL_CUR].lsn_mark || d->trailer.pgno_last != d->hdr.pgno_last) {
		event_log(NULL, EVENT_ERROR, 552, "%s: the trailer does not belong to this header", path);
		err = JET_errDatabasePatchFileMismatch;
		goto err;
	}
	if ((d->src = strdup(path)) == NULL)
		err = JET_errOutOfMemory;
err:
	free(page);
	os_close(f);
	return err;
}

static JET_ERR
rst_add_log(struct restore *r, uint32_t gen, const char *path, int current)
{
	for (size_t i = 0; i < r->nlogs; i++)
		if (r->logs[i].gen == gen && !current && !r->logs[i].current) {
			/* A later set has the same generation: identical, keep the later. */
			char *p = strdup(path);
			if (p == NULL)
				return JET_errOutOfMemory;
			free(r->logs[i].path);
			r->logs[i].path = p;
			return JET_errSuccess;
		}
	if (r->nlogs == r->logs_cap) {
		size_t ncap = r->logs_cap ? r->logs_cap * 2 : 64;
		struct rst_log *n = realloc(r->logs, ncap * sizeof(*n));
		if (n == NULL)
			return JET_errOutOfMemory;
		r->logs = n;
		r->logs_cap = ncap;
	}
	r->logs[r->nlogs].gen = gen;
	r->logs[r->nlogs].current = current;
	if ((r->logs[r->nlogs].path = strdup(path)) == NULL)
		return JET_errOutOfMemory;
	r->nlogs++;
	return JET_errSuccess;
}

static int
rst_log_cmp(const void *a, const void *b)
{
	const struct rst_log *x = a, *y = b;

	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return x->current - y->current;
}

/* Scans a directory: images (first set only) and closed generations. */
static JET_ERR
rst_scan_dir(struct restore *r, const char *dir, int take_images)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	JET_ERR err = JET_errSuccess;

	if (d == NULL) {
		event_log(NULL, EVENT_ERROR, 1023, "backup directory %s cannot be read", dir);
		return JET_errInvalidPath;
	}
	while ((de = readdir(d)) != NULL && err >= 0) {
		uint32_t gen;
		char *p;
		if (de->d_name[0] == '.')
			continue;
		if ((p = os_path_join(dir, de->d_name)) == NULL) {
			err = JET_errOutOfMemory;
			break;
		}
		if (log_parse_name(r->base, de->d_name, &gen))
			err = rst_add_log(r, gen, p, 0);
		else if (take_images && !os_is_dir(p)) {
			struct rst_db tmp;
			os_file *f;
			struct db_header h;
			memset(&tmp, 0, sizeof(tmp));
			/*
			 * Anything with a database header is a candidate; others are
			 * ignored.  A file that cannot be read is neither: ignoring it
			 * would restore the set without that database and call it done.
			 */
			JET_ERR herr = os_open(p, OS_READ, &f);
			if (herr >= 0) {
				herr = dbhdr_read(f, &h);
				os_close(f);
			}
			if (herr >= 0) {
				if (r->ndbs == JET_MAX_ATTACHED_DATABASES)
					err = JET_errTooManyAttachedDatabases;
				else if ((err = rst_check_image(p, &tmp)) >= 0)
					r->dbs[r->ndbs++] = tmp;
			} else if (os_is_io_error(herr)) {
				event_log(NULL, EVENT_ERROR, 1022, "backup file %s cannot be read: %s", p,
				    JetErrorName(herr));
				err = herr;
			}
		}
		free(p);
	}
	closedir(d);
	return err;
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
		if (log_parse_name(r->base, de->d_name, &gen) && gen > after) {
			char *p = os_path_join(dir, de->d_name);
			err = p == NULL ? JET_errOutOfMemory : rst_add_log(r, gen, p, 0);
			free(p);
		}
	}
	closedir(d);
	snprintf(name, sizeof(name), "%s.log", r->base);
	if (err >= 0 && (cur = os_path_join(dir, name)) != NULL) {
		os_file *f;
		struct log_file_header h;
		if (os_open(cur, OS_READ, &f) >= 0) {
			if (log_header_read(f, &h) >= 0 && h.gen > after)
				err = rst_add_log(r, h.gen, cur, 1);
			os_close(f);
		}
		free(cur);
	}
	return err;
}

/* Step 2: one signature, no gaps, a chain, intact, covering the images. */
static JET_ERR
rst_check_logs(struct restore *r, uint32_t stop_gen, uint32_t *lowp, uint32_t *highp)
{
	const struct jet_sig *sign = &r->dbs[0].hdr.sign_log;
	uint32_t need_low = UINT32_MAX, need_high = 0;
	uint64_t prev_time = 0;
	char msg[64];

	qsort(r->logs, r->nlogs, sizeof(*r->logs), rst_log_cmp);
	for (size_t i = 0; i < r->ndbs; i++) {
		if (!sig_equal(&r->dbs[i].hdr.sign_log, sign)) {
			event_log(NULL, EVENT_ERROR, 555, "%s and %s belong to different log sets", r->dbs[i].src, r->dbs[0].src);
			return JET_errDatabasesNotFromSameSnapshot;
		}
		if (r->dbs[i].hdr.bk[BK_FULL_CUR].gen_low < need_low)
			need_low = r->dbs[i].hdr.bk[BK_FULL_CUR].gen_low;
		if (r->dbs[i].trailer.bk.gen_high > need_high)
			need_high = r->dbs[i].trailer.bk.gen_high;
	}
	/* Generations after the stop are not replayed: drop them. */
	while (stop_gen != 0 && r->nlogs > 0 && r->logs[r->nlogs - 1].gen > stop_gen) {
		free(r->logs[r->nlogs - 1].path);
		r->nlogs--;
	}
	if (r->nlogs == 0 || r->logs[0].gen > need_low) {
		snprintf(msg, sizeof(msg), "%u", need_low);
		event_log(NULL, EVENT_ERROR, 554, "the backup needs log generation %s but the oldest given is later", msg);
		return JET_errStartingRestoreLogTooHigh;
	}
	/* Start at the oldest generation any image needs. */
	while (r->nlogs > 0 && r->logs[0].gen < need_low) {
		free(r->logs[0].path);
		memmove(r->logs, r->logs + 1, (r->nlogs - 1) * sizeof(*r->logs));
		r->nlogs--;
	}
	for (size_t i = 0; i < r->nlogs; i++) {
		struct log_file_header h;
		JET_ERR err;
		if (i > 0 && r->logs[i].gen != r->logs[i - 1].gen + 1) {
			snprintf(msg, sizeof(msg), "%u", r->logs[i - 1].gen + 1);
			event_log(NULL, EVENT_ERROR, 528, "log generation %s is missing from the backup sets", msg);
			return JET_errMissingLogFile;
		}
		if (r->logs[i].current) {
			os_file *f;
			if ((err = os_open(r->logs[i].path, OS_READ, &f)) == JET_errFileNotFound)
				continue;	/* a live roll renamed it: copied when caught up */
			if (err < 0)
				return err;
			err = log_header_read(f, &h);
			os_close(f);
			if (err >= 0 && !sig_equal(&h.sign_log, sign))
				err = JET_errBadLogSignature;
			if (err >= 0 && h.gen != r->logs[i].gen)
				continue;	/* rolled since the scan: caught up after the copy */
		} else
			err = log_verify_path(r->logs[i].path, r->logs[i].gen, sign, &h);
		if (err == JET_errBadLogSignature) {
			event_log(NULL, EVENT_ERROR, 555, "%s belongs to another log set than the databases", r->logs[i].path);
			return JET_errGivenLogFileHasBadSignature;
		}
		if (err < 0) {
			event_log(NULL, EVENT_ERROR, 501, "%s is damaged (%s)", r->logs[i].path, JetErrorName(err));
			return err;
		}
		if (i > 0 && h.time_prev != prev_time) {
			event_log(NULL, EVENT_ERROR, 556, "%s does not follow the generation before it", r->logs[i].path);
			return JET_errGivenLogFileIsNotContiguous;
		}
		prev_time = h.time_create;
	}
	if (r->logs[r->nlogs - 1].gen < need_high) {
		snprintf(msg, sizeof(msg), "%u", need_high);
		event_log(NULL, EVENT_ERROR, 553, "the backup needs log generations up to %s; the sets end earlier", msg);
		return JET_errEndingRestoreLogTooLow;
	}
	*lowp = r->logs[0].gen;
	*highp = r->logs[r->nlogs - 1].gen;
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

/* Copies len bytes from src at soff to dst at doff, in 1 MiB pieces. */
static JET_ERR
rst_copy_range(os_file *src, uint64_t soff, os_file *dst, uint64_t doff, uint64_t len)
{
	size_t chunk = 1 << 20;
	uint8_t *buf = malloc(chunk);
	JET_ERR err = JET_errSuccess;

	if (buf == NULL)
		return JET_errOutOfMemory;
	while (len > 0 && err >= 0) {
		size_t n = len < chunk ? (size_t)len : chunk;
		if ((err = os_pread(src, buf, n, soff)) >= 0)
			err = os_pwrite(dst, buf, n, doff);
		soff += n;
		doff += n;
		len -= n;
	}
	free(buf);
	return err;
}

static JET_ERR
rst_copy_file(struct restore *r, const char *from, const char *to)
{
	os_file *src = NULL, *dst = NULL;
	uint64_t size;
	JET_ERR err;

	ERR(os_open(from, OS_READ, &src));
	ERR(os_size(src, &size));
	ERR(os_open(to, OS_WRITE | OS_CREATE | OS_EXCL, &dst));
	ERR(rst_note_written(r, to));
	ERR(rst_copy_range(src, 0, dst, 0, size));
	err = os_fsync(dst);
err:
	os_close(src);
	os_close(dst);
	return err;
}

/* Writes a database image to its destination as a database needing redo. */
static JET_ERR
rst_place_db(struct restore *r, struct rst_db *d, uint32_t high)
{
	uint32_t ps = d->hdr.page_size;
	struct db_header h = d->hdr;
	os_file *src = NULL, *dst = NULL;
	JET_ERR err;

	ERR(os_open(d->src, OS_READ, &src));
	if (os_exists(d->dst))
		ERR(os_unlink(d->dst));
	ERR(os_open(d->dst, OS_WRITE | OS_CREATE | OS_EXCL, &dst));
	ERR(rst_note_written(r, d->dst));
	ERR(rst_copy_range(src, 2ULL * ps, dst, 2ULL * ps, (uint64_t)d->hdr.pgno_last * ps));
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

	for (size_t i = 0; i < r->nlogs; i++)
		if (!r->logs[i].current && r->logs[i].gen > last)
			last = r->logs[i].gen;
	snprintf(name, sizeof(name), "%s.log", r->base);
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
			char *from = log_name_path(o->roll_forward, r->base, last + 1);
			char *to = log_name_path(o->logdir, r->base, last + 1);
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

/* The first record boundary at or after the start of generation gen. */
static JET_ERR
rst_start_lsn(struct restore *r, size_t from, lsn_t *lsnp)
{
	for (size_t i = from; i < r->nlogs; i++) {
		struct log_file_header h;
		os_file *f;
		JET_ERR err;
		RET(os_open(r->logs[i].path, OS_READ, &f));
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

	for (size_t i = 0; i < r->ndbs; i++)
		pages += r->dbs[i].hdr.pgno_last + r->dbs[i].hdr.pgno_last / 4;
	if (mem != 0 && mem < cap)
		cap = mem;
	if (pages > cap)
		pages = cap;
	return (unsigned long)(pages < RST_CACHE_MIN_PAGES ? RST_CACHE_MIN_PAGES : pages);
}

/* Hard recovery on a private instance over the target. */
static JET_ERR
rst_recover(struct restore *r, const char *sysdir, const char *logdir, uint32_t stop_gen, int event_target,
    unsigned long page_size)
{
	struct restore_map map;
	JET_INSTANCE inst = 0;
	struct jet_inst *in;
	JET_ERR err;

	memset(&map, 0, sizeof(map));
	for (size_t i = 0; i < r->ndbs; i++) {
		map.db[i].sign_db = r->dbs[i].hdr.sign_db;
		map.db[i].dbid = r->dbs[i].hdr.dbid;
		map.db[i].path = r->dbs[i].dst;
	}
	map.n = r->ndbs;
	RET(JetCreateInstance(&inst, NULL));
	if ((err = JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, sysdir)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, logdir)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, r->base)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramDatabasePageSize, page_size, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramCacheSizeMax, rst_cache_pages(r, page_size), NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget, (JET_API_PTR)event_target, NULL)) < 0) {
		JetTerm(inst);
		return err;
	}
	in = handle_get(HANDLE_INSTANCE, inst);
	in->restore = &map;
	in->restore_stop_gen = stop_gen;
	err = JetInit(&inst);
	in->restore = NULL;
	if (err < 0) {
		JetTerm(inst);
		return err;
	}
	/* After a hard recovery the previous backups no longer chain (as ESE). */
	pthread_mutex_lock(&in->inst_lock);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		struct jet_db *db = in->dbs[i];
		if (db == NULL)
			continue;
		for (int k = 0; k < BK_NSLOTS; k++)
			if (k != BK_FULL_CUR)
				memset(&db->hdr.bk[k], 0, sizeof(db->hdr.bk[k]));
	}
	pthread_mutex_unlock(&in->inst_lock);
	return JetTerm(inst);
}


static JET_ERR
rst_destination(struct restore *r, const struct restore_opts *o, struct rst_db *d)
{
	const char *slash = strrchr(d->trailer.path, '/');
	const char *name = slash ? slash + 1 : d->trailer.path;

	for (long i = 0; i < o->nmap; i++) {
		const char *from = o->map[i].szDatabaseName;
		const char *fslash = from ? strrchr(from, '/') : NULL;
		if (from != NULL && (strcmp(from, d->trailer.path) == 0 || strcmp(fslash ? fslash + 1 : from, name) == 0))
			return (d->dst = strdup(o->map[i].szNewDatabaseName)) != NULL ? JET_errSuccess : JET_errOutOfMemory;
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
rst_log_dest(const struct restore *r, const struct restore_opts *o, const struct rst_log *l)
{
	char name[16];

	if (!l->current)
		return log_name_path(o->logdir, r->base, l->gen);
	snprintf(name, sizeof(name), "%s.log", r->base);
	return os_path_join(o->logdir, name);
}

/*
 * Refuses, before anything is written, a target that already holds a
 * checkpoint, one of the logs, or (unless the API restores in place, as
 * JetRestoreInstance does) one of the databases.
 */
static JET_ERR
rst_preflight(const struct restore *r, const struct restore_opts *o)
{
	struct jet_inst tmp;
	char *p;
	int exists;

	memset(&tmp, 0, sizeof(tmp));
	snprintf(tmp.p.system_path, sizeof(tmp.p.system_path), "%s", o->sysdir);
	snprintf(tmp.p.base_name, sizeof(tmp.p.base_name), "%s", r->base);
	if ((p = ckpt_path(&tmp)) == NULL)
		return JET_errOutOfMemory;
	if ((exists = os_exists(p)))
		event_log(NULL, EVENT_ERROR, 1814, "%s already exists in the restore target", p);
	free(p);
	for (size_t i = 0; i < r->nlogs && !exists; i++) {
		if ((p = rst_log_dest(r, o, &r->logs[i])) == NULL)
			return JET_errOutOfMemory;
		if ((exists = os_exists(p)))
			event_log(NULL, EVENT_ERROR, 1814, "%s already exists in the restore target", p);
		free(p);
	}
	for (size_t i = 0; i < r->ndbs && !exists && !o->overwrite_dbs; i++)
		if ((exists = os_exists(r->dbs[i].dst)))
			event_log(NULL, EVENT_ERROR, 1814, "%s already exists in the restore target", r->dbs[i].dst);
	return exists ? JET_errFileAlreadyExists : JET_errSuccess;
}

static JET_ERR
restore_run(const struct restore_opts *o)
{
	struct restore r;
	struct ckpt_state ck;
	uint32_t low = 0, high = 0;
	size_t kept = 0;
	JET_ERR err;

	memset(&r, 0, sizeof(r));
	memset(&ck, 0, sizeof(ck));
	snprintf(r.base, sizeof(r.base), "%s", o->base);
	r.pfn = o->pfn;
	rst_progress(&r, JET_sntBegin, 0, 100);
	if (o->nsets == 0) {
		err = JET_errInvalidParameter;
		goto err;
	}
	for (size_t i = 0; i < o->nsets; i++)
		ERR(rst_scan_dir(&r, o->sets[i], i == 0));
	if (r.ndbs == 0) {
		event_log(NULL, EVENT_ERROR, 1811, "no database backup image in %s", o->sets[0]);
		err = JET_errFileNotFound;
		goto err;
	}
	for (size_t i = 0; i < r.ndbs; i++) {
		ERR(rst_destination(&r, o, &r.dbs[i]));
		if (r.dbs[i].dst == NULL) {
			free(r.dbs[i].src);
			continue;
		}
		r.dbs[kept++] = r.dbs[i];
	}
	r.ndbs = kept;
	if (r.ndbs == 0) {
		err = JET_errDatabaseNotFound;
		goto err;
	}
	if (o->roll_forward != NULL) {
		uint32_t last = 0;
		for (size_t i = 0; i < r.nlogs; i++)
			if (r.logs[i].gen > last)
				last = r.logs[i].gen;
		ERR(rst_scan_live(&r, o->roll_forward, last));
	}
	ERR(rst_check_logs(&r, o->stop_gen, &low, &high));
	ERR(rst_preflight(&r, o));
	rst_progress(&r, JET_sntProgress, 10, 100);

	/* Step 3: nothing was written before this point. */
	for (size_t i = 0; i < r.nlogs; i++) {
		char *to = rst_log_dest(&r, o, &r.logs[i]);
		if (to == NULL) {
			err = JET_errOutOfMemory;
			goto err;
		}
		err = rst_copy_file(&r, r.logs[i].path, to);
		free(to);
		if (err == JET_errFileNotFound && r.logs[i].current)
			err = JET_errSuccess;	/* renamed by a roll meanwhile: caught up below */
		if (err < 0)
			goto err;
	}
	if (o->roll_forward != NULL && r.nlogs > 0 && r.logs[r.nlogs - 1].current)
		ERR(rst_catch_up_live(&r, o));
	for (size_t i = 0; i < r.ndbs; i++)
		ERR(rst_place_db(&r, &r.dbs[i], high));
	rst_progress(&r, JET_sntProgress, 50, 100);
	ERR(rst_start_lsn(&r, 0, &ck.lsn));
	ck.gen = low;
	ck.sign_log = r.dbs[0].hdr.sign_log;
	for (size_t i = 0; i < r.ndbs; i++) {
		ck.attach[i].dbid = r.dbs[i].hdr.dbid;
		ck.attach[i].sign_db = r.dbs[i].hdr.sign_db;
		ck.attach[i].path = r.dbs[i].dst;
	}
	ck.nattach = r.ndbs;
	{
		/* ckpt_write wants an instance for its paths. */
		struct jet_inst tmp;
		char *chk;
		memset(&tmp, 0, sizeof(tmp));
		snprintf(tmp.p.system_path, sizeof(tmp.p.system_path), "%s", o->sysdir);
		snprintf(tmp.p.base_name, sizeof(tmp.p.base_name), "%s", r.base);
		if ((chk = ckpt_path(&tmp)) == NULL) {
			err = JET_errOutOfMemory;
			goto err;
		}
		err = rst_note_written(&r, chk);
		free(chk);
		if (err < 0)
			goto err;
		ERR(ckpt_write(&tmp, &ck));
	}
	ERR(rst_recover(&r, o->sysdir, o->logdir, o->stop_gen, o->event_target, r.dbs[0].hdr.page_size));
	rst_progress(&r, JET_sntComplete, 100, 100);
	event_log(NULL, EVENT_INFO, 205, "restore complete: log generations %u to %u replayed", low, high);
	rst_free(&r);
	return JET_errSuccess;
err:
	for (size_t i = 0; i < r.nwritten; i++)
		os_unlink(r.written[i]);
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
		JET_ERR err = inst_legacy(&instance);
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

JET_ERR JET_API
JetfsRestoreSets(const char *const *rgszBackupDirs, unsigned long cDirs, JET_PCSTR szTargetDir,
    JET_PCSTR szRollForwardLogDir, unsigned long genStop, JET_PFNSTATUS pfn)
{
	struct restore_opts o;
	char *target = NULL;
	JET_ERR err;

	if (rgszBackupDirs == NULL || cDirs == 0 || szTargetDir == NULL || *szTargetDir == '\0')
		return JET_errInvalidParameter;
	for (unsigned long i = 0; i < cDirs; i++)
		if (rgszBackupDirs[i] == NULL || !os_is_dir(rgszBackupDirs[i]))
			return JET_errInvalidPath;
	if (!os_is_dir(szTargetDir))
		RET(os_mkdir_p(szTargetDir));
	/* Databases are found by their absolute path afterwards. */
	RET(db_realpath(szTargetDir, &target));
	memset(&o, 0, sizeof(o));
	o.sets = rgszBackupDirs;
	o.nsets = cDirs;
	o.sysdir = o.logdir = o.dbdir = target;
	o.roll_forward = szRollForwardLogDir != NULL && *szRollForwardLogDir ? szRollForwardLogDir : NULL;
	o.stop_gen = (uint32_t)genStop;
	o.base = "edb";
	o.pfn = pfn;
	o.event_target = getenv("JETFS_EVENTS") == NULL ? JET_JetfsEventSyslog :
	    strcmp(getenv("JETFS_EVENTS"), "stderr") == 0 ? JET_JetfsEventStderr :
	    strcmp(getenv("JETFS_EVENTS"), "none") == 0 ? JET_JetfsEventNone : JET_JetfsEventSyslog;
	err = restore_run(&o);
	free(target);
	return err;
}
