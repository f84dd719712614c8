/* gen_image_seeds.c - writes the seed images of the image fuzzer into the
 * directory given as argument, through the real writer: a few small valid
 * images (no area, raw and zstd chunks, sparse runs, records, argv) and
 * near-valid ones with a field changed and every checksum fixed, among
 * them the trailer whose descriptor is shorter than its fixed part (the
 * over-read of issue 12). Run by hand; its output is committed in
 * tests/fuzz/corpus-image. */
#define XXH_STATIC_LINKING_ONLY
#include "img.h"
#include "img_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#define PG 4096u

static const char *outdir;

/* Page data: text that compresses well, or bytes that do not. */
static uint8_t *pages_make(size_t n, bool random)
{
	uint8_t *p = aligned_alloc(PG, n * PG);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	if (!p)
		abort();
	for (size_t i = 0; i < n * PG; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = random ? (uint8_t)x : (uint8_t)("checkpoint "[i % 11]);
	}
	return p;
}

/* Pages of the big area of "zstd-two-chunks": one more than a chunk holds,
 * so that the area spans two chunks. */
#define BIG_PAGES (IMG_CHUNK_SIZE / PG + 1)

/* Writes an image named @name: @nrec records, then @nareas areas; with
 * @big, one more area of BIG_PAGES pages. */
static int image_write(const char *name, int level, int nrec, int nareas, bool random, bool big)
{
	static const char *const argv[] = { "/bin/prog", "-x", "" };
	struct img_header h = { .pid = 4242, .exe = "/bin/prog", .argc = 3, .argv = argv };
	struct img_writer_opts o = { .log_fd = 2,
				     .level = level,
				     .nthreads = 1,
				     .no_fsync = true,
				     .max_areas = 8,
				     .max_records = 8,
				     .max_chunks = 16 };
	struct img_writer *w = NULL;
	uint8_t *data = pages_make(4, random);
	char path[4096];
	size_t asz;
	void *arena;
	int err;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (o.fd < 0)
		return -errno;
	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	if (arena == MAP_FAILED)
		abort();
	err = img_writer_begin(&w, &o, &h, arena, asz);
	for (int i = 0; !err && i < nrec; i++)
		err = img_writer_add_record(w, 0x100u + (uint32_t)i, "record", 6 + (uint64_t)i);
	for (int i = 0; !err && i < nareas; i++) {
		struct img_area a = { .start = 0x400000 + (uint64_t)i * 0x100000,
				      .len = 4 * PG,
				      .prot = PROT_READ | PROT_WRITE,
				      .flags = IMG_AREA_PRIVATE,
				      .path = i == 1 ? "/lib/libx.so" : NULL,
				      .name = i == 0 ? "[heap]" : NULL };

		err = img_writer_area_begin(w, &a);
		/* Area 0: one run; area 1: two runs (sparse); area 2: none. */
		if (!err && i == 0)
			err = img_writer_area_run(w, 0, data, 2 * PG);
		if (!err && i == 1)
			err = img_writer_area_run(w, 0, data, PG);
		if (!err && i == 1)
			err = img_writer_area_run(w, 2 * PG, data + 2 * PG, 2 * PG);
		if (!err)
			err = img_writer_area_end(w);
	}
	if (!err && big) {
		struct img_area a = { .start = 0x10000000,
				      .len = BIG_PAGES * PG,
				      .prot = PROT_READ,
				      .flags = IMG_AREA_SHARED,
				      .name = "[big]" };
		uint8_t *pages = pages_make(BIG_PAGES, false);

		err = img_writer_area_begin(w, &a);
		if (!err)
			err = img_writer_area_run(w, 0, pages, BIG_PAGES * PG);
		if (!err)
			err = img_writer_area_end(w);
		/* The writer reads the pages until finish. */
		if (!err)
			err = img_writer_finish(w, NULL);
		free(pages);
	} else if (!err) {
		err = img_writer_finish(w, NULL);
	}
	img_writer_free(w);
	munmap(arena, asz);
	close(o.fd);
	free(data);
	return err;
}

/* Reads image @name whole. */
static uint8_t *image_read(const char *name, size_t *len)
{
	char path[4096];
	uint8_t *b;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		abort();
	b = malloc((size_t)n);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void image_save(const char *name, const uint8_t *b, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, len, f) != len || fclose(f))
		abort();
}

static void rehash_block(uint8_t *b, uint64_t off)
{
	XXH64_state_t st;

	XXH64_reset(&st, 0);
	XXH64_update(&st, b + off, 16);
	XXH64_update(&st, b + off + IMG_BLK_HDR_SIZE, img_get32(b + off + 4));
	img_put64(b + off + 16, XXH64_digest(&st));
}

/* Near-valid variants of image @from, checksums fixed. */
static void variants(const char *from)
{
	size_t len;
	uint8_t *img = image_read(from, &len);
	uint8_t *b = malloc(len);
	uint64_t toff = img_get64(img + len - IMG_FOOTER_SIZE);
	uint64_t tlen = img_get64(img + len - IMG_FOOTER_SIZE + 8);

	/* The trailer's descriptor emptied, its length made up as data. */
	memcpy(b, img, len);
	img_put32(b + toff + 4, 0);
	img_put64(b + toff + 8, tlen - IMG_BLK_HDR_SIZE);
	rehash_block(b, toff);
	image_save("crash-trailer-desc-short", b, len);
	/* 16 bytes of trailer descriptor: the count fields lie past it. */
	memcpy(b, img, len);
	img_put32(b + toff + 4, 16);
	img_put64(b + toff + 8, tlen - IMG_BLK_HDR_SIZE - 16);
	rehash_block(b, toff);
	image_save("crash-trailer-desc-16", b, len);
	/* Header page size not a power of two. */
	memcpy(b, img, len);
	img_put32(b + IMG_PROLOGUE_SIZE + IMG_BLK_HDR_SIZE, 4097);
	rehash_block(b, IMG_PROLOGUE_SIZE);
	image_save("near-page-size", b, len);
	/* One more area than the index holds. */
	memcpy(b, img, len);
	img_put32(b + toff + IMG_BLK_HDR_SIZE + 20,
		  img_get32(img + toff + IMG_BLK_HDR_SIZE + 20) + 1);
	rehash_block(b, toff);
	image_save("near-area-count", b, len);
	free(b);
	free(img);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int level;
		int nrec;
		int nareas;
		bool random;
		bool big;
	} seeds[] = {
		{ "empty", 0, 0, 0, false, false },
		{ "records-only", 0, 3, 0, false, false },
		{ "raw-one-area", 0, 1, 1, true, false },
		{ "zstd-one-area", 1, 1, 1, false, false },
		{ "zstd-three-areas", 1, 2, 3, false, false },
		{ "raw-three-areas", 0, 0, 3, true, false },
		{ "zstd-two-chunks", 3, 1, 1, false, true },
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		int err = image_write(seeds[i].name, seeds[i].level, seeds[i].nrec, seeds[i].nareas,
				      seeds[i].random, seeds[i].big);

		if (err) {
			fprintf(stderr, "%s: %s\n", seeds[i].name, strerror(-err));
			return 1;
		}
	}
	variants("zstd-three-areas");
	return 0;
}
