/*
 * error.c -- JetErrorString and JetErrorName (jetfs extensions): ESE's codes
 * to text, from the one table in jet_err.h.
 */
#include "config.h"

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
