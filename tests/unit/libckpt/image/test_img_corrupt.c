/* test_img_corrupt.c - damaged and hostile images are refused with a
 * message, never loaded and never crash the reader. */
#define XXH_STATIC_LINKING_ONLY
#include "img_test_util.h"
#include "img_format.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

static struct tdamage fx; /* the intact image, and where its damaged copy goes */

static void setup_level(int level, enum tarea_data kind)
{
	tdamage_setup(&fx, level, kind);
}

static void setup(void)
{
	setup_level(3, TDATA_TEXT);
}

static void teardown(void)
{
	tdamage_teardown(&fx);
}

TestSuite(img_corrupt, .init = setup, .fini = teardown);

/* Opens @path and loads every area into scratch memory. Returns 0 if the
 * image was accepted whole, else the first error, and checks that a
 * refusal comes with a message. */
static int open_and_load(const char *path, unsigned int flags)
{
	struct img_reader *r = NULL;
	int err = img_reader_open(path, flags, &r);

	cr_assert_not_null(r);
	for (uint32_t i = 0; !err && i < img_reader_area_count(r); i++) {
		const struct img_area *a = img_reader_area(r, i);
		void *dest = mmap(NULL, a->len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		cr_assert_neq(dest, MAP_FAILED);
		err = img_reader_area_load(r, i, dest);
		munmap(dest, a->len);
	}
	if (err) {
		const char *msg = img_reader_error(r);

		cr_expect_gt(strlen(msg), 0, "error %d without a message", err);
		cr_expect_not_null(strstr(msg, path), "message without file name: %s", msg);
	}
	img_reader_free(r);
	return err;
}

Test(img_corrupt, intact_image_loads)
{
	cr_assert_eq(open_and_load(fx.good, 0), 0);
	cr_assert_eq(open_and_load(fx.good, IMG_VERIFY_ALL), 0);
}

/* Every single byte of the file matters: flipping any one is caught by
 * open or load, in header, records, areas, chunk data, trailer, footer. */
static void flip_every_byte(unsigned int flags, uint8_t mask)
{
	int fd;

	/* Patch one byte in place and put it back: rewriting the whole file
	 * each time makes ext4 flush it (auto_da_alloc) and the test crawl. */
	tfile_write(fx.bad, fx.img, fx.len);
	fd = open(fx.bad, O_WRONLY);
	cr_assert_geq(fd, 0);
	for (size_t pos = 0; pos < fx.len; pos++) {
		uint8_t b = fx.img[pos] ^ mask;

		cr_assert_eq(pwrite(fd, &b, 1, (off_t)pos), 1);
		cr_assert_neq(open_and_load(fx.bad, flags), 0,
			      "flip %#x at offset %zu of %zu accepted", mask, pos, fx.len);
		cr_assert_eq(pwrite(fd, &fx.img[pos], 1, (off_t)pos), 1);
	}
	close(fd);
}

Test(img_corrupt, flip_every_byte_all_bits)
{
	flip_every_byte(0, 0xff);
}
Test(img_corrupt, flip_every_byte_low_bit)
{
	flip_every_byte(0, 0x01);
}
Test(img_corrupt, flip_every_byte_high_bit_verify)
{
	flip_every_byte(IMG_VERIFY_ALL, 0x80);
}

/* With IMG_VERIFY_ALL, damage anywhere is caught by open alone. */
Test(img_corrupt, verify_all_catches_at_open)
{
	int fd;

	tfile_write(fx.bad, fx.img, fx.len);
	fd = open(fx.bad, O_WRONLY);
	for (size_t pos = 0; pos < fx.len; pos += 3) {
		struct img_reader *r;
		uint8_t b = fx.img[pos] ^ 0x10;

		cr_assert_eq(pwrite(fd, &b, 1, (off_t)pos), 1);
		cr_assert_neq(img_reader_open(fx.bad, IMG_VERIFY_ALL, &r), 0, "offset %zu", pos);
		cr_expect_gt(strlen(img_reader_error(r)), 0);
		img_reader_free(r);
		cr_assert_eq(pwrite(fd, &fx.img[pos], 1, (off_t)pos), 1);
	}
	close(fd);
}

Test(img_corrupt, truncate_every_length)
{
	int fd;

	tfile_write(fx.bad, fx.img, fx.len);
	fd = open(fx.bad, O_WRONLY);
	for (size_t n = fx.len; n-- > 0;) {
		struct img_reader *r;

		cr_assert_eq(ftruncate(fd, (off_t)n), 0);
		cr_assert_neq(img_reader_open(fx.bad, 0, &r), 0, "truncated to %zu accepted", n);
		cr_expect_gt(strlen(img_reader_error(r)), 0);
		img_reader_free(r);
	}
	close(fd);
}

Test(img_corrupt, appended_garbage)
{
	uint8_t *copy = malloc(fx.len + 100);

	memcpy(copy, fx.img, fx.len);
	memset(copy + fx.len, 0, 100);
	tfile_write(fx.bad, copy, fx.len + 100);
	cr_expect_neq(open_and_load(fx.bad, 0), 0);
	free(copy);
}

Test(img_corrupt, not_an_image)
{
	struct img_reader *r;

	cr_expect_eq(img_reader_open("/nonexistent/x.img", 0, &r), -ENOENT);
	cr_expect_not_null(strstr(img_reader_error(r), "/nonexistent/x.img"));
	img_reader_free(r);
	cr_expect_neq(img_reader_open("/proc/self/status", 0, &r), 0);
	img_reader_free(r);
	cr_expect_neq(img_reader_open(fx.dir, 0, &r), 0);
	img_reader_free(r);
}

Test(img_corrupt, newer_version_refused)
{
	uint8_t *copy = malloc(fx.len);
	struct img_reader *r;

	memcpy(copy, fx.img, fx.len);
	img_put32(copy + 8, IMG_FORMAT_VERSION + 1);
	tfile_write(fx.bad, copy, fx.len);
	cr_expect_eq(img_reader_open(fx.bad, 0, &r), -ENOTSUP);
	cr_expect_not_null(strstr(img_reader_error(r), "version"));
	img_reader_free(r);
	free(copy);
}

/* Hostile files: fields changed and checksums recomputed, so only the
 * semantic checks stand between the file and the restorer. */

/* Offset of the block header of area @i, from the index in @b. */
static uint64_t area_off(const uint8_t *b, size_t n, uint32_t i)
{
	uint64_t toff = img_get64(b + n - IMG_FOOTER_SIZE);
	const uint8_t *d = b + toff + IMG_BLK_HDR_SIZE;
	uint32_t nrec = img_get32(d + 16);

	return img_get64(d + IMG_TRAILER_FIXED_SIZE + nrec * IMG_IDX_REC_SIZE +
			 i * IMG_IDX_AREA_SIZE);
}

static void expect_area_refused(uint32_t i, size_t field, uint64_t value, bool is64,
				const char *why)
{
	uint8_t *copy = malloc(fx.len);
	uint64_t off = area_off(fx.img, fx.len, i);

	memcpy(copy, fx.img, fx.len);
	if (is64)
		img_put64(copy + off + IMG_BLK_HDR_SIZE + field, value);
	else
		img_put32(copy + off + IMG_BLK_HDR_SIZE + field, (uint32_t)value);
	tdamage_rehash(copy, fx.len, off);
	tfile_write(fx.bad, copy, fx.len);
	cr_expect_neq(open_and_load(fx.bad, 0), 0, "%s accepted", why);
	free(copy);
}

Test(img_corrupt, hostile_areas)
{
	expect_area_refused(1, 0, 0x10000001, true, "unaligned start");
	expect_area_refused(1, 0, 0x400000, true, "overlapping area");
	expect_area_refused(0, 0, 0xffffffffff600000ull, true, "kernel address");
	expect_area_refused(2, 8, UINT64_MAX - 4095, true, "wrapping length");
	expect_area_refused(1, 8, 4096, true, "area shorter than its runs");
	expect_area_refused(1, 16, 0x80, false, "unknown prot");
	expect_area_refused(1, 20, 0, false, "neither private nor shared");
	expect_area_refused(1, 60, 7, false, "wrong area number");
	expect_area_refused(2, 64, 0xffffffffu, false, "huge path length");
}

Test(img_corrupt, hostile_trailer_counts)
{
	uint8_t *copy = malloc(fx.len);
	uint64_t toff = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE);
	static const size_t fields[] = { 16, 20, 24 };
	static const uint32_t values[] = { 0xffffffffu, 1u << 20, 100 };

	for (size_t f = 0; f < 3; f++) {
		for (size_t v = 0; v < 3; v++) {
			memcpy(copy, fx.img, fx.len);
			img_put32(copy + toff + IMG_BLK_HDR_SIZE + fields[f], values[v]);
			tdamage_rehash(copy, fx.len, toff);
			tfile_write(fx.bad, copy, fx.len);
			cr_expect_neq(open_and_load(fx.bad, 0), 0, "field %zu value %u", fields[f],
				      values[v]);
		}
	}
	free(copy);
}

