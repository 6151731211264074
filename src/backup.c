/*
 * backup.c -- ESE's external backup state machine (JetBeginExternalBackup ...
 * JetEndExternalBackup) of the local instance (bkapi.c dispatches to it), and
 * the streamed database format.
 *
 * STREAMED DATABASE (what JetReadFile returns for a database; ESE's layout):
 *   file pages 0 and 1: a copy of the database header taken at open (Begin in
 *       point-in-time mode), stamped with bk[BK_FULL_CUR] = {mark, time,
 *       gen_low = first log generation needed} and DBHDR_FLAG_BACKUP_COPY;
 *   file page p + 1 (p = 1 .. pgno_last): database page p, checksummed on the
 *       way (an all-zero page is allowed: allocated but not yet written);
 *   file page pgno_last + 2: the trailer (below).
 * So the copy is itself a database file, with one extra page past its end,
 * that soft recovery refuses (JET_errSoftRecoveryOnBackupDatabase) until
 * restore (hard recovery, restore.c) has replayed its logs.
 *
 * TRAILER page (ESE's PATCHHDR), little-endian: 0 u32 CRC-32C of bytes
 * 4..page_size, 4 u32 magic 'JTRL', 8 u32 version, 12 bkinfo (u64 mark LSN,
 * u64 time, u32 gen_low, u32 gen_high: the last generation the copy needs),
 * 36 database signature, 64 log signature, 92 u32 gen_min_required, 96
 * gen_max_required, 100 gen_max_committed, 104 pgno_last, 108 page size,
 * 112 u16 path length, 114 the database's path (JetRestoreInstance puts the
 * database back there).
 *
 * INVARIANTS
 *  K1. ESE mode: pages are read from disk under db->bk_io_lock, which every
 *      page write takes, so a copied page is never torn.  The copy is fuzzy;
 *      the logs from the checkpoint generation at Begin (every page changed
 *      after it has a full image there, R1 in recovery.c) to the generation
 *      closed by JetGetLogInfo, after every database was read, repair it.
 *  K2. Point-in-time mode: at Begin no transaction runs (write lock), every
 *      page is on disk and synced, and from then on the first write of a page
 *      keeps its Begin image in the database's snapshot (snapshot.c, S1-S4);
 *      backup reads go through it, so every read sees the Begin state.
 *  K3. Circular logging never deletes a log a running backup lists.
 *      Truncation runs only once every listed log was read to its end, never
 *      deletes a generation at or above the checkpoint, and in point-in-time
 *      mode never the set's last one: a full set (one generation, or the
 *      checkpoint's) stays whole until End even when the checkpoint moved past
 *      it; an incremental keeps its last generation.
 *  K4. Point-in-time reads need no instance: when a file is opened, its
 *      reader gets read-only descriptors of it (the database file with its
 *      snapshot's spill file and kept-page map, or the closed log) and reads
 *      it itself (pitread.c; P1 there says why it still sees Begin), taking
 *      neither backup_lock nor bk_io_lock: in this process (bk_share_local)
 *      or, through the backup service, in another (protocol version 2).
 *      What it served is counted when the handle closes (bk_take_direct,
 *      NoteServed), so "a file is copied when one handle served all of it"
 *      (K3, a database's done) is unchanged.  A read pitread.c cannot serve
 *      comes back to bk_read, which decides and reports.
 *  K5. A point-in-time backup outlives its backup-service client: when the
 *      connection that began it goes without End (the client was killed, a
 *      timeout, a protocol error), the service holds it (backup_hold) for
 *      JET_paramJetfsBackupHoldTime with everything it has -- kept pages,
 *      logs kept from deletion, served ranges of the files closed, the
 *      copied generations and the client area -- until a client of the
 *      same uid takes it over (backup_take_over) or the time is up
 *      (backup_expire_held: aborted, event 712).  The vanished client's
 *      open files are closed then, so a taker-over has every handle; what
 *      it read directly and never reported (NoteServed) is lost here, which
 *      is why a client keeps its own account in the client area
 *      (JetfsBackupClientArea) and reports it again (JetfsNoteServed).
 *      Nothing else changes while held: local calls work on it, Stop and
 *      JetTerm end it, a new Begin gets JET_errBackupInProgress.
 *  K6. A backup never costs the application its disk: it is aborted, never
 *      the application's write, when its kept images would pass
 *      JET_paramJetfsBackupKeptMax or the free space below the kept images
 *      would fall under JET_paramJetfsBackupFreeFloor (both checked before
 *      each image is kept: snapshot.c S7, which voids the snapshot), or when
 *      the log directory's file system is below the floor while the backup
 *      holds logs (point-in-time, or circular logging: checked at every
 *      check of backup_guard).  The page-write path holds bk_io_lock and may
 *      not take backup_lock, so the abort itself is backup_guard's: the
 *      instance's background thread calls it every tick (instance.c
 *      BG_TICK_MS) and every backup call first (bk_enter, End), so the
 *      backup really ends -- events 230 (cap) or 231 (floor) with the
 *      numbers, then 226, nothing recorded, the spill file's space given
 *      back, logs released, szLastEnd saying why -- even when its client is
 *      stuck, gone or held (K5).  Its client's later calls get
 *      JET_errBackupAbortByServer (backup_aborted_unseen) until it ends it
 *      (End abort: success; End normal: JET_errBackupAbortByServer) or a new
 *      Begin; its direct readers, the run state's JET_errBackupAbortByServer
 *      (K4).  A client of the backup service learns it from JetfsGetBackupInfo
 *      (its calls get JET_errNoBackup: the service's connection owns no
 *      backup any more).
 *  K7. A page delta (JET_bitBackupJetfsDelta, always point-in-time) is a
 *      full backup's session -- the same Begin, snapshot, stamped headers,
 *      log range and End rules -- whose database files are `<path>.delta`
 *      (delta.c) instead of images.  Its page list is fixed at Begin, under
 *      the write lock after the generation closed: every page that a record
 *      at or after the base changed (pagetrack.c), where the base starts at
 *      the earlier of the recorded full's mark and the first record of its
 *      gen_low -- a full copied in ESE mode is fuzzy and holds only what
 *      the checkpoint at gen_low promises.  Any gap refuses the Begin
 *      (event 245): never a smaller delta; so does a base taken in an
 *      earlier log set than the current one (its generations and LSNs name
 *      other records in this one: JET_errBadLogSignature).  Pages are read
 *      through the snapshot (K2), so they are the Begin images.  The stream
 *      is not a page image that a reader could read from the database file
 *      itself (K4), so the first open writes it out once, whole and checked,
 *      into an unlinked file beside the database (bk_delta_copy) whose
 *      descriptor readers get as for a closed log; without room for it above
 *      the free floor (K6) the reads go through bk_read, slower, never wrong.  A
 *      delta truncates nothing, and End records it in BK_DIFF_PREV, which
 *      neither starts nor continues the full / incremental chain.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "jet_int.h"
#include "ranges.h"

#define BK_FILES_MAX 64
#define BK_ALIGN 4096

enum bk_state { BK_DATABASES = 1, BK_LOGS = 2 };

struct bk_file {
	int used;
	struct jet_db *db;		/* a database, or NULL for a log */
	uint32_t gen;
	char *path;
	os_file *file;
	uint64_t size;
	uint64_t pos;			/* ESE mode: next byte */
	int to_end;			/* every byte was served */
	struct ranges served;		/* point-in-time: byte ranges served */
	uint8_t *hdr;			/* stamped header page (database) */
	uint8_t *trailer;
	uint32_t pgno_last;
	JET_ERR verify_err;		/* log found damaged at open */
	int delta;			/* the database's page delta (K7), not its image */
};

struct bk_dbstate {
	int in_session;
	int done;			/* read to the end in this session */
	int dropped;			/* a read error took it out */
	uint32_t pgno_last;		/* point-in-time: at Begin */
	uint8_t *hdr;			/* point-in-time: header stamped at Begin */
	uint32_t *delta_pages;		/* K7: the pages changed since the base, sorted */
	size_t delta_n;
	struct delta_writer *delta;	/* made at the first open of the delta */
	os_file *delta_copy;		/* K7: the delta written out (unlinked) for direct readers, or NULL */
};

struct backup {
	int full, pit, stopped;
	int delta;			/* K7: a page delta (full is set too: the same session) */
	enum bk_state state;
	lsn_t mark_lsn;
	uint64_t mark_time;
	uint32_t copy_mic, copy_mac;	/* logs to copy: [mic, mac) */
	uint32_t delete_mic, delete_mac;
	int have_loginfo;
	uint8_t *copied;		/* per generation in [copy_mic, copy_mac) */
	int truncated;
	struct bk_file files[BK_FILES_MAX];
	struct pitread_set *direct;	/* point-in-time: the open files readers read themselves (K4) */
	int state_fd, state_share_fd;	/* K4: the backup's run state, shared with its readers */
	uint8_t *run_state;
	struct bk_dbstate dbs[JET_MAX_ATTACHED_DATABASES + 1];
	JET_GRBIT grbit;
	/* K5: a point-in-time backup outlives its service client */
	int held;			/* its client vanished: waits for a takeover */
	int64_t held_until_ms;		/* os_monotonic_ms */
	uid_t held_uid;			/* who may take it over */
	unsigned takeovers;
	int area_fd;			/* JetfsBackupClientArea; -1: none yet */
	void *area;
	size_t area_size;
};

/* ---- trailer ---- */

void
backup_trailer_encode(const struct bk_trailer *t, uint8_t *page, uint32_t ps)
{
	memset(page, 0, ps);
	put32(page + 4, BK_TRAILER_MAGIC);
	put32(page + 8, BK_TRAILER_VERSION);
	dbhdr_bkinfo_encode(&t->bk, page + 12);
	dbhdr_sig_encode(&t->sign_db, page + 36);
	dbhdr_sig_encode(&t->sign_log, page + 64);
	put32(page + 92, t->gen_min_required);
	put32(page + 96, t->gen_max_required);
	put32(page + 100, t->gen_max_committed);
	put32(page + 104, t->pgno_last);
	put32(page + 108, t->page_size);
	put16(page + 112, (uint16_t)strlen(t->path));
	memcpy(page + 114, t->path, strlen(t->path));
	put32(page, crc32c(0, page + 4, ps - 4));
}

