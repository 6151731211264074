/*
 * format.h -- the one definition of libjet's on-disk formats: magics,
 * versions, header sizes and field offsets, as named constants.
 *
 * The engine (through jet_int.h), jetutil, the unit tests and the fuzzers
 * all include this file; none of them may define a magic, a size or an
 * offset of these formats again.  The full descriptions (every field, the
 * invariants) stay beside the code that writes the files:
 *
 *   database header page   the top of src/dbhdr.c
 *   log file and segments  the top of src/log.c
 *   checkpoint file        the top of src/checkpoint.c
 *   page summary           the top of src/pagetrack.c
 *   backup image trailer   the top of src/backup.c
 *   page delta file        the top of src/delta.c (and doc/delta-format.md)
 *   kept-page map          the top of src/snapshot.c (shared memory, not a file)
 *   page layout            src/page.c (its constants: jet_int.h, page.c's section)
 *
 * All integers are little-endian (get32/put32 in jet_int.h).
 *
 * THE COMMON PREFIX.  A database header, a log file header and a checkpoint
 * file all start with the same 16 bytes, and all keep ESE's copy of the file
 * type at byte 667, which is how a tool tells a file's kind from its first
 * page:
 *      0 u32 CRC-32C (of the rest of the header or file)
 *      4 u32 magic       8 u32 format version      12 u32 file type (JET_filetype*)
 *    667 u8  file type again
 */
#ifndef JET_FORMAT_H
#define JET_FORMAT_H

#include "jet.h"

#define FMT_OFF_CRC 0
#define FMT_OFF_MAGIC 4
#define FMT_OFF_VERSION 8
#define FMT_OFF_FILETYPE 12
#define H_FILETYPE_ESE 667		/* u8 file type, in every header kind (ESE's le_filetype) */

/* A signature (log set or database): u32 random, u64 creation time, host[16]. */
#define SIG_SIZE 28

/*
 * DATABASE HEADER (dbhdr.c): file pages 0 and 1, a header and its shadow
 * copy; the CRC covers bytes 4..page_size-1.  Six backup slots of BK_SIZE
 * bytes from BK_OFF.
 */
#define DB_MAGIC 0x89abcdefU		/* ESE's ulDAEMagic */
#define DB_FORMAT_VERSION 1
#define DBHDR_OFF_PAGE_SIZE 16
#define DBHDR_OFF_FLAGS 28
#define DBHDR_OFF_PGNO_LAST 164
#define BK_OFF 168
#define BK_SIZE 24
#define DBHDR_FLAG_BACKUP_COPY 0x1	/* a streamed backup image: needs hard recovery */

/*
 * BACKUP IMAGE TRAILER (backup.c): the last page of a streamed image, at
 * file page pgno_last + 2, with the common prefix's CRC and magic.
 */
#define BK_TRAILER_MAGIC 0x4C52544AU	/* "JTRL" */
#define BK_TRAILER_VERSION 1

/*
 * LOG FILE (log.c): a LOG_HDR_SIZE-byte header (the CRC covers bytes
 * 4..LOG_HDR_SIZE-1), then segments at LOG_SECTOR-aligned offsets.
 */
#define LOG_MAGIC 0x474F4C4AU		/* "JLOG" */
#define LOG_VERSION 2			/* 2: transaction records carry their commit time */
#define LOG_VERSION_UNTIMED 1		/* still read: its transaction records have no time */
#define LOG_HDR_SIZE 4096
#define LOG_SECTOR 512
#define LOG_OFF_GEN 16
#define LOG_OFF_FILE_SIZE 20
#define LOG_OFF_SIGN 48			/* the log signature, SIG_SIZE bytes */
#define LOG_FILE_SIZE_MIN (64u * 1024u)
#define LOG_GEN_MAX (0x7FFFFA00U - 0x200U)
#define LOG_RECORD_MAX (1U << 30)
#define LOGF_CIRCULAR 0x1		/* header flags */

/*
 * LOG SEGMENT (log.c): a LOG_SEG_HDR-byte header, the payload, zero padding
 * to LOG_SECTOR.  The CRC covers header bytes SEG_OFF_GEN..LOG_SEG_HDR-1
 * and the payload.
 */
#define SEG_MAGIC 0x4745534AU		/* "JSEG" */
#define LOG_SEG_HDR 32
#define SEG_OFF_MAGIC 0
#define SEG_OFF_CRC 4
#define SEG_OFF_GEN 8
#define SEG_OFF_LEN 12			/* payload length */
#define SEG_OFF_FLAGS 16
#define SEG_OFF_SEQ 20			/* sequence number in the file */
#define SEG_OFF_LSN 24			/* u64 LSN of the first payload byte */
#define SEGF_END 0x1			/* closes a generation; its LSN is the stream's end */

