/*
 * jet_int.h -- libjet internals shared between subsystems.
 *
 * One section per source file; every function visible outside its file
 * starts with its file's name (cache_get lives in cache.c, btree_seek in
 * btree.c, dbhdr_sig_make in dbhdr.c); static helpers may be shorter.
 *
 * Layers, bottom to top (the one table is src/layers.txt, which
 * tests/layers.test checks at make check; doc/design.md, "Layers").  A file
 * calls its own layer and the layers below:
 *
 *   base        os crc32c page dbhdr event error handle
 *   log         log                 (the WAL: the file layer asks it an LSN's generation)
 *   file        dbfile snapshot     (database files and headers; a backup's kept images)
 *   cache       cache
 *   checkpoint  checkpoint
 *   access      txn space
 *   btree       btree
 *   services    recovery backup delta  (JetInit runs recovery; JetTerm ends a backup; page deltas)
 *   api         instance session db table verify
 *   backup-api  bkapi bkclient bksvc backupdir restore
 *
 * The allowed upward calls, all in src/layers.txt with why: instance.c calls
 * bksvc_start and bksvc_stop (JetInit starts the backup service, JetTerm
 * stops it; the service serves through the public backup calls of bkapi.c).
 * The largest cycle of calls (instance, session, table, bkapi, bksvc) stays
 * within the top two layers; the test fails above 6 files.
 *
 * Lock order, outermost first:
 *
 *   inst->write_lock   (a session's transaction; serializes all data access)
 *   inst->ckpt_lock    (one checkpoint at a time)
 *   inst->inst_lock    (sessions, attached databases, checkpoint state)
 *   db->hdr_lock       (a database header)
 *   cache->lock        (frames, hash, dirty state)
 *   log->lock          (log buffer and flush state)
 *
 * The background thread (instance.c) takes only inst_lock, cache->lock and
 * log->lock, never write_lock, so a session never waits on I/O it did not
 * cause, except on a cache miss.
 *
 * inst_lock, cache->lock, log->lock and each database's bk_io_lock are
 * struct olock (below): they record their holder, so a function that needs
 * one held says so with JET_ASSERT(inst, olock_held(...)), not a comment.
 */
#ifndef JET_INT_H
#define JET_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#include "format.h"
#include "jet.h"
#include "os.h"
#include "olock.h"

/* ---- little-endian field access ---- */
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

#define ERR(x) do { if ((err = (x)) < 0) goto err; } while (0)
#define RET(x) do { JET_ERR ret_ = (x); if (ret_ < 0) return ret_; } while (0)

typedef uint64_t lsn_t;		/* byte offset in the log stream; 0 = none */

struct jet_inst;

/* ---- error.c: the fatal path and preconditions ---- */
JET_ERR error_fatal(struct jet_inst *inst, JET_ERR err, const char *what);
#ifdef JET_DEBUG
_Noreturn void error_assert_abort(const char *where, const char *cond);
#endif

/*
 * JET_ASSERT(inst, cond): a precondition, in a function returning JET_ERR.
 * Built with -DJET_DEBUG (configure --enable-debug), a false cond aborts
 * with file:line and cond, so a debugger or core file shows the caller.
 * Otherwise the instance goes down (error_fatal: event 1090, and every
 * later call fails with JET_errInstanceUnavailable) and the function
 * returns JET_errInternalError: code past a broken invariant must not go on
 * to write pages.  inst may be NULL (no instance to take down).
 */
