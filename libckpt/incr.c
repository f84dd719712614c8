/* incr.c - incremental checkpoints: a generation stores only the windows of
 * memory that changed since the last committed one and refers to the
 * chunks of earlier images for the rest.
 *
 * Memory is cut into ENG_WINDOW windows aligned in the address space; each
 * window's present pages become exactly one chunk. The chunk table of the
 * last committed generation (per window: runs signature, length, raw
 * checksum, and which image of the chain holds its data in which chunk) is
 * kept in a shared mapping the writer child fills and the checkpoint thread
 * keeps. A window is referred to, not written, when its runs are those of
 * the table and either the write-protection proves it untouched (dirty.c)
 * or, where nothing is proven, its contents hash to the same raw checksum.
 * References always name the image holding the data (never a reference),
 * so a restore opens each base once and follows one hop.
 *
 * The chain is bounded: a full image every CKPT_INCR_FULL_EVERY
 * generations, or when the chain's images together pass
 * CKPT_INCR_CHAIN_PCT percent of the full image they refer to. After an abort, the
 * write-protection of the aborted round is lost, so the next generation
 * compares contents; after a restore, the first generation is full.
 */
#define LOG_PREFIX "libckpt: "
#include "incr.h"
#include "libckpt.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* Windows a table holds: 2^18 x 4 MiB = 1 TiB of present memory; beyond,
 * the next generation is full. */
#define INCR_TAB_MAX (1u << 18)
/* Chunk checksums returned by the writer: windows plus shared areas. */
#define INCR_XXH_MAX (1u << 20)
/* Defaults of the settings. */
#define INCR_FULL_EVERY_DEF 8u	 /* a full image every 8 generations */
#define INCR_CHAIN_PCT_DEF  100u /* or when the chain outgrows the full image */
/* Runs gathered per window: at most one per page. */
#define INCR_RUNS_MAX (ENG_WINDOW / 4096u)

/* Shared with the writer child (MAP_SHARED): what it wrote. */
struct incr_shared {
	uint64_t n;	   /* entries written into the current table */
	uint32_t overflow; /* a table or checksum array was too small */
	uint32_t reserved;
	uint64_t refs;	    /* windows referred to */
	uint64_t ref_bytes; /* their bytes */
};

struct incr_state {
	bool init;			      /* settings read, kernel probed */
	enum eng_dirty_mode mode;	      /* what is in use */
	unsigned int full_every;	      /* CKPT_INCR_FULL_EVERY */
	unsigned int chain_pct;		      /* CKPT_INCR_CHAIN_PCT */
	struct incr_shared *sh;		      /* shared header, then the tables */
	struct eng_chunk_ent *tab[2];	      /* chunk tables: [prev] and the other */
	uint64_t *xxh;			      /* writer's chunk checksums */
	size_t sh_len;			      /* bytes of the shared mapping */
	int prev;			      /* which table is the last committed one */
	uint64_t prev_n;		      /* its entries */
	bool prev_valid;		      /* there is a last committed generation */
	bool trusted;			      /* its round's write-protection is intact */
	struct img_base bases[IMG_BASES_MAX]; /* the chain, oldest (full) first */
	uint32_t nbases;		      /* entries of bases */
	uint64_t chain_bytes;		      /* image bytes of the chain, full one included */
	uint64_t full_bytes;		      /* image bytes of its full image */
	char name[128];			      /* image file name of the chain */
	/* The generation being written. */
	bool planned;	     /* plan ran: scan done, commit or abort due */
	bool incremental;    /* this image refers to the chain */
	bool written;	     /* the child succeeded */
	uint64_t gen;	     /* its number */
	uint64_t size;	     /* its image bytes */
	uint64_t body_xxh;   /* its trailer body checksum */
	char cur_name[128];  /* its image file name */
	char last_kind[160]; /* for the log */
};

/* Runs of one window, area-relative, and their signature. */
struct incr_win {
	uint64_t area;			     /* area start */
	uint32_t n;			     /* entries of runs */
	uint64_t bytes;			     /* their total */
	XXH64_state_t sig;		     /* over absolute (addr, len) pairs */
	struct img_span runs[INCR_RUNS_MAX]; /* present pages */
};

static struct incr_state incr;
/* The child's window buffer: too large for its stack. */
static struct incr_win incr_win;
/* Cursor into the previous table, across the areas of one image. The
 * child moves it in its own copy of this memory, which is also the memory
 * it saves: a restored process starts with the child's value, so the
 * parent sets it to 0 before every clone (eng_incr_plan). */
static uint64_t incr_cursor;

