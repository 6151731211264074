/**
 * @file jet.h
 * @brief libjet: an ESE-style embedded transactional engine, and ESE's backup API.
 *
 * @mainpage libjet
 *
 * libjet is an embedded, crash-safe, transactional key/value engine that
 * speaks Microsoft ESE's ("JET Blue", esent.h) API: the same function names,
 * signatures, error codes, system parameters and grbits, so that ESE client
 * code compiles unchanged against this header.  It exists so that jetfs has a
 * live ESE-style instance on Linux to back up.
 *
 * @section concepts Concepts
 * - An @b instance (JET_INSTANCE) owns one log set: a checkpoint file
 *   `<base>.chk` in JET_paramSystemPath, the current log `<base>.log` and
 *   closed generations `<base>XXXXX.log` (upper-case hex, 5 digits, 8 past
 *   0xFFFFF) in JET_paramLogFilePath.  The base name is JET_paramBaseName
 *   ("edb" by default).
 * - Up to JET_MAX_ATTACHED_DATABASES @b databases are attached to an
 *   instance.  A database file is a header page and its shadow copy, then
 *   fixed-size pages (JET_paramDatabasePageSize, 8 KiB by default), each with
 *   a CRC-32C checksum, its own page number and the dbtime of its last change.
 * - A @b session (JET_SESID) runs transactions.  Sessions may be used from
 *   several threads at once, one thread per session at a time
 *   (JET_errSessionSharingViolation otherwise).
 * - @b Tables hold records of two columns: a binary key (the primary index,
 *   1 to JET_cbKeyMost bytes) and a long-binary value of any length
 *   (#JET_columnidKey, #JET_columnidValue).
 *
 * @section txn Transactions and isolation
 * Transactions nest up to 7 levels.  They are serializable: a session that
 * touches data inside a transaction holds the instance's write lock until its
 * outermost commit or rollback, and a call outside a transaction holds it for
 * the call.  (ESE uses snapshot isolation with a version store; libjet
 * serializes instead, like LMDB's single writer, so JET_errWriteConflict never
 * happens.  A session that begins a transaction and then idles blocks others.)
 * JetCommitTransaction is durable when it returns unless JET_bitCommitLazyFlush
 * is given; concurrent commits share one log flush (group commit).  To share
 * flushes, a commit releases the write lock before its flush ends, so another
 * session may read a change a moment before it is durable;
 * JetCommitTransaction(JET_bitWaitAllLevel0Commit) outside a transaction
 * waits until everything committed so far is durable.
 *
 * @section recovery Logging and recovery
 * Every change is written ahead to the log; JetInit replays the log from the
 * checkpoint (soft recovery), so a crash at any point loses no committed
 * transaction and leaves no trace of an uncommitted one.  The first change to
 * a page after it was last written to disk is logged as a full page image, so
 * a torn page write is always repaired by redo.
 *
 * @section errors Errors
 * Every function returns a JET_ERR: JET_errSuccess (0), a warning (> 0) or
 * an error (< 0), with ESE's numeric values.  JetErrorString() (a jetfs
 * extension) turns one into text.  Events (start, recovery, log roll failure,
 * corruption found, backups) go to syslog under the tag "libjet", or to
 * stderr, or nowhere: see #JET_paramJetfsEventTarget.
 *
 * @section abi Types and ABI
 * JET_ERR, JET_GRBIT and friends are `long` / `unsigned long` as in esent.h,
 * so ESE client code compiles unchanged.  On LP64 Linux `long` is 64 bits
 * (32 on Windows): values are the same, but the binary layout of structures
 * holding them is not Windows'.  Strings are char (the ESE "A" variants).
 */
#ifndef JET_H
#define JET_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JET_API
#define JET_VERSION 0x0A00

/** @defgroup types Types
 * @{ */
typedef long JET_ERR;
typedef unsigned long long JET_API_PTR;
typedef JET_API_PTR JET_INSTANCE;	/**< an instance handle */
typedef JET_API_PTR JET_SESID;		/**< a session handle */
typedef JET_API_PTR JET_TABLEID;	/**< a cursor on a table */
typedef JET_API_PTR JET_HANDLE;		/**< a backup file handle */
typedef unsigned long JET_DBID;		/**< a database opened by a session */
typedef unsigned long JET_COLUMNID;
typedef unsigned long JET_GRBIT;
typedef unsigned long JET_SNP;
typedef unsigned long JET_SNT;
typedef const char *JET_PCSTR;
typedef char *JET_PSTR;

typedef JET_ERR (JET_API *JET_PFNSTATUS)(JET_SESID sesid, JET_SNP snp, JET_SNT snt, void *pv);

/** Progress of a long operation (JET_sntProgress). */
typedef struct {
	unsigned long cbStruct;
	unsigned long cunitDone;
	unsigned long cunitTotal;
} JET_SNPROG;

typedef struct {
	unsigned long cbStruct;
	unsigned long ibLongValue;
	unsigned long itagSequence;
} JET_SETINFO;

typedef struct {
	unsigned long cbStruct;
	unsigned long ibLongValue;
	unsigned long itagSequence;
	JET_COLUMNID columnidNextTagged;
} JET_RETINFO;

#pragma pack(push, 1)
/** A time in the log, as ESE stores it: year is years since 1900. */
typedef struct {
	char bSeconds, bMinutes, bHours, bDay, bMonth, bYear;
	char fTimeIsUTC;
	char bMillisecondsHigh;
} JET_LOGTIME;

/** A position in the log: generation, sector and byte in the sector. */
typedef struct {
	unsigned short ib;
	unsigned short isec;
	long lGeneration;
} JET_LGPOS;

/** Ties a database to its log set: random number, creation time, host. */
typedef struct {
	unsigned long ulRandom;
	JET_LOGTIME logtimeCreate;
	char szComputerName[16];
} JET_SIGNATURE;

/** One backup recorded in a database header. */
typedef struct {
	JET_LGPOS lgposMark;
	JET_LOGTIME logtimeMark;
	unsigned long genLow;
	unsigned long genHigh;
} JET_BKINFO;
#pragma pack(pop)

#define JET_BASE_NAME_LENGTH 3
/** The log range of an external backup (JetGetLogInfoInstance2). */
typedef struct {
	unsigned long cbSize;
	unsigned long ulGenLow;
	unsigned long ulGenHigh;
	char szBaseName[JET_BASE_NAME_LENGTH + 1];
} JET_LOGINFO;

/** Relocation of a database during restore. */
typedef struct {
	char *szDatabaseName;
	char *szNewDatabaseName;
} JET_RSTMAP;

/* esent.h's names for the char ("A") forms. */
typedef JET_LOGINFO JET_LOGINFO_A;
typedef JET_RSTMAP JET_RSTMAP_A;

/** Database header summary (JetGetDatabaseFileInfo, JET_DbInfoMisc). */
typedef struct {
	unsigned long ulVersion;
	unsigned long ulUpdate;
	JET_SIGNATURE signDb;
	unsigned long dbstate;
	JET_LGPOS lgposConsistent;
	JET_LOGTIME logtimeConsistent;
	JET_LGPOS lgposAttach;
	JET_LOGTIME logtimeAttach;
	JET_LGPOS lgposDetach;
	JET_LOGTIME logtimeDetach;
	JET_SIGNATURE signLog;
	JET_BKINFO bkinfoFullPrev;
	JET_BKINFO bkinfoIncPrev;
	JET_BKINFO bkinfoFullCur;
	unsigned long fShadowingDisabled;
	unsigned long fUpgradeDb;
	unsigned long dwMajorVersion;
	unsigned long dwMinorVersion;
	unsigned long dwBuildNumber;
	long lSPNumber;
	unsigned long cbPageSize;
} JET_DBINFOMISC;
/** @} */

/** @defgroup constants Constants
 * @{ */
#define JET_instanceNil ((JET_INSTANCE)~0ULL)
#define JET_sesidNil ((JET_SESID)~0ULL)
#define JET_tableidNil ((JET_TABLEID)~0ULL)
#define JET_dbidNil ((JET_DBID)0xFFFFFFFF)
#define JET_bitNil ((JET_GRBIT)0)
#define JET_cbKeyMost 255		/**< the longest key */
#define JET_cbNameMost 64		/**< the longest table name */
#define JET_cbFullNameMost 255
#define JET_MAX_ATTACHED_DATABASES 7	/**< per instance, as ESE's 7 user databases */

/** The two columns of every table (libjet's data model). */
#define JET_columnidKey ((JET_COLUMNID)1)	/**< the key, the primary index */
#define JET_columnidValue ((JET_COLUMNID)2)	/**< the value, long binary */

/* Column types (only these two are used by libjet's tables). */
#define JET_coltypBinary 9
#define JET_coltypLongBinary 11

/* Database states (JET_DBINFOMISC.dbstate). */
#define JET_dbstateJustCreated 1
#define JET_dbstateDirtyShutdown 2
#define JET_dbstateCleanShutdown 3
#define JET_dbstateBeingConverted 4
#define JET_dbstateForceDetach 5