/*
 * LOG RECORDS (log.c, txn.c): u32 length, u8 type, 3 bytes zero, then the
 * type's bytes.  A transaction record (LREC_TXN) of format 2 holds its
 * commit time, microseconds since the epoch by CLOCK_REALTIME, never less
 * than the previous commit's in the log; a record of format 1 (a generation
 * whose header says version 1) has none, and its op count at
 * LREC_TXN_OFF_NOPS_UNTIMED.
 */
#define LREC_TXN_OFF_TIME 8		/* u64 commit time (format 2) */
#define LREC_TXN_OFF_NOPS 16		/* u32 op count, then the page operations (txn.c) */
#define LREC_TXN_OFF_NOPS_UNTIMED 8

/*
 * CHECKPOINT FILE (checkpoint.c): <base>.chk, its CRC over bytes
 * 4..size-1; the attached databases from CHK_ATTACH_OFF, each u32 dbid,
 * database signature, u16 path length, path (at most 4096 bytes).
 */
#define CHK_MAGIC 0x4B48434AU		/* "JCHK" */
#define CHK_VERSION 1
#define CHK_OFF_SIZE 16			/* u32 file size */
#define CHK_ATTACH_OFF 1024		/* also the smallest file */
#define CHK_SIZE_MAX (CHK_ATTACH_OFF + JET_MAX_ATTACHED_DATABASES * (4 + SIG_SIZE + 2 + 4096))

/*
 * PAGE SUMMARY (pagetrack.c): <base>pXXXXX.jps beside <base>XXXXX.log, the
 * pages that the records starting in that generation changed, per
 * database signature.  The CRC covers bytes 4..size-1; byte 12 is the
 * generation (not a file type: a summary is no ESE file).
 */
#define PT_MAGIC 0x5354504AU		/* "JPTS" */
#define PT_VERSION 1
#define PT_OFF_GEN 12
#define PT_OFF_SIZE 16			/* u32 file size */

/*
 * The kept-page map of a point-in-time backup (snapshot.c): shared memory
 * the instance writes and readers of the set (pitread.c) read, in this
 * process or another.  A header, then one bit per database page.
 */
#define KPM_MAGIC 0x4D504B4AU		/* "JKPM" */
#define KPM_VERSION 1
#define KPM_OFF_MAGIC 0
#define KPM_OFF_VERSION 4
#define KPM_OFF_PGNO_LAST 8
#define KPM_OFF_PAGE_SIZE 12
#define KPM_OFF_STATE 16		/* i32: 0 live, else the JET_ERR every read now gets */
#define KPM_HDR_SIZE 64			/* the bitmap starts here: u64 words, bit p%64 of word p/64 */
#define KPM_SIZE(pgno_last) (KPM_HDR_SIZE + ((size_t)(pgno_last) / 64 + 1) * 8)

/*
 * The state of a point-in-time backup (backup.c K4): shared memory every
 * reader of the set checks after each read; 0 while the backup runs, then
 * the JET_ERR its calls get (stopped, ended).
 */
#define BKS_MAGIC 0x534B424AU		/* "JBKS" */
#define BKS_VERSION 1
#define BKS_OFF_MAGIC 0
#define BKS_OFF_VERSION 4
#define BKS_OFF_STATE 8			/* i32 */
#define BKS_SIZE 64

/*
 * PAGE DELTA FILE (delta.c, doc/delta-format.md): file pages of the
 * database's page size.  Page 0 the delta header (CRC-32C of bytes
 * 4..page_size-1 at 0, magic at 4), page 1 the database header stamped at
 * the delta's Begin, then DELTA_INDEX_PAGES(n) index pages, then the n pages.
 */
#define DELTA_MAGIC 0x544C444AU		/* "JDLT" */
#define DELTA_VERSION 1
#define DELTA_OFF_VERSION 8
#define DELTA_OFF_PAGE_SIZE 12
#define DELTA_OFF_SIGN_DB 16		/* SIG_SIZE bytes */
#define DELTA_OFF_SIGN_LOG 44		/* SIG_SIZE bytes */
#define DELTA_OFF_BASE 72		/* bkinfo of the base full: u64 lsn, u64 time, u32 gen_low, u32 gen_high */
#define DELTA_OFF_MARK 96		/* bkinfo of the delta itself, same layout */
#define DELTA_OFF_PGNO_LAST 120
#define DELTA_OFF_NPAGES 124
#define DELTA_OFF_INDEX_CRC 128		/* CRC-32C of the index pages, padding included */
#define DELTA_OFF_PATH_LEN 132		/* u16, then the path */
#define DELTA_OFF_PATH 134
#define DELTA_PATH_MAX 1023
#define DELTA_STAMP_PAGE 1		/* file page of the stamped database header */
#define DELTA_INDEX_PAGE 2		/* first file page of the index */
#define DELTA_ENTRY_SIZE 8		/* u32 pgno, u32 CRC-32C of the page's page_size bytes */
#define DELTA_INDEX_PAGES(n, page_size) \
	(((uint64_t)(n) * DELTA_ENTRY_SIZE + (page_size) - 1) / (page_size))

#endif
