/*
 * log.c -- the write-ahead log: numbered generation files of fixed size.
 *
 * NAMES (ESE's): the current generation is <base>.log; a closed one is
 * <base>XXXXX.log (generation in upper-case hex, 5 digits, 8 digits past
 * 0xFFFFF); a generation being prepared is <base>tmp.log.  All live in
 * JET_paramLogFilePath.
 *
 * THE STREAM.  Records form one byte stream across generations; an LSN is a
 * byte offset in that stream (the first byte is LSN 1).  A record is
 *     u32 length (including this 8-byte header), u8 type, 3 bytes zero,
 *     then type-specific bytes (txn.c: LREC_TXN; db.c: attach and detach;
 *     dbfile.c: LREC_BACKUP).
 * A record may span segments and generations.  A transaction record
 * (LREC_TXN) starts with its commit time: u64 microseconds since the epoch
 * by CLOCK_REALTIME, taken under the log lock and never less than the
 * previous commit's (a clock stepped back repeats the last time), so commit
 * times never decrease in log order (restore to a moment: restore.c).
 *
 * VERSIONS.  Version 2 added the commit time.  Generations of version 1 are
 * still read, their transaction records without a time (the op count at
 * LREC_TXN_OFF_NOPS_UNTIMED); a record is read by the version of the
 * generation it starts in, so a log set upgraded in place (version 1
 * generations, then version 2 ones) replays whole.  Every generation is
 * written as version 2; a reader of version 1 refuses it
 * (JET_errBadLogVersion) instead of misreading its records.
 *
 * A FILE is a 4096-byte header, then segments at 512-byte aligned offsets.
 * Header (little-endian): 0 u32 CRC-32C of bytes 4..4095, 4 u32 magic
 * 'JLOG', 8 u32 version, 12 u32 file type (3), 16 u32 generation, 20 u32
 * file size, 24 u32 database page size, 28 u32 flags, 32 u64 creation time,
 * 40 u64 creation time of the previous generation (ESE's tmPrevGen: the
 * chain check), 48 log signature (28 bytes, the same in every generation of
 * a log set and in the header of every attached database), 76 u64 LSN of
 * the first payload byte, 84 u64 LSN of the first record that starts in this
 * file, 92 u64 checkpoint LSN at creation, 100 u32 its generation, 104
 * base name, 667 u8 file type.
 *
 * A SEGMENT is what one flush writes: a 32-byte header (0 u32 magic 'JSEG',
 * 4 u32 CRC-32C of header bytes 8..31 and the payload, 8 u32 generation, 12
 * u32 payload length, 16 u32 flags, 20 u32 sequence number in the file, 24
 * u64 LSN of the first payload byte), the payload, zero padding to 512.
 * A segment flagged END closes a generation; its LSN is the logical end of
 * the stream in that generation (bytes of a record torn by a crash that lie
 * before it are void; the next generation starts at that LSN).
 *
 * INVARIANTS
 *  1. A flush never rewrites a byte that an earlier flush made durable: each
 *     flush appends new segments after the last one, so a torn write can
 *     only damage the segment being written, never a committed one.  (One
 *     exception, not a flush: a restore to a moment cuts its own copy of a
 *     generation where it stopped, log_cut_at_stop.)
 *  2. Every closed generation ends with an END segment, fsynced before the
 *     next generation is renamed into place.  In a closed generation any bad
 *     segment before END is corruption (JET_errLogFileCorrupt); in the
 *     current one the first bad segment is the end of the log (a torn tail).
 *  3. A segment is valid only with the right magic, CRC, generation and LSN,
 *     so stale bytes (a recycled or zero-filled file) end the log cleanly.
 *  4. Generations are consecutive, share one signature, and each names the
 *     creation time of its predecessor.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet_int.h"

#include "format.h"

static inline uint64_t
align_sector(uint64_t n)
{
	return (n + LOG_SECTOR - 1) & ~(uint64_t)(LOG_SECTOR - 1);
}

/* ---- names ---- */

static char *
log_name(const char *dir, const char *base, const char *middle, uint32_t gen)
{
	char name[64];

	if (middle != NULL)
		snprintf(name, sizeof(name), "%s%s.log", base, middle);
	else if (gen <= 0xFFFFF)
		snprintf(name, sizeof(name), "%s%05X.log", base, gen);
	else
		snprintf(name, sizeof(name), "%s%08X.log", base, gen);
	return os_path_join(dir, name);
}

char *
log_name_path(const char *dir, const char *base, uint32_t gen)
{
	return log_name(dir, base, NULL, gen);
}

char *
log_gen_path(struct jet_inst *inst, uint32_t gen)
{
	return log_name(inst->p.log_path, inst->p.base_name, NULL, gen);
}

char *
log_cur_path(struct jet_inst *inst)
{
	return log_name(inst->p.log_path, inst->p.base_name, "", 0);
}

static char *
log_tmp_path(struct jet_inst *inst)
{
	return log_name(inst->p.log_path, inst->p.base_name, "tmp", 0);
}

/* base + exactly 5 or 8 hex digits + ".log" (ESE's ErrLGGetGeneration). */
int
log_parse_name(const char *base, const char *name, uint32_t *genp)
{
	size_t bl = strlen(base), nl = strlen(name), digits;
	uint32_t gen = 0;

	if (nl < bl + 4 || strncmp(name, base, bl) != 0 || strcmp(name + nl - 4, ".log") != 0)
		return 0;
	digits = nl - bl - 4;
	if (digits != 5 && digits != 8)
		return 0;
	for (size_t i = 0; i < digits; i++) {
		char c = name[bl + i];
		int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
		if (v < 0)
			return 0;
		gen = gen * 16 + (uint32_t)v;
	}
	if (gen == 0 || gen > LOG_GEN_MAX)
		return 0;
	*genp = gen;
	return 1;
}

