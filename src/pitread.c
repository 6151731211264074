/*
 * pitread.c -- reads of a point-in-time backup set without the instance: the
 * reader holds read-only descriptors of a file of the set (the database file
 * with its spill file and kept-page map, or a closed log generation) and
 * serves any range of the streamed file itself, so a read costs no request,
 * no lock of the instance, and any number of readers run in parallel.  The
 * instance's backup (backup.c) gives a local reader its descriptors; the
 * backup service (bksvc.c) passes them to a reader in another process
 * (SCM_RIGHTS, doc/protocol.md), whose client (bkclient.c) reads here.
 *
 * A database file streams as backup.c's top comment says: stream pages 0
 * and 1 the stamped header, stream page k (2 <= k <= pgno_last + 1) database
 * page k - 1, which lies at file offset k * page_size (page_offset), then
 * the trailer.  The header and the trailer come with the descriptors.
 *
 * INVARIANTS
 *  P1. A database page is served as it was at Begin: read from the file,
 *      then, after a full fence, the map's state and the page's bit are
 *      read; a set bit means the page was (or is being) overwritten, and its
 *      kept image, wholly written before the bit was set, replaces what the
 *      file gave.  A page the writer overwrote during the read, torn or
 *      whole, always has its bit set by then (snapshot.c S4), so a
 *      concurrent overwrite is never served.  A state other than 0 (an
 *      image could not be kept, or the backup ended) fails the read.
 *  P5. After every read, of any file, the backup's state (backup.c K4) is
 *      read: a backup that was stopped or has ended serves nothing more,
 *      even bytes that cannot change (a closed log, the header copy).
 *  P2. Every database page served is verified (page_verify; an all-zero
 *      page is allowed: allocated, never written).  A page that fails, a
 *      kept image that cannot be read whole, a short log: the read fails,
 *      and the caller asks the instance, whose read decides (it verifies
 *      under its lock, logs the event, and takes a damaged database out of
 *      the session).  So this file never reports damage: the instance does.
 *  P3. Nothing from the descriptors' sender is trusted: the map's header
 *      must match the file's description, the map must be large enough for
 *      its bitmap, the files must be regular files; maps are read with
 *      pread, never mapped, so a peer cannot fault this process, and only
 *      the bitmap words a read needs are ever in memory.
 *  P4. A file is reference-counted: a reader holds it for the read, the set
 *      holds it while its handle is open; the descriptors close with the
 *      last reference.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "jet_int.h"
#include "ranges.h"

/* The most database pages one pread (and one read of the bitmap) covers. */
#define PR_RUN_PAGES 4096u

struct pitread_file {
	atomic_int refs;
	uint64_t size;
	uint32_t page_size;
	uint32_t pgno_last;		/* 0: a log file */
	uint8_t *header, *trailer;	/* database: stream pages 0-1 and the last */
	os_file *file, *live, *spill, *map;	/* live: the backup's state (P5) */
	pthread_mutex_t lock;
	struct ranges served;		/* under lock */
};

struct pitread_entry {
	JET_HANDLE handle;
	struct pitread_file *file;
};

struct pitread_set {
	pthread_mutex_t lock;
	struct pitread_entry *e;
	size_t n, cap;
};

/* ---- one file ---- */

static JET_ERR
pr_check_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? JET_errSuccess : JET_errInvalidParameter;
}

/* P3: shared memory of at least size bytes whose header has this magic and version. */
static JET_ERR
pr_check_shm(int fd, uint64_t size, uint32_t magic, uint32_t version, uint8_t *hdr, size_t nhdr)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < size ||
	    pread(fd, hdr, nhdr, 0) != (ssize_t)nhdr || get32(hdr) != magic || get32(hdr + 4) != version)
		return JET_errInvalidParameter;
	return JET_errSuccess;
}

