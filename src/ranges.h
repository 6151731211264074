/*
 * ranges.h -- a set of byte ranges [lo, hi), kept sorted, disjoint and
 * merged: what a backup reader was served of a file.  Header-only, used by
 * the engine (backup.c, pitread.c) and by jetfs (fsbackup.c), which account
 * for the same thing on the two sides of a read.
 */
#ifndef JET_RANGES_H
#define JET_RANGES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ranges {
	uint64_t (*r)[2];
	size_t n, cap;
	uint64_t total;		/* bytes covered */
};

/* Adds [lo, hi), merged with the ranges it overlaps or touches: 0, or -1 (out of memory; nothing changed). */
static inline int
ranges_add(struct ranges *rs, uint64_t lo, uint64_t hi)
{
	size_t i = 0, j;

	if (lo >= hi)
		return 0;
	while (i < rs->n && rs->r[i][1] < lo)
		i++;
	/* ranges i..j-1 touch [lo, hi) */
	for (j = i; j < rs->n && rs->r[j][0] <= hi; j++)
		;
	if (j == i && rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 4;
		void *r = realloc(rs->r, cap * sizeof(*rs->r));
		if (r == NULL)
			return -1;
		rs->r = r;
		rs->cap = cap;
	}
	for (size_t k = i; k < j; k++) {
		if (rs->r[k][0] < lo)
			lo = rs->r[k][0];
		if (rs->r[k][1] > hi)
			hi = rs->r[k][1];
		rs->total -= rs->r[k][1] - rs->r[k][0];
	}
	if (j == i) {
		memmove(rs->r + i + 1, rs->r + i, (rs->n - i) * sizeof(*rs->r));
		rs->n++;
	} else if (j > i + 1) {
		memmove(rs->r + i + 1, rs->r + j, (rs->n - j) * sizeof(*rs->r));
		rs->n -= j - i - 1;
	}
	rs->r[i][0] = lo;
	rs->r[i][1] = hi;
	rs->total += hi - lo;
	return 0;
}

/* Whether [0, size) is covered. */
static inline int
ranges_cover(const struct ranges *rs, uint64_t size)
{
	return rs->total == size;
}

static inline void
ranges_free(struct ranges *rs)
{
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

#endif
