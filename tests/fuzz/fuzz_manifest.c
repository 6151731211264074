/*
 * fuzz_manifest.c -- libFuzzer harness for the SHA256SUMS reader of
 * `jetutil verify-backup` (backupset_check_manifest in
 * tools/jetutil/backupset.c, linked in, and manifest_parse_line in
 * src/manifest.c).
 *
 * The input is written as SHA256SUMS into a private directory that holds two
 * files, "a" and "b"; the check must not crash, and it may find no problem
 * only if the input is a manifest of exactly those two files: two lines,
 * "<hash>  a" and "<hash>  b" in either order, with the right hashes (in
 * either case of hex digits, text or binary mark), each ending in a newline.
 * That oracle is computed here independently of the parser.
 */
#include "config.h"

#include <ctype.h>

#include <openssl/evp.h>

#include "fuzz_common.h"

#include "jetutil.h"
#include "manifest.h"

static const char *const fz_names[2] = { "a", "b" };
static const char *const fz_contents[2] = { "the first file of the set\n", "" };
static char fz_hex[2][65];
static char *fz_manifest;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_workdir("manifest");
	fz_manifest = fz_path(MANIFEST_NAME);
	for (int i = 0; i < 2; i++) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		char *p = fz_path(fz_names[i]);
		fz_write_file(p, (const uint8_t *)fz_contents[i], strlen(fz_contents[i]), 0);
		free(p);
		if (EVP_Digest(fz_contents[i], strlen(fz_contents[i]), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
			fz_die("EVP_Digest");
		for (unsigned k = 0; k < n; k++)
			snprintf(fz_hex[i] + 2 * k, 3, "%02x", md[k]);
	}
	return 0;
}

/* Whether line (len bytes, no newline) is the manifest line of file i. */
static int
fz_is_line_of(const char *line, size_t len, int i)
{
	if (len != 64 + 2 + strlen(fz_names[i]) || (line[65] != ' ' && line[65] != '*') || line[64] != ' ')
		return 0;
	for (int k = 0; k < 64; k++)
		if (tolower((unsigned char)line[k]) != fz_hex[i][k])
			return 0;
	return memcmp(line + 66, fz_names[i], strlen(fz_names[i])) == 0;
}

/* The oracle: data is a good manifest of a and b. */
static int
fz_is_good(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl;
	int seen[2] = { 0, 0 }, lines = 0;

	if (size == 0 || s[size - 1] != '\n')
		return 0;
	for (const char *line = s; line < s + size; line = nl + 1, lines++) {
		int matched = 0;
		nl = memchr(line, '\n', (size_t)(s + size - line));
		for (int i = 0; i < 2; i++)
			if (fz_is_line_of(line, (size_t)(nl - line), i)) {
				seen[i]++;
				matched = 1;
			}
		if (!matched)
			return 0;
	}
	return lines == 2 && seen[0] == 1 && seen[1] == 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backupset_report v;

	fz_write_file(fz_manifest, data, size, 0);
	memset(&v, 0, sizeof(v));
	fz_quiet_begin();
	backupset_check_manifest(&v, fz_dir);
	fz_quiet_end();
	FZ_CHECK((v.problems == 0) == fz_is_good(data, size), "verify-backup found %d problem(s) in a manifest that "
	    "is %s", v.problems, fz_is_good(data, size) ? "good" : "wrong");
	return 0;
}
