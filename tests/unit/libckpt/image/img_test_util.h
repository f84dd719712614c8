/* img_test_util.h - fixtures shared by the image unit tests; included only
 * by tests/unit/libckpt/image. */
#ifndef CKPT_IMG_TEST_UTIL_H
#define CKPT_IMG_TEST_UTIL_H

#include "img.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kinds of page data a test area holds. */
enum tarea_data {
	TDATA_TEXT = 0,	  /* compresses well */
	TDATA_RANDOM = 1, /* incompressible: stored raw */
	TDATA_ZERO = 2,	  /* all zero */
};

/* One run of present pages of a test area, in pages. */
struct trun {
	uint64_t page;	 /* first page */
	uint64_t npages; /* page count */
};

/* A test area: its description, its source memory and present runs. */
struct tarea {
	struct img_area a; /* as passed to the writer */
	uint8_t *src;	   /* a.len bytes of data (malloc'd) */
	struct trun *runs; /* present runs (malloc'd) */
	size_t nruns;	   /* entries of runs */
};

/* A test image: areas and records as written. */
struct timage {
	struct tarea *areas; /* nareas test areas */
	size_t nareas;
	int level;		      /* zstd level used */
	unsigned int nthreads;	      /* writer threads used */
	struct img_writer_result res; /* what finish returned */
	size_t rec_len[3];	      /* record lengths (trec_len, shorter if small) */
};

/* Records written by timage_write(). */
#define TREC_COUNT 3
extern const uint32_t trec_type[TREC_COUNT];
extern const size_t trec_len[TREC_COUNT];
/* Deterministic byte i of record r. */
uint8_t trec_byte(int r, size_t i);

/* Makes a temporary directory; returns its malloc'd path. */
char *tdir_make(void);
/* Removes the directory and the files in it; frees @dir. */
void tdir_remove(char *dir);
/* Joins dir and name (malloc'd). */
char *tpath(const char *dir, const char *name);

/* Builds the standard set of areas (several chunks, sparse runs, empty
 * reservation, one run per page) filled with @kind data. */
void timage_build(struct timage *t, enum tarea_data kind, bool small);
void timage_free(struct timage *t);
/* Writes @t to @path with @level/@nthreads; returns 0 or -errno. */
int timage_write(struct timage *t, const char *path, int level, unsigned int nthreads);
/* Same, from a raw clone() child of this process (as the engine does);
 * the child also checks that the writer allocated nothing. */
int timage_write_in_child(struct timage *t, const char *path, int level, unsigned int nthreads);
/* Opens @path and checks everything against @t; returns true if equal,
 * printing what differs otherwise. */
bool timage_check(const struct timage *t, const char *path, unsigned int flags);

/* Reads a whole file (malloc'd) / writes a buffer to a file. */
uint8_t *tfile_read(const char *path, size_t *len);
void tfile_write(const char *path, const void *buf, size_t len);

/* The start of a damage test: an intact image written to @good and read
 * into @img, and the path @bad its damaged copy is written to. */
struct tdamage {
	char *dir;	 /* scratch directory (tdir_make) */
	char *good;	 /* path of the intact image */
	char *bad;	 /* path of the damaged copy */
	uint8_t *img;	 /* bytes of the intact image */
	size_t len;	 /* its size */
	struct timage t; /* what it holds */
};

/* Builds a small image of @kind at zstd @level into @f (asserts). */
void tdamage_setup(struct tdamage *f, int level, enum tarea_data kind);
void tdamage_teardown(struct tdamage *f);
/* Recomputes the descriptor checksum of the block at @off of the image
 * bytes @b (@n bytes), so that a length edited there is what the reader
 * must refuse; a descriptor claimed to run past the end is left alone,
 * the reader must refuse it on its length alone. */
void tdamage_rehash(uint8_t *b, size_t n, uint64_t off);

#endif
