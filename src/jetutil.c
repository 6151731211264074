/*
 * jetutil -- the offline tool for libjet files (eseutil's dump, checksum,
 * backup and restore modes).
 *
 *   jetutil header DB [--json]         the database header (eseutil /mh)
 *   jetutil log FILE...                log file headers and integrity (/ml)
 *   jetutil checkpoint CHK             the checkpoint file (/mk)
 *   jetutil verify FILE...             checksum every page or segment (/k)
 *   jetutil verify-backup DIR...       check a copied backup set (and its SHA256SUMS)
 *   jetutil restore -t DIR [--roll-forward LOGDIR] [--stop-gen N] SET...
 *   jetutil backup INSTANCEDIR BACKUPDIR [--incremental] [--point-in-time]
 *   jetutil backup --socket PATH BACKUPDIR [--incremental] [--point-in-time]
 *
 * Everything but restore and backup only reads files, with the engine's own
 * decoders (dbhdr.c, log.c, checkpoint.c, backup.c); a damaged or foreign
 * file is reported, never trusted.  Exit status: 0 all good, 1 a problem
 * found (or an engine call failed), 2 bad usage.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evtarget.h"
#include "jet_int.h"
#include "manifest.h"

/* Segment format (log.c): magic, CRC, generation, length, flags, sequence, LSN. */
#define SEG_MAGIC_JU 0x4745534AU	/* "JSEG" */
#define SEGF_END_JU 0x1
#define LOG_MAGIC_JU 0x474F4C4AU	/* "JLOG" */
#define CHK_MAGIC_JU 0x4B48434AU	/* "JCHK" */
#define LABEL_W 24
#define LIST_MAX 50			/* bad pages listed per file */
#define BASE_NAME "edb"

static int quiet;

/* ---- messages ---- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: jetutil header DB [--json]\n"
	    "       jetutil log FILE...\n"
	    "       jetutil checkpoint CHK\n"
	    "       jetutil verify FILE...\n"
	    "       jetutil verify-backup DIR [DIR...]\n"
	    "       jetutil restore -t TARGETDIR [--roll-forward LOGDIR] [--stop-gen N] [--quiet] BACKUPDIR...\n"
	    "       jetutil backup INSTANCEDIR BACKUPDIR [--incremental] [--point-in-time] [--quiet]\n"
	    "       jetutil backup --socket PATH BACKUPDIR [--incremental] [--point-in-time] [--quiet]\n"
	    "       jetutil --help | --version\n");
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("jetutil: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	usage(stderr);
	exit(2);
}

static void __attribute__((format(printf, 1, 2)))
errmsg(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fputs("jetutil: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *
jet_problem(JET_ERR err, char *buf, size_t len)
{
	snprintf(buf, len, "%s (%ld): %s", JetErrorName(err), err, JetErrorString(err));
	return buf;
}

/* Why a file could not be opened: errno's text when there is one. */
static const char *
open_problem(JET_ERR err)
{
	int e = os_last_errno();

	if (err == JET_errFileNotFound)
		return "no such file";
	return e != 0 ? strerror(e) : JetErrorString(err);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		errmsg("out of memory");
		exit(1);
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL) {
		errmsg("out of memory");
		exit(1);
	}
	return p;
}

static char *
xjoin(const char *dir, const char *name)
{
	char *p = os_path_join(dir, name);

	if (p == NULL) {
		errmsg("out of memory");
		exit(1);
	}
	return p;
}

static const char *
base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* A copy of s fit for a terminal: non-printable bytes become '?'. */
static void
printable(const char *s, char *out, size_t len)
{
	size_t i = 0;

	for (; *s != '\0' && i + 1 < len; s++)
		out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[i] = '\0';
}

static const char *
fmt_time(uint64_t us, char *buf, size_t len)
{
	dbhdr_time_format(us, buf, len);
	return buf;
}

static const char *
fmt_sig(const struct jet_sig *s, char *buf, size_t len)
{
	char t[40], host[20];

	printable(s->host, host, sizeof(host));
	snprintf(buf, len, "Create time: %s Rand: %u Computer: %s", fmt_time(s->time_create, t, sizeof(t)),
	    s->random, host);
	return buf;
}

static void __attribute__((format(printf, 2, 3)))
field(const char *label, const char *fmt, ...)
{
	va_list ap;

	printf("%*s: ", LABEL_W, label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *
state_name(uint32_t st)
{
	switch (st) {
	case JET_dbstateJustCreated: return "Just Created";
	case JET_dbstateDirtyShutdown: return "Dirty Shutdown";
	case JET_dbstateCleanShutdown: return "Clean Shutdown";
	case JET_dbstateBeingConverted: return "Being Converted";
	case JET_dbstateForceDetach: return "Force Detach";
	default: return "Unknown";
	}
}

/* ---- JSON output ---- */

struct jw {
	int depth;
	int comma[32];
};

static void
jw_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);	/* bytes, as Latin-1: always valid JSON */
		else
			putchar(*p);
	}
	putchar('"');
}

static void
jw_key(struct jw *j, const char *key)
{
	if (j->depth == 0)
		return;
	if (j->comma[j->depth])
		putchar(',');
	printf("\n%*s", 2 * j->depth, "");
	if (key != NULL) {
		jw_string(key);
		fputs(": ", stdout);
	}
	j->comma[j->depth] = 1;
}

static void
jw_open(struct jw *j, const char *key, char c)
{
	jw_key(j, key);
	putchar(c);
	j->depth++;
	j->comma[j->depth] = 0;
}

static void
jw_close(struct jw *j, char c)
{
	int had = j->comma[j->depth];

	j->depth--;
	if (had)
		printf("\n%*s", 2 * j->depth, "");
	putchar(c);
	if (j->depth == 0)
		putchar('\n');
}

static void
jw_str(struct jw *j, const char *key, const char *v)
{
	jw_key(j, key);
	if (v == NULL)
		fputs("null", stdout);
	else
		jw_string(v);
}

static void
jw_u64(struct jw *j, const char *key, uint64_t v)
{
	jw_key(j, key);
	printf("%llu", (unsigned long long)v);
}

static void
jw_bool(struct jw *j, const char *key, int v)
{
	jw_key(j, key);
	fputs(v ? "true" : "false", stdout);
}

static void
jw_time(struct jw *j, const char *key, uint64_t us)
{
	char t[40];

	jw_str(j, key, us == 0 ? NULL : fmt_time(us, t, sizeof(t)));
}

static void
jw_sig(struct jw *j, const char *key, const struct jet_sig *s)
{
	jw_open(j, key, '{');
	jw_u64(j, "random", s->random);
	jw_time(j, "time_create", s->time_create);
	jw_str(j, "computer", s->host);
	jw_close(j, '}');
}

/* ---- database header copies ---- */

struct hdr_copies {
	int ok[2];
	const char *why[2];		/* the problem of a bad copy */
	struct db_header h;		/* from the first good copy */
	int have;			/* a good copy exists */
	int identical;
	uint32_t ps;
	uint64_t size;
};

/* NULL if the page is a sound header (decoded into *h), else what is wrong. */
static const char *
hdr_copy_problem(const uint8_t *p, size_t got, struct db_header *h)
{
	uint32_t ps;
	JET_ERR err;

	if (got < PAGE_SIZE_MIN)
		return "missing (the file is too short)";
	if (page_is_zero(p, PAGE_SIZE_MIN))
		return "all zero";
	if (get32(p + 4) != DB_MAGIC || get32(p + 12) != JET_filetypeDatabase)
		return "not a database header (bad magic or file type)";
	ps = get32(p + 16);
	if (ps < PAGE_SIZE_MIN || ps > PAGE_SIZE_MAX || (ps & (ps - 1)) != 0)
		return "impossible page size";
	if (ps > got)
		return "truncated";
	if (get32(p) != crc32c(0, p + 4, ps - 4))
		return "bad checksum";
	err = dbhdr_decode(p, (uint32_t)got, h);
	if (err == JET_errInvalidDatabaseVersion)
		return "unsupported format version";
	if (err < 0)
		return "impossible field values";
	return NULL;
}

