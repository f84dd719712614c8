/* fuzz_files.c - the validation of a files record (libckpt/files.c and the
 * kinds it delegates: files_sock.c, files_evfd.c, files_epoll.c,
 * files_inotify.c, files_memfd.c) on arbitrary bytes, as ckpt-restore and 'ckpt restart'
 * read it from an image: the checks run before any descriptor is touched,
 * so only the pure entry points are called. A record accepted lists ends
 * that lie inside it, and its inotify (kind 14) and memfd (kind 15)
 * entries hold what their restore reads without checking again: a walk
 * over the pinned layout (docs/files-and-state.md), independent of the
 * validator, aborts otherwise. */
#include "fuzz_target.h"

#include "files.h"
#include "files_inotify.h"
#include "files_memfd.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offsets of the pinned layout (docs/files-and-state.md, "files"). */
#define REC_HDR	       16 /* magic, version, count, flags */
#define REC_COUNT      8
#define ENT_HDR	       88
#define ENT_SIZE       0
#define ENT_KIND       8
#define ENT_DUP_OF     20
#define ENT_PATH_LEN   32
#define ENT_FILE_SIZE  72
#define ENT_DATA_LEN   80
#define KIND_INOTIFY   14
#define KIND_MEMFD     15
#define PAGE	       4096u
#define TASK_SIZE      (1ull << 47) /* top of user space, 4-level paging */
#define INOTIFY_EVENTS 0xfffu	    /* IN_ALL_EVENTS */

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The data of an accepted memfd entry: header, mappings inside user space
 * on page boundaries, then exactly @size bytes of contents. */
static bool memfd_sound(const uint8_t *d, uint64_t len, uint64_t size)
{
	struct ckpt_memfd_hdr h;

	if (len < sizeof(h))
		return false;
	memcpy(&h, d, sizeof(h));
	if (h.reserved || h.nmaps > CKPT_MEMFD_MAPS_MAX ||
	    len != sizeof(h) + (uint64_t)h.nmaps * sizeof(struct ckpt_memfd_map) + size)
		return false;
	for (uint32_t i = 0; i < h.nmaps; i++) {
		struct ckpt_memfd_map m;

		memcpy(&m, d + sizeof(h) + i * sizeof(m), sizeof(m));
		if (m.reserved || !m.len || (m.start | m.len | m.offset) % PAGE ||
		    m.start > TASK_SIZE || m.len > TASK_SIZE - m.start ||
		    m.offset > (uint64_t)INT64_MAX - m.len || (m.prot & ~7u))
			return false;
	}
	return true;
}

/* The data of an accepted inotify entry: header, watches with strictly
 * increasing positive wds and known masks naming an event, then their
 * absolute NUL-terminated paths filling the rest exactly. */
static bool inotify_sound(const uint8_t *d, uint64_t len)
{
	struct ckpt_inotify_hdr h;
	uint64_t at;
	int32_t prev = 0;

	if (len < sizeof(h))
		return false;
	memcpy(&h, d, sizeof(h));
	at = sizeof(h) + (uint64_t)h.count * sizeof(struct ckpt_inotify_watch);
	if (h.reserved || h.count > CKPT_INOTIFY_WATCHES_MAX || at > len)
		return false;
	for (uint32_t i = 0; i < h.count; i++) {
		struct ckpt_inotify_watch w;

		memcpy(&w, d + sizeof(h) + i * sizeof(w), sizeof(w));
		if (w.wd <= prev || (w.mask & ~CKPT_INOTIFY_MASK_KNOWN) ||
		    !(w.mask & INOTIFY_EVENTS) || w.path_len < 2 || w.path_len > len - at ||
		    d[at] != '/' || memchr(d + at, '\0', w.path_len) != d + at + w.path_len - 1)
			return false;
		prev = w.wd;
		at += w.path_len;
	}
	return at == len;
}

/* Walks the entries of accepted record @rec (@len bytes) and checks those
 * of kinds 14 and 15; returns how many of each it saw in @seen[0] and
 * @seen[1], or false when one breaks an invariant. */
