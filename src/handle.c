/*
 * handle.c -- the handles libjet gives out (JET_INSTANCE, JET_SESID,
 * JET_TABLEID) are not pointers: a handle is a slot index plus a generation
 * and a type, so a stale, forged or wrong-kind handle is caught
 * (JET_errInvalidParameter and friends) instead of crashing the process.
 *
 * Handle value: bits 0-23 slot + 1, bits 24-31 type, bits 32-63 generation.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>

#include "jet_int.h"

#define HANDLE_SLOTS_MAX (1u << 23)

struct handle_slot {
	void *obj;
	uint32_t gen;
	uint8_t type;
};

static pthread_mutex_t handle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle_slot *slots;
static uint32_t nslots, cap, free_hint;

JET_API_PTR
handle_new(enum handle_type type, void *obj)
{
	uint32_t i;
	JET_API_PTR h = 0;

	pthread_mutex_lock(&handle_lock);
	for (i = free_hint; i < nslots && slots[i].obj != NULL; i++)
		;
	if (i == nslots) {
		if (nslots == cap) {
			uint32_t ncap = cap ? cap * 2 : 64;
			struct handle_slot *n;
			if (ncap > HANDLE_SLOTS_MAX || (n = realloc(slots, ncap * sizeof(*n))) == NULL)
				goto out;
			slots = n;
			cap = ncap;
		}
		slots[nslots].gen = 0;
		slots[nslots].obj = NULL;
		nslots++;
	}
	slots[i].obj = obj;
	slots[i].type = (uint8_t)type;
	slots[i].gen++;
	free_hint = i + 1;
	h = (JET_API_PTR)(i + 1) | (JET_API_PTR)type << 24 | (JET_API_PTR)slots[i].gen << 32;
out:
	pthread_mutex_unlock(&handle_lock);
	return h;
}

void *
handle_get(enum handle_type type, JET_API_PTR h)
{
	uint32_t i = (uint32_t)(h & 0xFFFFFF);
	void *obj = NULL;

	if (i == 0 || ((h >> 24) & 0xFF) != type)
		return NULL;
	i--;
	pthread_mutex_lock(&handle_lock);
	if (i < nslots && slots[i].obj != NULL && slots[i].type == type && slots[i].gen == (uint32_t)(h >> 32))
		obj = slots[i].obj;
	pthread_mutex_unlock(&handle_lock);
	return obj;
}

void
handle_free(JET_API_PTR h)
{
	uint32_t i = (uint32_t)(h & 0xFFFFFF);

	if (i == 0)
		return;
	i--;
	pthread_mutex_lock(&handle_lock);
	if (i < nslots && slots[i].gen == (uint32_t)(h >> 32)) {
		slots[i].obj = NULL;
		if (i < free_hint)
			free_hint = i;
	}
	pthread_mutex_unlock(&handle_lock);
}