/* Reads and classifies both header copies; returns < 0 only on an I/O error. */
static JET_ERR
read_hdr_copies(os_file *f, struct hdr_copies *hc)
{
	uint8_t *b0 = xmalloc(PAGE_SIZE_MAX), *b1 = xmalloc(PAGE_SIZE_MAX);
	struct db_header h1;
	size_t got0 = 0, got1 = 0;
	JET_ERR err;

	memset(hc, 0, sizeof(*hc));
	ERR(os_size(f, &hc->size));
	ERR(os_pread_partial(f, b0, PAGE_SIZE_MAX, 0, &got0));
	hc->why[0] = hdr_copy_problem(b0, got0, &hc->h);
	hc->ok[0] = hc->why[0] == NULL;
	if (hc->ok[0]) {
		hc->ps = hc->h.page_size;
		ERR(os_pread_partial(f, b1, hc->ps, hc->ps, &got1));
		hc->why[1] = hdr_copy_problem(b1, got1, &h1);
		if (hc->why[1] == NULL && h1.page_size != hc->ps)
			hc->why[1] = "a different page size";
	} else {
		/* The shadow sits one page further: try each legal page size. */
		hc->why[1] = "not found";
		for (uint32_t ps = PAGE_SIZE_MIN; ps <= PAGE_SIZE_MAX; ps *= 2) {
			const char *why;
			if (os_pread_partial(f, b1, ps, ps, &got1) < 0 || got1 != ps)
				continue;
			why = hdr_copy_problem(b1, got1, &h1);
			if (why == NULL && h1.page_size == ps) {
				hc->ps = ps;
				hc->h = h1;
				hc->why[1] = NULL;
				break;
			}
		}
		/* Copy 0 names a page size: say what is at its shadow's place. */
		if (hc->why[1] != NULL && got0 >= PAGE_SIZE_MIN && get32(b0 + 4) == DB_MAGIC) {
			uint32_t ps = get32(b0 + 16);
			if (ps >= PAGE_SIZE_MIN && ps <= PAGE_SIZE_MAX && (ps & (ps - 1)) == 0 &&
			    os_pread_partial(f, b1, ps, ps, &got1) >= 0)
				hc->why[1] = hdr_copy_problem(b1, got1, &h1);
			if (hc->why[1] == NULL)
				hc->why[1] = "bad checksum";	/* impossible: found above */
		}
	}
	hc->ok[1] = hc->why[1] == NULL;
	hc->have = hc->ok[0] || hc->ok[1];
	hc->identical = hc->ok[0] && hc->ok[1] && memcmp(b0, b1, hc->ps) == 0;
	err = JET_errSuccess;
err:
	free(b0);
	free(b1);
	return err;
}

static const char *
copy_status(const struct hdr_copies *hc, int i)
{
	return hc->ok[i] ? "OK" : hc->why[i];
}

/* The trailer of a backup image: 0 with *t, or a problem in why. */
static int
read_trailer(os_file *f, const struct hdr_copies *hc, struct bk_trailer *t, char *why, size_t len)
{
	uint32_t ps = hc->ps;
	uint64_t want = ((uint64_t)hc->h.pgno_last + 3) * ps;
	uint8_t *page;
	JET_ERR err;

	memset(t, 0, sizeof(*t));
	if (hc->size < want) {
		snprintf(why, len, "missing: the image has %llu bytes, its header says %llu (truncated copy?)",
		    (unsigned long long)hc->size, (unsigned long long)want);
		return -1;
	}
	page = xmalloc(ps);
	err = os_pread(f, page, ps, want - ps);
	if (err >= 0)
		err = backup_trailer_decode(page, ps, t);
	free(page);
	if (err < 0) {
		snprintf(why, len, "%s", err == JET_errBadPatchPage ? "damaged (bad checksum, magic or fields)" :
		    JetErrorString(err));
		return -1;
	}
	if (!dbhdr_sig_equal(&t->sign_db, &hc->h.sign_db) || !dbhdr_sig_equal(&t->sign_log, &hc->h.sign_log) ||
	    t->bk.lsn_mark != hc->h.bk[BK_FULL_CUR].lsn_mark || t->pgno_last != hc->h.pgno_last) {
		snprintf(why, len, "does not belong to this header (signatures, mark or page count differ)");
		return -1;
	}
	if (hc->size != want) {
		snprintf(why, len, "the image has %llu bytes, its header says %llu", (unsigned long long)hc->size,
		    (unsigned long long)want);
		return -1;
	}
	return 0;
}

/* ---- header ---- */

static const char *const bk_labels[BK_NSLOTS] = {
	"Previous Full Backup", "Previous Incremental Backup", "Previous Copy Backup",
	"Previous Differential Backup", "Current Full Backup", "Current Snapshot",
};
static const char *const bk_keys[BK_NSLOTS] = {
	"previous_full_backup", "previous_incremental_backup", "previous_copy_backup",
	"previous_differential_backup", "current_full_backup", "current_snapshot",
};

static void
print_bkinfo_text(const char *label, const struct bkinfo *b)
{
	char t[40];

	printf("\n%s:\n", label);
	field("Log Gen", "%u-%u (0x%x-0x%x)", b->gen_low, b->gen_high, b->gen_low, b->gen_high);
	field("Mark", "(LSN %llu)", (unsigned long long)b->lsn_mark);
	field("Mark", "%s", fmt_time(b->time_mark, t, sizeof(t)));
}

static void
print_bkinfo_json(struct jw *j, const char *key, const struct bkinfo *b)
{
	jw_open(j, key, '{');
	jw_u64(j, "gen_low", b->gen_low);
	jw_u64(j, "gen_high", b->gen_high);
	jw_u64(j, "mark_lsn", b->lsn_mark);
	jw_time(j, "mark_time", b->time_mark);
	jw_close(j, '}');
}

static void
header_text(const char *path, const struct hdr_copies *hc, int have_trailer, int trailer_ok,
    const struct bk_trailer *t, const char *trailer_why)
{
	const struct db_header *h = &hc->h;
	char a[160], b[40];

	printf("Database: %s\n\n", path);
	field("File Type", "Database%s", (h->flags & DBHDR_FLAG_BACKUP_COPY) ? " (backup image)" : "");
	field("Header copy 0", "%s", copy_status(hc, 0));
	field("Header copy 1", "%s%s", copy_status(hc, 1),
	    hc->ok[0] && hc->ok[1] ? (hc->identical ? " (identical)" : " (the copies differ)") : "");
	field("Format ulMagic", "0x%08x", DB_MAGIC);
	field("Format ulVersion", "%u", h->version);
	field("cbDbPage", "%u", h->page_size);
	field("File size", "%llu bytes (%llu pages after the header copies)", (unsigned long long)hc->size,
	    (unsigned long long)(hc->size / h->page_size >= 2 ? hc->size / h->page_size - 2 : 0));
	field("Dbid", "%u", h->dbid);
	field("State", "%s", state_name(h->dbstate));
	field("DB Signature", "%s", fmt_sig(&h->sign_db, a, sizeof(a)));
	field("Log Signature", "%s", fmt_sig(&h->sign_log, a, sizeof(a)));
	field("dbtime", "%llu (0x%llx)", (unsigned long long)h->dbtime, (unsigned long long)h->dbtime);
	field("Log Required", "%u-%u (0x%x-0x%x)", h->gen_min_required, h->gen_max_required, h->gen_min_required,
	    h->gen_max_required);
	field("Log Committed", "0-%u (0x0-0x%x)", h->gen_max_committed, h->gen_max_committed);
	field("Log Consistent", "%u (0x%x)", h->gen_consistent, h->gen_consistent);
	field("Last Consistent", "(gen %u, LSN %llu)  %s", h->gen_consistent, (unsigned long long)h->lsn_consistent,
	    fmt_time(h->time_consistent, b, sizeof(b)));
	field("Last Attach", "(gen %u, LSN %llu)  %s", h->gen_attach, (unsigned long long)h->lsn_attach,
	    fmt_time(h->time_attach, b, sizeof(b)));
	field("Last Detach", "(LSN %llu)  %s", (unsigned long long)h->lsn_detach, fmt_time(h->time_detach, b, sizeof(b)));
	field("pgno_last", "%u", h->pgno_last);
	field("Flags", "0x%x%s", h->flags, (h->flags & DBHDR_FLAG_BACKUP_COPY) ? " (backup copy: needs hard recovery)" : "");
	for (int i = 0; i < BK_NSLOTS; i++)
		print_bkinfo_text(bk_labels[i], &h->bk[i]);
	if (have_trailer) {
		printf("\nPatch Current Full Backup:\n");
		if (!trailer_ok) {
			field("Trailer", "%s", trailer_why);
			return;
		}
		field("Trailer", "OK");
		field("Log Gen", "%u-%u (0x%x-0x%x)", t->bk.gen_low, t->bk.gen_high, t->bk.gen_low, t->bk.gen_high);
		field("Mark", "(LSN %llu)", (unsigned long long)t->bk.lsn_mark);
		field("Mark", "%s", fmt_time(t->bk.time_mark, b, sizeof(b)));
		field("Logs needed", "%u-%u", h->bk[BK_FULL_CUR].gen_low, t->bk.gen_high);
		field("DB Signature", "%s", fmt_sig(&t->sign_db, a, sizeof(a)));
		field("Log Signature", "%s", fmt_sig(&t->sign_log, a, sizeof(a)));
		field("Log Required", "%u-%u", t->gen_min_required, t->gen_max_required);
		field("Log Committed", "0-%u", t->gen_max_committed);
		field("pgno_last", "%u", t->pgno_last);
		printable(t->path, a, sizeof(a));
		field("Original path", "%s", a);
	}
}

