/* img_reader_internal.h - the reader's state; included only by
 * img_reader.c and img_inspect.c.
 */
#ifndef CKPT_IMG_READER_INTERNAL_H
#define CKPT_IMG_READER_INTERNAL_H

#include "img.h"

#include <stdint.h>

struct img_rec {
	uint32_t type; /* engine-defined record type */
	uint64_t off;  /* block offset in the file */
	uint64_t len;  /* payload bytes */
	uint8_t *data; /* payload, malloc'd */
};

struct img_area_ent {
	struct img_area a;    /* public description (strings below) */
	uint64_t off;	      /* block offset in the file */
	uint32_t first_chunk; /* index of its first chunk */
	uint32_t nchunks;     /* chunks holding its data */
	char *path;	      /* backing file, NUL-terminated copy */
	char *name;	      /* area name, NUL-terminated copy */
};

struct img_chunk_ent {
	uint64_t off;  /* block offset in the file */
	uint64_t end;  /* offset of the next block: bounds the read */
	uint32_t area; /* owning area */
};

struct img_reader {
	char *path;		      /* file name for messages */
	int fd;			      /* the image, O_RDONLY */
	unsigned int flags;	      /* enum img_reader_flag */
	uint64_t size;		      /* file size at open */
	uint64_t trailer_off;	      /* start of the trailer block */
	uint64_t body_xxh;	      /* xxh64 of [0, trailer_off) */
	struct img_header hdr;	      /* decoded header */
	char **argv;		      /* hdr.argv strings, malloc'd */
	char *hstr[4];		      /* hostname, kernel, glibc, exe */
	uint32_t nrecords;	      /* entries of recs */
	struct img_rec *recs;	      /* metadata records */
	uint32_t nareas;	      /* entries of areas */
	struct img_area_ent *areas;   /* memory areas, address order */
	uint32_t nchunks;	      /* entries of chunks */
	struct img_chunk_ent *chunks; /* data chunks, file order */
	void *dctx;		      /* ZSTD_DCtx, created on first use */
	uint8_t *cbuf;		      /* chunk block buffer */
	uint64_t cbuf_size;	      /* its size */
	uint8_t *rbuf;		      /* decompression buffer */
	uint64_t rbuf_size;	      /* its size */
	uint64_t drop_off;	      /* chunk data before it left the page cache */
	uint32_t pflags;	      /* prologue flags (IMG_FLAG_REFS) */
	uint32_t nbases;	      /* entries of bases */
	struct img_reader **bases;    /* base images of reference chunks */
	uint64_t *base_gen;	      /* their generations, for messages */
	char err[1024];		      /* last error message */
};

#endif