JET_ERR
backup_trailer_decode(const uint8_t *page, uint32_t ps, struct bk_trailer *t)
{
	if (get32(page + 4) != BK_TRAILER_MAGIC || get32(page) != crc32c(0, page + 4, ps - 4))
		return JET_errBadPatchPage;
	if (get32(page + 8) != BK_TRAILER_VERSION || get32(page + 108) != ps)
		return JET_errBadPatchPage;
	dbhdr_bkinfo_decode(page + 12, &t->bk);
	dbhdr_sig_decode(page + 36, &t->sign_db);
	dbhdr_sig_decode(page + 64, &t->sign_log);
	t->gen_min_required = get32(page + 92);
	t->gen_max_required = get32(page + 96);
	t->gen_max_committed = get32(page + 100);
	t->pgno_last = get32(page + 104);
	t->page_size = ps;
	if (get16(page + 112) >= sizeof(t->path) || memchr(page + 114, '\0', get16(page + 112)) != NULL)
		return JET_errBadPatchPage;
	memcpy(t->path, page + 114, get16(page + 112));
	t->path[get16(page + 112)] = '\0';
	return JET_errSuccess;
}

/* ---- entry and cleanup ---- */

int
backup_running(struct jet_inst *inst)
{
	return inst->backup != NULL;
}

static void
bk_file_close(struct bk_file *f)
{
	os_close(f->file);
	free(f->path);
	ranges_free(&f->served);
	free(f->hdr);
	free(f->trailer);
	memset(f, 0, sizeof(*f));
}

/* K4: readers serve nothing more once this is set (pitread.c P5); the first reason stays. */
static void
bk_set_state(struct backup *bk, JET_ERR err)
{
	if (bk->run_state != NULL)
		pitread_state_set(bk->run_state + BKS_OFF_STATE, err);
}

/* Ends the backup without recording it (abort, or a fatal error). */
static void
bk_cleanup(struct jet_inst *inst)
{
	struct backup *bk = inst->backup;

	if (bk == NULL)
		return;
	bk_set_state(bk, JET_errNoBackup);
	for (int i = 0; i < BK_FILES_MAX; i++)
		if (bk->files[i].used)
			bk_file_close(&bk->files[i]);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		free(bk->dbs[i].hdr);
		free(bk->dbs[i].delta_pages);
		delta_writer_close(bk->dbs[i].delta);
		os_close(bk->dbs[i].delta_copy);
		if (inst->dbs[i] != NULL)
			snapshot_free(inst->dbs[i]);
	}
	olock_lock(&inst->log.lock);
	inst->log.min_gen_keep = 0;
	olock_unlock(&inst->log.lock);
	pitread_set_free(bk->direct);
	os_shm_free(bk->state_fd, bk->run_state, BKS_SIZE);
	os_shm_free(bk->area_fd, bk->area, bk->area_size);
	if (bk->state_share_fd >= 0)
		close(bk->state_share_fd);
	free(bk->copied);
	free(bk);
	inst->backup = NULL;
}

/* What JetfsGetBackupInfo tells of the backup that ends now. */
static void
bk_note_end(struct jet_inst *inst, JET_ERR err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
bk_note_end(struct jet_inst *inst, JET_ERR err, const char *fmt, ...)
{
	va_list ap;

	inst->backup_last_end_id = inst->backup->mark_lsn;
	inst->backup_last_end_err = err;
	va_start(ap, fmt);
	vsnprintf(inst->backup_last_end, sizeof(inst->backup_last_end), fmt, ap);
	va_end(ap);
}

/* A log-phase failure ends the session (as ESE); later calls: JET_errNoBackup. */
static JET_ERR
bk_fail(struct jet_inst *inst, JET_ERR err, const char *what)
{
	event_log(inst, EVENT_ERROR, 214, "backup stopped with an error: %s: %s (%ld)", what, JetErrorString(err), err);
	bk_note_end(inst, err, "stopped with an error: %s: %s", what, JetErrorString(err));
	bk_cleanup(inst);
	return err;
}

static JET_ERR bk_end(struct jet_inst *inst, int normal, int truncate_done, JET_ERR why, const char *reason);

/* K6: the floor of the log directory, for a backup that holds logs; 231 with why if it is passed, else 0. */
static int
bk_logs_below_floor(struct jet_inst *inst, struct backup *bk, char *why, size_t why_size)
{
	unsigned long floor_mb = inst->p.backup_free_floor_mb;
	uint64_t avail;

	if (floor_mb == 0 || (!bk->pit && !inst->p.circular) ||
	    os_free_space(inst->p.log_path, &avail) < 0 || avail >= (uint64_t)floor_mb << 20)
		return 0;
	snprintf(why, why_size, "%llu bytes free in the log directory %s, below the floor "
	    "(JET_paramJetfsBackupFreeFloor %lu MiB)", (unsigned long long)avail, inst->p.log_path, floor_mb);
	return 231;
}

/* K6: under backup_lock, aborts the running backup if a limit was reached; 1 if it did. */
static int
bk_guard_locked(struct jet_inst *inst)
{
	struct backup *bk = inst->backup;
	char why[1280], reason[1320];	/* a path may take 1023 */
	int event = 0;

	if (bk == NULL)
		return 0;
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES && event == 0; i++)
		if (inst->dbs[i] != NULL)
			event = snapshot_limit_hit(inst->dbs[i], why, sizeof(why));
	if (event == 0 && (event = bk_logs_below_floor(inst, bk, why, sizeof(why))) == 0)
		return 0;
	event_log(inst, EVENT_WARNING, event, "backup %#llx aborted so that the application keeps its disk: %s",
	    (unsigned long long)bk->mark_lsn, why);
	snprintf(reason, sizeof(reason), "by the server: %s", why);
	bk_set_state(bk, JET_errBackupAbortByServer);
	(void)bk_end(inst, 0, 0, JET_errBackupAbortByServer, reason);
	inst->backup_aborted_unseen = 1;
	return 1;
}

/* K6: the instance's background thread, every tick; a busy backup_lock means a call that checks itself. */
void
backup_guard(struct jet_inst *inst)
{
	if (pthread_mutex_trylock(&inst->backup_lock) != 0)
		return;
	(void)bk_guard_locked(inst);
	pthread_mutex_unlock(&inst->backup_lock);
}

static JET_ERR
bk_enter(struct jet_inst *inst, struct backup **bkp)
{
	pthread_mutex_lock(&inst->backup_lock);
	(void)bk_guard_locked(inst);
	if (inst->backup == NULL) {
		JET_ERR err = inst->backup_aborted_unseen ? JET_errBackupAbortByServer : JET_errNoBackup;
		pthread_mutex_unlock(&inst->backup_lock);
		return err;
	}
	if (inst->backup->stopped) {
		pthread_mutex_unlock(&inst->backup_lock);
		return JET_errBackupAbortByServer;
	}
	*bkp = inst->backup;
	return JET_errSuccess;
}

static JET_ERR
bk_leave(struct jet_inst *inst, JET_ERR err)
{
	pthread_mutex_unlock(&inst->backup_lock);
	return err;
}

static JET_ERR
bk_log_phase(struct jet_inst *inst, enum bk_phase phase, uint32_t dbid, int slot, const struct bkinfo *bi)
{
	uint8_t rec[DBFILE_BKREC_SIZE];

	dbfile_backup_rec_encode(rec, phase, dbid, slot, bi);
	return txn_log_system(inst, rec, sizeof(rec), NULL);
}

/* ---- Begin ---- */

static JET_ERR
bk_read_checkpoint_gen(struct jet_inst *inst, uint32_t *genp)
{
	struct checkpoint_state ck;
	char *path = checkpoint_path(inst);
	JET_ERR err;

	if (path == NULL)
		return JET_errOutOfMemory;
	err = checkpoint_read(path, &ck);
	free(path);
	if (err < 0)
		return err;
	*genp = ck.gen;
	checkpoint_state_free(&ck);
	return JET_errSuccess;
}

static uint32_t
bk_oldest_log(struct jet_inst *inst, JET_ERR *errp)
{
	uint32_t *gens, oldest = 0;
	size_t n;
	int have_cur;

	if ((*errp = log_scan_dir(inst, &gens, &n, &have_cur)) < 0)
		return 0;
	oldest = n > 0 ? gens[0] : inst->log.cur_gen;
	free(gens);
	return oldest;
}

/*
 * An incremental backup is a link of each database's chain only if its first
 * log, the oldest generation on disk, follows the last one that database's
 * last full or incremental backup recorded (bk[BK_FULL_PREV] and
 * bk[BK_INC_PREV], gen_high).  If the generations in between are gone, they
 * are in no set: recorded, the incremental would look sound and restore would
 * stop at the gap.  Only a new full backup helps (ESE's
 * ErrBKICheckLogsForIncrementalBackup: JET_errMissingFileToBackup).
 */
static JET_ERR
bk_check_chain(struct jet_inst *inst, uint32_t first)
{
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		struct jet_db *db = inst->dbs[i];
		uint32_t last;
		if (db == NULL)
			continue;
		pthread_mutex_lock(&db->hdr_lock);
		last = db->hdr.bk[BK_FULL_PREV].gen_high;
		if (db->hdr.bk[BK_INC_PREV].gen_high > last)
			last = db->hdr.bk[BK_INC_PREV].gen_high;
		pthread_mutex_unlock(&db->hdr_lock);
		if (first > last + 1) {
			event_log(inst, EVENT_ERROR, 459,
			    "incremental backup refused: log generations %u to %u, which %s needs after its last "
			    "backup (up to generation %u), are gone; take a full backup", last + 1, first - 1,
			    db->path, last);
			return JET_errMissingFileToBackup;
		}
	}
	return JET_errSuccess;
}

/*
 * What an image holds needs no generation after last, the last one with a
 * change (log_last_needed_gen); its header may name a later one that holds
 * only backup marks (the checkpoint, or an attach at the end of recovery, lie
 * there), and the set, which ends before it (bk_close_gen), would look
 * incomplete to restore.
 */
static void
bk_needs_at_most(struct db_header *h, uint32_t last)
{
	if (h->gen_min_required > last)
		h->gen_min_required = last;
	if (h->gen_max_required > last)
		h->gen_max_required = h->gen_max_committed = last;
}