static bool files_walk(const uint8_t *rec, size_t len, unsigned int seen[2])
{
	size_t at = REC_HDR;
	uint32_t count;

	if (len < REC_HDR)
		return false;
	count = get32(rec + REC_COUNT);
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = rec + at;
		uint32_t size;
		uint32_t kind;
		uint32_t path_len;
		uint64_t data_len;
		const uint8_t *data;

		if (len - at < ENT_HDR)
			return false;
		size = get32(e + ENT_SIZE);
		kind = get32(e + ENT_KIND);
		path_len = get32(e + ENT_PATH_LEN);
		data_len = get64(e + ENT_DATA_LEN);
		if (size > len - at || data_len > size ||
		    size != ((ENT_HDR + (uint64_t)path_len + data_len + 7) & ~7ull))
			return false;
		data = e + ENT_HDR + path_len;
		if ((int32_t)get32(e + ENT_DUP_OF) >= 0) {
			if ((kind == KIND_INOTIFY || kind == KIND_MEMFD) && data_len)
				return false;
		} else if (kind == KIND_MEMFD) {
			if (path_len < 8 || memcmp(e + ENT_HDR, "/memfd:", 7) != 0 ||
			    !memfd_sound(data, data_len, get64(e + ENT_FILE_SIZE)))
				return false;
			seen[1]++;
		} else if (kind == KIND_INOTIFY) {
			if (!inotify_sound(data, data_len))
				return false;
			seen[0]++;
		}
		at += size;
	}
	return at == len;
}

/* Appends to @rec at @at an entry for descriptor @fd of @kind, @mode,
 * access @acc, with @path and @len bytes of @data; returns the new end. */
static size_t entry_put(uint8_t *rec, size_t at, int32_t fd, uint32_t kind, uint32_t mode,
			uint32_t acc, const char *path, const void *data, uint64_t len)
{
	uint8_t *e = rec + at;
	uint32_t path_len = (uint32_t)strlen(path) + 1;
	uint32_t size = (uint32_t)((ENT_HDR + path_len + len + 7) & ~7ull);
	int32_t none = -1;
	uint64_t ino = (uint64_t)fd + 100;

	memset(e, 0, size);
	memcpy(e + ENT_SIZE, &size, 4);
	memcpy(e + 4, &fd, 4);
	memcpy(e + ENT_KIND, &kind, 4);
	memcpy(e + 12, &acc, 4);
	memcpy(e + ENT_DUP_OF, &none, 4);
	memcpy(e + 24, &none, 4);
	memcpy(e + 28, &mode, 4);
	memcpy(e + ENT_PATH_LEN, &path_len, 4);
	memcpy(e + 48, &ino, 8);
	memcpy(e + ENT_DATA_LEN, &len, 8);
	memcpy(e + ENT_HDR, path, path_len);
	memcpy(e + ENT_HDR + path_len, data, len);
	return at + size;
}

/* A record the validator accepts, with one inotify and one memfd entry:
 * the walk must see both, or it checks nothing (the layout drifted). */
static void files_walk_selftest(void)
{
	static const uint32_t head[4] = { 0x31444643u, 1, 2, 0 }; /* magic, version, count */
	uint8_t ino[sizeof(struct ckpt_inotify_hdr) + sizeof(struct ckpt_inotify_watch) + 5];
	struct ckpt_inotify_hdr ih = { .count = 1 };
	struct ckpt_inotify_watch w = { .wd = 1, .mask = 2, .ino = 5, .path_len = 5 };
	struct ckpt_memfd_hdr mh = { 0 };
	unsigned int seen[2] = { 0, 0 };
	uint8_t rec[512];
	size_t n;

	memcpy(ino, &ih, sizeof(ih));
	memcpy(ino + sizeof(ih), &w, sizeof(w));
	memcpy(ino + sizeof(ih) + sizeof(w), "/tmp", 5);
	memcpy(rec, head, sizeof(head));
	n = entry_put(rec, REC_HDR, 3, KIND_INOTIFY, 0600, 0, "anon_inode:inotify", ino,
		      sizeof(ino));
	n = entry_put(rec, n, 4, KIND_MEMFD, 0100777, 2, "/memfd:x", &mh, sizeof(mh));
	if (ckpt_files_fd_limit(rec, n) < 0 || !files_walk(rec, n, seen) || seen[0] != 1 ||
	    seen[1] != 1) {
		fprintf(stderr,
			"fuzz_files: the kind 14/15 walk does not see a valid record's "
			"entries (validator %d, seen %u inotify %u memfd): fix the walk\n",
			ckpt_files_fd_limit(rec, n), seen[0], seen[1]);
		abort();
	}
}

void fuzz_target_init(void)
{
	fuzz_log_quiet();
	files_walk_selftest();
}

int fuzz_target_one(const uint8_t *data, size_t size)
{
	struct ckpt_tree_pipe_ent pipes[8];
	struct ckpt_tree_sock_ent socks[8];
	const uint8_t *end = data + size;
	unsigned int seen[2] = { 0, 0 };
	int n;

	if (ckpt_files_fd_limit(data, size) >= 0 && !files_walk(data, size, seen))
		abort();
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
