/*
 * result.h -- the machine-readable figure lines every benchmark prints next
 * to its human table; bench/run collects them into the one summary table:
 *
 *   RESULT key=value unit [note...]
 *   RESULT key=- - not measured: why
 *
 * Header-only so that bench_engine, which does not link benchlib, prints
 * the same format.
 */
#ifndef JETFS_BENCH_RESULT_H
#define JETFS_BENCH_RESULT_H

#include <stdio.h>

static inline void
bench_result(const char *key, double value, int decimals, const char *unit, const char *note)
{
	printf("RESULT %s=%.*f %s%s%s\n", key, decimals, value, unit, note ? " " : "", note ? note : "");
	fflush(stdout);
}

static inline void
bench_not_measured(const char *key, const char *why)
{
	printf("RESULT %s=- - not measured: %s\n", key, why);
	fflush(stdout);
}

#endif