const char *eng_incr_mode_name(enum eng_dirty_mode m)
{
	return m == ENG_DIRTY_UFFD ? "uffd-wp" : m == ENG_DIRTY_HASH ? "content-hash" : "off";
}

static unsigned int incr_env_uint(const char *name, unsigned int def, unsigned int lo,
				  unsigned int hi)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return def;
	n = strtoul(v, &end, 10);
	if (*end || n < lo || n > hi) {
		log_warn("%s=%s is not a number in %u..%u: using %u", name, v, lo, hi, def);
		return def;
	}
	return (unsigned int)n;
}

enum eng_dirty_mode eng_incr_mode(void)
{
	const char *v;
	int ret;

	if (incr.init)
		return incr.mode;
	incr.init = true;
	incr.full_every =
		incr_env_uint("CKPT_INCR_FULL_EVERY", INCR_FULL_EVERY_DEF, 1, IMG_BASES_MAX);
	incr.chain_pct = incr_env_uint("CKPT_INCR_CHAIN_PCT", INCR_CHAIN_PCT_DEF, 1, 100000);
	v = getenv("CKPT_INCREMENTAL");
	if (v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no"))) {
		incr.mode = ENG_DIRTY_OFF;
		log_info("incremental checkpoints: off (CKPT_INCREMENTAL=%s)", v);
		return incr.mode;
	}
	if (v && !strcmp(v, "hash")) {
		incr.mode = ENG_DIRTY_HASH;
		log_info("incremental checkpoints: content-hash (CKPT_INCREMENTAL=hash)");
		return incr.mode;
	}
	ret = eng_dirty_probe();
	incr.mode = ret ? ENG_DIRTY_HASH : ENG_DIRTY_UFFD;
	if (ret)
		log_info("incremental checkpoints: content-hash (userfaultfd write-protection "
			 "unavailable: %s; needs Linux >= 6.7 with PAGEMAP_SCAN)",
			 strerror(-ret));
	else
		log_info("incremental checkpoints: uffd-wp (userfaultfd async write-protect + "
			 "PAGEMAP_SCAN)");
	return incr.mode;
}

int eng_incr_prepare(void)
{
	size_t tab = (size_t)INCR_TAB_MAX * sizeof(struct eng_chunk_ent);
	void *m;

	if (eng_incr_mode() == ENG_DIRTY_OFF)
		return 0;
	if (!incr.sh) {
		incr.sh_len = 4096 + 2 * tab + (size_t)INCR_XXH_MAX * sizeof(uint64_t);
		m = mmap(NULL, incr.sh_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED) {
			int err = errno;

			log_warn("incremental checkpoints: cannot map %zu bytes of tables (%s): "
				 "full images",
				 incr.sh_len, strerror(err));
			incr.mode = ENG_DIRTY_OFF;
			return -err;
		}
		incr.sh = m;
		incr.tab[0] = (struct eng_chunk_ent *)((char *)m + 4096);
		incr.tab[1] = (struct eng_chunk_ent *)((char *)m + 4096 + tab);
		incr.xxh = (uint64_t *)((char *)m + 4096 + 2 * tab);
		incr.prev_valid = false;
	}
	eng_snapshot_exclude((uintptr_t)incr.sh, incr.sh_len);
	eng_dirty_exclude();
	return 0;
}

/* Whether generation @gen must be a full image, and why (for the log). */
static bool incr_want_full(const char *name, const char **why)
{
	*why = NULL;
	if (!incr.prev_valid)
		*why = "no committed generation to refer to";
	else if (strcmp(name, incr.name) != 0)
		*why = "image name changed";
	else if (incr.nbases >= incr.full_every || incr.nbases >= IMG_BASES_MAX)
		*why = "chain length reached CKPT_INCR_FULL_EVERY";
	else if (incr.full_bytes && incr.chain_bytes > incr.full_bytes &&
		 (incr.chain_bytes - incr.full_bytes) * 100 >
			 (uint64_t)incr.chain_pct * incr.full_bytes)
		*why = "chain size passed CKPT_INCR_CHAIN_PCT of the full image";
	return *why != NULL;
}

