/* incr.h - incremental checkpoints: the chain of generations an image may
 * refer to, the per-window chunk table, and dirty-page tracking with
 * userfaultfd write-protection (dirty.c). Included by snapshot.c,
 * agent_client.c, incr.c and dirty.c only. Design: docs/engine.md,
 * "Incremental checkpoints"; format: docs/image-format.md.
 */
#ifndef CKPT_LIBCKPT_INCR_H
#define CKPT_LIBCKPT_INCR_H

#include "img.h"

#include <stdbool.h>
#include <stdint.h>

/* Chunks of incremental images are cut at windows of this size aligned in
 * the address space, so that a window's chunk can be named by later
 * generations: one window is one chunk (IMG_CHUNK_SIZE). */
#define ENG_WINDOW IMG_CHUNK_SIZE

/* How changed memory is found (reported in the agent's log). */
enum eng_dirty_mode {
	ENG_DIRTY_OFF = 0,  /* incremental checkpoints disabled: full images */
	ENG_DIRTY_HASH = 1, /* content hash of each window against the last image */
	ENG_DIRTY_UFFD = 2, /* userfaultfd async write-protect + PAGEMAP_SCAN */
};

/* One window's chunk, as the next generation needs it to refer to it. */
struct eng_chunk_ent {
	uint64_t lo;	   /* first byte of the window piece (absolute) */
	uint64_t runs_xxh; /* signature of its present-page runs (absolute) */
	uint64_t raw_len;  /* uncompressed bytes */
	uint64_t raw_xxh;  /* xxh64 of them (the chunk's raw_xxh) */
	uint64_t chunk;	   /* chunk index in the image holding the data */
	uint32_t base;	   /* which generation of the chain holds it */
	uint32_t reserved; /* 0 */
};

/* ---- incr.c (checkpoint thread, threads stopped) ------------------------- */

/* Reads the settings once (CKPT_INCREMENTAL, CKPT_INCR_FULL_EVERY,
 * CKPT_INCR_CHAIN_PCT) and probes the kernel. Returns the mode in use. */
enum eng_dirty_mode eng_incr_mode(void);
/* Name of @m for messages: "off", "content-hash", "uffd-wp". */
const char *eng_incr_mode_name(enum eng_dirty_mode m);
/* In eng_snapshot_prepare(): maps the tables once and leaves them, and the
 * tracking's own memory, out of the image. Returns 0 or -errno. */
int eng_incr_prepare(void);
/* Just before the writer is cloned for generation @gen into image @path:
 * decides full or incremental, scans the dirty pages, and sets @opts
 * (refs, chunk_xxh). The maps of the process, already parsed by the caller,
 * are walked through @next (returns false at the end). */
void eng_incr_plan(uint64_t gen, const char *path, struct img_writer_opts *opts,
		   bool (*next)(void *arg, uint64_t *start, uint64_t *end, bool *trackable),
		   void *arg);
/* After the writer child succeeded: the image's size and body checksum. */
void eng_incr_written(uint64_t size, uint64_t body_xxh);
/* The agent committed (resume) the generation just written: it becomes the
 * newest base. */
void eng_incr_commit(void);
/* The generation just prepared is not committed (abort, error): the next
 * one compares content instead of trusting the write-protection. */
void eng_incr_abort(void);
/* In a restored process: the tables, the userfaultfd and the chain are
 * gone with the old process; the next generation is a full image. */
void eng_incr_after_restore(void);
/* In a child made by fork() that becomes a participant (process trees):
 * drops what is the parent's (the shared tables, the userfaultfd and the
 * pagemap file, which act on the parent's memory) so that the child's
 * first generation is full and its tracking is its own. Async-signal-safe
 * (close, munmap): called from the pthread_atfork child handler. */
void eng_incr_atfork_child(void);
/* Summary of the last write for the log: mode, full or incremental. */
const char *eng_incr_last_kind(void);

/* ---- incr.c (writer child) ------------------------------------------------ */

/* Adds the IMG_REC_BASES record when the image is incremental. */
int eng_incr_record(struct img_writer *w);
/* Saves the present pages of private area [start, end) window by window,
 * referring to unchanged windows. @pagemap is /proc/self/pagemap. */
int eng_incr_area(struct img_writer *w, uint64_t start, uint64_t end, int pagemap);
/* True if the writer child should save areas through eng_incr_area(). */
bool eng_incr_active(void);

/* ---- dirty.c: write-protection tracking ----------------------------------- */

/* Opens the userfaultfd (UFFD_USER_MODE_ONLY, WP_ASYNC) and checks that
 * PAGEMAP_SCAN works on a test mapping. Returns 0 or -errno (then the
 * content-hash fallback is used). */
int eng_dirty_probe(void);
/* Starts a scan round: clears the dirty and clean lists. @trusted false
 * (after an abort or restore) makes this round's windows all unproven. */
void eng_dirty_round_begin(bool trusted);
/* Scans private writable area [start, end): registers it for
 * write-protection if new; if it was tracked with the same bounds since the
 * last round, records its written pages since then and marks it clean
 * elsewhere. Re-protects everything. */
void eng_dirty_area(uint64_t start, uint64_t end);
/* Ends the round: areas registered now are the ones tracked next round. */
void eng_dirty_round_end(void);
/* What the write-protection proves about a window. */
enum eng_win_state {
	ENG_WIN_UNKNOWN = 0, /* not tracked this round: compare contents */
	ENG_WIN_CLEAN = 1,   /* no page of it written since the last round */
	ENG_WIN_WRITTEN = 2, /* some page of it written */
};
/* Writer child: the state of window [lo, hi). */
enum eng_win_state eng_dirty_window(uint64_t lo, uint64_t hi);
/* Memory of the tracking itself, to leave out of the image. */
void eng_dirty_exclude(void);
/* Forgets the userfaultfd and the tracked areas (restored process). */
void eng_dirty_reset(void);
/* Forked child: closes its copies of the parent's userfaultfd and
 * pagemap file (both act on the parent's address space) and forgets the
 * tracked areas; the next probe opens the child's own. */
void eng_dirty_atfork_child(void);

#endif
