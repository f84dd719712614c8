/* img.h - the process-image container format: writer, reader, inspector.
 *
 * Public header of the image library (ckptimage); libckpt.so, ckpt-restore
 * and the ckpt CLI include it. The on-disk format is documented byte by byte
 * in docs/image-format.md.
 *
 * An image holds, in order: a header (host, kernel, glibc, exe, argv, pid,
 * time), metadata records whose contents the engine defines (the library
 * stores them bytes-exact), memory areas each followed by the data of its
 * present pages in independent checksummed chunks, and a trailer (index and
 * checksum of everything before it) found through a fixed footer at the end.
 *
 * The writer is safe in a raw-clone()d child of a process whose other threads
 * may hold glibc locks: it never calls malloc, stdio or any function that
 * takes a lock; all its memory is a caller-supplied arena; it reaches the
 * kernel through raw system calls; its compression threads are raw clone()
 * threads synchronised with futex(2).
 *
 * The reader is for ordinary programs (it uses malloc). It refuses any file
 * it cannot prove well-formed and says why in img_reader_error().
 *
 * Conventions: actions return 0 or a negative errno; predicates return bool;
 * pointer returners return NULL on failure. Malformed images give -EBADMSG,
 * images from a newer format version -ENOTSUP.
 */
#ifndef CKPT_IMG_H
#define CKPT_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Format version written by this library; readers accept exactly this one. */
#define IMG_FORMAT_VERSION 1u

/* Uncompressed page data per chunk. 4 MiB: large enough for zstd's ratio,
 * small enough to spread a 1 GiB area over many threads. */
#define IMG_CHUNK_SIZE (4u << 20)

/* Largest metadata record: a thread table or fd table of a huge process
 * stays far below; anything larger is a corrupt length. */
#define IMG_RECORD_MAX (64u << 20)

/* Longest backing-file path or exe path stored (PATH_MAX). */
#define IMG_PATH_MAX 4096u
/* Longest area name such as "[stack]" or "[anon:foo]". */
#define IMG_NAME_MAX 256u
/* Most argv strings stored, and their total size (ARG_MAX-like bounds). */
#define IMG_ARGC_MAX	   65536u
#define IMG_ARGV_BYTES_MAX (4u << 20)

/* ------------------------------------------------------------------ */
/* Memory areas                                                        */

/* Area flags (struct img_area.flags). Bits 0-15 belong to the library's
 * vocabulary below; bits 16-31 are the engine's, stored as is. */
enum img_area_flag {
	IMG_AREA_PRIVATE = 1u << 0,	    /* MAP_PRIVATE (exactly one of PRIVATE, SHARED) */
	IMG_AREA_SHARED = 1u << 1,	    /* MAP_SHARED */
	IMG_AREA_ANON = 1u << 2,	    /* no backing file */
	IMG_AREA_GROWSDOWN = 1u << 3,	    /* MAP_GROWSDOWN stack */
	IMG_AREA_FILE_DELETED = 1u << 4,    /* backing file was unlinked */
	IMG_AREA_SYSV_SHM = 1u << 5,	    /* System V shared memory segment */
	IMG_AREA_VDSO = 1u << 6,	    /* [vdso], [vvar], [vvar_vclock]: not mapped, moved */
	IMG_AREA_NO_DATA = 1u << 7,	    /* data deliberately not saved (guard, ---p) */
	IMG_AREA_ENGINE_MASK = 0xffff0000u, /* free for the engine */
};

/* Description of one memory area. The writer reads it; the reader returns it
 * (strings then point into the reader and live until img_reader_free()). */
struct img_area {
	uint64_t start;		/* first address, page aligned */
	uint64_t len;		/* length in bytes, page multiple, > 0 */
	uint32_t prot;		/* PROT_READ | PROT_WRITE | PROT_EXEC */
	uint32_t flags;		/* enum img_area_flag */
	uint64_t file_offset;	/* offset of start in the backing file */
	uint64_t inode;		/* backing file's inode, 0 if none */
	uint64_t dev;		/* backing file's st_dev (makedev(major, minor)) */
	int64_t mtime_sec;	/* backing file's mtime, seconds */
	uint32_t mtime_nsec;	/* backing file's mtime, nanoseconds */
	const char *path;	/* backing file path, NULL or "" if none */
	const char *name;	/* "[heap]", "[stack]", ... NULL or "" if none */
	uint64_t present_pages; /* reader only: pages whose data is stored */
};

/* ------------------------------------------------------------------ */
/* Header                                                              */

/* What the header records. The writer fills hostname, kernel, glibc,
 * page_size, arch and ctime itself and takes the rest from the caller; the
 * reader returns all of it (strings owned by the reader). */