static void
header_json(const char *path, const struct hdr_copies *hc, int have_trailer, int trailer_ok,
    const struct bk_trailer *t, const char *trailer_why)
{
	const struct db_header *h = &hc->h;
	struct jw j;
	char magic[16];

	memset(&j, 0, sizeof(j));
	jw_open(&j, NULL, '{');
	jw_str(&j, "file", path);
	jw_str(&j, "file_type", "database");
	jw_bool(&j, "backup_image", (h->flags & DBHDR_FLAG_BACKUP_COPY) != 0);
	jw_u64(&j, "file_size", hc->size);
	jw_open(&j, "header_copies", '{');
	jw_str(&j, "copy0", hc->ok[0] ? "ok" : hc->why[0]);
	jw_str(&j, "copy1", hc->ok[1] ? "ok" : hc->why[1]);
	jw_bool(&j, "identical", hc->identical);
	jw_close(&j, '}');
	snprintf(magic, sizeof(magic), "0x%08x", DB_MAGIC);
	jw_str(&j, "magic", magic);
	jw_u64(&j, "version", h->version);
	jw_u64(&j, "page_size", h->page_size);
	jw_u64(&j, "dbid", h->dbid);
	jw_str(&j, "state", state_name(h->dbstate));
	jw_u64(&j, "state_code", h->dbstate);
	jw_sig(&j, "db_signature", &h->sign_db);
	jw_sig(&j, "log_signature", &h->sign_log);
	jw_u64(&j, "dbtime", h->dbtime);
	jw_open(&j, "log_required", '{');
	jw_u64(&j, "low", h->gen_min_required);
	jw_u64(&j, "high", h->gen_max_required);
	jw_close(&j, '}');
	jw_u64(&j, "log_committed", h->gen_max_committed);
	jw_u64(&j, "log_consistent", h->gen_consistent);
	jw_open(&j, "last_consistent", '{');
	jw_u64(&j, "gen", h->gen_consistent);
	jw_u64(&j, "lsn", h->lsn_consistent);
	jw_time(&j, "time", h->time_consistent);
	jw_close(&j, '}');
	jw_open(&j, "last_attach", '{');
	jw_u64(&j, "gen", h->gen_attach);
	jw_u64(&j, "lsn", h->lsn_attach);
	jw_time(&j, "time", h->time_attach);
	jw_close(&j, '}');
	jw_open(&j, "last_detach", '{');
	jw_u64(&j, "lsn", h->lsn_detach);
	jw_time(&j, "time", h->time_detach);
	jw_close(&j, '}');
	jw_u64(&j, "pgno_last", h->pgno_last);
	jw_u64(&j, "flags", h->flags);
	jw_open(&j, "backups", '{');
	for (int i = 0; i < BK_NSLOTS; i++)
		print_bkinfo_json(&j, bk_keys[i], &h->bk[i]);
	jw_close(&j, '}');
	if (!have_trailer)
		jw_str(&j, "trailer", NULL);
	else {
		jw_open(&j, "trailer", '{');
		jw_str(&j, "status", trailer_ok ? "ok" : trailer_why);
		if (trailer_ok) {
			print_bkinfo_json(&j, "patch_current_full_backup", &t->bk);
			jw_open(&j, "logs_needed", '{');
			jw_u64(&j, "low", h->bk[BK_FULL_CUR].gen_low);
			jw_u64(&j, "high", t->bk.gen_high);
			jw_close(&j, '}');
			jw_sig(&j, "db_signature", &t->sign_db);
			jw_sig(&j, "log_signature", &t->sign_log);
			jw_u64(&j, "gen_min_required", t->gen_min_required);
			jw_u64(&j, "gen_max_required", t->gen_max_required);
			jw_u64(&j, "gen_max_committed", t->gen_max_committed);
			jw_u64(&j, "pgno_last", t->pgno_last);
			jw_str(&j, "path", t->path);
		}
		jw_close(&j, '}');
	}
	jw_close(&j, '}');
}

static int
cmd_header(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct hdr_copies hc;
	struct bk_trailer t;
	char why[200] = "";
	int json = 0, c, have_trailer, trailer_ok = 0;
	os_file *f;
	JET_ERR err;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 1)
		usage_error("header: exactly one database file expected");
	if ((err = os_open(argv[optind], OS_READ, &f)) < 0) {
		errmsg("cannot open %s: %s", argv[optind], open_problem(err));
		return 1;
	}
	if ((err = read_hdr_copies(f, &hc)) < 0) {
		errmsg("%s: %s", argv[optind], jet_problem(err, why, sizeof(why)));
		os_close(f);
		return 1;
	}
	if (!hc.have) {
		errmsg("%s is not a libjet database: no sound header (copy 0: %s; copy 1: %s)", argv[optind],
		    hc.why[0], hc.why[1]);
		os_close(f);
		return 1;
	}
	have_trailer = (hc.h.flags & DBHDR_FLAG_BACKUP_COPY) != 0;
	if (have_trailer)
		trailer_ok = read_trailer(f, &hc, &t, why, sizeof(why)) == 0;
	os_close(f);
	if (json)
		header_json(argv[optind], &hc, have_trailer, trailer_ok, &t, why);
	else
		header_text(argv[optind], &hc, have_trailer, trailer_ok, &t, why);
	/* The header shown is sound, but a damaged copy is damage all the same: status 1, as verify. */
	for (int i = 0; i < 2; i++)
		if (!hc.ok[i])
			errmsg("%s: header copy %d is %s", argv[optind], i, hc.why[i]);
	if (hc.ok[0] && hc.ok[1] && !hc.identical)
		errmsg("%s: the two header copies differ", argv[optind]);
	if (have_trailer && !trailer_ok)
		errmsg("%s: the backup trailer is %s", argv[optind], why);
	return !hc.ok[0] || !hc.ok[1] || !hc.identical || (have_trailer && !trailer_ok);
}

/* ---- log files ---- */

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

