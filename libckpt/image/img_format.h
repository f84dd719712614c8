/* img_format.h - on-disk layout of an image; included only by the image
 * library (the files of libckpt/image) and its unit tests.
 *
 * Every integer is little-endian and every field has an explicit size; the
 * structures below are never overlaid on file bytes (no packing or
 * alignment assumptions): the codec helpers read and write them byte by
 * byte. docs/image-format.md is the normative description; keep the two in
 * step.
 */
#ifndef CKPT_IMG_FORMAT_H
#define CKPT_IMG_FORMAT_H

#include <stdint.h>
#include <string.h>

#include "img.h"

/* First 8 bytes of every image: identifies the file type to file(1)-like
 * tools and to the reader before it trusts anything else. */
#define IMG_MAGIC "SCKPTIMG"
/* Last 8 bytes of every image: a file cut short lacks them. */
#define IMG_FOOTER_MAGIC "SCKPTEND"
#define IMG_MAGIC_LEN	 8u

/* Prologue at offset 0: magic, le32 version, le32 flags. */
#define IMG_PROLOGUE_SIZE 16u
/* Prologue flags; readers refuse unknown ones, so a reader that cannot
 * follow references refuses an incremental image instead of misreading it.
 * IMG_FLAG_REFS: the image may hold reference chunks (IMG_CODEC_REF) and
 * has one IMG_REC_BASES record naming the images they point into. */
#define IMG_FLAG_REFS		 (1u << 0)
#define IMG_PROLOGUE_FLAGS_KNOWN IMG_FLAG_REFS

/* Block types: four ASCII characters read as a le32, so a hex dump shows
 * them. */
#define IMG_BLK_HEADER	0x44414548u /* "HEAD" */
#define IMG_BLK_RECORD	0x4154454du /* "META" */
#define IMG_BLK_AREA	0x41455241u /* "AREA" */
#define IMG_BLK_CHUNK	0x4b4e4843u /* "CHNK" */
#define IMG_BLK_TRAILER 0x524c5254u /* "TRLR" */

/* Block header: le32 type, le32 desc_len, le64 data_len, le64 desc_xxh.
 * desc_xxh is xxh64 (seed 0) of the first 16 bytes of the block header
 * followed by the descriptor, so a flipped bit in either is caught before
 * the descriptor is parsed. data_len bytes of bulk data (chunk payload)
 * follow the descriptor and carry their own checksums. */
#define IMG_BLK_HDR_SIZE 24u

/* Header descriptor fixed part: le32 page_size, le32 arch, le64 ctime_sec,
 * le32 ctime_nsec, le32 pid, le32 argc, le32 reserved; then strings
 * hostname, kernel, glibc, exe and argc argv strings, each le32 length +
 * bytes without NUL. */
#define IMG_HDR_FIXED_SIZE 32u
/* Bounds of the host strings: uname fields are 65 bytes, glibc versions
 * are short; 256 leaves room without allowing absurd lengths. */
#define IMG_HOSTSTR_MAX 256u
/* Whole header descriptor bound: argv plus paths plus slack. */
#define IMG_HDR_DESC_MAX (IMG_ARGV_BYTES_MAX + 4u * IMG_ARGC_MAX + 65536u)

/* Record descriptor: le32 type, le32 reserved, then the payload. */
#define IMG_REC_FIXED_SIZE 8u

/* Area descriptor fixed part: le64 start, le64 len, le32 prot, le32 flags,
 * le64 file_offset, le64 inode, le64 dev, le64 mtime_sec, le32 mtime_nsec,
 * le32 index; then path and name (le32 length + bytes). */
#define IMG_AREA_FIXED_SIZE 64u

/* Chunk descriptor fixed part: le32 area, le32 nruns, le32 codec,
 * le32 reserved, le64 raw_len, le64 raw_xxh, le64 stored_xxh; then nruns
 * runs of le64 first page (within the area) + le64 page count. The stored
 * bytes (data_len of the block) follow. */
#define IMG_CHUNK_FIXED_SIZE 40u
#define IMG_RUN_SIZE	     16u
/* Smallest page size we accept (x86-64, arm64 4K); bounds runs per chunk. */
#define IMG_PAGE_MIN 4096u
/* Largest page size we accept (arm64/ppc64 64K, with room). */
#define IMG_PAGE_MAX (1u << 20)
/* A chunk holds at most one run per page. */
#define IMG_CHUNK_RUNS_MAX (IMG_CHUNK_SIZE / IMG_PAGE_MIN)

enum img_codec {
	IMG_CODEC_RAW = 0,  /* stored bytes are the page data */
	IMG_CODEC_ZSTD = 1, /* stored bytes are one zstd frame */
	IMG_CODEC_REF = 2,  /* stored bytes are a reference (IMG_REF_SIZE) to a
			     * chunk of a base image holding the same pages */
};

/* Stored bytes of a reference chunk: le32 base (index into the
 * IMG_REC_BASES list), le32 reserved (0), le64 chunk index in that base.
 * The chunk's raw_len and raw_xxh are those of the base chunk, its runs
 * cover the same addresses; the reader checks all three. */
#define IMG_REF_SIZE 16u

/* Trailer descriptor fixed part: le64 body_xxh (xxh64 of every byte before
 * the trailer), le64 header offset, le32 nrecords, le32 nareas,
 * le32 nchunks, le32 reserved; then the index: nrecords x le64 offset,
 * nareas x (le64 offset, le32 first chunk, le32 chunk count, le64 present
 * pages), nchunks x (le64 offset, le32 area, le32 reserved). */
#define IMG_TRAILER_FIXED_SIZE 32u
#define IMG_IDX_REC_SIZE       8u
#define IMG_IDX_AREA_SIZE      24u
#define IMG_IDX_CHUNK_SIZE     16u

/* Footer, the last 32 bytes: le64 trailer offset, le64 trailer length,
 * le64 xxh64 of those 16 bytes, magic "SCKPTEND". */
#define IMG_FOOTER_SIZE 32u

/* Highest user address + 1 we accept for an area: 56 bits covers x86-64
 * with 5-level paging and arm64 52-bit VA; kernel addresses are refused. */
#define IMG_USER_ADDR_END (1ull << 56)

/* Default limits of the writer (see struct img_writer_opts). */
#define IMG_DEFAULT_MAX_AREAS	65536u	   /* vm.max_map_count default 65530 */
#define IMG_DEFAULT_MAX_RECORDS 4096u	   /* engine writes a few dozen */
#define IMG_DEFAULT_MAX_CHUNKS	(1u << 20) /* 4 TiB of page data */
/* Hard caps on the index, also applied by the reader to a file's counts. */
#define IMG_MAX_AREAS	(1u << 20)
#define IMG_MAX_RECORDS (1u << 20)
#define IMG_MAX_CHUNKS	(1u << 24)
/* Compression threads beyond this bring nothing but arena size. */
#define IMG_THREADS_MAX 64u

static inline void img_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void img_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void img_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Stores the magic @m (IMG_MAGIC or IMG_FOOTER_MAGIC) at @p: exactly
 * IMG_MAGIC_LEN bytes, the string's NUL is not part of the format. */
static inline void img_put_magic(uint8_t *p, const char *m)
{
	memcpy(p, m, IMG_MAGIC_LEN);
}

static inline uint32_t img_get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t img_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#endif