/* File types as recorded in headers. */
#define JET_filetypeUnknown 0
#define JET_filetypeDatabase 1
#define JET_filetypeStreamingFile 2
#define JET_filetypeLog 3
#define JET_filetypeCheckpoint 4
#define JET_filetypeTempDatabase 5
#define JET_filetypeFlushMap 7

/* Status callback processes and types. */
#define JET_snpRepair 2
#define JET_snpCompact 4
#define JET_snpRestore 8
#define JET_snpBackup 9
#define JET_snpUpgrade 10
#define JET_snpScrub 11
#define JET_sntProgress 0
#define JET_sntFail 3
#define JET_sntBegin 5
#define JET_sntComplete 6
#define JET_sntRequirements 7
/** @} */

/** @defgroup grbits Grbits
 * @{ */
/* JetInit2 */
#define JET_bitReplayIgnoreMissingDB 0x00000004
#define JET_bitRecoveryWithoutUndo 0x00000008
#define JET_bitTruncateLogsAfterRecovery 0x00000010
#define JET_bitReplayMissingMapEntryDB 0x00000020
#define JET_bitLogStreamMustExist 0x00000040
#define JET_bitAllowSoftRecoveryOnBackup 0x00000200
/* JetTerm2 */
#define JET_bitTermComplete 0x00000001
#define JET_bitTermAbrupt 0x00000002
#define JET_bitTermStopBackup 0x00000004
/* JetCreateDatabase, JetAttachDatabase, JetOpenDatabase */
#define JET_bitDbReadOnly 0x00000001
#define JET_bitDbExclusive 0x00000002
#define JET_bitDbDeleteCorruptIndexes 0x00000010
#define JET_bitDbRecoveryOff 0x00000008
#define JET_bitDbOverwriteExisting 0x00000200
/* JetCommitTransaction */
#define JET_bitCommitLazyFlush 0x00000001
#define JET_bitWaitLastLevel0Commit 0x00000002
#define JET_bitWaitAllLevel0Commit 0x00000008
/* JetRollback */
#define JET_bitRollbackAll 0x00000001
/* JetOpenTable */
#define JET_bitTableDenyWrite 0x00000001
#define JET_bitTableDenyRead 0x00000002
#define JET_bitTableReadOnly 0x00000004
#define JET_bitTableUpdatable 0x00000008
/* JetPrepareUpdate */
#define JET_prepInsert 0
#define JET_prepReplace 2
#define JET_prepCancel 3
#define JET_prepReplaceNoLock 4
/* JetSetColumn */
#define JET_bitSetAppendLV 0x00000001
#define JET_bitSetOverwriteLV 0x00000004
#define JET_bitSetSizeLV 0x00000008
#define JET_bitSetZeroLength 0x00000020
/* JetMakeKey */
#define JET_bitNewKey 0x00000001
#define JET_bitNormalizedKey 0x00000008
#define JET_bitKeyDataZeroLength 0x00000010
/* JetSeek */
#define JET_bitSeekEQ 0x00000001
#define JET_bitSeekLT 0x00000002
#define JET_bitSeekLE 0x00000004
#define JET_bitSeekGE 0x00000008
#define JET_bitSeekGT 0x00000010
#define JET_bitSetIndexRange 0x00000020
/* JetMove */
#define JET_MoveFirst (0x80000000L)
#define JET_MoveNext (1L)
#define JET_MovePrevious (-1L)
#define JET_MoveLast (0x7fffffffL)
/* JetRetrieveColumn */
#define JET_bitRetrieveCopy 0x00000001
/* Backup (see the backup section) */
#define JET_bitBackupIncremental 0x00000001
#define JET_bitBackupAtomic 0x00000004
#define JET_bitBackupSnapshot 0x00000010
#define JET_bitBackupJetfsPointInTime 0x00010000	/**< jetfs extension: see JetBeginExternalBackupInstance */
#define JET_bitBackupJetfsDelta 0x00020000	/**< jetfs extension: a page delta (with JET_bitBackupJetfsPointInTime): see JetBeginExternalBackupInstance */
#define JET_bitBackupEndNormal 0x0001
#define JET_bitBackupEndAbort 0x0002
#define JET_bitBackupTruncateDone 0x0100
/** @} */

/** @defgroup params System parameters (JetSetSystemParameter)
 * Values are ESE's.  Integer parameters travel in lParam, strings in szParam.
 *
 * Paths.  JET_paramSystemPath, JET_paramLogFilePath and
 * JET_paramJetfsBackupSocket, database names (JetCreateDatabase,
 * JetAttachDatabase, JetOpenDatabase, JetDetachDatabase, JetOpenFile), backup
 * directories and restore targets may be written in any form the kernel
 * accepts: with a trailing '/', "//", "." or ".." components, relative, or
 * through symlinks.  libjet keeps one canonical form and compares only that:
 * absolute (a relative path is taken against the current directory at the
 * call that takes it, so a later chdir moves nothing; the default "." at
 * JetInit), without "//", "." or "..", without a trailing '/', and with the
 * part that exists resolved through symlinks; JetGetSystemParameter, the
 * names JetGetAttachInfo and JetGetLogInfo list and the paths recorded in
 * the log and in backups are that form.  A path is refused with
 * JET_errInvalidPath by the call that takes it, never later: longer than
 * PATH_MAX (or than the parameter holds: 1023 bytes, 107 for the socket), or
 * through a regular file, by JetSetSystemParameter or the database call;
 * a directory that does not exist, or a file where a directory is expected,
 * by JetInit (system and log path, the socket's directory) and
 * JetCreateDatabase (a database's directory) -- unless
 * JET_paramCreatePathIfNotExist is 1, which creates the missing directories
 * (mode 0700, so a socket's directory the engine makes is private to the
 * user; an existing one is used as it is).
 * @{ */
#define JET_paramSystemPath 0		/**< string: directory of the checkpoint file (default ".") */
#define JET_paramTempPath 1		/**< string: accepted, unused (no temporary databases) */
#define JET_paramLogFilePath 2		/**< string: directory of the log files (default ".") */
#define JET_paramBaseName 3		/**< string: exactly 3 characters (default "edb") */
#define JET_paramEventSource 4		/**< string: names the instance in events */
#define JET_paramMaxSessions 5		/**< integer: sessions per instance (default 128) */
#define JET_paramMaxOpenTables 6	/**< integer: open cursors per instance (default 1024) */
#define JET_paramLogFileSize 11		/**< integer: KiB per log generation, 64..32768 (default 5120) */
#define JET_paramLogBuffers 12		/**< integer: log buffer in 512-byte sectors (default 2048) */
#define JET_paramCircularLog 17		/**< integer: 1 deletes logs older than the checkpoint */
#define JET_paramDbExtensionSize 18	/**< integer: pages a database grows by (default 256) */
#define JET_paramCacheSizeMax 23	/**< integer: buffer cache, in pages (default 1024) */
#define JET_paramCheckpointDepthMax 24	/**< integer: bytes of log behind the checkpoint before pages are flushed (default 20 MiB) */
#define JET_paramRecovery 34		/**< string "On"/"Off": "Off" disables logging (no recovery, no backup) */
#define JET_paramNoInformationEvent 50	/**< integer: 1 suppresses informational events */
#define JET_paramDatabasePageSize 64	/**< integer: 4096, 8192, 16384 or 32768 (default 8192); set before the first JetInit */
#define JET_paramCreatePathIfNotExist 100 /**< integer: 1 creates missing directories (system, log, database, socket, backup: see Paths) */
#define JET_paramMaxInstances 104	/**< integer: instances per process (default 16) */
#define JET_paramLegacyFileNames 136	/**< integer: JET_bitESE98FileNames|JET_bitEightDotThreeSoftCompat (fixed) */
#define JET_bitESE98FileNames 0x00000001
#define JET_bitEightDotThreeSoftCompat 0x00000002

/** jetfs extension: where events go: 0 syslog (default), 1 stderr, 2 nowhere. */
#define JET_paramJetfsEventTarget 0x4A01
#define JET_JetfsEventSyslog 0
#define JET_JetfsEventStderr 1
#define JET_JetfsEventNone 2
/** jetfs extension: string, a Unix socket path on which the instance serves
 * the external-backup API (see doc/protocol.md).  Empty: no service. */
#define JET_paramJetfsBackupSocket 0x4A02
/** jetfs extension: integer, seconds (0..604800, default 600).  A
 * point-in-time backup whose backup-service client vanished without ending
 * it (killed, out of memory, a lost connection) is held that long, with its
 * kept pages and its logs, for a new client of the same uid to take over
 * (JetfsTakeOverBackup, `jetfs -o resume`); then it is aborted (event 712).
 * 0: aborted at once, as ESE would.  JetTerm, JetStopBackup and a new
 * JetBeginExternalBackup keep their meaning while a backup is held: it is
 * stopped, ended, or still running (JET_errBackupInProgress). */