struct img_header {
	uint32_t version;   /* IMG_FORMAT_VERSION */
	uint32_t flags;	    /* reserved, 0 */
	uint32_t page_size; /* the writer's page size */
	uint32_t arch;	    /* ELF e_machine of the writer (EM_X86_64 ...) */
	int64_t ctime_sec;  /* creation time, CLOCK_REALTIME */
	uint32_t ctime_nsec;
	uint32_t pid;		 /* pid of the checkpointed process (caller's) */
	const char *hostname;	 /* uname nodename */
	const char *kernel;	 /* uname release */
	const char *glibc;	 /* gnu_get_libc_version() */
	const char *exe;	 /* caller: /proc/self/exe of the process */
	uint32_t argc;		 /* caller: number of argv strings */
	const char *const *argv; /* caller: argv strings */
};

/* ------------------------------------------------------------------ */
/* Pagemap helper                                                      */

/* Called once per run of present pages, in address order, [addr, addr+len).
 * Return 0 to go on, or a negative errno to stop (returned to the caller). */
typedef int (*img_run_fn)(void *arg, uint64_t addr, uint64_t len);

/* Reads @pagemap_fd (an open /proc/<pid>/pagemap) for the pages of
 * [start, end) and calls @fn for each maximal run of pages that are present
 * or swapped (bits 63/62), never faulting anything in. Reads pagemap in
 * stack-sized batches; no malloc, safe in a raw-clone child. Note that fork
 * and clone do not copy the page tables of file mappings without private
 * pages, so a child must read its own pagemap only for private anonymous
 * memory. Returns 0, a negative errno from pread, or @fn's error. */
int img_pagemap_runs(int pagemap_fd, uint64_t start, uint64_t end, img_run_fn fn, void *arg);

/* ------------------------------------------------------------------ */
/* Writer                                                              */

struct img_writer;

struct img_writer_opts {
	int fd;			/* image file, open for writing, empty */
	int log_fd;		/* where errors are written (raw write), -1: silent */
	int level;		/* zstd level 1..19; 0 stores data raw */
	unsigned int nthreads;	/* compression threads; 0: CPUs in affinity mask */
	uint32_t max_areas;	/* most areas; 0: 65536 (vm.max_map_count) */
	uint32_t max_records;	/* most metadata records; 0: 4096 */
	uint32_t max_chunks;	/* most chunks; 0: 1 Mi (4 TiB of data) */
	bool no_fsync;		/* skip fsync and write-behind (tests, benchmarks) */
	bool refs;		/* image may hold reference chunks (IMG_FLAG_REFS) */
	uint64_t *chunk_xxh;	/* if set: raw_xxh of chunk i stored at [i] */
	uint32_t chunk_xxh_max; /* entries of chunk_xxh */
};

/* ------------------------------------------------------------------ */
/* Incremental images: references to chunks of earlier images          */

/* Record type the image library reserves for the list of base images of
 * an incremental image (engine record types stay below 0xffff0000). */
#define IMG_REC_BASES 0xffff0001u
/* Most base images one image may refer to: a chain is bounded far below. */
#define IMG_BASES_MAX 64u

/* One base image: where it is (relative to the directory of the image
 * naming it, e.g. "../gen-3/0.0.img"), which generation it is, and the
 * body checksum of its trailer, so a replaced file is refused at open. */
struct img_base {
	uint64_t gen;	   /* generation number, for messages and pruning */
	uint64_t body_xxh; /* the base's trailer body_xxh */
	char path[256];	   /* relative path, NUL-terminated */
};

/* A reference to chunk @chunk of base @base, whose pages are the same
 * bytes (raw_len, raw_xxh) at the same addresses. */
struct img_chunk_ref {
	uint32_t base;	  /* index in the IMG_REC_BASES list */
	uint64_t chunk;	  /* chunk index in that base image */
	uint64_t raw_len; /* the base chunk's uncompressed length */
	uint64_t raw_xxh; /* the base chunk's raw checksum */
};

/* A run of present pages, byte offsets relative to the area start. */
struct img_span {
	uint64_t off; /* page aligned */
	uint64_t len; /* page multiple, > 0 */
};

/* Encodes @n bases into @buf (@cap bytes): le32 count, le32 reserved,
 * then per base le64 gen, le64 body_xxh, str path. Returns the length or
 * -ENOSPC / -EINVAL. Pure, no malloc. */
long img_bases_encode(uint8_t *buf, size_t cap, const struct img_base *b, uint32_t n);