#define JET_STR_(x) #x
#define JET_STR(x) JET_STR_(x)
#ifdef JET_DEBUG
#define JET_ASSERT(inst, cond) do { (void)(inst); \
	if (!(cond)) error_assert_abort(__FILE__ ":" JET_STR(__LINE__), #cond); } while (0)
#else
#define JET_ASSERT(inst, cond) do { \
	if (!(cond)) return error_fatal((inst), JET_errInternalError, __FILE__ ":" JET_STR(__LINE__) ": " #cond); \
} while (0)
#endif

struct jet_db;
struct jet_session;
struct frame;

/* ---- crc32c.c ---- */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* ---- page.c: page layout (see the format comment in page.c) ---- */
#define PAGE_HDR_SIZE 40
#define PG_CHECKSUM 0
#define PG_PGNO 4
#define PG_DBTIME 8
#define PG_TYPE 16
#define PG_FLAGS 17
#define PG_NSLOTS 18
#define PG_FREE_LO 20
#define PG_FREE_HI 22
#define PG_NEXT 24
#define PG_PREV 28
#define PG_AUX 32
#define PG_OBJID 36

enum page_type {
	PAGE_NONE = 0,		/* never written (all zero) */
	PAGE_SPACE = 1,		/* pgno 1: allocation state */
	PAGE_LEAF = 2,		/* B+tree leaf */
	PAGE_INTERNAL = 3,	/* B+tree internal node */
	PAGE_LV = 4,		/* long-value chunk */
	PAGE_FREELIST = 6,	/* an array of free page numbers (space.c) */
};

#define PGNO_SPACE 1
#define PGNO_CATALOG 2
#define PAGE_SIZE_MIN 4096
#define PAGE_SIZE_MAX 32768

/* file offset of a page: pages 0 and 1 of the file are the header copies */
static inline uint64_t page_offset(uint32_t pgno, uint32_t page_size) { return ((uint64_t)pgno + 1) * page_size; }

void page_seal(uint8_t *page, uint32_t page_size);
JET_ERR page_verify(const uint8_t *page, uint32_t page_size, uint32_t pgno);
int page_is_zero(const uint8_t *page, uint32_t page_size);
void page_init(uint8_t *page, uint32_t page_size, uint32_t pgno, enum page_type type, uint32_t objid);

/* Space page fields (after the header). */
#define SP_PGNO_LAST (PAGE_HDR_SIZE + 0)	/* highest allocated pgno */
#define SP_FREE_HEAD (PAGE_HDR_SIZE + 4)	/* first free-list page */
#define SP_FREE_COUNT (PAGE_HDR_SIZE + 8)	/* free pages, list pages included */
#define SP_NEXT_OBJID (PAGE_HDR_SIZE + 12)

/* ---- dbhdr.c: the database header page (format in dbhdr.c) ---- */
struct bkinfo {
	lsn_t lsn_mark;		/* log position of the backup's mark */
	uint64_t time_mark;	/* microseconds since the epoch */
	uint32_t gen_low, gen_high;
};

enum bk_slot { BK_FULL_PREV, BK_INC_PREV, BK_COPY_PREV, BK_DIFF_PREV, BK_FULL_CUR, BK_SNAP_CUR, BK_NSLOTS };

struct jet_sig {		/* JET_SIGNATURE, stored portably */
	uint32_t random;
	uint64_t time_create;	/* microseconds since the epoch */
	char host[16];
};

struct db_header {
	uint32_t version;
	uint32_t page_size;
	uint32_t dbstate;
	uint32_t dbid;
	struct jet_sig sign_db, sign_log;
	uint64_t dbtime;		/* dbtime when the header was written */
	lsn_t lsn_consistent, lsn_attach, lsn_detach;
	uint64_t time_consistent, time_attach, time_detach;
	uint32_t gen_min_required, gen_max_required, gen_max_committed;
	uint32_t gen_consistent, gen_attach;
	uint32_t pgno_last;		/* at the last clean shutdown or backup stamp */
	struct bkinfo bk[BK_NSLOTS];
	uint32_t flags;
};

void dbhdr_encode(const struct db_header *hdr, uint8_t *page);
JET_ERR dbhdr_decode(const uint8_t *page, uint32_t len, struct db_header *hdr);
JET_ERR dbhdr_read(os_file *file, struct db_header *hdr);
JET_ERR dbhdr_write(os_file *file, const struct db_header *hdr);

void dbhdr_sig_encode(const struct jet_sig *sig, uint8_t *p);
void dbhdr_sig_decode(const uint8_t *p, struct jet_sig *sig);
void dbhdr_bkinfo_encode(const struct bkinfo *bi, uint8_t *p);
void dbhdr_bkinfo_decode(const uint8_t *p, struct bkinfo *bi);
void dbhdr_sig_make(struct jet_sig *sig);
int dbhdr_sig_equal(const struct jet_sig *a, const struct jet_sig *b);
void dbhdr_sig_to_jet(const struct jet_sig *sig, JET_SIGNATURE *out);
uint64_t dbhdr_time_now_us(void);
void dbhdr_time_to_logtime(uint64_t us, JET_LOGTIME *lt);
void dbhdr_time_format(uint64_t us, char *buf, size_t len);

/* ---- event.c ---- */
enum event_level { EVENT_INFO, EVENT_WARNING, EVENT_ERROR };
void event_log(struct jet_inst *inst, enum event_level level, int id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- cache.c: the buffer cache ---- */
struct frame {
	uint8_t *data;
	struct jet_db *db;		/* NULL: free frame */
	uint32_t pgno;
	int pins;
	int ref;			/* clock reference bit */
	struct jet_session *owner;	/* transaction holding before-images */
	int owner_level;
	const uint8_t *committed;	/* owner's level-1 before-image: the committed page */
	lsn_t rec_lsn;			/* first record since last write (0: clean) */
	lsn_t page_lsn;			/* end of the last record that changed it */
	lsn_t fpi_lsn;			/* start of the last record logging its full image */
	uint64_t version;		/* bumped at each committed change */
	int writing;
	struct frame *hnext;
};

struct cache {
	struct olock lock;
	pthread_cond_t cond;
	struct frame *frames;
	uint8_t *mem;
	size_t nframes;
	uint32_t page_size;
	struct frame **hash;
	size_t hash_size;
	size_t clock_hand;
	size_t ndirty;
	uint64_t next_version;		/* frame versions are unique across reuse */
	uint64_t hits, misses, writes;
};

JET_ERR cache_init(struct cache *cache, size_t nframes, uint32_t page_size);
void cache_destroy(struct cache *cache);
JET_ERR cache_get(struct jet_db *db, uint32_t pgno, struct frame **fp);
JET_ERR cache_get_new(struct jet_db *db, uint32_t pgno, struct frame **fp);
void cache_unpin(struct frame *f);
JET_ERR cache_flush(struct jet_inst *inst, struct jet_db *only_db, lsn_t below_lsn, int *completep);
void cache_drop_db(struct jet_db *db);
void cache_mark_dirty(struct frame *f, lsn_t start);
void cache_release_owned(struct frame *f, lsn_t end, int committed);
void cache_mark_redone(struct frame *f, lsn_t start, lsn_t end);

/* ---- log.c: the write-ahead log (format in log.c) ---- */
enum log_rec_type {
	LREC_TXN = 1,		/* page changes of one committed transaction */
	LREC_CREATEDB = 2,	/* a database file was created and attached */
	LREC_ATTACH = 3,	/* an existing database was attached */
	LREC_DETACH = 4,	/* a database was detached (and is clean) */
	LREC_BACKUP = 5,	/* a backup state change (issue 3) */
	LREC_MAX
};
#define LREC_HDR_SIZE 8		/* u32 length, u8 type, 3 reserved */
/*
 * The phase of an LREC_BACKUP record (ESE's lrtypBackup2), its first byte
 * after the header.  Only Update changes a database (its header); the others
 * are marks that recovery passes over.
 */
enum bk_phase { BKP_BEGIN = 1, BKP_PREPARE_LOGS = 2, BKP_TRUNCATE = 3, BKP_UPDATE = 4, BKP_ABORT = 5, BKP_STOP = 6 };

enum log_op_kind { LOP_IMAGE = 1, LOP_DIFF = 2 };
#define LOP_HDR_SIZE 24		/* u8 dbid, u8 kind, u16 nranges, u32 pgno, u64 before, u64 after */

struct log_gen {		/* one generation file on disk */
	uint32_t gen;
	lsn_t first_lsn;
};

struct log_file_header {
	uint32_t version;		/* LOG_VERSION_UNTIMED or LOG_VERSION */
	uint32_t gen;
	uint32_t file_size;
	uint32_t page_size;
	uint32_t flags;
	uint64_t time_create, time_prev;
	struct jet_sig sign_log;
	lsn_t first_lsn;		/* stream offset of the first payload byte */
	lsn_t first_record_lsn;		/* first record that starts here (0: none) */
	lsn_t ckpt_lsn;			/* checkpoint when created */
	uint32_t ckpt_gen;
	char base[4];
};

struct pagetrack_gen;

struct jet_log {
	struct jet_inst *inst;
	struct olock lock;
	pthread_cond_t cond;
	int enabled;
	os_file *cur;			/* <base>.log */
	uint32_t cur_gen;
	uint64_t cur_time;		/* creation time of the current generation */
	uint64_t commit_time;		/* of the last commit logged: the next is never earlier */
	uint64_t cur_off;		/* next write offset in the current file */
	uint32_t seg_seq;
	uint32_t file_size;
	lsn_t append_lsn;		/* next record goes here */
	lsn_t flushed_lsn;		/* everything below is durable */
	lsn_t fpi_horizon;		/* redo point of the newest checkpoint begun */
	lsn_t state_end;		/* end of the last record that is not a backup mark */
	int in_flight;			/* commits appended but not yet marked dirty */
	uint8_t *buf;			/* records [buf_lsn, append_lsn) */
	size_t buf_len, buf_cap;
	lsn_t buf_lsn;
	lsn_t *starts;			/* record starts in buf */
	size_t nstarts, starts_cap;
	int flushing;
	JET_ERR fatal;
	struct log_gen *gens;		/* generations on disk, ascending */
	size_t ngens, gens_cap;
	uint32_t min_gen_keep;		/* a running backup needs gens >= this (0: none) */
	uint64_t flushes, bytes_written;
	struct jet_sig sign_log;
	int dir_lock;			/* flock'ed log directory's fd + 1 (0: none) */
	pthread_t pre_thread;		/* prepares the next generation's file */
	int pre_running;
	os_file *pre_file;
	JET_ERR pre_err;
	struct pagetrack_gen *pt;	/* pages changed in the current generation (the flusher's) */
};

char *log_gen_path(struct jet_inst *inst, uint32_t gen);
char *log_name_path(const char *dir, const char *base, uint32_t gen);
char *log_cur_path(struct jet_inst *inst);
int log_parse_name(const char *base, const char *name, uint32_t *genp);
JET_ERR log_open_for_run(struct jet_log *log, uint32_t last_gen, uint64_t last_time, lsn_t next_lsn);
void log_close(struct jet_log *log);
JET_ERR log_lock_dir(struct jet_log *log);
JET_ERR log_append(struct jet_log *log, const uint8_t *rec, size_t len, lsn_t *startp, lsn_t *endp);
JET_ERR log_append_locked(struct jet_log *log, const uint8_t *rec, size_t len, lsn_t *startp, lsn_t *endp);
JET_ERR log_flush_to(struct jet_log *log, lsn_t lsn);
JET_ERR log_roll(struct jet_log *log);
uint32_t log_last_needed_gen(struct jet_log *log);
JET_ERR log_close_current(struct jet_log *log, lsn_t logical_end);
uint32_t log_gen_of(struct jet_log *log, lsn_t lsn);
void log_forget_gens_below(struct jet_log *log, uint32_t gen);
JET_ERR log_scan_dir(struct jet_inst *inst, uint32_t **gensp, size_t *ngensp, int *have_curp);

JET_ERR log_header_read(os_file *file, struct log_file_header *h);
int log_segment_read(os_file *file, const struct log_file_header *hdr, uint64_t off, uint8_t **bufp,
    uint32_t *lenp, uint32_t *flagsp, lsn_t *lsnp, const char **whyp, JET_ERR *errp);
void log_header_encode(const struct log_file_header *h, uint8_t *buf);

/* Sequential reader over a chain of generations (recovery, restore, verify). */
struct log_reader {
	struct jet_inst *inst;		/* for events; may be NULL */
	const char *dir;
	char base[4];
	uint32_t gen;			/* generation being read */
	uint32_t last_gen;		/* stop after this one (0: follow to <base>.log) */
	int in_current;			/* reading <base>.log */
	int gap;			/* <base>.log is later than the generation wanted */
	os_file *file;
	struct log_file_header hdr;
	uint64_t off;			/* next segment offset */
	uint8_t *seg;			/* current segment payload */
	size_t seg_len, seg_pos;
	lsn_t sync_lsn;			/* first record boundary known (UINT64_MAX: none yet) */
	lsn_t pos;			/* stream position of seg[seg_pos] */
	int at_end;
	lsn_t end_lsn;			/* valid end of the stream once at_end */
	uint64_t end_off;		/* file offset of the valid end in the last file */
	uint64_t prev_time;
	int have_prev;
	struct jet_sig sign;
	int have_sign;
	uint8_t *rec;
	size_t rec_cap;
	uint64_t bytes_read;
	const char *const *paths;	/* log_reader_open_files: the file of each generation */
	uint32_t paths_first;
	size_t npaths;
	uint32_t rec_gen;		/* the generation the record returned starts in */
	uint32_t rec_version;		/* and that generation's format */
	lsn_t stop_lsn;			/* log_reader_stop_at (0: none) */
	int stopped;			/* at_end because of stop_lsn */
	uint32_t cut_len;		/* then: the payload bytes before it in its segment (at end_off) */
};

/* A transaction record as log_reader_next_commit finds it. */
struct log_commit {
	lsn_t lsn;
	uint32_t gen;			/* the generation it starts in */
	int timed;			/* 0: a record of log format 1, without a time */
	uint64_t time;			/* commit time, microseconds since the epoch */
};

JET_ERR log_reader_open(struct log_reader *r, struct jet_inst *inst, const char *dir, const char *base,
	uint32_t first_gen, uint32_t last_gen, const struct jet_sig *expect_sign);
JET_ERR log_reader_open_files(struct log_reader *r, struct jet_inst *inst, const char *base,
	const char *const *paths, uint32_t first_gen, size_t npaths, const struct jet_sig *expect_sign);
JET_ERR log_reader_seek(struct log_reader *r, lsn_t lsn);
void log_reader_stop_at(struct log_reader *r, lsn_t lsn);
JET_ERR log_cut_at_stop(struct jet_log *log, const struct log_reader *r);
int log_reader_next_commit(struct log_reader *r, struct log_commit *c, JET_ERR *errp);
size_t log_txn_ops_offset(const uint8_t *rec, size_t len, uint32_t version, uint64_t *timep);
/* Returns 1 with a record, 0 at the end of the log, < 0 on error. */
int log_reader_next(struct log_reader *r, uint8_t **recp, size_t *lenp, lsn_t *lsnp, JET_ERR *errp);
void log_reader_close(struct log_reader *r);

/* ---- pagetrack.c: the pages each generation changed (format there) ---- */
JET_ERR pagetrack_start(struct jet_log *log, uint32_t gen, lsn_t first_lsn);
void pagetrack_set_attached(struct jet_log *log, struct jet_db *const *dbs);
JET_ERR pagetrack_note(struct jet_log *log, const uint8_t *rec, lsn_t lsn);
void pagetrack_roll(struct jet_log *log, lsn_t end_lsn);
void pagetrack_save_current(struct jet_log *log);
void pagetrack_free(struct jet_log *log);
JET_ERR pagetrack_ensure(struct jet_inst *inst, uint32_t gen);
void pagetrack_prune(struct jet_inst *inst, uint32_t keep_gen);
void pagetrack_full_recorded(struct jet_inst *inst);
JET_ERR pagetrack_gen_first_lsn(struct jet_inst *inst, uint32_t gen, lsn_t *lsnp, char *why, size_t cb);
JET_ERR pagetrack_changed_since(struct jet_inst *inst, const struct jet_sig *db_sign, lsn_t since_lsn,
	uint32_t **pagesp, size_t *np, char *why, size_t cb);

/* ---- checkpoint.c ---- */
struct ckpt_attach {
	uint32_t dbid;
	struct jet_sig sign_db;
	char *path;
};

struct checkpoint_state {
	lsn_t lsn;			/* redo starts here */
	uint32_t gen;			/* generation holding lsn */
	struct jet_sig sign_log;
	uint64_t time_written;
	lsn_t full_backup_lsn, inc_backup_lsn;
	uint64_t full_backup_time, inc_backup_time;
	size_t nattach;
	struct ckpt_attach attach[JET_MAX_ATTACHED_DATABASES];
};

char *checkpoint_path(struct jet_inst *inst);
JET_ERR checkpoint_read(const char *path, struct checkpoint_state *ck);
JET_ERR checkpoint_write(struct jet_inst *inst, const struct checkpoint_state *ck);
void checkpoint_state_free(struct checkpoint_state *ck);
JET_ERR checkpoint_run(struct jet_inst *inst, int full);

/* ---- dbfile.c: database files, their headers, the attached-database table ---- */
struct jet_db {
	struct jet_inst *inst;
	uint32_t dbid;
	char *path;
	os_file *file;
	pthread_mutex_t hdr_lock;
	struct db_header hdr;		/* as last written */
	uint64_t dbtime;		/* last dbtime handed out */
	uint32_t file_pages;		/* data pages the file has room for */
	int open_count;			/* sessions that opened it */
	lsn_t max_written_lsn;
	struct olock bk_io_lock;	/* page writes vs backup reads of the file */
	struct snapshot *snap;		/* point-in-time backup: kept images (snapshot.c) */
};

struct restore_map {			/* hard recovery: the databases being restored, by signature */
	size_t n;
	struct {
		struct jet_sig sign_db;
		uint32_t dbid;
		char *path;
	} db[JET_MAX_ATTACHED_DATABASES];
};

JET_ERR dbfile_format_new(struct jet_inst *inst, const char *path, uint32_t dbid, const struct jet_sig *sign_db,
	int overwrite, struct jet_db **dbp);
JET_ERR dbfile_open(struct jet_inst *inst, const char *path, struct jet_db **dbp);
char *dbfile_spill_path(const char *path);
void dbfile_free(struct jet_db *db);
JET_ERR dbfile_write_header(struct jet_db *db);
JET_ERR dbfile_ensure_pages(struct jet_db *db, uint32_t pgno);
JET_ERR dbfile_note_page_write(struct jet_db *db, lsn_t page_lsn);
JET_ERR dbfile_read_page(struct jet_db *db, uint32_t pgno, uint8_t *buf);
struct jet_db *dbfile_find_path(struct jet_inst *inst, const char *path);
JET_ERR dbfile_realpath(const char *path, int create_dir, char **outp);
JET_ERR dbfile_attach(struct jet_inst *inst, struct jet_db *db);
const char *dbfile_restore_path(const struct restore_map *map, const struct jet_sig *sign_db);
#define DBFILE_BKREC_SIZE (LREC_HDR_SIZE + 8 + 24)
void dbfile_backup_rec_encode(uint8_t *rec, enum bk_phase phase, uint32_t dbid, int slot, const struct bkinfo *bi);
void dbfile_apply_backup(struct jet_db *db, int slot, const struct bkinfo *bi);
JET_ERR dbfile_redo_backup(struct jet_db **dbs, const uint8_t *rec, size_t len);

/* ---- snapshot.c: a point-in-time backup's kept page images ---- */
struct snapshot;
JET_ERR snapshot_create(struct jet_db *db, uint32_t pgno_last);
void snapshot_free(struct jet_db *db);
JET_ERR snapshot_preserve(struct jet_db *db, uint32_t pgno);
JET_ERR snapshot_failed(struct jet_db *db);
int snapshot_kept(struct jet_db *db, uint32_t pgno);
JET_ERR snapshot_read(struct jet_db *db, uint32_t pgno, uint8_t *out);
JET_ERR snapshot_share(struct jet_db *db, int *db_fd, int *spill_fd, int *map_fd);
uint64_t snapshot_kept_bytes(struct jet_db *db);
int snapshot_limit_hit(struct jet_db *db, char *why, size_t why_size);

/* ---- pitread.c: reads of a point-in-time set without the instance ---- */
struct ranges;
struct pitread_file;
struct pitread_set;
/* What a reader needs besides the descriptors. */
struct pitread_desc {
	const char *name;		/* for messages and fault injection */
	uint64_t size;			/* of the streamed file */
	uint32_t page_size;
	uint32_t pgno_last;		/* database: the set's last page */
	const uint8_t *header;		/* database: the stamped header page; NULL for a log */
	const uint8_t *trailer;		/* database: the trailer page */
};
/* fds: the file, the backup's state, and for a database its spill file and kept-page map. */
#define PITREAD_FDS_LOG 2
#define PITREAD_FDS_DB 4
JET_ERR pitread_open(const struct pitread_desc *desc, const int *fds, int nfds, struct pitread_file **pfp);
void pitread_unref(struct pitread_file *pf);
JET_ERR pitread_read(struct pitread_file *pf, uint64_t off, void *buf, size_t len, size_t *gotp);
void pitread_state_set(uint8_t *word, JET_ERR err);
struct pitread_set *pitread_set_new(void);
void pitread_set_free(struct pitread_set *s);
JET_ERR pitread_set_put(struct pitread_set *s, JET_HANDLE h, struct pitread_file *pf);
struct pitread_file *pitread_set_get(struct pitread_set *s, JET_HANDLE h);
void pitread_set_remove(struct pitread_set *s, JET_HANDLE h, struct ranges *served);
void pitread_set_clear(struct pitread_set *s);

/* ---- txn.c: transactions and page ownership ---- */
struct txn_page {
	struct frame *frame;
	uint8_t *before;		/* image before this level's first change */
	int level;
	int prev_level;			/* frame->owner_level before this entry */
	int full;			/* logged as a full image at commit */
};

JET_ERR txn_write(struct jet_session *s, struct frame *f);
JET_ERR txn_enter(struct jet_session *s, int *implicitp);
JET_ERR txn_leave(struct jet_session *s, int implicit, JET_ERR err);
JET_ERR txn_commit_level(struct jet_session *s, JET_GRBIT grbit);
void txn_rollback_level(struct jet_session *s);
JET_ERR txn_log_system(struct jet_inst *inst, const uint8_t *rec, size_t len, lsn_t *endp);

/* ---- space.c: page allocation in a database ---- */
JET_ERR space_alloc(struct jet_session *s, struct jet_db *db, enum page_type type, uint32_t objid, struct frame **fp);
JET_ERR space_free(struct jet_session *s, struct jet_db *db, uint32_t pgno);
JET_ERR space_pgno_last(struct jet_db *db, uint32_t *pgnop);
JET_ERR space_new_objid(struct jet_session *s, struct jet_db *db, uint32_t *objidp);

/* ---- btree.c ---- */
struct btree_cursor {
	struct jet_db *db;
	uint32_t root;
	uint32_t leaf;			/* current leaf (0: none) */
	int slot;
	uint64_t leaf_version;		/* frame version when positioned */
	uint8_t key[JET_cbKeyMost];
	size_t keylen;
	int positioned;			/* on a record */
	int between;			/* after a delete: between key and its successor */
};

#define BT_SEEK_EQ 0
#define BT_SEEK_GE 1
#define BT_SEEK_GT 2
#define BT_SEEK_LE 3
#define BT_SEEK_LT 4

JET_ERR btree_create(struct jet_session *s, struct jet_db *db, uint32_t objid, uint32_t *rootp);
JET_ERR btree_init_root(struct jet_session *s, struct jet_db *db, uint32_t pgno, uint32_t objid);
JET_ERR btree_insert(struct jet_session *s, struct btree_cursor *c, const uint8_t *key, size_t keylen,
	const uint8_t *val, size_t vallen, int replace);
JET_ERR btree_delete(struct jet_session *s, struct btree_cursor *c);
JET_ERR btree_seek(struct btree_cursor *c, const uint8_t *key, size_t keylen, int how);
JET_ERR btree_first(struct btree_cursor *c);
JET_ERR btree_last(struct btree_cursor *c);
JET_ERR btree_next(struct btree_cursor *c);
JET_ERR btree_prev(struct btree_cursor *c);
JET_ERR btree_value(struct btree_cursor *c, uint8_t **valp, size_t *lenp);
JET_ERR btree_drop(struct jet_session *s, struct jet_db *db, uint32_t root);
JET_ERR btree_verify(struct jet_db *db, uint32_t root, uint64_t *nrecords, char *msg, size_t msglen);

/* ---- backup.c ---- */
struct bk_trailer {
	struct bkinfo bk;
	struct jet_sig sign_db, sign_log;
	uint32_t gen_min_required, gen_max_required, gen_max_committed;
	uint32_t pgno_last, page_size;
	char path[1024];		/* the database's path when it was backed up */
};
void backup_trailer_encode(const struct bk_trailer *t, uint8_t *page, uint32_t page_size);
JET_ERR backup_trailer_decode(const uint8_t *page, uint32_t page_size, struct bk_trailer *t);
void backup_term(struct jet_inst *inst);
void backup_assume_copied(struct jet_inst *inst);
int backup_running(struct jet_inst *inst);
/* For the backup service: a file's descriptors for a reader in another process (pitread.c). */
struct backup_share {
	struct pitread_desc desc;	/* header and trailer: malloc'd copies */
	int fds[PITREAD_FDS_DB];	/* as pitread_open takes them (-1: none); the caller's to close */
	int nfds;
};
JET_ERR backup_share_file(struct jet_inst *inst, JET_HANDLE h, struct backup_share *sh);
void backup_share_free(struct backup_share *sh);
JET_ERR backup_note_served(struct jet_inst *inst, JET_HANDLE h, uint64_t off, uint64_t len);
struct backup;
JET_ERR backup_hold(struct jet_inst *inst, const struct backup *mine, uid_t uid, long client_pid);
int64_t backup_expire_held(struct jet_inst *inst);
void backup_guard(struct jet_inst *inst);
JET_ERR backup_take_over(struct jet_inst *inst, uint64_t id, uid_t uid, long client_pid);
extern const struct bkapi_ops backup_ops;
JET_ERR log_verify_path(const char *path, uint32_t gen, const struct jet_sig *sign, struct log_file_header *h);

/* ---- delta.c: page delta files (format at the top of delta.c, doc/delta-format.md) ---- */
#define DELTA_COPY_SUFFIX ".jfsdelta"	/* backup.c K7: a delta written out for direct readers, unlinked */
#define DELTA_SUFFIX ".delta"		/* a delta set names a database's delta <database file name>.delta */
struct delta_header {
	uint32_t page_size;
	struct jet_sig sign_db, sign_log;
	struct bkinfo base;		/* the base full: the stamp's bk[BK_FULL_PREV] */
	struct bkinfo mark;		/* the delta's Begin and the generations replayed after its pages */
	uint32_t pgno_last;		/* the database's, at the delta's Begin */
	uint32_t npages;
	uint32_t index_crc;
	char path[DELTA_PATH_MAX + 1];	/* the database's path, as a backup trailer keeps it */
};
/* Reads the Begin image of database page pgno (page_size bytes) into page. */
typedef JET_ERR (*delta_read_page_fn)(void *arg, uint32_t pgno, uint8_t *page);
struct delta_writer;
uint64_t delta_size(uint32_t page_size, uint32_t npages);
JET_ERR delta_writer_open(const uint8_t *stamp, uint32_t page_size, const char *path, const uint32_t *pgnos,
	uint32_t npages, delta_read_page_fn read_page, void *arg, struct delta_writer **wp);
uint64_t delta_writer_size(const struct delta_writer *w);
JET_ERR delta_writer_read(struct delta_writer *w, uint8_t *buf, uint64_t off, size_t len);
void delta_writer_close(struct delta_writer *w);
JET_ERR delta_verify(const char *path, struct delta_header *h, char *msg, size_t msglen);
JET_ERR delta_check_base(const char *delta_path, const char *image_path, struct delta_header *h, char *msg,
	size_t msglen);
JET_ERR delta_apply(const char *delta_path, const char *image_path, char *msg, size_t msglen);

/* ---- restore.c ---- */
/*
 * The one checker of backup sets, used by restore (which stops at the first
 * problem, with its error and an event) and by `jetutil verify-backup`
 * (which sets report and is told of every problem and note).
 */
struct restore_image {
	char *src;			/* the image (a staged one when full is set) */
	char *dst;			/* where it is restored (restore only) */
	char *full;			/* the full set's image a delta was applied to, on a staged copy (src) */
	int delta;			/* that delta's index in the chain's deltas (-1: none) */
	struct db_header hdr;
	struct bk_trailer trailer;
	int trailer_ok;
	uint64_t pages, uninit, bad;	/* page checksums verified, all-zero pages, bad ones */
};

struct restore_log {
	uint32_t gen;
	char *path;
	int current;			/* a live <base>.log (roll-forward) */
};

/* A page delta of a delta set (doc/delta-format.md): restored over its base full's image. */
struct restore_delta {
	char *path;
	struct delta_header h;
	int ok;				/* delta_verify passed: h is sound */
	size_t set;			/* the index of its set, in the order given */
	int img;			/* the full's image of its database (-1: none found) */
};

struct restore_chain {
	char base[4];
	struct restore_image imgs[JET_MAX_ATTACHED_DATABASES];
	size_t nimgs;
	struct restore_delta deltas[JET_MAX_ATTACHED_DATABASES];
	size_t ndeltas;
	size_t nsets;			/* sets scanned so far */
	char *staging;			/* the directory of the staged images (removed by restore_chain_free) */
	struct restore_log *logs;
	size_t nlogs, logs_cap;
	uint32_t need_low, need_high;	/* the generations the images need */
	uint32_t low, high;		/* the generations that replay */
	void (*report)(void *arg, int problem, const char *msg);	/* NULL: stop at the first problem */
	void *report_arg;
	int problems;
	JET_ERR err;			/* the first problem's error */
};
JET_ERR restore_chain_scan(struct restore_chain *c, const char *dir, int take_images);
JET_ERR restore_chain_add_log(struct restore_chain *c, uint32_t gen, const char *path, int current);
JET_ERR restore_chain_match_deltas(struct restore_chain *c, int alone_ok);
JET_ERR restore_chain_stage_deltas(struct restore_chain *c, const char *dir);
JET_ERR restore_chain_check(struct restore_chain *c, uint32_t stop_gen);
void restore_chain_free(struct restore_chain *c);
int restore_trailer_matches(const struct db_header *h, const struct bk_trailer *t);

/* ---- recovery.c ---- */
JET_ERR recovery_run(struct jet_inst *inst, JET_GRBIT grbit);
JET_ERR recovery_redo_record(struct jet_inst *inst, const uint8_t *rec, size_t len, lsn_t start, lsn_t end,
	struct jet_db **dbs_by_id);

/* ---- instance.c ---- */
struct inst_params {
	char system_path[1024];
	char temp_path[1024];
	char log_path[1024];
	char base_name[4];
	char event_source[64];
	char backup_socket[108];
	unsigned long log_file_kb;
	unsigned long log_buffers;
	unsigned long circular;
	unsigned long recovery;
	unsigned long create_path;
	unsigned long cache_pages;
	unsigned long max_sessions;
	unsigned long max_open_tables;
	unsigned long page_size;
	unsigned long db_extension;
	unsigned long checkpoint_depth;
	unsigned long event_target;
	unsigned long no_info_events;
	unsigned long max_instances;
	unsigned long legacy_file_names;
	unsigned long backup_hold_s;	/* JET_paramJetfsBackupHoldTime */
	unsigned long backup_kept_max_mb;	/* JET_paramJetfsBackupKeptMax; 0: none */
	unsigned long backup_free_floor_mb;	/* JET_paramJetfsBackupFreeFloor; 0: none */
};

struct jet_inst {
	char name[64];
	char display[64];
	struct inst_params p;
	int initialized;
	int term_in_progress;
	int backup_allowed;
	JET_ERR unavailable;		/* a fatal error took the instance down */
	pthread_mutex_t write_lock;
	struct olock inst_lock;
	pthread_cond_t inst_cond;
	struct jet_db *dbs[JET_MAX_ATTACHED_DATABASES + 1];	/* by dbid */
	struct cache cache;
	struct jet_log log;
	struct checkpoint_state ckpt;
	pthread_mutex_t ckpt_lock;	/* one checkpoint at a time */
	pthread_t bg_thread;
	int bg_running, bg_stop;
	pthread_cond_t bg_cond;
	struct jet_session *sessions;
	unsigned long nsessions;
	unsigned long ncursors;
	uint64_t commits;
	int legacy;			/* created by JetInit(NULL) */
	struct backup *backup;		/* the running external backup, or NULL */
	uint64_t backup_last_end_id;	/* JetfsGetBackupInfo: how the last backup ended */
	JET_ERR backup_last_end_err;
	char backup_last_end[256];
	int backup_aborted_unseen;	/* K6: the server ended the backup; its client has not ended it yet */
	_Atomic uint64_t backup_kept_bytes;	/* snapshot.c S7: every snapshot's kept images */
	struct restore_map *restore;	/* hard recovery: where each database went */
	uint32_t restore_stop_gen;	/* hard recovery: replay no further (0: all) */
	lsn_t restore_stop_lsn;		/* and no record from this one on (0: none; in restore_stop_gen) */
	pthread_mutex_t backup_lock;	/* backup API calls */
	struct bksvc *bksvc;		/* the backup service (bksvc.c), or NULL */
};

JET_ERR instance_enter(JET_INSTANCE instance, struct jet_inst **instp);
JET_ERR instance_legacy(JET_INSTANCE *handlep);

/* ---- session.c ---- */
struct jet_cursor;

struct jet_session {
	struct jet_inst *inst;
	JET_SESID handle;
	atomic_int busy;
	int level;			/* transaction depth, 0..7 */
	int holds_lock;			/* write_lock held for the transaction */
	int must_rollback;
	struct txn_page *pages;
	size_t npages, pages_cap;
	lsn_t last_commit_lsn;
	int db_open[JET_MAX_ATTACHED_DATABASES + 1];
	struct jet_cursor *cursors;
	struct jet_session *next;
};

JET_ERR session_enter(JET_SESID sesid, struct jet_session **sp);
void session_leave(struct jet_session *s);
void session_end_all(struct jet_inst *inst);

/* ---- handle.c: validated handles for every object given to callers ---- */
enum handle_type { HANDLE_INSTANCE = 1, HANDLE_SESSION, HANDLE_TABLE, HANDLE_NTYPES, HANDLE_REMOTE };
JET_API_PTR handle_new(enum handle_type type, void *obj);
void *handle_get(enum handle_type type, JET_API_PTR h);
void handle_free(JET_API_PTR h);

/*
 * ---- bkapi.c: the public external-backup calls ----
 * One table of operations per kind of instance, chosen once per call by the
 * handle: backup_ops (backup.c) for an instance of this process, obj its
 * struct jet_inst; bkclient_ops (bkclient.c) for a remote one, obj its
 * acquired connection, given back through leave.
 */
struct bkapi_ops {
	JET_ERR (*begin)(void *obj, JET_GRBIT grbit);
	JET_ERR (*get_attach_info)(void *obj, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual);
	JET_ERR (*open_file)(void *obj, JET_PCSTR szFileName, JET_HANDLE *phfFile, unsigned long *pulFileSizeLow,
		unsigned long *pulFileSizeHigh);
	JET_ERR (*read_file)(void *obj, JET_HANDLE hfFile, void *pv, unsigned long cb, unsigned long *pcbActual);
	JET_ERR (*read_file_at)(void *obj, JET_HANDLE hfFile, unsigned long long ib, void *pv, unsigned long cb,
		unsigned long *pcbActual);
	JET_ERR (*close_file)(void *obj, JET_HANDLE hfFile);
	JET_ERR (*get_log_info)(void *obj, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual,
		JET_LOGINFO *pLogInfo);
	JET_ERR (*get_truncate_log_info)(void *obj, JET_PSTR szz, unsigned long cbMax, unsigned long *pcbActual);
	JET_ERR (*truncate_log)(void *obj);
	JET_ERR (*end)(void *obj, JET_GRBIT grbit);
	JET_ERR (*stop)(void *obj);
	JET_ERR (*get_info)(void *obj, JETFS_BACKUPINFO *info);
	JET_ERR (*take_over)(void *obj, unsigned long long id);
	JET_ERR (*client_area)(void *obj, unsigned long long cb, int *pfd, unsigned long long *pcbActual);
	JET_ERR (*note_served)(void *obj, JET_HANDLE hfFile, unsigned long long ib, unsigned long long cb);
	void (*leave)(void *obj);	/* after each call (NULL: nothing to give back) */
};
JET_ERR bkapi_local(JET_INSTANCE instance, struct jet_inst **instp);

/* ---- bkclient.c / bksvc.c: the backup service and its client (doc/protocol.md) ---- */
#define BKPROTO_MAGIC 0x4B42464AU	/* the bytes "JFBK" */
#define BKPROTO_VERSION 3		/* 2: ShareFile and NoteServed (direct reads); 3: BackupInfo, TakeOver, ClientArea */
#define BKPROTO_REQ_MAX 65536u		/* largest request length field */
#define BKPROTO_MSG_MAX (16u << 20)	/* largest reply length field */
#define BKPROTO_READ_MAX (8u << 20)	/* largest cb of one read request */
#define BKPROTO_NAME_MAX 4096u		/* longest OpenFile name */
#define BKPROTO_LIST_MAX (BKPROTO_MSG_MAX - 64)
enum bkproto_op {
	BKPROTO_HELLO = 1, BKPROTO_BEGIN, BKPROTO_GET_ATTACH_INFO, BKPROTO_OPEN_FILE, BKPROTO_READ_FILE,
	BKPROTO_READ_FILE_AT, BKPROTO_CLOSE_FILE, BKPROTO_GET_LOG_INFO, BKPROTO_GET_TRUNCATE_LOG_INFO,
	BKPROTO_TRUNCATE_LOG, BKPROTO_END, BKPROTO_STOP, BKPROTO_SHARE_FILE, BKPROTO_NOTE_SERVED,
	BKPROTO_BACKUP_INFO, BKPROTO_TAKE_OVER, BKPROTO_CLIENT_AREA, BKPROTO_NOPS
};
#define BKPROTO_F_NULL_BUF 0x1		/* request flags: the caller passed no usable buffer */
#define BKPROTO_F_NULL_PCB 0x2		/* reads: the caller passed pcbActual NULL */
#define BKPROTO_F_LOGINFO 0x2		/* GetLogInfo: the caller passed a JET_LOGINFO */
#define BKPROTO_SET_CB 0x1		/* reply "set": cbActual is valid */
#define BKPROTO_SET_LOGINFO 0x2		/* reply "set": genLow, genHigh, base are valid */
#define BKPROTO_SHARE_FDS_MAX 4		/* ShareFile: file, backup state, spill, map */
#define BKPROTO_INFO_FIXED 72		/* BackupInfo's reply before its text */

struct bksvc;
JET_ERR bksvc_start(struct jet_inst *inst);
void bksvc_stop(struct jet_inst *inst);
void bksvc_set_timeout_ms(int ms);	/* tests: the 30 s message / Hello / reply timeout */

struct bkconn;
struct bkconn *bkclient_acquire(JET_INSTANCE instance);
extern const struct bkapi_ops bkclient_ops;

#endif
