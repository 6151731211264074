/*
 * error.c -- JetErrorString and JetErrorName (jetfs extensions): ESE's codes
 * to text, from the one table in jet_err.h; and the fatal path (error_fatal,
 * JET_ASSERT), in the base layer so that every layer can take it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "jet_int.h"

struct error_row {
	long value;
	const char *name;
	const char *text;
};

#define JET_ERROR_ROW_(name, value, text) { (value), #name, (text) },
static const struct error_row error_rows[] = { JET_ERROR_TABLE(JET_ERROR_ROW_) };
#undef JET_ERROR_ROW_

static const struct error_row *
error_find(JET_ERR err)
{
	for (size_t i = 0; i < sizeof(error_rows) / sizeof(error_rows[0]); i++)
		if (error_rows[i].value == err)
			return &error_rows[i];
	return NULL;
}

const char *
JetErrorString(JET_ERR err)
{
	const struct error_row *row = error_find(err);

	if (row != NULL)
		return row->text;
	if (err == -800)
		return "The caller ended the backup in the middle of the sequence (errBackupAbortByCaller)";
	return err < 0 ? "Unknown error" : "Unknown warning";
}

const char *
JetErrorName(JET_ERR err)
{
	const struct error_row *row = error_find(err);

	if (row != NULL)
		return row->name;
	if (err == -800)
		return "errBackupAbortByCaller";
	return err < 0 ? "JET_err(unknown)" : "JET_wrn(unknown)";
}

/*
 * The instance goes down: every later call fails with
 * JET_errInstanceUnavailable until it is restarted; the first cause is kept
 * and logged.  Returns err, for the caller to return.
 */
JET_ERR
error_fatal(struct jet_inst *inst, JET_ERR err, const char *what)
{
	if (inst != NULL && inst->unavailable == JET_errSuccess) {
		inst->unavailable = err;
		event_log(inst, EVENT_ERROR, 1090, "%s failed (%s, %ld): the instance is unavailable until restarted",
		    what, JetErrorString(err), err);
	}
	return err;
}

#ifdef JET_DEBUG
/* JET_ASSERT of a debug build: stop where the invariant broke. */
_Noreturn void
error_assert_abort(const char *where, const char *cond)
{
	fprintf(stderr, "libjet: %s: assertion failed: %s\n", where, cond);
	abort();
}
#endif
