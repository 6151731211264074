/*
 * instance.c -- instances: creation, system parameters, JetInit / JetTerm,
 * ESE's legacy one-instance mode, and the background thread that makes lazy
 * commits durable and runs checkpoints.
 */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jet_int.h"

#define INSTANCES_MAX 64
#define BG_TICK_MS 10
#define CKPT_INTERVAL_MS 1000

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jet_inst *instances[INSTANCES_MAX];
static struct jet_inst *legacy_inst;
static JET_INSTANCE legacy_handle;

static struct inst_params default_params = {
	.system_path = ".",
	.log_path = ".",
	.base_name = "edb",
	.log_file_kb = 5120,
	.log_buffers = 2048,
	.recovery = 1,
	.cache_pages = 1024,
	.max_sessions = 128,
	.max_open_tables = 1024,
	.page_size = 8192,
	.db_extension = 256,
	.checkpoint_depth = 20 * 1024 * 1024,
	.event_target = JET_JetfsEventSyslog,
	.max_instances = 16,
	.backup_hold_s = 600,
	.backup_free_floor_mb = 64,
};

/* P_PATH: a string kept canonical (param_set_path); "" only where it means none. */
enum param_kind { P_INT, P_STR, P_PATH, P_ONOFF };

struct param_def {
	unsigned long id;
	enum param_kind kind;
	size_t offset;			/* in struct inst_params */
	size_t size;			/* string capacity */
	unsigned long min, max;
	int fixed_after_init;
};

#define PINT(id, field, min, max, fixed) { id, P_INT, offsetof(struct inst_params, field), 0, min, max, fixed }
#define PSTR(id, field, fixed) { id, P_STR, offsetof(struct inst_params, field), sizeof(((struct inst_params *)0)->field), 0, 0, fixed }
/* empty_ok travels in max: 1 lets "" turn the parameter off (the socket). */
#define PPATH(id, field, empty_ok) { id, P_PATH, offsetof(struct inst_params, field), sizeof(((struct inst_params *)0)->field), 0, empty_ok, 1 }

static const struct param_def params[] = {
	PPATH(JET_paramSystemPath, system_path, 0),
	PSTR(JET_paramTempPath, temp_path, 1),
	PPATH(JET_paramLogFilePath, log_path, 0),
	PSTR(JET_paramBaseName, base_name, 1),
	PSTR(JET_paramEventSource, event_source, 0),
	PINT(JET_paramMaxSessions, max_sessions, 1, 30000, 1),
	PINT(JET_paramMaxOpenTables, max_open_tables, 1, 1000000, 1),
	PINT(JET_paramLogFileSize, log_file_kb, 64, 32768, 1),
	PINT(JET_paramLogBuffers, log_buffers, 16, 1u << 20, 1),
	PINT(JET_paramCircularLog, circular, 0, 1, 0),
	PINT(JET_paramDbExtensionSize, db_extension, 1, 1u << 20, 0),
	PINT(JET_paramCacheSizeMax, cache_pages, 16, 1u << 26, 1),
	PINT(JET_paramCheckpointDepthMax, checkpoint_depth, 64 * 1024, 1ul << 40, 0),
	{ JET_paramRecovery, P_ONOFF, offsetof(struct inst_params, recovery), 0, 0, 1, 1 },
	PINT(JET_paramNoInformationEvent, no_info_events, 0, 1, 0),
	PINT(JET_paramDatabasePageSize, page_size, 4096, 32768, 1),
	PINT(JET_paramCreatePathIfNotExist, create_path, 0, 1, 0),
	PINT(JET_paramMaxInstances, max_instances, 1, INSTANCES_MAX, 0),
	PINT(JET_paramLegacyFileNames, legacy_file_names, 0, 3, 1),
	PINT(JET_paramJetfsEventTarget, event_target, 0, 2, 0),
	PPATH(JET_paramJetfsBackupSocket, backup_socket, 1),
	PINT(JET_paramJetfsBackupHoldTime, backup_hold_s, 0, 7 * 24 * 3600, 0),
	PINT(JET_paramJetfsBackupKeptMax, backup_kept_max_mb, 0, 1ul << 40, 0),
	PINT(JET_paramJetfsBackupFreeFloor, backup_free_floor_mb, 0, 1ul << 40, 0),
};

