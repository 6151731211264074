/*
 * cmd-verify-backup.c -- jetutil verify-backup DIR...: whether copied backup
 * sets restore, by their SHA256SUMS and by the checks restore makes.  A
 * delta set alone is checked as a set (each delta whole, its logs); after
 * its full (FULL DELTA [INC...]) as restore takes it, on staged images.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "jetutil.h"

/* The full backup a delta goes over, as the delta names it. */
static const char *
describe_base(const struct bkinfo *bi, char *buf, size_t len)
{
	char when[64];

	util_fmt_time(bi->time_mark, when, sizeof(when));
	snprintf(buf, len, "the full backup of %s (mark LSN %llu, log generations %u to %u)", when,
	    (unsigned long long)bi->lsn_mark, bi->gen_low, bi->gen_high);
	return buf;
}

static void
print_deltas(const struct restore_chain *c)
{
	char base[200];

	for (size_t i = 0; i < c->ndeltas; i++) {
		const struct restore_delta *d = &c->deltas[i];
		if (!d->ok) {
			printf("%s: page delta: damaged (see the problems above)\n", d->path);
			continue;
		}
		printf("%s: page delta of %s, %u-byte pages: %u changed pages of %u, each checked; base: %s; needs log "
		    "generations %u to %u\n", d->path, d->h.path, d->h.page_size, d->h.npages, d->h.pgno_last,
		    describe_base(&d->h.base, base, sizeof(base)), d->h.mark.gen_low, d->h.mark.gen_high);
	}
}

/* SHA256SUMS of every set, then the sets as restore checks them. */
int
cmd_verify_backup_run(int argc, char **argv)
{
	struct backupset_report v;
	struct restore_chain c;

	if (argc - optind < 1)
		util_usage_error("verify-backup: a backup directory expected");
	memset(&v, 0, sizeof(v));
	for (int i = optind; i < argc; i++) {
		if (!os_is_dir(argv[i])) {
			util_errmsg("%s is not a directory", argv[i]);
			return 1;
		}
		backupset_check_manifest(&v, argv[i]);
	}
	backupset_check_chain(&v, &c, argv + optind, argc - optind, 0, 1);
	print_deltas(&c);
	for (size_t i = 0; i < c.nimgs; i++) {
		const struct restore_image *d = &c.imgs[i];
		if (d->full != NULL && d->trailer_ok)
			printf("%s with %s applied (on a staged copy, removed): backup image, %u-byte pages: %llu pages "
			    "checked, %llu bad, %llu uninitialized; needs log generations %u to %u\n", d->full,
			    c.deltas[d->delta].path, d->hdr.page_size, (unsigned long long)d->pages,
			    (unsigned long long)d->bad, (unsigned long long)d->uninit, d->hdr.bk[BK_FULL_CUR].gen_low,
			    d->trailer.bk.gen_high);
		else if (d->trailer_ok)
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
	else if (c.nimgs > 0 && c.ndeltas > 0)
		printf("verdict: restorable: full set and delta set, %zu database image(s) with their delta applied, "
		    "log generations %u to %u (needed %u to %u)\n", c.nimgs, c.low, c.high, c.need_low, c.need_high);
	else if (c.ndeltas > 0) {
		char base[200];
		printf("verdict: a sound delta set: %zu page delta(s), log generations %u to %u (needed %u to %u); it "
		    "restores only over its base, %s\n", c.ndeltas, c.low, c.high, c.need_low, c.need_high,
		    describe_base(&c.deltas[0].h.base, base, sizeof(base)));
		printf("note: alone, a delta set is not checked against its base full: give that first "
		    "(verify-backup FULL DELTA [INC...]), as restore takes them\n");
	} else if (c.nimgs > 0)
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
