/* img_bases.c - the IMG_REC_BASES record of incremental images: which
 * earlier images the reference chunks of an image point into.
 *
 * Pure encoding and decoding (no malloc, no system calls): the writer child
 * encodes, the reader and the node agent's pruning decode.
 */
#include "img.h"
#include "img_format.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Fixed part: le32 count, le32 reserved. Per base: le64 gen, le64
 * body_xxh, le32 path length, path bytes. */
#define IMG_BASES_FIXED 8u
#define IMG_BASE_FIXED	20u

/* A file name: not empty, no '/', not "." or "..". */
static bool file_name_ok(const char *name)
{
	return name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Where a base may be: NAME beside the image, or "../gen-GEN/NAME" in the
 * directory of its own generation GEN (decimal, as the writer prints it).
 * Nothing else: a base path read from a file never reaches outside the
 * checkpoint directory of the job, whatever the image says. */
static bool base_path_ok(const char *path, uint64_t gen)
{
	char prefix[40];
	int n;

	if (file_name_ok(path))
		return true;
	n = snprintf(prefix, sizeof(prefix), "../gen-%llu/", (unsigned long long)gen);
	return n > 0 && !strncmp(path, prefix, (size_t)n) && file_name_ok(path + n);
}

long img_bases_encode(uint8_t *buf, size_t cap, const struct img_base *b, uint32_t n)
{
	size_t pos = IMG_BASES_FIXED;

	if (n > IMG_BASES_MAX || (n && !b) || cap < IMG_BASES_FIXED)
		return n > IMG_BASES_MAX ? -EINVAL : -ENOSPC;
	img_put32(buf, n);
	img_put32(buf + 4, 0);
	for (uint32_t i = 0; i < n; i++) {
		size_t l = strnlen(b[i].path, sizeof(b[i].path));

		if (!l || l >= sizeof(b[i].path) || !base_path_ok(b[i].path, b[i].gen))
			return -EINVAL;
		if (cap - pos < IMG_BASE_FIXED + l)
			return -ENOSPC;
		img_put64(buf + pos, b[i].gen);
		img_put64(buf + pos + 8, b[i].body_xxh);
		img_put32(buf + pos + 16, (uint32_t)l);
		memcpy(buf + pos + IMG_BASE_FIXED, b[i].path, l);
		pos += IMG_BASE_FIXED + l;
	}
	return (long)pos;
}

int img_bases_decode(const uint8_t *p, uint64_t len, struct img_base *out)
{
	uint64_t pos = IMG_BASES_FIXED;
	uint32_t n;

	if (len < IMG_BASES_FIXED)
		return -EBADMSG;
	n = img_get32(p);
	if (n > IMG_BASES_MAX || img_get32(p + 4))
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t l;

		if (len - pos < IMG_BASE_FIXED)
			return -EBADMSG;
		l = img_get32(p + pos + 16);
		if (!l || l >= sizeof(out[i].path) || len - pos - IMG_BASE_FIXED < l)
			return -EBADMSG;
		out[i].gen = img_get64(p + pos);
		out[i].body_xxh = img_get64(p + pos + 8);
		memcpy(out[i].path, p + pos + IMG_BASE_FIXED, l);
		out[i].path[l] = '\0';
		if (strlen(out[i].path) != l || !base_path_ok(out[i].path, out[i].gen))
			return -EBADMSG;
		pos += IMG_BASE_FIXED + l;
	}
	return pos == len ? (int)n : -EBADMSG;
}
