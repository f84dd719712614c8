/* files_memfd.h - memfd descriptors (files_memfd.c): what a MEMFD entry of
 * the files record carries after its path ("/memfd:NAME"), how it is read
 * at checkpoint and made again at restart. Included by libckpt/files.c and
 * its unit tests only.
 *
 * Layout and rules: docs/files-and-state.md ("memfd").
 */
#ifndef CKPT_LIBCKPT_FILES_MEMFD_H
#define CKPT_LIBCKPT_FILES_MEMFD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Most mappings of one memfd recorded in its entry: more are refused. */
#define CKPT_MEMFD_MAPS_MAX 64u

/* The data of a MEMFD entry starts with this header, then nmaps struct
 * ckpt_memfd_map, then the contents (the entry's file_size bytes). */
struct ckpt_memfd_hdr {
	uint32_t seals;	   /* F_GET_SEALS */
	uint32_t nmaps;	   /* mappings of this memfd in the process that follow */
	uint64_t reserved; /* 0 */
};

/* One shared mapping of the memfd, as /proc/self/maps shows it: mapped
 * from the restored object at restart, in place of the restorer's copy. */
struct ckpt_memfd_map {
	uint64_t start;	   /* page aligned */
	uint64_t len;	   /* page multiple, > 0 */
	uint64_t offset;   /* file offset, page aligned */
	uint32_t prot;	   /* PROT_READ | PROT_WRITE | PROT_EXEC */
	uint32_t reserved; /* 0 */
};

/* Whether @link (a /proc/PID/fd link) names a memfd. */
int ckpt_memfd_is(const char *link);

/* Checkpoint: writes the header, the shared mappings of the object of @fd
 * (inode @ino, device @dev) and its @size bytes of contents to @dst
 * (@room bytes). Raw system calls and stack buffers only. Returns the
 * bytes written, -ENOSPC, or another -errno with *@why set. */
ssize_t ckpt_memfd_capture(int fd, uint64_t ino, uint64_t dev, uint64_t size, void *dst,
			   size_t room, const char **why);

/* Whether @data (@len bytes) is a sound MEMFD entry for descriptor @fd
 * with @size bytes of contents and open flags @open_flags; says what is
 * wrong (naming @fd) if not. Returns 0 or -EINVAL. */
int ckpt_memfd_check(int fd, uint32_t open_flags, uint64_t size, const void *data, uint64_t len);

/* Restart: makes a new memfd named after @path with the contents, seals
 * and mappings of @data (checked by ckpt_memfd_check()), at @offset, with
 * the access mode and status flags of @open_flags, close-on-exec (files.c
 * places it). Returns it, or -errno (said). */
int ckpt_memfd_restore(int fd, const char *path, uint32_t open_flags, int64_t offset, uint64_t size,
		       const void *data);

/* In a process tree: whether another process of the tree (every /proc/PID
 * but 1 and @self) holds a descriptor on the memfd of inode @ino, device
 * @dev. Returns 0 if not, 1 with *@pid and *@pfd of a holder. */
int ckpt_memfd_tree_shared(uint64_t ino, uint64_t dev, long self, long *pid, int *pfd);

#endif