static const struct param_def *
param_find(unsigned long id)
{
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if (params[i].id == id)
			return &params[i];
	return NULL;
}

/*
 * A path parameter is kept canonical (os_path_normalize), made absolute
 * against the cwd now: a later chdir does not move the instance, and the
 * engine compares directories as strings (a log named by JetGetLogInfo must
 * be found in the log path).  Too long for the field is a bad path.
 */
static JET_ERR
param_set_path(char *field, size_t size, const char *sz)
{
	char *canon;
	JET_ERR err = os_path_normalize(sz, &canon);

	if (err < 0)
		return err;
	if (strlen(canon) >= size)
		err = JET_errInvalidPath;
	else
		strcpy(field, canon);
	free(canon);
	return err;
}

static JET_ERR
param_set(struct inst_params *p, const struct param_def *d, JET_API_PTR lParam, const char *sz)
{
	char *field = (char *)p + d->offset;

	switch (d->kind) {
	case P_STR:
		if (sz == NULL || strlen(sz) >= d->size)
			return JET_errInvalidParameter;
		if (d->id == JET_paramBaseName) {
			if (strlen(sz) != 3)
				return JET_errInvalidParameter;
			for (int i = 0; i < 3; i++)
				if (!isalnum((unsigned char)sz[i]))
					return JET_errInvalidParameter;
		}
		strcpy(field, sz);
		return JET_errSuccess;
	case P_PATH:
		if (sz == NULL)
			return JET_errInvalidParameter;
		if (*sz == '\0' && d->max) {
			*field = '\0';
			return JET_errSuccess;
		}
		return param_set_path(field, d->size, sz);
	case P_ONOFF:
		if (sz == NULL)
			return JET_errInvalidParameter;
		if (strcasecmp(sz, "on") == 0)
			*(unsigned long *)field = 1;
		else if (strcasecmp(sz, "off") == 0)
			*(unsigned long *)field = 0;
		else
			return JET_errInvalidParameter;
		return JET_errSuccess;
	case P_INT:
		if (lParam < d->min || lParam > d->max)
			return JET_errInvalidParameter;
		if (d->id == JET_paramDatabasePageSize && (lParam & (lParam - 1)) != 0)
			return JET_errInvalidParameter;
		*(unsigned long *)field = (unsigned long)lParam;
		return JET_errSuccess;
	}
	return JET_errInvalidParameter;
}

/* ---- registry and entry ---- */

JET_ERR
instance_enter(JET_INSTANCE instance, struct jet_inst **instp)
{
	struct jet_inst *inst = handle_get(HANDLE_INSTANCE, instance);

	*instp = NULL;
	if (inst == NULL)
		return JET_errInvalidParameter;
	if (inst->term_in_progress)
		return JET_errTermInProgress;
	if (!inst->initialized)
		return JET_errNotInitialized;
	if (inst->unavailable != JET_errSuccess)
		return JET_errInstanceUnavailable;
	*instp = inst;
	return JET_errSuccess;
}

static JET_ERR
inst_new(const char *name, const char *display, JET_INSTANCE *handlep, struct jet_inst **instp)
{
	struct jet_inst *inst;
	size_t slot = INSTANCES_MAX, count = 0;

	if (name != NULL && strlen(name) >= sizeof(inst->name))
		return JET_errInvalidParameter;
	for (size_t i = 0; i < INSTANCES_MAX; i++) {
		if (instances[i] == NULL) {
			if (slot == INSTANCES_MAX)
				slot = i;
			continue;
		}
		count++;
		if (name != NULL && *name != '\0' && strcmp(instances[i]->name, name) == 0)
			return JET_errInstanceNameInUse;
	}
	if (slot == INSTANCES_MAX || count >= default_params.max_instances)
		return JET_errTooManyInstances;
	if ((inst = calloc(1, sizeof(*inst))) == NULL)
		return JET_errOutOfMemory;
	inst->p = default_params;
	snprintf(inst->name, sizeof(inst->name), "%s", name != NULL && *name ? name : "instance");
	snprintf(inst->display, sizeof(inst->display), "%s", display != NULL ? display : inst->name);
	pthread_mutex_init(&inst->write_lock, NULL);
	olock_init(&inst->inst_lock);
	pthread_mutex_init(&inst->ckpt_lock, NULL);
	pthread_mutex_init(&inst->backup_lock, NULL);
	pthread_cond_init(&inst->inst_cond, NULL);
	pthread_cond_init(&inst->bg_cond, NULL);
	if ((*handlep = handle_new(HANDLE_INSTANCE, inst)) == 0) {
		free(inst);
		return JET_errOutOfMemory;
	}
	instances[slot] = inst;
	*instp = inst;
	return JET_errSuccess;
}