/* 1 valid, 0 invalid (why set), < 0 I/O error. */
static int
seg_read(os_file *f, const struct log_file_header *h, uint64_t off, uint8_t **bufp, uint32_t *lenp, uint32_t *flagsp,
    lsn_t *lsnp, const char **why, JET_ERR *errp)
{
	uint8_t sh[LOG_SEG_HDR], *p;
	size_t got;
	uint32_t len;
	JET_ERR err;

	if (off + LOG_SEG_HDR > h->file_size) {
		*why = "the file ends";
		return 0;
	}
	if ((err = os_pread_partial(f, sh, LOG_SEG_HDR, off, &got)) < 0) {
		*errp = err;
		return -1;
	}
	if (got != LOG_SEG_HDR) {
		*why = "the file ends";
		return 0;
	}
	if (get32(sh) != SEG_MAGIC_JU) {
		static const uint8_t zero[LOG_SEG_HDR];
		*why = memcmp(sh, zero, sizeof(zero)) == 0 ? "zero-filled (never written)" : "bad segment magic";
		return 0;
	}
	if (get32(sh + 8) != h->gen) {
		*why = "a segment of another generation";
		return 0;
	}
	len = get32(sh + 12);
	if (off + LOG_SEG_HDR + (uint64_t)len > h->file_size) {
		*why = "a segment length beyond the end of the file";
		return 0;
	}
	p = realloc(*bufp, LOG_SEG_HDR + (size_t)len + 1);
	if (p == NULL) {
		*errp = JET_errOutOfMemory;
		return -1;
	}
	*bufp = p;
	memcpy(p, sh, LOG_SEG_HDR);
	if ((err = os_pread(f, p + LOG_SEG_HDR, len, off + LOG_SEG_HDR)) < 0) {
		if (err == JET_errFileIOBeyondEOF) {
			*why = "the file ends inside a segment";
			return 0;
		}
		*errp = err;
		return -1;
	}
	if (get32(sh + 4) != crc32c(0, p + 8, LOG_SEG_HDR - 8 + len)) {
		*why = "bad segment checksum";
		return 0;
	}
	*lenp = len;
	*flagsp = get32(sh + 16);
	*lsnp = get64(sh + 24);
	return 1;
}

static uint64_t
align512(uint64_t n)
{
	return (n + LOG_SECTOR - 1) & ~(uint64_t)(LOG_SECTOR - 1);
}

/*
 * Walks the segments of a log file.  strict (a closed generation): every
 * segment up to END must be sound.  Otherwise (<base>.log) the first bad
 * segment is the valid end, and later valid segments are counted.
 */
static JET_ERR
log_walk(os_file *f, const struct log_file_header *h, int strict, struct seg_walk *w)
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
		int rc = seg_read(f, h, off, &buf, &len, &flags, &lsn, &why, &err);

		if (rc < 0)
			goto out;
		if (rc == 1 && !(flags & SEGF_END_JU) && lsn != w->pos) {
			snprintf(whybuf, sizeof(whybuf), "segment LSN %llu where %llu was expected", (unsigned long long)lsn,
			    (unsigned long long)w->pos);
			why = whybuf;
			rc = 0;
		}
		if (rc == 1 && (flags & SEGF_END_JU) && lsn > w->pos) {
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
				if (seg_read(f, h, o, &buf, &len, &flags, &lsn, &w2, &err) == 1 && lsn >= w->pos) {
					w->beyond++;
					o = align512(o + LOG_SEG_HDR + len) - LOG_SECTOR;
				}
			}
			err = JET_errSuccess;
			goto out;
		}
		w->nsegs++;
		if (flags & SEGF_END_JU) {
			w->end_found = 1;
			w->end_off = off;
			w->end_lsn = lsn;
			goto out;
		}
		w->payload += len;
		w->pos += len;
		off += align512(LOG_SEG_HDR + len);
	}
out:
	free(buf);
	return err;
}

/* 1 if name is <base>XXXXX.log (or 8 digits), 0 if <base>.log, -1 otherwise. */
static int
log_name_kind(const char *name, const char *base, uint32_t *genp)
{
	char cur[16];

	if (log_parse_name(base, name, genp))
		return 1;
	snprintf(cur, sizeof(cur), "%s.log", base);
	return strcmp(name, cur) == 0 ? 0 : -1;
}

static void
print_log_header(const struct log_file_header *h)
{
	char a[160], b[40];

	field("Generation", "%u (0x%x)", h->gen, h->gen);
	printable(h->base, a, sizeof(a));
	field("Base name", "%s", a);
	field("Creation time", "%s", fmt_time(h->time_create, b, sizeof(b)));
	field("Prev gen. creation", "%s", fmt_time(h->time_prev, b, sizeof(b)));
	field("Log Signature", "%s", fmt_sig(&h->sign_log, a, sizeof(a)));
	field("File size", "%u bytes (%u KiB)", h->file_size, h->file_size / 1024);
	field("cbDbPage", "%u", h->page_size);
	field("First LSN", "%llu", (unsigned long long)h->first_lsn);
	field("First record LSN", "%llu%s", (unsigned long long)h->first_record_lsn,
	    h->first_record_lsn == 0 ? " (no record starts here)" : "");
	field("Checkpoint at creation", "gen %u, LSN %llu", h->ckpt_gen, (unsigned long long)h->ckpt_lsn);
	field("Circular logging", "%s", (h->flags & LOGF_CIRCULAR) ? "yes" : "no");
}

/* The verdict on a log file: "Integrity check ..." on its own line (log) or after the path (verify). */
static int
log_verdict(const char *path, int show_header, const char *problem)
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
static int
check_log_file(const char *path, int show_header)
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
		snprintf(msg, sizeof(msg), "cannot open: %s", open_problem(err));
		return log_verdict(path, show_header, msg);
	}
	if ((err = log_header_read(f, &h)) < 0) {
		os_close(f);
		if (err == JET_errLogFileCorrupt)
			snprintf(msg, sizeof(msg), "not a log file, or its header is damaged");
		else if (err == JET_errBadLogVersion)
			snprintf(msg, sizeof(msg), "unsupported log format version");
		else
			jet_problem(err, msg, sizeof(msg));
		return log_verdict(path, show_header, msg);
	}
	kind = log_name_kind(base_of(path), h.base, &name_gen);
	if (show_header)
		print_log_header(&h);
	if (kind == 1 && name_gen != h.gen) {
		os_close(f);
		snprintf(msg, sizeof(msg), "the file name says generation %u, the header %u", name_gen, h.gen);
		return log_verdict(path, show_header, msg);
	}
	/* A closed generation (by its name) must be sound up to END. */
	err = log_walk(f, &h, kind == 1, &w);
	os_close(f);
	if (err < 0) {
		char e[200];
		snprintf(msg, sizeof(msg), "read error: %s", jet_problem(err, e, sizeof(e)));
		return log_verdict(path, show_header, msg);
	}
	if (show_header)
		field("Segments", "%u (%llu bytes of records)", w.nsegs, (unsigned long long)w.payload);
	if (w.damaged)
		return log_verdict(path, show_header, w.problem);
	if (show_header) {
		if (w.end_found)
			field("End", "END segment at offset %llu, LSN %llu (closed)", (unsigned long long)w.end_off,
			    (unsigned long long)w.end_lsn);
		else
			field("Valid end", "offset %llu, LSN %llu (then: %s)", (unsigned long long)w.end_off,
			    (unsigned long long)w.end_lsn, w.problem);
	}
	if (w.beyond > 0) {
		snprintf(msg, sizeof(msg), "damaged at offset %llu (%s), yet %u sound segment(s) follow: "
		    "committed records past the damage would be lost (after a crash during a write this can also "
		    "be a torn write)", (unsigned long long)w.end_off, w.problem, w.beyond);
		return log_verdict(path, show_header, msg);
	}
	if (!show_header)
		printf("%s: log generation %u: %u segments checked, LSN %llu to %llu%s: integrity check passed\n", path,
		    h.gen, w.nsegs, (unsigned long long)h.first_lsn, (unsigned long long)w.end_lsn,
		    w.end_found ? " (closed)" : " (current log, valid end)");
	return log_verdict(path, show_header, NULL);
}

