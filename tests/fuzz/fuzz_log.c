/*
 * fuzz_log.c -- libFuzzer harness for the log file reader.
 *
 * The input is one or more log generation files, back to back (format at
 * the top of src/log.c: a 4096-byte header, then checksummed segments at
 * 512-byte offsets).  The header of each file says its size (offset 20):
 * while what follows a file is longer than that size, a file of exactly that
 * size is cut off and the rest is the next generation (at most 4 files).  The
 * last file is zero-extended to 64 KiB, the smallest log file there is, as
 * the engine's own zero-filled files are: seeds and mutations need not carry
 * 60 KiB of zeros.  The files are named as generations G, G+1, ... where G
 * is the first header's generation (1 if that one is out of range), and
 * read twice: once with the last one as <base>.log (the current generation,
 * a torn tail is its valid end) and once with all of them closed
 * (<base>XXXXX.log, where any bad segment before END is corruption).
 *
 * Each time, every file goes through
 *   - log_header_read() and log_verify_path() (backup's check of a closed
 *     generation), `jetutil log FILE` and `jetutil verify FILE`
 *     (cmd_log_check_file and cmd_verify_file, tools/jetutil/, linked in:
 *     jetutil's own walk over the engine's log_segment_read);
 * and the chain through
 *   - the sequential reader of recovery, restore and verify
 *     (log_reader_open / log_reader_seek / log_reader_next), to the end of the
 *     log (JetInit's soft recovery: last_gen 0), and, when all are closed, up
 *     to the last generation with the first file's signature (restore's
 *     hard recovery with a stop generation).  Every record it returns must
 *     be whole and well formed.
 *
 * Headers and segments carry CRC-32Cs, which random mutations never get
 * right, so an input is also run with every checksum fixed up (each file's
 * header; every 512-byte offset that starts with the segment magic and a
 * length that fits).  A crash input found either way reproduces with this
 * harness.
 */
#include "config.h"

#include "fuzz_common.h"

#include "jetutil.h"

#define FZ_MAX_GENS 4

struct fz_file {
	size_t off, len;
	char *path;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_workdir("log");
	return 0;
}

/* Cuts the input into generation files; returns their count. */
static size_t
fz_split(const uint8_t *data, size_t size, struct fz_file *files)
{
	size_t n = 0, off = 0;

	while (n < FZ_MAX_GENS - 1 && size - off >= LOG_HDR_SIZE) {
		uint32_t fs = get32(data + off + LOG_OFF_FILE_SIZE);
		if (fs < LOG_FILE_SIZE_MIN || fs % LOG_SECTOR != 0 || size - off <= fs)
			break;
		files[n].off = off;
		files[n].len = fs;
		n++;
		off += fs;
	}
	files[n].off = off;
	files[n].len = size - off;
	return n + 1;
}

/* Reads the chain from generation gen; every record returned must be sound. */
static void
fz_read_chain(uint32_t gen, uint32_t last_gen, const struct jet_sig *sign)
{
	struct log_reader r;
	uint8_t *rec;
	size_t len;
	lsn_t lsn;
	JET_ERR err = JET_errSuccess;
	int rc;

	if (log_reader_open(&r, NULL, fz_dir, "edb", gen, last_gen, sign) < 0)
		return;
	/* Recovery seeks to its checkpoint: here the one the first header names. */
	if (r.hdr.ckpt_lsn != 0)
		log_reader_seek(&r, r.hdr.ckpt_lsn);
	while ((rc = log_reader_next(&r, &rec, &len, &lsn, &err)) > 0) {
		FZ_CHECK(len >= LREC_HDR_SIZE && len == get32(rec), "record at LSN %llu: length %zu, header says %u",
		    (unsigned long long)lsn, len, get32(rec));
		FZ_CHECK(rec[4] != 0 && rec[4] < LREC_MAX, "record at LSN %llu: type %u", (unsigned long long)lsn, rec[4]);
		FZ_CHECK(lsn != 0 && lsn + len > lsn, "record at LSN %llu: impossible position", (unsigned long long)lsn);
	}
	if (rc < 0)
		FZ_CHECK(err < 0, "log_reader_next failed without an error");
	else
		FZ_CHECK(r.at_end, "log_reader_next ended without being at the end");
	log_reader_close(&r);
}