void eng_incr_plan(uint64_t gen, const char *path, struct img_writer_opts *opts,
		   bool (*next)(void *arg, uint64_t *start, uint64_t *end, bool *trackable),
		   void *arg)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	const char *why;
	uint64_t start;
	uint64_t end;
	bool trackable;
	bool trusted = incr.trusted;

	incr.planned = false;
	incr.incremental = false;
	incr.written = false;
	incr_cursor = 0;
	if (incr.mode == ENG_DIRTY_OFF || !incr.sh || strlen(name) >= sizeof(incr.name)) {
		snprintf(incr.last_kind, sizeof(incr.last_kind), "full (incremental off)");
		return;
	}
	incr.planned = true;
	incr.trusted = false; /* until this generation is committed */
	incr.gen = gen;
	snprintf(incr.cur_name, sizeof(incr.cur_name), "%s", name);
	incr.incremental = !incr_want_full(name, &why);
	snprintf(incr.last_kind, sizeof(incr.last_kind), "%s (%s%s%s)",
		 incr.incremental ? "incremental" : "full", eng_incr_mode_name(incr.mode),
		 why ? ": " : "", why ? why : "");
	log_debug("generation %llu: %s", (unsigned long long)gen, incr.last_kind);
	incr.sh->n = 0;
	incr.sh->overflow = 0;
	incr.sh->refs = 0;
	incr.sh->ref_bytes = 0;
	opts->refs = incr.incremental;
	opts->chunk_xxh = incr.xxh;
	opts->chunk_xxh_max = INCR_XXH_MAX;
	if (incr.mode != ENG_DIRTY_UFFD)
		return;
	/* Every round scans (and re-protects) all tracked memory, full image
	 * or not, so the next round reports exactly what changed after it. */
	eng_dirty_round_begin(trusted && incr.incremental);
	while (next(arg, &start, &end, &trackable))
		if (trackable)
			eng_dirty_area(start, end);
	eng_dirty_round_end();
}

void eng_incr_written(uint64_t size, uint64_t body_xxh)
{
	if (!incr.planned)
		return;
	incr.written = true;
	incr.size = size;
	incr.body_xxh = body_xxh;
}

const char *eng_incr_last_kind(void)
{
	return incr.last_kind;
}

void eng_incr_commit(void)
{
	struct eng_chunk_ent *cur;
	uint32_t idx;
	uint64_t n;

	if (!incr.planned || !incr.written) {
		eng_incr_abort();
		return;
	}
	incr.planned = false;
	n = incr.sh->n;
	log_debug("generation %llu committed: %llu windows, %llu referred to (%llu MiB)%s",
		  (unsigned long long)incr.gen, (unsigned long long)n,
		  (unsigned long long)incr.sh->refs, (unsigned long long)(incr.sh->ref_bytes >> 20),
		  incr.sh->overflow ? ", table overflow: next image full" : "");
	if (incr.sh->overflow || n > INCR_TAB_MAX) {
		incr.prev_valid = false;
		incr.nbases = 0;
		return;
	}
	if (!incr.incremental) {
		incr.nbases = 0;
		incr.chain_bytes = 0;
		incr.full_bytes = incr.size;
	}
	idx = incr.nbases++;
	incr.bases[idx].gen = incr.gen;
	incr.bases[idx].body_xxh = incr.body_xxh;
	snprintf(incr.bases[idx].path, sizeof(incr.bases[idx].path), "../gen-%llu/%s",
		 (unsigned long long)incr.gen, incr.cur_name);
	incr.chain_bytes += incr.size;
	cur = incr.tab[1 - incr.prev];
	for (uint64_t i = 0; i < n; i++) {
		if (cur[i].base != idx)
			continue;
		if (cur[i].chunk >= INCR_XXH_MAX) {
			incr.prev_valid = false;
			incr.nbases = 0;
			return;
		}
		cur[i].raw_xxh = incr.xxh[cur[i].chunk];
	}
	incr.prev = 1 - incr.prev;
	incr.prev_n = n;
	incr.prev_valid = true;
	incr.trusted = true;
	snprintf(incr.name, sizeof(incr.name), "%s", incr.cur_name);
}

void eng_incr_abort(void)
{
	/* The aborted round re-protected pages it reported: what it saw is
	 * lost, so the next round proves nothing and compares contents. */
	if (incr.planned)
		incr.trusted = false;
	incr.planned = false;
	incr.written = false;
}

/* Starts over with no tables and no history: the next checkpoint is full
 * and the tracking is probed again (a new kernel after a restore, a
 * userfaultfd of its own in a forked child). */
static void incr_forget(void)
{
	incr.sh = NULL;
	incr.tab[0] = incr.tab[1] = NULL;
	incr.xxh = NULL;
	incr.prev_valid = false;
	incr.trusted = false;
	incr.planned = false;
	incr.nbases = 0;
	incr.init = false;
}

void eng_incr_after_restore(void)
{
	/* The shared tables and the tracking's memory were left out of the
	 * image: not mapped in this process. */
	incr_forget();
	eng_dirty_reset();
}

void eng_incr_atfork_child(void)
{
	/* The tables are MAP_SHARED with the parent: the child's writer would
	 * fill the parent's. Unmapping the child's view leaves the parent's. */
	if (incr.sh)
		munmap(incr.sh, incr.sh_len);
	incr_forget();
	eng_dirty_atfork_child();
}