#define JET_paramJetfsBackupHoldTime 0x4A03
/** jetfs extension: integer, MiB (0..2^40, default 0: no cap).  The kept
 * Begin images of a point-in-time backup, all databases together, may take
 * this much; the page write that would pass it keeps no image and the
 * backup is aborted instead within a tick of the instance's background
 * thread (10 ms), whether or not its client calls (event 230, and
 * JetfsGetBackupInfo's szLastEnd say why; its client's later calls get
 * JET_errBackupAbortByServer): the application never gets an error because
 * a backup runs.  Settable at any time. */
#define JET_paramJetfsBackupKeptMax 0x4A04
/** jetfs extension: integer, MiB (0..2^40, default 64).  When the file
 * system holding the kept images (beside the database) or the logs has less
 * free space than this, the running backup is aborted (event 231) before
 * the application could see a full disk.  Checked before each kept image,
 * and for the logs every tick of the instance's background thread (10 ms)
 * and at every backup call, for a backup that holds logs (point-in-time, or
 * any under circular logging).  0: no floor.  Settable at any time. */
#define JET_paramJetfsBackupFreeFloor 0x4A05
/** @} */

#include "jet_err.h"

/** @defgroup api Functions
 * Unless a function says otherwise, it can also fail with
 * JET_errInvalidParameter (a NULL output pointer, a bad handle),
 * JET_errOutOfMemory, JET_errNotInitialized (the instance is not
 * initialized), JET_errTermInProgress, JET_errInstanceUnavailable (a fatal
 * I/O error took the instance down) and JET_errSessionSharingViolation.
 * @{ */

/** Turns a JET_ERR into a short English text (jetfs extension; never NULL). */
const char *JetErrorString(JET_ERR err);
/** The symbolic name of a JET_ERR, e.g. "JET_errDiskIO" (jetfs extension; never NULL). */
const char *JetErrorName(JET_ERR err);

/**
 * Creates an instance.  The instance must be given its system parameters and
 * then JetInit.
 * @param pinstance receives the handle.
 * @param szInstanceName a unique name, or NULL.
 * @return JET_errInstanceNameInUse (another instance has that name),
 *   JET_errTooManyInstances, JET_errRunningInOneInstanceMode (JetInit was
 *   already called with no instance: legacy mode).
 */
JET_ERR JET_API JetCreateInstance(JET_INSTANCE *pinstance, const char *szInstanceName);
/** JetCreateInstance with a display name (used in events); grbit must be 0. */
JET_ERR JET_API JetCreateInstance2(JET_INSTANCE *pinstance, const char *szInstanceName,
	const char *szDisplayName, JET_GRBIT grbit);

/**
 * Sets a system parameter of an instance (pinstance non-NULL), or the
 * default for instances created later (pinstance NULL, or pointing to
 * JET_instanceNil / 0 before legacy-mode JetInit).
 * Path parameters are stored canonical (see Paths under System parameters).
 * @return JET_errInvalidParameter (unknown id, value out of range, a base
 *   name that is not 3 characters), JET_errInvalidPath (an empty system or
 *   log path, a path too long or through a regular file),
 *   JET_errAlreadyInitialized (a parameter that cannot change after
 *   JetInit), JET_errInvalidInstance.
 */
JET_ERR JET_API JetSetSystemParameter(JET_INSTANCE *pinstance, JET_SESID sesid,
	unsigned long paramid, JET_API_PTR lParam, JET_PCSTR szParam);
/**
 * Reads a system parameter: integers into *plParam, strings into szParam
 * (cbMax bytes, NUL-terminated).
 * @return JET_errBufferTooSmall (the string does not fit),
 *   JET_errInvalidParameter (unknown id).
 */
JET_ERR JET_API JetGetSystemParameter(JET_INSTANCE instance, JET_SESID sesid,
	unsigned long paramid, JET_API_PTR *plParam, JET_PSTR szParam, unsigned long cbMax);

/**
 * Initializes an instance: opens or creates the log set and the checkpoint,
 * runs crash recovery (replays the log from the checkpoint into every
 * database that was attached) and starts a new log generation.
 * With pinstance NULL or pointing to 0, runs in ESE's legacy one-instance
 * mode (the non-Instance backup functions then apply to it).
 * @return JET_errRunningInMultiInstanceMode (legacy mode while instances
 *   exist), JET_errAlreadyInitialized, JET_errInvalidPath (a path does not
 *   exist and JET_paramCreatePathIfNotExist is off, or is a file; or the
 *   backup socket's directory does not),
 *   JET_errCheckpointCorrupt, JET_errBadCheckpointSignature,
 *   JET_errLogFileCorrupt, JET_errBadLogVersion, JET_errBadLogSignature
 *   (a log from another log set), JET_errMissingLogFile (a generation
 *   recovery needs is gone), JET_errInvalidLogSequence (generations that do
 *   not follow each other), JET_errDatabaseCorrupted,
 *   JET_errBadDbSignature, JET_errAttachedDatabaseMismatch (a database
 *   recovery needs is missing), JET_errSoftRecoveryOnBackupDatabase (a
 *   restored database that was not hard-recovered), JET_errDiskIO,
 *   JET_errDiskFull.  On failure nothing that was good is overwritten.
 */
JET_ERR JET_API JetInit(JET_INSTANCE *pinstance);
/** JetInit with grbits: JET_bitAllowSoftRecoveryOnBackup,
 * JET_bitTruncateLogsAfterRecovery (others are JET_errInvalidGrbit). */
JET_ERR JET_API JetInit2(JET_INSTANCE *pinstance, JET_GRBIT grbit);

/**
 * Shuts an instance down cleanly: ends sessions' transactions (rolled
 * back), flushes every page, marks the databases clean and frees the
 * instance.
 * @return JET_errBackupInProgress (a backup runs: end it, or use JetTerm2
 *   with JET_bitTermStopBackup or JET_bitTermAbrupt).
 */
JET_ERR JET_API JetTerm(JET_INSTANCE instance);
/** JetTerm with JET_bitTermComplete, JET_bitTermAbrupt (no final flush:
 * the next JetInit recovers) or JET_bitTermStopBackup (ends a running
 * backup as aborted by the server). */
JET_ERR JET_API JetTerm2(JET_INSTANCE instance, JET_GRBIT grbit);

/**
 * Begins a session.  szUserName and szPassword are ignored.
 * @return JET_errOutOfSessions (JET_paramMaxSessions reached).
 */
JET_ERR JET_API JetBeginSession(JET_INSTANCE instance, JET_SESID *psesid,
	JET_PCSTR szUserName, JET_PCSTR szPassword);
/** Ends a session; an open transaction is rolled back, its cursors closed. */
JET_ERR JET_API JetEndSession(JET_SESID sesid, JET_GRBIT grbit);

/**
 * Creates a database file, attaches it to the instance and opens it for the
 * session.  szConnect must be NULL or "".  szFilename may be written in any
 * form (see Paths under System parameters); the database is known, logged
 * and backed up under its canonical name, so another spelling of the same
 * file finds it.  With JET_paramCreatePathIfNotExist its directory is
 * created if missing.
 * @return JET_errDatabaseDuplicate (already attached, under any name),
 *   JET_errFileAlreadyExists (the file exists; JET_bitDbOverwriteExisting
 *   replaces it), JET_errTooManyAttachedDatabases, JET_errInvalidPath (a
 *   name ending in '/', too long, through a regular file, or a directory
 *   that does not exist),
 *   JET_errInTransaction, JET_errDiskFull, JET_errDiskIO,
 *   JET_errLoggingDisabled is never returned: with JET_paramRecovery "Off"
 *   the database is simply not logged.
 */
JET_ERR JET_API JetCreateDatabase(JET_SESID sesid, JET_PCSTR szFilename, JET_PCSTR szConnect,
	JET_DBID *pdbid, JET_GRBIT grbit);
/**
 * Attaches an existing database file to the instance; szFilename as for
 * JetCreateDatabase (any spelling of the file; its directory is never created).
 * @return JET_wrnDatabaseAttached (already attached), JET_errFileNotFound,
 *   JET_errInvalidPath (as JetCreateDatabase),
 *   JET_errDatabaseCorrupted (not a database, or both header copies bad),
 *   JET_errDatabaseDirtyShutdown (the database needs recovery with its own
 *   logs), JET_errDatabaseLogSetMismatch, JET_errPageSizeMismatch,
 *   JET_errSoftRecoveryOnBackupDatabase (a backup copy not yet restored),
 *   JET_errTooManyAttachedDatabases, JET_errBackupInProgress.
 */
JET_ERR JET_API JetAttachDatabase(JET_SESID sesid, JET_PCSTR szFilename, JET_GRBIT grbit);
/**
 * Detaches a database: flushes it and marks it clean.  NULL detaches all.
 * @return JET_errDatabaseNotFound, JET_errDatabaseInUse (a session still
 *   has it open), JET_errBackupInProgress, JET_errInTransaction.
 */