/* The stamped header page of a database for this backup. */
static uint8_t *
bk_stamp_header(struct backup *bk, struct jet_db *db, uint32_t pgno_last)
{
	uint8_t *page;
	struct db_header h;

	if (posix_memalign((void **)&page, BK_ALIGN, db->hdr.page_size) != 0)
		return NULL;
	pthread_mutex_lock(&db->hdr_lock);
	h = db->hdr;
	pthread_mutex_unlock(&db->hdr_lock);
	h.bk[BK_FULL_CUR].lsn_mark = bk->mark_lsn;
	h.bk[BK_FULL_CUR].time_mark = bk->mark_time;
	h.bk[BK_FULL_CUR].gen_low = bk->copy_mic;
	h.bk[BK_FULL_CUR].gen_high = bk->pit ? bk->copy_mac - 1 : 0;
	bk_needs_at_most(&h, bk->pit ? bk->copy_mac - 1 : log_last_needed_gen(&db->inst->log));
	h.flags |= DBHDR_FLAG_BACKUP_COPY;
	h.pgno_last = pgno_last;
	h.dbtime = db->dbtime;
	dbhdr_encode(&h, page);
	return page;
}

static JET_ERR
bk_copy_map_alloc(struct backup *bk)
{
	free(bk->copied);
	bk->copied = calloc(bk->copy_mac > bk->copy_mic ? bk->copy_mac - bk->copy_mic : 1, 1);
	return bk->copied != NULL ? JET_errSuccess : JET_errOutOfMemory;
}

/*
 * Closes the generation the set ends with: [copy_mic, copy_mac) are then
 * closed generations.  ESE rolls the log here each time; a new generation is
 * made only if the current one holds a record recovery applies
 * (log_last_needed_gen), else the set ends with the closed one before it.
 * The set then starts there at the latest: the checkpoint may already lie in
 * the current generation, and replay from an earlier point is harmless
 * (redo is idempotent, recovery.c R3).
 */
static JET_ERR
bk_close_gen(struct jet_inst *inst, struct backup *bk)
{
	uint32_t last = log_last_needed_gen(&inst->log);

	if (last == inst->log.cur_gen) {
		RET(log_roll(&inst->log));
		last = inst->log.cur_gen - 1;
	}
	bk->copy_mac = last + 1;
	if (bk->copy_mic > last)
		bk->copy_mic = last;
	return JET_errSuccess;
}

/*
 * K7: the pages of db a record at or after its base changed, as of the mark
 * (under the write lock, after the generation closed).  A gap refuses it.
 */
static JET_ERR
bk_delta_pages(struct jet_inst *inst, struct backup *bk, struct jet_db *db)
{
	struct bk_dbstate *ds = &bk->dbs[db->dbid];
	struct bkinfo base;
	lsn_t since, first = 0;
	char why[512];
	JET_ERR err;

	pthread_mutex_lock(&db->hdr_lock);
	base = db->hdr.bk[BK_FULL_PREV];
	pthread_mutex_unlock(&db->hdr_lock);
	if (base.lsn_mark == 0 || base.gen_low == 0) {
		event_log(inst, EVENT_ERROR, 245, "page delta refused: %s has no full backup recorded (a full backup "
		    "whose logs were truncated): take one first", db->path);
		return JET_errMissingFullBackup;
	}
	since = base.lsn_mark;
	err = pagetrack_gen_first_lsn(inst, base.gen_low, &first, why, sizeof(why));
	if (err >= 0 && first < since)
		since = first;
	if (err >= 0)
		err = pagetrack_changed_since(inst, &db->hdr.sign_db, since, &ds->delta_pages, &ds->delta_n, why,
		    sizeof(why));
	/*
	 * The base's mark and generations name positions in the log set it was
	 * taken in.  A log set begun after it (the logs removed after a clean
	 * shutdown) numbers its generations and LSNs again: the same numbers
	 * there say nothing of the changes in between.
	 */
	if (err >= 0 && inst->log.sign_log.time_create > base.time_mark) {
		snprintf(why, sizeof(why), "the full backup was taken in an earlier log set than the current one "
		    "(begun after it): take a full backup first");
		err = JET_errBadLogSignature;
	}
	if (err >= 0 && ds->delta_n > 0 && ds->delta_pages[ds->delta_n - 1] > ds->pgno_last) {
		snprintf(why, sizeof(why), "page %u changed, past the database's last page %u",
		    ds->delta_pages[ds->delta_n - 1], ds->pgno_last);
		err = JET_errDatabaseCorrupted;
	}
	if (err < 0)
		event_log(inst, EVENT_ERROR, 245, "page delta refused: the pages of %s changed since its full backup "
		    "(mark %llu, log generations %u to %u) cannot all be known: %s", db->path,
		    (unsigned long long)base.lsn_mark, base.gen_low, base.gen_high, why);
	return err;
}

/* Point-in-time Begin: quiesce, flush, freeze, close the generation. */
static JET_ERR
bk_begin_pit(struct jet_inst *inst, struct backup *bk)
{
	JET_ERR err;
	uint32_t i;

	if ((bk->direct = pitread_set_new()) == NULL)
		return JET_errOutOfMemory;
	/* Without shared memory nothing is shared (bk_share): the reads go through bk_read. */
	if (os_shm_create("jetfs-backup-state", BKS_SIZE, &bk->state_fd, (void **)&bk->run_state) >= 0 &&
	    os_reopen_readonly(bk->state_fd, &bk->state_share_fd) >= 0) {
		put32(bk->run_state + BKS_OFF_MAGIC, BKS_MAGIC);
		put32(bk->run_state + BKS_OFF_VERSION, BKS_VERSION);
	}
	pthread_mutex_lock(&inst->write_lock);
	if ((err = checkpoint_run(inst, 1)) < 0)
		goto out;
	bk->copy_mic = inst->ckpt.gen;
	if (!bk->full) {
		/* The set is fixed now: a gap in the chain is refused now, before any file is listed. */
		bk->copy_mic = bk_oldest_log(inst, &err);
		if (err >= 0)
			err = bk_check_chain(inst, bk->copy_mic);
	}
	if (err < 0)
		goto out;
	for (i = 1; i <= JET_MAX_ATTACHED_DATABASES && err >= 0; i++) {
		struct jet_db *db = inst->dbs[i];
		if (db == NULL)
			continue;
		if ((err = space_pgno_last(db, &bk->dbs[i].pgno_last)) >= 0 && bk->full)
			err = snapshot_create(db, bk->dbs[i].pgno_last);
	}
	if (err < 0)
		goto out;
	bk->mark_lsn = inst->log.append_lsn;
	bk->mark_time = dbhdr_time_now_us();
	if ((err = bk_close_gen(inst, bk)) < 0)
		goto out;
	for (i = 1; i <= JET_MAX_ATTACHED_DATABASES && err >= 0; i++)
		if (inst->dbs[i] != NULL && bk->full &&
		    (bk->dbs[i].hdr = bk_stamp_header(bk, inst->dbs[i], bk->dbs[i].pgno_last)) == NULL)
			err = JET_errOutOfMemory;
	for (i = 1; i <= JET_MAX_ATTACHED_DATABASES && err >= 0; i++)
		if (inst->dbs[i] != NULL && bk->delta)
			err = bk_delta_pages(inst, bk, inst->dbs[i]);
	if (err >= 0)
		err = bk_copy_map_alloc(bk);
	bk->have_loginfo = 1;
out:
	pthread_mutex_unlock(&inst->write_lock);
	return err;
}

static JET_ERR
bk_begin(void *obj, JET_GRBIT grbit)
{
	struct jet_inst *inst = obj;
	struct backup *bk = NULL;
	JET_ERR err;

	if (!inst->backup_allowed)
		return JET_errBackupNotAllowedYet;
	if (!inst->log.enabled)
		return JET_errLoggingDisabled;
	if (inst->log.fatal != JET_errSuccess)
		return JET_errLogWriteFail;
	if (grbit & ~(JET_bitBackupIncremental | JET_bitBackupJetfsPointInTime | JET_bitBackupJetfsDelta))
		return JET_errInvalidGrbit;
	if ((grbit & JET_bitBackupJetfsDelta) &&
	    (grbit & (JET_bitBackupIncremental | JET_bitBackupJetfsPointInTime)) != JET_bitBackupJetfsPointInTime)
		return JET_errInvalidGrbit;
	if ((grbit & JET_bitBackupIncremental) && inst->p.circular)
		return JET_errInvalidBackup;
	pthread_mutex_lock(&inst->backup_lock);
	if (inst->backup != NULL) {
		err = JET_errBackupInProgress;
		goto out;
	}
	if ((bk = calloc(1, sizeof(*bk))) == NULL) {
		err = JET_errOutOfMemory;
		goto out;
	}
	bk->state_fd = bk->state_share_fd = bk->area_fd = -1;
	bk->grbit = grbit;
	bk->full = !(grbit & JET_bitBackupIncremental);
	bk->pit = (grbit & JET_bitBackupJetfsPointInTime) != 0;
	bk->delta = (grbit & JET_bitBackupJetfsDelta) != 0;
	if (!bk->full) {
		for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
			struct jet_db *db = inst->dbs[i];
			if (db != NULL && db->hdr.bk[BK_FULL_PREV].gen_low == 0) {
				event_log(inst, EVENT_ERROR, 206,
				    "incremental backup refused: %s has no full backup recorded", db->path);
				err = JET_errMissingFullBackup;
				goto out;
			}
		}
	}
	inst->backup = bk;
	inst->backup_aborted_unseen = 0;
	/* Keep every generation (circular logging) until the range is chosen. */
	olock_lock(&inst->log.lock);
	inst->log.min_gen_keep = 1;
	olock_unlock(&inst->log.lock);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		bk->dbs[i].in_session = !bk->full && inst->dbs[i] != NULL;
	if (bk->pit) {
		err = bk_begin_pit(inst, bk);
		bk->state = BK_LOGS;
		if (bk->full)
			bk->state = BK_DATABASES;
	} else if (bk->full) {
		bk->state = BK_DATABASES;
		bk->mark_lsn = inst->log.append_lsn;
		bk->mark_time = dbhdr_time_now_us();
		err = bk_read_checkpoint_gen(inst, &bk->copy_mic);
		if (err == JET_errFileNotFound)
			err = JET_errCheckpointFileNotFound;
		if (err >= 0) {
			/* The images are stamped with copy_mic: as bk_close_gen sets it if nothing changes. */
			uint32_t last = log_last_needed_gen(&inst->log);
			if (bk->copy_mic > last)
				bk->copy_mic = last;
		}
	} else {
		bk->state = BK_LOGS;
		bk->mark_lsn = inst->log.append_lsn;
		bk->mark_time = dbhdr_time_now_us();
		bk->copy_mic = bk_oldest_log(inst, &err);
	}
	if (err >= 0) {
		olock_lock(&inst->log.lock);
		inst->log.min_gen_keep = bk->copy_mic;
		olock_unlock(&inst->log.lock);
		err = bk_log_phase(inst, BKP_BEGIN, 0, 0, NULL);
	}
	if (err < 0) {
		bk_cleanup(inst);
		bk = NULL;
		goto out;
	}
	event_log(inst, EVENT_INFO, bk->full ? 210 : 211, "%s%s backup started (logs from generation %u)",
	    bk->delta ? "page delta" : bk->full ? "full" : "incremental", bk->pit ? " point-in-time" : "", bk->copy_mic);
	bk = NULL;
