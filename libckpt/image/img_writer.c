/* img_writer.c - streams a process image to a file from a raw-clone child.
 *
 * Constraints (see img.h): no malloc, no stdio, no lock-taking glibc call,
 * raw system calls only. Every byte of state lives in the caller's arena,
 * laid out by writer_layout(). Compression runs on raw clone threads; the
 * writing thread copies page runs into chunk slots, hands full slots to the
 * threads and writes finished chunks strictly in order, so the file is
 * produced sequentially and its whole-file checksum is a single stream.
 */
#define XXH_STATIC_LINKING_ONLY
#define ZSTD_STATIC_LINKING_ONLY
#include "img.h"
#include "img_format.h"
#include "img_sys.h"

#include <elf.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#if defined(__x86_64__)
#define IMG_ARCH EM_X86_64
#elif defined(__aarch64__)
#define IMG_ARCH EM_AARCH64
#else
#define IMG_ARCH EM_NONE
#endif

/* Small blocks (header, records, area and chunk descriptors) are gathered
 * here so the file is not written a few dozen bytes per syscall. */
#define IMG_WBUF_SIZE (1u << 20)
/* Stack of a compression thread: zstd needs a few KiB, sanitizer builds
 * inflate frames; 1 MiB costs nothing until touched. */
#define IMG_THREAD_STACK (1u << 20)
/* Area blocks waiting for the chunks before them, per slot: room for a
 * dozen areas with full-length paths; more than that drains the queue. */
#define IMG_PRE_SIZE (64u << 10)
/* Write-behind of a durable image (see writeback_step()): writeback of
 * the newest bytes starts every IMG_WB_STEP; bytes more than IMG_WB_LAG
 * behind the newest whose writeback started are waited for and dropped
 * from the page cache. The image then occupies at most ~IMG_WB_LAG + 2
 * steps of page cache, whose pages are recycled at once, and the final
 * fsync finds almost nothing left to write. 8 MiB: a few chunks per pair of
 * system calls; 32 MiB: at disk speed that writeback has long finished when
 * it is waited for, so the writing thread rarely blocks. */
#define IMG_WB_STEP (8u << 20)
#define IMG_WB_LAG  (32u << 20)
/* Arena pieces start on cache lines so threads do not share them. */
#define IMG_ARENA_ALIGN 64u

enum slot_state {
	SLOT_FREE = 0,	 /* owned by the writing thread, being filled */
	SLOT_FILLED = 1, /* handed to the compression threads */
	SLOT_DONE = 2,	 /* compressed, waiting to be written */
};

/* Fault-injection points (CKPT_FAULT, as proto/fault.h, but read once at
 * begin and reported through the child-safe log). */
enum img_fault {
	IMG_FAULT_WRITE = 1u << 0,    /* "img_write": writes fail, -ENOSPC */
	IMG_FAULT_FSYNC = 1u << 1,    /* "img_fsync": fsync fails, -EIO */
	IMG_FAULT_COMPRESS = 1u << 2, /* "img_compress": compression fails */
	IMG_FAULT_THREAD = 1u << 3,   /* "img_thread": threads fail to start */
};

struct img_run {
	uint64_t page;	 /* first page, relative to the area start */
	uint64_t npages; /* pages in the run */
};

/* One chunk in flight. */
struct img_slot {
	uint32_t state;	       /* enum slot_state; futex word */
	uint32_t area;	       /* index of the area the chunk belongs to */
	uint32_t nruns;	       /* used entries of runs */
	uint32_t codec;	       /* enum img_codec chosen by the compressor */
	int err;	       /* compression error, -errno */
	uint64_t raw_len;      /* uncompressed bytes gathered */
	uint64_t stored_len;   /* bytes to write after compression */
	uint64_t raw_xxh;      /* xxh64 of the uncompressed bytes */
	uint64_t stored_xxh;   /* xxh64 of the stored bytes */
	const uint8_t *direct; /* single-run chunk not copied yet, or NULL */
	bool ref;	       /* a reference chunk: out holds IMG_REF_SIZE bytes */
	uint8_t *pre;	       /* area blocks to write before this chunk */
	size_t pre_len;	       /* bytes used in pre */
	uint32_t pre_area;     /* index of the first area block in pre */
	uint8_t *in;	       /* IMG_CHUNK_SIZE gather buffer */
	uint8_t *out;	       /* compression output, out_cap bytes */
	size_t out_cap;	       /* ZSTD_compressBound(IMG_CHUNK_SIZE) */
	ZSTD_CCtx *cctx;       /* static context in the arena, NULL at level 0 */
	struct img_run *runs;  /* IMG_CHUNK_RUNS_MAX entries */
};

/* Where writer_layout() puts things, as offsets from the arena start. */
struct img_layout {
	size_t slots;	    /* struct img_slot[nslots] */
	size_t rec_idx;	    /* record index, on-disk form */
	size_t area_idx;    /* area index, on-disk form */
	size_t chunk_idx;   /* chunk index, on-disk form */
	size_t wbuf;	    /* IMG_WBUF_SIZE write buffer */
	size_t slot_mem;    /* per-slot buffers, slot_stride each */
	size_t slot_stride; /* bytes per slot: cctx, in, out, runs */
	size_t cctx_size;   /* static zstd context size, 0 at level 0 */
	size_t stacks;	    /* nworkers thread stacks */
	size_t total;	    /* arena bytes needed, page aligned */
	uint32_t nslots;    /* chunks in flight */
	uint32_t nworkers;  /* compression threads (0: compress inline) */
};