JET_ERR JET_API JetDetachDatabase(JET_SESID sesid, JET_PCSTR szFilename);
/** Opens an attached database for the session.
 * @return JET_errDatabaseNotFound (not attached). */
JET_ERR JET_API JetOpenDatabase(JET_SESID sesid, JET_PCSTR szFilename, JET_PCSTR szConnect,
	JET_DBID *pdbid, JET_GRBIT grbit);
/** Closes a database opened by the session (its cursors must be closed).
 * @return JET_errInvalidDatabaseId, JET_errDatabaseInUse (cursors open). */
JET_ERR JET_API JetCloseDatabase(JET_SESID sesid, JET_DBID dbid, JET_GRBIT grbit);

/** Begins a (nested) transaction.
 * @return JET_errTransTooDeep (more than 7 levels). */
JET_ERR JET_API JetBeginTransaction(JET_SESID sesid);
/**
 * Commits the innermost transaction.  The outermost commit is durable when
 * this returns, unless JET_bitCommitLazyFlush (durable within about 10 ms,
 * or at the next durable commit).  JET_bitWaitLastLevel0Commit outside a
 * transaction waits until the session's last lazy commit is durable.
 * @return JET_errNotInTransaction, JET_errLogWriteFail (the log could not
 *   be written: the transaction is rolled back and the instance refuses
 *   further updates), JET_errDiskFull.
 */
JET_ERR JET_API JetCommitTransaction(JET_SESID sesid, JET_GRBIT grbit);
/** Rolls back the innermost transaction (all with JET_bitRollbackAll).
 * @return JET_errNotInTransaction. */
JET_ERR JET_API JetRollback(JET_SESID sesid, JET_GRBIT grbit);

/**
 * Creates a table (key + value columns) and opens a cursor on it.
 * lPages and lDensity are hints and are ignored (lDensity must be 0 or
 * 20..100).
 * @return JET_errTableDuplicate, JET_errInvalidName (empty, longer than
 *   JET_cbNameMost, or with control characters), JET_errDensityInvalid,
 *   JET_errInvalidDatabaseId, JET_errOutOfDatabaseSpace.
 */
JET_ERR JET_API JetCreateTable(JET_SESID sesid, JET_DBID dbid, JET_PCSTR szTableName,
	unsigned long lPages, unsigned long lDensity, JET_TABLEID *ptableid);
/** Opens a cursor on a table.  pvParameters must be NULL.
 * @return JET_errObjectNotFound, JET_errTooManyOpenTables. */
JET_ERR JET_API JetOpenTable(JET_SESID sesid, JET_DBID dbid, JET_PCSTR szTableName,
	const void *pvParameters, unsigned long cbParameters, JET_GRBIT grbit, JET_TABLEID *ptableid);
/** Closes a cursor (cancels a prepared update). */
JET_ERR JET_API JetCloseTable(JET_SESID sesid, JET_TABLEID tableid);
/** Deletes a table and frees its pages.
 * @return JET_errObjectNotFound, JET_errTableInUse (a cursor is open on it). */
JET_ERR JET_API JetDeleteTable(JET_SESID sesid, JET_DBID dbid, JET_PCSTR szTableName);

/**
 * Prepares an insert (JET_prepInsert) or a replace of the current record
 * (JET_prepReplace, JET_prepReplaceNoLock), or cancels (JET_prepCancel).
 * @return JET_errNoCurrentRecord (replace without a current record),
 *   JET_errAlreadyPrepared, JET_errUpdateNotPrepared (cancel with nothing
 *   prepared), JET_errPermissionDenied (read-only cursor).
 */
JET_ERR JET_API JetPrepareUpdate(JET_SESID sesid, JET_TABLEID tableid, unsigned long prep);
/**
 * Sets a column of the prepared record.  JET_columnidKey may be set only on
 * insert (on replace: JET_errColumnNotUpdatable).
 * JET_bitSetAppendLV appends to the value; JET_bitSetSizeLV truncates or
 * extends it to cbData bytes; with psetinfo, ibLongValue overwrites from
 * that offset.
 * @return JET_errUpdateNotPrepared, JET_errBadColumnId, JET_errKeyTooBig
 *   (key longer than JET_cbKeyMost), JET_errColumnNotUpdatable,
 *   JET_errInvalidGrbit.
 */
JET_ERR JET_API JetSetColumn(JET_SESID sesid, JET_TABLEID tableid, JET_COLUMNID columnid,
	const void *pvData, unsigned long cbData, JET_GRBIT grbit, JET_SETINFO *psetinfo);
/**
 * Writes the prepared record.  The cursor is positioned on it afterwards.
 * pvBookmark receives the record's key if non-NULL.
 * A failed update changes nothing (each call is a savepoint of the
 * transaction); the transaction can go on.
 * @return JET_errKeyDuplicate (insert of an existing key), JET_errNullKeyDisallowed
 *   (insert without a key), JET_errUpdateNotPrepared,
 *   JET_errVersionStoreOutOfMemory (the transaction changes more pages than
 *   7/8 of the cache: commit more often or raise JET_paramCacheSizeMax),
 *   JET_errOutOfBuffers (every cache page is pinned),
 *   JET_errOutOfDatabaseSpace, JET_errLogWriteFail.
 */
JET_ERR JET_API JetUpdate(JET_SESID sesid, JET_TABLEID tableid, void *pvBookmark,
	unsigned long cbBookmark, unsigned long *pcbActual);
/**
 * Builds a search key: JET_bitNewKey starts a new key; later calls append.
 * JET_bitKeyDataZeroLength with cbData 0 makes a zero-length key column.
 * @return JET_errKeyNotMade (append without JET_bitNewKey first),
 *   JET_errKeyTooBig.
 */
JET_ERR JET_API JetMakeKey(JET_SESID sesid, JET_TABLEID tableid, const void *pvData,
	unsigned long cbData, JET_GRBIT grbit);
/**
 * Positions the cursor with the key made by JetMakeKey: JET_bitSeekEQ,
 * JET_bitSeekGE, JET_bitSeekGT, JET_bitSeekLE, JET_bitSeekLT.
 * @return JET_errRecordNotFound, JET_wrnSeekNotEqual (GE/LE found another
 *   key), JET_errKeyNotMade, JET_errInvalidGrbit.
 */
JET_ERR JET_API JetSeek(JET_SESID sesid, JET_TABLEID tableid, JET_GRBIT grbit);
/**
 * Moves the cursor: JET_MoveFirst, JET_MoveLast, JET_MoveNext,
 * JET_MovePrevious, or cRow records forward (> 0) or backward (< 0).
 * @return JET_errNoCurrentRecord (past either end, or an empty table).
 */
JET_ERR JET_API JetMove(JET_SESID sesid, JET_TABLEID tableid, long cRow, JET_GRBIT grbit);
/**
 * Copies a column of the current record (or, with JET_bitRetrieveCopy, of
 * the prepared record) into pvData; *pcbActual receives its full size.
 * pretinfo->ibLongValue reads from an offset.
 * @return JET_wrnBufferTruncated (cbData too small: the first cbData bytes
 *   were copied), JET_wrnColumnNull (zero-length value),
 *   JET_errNoCurrentRecord, JET_errBadColumnId.
 */
JET_ERR JET_API JetRetrieveColumn(JET_SESID sesid, JET_TABLEID tableid, JET_COLUMNID columnid,
	void *pvData, unsigned long cbData, unsigned long *pcbActual, JET_GRBIT grbit, JET_RETINFO *pretinfo);
/** Deletes the current record; the cursor then sits between its neighbours.
 * @return JET_errNoCurrentRecord, JET_errPermissionDenied. */
JET_ERR JET_API JetDelete(JET_SESID sesid, JET_TABLEID tableid);