out:
	free(bk);
	pthread_mutex_unlock(&inst->backup_lock);
	return err;
}

/* ---- lists ---- */

/* ESE's A-variant buffer rules for a double-NUL list of n names. */
static JET_ERR
bk_put_list(char **names, size_t n, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual)
{
	size_t need = 1, pos = 0;

	for (size_t i = 0; i < n; i++)
		need += strlen(names[i]) + 1;
	if (pcbActual != NULL)
		*pcbActual = (unsigned long)need;
	if (cbMax == 0)
		return JET_errSuccess;
	if (szz == NULL)
		return JET_errInvalidParameter;
	if (cbMax < need)
		return JET_errBufferTooSmall;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]) + 1;
		memcpy(szz + pos, names[i], l);
		pos += l;
	}
	szz[pos] = '\0';
	return JET_errSuccess;
}

/* The name a database's file has in this backup: its path, or K7's <path>.delta (malloc'd). */
static char *
bk_file_name(const struct backup *bk, const struct jet_db *db)
{
	size_t len = strlen(db->path);
	char *name = malloc(len + sizeof(DELTA_SUFFIX));

	if (name != NULL)
		snprintf(name, len + sizeof(DELTA_SUFFIX), "%s%s", db->path, bk->delta ? DELTA_SUFFIX : "");
	return name;
}

static JET_ERR
bk_get_attach_info(void *obj, JET_PSTR szzDatabases, unsigned long cbMax, unsigned long *pcbActual)
{
	struct jet_inst *inst = obj;
	struct backup *bk;
	char *names[JET_MAX_ATTACHED_DATABASES];
	size_t n = 0;
	JET_ERR err = JET_errSuccess;

	RET(bk_enter(inst, &bk));
	if (!bk->full)
		return bk_leave(inst, JET_errInvalidBackupSequence);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES && err >= 0; i++)
		if (inst->dbs[i] != NULL && (names[n++] = bk_file_name(bk, inst->dbs[i])) == NULL)
			err = JET_errOutOfMemory;
	if (err >= 0)
		err = bk_put_list(names, n, szzDatabases, cbMax, pcbActual);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return bk_leave(inst, err);
}

static int
bk_any_open(struct backup *bk)
{
	for (int i = 0; i < BK_FILES_MAX; i++)
		if (bk->files[i].used)
			return 1;
	return 0;
}

/* The first JetGetLogInfo of an ESE-mode backup: close the generation, fix the ranges. */
static JET_ERR
bk_prepare_logs(struct jet_inst *inst, struct backup *bk)
{
	uint32_t chk_gen, oldest;
	JET_ERR err = JET_errSuccess;

	if (!bk->have_loginfo) {
		if ((err = bk_close_gen(inst, bk)) < 0)
			return bk_fail(inst, err, "closing the log generation");
		if (!bk->full && (err = bk_check_chain(inst, bk->copy_mic)) < 0)
			return bk_fail(inst, err, "checking the log chain");
		if ((err = bk_copy_map_alloc(bk)) < 0)
			return bk_fail(inst, err, "preparing the log list");
		bk->have_loginfo = 1;
		bk_log_phase(inst, BKP_PREPARE_LOGS, 0, 0, NULL);
	}
	bk->state = BK_LOGS;
	/* What truncation may delete: below the checkpoint and what uncopied databases need. */
	oldest = bk_oldest_log(inst, &err);
	if (err < 0)
		return bk_fail(inst, err, "listing the log directory");
	if ((err = bk_read_checkpoint_gen(inst, &chk_gen)) < 0)
		return bk_fail(inst, err, "reading the checkpoint");
	bk->delete_mic = oldest;
	bk->delete_mac = chk_gen < bk->copy_mac ? chk_gen : bk->copy_mac;
	if (bk->full)
		for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
			struct jet_db *db = inst->dbs[i];
			if (db != NULL && !bk->dbs[i].done && db->hdr.bk[BK_FULL_PREV].gen_high < bk->delete_mac)
				bk->delete_mac = db->hdr.bk[BK_FULL_PREV].gen_high;
		}
	/*
	 * K3: a point-in-time set may be read again until End, and its last
	 * generation is what the next backup of a quiet instance ends with
	 * (bk_close_gen): it stays.
	 */
	if (bk->pit && bk->delete_mac > bk->copy_mac - 1)
		bk->delete_mac = bk->copy_mac - 1;
	if (bk->delete_mac < bk->delete_mic)
		bk->delete_mac = bk->delete_mic;
	return JET_errSuccess;
}