static int
cmd_log(int argc, char **argv)
{
	int bad = 0;

	if (argc - optind < 1)
		usage_error("log: at least one log file expected");
	for (int i = optind; i < argc; i++) {
		if (i > optind)
			putchar('\n');
		bad |= check_log_file(argv[i], 1);
	}
	return bad;
}

/* ---- checkpoint ---- */

static int
cmd_checkpoint(int argc, char **argv)
{
	struct checkpoint_state ck;
	char a[160], b[40];
	JET_ERR err;

	if (argc - optind != 1)
		usage_error("checkpoint: exactly one checkpoint file expected");
	if ((err = checkpoint_read(argv[optind], &ck)) < 0) {
		if (err == JET_errCheckpointFileNotFound)
			errmsg("cannot open %s: %s", argv[optind], open_problem(JET_errFileNotFound));
		else if (err == JET_errCheckpointCorrupt)
			errmsg("%s is not a checkpoint file, or it is damaged (%s)", argv[optind], JetErrorName(err));
		else
			errmsg("%s: %s", argv[optind], jet_problem(err, a, sizeof(a)));
		return 1;
	}
	printf("Checkpoint: %s\n\n", argv[optind]);
	field("File Type", "Checkpoint");
	field("Checkpoint", "gen %u (0x%x), LSN %llu", ck.gen, ck.gen, (unsigned long long)ck.lsn);
	field("Log Signature", "%s", fmt_sig(&ck.sign_log, a, sizeof(a)));
	field("Time written", "%s", fmt_time(ck.time_written, b, sizeof(b)));
	field("Last full backup", "LSN %llu  %s", (unsigned long long)ck.full_backup_lsn,
	    fmt_time(ck.full_backup_time, b, sizeof(b)));
	field("Last incr. backup", "LSN %llu  %s", (unsigned long long)ck.inc_backup_lsn,
	    fmt_time(ck.inc_backup_time, b, sizeof(b)));
	field("Attached databases", "%zu", ck.nattach);
	for (size_t i = 0; i < ck.nattach; i++) {
		char label[32];
		snprintf(label, sizeof(label), "dbid %u", ck.attach[i].dbid);
		printable(ck.attach[i].path, a, sizeof(a));
		field(label, "%s", a);
		field("DB Signature", "%s", fmt_sig(&ck.attach[i].sign_db, a, sizeof(a)));
	}
	checkpoint_state_free(&ck);
	return 0;
}

/* ---- database verification ---- */

struct pgstats {
	uint64_t checked, bad, uninit, wrong;
	uint32_t listed;
};

/* Checksums pages first..last of a database file (pgno p at file page p + 1). */
static JET_ERR
verify_pages(os_file *f, const char *path, uint32_t ps, uint32_t first, uint32_t last, struct pgstats *st)
{
	enum { CHUNK = 64 };
	uint8_t *buf = xmalloc((size_t)ps * CHUNK);
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
		dc->trailer_ok = read_trailer(f, &dc->hc, &dc->t, why, sizeof(why)) == 0;
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
		printf("%s: read error: %s\n", path, jet_problem(err, why, sizeof(why)));
		dc->ok = 0;
	}
	if (dc->st.bad > 0 || dc->st.wrong > 0)
		dc->ok = 0;
	printf("%s: %s, %u-byte pages: %llu pages checked, %llu bad checksums, %llu uninitialized, "
	    "%llu wrong page numbers%s\n", path, dc->is_image ? "backup image" : "database", ps,
	    (unsigned long long)dc->st.checked, (unsigned long long)dc->st.bad, (unsigned long long)dc->st.uninit,
	    (unsigned long long)dc->st.wrong, dc->is_image ? (dc->trailer_ok ? ", trailer OK" : ", trailer BAD") : "");
}

enum ftype { FT_NONE, FT_DB, FT_LOG, FT_CHK, FT_DB_DAMAGED, FT_ZERO };

static enum ftype
sniff(os_file *f)
{
	uint8_t b[PAGE_SIZE_MIN];
	size_t got = 0;

	if (os_pread_partial(f, b, sizeof(b), 0, &got) < 0 || got < 16)
		return FT_NONE;
	switch (get32(b + 4)) {
	case DB_MAGIC: return FT_DB;
	case LOG_MAGIC_JU: return FT_LOG;
	case CHK_MAGIC_JU: return FT_CHK;
	}
	if (got > 667 && b[667] == JET_filetypeDatabase)
		return FT_DB_DAMAGED;
	if (got == sizeof(b) && page_is_zero(b, sizeof(b)))
		return FT_ZERO;
	return FT_NONE;
}

static int
verify_one(const char *path)
{
	os_file *f;
	enum ftype ft;
	JET_ERR err;
	char msg[200];

	if ((err = os_open(path, OS_READ, &f)) < 0) {
		printf("%s: cannot open: %s\n", path, open_problem(err));
		return 1;
	}
	ft = sniff(f);
	if (ft == FT_LOG) {
		os_close(f);
		return check_log_file(path, 0);
	}
	if (ft == FT_CHK) {
		struct checkpoint_state ck;
		os_close(f);
		if ((err = checkpoint_read(path, &ck)) < 0) {
			printf("%s: checkpoint file: %s\n", path, err == JET_errCheckpointCorrupt ?
			    "damaged (bad checksum or fields)" : jet_problem(err, msg, sizeof(msg)));
			return 1;
		}
		checkpoint_state_free(&ck);
		printf("%s: checkpoint file: checksum OK\n", path);
		return 0;
	}
	{
		struct db_check dc;
		memset(&dc, 0, sizeof(dc));
		if ((err = read_hdr_copies(f, &dc.hc)) < 0) {
			os_close(f);
			printf("%s: read error: %s\n", path, jet_problem(err, msg, sizeof(msg)));
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

static int
cmd_verify(int argc, char **argv)
{
	int bad = 0;

	if (argc - optind < 1)
		usage_error("verify: at least one file expected");
	for (int i = optind; i < argc; i++)
		bad |= verify_one(argv[i]);
	return bad;
}

/* ---- verify-backup ---- */

/*
 * The state of verify-backup, and of restore's check of SHA256SUMS: problems
 * found, and where messages go (NULL: stdout; restore: stderr).
 */
struct vb {
	FILE *out;
	int problems;
	int quiet;			/* only problems and warnings */
};

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of a directory, sorted; NULL if it cannot be read. */
static char **
list_dir(const char *dir, size_t *np)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*np = 0;
	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*names));
			if (nn == NULL) {
				errmsg("out of memory");
				exit(1);
			}
			names = nn;
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	*np = n;
	return names == NULL ? xmalloc(1) : names;
}

static void
free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void
vb_vsay(struct vb *v, const char *prefix, const char *fmt, va_list ap)
{
	FILE *out = v->out != NULL ? v->out : stdout;

	fputs(prefix, out);
	vfprintf(out, fmt, ap);
	fputc('\n', out);
}

static void __attribute__((format(printf, 2, 3)))
vb_problem(struct vb *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vb_vsay(v, "problem: ", fmt, ap);
	va_end(ap);
	v->problems++;
}

static void __attribute__((format(printf, 2, 3)))
vb_info(struct vb *v, const char *fmt, ...)
{
	va_list ap;

	if (v->quiet)
		return;
	va_start(ap, fmt);
	vb_vsay(v, "", fmt, ap);
	va_end(ap);
}

/* Always shown: restore goes on, but the user must know what was not checked. */
static void __attribute__((format(printf, 2, 3)))
vb_warning(struct vb *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vb_vsay(v, "warning: ", fmt, ap);
	va_end(ap);
}

/* What the engine's checker of backup sets (restore_chain_*) finds. */
static void
vb_report(void *arg, int problem, const char *msg)
{
	if (problem)
		vb_problem(arg, "%s", msg);
	else
		vb_info(arg, "%s", msg);
}

/* The longest SHA256SUMS read: 16 MiB is some 200000 files. */
#define MANIFEST_MAX (16u << 20)

