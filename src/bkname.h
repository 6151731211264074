/*
 * bkname.h -- which names a backup set may hold, for every writer of a set
 * (jetfs lists them in a directory, JetBackupInstance writes them into one).
 *
 * A file of a set is named by the base name of the path the instance gives
 * (over a socket, a path from another process, perhaps hostile).  The base
 * name must be one a directory can hold and a terminal can show: not empty,
 * not "." or "..", at most NAME_MAX bytes, and no control character anywhere
 * in the path (it would reach messages, status files and terminals raw).
 * And no two files of a set may share a base name: one would overwrite the
 * other, and the set would lack a database while looking complete.
 * Header-only: jetfs is linked with libjet's public symbols only.
 */
#ifndef BKNAME_H
#define BKNAME_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why path cannot name a file of a backup set, or NULL. */
static inline const char *
bkname_problem(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;

	for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "a control character in its name";
	if (base[0] == '\0')
		return "an empty name";
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return "the name . or ..";
	if (strlen(base) > NAME_MAX)
		return "a name longer than 255 bytes";
	return NULL;
}

/*
 * path as printable ASCII for a message: control characters, '\\' and bytes
 * above 0x7e as \\xHH; cut to fit out (cb > 0).
 */
static inline void
bkname_escape(const char *path, char *out, size_t cb)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)path; *p != '\0' && o + 5 < cb; p++)
		if (*p < 0x20 || *p >= 0x7f || *p == '\\')
			o += (size_t)snprintf(out + o, cb - o, "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	out[o] = '\0';
}

enum bkname_verdict { BKNAME_OK, BKNAME_BAD, BKNAME_TWICE, BKNAME_NOMEM };

struct bkname_entry {
	const char *path, *base;
	size_t order;		/* in the lists: of two with one base name, the first listed is named first */
};

static inline int
bkname_entry_cmp(const void *a, const void *b)
{
	const struct bkname_entry *x = a, *y = b;
	int c = strcmp(x->base, y->base);

	return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/*
 * Whether the files of a set (the double-NUL lists szz1 and szz2, either may
 * be NULL) can lie in one directory.  If not, msg (cb bytes) says why: a
 * name bkname_problem refuses ("the instance listed a file <refuser>: ..."),
 * named escaped; or two files with one base name.
 */
static inline enum bkname_verdict
bkname_check_set(const char *szz1, const char *szz2, const char *refuser, char *msg, size_t cb)
{
	const char *lists[2] = { szz1, szz2 };
	struct bkname_entry *e;
	enum bkname_verdict verdict = BKNAME_OK;
	size_t n = 0;

	for (int l = 0; l < 2; l++)
		for (const char *p = lists[l]; p != NULL && *p != '\0'; p += strlen(p) + 1, n++) {
			const char *problem = bkname_problem(p);
			if (problem != NULL) {
				char shown[256];	/* a cut name: the reason must fit after it */
				bkname_escape(p, shown, sizeof(shown));
				snprintf(msg, cb, "the instance listed a file %s: \"%s\" (%s): the set is refused", refuser,
				    shown, problem);
				return BKNAME_BAD;
			}
		}
	if (n < 2)
		return BKNAME_OK;
	if ((e = malloc(n * sizeof(*e))) == NULL)
		return BKNAME_NOMEM;
	n = 0;
	for (int l = 0; l < 2; l++)
		for (const char *p = lists[l]; p != NULL && *p != '\0'; p += strlen(p) + 1, n++) {
			const char *slash = strrchr(p, '/');
			e[n].path = p;
			e[n].base = slash != NULL ? slash + 1 : p;
			e[n].order = n;
		}
	qsort(e, n, sizeof(*e), bkname_entry_cmp);
	for (size_t i = 1; i < n && verdict == BKNAME_OK; i++)
		if (strcmp(e[i - 1].base, e[i].base) == 0) {
			snprintf(msg, cb, "two files of the set are named %s (%s and %s): rename one database", e[i].base,
			    e[i - 1].path, e[i].path);
			verdict = BKNAME_TWICE;
		}
	free(e);
	return verdict;
}

#endif