/* A chunk whose run points past its area, with every checksum fixed. */
Test(img_corrupt, hostile_chunk_run)
{
	uint8_t *copy = malloc(fx.len);
	uint64_t toff = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE);
	const uint8_t *d = fx.img + toff + IMG_BLK_HDR_SIZE;
	uint32_t nrec = img_get32(d + 16);
	uint32_t nareas = img_get32(d + 20);
	uint64_t coff = img_get64(d + IMG_TRAILER_FIXED_SIZE + nrec * IMG_IDX_REC_SIZE +
				  nareas * IMG_IDX_AREA_SIZE);
	static const uint64_t pages[] = { 3, 1000000, UINT64_MAX };

	for (size_t k = 0; k < 3; k++) {
		memcpy(copy, fx.img, fx.len);
		/* First run: page index */
		img_put64(copy + coff + IMG_BLK_HDR_SIZE + IMG_CHUNK_FIXED_SIZE, pages[k]);
		tdamage_rehash(copy, fx.len, coff);
		tfile_write(fx.bad, copy, fx.len);
		cr_expect_neq(open_and_load(fx.bad, 0), 0, "run at page %llu",
			      (unsigned long long)pages[k]);
	}
	free(copy);
}

/* Header fields with the checksum fixed. */
Test(img_corrupt, hostile_header)
{
	static const struct {
		size_t field;	/* offset in the header descriptor */
		uint32_t value; /* value written there */
		const char *why;
	} cases[] = {
		{ 0, 0, "page size 0" },
		{ 0, 4097, "page size not a power of two" },
		{ 0, 1u << 30, "page size 1 GiB" },
		{ 16, 1000000000u, "nanoseconds out of range" },
		{ 24, 0xffffffffu, "huge argc" },
		{ 24, 5, "argc one more than stored" },
		{ 24, 3, "argc one less than stored" },
		{ 28, 1, "reserved field" },
		{ 32, 0x7fffffffu, "huge hostname length" },
	};
	uint8_t *copy = malloc(fx.len);

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memcpy(copy, fx.img, fx.len);
		img_put32(copy + IMG_PROLOGUE_SIZE + IMG_BLK_HDR_SIZE + cases[k].field,
			  cases[k].value);
		tdamage_rehash(copy, fx.len, IMG_PROLOGUE_SIZE);
		tfile_write(fx.bad, copy, fx.len);
		cr_expect_neq(open_and_load(fx.bad, 0), 0, "%s accepted", cases[k].why);
	}
	free(copy);
}

