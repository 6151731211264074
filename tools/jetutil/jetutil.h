/*
 * jetutil.h -- what the files of jetutil share: each command's entry point,
 * the helpers several commands use, and the types they pass around.
 *
 * One file per command, cmd-NAME.c (as tmux's cmd-*.c), and a few files of
 * shared helpers; jetutil.c has only main and the command table, so the
 * fuzzers (tests/fuzz/) link every other file, as libjetutil_cmds.la, and
 * call the commands directly.
 *
 * Names: as in the engine (jet_int.h), every function visible outside its
 * file starts with its file's name, '-' written '_':
 *   cmd_NAME_run         the command NAME's entry point in cmd-NAME.c, called
 *                        with argv[0] the command and optind set (main)
 *   cmd_NAME_...         what other commands use of cmd-NAME.c
 *   util_, json_, inspect_, backupset_   util.c, json.c, inspect.c, backupset.c
 * Helpers used in one file only are static there.
 *
 * Exit status of every command: 0 all good, 1 a problem found (or an engine
 * call failed), 2 bad usage.  Usage errors exit(2) from util_usage_error.
 */
#ifndef JETUTIL_H
#define JETUTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "jet_int.h"

/* The base name of the instances jetutil works on (edb.log, edb.chk, edb00001.log). */
#define BASE_NAME "edb"

/* ---- the commands (cmd-*.c), main's table of them (jetutil.c) ---- */
struct jetutil_cmd {
	const char *name;		/* jetutil NAME ... */
	int (*run)(int argc, char **argv);
	int own_options;		/* parses its options; else file operands only (main checks them) */
};

int cmd_header_run(int argc, char **argv);
int cmd_log_run(int argc, char **argv);
int cmd_checkpoint_run(int argc, char **argv);
int cmd_verify_run(int argc, char **argv);
int cmd_verify_backup_run(int argc, char **argv);
int cmd_restore_run(int argc, char **argv);
int cmd_backup_run(int argc, char **argv);

/* cmd-log.c: checks one log file, printing its header when show_header; 0 if sound, 1 if not. */
int cmd_log_check_file(const char *path, int show_header);
/* cmd-verify.c: checks one file of any kind (jetutil verify FILE); 0 if sound, 1 if not. */
int cmd_verify_file(const char *path);

/* ---- util.c: messages, memory, printing ---- */
extern int util_quiet;			/* --quiet: no progress on stderr */
extern const char *util_status_what;	/* what util_status_cb reports on */

void util_usage(FILE *f);
void util_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void util_errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *util_jet_problem(JET_ERR err, char *buf, size_t len);
const char *util_open_problem(JET_ERR err);
void *util_xmalloc(size_t n);
char *util_xstrdup(const char *s);
char *util_xjoin(const char *dir, const char *name);
const char *util_base_of(const char *path);
void util_printable(const char *s, char *out, size_t len);
const char *util_fmt_time(uint64_t us, char *buf, size_t len);
/* restore --stop-at's moments: 0 and *usp, or -1 and *whyp (what is wrong). */
int util_parse_moment(const char *s, uint64_t *usp, const char **whyp);
const char *util_fmt_moment(uint64_t us, char *buf, size_t len);
const char *util_fmt_sig(const struct jet_sig *s, char *buf, size_t len);
void util_field(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *util_state_name(uint32_t st);
char **util_list_dir(const char *dir, size_t *np);
void util_free_list(char **names, size_t n);
JET_ERR JET_API util_status_cb(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv);
int util_events_target(void);
void util_events_hint(const char *more);

/* ---- json.c: the JSON writer of header --json (to stdout) ---- */
struct json {
	int depth;
	int comma[32];
};
void json_open(struct json *j, const char *key, char c);
void json_close(struct json *j, char c);
void json_str(struct json *j, const char *key, const char *v);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_bool(struct json *j, const char *key, int v);
void json_time(struct json *j, const char *key, uint64_t us);
void json_sig(struct json *j, const char *key, const struct jet_sig *s);

/* ---- inspect.c: a file's kind; a database's two header copies and a backup image's trailer ---- */
struct hdr_copies {
	int ok[2];
	const char *why[2];		/* the problem of a bad copy */
	struct db_header h;		/* from the first good copy */
	int have;			/* a good copy exists */
	int identical;
	uint32_t ps;
	uint64_t size;
};
JET_ERR inspect_read_hdr_copies(os_file *f, struct hdr_copies *hc);
const char *inspect_copy_status(const struct hdr_copies *hc, int i);
int inspect_read_trailer(os_file *f, const struct hdr_copies *hc, struct bk_trailer *t, char *why, size_t len);

enum ftype { FT_NONE, FT_DB, FT_LOG, FT_CHK, FT_DB_DAMAGED, FT_ZERO };
enum ftype inspect_sniff(os_file *f);

/* ---- backupset.c: a copied backup set's SHA256SUMS and the engine's chain check ---- */
/*
 * The state of verify-backup, and of restore's check of SHA256SUMS: problems
 * found, and where messages go (NULL: stdout; restore: stderr).
 */
struct backupset_report {
	FILE *out;
	int problems;
	int quiet;			/* only problems and warnings */
};
void backupset_check_manifest(struct backupset_report *v, const char *dir);
int backupset_write_manifest(const char *dir);
void backupset_check_chain(struct backupset_report *v, struct restore_chain *c, char *const *dirs, int n,
    uint32_t stop_gen, int deltas_alone);

#endif