static void
fz_run(const uint8_t *data, size_t size)
{
	struct fz_file files[FZ_MAX_GENS];
	size_t n = fz_split(data, size, files);
	uint32_t g0 = size >= LOG_OFF_GEN + 4 ? get32(data + LOG_OFF_GEN) : 0, gen = g0 >= 1 && g0 <= LOG_GEN_MAX - FZ_MAX_GENS ? g0 : 1;
	struct jet_sig sign;

	memset(&sign, 0, sizeof(sign));
	if (size >= LOG_OFF_SIGN + SIG_SIZE)
		dbhdr_sig_decode(data + LOG_OFF_SIGN, &sign);
	for (int closed = 0; closed <= 1; closed++) {
		fz_clear_dir(fz_dir);
		for (size_t i = 0; i < n; i++) {
			char name[32];
			if (i == n - 1 && !closed)
				snprintf(name, sizeof(name), "edb.log");
			else
				snprintf(name, sizeof(name), (gen + i) <= 0xFFFFF ? "edb%05X.log" : "edb%08X.log",
				    (unsigned)(gen + i));
			files[i].path = fz_path(name);
			fz_write_file(files[i].path, data + files[i].off, files[i].len, i == n - 1 ? LOG_FILE_SIZE_MIN : 0);
		}
		for (size_t i = 0; i < n; i++) {
			struct log_file_header h;
			os_file *f;
			if (os_open(files[i].path, OS_READ, &f) < 0)
				fz_die(files[i].path);
			if (log_header_read(f, &h) >= 0)
				FZ_CHECK(h.gen != 0 && h.file_size >= LOG_FILE_SIZE_MIN && h.first_lsn != 0 && h.base[3] == '\0',
				    "log_header_read accepted an impossible header");
			os_close(f);
			(void)log_verify_path(files[i].path, 0, NULL, &h);
			fz_quiet_begin();
			(void)cmd_log_check_file(files[i].path, 1);
			(void)cmd_verify_file(files[i].path);
			fz_quiet_end();
		}
		fz_read_chain(gen, 0, NULL);
		if (closed)
			fz_read_chain(gen, gen + (uint32_t)n - 1, &sign);
		for (size_t i = 0; i < n; i++)
			free(files[i].path);
	}
}

/* Fixes every checksum of the file at p (len bytes); 1 if anything changed. */
static int
fz_fix_file(uint8_t *p, size_t len)
{
	uint32_t fs, crc;
	int changed = 0;

	if (len < LOG_HDR_SIZE || get32(p + FMT_OFF_MAGIC) != LOG_MAGIC)
		return 0;
	fs = get32(p + LOG_OFF_FILE_SIZE);
	for (size_t off = LOG_HDR_SIZE; off + LOG_SEG_HDR <= len;) {
		uint32_t sl = get32(p + off + SEG_OFF_LEN);
		if (get32(p + off + SEG_OFF_MAGIC) != SEG_MAGIC || off + LOG_SEG_HDR + (uint64_t)sl > len ||
		    off + LOG_SEG_HDR + (uint64_t)sl > fs) {
			off += LOG_SECTOR;
			continue;
		}
		crc = crc32c(0, p + off + SEG_OFF_GEN, LOG_SEG_HDR - SEG_OFF_GEN + sl);
		if (get32(p + off + SEG_OFF_CRC) != crc) {
			put32(p + off + SEG_OFF_CRC, crc);
			changed = 1;
		}
		off += (LOG_SEG_HDR + (size_t)sl + LOG_SECTOR - 1) & ~(size_t)(LOG_SECTOR - 1);
	}
	crc = crc32c(0, p + FMT_OFF_MAGIC, LOG_HDR_SIZE - FMT_OFF_MAGIC);
	if (get32(p + FMT_OFF_CRC) != crc) {
		put32(p + FMT_OFF_CRC, crc);
		changed = 1;
	}
	return changed;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_file files[FZ_MAX_GENS];
	uint8_t *fixed;
	size_t n;
	int changed = 0;

	fz_run(data, size);
	if ((fixed = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(fixed, data, size);
	n = fz_split(data, size, files);
	for (size_t i = 0; i < n; i++)
		changed |= fz_fix_file(fixed + files[i].off, files[i].len);
	if (changed)
		fz_run(fixed, size);
	free(fixed);
	return 0;
}