/** @defgroup backup External backup (ESE's streaming backup API)
 *
 * The sequence (ESE's): JetBeginExternalBackupInstance; for a full backup
 * JetGetAttachInfoInstance and, per database, JetOpenFileInstance /
 * JetReadFileInstance ... / JetCloseFileInstance; then JetGetLogInfoInstance
 * (which closes the current log generation the first time) and the same
 * open/read/close for each log file; optionally JetTruncateLogInstance;
 * finally JetEndExternalBackupInstance2.  One backup at a time per instance.
 *
 * Legal calls (F = full, I = incremental), as ESE:
 * | call \ state     | none      | databases (F)       | logs (F after GetLogInfo; I) |
 * | Begin            | ok        | BackupInProgress    | BackupInProgress |
 * | GetAttachInfo    | NoBackup  | ok                  | F ok; I InvalidBackupSequence |
 * | OpenFile(db)     | NoBackup  | ok                  | InvalidBackupSequence, session ends |
 * | OpenFile(log)    | NoBackup  | DatabaseNotFound    | ok |
 * | GetLogInfo       | NoBackup  | -> logs (roll once) | ok (same list) |
 * | TruncateLog      | NoBackup  | InvalidBackupSequence | ok if every log was read, else LogFileNotCopied |
 * | End              | NoBackup  | ok, recorded as abort | ok, headers updated |
 * After JetStopBackupInstance every call but End returns
 * JET_errBackupAbortByServer.  An error on a database file drops that
 * database from the session (it will not be recorded); an error in the log
 * phase ends the session (later calls: JET_errNoBackup).
 *
 * A streamed database is (pgnoLast + 3) pages: a copy of the header stamped
 * with the backup (JET_BKINFO FullCur: genLow = the checkpoint generation at
 * Begin), written twice; the pages 1..pgnoLast; a trailer page recording the
 * log range the copy needs.  Every page and log block read is checksummed:
 * JET_errReadVerifyFailure / JET_errLogReadVerifyFailure on damage.
 *
 * <b>Point-in-time mode (jetfs extension)</b>: Begin with
 * JET_bitBackupJetfsPointInTime.  Begin waits for running transactions,
 * writes every dirty page, closes the log generation (not if it holds
 * nothing but backup marks: see JetGetLogInfoInstance) and freezes the
 * databases: a page overwritten during the backup has its Begin image kept
 * in `<database>.jfsbk` beside the database (bounded by the pages written
 * during the backup, deleted at End; one left by a process that died during
 * a backup is deleted when the database is next opened, by JetInit's
 * recovery or JetAttachDatabase, with an event, 709, naming it and its
 * size: recovery never needs it).  The whole set is known at Begin:
 * JetGetLogInfoInstance answers at once, several files may be open, and
 * JetfsReadFileAt reads any range any number of times.  Restored, the set is
 * exactly the committed state at Begin.
 *
 * <b>Page delta (jetfs extension)</b>: Begin with JET_bitBackupJetfsDelta |
 * JET_bitBackupJetfsPointInTime.  The set holds, for each database, in place
 * of its image, `<database path>.delta` (the name JetGetAttachInfoInstance
 * lists and JetOpenFileInstance takes): every page that changed since the
 * database's last recorded full backup (its header's FullPrev, the
 * **base**), as of Begin, in the format of doc/delta-format.md; and the same
 * log generations as a point-in-time full set.  Restored over the base's
 * images (JetfsRestoreSets with the full set first and the delta set
 * second), it is the committed state at Begin.  Which pages changed comes
 * from the page summaries the log writer keeps per log generation (see
 * doc/design.md, "Page tracking"): a base older than what they cover, a
 * generation with neither summary nor log, or a run with logging off fails
 * Begin closed (JET_errMissingFullBackup, JET_errMissingLogFile,
 * JET_errLoggingDisabled, ...), never a smaller delta.  A delta truncates no
 * log (JetTruncateLogInstance: JET_errInvalidBackupSequence) and End
 * records it in the Differential slot only, so it neither starts nor breaks
 * the full / incremental chain.
 *
 * Error rows of ESE's documentation that cannot happen here:
 * JET_errClientRequestToStopJetService (no JetStopService),
 * JET_errRestoreInProgress (restore runs on an uninitialized instance),
 * JET_errLogDiskFull at Begin (reported as JET_errLogWriteFail),
 * JET_errSessionSharingViolation (backup calls take no session).
 * @{ */

/**
 * Begins an external backup: full, or JET_bitBackupIncremental (logs only),
 * optionally JET_bitBackupJetfsPointInTime.
 * @return JET_errBackupInProgress, JET_errBackupNotAllowedYet (JetInit not
 *   done, or JetTerm started), JET_errLoggingDisabled (JET_paramRecovery
 *   "off"; a delta: the instance once ran with it off since), JET_errLogWriteFail,
 *   JET_errInvalidGrbit (JET_bitBackupAtomic, JET_bitBackupSnapshot, unknown
 *   bits, or JET_bitBackupJetfsDelta without JET_bitBackupJetfsPointInTime or
 *   with JET_bitBackupIncremental), JET_errInvalidBackup (incremental
 *   with circular logging), JET_errMissingFullBackup (a delta, and a
 *   database has no full backup recorded), JET_errMissingLogFile /
 *   JET_errLogFileCorrupt / JET_errBadLogSignature (a delta whose changed
 *   pages cannot all be known; event 245 says why), JET_errMissingFullBackup (incremental and a
 *   database has no full backup recorded), JET_errMissingFileToBackup
 *   (point-in-time incremental whose chain has a gap: see
 *   JetGetLogInfoInstance), JET_errCheckpointCorrupt,
 *   JET_errCheckpointFileNotFound (full: edb.chk unreadable),
 *   JET_errNotInitialized, JET_errTermInProgress, JET_errInstanceUnavailable,
 *   JET_errRunningInMultiInstanceMode (the non-Instance form with instances).
 */
JET_ERR JET_API JetBeginExternalBackupInstance(JET_INSTANCE instance, JET_GRBIT grbit);
JET_ERR JET_API JetBeginExternalBackup(JET_GRBIT grbit);

/**
 * Lists the attached databases (full paths) as a double-NUL-terminated
 * list.  *pcbActual receives the size needed; cbMax 0 only asks the size.
 * @return JET_errBufferTooSmall (cbMax non-zero and too small),
 *   JET_errInvalidBackupSequence (incremental), JET_errNoBackup,
 *   JET_errBackupAbortByServer.
 */
JET_ERR JET_API JetGetAttachInfoInstance(JET_INSTANCE instance, JET_PSTR szzDatabases, unsigned long cbMax,
	unsigned long *pcbActual);
JET_ERR JET_API JetGetAttachInfo(JET_PSTR szzDatabases, unsigned long cbMax, unsigned long *pcbActual);

/**
 * Opens a database (by its attached path) or a log file (full path from
 * JetGetLogInfo) of the backup; *pulFileSizeLow/High receive the size of the
 * stream.
 * @return JET_errDatabaseNotFound (a name that is not an attached database
 *   before JetGetLogInfo; the session continues), JET_errInvalidBackupSequence
 *   (a database after JetGetLogInfo, or in an incremental backup),
 *   JET_errMissingFileToBackup (a log file that does not exist: the session
 *   ends), JET_errInvalidParameter (NULL or empty name, or a log name that is
 *   not <base>XXXXX.log -- so <base>.log cannot be opened),
 *   JET_errOutOfMemory (a second file while one is open, outside point-in-time
 *   mode, as ESE), JET_errNoBackup, JET_errBackupAbortByServer.
 */
JET_ERR JET_API JetOpenFileInstance(JET_INSTANCE instance, JET_PCSTR szFileName, JET_HANDLE *phfFile,
	unsigned long *pulFileSizeLow, unsigned long *pulFileSizeHigh);
JET_ERR JET_API JetOpenFile(JET_PCSTR szFileName, JET_HANDLE *phfFile, unsigned long *pulFileSizeLow,
	unsigned long *pulFileSizeHigh);

/**
 * Reads the next cb bytes of an open backup file (sequential, as ESE: pv
 * aligned to 4096 bytes, cb a multiple of the database page size, the first
 * read of a database more than 2 pages, of a log at least 2 pages).
 * *pcbActual 0 means end of file.
 * @return JET_errInvalidParameter (buffer rules; the session continues),
 *   JET_errReadVerifyFailure / JET_errReadPgnoVerifyFailure (a damaged
 *   database page: that database leaves the session, its file is closed),
 *   JET_errLogReadVerifyFailure (a damaged log: the session ends),
 *   JET_errDiskIO, JET_errNoBackup, JET_errBackupAbortByServer.
 */
JET_ERR JET_API JetReadFileInstance(JET_INSTANCE instance, JET_HANDLE hfFile, void *pv, unsigned long cb,
	unsigned long *pcbActual);
JET_ERR JET_API JetReadFile(JET_HANDLE hfFile, void *pv, unsigned long cb, unsigned long *pcbActual);

/**
 * jetfs extension (point-in-time mode): reads cb bytes at byte offset ib of
 * an open backup file, any offset, any number of times; fewer than cb only
 * at the end of the file.  Buffer rules do not apply.  Thread-safe, and
 * calls run in parallel: the reader reads the files itself, through
 * read-only descriptors the instance gave it at JetOpenFileInstance (for a
 * remote handle: passed over the socket), with no lock of the instance and
 * no request; every database page is verified, and a page overwritten since
 * Begin is read from its kept image.  A read that cannot be served so (a
 * damaged page, the backup ended) is made by the instance, whose error is
 * returned.  Bytes read count as served when the file is closed.
 * @return as JetReadFileInstance, and JET_errInvalidBackupSequence outside
 *   point-in-time mode.
 */
JET_ERR JET_API JetfsReadFileAt(JET_INSTANCE instance, JET_HANDLE hfFile, unsigned long long ib, void *pv,
	unsigned long cb, unsigned long *pcbActual);