/* 1 if name is a file a manifest of dir covers: regular, not hidden, not the manifest. */
static int
manifest_covers(const char *dir, const char *name)
{
	char *p;
	int regular;

	if (name[0] == '.' || strcmp(name, MANIFEST_NAME) == 0)
		return 0;
	p = xjoin(dir, name);
	regular = os_exists(p) && !os_is_dir(p);
	free(p);
	return regular;
}

/*
 * Checks dir/SHA256SUMS, if there is one: every line well formed, every
 * file it names present with that SHA-256, every file of dir named once.
 */
static void
vb_check_manifest(struct vb *v, const char *dir)
{
	char *path = xjoin(dir, MANIFEST_NAME), *text = NULL, **names = NULL;
	size_t n = 0, len = 0, lines = 0, *seen = NULL;
	int problems = v->problems;
	struct stat st;
	FILE *f;

	memset(&st, 0, sizeof(st));
	if ((f = fopen(path, "r")) == NULL) {
		if (errno != ENOENT)
			vb_problem(v, "%s cannot be read: %s", path, strerror(errno));
		else
			vb_warning(v, "%s has no %s: its files are checked by their own checksums only, and a file "
			    "missing from it is found only where the chain needs it (not the last generations of an "
			    "incremental set)", dir, MANIFEST_NAME);
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || st.st_size > MANIFEST_MAX) {
		vb_problem(v, "%s: %s", path, st.st_size > MANIFEST_MAX ? "larger than 16 MiB: not a manifest" :
		    strerror(errno));
		goto out;
	}
	/* One byte more than its size: a file that grows while read is seen to. */
	text = xmalloc((size_t)st.st_size + 1);
	len = fread(text, 1, (size_t)st.st_size + 1, f);
	if (ferror(f) || len != (size_t)st.st_size) {
		vb_problem(v, "%s: %s", path, ferror(f) ? strerror(errno) : "it changed while it was read");
		goto out;
	}
	if (len > 0 && text[len - 1] != '\n') {
		vb_problem(v, "%s: the last line has no newline (a truncated copy?)", path);
		goto out;
	}
	names = list_dir(dir, &n);
	seen = calloc(n ? n : 1, sizeof(*seen));
	if (names == NULL || seen == NULL) {
		vb_problem(v, "%s cannot be listed", dir);
		goto out;
	}
	for (char *line = text, *nl; line < text + len; line = nl + 1) {
		uint8_t want[MANIFEST_DIGEST_SIZE], got[MANIFEST_DIGEST_SIZE];
		const char *name;
		size_t namelen, k;
		char *file;

		nl = memchr(line, '\n', (size_t)(text + len - line));
		lines++;
		if (manifest_parse_line(line, (size_t)(nl - line), want, &name, &namelen) < 0) {
			vb_problem(v, "%s, line %zu: not a \"SHA256  NAME\" line", path, lines);
			continue;
		}
		*nl = '\0';
		for (k = 0; k < n && strcmp(names[k], name) != 0; k++)
			;
		if (k == n || !manifest_covers(dir, name)) {
			vb_problem(v, "%s, line %zu: %s is missing from the copy", path, lines, name);
			continue;
		}
		if (seen[k]++ != 0) {
			vb_problem(v, "%s, line %zu: %s is listed twice", path, lines, name);
			continue;
		}
		file = xjoin(dir, name);
		if (manifest_hash_file(file, got) < 0)
			vb_problem(v, "%s cannot be read: %s", file, strerror(errno));
		else if (memcmp(want, got, sizeof(got)) != 0)
			vb_problem(v, "%s: its SHA-256 is not the one in %s: the copy differs from what was backed up",
			    file, MANIFEST_NAME);
		free(file);
	}
	for (size_t k = 0; k < n; k++) {
		uint32_t gen;
		if (seen[k] == 0 && manifest_covers(dir, names[k]))
			vb_problem(v, "%s/%s is not listed in %s%s", dir, names[k], MANIFEST_NAME,
			    log_parse_name(BASE_NAME, names[k], &gen) ? " (a log left by an earlier backup into this directory? "
			    "copy each backup into a new, empty directory)" : "");
	}
	if (v->problems == problems)
		vb_info(v, "%s: %zu files, every SHA-256 matches", path, lines);
out:
	if (f != NULL)
		fclose(f);
	if (names != NULL)
		free_list(names, n);
	free(seen);
	free(text);
	free(path);
}

/*
 * Writes dir/SHA256SUMS for every file of dir (after a backup into it), by
 * a temporary file renamed into place.  @return 0, or -1 after a message.
 */
static int
write_manifest(const char *dir)
{
	char *path = xjoin(dir, MANIFEST_NAME), *tmp = xjoin(dir, "." MANIFEST_NAME ".tmp"), **names;
	char line[MANIFEST_HEX_SIZE + 3 + NAME_MAX + 1];
	uint8_t digest[MANIFEST_DIGEST_SIZE];
	const char *failed = NULL;
	uint64_t off = 0;
	os_file *f = NULL;
	size_t n = 0;

	if ((names = list_dir(dir, &n)) == NULL)
		failed = "cannot list the directory";
	else if (os_open(tmp, OS_WRITE | OS_CREATE, &f) < 0 || os_truncate(f, 0) < 0)
		failed = "cannot create it";
	for (size_t i = 0; failed == NULL && i < n; i++) {
		char *file;
		if (!manifest_covers(dir, names[i]))
			continue;
		if (!manifest_name_ok(names[i]) || strlen(names[i]) > NAME_MAX) {
			failed = "a file name cannot stand in it";
			break;
		}
		file = xjoin(dir, names[i]);
		if (manifest_hash_file(file, digest) < 0)
			failed = "a file of the set cannot be read";
		free(file);
		if (failed != NULL)
			break;
		manifest_format_line(line, digest, names[i]);
		if (os_pwrite(f, line, manifest_line_size(names[i]), off) < 0)
			failed = "cannot write it";
		off += manifest_line_size(names[i]);
	}
	if (failed == NULL && (os_fsync(f) < 0 || os_rename(tmp, path) < 0 || os_fsync_dir(dir) < 0))
		failed = "cannot put it in place";
	if (f != NULL)
		os_close(f);
	if (failed != NULL) {
		errmsg("backup: %s: %s", path, failed);
		os_unlink(tmp);
	}
	if (names != NULL)
		free_list(names, n);
	free(tmp);
	free(path);
	return failed != NULL ? -1 : 0;
}

/*
 * Checks the sets dirs[0..n-1] with the engine's own checker of backup sets
 * (restore_chain_*) in its reporting mode, every problem to v: what restore
 * refuses is a problem here, and what it accepts is not.  The caller frees c.
 */
static void
vb_check_chain(struct vb *v, struct restore_chain *c, char *const *dirs, int n, uint32_t stop_gen)
{
	char a[200];
	JET_ERR err;

	memset(c, 0, sizeof(*c));
	snprintf(c->base, sizeof(c->base), "%s", BASE_NAME);
	c->report = vb_report;
	c->report_arg = v;
	for (int i = 0; i < n; i++)
		if ((err = restore_chain_scan(c, dirs[i], i == 0)) < 0)
			vb_problem(v, "%s: %s", dirs[i], jet_problem(err, a, sizeof(a)));
	if ((err = restore_chain_check(c, stop_gen)) < 0 && c->problems == 0)
		vb_problem(v, "%s", jet_problem(err, a, sizeof(a)));
}

