/*
 * json.c -- the JSON writer of `jetutil header --json`: objects and arrays
 * two spaces an indent level, strings escaped so that any bytes (a
 * damaged header's host name) stay valid JSON.
 */
#include "config.h"

#include <stdio.h>

#include "jetutil.h"

static void
json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);	/* bytes, as Latin-1: always valid JSON */
		else
			putchar(*p);
	}
	putchar('"');
}

static void
json_key(struct json *j, const char *key)
{
	if (j->depth == 0)
		return;
	if (j->comma[j->depth])
		putchar(',');
	printf("\n%*s", 2 * j->depth, "");
	if (key != NULL) {
		json_string(key);
		fputs(": ", stdout);
	}
	j->comma[j->depth] = 1;
}

void
json_open(struct json *j, const char *key, char c)
{
	json_key(j, key);
	putchar(c);
	j->depth++;
	j->comma[j->depth] = 0;
}

void
json_close(struct json *j, char c)
{
	int had = j->comma[j->depth];

	j->depth--;
	if (had)
		printf("\n%*s", 2 * j->depth, "");
	putchar(c);
	if (j->depth == 0)
		putchar('\n');
}

void
json_str(struct json *j, const char *key, const char *v)
{
	json_key(j, key);
	if (v == NULL)
		fputs("null", stdout);
	else
		json_string(v);
}

void
json_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	printf("%llu", (unsigned long long)v);
}

void
json_bool(struct json *j, const char *key, int v)
{
	json_key(j, key);
	fputs(v ? "true" : "false", stdout);
}

void
json_time(struct json *j, const char *key, uint64_t us)
{
	char t[40];

	json_str(j, key, us == 0 ? NULL : util_fmt_time(us, t, sizeof(t)));
}

void
json_sig(struct json *j, const char *key, const struct jet_sig *s)
{
	json_open(j, key, '{');
	json_u64(j, "random", s->random);
	json_time(j, "time_create", s->time_create);
	json_str(j, "computer", s->host);
	json_close(j, '}');
}