/** Closes a backup file; a file read to its end counts as copied.
 * @return JET_errInvalidParameter (not an open handle), JET_errNoBackup. */
JET_ERR JET_API JetCloseFileInstance(JET_INSTANCE instance, JET_HANDLE hfFile);
JET_ERR JET_API JetCloseFile(JET_HANDLE hfFile);

/**
 * Lists the log files the backup must copy (full paths, double-NUL list).
 * The first call closes the current generation (ESE mode), so the list is
 * [checkpoint generation at Begin .. the generation just closed]; for an
 * incremental backup every generation still on disk up to it.  Unlike ESE,
 * a generation that holds nothing but backup marks (Begin, Abort, Stop: a
 * quiet instance, backups retried in a loop) is not closed: the list then
 * ends with the closed generation before it, which already covers the
 * databases, and starts there at the latest.  So a backup begun and
 * aborted on a quiet instance adds its marks (about 1.5 KiB: three records
 * of one 512-byte sector each), not a generation of JET_paramLogFileSize (a
 * loop of them filled the log disk).  Point-in-time Begin closes the
 * generation by the same rule.
 *
 * The chain check (ESE's): each database header records its last full backup
 * (JET_BKINFO FullPrev: only a full backup whose logs were truncated) and
 * its last incremental (IncPrev: one that truncated), each with the
 * generations it copied, genLow..genHigh.  An incremental copies every
 * generation still on disk, so it continues the chain only if the oldest one
 * is at most max(FullPrev.genHigh, IncPrev.genHigh) + 1 for every database;
 * otherwise the generations in between are in no backup set and a restore
 * of the chain would stop there, so the incremental is refused and never
 * recorded: only a new full backup starts a sound chain.  A point-in-time
 * incremental is checked at Begin (its set is fixed there).
 * @return JET_errInvalidBackupSequence (a file is open),
 *   JET_errMissingFileToBackup (incremental: a generation between the last
 *   backup and the oldest on disk is gone; the session ends, nothing is
 *   recorded), JET_errBufferTooSmall, JET_errNoBackup,
 *   JET_errBackupAbortByServer.
 */
JET_ERR JET_API JetGetLogInfoInstance(JET_INSTANCE instance, JET_PSTR szzLogs, unsigned long cbMax,
	unsigned long *pcbActual);
JET_ERR JET_API JetGetLogInfo(JET_PSTR szzLogs, unsigned long cbMax, unsigned long *pcbActual);
/** JetGetLogInfoInstance that also fills pLogInfo (cbSize must be set): the
 * generation range and the base name. */
JET_ERR JET_API JetGetLogInfoInstance2(JET_INSTANCE instance, JET_PSTR szzLogs, unsigned long cbMax,
	unsigned long *pcbActual, JET_LOGINFO *pLogInfo);
/** Lists the log files JetTruncateLogInstance would delete. */
JET_ERR JET_API JetGetTruncateLogInfoInstance(JET_INSTANCE instance, JET_PSTR szzLogs, unsigned long cbMax,
	unsigned long *pcbActual);

/**
 * Deletes the log generations the backup made unnecessary: older than the
 * current checkpoint and than what any database not copied in this session
 * still needs.  Never a generation crash recovery needs.
 * @return JET_errLogFileNotCopied (a listed log was not read to its end),
 *   JET_errInvalidBackupSequence (JetGetLogInfo not called yet, or a file is
 *   open), JET_errNoBackup, JET_errBackupAbortByServer, JET_errDiskIO.
 */
JET_ERR JET_API JetTruncateLogInstance(JET_INSTANCE instance);
JET_ERR JET_API JetTruncateLog(void);

/**
 * Ends the backup.  JET_bitBackupEndNormal records it in the header of each
 * database read to its end: as a Full backup if logs were truncated (or
 * JET_bitBackupTruncateDone), else Copy; incremental: Incremental or
 * Differential.  It is recorded as an abort (nothing written) if
 * JetGetLogInfo was never called or after JetStopBackup.
 * JET_bitBackupEndAbort records nothing.  Returns success in all these cases
 * (as ESE), except in point-in-time mode (extension): there a normal end
 * recorded as an abort fails, so that the client never reports a backup the
 * headers do not hold (the backup has ended all the same).
 * @return JET_errInvalidParameter (neither or both of Normal and Abort),
 *   JET_errNoBackup; point-in-time mode, EndNormal recorded as an abort:
 *   JET_errBackupAbortByServer (after JetStopBackup),
 *   JET_errLogFileNotCopied (a listed file not read to its end), or the
 *   error of a database header the backup could not be written to (event
 *   219; the other databases are recorded).
 */
JET_ERR JET_API JetEndExternalBackupInstance2(JET_INSTANCE instance, JET_GRBIT grbit);
JET_ERR JET_API JetEndExternalBackupInstance(JET_INSTANCE instance);
JET_ERR JET_API JetEndExternalBackup(void);

/**
 * Backs up the instance to a directory (ESE's all-in-one call): full (the
 * directory must be empty, unless JET_bitBackupAtomic: the new set replaces
 * the old one only when complete, the old one moves to old/), or
 * JET_bitBackupIncremental (adds the log files to the set there); with
 * JET_bitBackupJetfsPointInTime (extension) the set is the committed state
 * at the call.  Truncates
 * the logs the backup made unnecessary and records it in the headers.  A NULL
 * or empty path only truncates the logs (nothing with circular logging).
 * pfnStatus receives (JET_snpBackup, JET_sntBegin / JET_sntProgress /
 * JET_sntComplete / JET_sntFail).  A failure before truncation leaves no
 * new file in the directory and truncates no log; once truncation has begun
 * (it may fail half way, or End after it) the set stays, complete, with an
 * event: it may hold the only copy of the truncated generations.  Every file of the set goes into the
 * directory under its base name: two attached databases with the same base
 * name (a/data.edb and b/data.edb) are refused before anything is copied
 * (JET_errFileAlreadyExists, and an event "two files of the set are named
 * data.edb (a/data.edb and b/data.edb): rename one database", as jetfs
 * says); the backup ends as an abort, nothing is recorded, no log is
 * truncated.  A file of an incremental already in the directory is kept if
 * it holds the same bytes; one that differs (a closed log generation never
 * changes: it is another set's) fails the backup with
 * JET_errFileAlreadyExists and stays as it was.  instance may be a remote instance
 * (JetfsConnectBackup): the backup of a live instance in another process.
 * @return JET_errInvalidPath (the directory does not exist and
 *   JET_paramCreatePathIfNotExist is off), JET_errMakeBackupDirectoryFail,
 *   JET_errBackupDirectoryNotEmpty, JET_errFileAlreadyExists (two files of
 *   the set with one name, or an incremental's file differs from the one
 *   there), JET_errInvalidGrbit
 *   (JET_bitBackupSnapshot, or Incremental with Atomic), and every error of
 *   the external backup calls.
 */
JET_ERR JET_API JetBackupInstance(JET_INSTANCE instance, JET_PCSTR szBackupPath, JET_GRBIT grbit,
	JET_PFNSTATUS pfnStatus);
JET_ERR JET_API JetBackup(JET_PCSTR szBackupPath, JET_GRBIT grbit, JET_PFNSTATUS pfnStatus);

/** Makes every later call of the running backup (but End) fail with
 * JET_errBackupAbortByServer.  Succeeds when no backup runs. */
JET_ERR JET_API JetStopBackupInstance(JET_INSTANCE instance);
JET_ERR JET_API JetStopBackup(void);

/**
 * jetfs extension: connects to the backup service of an instance running in
 * another process (an instance with #JET_paramJetfsBackupSocket set; wire
 * format and rules in doc/protocol.md) and returns a remote handle in
 * *pinstance.  Every external-backup call above that takes a JET_INSTANCE
 * (JetBeginExternalBackupInstance, JetGetAttachInfoInstance,
 * JetOpenFileInstance, JetReadFileInstance, JetfsReadFileAt,
 * JetCloseFileInstance, JetGetLogInfoInstance(2),
 * JetGetTruncateLogInfoInstance, JetTruncateLogInstance,
 * JetEndExternalBackupInstance(2), JetStopBackupInstance) accepts it and
 * behaves as on the instance itself, with the same errors, except:
 * - the connection can only continue, stop or end a backup it began (another
 *   backup running in the instance looks like JET_errNoBackup);
 * - a lost connection (the instance stopped, a protocol error) makes that
 *   call and every later one, End included, fail with
 *   JET_errBackupAbortByServer; the service aborts the backup;
 * - a file name longer than 4096 bytes fails with JET_errInvalidParameter;
 *   a read of more than 8 MiB is split into several requests (not atomic).
 * Other functions reject the handle as a bad one.  The handle may be used
 * from several threads; requests on it are serialized (JetfsReadFileAt of a
 * point-in-time file needs none, see there).  Only the instance
 * owner's uid or root is served, one client at a time.
 * @return JET_errInvalidParameter (NULL or empty path), JET_errInvalidPath
 *   (longer than 107 bytes), JET_errFileNotFound (no socket there, not a
 *   socket, or nobody listening), JET_errPermissionDenied (not allowed to
 *   connect, or the server refused this uid, or the server runs as another
 *   non-root uid), JET_errBackupInProgress (another client is connected),
 *   JET_errFeatureNotAvailable (no common protocol version),
 *   JET_errBackupAbortByServer (the server closed the connection or answered
 *   something else than the protocol), JET_errOutOfMemory.
 */
