/*
 * cmd-header.c -- jetutil header DB [--json]: the database header (eseutil
 * /mh), both copies judged, and a backup image's trailer.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "jetutil.h"

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
	util_field("Log Gen", "%u-%u (0x%x-0x%x)", b->gen_low, b->gen_high, b->gen_low, b->gen_high);
	util_field("Mark", "(LSN %llu)", (unsigned long long)b->lsn_mark);
	util_field("Mark", "%s", util_fmt_time(b->time_mark, t, sizeof(t)));
}

static void
print_bkinfo_json(struct json *j, const char *key, const struct bkinfo *b)
{
	json_open(j, key, '{');
	json_u64(j, "gen_low", b->gen_low);
	json_u64(j, "gen_high", b->gen_high);
	json_u64(j, "mark_lsn", b->lsn_mark);
	json_time(j, "mark_time", b->time_mark);
	json_close(j, '}');
}

static void
header_text(const char *path, const struct hdr_copies *hc, int have_trailer, int trailer_ok,
    const struct bk_trailer *t, const char *trailer_why)
{
	const struct db_header *h = &hc->h;
	char a[160], b[40];

	printf("Database: %s\n\n", path);
	util_field("File Type", "Database%s", (h->flags & DBHDR_FLAG_BACKUP_COPY) ? " (backup image)" : "");
	util_field("Header copy 0", "%s", inspect_copy_status(hc, 0));
	util_field("Header copy 1", "%s%s", inspect_copy_status(hc, 1),
	    hc->ok[0] && hc->ok[1] ? (hc->identical ? " (identical)" : " (the copies differ)") : "");
	util_field("Format ulMagic", "0x%08x", DB_MAGIC);
	util_field("Format ulVersion", "%u", h->version);
	util_field("cbDbPage", "%u", h->page_size);
	util_field("File size", "%llu bytes (%llu pages after the header copies)", (unsigned long long)hc->size,
	    (unsigned long long)(hc->size / h->page_size >= 2 ? hc->size / h->page_size - 2 : 0));
	util_field("Dbid", "%u", h->dbid);
	util_field("State", "%s", util_state_name(h->dbstate));
	util_field("DB Signature", "%s", util_fmt_sig(&h->sign_db, a, sizeof(a)));
	util_field("Log Signature", "%s", util_fmt_sig(&h->sign_log, a, sizeof(a)));
	util_field("dbtime", "%llu (0x%llx)", (unsigned long long)h->dbtime, (unsigned long long)h->dbtime);
	util_field("Log Required", "%u-%u (0x%x-0x%x)", h->gen_min_required, h->gen_max_required, h->gen_min_required,
	    h->gen_max_required);
	util_field("Log Committed", "0-%u (0x0-0x%x)", h->gen_max_committed, h->gen_max_committed);
	util_field("Log Consistent", "%u (0x%x)", h->gen_consistent, h->gen_consistent);
	util_field("Last Consistent", "(gen %u, LSN %llu)  %s", h->gen_consistent, (unsigned long long)h->lsn_consistent,
	    util_fmt_time(h->time_consistent, b, sizeof(b)));
	util_field("Last Attach", "(gen %u, LSN %llu)  %s", h->gen_attach, (unsigned long long)h->lsn_attach,
	    util_fmt_time(h->time_attach, b, sizeof(b)));
	util_field("Last Detach", "(LSN %llu)  %s", (unsigned long long)h->lsn_detach, util_fmt_time(h->time_detach, b, sizeof(b)));
	util_field("pgno_last", "%u", h->pgno_last);
	util_field("Flags", "0x%x%s", h->flags, (h->flags & DBHDR_FLAG_BACKUP_COPY) ? " (backup copy: needs hard recovery)" : "");
	for (int i = 0; i < BK_NSLOTS; i++)
		print_bkinfo_text(bk_labels[i], &h->bk[i]);
	if (have_trailer) {
		printf("\nPatch Current Full Backup:\n");
		if (!trailer_ok) {
			util_field("Trailer", "%s", trailer_why);
			return;
		}
		util_field("Trailer", "OK");
		util_field("Log Gen", "%u-%u (0x%x-0x%x)", t->bk.gen_low, t->bk.gen_high, t->bk.gen_low, t->bk.gen_high);
		util_field("Mark", "(LSN %llu)", (unsigned long long)t->bk.lsn_mark);
		util_field("Mark", "%s", util_fmt_time(t->bk.time_mark, b, sizeof(b)));
		util_field("Logs needed", "%u-%u", h->bk[BK_FULL_CUR].gen_low, t->bk.gen_high);
		util_field("DB Signature", "%s", util_fmt_sig(&t->sign_db, a, sizeof(a)));
		util_field("Log Signature", "%s", util_fmt_sig(&t->sign_log, a, sizeof(a)));
		util_field("Log Required", "%u-%u", t->gen_min_required, t->gen_max_required);
		util_field("Log Committed", "0-%u", t->gen_max_committed);
		util_field("pgno_last", "%u", t->pgno_last);
		util_printable(t->path, a, sizeof(a));
		util_field("Original path", "%s", a);
	}
}

static void
header_json(const char *path, const struct hdr_copies *hc, int have_trailer, int trailer_ok,
    const struct bk_trailer *t, const char *trailer_why)
{
	const struct db_header *h = &hc->h;
	struct json j;
	char magic[16];

	memset(&j, 0, sizeof(j));
	json_open(&j, NULL, '{');
	json_str(&j, "file", path);
	json_str(&j, "file_type", "database");
	json_bool(&j, "backup_image", (h->flags & DBHDR_FLAG_BACKUP_COPY) != 0);
	json_u64(&j, "file_size", hc->size);
	json_open(&j, "header_copies", '{');
	json_str(&j, "copy0", hc->ok[0] ? "ok" : hc->why[0]);
	json_str(&j, "copy1", hc->ok[1] ? "ok" : hc->why[1]);
	json_bool(&j, "identical", hc->identical);
	json_close(&j, '}');
	snprintf(magic, sizeof(magic), "0x%08x", DB_MAGIC);
	json_str(&j, "magic", magic);
	json_u64(&j, "version", h->version);
	json_u64(&j, "page_size", h->page_size);
	json_u64(&j, "dbid", h->dbid);
	json_str(&j, "state", util_state_name(h->dbstate));
	json_u64(&j, "state_code", h->dbstate);
	json_sig(&j, "db_signature", &h->sign_db);
	json_sig(&j, "log_signature", &h->sign_log);
	json_u64(&j, "dbtime", h->dbtime);
	json_open(&j, "log_required", '{');
	json_u64(&j, "low", h->gen_min_required);
	json_u64(&j, "high", h->gen_max_required);
	json_close(&j, '}');
	json_u64(&j, "log_committed", h->gen_max_committed);
	json_u64(&j, "log_consistent", h->gen_consistent);
	json_open(&j, "last_consistent", '{');
	json_u64(&j, "gen", h->gen_consistent);
	json_u64(&j, "lsn", h->lsn_consistent);
	json_time(&j, "time", h->time_consistent);
	json_close(&j, '}');
	json_open(&j, "last_attach", '{');
	json_u64(&j, "gen", h->gen_attach);
	json_u64(&j, "lsn", h->lsn_attach);
	json_time(&j, "time", h->time_attach);
	json_close(&j, '}');
	json_open(&j, "last_detach", '{');
	json_u64(&j, "lsn", h->lsn_detach);
	json_time(&j, "time", h->time_detach);
	json_close(&j, '}');
	json_u64(&j, "pgno_last", h->pgno_last);
	json_u64(&j, "flags", h->flags);
	json_open(&j, "backups", '{');
	for (int i = 0; i < BK_NSLOTS; i++)
		print_bkinfo_json(&j, bk_keys[i], &h->bk[i]);
	json_close(&j, '}');
	if (!have_trailer)
		json_str(&j, "trailer", NULL);
	else {
		json_open(&j, "trailer", '{');
		json_str(&j, "status", trailer_ok ? "ok" : trailer_why);
		if (trailer_ok) {
			print_bkinfo_json(&j, "patch_current_full_backup", &t->bk);
			json_open(&j, "logs_needed", '{');
			json_u64(&j, "low", h->bk[BK_FULL_CUR].gen_low);
			json_u64(&j, "high", t->bk.gen_high);
			json_close(&j, '}');
			json_sig(&j, "db_signature", &t->sign_db);
			json_sig(&j, "log_signature", &t->sign_log);
			json_u64(&j, "gen_min_required", t->gen_min_required);
			json_u64(&j, "gen_max_required", t->gen_max_required);
			json_u64(&j, "gen_max_committed", t->gen_max_committed);
			json_u64(&j, "pgno_last", t->pgno_last);
			json_str(&j, "path", t->path);
		}
		json_close(&j, '}');
	}
	json_close(&j, '}');
}

int
cmd_header_run(int argc, char **argv)
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
		case 'h': util_usage(stdout); return 0;
		default: util_usage(stderr); return 2;
		}
	}
	if (argc - optind != 1)
		util_usage_error("header: exactly one database file expected");
	if ((err = os_open(argv[optind], OS_READ, &f)) < 0) {
		util_errmsg("cannot open %s: %s", argv[optind], util_open_problem(err));
		return 1;
	}
	if ((err = inspect_read_hdr_copies(f, &hc)) < 0) {
		util_errmsg("%s: %s", argv[optind], util_jet_problem(err, why, sizeof(why)));
		os_close(f);
		return 1;
	}
	if (!hc.have) {
		util_errmsg("%s is not a libjet database: no sound header (copy 0: %s; copy 1: %s)", argv[optind],
		    hc.why[0], hc.why[1]);
		os_close(f);
		return 1;
	}
	have_trailer = (hc.h.flags & DBHDR_FLAG_BACKUP_COPY) != 0;
	if (have_trailer)
		trailer_ok = inspect_read_trailer(f, &hc, &t, why, sizeof(why)) == 0;
	os_close(f);
	if (json)
		header_json(argv[optind], &hc, have_trailer, trailer_ok, &t, why);
	else
		header_text(argv[optind], &hc, have_trailer, trailer_ok, &t, why);
	/* The header shown is sound, but a damaged copy is damage all the same: status 1, as verify. */
	for (int i = 0; i < 2; i++)
		if (!hc.ok[i])
			util_errmsg("%s: header copy %d is %s", argv[optind], i, hc.why[i]);
	if (hc.ok[0] && hc.ok[1] && !hc.identical)
		util_errmsg("%s: the two header copies differ", argv[optind]);
	if (have_trailer && !trailer_ok)
		util_errmsg("%s: the backup trailer is %s", argv[optind], why);
	return !hc.ok[0] || !hc.ok[1] || !hc.identical || (have_trailer && !trailer_ok);
}
