/*
 * bank.c -- jetload's bank as stored: its settings file jetload.conf (or,
 * for a restored copy without one, the settings its databases imply), the
 * instance opened with them, a session's handles on its tables, and the
 * encoding of keys and values.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evtarget.h"
#include "jetload.h"
#include "os.h"

char *
bank_conf_path(const char *dir)
{
	char *p = os_path_join(dir, "jetload.conf");

	if (p == NULL)
		jetload_die("out of memory");
	return p;
}

void
bank_conf_write(const char *dir, const struct conf *c)
{
	char *p = bank_conf_path(dir);
	FILE *f = fopen(p, "w");

	if (f == NULL)
		jetload_die("cannot write %s: %s", p, strerror(errno));
	fprintf(f, "accounts=%lu\ndatabases=%lu\nlog_kb=%lu\ncircular=%lu\ncache_pages=%lu\n", c->accounts,
	    c->databases, c->log_kb, c->circular, c->cache_pages);
	if (fclose(f) != 0)
		jetload_die("cannot write %s: %s", p, strerror(errno));
	free(p);
}

void
bank_conf_read(const char *dir, struct conf *c)
{
	char *p = bank_conf_path(dir), line[256], key[64];
	unsigned long v;
	FILE *f = fopen(p, "r");

	if (f == NULL)
		jetload_die("%s is not a jetload instance (cannot open %s: %s)", dir, p, strerror(errno));
	memset(c, 0, sizeof(*c));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%63[a-z_]=%lu", key, &v) != 2)
			jetload_die("%s: malformed line: %s", p, line);
		if (strcmp(key, "accounts") == 0)
			c->accounts = v;
		else if (strcmp(key, "databases") == 0)
			c->databases = v;
		else if (strcmp(key, "log_kb") == 0)
			c->log_kb = v;
		else if (strcmp(key, "circular") == 0)
			c->circular = v;
		else if (strcmp(key, "cache_pages") == 0)
			c->cache_pages = v;
	}
	fclose(f);
	if (c->accounts < 2 || c->databases < 1 || c->databases > DB_MAX || c->log_kb < 64 || c->log_kb > 32768 ||
	    c->circular > 1 || c->cache_pages < 16)
		jetload_die("%s: impossible settings", p);
	free(p);
}

void
bank_db_name(const struct bank *b, unsigned long i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/bank%lu.edb", b->dir, i);
}

/*
 * For verify, the settings of a bank without its jetload.conf (a restored
 * backup: a set holds the databases and logs only): the databases are
 * bank0.edb, bank1.edb, ... as found; the count of accounts comes from the
 * meta table later (accounts 0 here); the log size of the existing logs is
 * in their headers.
 */
void
bank_conf_from_databases(struct bank *b)
{
	char name[PATH_MAX];

	memset(&b->conf, 0, sizeof(b->conf));
	b->conf.log_kb = 5120;
	b->conf.cache_pages = 1024;
	for (;;) {
		bank_db_name(b, b->conf.databases, name, sizeof(name));
		if (b->conf.databases == DB_MAX || access(name, F_OK) != 0)
			break;
		b->conf.databases++;
	}
	if (b->conf.databases == 0)
		jetload_die("%s is not a jetload instance (neither jetload.conf nor bank0.edb is there)", b->dir);
}

void
bank_open_instance(struct bank *b, int create)
{
	JET_INSTANCE inst = 0;
	int events;

	jetload_check(JetCreateInstance(&inst, NULL), "JetCreateInstance");
	jetload_check(JetSetSystemParameter(&inst, 0, JET_paramSystemPath, 0, b->dir), "system path");
	jetload_check(JetSetSystemParameter(&inst, 0, JET_paramLogFilePath, 0, b->dir), "log path");
	jetload_check(JetSetSystemParameter(&inst, 0, JET_paramLogFileSize, b->conf.log_kb, NULL), "log file size");
	jetload_check(JetSetSystemParameter(&inst, 0, JET_paramCircularLog, b->conf.circular, NULL), "circular log");
	jetload_check(JetSetSystemParameter(&inst, 0, JET_paramCacheSizeMax, b->conf.cache_pages, NULL), "cache size");
	/* A command's events explain its failures (a socket path refused, a
	 * recovery that failed): on its stderr unless JETFS_EVENTS says else;
	 * by default without the informational ones (instance started, ...),
	 * which would bury its output. */
	if ((events = evtarget_from_env(-2)) == -1)
		jetload_die("JETFS_EVENTS=%s: stderr, syslog or none", getenv("JETFS_EVENTS"));
	if (events == -2) {
		events = JET_JetfsEventStderr;
		jetload_check(JetSetSystemParameter(&inst, 0, JET_paramNoInformationEvent, 1, NULL), "no information events");
	}
	jetload_check(JetSetSystemParameter(&inst, 0, JET_paramJetfsEventTarget, (JET_API_PTR)events, NULL), "events");
	jetload_check(JetSetSystemParameter(&inst, 0, JET_paramEventSource, 0, "jetload"), "event source");
	if (create)
		jetload_check(JetSetSystemParameter(&inst, 0, JET_paramCreatePathIfNotExist, 1, NULL), "create path");
	if (b->socket != NULL)
		jetload_check(JetSetSystemParameter(&inst, 0, JET_paramJetfsBackupSocket, 0, b->socket),
		    "backup socket (at most 107 bytes)");
	if (b->hold_s >= 0)
		jetload_check(JetSetSystemParameter(&inst, 0, JET_paramJetfsBackupHoldTime, (JET_API_PTR)b->hold_s, NULL),
		    "backup hold time");
	if (b->kept_max_mb >= 0)
		jetload_check(JetSetSystemParameter(&inst, 0, JET_paramJetfsBackupKeptMax, (JET_API_PTR)b->kept_max_mb,
		    NULL), "backup kept-image cap");
	if (b->free_floor_mb >= 0)
		jetload_check(JetSetSystemParameter(&inst, 0, JET_paramJetfsBackupFreeFloor,
		    (JET_API_PTR)b->free_floor_mb, NULL), "backup free-space floor");
	jetload_check(JetInit(&inst), "JetInit (open and recover the instance)");
	b->inst = inst;
}

void
bank_key(unsigned long account, uint8_t key[8])
{
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(account >> (56 - 8 * i));
}

unsigned long
bank_account_of_key(const uint8_t key[8])
{
	unsigned long account = 0;

	for (int i = 0; i < 8; i++)
		account = account << 8 | key[i];
	return account;
}

void
bank_put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

uint64_t
bank_get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

void
bank_handles_open(struct bank *b, struct handles *h)
{
	char name[PATH_MAX];

	jetload_check(JetBeginSession(b->inst, &h->ses, NULL, NULL), "JetBeginSession");
	for (unsigned long i = 0; i < b->conf.databases; i++) {
		bank_db_name(b, i, name, sizeof(name));
		jetload_check(JetOpenDatabase(h->ses, name, NULL, &h->dbid[i], 0), name);
		jetload_check(JetOpenTable(h->ses, h->dbid[i], "accounts", NULL, 0, 0, &h->accounts[i]), "open table accounts");
	}
	jetload_check(JetOpenTable(h->ses, h->dbid[0], "meta", NULL, 0, 0, &h->meta), "open table meta");
}

void
bank_handles_close(struct handles *h)
{
	jetload_check(JetEndSession(h->ses, 0), "JetEndSession");
}