/* P3: the map describes this database, and holds its whole bitmap; the state is a backup's. */
static JET_ERR
pr_check_shared(const struct pitread_file *pf, const int *fds, int nfds)
{
	uint8_t hdr[KPM_HDR_SIZE];

	RET(pr_check_shm(fds[1], BKS_SIZE, BKS_MAGIC, BKS_VERSION, hdr, BKS_SIZE));
	if (nfds == PITREAD_FDS_LOG)
		return JET_errSuccess;
	RET(pr_check_regular(fds[2]));
	RET(pr_check_shm(fds[3], KPM_SIZE(pf->pgno_last), KPM_MAGIC, KPM_VERSION, hdr, KPM_HDR_SIZE));
	if (get32(hdr + KPM_OFF_PGNO_LAST) != pf->pgno_last || get32(hdr + KPM_OFF_PAGE_SIZE) != pf->page_size)
		return JET_errInvalidParameter;
	return JET_errSuccess;
}

/* P3: a description that adds up, with the descriptors its kind needs. */
static JET_ERR
pr_check_desc(const struct pitread_desc *d, const int *fds, int nfds)
{
	int db = d->header != NULL;

	if (nfds != (db ? PITREAD_FDS_DB : PITREAD_FDS_LOG))
		return JET_errInvalidParameter;
	for (int i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return JET_errInvalidParameter;
	if (db && (d->page_size < PAGE_SIZE_MIN || d->page_size > PAGE_SIZE_MAX || (d->page_size & (d->page_size - 1)) ||
	    d->trailer == NULL || d->pgno_last == 0 || d->size != ((uint64_t)d->pgno_last + 3) * d->page_size))
		return JET_errInvalidParameter;
	return pr_check_regular(fds[0]);
}

/* Takes over every descriptor in fds (closed on failure too). */
JET_ERR
pitread_open(const struct pitread_desc *d, const int *fds, int nfds, struct pitread_file **pfp)
{
	static const char *const what[PITREAD_FDS_DB] = { "", " backup state", ".jfsbk", " kept-page map" };
	os_file **slot[PITREAD_FDS_DB];
	struct pitread_file *pf = NULL;
	char label[320];
	int i = 0;
	JET_ERR err;

	*pfp = NULL;
	if ((err = pr_check_desc(d, fds, nfds)) < 0)
		goto err_fds;
	if ((pf = calloc(1, sizeof(*pf))) == NULL) {
		err = JET_errOutOfMemory;
		goto err_fds;
	}
	atomic_init(&pf->refs, 1);
	pthread_mutex_init(&pf->lock, NULL);
	pf->size = d->size;
	pf->page_size = d->page_size;
	if (d->header != NULL) {
		pf->pgno_last = d->pgno_last;
		if ((pf->header = malloc(d->page_size)) == NULL || (pf->trailer = malloc(d->page_size)) == NULL) {
			err = JET_errOutOfMemory;
			goto err_fds;
		}
		memcpy(pf->header, d->header, d->page_size);
		memcpy(pf->trailer, d->trailer, d->page_size);
	}
	if ((err = pr_check_shared(pf, fds, nfds)) < 0)
		goto err_fds;
	slot[0] = &pf->file;
	slot[1] = &pf->live;
	slot[2] = &pf->spill;
	slot[3] = &pf->map;
	/* Labels for fault injection (os.h): the file's name and what the descriptor is. */
	for (; i < nfds; i++) {
		snprintf(label, sizeof(label), "%s%s (backup reader)", d->name != NULL ? d->name : "?", what[i]);
		if ((err = os_adopt(fds[i], label, slot[i])) < 0) {
			i++;
			goto err_fds;
		}
	}
	*pfp = pf;
	return JET_errSuccess;
err_fds:
	for (; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pitread_unref(pf);
	return err;
}

void
pitread_unref(struct pitread_file *pf)
{
	if (pf == NULL || atomic_fetch_sub(&pf->refs, 1) != 1)
		return;
	os_close(pf->file);
	os_close(pf->live);
	os_close(pf->spill);
	os_close(pf->map);
	free(pf->header);
	free(pf->trailer);
	ranges_free(&pf->served);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
}

/*
 * P1, P5: a state word (the map's, the backup's), read after what it
 * covers: a fence first, then the word.  0, or the error every read gets.
 */
static JET_ERR
pr_state(os_file *shm, uint64_t off)
{
	int32_t state;

	atomic_thread_fence(memory_order_seq_cst);
	RET(os_pread(shm, &state, sizeof(state), off));
	return state == 0 ? JET_errSuccess : state < 0 ? (JET_ERR)state : JET_errInvalidParameter;
}

/*
 * The writers' side of a state word (snapshot.c S4, backup.c K4): the
 * first reason stays, and the store is seen before anything the caller
 * does after it.
 */
void
pitread_state_set(uint8_t *word, JET_ERR err)
{
	int32_t running = 0;

	atomic_compare_exchange_strong((_Atomic int32_t *)(void *)word, &running, (int32_t)err);
	atomic_thread_fence(memory_order_seq_cst);
}

/*
 * Reads n whole stream pages from page k (database pages k-1 ...) into out,
 * as they were at Begin (P1), each verified (P2).
 */
static JET_ERR
pr_db_pages(struct pitread_file *pf, uint64_t k, uint32_t n, uint8_t *out)
{
	uint32_t ps = pf->page_size, first = (uint32_t)(k - 1);
	uint64_t words[PR_RUN_PAGES / 64 + 2];
	uint32_t w0 = first / 64, nw = (first + n - 1) / 64 - w0 + 1;
	size_t got;
	JET_ERR err;

	if ((err = os_pread_partial(pf->file, out, (size_t)n * ps, k * ps, &got)) < 0)
		return err;
	if (got < (size_t)n * ps)
		memset(out + got, 0, (size_t)n * ps - got);	/* allocated past the file's end: all-zero pages */
	/* P1: the file first, then the map */
	if ((err = pr_state(pf->map, KPM_OFF_STATE)) < 0 ||
	    (err = os_pread(pf->map, words, (size_t)nw * 8, KPM_HDR_SIZE + (uint64_t)w0 * 8)) < 0)
		return err;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pgno = first + i;
		uint8_t *page = out + (size_t)i * ps;
		if ((words[pgno / 64 - w0] >> (pgno % 64) & 1) != 0 &&
		    (err = os_pread(pf->spill, page, ps, page_offset(pgno, ps))) < 0)
			return err;
		if ((err = page_verify(page, ps, pgno)) < 0 && err != JET_errPageNotInitialized)
			return err;
	}
	return JET_errSuccess;
}

/* A closed log generation: the instance verified all of it when the set was opened. */
static JET_ERR
pr_log(struct pitread_file *pf, uint64_t off, void *buf, size_t len)
{
	size_t got;

	RET(os_pread_partial(pf->file, buf, len, off, &got));
	return got == len ? JET_errSuccess : JET_errFileIOBeyondEOF;
}

/* [off, off + len) of a streamed database: the header copy, pages (P1, P2), the trailer. */
static JET_ERR
pr_db(struct pitread_file *pf, uint64_t off, uint8_t *out, size_t len)
{
	uint32_t ps = pf->page_size;
	uint64_t end = off + len, last_db = (uint64_t)pf->pgno_last + 1;
	uint8_t *bounce = NULL;
	JET_ERR err = JET_errSuccess;

	while (off < end) {
		uint64_t k = off / ps;
		size_t in = (size_t)(off % ps), n = ps - in < end - off ? ps - in : (size_t)(end - off);
		if (k < 2 || k > last_db) {
			memcpy(out, (k < 2 ? pf->header : pf->trailer) + in, n);
		} else if (in == 0 && end - off >= ps) {
			/* whole pages straight into the caller's buffer */
			uint64_t whole = (end - off) / ps;
			uint32_t run = (uint32_t)(whole < last_db - k + 1 ? whole : last_db - k + 1);
			if (run > PR_RUN_PAGES)
				run = PR_RUN_PAGES;
			if ((err = pr_db_pages(pf, k, run, out)) < 0)
				break;
			n = (size_t)run * ps;
		} else {
			if (bounce == NULL && (bounce = malloc(ps)) == NULL) {
				err = JET_errOutOfMemory;
				break;
			}
			if ((err = pr_db_pages(pf, k, 1, bounce)) < 0)
				break;
			memcpy(out, bounce + in, n);
		}
		out += n;
		off += n;
	}
	free(bounce);
	return err;
}

/* Reads, checks the backup still runs (P5), and counts the bytes as served by this file. */
JET_ERR
pitread_read(struct pitread_file *pf, uint64_t off, void *buf, size_t len, size_t *gotp)
{
	JET_ERR err;

	*gotp = 0;
	if (off >= pf->size)
		return pr_state(pf->live, BKS_OFF_STATE);
	if (len > pf->size - off)
		len = (size_t)(pf->size - off);
	err = pf->header == NULL ? pr_log(pf, off, buf, len) : pr_db(pf, off, buf, len);
	if (err < 0 || (err = pr_state(pf->live, BKS_OFF_STATE)) < 0)
		return err;
	pthread_mutex_lock(&pf->lock);
	/* Out of memory only loses accounting: the file then counts as not wholly read, never the reverse. */
	(void)ranges_add(&pf->served, off, off + len);
	pthread_mutex_unlock(&pf->lock);
	*gotp = len;
	return JET_errSuccess;
}

/* ---- the files of a backup, by handle ---- */

struct pitread_set *
pitread_set_new(void)
{
	struct pitread_set *s = calloc(1, sizeof(*s));

	if (s != NULL)
		pthread_mutex_init(&s->lock, NULL);
	return s;
}

void
pitread_set_free(struct pitread_set *s)
{
	if (s == NULL)
		return;
	pitread_set_clear(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Takes over the caller's reference; a handle already there is replaced. */
JET_ERR
pitread_set_put(struct pitread_set *s, JET_HANDLE h, struct pitread_file *pf)
{
	struct pitread_file *old = NULL;
	JET_ERR err = JET_errSuccess;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n && s->e[i].handle != h; i++)
		;
	if (i == s->n && s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		void *e = realloc(s->e, cap * sizeof(*s->e));
		if (e == NULL)
			err = JET_errOutOfMemory;
		else {
			s->e = e;
			s->cap = cap;
		}
	}
	if (err >= 0) {
		if (i == s->n)
			s->n++;
		else
			old = s->e[i].file;
		s->e[i].handle = h;
		s->e[i].file = pf;
	}
	pthread_mutex_unlock(&s->lock);
	pitread_unref(old);
	if (err < 0)
		pitread_unref(pf);
	return err;
}

/* The file of handle h with a reference for the caller (pitread_unref), or NULL. */
struct pitread_file *
pitread_set_get(struct pitread_set *s, JET_HANDLE h)
{
	struct pitread_file *pf = NULL;

	if (s == NULL)
		return NULL;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].handle == h) {
			pf = s->e[i].file;
			atomic_fetch_add(&pf->refs, 1);
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return pf;
}

/* Every handle out: the backup ended, and the next one numbers its handles again. */
void
pitread_set_clear(struct pitread_set *s)
{
	struct pitread_entry *e;
	size_t n;

	pthread_mutex_lock(&s->lock);
	e = s->e;
	n = s->n;
	s->e = NULL;
	s->n = s->cap = 0;
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		pitread_unref(e[i].file);
	free(e);
}

/*
 * Takes handle h out.  *served (if not NULL) gets what was served through it
 * (ranges_free it), for the instance's count of what was copied.
 */
void
pitread_set_remove(struct pitread_set *s, JET_HANDLE h, struct ranges *served)
{
	struct pitread_file *pf = NULL;

	if (served != NULL)
		memset(served, 0, sizeof(*served));
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].handle == h) {
			pf = s->e[i].file;
			s->e[i] = s->e[--s->n];
			break;
		}
	pthread_mutex_unlock(&s->lock);
	if (pf == NULL)
		return;
	if (served != NULL) {
		pthread_mutex_lock(&pf->lock);
		*served = pf->served;
		memset(&pf->served, 0, sizeof(pf->served));
		pthread_mutex_unlock(&pf->lock);
	}
	pitread_unref(pf);
}