struct img_writer {
	struct img_writer_opts opts; /* resolved copy of the options */
	struct img_layout lay;	     /* arena layout */
	uint8_t *arena;		     /* caller's arena */
	struct img_slot *slots;	     /* lay.nslots slots */
	uint32_t page_size;	     /* this system's page size */
	int err;		     /* first error; later calls return it */
	bool in_area;		     /* between area_begin and area_end */
	bool finished;		     /* trailer written */
	uint64_t off;		     /* file offset of the next byte */
	XXH64_state_t file_xxh;	     /* running hash of the whole file */
	uint8_t *wbuf;		     /* write buffer */
	size_t wbuf_len;	     /* bytes pending in wbuf */
	uint8_t *rec_idx;	     /* IMG_IDX_REC_SIZE entries */
	uint8_t *area_idx;	     /* IMG_IDX_AREA_SIZE entries */
	uint8_t *chunk_idx;	     /* IMG_IDX_CHUNK_SIZE entries */
	uint32_t nrecords;	     /* records written */
	uint32_t nareas;	     /* areas begun */
	uint32_t nchunks;	     /* chunks queued (index entries reserved) */
	uint64_t header_off;	     /* offset of the header block */
	uint64_t area_end;	     /* end address of the last area */
	uint64_t area_pages;	     /* pages in the current area */
	uint64_t next_page;	     /* first page the next run may start at */
	uint64_t present;	     /* present pages of the current area */
	uint32_t area_first_chunk;   /* first chunk of the current area */
	uint64_t data_bytes;	     /* uncompressed page data written */
	uint64_t ref_bytes;	     /* uncompressed page data referred to */
	uint32_t nrefs;		     /* reference chunks written */
	uint64_t body_xxh;	     /* xxh64 of everything before the trailer */
	uint64_t stored_bytes;	     /* stored page data written */
	uint64_t wait_ns;	     /* time spent waiting for compressed slots */
	uint64_t write_ns;	     /* time spent in write system calls */
	uint64_t fsync_ns;	     /* time spent in the final fsync */
	uint64_t wb_started;	     /* writeback started for [0, wb_started) */
	uint64_t wb_dropped;	     /* written back and dropped: [0, wb_dropped) */
	bool wb_off;		     /* write-behind disabled (no_fsync, unsupported) */
	/* Chunk sequence numbers (mod 2^32). */
	uint32_t fill_seq;		/* slot being filled by the writer */
	uint32_t write_seq;		/* next chunk to write */
	uint32_t filled_seq;		/* chunks handed to threads; atomic */
	uint32_t claim_seq;		/* chunks claimed by threads; atomic */
	uint32_t kick;			/* bumped on every hand-over; futex */
	uint32_t stop;			/* threads exit when set; atomic */
	uint32_t nthreads;		/* threads started */
	uint32_t faults;		/* enum img_fault points armed */
	uint32_t tids[IMG_THREADS_MAX]; /* CLONE_CHILD_CLEARTID words */
};

/* Writes "slurm-ckpt: image: MSG\n" to opts.log_fd with one raw write:
 * vsnprintf on a stack buffer allocates nothing for the conversions used
 * here (%s %d %u %zu %lx %llu), unlike the stderr log backend (stdio). */
__attribute__((format(printf, 2, 3))) static void wlog(const struct img_writer_opts *opts,
						       const char *fmt, ...)
{
	char buf[512];
	static const char prefix[] = "slurm-ckpt: image writer: ";
	size_t len = sizeof(prefix) - 1;
	va_list ap;
	int n;

	if (opts->log_fd < 0)
		return;
	memcpy(buf, prefix, len);
	va_start(ap, fmt);
	n = vsnprintf(buf + len, sizeof(buf) - len - 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n < sizeof(buf) - len - 1 ? (size_t)n : sizeof(buf) - len - 2;
	buf[len++] = '\n';
	img_sys_write(opts->log_fd, buf, len);
}

/* strerror() may translate (locale, malloc); these are the errors a write
 * can really meet. */
static const char *errname(int err)
{
	switch (-err) {
	case ENOSPC:
		return "no space left on device";
	case EDQUOT:
		return "disk quota exceeded";
	case EIO:
		return "I/O error";
	case EFBIG:
		return "file too large";
	case EBADF:
		return "bad file descriptor";
	case EROFS:
		return "read-only file system";
	case EINVAL:
		return "invalid argument";
	case ENOMEM:
		return "out of memory";
	case E2BIG:
		return "too large";
	case EINTR:
		return "interrupted";
	default:
		return "error";
	}
}

/* CLOCK_MONOTONIC in ns; the vdso, so no system call in the child. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static uint32_t count_cpus(void)
{
	/* 1024 CPUs as glibc's cpu_set_t; larger masks fall back to 1. */
	unsigned long mask[1024 / (8 * sizeof(unsigned long))] = { 0 };
	long n = IMG_SYS(SYS_sched_getaffinity, 0, sizeof(mask), mask, 0, 0, 0);
	uint32_t cpus = 0;

	/* The kernel returns the bytes it stored, never more than asked. */
	if (n <= 0 || (size_t)n > sizeof(mask))
		return 1;
	for (size_t i = 0; i < (size_t)n / sizeof(mask[0]); i++)
		cpus += (uint32_t)__builtin_popcountl(mask[i]);
	return cpus ? cpus : 1;
}

void img_writer_opts_defaults(struct img_writer_opts *opts)
{
	if (opts->nthreads == 0)
		opts->nthreads = count_cpus();
	if (opts->nthreads > IMG_THREADS_MAX)
		opts->nthreads = IMG_THREADS_MAX;
	if (!IMG_SYS_RAW)
		opts->nthreads = 1;
	if (opts->max_areas == 0)
		opts->max_areas = IMG_DEFAULT_MAX_AREAS;
	if (opts->max_records == 0)
		opts->max_records = IMG_DEFAULT_MAX_RECORDS;
	if (opts->max_chunks == 0)
		opts->max_chunks = IMG_DEFAULT_MAX_CHUNKS;
}

static bool opts_valid(const struct img_writer_opts *o)
{
	return o->level >= 0 && o->level <= ZSTD_maxCLevel() && o->nthreads >= 1 &&
	       o->nthreads <= IMG_THREADS_MAX && o->max_areas >= 1 &&
	       o->max_areas <= IMG_MAX_AREAS && o->max_records <= IMG_MAX_RECORDS &&
	       o->max_chunks >= 1 && o->max_chunks <= IMG_MAX_CHUNKS;
}

/* Computes the arena layout for valid @o; the single source of truth for
 * both img_writer_arena_size() and img_writer_begin(). */
