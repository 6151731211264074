/*
 * jetload.h -- what the files of jetload share: the bank's settings and
 * handles (bank.c) and the messages that end the program (jetload.c).
 *
 * Names: every function visible outside its file starts with its file's
 * name: bank_ in bank.c, jetload_ in jetload.c.
 */
#ifndef JETLOAD_H
#define JETLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "jet.h"

#define DB_MAX JET_MAX_ATTACHED_DATABASES
#define BALANCE_START 1000
#define VALUE_SIZE 16

struct conf {
	unsigned long accounts;
	unsigned long databases;
	unsigned long log_kb;
	unsigned long circular;
	unsigned long cache_pages;
};

struct bank {
	const char *dir;
	struct conf conf;
	JET_INSTANCE inst;
	const char *socket;		/* run --socket: the backup service's socket */
	long hold_s;			/* run --hold-time: JET_paramJetfsBackupHoldTime; -1: default */
	long kept_max_mb;		/* run --kept-max: JET_paramJetfsBackupKeptMax; -1: default */
	long free_floor_mb;		/* run --free-floor: JET_paramJetfsBackupFreeFloor; -1: default */
};

struct handles {
	JET_SESID ses;
	JET_DBID dbid[DB_MAX];
	JET_TABLEID accounts[DB_MAX];
	JET_TABLEID meta;
};

/* jetload.c: a message and exit(2); jetload_check does so if err < 0. */
void jetload_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void jetload_check(JET_ERR err, const char *what);

/* bank.c */
char *bank_conf_path(const char *dir);
void bank_conf_write(const char *dir, const struct conf *c);
void bank_conf_read(const char *dir, struct conf *c);
void bank_conf_from_databases(struct bank *b);
void bank_db_name(const struct bank *b, unsigned long i, char *buf, size_t len);
void bank_open_instance(struct bank *b, int create);
void bank_key(unsigned long account, uint8_t key[8]);
unsigned long bank_account_of_key(const uint8_t key[8]);
void bank_put_u64(uint8_t *p, uint64_t v);
uint64_t bank_get_u64(const uint8_t *p);
void bank_handles_open(struct bank *b, struct handles *hd);
void bank_handles_close(struct handles *hd);

#endif