static void
inst_free(struct jet_inst *inst, JET_INSTANCE handle)
{
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < INSTANCES_MAX; i++)
		if (instances[i] == inst)
			instances[i] = NULL;
	if (legacy_inst == inst) {
		legacy_inst = NULL;
		legacy_handle = 0;
	}
	pthread_mutex_unlock(&registry_lock);
	handle_free(handle);
	checkpoint_state_free(&inst->ckpt);
	pthread_mutex_destroy(&inst->write_lock);
	olock_destroy(&inst->inst_lock);
	pthread_mutex_destroy(&inst->ckpt_lock);
	pthread_mutex_destroy(&inst->backup_lock);
	pthread_cond_destroy(&inst->inst_cond);
	pthread_cond_destroy(&inst->bg_cond);
	free(inst);
}

JET_ERR JET_API
JetCreateInstance2(JET_INSTANCE *pinstance, const char *szInstanceName, const char *szDisplayName, JET_GRBIT grbit)
{
	struct jet_inst *inst;
	JET_ERR err;

	if (pinstance == NULL)
		return JET_errInvalidParameter;
	if (grbit != 0)
		return JET_errInvalidGrbit;
	pthread_mutex_lock(&registry_lock);
	err = legacy_inst != NULL ? JET_errRunningInOneInstanceMode :
	    inst_new(szInstanceName, szDisplayName, pinstance, &inst);
	pthread_mutex_unlock(&registry_lock);
	return err;
}

JET_ERR JET_API
JetCreateInstance(JET_INSTANCE *pinstance, const char *szInstanceName)
{
	return JetCreateInstance2(pinstance, szInstanceName, NULL, 0);
}

/* ---- parameters ---- */

JET_ERR JET_API
JetSetSystemParameter(JET_INSTANCE *pinstance, JET_SESID sesid, unsigned long paramid, JET_API_PTR lParam,
    JET_PCSTR szParam)
{
	const struct param_def *d = param_find(paramid);
	struct jet_inst *inst = NULL;
	JET_ERR err;

	(void)sesid;
	if (d == NULL)
		return JET_errInvalidParameter;
	pthread_mutex_lock(&registry_lock);
	if (pinstance != NULL && *pinstance != 0 && *pinstance != JET_instanceNil) {
		if ((inst = handle_get(HANDLE_INSTANCE, *pinstance)) == NULL) {
			err = JET_errInvalidInstance;
			goto out;
		}
		if (inst->initialized && d->fixed_after_init) {
			err = JET_errAlreadyInitialized;
			goto out;
		}
		err = param_set(&inst->p, d, lParam, szParam);
	} else if (legacy_inst != NULL && legacy_inst->initialized && d->fixed_after_init)
		err = JET_errAlreadyInitialized;
	else
		err = param_set(&default_params, d, lParam, szParam);
out:
	pthread_mutex_unlock(&registry_lock);
	return err;
}

