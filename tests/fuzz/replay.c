/* replay.c - replays a fuzz target's corpus (FUZZ_CORPUS_DIR) through the
 * same body the libFuzzer program runs, so every normal and sanitizer build
 * re-checks the seeds and the inputs that once crashed. */
#include "fuzz_target.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name the corpus directory"
#endif
#ifndef FUZZ_CORPUS_MIN
#define FUZZ_CORPUS_MIN 5
#endif

/* Reads file @path whole; corpus entries are small. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_geq(n, 0);
	cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n, "%s", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

Test(fuzz_corpus, replay_all)
{
	char path[4096];
	struct dirent *de;
	size_t count = 0;
	DIR *d;

	fuzz_target_init();
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
		cr_assert_eq(fuzz_target_one(data, len), 0, "%s", de->d_name);
		free(data);
		count++;
	}
	closedir(d);
	cr_assert_geq(count, FUZZ_CORPUS_MIN, "corpus %s has only %zu entries", FUZZ_CORPUS_DIR,
		      count);
}
