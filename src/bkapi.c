/*
 * bkapi.c -- the public external-backup calls (JetBeginExternalBackup ...
 * JetStopBackup, JetfsReadFileAt).  The handle chooses the implementation
 * once per call: an instance of this process runs backup.c's backup_ops, a
 * handle from JetfsConnectBackup runs bkclient.c's bkclient_ops, which
 * forwards the call to the backup service of another process.  So backup.c
 * never sees a remote handle, and bkclient.c never sees a local one.
 *
 * Argument checks that need no instance are made here, before the handle is
 * resolved, in the order ESE makes them; the rest belong to the operation
 * (the service's local call makes them for a remote handle).
 */
#include "config.h"

#include "jet_int.h"

/* Chooses the operations for a handle; 0 or JET_instanceNil is the JetInit(NULL) instance. */
static JET_ERR
bkapi_enter(JET_INSTANCE instance, const struct bkapi_ops **opsp, void **objp)
{
	struct bkconn *c = bkclient_acquire(instance);
	struct jet_inst *inst;

	if (c != NULL) {
		*opsp = &bkclient_ops;
		*objp = c;
		return JET_errSuccess;
	}
	if (instance == 0 || instance == JET_instanceNil)
		RET(instance_legacy(&instance));
	RET(instance_enter(instance, &inst));
	*opsp = &backup_ops;
	*objp = inst;
	return JET_errSuccess;
}

static JET_ERR
bkapi_leave(const struct bkapi_ops *ops, void *obj, JET_ERR err)
{
	if (ops->leave != NULL)
		ops->leave(obj);
	return err;
}

/* The instance of this process a handle names, or NULL for a remote one (JetBackupInstance). */
JET_ERR
bkapi_local(JET_INSTANCE instance, struct jet_inst **instp)
{
	const struct bkapi_ops *ops;
	void *obj;

	*instp = NULL;
	RET(bkapi_enter(instance, &ops, &obj));
	if (ops == &backup_ops)
		*instp = obj;
	return bkapi_leave(ops, obj, JET_errSuccess);
}

/* One operation of the handle's table; call names the operation and its arguments, obj first. */
#define BKAPI_CALL(instance, call) do { \
	const struct bkapi_ops *ops; \
	void *obj; \
	RET(bkapi_enter((instance), &ops, &obj)); \
	return bkapi_leave(ops, obj, ops->call); \
} while (0)

JET_ERR JET_API
JetBeginExternalBackupInstance(JET_INSTANCE instance, JET_GRBIT grbit)
{
	BKAPI_CALL(instance, begin(obj, grbit));
}

JET_ERR JET_API
JetBeginExternalBackup(JET_GRBIT grbit)
{
	return JetBeginExternalBackupInstance(0, grbit);
}

JET_ERR JET_API
JetGetAttachInfoInstance(JET_INSTANCE instance, JET_PSTR szzDatabases, unsigned long cbMax, unsigned long *pcbActual)
{
	BKAPI_CALL(instance, get_attach_info(obj, szzDatabases, cbMax, pcbActual));
}

JET_ERR JET_API
JetGetAttachInfo(JET_PSTR szzDatabases, unsigned long cbMax, unsigned long *pcbActual)
{
	return JetGetAttachInfoInstance(0, szzDatabases, cbMax, pcbActual);
}

JET_ERR JET_API
JetGetLogInfoInstance2(JET_INSTANCE instance, JET_PSTR szzLogs, unsigned long cbMax, unsigned long *pcbActual,
    JET_LOGINFO *pLogInfo)
{
	if (pLogInfo != NULL && pLogInfo->cbSize < sizeof(*pLogInfo))
		return JET_errInvalidParameter;
	BKAPI_CALL(instance, get_log_info(obj, szzLogs, cbMax, pcbActual, pLogInfo));
}

JET_ERR JET_API
JetGetLogInfoInstance(JET_INSTANCE instance, JET_PSTR szzLogs, unsigned long cbMax, unsigned long *pcbActual)
{
	return JetGetLogInfoInstance2(instance, szzLogs, cbMax, pcbActual, NULL);
}

JET_ERR JET_API
JetGetLogInfo(JET_PSTR szzLogs, unsigned long cbMax, unsigned long *pcbActual)
{
	return JetGetLogInfoInstance2(0, szzLogs, cbMax, pcbActual, NULL);
}

JET_ERR JET_API
JetGetTruncateLogInfoInstance(JET_INSTANCE instance, JET_PSTR szzLogs, unsigned long cbMax, unsigned long *pcbActual)
{
	BKAPI_CALL(instance, get_truncate_log_info(obj, szzLogs, cbMax, pcbActual));
}

