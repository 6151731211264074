/*
 * backupset.c -- a copied backup set as verify-backup and restore check it:
 * its SHA256SUMS (checked here; written after a backup), and its chain,
 * by the engine's one checker of backup sets (restore_chain_*, restore.c).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jetutil.h"
#include "manifest.h"

static void
say(struct backupset_report *v, const char *prefix, const char *fmt, va_list ap)
{
	FILE *out = v->out != NULL ? v->out : stdout;

	fputs(prefix, out);
	vfprintf(out, fmt, ap);
	fputc('\n', out);
}

static void __attribute__((format(printf, 2, 3)))
say_problem(struct backupset_report *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(v, "problem: ", fmt, ap);
	va_end(ap);
	v->problems++;
}

static void __attribute__((format(printf, 2, 3)))
say_info(struct backupset_report *v, const char *fmt, ...)
{
	va_list ap;

	if (v->quiet)
		return;
	va_start(ap, fmt);
	say(v, "", fmt, ap);
	va_end(ap);
}

/* Always shown: restore goes on, but the user must know what was not checked. */
static void __attribute__((format(printf, 2, 3)))
say_warning(struct backupset_report *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(v, "warning: ", fmt, ap);
	va_end(ap);
}

/* What the engine's checker of backup sets (restore_chain_*) finds. */
static void
chain_report(void *arg, int problem, const char *msg)
{
	if (problem)
		say_problem(arg, "%s", msg);
	else
		say_info(arg, "%s", msg);
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
	p = util_xjoin(dir, name);
	regular = os_exists(p) && !os_is_dir(p);
	free(p);
	return regular;
}

/*
 * Checks dir/SHA256SUMS, if there is one: every line well formed, every
 * file it names present with that SHA-256, every file of dir named once.
 */
void
backupset_check_manifest(struct backupset_report *v, const char *dir)
{
	char *path = util_xjoin(dir, MANIFEST_NAME), *text = NULL, **names = NULL;
	size_t n = 0, len = 0, lines = 0, *seen = NULL;
	int problems = v->problems;
	struct stat st;
	FILE *f;

	memset(&st, 0, sizeof(st));
	if ((f = fopen(path, "r")) == NULL) {
		if (errno != ENOENT)
			say_problem(v, "%s cannot be read: %s", path, strerror(errno));
		else
			say_warning(v, "%s has no %s: its files are checked by their own checksums only, and a file "
			    "missing from it is found only where the chain needs it (not the last generations of an "
			    "incremental set)", dir, MANIFEST_NAME);
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || st.st_size > MANIFEST_MAX) {
		say_problem(v, "%s: %s", path, st.st_size > MANIFEST_MAX ? "larger than 16 MiB: not a manifest" :
		    strerror(errno));
		goto out;
	}
	/* One byte more than its size: a file that grows while read is seen to. */
	text = util_xmalloc((size_t)st.st_size + 1);
	len = fread(text, 1, (size_t)st.st_size + 1, f);
	if (ferror(f) || len != (size_t)st.st_size) {
		say_problem(v, "%s: %s", path, ferror(f) ? strerror(errno) : "it changed while it was read");
		goto out;
	}
	if (len > 0 && text[len - 1] != '\n') {
		say_problem(v, "%s: the last line has no newline (a truncated copy?)", path);
		goto out;
	}
	names = util_list_dir(dir, &n);
	seen = calloc(n ? n : 1, sizeof(*seen));
	if (names == NULL || seen == NULL) {
		say_problem(v, "%s cannot be listed", dir);
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
			say_problem(v, "%s, line %zu: not a \"SHA256  NAME\" line", path, lines);
			continue;
		}
		*nl = '\0';
		for (k = 0; k < n && strcmp(names[k], name) != 0; k++)
			;
		if (k == n || !manifest_covers(dir, name)) {
			say_problem(v, "%s, line %zu: %s is missing from the copy", path, lines, name);
			continue;
		}
		if (seen[k]++ != 0) {
			say_problem(v, "%s, line %zu: %s is listed twice", path, lines, name);
			continue;
		}
		file = util_xjoin(dir, name);
		if (manifest_hash_file(file, got) < 0)
			say_problem(v, "%s cannot be read: %s", file, strerror(errno));
		else if (memcmp(want, got, sizeof(got)) != 0)
			say_problem(v, "%s: its SHA-256 is not the one in %s: the copy differs from what was backed up",
			    file, MANIFEST_NAME);
		free(file);
	}
	for (size_t k = 0; k < n; k++) {
		uint32_t gen;
		if (seen[k] == 0 && manifest_covers(dir, names[k]))
			say_problem(v, "%s/%s is not listed in %s%s", dir, names[k], MANIFEST_NAME,
			    log_parse_name(BASE_NAME, names[k], &gen) ? " (a log left by an earlier backup into this directory? "
			    "copy each backup into a new, empty directory)" : "");
	}
	if (v->problems == problems)
		say_info(v, "%s: %zu files, every SHA-256 matches", path, lines);
