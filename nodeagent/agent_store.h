/* agent_store.h - generations on disk as the agent and the CLI see them:
 * begin, commit, discard, prune, list. Included by nodeagent/ only.
 *
 * A thin layer over proto/layout.h and proto/manifest.h that speaks in the
 * coordinator's terms (participants, triggers, durations), so the
 * coordinator's state machine has no file-system code in it.
 */
#ifndef CKPT_AGENT_STORE_H
#define CKPT_AGENT_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_part;

/* What the coordinator knows of a generation at commit time. */
struct agent_gen_meta {
	int64_t gen;	     /* generation number */
	const char *trigger; /* why it was taken: manual, interval, ... */
	int64_t started;     /* wall clock at PREPARE, Unix seconds */
	int64_t duration_ms; /* PREPARE to COMMIT */
	bool final;	     /* the processes exit after it */
};

/* One committed generation as listed. */
struct agent_gen_info {
	int64_t gen;	      /* generation number */
	char path[PATH_MAX];  /* its directory */
	int64_t time;	      /* when it was taken, Unix seconds */
	uint64_t size;	      /* sum of its image sizes */
	int64_t duration_ms;  /* how long it took */
	char trigger[32];     /* why it was taken */
	unsigned int nimages; /* number of images */
	char error[256];      /* non-empty when its manifest is unreadable */
};

/* The number the next generation gets: one above every committed or
 * in-progress one in @dir, and above @floor. Returns 0 or -errno. */
int agent_store_next_gen(const char *dir, int64_t floor, int64_t *gen);

/* Creates @dir/gen-@gen.tmp (removing a stale one) and stores its path in
 * @tmp. Returns 0 or -errno (logged). */
int agent_store_begin(const char *dir, int64_t gen, char *tmp, size_t size);

/* Writes MANIFEST.json for @meta and the @n participants in @parts (in image
 * order), fsyncs and renames gen-@gen.tmp to gen-@gen; stores the final path
 * in @path. Returns 0 or -errno, with a reason in @why (size @why_size). */
int agent_store_commit(const char *dir, const struct agent_gen_meta *meta,
		       struct agent_part *const *parts, size_t n, char *path, size_t size,
		       char *why, size_t why_size);

/* Deletes gen-@gen.tmp and everything in it; best effort, logs failures. */
void agent_store_discard(const char *dir, int64_t gen);

/* Deletes stale gen-*.tmp directories left by a crashed agent. */
void agent_store_discard_stale(const char *dir);

/* Keeps the newest @keep committed generations, deleting older ones; never
 * the newest, nor a generation an image of a kept one refers to
 * (incremental checkpoints); when an image of a kept generation cannot be
 * read, deletes nothing. Returns the number deleted or -errno. */
int agent_store_prune(const char *dir, int keep);

/* Lists committed generations, oldest first, into a malloc'd array the
 * caller frees. An unreadable manifest is listed with @error set. Returns
 * 0 or -errno. */
int agent_store_list(const char *dir, struct agent_gen_info **gens, size_t *n);

#endif
