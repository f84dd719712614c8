/* fuzz_util.c - helpers shared by the fuzz target bodies (fuzz_target.h). */
#include "fuzz_target.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void fuzz_log_drop(enum log_level level, const char *msg)
{
	(void)level;
	(void)msg;
}

void fuzz_log_quiet(void)
{
	log_set_backend(fuzz_log_drop);
}

/* A memfd, not a file under /tmp: no disk traffic at thousands of inputs a
 * second, and it is a regular file to readers that refuse anything else. */
const char *fuzz_file_put(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;

	if (fd < 0) {
		fd = memfd_create("fuzz-input", MFD_CLOEXEC);
		if (fd < 0) {
			perror("fuzz: memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("fuzz: cannot write the scratch file");
		abort();
	}
	return path;
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}