JET_ERR JET_API JetfsConnectBackup(JET_PCSTR szSocketPath, JET_INSTANCE *pinstance);
/**
 * jetfs extension: closes a connection made by JetfsConnectBackup and frees
 * the handle (a call waiting on it in another thread fails with
 * JET_errBackupAbortByServer).  A backup begun through it and not ended is
 * aborted by the service.
 * @return JET_errInvalidParameter (not a remote handle).
 */
JET_ERR JET_API JetfsDisconnectBackup(JET_INSTANCE instance);
/**
 * jetfs extension: every later request on a connection made by
 * JetfsConnectBackup must be sent and wholly answered within cMilliseconds
 * (0, the default: no limit).  A request that is not fails with
 * JET_errDeviceTimeout and closes the connection for good (a late reply
 * must never be taken for the next request's): later calls fail with
 * JET_errBackupAbortByServer, and the service aborts the backup.
 * @return JET_errInvalidParameter (not a remote handle, more than INT_MAX).
 */
JET_ERR JET_API JetfsSetBackupTimeout(JET_INSTANCE instance, unsigned long cMilliseconds);
/**
 * jetfs extension: closes the connection of a remote handle at once, from any
 * thread, even while a call on it waits for its reply: that call and every
 * later one fail with JET_errBackupAbortByServer (the service aborts the
 * backup).  The handle stays valid until JetfsDisconnectBackup.
 * @return JET_errInvalidParameter (not a remote handle).
 */
JET_ERR JET_API JetfsBreakBackup(JET_INSTANCE instance);
/**
 * jetfs extension: whether the instance behind a remote handle is still
 * there, without a request and without waiting (even while a call on the
 * handle waits for its reply): the service has not closed the connection
 * (it stopped, was killed, or aborted the backup) and JetfsBreakBackup was
 * not called.  jetfs asks before its status predicts a normal end.
 * @return JET_errSuccess (connected), JET_errBackupAbortByServer (the
 *   connection is gone: the service aborts the backup),
 *   JET_errInvalidParameter (not a remote handle).
 */
JET_ERR JET_API JetfsCheckBackupConnection(JET_INSTANCE instance);

/** What JetfsGetBackupInfo tells of the instance's backup. */
typedef struct {
	unsigned long cbStruct;			/**< in: sizeof(JETFS_BACKUPINFO) */
	unsigned long long ullId;		/**< the running backup's id (where its Begin mark lies in the log stream); 0: none runs */
	unsigned long long ullBeginTimeUs;	/**< when it began: microseconds since the Unix epoch */
	JET_GRBIT grbit;			/**< its Begin grbit */
	unsigned long cTakeOvers;		/**< how many times a new client took it over */
	unsigned long fHeld;			/**< 1: its client vanished; held for a takeover */
	unsigned long long ullHeldMsLeft;	/**< held: milliseconds until it is aborted */
	unsigned long ulHeldUid;		/**< held: the uid that may take it over */
	unsigned long long cbKept;		/**< point-in-time: bytes of kept Begin images */
	unsigned long long cbKeptMax;		/**< #JET_paramJetfsBackupKeptMax in bytes; 0: none */
	unsigned long long ullLastEndId;	/**< the last backup that ended (0: none since JetInit) */
	JET_ERR errLastEnd;			/**< its end: JET_errSuccess recorded; JET_errClientRequestToStopJetService its client aborted it; else the error that ended it */
	char szLastEnd[256];			/**< the same in words, e.g. the cap that aborted it */
} JETFS_BACKUPINFO;

/**
 * jetfs extension: the instance's backup, running or held, and how the last
 * one ended.  pinfo->cbStruct must be sizeof(JETFS_BACKUPINFO).  Any handle
 * (a remote one asks the service: protocol version 3), and no backup needs
 * to run.
 * @return JET_errInvalidParameter (NULL, or a wrong cbStruct),
 *   JET_errFeatureNotAvailable (a remote instance of an older version),
 *   JET_errBackupAbortByServer (a remote handle whose connection is gone).
 */
JET_ERR JET_API JetfsGetBackupInfo(JET_INSTANCE instance, JETFS_BACKUPINFO *pinfo);
/**
 * jetfs extension: takes over the held backup (see
 * #JET_paramJetfsBackupHoldTime) whose id is ullId (0: whichever is held):
 * it is running again, for this handle, as the vanished client left it: its
 * set, its kept pages, what it recorded as served and copied, its client
 * area (JetfsBackupClientArea).  Files the vanished client had open are
 * closed (a file that one handle served wholly counts as copied, as at
 * JetCloseFileInstance).  A remote handle takes over as the uid of its
 * process; a local one as the process's effective uid.
 * @return JET_errNoBackup (no backup, or it is not held: running with its
 *   client, or another id), JET_errPermissionDenied (it was begun by
 *   another uid), JET_errBackupAbortByServer (it was stopped),
 *   JET_errFeatureNotAvailable (a remote instance of an older version).
 */
JET_ERR JET_API JetfsTakeOverBackup(JET_INSTANCE instance, unsigned long long ullId);
/**
 * jetfs extension: shared memory the running backup keeps for its client,
 * so that what a client must not forget survives it (jetfs keeps there what
 * it served: a takeover finds it).  The first call creates it, zeroed, of cb
 * bytes (at most 1 GiB; memory is used only where written); later calls, a
 * taker-over's included, return the same area and *pcbActual its size.
 * *pfd receives a new read-write descriptor of it, which the caller closes
 * (map it with mmap MAP_SHARED).  The area goes when the backup ends.
 * @return JET_errInvalidParameter (cb 0 or above 1 GiB at the first call),
 *   JET_errNoBackup, JET_errBackupAbortByServer, JET_errFeatureNotAvailable
 *   (no shared memory here, or a remote instance of an older version),
 *   JET_errOutOfMemory.
 */
JET_ERR JET_API JetfsBackupClientArea(JET_INSTANCE instance, unsigned long long cb, int *pfd,
	unsigned long long *pcbActual);
/**
 * jetfs extension (point-in-time mode): bytes [ib, ib + cb) of the file
 * open as hfFile were copied by a client of this backup without a read on
 * this handle (a client that took over reports what its predecessor
 * served); they count as served by this handle.
 * @return JET_errInvalidParameter (not an open handle, a range beyond the
 *   file), JET_errInvalidBackupSequence (not point-in-time), JET_errNoBackup.
 */
JET_ERR JET_API JetfsNoteServed(JET_INSTANCE instance, JET_HANDLE hfFile, unsigned long long ib,
	unsigned long long cb);
/** @} */

/** @defgroup restore Restore (hard recovery)
 * Every restore replays the logs in a private instance whose cache is the
 * size of the databases restored plus a quarter (at least 1024 pages), at
 * most 1 GiB and an eighth of physical memory: redo then reads and writes
 * each page once.
 *
 * Before anything is written, every restore checks what it restores with
 * the checker that `jetutil verify-backup` uses too, and stops at the first
 * problem (an event names the file, and the page or generation): each image's
 * two header copies, size and trailer, and the checksum of every page
 * (all-zero pages, never written, are allowed; a page that redo would
 * rewrite entirely must still be sound, as in ESE); the log chain from the
 * first generation an image needs: no gap, one log set, each generation
 * naming its predecessor, each intact to its END, up to the last generation
 * the images' trailers name.  A file with a database header, or a trailer,
 * that cannot be read is an error, not a stranger.  The engine does not hash:
 * a set's SHA256SUMS is checked by `jetutil restore` and `verify-backup`, not
 * here, so a generation missing at the end of an incremental set (which no
 * header records) is found only by them.
 * @{ */
/**
 * Restores the backup in directory sz (as written by JetBackupInstance):
 * each database goes back to the path it had when it was backed up, the logs
 * to szDest (NULL: the instance's log path), the checkpoint to the
 * instance's system path; then the logs are replayed.  The instance must not
 * be initialized.
 * @return JET_errAfterInitialization, JET_errRestoreOfNonBackupDatabase (a
 *   database in sz that is not a backup image), JET_errMissingPatchPage /
 *   JET_errBadPatchPage (the image's trailer page is missing or damaged),
 *   JET_errDatabasePatchFileMismatch, JET_errStartingRestoreLogTooHigh /
 *   JET_errEndingRestoreLogTooLow (the logs do not cover what the images
 *   need), JET_errMissingLogFile (a gap), JET_errGivenLogFileHasBadSignature
 *   (a log of another log set), JET_errGivenLogFileIsNotContiguous,
 *   JET_errLogFileCorrupt, JET_errLogGenerationMismatch (a file named as a
 *   generation that holds another, or a log generation under a name that is
 *   not <base>XXXXX.log), JET_errReadVerifyFailure /
 *   JET_errReadPgnoVerifyFailure (a page of an image with a bad checksum, or
 *   another page's image), JET_errDatabaseCorrupted (a damaged header copy,
 *   or an image whose header cannot be read), JET_errDatabaseDuplicate (two
 *   images of one database, or two databases that would be restored to one
 *   path: jetutil restore puts every database in its target under the file
 *   name it had), JET_errFileAlreadyExists (a log or checkpoint
 *   already in the destination), JET_errFileNotFound (no image in sz),
 *   JET_errDiskIO, JET_errDiskFull.  On failure the files it wrote are removed.
 */
