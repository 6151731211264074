/*
 * session.c -- sessions and the transaction API.
 *
 * A session may be used by one thread at a time: every entry marks it busy
 * and a second thread gets JET_errSessionSharingViolation.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "jet_int.h"
#include "table.h"

#define TXN_LEVEL_MAX 7

JET_ERR
session_enter(JET_SESID sesid, struct jet_session **sp)
{
	struct jet_session *s = handle_get(HANDLE_SESSION, sesid);
	int idle = 0;

	*sp = NULL;
	if (s == NULL)
		return JET_errInvalidSesid;
	if (!atomic_compare_exchange_strong(&s->busy, &idle, 1))
		return JET_errSessionSharingViolation;
	if (s->inst->term_in_progress) {
		atomic_store(&s->busy, 0);
		return JET_errTermInProgress;
	}
	*sp = s;
	return JET_errSuccess;
}

void
session_leave(struct jet_session *s)
{
	atomic_store(&s->busy, 0);
}

JET_ERR JET_API
JetBeginSession(JET_INSTANCE instance, JET_SESID *psesid, JET_PCSTR szUserName, JET_PCSTR szPassword)
{
	struct jet_inst *inst;
	struct jet_session *s;
	JET_ERR err;

	(void)szUserName;
	(void)szPassword;
	if (psesid == NULL)
		return JET_errInvalidParameter;
	if (instance == 0 || instance == JET_instanceNil)
		RET(instance_legacy(&instance));
	RET(instance_enter(instance, &inst));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return JET_errOutOfMemory;
	s->inst = inst;
	olock_lock(&inst->inst_lock);
	if (inst->nsessions >= inst->p.max_sessions) {
		err = JET_errOutOfSessions;
		goto err;
	}
	if ((s->handle = handle_new(HANDLE_SESSION, s)) == 0) {
		err = JET_errOutOfMemory;
		goto err;
	}
	s->next = inst->sessions;
	inst->sessions = s;
	inst->nsessions++;
	olock_unlock(&inst->inst_lock);
	*psesid = s->handle;
	return JET_errSuccess;
err:
	olock_unlock(&inst->inst_lock);
	free(s);
	return err;
}

/* Rolls back, closes cursors and databases, frees (busy already claimed). */
static void
session_destroy(struct jet_session *s)
{
	struct jet_inst *inst = s->inst;

	while (s->level > 0)
		txn_rollback_level(s);
	table_close_all(s);
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (s->db_open[i] && inst->dbs[i] != NULL)
			inst->dbs[i]->open_count -= s->db_open[i];
	olock_lock(&inst->inst_lock);
	for (struct jet_session **pp = &inst->sessions; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	inst->nsessions--;
	olock_unlock(&inst->inst_lock);
	handle_free(s->handle);
	free(s->pages);
	free(s);
}

JET_ERR JET_API
JetEndSession(JET_SESID sesid, JET_GRBIT grbit)
{
	struct jet_session *s;

	(void)grbit;
	RET(session_enter(sesid, &s));
	session_destroy(s);
	return JET_errSuccess;
}

/* JetTerm: ends every session that is not inside a call. */
void
session_end_all(struct jet_inst *inst)
{
	for (;;) {
		struct jet_session *s;
		int idle = 0;
		olock_lock(&inst->inst_lock);
		s = inst->sessions;
		olock_unlock(&inst->inst_lock);
		if (s == NULL)
			return;
		while (!atomic_compare_exchange_strong(&s->busy, &idle, 1)) {
			idle = 0;
			sched_yield();
		}
		session_destroy(s);
	}
}

JET_ERR JET_API
JetBeginTransaction(JET_SESID sesid)
{
	struct jet_session *s;
	JET_ERR err = JET_errSuccess;

	RET(session_enter(sesid, &s));
	if (s->level >= TXN_LEVEL_MAX)
		err = JET_errTransTooDeep;
	else if (s->inst->unavailable != JET_errSuccess)
		err = JET_errInstanceUnavailable;
	else
		s->level++;
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetCommitTransaction(JET_SESID sesid, JET_GRBIT grbit)
{
	struct jet_session *s;
	JET_ERR err;

	RET(session_enter(sesid, &s));
	if (grbit & ~(JET_bitCommitLazyFlush | JET_bitWaitLastLevel0Commit | JET_bitWaitAllLevel0Commit))
		err = JET_errInvalidGrbit;
	else if (grbit & (JET_bitWaitLastLevel0Commit | JET_bitWaitAllLevel0Commit)) {
		/* Makes earlier lazy commits durable; needs no transaction. */
		lsn_t lsn = s->last_commit_lsn;
		if (grbit & JET_bitWaitAllLevel0Commit)
			lsn = s->inst->log.append_lsn;
		err = s->level > 0 ? JET_errInTransaction : log_flush_to(&s->inst->log, lsn);
	} else if (s->level == 0)
		err = JET_errNotInTransaction;
	else {
		err = txn_commit_level(s, grbit);
	}
	session_leave(s);
	return err;
}

JET_ERR JET_API
JetRollback(JET_SESID sesid, JET_GRBIT grbit)
{
	struct jet_session *s;
	JET_ERR err = JET_errSuccess;

	RET(session_enter(sesid, &s));
	if (grbit & ~JET_bitRollbackAll)
		err = JET_errInvalidGrbit;
	else if (s->level == 0)
		err = JET_errNotInTransaction;
	else {
		do
			txn_rollback_level(s);
		while ((grbit & JET_bitRollbackAll) && s->level > 0);
		table_rollback_cleanup(s);
	}
	session_leave(s);
	return err;
}