JET_ERR JET_API
JetGetSystemParameter(JET_INSTANCE instance, JET_SESID sesid, unsigned long paramid, JET_API_PTR *plParam,
    JET_PSTR szParam, unsigned long cbMax)
{
	const struct param_def *d = param_find(paramid);
	struct inst_params p;
	const char *field;
	JET_ERR err = JET_errSuccess;

	(void)sesid;
	if (d == NULL)
		return JET_errInvalidParameter;
	pthread_mutex_lock(&registry_lock);
	if (instance != 0 && instance != JET_instanceNil) {
		struct jet_inst *inst = handle_get(HANDLE_INSTANCE, instance);
		if (inst == NULL)
			err = JET_errInvalidInstance;
		else
			p = inst->p;
	} else
		p = legacy_inst != NULL ? legacy_inst->p : default_params;
	pthread_mutex_unlock(&registry_lock);
	if (err < 0)
		return err;
	field = (const char *)&p + d->offset;
	if (d->kind == P_STR || d->kind == P_PATH) {
		if (szParam == NULL)
			return JET_errInvalidParameter;
		if (strlen(field) + 1 > cbMax)
			return JET_errBufferTooSmall;
		strcpy(szParam, field);
		return JET_errSuccess;
	}
	if (plParam == NULL)
		return JET_errInvalidParameter;
	*plParam = *(const unsigned long *)field;
	if (d->kind == P_ONOFF && szParam != NULL && cbMax >= 4)
		strcpy(szParam, *(const unsigned long *)field ? "on" : "off");
	return JET_errSuccess;
}

/* ---- background work ---- */

static void *
inst_bg_main(void *arg)
{
	struct jet_inst *inst = arg;
	uint64_t last_ckpt = dbhdr_time_now_us();

	olock_lock(&inst->inst_lock);
	while (!inst->bg_stop) {
		struct timespec ts;
		uint64_t now;
		lsn_t append;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += BG_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		olock_timedwait(&inst->bg_cond, &inst->inst_lock, &ts);
		if (inst->bg_stop)
			break;
		olock_unlock(&inst->inst_lock);

		/* Lazy commits become durable within a tick. */
		olock_lock(&inst->log.lock);
		append = inst->log.append_lsn;
		olock_unlock(&inst->log.lock);
		if (inst->log.enabled && log_flush_to(&inst->log, append) < 0)
			(void)error_fatal(inst, JET_errLogWriteFail, "writing the log");
		/* backup.c K6: a backup past its cap or floor ends now, whether or not its client calls. */
		backup_guard(inst);

		now = dbhdr_time_now_us();
		if (now - last_ckpt >= CKPT_INTERVAL_MS * 1000ULL ||
		    inst->cache.ndirty > inst->cache.nframes / 2 ||
		    (inst->log.enabled && append - inst->ckpt.lsn > inst->p.checkpoint_depth)) {
			JET_ERR err = checkpoint_run(inst, 0);
			if (err < 0)
				event_log(inst, EVENT_WARNING, 400, "checkpoint failed: %s (%ld); will retry",
				    JetErrorString(err), err);
			last_ckpt = now;
		}
		olock_lock(&inst->inst_lock);
	}
	olock_unlock(&inst->inst_lock);
	return NULL;
}

static void
inst_bg_stop(struct jet_inst *inst)
{
	if (!inst->bg_running)
		return;
	olock_lock(&inst->inst_lock);
	inst->bg_stop = 1;
	pthread_cond_broadcast(&inst->bg_cond);
	olock_unlock(&inst->inst_lock);
	pthread_join(inst->bg_thread, NULL);
	inst->bg_running = 0;
}

/* ---- init and term ---- */

/*
 * The directory must exist (or is created); then it is canonicalized again:
 * a directory created or replaced by a symlink since the parameter was set
 * resolves now, and the default "." becomes the cwd at JetInit.
 */
static JET_ERR
inst_check_dir(struct jet_inst *inst, char *dir, size_t size)
{
	if (!os_is_dir(dir) && (!inst->p.create_path || os_mkdir_p(dir) < 0)) {
		event_log(inst, EVENT_ERROR, 1023, "directory %s does not exist%s", dir,
		    os_exists(dir) ? " (a file of that name does)" : "");
		return JET_errInvalidPath;
	}
	return param_set_path(dir, size, dir);
}

