/*
 * manifest.c -- the SHA256SUMS format and SHA-256 (see manifest.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "manifest.h"

#define MANIFEST_READ_CHUNK (1u << 20)

struct manifest_hash {
	EVP_MD_CTX *ctx;
};

int
manifest_name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' && strpbrk(name, "/\n\\") == NULL;
}

size_t
manifest_line_size(const char *name)
{
	return MANIFEST_HEX_SIZE + 2 + strlen(name) + 1;
}

void
manifest_format_line(char *out, const uint8_t digest[MANIFEST_DIGEST_SIZE], const char *name)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(name);

	for (size_t i = 0; i < MANIFEST_DIGEST_SIZE; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[MANIFEST_HEX_SIZE] = ' ';
	out[MANIFEST_HEX_SIZE + 1] = ' ';
	memcpy(out + MANIFEST_HEX_SIZE + 2, name, len);
	out[MANIFEST_HEX_SIZE + 2 + len] = '\n';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
manifest_parse_line(const char *line, size_t len, uint8_t digest[MANIFEST_DIGEST_SIZE], const char **name,
    size_t *namelen)
{
	if (len < MANIFEST_HEX_SIZE + 3 || line[MANIFEST_HEX_SIZE] != ' ' ||
	    (line[MANIFEST_HEX_SIZE + 1] != ' ' && line[MANIFEST_HEX_SIZE + 1] != '*'))
		return -1;
	for (size_t i = 0; i < MANIFEST_DIGEST_SIZE; i++) {
		int hi = hex_value(line[2 * i]), lo = hex_value(line[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		digest[i] = (uint8_t)(hi << 4 | lo);
	}
	*name = line + MANIFEST_HEX_SIZE + 2;
	*namelen = len - (MANIFEST_HEX_SIZE + 2);
	if (memchr(*name, '\0', *namelen) != NULL || memchr(*name, '/', *namelen) != NULL)
		return -1;
	return 0;
}

struct manifest_hash *
manifest_hash_new(void)
{
	struct manifest_hash *h = malloc(sizeof(*h));

	if (h == NULL)
		return NULL;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

int
manifest_hash_update(struct manifest_hash *h, const void *buf, size_t n)
{
	return EVP_DigestUpdate(h->ctx, buf, n) == 1 ? 0 : -1;
}

int
manifest_hash_final(struct manifest_hash *h, uint8_t digest[MANIFEST_DIGEST_SIZE])
{
	unsigned int len = 0;

	return EVP_DigestFinal_ex(h->ctx, digest, &len) == 1 && len == MANIFEST_DIGEST_SIZE ? 0 : -1;
}

void
manifest_hash_free(struct manifest_hash *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int
manifest_hash_file(const char *path, uint8_t digest[MANIFEST_DIGEST_SIZE])
{
	struct manifest_hash *h = NULL;
	char *buf = NULL;
	int fd, saved, rc = -1;
	ssize_t got;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if ((buf = malloc(MANIFEST_READ_CHUNK)) == NULL || (h = manifest_hash_new()) == NULL) {
		errno = ENOMEM;
		goto err;
	}
	while ((got = read(fd, buf, MANIFEST_READ_CHUNK)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			goto err;
		}
		if (manifest_hash_update(h, buf, (size_t)got) < 0) {
			errno = EIO;
			goto err;
		}
	}
	if (manifest_hash_final(h, digest) < 0) {
		errno = EIO;
		goto err;
	}
	rc = 0;
err:
	saved = errno;
	manifest_hash_free(h);
	free(buf);
	close(fd);
	errno = saved;
	return rc;
}
