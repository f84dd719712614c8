/* Replays the fuzzer's regression corpus (tests/fuzz/corpus) through the
 * same body the libFuzzer target runs, so every normal and sanitizer build
 * re-checks the inputs that once mattered. */
#include "fuzz_frame_one.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name tests/fuzz/corpus"
#endif

/* Reads file @path whole; corpus entries are small. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

Test(corpus, replay_all)
{
	char path[4096];
	struct dirent *de;
	size_t count = 0;
	DIR *d;

	fuzz_quiet();
	d = opendir(FUZZ_CORPUS_DIR);
	cr_assert_not_null(d, "corpus directory %s", FUZZ_CORPUS_DIR);
	while ((de = readdir(d))) {
		struct stat st;
		uint8_t *data;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", FUZZ_CORPUS_DIR, de->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		data = slurp(path, &len);
		cr_assert_eq(fuzz_frame_one(data, len), 0, "%s", de->d_name);
		free(data);
		count++;
	}
	closedir(d);
	cr_assert_geq(count, 20, "corpus has only %zu entries", count);
}