/* SHA256SUMS of every set, then the sets as restore checks them. */
static int
cmd_verify_backup(int argc, char **argv)
{
	struct vb v;
	struct restore_chain c;

	if (argc - optind < 1)
		usage_error("verify-backup: a backup directory expected");
	memset(&v, 0, sizeof(v));
	for (int i = optind; i < argc; i++) {
		if (!os_is_dir(argv[i])) {
			errmsg("%s is not a directory", argv[i]);
			return 1;
		}
		vb_check_manifest(&v, argv[i]);
	}
	vb_check_chain(&v, &c, argv + optind, argc - optind, 0);
	for (size_t i = 0; i < c.nimgs; i++) {
		const struct restore_image *d = &c.imgs[i];
		if (d->trailer_ok)
			printf("%s: backup image, %u-byte pages: %llu pages checked, %llu bad, %llu uninitialized; "
			    "needs log generations %u to %u\n", d->src, d->hdr.page_size, (unsigned long long)d->pages,
			    (unsigned long long)d->bad, (unsigned long long)d->uninit, d->hdr.bk[BK_FULL_CUR].gen_low,
			    d->trailer.bk.gen_high);
		else
			printf("%s: needs log generations from %u (the end is unknown: the trailer is unusable)\n", d->src,
			    d->hdr.bk[BK_FULL_CUR].gen_low);
	}
	if (c.nlogs > 0)
		printf("log generations %u to %u: %s\n", c.logs[0].gen, c.logs[c.nlogs - 1].gen, v.problems == 0 ?
		    "consecutive, one log set, each naming its predecessor" : "see the problems above");
	if (v.problems > 0)
		printf("verdict: NOT restorable: %d problem(s)\n", v.problems);
	else if (c.nimgs > 0)
		printf("verdict: restorable: full set, %zu database image(s), log generations %u to %u (needed %u to %u)\n",
		    c.nimgs, c.low, c.high, c.need_low, c.need_high);
	else {
		printf("verdict: restorable as an incremental set (after a full set ending at generation %u): "
		    "log generations %u to %u\n", c.low > 0 ? c.low - 1 : 0, c.low, c.high);
		/* No image, no header: nothing here says which generations the set must hold. */
		printf("note: alone, an incremental set is not checked against the full set it follows (give that "
		    "first: verify-backup FULL INC...), and only its SHA256SUMS can tell that its last generations "
		    "are all there\n");
	}
	restore_chain_free(&c);
	return v.problems > 0;
}

/* ---- restore and backup ---- */

static const char *status_what = "restore";

static JET_ERR JET_API
status_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv)
{
	const JET_SNPROG *prog = pv;

	(void)sesid;
	(void)snp;
	if (quiet)
		return JET_errSuccess;
	switch (snt) {
	case JET_sntBegin:
		fprintf(stderr, "%s: started\n", status_what);
		break;
	case JET_sntProgress:
		if (prog != NULL && prog->cunitTotal > 0)
			fprintf(stderr, "%s: %lu%%\n", status_what, prog->cunitDone * 100 / prog->cunitTotal);
		break;
	case JET_sntComplete:
		fprintf(stderr, "%s: complete (100%%)\n", status_what);
		break;
	case JET_sntFail:
		fprintf(stderr, "%s: failed\n", status_what);
		break;
	default:
		break;
	}
	return JET_errSuccess;
}

/* Where the engine's events go: JETFS_EVENTS, stderr by default (main checks the value). */
static int
events_target(void)
{
	return evtarget_from_env(JET_JetfsEventStderr);
}

/* After a failure whose details are in the events: where to find them, if not here. */
static void
events_hint(const char *more)
{
	if (events_target() == JET_JetfsEventSyslog)
		errmsg("(details are in the system log under \"libjet\"; JETFS_EVENTS=stderr shows them here%s)", more);
	else if (events_target() == JET_JetfsEventNone)
		errmsg("(JETFS_EVENTS=none hides the details; JETFS_EVENTS=stderr shows them here%s)", more);
}

/* Decimal, or hex with 0x: log generations are hex in the log names (edb0000E.log). */
static unsigned long
parse_ulong(const char *s, const char *opt, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');

	errno = 0;
	v = strtoul(s, &end, hex ? 16 : 10);
	if (errno != 0 || end == s + (hex ? 2 : 0) || *end != '\0' || *s == '-' || *s == '+' || v < min || v > max)
		usage_error("%s: '%s' is not a number from %lu to %lu (decimal, or hex as 0x%lX to 0x%lX)", opt, s, min,
		    max, min, max);
	return v;
}