/* ---- writer child ----------------------------------------------------- */

bool eng_incr_active(void)
{
	return incr.planned && incr.sh;
}

int eng_incr_record(struct img_writer *w)
{
	uint8_t buf[IMG_BASES_MAX * (20 + 256) + 8];
	long len;

	if (!eng_incr_active() || !incr.incremental)
		return 0;
	len = img_bases_encode(buf, sizeof(buf), incr.bases, incr.nbases);
	if (len < 0)
		return (int)len;
	return img_writer_add_record(w, IMG_REC_BASES, buf, (uint64_t)len);
}

static int incr_run_cb(void *arg, uint64_t addr, uint64_t len)
{
	struct incr_win *win = arg;
	uint64_t pair[2] = { addr, len };

	if (win->n >= INCR_RUNS_MAX)
		return -E2BIG;
	win->runs[win->n].off = addr - win->area;
	win->runs[win->n].len = len;
	win->n++;
	win->bytes += len;
	XXH64_update(&win->sig, pair, sizeof(pair));
	return 0;
}

/* xxh64 of the window's present pages in run order: the raw checksum its
 * chunk would have. */
static uint64_t incr_win_hash(const struct incr_win *win)
{
	XXH64_state_t st;

	XXH64_reset(&st, 0);
	for (uint32_t i = 0; i < win->n; i++)
		XXH64_update(&st, eng_ptr(win->area + win->runs[i].off), win->runs[i].len);
	return XXH64_digest(&st);
}

/* The window table entry of the last generation starting at @lo, or NULL.
 * Windows come in ascending order: a cursor finds each in turn. */
static const struct eng_chunk_ent *incr_prev_find(uint64_t lo, uint64_t *cursor)
{
	const struct eng_chunk_ent *prev = incr.tab[incr.prev];

	if (!incr.incremental || !incr.prev_valid)
		return NULL;
	while (*cursor < incr.prev_n && prev[*cursor].lo < lo)
		(*cursor)++;
	return *cursor < incr.prev_n && prev[*cursor].lo == lo ? &prev[*cursor] : NULL;
}

int eng_incr_area(struct img_writer *w, uint64_t start, uint64_t end, int pagemap)
{
	struct eng_chunk_ent *cur = incr.tab[1 - incr.prev];
	uint32_t new_base = incr.incremental ? incr.nbases : 0;
	struct incr_win *win = &incr_win;
	uint64_t hi;
	int ret;

	for (uint64_t lo = start; lo < end; lo = hi) {
		const struct eng_chunk_ent *p;
		struct eng_chunk_ent e;
		bool ref = false;

		hi = (lo & ~(uint64_t)(ENG_WINDOW - 1)) + ENG_WINDOW;
		if (hi > end)
			hi = end;
		win->area = start;
		win->n = 0;
		win->bytes = 0;
		XXH64_reset(&win->sig, 0);
		ret = img_pagemap_runs(pagemap, lo, hi, incr_run_cb, win);
		if (ret)
			return ret;
		if (!win->n)
			continue;
		memset(&e, 0, sizeof(e));
		e.lo = lo;
		e.runs_xxh = XXH64_digest(&win->sig);
		e.raw_len = win->bytes;
		p = incr_prev_find(lo, &incr_cursor);
		if (p && p->runs_xxh == e.runs_xxh && p->raw_len == e.raw_len) {
			enum eng_win_state st = eng_dirty_window(lo, hi);

			ref = st == ENG_WIN_CLEAN ||
			      (st == ENG_WIN_UNKNOWN && incr_win_hash(win) == p->raw_xxh);
		}
		if (ref) {
			struct img_chunk_ref r = { .base = p->base,
						   .chunk = p->chunk,
						   .raw_len = p->raw_len,
						   .raw_xxh = p->raw_xxh };

			ret = img_writer_area_ref(w, &r, win->runs, win->n);
			e.base = p->base;
			e.chunk = p->chunk;
			e.raw_xxh = p->raw_xxh;
			incr.sh->refs++;
			incr.sh->ref_bytes += e.raw_len;
		} else {
			e.base = new_base;
			e.chunk = img_writer_chunk_next(w);
			for (uint32_t i = 0; !ret && i < win->n; i++)
				ret = img_writer_area_run(w, win->runs[i].off,
							  eng_ptr(start + win->runs[i].off),
							  win->runs[i].len);
			if (!ret)
				ret = img_writer_area_cut(w);
		}
		if (ret)
			return ret;
		if (incr.sh->n < INCR_TAB_MAX)
			cur[incr.sh->n++] = e;
		else
			incr.sh->overflow = 1;
	}
	return 0;
}
