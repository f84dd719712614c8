/* test_img_blocklen.c - the lengths of the header and trailer blocks are
 * checked before their descriptors are read: a descriptor shorter than its
 * fixed part, or bulk data where the format allows none, is refused with a
 * message. Every image here has valid checksums, so only those length
 * checks stand between it and the reader (issue 12, item 7). */
#define XXH_STATIC_LINKING_ONLY
#include "img_test_util.h"
#include "img_format.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static struct tdamage fx; /* the intact image, and where its hostile copy goes */

static void setup(void)
{
	tdamage_setup(&fx, 3, TDATA_TEXT);
}

static void teardown(void)
{
	tdamage_teardown(&fx);
}

TestSuite(img_blocklen, .init = setup, .fini = teardown);

/* Rewrites the footer of @b (@n bytes) for a trailer at @toff of @tlen
 * bytes, with its checksum. */
static void footer_set(uint8_t *b, size_t n, uint64_t toff, uint64_t tlen)
{
	uint8_t *f = b + n - IMG_FOOTER_SIZE;

	img_put64(f, toff);
	img_put64(f + 8, tlen);
	img_put64(f + 16, XXH64(f, 16, 0));
}

/* Opens @path; returns the error (0 if accepted) and copies the reader's
 * message into @msg. */
static int open_msg(const char *path, unsigned int flags, char *msg, size_t size)
{
	struct img_reader *r = NULL;
	int err = img_reader_open(path, flags, &r);

	cr_assert_not_null(r);
	snprintf(msg, size, "%s", err ? img_reader_error(r) : "");
	img_reader_free(r);
	return err;
}

/* Trailer descriptor shorter than its 32-byte fixed part, the block's
 * length made up with bulk data: the reader used to read the fixed fields
 * past the end of the descriptor buffer (a heap over-read under ASan). */
static void expect_short_trailer_refused(uint32_t desc_len)
{
	uint8_t *copy = malloc(fx.len);
	uint64_t toff = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE);
	uint64_t tlen = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE + 8);
	char msg[512];

	memcpy(copy, fx.img, fx.len);
	img_put32(copy + toff + 4, desc_len);
	img_put64(copy + toff + 8, tlen - IMG_BLK_HDR_SIZE - desc_len);
	tdamage_rehash(copy, fx.len, toff);
	tfile_write(fx.bad, copy, fx.len);
	cr_assert_neq(open_msg(fx.bad, 0, msg, sizeof(msg)), 0, "trailer of %u bytes accepted",
		      desc_len);
	cr_expect_not_null(strstr(msg, "trailer: descriptor of"), "%s", msg);
	free(copy);
}

Test(img_blocklen, trailer_descriptor_empty)
{
	expect_short_trailer_refused(0);
}

Test(img_blocklen, trailer_descriptor_short)
{
	expect_short_trailer_refused(IMG_TRAILER_FIXED_SIZE - 1);
}

/* An intact trailer followed by bulk data the format does not allow: the
 * footer is moved and rehashed so that the block fits exactly. */
Test(img_blocklen, trailer_with_data)
{
	uint64_t toff = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE);
	uint64_t tlen = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE + 8);
	const size_t extra = 8;
	uint8_t *copy = calloc(1, fx.len + extra);
	char msg[512];

	memcpy(copy, fx.img, toff + tlen);
	memcpy(copy + toff + tlen + extra, fx.img + toff + tlen, IMG_FOOTER_SIZE);
	img_put64(copy + toff + 8, extra);
	tdamage_rehash(copy, fx.len + extra, toff);
	footer_set(copy, fx.len + extra, toff, tlen + extra);
	tfile_write(fx.bad, copy, fx.len + extra);
	cr_assert_neq(open_msg(fx.bad, 0, msg, sizeof(msg)), 0, "trailer with data accepted");
	cr_expect_not_null(strstr(msg, "8 data bytes"), "%s", msg);
	free(copy);
}

/* A header block with bulk data: 8 unchecked bytes inserted after its
 * descriptor, every later offset, the whole-image checksum and the footer
 * fixed up, so that only the data_len check can refuse it. */
Test(img_blocklen, header_with_data)
{
	uint64_t toff = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE);
	uint64_t tlen = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE + 8);
	uint64_t hend =
		IMG_PROLOGUE_SIZE + IMG_BLK_HDR_SIZE + img_get32(fx.img + IMG_PROLOGUE_SIZE + 4);
	const size_t extra = 8;
	uint8_t *copy = calloc(1, fx.len + extra);
	uint64_t ntoff = toff + extra;
	uint8_t *d = copy + ntoff + IMG_BLK_HDR_SIZE;
	uint32_t nrec;
	uint32_t nareas;
	uint32_t nchunks;
	uint8_t *e;
	char msg[512];

	memcpy(copy, fx.img, hend);
	memset(copy + hend, 0xa5, extra);
	memcpy(copy + hend + extra, fx.img + hend, fx.len - hend);
	img_put64(copy + IMG_PROLOGUE_SIZE + 8, extra);
	tdamage_rehash(copy, fx.len + extra, IMG_PROLOGUE_SIZE);
	nrec = img_get32(d + 16);
	nareas = img_get32(d + 20);
	nchunks = img_get32(d + 24);
	e = d + IMG_TRAILER_FIXED_SIZE;
	for (uint32_t i = 0; i < nrec; i++, e += IMG_IDX_REC_SIZE)
		img_put64(e, img_get64(e) + extra);
	for (uint32_t i = 0; i < nareas; i++, e += IMG_IDX_AREA_SIZE)
		img_put64(e, img_get64(e) + extra);
	for (uint32_t i = 0; i < nchunks; i++, e += IMG_IDX_CHUNK_SIZE)
		img_put64(e, img_get64(e) + extra);
	img_put64(d, XXH64(copy, ntoff, 0));
	tdamage_rehash(copy, fx.len + extra, ntoff);
	footer_set(copy, fx.len + extra, ntoff, tlen);
	tfile_write(fx.bad, copy, fx.len + extra);
	cr_assert_neq(open_msg(fx.bad, IMG_VERIFY_ALL, msg, sizeof(msg)), 0,
		      "header with data accepted");
	cr_expect_not_null(strstr(msg, "header block has 8 data bytes"), "%s", msg);
	free(copy);
}

/* The fix-ups above are right: the same edits without the extra bytes
 * give an image that opens, so the refusals are for the lengths alone. */
Test(img_blocklen, fixups_keep_intact_image_valid)
{
	uint8_t *copy = malloc(fx.len);
	uint64_t toff = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE);
	uint64_t tlen = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE + 8);
	char msg[512];

	memcpy(copy, fx.img, fx.len);
	tdamage_rehash(copy, fx.len, IMG_PROLOGUE_SIZE);
	tdamage_rehash(copy, fx.len, toff);
	footer_set(copy, fx.len, toff, tlen);
	tfile_write(fx.bad, copy, fx.len);
	cr_assert_eq(open_msg(fx.bad, IMG_VERIFY_ALL, msg, sizeof(msg)), 0, "%s", msg);
	free(copy);
}