static int
gen_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists the closed generations in the log directory, ascending. */
JET_ERR
log_scan_dir(struct jet_inst *inst, uint32_t **gensp, size_t *ngensp, int *have_curp)
{
	DIR *d = opendir(inst->p.log_path);
	struct dirent *de;
	uint32_t *gens = NULL, gen;
	size_t n = 0, cap = 0;
	char cur[16];

	*gensp = NULL;
	*ngensp = 0;
	*have_curp = 0;
	if (d == NULL)
		return JET_errInvalidLogDirectory;
	snprintf(cur, sizeof(cur), "%s.log", inst->p.base_name);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, cur) == 0) {
			*have_curp = 1;
			continue;
		}
		if (!log_parse_name(inst->p.base_name, de->d_name, &gen))
			continue;
		if (n == cap) {
			uint32_t *ng = realloc(gens, (cap = cap ? cap * 2 : 64) * sizeof(*gens));
			if (ng == NULL) {
				free(gens);
				closedir(d);
				return JET_errOutOfMemory;
			}
			gens = ng;
		}
		gens[n++] = gen;
	}
	closedir(d);
	if (n > 1)
		qsort(gens, n, sizeof(*gens), gen_cmp);
	*gensp = gens;
	*ngensp = n;
	return JET_errSuccess;
}

/* ---- file header ---- */

void
log_header_encode(const struct log_file_header *h, uint8_t *buf)
{
	memset(buf, 0, LOG_HDR_SIZE);
	put32(buf + 4, LOG_MAGIC);
	put32(buf + 8, LOG_VERSION);
	put32(buf + 12, JET_filetypeLog);
	put32(buf + 16, h->gen);
	put32(buf + 20, h->file_size);
	put32(buf + 24, h->page_size);
	put32(buf + 28, h->flags);
	put64(buf + 32, h->time_create);
	put64(buf + 40, h->time_prev);
	dbhdr_sig_encode(&h->sign_log, buf + 48);
	put64(buf + 76, h->first_lsn);
	put64(buf + 84, h->first_record_lsn);
	put64(buf + 92, h->ckpt_lsn);
	put32(buf + 100, h->ckpt_gen);
	memcpy(buf + 104, h->base, 4);
	buf[667] = JET_filetypeLog;
	put32(buf, crc32c(0, buf + 4, LOG_HDR_SIZE - 4));
}

/*
 * Reads and checks a log file header: JET_errLogFileCorrupt (not a log file,
 * bad checksum, impossible sizes), JET_errBadLogVersion.
 */
JET_ERR
log_header_read(os_file *file, struct log_file_header *h)
{
	uint8_t buf[LOG_HDR_SIZE];
	uint64_t size;
	JET_ERR err;

	RET(os_size(file, &size));
	if (size < LOG_HDR_SIZE)
		return JET_errLogFileCorrupt;
	if ((err = os_pread(file, buf, LOG_HDR_SIZE, 0)) < 0)
		return err == JET_errFileIOBeyondEOF ? JET_errLogFileCorrupt : err;
	if (get32(buf + 4) != LOG_MAGIC || get32(buf + 12) != JET_filetypeLog ||
	    get32(buf) != crc32c(0, buf + 4, LOG_HDR_SIZE - 4))
		return JET_errLogFileCorrupt;
	if (get32(buf + 8) != LOG_VERSION && get32(buf + 8) != LOG_VERSION_UNTIMED)
		return JET_errBadLogVersion;
	memset(h, 0, sizeof(*h));
	h->version = get32(buf + 8);
	h->gen = get32(buf + 16);
	h->file_size = get32(buf + 20);
	h->page_size = get32(buf + 24);
	h->flags = get32(buf + 28);
	h->time_create = get64(buf + 32);
	h->time_prev = get64(buf + 40);
	dbhdr_sig_decode(buf + 48, &h->sign_log);
	h->first_lsn = get64(buf + 76);
	h->first_record_lsn = get64(buf + 84);
	h->ckpt_lsn = get64(buf + 92);
	h->ckpt_gen = get32(buf + 100);
	memcpy(h->base, buf + 104, 3);
	h->base[3] = '\0';
	if (h->gen == 0 || h->gen > LOG_GEN_MAX || h->file_size < 64 * 1024 ||
	    h->file_size > 32768u * 1024u || h->file_size % LOG_SECTOR != 0 || size < h->file_size ||
	    h->first_lsn == 0)
		return JET_errLogFileCorrupt;
	return JET_errSuccess;
}

/* ---- segments ---- */

static void
seg_header(uint8_t *seg, uint32_t gen, uint32_t len, uint32_t flags, uint32_t seq, lsn_t lsn)
{
	put32(seg, SEG_MAGIC);
	put32(seg + 8, gen);
	put32(seg + 12, len);
	put32(seg + 16, flags);
	put32(seg + 20, seq);
	put64(seg + 24, lsn);
	put32(seg + 4, crc32c(0, seg + 8, LOG_SEG_HDR - 8 + len));
}

/* ---- writing ---- */

