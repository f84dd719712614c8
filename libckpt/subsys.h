/* subsys.h - the contract between the checkpoint engine and the per-subsystem
 * state savers (files, process attributes, signals and timers). Included by
 * libckpt/ sources only.
 *
 * Each subsystem saves one kind of kernel state the memory image does not
 * hold, into one metadata record of the image, and puts it back in the
 * restored process. The engine knows nothing of what a record means.
 */
#ifndef CKPT_LIBCKPT_SUBSYS_H
#define CKPT_LIBCKPT_SUBSYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ckpt_subsys {
	/* Short name used in messages, e.g. "files". */
	const char *name;
	/* Metadata record type in the image; unique, pinned forever. */
	uint32_t record_type;
	/*
	 * Called by the checkpoint thread while every other application thread
	 * is quiesced in the checkpoint signal handler, so it must not call
	 * malloc, stdio or anything that takes a glibc lock a stopped thread may
	 * hold: raw syscalls and caller-provided memory only. Writes at most
	 * @cap bytes to @buf. Returns the record length, or -errno (-ENOSPC when
	 * @cap is too small). State that cannot be restored is reported by name
	 * through @warn (a NUL-terminated message per call, may be NULL).
	 */
	ssize_t (*capture)(void *buf, size_t cap, void (*warn)(const char *msg));
	/*
	 * Called on the final record (a tree's pipe and socket bytes filled in)
	 * just before the image is written, with no malloc: validates it
	 * exactly as restore will, with no side effect.
	 * A record restore would refuse then fails the checkpoint, while the
	 * last committed generation is still the one a restart uses, instead of
	 * failing the restart. Returns 0 or -errno after logging what failed.
	 */
	int (*check)(const void *rec, size_t len);
	/*
	 * Called in the restored process by the checkpoint thread, before any
	 * other application thread runs again; the same no-malloc rule holds.
	 * @rec comes from an image file: validate every field before use.
	 * Returns 0 or -errno after logging what failed.
	 */
	int (*restore)(const void *rec, size_t len);
};

/* A record of a magic and a version only (subsys_mark.c): writes it to
 * @buf (8 bytes; -ENOSPC when @cap is smaller), and checks one, refusing
 * another length, magic or version (logged, naming @what). */
ssize_t ckpt_mark_write(void *buf, size_t cap, uint32_t magic, uint32_t version);
int ckpt_mark_check(const void *data, size_t len, uint32_t magic, uint32_t version,
		    const char *what);

/* The table the engine walks, in this order at both capture and restore. */
extern const struct ckpt_subsys *const ckpt_subsys_table[];
extern const size_t ckpt_subsys_count;

#endif