JET_ERR JET_API
JetOpenFileInstance(JET_INSTANCE instance, JET_PCSTR szFileName, JET_HANDLE *phfFile, unsigned long *pulFileSizeLow,
    unsigned long *pulFileSizeHigh)
{
	BKAPI_CALL(instance, open_file(obj, szFileName, phfFile, pulFileSizeLow, pulFileSizeHigh));
}

JET_ERR JET_API
JetOpenFile(JET_PCSTR szFileName, JET_HANDLE *phfFile, unsigned long *pulFileSizeLow, unsigned long *pulFileSizeHigh)
{
	return JetOpenFileInstance(0, szFileName, phfFile, pulFileSizeLow, pulFileSizeHigh);
}

JET_ERR JET_API
JetReadFileInstance(JET_INSTANCE instance, JET_HANDLE hfFile, void *pv, unsigned long cb, unsigned long *pcbActual)
{
	BKAPI_CALL(instance, read_file(obj, hfFile, pv, cb, pcbActual));
}

JET_ERR JET_API
JetReadFile(JET_HANDLE hfFile, void *pv, unsigned long cb, unsigned long *pcbActual)
{
	return JetReadFileInstance(0, hfFile, pv, cb, pcbActual);
}

JET_ERR JET_API
JetfsReadFileAt(JET_INSTANCE instance, JET_HANDLE hfFile, unsigned long long ib, void *pv, unsigned long cb,
    unsigned long *pcbActual)
{
	BKAPI_CALL(instance, read_file_at(obj, hfFile, ib, pv, cb, pcbActual));
}

JET_ERR JET_API
JetCloseFileInstance(JET_INSTANCE instance, JET_HANDLE hfFile)
{
	BKAPI_CALL(instance, close_file(obj, hfFile));
}

JET_ERR JET_API
JetCloseFile(JET_HANDLE hfFile)
{
	return JetCloseFileInstance(0, hfFile);
}

JET_ERR JET_API
JetTruncateLogInstance(JET_INSTANCE instance)
{
	BKAPI_CALL(instance, truncate_log(obj));
}

JET_ERR JET_API
JetTruncateLog(void)
{
	return JetTruncateLogInstance(0);
}

JET_ERR JET_API
JetEndExternalBackupInstance2(JET_INSTANCE instance, JET_GRBIT grbit)
{
	JET_GRBIT mode = grbit & (JET_bitBackupEndNormal | JET_bitBackupEndAbort);

	if (mode != JET_bitBackupEndNormal && mode != JET_bitBackupEndAbort)
		return JET_errInvalidParameter;
	if (grbit & ~(JET_bitBackupEndNormal | JET_bitBackupEndAbort | JET_bitBackupTruncateDone))
		return JET_errInvalidGrbit;
	BKAPI_CALL(instance, end(obj, grbit));
}

JET_ERR JET_API
JetEndExternalBackupInstance(JET_INSTANCE instance)
{
	return JetEndExternalBackupInstance2(instance, JET_bitBackupEndNormal);
}

JET_ERR JET_API
JetEndExternalBackup(void)
{
	return JetEndExternalBackupInstance2(0, JET_bitBackupEndNormal);
}

JET_ERR JET_API
JetStopBackupInstance(JET_INSTANCE instance)
{
	BKAPI_CALL(instance, stop(obj));
}

JET_ERR JET_API
JetStopBackup(void)
{
	return JetStopBackupInstance(0);
}

JET_ERR JET_API
JetfsGetBackupInfo(JET_INSTANCE instance, JETFS_BACKUPINFO *pinfo)
{
	if (pinfo == NULL || pinfo->cbStruct != sizeof(*pinfo))
		return JET_errInvalidParameter;
	BKAPI_CALL(instance, get_info(obj, pinfo));
}

JET_ERR JET_API
JetfsTakeOverBackup(JET_INSTANCE instance, unsigned long long ullId)
{
	BKAPI_CALL(instance, take_over(obj, ullId));
}

JET_ERR JET_API
JetfsBackupClientArea(JET_INSTANCE instance, unsigned long long cb, int *pfd, unsigned long long *pcbActual)
{
	if (pfd == NULL)
		return JET_errInvalidParameter;
	*pfd = -1;
	BKAPI_CALL(instance, client_area(obj, cb, pfd, pcbActual));
}

JET_ERR JET_API
JetfsNoteServed(JET_INSTANCE instance, JET_HANDLE hfFile, unsigned long long ib, unsigned long long cb)
{
	BKAPI_CALL(instance, note_served(obj, hfFile, ib, cb));
}
