/* fuzz_files.c - the validation of a files record (libckpt/files.c and the
 * kinds it delegates: files_sock.c, files_evfd.c, files_epoll.c,
 * files_inotify.c, files_memfd.c) on arbitrary bytes, as ckpt-restore and 'ckpt restart'
 * read it from an image: the checks run before any descriptor is touched,
 * so only the pure entry points are called. A record accepted lists ends
 * that lie inside it. */
#include "fuzz_target.h"

#include "files.h"
#include "log.h"

#include <stdlib.h>

void fuzz_target_init(void)
{
	fuzz_log_quiet();
}

int fuzz_target_one(const uint8_t *data, size_t size)
{
	struct ckpt_tree_pipe_ent pipes[8];
	struct ckpt_tree_sock_ent socks[8];
	const uint8_t *end = data + size;
	int n;

	(void)ckpt_files_fd_limit(data, size);
	n = ckpt_files_tree_pipe_ends(data, size, pipes, 8);
	for (int i = 0; i < n; i++)
		if ((const uint8_t *)pipes[i].data + pipes[i].data_len > end)
			abort();
	n = ckpt_files_tree_sock_ends(data, size, socks, 8);
	for (int i = 0; i < n; i++)
		if ((const uint8_t *)socks[i].data + socks[i].data_len > end)
			abort();
	return 0;
}
