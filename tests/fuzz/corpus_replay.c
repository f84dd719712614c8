/* corpus_replay.c - replays a fuzz corpus directory (corpus_replay.h). */
#include "corpus_replay.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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

size_t fuzz_corpus_replay(const char *dir, int (*one)(const uint8_t *data, size_t size))
{
	char path[4096];
	struct dirent *de;
	size_t count = 0;
	DIR *d;

	d = opendir(dir);
	cr_assert_not_null(d, "corpus directory %s", dir);
	while ((de = readdir(d))) {
		struct stat st;
		uint8_t *data;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		data = slurp(path, &len);
		cr_assert_eq(one(data, len), 0, "%s", de->d_name);
		free(data);
		count++;
	}
	closedir(d);
	return count;
}