static JET_ERR
inst_init(struct jet_inst *inst, JET_GRBIT grbit)
{
	JET_ERR err;

	if (grbit & ~(JET_bitReplayIgnoreMissingDB | JET_bitTruncateLogsAfterRecovery | JET_bitAllowSoftRecoveryOnBackup |
	    JET_bitLogStreamMustExist | JET_bitRecoveryWithoutUndo | JET_bitReplayMissingMapEntryDB))
		return JET_errInvalidGrbit;
	if (inst->initialized)
		return JET_errAlreadyInitialized;
	RET(inst_check_dir(inst, inst->p.system_path, sizeof(inst->p.system_path)));
	RET(inst_check_dir(inst, inst->p.log_path, sizeof(inst->p.log_path)));
	RET(cache_init(&inst->cache, inst->p.cache_pages, (uint32_t)inst->p.page_size));
	memset(&inst->log, 0, sizeof(inst->log));
	inst->log.inst = inst;
	inst->log.enabled = inst->p.recovery;
	inst->log.file_size = (uint32_t)(inst->p.log_file_kb * 1024);
	olock_init(&inst->log.lock);
	pthread_cond_init(&inst->log.cond, NULL);
	inst->unavailable = JET_errSuccess;
	if (inst->p.recovery)
		err = recovery_run(inst, grbit);
	else
		err = log_open_for_run(&inst->log, 0, 0, 1);
	if (err < 0)
		goto err;
	if ((err = bksvc_start(inst)) < 0)
		goto err;
	if (pthread_create(&inst->bg_thread, NULL, inst_bg_main, inst) != 0) {
		err = JET_errOutOfThreads;
		goto err;
	}
	inst->bg_running = 1;
	inst->bg_stop = 0;
	inst->initialized = 1;
	inst->backup_allowed = 1;
	event_log(inst, EVENT_INFO, 102, "instance started (logs in %s, generation %u)", inst->p.log_path,
	    inst->log.cur_gen);
	return JET_errSuccess;
err:
	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++)
		if (inst->dbs[i] != NULL) {
			cache_drop_db(inst->dbs[i]);
			dbfile_free(inst->dbs[i]);
			inst->dbs[i] = NULL;
		}
	log_close(&inst->log);
	olock_destroy(&inst->log.lock);
	pthread_cond_destroy(&inst->log.cond);
	cache_destroy(&inst->cache);
	event_log(inst, EVENT_ERROR, 103, "instance failed to start: %s (%s, %ld)", JetErrorString(err),
	    JetErrorName(err), err);
	return err;
}

JET_ERR JET_API
JetInit2(JET_INSTANCE *pinstance, JET_GRBIT grbit)
{
	struct jet_inst *inst;
	JET_INSTANCE handle;
	JET_ERR err;

	pthread_mutex_lock(&registry_lock);
	if (pinstance == NULL || *pinstance == 0 || *pinstance == JET_instanceNil) {
		/* ESE's legacy mode: one implicit instance. */
		for (size_t i = 0; i < INSTANCES_MAX; i++)
			if (instances[i] != NULL && instances[i] != legacy_inst) {
				pthread_mutex_unlock(&registry_lock);
				return JET_errRunningInMultiInstanceMode;
			}
		if (legacy_inst == NULL) {
			if ((err = inst_new("", "legacy", &legacy_handle, &legacy_inst)) < 0) {
				pthread_mutex_unlock(&registry_lock);
				return err;
			}
			legacy_inst->legacy = 1;
		}
		inst = legacy_inst;
		handle = legacy_handle;
	} else if ((inst = handle_get(HANDLE_INSTANCE, *pinstance)) == NULL) {
		pthread_mutex_unlock(&registry_lock);
		return JET_errInvalidInstance;
	} else
		handle = *pinstance;
	pthread_mutex_unlock(&registry_lock);
	err = inst_init(inst, grbit);
	if (err < 0 && inst->legacy && !inst->initialized) {
		inst_free(inst, handle);
		return err;
	}
	if (err >= 0 && pinstance != NULL)
		*pinstance = handle;
	return err;
}

JET_ERR JET_API
JetInit(JET_INSTANCE *pinstance)
{
	return JetInit2(pinstance, 0);
}

