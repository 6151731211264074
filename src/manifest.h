/*
 * manifest.h -- SHA256SUMS, the manifest of a backup set: one SHA-256 per
 * file, in the text format of sha256sum(1), so that a copied set can be
 * checked with `sha256sum -c SHA256SUMS` as well as by `jetutil
 * verify-backup`.  jetfs serves it in backup/full/ and backup/incremental/;
 * `jetutil backup` writes it next to the files it copied.
 *
 * FORMAT
 *   One line per file, in the order of the set (names sorted by strcmp):
 *       <64 lowercase hex digits> SP SP <name> LF
 *   Names are base names: no '/', no newline, no backslash (sha256sum would
 *   escape those, which makes the line length depend on more than the name)
 *   and not empty.  The size of a line is therefore 67 + strlen(name), which
 *   is how jetfs knows the manifest's exact size at the listing, before any
 *   hash is known.
 *
 * Not part of libjet's API: the engine does not hash; this is linked into
 * jetfs and jetutil with OpenSSL's libcrypto (which uses the CPU's SHA
 * extensions where there are some).
 */
#ifndef JET_MANIFEST_H
#define JET_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define MANIFEST_NAME "SHA256SUMS"
#define MANIFEST_DIGEST_SIZE 32
#define MANIFEST_HEX_SIZE (2 * MANIFEST_DIGEST_SIZE)

/* 1 if name can stand in a manifest line (see FORMAT), else 0. */
int manifest_name_ok(const char *name);
/* The bytes of name's line, newline included. */
size_t manifest_line_size(const char *name);
/* Writes name's line (manifest_line_size bytes, no NUL) to out. */
void manifest_format_line(char *out, const uint8_t digest[MANIFEST_DIGEST_SIZE], const char *name);
/*
 * Parses one line (without its newline) of a manifest.  Accepts what
 * sha256sum writes for a plain name: hex in either case, then "  " (text)
 * or " *" (binary).  *name points into line, namelen bytes long.
 * @return 0, or -1 (not a manifest line).
 */
int manifest_parse_line(const char *line, size_t len, uint8_t digest[MANIFEST_DIGEST_SIZE], const char **name,
    size_t *namelen);

/* An incremental SHA-256. */
struct manifest_hash;
/* @return a new hash, or NULL (out of memory). */
struct manifest_hash *manifest_hash_new(void);
/* @return 0, or -1 (libcrypto failed; the hash is unusable). */
int manifest_hash_update(struct manifest_hash *h, const void *buf, size_t n);
/* Finishes the hash; it must not be updated after.  @return 0, or -1. */
int manifest_hash_final(struct manifest_hash *h, uint8_t digest[MANIFEST_DIGEST_SIZE]);
void manifest_hash_free(struct manifest_hash *h);

/*
 * Hashes the file at path with read(2).
 * @return 0, or -1 with errno set (EIO if libcrypto failed).
 */
int manifest_hash_file(const char *path, uint8_t digest[MANIFEST_DIGEST_SIZE]);

#endif