static int
cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' }, { "roll-forward", required_argument, NULL, 'r' },
		{ "stop-gen", required_argument, NULL, 's' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *target = NULL, *roll = NULL;
	char abs_target[PATH_MAX];
	unsigned long stop = 0;
	char msg[200];
	size_t n;
	char **names;
	int c, ndb = 0, created;
	struct vb v;
	JET_ERR err;

	while ((c = getopt_long(argc, argv, "t:qh", opts, NULL)) != -1) {
		switch (c) {
		case 't': target = optarg; break;
		case 'r': roll = optarg; break;
		case 's': stop = parse_ulong(optarg, "--stop-gen", 1, 0x7FFFFFFFUL); break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (target == NULL || *target == '\0')
		usage_error("restore: a target directory (-t DIR) is required");
	if (argc - optind < 1)
		usage_error("restore: at least one backup directory expected");
	for (int i = optind; i < argc; i++)
		if (!os_is_dir(argv[i])) {
			errmsg("restore: backup set %s is not a directory", argv[i]);
			return 1;
		}
	if (roll != NULL && !os_is_dir(roll)) {
		errmsg("restore: roll-forward log directory %s is not a directory", roll);
		return 1;
	}
	if (os_exists(target)) {
		if (!os_is_dir(target)) {
			errmsg("restore: target %s exists and is not a directory", target);
			return 1;
		}
		if ((names = list_dir(target, &n)) == NULL) {
			errmsg("restore: target %s cannot be read: %s", target, strerror(errno));
			return 1;
		}
		free_list(names, n);
		if (n > 0) {
			errmsg("restore: target directory %s is not empty (restore builds a new instance there; "
			    "nothing was changed)", target);
			return 1;
		}
	}
	/*
	 * Each set against its SHA256SUMS before anything is written: only a
	 * manifest knows a set's last generation.  Here and not in the engine,
	 * which does not hash (jet.h).
	 */
	memset(&v, 0, sizeof(v));
	v.out = stderr;
	v.quiet = quiet;
	for (int i = optind; i < argc && v.problems == 0; i++)
		vb_check_manifest(&v, argv[i]);
	if (v.problems > 0) {
		errmsg("restore: a backup set is not what its %s says: nothing was restored "
		    "(jetutil verify-backup lists every problem)", MANIFEST_NAME);
		return 1;
	}
	/*
	 * The databases' paths in the restored checkpoint come from the target:
	 * give the engine an absolute one, so that they are absolute too (the
	 * engine opens databases by their real path).
	 */
	created = !os_exists(target);
	if ((err = os_mkdir_p(target)) < 0) {
		errmsg("restore: cannot create the target directory %s: %s", target, open_problem(err));
		return 1;
	}
	if (realpath(target, abs_target) == NULL) {
		errmsg("restore: %s: %s", target, strerror(errno));
		return 1;
	}
	target = abs_target;
	status_what = "restore";
	err = JetfsRestoreSets((const char *const *)(argv + optind), (unsigned long)(argc - optind), target, roll, stop,
	    status_cb);
	if (err < 0) {
		if (created)
			os_rmdir(target);	/* only if still empty */
		errmsg("restore failed: %s", jet_problem(err, msg, sizeof(msg)));
		/*
		 * The engine's events name the file and the page or generation, but
		 * go to the system log unless JETFS_EVENTS=stderr: the sets are
		 * checked again (the failure's cost only) to say it here.
		 */
		if (events_target() != JET_JetfsEventStderr) {
			struct restore_chain chain;
			memset(&v, 0, sizeof(v));
			v.out = stderr;
			v.quiet = 1;
			vb_check_chain(&v, &chain, argv + optind, argc - optind, (uint32_t)stop);
			restore_chain_free(&chain);
			if (v.problems == 0)
				events_hint("");
		}
		return 1;
	}
	/* What was restored: the databases now in the target. */
	if ((names = list_dir(target, &n)) == NULL) {
		errmsg("restore: target %s cannot be read: %s", target, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char *p = xjoin(target, names[i]);
		os_file *f;
		struct hdr_copies hc;
		if (os_open(p, OS_READ, &f) >= 0) {
			if (sniff(f) == FT_DB && read_hdr_copies(f, &hc) >= 0 && hc.have) {
				printf("restored %s: %s, log generations %u to %u replayed\n", p, state_name(hc.h.dbstate),
				    hc.h.bk[BK_FULL_CUR].gen_low, hc.h.bk[BK_FULL_CUR].gen_high);
				ndb++;
			}
			os_close(f);
		}
		free(p);
	}
	free_list(names, n);
	printf("restore into %s complete: %d database(s)%s\n", target, ndb, roll != NULL ? ", rolled forward" : "");
	return 0;
}

/* Log file size, page size and circular flag of an instance, from its current log. */
static void
instance_log_params(const char *dir, unsigned long *kbp, unsigned long *psp, unsigned long *circp)
{
	char *p = xjoin(dir, BASE_NAME ".log");
	struct log_file_header h;
	os_file *f;

	if (os_open(p, OS_READ, &f) >= 0) {
		if (log_header_read(f, &h) >= 0) {
			*kbp = h.file_size / 1024;
			*psp = h.page_size;
			*circp = (h.flags & LOGF_CIRCULAR) != 0;
		}
		os_close(f);
	}
	free(p);
}

/* jetutil backup --socket PATH BACKUPDIR: a live instance in another process. */
static int
backup_remote(const char *sock, int argc, char **argv, int incremental, int pit)
{
	JET_INSTANCE inst = 0;
	const char *bdir;
	char msg[200];
	int created;
	JET_ERR err;

	if (argc - optind != 1)
		usage_error("backup --socket: one backup directory expected");
	bdir = argv[optind];
	created = !os_exists(bdir);
	if (created && os_mkdir_p(bdir) < 0) {
		errmsg("backup: cannot create %s", bdir);
		return 1;
	}
	status_what = incremental ? "incremental backup" : "full backup";
	if ((err = JetfsConnectBackup(sock, &inst)) < 0) {
		errmsg("backup: cannot reach the instance at %s: %s", sock, jet_problem(err, msg, sizeof(msg)));
		goto fail;
	}
	err = JetBackupInstance(inst, bdir, (incremental ? JET_bitBackupIncremental : 0) |
	    (pit ? JET_bitBackupJetfsPointInTime : 0), status_cb);
	JetfsDisconnectBackup(inst);
	if (err < 0) {
		errmsg("backup: JetBackupInstance over %s failed: %s", sock, jet_problem(err, msg, sizeof(msg)));
		events_hint("");
		goto fail;
	}
	if (write_manifest(bdir) < 0)
		return 1;
	printf("%s%s backup over %s to %s complete\n", incremental ? "incremental" : "full",
	    pit ? " point-in-time" : "", sock, bdir);
	return 0;
fail:
	if (created && os_is_dir(bdir))
		os_rmdir(bdir);
	return 1;
}

static int
cmd_backup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "incremental", no_argument, NULL, 'i' }, { "quiet", no_argument, NULL, 'q' },
		{ "socket", required_argument, NULL, 's' }, { "point-in-time", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	JET_INSTANCE inst = 0;
	unsigned long kb = 5120, ps = 8192, circ = 0;
	const char *sock = NULL;
	int incremental = 0, pit = 0, c, created;
	const char *idir, *bdir, *step;
	char msg[200], *chk;
	JET_ERR err;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'i': incremental = 1; break;
		case 'q': quiet = 1; break;
		case 's': sock = optarg; break;
		case 'p': pit = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (sock != NULL)
		return backup_remote(sock, argc, argv, incremental, pit);
	if (argc - optind != 2)
		usage_error("backup: an instance directory and a backup directory expected");
	idir = argv[optind];
	bdir = argv[optind + 1];
	chk = xjoin(idir, BASE_NAME ".chk");
	if (!os_is_dir(idir) || !os_exists(chk)) {
		errmsg("backup: %s is not a libjet instance directory (no %s.chk)", idir, BASE_NAME);
		free(chk);
		return 1;
	}
	free(chk);
	instance_log_params(idir, &kb, &ps, &circ);
	created = !os_exists(bdir);
	status_what = incremental ? "incremental backup" : "full backup";
	step = "JetCreateInstance";
	if ((err = JetCreateInstance(&inst, NULL)) < 0)
		goto fail;
	step = "setting the instance parameters";
	if ((err = JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, idir)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, idir)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramBaseName, 0, BASE_NAME)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramLogFileSize, kb, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramDatabasePageSize, ps, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramCircularLog, circ, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL)) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramEventSource, 0, "jetutil")) < 0 ||
	    (err = JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget, (JET_API_PTR)events_target(), NULL)) < 0)
		goto fail;
	step = "JetInit (open and recover the instance)";
	if ((err = JetInit(&inst)) < 0)
		goto fail;
	step = "JetBackupInstance";
	if ((err = JetBackupInstance(inst, bdir, (incremental ? JET_bitBackupIncremental : 0) |
	    (pit ? JET_bitBackupJetfsPointInTime : 0), status_cb)) < 0)
		goto fail;
	step = "JetTerm";
	err = JetTerm(inst);
	inst = 0;
	if (err < 0)
		goto fail;
	if (write_manifest(bdir) < 0)
		return 1;
	{
		size_t n;
		char **names = list_dir(bdir, &n);
		printf("%s backup of %s to %s complete:", incremental ? "incremental" : "full", idir, bdir);
		for (size_t i = 0; names != NULL && i < n; i++)
			printf(" %s", names[i]);
		putchar('\n');
		if (names != NULL)
			free_list(names, n);
	}
	return 0;
fail:
	errmsg("backup: %s failed: %s", step, jet_problem(err, msg, sizeof(msg)));
	events_hint("");
	if (inst != 0)
		JetTerm2(inst, JET_bitTermStopBackup);
	if (created && os_is_dir(bdir))
		os_rmdir(bdir);		/* only if still empty */
	return 1;
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
		int own_options;
	} cmds[] = {
		{ "header", cmd_header, 1 }, { "log", cmd_log, 0 }, { "checkpoint", cmd_checkpoint, 0 },
		{ "verify", cmd_verify, 0 }, { "verify-backup", cmd_verify_backup, 0 }, { "restore", cmd_restore, 1 },
		{ "backup", cmd_backup, 1 },
	};
	static char progname[64];

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("jetutil %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc < 2)
		usage_error("a command is expected");
	/*
	 * A command-line tool says why it failed where it runs: the engine's
	 * events default to stderr (libjet's own default, for work done without
	 * an instance such as a restore, is the system log).
	 */
	if (events_target() < 0)
		usage_error("JETFS_EVENTS=%s: stderr, syslog or none", getenv("JETFS_EVENTS"));
	if (getenv("JETFS_EVENTS") == NULL || *getenv("JETFS_EVENTS") == '\0')
		setenv("JETFS_EVENTS", "stderr", 1);
	/* As jetload: JET_FAULT makes an I/O fail (tests/faults.test, restore under EIO / ENOSPC). */
	if (os_fault_arm_from_env() < 0)
		usage_error("JET_FAULT: bad fault specification");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		argc--;
		argv++;
		snprintf(progname, sizeof(progname), "jetutil %s", cmds[i].name);
		argv[0] = progname;	/* getopt's messages */
		optind = 1;
		if (!cmds[i].own_options) {
			/* File operands only; "--" ends options, --help is honoured. */
			for (int k = 1; k < argc; k++) {
				if (strcmp(argv[k], "--") == 0)
					break;
				if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
					usage(stdout);
					return 0;
				}
				if (argv[k][0] == '-' && argv[k][1] != '\0')
					usage_error("%s: unknown option '%s'", cmds[i].name, argv[k]);
			}
			if (argc > 1 && strcmp(argv[1], "--") == 0)
				optind = 2;
		}
		return cmds[i].fn(argc, argv);
	}
	usage_error("unknown command '%s'", argv[1]);
}