static void writer_layout(const struct img_writer_opts *o, struct img_layout *l)
{
	size_t off = align_up(sizeof(struct img_writer), IMG_ARENA_ALIGN);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	/* One thread compresses inline. With workers, one slot per worker plus
	 * the one being filled and the one being written keeps every worker
	 * busy; deeper queues only add touched memory (9 MiB per slot). */
	l->nworkers = o->nthreads > 1 ? o->nthreads : 0;
	l->nslots = o->nthreads > 1 ? o->nthreads + 2 : 1;
	l->cctx_size = o->level > 0 ? align_up(ZSTD_estimateCCtxSize(o->level), IMG_ARENA_ALIGN)
				    : 0;
	l->slots = off;
	off += align_up(l->nslots * sizeof(struct img_slot), IMG_ARENA_ALIGN);
	l->rec_idx = off;
	off += align_up((size_t)o->max_records * IMG_IDX_REC_SIZE, IMG_ARENA_ALIGN);
	l->area_idx = off;
	off += align_up((size_t)o->max_areas * IMG_IDX_AREA_SIZE, IMG_ARENA_ALIGN);
	l->chunk_idx = off;
	off += align_up((size_t)o->max_chunks * IMG_IDX_CHUNK_SIZE, IMG_ARENA_ALIGN);
	l->wbuf = off;
	off += IMG_WBUF_SIZE;
	l->slot_stride = l->cctx_size + IMG_CHUNK_SIZE + IMG_PRE_SIZE +
			 align_up(ZSTD_compressBound(IMG_CHUNK_SIZE), IMG_ARENA_ALIGN) +
			 align_up(IMG_CHUNK_RUNS_MAX * sizeof(struct img_run), IMG_ARENA_ALIGN);
	l->slot_mem = align_up(off, page);
	off = l->slot_mem + l->nslots * l->slot_stride;
	l->stacks = align_up(off, page);
	off = l->stacks + (size_t)l->nworkers * IMG_THREAD_STACK;
	l->total = align_up(off, page);
}

size_t img_writer_arena_size(const struct img_writer_opts *opts)
{
	struct img_layout l;

	if (!opts_valid(opts))
		return 0;
	writer_layout(opts, &l);
	return l.total;
}

/* True if @point is an element of the comma-separated CKPT_FAULT list.
 * getenv() reads environ without locks: fine in the child. */
static bool fault_listed(const char *list, const char *point)
{
	size_t len = strlen(point);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && !memcmp(p, point, len))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static uint32_t faults_read(const struct img_writer_opts *opts)
{
	const char *list = getenv("CKPT_FAULT");
	uint32_t f = 0;

	if (!list)
		return 0;
	if (fault_listed(list, "img_write"))
		f |= IMG_FAULT_WRITE;
	if (fault_listed(list, "img_fsync"))
		f |= IMG_FAULT_FSYNC;
	if (fault_listed(list, "img_compress"))
		f |= IMG_FAULT_COMPRESS;
	if (fault_listed(list, "img_thread"))
		f |= IMG_FAULT_THREAD;
	if (f)
		wlog(opts, "injecting faults %#x (CKPT_FAULT is set)", f);
	return f;
}

/* Streams a durable image to disk while it is written, instead of letting
 * up to the whole image pile up as dirty page cache for the final fsync:
 * copying into fresh page-cache pages is what the writing thread spent
 * most of its time on (docs/engine.md, "Measured"), and an image cached
 * after the checkpoint only pushes the application's own data out. A
 * file system without sync_file_range or fadvise just skips this; a
 * write-back error fails the image as a failed write would. */
static int writeback_step(struct img_writer *w)
{
	uint64_t end = w->off & ~(uint64_t)(w->page_size - 1);
	uint64_t drop;
	int err;

	if (w->wb_off || end - w->wb_started < IMG_WB_STEP)
		return 0;
	err = img_sys_sync_range(w->opts.fd, w->wb_started, end - w->wb_started, false);
	if (err) {
		w->wb_off = true; /* e.g. -ESPIPE: not a regular file */
		return 0;
	}
	w->wb_started = end;
	if (end < IMG_WB_LAG + IMG_WB_STEP || end - IMG_WB_LAG - w->wb_dropped < IMG_WB_STEP)
		return 0;
	drop = end - IMG_WB_LAG;
	err = img_sys_sync_range(w->opts.fd, w->wb_dropped, drop - w->wb_dropped, true);
	if (err) {
		wlog(&w->opts, "write-back before offset %llu failed: %s (errno %d)",
		     (unsigned long long)drop, errname(err), -err);
		return err;
	}
	img_sys_drop_cache(w->opts.fd, w->wb_dropped, drop - w->wb_dropped);
	w->wb_dropped = drop;
	return 0;
}

