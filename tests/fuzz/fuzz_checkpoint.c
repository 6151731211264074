/*
 * fuzz_checkpoint.c -- libFuzzer harness for the checkpoint file reader.
 *
 * The input is a whole <base>.chk file (format at the top of
 * src/checkpoint.c).  It is written to a private directory and read by the
 * engine's own entry points:
 *   - checkpoint_read(), what JetInit's recovery (recovery.c) and the backup code
 *     (backup.c) call, then checkpoint_write() of what was read and checkpoint_read() of
 *     that again, which must give the same state (the file is the engine's
 *     only record of the redo point and of the attached databases);
 *   - `jetutil checkpoint FILE` (cmd_checkpoint_run,
 *     tools/jetutil/cmd-checkpoint.c, linked into this harness), which
 *     prints every field of a file it accepted.
 *
 * The file is protected by a CRC-32C, which random mutations never get
 * right.  So each input whose checksum is wrong is run twice: as it is (the
 * checksum check itself) and with the checksum fixed up (everything behind
 * it).  A crash input found either way reproduces with this harness.
 */
#include "config.h"

#include "fuzz_common.h"

#include "jetutil.h"

/* checkpoint_write's instance: only its paths and base name (it writes edb.chk beside in.chk). */
static struct jet_inst *fz_inst;
static char *fz_chk;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_workdir("checkpoint");
	fz_chk = fz_path("in.chk");
	if ((fz_inst = calloc(1, sizeof(*fz_inst))) == NULL)
		fz_die("calloc");
	snprintf(fz_inst->p.system_path, sizeof(fz_inst->p.system_path), "%s", fz_dir);
	snprintf(fz_inst->p.log_path, sizeof(fz_inst->p.log_path), "%s", fz_dir);
	snprintf(fz_inst->p.base_name, sizeof(fz_inst->p.base_name), "edb");
	fz_inst->p.event_target = JET_JetfsEventNone;
	return 0;
}

static void
fz_same_state(const struct checkpoint_state *a, const struct checkpoint_state *b)
{
	FZ_CHECK(a->lsn == b->lsn && a->gen == b->gen, "redo point %llu/%u became %llu/%u",
	    (unsigned long long)a->lsn, a->gen, (unsigned long long)b->lsn, b->gen);
	FZ_CHECK(dbhdr_sig_equal(&a->sign_log, &b->sign_log), "log signature changed");
	FZ_CHECK(a->full_backup_lsn == b->full_backup_lsn && a->inc_backup_lsn == b->inc_backup_lsn &&
	    a->full_backup_time == b->full_backup_time && a->inc_backup_time == b->inc_backup_time,
	    "backup fields changed");
	FZ_CHECK(a->nattach == b->nattach, "%zu databases became %zu", a->nattach, b->nattach);
	for (size_t i = 0; i < a->nattach; i++) {
		FZ_CHECK(a->attach[i].dbid == b->attach[i].dbid, "dbid of attachment %zu changed", i);
		FZ_CHECK(dbhdr_sig_equal(&a->attach[i].sign_db, &b->attach[i].sign_db), "signature of attachment %zu", i);
		FZ_CHECK(strcmp(a->attach[i].path, b->attach[i].path) == 0, "path of attachment %zu changed", i);
	}
}

static void
fz_run(const uint8_t *data, size_t size)
{
	struct checkpoint_state ck, ck2;
	char *argv[] = { (char *)"checkpoint", fz_chk, NULL };
	JET_ERR err;

	fz_write_file(fz_chk, data, size, 0);

	/* Recovery's and backup's reader. */
	err = checkpoint_read(fz_chk, &ck);
	if (err >= 0) {
		FZ_CHECK(ck.nattach <= JET_MAX_ATTACHED_DATABASES, "nattach %zu", ck.nattach);
		FZ_CHECK(ck.lsn != 0 && ck.gen != 0, "accepted a null redo point");
		for (size_t i = 0; i < ck.nattach; i++) {
			FZ_CHECK(ck.attach[i].path != NULL && ck.attach[i].path[0] != '\0', "attachment %zu: no path", i);
			FZ_CHECK(ck.attach[i].dbid >= 1 && ck.attach[i].dbid <= JET_MAX_ATTACHED_DATABASES,
			    "attachment %zu: dbid %u", i, ck.attach[i].dbid);
			/* Recovery opens each one as dbs[dbid]: a dbid or a file named twice is not a state
			 * the engine can be in (checkpoint_write writes inst->dbs), and would attach a file twice
			 * or leak the first database opened under that dbid. */
			for (size_t j = 0; j < i; j++) {
				FZ_CHECK(ck.attach[j].dbid != ck.attach[i].dbid, "dbid %u attached twice", ck.attach[i].dbid);
				FZ_CHECK(strcmp(ck.attach[j].path, ck.attach[i].path) != 0, "%s attached twice",
				    ck.attach[i].path);
			}
		}
		/* What the engine read, it must be able to write back and read again. */
		err = checkpoint_write(fz_inst, &ck);
		if (err >= 0) {
			char *out = checkpoint_path(fz_inst);
			JET_ERR err2 = checkpoint_read(out, &ck2);
			FZ_CHECK(err2 >= 0, "the checkpoint the engine wrote does not read back: %s", JetErrorName(err2));
			fz_same_state(&ck, &ck2);
			checkpoint_state_free(&ck2);
			free(out);
		} else
			FZ_CHECK(err == JET_errInvalidPath, "checkpoint_write: %s", JetErrorName(err));
		checkpoint_state_free(&ck);
	} else
		FZ_CHECK(err == JET_errCheckpointCorrupt || err == JET_errOutOfMemory, "checkpoint_read: %s",
		    JetErrorName(err));

	/* jetutil checkpoint FILE */
	fz_quiet_begin();
	optind = 1;
	(void)cmd_checkpoint_run(2, argv);
	fz_quiet_end();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	fz_run(data, size);
	/* The same file with a right checksum (and the size field it must have). */
	if (size < CHK_ATTACH_OFF || size > CHK_SIZE_MAX)
		return 0;
	if ((fixed = malloc(size)) == NULL)
		return 0;
	memcpy(fixed, data, size);
	put32(fixed + CHK_OFF_SIZE, (uint32_t)size);
	put32(fixed + FMT_OFF_CRC, crc32c(0, fixed + FMT_OFF_MAGIC, size - FMT_OFF_MAGIC));
	if (memcmp(fixed, data, size) != 0)
		fz_run(fixed, size);
	free(fixed);
	return 0;
}