out:
	if (f != NULL)
		fclose(f);
	if (names != NULL)
		util_free_list(names, n);
	free(seen);
	free(text);
	free(path);
}

/*
 * Writes dir/SHA256SUMS for every file of dir (after a backup into it), by
 * a temporary file renamed into place.  @return 0, or -1 after a message.
 */
int
backupset_write_manifest(const char *dir)
{
	char *path = util_xjoin(dir, MANIFEST_NAME), *tmp = util_xjoin(dir, "." MANIFEST_NAME ".tmp"), **names;
	char line[MANIFEST_HEX_SIZE + 3 + NAME_MAX + 1];
	uint8_t digest[MANIFEST_DIGEST_SIZE];
	const char *failed = NULL;
	uint64_t off = 0;
	os_file *f = NULL;
	size_t n = 0;

	if ((names = util_list_dir(dir, &n)) == NULL)
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
		file = util_xjoin(dir, names[i]);
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
		util_errmsg("backup: %s: %s", path, failed);
		os_unlink(tmp);
	}
	if (names != NULL)
		util_free_list(names, n);
	free(tmp);
	free(path);
	return failed != NULL ? -1 : 0;
}

/* Where verify-backup stages the images that deltas go over: $TMPDIR, else /tmp. */
static const char *
staging_parent(void)
{
	const char *t = getenv("TMPDIR");

	return t != NULL && *t != '\0' ? t : "/tmp";
}

/*
 * Checks the sets dirs[0..n-1] with the engine's own checker of backup sets
 * (restore_chain_*) in its reporting mode, every problem to v: what restore
 * refuses is a problem here, and what it accepts is not.  A delta set after
 * a full is checked as restore takes it: each delta against its base, then
 * applied to a staged copy of the full's image (under $TMPDIR, removed by
 * restore_chain_free) that the chain check reads.  deltas_alone: a delta set
 * given alone is checked as a set (verify-backup), not refused (restore).
 * The caller frees c.
 */
void
backupset_check_chain(struct backupset_report *v, struct restore_chain *c, char *const *dirs, int n, uint32_t stop_gen,
    int deltas_alone)
{
	char a[200];
	JET_ERR err;

	memset(c, 0, sizeof(*c));
	snprintf(c->base, sizeof(c->base), "%s", BASE_NAME);
	c->report = chain_report;
	c->report_arg = v;
	for (int i = 0; i < n; i++)
		if ((err = restore_chain_scan(c, dirs[i], i == 0)) < 0)
			say_problem(v, "%s: %s", dirs[i], util_jet_problem(err, a, sizeof(a)));
	if ((err = restore_chain_match_deltas(c, deltas_alone)) < 0 && c->problems == 0)
		say_problem(v, "%s", util_jet_problem(err, a, sizeof(a)));
	if (c->nimgs > 0 && (err = restore_chain_stage_deltas(c, staging_parent())) < 0 && c->problems == 0)
		say_problem(v, "%s", util_jet_problem(err, a, sizeof(a)));
	if ((err = restore_chain_check(c, stop_gen)) < 0 && c->problems == 0)
		say_problem(v, "%s", util_jet_problem(err, a, sizeof(a)));
}