static JET_ERR
bk_list_gens(struct jet_inst *inst, uint32_t lo, uint32_t hi, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual)
{
	size_t n = hi > lo ? hi - lo : 0;
	char **names = calloc(n ? n : 1, sizeof(*names));
	JET_ERR err = JET_errSuccess;

	if (names == NULL)
		return JET_errOutOfMemory;
	for (size_t i = 0; i < n && err >= 0; i++)
		if ((names[i] = log_gen_path(inst, lo + (uint32_t)i)) == NULL)
			err = JET_errOutOfMemory;
	if (err >= 0)
		err = bk_put_list(names, n, szz, cbMax, pcbActual);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

static JET_ERR
bk_get_log_info(void *obj, JET_PSTR szzLogs, unsigned long cbMax, unsigned long *pcbActual, JET_LOGINFO *pLogInfo)
{
	struct jet_inst *inst = obj;
	struct backup *bk;
	JET_ERR err;

	RET(bk_enter(inst, &bk));
	if (bk_any_open(bk) && !bk->pit)
		return bk_leave(inst, JET_errInvalidBackupSequence);
	if ((err = bk_prepare_logs(inst, bk)) < 0)
		return bk_leave(inst, err);
	if (pLogInfo != NULL) {
		pLogInfo->ulGenLow = bk->copy_mic;
		pLogInfo->ulGenHigh = bk->copy_mac - 1;
		memcpy(pLogInfo->szBaseName, inst->p.base_name, JET_BASE_NAME_LENGTH + 1);
	}
	if (bk->copy_mac > bk->copy_mic)
		event_log(inst, EVENT_INFO, 223, "backup of log files: generations %u to %u", bk->copy_mic, bk->copy_mac - 1);
	return bk_leave(inst, bk_list_gens(inst, bk->copy_mic, bk->copy_mac, szzLogs, cbMax, pcbActual));
}

static JET_ERR
bk_get_truncate_log_info(void *obj, JET_PSTR szzLogs, unsigned long cbMax, unsigned long *pcbActual)
{
	struct jet_inst *inst = obj;
	struct backup *bk;
	JET_ERR err;

	RET(bk_enter(inst, &bk));
	if (bk_any_open(bk) && !bk->pit)
		return bk_leave(inst, JET_errInvalidBackupSequence);
	if ((err = bk_prepare_logs(inst, bk)) < 0)
		return bk_leave(inst, err);
	return bk_leave(inst, bk_list_gens(inst, bk->delete_mic, bk->delete_mac, szzLogs, cbMax, pcbActual));
}

/* ---- files ---- */

static int
bk_free_slot(struct backup *bk)
{
	for (int i = 0; i < BK_FILES_MAX; i++)
		if (!bk->files[i].used)
			return i;
	return -1;
}

/*
 * The trailer records the last generation the copy needs.  ESE mode: made
 * when it is served, after every page was read: the last generation with a
 * change then (ESE: the current one), so it covers every change a copied
 * page holds.  Point-in-time: the set's last generation, from the header as
 * it was at Begin.
 */
static JET_ERR
bk_make_trailer(struct backup *bk, struct bk_file *f)
{
	struct jet_db *db = f->db;
	uint32_t ps = db->hdr.page_size;
	struct db_header h;
	struct bk_trailer t;
	JET_ERR err;

	if (bk->pit) {
		if ((err = dbhdr_decode(f->hdr, ps, &h)) < 0)
			return err;
	} else {
		pthread_mutex_lock(&db->hdr_lock);
		h = db->hdr;
		pthread_mutex_unlock(&db->hdr_lock);
	}
	memset(&t, 0, sizeof(t));
	t.bk.lsn_mark = bk->mark_lsn;
	t.bk.time_mark = bk->mark_time;
	t.bk.gen_low = bk->copy_mic;
	t.bk.gen_high = bk->pit ? bk->copy_mac - 1 : log_last_needed_gen(&db->inst->log);
	bk_needs_at_most(&h, t.bk.gen_high);
	t.sign_db = h.sign_db;
	t.sign_log = h.sign_log;
	t.gen_min_required = h.gen_min_required;
	t.gen_max_required = h.gen_max_required;
	t.gen_max_committed = h.gen_max_committed;
	t.pgno_last = f->pgno_last;
	t.page_size = ps;
	snprintf(t.path, sizeof(t.path), "%s", db->path);
	if (posix_memalign((void **)&f->trailer, BK_ALIGN, ps) != 0) {
		f->trailer = NULL;
		return JET_errOutOfMemory;
	}
	backup_trailer_encode(&t, f->trailer, ps);
	return JET_errSuccess;
}

static JET_ERR
bk_open_db(struct jet_inst *inst, struct backup *bk, struct jet_db *db, struct bk_file *f)
{
	uint32_t ps = db->hdr.page_size;

	/* Point-in-time: the whole set is fixed at Begin, any file any time. */
	if (!bk->full || bk->delta || (bk->state != BK_DATABASES && !bk->pit))
		return JET_errInvalidBackupSequence;
	if (bk->dbs[db->dbid].dropped)
		return JET_errDatabaseNotFound;
	f->db = db;
	if (bk->pit) {
		f->pgno_last = bk->dbs[db->dbid].pgno_last;
		if ((f->hdr = malloc(ps)) == NULL)
			return JET_errOutOfMemory;
		memcpy(f->hdr, bk->dbs[db->dbid].hdr, ps);
	} else {
		RET(space_pgno_last(db, &f->pgno_last));
		if ((f->hdr = bk_stamp_header(bk, db, f->pgno_last)) == NULL)
			return JET_errOutOfMemory;
	}
	f->size = ((uint64_t)f->pgno_last + 3) * ps;
	if ((f->path = strdup(db->path)) == NULL)
		return JET_errOutOfMemory;
	bk->dbs[db->dbid].in_session = 1;
	event_log(inst, EVENT_INFO, 220, "starting the backup of %s (%llu bytes)", db->path,
	    (unsigned long long)f->size);
	return JET_errSuccess;
}

/* Reads page pgno as it was at Begin (K2), for the delta writer. */
static JET_ERR
bk_delta_read_page(void *arg, uint32_t pgno, uint8_t *page)
{
	struct jet_db *db = arg;
	JET_ERR err;

	olock_lock(&db->bk_io_lock);
	err = snapshot_read(db, pgno, page);
	olock_unlock(&db->bk_io_lock);
	return err;
}

/*
 * K7: writes db's delta out once for direct readers (K4).  Every failure
 * only costs speed: the reads then go through bk_read, and an event says so.
 */
static void
bk_delta_copy(struct jet_inst *inst, struct backup *bk, struct jet_db *db)
{
	struct bk_dbstate *ds = &bk->dbs[db->dbid];
	uint64_t size = delta_writer_size(ds->delta), floor = (uint64_t)inst->p.backup_free_floor_mb << 20, avail = 0;
	size_t chunk = 1u << 20;
	char *path = NULL;
	uint8_t *buf = NULL;
	os_file *copy = NULL;
	JET_ERR err;

	if (ds->delta_copy != NULL || bk->state_share_fd < 0)
		return;
	if ((path = malloc(strlen(db->path) + sizeof(DELTA_COPY_SUFFIX))) == NULL || (buf = malloc(chunk)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	sprintf(path, "%s%s", db->path, DELTA_COPY_SUFFIX);
	ERR(os_free_space(db->path, &avail));
	if (avail < size || avail - size < floor) {
		event_log(inst, EVENT_INFO, 223, "backup of %s%s: its reads go through the instance, one at a time: "
		    "writing it out would leave %llu bytes free, below the floor of %llu", db->path, DELTA_SUFFIX,
		    (unsigned long long)(avail < size ? 0 : avail - size), (unsigned long long)floor);
		goto out;
	}
	os_unlink(path);	/* one left by a process that died between its create and unlink */
	ERR(os_open(path, OS_WRITE | OS_CREATE | OS_EXCL, &copy));
	ERR(os_unlink(path));
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
		ERR(delta_writer_read(ds->delta, buf, off, n));
		ERR(os_pwrite(copy, buf, n, off));
	}
	ds->delta_copy = copy;
	copy = NULL;
	goto out;
err:
	event_log(inst, EVENT_WARNING, 223, "backup of %s%s: its reads go through the instance, one at a time: it "
	    "cannot be written out for direct reads (%s)", db->path, DELTA_SUFFIX, JetErrorString(err));
	if (copy != NULL && path != NULL)
		os_unlink(path);
out:
	os_close(copy);
	free(buf);
	free(path);
}

/* K7: opens db's page delta; its index is made by the first open (every listed page read once). */
static JET_ERR
bk_open_delta(struct jet_inst *inst, struct backup *bk, struct jet_db *db, struct bk_file *f)
{
	struct bk_dbstate *ds = &bk->dbs[db->dbid];

	if (ds->dropped)
		return JET_errDatabaseNotFound;
	if (ds->delta == NULL) {
		RET(delta_writer_open(ds->hdr, db->hdr.page_size, db->path, ds->delta_pages, (uint32_t)ds->delta_n,
		    bk_delta_read_page, db, &ds->delta));
		bk_delta_copy(inst, bk, db);
	}
	f->db = db;
	f->delta = 1;
	f->pgno_last = ds->pgno_last;
	f->size = delta_writer_size(ds->delta);
	if ((f->path = bk_file_name(bk, db)) == NULL)
		return JET_errOutOfMemory;
	ds->in_session = 1;
	event_log(inst, EVENT_INFO, 220, "starting the backup of %s (%zu changed pages of %u, %llu bytes)", f->path,
	    ds->delta_n, ds->pgno_last, (unsigned long long)f->size);
	return JET_errSuccess;
}

/* The attached database at path (any spelling of it), or NULL. */
static struct jet_db *
bk_db_at(struct jet_inst *inst, const char *path)
{
	struct jet_db *db = NULL;
	char *real = NULL;

	if (dbfile_realpath(path, 0, &real) >= 0)
		db = dbfile_find_path(inst, real);
	free(real);
	return db;
}

/* K7: the database whose delta name is name (<path>.delta), or NULL. */
static struct jet_db *
bk_delta_db(struct jet_inst *inst, const char *name)
{
	size_t len = strlen(name), sl = strlen(DELTA_SUFFIX);
	struct jet_db *db;
	char *path;

	if (len <= sl || strcmp(name + len - sl, DELTA_SUFFIX) != 0 || (path = strndup(name, len - sl)) == NULL)
		return NULL;
	db = bk_db_at(inst, path);
	free(path);
	return db;
}

static JET_ERR
bk_open_log(struct jet_inst *inst, const char *name, struct bk_file *f)
{
	char *canon = NULL, *dir = NULL;
	struct log_file_header h;
	uint32_t gen;
	int ours;

	/* Both canonical (os_path_normalize): "logs/", "logs//" or a symlink name the same directory. */
	if (os_path_normalize(name, &canon) < 0)
		return JET_errInvalidParameter;
	if ((dir = os_path_dir(canon)) == NULL) {
		free(canon);
		return JET_errOutOfMemory;
	}
	ours = strcmp(dir, inst->p.log_path) == 0 && log_parse_name(inst->p.base_name, strrchr(canon, '/') + 1, &gen);
	free(dir);
	free(canon);
	if (!ours)
		return JET_errInvalidParameter;
	if ((f->path = log_gen_path(inst, gen)) == NULL)
		return JET_errOutOfMemory;
	if (!os_exists(f->path)) {
		event_log(inst, EVENT_ERROR, 459, "backup: log file %s does not exist", f->path);
		return JET_errMissingFileToBackup;
	}
	RET(os_open(f->path, OS_READ, &f->file));
	RET(os_size(f->file, &f->size));
	f->gen = gen;
	/* Check the whole generation now; a damaged one fails its first read (as ESE). */
	f->verify_err = log_verify_path(f->path, gen, &inst->log.sign_log, &h);
	if (f->verify_err < 0) {
		event_log(inst, EVENT_ERROR, 477, "backup: log file %s failed verification: %s", f->path,
		    JetErrorName(f->verify_err));
		/*
		 * A damaged log is a checksum error, as in ESE; but a disk that
		 * could not be read is not a damaged log, and saying so would
		 * send the admin after the wrong problem: the I/O error stays.
		 */
		if (!os_is_io_error(f->verify_err))
			f->verify_err = JET_errLogReadVerifyFailure;
	}
	return JET_errSuccess;
}

/*
 * K4: what a reader needs to read an open file of a point-in-time set itself
 * (pitread.c): duplicated read-only descriptors and, for a database, copies
 * of its header and trailer pages.  Under backup_lock.  A damaged log (found
 * at open) is not shared: its reads go through bk_read, which fails them.
 */
/* A share that holds nothing: no descriptor, no page. */
static void
bk_share_none(struct backup_share *sh)
{
	memset(sh, 0, sizeof(*sh));
	memset(sh->fds, -1, sizeof(sh->fds));
}

static JET_ERR
bk_share(struct backup *bk, struct bk_file *f, struct backup_share *sh)
{
	int src[PITREAD_FDS_DB] = { -1, bk->state_share_fd, -1, -1 };
	uint32_t ps;
	JET_ERR err;

	bk_share_none(sh);
	if (!bk->pit)
		return JET_errInvalidBackupSequence;
	if (bk->state_share_fd < 0 || (f->delta && bk->dbs[f->db->dbid].delta_copy == NULL))
		return JET_errFeatureNotAvailable;
	sh->desc.name = f->path;
	sh->desc.size = f->size;
	if (f->delta) {
		/* Read as a closed log is: plain bytes, all of them there (K7). */
		src[0] = bk->dbs[f->db->dbid].delta_copy->fd;
		sh->nfds = PITREAD_FDS_LOG;
	} else if (f->db == NULL) {
		if (f->verify_err < 0)
			return f->verify_err;
		src[0] = f->file->fd;
		sh->nfds = PITREAD_FDS_LOG;
	} else {
		ps = f->db->hdr.page_size;
		RET(snapshot_share(f->db, &src[0], &src[2], &src[3]));
		if (f->trailer == NULL)
			RET(bk_make_trailer(bk, f));
		sh->desc.page_size = ps;
		sh->desc.pgno_last = f->pgno_last;
		if ((sh->desc.header = malloc(ps)) == NULL || (sh->desc.trailer = malloc(ps)) == NULL) {
			backup_share_free(sh);
			return JET_errOutOfMemory;
		}
		memcpy((uint8_t *)sh->desc.header, f->hdr, ps);
		memcpy((uint8_t *)sh->desc.trailer, f->trailer, ps);
		sh->nfds = PITREAD_FDS_DB;
	}
	for (int i = 0; i < sh->nfds; i++)
		if ((err = os_dup(src[i], &sh->fds[i])) < 0) {
			backup_share_free(sh);
			return err;
		}
	return JET_errSuccess;
}

void
backup_share_free(struct backup_share *sh)
{
	for (int i = 0; i < PITREAD_FDS_DB; i++)
		if (sh->fds[i] >= 0)
			close(sh->fds[i]);
	free((uint8_t *)sh->desc.header);
	free((uint8_t *)sh->desc.trailer);
	bk_share_none(sh);
}

/* K4 for a reader in this process (JetfsReadFileAt on a local handle). */
static void
bk_share_local(struct jet_inst *inst, struct backup *bk, struct bk_file *f, JET_HANDLE h)
{
	struct backup_share sh;
	struct pitread_file *pf;
	JET_ERR err;

	if ((err = bk_share(bk, f, &sh)) >= 0) {
		err = pitread_open(&sh.desc, sh.fds, sh.nfds, &pf);
		memset(sh.fds, -1, sizeof(sh.fds));	/* pitread_open took them, even when it failed */
		backup_share_free(&sh);
		if (err >= 0)
			err = pitread_set_put(bk->direct, h, pf);
	}
	/* A damaged log is failed by its first read, as before; anything else only costs speed. */
	if (err < 0 && !(f->db == NULL && f->verify_err < 0))
		event_log(inst, EVENT_WARNING, 223, "backup of %s: its reads go through the instance, one at a time: "
		    "its descriptors cannot be shared (%s)", f->path, JetErrorString(err));
}

static JET_ERR
bk_open_file(void *obj, JET_PCSTR szFileName, JET_HANDLE *phfFile, unsigned long *pulFileSizeLow,
    unsigned long *pulFileSizeHigh)
{
	struct jet_inst *inst = obj;
	struct backup *bk;
	struct bk_file *f;
	struct jet_db *db;
	int slot;
	JET_ERR err;

	RET(bk_enter(inst, &bk));
	if (szFileName == NULL || *szFileName == '\0' || phfFile == NULL)
		return bk_leave(inst, JET_errInvalidParameter);
	if (!bk->pit && bk_any_open(bk))
		return bk_leave(inst, JET_errOutOfMemory);
	if ((slot = bk_free_slot(bk)) < 0)
		return bk_leave(inst, JET_errOutOfFileHandles);
	f = &bk->files[slot];
	db = bk_db_at(inst, szFileName);
	if (bk->delta && db == NULL && (db = bk_delta_db(inst, szFileName)) != NULL)
		err = bk_open_delta(inst, bk, db, f);
	else if (db != NULL) {
		err = bk_open_db(inst, bk, db, f);
		if (err == JET_errInvalidBackupSequence && bk->state == BK_LOGS && bk->full && !bk->pit) {
			bk_file_close(f);
			return bk_leave(inst, bk_fail(inst, err, "a database opened after the log list"));
		}
	} else if (bk->state == BK_DATABASES && !bk->pit)
		err = JET_errDatabaseNotFound;
	else {
		err = bk_open_log(inst, szFileName, f);
		if (err < 0 && err != JET_errInvalidParameter) {
			bk_file_close(f);
			return bk_leave(inst, bk_fail(inst, err, szFileName));
		}
	}
	if (err < 0) {
		bk_file_close(f);
		return bk_leave(inst, err);
	}
	f->used = 1;
	*phfFile = (JET_HANDLE)slot + 1;
	if (bk->pit && (!f->delta || bk->dbs[db->dbid].delta_copy != NULL))
		bk_share_local(inst, bk, f, *phfFile);
	if (pulFileSizeLow != NULL)
		*pulFileSizeLow = (unsigned long)(f->size & 0xFFFFFFFFu);
	if (pulFileSizeHigh != NULL)
		*pulFileSizeHigh = (unsigned long)(f->size >> 32);
	return bk_leave(inst, JET_errSuccess);
}

static struct bk_file *
bk_file(struct backup *bk, JET_HANDLE h)
{
	if (h < 1 || h > BK_FILES_MAX || !bk->files[h - 1].used)
		return NULL;
	return &bk->files[h - 1];
}

/* The backup service's K4: handle h's descriptors for a reader in another process. */
JET_ERR
backup_share_file(struct jet_inst *inst, JET_HANDLE h, struct backup_share *sh)
{
	struct backup *bk;
	struct bk_file *f;

	bk_share_none(sh);
	RET(bk_enter(inst, &bk));
	if ((f = bk_file(bk, h)) == NULL)
		return bk_leave(inst, JET_errInvalidParameter);
	return bk_leave(inst, bk_share(bk, f, sh));
}

/* Reads database page pgno as the backup must see it: never torn (K1), so under bk_io_lock. */
static JET_ERR
bk_read_db_page(struct jet_db *db, uint32_t pgno, uint8_t *out)
{
	uint32_t ps = db->hdr.page_size;
	JET_ERR err;

	JET_ASSERT(db->inst, olock_held(&db->bk_io_lock));
	RET(snapshot_read(db, pgno, out));
	err = page_verify(out, ps, pgno);
	if (err == JET_errPageNotInitialized)
		return JET_errSuccess;
	if (err < 0)
		event_log(db->inst, EVENT_ERROR, 474, "backup of %s: page %u failed verification (%s)", db->path, pgno,
		    JetErrorName(err));
	return err;
}

/*
 * Reads the longest run of whole database pages from pgno that fits in len,
 * lies within the backup's pgno_last and has no kept image, with one pread,
 * and verifies each page; under bk_io_lock (K1).  Returns the bytes placed in
 * out: 0 if the run would be shorter than 2 pages (the caller goes page by
 * page), or a negative JET_ERR.
 */
static JET_ERR
bk_read_db_run(struct bk_file *f, uint32_t pgno, uint8_t *out, size_t len)
{
	struct jet_db *db = f->db;
	uint32_t ps = db->hdr.page_size, m = 0;
	size_t got;
	JET_ERR err;

	JET_ASSERT(db->inst, olock_held(&db->bk_io_lock));
	if (snapshot_failed(db) < 0)
		return 0;
	while ((size_t)(m + 1) * ps <= len && pgno + m <= f->pgno_last && !snapshot_kept(db, pgno + m))
		m++;
	if (m < 2)
		return 0;
	if ((err = os_pread_partial(db->file, out, (size_t)m * ps, page_offset(pgno, ps), &got)) < 0)
		return err;
	if (got < (size_t)m * ps)
		memset(out + got, 0, (size_t)m * ps - got);
	for (uint32_t i = 0; i < m; i++) {
		err = page_verify(out + (size_t)i * ps, ps, pgno + i);
		if (err < 0 && err != JET_errPageNotInitialized) {
			event_log(db->inst, EVENT_ERROR, 474, "backup of %s: page %u failed verification (%s)", db->path,
			    pgno + i, JetErrorName(err));
			return err;
		}
	}
	return (JET_ERR)((size_t)m * ps);
}

/* Copies stream bytes [off, off+len) of a database file into out. */
static JET_ERR
bk_read_db(struct backup *bk, struct bk_file *f, uint64_t off, uint8_t *out, size_t len)
{
	struct jet_db *db = f->db;
	uint32_t ps = db->hdr.page_size;
	uint8_t *page = NULL;
	JET_ERR err = JET_errSuccess;

	if ((page = malloc(ps)) == NULL)
		return JET_errOutOfMemory;
	olock_lock(&db->bk_io_lock);
	while (len > 0 && err >= 0) {
		uint64_t k = off / ps;
		size_t in = off % ps, n = ps - in < len ? ps - in : len;
		const uint8_t *src;
		JET_ERR run = 0;
		if (k < 2)
			src = f->hdr;
		else if (in == 0 && (run = bk_read_db_run(f, (uint32_t)(k - 1), out, len)) != 0) {
			if (run < 0) {
				err = run;
				break;
			}
			/* whole pages went straight into out, with one pread */
			out += run;
			off += (uint64_t)run;
			len -= (size_t)run;
			continue;
		} else if (k <= (uint64_t)f->pgno_last + 1) {
			if ((err = bk_read_db_page(db, (uint32_t)(k - 1), page)) < 0)
				break;
			src = page;
		} else {
			if (f->trailer == NULL && (err = bk_make_trailer(bk, f)) < 0)
				break;
			src = f->trailer;
		}
		memcpy(out, src + in, n);
		out += n;
		off += n;
		len -= n;
	}
	olock_unlock(&db->bk_io_lock);
	free(page);
	return err;
}

/*
 * Records that [off, off+len) was served.  A file counts as copied only when
 * every byte of it was (sequential ESE reads: when the last byte was), so a
 * client that skipped a part never gets logs truncated or a backup recorded.
 */
static JET_ERR
bk_note_served(struct backup *bk, struct bk_file *f, uint64_t off, uint64_t len)
{
	if (!bk->pit) {
		if (off + len >= f->size)
			f->to_end = 1;
		return JET_errSuccess;
	}
	if (ranges_add(&f->served, off, off + len) < 0)
		return JET_errOutOfMemory;
	f->to_end = ranges_cover(&f->served, f->size);
	return JET_errSuccess;
}

static JET_ERR
bk_read(struct jet_inst *inst, struct backup *bk, struct bk_file *f, uint64_t off, void *pv, unsigned long cb,
    unsigned long *pcbActual)
{
	uint64_t len = off >= f->size ? 0 : (f->size - off < cb ? f->size - off : cb);
	JET_ERR err;

	*pcbActual = 0;
	if (f->db == NULL && f->verify_err < 0)
		return bk_fail(inst, f->verify_err, f->path);
	if (len == 0)
		return JET_errSuccess;
	if (f->db != NULL) {
		err = f->delta ? delta_writer_read(bk->dbs[f->db->dbid].delta, pv, off, (size_t)len) :
		    bk_read_db(bk, f, off, pv, (size_t)len);
		if (err < 0) {
			/* A damaged database leaves the session; the others go on (as ESE). */
			event_log(inst, EVENT_ERROR, 217, "backup of %s failed (%s): this database will not be restorable",
			    f->path, JetErrorName(err));
			bk->dbs[f->db->dbid].dropped = 1;
			bk->dbs[f->db->dbid].in_session = 0;
			bk_file_close(f);
			return err;
		}
	} else if ((err = os_pread(f->file, pv, (size_t)len, off)) < 0)
		return bk_fail(inst, err == JET_errFileIOBeyondEOF ? JET_errLogReadVerifyFailure : err, f->path);
	if ((err = bk_note_served(bk, f, off, len)) < 0)
		return err;
	*pcbActual = (unsigned long)len;
	return JET_errSuccess;
}

static JET_ERR
bk_read_file(void *obj, JET_HANDLE hfFile, void *pv, unsigned long cb, unsigned long *pcbActual)
{
	struct jet_inst *inst = obj;
	struct backup *bk;
	struct bk_file *f;
	unsigned long got = 0;
	uint32_t ps;
	JET_ERR err;

	RET(bk_enter(inst, &bk));
	ps = (uint32_t)inst->p.page_size;
	if ((f = bk_file(bk, hfFile)) == NULL || pv == NULL || pcbActual == NULL)
		return bk_leave(inst, JET_errInvalidParameter);
	/* ESE's buffer rules. */
	if (((uintptr_t)pv % BK_ALIGN) != 0 || cb % ps != 0 || cb == 0)
		return bk_leave(inst, JET_errInvalidParameter);
	if (f->pos == 0 && ((f->db != NULL && cb <= 2 * ps) || (f->db == NULL && cb < 2 * ps)))
		return bk_leave(inst, JET_errInvalidParameter);
	err = bk_read(inst, bk, f, f->pos, pv, cb, &got);
	if (err >= 0 && inst->backup == bk && f->used)
		f->pos += got;
	*pcbActual = got;
	return bk_leave(inst, err);
}

/*
 * K4: a file shared with pitread.c is read there, without backup_lock, so
 * readers run in parallel and never wait for a writer; a read it cannot serve
 * (a page that fails verification, the snapshot void or ended) comes back
 * here, to bk_read, which decides and reports.
 */
static JET_ERR
bk_read_file_at(void *obj, JET_HANDLE hfFile, unsigned long long ib, void *pv, unsigned long cb,
    unsigned long *pcbActual)
{
	struct jet_inst *inst = obj;
	struct pitread_file *pf = NULL;
	struct backup *bk;
	struct bk_file *f;
	size_t got;
	JET_ERR err;

	RET(bk_enter(inst, &bk));
	if (!bk->pit)
		return bk_leave(inst, JET_errInvalidBackupSequence);
	if ((f = bk_file(bk, hfFile)) == NULL || (pv == NULL && cb > 0) || pcbActual == NULL)
		return bk_leave(inst, JET_errInvalidParameter);
	if (pv != NULL)
		pf = pitread_set_get(bk->direct, hfFile);
	bk_leave(inst, JET_errSuccess);
	if (pf != NULL) {
		err = pitread_read(pf, ib, pv, cb, &got);
		pitread_unref(pf);
		if (err >= 0) {
			*pcbActual = (unsigned long)got;
			return JET_errSuccess;
		}
	}
	RET(bk_enter(inst, &bk));
	if (!bk->pit)
		return bk_leave(inst, JET_errInvalidBackupSequence);
	if ((f = bk_file(bk, hfFile)) == NULL)
		return bk_leave(inst, JET_errInvalidParameter);
	err = bk_read(inst, bk, f, ib, pv, cb, pcbActual);
	/* A failed read may have ended the whole backup (bk_fail: bk and f are gone), or taken the file out. */
	if (err < 0 && inst->backup == bk && !f->used)
		pitread_set_remove(bk->direct, hfFile, NULL);
	return bk_leave(inst, err);
}

/* What a reader served through pitread.c counts as served (bk_note_served), once the handle closes. */
static JET_ERR
bk_take_direct(struct backup *bk, struct bk_file *f, JET_HANDLE h)
{
	struct ranges served;
	JET_ERR err = JET_errSuccess;

	pitread_set_remove(bk->direct, h, &served);
	for (size_t i = 0; i < served.n && err >= 0; i++)
		err = bk_note_served(bk, f, served.r[i][0], served.r[i][1] - served.r[i][0]);
	ranges_free(&served);
	return err;
}

/* The backup service: what its client read itself (bkclient.c) counts as served. */
JET_ERR
backup_note_served(struct jet_inst *inst, JET_HANDLE h, uint64_t off, uint64_t len)
{
	struct backup *bk;
	struct bk_file *f;

	RET(bk_enter(inst, &bk));
	if (!bk->pit)
		return bk_leave(inst, JET_errInvalidBackupSequence);
	if ((f = bk_file(bk, h)) == NULL || off > f->size || len > f->size - off)
		return bk_leave(inst, JET_errInvalidParameter);
	return bk_leave(inst, bk_note_served(bk, f, off, len));
}

/* Closes f, open as h: a file one handle served wholly counts as copied. */
static JET_ERR
bk_close(struct jet_inst *inst, struct backup *bk, struct bk_file *f, JET_HANDLE h)
{
	JET_ERR err;

	if (bk->pit && (err = bk_take_direct(bk, f, h)) < 0)
		return err;
	if (f->to_end) {
		if (f->db != NULL) {
			bk->dbs[f->db->dbid].done = 1;
			event_log(inst, EVENT_INFO, 221, "backup of %s complete", f->path);
		} else if (f->gen >= bk->copy_mic && f->gen < bk->copy_mac && bk->copied != NULL)
			bk->copied[f->gen - bk->copy_mic] = 1;
	} else
		event_log(inst, EVENT_WARNING, 222, "backup file %s closed before all its data was read", f->path);
	bk_file_close(f);
	return JET_errSuccess;
}

static JET_ERR
bk_close_file(void *obj, JET_HANDLE hfFile)
{
	struct jet_inst *inst = obj;
	struct backup *bk;
	struct bk_file *f;

	RET(bk_enter(inst, &bk));
	if ((f = bk_file(bk, hfFile)) == NULL)
		return bk_leave(inst, JET_errInvalidParameter);
	return bk_leave(inst, bk_close(inst, bk, f, hfFile));
}

/* JetBackupInstance with no path: truncate as if every listed log was copied. */
void
backup_assume_copied(struct jet_inst *inst)
{
	struct backup *bk = inst->backup;

	if (bk != NULL && bk->copied != NULL && bk->copy_mac > bk->copy_mic)
		memset(bk->copied, 1, bk->copy_mac - bk->copy_mic);
}

/* ---- truncation ---- */

static JET_ERR
bk_truncate_log(void *obj)
{
	struct jet_inst *inst = obj;
	struct backup *bk;
	uint32_t deleted = 0, gone;
	JET_ERR err = JET_errSuccess;

	RET(bk_enter(inst, &bk));
	if (bk->delta) {
		event_log(inst, EVENT_WARNING, 246, "logs not truncated: a page delta truncates no log (K7)");
		return bk_leave(inst, JET_errInvalidBackupSequence);
	}
	if (bk_any_open(bk) || !bk->have_loginfo || (bk->full && bk->state == BK_DATABASES && !bk->pit))
		return bk_leave(inst, JET_errInvalidBackupSequence);
	if ((err = bk_prepare_logs(inst, bk)) < 0)
		return bk_leave(inst, err);
	for (uint32_t g = bk->copy_mic; g < bk->copy_mac; g++)
		if (!bk->copied[g - bk->copy_mic]) {
			event_log(inst, EVENT_ERROR, 520, "logs not truncated: generation %u was not copied", g);
			return bk_leave(inst, JET_errLogFileNotCopied);
		}
	bk->truncated = 1;
	if (bk->delete_mic >= bk->delete_mac) {
		event_log(inst, EVENT_INFO, 225, "no log files can be truncated");
		return bk_leave(inst, JET_errSuccess);
	}
	bk_log_phase(inst, BKP_TRUNCATE, 0, 0, NULL);
	for (gone = bk->delete_mic; gone < bk->delete_mac; gone++) {
		char *p = log_gen_path(inst, gone);
		if (p == NULL)
			err = JET_errOutOfMemory;
		else if (os_exists(p) && (err = pagetrack_ensure(inst, gone)) < 0)
			;	/* its page summary cannot be made: the log stays (pagetrack.c P1) */
		else if ((err = os_unlink(p)) == JET_errFileNotFound) {
			event_log(inst, EVENT_WARNING, 227, "truncation: %s was already gone", p);
			err = JET_errSuccess;
		} else if (err >= 0)
			deleted++;
		free(p);
		if (err < 0)
			break;
	}
	if (err >= 0)
		err = os_fsync_dir(inst->p.log_path);
	/* Only the generations deleted: one whose unlink failed is still there. */
	log_forget_gens_below(&inst->log, gone);
	event_log(inst, err >= 0 ? EVENT_INFO : EVENT_ERROR, 224, "deleted log files %u to %u (%u files)%s%s",
	    bk->delete_mic, bk->delete_mac - 1, deleted, err < 0 ? ": " : "", err < 0 ? JetErrorString(err) : "");
	return bk_leave(inst, err);
}

/* ---- end ---- */

static int
bk_all_logs_copied(struct backup *bk)
{
	for (uint32_t g = bk->copy_mic; g < bk->copy_mac; g++)
		if (bk->copied == NULL || !bk->copied[g - bk->copy_mic])
			return 0;
	return 1;
}

/* Whether every attached database was in the session and copied whole (so End records it in each). */
static int
bk_all_recorded(struct jet_inst *inst, struct backup *bk)
{
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (inst->dbs[i] != NULL && (!bk->dbs[i].in_session || !bk->dbs[i].done))
			return 0;
	return 1;
}

/*
 * Records the backup in each database it covered (ESE's
 * ErrBKUpdateHdrBackupInfo).  A header that cannot be written gets event 219
 * and the others are still recorded; the first such error is returned.
 */
static JET_ERR
bk_record(struct jet_inst *inst, struct backup *bk, int truncated)
{
	JET_ERR first = JET_errSuccess;

	struct bkinfo bi = { bk->mark_lsn, bk->mark_time, bk->copy_mic, bk->copy_mac - 1 };
	int slot = bk->delta ? BK_DIFF_PREV : bk->full ? (truncated ? BK_FULL_PREV : BK_COPY_PREV) :
	    (truncated ? BK_INC_PREV : BK_DIFF_PREV);
	static const char *const kinds[] = { "full", "incremental", "copy", "differential" };

	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		struct jet_db *db = inst->dbs[i];
		JET_ERR err;
		if (db == NULL || !bk->dbs[i].in_session || (bk->full && !bk->dbs[i].done))
			continue;
		err = bk_log_phase(inst, BKP_UPDATE, i, slot, &bi);
		if (err >= 0) {
			dbfile_apply_backup(db, slot, &bi);
			err = dbfile_write_header(db);
		}
		if (err < 0) {
			event_log(inst, EVENT_WARNING, 219, "%s: the backup could not be recorded in the header: %s",
			    db->path, JetErrorString(err));
			if (first == JET_errSuccess)
				first = err;
		} else
			event_log(inst, EVENT_INFO, 213, "%s: %s backup recorded (log generations %u to %u)", db->path,
			    bk->delta ? "page delta (as differential)" : kinds[slot], bi.gen_low, bi.gen_high);
	}
	if (slot == BK_FULL_PREV && first == JET_errSuccess && bk_all_recorded(inst, bk))
		pagetrack_full_recorded(inst);
	return first;
}

/*
 * Ends the backup: recorded if normal and nothing stands against it.  Returns
 * what End tells a client that asked for a normal end it did not get (or a
 * header that could not be written): ESE returns success whatever was
 * recorded; a point-in-time client (jetfs, JetBackupInstance) says "recorded"
 * on success, so it learns the truth.
 */
static JET_ERR
bk_end(struct jet_inst *inst, int normal, int truncate_done, JET_ERR why, const char *reason)
{
	struct backup *bk = inst->backup;
	JET_ERR downgraded = JET_errSuccess;

	if (bk->stopped && normal)
		downgraded = JET_errBackupAbortByServer;
	if (bk->stopped)
		normal = 0, why = JET_errBackupAbortByServer;
	if (normal && (bk->state != BK_LOGS || !bk_all_logs_copied(bk))) {
		event_log(inst, EVENT_WARNING, 215, "backup ended by the client before %s: recorded as aborted",
		    bk->state != BK_LOGS ? "the log files were listed" : "every log file was copied");
		normal = 0;
		downgraded = JET_errLogFileNotCopied;
	}
	if (normal) {
		downgraded = bk_record(inst, bk, bk->truncated || truncate_done);
		if (downgraded < 0)
			bk_note_end(inst, downgraded, "ended normally, but not recorded in every header: %s",
			    JetErrorString(downgraded));
		else
			bk_note_end(inst, JET_errSuccess, "ended normally and recorded");
	} else {
		if (reason == NULL)
			reason = why == JET_errBackupAbortByServer ? "by the server (JetStopBackup or shutdown)" :
			    downgraded < 0 ? "by the client before every log file was copied" : "by the client";
		bk_log_phase(inst, BKP_ABORT, 0, 0, NULL);
		event_log(inst, EVENT_WARNING, why == JET_errBackupAbortByServer ? 226 : 215, "backup aborted %s", reason);
		bk_note_end(inst, downgraded < 0 ? downgraded : why < 0 ? why : JET_errClientRequestToStopJetService,
		    "aborted %s", reason);
	}
	bk_log_phase(inst, BKP_STOP, 0, 0, NULL);
	if (!bk->pit)
		downgraded = JET_errSuccess;
	bk_cleanup(inst);
	return downgraded;
}

static JET_ERR
bk_end_call(void *obj, JET_GRBIT grbit)
{
	struct jet_inst *inst = obj;
	JET_GRBIT mode = grbit & (JET_bitBackupEndNormal | JET_bitBackupEndAbort);
	JET_ERR err;

	pthread_mutex_lock(&inst->backup_lock);
	(void)bk_guard_locked(inst);
	if (inst->backup == NULL && inst->backup_aborted_unseen) {
		/* K6: the client ends what the server aborted */
		inst->backup_aborted_unseen = 0;
		err = mode == JET_bitBackupEndNormal ? JET_errBackupAbortByServer : JET_errSuccess;
	} else if (inst->backup == NULL)
		err = JET_errNoBackup;
	else {
		err = bk_end(inst, mode == JET_bitBackupEndNormal, (grbit & JET_bitBackupTruncateDone) != 0,
		    JET_errSuccess, NULL);
	}
	pthread_mutex_unlock(&inst->backup_lock);
	return err;
}

static JET_ERR
bk_stop(void *obj)
{
	struct jet_inst *inst = obj;

	pthread_mutex_lock(&inst->backup_lock);
	if (inst->backup != NULL) {
		inst->backup->stopped = 1;
		bk_set_state(inst->backup, JET_errBackupAbortByServer);
	}
	pthread_mutex_unlock(&inst->backup_lock);
	return JET_errSuccess;
}

/* JetTerm with JET_bitTermStopBackup / Abrupt: the backup ends as aborted by the server. */
void
backup_term(struct jet_inst *inst)
{
	pthread_mutex_lock(&inst->backup_lock);
	if (inst->backup != NULL) {
		inst->backup->stopped = 1;
		(void)bk_end(inst, 0, 0, JET_errBackupAbortByServer, NULL);
	}
	pthread_mutex_unlock(&inst->backup_lock);
}

/* ---- a backup that outlives its client (K5) ---- */

/*
 * The backup service's client that began bk vanished without ending it:
 * hold it for a takeover by uid (backup_take_over) if it can be resumed (a
 * point-in-time backup, not stopped, JET_paramJetfsBackupHoldTime above 0).
 * The vanished client's files are closed as it would have closed them.
 * JET_errSuccess: held; else the caller aborts it as before.
 */
JET_ERR
backup_hold(struct jet_inst *inst, const struct backup *mine, uid_t uid, long client_pid)
{
	struct backup *bk;
	JET_ERR err = JET_errSuccess;

	pthread_mutex_lock(&inst->backup_lock);
	bk = inst->backup;
	if (bk == NULL || bk != mine || !bk->pit || bk->stopped || inst->p.backup_hold_s == 0 || bk->held) {
		pthread_mutex_unlock(&inst->backup_lock);
		return JET_errInvalidOperation;
	}
	for (int i = 0; i < BK_FILES_MAX && err >= 0; i++)
		if (bk->files[i].used)
			err = bk_close(inst, bk, &bk->files[i], (JET_HANDLE)(i + 1));
	if (err < 0) {
		pthread_mutex_unlock(&inst->backup_lock);
		return err;
	}
	bk->held = 1;
	bk->held_uid = uid;
	bk->held_until_ms = os_monotonic_ms() + (int64_t)inst->p.backup_hold_s * 1000;
	event_log(inst, EVENT_WARNING, 710,
	    "backup %#llx: its client (pid %ld, uid %lu) vanished; held %lu s for a takeover (jetfs -o resume)",
	    (unsigned long long)bk->mark_lsn, client_pid, (unsigned long)uid, inst->p.backup_hold_s);
	pthread_mutex_unlock(&inst->backup_lock);
	return JET_errSuccess;
}

/* Aborts a held backup whose time is up (or that was stopped); the milliseconds until the next check, or -1. */
int64_t
backup_expire_held(struct jet_inst *inst)
{
	struct backup *bk;
	int64_t left = -1;

	pthread_mutex_lock(&inst->backup_lock);
	bk = inst->backup;
	if (bk != NULL && bk->held) {
		left = bk->held_until_ms - os_monotonic_ms();
		if (left <= 0 || bk->stopped) {
			char reason[160];
			snprintf(reason, sizeof(reason), "%s: nobody took it over in %lu s",
			    bk->stopped ? "stopped while held" : "held for its vanished client",
			    inst->p.backup_hold_s);
			event_log(inst, EVENT_WARNING, 712, "backup %#llx: %s: aborted", (unsigned long long)bk->mark_lsn,
			    reason);
			(void)bk_end(inst, 0, 0, JET_errBackupAbortByServer, reason);
			left = -1;
		}
	}
	pthread_mutex_unlock(&inst->backup_lock);
	return left;
}

JET_ERR
backup_take_over(struct jet_inst *inst, uint64_t id, uid_t uid, long client_pid)
{
	struct backup *bk;
	JET_ERR err;

	RET(bk_enter(inst, &bk));
	if (!bk->held || (id != 0 && id != bk->mark_lsn))
		return bk_leave(inst, JET_errNoBackup);
	if (uid != bk->held_uid) {
		event_log(inst, EVENT_WARNING, 711,
		    "backup %#llx: uid %lu (pid %ld) may not take it over: it was begun by uid %lu",
		    (unsigned long long)bk->mark_lsn, (unsigned long)uid, client_pid, (unsigned long)bk->held_uid);
		return bk_leave(inst, JET_errPermissionDenied);
	}
	bk->held = 0;
	bk->takeovers++;
	err = JET_errSuccess;
	event_log(inst, EVENT_INFO, 711, "backup %#llx taken over by pid %ld (uid %lu): takeover %u",
	    (unsigned long long)bk->mark_lsn, client_pid, (unsigned long)uid, bk->takeovers);
	return bk_leave(inst, err);
}

static JET_ERR
bk_note_served_call(void *obj, JET_HANDLE hfFile, unsigned long long ib, unsigned long long cb)
{
	return backup_note_served(obj, hfFile, ib, cb);
}

static JET_ERR
bk_take_over(void *obj, unsigned long long ullId)
{
	return backup_take_over(obj, ullId, geteuid(), (long)getpid());
}

static JET_ERR
bk_get_info(void *obj, JETFS_BACKUPINFO *info)
{
	struct jet_inst *inst = obj;
	struct backup *bk;

	memset((char *)info + sizeof(info->cbStruct), 0, sizeof(*info) - sizeof(info->cbStruct));
	pthread_mutex_lock(&inst->backup_lock);
	if ((bk = inst->backup) != NULL) {
		info->ullId = bk->mark_lsn;
		info->ullBeginTimeUs = bk->mark_time;
		info->grbit = bk->grbit;
		info->cTakeOvers = bk->takeovers;
		if (bk->held) {
			int64_t left = bk->held_until_ms - os_monotonic_ms();
			info->fHeld = 1;
			info->ullHeldMsLeft = left > 0 ? (unsigned long long)left : 0;
			info->ulHeldUid = (unsigned long)bk->held_uid;
		}
		for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
			if (inst->dbs[i] != NULL)
				info->cbKept += snapshot_kept_bytes(inst->dbs[i]);
	}
	info->cbKeptMax = (unsigned long long)inst->p.backup_kept_max_mb << 20;
	info->ullLastEndId = inst->backup_last_end_id;
	info->errLastEnd = inst->backup_last_end_err;
	snprintf(info->szLastEnd, sizeof(info->szLastEnd), "%s", inst->backup_last_end);
	pthread_mutex_unlock(&inst->backup_lock);
	return JET_errSuccess;
}

#define BK_AREA_MAX (UINT64_C(1) << 30)

static JET_ERR
bk_client_area(void *obj, unsigned long long cb, int *pfd, unsigned long long *pcbActual)
{
	struct jet_inst *inst = obj;
	struct backup *bk;
	JET_ERR err;
	int fd;

	RET(bk_enter(inst, &bk));
	if (bk->area_fd < 0) {
		if (cb == 0 || cb > BK_AREA_MAX)
			return bk_leave(inst, JET_errInvalidParameter);
		if ((err = os_shm_create("jetfs-client-area", (size_t)cb, &bk->area_fd, &bk->area)) < 0) {
			bk->area_fd = -1;
			bk->area = NULL;
			return bk_leave(inst, err);
		}
		bk->area_size = (size_t)cb;
	}
	if ((err = os_dup(bk->area_fd, &fd)) < 0)
		return bk_leave(inst, err);
	*pfd = fd;
	if (pcbActual != NULL)
		*pcbActual = bk->area_size;
	return bk_leave(inst, JET_errSuccess);
}

/* The local instance's backup calls (bkapi.c chooses them by the handle); obj is the struct jet_inst. */
const struct bkapi_ops backup_ops = {
	.begin = bk_begin,
	.get_attach_info = bk_get_attach_info,
	.open_file = bk_open_file,
	.read_file = bk_read_file,
	.read_file_at = bk_read_file_at,
	.close_file = bk_close_file,
	.get_log_info = bk_get_log_info,
	.get_truncate_log_info = bk_get_truncate_log_info,
	.truncate_log = bk_truncate_log,
	.end = bk_end_call,
	.stop = bk_stop,
	.get_info = bk_get_info,
	.take_over = bk_take_over,
	.client_area = bk_client_area,
	.note_served = bk_note_served_call,
};
