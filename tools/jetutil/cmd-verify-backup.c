/*
 * cmd-verify-backup.c -- jetutil verify-backup DIR...: whether copied backup
 * sets restore, by their SHA256SUMS and by the checks restore makes.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "jetutil.h"

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
	backupset_check_chain(&v, &c, argv + optind, argc - optind, 0);
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