/* Writes @len bytes at the current offset, retrying short writes. */
static int file_write(struct img_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t t0;
	int err;

	if (w->faults & IMG_FAULT_WRITE) {
		wlog(&w->opts, "write at offset %llu failed: injected fault img_write",
		     (unsigned long long)w->off);
		return -ENOSPC;
	}

	XXH64_update(&w->file_xxh, buf, len);
	t0 = now_ns();
	while (len) {
		long n = img_sys_pwrite(w->opts.fd, p, len, w->off);

		if (n == -EINTR)
			continue;
		if (n < 0) {
			wlog(&w->opts, "write at offset %llu failed: %s (errno %d)",
			     (unsigned long long)w->off, errname((int)n), (int)-n);
			return (int)n;
		}
		if (n == 0) {
			wlog(&w->opts, "write at offset %llu wrote nothing",
			     (unsigned long long)w->off);
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
		w->off += (uint64_t)n;
	}
	err = writeback_step(w);
	w->write_ns += now_ns() - t0;
	return err;
}

static int wbuf_flush(struct img_writer *w)
{
	size_t len = w->wbuf_len;

	if (!len)
		return 0;
	/* file_write advances w->off itself; wbuf bytes are not counted yet. */
	w->wbuf_len = 0;
	return file_write(w, w->wbuf, len);
}

/* Appends @len bytes to the output stream, buffering small pieces. */
static int out_append(struct img_writer *w, const void *buf, size_t len)
{
	int err;

	if (len > IMG_WBUF_SIZE - w->wbuf_len) {
		err = wbuf_flush(w);
		if (err)
			return err;
		if (len >= IMG_WBUF_SIZE / 2)
			return file_write(w, buf, len);
	}
	memcpy(w->wbuf + w->wbuf_len, buf, len);
	w->wbuf_len += len;
	return 0;
}

/* Offset the next appended byte will have in the file. */
static uint64_t out_pos(const struct img_writer *w)
{
	return w->off + w->wbuf_len;
}

/* Emits a block header for @desc_len descriptor bytes at @desc, whose hash
 * covers the header's first 16 bytes and the descriptor, then the
 * descriptor itself. The caller appends data_len bytes after. */
static void blkhdr_fill(uint8_t *hdr, uint32_t type, const uint8_t *desc, uint32_t desc_len,
			uint64_t data_len)
{
	XXH64_state_t st;

	img_put32(hdr, type);
	img_put32(hdr + 4, desc_len);
	img_put64(hdr + 8, data_len);
	XXH64_reset(&st, 0);
	XXH64_update(&st, hdr, 16);
	XXH64_update(&st, desc, desc_len);
	img_put64(hdr + 16, XXH64_digest(&st));
}

static int block_emit(struct img_writer *w, uint32_t type, const uint8_t *desc, uint32_t desc_len,
		      uint64_t data_len)
{
	uint8_t hdr[IMG_BLK_HDR_SIZE];
	int err;

	blkhdr_fill(hdr, type, desc, desc_len, data_len);
	err = out_append(w, hdr, sizeof(hdr));
	if (!err)
		err = out_append(w, desc, desc_len);
	return err;
}

static size_t put_str(uint8_t *p, const char *s, size_t len)
{
	img_put32(p, (uint32_t)len);
	memcpy(p + 4, s, len);
	return 4 + len;
}

static size_t str_len_max(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return 0;
	while (n <= max && s[n])
		n++;
	return n;
}

/* Fills the write buffer's tail with the header descriptor; it fits,
 * because begin checked its size against IMG_WBUF_SIZE. */
static int header_write(struct img_writer *w, const struct img_header *hdr)
{
	struct utsname uts;
	struct timespec ts = { 0 };
	const char *glibc = gnu_get_libc_version();
	const char *strs[4];
	size_t lens[4];
	size_t size = IMG_HDR_FIXED_SIZE;
	uint8_t pro[IMG_PROLOGUE_SIZE];
	uint8_t *d;
	size_t pos;
	int err;

	if (IMG_SYS(SYS_uname, &uts, 0, 0, 0, 0, 0) < 0)
		memset(&uts, 0, sizeof(uts));
	IMG_SYS(SYS_clock_gettime, CLOCK_REALTIME, &ts, 0, 0, 0, 0);
	strs[0] = uts.nodename;
	strs[1] = uts.release;
	strs[2] = glibc;
	strs[3] = hdr->exe ? hdr->exe : "";
	for (int i = 0; i < 4; i++) {
		lens[i] = str_len_max(strs[i], i == 3 ? IMG_PATH_MAX : IMG_HOSTSTR_MAX);
		if (lens[i] > (i == 3 ? IMG_PATH_MAX : IMG_HOSTSTR_MAX)) {
			wlog(&w->opts, "header string %d too long", i);
			return -ENAMETOOLONG;
		}
		size += 4 + lens[i];
	}
	if (hdr->argc > IMG_ARGC_MAX || (hdr->argc && !hdr->argv)) {
		wlog(&w->opts, "argc %u invalid", hdr->argc);
		return -E2BIG;
	}
	for (uint32_t i = 0; i < hdr->argc; i++) {
		size_t l = str_len_max(hdr->argv[i], IMG_ARGV_BYTES_MAX);

		size += 4 + l;
		if (size > IMG_ARGV_BYTES_MAX) {
			wlog(&w->opts, "argv larger than %u bytes", IMG_ARGV_BYTES_MAX);
			return -E2BIG;
		}
	}

	img_put_magic(pro, IMG_MAGIC);
	img_put32(pro + 8, IMG_FORMAT_VERSION);
	img_put32(pro + 12, w->opts.refs ? IMG_FLAG_REFS : 0);
	err = out_append(w, pro, sizeof(pro));
	if (err)
		return err;
	w->header_off = out_pos(w);

	/* Compose in the slot gather buffer (IMG_CHUNK_SIZE > the bound
	 * checked above), unused until the first area. */
	d = w->slots[0].in;
	img_put32(d, w->page_size);
	img_put32(d + 4, IMG_ARCH);
	img_put64(d + 8, (uint64_t)ts.tv_sec);
	img_put32(d + 16, (uint32_t)ts.tv_nsec);
	img_put32(d + 20, hdr->pid);
	img_put32(d + 24, hdr->argc);
	img_put32(d + 28, 0);
	pos = IMG_HDR_FIXED_SIZE;
	for (int i = 0; i < 4; i++)
		pos += put_str(d + pos, strs[i], lens[i]);
	for (uint32_t i = 0; i < hdr->argc; i++)
		pos += put_str(d + pos, hdr->argv[i],
			       str_len_max(hdr->argv[i], IMG_ARGV_BYTES_MAX));
	return block_emit(w, IMG_BLK_HEADER, d, (uint32_t)pos, 0);
}

/* Hashes and compresses (at level 0 only hashes) the gathered data of @s.
 * Runs on a compression thread or inline; touches only @s and the source
 * it copies. The source may change under the writer: shared memory is
 * read live, and the kernel stores the CPU number into a registered rseq
 * area whenever the writing thread is scheduled. A single-run chunk is
 * therefore first copied into the slot, and the checksums, the compressor
 * and chunk_write() all read that one private copy: hashing the source and
 * compressing it a moment later stored data its own checksum refuses. */
static void slot_compress(struct img_slot *s, int level, bool fault)
{
	s->err = fault ? -ENOMEM : 0;
	if (fault)
		return;
	if (s->ref) {
		/* raw_xxh and the reference bytes were set when it was added */
		s->codec = IMG_CODEC_REF;
		s->stored_len = IMG_REF_SIZE;
		s->stored_xxh = XXH64(s->out, IMG_REF_SIZE, 0);
		return;
	}
	if (s->direct) {
		memcpy(s->in, s->direct, s->raw_len);
		s->direct = NULL;
	}
	s->raw_xxh = XXH64(s->in, s->raw_len, 0);
	s->codec = IMG_CODEC_RAW;
	s->stored_len = s->raw_len;
	if (level > 0) {
		size_t n = ZSTD_compressCCtx(s->cctx, s->out, s->out_cap, s->in, s->raw_len, level);

		if (ZSTD_isError(n)) {
			s->err = -ENOMEM; /* static workspace too small */
			return;
		}
		/* Incompressible data is stored raw: the reader then
		 * copies instead of running a decoder for nothing. */
		if (n < s->raw_len) {
			s->codec = IMG_CODEC_ZSTD;
			s->stored_len = n;
		}
	}
	s->stored_xxh = s->codec == IMG_CODEC_ZSTD ? XXH64(s->out, s->stored_len, 0) : s->raw_xxh;
}

/* Compression thread: claims filled slots in sequence order until told to
 * stop. Raw system calls only (shares the creator's TLS). */
static int worker_main(void *arg)
{
	struct img_writer *w = arg;

	for (;;) {
		uint32_t kick = __atomic_load_n(&w->kick, __ATOMIC_SEQ_CST);
		uint32_t claim = __atomic_load_n(&w->claim_seq, __ATOMIC_SEQ_CST);
		uint32_t filled = __atomic_load_n(&w->filled_seq, __ATOMIC_SEQ_CST);

		if (claim != filled) {
			struct img_slot *s;

			if (!__atomic_compare_exchange_n(&w->claim_seq, &claim, claim + 1, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				continue;
			s = &w->slots[claim % w->lay.nslots];
			slot_compress(s, w->opts.level, w->faults & IMG_FAULT_COMPRESS);
			__atomic_store_n(&s->state, SLOT_DONE, __ATOMIC_SEQ_CST);
			img_futex_wake(&s->state, INT_MAX);
			continue;
		}
		if (__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST))
			return 0;
		img_futex_wait(&w->kick, kick, false);
	}
}

static void threads_stop(struct img_writer *w)
{
	__atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&w->kick, 1, __ATOMIC_SEQ_CST);
	img_futex_wake(&w->kick, INT_MAX);
	for (uint32_t i = 0; i < w->nthreads; i++)
		img_thread_join(&w->tids[i]);
	w->nthreads = 0;
}

/* Starts the compression threads with every signal blocked: the child
 * inherited the application's handlers, which must never run on a thread
 * that shares the writer's TLS and lives on an arena stack. */
static void threads_start(struct img_writer *w)
{
	uint64_t all = ~(uint64_t)0; /* kernel sigset: 64 signals */
	uint64_t old = 0;

	IMG_SYS(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof(all), 0, 0);
	for (uint32_t i = 0; i < w->lay.nworkers; i++) {
		uint8_t *top = w->arena + w->lay.stacks + (size_t)(i + 1) * IMG_THREAD_STACK;
		long tid = w->faults & IMG_FAULT_THREAD
				   ? -EAGAIN
				   : img_thread_start(top, &w->tids[i], worker_main, w);

		if (tid < 0) {
			/* Fewer threads only cost speed; zero means the
			 * writing thread compresses inline. */
			wlog(&w->opts, "compression thread %u not started: %s", i,
			     errname((int)tid));
			w->tids[i] = 0;
			break;
		}
		w->nthreads++;
	}
	IMG_SYS(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof(old), 0, 0);
}

static struct img_slot *slot_cur(struct img_writer *w)
{
	return &w->slots[w->fill_seq % w->lay.nslots];
}

/* Writes the area blocks queued in @s, recording their offsets. */
static int pre_write(struct img_writer *w, struct img_slot *s)
{
	size_t pos = 0;
	uint32_t area = s->pre_area;
	int err;

	while (pos < s->pre_len) {
		size_t blen = IMG_BLK_HDR_SIZE + img_get32(s->pre + pos + 4);

		img_put64(w->area_idx + (size_t)area * IMG_IDX_AREA_SIZE, out_pos(w));
		err = out_append(w, s->pre + pos, blen);
		if (err)
			return err;
		pos += blen;
		area++;
	}
	s->pre_len = 0;
	return 0;
}

/* Writes the chunk in @s as a CHNK block and records it in the index. */
static int chunk_write(struct img_writer *w, struct img_slot *s)
{
	uint8_t desc[IMG_CHUNK_FIXED_SIZE + IMG_CHUNK_RUNS_MAX * IMG_RUN_SIZE];
	uint32_t idx = w->write_seq;
	const void *data;
	size_t pos;
	uint8_t *e;
	int err;

	err = pre_write(w, s);
	if (err)
		return err;
	if (s->err) {
		wlog(&w->opts, "chunk %u of area %u: compression failed: %s", idx, s->area,
		     errname(s->err));
		return s->err;
	}
	img_put32(desc, s->area);
	img_put32(desc + 4, s->nruns);
	img_put32(desc + 8, s->codec);
	img_put32(desc + 12, 0);
	img_put64(desc + 16, s->raw_len);
	img_put64(desc + 24, s->raw_xxh);
	img_put64(desc + 32, s->stored_xxh);
	pos = IMG_CHUNK_FIXED_SIZE;
	for (uint32_t i = 0; i < s->nruns; i++) {
		img_put64(desc + pos, s->runs[i].page);
		img_put64(desc + pos + 8, s->runs[i].npages);
		pos += IMG_RUN_SIZE;
	}
	e = w->chunk_idx + (size_t)idx * IMG_IDX_CHUNK_SIZE;
	img_put64(e, out_pos(w));
	img_put32(e + 8, s->area);
	img_put32(e + 12, 0);
	err = block_emit(w, IMG_BLK_CHUNK, desc, (uint32_t)pos, s->stored_len);
	if (err)
		return err;
	/* The copy slot_compress() hashed, never the source again. */
	data = s->codec == IMG_CODEC_RAW ? (const void *)s->in : (const void *)s->out;
	err = out_append(w, data, s->stored_len);
	if (err)
		return err;
	if (w->opts.chunk_xxh && idx < w->opts.chunk_xxh_max)
		w->opts.chunk_xxh[idx] = s->raw_xxh;
	if (s->ref) {
		w->ref_bytes += s->raw_len;
		w->nrefs++;
		return 0;
	}
	w->data_bytes += s->raw_len;
	w->stored_bytes += s->stored_len;
	return 0;
}

/* Waits for the oldest chunk in flight and writes it. */
static int write_oldest(struct img_writer *w)
{
	struct img_slot *s = &w->slots[w->write_seq % w->lay.nslots];
	uint64_t t0 = now_ns();
	uint32_t st;
	int err;

	while ((st = __atomic_load_n(&s->state, __ATOMIC_SEQ_CST)) != SLOT_DONE)
		img_futex_wait(&s->state, st, false);
	w->wait_ns += now_ns() - t0;
	err = chunk_write(w, s);
	s->state = SLOT_FREE;
	s->raw_len = 0;
	s->nruns = 0;
	s->direct = NULL;
	s->ref = false;
	w->write_seq++;
	return err;
}

/* Hands the current slot over (or compresses and writes it inline) and
 * makes sure the next slot is free. */
static int slot_submit(struct img_writer *w)
{
	struct img_slot *s = slot_cur(w);
	int err;

	if (w->nchunks >= w->opts.max_chunks) {
		wlog(&w->opts, "more than %u chunks (max_chunks)", w->opts.max_chunks);
		return -ENOSPC;
	}
	w->nchunks++;
	if (w->nthreads == 0) {
		slot_compress(s, w->opts.level, w->faults & IMG_FAULT_COMPRESS);
		s->state = SLOT_DONE;
		w->fill_seq++;
		return write_oldest(w);
	}
	__atomic_store_n(&s->state, SLOT_FILLED, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&w->filled_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&w->kick, 1, __ATOMIC_SEQ_CST);
	img_futex_wake(&w->kick, 1);
	w->fill_seq++;
	if (w->fill_seq - w->write_seq >= w->lay.nslots) {
		err = write_oldest(w);
		if (err)
			return err;
	}
	return 0;
}

/* Writes every chunk still in flight. */
static int drain(struct img_writer *w)
{
	int err = 0;

	while (!err && w->write_seq != w->fill_seq)
		err = write_oldest(w);
	return err;
}

static int fail(struct img_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return err;
}

int img_writer_begin(struct img_writer **wp, const struct img_writer_opts *opts,
		     const struct img_header *hdr, void *arena, size_t arena_size)
{
	struct img_writer *w = arena;
	struct img_layout l;
	int err;

	*wp = NULL;
	if (!opts_valid(opts) || !arena || ((uintptr_t)arena & 4095) || !hdr) {
		wlog(opts, "invalid options or arena");
		return -EINVAL;
	}
	writer_layout(opts, &l);
	if (arena_size < l.total) {
		wlog(opts, "arena of %zu bytes, %zu needed", arena_size, l.total);
		return -EINVAL;
	}
	memset(w, 0, sizeof(*w));
	w->opts = *opts;
	w->lay = l;
	w->arena = arena;
	w->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	w->slots = (struct img_slot *)(w->arena + l.slots);
	w->rec_idx = w->arena + l.rec_idx;
	w->area_idx = w->arena + l.area_idx;
	w->chunk_idx = w->arena + l.chunk_idx;
	w->wbuf = w->arena + l.wbuf;
	w->faults = faults_read(opts);
	w->wb_off = opts->no_fsync;
	XXH64_reset(&w->file_xxh, 0);
	for (uint32_t i = 0; i < l.nslots; i++) {
		struct img_slot *s = &w->slots[i];
		uint8_t *m = w->arena + l.slot_mem + i * l.slot_stride;

		memset(s, 0, sizeof(*s));
		if (l.cctx_size) {
			s->cctx = ZSTD_initStaticCCtx(m, l.cctx_size);
			if (!s->cctx) {
				wlog(opts, "zstd context does not fit");
				return -ENOMEM;
			}
		}
		m += l.cctx_size;
		s->in = m;
		m += IMG_CHUNK_SIZE;
		s->out = m;
		s->out_cap = ZSTD_compressBound(IMG_CHUNK_SIZE);
		m += align_up(s->out_cap, IMG_ARENA_ALIGN);
		s->runs = (struct img_run *)m;
		m += align_up(IMG_CHUNK_RUNS_MAX * sizeof(struct img_run), IMG_ARENA_ALIGN);
		s->pre = m;
	}
	err = header_write(w, hdr);
	if (err)
		return err;
	threads_start(w);
	*wp = w;
	return 0;
}

int img_writer_add_record(struct img_writer *w, uint32_t type, const void *data, uint64_t len)
{
	uint8_t fixed[IMG_REC_FIXED_SIZE];
	uint8_t hdr[IMG_BLK_HDR_SIZE];
	XXH64_state_t st;
	int err;

	if (w->err)
		return w->err;
	if (w->nareas || w->finished || (len && !data)) {
		wlog(&w->opts, "record of type %u after the first area", type);
		return -EINVAL;
	}
	if (len > IMG_RECORD_MAX) {
		wlog(&w->opts, "record of type %u too large: %llu bytes", type,
		     (unsigned long long)len);
		return -E2BIG;
	}
	if (w->nrecords >= w->opts.max_records) {
		wlog(&w->opts, "more than %u records", w->opts.max_records);
		return -ENOSPC;
	}
	img_put64(w->rec_idx + (size_t)w->nrecords * IMG_IDX_REC_SIZE, out_pos(w));
	/* The payload is the descriptor here: hash it in place rather than
	 * copying up to IMG_RECORD_MAX bytes through block_emit(). */
	img_put32(fixed, type);
	img_put32(fixed + 4, 0);
	img_put32(hdr, IMG_BLK_RECORD);
	img_put32(hdr + 4, (uint32_t)(IMG_REC_FIXED_SIZE + len));
	img_put64(hdr + 8, 0);
	XXH64_reset(&st, 0);
	XXH64_update(&st, hdr, 16);
	XXH64_update(&st, fixed, sizeof(fixed));
	XXH64_update(&st, data, len);
	img_put64(hdr + 16, XXH64_digest(&st));
	err = out_append(w, hdr, sizeof(hdr));
	if (!err)
		err = out_append(w, fixed, sizeof(fixed));
	if (!err && len)
		err = out_append(w, data, len);
	if (err)
		return fail(w, err);
	w->nrecords++;
	return 0;
}

static bool area_valid(const struct img_writer *w, const struct img_area *a)
{
	uint64_t pm = w->page_size - 1;
	uint32_t kind = a->flags & (IMG_AREA_PRIVATE | IMG_AREA_SHARED);

	return !(a->start & pm) && a->len && !(a->len & pm) && a->start + a->len > a->start &&
	       a->start + a->len <= IMG_USER_ADDR_END && a->start >= w->area_end &&
	       !(a->prot & ~(uint32_t)(PROT_READ | PROT_WRITE | PROT_EXEC)) &&
	       (kind == IMG_AREA_PRIVATE || kind == IMG_AREA_SHARED) && !(a->flags & 0xff00u) &&
	       a->mtime_nsec < 1000000000u;
}

int img_writer_area_begin(struct img_writer *w, const struct img_area *a)
{
	struct img_slot *s = slot_cur(w);
	size_t plen = str_len_max(a->path, IMG_PATH_MAX);
	size_t nlen = str_len_max(a->name, IMG_NAME_MAX);
	uint8_t *h;
	uint8_t *d;
	size_t pos;
	int err;

	if (w->err)
		return w->err;
	if (w->in_area || w->finished || !area_valid(w, a)) {
		uint64_t end = a->start + a->len;

		wlog(&w->opts, "invalid area %#llx-%#llx prot %#x flags %#x",
		     (unsigned long long)a->start, (unsigned long long)end, a->prot, a->flags);
		return -EINVAL;
	}
	if (plen > IMG_PATH_MAX || nlen > IMG_NAME_MAX) {
		wlog(&w->opts, "area %#llx: path or name too long", (unsigned long long)a->start);
		return -ENAMETOOLONG;
	}
	if (w->nareas >= w->opts.max_areas) {
		wlog(&w->opts, "more than %u areas", w->opts.max_areas);
		return -ENOSPC;
	}
	/* The block waits in the slot that will hold the area's first chunk,
	 * behind the chunks still in flight; a full queue is drained. */
	if (s->pre_len + IMG_BLK_HDR_SIZE + IMG_AREA_FIXED_SIZE + 8 + plen + nlen > IMG_PRE_SIZE) {
		err = drain(w);
		if (!err)
			err = pre_write(w, s);
		if (err)
			return fail(w, err);
	}
	if (!s->pre_len)
		s->pre_area = w->nareas;
	h = s->pre + s->pre_len;
	d = h + IMG_BLK_HDR_SIZE;
	img_put64(d, a->start);
	img_put64(d + 8, a->len);
	img_put32(d + 16, a->prot);
	img_put32(d + 20, a->flags);
	img_put64(d + 24, a->file_offset);
	img_put64(d + 32, a->inode);
	img_put64(d + 40, a->dev);
	img_put64(d + 48, (uint64_t)a->mtime_sec);
	img_put32(d + 56, a->mtime_nsec);
	img_put32(d + 60, w->nareas);
	pos = IMG_AREA_FIXED_SIZE;
	pos += put_str(d + pos, a->path ? a->path : "", plen);
	pos += put_str(d + pos, a->name ? a->name : "", nlen);
	blkhdr_fill(h, IMG_BLK_AREA, d, (uint32_t)pos, 0);
	s->pre_len += IMG_BLK_HDR_SIZE + pos;
	w->in_area = true;
	w->area_end = a->start + a->len;
	w->area_pages = a->len / w->page_size;
	w->next_page = 0;
	w->present = 0;
	w->area_first_chunk = w->nchunks;
	w->nareas++;
	return 0;
}

/* Appends @npages pages from @src starting at area page @page to the
 * current slot, which has room for them. */
static void slot_add(struct img_writer *w, struct img_slot *s, uint64_t page, const uint8_t *src,
		     uint64_t npages)
{
	uint64_t bytes = npages * w->page_size;
	struct img_run *last = s->nruns ? &s->runs[s->nruns - 1] : NULL;

	if (s->raw_len == 0) {
		s->direct = src; /* copied by the compressor unless more follows */
	} else {
		if (s->direct) {
			memcpy(s->in, s->direct, s->raw_len);
			s->direct = NULL;
		}
		memcpy(s->in + s->raw_len, src, bytes);
	}
	s->raw_len += bytes;
	if (last && last->page + last->npages == page) {
		last->npages += npages;
		return;
	}
	s->runs[s->nruns].page = page;
	s->runs[s->nruns].npages = npages;
	s->nruns++;
}

int img_writer_area_run(struct img_writer *w, uint64_t offset, const void *src, uint64_t len)
{
	uint64_t pm = w->page_size - 1;
	const uint8_t *p = src;
	uint64_t page = offset / w->page_size;
	uint64_t npages = len / w->page_size;
	int err;

	if (w->err)
		return w->err;
	if (!w->in_area || (offset & pm) || (len & pm) || !src || page < w->next_page ||
	    npages > w->area_pages - page || page > w->area_pages) {
		wlog(&w->opts, "invalid run offset %#llx length %#llx in area %u",
		     (unsigned long long)offset, (unsigned long long)len, w->nareas - 1);
		return -EINVAL;
	}
	w->next_page = page + npages;
	w->present += npages;
	while (npages) {
		struct img_slot *s = slot_cur(w);
		uint64_t room = (IMG_CHUNK_SIZE - s->raw_len) / w->page_size;
		uint64_t n = npages < room ? npages : room;

		if (s->raw_len == 0)
			s->area = w->nareas - 1;
		slot_add(w, s, page, p, n);
		page += n;
		npages -= n;
		p += n * w->page_size;
		if (s->raw_len == IMG_CHUNK_SIZE) {
			err = slot_submit(w);
			if (err)
				return fail(w, err);
		}
	}
	return 0;
}

int img_writer_area_cut(struct img_writer *w)
{
	int err;

	if (w->err)
		return w->err;
	if (!w->in_area) {
		wlog(&w->opts, "area_cut outside an area");
		return -EINVAL;
	}
	if (!slot_cur(w)->raw_len)
		return 0;
	err = slot_submit(w);
	return err ? fail(w, err) : 0;
}

uint32_t img_writer_chunk_next(const struct img_writer *w)
{
	return w->nchunks;
}

int img_writer_area_ref(struct img_writer *w, const struct img_chunk_ref *ref,
			const struct img_span *runs, uint32_t nruns)
{
	uint64_t pm = w->page_size - 1;
	uint64_t next = w->next_page;
	uint64_t bytes = 0;
	struct img_slot *s;
	int err;

	err = img_writer_area_cut(w);
	if (err)
		return err;
	if (!w->opts.refs || !ref || !nruns || nruns > IMG_CHUNK_RUNS_MAX || !runs) {
		wlog(&w->opts, "invalid reference chunk (%u runs) in area %u", nruns,
		     w->nareas - 1);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < nruns; i++) {
		uint64_t page = runs[i].off / w->page_size;
		uint64_t n = runs[i].len / w->page_size;

		if ((runs[i].off & pm) || (runs[i].len & pm) || !n || page < next ||
		    page > w->area_pages || n > w->area_pages - page) {
			wlog(&w->opts, "reference run %u (offset %#llx) invalid in area %u", i,
			     (unsigned long long)runs[i].off, w->nareas - 1);
			return -EINVAL;
		}
		next = page + n;
		bytes += runs[i].len;
	}
	if (bytes != ref->raw_len || bytes > IMG_CHUNK_SIZE) {
		wlog(&w->opts, "reference of %llu bytes covers %llu bytes of runs",
		     (unsigned long long)ref->raw_len, (unsigned long long)bytes);
		return -EINVAL;
	}
	s = slot_cur(w);
	s->area = w->nareas - 1;
	s->ref = true;
	s->raw_len = bytes;
	s->raw_xxh = ref->raw_xxh;
	s->nruns = 0;
	for (uint32_t i = 0; i < nruns; i++) {
		struct img_run *last = s->nruns ? &s->runs[s->nruns - 1] : NULL;
		uint64_t page = runs[i].off / w->page_size;
		uint64_t n = runs[i].len / w->page_size;

		if (last && last->page + last->npages == page) {
			last->npages += n;
			continue;
		}
		s->runs[s->nruns].page = page;
		s->runs[s->nruns].npages = n;
		s->nruns++;
	}
	img_put32(s->out, ref->base);
	img_put32(s->out + 4, 0);
	img_put64(s->out + 8, ref->chunk);
	w->next_page = next;
	w->present += bytes / w->page_size;
	err = slot_submit(w);
	return err ? fail(w, err) : 0;
}

int img_writer_area_end(struct img_writer *w)
{
	uint8_t *e;
	int err;

	if (w->err)
		return w->err;
	if (!w->in_area) {
		wlog(&w->opts, "area_end without area_begin");
		return -EINVAL;
	}
	if (slot_cur(w)->raw_len) {
		err = slot_submit(w);
		if (err)
			return fail(w, err);
	}
	e = w->area_idx + (size_t)(w->nareas - 1) * IMG_IDX_AREA_SIZE;
	img_put32(e + 8, w->area_first_chunk);
	img_put32(e + 12, w->nchunks - w->area_first_chunk);
	img_put64(e + 16, w->present);
	w->in_area = false;
	return 0;
}

/* Writes the trailer: fixed part, then the three index arrays straight
 * from the arena, hashing them as one descriptor. */
static int trailer_write(struct img_writer *w, uint64_t *trailer_len)
{
	size_t rlen = (size_t)w->nrecords * IMG_IDX_REC_SIZE;
	size_t alen = (size_t)w->nareas * IMG_IDX_AREA_SIZE;
	size_t clen = (size_t)w->nchunks * IMG_IDX_CHUNK_SIZE;
	uint64_t desc_len = IMG_TRAILER_FIXED_SIZE + rlen + alen + clen;
	uint8_t hdr[IMG_BLK_HDR_SIZE];
	uint8_t fixed[IMG_TRAILER_FIXED_SIZE];
	XXH64_state_t st;
	int err;

	if (desc_len > UINT32_MAX) {
		wlog(&w->opts, "index too large");
		return -E2BIG;
	}
	w->body_xxh = XXH64_digest(&w->file_xxh);
	img_put64(fixed, w->body_xxh);
	img_put64(fixed + 8, w->header_off);
	img_put32(fixed + 16, w->nrecords);
	img_put32(fixed + 20, w->nareas);
	img_put32(fixed + 24, w->nchunks);
	img_put32(fixed + 28, 0);
	img_put32(hdr, IMG_BLK_TRAILER);
	img_put32(hdr + 4, (uint32_t)desc_len);
	img_put64(hdr + 8, 0);
	XXH64_reset(&st, 0);
	XXH64_update(&st, hdr, 16);
	XXH64_update(&st, fixed, sizeof(fixed));
	XXH64_update(&st, w->rec_idx, rlen);
	XXH64_update(&st, w->area_idx, alen);
	XXH64_update(&st, w->chunk_idx, clen);
	img_put64(hdr + 16, XXH64_digest(&st));
	err = file_write(w, hdr, sizeof(hdr));
	if (!err)
		err = file_write(w, fixed, sizeof(fixed));
	if (!err && rlen)
		err = file_write(w, w->rec_idx, rlen);
	if (!err && alen)
		err = file_write(w, w->area_idx, alen);
	if (!err && clen)
		err = file_write(w, w->chunk_idx, clen);
	*trailer_len = IMG_BLK_HDR_SIZE + desc_len;
	return err;
}

int img_writer_finish(struct img_writer *w, struct img_writer_result *res)
{
	uint8_t foot[IMG_FOOTER_SIZE];
	uint64_t trailer_off;
	uint64_t trailer_len;
	int err;

	if (w->err)
		return w->err;
	if (w->finished)
		return -EINVAL;
	if (w->in_area) {
		err = img_writer_area_end(w);
		if (err)
			return err;
	}
	err = drain(w);
	if (!err)
		err = pre_write(w, slot_cur(w)); /* trailing areas without data */
	if (!err)
		err = wbuf_flush(w);
	if (err)
		return fail(w, err);
	threads_stop(w);
	/* The body hash is the running hash so far: everything before the
	 * trailer, which starts here. */
	trailer_off = w->off;
	err = trailer_write(w, &trailer_len);
	if (err)
		return fail(w, err);
	img_put64(foot, trailer_off);
	img_put64(foot + 8, trailer_len);
	img_put64(foot + 16, XXH64(foot, 16, 0));
	img_put_magic(foot + 24, IMG_FOOTER_MAGIC);
	err = file_write(w, foot, sizeof(foot));
	if (err)
		return fail(w, err);
	if (!w->opts.no_fsync || (w->faults & IMG_FAULT_FSYNC)) {
		uint64_t t0 = now_ns();

		err = w->faults & IMG_FAULT_FSYNC ? -EIO : img_sys_fsync(w->opts.fd);
		w->fsync_ns = now_ns() - t0;
		if (err) {
			wlog(&w->opts, "fsync failed: %s (errno %d)", errname(err), -err);
			return fail(w, err);
		}
	}
	w->finished = true;
	if (res) {
		res->size = w->off;
		res->xxh64 = XXH64_digest(&w->file_xxh);
		res->data_bytes = w->data_bytes;
		res->stored_bytes = w->stored_bytes;
		res->nchunks = w->nchunks;
		res->nrefs = w->nrefs;
		res->ref_bytes = w->ref_bytes;
		res->body_xxh = w->body_xxh;
		res->wait_ns = w->wait_ns;
		res->write_ns = w->write_ns;
		res->fsync_ns = w->fsync_ns;
	}
	return 0;
}

void img_writer_free(struct img_writer *w)
{
	if (!w)
		return;
	/* Threads may still hold slots of an abandoned image: let them
	 * finish their chunk, then stop. */
	threads_stop(w);
}
