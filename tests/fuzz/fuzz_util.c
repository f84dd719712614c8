/* fuzz_util.c - helpers shared by the fuzz target bodies (fuzz_target.h). */
#include "fuzz_target.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
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

/* A file on tmpfs (/dev/shm): no disk traffic at thousands of inputs a
 * second, and a regular file reached by a plain path. Not a memfd's
 * /proc/self/fd/N: that is a symbolic link, which readers opening with
 * O_NOFOLLOW (agent_addr.c) refuse, so every input would be rejected before
 * the parser ran. */
static char fuzz_file_dir[64];
static char fuzz_file_path[80];

static void fuzz_file_remove(void)
{
	unlink(fuzz_file_path);
	rmdir(fuzz_file_dir);
}

const char *fuzz_file_put(const uint8_t *data, size_t size)
{
	static int fd = -1;

	if (fd < 0) {
		snprintf(fuzz_file_dir, sizeof(fuzz_file_dir), "/dev/shm/fuzz-input.XXXXXX");
		if (!mkdtemp(fuzz_file_dir)) {
			perror("fuzz: mkdtemp /dev/shm/fuzz-input.XXXXXX");
			abort();
		}
		snprintf(fuzz_file_path, sizeof(fuzz_file_path), "%s/input", fuzz_file_dir);
		fd = open(fuzz_file_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			perror("fuzz: cannot create the scratch file");
			abort();
		}
		atexit(fuzz_file_remove);
	}
	if (ftruncate(fd, 0) || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("fuzz: cannot write the scratch file");
		abort();
	}
	return fuzz_file_path;
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
