/*
 * bkname.h -- which names a backup set may hold, for every writer of a set
 * (jetfs lists them in a directory, JetBackupInstance writes them into one).
 *
 * A file of a set is named by the base name of the path the instance gives
 * (over a socket, a path from another process, perhaps hostile).  The base
 * name must be one a directory can hold and a terminal can show: not empty,
 * not "." or "..", at most NAME_MAX bytes, and no control character anywhere
 * in the path (it would reach messages, status files and terminals raw).
 * Header-only: jetfs is linked with libjet's public symbols only.
 */
#ifndef BKNAME_H
#define BKNAME_H

#include <limits.h>
#include <stdio.h>
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

#endif