/* A record claiming more bytes than the file has. */
Test(img_corrupt, hostile_record_length)
{
	uint8_t *copy = malloc(fx.len);
	uint64_t toff = img_get64(fx.img + fx.len - IMG_FOOTER_SIZE);
	uint64_t roff = img_get64(fx.img + toff + IMG_BLK_HDR_SIZE + IMG_TRAILER_FIXED_SIZE);
	static const uint32_t lens[] = { 0, 7, 0x7fffffffu, 0xffffffffu };

	for (size_t k = 0; k < 4; k++) {
		memcpy(copy, fx.img, fx.len);
		img_put32(copy + roff + 4, lens[k]);
		tdamage_rehash(copy, fx.len, roff);
		tfile_write(fx.bad, copy, fx.len);
		cr_expect_neq(open_and_load(fx.bad, 0), 0, "record length %u", lens[k]);
	}
	free(copy);
}

/* Random damage: 1-16 bytes changed at random places (bursts and
 * scattered), 4000 times, deterministic seed. Every one refused. */
Test(img_corrupt, random_multi_byte_damage)
{
	uint8_t *copy = malloc(fx.len);
	uint64_t x = 0x2545f4914f6cdd1dull;

	for (int iter = 0; iter < 4000; iter++) {
		int nbytes;
		bool burst;

		memcpy(copy, fx.img, fx.len);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		nbytes = 1 + (int)(x % 16);
		burst = (x >> 8) & 1;
		size_t pos = (size_t)((x >> 16) % fx.len);

		for (int k = 0; k < nbytes; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (!burst)
				pos = (size_t)(x % fx.len);
			/* Never a no-op: XOR with a non-zero value. */
			copy[pos] ^= (uint8_t)(1 + (x >> 32) % 255);
			if (burst && ++pos == fx.len)
				pos = 0;
		}
		tfile_write(fx.bad, copy, fx.len);
		cr_assert_neq(open_and_load(fx.bad, 0), 0, "iteration %d accepted", iter);
	}
	free(copy);
}
