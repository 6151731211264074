/* example.c -- a program outside the tree using libjet through pkg-config
 * (the EXAMPLE of libjet(3)): an instance in DIR, a database, a table, one
 * record inserted and committed, read back, and a clean shutdown.
 *   cc example.c $(pkg-config --cflags --libs libjet) && ./a.out DIR */
#include <stdio.h>
#include <string.h>
#include <jet.h>

/* Every call is checked: say which one failed, and why, in ESE's words. */
#define CK(call)                                                                  \
	do {                                                                      \
		JET_ERR e_ = (call);                                              \
		if (e_ < 0) {                                                     \
			fprintf(stderr, "%s: %s (%ld, %s)\n", #call, JetErrorName(e_), \
			    e_, JetErrorString(e_));                               \
			return 1;                                                 \
		}                                                                 \
	} while (0)

int
main(int argc, char **argv)
{
	JET_INSTANCE inst;
	JET_SESID ses;
	JET_DBID db;
	JET_TABLEID t;
	char path[4096], value[64];
	unsigned long cb;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/example.edb", argv[1]);

	CK(JetCreateInstance(&inst, "example"));
	CK(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, argv[1]));
	CK(JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, argv[1]));
	CK(JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL));
	CK(JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget, JET_JetfsEventNone, NULL));
	CK(JetInit(&inst));
	CK(JetBeginSession(inst, &ses, NULL, NULL));
	CK(JetCreateDatabase(ses, path, NULL, &db, 0));
	CK(JetCreateTable(ses, db, "greetings", 0, 0, &t));

	CK(JetBeginTransaction(ses));
	CK(JetPrepareUpdate(ses, t, JET_prepInsert));
	CK(JetSetColumn(ses, t, JET_columnidKey, "hello", 5, 0, NULL));
	CK(JetSetColumn(ses, t, JET_columnidValue, "world", 5, 0, NULL));
	CK(JetUpdate(ses, t, NULL, 0, NULL));
	CK(JetCommitTransaction(ses, 0));	/* durable when it returns */

	CK(JetMakeKey(ses, t, "hello", 5, JET_bitNewKey));
	CK(JetSeek(ses, t, JET_bitSeekEQ));
	CK(JetRetrieveColumn(ses, t, JET_columnidValue, value, sizeof(value) - 1, &cb, 0, NULL));
	value[cb < sizeof(value) ? cb : sizeof(value) - 1] = '\0';
	printf("hello -> %s\n", value);

	CK(JetCloseTable(ses, t));
	CK(JetCloseDatabase(ses, db, 0));
	CK(JetEndSession(ses, 0));
	CK(JetTerm(inst));
	return strcmp(value, "world") == 0 ? 0 : 1;
}