/* Creates <base>tmp.log zero-filled to the log file size and synced. */
static JET_ERR
log_prepare_file(struct jet_log *log, os_file **filep)
{
	char *tmp = log_tmp_path(log->inst);
	uint8_t *zero = NULL;
	os_file *file = NULL;
	JET_ERR err;

	*filep = NULL;
	if (tmp == NULL)
		return JET_errOutOfMemory;
	if (os_exists(tmp))
		ERR(os_unlink(tmp));
	ERR(os_open(tmp, OS_WRITE | OS_CREATE | OS_EXCL, &file));
	if ((zero = calloc(1, 1 << 20)) == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	for (uint64_t off = 0; off < log->file_size; off += 1 << 20) {
		uint64_t n = log->file_size - off < (1 << 20) ? log->file_size - off : (1 << 20);
		ERR(os_pwrite(file, zero, n, off));
	}
	ERR(os_fsync(file));
	*filep = file;
	file = NULL;
err:
	if (file != NULL) {
		os_close(file);
		os_unlink(tmp);
	}
	free(zero);
	free(tmp);
	return err;
}

/*
 * The next generation's file is zero-filled by a helper thread while the
 * current one fills, so a log roll costs a header write, not a 5 MiB write.
 */
static void *
log_prepare_main(void *arg)
{
	struct jet_log *log = arg;

	log->pre_err = log_prepare_file(log, &log->pre_file);
	return NULL;
}

static void
log_prepare_start(struct jet_log *log)
{
	log->pre_file = NULL;
	log->pre_err = JET_errSuccess;
	log->pre_running = pthread_create(&log->pre_thread, NULL, log_prepare_main, log) == 0;
}

/* Takes the prepared file, or NULL (the caller prepares one itself). */
static os_file *
log_prepare_take(struct jet_log *log)
{
	os_file *file;

	if (!log->pre_running)
		return NULL;
	pthread_join(log->pre_thread, NULL);
	log->pre_running = 0;
	file = log->pre_err >= 0 ? log->pre_file : NULL;
	log->pre_file = NULL;
	return file;
}

/* Makes <base>tmp.log generation gen: a prepared file gets its header. */
static JET_ERR
log_create_file(struct jet_log *log, uint32_t gen, uint64_t time_create, lsn_t first_lsn, lsn_t first_record, os_file **filep)
{
	struct jet_inst *inst = log->inst;
	struct log_file_header h;
	uint8_t hdr[LOG_HDR_SIZE];
	os_file *file = log_prepare_take(log);
	JET_ERR err;

	*filep = NULL;
	if (file == NULL)
		RET(log_prepare_file(log, &file));
	memset(&h, 0, sizeof(h));
	h.gen = gen;
	h.file_size = log->file_size;
	h.page_size = (uint32_t)inst->p.page_size;
	h.flags = inst->p.circular ? LOGF_CIRCULAR : 0;
	h.time_create = time_create;
	h.time_prev = log->cur_time;
	h.sign_log = log->sign_log;
	h.first_lsn = first_lsn;
	h.first_record_lsn = first_record;
	h.ckpt_lsn = inst->ckpt.lsn;
	h.ckpt_gen = inst->ckpt.gen;
	memcpy(h.base, inst->p.base_name, 4);
	log_header_encode(&h, hdr);
	if ((err = os_pwrite(file, hdr, LOG_HDR_SIZE, 0)) >= 0)
		err = os_fsync(file);
	if (err < 0) {
		os_close(file);
		return err;
	}
	*filep = file;
	return JET_errSuccess;
}

static JET_ERR
log_gens_add(struct jet_log *log, uint32_t gen, lsn_t first_lsn)
{
	olock_lock(&log->lock);
	if (log->ngens == log->gens_cap) {
		size_t ncap = log->gens_cap ? log->gens_cap * 2 : 64;
		struct log_gen *n = realloc(log->gens, ncap * sizeof(*n));
		if (n == NULL) {
			olock_unlock(&log->lock);
			return JET_errOutOfMemory;
		}
		log->gens = n;
		log->gens_cap = ncap;
	}
	log->gens[log->ngens].gen = gen;
	log->gens[log->ngens].first_lsn = first_lsn;
	log->ngens++;
	olock_unlock(&log->lock);
	return JET_errSuccess;
}

/*
 * Installs generation gen as <base>.log: the previous <base>.log (if any)
 * must already carry its END segment.
 */
static JET_ERR
log_install_gen(struct jet_log *log, uint32_t gen, lsn_t first_lsn, lsn_t first_record)
{
	struct jet_inst *inst = log->inst;
	char *cur = log_cur_path(inst), *tmp = log_tmp_path(inst), *old = NULL;
	uint64_t now = dbhdr_time_now_us();
	os_file *file = NULL;
	JET_ERR err;

	if (cur == NULL || tmp == NULL) {
		err = JET_errOutOfMemory;
		goto err;
	}
	if (gen > LOG_GEN_MAX) {
		err = JET_errLogSequenceEnd;
		goto err;
	}
	if (now <= log->cur_time)
		now = log->cur_time + 1;
	ERR(log_create_file(log, gen, now, first_lsn, first_record, &file));
	if (log->cur != NULL) {
		os_close(log->cur);
		log->cur = NULL;
		if ((old = log_gen_path(inst, log->cur_gen)) == NULL) {
			err = JET_errOutOfMemory;
			goto err;
		}
		ERR(os_rename(cur, old));
		ERR(os_fsync_dir(inst->p.log_path));
	}
	ERR(os_rename(tmp, cur));
	ERR(os_fsync_dir(inst->p.log_path));
	os_close(file);
	file = NULL;
	ERR(os_open(cur, OS_WRITE, &log->cur));
	log->cur_gen = gen;
	log->cur_time = now;
	log->cur_off = LOG_HDR_SIZE;
	log->seg_seq = 0;
	ERR(log_gens_add(log, gen, first_lsn));
	log_prepare_start(log);
err:
	os_close(file);
	free(cur);
	free(tmp);
	free(old);
	return err;
}

/* Writes the END segment of the current generation and syncs it. */
static JET_ERR
log_write_end(struct jet_log *log, lsn_t logical_end)
{
	uint8_t seg[LOG_SECTOR] = { 0 };

	seg_header(seg, log->cur_gen, 0, SEGF_END, log->seg_seq++, logical_end);
	RET(os_pwrite(log->cur, seg, LOG_SECTOR, log->cur_off));
	log->cur_off += LOG_SECTOR;
	return os_fsync(log->cur);
}

static JET_ERR
log_roll_locked_io(struct jet_log *log, lsn_t next_lsn, lsn_t first_record)
{
	JET_ERR err;
	uint32_t old = log->cur_gen;

	if ((err = log_write_end(log, next_lsn)) >= 0) {
		pagetrack_roll(log, next_lsn);
		err = log_install_gen(log, log->cur_gen + 1, next_lsn, first_record);
	}
	if (err < 0)
		event_log(log->inst, EVENT_ERROR, 413,
		    "unable to create log generation %u after %u: %s (%ld); the instance stops accepting updates",
		    old + 1, old, JetErrorString(err), err);
	return err;
}

/* Writes data [lsn, lsn+len) as segments of the current file(s), then syncs. */
static JET_ERR
log_write_buffer(struct jet_log *log, const uint8_t *data, size_t len, lsn_t lsn,
    const lsn_t *starts, size_t nstarts)
{
	size_t pos = 0, si = 0, noted = 0;
	uint8_t *seg = NULL;
	size_t seg_cap = 0;
	JET_ERR err = JET_errSuccess;

	while (pos < len) {
		uint64_t room = log->file_size - log->cur_off;
		size_t n, total;

		room = room > LOG_SECTOR + LOG_SEG_HDR ? room - LOG_SECTOR - LOG_SEG_HDR : 0;
		if (room < LOG_SECTOR) {
			while (si < nstarts && starts[si] < lsn + pos)
				si++;
			ERR(log_roll_locked_io(log, lsn + pos, si < nstarts ? starts[si] : lsn + len));
			continue;
		}
		n = len - pos < room ? len - pos : (size_t)room;
		/* The records that start in this segment belong to this generation (pagetrack.c). */
		for (; noted < nstarts && starts[noted] < lsn + pos + n; noted++)
			ERR(pagetrack_note(log, data + (starts[noted] - lsn), starts[noted]));
		total = (size_t)align_sector(LOG_SEG_HDR + n);
		if (total > seg_cap) {
			free(seg);
			if ((seg = malloc(total)) == NULL) {
				err = JET_errOutOfMemory;
				goto err;
			}
			seg_cap = total;
		}
		memcpy(seg + LOG_SEG_HDR, data + pos, n);
		memset(seg + LOG_SEG_HDR + n, 0, total - LOG_SEG_HDR - n);
		seg_header(seg, log->cur_gen, (uint32_t)n, 0, log->seg_seq++, lsn + pos);
		ERR(os_pwrite(log->cur, seg, total, log->cur_off));
		log->cur_off += total;
		log->bytes_written += total;
		pos += n;
	}
	err = os_fsync(log->cur);
err:
	free(seg);
	return err;
}

static JET_ERR
log_set_fatal(struct jet_log *log, JET_ERR err)
{
	if (log->fatal == JET_errSuccess) {
		log->fatal = err == JET_errDiskFull ? JET_errLogDiskFull : JET_errLogWriteFail;
		event_log(log->inst, EVENT_ERROR, 412,
		    "unable to write to the log (%s, %ld): the instance stops accepting updates",
		    JetErrorString(err), err);
	}
	return log->fatal;
}

/*
 * Becomes the flusher (called under log->lock, returns with it held): writes
 * the buffer and, if roll is set, closes the generation.
 */
static JET_ERR
log_flush_locked(struct jet_log *log, int roll)
{
	uint8_t *data = log->buf;
	size_t len = log->buf_len, nstarts = log->nstarts;
	lsn_t lsn = log->buf_lsn, *starts = log->starts;
	JET_ERR err;

	JET_ASSERT(log->inst, olock_held(&log->lock));
	log->flushing = 1;
	log->buf = NULL;
	log->buf_len = log->buf_cap = 0;
	log->starts = NULL;
	log->nstarts = log->starts_cap = 0;
	log->buf_lsn = log->append_lsn;
	olock_unlock(&log->lock);

	err = log_write_buffer(log, data, len, lsn, starts, nstarts);
	if (err >= 0 && roll)
		err = log_roll_locked_io(log, lsn + len, lsn + len);

	olock_lock(&log->lock);
	free(data);
	free(starts);
	log->flushes++;
	if (err < 0)
		err = log_set_fatal(log, err);
	else if (lsn + len > log->flushed_lsn)
		log->flushed_lsn = lsn + len;
	log->flushing = 0;
	pthread_cond_broadcast(&log->cond);
	return err;
}

/*
 * Waits until every record below lsn is durable, flushing if nobody else
 * is (group commit: one flush serves every commit appended before it).
 */
JET_ERR
log_flush_to(struct jet_log *log, lsn_t lsn)
{
	JET_ERR err = JET_errSuccess;

	olock_lock(&log->lock);
	while (log->flushed_lsn < lsn && log->fatal == JET_errSuccess) {
		if (log->flushing) {
			olock_wait(&log->cond, &log->lock);
			continue;
		}
		if (log->buf_len == 0)
			break;
		err = log_flush_locked(log, 0);
	}
	if (log->fatal != JET_errSuccess && log->flushed_lsn < lsn)
		err = log->fatal;
	olock_unlock(&log->lock);
	return err;
}

/* Flushes everything and starts a new generation (backup, recovery end). */
JET_ERR
log_roll(struct jet_log *log)
{
	JET_ERR err;

	if (!log->enabled)
		return JET_errSuccess;
	olock_lock(&log->lock);
	while (log->flushing)
		olock_wait(&log->cond, &log->lock);
	err = log->fatal != JET_errSuccess ? log->fatal : log_flush_locked(log, 1);
	olock_unlock(&log->lock);
	return err;
}

/*
 * The last generation that holds a record recovery applies: the current one,
 * unless nothing but backup marks (Begin, Abort, Stop...) was appended since
 * it began and the generation before it is still on disk; then that one,
 * which already covers the databases.  A backup closes a generation only in
 * the first case, so backups retried on a quiet instance (a timer, a probe,
 * a Begin/abort loop) do not add a generation each and fill the log disk.
 */
uint32_t
log_last_needed_gen(struct jet_log *log)
{
	uint32_t gen;
	int idle = 0;
	char *prev;

	olock_lock(&log->lock);
	while (log->flushing)
		olock_wait(&log->cond, &log->lock);
	gen = log->cur_gen;
	for (size_t i = log->ngens; i-- > 0;)
		if (log->gens[i].gen == gen) {
			idle = log->state_end <= log->gens[i].first_lsn;
			break;
		}
	olock_unlock(&log->lock);
	if (!idle || gen <= 1 || (prev = log_gen_path(log->inst, gen - 1)) == NULL)
		return gen;
	idle = os_exists(prev);
	free(prev);
	return idle ? gen - 1 : gen;
}

/*
 * Appends a record to the log buffer, under log->lock.  [*startp, *endp)
 * receives its position.  Not durable until log_flush_to(*endp).
 */
JET_ERR
log_append_locked(struct jet_log *log, const uint8_t *rec, size_t len, lsn_t *startp, lsn_t *endp)
{
	JET_ASSERT(log->inst, olock_held(&log->lock));
	if (len < LREC_HDR_SIZE || len > LOG_RECORD_MAX)
		return JET_errInvalidParameter;
	if (log->fatal != JET_errSuccess)
		return log->fatal;
	*startp = log->append_lsn;
	if (!log->enabled) {
		log->append_lsn += len;
		log->flushed_lsn = log->append_lsn;
		*endp = log->append_lsn;
		return JET_errSuccess;
	}
	if (log->buf_len + len > log->buf_cap) {
		size_t ncap = log->buf_cap ? log->buf_cap : 64 * 1024;
		uint8_t *nb;
		while (ncap < log->buf_len + len)
			ncap *= 2;
		if ((nb = realloc(log->buf, ncap)) == NULL)
			return JET_errOutOfMemory;
		log->buf = nb;
		log->buf_cap = ncap;
	}
	if (log->nstarts == log->starts_cap) {
		size_t ncap = log->starts_cap ? log->starts_cap * 2 : 256;
		lsn_t *ns = realloc(log->starts, ncap * sizeof(*ns));
		if (ns == NULL)
			return JET_errOutOfMemory;
		log->starts = ns;
		log->starts_cap = ncap;
	}
	memcpy(log->buf + log->buf_len, rec, len);
	put32(log->buf + log->buf_len, (uint32_t)len);
	log->starts[log->nstarts++] = log->append_lsn;
	log->buf_len += len;
	log->append_lsn += len;
	if (rec[4] != LREC_BACKUP || rec[LREC_HDR_SIZE] == BKP_UPDATE)
		log->state_end = log->append_lsn;
	*endp = log->append_lsn;
	return JET_errSuccess;
}

JET_ERR
log_append(struct jet_log *log, const uint8_t *rec, size_t len, lsn_t *startp, lsn_t *endp)
{
	JET_ERR err;

	olock_lock(&log->lock);
	err = log_append_locked(log, rec, len, startp, endp);
	olock_unlock(&log->lock);
	return err;
}

/*
 * Starts logging for a running instance: a new generation last_gen + 1
 * whose stream begins at next_lsn.  Recovery has closed <base>.log (END
 * written) or there is none.
 */
JET_ERR
log_open_for_run(struct jet_log *log, uint32_t last_gen, uint64_t last_time, lsn_t next_lsn)
{
	struct jet_inst *inst = log->inst;
	char *cur = log_cur_path(inst);
	JET_ERR err = JET_errSuccess;

	if (cur == NULL)
		return JET_errOutOfMemory;
	if ((err = log_lock_dir(log)) < 0)
		goto out;
	log->append_lsn = log->flushed_lsn = log->buf_lsn = next_lsn;
	log->cur_time = last_time;
	log->cur_gen = last_gen;
	if (!log->enabled) {
		err = pagetrack_start(log, last_gen + 1, next_lsn);
		goto out;
	}
	if (last_gen != 0 && os_exists(cur)) {
		/* The closed current generation becomes <base>XXXXX.log. */
		char *old = log_gen_path(inst, last_gen);
		if (old == NULL) {
			err = JET_errOutOfMemory;
			goto out;
		}
		err = os_rename(cur, old);
		free(old);
		if (err >= 0)
			err = os_fsync_dir(inst->p.log_path);
		if (err < 0)
			goto out;
	}
	if ((err = pagetrack_start(log, last_gen + 1, next_lsn)) >= 0)
		err = log_install_gen(log, last_gen + 1, next_lsn, next_lsn);
out:
	free(cur);
	return err;
}

/* One instance per log directory, across processes: JET_errLogFilePathInUse. */
JET_ERR
log_lock_dir(struct jet_log *log)
{
	JET_ERR err;
	int fd;

	if (log->dir_lock > 0)
		return JET_errSuccess;
	err = os_lock_dir(log->inst->p.log_path, &fd);
	if (err >= 0)
		log->dir_lock = fd + 1;
	if (err == JET_errFileAccessDenied) {
		event_log(log->inst, EVENT_ERROR, 1084, "the log directory %s is in use by another instance",
		    log->inst->p.log_path);
		return JET_errLogFilePathInUse;
	}
	return err;
}

void
log_close(struct jet_log *log)
{
	os_unlock_dir(log->dir_lock - 1);
	log->dir_lock = 0;
	os_close(log_prepare_take(log));
	os_close(log->cur);
	log->cur = NULL;
	free(log->buf);
	free(log->starts);
	free(log->gens);
	pagetrack_free(log);
	log->buf = NULL;
	log->starts = NULL;
	log->gens = NULL;
	log->buf_len = log->buf_cap = log->nstarts = log->starts_cap = log->ngens = log->gens_cap = 0;
}

/* The generation that holds (or will hold) the record at lsn. */
uint32_t
log_gen_of(struct jet_log *log, lsn_t lsn)
{
	uint32_t gen = log->cur_gen;

	olock_lock(&log->lock);
	for (size_t i = log->ngens; i-- > 0;)
		if (log->gens[i].first_lsn <= lsn) {
			gen = log->gens[i].gen;
			break;
		}
	olock_unlock(&log->lock);
	return gen;
}

void
log_forget_gens_below(struct jet_log *log, uint32_t gen)
{
	size_t k = 0;

	olock_lock(&log->lock);
	for (size_t i = 0; i < log->ngens; i++)
		if (log->gens[i].gen >= gen)
			log->gens[k++] = log->gens[i];
	log->ngens = k;
	olock_unlock(&log->lock);
}

/* Closes <base>.log at logical_end (recovery: cuts off a torn tail). */
JET_ERR
log_close_current(struct jet_log *log, lsn_t logical_end)
{
	JET_ERR err = log_write_end(log, logical_end);

	os_close(log->cur);
	log->cur = NULL;
	return err;
}

/*
 * Where reader r stopped (log_reader_stop_at), in the generation open as
 * log->cur: rewrites the segment that holds the stop with only its bytes
 * before it, and leaves cur_off after it, where log_close_current writes END.
 * The only rewrite of a written segment (invariant 1): in a restore's own
 * copy of the log, before any instance runs on it.  Bytes of records past
 * the stop left in the segment would otherwise be read as whole records; an
 * END's LSN only voids a record that it cuts.
 */
JET_ERR
log_cut_at_stop(struct jet_log *log, const struct log_reader *r)
{
	size_t total = (size_t)align_sector(LOG_SEG_HDR + r->cut_len);
	uint8_t *seg;
	JET_ERR err;

	log->cur_off = r->end_off;
	if (r->cut_len == 0)
		return JET_errSuccess;
	if ((seg = calloc(1, total)) == NULL)
		return JET_errOutOfMemory;
	memcpy(seg + LOG_SEG_HDR, r->seg + LOG_SEG_HDR, r->cut_len);
	seg_header(seg, log->cur_gen, r->cut_len, 0, log->seg_seq++, r->end_lsn - r->cut_len);
	err = os_pwrite(log->cur, seg, total, log->cur_off);
	log->cur_off += total;
	free(seg);
	return err;
}

/* ---- reading ---- */

/* Is path <base>.log, the current generation, by its file name? */
static int
log_is_current_name(const char *path, const char *base)
{
	const char *slash = strrchr(path, '/'), *name = slash != NULL ? slash + 1 : path;
	size_t bl = strlen(base);

	return strncmp(name, base, bl) == 0 && strcmp(name + bl, ".log") == 0;
}

/* Opens the listed file of generation gen (log_reader_open_files). */
static JET_ERR
reader_open_listed(struct log_reader *r, uint32_t gen, char **pathp)
{
	*pathp = NULL;
	if (gen < r->paths_first || gen - r->paths_first >= r->npaths)
		return JET_errFileNotFound;
	if ((*pathp = strdup(r->paths[gen - r->paths_first])) == NULL)
		return JET_errOutOfMemory;
	r->in_current = log_is_current_name(*pathp, r->base);
	return os_open(*pathp, OS_READ, &r->file);
}

static JET_ERR
reader_open_gen(struct log_reader *r, uint32_t gen)
{
	char *path = NULL;
	JET_ERR err;

	os_close(r->file);
	r->file = NULL;
	r->in_current = 0;
	r->gap = 0;
	if (r->paths != NULL) {
		err = reader_open_listed(r, gen, &path);
		if (err == JET_errOutOfMemory)
			return err;
	} else if ((path = log_name(r->dir, r->base, NULL, gen)) == NULL)
		return JET_errOutOfMemory;
	else
		err = os_open(path, OS_READ, &r->file);
	if (err == JET_errFileNotFound && r->paths == NULL) {
		free(path);
		if ((path = log_name(r->dir, r->base, "", 0)) == NULL)
			return JET_errOutOfMemory;
		err = os_open(path, OS_READ, &r->file);
		r->in_current = 1;
	}
	if (err == JET_errFileNotFound)
		err = JET_errMissingLogFile;
	if (err < 0)
		goto out;
	if ((err = log_header_read(r->file, &r->hdr)) < 0) {
		event_log(r->inst, EVENT_ERROR, 501, "log file %s is damaged or not a log file (%s)",
		    path, JetErrorName(err));
		goto out;
	}
	if (r->hdr.gen != gen) {
		/*
		 * <base>.log holds another generation: gen itself is missing.  If
		 * it is a later one, generations are missing in between (a gap).
		 */
		err = r->in_current ? JET_errMissingLogFile : JET_errLogGenerationMismatch;
		r->gap = r->in_current && r->hdr.gen > gen;
		goto out;
	}
	if (r->have_sign && !dbhdr_sig_equal(&r->sign, &r->hdr.sign_log)) {
		event_log(r->inst, EVENT_ERROR, 530, "log file %s belongs to another log set", path);
		err = JET_errBadLogSignature;
		goto out;
	}
	if (r->have_prev && r->hdr.time_prev != r->prev_time) {
		event_log(r->inst, EVENT_ERROR, 515,
		    "log file %s does not follow generation %u (creation times disagree)", path, gen - 1);
		err = JET_errInvalidLogSequence;
		goto out;
	}
	r->sign = r->hdr.sign_log;
	r->have_sign = 1;
	r->prev_time = r->hdr.time_create;
	r->have_prev = 1;
	r->gen = gen;
	r->off = LOG_HDR_SIZE;
	r->seg_len = r->seg_pos = 0;
	r->pos = r->hdr.first_lsn;
	err = JET_errSuccess;
out:
	if (err < 0) {
		os_close(r->file);
		r->file = NULL;
	}
	if (err < 0 && (err != JET_errMissingLogFile || r->gap))
		event_log(r->inst, EVENT_ERROR, 501, "cannot use log generation %u in %s: %s", gen,
		    r->dir != NULL ? r->dir : path,
		    r->gap ? "it is missing, and later generations exist" : JetErrorName(err));
	free(path);
	return err;
}

static void
reader_init(struct log_reader *r, struct jet_inst *inst, const char *base, uint32_t last_gen,
    const struct jet_sig *expect_sign)
{
	memset(r, 0, sizeof(*r));
	r->inst = inst;
	snprintf(r->base, sizeof(r->base), "%s", base);
	r->last_gen = last_gen;
	if (expect_sign != NULL) {
		r->sign = *expect_sign;
		r->have_sign = 1;
	}
}

static JET_ERR
reader_start(struct log_reader *r, uint32_t first_gen)
{
	RET(reader_open_gen(r, first_gen));
	r->sync_lsn = r->hdr.first_record_lsn != 0 ? r->hdr.first_record_lsn : UINT64_MAX;
	return JET_errSuccess;
}

/* Reads generations first_gen.. of the log in dir, up to last_gen (0: to <base>.log). */
JET_ERR
log_reader_open(struct log_reader *r, struct jet_inst *inst, const char *dir, const char *base,
    uint32_t first_gen, uint32_t last_gen, const struct jet_sig *expect_sign)
{
	reader_init(r, inst, base, last_gen, expect_sign);
	r->dir = dir;
	return reader_start(r, first_gen);
}

/*
 * Reads generations first_gen to first_gen + npaths - 1 from the files
 * listed, wherever they are (the sets of a restore): paths[i] holds
 * generation first_gen + i; a file named <base>.log is read as the current
 * log (its torn tail is its end).  The strings must outlive the reader.
 */
JET_ERR
log_reader_open_files(struct log_reader *r, struct jet_inst *inst, const char *base, const char *const *paths,
    uint32_t first_gen, size_t npaths, const struct jet_sig *expect_sign)
{
	reader_init(r, inst, base, 0, expect_sign);
	r->paths = paths;
	r->paths_first = first_gen;
	r->npaths = npaths;
	return reader_start(r, first_gen);
}

/* Records below lsn are skipped (lsn must be a record boundary). */
JET_ERR
log_reader_seek(struct log_reader *r, lsn_t lsn)
{
	if (lsn > r->sync_lsn || r->sync_lsn == UINT64_MAX)
		r->sync_lsn = lsn;
	return JET_errSuccess;
}

/*
 * The log ends before the record that starts at lsn (a record boundary):
 * log_reader_next returns 0 there, with stopped set, end_lsn = lsn, end_off
 * the offset of the segment that holds lsn and cut_len the bytes of that
 * segment before lsn (log_cut_at_stop).  Restore to a moment.
 */
void
log_reader_stop_at(struct log_reader *r, lsn_t lsn)
{
	r->stop_lsn = lsn;
}

void
log_reader_close(struct log_reader *r)
{
	os_close(r->file);
	free(r->seg);
	free(r->rec);
	memset(r, 0, sizeof(*r));
}

static void
reader_set_end(struct log_reader *r, lsn_t end)
{
	r->at_end = 1;
	r->end_lsn = end;
	r->end_off = r->off;
}

/* An invalid segment: why, for jetutil's report. */
static int
segment_invalid(const char **whyp, const char *why)
{
	if (whyp != NULL)
		*whyp = why;
	return 0;
}

/*
 * Reads the segment at off of a file of generation gen into *bufp (grown as
 * needed).  Returns 1 if it is valid, 0 if not (bad magic, generation, size
 * or checksum; *whyp, if whyp is not NULL, says which), < 0 on an I/O error.
 */
int
log_segment_read(os_file *file, const struct log_file_header *hdr, uint64_t off, uint8_t **bufp,
    uint32_t *lenp, uint32_t *flagsp, lsn_t *lsnp, const char **whyp, JET_ERR *errp)
{
	static const uint8_t zero[LOG_SEG_HDR];
	uint8_t h[LOG_SEG_HDR], *p;
	size_t got;
	uint32_t len;
	JET_ERR err;

	if (off + LOG_SEG_HDR > hdr->file_size)
		return segment_invalid(whyp, "the file ends");
	if ((err = os_pread_partial(file, h, LOG_SEG_HDR, off, &got)) < 0) {
		*errp = err;
		return -1;
	}
	len = get32(h + 12);
	if (got != LOG_SEG_HDR)
		return segment_invalid(whyp, "the file ends");
	if (get32(h) != SEG_MAGIC)
		return segment_invalid(whyp, memcmp(h, zero, sizeof(zero)) == 0 ? "zero-filled (never written)" :
		    "bad segment magic");
	if (get32(h + 8) != hdr->gen)
		return segment_invalid(whyp, "a segment of another generation");
	if (off + LOG_SEG_HDR + len > hdr->file_size)
		return segment_invalid(whyp, "a segment length beyond the end of the file");
	if ((p = realloc(*bufp, LOG_SEG_HDR + (size_t)len + 1)) == NULL) {
		*errp = JET_errOutOfMemory;
		return -1;
	}
	*bufp = p;
	memcpy(p, h, LOG_SEG_HDR);
	if ((err = os_pread(file, p + LOG_SEG_HDR, len, off + LOG_SEG_HDR)) < 0) {
		if (err == JET_errFileIOBeyondEOF)
			return segment_invalid(whyp, "the file ends inside a segment");
		*errp = err;
		return -1;
	}
	if (get32(h + 4) != crc32c(0, p + 8, LOG_SEG_HDR - 8 + len))
		return segment_invalid(whyp, "bad segment checksum");
	*lenp = len;
	*flagsp = get32(h + 16);
	*lsnp = get64(h + 24);
	return 1;
}

/*
 * Checks a closed generation file from end to end: header, generation,
 * signature, every segment up to END (jetutil, backup).
 */
JET_ERR
log_verify_path(const char *path, uint32_t gen, const struct jet_sig *sign, struct log_file_header *h)
{
	os_file *file;
	uint8_t *buf = NULL;
	uint64_t off = LOG_HDR_SIZE;
	lsn_t pos;
	JET_ERR err;

	RET(os_open(path, OS_READ, &file));
	if ((err = log_header_read(file, h)) < 0)
		goto out;
	if (gen != 0 && h->gen != gen) {
		err = JET_errLogGenerationMismatch;
		goto out;
	}
	if (sign != NULL && !dbhdr_sig_equal(sign, &h->sign_log)) {
		err = JET_errBadLogSignature;
		goto out;
	}
	for (pos = h->first_lsn;;) {
		uint32_t len, flags;
		lsn_t lsn;
		int rc = log_segment_read(file, h, off, &buf, &len, &flags, &lsn, NULL, &err);
		if (rc < 0)
			goto out;
		if (rc == 0 || (!(flags & SEGF_END) && lsn != pos) || ((flags & SEGF_END) && lsn > pos)) {
			err = JET_errLogFileCorrupt;
			goto out;
		}
		if (flags & SEGF_END)
			break;
		pos += len;
		off += align_sector(LOG_SEG_HDR + len);
	}
	err = JET_errSuccess;
out:
	free(buf);
	os_close(file);
	return err;
}

/*
 * Loads the next segment.  Returns 1, 0 at the end of the log, or an error.
 * *void_fromp is set when an END segment voids stream bytes from that LSN.
 */
static int
reader_next_segment(struct log_reader *r, lsn_t *void_fromp, JET_ERR *errp)
{
	uint32_t len = 0, flags = 0;
	lsn_t lsn = 0;
	JET_ERR err;

	*void_fromp = 0;
	for (;;) {
		int rc = log_segment_read(r->file, &r->hdr, r->off, &r->seg, &len, &flags, &lsn, NULL, errp);

		if (rc < 0)
			return -1;
		if (rc == 1 && !(flags & SEGF_END) && lsn != r->pos)
			rc = 0;
		if (rc == 0) {
			if (r->in_current && r->last_gen == 0) {
				reader_set_end(r, r->pos);
				return 0;
			}
			event_log(r->inst, EVENT_ERROR, 501,
			    "log generation %u is damaged at offset %llu (bad segment before its end)",
			    r->gen, (unsigned long long)r->off);
			*errp = r->in_current ? JET_errLogTornWriteDuringHardRestore : JET_errLogFileCorrupt;
			return -1;
		}
		r->bytes_read += LOG_SEG_HDR + len;
		if (flags & SEGF_END) {
			lsn_t end = lsn;
			if (end > r->pos) {
				*errp = JET_errLogFileCorrupt;
				return -1;
			}
			if (end < r->pos)
				*void_fromp = end;
			r->pos = end;
			r->end_off = r->off;
			if (r->last_gen != 0 && r->gen >= r->last_gen) {
				reader_set_end(r, end);
				return 0;
			}
			err = reader_open_gen(r, r->gen + 1);
			if (err == JET_errMissingLogFile && r->last_gen == 0 && !r->gap) {
				reader_set_end(r, end);
				r->end_off = 0;
				return 0;
			}
			if (err < 0) {
				*errp = err;
				return -1;
			}
			if (r->hdr.first_lsn != end) {
				*errp = JET_errInvalidLogSequence;
				return -1;
			}
			continue;
		}
		r->seg_len = len;
		r->seg_pos = 0;
		r->off += align_sector(LOG_SEG_HDR + len);
		return 1;
	}
}

/*
 * Returns the next whole record: 1 and (*recp, *lenp, *lsnp), 0 at the end
 * of the log (a record torn by a crash is not returned), -1 with *errp.
 * The record buffer is valid until the next call.
 */
int
log_reader_next(struct log_reader *r, uint8_t **recp, size_t *lenp, lsn_t *lsnp, JET_ERR *errp)
{
	size_t have = 0, need = LREC_HDR_SIZE;
	lsn_t start = 0;
	int rc;

	if (r->at_end)
		return 0;
	for (;;) {
		lsn_t void_from;

		if (r->seg_pos == r->seg_len) {
			rc = reader_next_segment(r, &void_from, errp);
			if (rc <= 0) {
				if (rc == 0 && have > 0)
					r->end_lsn = start;	/* torn record */
				return rc;
			}
			if (void_from != 0 && have > 0 && start >= void_from) {
				have = 0;
				need = LREC_HDR_SIZE;
			}
			continue;
		}
		/* Skip bytes before the first record boundary we know of. */
		if (have == 0 && r->pos < r->sync_lsn && r->sync_lsn != UINT64_MAX) {
			uint64_t skip = r->sync_lsn - r->pos;
			size_t avail = r->seg_len - r->seg_pos;
			size_t n = skip < avail ? (size_t)skip : avail;
			r->seg_pos += n;
			r->pos += n;
			continue;
		}
		if (have == 0 && r->sync_lsn == UINT64_MAX) {
			/* No record starts in this file: its bytes belong to one we skip. */
			r->pos += r->seg_len - r->seg_pos;
			r->seg_pos = r->seg_len;
			if (r->hdr.first_record_lsn != 0)
				r->sync_lsn = r->hdr.first_record_lsn;
			continue;
		}
		if (have == 0) {
			start = r->pos;
			if (r->stop_lsn != 0 && start >= r->stop_lsn) {
				reader_set_end(r, start);
				r->end_off = r->off - align_sector(LOG_SEG_HDR + r->seg_len);
				r->cut_len = (uint32_t)r->seg_pos;
				r->stopped = 1;
				return 0;
			}
			r->rec_gen = r->gen;
			r->rec_version = r->hdr.version;
		}
		{
			size_t avail = r->seg_len - r->seg_pos, n = need - have < avail ? need - have : avail;
			/*
			 * The buffer grows with the bytes read, not to the length the
			 * record claims: a length field up to LOG_RECORD_MAX in a
			 * damaged or forged file of 64 KiB must not allocate 1 GiB.
			 */
			if (have + n > r->rec_cap) {
				size_t ncap = r->rec_cap ? r->rec_cap : 4096;
				uint8_t *p;
				while (ncap < have + n)
					ncap *= 2;
				if ((p = realloc(r->rec, ncap)) == NULL) {
					*errp = JET_errOutOfMemory;
					return -1;
				}
				r->rec = p;
				r->rec_cap = ncap;
			}
			memcpy(r->rec + have, r->seg + LOG_SEG_HDR + r->seg_pos, n);
			have += n;
			r->seg_pos += n;
			r->pos += n;
		}
		if (have < need)
			continue;
		if (need == LREC_HDR_SIZE) {
			uint32_t len = get32(r->rec);
			if (len < LREC_HDR_SIZE || len > LOG_RECORD_MAX || r->rec[4] == 0 || r->rec[4] >= LREC_MAX) {
				event_log(r->inst, EVENT_ERROR, 501,
				    "log generation %u holds an impossible record at LSN %llu", r->gen,
				    (unsigned long long)start);
				*errp = JET_errLogFileCorrupt;
				return -1;
			}
			need = len;
			if (have < need)
				continue;
		}
		*recp = r->rec;
		*lenp = need;
		*lsnp = start;
		return 1;
	}
}

/*
 * Where the page operations of a transaction record start (its u32 op
 * count), by the format of the generation it starts in, and its commit
 * time (0 for format 1, which has none); 0 if the record is too short.
 */
size_t
log_txn_ops_offset(const uint8_t *rec, size_t len, uint32_t version, uint64_t *timep)
{
	size_t off = version == LOG_VERSION_UNTIMED ? LREC_TXN_OFF_NOPS_UNTIMED : LREC_TXN_OFF_NOPS;

	if (len < off + 4)
		return 0;
	*timep = version == LOG_VERSION_UNTIMED ? 0 : get64(rec + LREC_TXN_OFF_TIME);
	return off;
}

/*
 * The next transaction record (other records are passed over): 1 and *c,
 * 0 at the end of the log, -1 with *errp (JET_errLogFileCorrupt: a
 * transaction record too short to hold its time).
 */
int
log_reader_next_commit(struct log_reader *r, struct log_commit *c, JET_ERR *errp)
{
	uint8_t *rec;
	size_t len;
	lsn_t lsn;
	int rc;

	while ((rc = log_reader_next(r, &rec, &len, &lsn, errp)) == 1) {
		if (rec[4] != LREC_TXN)
			continue;
		if (log_txn_ops_offset(rec, len, r->rec_version, &c->time) == 0) {
			event_log(r->inst, EVENT_ERROR, 501, "log generation %u holds a short transaction record at LSN %llu",
			    r->rec_gen, (unsigned long long)lsn);
			*errp = JET_errLogFileCorrupt;
			return -1;
		}
		c->lsn = lsn;
		c->gen = r->rec_gen;
		c->timed = r->rec_version != LOG_VERSION_UNTIMED;
		return 1;
	}
	return rc;
}
