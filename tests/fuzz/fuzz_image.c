/* fuzz_image.c - the image reader (libckpt/image/img_reader.c) and the
 * inspector on arbitrary files. Linked with an image library built with
 * IMG_FUZZ_NO_CHECKSUMS, so that mutated inputs get past the checksums to
 * the checks that guard the restorer. Every area an image accepts is
 * loaded into scratch memory of its declared size, and its runs must lie
 * inside it. */
#include "fuzz_target.h"

#include "img.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Largest area loaded: the reader accepts areas of any size, but mapping
 * terabytes per input would only slow the fuzzer; runs are still walked. */
#define FUZZ_IMG_LOAD_MAX (64u << 20)

static FILE *fuzz_null;

void fuzz_target_init(void)
{
	fuzz_log_quiet();
	fuzz_null = fopen("/dev/null", "w");
	if (!fuzz_null)
		abort();
}

/* Run callback: every run reported lies inside the area. */
static int fuzz_run_check(void *arg, uint64_t addr, uint64_t len)
{
	const struct img_area *a = arg;

	if (!len || addr > a->len || len > a->len - addr)
		abort();
	return 0;
}

static void fuzz_image_areas(struct img_reader *r)
{
	for (uint32_t i = 0; i < img_reader_area_count(r); i++) {
		const struct img_area *a = img_reader_area(r, i);
		void *dest;

		if (!a)
			abort();
		if (img_reader_area_runs(r, i, fuzz_run_check, (void *)a))
			continue;
		if (a->len > FUZZ_IMG_LOAD_MAX)
			continue;
		dest = mmap(NULL, a->len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (dest == MAP_FAILED)
			abort();
		img_reader_area_load(r, i, dest);
		munmap(dest, a->len);
	}
	if (img_reader_area(r, img_reader_area_count(r)) ||
	    img_reader_area_runs(r, img_reader_area_count(r), fuzz_run_check, NULL) != -ENOENT)
		abort();
}

static void fuzz_image_records(const struct img_reader *r)
{
	uint32_t n = img_reader_record_count(r);
	volatile uint8_t sink = 0;

	for (uint32_t i = 0; i < n; i++) {
		const void *data;
		uint32_t type;
		uint64_t len;

		if (img_reader_record(r, i, &type, &data, &len))
			abort();
		/* Touch the first and last byte: a wrong length shows under ASan. */
		if (len)
			sink ^= ((const uint8_t *)data)[0] ^ ((const uint8_t *)data)[len - 1];
	}
	/* Finding each type from the start gives the first record of it. */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t type;
		uint32_t k = 0;

		if (img_reader_record(r, i, &type, NULL, NULL) ||
		    img_reader_record_find(r, type, &k, NULL, NULL) || k > i)
			abort();
	}
	(void)sink;
}

int fuzz_target_one(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file_put(data, size);
	static const unsigned int flags[] = { 0, IMG_VERIFY_ALL };

	for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
		struct img_reader *r = NULL;
		int err = img_reader_open(path, flags[k], &r);

		if (!r)
			abort();
		if (!err) {
			const struct img_header *h = img_reader_header(r);

			for (uint32_t i = 0; i < h->argc; i++)
				if (!h->argv[i])
					abort();
			fuzz_image_records(r);
			img_inspect_print(r, fuzz_null, true);
			fuzz_image_areas(r);
		} else if (!img_reader_error(r)[0]) {
			abort(); /* every refusal says why */
		}
		img_reader_free(r);
	}
	return 0;
}
