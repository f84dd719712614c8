/* layout.h - where checkpoint images live, and the generation life cycle.
 * Public: any component may include it.
 *
 *   DIR/<jobid>/gen-<N>/            a committed generation (Slurm job)
 *   DIR/<name>-<pid>/gen-<N>/       the same for a standalone run (ckpt run)
 *   .../gen-<N>.tmp/                generation N while it is being written
 *   .../gen-<N>/<step>.<rank>.img   image of global task <rank> of step <step>
 *   .../gen-<N>/MANIFEST.json       written last, by the coordinator
 *
 * A generation becomes committed by one rename (gen-N.tmp -> gen-N) after
 * everything in it is on disk, so a crash at any moment leaves every
 * committed generation intact. Only directories named exactly "gen-<N>"
 * count as committed; anything else in a run directory is ignored.
 * The "run directory" below is DIR/<jobid> or DIR/<name>-<pid>.
 */
#ifndef CKPT_PROTO_LAYOUT_H
#define CKPT_PROTO_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTO_LAYOUT_MANIFEST	"MANIFEST.json"
#define PROTO_LAYOUT_GEN_PREFIX "gen-"
#define PROTO_LAYOUT_TMP_SUFFIX ".tmp"
#define PROTO_LAYOUT_IMG_SUFFIX ".img"

/* Generations are numbered from 1; the cap keeps them exact in JSON
 * integers and in int64_t arithmetic. */
#define PROTO_GEN_MIN 1
#define PROTO_GEN_MAX ((uint64_t)INT64_MAX)

/* Committed generations kept by default (DESIGN.md: keep the last K = 2). */
#define PROTO_GEN_KEEP_DEFAULT 2

/* Longest standalone run name (a program's basename, cut by the caller). */
#define PROTO_LAYOUT_NAME_MAX 64

/* All path builders write a NUL-terminated path into @buf of @size bytes
 * and return 0, -EINVAL for a missing or unsafe piece (empty, containing
 * '/', "." or ".."), or -ENAMETOOLONG when the result does not fit. */

/* @base/<jobid> */
int proto_layout_job_dir(char *buf, size_t size, const char *base, uint32_t jobid);
/* @base/<name>-<pid>; @name must be 1..PROTO_LAYOUT_NAME_MAX bytes. */
int proto_layout_standalone_dir(char *buf, size_t size, const char *base, const char *name,
				pid_t pid);
/* @run_dir/gen-<gen> or, with @tmp, @run_dir/gen-<gen>.tmp */
int proto_layout_gen_dir(char *buf, size_t size, const char *run_dir, uint64_t gen, bool tmp);
/* <step>.<rank>.img (a file name, no directory) */
int proto_layout_image_name(char *buf, size_t size, uint32_t step, uint32_t rank);
/* @gen_dir/<step>.<rank>.img */
int proto_layout_image_path(char *buf, size_t size, const char *gen_dir, uint32_t step,
			    uint32_t rank);

/*
 * Whether @dir may hold checkpoints of user @uid: checkpoints are restored
 * as code of @uid, so nobody else may be able to create, rename or replace
 * anything on the way to them. Every component of @dir up to "/" is
 * examined with lstat():
 *  - it is owned by @uid or root;
 *  - it is not writable by group or others, unless it has the sticky bit
 *    (/tmp, a site's /scratch/ckpt: others cannot rename what is @uid's);
 *  - a symbolic link is followed (its target is checked the same way) but
 *    @dir itself may not be one when @leaf.
 * With @leaf, @dir is the directory the checkpoints go in (a job's
 * directory): it must be a real directory owned by @uid, writable by
 * nobody else, sticky or not. Without @leaf it may be a parent of such
 * directories (a --checkpoint-dir), where the sticky rule applies.
 * @dir must be absolute, without "." or ".." components.
 * Returns 0; -EPERM when a component is not safe, -EINVAL for a relative
 * path or a "."/".." component, or -errno when a component cannot be
 * examined (-ENOENT: it does not exist); in every case but 0 @why says
 * which component and what is wrong. Nothing is logged. */
int proto_layout_dir_check(const char *dir, uid_t uid, bool leaf, char *why, size_t why_size);

/* Parses a generation directory name: "gen-<N>" or "gen-<N>.tmp", N decimal
 * in [PROTO_GEN_MIN, PROTO_GEN_MAX] without sign or leading zeros (one name
 * per generation). Returns 0 with *@gen and *@tmp (either may be NULL), or
 * -EINVAL. */
int proto_layout_parse_gen(const char *name, uint64_t *gen, bool *tmp);
/* Parses "<step>.<rank>.img" strictly (canonical decimals). 0 or -EINVAL. */
int proto_layout_parse_image_name(const char *name, uint32_t *step, uint32_t *rank);

/* Lists the committed generations of @run_dir (real directories named
 * gen-<N>; .tmp, symlinks and junk ignored), sorted ascending. *@gens is
 * malloc'd (NULL when *@n is 0; caller frees). Returns 0 (also for a
 * missing @run_dir, with *@n = 0), or -errno. */
int proto_gen_list(const char *run_dir, uint64_t **gens, size_t *n);

/* Newest committed generation of @run_dir. 0, -ENOENT if none, or -errno. */
int proto_gen_newest(const char *run_dir, uint64_t *gen);

/* Commits generation @gen of @run_dir: fsyncs every regular file in
 * gen-<gen>.tmp and the directory itself, renames it to gen-<gen> (never
 * replacing an existing gen-<gen>: -EEXIST), then fsyncs @run_dir.
 * Returns 0 or -errno; on failure gen-<gen>.tmp is left for pruning. */
int proto_gen_commit(const char *run_dir, uint64_t gen);

/* Removes old generations of @run_dir: keeps the newest @keep committed ones
 * (@keep < 1 counts as 1: the newest committed is never deleted) and removes
 * gen-<N>.tmp directories with N below the newest committed one (left by a
 * crash or an abort; a .tmp above it may be in progress and is kept).
 * A committed generation is first renamed to gen-<N>.tmp, so a crash in the
 * middle never leaves a half-deleted directory that looks committed.
 * Returns 0, or the first -errno met (after trying every candidate). */
int proto_gen_prune(const char *run_dir, unsigned int keep);

/* The same, but never removes a committed generation listed in @needed
 * (@nneeded entries): the bases the images of kept generations refer to
 * (incremental checkpoints). */
int proto_gen_prune_keep(const char *run_dir, unsigned int keep, const uint64_t *needed,
			 size_t nneeded);

/* The pruning rule, pure: whether committed generation @committed[@i] (of
 * @n, ascending) goes, given @keep (< 1 counts as 1) and the generations
 * @needed by kept ones. */
bool proto_gen_prune_drops(const uint64_t *committed, size_t n, size_t i, unsigned int keep,
			   const uint64_t *needed, size_t nneeded);

/* Removes the directory gen-<gen>.tmp of @run_dir and its files (abort of a
 * generation). Returns 0 (also when absent) or -errno. */
int proto_gen_discard(const char *run_dir, uint64_t gen);

#endif