/* Decodes an IMG_REC_BASES payload into @out (IMG_BASES_MAX entries);
 * refuses counts above IMG_BASES_MAX, empty paths, absolute paths, paths
 * with NUL or longer than 255 bytes, trailing bytes. Returns the count or
 * -EBADMSG. */
int img_bases_decode(const uint8_t *p, uint64_t len, struct img_base *out);

/* Result of a finished image, for MANIFEST.json. */
struct img_writer_result {
	uint64_t size;	       /* bytes in the file */
	uint64_t xxh64;	       /* xxh64 (seed 0) of the whole file */
	uint64_t data_bytes;   /* uncompressed page data stored */
	uint64_t stored_bytes; /* page data bytes after compression */
	uint32_t nchunks;      /* chunks written */
	uint32_t nrefs;	       /* of which reference chunks */
	uint64_t ref_bytes;    /* uncompressed page data referred to */
	uint64_t body_xxh;     /* the trailer's body_xxh (identifies the image) */
	/* Where the writing thread's time went (CLOCK_MONOTONIC ns), for the
	 * engine's debug log and benchmarks. */
	uint64_t wait_ns;  /* waiting for compression threads */
	uint64_t write_ns; /* in write system calls */
	uint64_t fsync_ns; /* in the final fsync */
};

/* Resolves the defaults of @opts in place (nthreads, max_*): call before
 * img_writer_arena_size() and pass the same @opts to img_writer_begin().
 * Safe in a raw-clone child. */
void img_writer_opts_defaults(struct img_writer_opts *opts);

/* Bytes of arena img_writer_begin() needs for @opts (defaults resolved),
 * page aligned. Map it with MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE:
 * most of it is index space that is touched only as it is used.
 * Returns 0 if @opts is invalid. */
size_t img_writer_arena_size(const struct img_writer_opts *opts);

/* Starts an image on opts->fd and writes its header. @hdr supplies pid, exe,
 * argc and argv; the other fields are filled in. @arena (page aligned, at
 * least img_writer_arena_size(opts) bytes, owned by the caller and untouched
 * by it until img_writer_free()) holds every byte the writer uses; the
 * calling thread needs about 32 KiB of stack. Starts the compression
 * threads, with every signal blocked (they must never run a handler the
 * child inherited). Returns 0 and the writer in *@wp, or -errno (-EINVAL bad
 * options or arena too small, -E2BIG oversized argv, write errors). */
int img_writer_begin(struct img_writer **wp, const struct img_writer_opts *opts,
		     const struct img_header *hdr, void *arena, size_t arena_size);

/* Adds one metadata record of @type (engine-defined) and @len bytes,
 * stored bytes-exact. Records must come before the first area.
 * Returns 0, -EINVAL (after an area), -E2BIG (len > IMG_RECORD_MAX),
 * -ENOSPC (more than max_records), or a write error. */
int img_writer_add_record(struct img_writer *w, uint32_t type, const void *data, uint64_t len);

/* Starts area @a. Areas come in increasing address order and must not
 * overlap. Returns 0 or -EINVAL (bad area, order), -ENOSPC, -ENAMETOOLONG. */
int img_writer_area_begin(struct img_writer *w, const struct img_area *a);

/* Adds the data of the present pages [offset, offset + len) of the current
 * area, read from @src (normally start + offset in the caller's address
 * space). @src must stay readable until img_writer_finish(): a chunk may be
 * copied later, by a thread. It may change meanwhile (shared memory read
 * live): each chunk is copied once and its checksums and stored bytes come
 * from that copy, so the image stays self-consistent (a page written
 * meanwhile is saved as the copy read it). offset and len are page
 * multiples, runs come in increasing order without overlap and stay inside
 * the area.
 * Returns 0, -EINVAL, -ENOSPC (max_chunks), or a compression/write error. */
int img_writer_area_run(struct img_writer *w, uint64_t offset, const void *src, uint64_t len);

/* Ends the chunk being gathered, so that the next run starts a new one
 * (incremental images cut chunks at fixed address windows, so that a
 * window's chunk can be referred to by later images). Returns 0 or -errno. */
int img_writer_area_cut(struct img_writer *w);

/* Index the next chunk written will have. */
uint32_t img_writer_chunk_next(const struct img_writer *w);

/* Adds a reference chunk for the @nruns runs @runs of the current area
 * (ascending, after every run so far): their pages are those of @ref's
 * base chunk. Needs opts.refs. Cuts the chunk being gathered first.
 * Returns 0, -EINVAL (bad runs, raw_len not their size, no opts.refs),
 * -ENOSPC, or a write error. */
int img_writer_area_ref(struct img_writer *w, const struct img_chunk_ref *ref,
			const struct img_span *runs, uint32_t nruns);