JET_ERR JET_API JetRestoreInstance(JET_INSTANCE instance, JET_PCSTR sz, JET_PCSTR szDest, JET_PFNSTATUS pfn);
JET_ERR JET_API JetRestore2(JET_PCSTR sz, JET_PCSTR szDest, JET_PFNSTATUS pfn);
JET_ERR JET_API JetRestore(JET_PCSTR sz, JET_PFNSTATUS pfn);
/**
 * Restores databases the caller placed itself: rgrstmap maps each
 * database's original path (or file name) to the backup image already copied
 * to szNewDatabaseName; images not in the map are ignored (as ESE).  The logs
 * in szBackupLogPath are replayed (up to pLogInfo->ulGenHigh if given), the
 * checkpoint is written to szCheckpointFilePath, replay continues into
 * szLogPath.  A target instance is not supported (JET_errBadRestoreTargetInstance).
 * @return as JetRestoreInstance.
 */
JET_ERR JET_API JetExternalRestore2(JET_PSTR szCheckpointFilePath, JET_PSTR szLogPath, JET_RSTMAP *rgrstmap,
	long crstfilemap, JET_PSTR szBackupLogPath, JET_LOGINFO *pLogInfo, JET_PSTR szTargetInstanceName,
	JET_PSTR szTargetInstanceLogPath, JET_PSTR szTargetInstanceCheckpointPath, JET_PFNSTATUS pfn);
JET_ERR JET_API JetExternalRestore(JET_PSTR szCheckpointFilePath, JET_PSTR szLogPath, JET_RSTMAP *rgrstmap,
	long crstfilemap, JET_PSTR szBackupLogPath, long genLow, long genHigh, JET_PFNSTATUS pfn);
/**
 * jetfs extension (jetutil restore): builds an instance in szTargetDir
 * (databases, logs and checkpoint) from a full backup set, optionally one
 * page delta set right after it (JET_bitBackupJetfsDelta: each delta is
 * applied to a copy of its full image staged in a hidden directory of
 * szTargetDir, removed at the end; replay starts at the delta's Begin),
 * followed by any number of incremental or differential sets, in order;
 * optionally rolls forward through the generations (and the current log) of
 * a live log directory; optionally stops after generation genStop (0: no
 * stop).
 * @return as JetRestoreInstance; JET_errInvalidPath (a set is not a
 *   directory); with deltas, before anything is written:
 *   JET_errDatabasePatchFileMismatch (a delta whose base is not the full's
 *   image, or of a database with no image in the full set: the event names
 *   the full the delta needs and the one given), JET_errFileNotFound (a full
 *   image without a delta in the delta set), JET_errMissingFullBackup (a
 *   delta set first or alone), JET_errInvalidBackupSequence (two delta sets,
 *   or one after an incremental set), a damaged delta's JET_errBadPatchPage,
 *   JET_errMissingPatchPage, JET_errReadVerifyFailure, ...
 */
JET_ERR JET_API JetfsRestoreSets(const char *const *rgszBackupDirs, unsigned long cDirs, JET_PCSTR szTargetDir,
	JET_PCSTR szRollForwardLogDir, unsigned long genStop, JET_PFNSTATUS pfn);
/**
 * Restore to a moment (jetfs extension; ESE's JET_RSTINFO names the same stop
 * as logtimeStop, a time in seconds, or lgposStop, a log position): the
 * moment and what the chain offers around it, for JetfsRestoreSetsStopAt.
 * Times are microseconds since the epoch (UTC), the clock and resolution of
 * the commit time that every transaction record of the log carries
 * (CLOCK_REALTIME, taken when the commit is logged, never less than the
 * previous commit's).  A commit's time is when it was logged, which is before
 * it was durable: a transaction whose JetCommitTransaction returned before
 * the moment is always in, and so is one that was still waiting for its
 * flush at the moment but had been logged.
 *
 * The out fields are filled on success, and when the moment is refused with
 * JET_errEndingRestoreLogTooLow or JET_errMissingRestoreLogFiles, so that the
 * caller can say which moments are possible.
 */
typedef struct {
	unsigned long cbStruct;		/**< in: sizeof(JET_JETFSSTOPAT) */
	unsigned long long usStopAt;	/**< in: the moment; every transaction committed at or before it is replayed, none after */
	unsigned long long usConsistent;	/**< out: the earliest moment possible (the images' consistent point) */
	unsigned long long usLastCommit;	/**< out: the latest: the last commit in the chain (usConsistent if later) */
	unsigned long long usLastReplayed;	/**< out: the commit time of the last transaction replayed (0: none) */
	unsigned long genStop;		/**< out: the generation replay stopped in */
} JET_JETFSSTOPAT;

/**
 * jetfs extension (jetutil restore --stop-at): as JetfsRestoreSets, but replay
 * stops at a moment, pstopat->usStopAt, instead of a generation: every
 * transaction committed at or before it is replayed, and none committed
 * after it.  Before anything is written, the transaction records of the
 * whole chain are read (a second read of the logs, as long as replay's read
 * of them) for the first transaction committed after the moment; replay then
 * stops before its record, and the log of the restored instance ends there
 * (an END segment, as after a torn tail), so what followed in that
 * generation is never replayed later, and the generations after it are not
 * copied.  Records that are not transactions (attach, detach, backup marks)
 * are replayed if they come before that record.
 *
 * The earliest moment possible, usConsistent, is the time of the last
 * transaction the images need (the last commit in the generations their
 * trailers name: for a fuzzy set the end of the logs it requires, for a
 * point-in-time set the last commit before its Begin), and at least the
 * creation of the first generation they need; the images hold everything
 * committed before it, so an earlier moment cannot be restored.  The
 * latest, usLastCommit, is the last commit in the chain: after it the chain
 * cannot know what else was committed (a later moment would restore less
 * than the moment asks for).  A roll-forward log directory extends the
 * chain, and so the latest moment.
 *
 * Generations of log format 1 (written before commit times existed) replay
 * as usual, their transactions without a time: they are taken as committed
 * before the first transaction with a time after them, and a moment that
 * falls among them is refused.
 * @return as JetfsRestoreSets; JET_errInvalidParameter (pstopat NULL, or its
 *   cbStruct too small, or usStopAt 0); JET_errEndingRestoreLogTooLow (the
 *   moment is before usConsistent); JET_errMissingRestoreLogFiles (the
 *   moment is after usLastCommit); JET_errBadLogVersion (transactions
 *   without a time, of log format 1, lie where the moment falls, or end the
 *   chain).  Each refusal comes before anything is written, with an event
 *   that names the times.
 */
JET_ERR JET_API JetfsRestoreSetsStopAt(const char *const *rgszBackupDirs, unsigned long cDirs, JET_PCSTR szTargetDir,
	JET_PCSTR szRollForwardLogDir, JET_JETFSSTOPAT *pstopat, JET_PFNSTATUS pfn);
/** @} */

/**
 * Result of JetfsVerifyDatabase (jetfs extension).
 */
typedef struct {
	unsigned long cbStruct;		/**< sizeof(JET_JETFSVERIFY) */
	unsigned long long cpagesChecked;	/**< pages read from disk and checksummed */
	unsigned long long cpagesBad;	/**< bad checksum or wrong page number */
	unsigned long long cpagesUninitialized;	/**< all-zero pages below the end of the database */
	unsigned long ctables;		/**< tables whose B+tree was checked */
	unsigned long long crecords;	/**< records in those tables */
	char szProblem[256];		/**< the first problem found, or "" */
} JET_JETFSVERIFY;

/**
 * Checks a database (jetfs extension, for tools such as jetload verify):
 * flushes its pages, reads every page up to the end of the database from
 * disk and verifies its checksum and page number, then checks every B+tree
 * (order, bounds, depth, sibling links, long values).
 * @return JET_errDatabaseCorrupted with info->szProblem set when anything
 *   is wrong, JET_errInvalidDatabaseId, JET_errInTransaction.
 */
JET_ERR JET_API JetfsVerifyDatabase(JET_SESID sesid, JET_DBID dbid, JET_JETFSVERIFY *info);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* JET_H */