/* The instance the non-Instance API forms (JetBackup, ...) act on. */
JET_ERR
instance_legacy(JET_INSTANCE *handlep)
{
	JET_ERR err = JET_errSuccess;

	pthread_mutex_lock(&registry_lock);
	if (legacy_inst != NULL)
		*handlep = legacy_handle;
	else {
		err = JET_errInvalidParameter;
		for (size_t i = 0; i < INSTANCES_MAX; i++)
			if (instances[i] != NULL)
				err = JET_errRunningInMultiInstanceMode;
	}
	pthread_mutex_unlock(&registry_lock);
	return err;
}

/* Marks each database clean after a full flush (clean shutdown). */
static JET_ERR
inst_close_dbs(struct jet_inst *inst, int clean)
{
	JET_ERR err = JET_errSuccess;

	for (uint32_t i = 1; i <= JET_MAX_ATTACHED_DATABASES; i++) {
		struct jet_db *db = inst->dbs[i];
		if (db == NULL)
			continue;
		if (clean && err >= 0) {
			uint32_t pgno_last = 0;
			err = space_pgno_last(db, &pgno_last);
			pthread_mutex_lock(&db->hdr_lock);
			db->hdr.pgno_last = pgno_last;
			db->hdr.dbstate = JET_dbstateCleanShutdown;
			db->hdr.dbtime = db->dbtime;
			db->hdr.lsn_consistent = inst->log.append_lsn;
			db->hdr.gen_consistent = inst->log.cur_gen;
			db->hdr.time_consistent = dbhdr_time_now_us();
			err = dbhdr_write(db->file, &db->hdr);
			pthread_mutex_unlock(&db->hdr_lock);
		}
		cache_drop_db(db);
		dbfile_free(db);
		inst->dbs[i] = NULL;
	}
	return err;
}

JET_ERR JET_API
JetTerm2(JET_INSTANCE instance, JET_GRBIT grbit)
{
	struct jet_inst *inst = handle_get(HANDLE_INSTANCE, instance);
	int abrupt = (grbit & JET_bitTermAbrupt) != 0;
	JET_ERR err = JET_errSuccess;

	if (instance == 0 || instance == JET_instanceNil) {
		if (instance_legacy(&instance) < 0)
			return JET_errInvalidParameter;
		inst = handle_get(HANDLE_INSTANCE, instance);
	}
	if (inst == NULL)
		return JET_errInvalidParameter;
	if (grbit & ~(JET_bitTermComplete | JET_bitTermAbrupt | JET_bitTermStopBackup))
		return JET_errInvalidGrbit;
	if (inst->initialized && backup_running(inst) && !(grbit & (JET_bitTermStopBackup | JET_bitTermAbrupt)))
		return JET_errBackupInProgress;
	olock_lock(&inst->inst_lock);
	if (inst->term_in_progress) {
		olock_unlock(&inst->inst_lock);
		return JET_errTermInProgress;
	}
	inst->term_in_progress = 1;
	inst->backup_allowed = 0;
	olock_unlock(&inst->inst_lock);
	if (!inst->initialized) {
		bksvc_stop(inst);
		inst_free(inst, instance);
		return JET_errSuccess;
	}
	/* Open transactions end first: a client's point-in-time Begin may wait for one. */
	session_end_all(inst);
	bksvc_stop(inst);
	backup_term(inst);
	inst_bg_stop(inst);
	if (!abrupt && inst->unavailable == JET_errSuccess) {
		err = log_flush_to(&inst->log, inst->log.append_lsn);
		if (err >= 0)
			err = checkpoint_run(inst, 1);
		if (err < 0)
			event_log(inst, EVENT_ERROR, 104, "clean shutdown failed (%s): the next start will recover",
			    JetErrorString(err));
	}
	{
		JET_ERR cerr = inst_close_dbs(inst, !abrupt && err >= 0 && inst->unavailable == JET_errSuccess);
		if (err >= 0)
			err = cerr;
	}
	event_log(inst, EVENT_INFO, 103, "instance stopped%s", abrupt ? " abruptly (the next start recovers)" : "");
	log_close(&inst->log);
	olock_destroy(&inst->log.lock);
	pthread_cond_destroy(&inst->log.cond);
	cache_destroy(&inst->cache);
	inst_free(inst, instance);
	return err;
}

JET_ERR JET_API
JetTerm(JET_INSTANCE instance)
{
	return JetTerm2(instance, JET_bitTermComplete);
}
