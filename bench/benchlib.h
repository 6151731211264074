/* benchlib.h -- see benchlib.c. */
#ifndef JETFS_BENCHLIB_H
#define JETFS_BENCHLIB_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jet.h"
#include "result.h"

#define CK(x) do { JET_ERR e_ = (x); if (e_ < 0) { fprintf(stderr, "bench: %s: %s (%ld)\n", #x, JetErrorName(e_), e_); exit(1); } } while (0)
#define NACCOUNTS 10000

extern char dir[512], dbpath[600];
extern JET_INSTANCE inst;

double now_s(void);
void row(const char *what, double value, const char *unit);
/* Creates dbpath with about mb MiB of data (in the instance inst). */
void build(unsigned long mb);
pthread_t *load_start(int threads);
/* Stops the workload; returns its commits per second since t0. */
double load_stop(pthread_t *t, int threads, double t0);
uint64_t file_size(const char *path);
/* Parses the benchmarks' common options (--dir, --db-mb, --seconds,
 * --threads) into dir and the given defaults; -1 after a usage message. */
int bench_args(int argc, char **argv, const char *name, unsigned long *mb, unsigned long *seconds, int *threads);

#endif
