/*
 * twodb.c -- the application of tests/trust-engine.test: an instance whose
 * databases lie where the test says, in subdirectories (jetload keeps its
 * databases side by side, so it cannot have two with the same base name).
 *
 *   twodb create DIR PATH:TAG...  creates the instance in DIR and each
 *                                 database DIR/PATH with NREC records whose
 *                                 values name TAG, then shuts down cleanly
 *   twodb serve DIR SOCKET        runs the instance, serving its backup
 *                                 socket, until SIGTERM
 *   twodb move DIR FROM TO        detaches DIR/FROM, renames it DIR/TO and
 *                                 attaches it (what an admin does to give a
 *                                 database a distinct name)
 *   twodb verify DIR NAME:TAG...  checks every record of DIR/NAME (a
 *                                 restored instance) against TAG
 * TWODB_LOGDIR=DIR puts the instance's logs in DIR instead of beside the
 * checkpoint (JET_paramLogFilePath).
 * Exit status 0, or 1 with the reason on stderr.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jet.h"
#include "rowkv.h"

#define NREC 300
#define VAL_SIZE 64

static void
check(JET_ERR err, const char *what)
{
	if (err < 0) {
		fprintf(stderr, "twodb: %s: %s (%ld)\n", what, JetErrorName(err), (long)err);
		exit(1);
	}
}

static char *
join(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);

	if (p == NULL)
		exit(1);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

/* The value of record i of a database tagged tag. */
static void
value_of(const char *tag, int i, char *val)
{
	memset(val, 0, VAL_SIZE);
	snprintf(val, VAL_SIZE, "%s:%d", tag, i);
}

/* PATH:TAG -> the path (allocated, under dir) and the tag. */
static char *
split_arg(const char *dir, const char *arg, const char **tagp)
{
	const char *colon = strrchr(arg, ':');
	char *name, *path;

	if (colon == NULL) {
		fprintf(stderr, "twodb: %s: PATH:TAG expected\n", arg);
		exit(2);
	}
	name = strndup(arg, (size_t)(colon - arg));
	if (name == NULL)
		exit(1);
	path = join(dir, name);
	free(name);
	*tagp = colon + 1;
	return path;
}

static JET_INSTANCE
start(const char *dir, const char *sock)
{
	JET_INSTANCE inst = 0;
	const char *ev = getenv("JETFS_EVENTS");

	check(JetCreateInstance(&inst, NULL), "JetCreateInstance");
	check(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, dir), "system path");
	/* TWODB_LOGDIR: the logs apart from the databases, as many applications keep them. */
	check(JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0,
	    getenv("TWODB_LOGDIR") != NULL ? getenv("TWODB_LOGDIR") : dir), "log path");
	check(JetSetSystemParameter(&inst, 0, JET_paramLogFileSize, 128, NULL), "log file size");
	check(JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget,
	    ev != NULL && strcmp(ev, "stderr") == 0 ? JET_JetfsEventStderr : JET_JetfsEventNone, NULL), "events");
	if (sock != NULL)
		check(JetSetSystemParameter(&inst, 0, JET_paramJetfsBackupSocket, 0, sock), "backup socket");
	check(JetInit(&inst), "JetInit");
	return inst;
}

static int
cmd_create(const char *dir, int argc, char **argv)
{
	JET_INSTANCE inst = start(dir, NULL);
	JET_SESID ses;

	check(JetBeginSession(inst, &ses, NULL, NULL), "JetBeginSession");
	for (int a = 0; a < argc; a++) {
		const char *tag;
		char *path = split_arg(dir, argv[a], &tag), val[VAL_SIZE], key[16];
		JET_DBID dbid;
		JET_TABLEID t;
		check(JetCreateDatabase(ses, path, NULL, &dbid, 0), path);
		check(JetCreateTable(ses, dbid, "t", 0, 0, &t), "JetCreateTable");
		check(JetBeginTransaction(ses), "JetBeginTransaction");
		for (int i = 0; i < NREC; i++) {
			snprintf(key, sizeof(key), "k%05d", i);
			value_of(tag, i, val);
			check(rowkv_put(ses, t, key, strlen(key), val, VAL_SIZE, 1), "insert");
		}
		check(JetCommitTransaction(ses, 0), "JetCommitTransaction");
		check(JetCloseTable(ses, t), "JetCloseTable");
		check(JetCloseDatabase(ses, dbid, 0), "JetCloseDatabase");
		free(path);
	}
	check(JetEndSession(ses, 0), "JetEndSession");
	check(JetTerm(inst), "JetTerm");
	return 0;
}

static int
cmd_serve(const char *dir, const char *sock)
{
	JET_INSTANCE inst = start(dir, sock);
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("serving %s\n", sock);
	fflush(stdout);
	sigwait(&set, &sig);
	check(JetTerm2(inst, JET_bitTermStopBackup), "JetTerm");
	return 0;
}

static int
cmd_move(const char *dir, const char *from, const char *to)
{
	JET_INSTANCE inst = start(dir, NULL);
	char *a = join(dir, from), *b = join(dir, to);
	JET_SESID ses;

	check(JetBeginSession(inst, &ses, NULL, NULL), "JetBeginSession");
	check(JetDetachDatabase(ses, a), a);
	if (rename(a, b) != 0) {
		perror(b);
		return 1;
	}
	check(JetAttachDatabase(ses, b, 0), b);
	check(JetEndSession(ses, 0), "JetEndSession");
	check(JetTerm(inst), "JetTerm");
	free(a);
	free(b);
	return 0;
}

static int
cmd_verify(const char *dir, int argc, char **argv)
{
	JET_INSTANCE inst = start(dir, NULL);
	JET_SESID ses;

	check(JetBeginSession(inst, &ses, NULL, NULL), "JetBeginSession");
	for (int a = 0; a < argc; a++) {
		const char *tag;
		char *path = split_arg(dir, argv[a], &tag), val[VAL_SIZE], want[VAL_SIZE], key[16];
		JET_DBID dbid;
		JET_TABLEID t;
		check(JetOpenDatabase(ses, path, NULL, &dbid, 0), path);
		check(JetOpenTable(ses, dbid, "t", NULL, 0, 0, &t), "JetOpenTable");
		for (int i = 0; i < NREC; i++) {
			snprintf(key, sizeof(key), "k%05d", i);
			value_of(tag, i, want);
			check(rowkv_get(ses, t, key, strlen(key), val, VAL_SIZE), key);
			if (memcmp(val, want, VAL_SIZE) != 0) {
				fprintf(stderr, "twodb: %s: record %s is \"%.*s\", expected \"%s\"\n", path, key, VAL_SIZE,
				    val, want);
				return 1;
			}
		}
		printf("%s: %d records of %s\n", path, NREC, tag);
		check(JetCloseTable(ses, t), "JetCloseTable");
		check(JetCloseDatabase(ses, dbid, 0), "JetCloseDatabase");
		free(path);
	}
	check(JetEndSession(ses, 0), "JetEndSession");
	check(JetTerm(inst), "JetTerm");
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "create") == 0)
		return cmd_create(argv[2], argc - 3, argv + 3);
	if (argc == 4 && strcmp(argv[1], "serve") == 0)
		return cmd_serve(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "move") == 0)
		return cmd_move(argv[2], argv[3], argv[4]);
	if (argc >= 4 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], argc - 3, argv + 3);
	fprintf(stderr, "usage: twodb create DIR PATH:TAG... | serve DIR SOCKET | move DIR FROM TO | "
	    "verify DIR NAME:TAG...\n");
	return 2;
}