/* Ends the current area (flushes its last chunk). Returns 0 or -errno. */
int img_writer_area_end(struct img_writer *w);

/* Waits for every chunk, writes trailer and footer, fsyncs (unless
 * opts.no_fsync), stops the threads. Fills @res if not NULL. Unless
 * opts.no_fsync, the image was streamed to disk while it was written and
 * most of it is no longer in the page cache (see docs/image-format.md).
 * Fault points (CKPT_FAULT, see proto/fault.h), read at img_writer_begin():
 * img_write (every write fails, -ENOSPC), img_fsync (-EIO), img_compress
 * (every chunk fails, -ENOMEM), img_thread (no compression thread starts:
 * the writing thread compresses, the image is still written).
 * Returns 0 or -errno; the file is not a valid image unless this returned 0. */
int img_writer_finish(struct img_writer *w, struct img_writer_result *res);

/* Stops the threads of @w (finished or not). Accepts NULL. The caller then
 * owns the arena again and closes opts.fd. */
void img_writer_free(struct img_writer *w);

/* ------------------------------------------------------------------ */
/* Reader                                                              */

struct img_reader;

enum img_reader_flag {
	/* At open, also check the whole-file checksum and decompress and
	 * check every chunk (ckpt inspect --verify, CKPT_VERIFY=1). Not
	 * before a restore: loading checks every chunk as it is read, so a
	 * restorer opens without it and reads each byte once. */
	IMG_VERIFY_ALL = 1u << 0,
	/* Open as the base of another image: its own bases are not opened
	 * (references always point at chunks holding data). */
	IMG_AS_BASE = 1u << 1,
};

/* Opens @path and validates footer, trailer, index, header, records, areas
 * and chunk descriptors (and with IMG_VERIFY_ALL all data). Returns 0 with
 * the reader in *@rp, or -errno: -EBADMSG malformed or corrupt, -ENOTSUP
 * other format version, -ENOMEM, or open/read errors. On failure *@rp is
 * still a reader (in the failed state) whose img_reader_error() explains,
 * unless memory ran out (then NULL). Free it with img_reader_free(). */
int img_reader_open(const char *path, unsigned int flags, struct img_reader **rp);

/* Closes the file and frees everything. Accepts NULL. */
void img_reader_free(struct img_reader *r);

/* Last error: "FILE: offset N: what is wrong", or "" if none. */
const char *img_reader_error(const struct img_reader *r);

/* The header; valid until img_reader_free(). */
const struct img_header *img_reader_header(const struct img_reader *r);

/* Number of metadata records. */
uint32_t img_reader_record_count(const struct img_reader *r);

/* Record @i: its type, bytes (valid until img_reader_free()) and length.
 * Returns 0 or -ENOENT. */
int img_reader_record(const struct img_reader *r, uint32_t i, uint32_t *type, const void **data,
		      uint64_t *len);

/* First record of @type at or after index *@i (start with 0); on success
 * *@i is its index. Returns 0 or -ENOENT. */
int img_reader_record_find(const struct img_reader *r, uint32_t type, uint32_t *i,
			   const void **data, uint64_t *len);

/* Number of memory areas; areas are in increasing address order. */
uint32_t img_reader_area_count(const struct img_reader *r);

/* Area @i, or NULL if out of range. Valid until img_reader_free(). */
const struct img_area *img_reader_area(const struct img_reader *r, uint32_t i);

/* Calls @fn(arg, offset, len) for each stored run of area @i, offsets
 * relative to the area's start, in increasing order. Returns 0, @fn's
 * error, -ENOENT or a read error (-EBADMSG if the file changed). */
int img_reader_area_runs(struct img_reader *r, uint32_t i, img_run_fn fn, void *arg);

/* Decompresses the stored pages of area @i into @dest (the area's memory or
 * a writable mapping of the same length); pages not stored are left as they
 * are. Each chunk's checksums are checked before any byte of it is copied.
 * Allocates nothing (img_reader_open() made the buffers), so a restorer can
 * map areas at fixed addresses between open and load. Single-threaded on
 * purpose: glibc caches freed thread stacks, which would sit in the address
 * range a restorer is filling.
 * Returns 0 or -errno (-EBADMSG corrupt data, see img_reader_error()). */
int img_reader_area_load(struct img_reader *r, uint32_t i, void *dest);

/* Prints header, record count and sizes, and areas with present/total size
 * to @out (ckpt inspect); @verbose adds argv, per-record and chunk details.
 * Returns 0 or -errno. */
int img_inspect_print(struct img_reader *r, FILE *out, bool verbose);

#endif
