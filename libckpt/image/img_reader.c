/* img_reader.c - opens, validates and loads process images.
 *
 * Every number read from the file is checked against the file size and the
 * format's bounds before it sizes an allocation, indexes an array or
 * positions a read, so a hostile or damaged image is refused with a message
 * naming the file, the offset and the fault, and never restored.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "img.h"
#include "img_format.h"
#include "img_reader_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

/* Read size of the whole-file checksum pass (IMG_VERIFY_ALL). */
#define IMG_VERIFY_BUF (4u << 20)
/* Largest chunk block: header, descriptor with one run per page, and a
 * stored payload no larger than raw (zstd output is kept only if smaller). */
#define IMG_CHUNK_BLOCK_MAX                                                            \
	(IMG_BLK_HDR_SIZE + IMG_CHUNK_FIXED_SIZE + IMG_CHUNK_RUNS_MAX * IMG_RUN_SIZE + \
	 IMG_CHUNK_SIZE)

/* Whether a stored checksum matches the one computed. A fuzz build
 * (-DIMG_FUZZ_NO_CHECKSUMS, tests/fuzz only) accepts every checksum, so
 * that mutated inputs reach the checks behind them; the checksums are still
 * computed, over the same bytes. Never defined in a build that reads real
 * images. */
#ifdef IMG_FUZZ_NO_CHECKSUMS
#define img_sum_ok(stored, computed) ((void)(stored), (void)(computed), true)
#else
#define img_sum_ok(stored, computed) ((stored) == (computed))
#endif

/* Drop-behind step of chunk reads (see drop_behind()). */
#define IMG_DROP_STEP (8u << 20)

/* A decoded block: header fields and its descriptor (malloc'd by
 * block_read() unless read into a caller buffer). */
struct img_block {
	uint64_t off;	   /* offset of the block header */
	uint32_t type;	   /* IMG_BLK_* */
	uint32_t desc_len; /* descriptor bytes */
	uint64_t data_len; /* bulk bytes after the descriptor */
	uint8_t *desc;	   /* descriptor */
};

/* A decoded chunk descriptor. */
struct img_chunk {
	uint32_t area;	       /* owning area */
	uint32_t nruns;	       /* runs that follow */
	uint32_t codec;	       /* enum img_codec */
	uint64_t raw_len;      /* uncompressed bytes */
	uint64_t raw_xxh;      /* xxh64 of the uncompressed bytes */
	uint64_t stored_xxh;   /* xxh64 of the stored bytes */
	const uint8_t *runs;   /* nruns x (le64 page, le64 npages) */
	const uint8_t *stored; /* stored bytes */
	uint64_t stored_len;   /* their length */
};

/* Sets r->err to "<path>: offset <off>: <message>". */
__attribute__((format(printf, 3, 4))) static void rerr_msg(struct img_reader *r, uint64_t off,
							   const char *fmt, ...)
{
	int n = snprintf(r->err, sizeof(r->err), "%s: offset %llu: ", r->path,
			 (unsigned long long)off);
	va_list ap;

	if (n < 0 || (size_t)n >= sizeof(r->err))
		return;
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Records a format error and evaluates to -EBADMSG. A macro, not a
 * function, so that every error path visibly returns non-zero: the static
 * analyzer does not inline variadic functions, and would otherwise assume
 * a failed check can return 0 and go on to use what it did not fill in. */
#define rerr(r, off, ...) (rerr_msg((r), (off), __VA_ARGS__), -EBADMSG)

/* Like rerr() for a system error: returns -@errnum. */
static int rerr_sys(struct img_reader *r, uint64_t off, int errnum, const char *what)
{
	snprintf(r->err, sizeof(r->err), "%s: offset %llu: %s: %s", r->path,
		 (unsigned long long)off, what, strerror(errnum));
	return -errnum;
}

static int read_at(struct img_reader *r, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(r->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rerr_sys(r, off, errno, "read failed");
		if (n == 0)
			return rerr(r, off, "file ends early (changed since open?)");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static const char *blk_name(uint32_t type)
{
	switch (type) {
	case IMG_BLK_HEADER:
		return "header";
	case IMG_BLK_RECORD:
		return "record";
	case IMG_BLK_AREA:
		return "area";
	case IMG_BLK_CHUNK:
		return "chunk";
	case IMG_BLK_TRAILER:
		return "trailer";
	default:
		return "unknown";
	}
}

/* Checks the 24-byte block header in @h found at @off: type @type, the
 * whole block exactly [off, end), descriptor at most @desc_max bytes. */
static int blkhdr_check(struct img_reader *r, const uint8_t *h, uint64_t off, uint64_t end,
			uint32_t type, uint32_t desc_max, struct img_block *b)
{
	b->off = off;
	b->type = img_get32(h);
	b->desc_len = img_get32(h + 4);
	b->data_len = img_get64(h + 8);
	if (b->type != type)
		return rerr(r, off, "expected a %s block, found type %#x", blk_name(type), b->type);
	if (b->desc_len > desc_max)
		return rerr(r, off, "%s descriptor of %u bytes exceeds %u", blk_name(type),
			    b->desc_len, desc_max);
	if (b->data_len > end - off ||
	    IMG_BLK_HDR_SIZE + (uint64_t)b->desc_len + b->data_len != end - off)
		return rerr(r, off, "%s block of %llu bytes does not fit its index slot of %llu",
			    blk_name(type),
			    (unsigned long long)(IMG_BLK_HDR_SIZE + (uint64_t)b->desc_len +
						 (b->data_len > end - off ? 0 : b->data_len)),
			    (unsigned long long)(end - off));
	return 0;
}

static int desc_verify(struct img_reader *r, const uint8_t *h, const struct img_block *b)
{
	XXH64_state_t *st = XXH64_createState();
	uint64_t want = img_get64(h + 16);
	uint64_t got;

	if (!st)
		return rerr_sys(r, b->off, ENOMEM, "hash state");
	XXH64_reset(st, 0);
	XXH64_update(st, h, 16);
	XXH64_update(st, b->desc, b->desc_len);
	got = XXH64_digest(st);
	XXH64_freeState(st);
	if (!img_sum_ok(want, got))
		return rerr(r, b->off,
			    "%s descriptor checksum mismatch (stored %016llx, computed %016llx)",
			    blk_name(b->type), (unsigned long long)want, (unsigned long long)got);
	return 0;
}

/* Reads and verifies the block of @type spanning exactly [off, end); its
 * descriptor is malloc'd into b->desc (free it). Bulk data is not read. */
static int block_read(struct img_reader *r, uint64_t off, uint64_t end, uint32_t type,
		      uint32_t desc_max, struct img_block *b)
{
	uint8_t h[IMG_BLK_HDR_SIZE];
	int err;

	b->desc = NULL;
	if (end < off || end - off < IMG_BLK_HDR_SIZE)
		return rerr(r, off, "no room for a %s block", blk_name(type));
	err = read_at(r, h, sizeof(h), off);
	if (!err)
		err = blkhdr_check(r, h, off, end, type, desc_max, b);
	if (err)
		return err;
	b->desc = malloc(b->desc_len ? b->desc_len : 1);
	if (!b->desc)
		return rerr_sys(r, off, ENOMEM, "descriptor");
	err = read_at(r, b->desc, b->desc_len, off + IMG_BLK_HDR_SIZE);
	if (!err)
		err = desc_verify(r, h, b);
	if (err) {
		free(b->desc);
		b->desc = NULL;
	}
	return err;
}

/* Cursor over a descriptor; every take checks the remaining length. */
struct cur {
	const uint8_t *p; /* next byte */
	uint64_t left;	  /* bytes left */
	uint64_t off;	  /* file offset of p, for messages */
};

static bool cur_take(struct cur *c, uint64_t n, const uint8_t **out)
{
	if (n > c->left)
		return false;
	*out = c->p;
	c->p += n;
	c->left -= n;
	c->off += n;
	return true;
}

/* Takes a le32-length string of at most @max bytes without NULs and
 * returns a malloc'd NUL-terminated copy in *@out. */
static int cur_str(struct img_reader *r, struct cur *c, uint32_t max, const char *what, char **out)
{
	const uint8_t *p;
	uint32_t len;

	*out = NULL;
	if (!cur_take(c, 4, &p))
		return rerr(r, c->off, "%s: length runs past the descriptor", what);
	len = img_get32(p);
	if (len > max)
		return rerr(r, c->off - 4, "%s: length %u exceeds %u", what, len, max);
	if (!cur_take(c, len, &p))
		return rerr(r, c->off, "%s: %u bytes run past the descriptor", what, len);
	if (memchr(p, '\0', len))
		return rerr(r, c->off - len, "%s contains a NUL byte", what);
	*out = malloc((size_t)len + 1);
	if (!*out)
		return rerr_sys(r, c->off, ENOMEM, what);
	memcpy(*out, p, len);
	(*out)[len] = '\0';
	return 0;
}

static int prologue_check(struct img_reader *r)
{
	uint8_t p[IMG_PROLOGUE_SIZE];
	uint32_t version;
	uint32_t flags;
	int err;

	err = read_at(r, p, sizeof(p), 0);
	if (err)
		return err;
	if (memcmp(p, IMG_MAGIC, IMG_MAGIC_LEN) != 0)
		return rerr(r, 0, "not a slurm-ckpt image (bad magic)");
	version = img_get32(p + 8);
	flags = img_get32(p + 12);
	if (version != IMG_FORMAT_VERSION) {
		rerr_msg(r, 8, "format version %u, this reader supports %u", version,
			 IMG_FORMAT_VERSION);
		return -ENOTSUP;
	}
	if (flags & ~IMG_PROLOGUE_FLAGS_KNOWN)
		return rerr(r, 12, "unknown flags %#x", flags);
	r->pflags = flags;
	return 0;
}

static int footer_check(struct img_reader *r, uint64_t *trailer_len)
{
	uint8_t f[IMG_FOOTER_SIZE];
	uint64_t foff = r->size - IMG_FOOTER_SIZE;
	uint64_t toff;
	uint64_t tlen = 0;
	int err;

	err = read_at(r, f, sizeof(f), foff);
	if (err)
		return err;
	if (memcmp(f + 24, IMG_FOOTER_MAGIC, IMG_MAGIC_LEN) != 0)
		return rerr(r, foff + 24, "no footer (file truncated or not finished)");
	if (!img_sum_ok(img_get64(f + 16), XXH64(f, 16, 0)))
		return rerr(r, foff, "footer checksum mismatch");
	toff = img_get64(f);
	tlen = img_get64(f + 8);
	if (toff < IMG_PROLOGUE_SIZE + IMG_BLK_HDR_SIZE + IMG_HDR_FIXED_SIZE || toff > foff ||
	    tlen != foff - toff || tlen < IMG_BLK_HDR_SIZE + IMG_TRAILER_FIXED_SIZE)
		return rerr(r, foff,
			    "trailer offset %llu length %llu inconsistent with file size %llu",
			    (unsigned long long)toff, (unsigned long long)tlen,
			    (unsigned long long)r->size);
	r->trailer_off = toff;
	*trailer_len = tlen;
	return 0;
}

/* Decodes the index in the trailer descriptor @d (length checked) into the
 * record, area and chunk tables; checks ordering and contiguity. */
static int index_parse(struct img_reader *r, const uint8_t *d, uint64_t doff)
{
	const uint8_t *e = d + IMG_TRAILER_FIXED_SIZE;
	uint64_t eoff = doff + IMG_TRAILER_FIXED_SIZE;
	uint64_t prev = 0;
	uint32_t next_chunk = 0;

	for (uint32_t i = 0; i < r->nrecords;
	     i++, e += IMG_IDX_REC_SIZE, eoff += IMG_IDX_REC_SIZE) {
		r->recs[i].off = img_get64(e);
		if (r->recs[i].off <= prev || r->recs[i].off >= r->trailer_off)
			return rerr(r, eoff, "index: record %u offset %llu out of order or range",
				    i, (unsigned long long)r->recs[i].off);
		prev = r->recs[i].off;
	}
	for (uint32_t i = 0; i < r->nareas;
	     i++, e += IMG_IDX_AREA_SIZE, eoff += IMG_IDX_AREA_SIZE) {
		struct img_area_ent *a = &r->areas[i];

		a->off = img_get64(e);
		a->first_chunk = img_get32(e + 8);
		a->nchunks = img_get32(e + 12);
		a->a.present_pages = img_get64(e + 16);
		if (a->off <= prev || a->off >= r->trailer_off)
			return rerr(r, eoff, "index: area %u offset %llu out of order or range", i,
				    (unsigned long long)a->off);
		if (a->first_chunk != next_chunk || a->nchunks > r->nchunks - next_chunk)
			return rerr(
				r, eoff,
				"index: area %u chunks %u+%u do not follow on (expected first %u of %u)",
				i, a->first_chunk, a->nchunks, next_chunk, r->nchunks);
		next_chunk += a->nchunks;
		prev = a->off;
		/* Chunk offsets must lie between this area and the next. */
		for (uint32_t j = 0; j < a->nchunks; j++) {
			const uint8_t *c = d + IMG_TRAILER_FIXED_SIZE +
					   (size_t)r->nrecords * IMG_IDX_REC_SIZE +
					   (size_t)r->nareas * IMG_IDX_AREA_SIZE +
					   (size_t)(a->first_chunk + j) * IMG_IDX_CHUNK_SIZE;
			struct img_chunk_ent *ch = &r->chunks[a->first_chunk + j];
			uint64_t coff = (uint64_t)(c - d) + doff;

			ch->off = img_get64(c);
			ch->area = img_get32(c + 8);
			if (ch->area != i || img_get32(c + 12))
				return rerr(r, coff, "index: chunk %u names area %u, expected %u",
					    a->first_chunk + j, ch->area, i);
			if (ch->off <= prev || ch->off >= r->trailer_off)
				return rerr(r, coff,
					    "index: chunk %u offset %llu out of order or range",
					    a->first_chunk + j, (unsigned long long)ch->off);
			prev = ch->off;
		}
	}
	if (next_chunk != r->nchunks)
		return rerr(r, eoff, "index: %u chunks listed, areas account for %u", r->nchunks,
			    next_chunk);
	return 0;
}

/* Offset of the block after the one at @off in file order: records,
 * areas with their chunks, trailer. Blocks are contiguous. */
static void block_ends_fill(struct img_reader *r)
{
	/* Walk backwards so each block learns its successor's offset. */
	uint64_t next = r->trailer_off;

	for (uint32_t i = r->nareas; i-- > 0;) {
		struct img_area_ent *a = &r->areas[i];

		for (uint32_t j = a->nchunks; j-- > 0;) {
			r->chunks[a->first_chunk + j].end = next;
			next = r->chunks[a->first_chunk + j].off;
		}
		next = a->off;
	}
}

static uint64_t area_block_end(const struct img_reader *r, uint32_t i)
{
	const struct img_area_ent *a = &r->areas[i];

	if (a->nchunks)
		return r->chunks[a->first_chunk].off;
	return i + 1 < r->nareas ? r->areas[i + 1].off : r->trailer_off;
}

static uint64_t first_after_records(const struct img_reader *r)
{
	return r->nareas ? r->areas[0].off : r->trailer_off;
}

static int trailer_read(struct img_reader *r, uint64_t tlen)
{
	struct img_block b;
	const uint8_t *d;
	uint64_t need;
	uint64_t hoff;
	int err;

	if (tlen - IMG_BLK_HDR_SIZE > UINT32_MAX)
		return rerr(r, r->trailer_off, "trailer of %llu bytes too large",
			    (unsigned long long)tlen);
	err = block_read(r, r->trailer_off, r->trailer_off + tlen, IMG_BLK_TRAILER,
			 (uint32_t)(tlen - IMG_BLK_HDR_SIZE), &b);
	if (err)
		return err;
	/* The fixed fields are read before the index length is known: check
	 * they are there. The trailer has no bulk data. */
	if (b.desc_len < IMG_TRAILER_FIXED_SIZE || b.data_len) {
		err = rerr(
			r, r->trailer_off,
			"trailer: descriptor of %u bytes (at least %u) and %llu data bytes (0 allowed)",
			b.desc_len, IMG_TRAILER_FIXED_SIZE, (unsigned long long)b.data_len);
		goto out_free;
	}
	d = b.desc;
	r->body_xxh = img_get64(d);
	hoff = img_get64(d + 8);
	r->nrecords = img_get32(d + 16);
	r->nareas = img_get32(d + 20);
	r->nchunks = img_get32(d + 24);
	if (hoff != IMG_PROLOGUE_SIZE || img_get32(d + 28)) {
		err = rerr(r, r->trailer_off + IMG_BLK_HDR_SIZE + 8,
			   "trailer: header offset %llu (expected %u) or reserved field set",
			   (unsigned long long)hoff, IMG_PROLOGUE_SIZE);
		goto out_free;
	}
	if (r->nrecords > IMG_MAX_RECORDS || r->nareas > IMG_MAX_AREAS ||
	    r->nchunks > IMG_MAX_CHUNKS) {
		err = rerr(r, r->trailer_off + IMG_BLK_HDR_SIZE + 16,
			   "trailer: %u records, %u areas, %u chunks exceed the limits",
			   r->nrecords, r->nareas, r->nchunks);
		goto out_free;
	}
	need = IMG_TRAILER_FIXED_SIZE + (uint64_t)r->nrecords * IMG_IDX_REC_SIZE +
	       (uint64_t)r->nareas * IMG_IDX_AREA_SIZE + (uint64_t)r->nchunks * IMG_IDX_CHUNK_SIZE;
	if (need != b.desc_len) {
		err = rerr(r, r->trailer_off, "trailer: index of %llu bytes, descriptor has %u",
			   (unsigned long long)need, b.desc_len);
		goto out_free;
	}
	r->recs = calloc(r->nrecords ? r->nrecords : 1, sizeof(*r->recs));
	r->areas = calloc(r->nareas ? r->nareas : 1, sizeof(*r->areas));
	r->chunks = calloc(r->nchunks ? r->nchunks : 1, sizeof(*r->chunks));
	if (!r->recs || !r->areas || !r->chunks) {
		err = rerr_sys(r, r->trailer_off, ENOMEM, "index");
		goto out_free;
	}
	err = index_parse(r, d, r->trailer_off + IMG_BLK_HDR_SIZE);
	if (!err)
		block_ends_fill(r);
out_free:
	free(b.desc);
	return err;
}

static int header_parse(struct img_reader *r, const struct img_block *b)
{
	struct cur c = { b->desc, b->desc_len, b->off + IMG_BLK_HDR_SIZE };
	static const char *const what[4] = { "hostname", "kernel release", "glibc version",
					     "exe path" };
	static const uint32_t max[4] = { IMG_HOSTSTR_MAX, IMG_HOSTSTR_MAX, IMG_HOSTSTR_MAX,
					 IMG_PATH_MAX };
	struct img_header *h = &r->hdr;
	const uint8_t *p;
	int err;

	if (!cur_take(&c, IMG_HDR_FIXED_SIZE, &p))
		return rerr(r, c.off, "header descriptor of %u bytes too short", b->desc_len);
	h->version = IMG_FORMAT_VERSION;
	h->flags = 0;
	h->page_size = img_get32(p);
	h->arch = img_get32(p + 4);
	h->ctime_sec = (int64_t)img_get64(p + 8);
	h->ctime_nsec = img_get32(p + 16);
	h->pid = img_get32(p + 20);
	h->argc = img_get32(p + 24);
	if (h->page_size < IMG_PAGE_MIN || h->page_size > IMG_PAGE_MAX ||
	    (h->page_size & (h->page_size - 1)))
		return rerr(r, c.off - IMG_HDR_FIXED_SIZE, "header: page size %u invalid",
			    h->page_size);
	if (h->ctime_nsec >= 1000000000u || img_get32(p + 28))
		return rerr(r, c.off - 16, "header: bad creation time or reserved field");
	if (h->argc > IMG_ARGC_MAX)
		return rerr(r, c.off - 8, "header: argc %u exceeds %u", h->argc, IMG_ARGC_MAX);
	for (int i = 0; i < 4; i++) {
		err = cur_str(r, &c, max[i], what[i], &r->hstr[i]);
		if (err)
			return err;
	}
	h->hostname = r->hstr[0];
	h->kernel = r->hstr[1];
	h->glibc = r->hstr[2];
	h->exe = r->hstr[3];
	/* argc is bounded and every string needs 4 bytes in the descriptor. */
	if ((uint64_t)h->argc * 4 > c.left)
		return rerr(r, c.off, "header: argc %u does not fit the descriptor", h->argc);
	r->argv = calloc((size_t)h->argc + 1, sizeof(*r->argv));
	if (!r->argv)
		return rerr_sys(r, c.off, ENOMEM, "argv");
	for (uint32_t i = 0; i < h->argc; i++) {
		err = cur_str(r, &c, IMG_ARGV_BYTES_MAX, "argv string", &r->argv[i]);
		if (err)
			return err;
	}
	h->argv = (const char *const *)r->argv;
	if (c.left)
		return rerr(r, c.off, "header: %llu stray bytes after argv",
			    (unsigned long long)c.left);
	return 0;
}

static int header_read(struct img_reader *r)
{
	uint64_t end = r->nrecords ? r->recs[0].off : first_after_records(r);
	struct img_block b;
	int err;

	err = block_read(r, IMG_PROLOGUE_SIZE, end, IMG_BLK_HEADER, IMG_HDR_DESC_MAX, &b);
	if (err)
		return err;
	/* Bytes after the descriptor would be a gap no check covers. */
	if (b.data_len)
		err = rerr(r, IMG_PROLOGUE_SIZE, "header block has %llu data bytes (0 allowed)",
			   (unsigned long long)b.data_len);
	else
		err = header_parse(r, &b);
	free(b.desc);
	return err;
}

static int records_read(struct img_reader *r)
{
	for (uint32_t i = 0; i < r->nrecords; i++) {
		uint64_t end = i + 1 < r->nrecords ? r->recs[i + 1].off : first_after_records(r);
		struct img_rec *rec = &r->recs[i];
		struct img_block b;
		int err;

		err = block_read(r, rec->off, end, IMG_BLK_RECORD,
				 IMG_REC_FIXED_SIZE + IMG_RECORD_MAX, &b);
		if (err)
			return err;
		if (b.desc_len < IMG_REC_FIXED_SIZE || b.data_len || img_get32(b.desc + 4)) {
			free(b.desc);
			return rerr(r, rec->off, "record %u malformed (descriptor %u bytes)", i,
				    b.desc_len);
		}
		rec->type = img_get32(b.desc);
		rec->len = b.desc_len - IMG_REC_FIXED_SIZE;
		/* The payload stays in the descriptor buffer, after the fixed
		 * part: no second copy of a large record. */
		rec->data = b.desc;
	}
	return 0;
}

static int area_parse(struct img_reader *r, uint32_t i, const struct img_block *b,
		      uint64_t prev_end)
{
	struct img_area_ent *e = &r->areas[i];
	struct img_area *a = &e->a;
	struct cur c = { b->desc, b->desc_len, b->off + IMG_BLK_HDR_SIZE };
	uint64_t pm = r->hdr.page_size - 1;
	uint32_t kind;
	uint64_t pages;
	const uint8_t *p;
	int err;

	if (b->data_len || !cur_take(&c, IMG_AREA_FIXED_SIZE, &p))
		return rerr(r, b->off, "area %u: descriptor malformed", i);
	a->start = img_get64(p);
	a->len = img_get64(p + 8);
	a->prot = img_get32(p + 16);
	a->flags = img_get32(p + 20);
	a->file_offset = img_get64(p + 24);
	a->inode = img_get64(p + 32);
	a->dev = img_get64(p + 40);
	a->mtime_sec = (int64_t)img_get64(p + 48);
	a->mtime_nsec = img_get32(p + 56);
	kind = a->flags & (IMG_AREA_PRIVATE | IMG_AREA_SHARED);
	if (img_get32(p + 60) != i)
		return rerr(r, c.off - 4, "area %u: descriptor says it is area %u", i,
			    img_get32(p + 60));
	if ((a->start & pm) || !a->len || (a->len & pm) || a->start >= IMG_USER_ADDR_END ||
	    a->len > IMG_USER_ADDR_END - a->start)
		return rerr(r, c.off - IMG_AREA_FIXED_SIZE,
			    "area %u: %#llx+%#llx unaligned or outside the user address space", i,
			    (unsigned long long)a->start, (unsigned long long)a->len);
	if (a->start < prev_end)
		return rerr(r, c.off - IMG_AREA_FIXED_SIZE,
			    "area %u at %#llx overlaps or precedes the previous area (ends %#llx)",
			    i, (unsigned long long)a->start, (unsigned long long)prev_end);
	if (a->prot & ~(uint32_t)(PROT_READ | PROT_WRITE | PROT_EXEC))
		return rerr(r, c.off - IMG_AREA_FIXED_SIZE + 16,
			    "area %u: unknown protection bits %#x", i, a->prot);
	if ((kind != IMG_AREA_PRIVATE && kind != IMG_AREA_SHARED) || (a->flags & 0xff00u))
		return rerr(r, c.off - IMG_AREA_FIXED_SIZE + 20, "area %u: invalid flags %#x", i,
			    a->flags);
	if (a->mtime_nsec >= 1000000000u)
		return rerr(r, c.off - 8, "area %u: bad mtime", i);
	pages = a->len / r->hdr.page_size;
	if (a->present_pages > pages ||
	    a->present_pages > (uint64_t)e->nchunks * (IMG_CHUNK_SIZE / r->hdr.page_size) ||
	    (uint64_t)e->nchunks > a->present_pages)
		return rerr(r, c.off,
			    "area %u: %llu present pages in %u chunks inconsistent with %llu pages",
			    i, (unsigned long long)a->present_pages, e->nchunks,
			    (unsigned long long)pages);
	err = cur_str(r, &c, IMG_PATH_MAX, "area path", &e->path);
	if (!err)
		err = cur_str(r, &c, IMG_NAME_MAX, "area name", &e->name);
	if (err)
		return err;
	if (c.left)
		return rerr(r, c.off, "area %u: %llu stray bytes", i, (unsigned long long)c.left);
	a->path = e->path;
	a->name = e->name;
	return 0;
}

static int areas_read(struct img_reader *r)
{
	uint64_t prev_end = 0;

	for (uint32_t i = 0; i < r->nareas; i++) {
		struct img_block b;
		int err;

		err = block_read(r, r->areas[i].off, area_block_end(r, i), IMG_BLK_AREA,
				 IMG_AREA_FIXED_SIZE + 8 + IMG_PATH_MAX + IMG_NAME_MAX, &b);
		if (err)
			return err;
		err = area_parse(r, i, &b, prev_end);
		free(b.desc);
		if (err)
			return err;
		prev_end = r->areas[i].a.start + r->areas[i].a.len;
	}
	return 0;
}

/* Chunk data is read once (a restore, a verification): reading a large
 * image through the page cache and keeping it there costs a fresh page for
 * every 4 KiB read and pushes out pages worth keeping. Pages of chunks
 * already read are dropped every IMG_DROP_STEP, so the cache pages the
 * readahead needs next are recycled ones. Only forward reads drop. */
static void drop_behind(struct img_reader *r, const struct img_chunk_ent *e)
{
	if (e->off < r->drop_off)
		r->drop_off = e->off;
	if (e->end - r->drop_off < IMG_DROP_STEP)
		return;
	posix_fadvise(r->fd, (off_t)r->drop_off, (off_t)(e->end - r->drop_off),
		      POSIX_FADV_DONTNEED);
	r->drop_off = e->end;
}

/* Reads chunk @ci whole into r->cbuf, verifies its descriptor, runs and
 * stored checksum, and decodes it into @c (pointers into r->cbuf). */
static int chunk_read(struct img_reader *r, uint32_t ci, struct img_chunk *c)
{
	const struct img_chunk_ent *e = &r->chunks[ci];
	const struct img_area_ent *a = &r->areas[e->area];
	uint64_t pages = a->a.len / r->hdr.page_size;
	uint64_t len = e->end - e->off;
	uint64_t sum = 0;
	uint64_t prev = 0;
	struct img_block b;
	const uint8_t *d;
	int err;

	if (len > IMG_CHUNK_BLOCK_MAX || len < IMG_BLK_HDR_SIZE + IMG_CHUNK_FIXED_SIZE)
		return rerr(r, e->off, "chunk %u: block of %llu bytes impossible", ci,
			    (unsigned long long)len);
	if (len > r->cbuf_size) /* buffers_alloc() sized it from the index */
		return rerr(r, e->off, "chunk %u: block larger than at open", ci);
	err = read_at(r, r->cbuf, len, e->off);
	if (!err)
		drop_behind(r, e);
	if (!err)
		err = blkhdr_check(r, r->cbuf, e->off, e->end, IMG_BLK_CHUNK,
				   IMG_CHUNK_FIXED_SIZE + IMG_CHUNK_RUNS_MAX * IMG_RUN_SIZE, &b);
	if (err)
		return err;
	b.desc = r->cbuf + IMG_BLK_HDR_SIZE;
	err = desc_verify(r, r->cbuf, &b);
	if (err)
		return err;
	if (b.desc_len < IMG_CHUNK_FIXED_SIZE)
		return rerr(r, e->off, "chunk %u: descriptor too short", ci);
	d = b.desc;
	c->area = img_get32(d);
	c->nruns = img_get32(d + 4);
	c->codec = img_get32(d + 8);
	c->raw_len = img_get64(d + 16);
	c->raw_xxh = img_get64(d + 24);
	c->stored_xxh = img_get64(d + 32);
	c->runs = d + IMG_CHUNK_FIXED_SIZE;
	c->stored = d + b.desc_len;
	c->stored_len = b.data_len;
	if (c->area != e->area || img_get32(d + 12) ||
	    (c->codec != IMG_CODEC_RAW && c->codec != IMG_CODEC_ZSTD &&
	     !(c->codec == IMG_CODEC_REF && (r->pflags & IMG_FLAG_REFS))))
		return rerr(r, e->off, "chunk %u: area %u (index says %u) or codec %u invalid", ci,
			    c->area, e->area, c->codec);
	if (!c->nruns || (uint64_t)c->nruns * IMG_RUN_SIZE != b.desc_len - IMG_CHUNK_FIXED_SIZE)
		return rerr(r, e->off, "chunk %u: %u runs do not match the descriptor size", ci,
			    c->nruns);
	if (!c->raw_len || c->raw_len > IMG_CHUNK_SIZE ||
	    (c->codec == IMG_CODEC_RAW && c->stored_len != c->raw_len) ||
	    (c->codec == IMG_CODEC_ZSTD && c->stored_len >= c->raw_len) ||
	    (c->codec == IMG_CODEC_REF && c->stored_len != IMG_REF_SIZE))
		return rerr(r, e->off, "chunk %u: raw %llu stored %llu bytes invalid", ci,
			    (unsigned long long)c->raw_len, (unsigned long long)c->stored_len);
	for (uint32_t k = 0; k < c->nruns; k++) {
		uint64_t pg = img_get64(c->runs + k * IMG_RUN_SIZE);
		uint64_t n = img_get64(c->runs + k * IMG_RUN_SIZE + 8);

		if (!n || pg < prev || pg > pages || n > pages - pg)
			return rerr(
				r,
				e->off + IMG_BLK_HDR_SIZE + IMG_CHUNK_FIXED_SIZE + k * IMG_RUN_SIZE,
				"chunk %u: run %u (page %llu, %llu pages) outside area of %llu pages or out of order",
				ci, k, (unsigned long long)pg, (unsigned long long)n,
				(unsigned long long)pages);
		prev = pg + n;
		sum += n;
	}
	if (sum > IMG_CHUNK_SIZE / r->hdr.page_size || sum * r->hdr.page_size != c->raw_len)
		return rerr(r, e->off, "chunk %u: runs cover %llu pages, raw length is %llu", ci,
			    (unsigned long long)sum, (unsigned long long)c->raw_len);
	if (!img_sum_ok(c->stored_xxh, XXH64(c->stored, c->stored_len, 0)))
		return rerr(r, e->off + IMG_BLK_HDR_SIZE + b.desc_len,
			    "chunk %u: stored data checksum mismatch", ci);
	return 0;
}

/* Decompresses chunk @c into r->rbuf and checks the raw checksum; returns
 * the raw bytes in *@raw. */
static int chunk_decode(struct img_reader *r, uint32_t ci, const struct img_chunk *c,
			const uint8_t **raw);

/* Reference chunk @ci of @r: reads the base chunk it names, checks that it
 * holds the same pages (addresses, length, raw checksum) and decodes it
 * with the base's own checksums; *@raw then points into the base's
 * buffers. A base chunk that is itself a reference, missing or corrupt
 * fails this image: never restore memory that is not proven the same. */
static int ref_decode(struct img_reader *r, uint32_t ci, const struct img_chunk *c,
		      const uint8_t **raw)
{
	uint64_t off = r->chunks[ci].end - c->stored_len;
	uint32_t bi = img_get32(c->stored);
	uint64_t bci = img_get64(c->stored + 8);
	const struct img_area_ent *a = &r->areas[c->area];
	const struct img_area_ent *ba;
	struct img_reader *b;
	struct img_chunk bc = { 0 };
	uint64_t ps = r->hdr.page_size;
	int err;

	if (bi >= r->nbases || img_get32(c->stored + 4))
		return rerr(r, off, "chunk %u: reference to base %u of %u", ci, bi, r->nbases);
	b = r->bases[bi];
	if (bci >= b->nchunks)
		return rerr(r, off, "chunk %u: reference to chunk %llu of %s, which has %u", ci,
			    (unsigned long long)bci, b->path, b->nchunks);
	err = chunk_read(b, (uint32_t)bci, &bc);
	if (!err && bc.codec == IMG_CODEC_REF)
		err = rerr(b, b->chunks[bci].off, "chunk %llu: a reference, not data",
			   (unsigned long long)bci);
	if (!err)
		err = chunk_decode(b, (uint32_t)bci, &bc, raw);
	if (err)
		return rerr(r, off,
			    "chunk %u: its base (generation %llu) is unusable: %s; this generation "
			    "cannot be restored, restore from a generation with a full image",
			    ci, (unsigned long long)r->base_gen[bi], img_reader_error(b));
	ba = &b->areas[bc.area];
	if (bc.raw_len != c->raw_len || !img_sum_ok(bc.raw_xxh, c->raw_xxh) ||
	    bc.nruns != c->nruns || b->hdr.page_size != ps)
		goto out_differs;
	for (uint32_t k = 0; k < c->nruns; k++) {
		const uint8_t *x = c->runs + k * IMG_RUN_SIZE;
		const uint8_t *y = bc.runs + k * IMG_RUN_SIZE;

		if (a->a.start + img_get64(x) * ps != ba->a.start + img_get64(y) * ps ||
		    img_get64(x + 8) != img_get64(y + 8))
			goto out_differs;
	}
	return 0;

out_differs:
	return rerr(r, off,
		    "chunk %u: chunk %llu of its base %s (generation %llu) holds other pages; "
		    "restore from a generation with a full image",
		    ci, (unsigned long long)bci, b->path, (unsigned long long)r->base_gen[bi]);
}

static int chunk_decode(struct img_reader *r, uint32_t ci, const struct img_chunk *c,
			const uint8_t **raw)
{
	uint64_t off = r->chunks[ci].end - c->stored_len;

	if (c->codec == IMG_CODEC_REF)
		return ref_decode(r, ci, c, raw);
	if (c->codec == IMG_CODEC_RAW) {
		*raw = c->stored;
	} else {
		size_t n;

		if (c->raw_len > r->rbuf_size)
			return rerr(r, off, "chunk %u: %llu bytes, more than its area holds", ci,
				    (unsigned long long)c->raw_len);
		n = ZSTD_decompressDCtx(r->dctx, r->rbuf, c->raw_len, c->stored, c->stored_len);
		if (ZSTD_isError(n))
			return rerr(r, off, "chunk %u: zstd: %s", ci, ZSTD_getErrorName(n));
		if (n != c->raw_len)
			return rerr(r, off, "chunk %u: decompressed %zu bytes, expected %llu", ci,
				    n, (unsigned long long)c->raw_len);
		*raw = r->rbuf;
	}
	if (!img_sum_ok(c->raw_xxh, XXH64(*raw, c->raw_len, 0)))
		return rerr(r, off, "chunk %u: data checksum mismatch", ci);
	return 0;
}

/* Walks the chunks of area @i in order, checking that runs ascend across
 * chunks and add up to the index's present pages; with @decode, also
 * decompresses and checks each chunk; with @dest, copies its pages there;
 * with @fn, reports the runs. */
static int area_walk(struct img_reader *r, uint32_t i, void *dest, bool decode, img_run_fn fn,
		     void *arg)
{
	const struct img_area_ent *a;
	uint64_t ps = r->hdr.page_size;
	uint64_t next = 0;
	uint64_t total = 0;
	int err = 0;

	if (i >= r->nareas) {
		snprintf(r->err, sizeof(r->err), "%s: no area %u", r->path, i);
		return -ENOENT;
	}
	a = &r->areas[i];
	for (uint32_t j = 0; j < a->nchunks; j++) {
		uint32_t ci = a->first_chunk + j;
		const uint8_t *raw = NULL;
		struct img_chunk c = { 0 };
		uint64_t pos = 0;

		err = chunk_read(r, ci, &c);
		if (err)
			return err;
		if (img_get64(c.runs) < next)
			return rerr(r, r->chunks[ci].off,
				    "chunk %u: runs overlap the previous chunk", ci);
		/* A base's own references are checked through the image that
		 * owns them; as a base, only its data chunks are used. */
		if (dest || (decode && !(c.codec == IMG_CODEC_REF && (r->flags & IMG_AS_BASE)))) {
			err = chunk_decode(r, ci, &c, &raw);
			if (err)
				return err;
		}
		for (uint32_t k = 0; k < c.nruns; k++) {
			uint64_t pg = img_get64(c.runs + k * IMG_RUN_SIZE);
			uint64_t n = img_get64(c.runs + k * IMG_RUN_SIZE + 8);

			if (dest)
				memcpy((uint8_t *)dest + pg * ps, raw + pos, n * ps);
			if (fn) {
				err = fn(arg, pg * ps, n * ps);
				if (err)
					return err;
			}
			pos += n * ps;
			next = pg + n;
			total += n;
		}
	}
	if (total != a->a.present_pages)
		return rerr(r, a->off, "area %u: chunks hold %llu pages, index says %llu", i,
			    (unsigned long long)total, (unsigned long long)a->a.present_pages);
	return 0;
}

int img_reader_area_load(struct img_reader *r, uint32_t i, void *dest)
{
	if (!dest)
		return -EINVAL;
	return area_walk(r, i, dest, true, NULL, NULL);
}

int img_reader_area_runs(struct img_reader *r, uint32_t i, img_run_fn fn, void *arg)
{
	return area_walk(r, i, NULL, false, fn, arg);
}

/* IMG_VERIFY_ALL: the whole-file checksum, then every chunk decoded. */
static int verify_all(struct img_reader *r)
{
	uint64_t bsize = r->trailer_off < IMG_VERIFY_BUF ? r->trailer_off : IMG_VERIFY_BUF;
	XXH64_state_t *st = XXH64_createState();
	uint8_t *buf = malloc(bsize);
	uint64_t off = 0;
	int err = 0;

	if (!st || !buf) {
		err = rerr_sys(r, 0, ENOMEM, "verify buffer");
		goto out_free;
	}
	XXH64_reset(st, 0);
	while (off < r->trailer_off) {
		uint64_t n = r->trailer_off - off;

		if (n > bsize)
			n = bsize;
		err = read_at(r, buf, n, off);
		if (err)
			goto out_free;
		XXH64_update(st, buf, n);
		off += n;
	}
	if (!img_sum_ok(r->body_xxh, XXH64_digest(st))) {
		err = rerr(r, r->trailer_off, "whole-image checksum mismatch");
		goto out_free;
	}
	for (uint32_t i = 0; i < r->nareas && !err; i++)
		err = area_walk(r, i, NULL, true, NULL, NULL);
out_free:
	free(buf);
	XXH64_freeState(st);
	return err;
}

/* Allocates everything loading needs, sized from the validated index, so
 * img_reader_area_load() allocates nothing: a restorer may then map areas
 * at fixed addresses without the reader's memory landing in their way. */
static int buffers_alloc(struct img_reader *r)
{
	uint64_t cmax = 0;
	uint64_t rmax = 0;

	if (!r->nchunks)
		return 0;
	for (uint32_t i = 0; i < r->nchunks; i++) {
		uint64_t len = r->chunks[i].end - r->chunks[i].off;

		if (len > IMG_CHUNK_BLOCK_MAX)
			return rerr(r, r->chunks[i].off, "chunk %u: block of %llu bytes impossible",
				    i, (unsigned long long)len);
		if (len > cmax)
			cmax = len;
	}
	for (uint32_t i = 0; i < r->nareas; i++) {
		uint64_t b = r->areas[i].a.present_pages * r->hdr.page_size;

		if (r->areas[i].nchunks && b > rmax)
			rmax = b;
	}
	if (rmax > IMG_CHUNK_SIZE)
		rmax = IMG_CHUNK_SIZE;
	/* Cannot happen: chunk offsets strictly ascend (index_parse()) and an
	 * area with chunks has present pages (area_parse()). Checked so that
	 * no buffer is ever malloc(0). */
	if (!cmax || !rmax)
		return rerr(r, r->trailer_off, "index: %u chunks but no chunk data", r->nchunks);
	r->cbuf = malloc(cmax);
	r->rbuf = malloc(rmax);
	r->dctx = ZSTD_createDCtx();
	if (!r->cbuf || !r->rbuf || !r->dctx)
		return rerr_sys(r, 0, ENOMEM, "chunk buffers");
	r->cbuf_size = cmax;
	r->rbuf_size = rmax;
	return 0;
}

static int bases_open(struct img_reader *r);

static int reader_validate(struct img_reader *r)
{
	struct stat st;
	uint64_t tlen = 0;
	int err;

	if (fstat(r->fd, &st))
		return rerr_sys(r, 0, errno, "stat failed");
	if (!S_ISREG(st.st_mode))
		return rerr(r, 0, "not a regular file");
	r->size = (uint64_t)st.st_size;
	if (r->size < IMG_PROLOGUE_SIZE + IMG_BLK_HDR_SIZE + IMG_HDR_FIXED_SIZE + IMG_BLK_HDR_SIZE +
			      IMG_TRAILER_FIXED_SIZE + IMG_FOOTER_SIZE)
		return rerr(r, r->size, "file of %llu bytes too short for an image",
			    (unsigned long long)r->size);
	err = prologue_check(r);
	if (!err)
		err = footer_check(r, &tlen);
	if (!err)
		err = trailer_read(r, tlen);
	if (!err)
		err = header_read(r);
	if (!err)
		err = records_read(r);
	if (!err)
		err = areas_read(r);
	if (!err)
		err = buffers_alloc(r);
	if (!err)
		err = bases_open(r);
	if (!err && (r->flags & IMG_VERIFY_ALL))
		err = verify_all(r);
	return err;
}

/* Opens the base images an incremental image names (IMG_REC_BASES),
 * relative to its directory, and checks each is the very image it was
 * written against (trailer body checksum). Bases are opened here, with
 * the image, so that loading allocates nothing. A missing or corrupt base
 * fails the open with a message saying which generation to restore. */
static int bases_open(struct img_reader *r)
{
	struct img_base *list = NULL;
	const void *data;
	uint64_t len;
	uint32_t i = 0;
	char *dir = NULL;
	char *slash;
	int n;
	int err = 0;

	if (img_reader_record_find(r, IMG_REC_BASES, &i, &data, &len) < 0) {
		if (r->pflags & IMG_FLAG_REFS)
			return rerr(r, 12, "incremental image without its list of bases");
		return 0;
	}
	if (!(r->pflags & IMG_FLAG_REFS))
		return rerr(r, r->recs[i].off, "list of bases in an image without references");
	if (r->flags & IMG_AS_BASE)
		return 0;
	list = calloc(IMG_BASES_MAX, sizeof(*list));
	dir = strdup(r->path);
	if (!list || !dir) {
		err = rerr_sys(r, 0, ENOMEM, "bases");
		goto out_free;
	}
	n = img_bases_decode(data, len, list);
	if (n < 0) {
		err = rerr(r, r->recs[i].off, "list of bases malformed");
		goto out_free;
	}
	r->bases = calloc((size_t)n + 1, sizeof(struct img_reader *));
	r->base_gen = calloc((size_t)n + 1, sizeof(*r->base_gen));
	if (!r->bases || !r->base_gen) {
		err = rerr_sys(r, 0, ENOMEM, "bases");
		goto out_free;
	}
	slash = strrchr(dir, '/');
	if (slash)
		slash[1] = '\0';
	else
		dir[0] = '\0';
	for (int k = 0; k < n; k++) {
		char p[4096 + 256];
		struct img_reader *b = NULL;
		int e;

		snprintf(p, sizeof(p), "%s%s", dir, list[k].path);
		r->base_gen[k] = list[k].gen;
		e = img_reader_open(p, IMG_AS_BASE | (r->flags & IMG_VERIFY_ALL), &b);
		r->bases[r->nbases++] = b;
		if (e) {
			err = rerr(
				r, r->recs[i].off,
				"base image of generation %llu unusable: %s; this generation "
				"cannot be restored, restore from a generation with a full image",
				(unsigned long long)list[k].gen, img_reader_error(b));
			if (!b)
				r->nbases--;
			goto out_free;
		}
		if (!img_sum_ok(b->body_xxh, list[k].body_xxh)) {
			err = rerr(
				r, r->recs[i].off,
				"base %s is not the image of generation %llu this one was written "
				"against (replaced?); restore from a generation with a full image",
				p, (unsigned long long)list[k].gen);
			goto out_free;
		}
	}
out_free:
	free(list);
	free(dir);
	return err;
}

int img_reader_open(const char *path, unsigned int flags, struct img_reader **rp)
{
	struct img_reader *r = calloc(1, sizeof(*r));

	*rp = r;
	if (!r)
		return -ENOMEM;
	r->fd = -1;
	r->flags = flags;
	r->path = strdup(path);
	if (!r->path) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		return -ENOMEM;
	}
	if (flags & ~(unsigned int)(IMG_VERIFY_ALL | IMG_AS_BASE)) {
		snprintf(r->err, sizeof(r->err), "%s: unknown open flags %#x", path, flags);
		return -EINVAL;
	}
	/* O_NONBLOCK: a FIFO given by mistake must not hang the open; the
	 * file is then refused as not regular. */
	r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (r->fd < 0)
		return rerr_sys(r, 0, errno, "cannot open");
	return reader_validate(r);
}

void img_reader_free(struct img_reader *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; r->bases && i < r->nbases; i++)
		img_reader_free(r->bases[i]);
	free(r->bases);
	free(r->base_gen);
	if (r->fd >= 0)
		close(r->fd);
	for (uint32_t i = 0; r->recs && i < r->nrecords; i++)
		free(r->recs[i].data);
	for (uint32_t i = 0; r->areas && i < r->nareas; i++) {
		free(r->areas[i].path);
		free(r->areas[i].name);
	}
	for (uint32_t i = 0; r->argv && i < r->hdr.argc; i++)
		free(r->argv[i]);
	for (int i = 0; i < 4; i++)
		free(r->hstr[i]);
	free(r->argv);
	free(r->recs);
	free(r->areas);
	free(r->chunks);
	ZSTD_freeDCtx(r->dctx);
	free(r->cbuf);
	free(r->rbuf);
	free(r->path);
	free(r);
}

const char *img_reader_error(const struct img_reader *r)
{
	return r ? r->err : "out of memory";
}

const struct img_header *img_reader_header(const struct img_reader *r)
{
	return &r->hdr;
}

uint32_t img_reader_record_count(const struct img_reader *r)
{
	return r->nrecords;
}

int img_reader_record(const struct img_reader *r, uint32_t i, uint32_t *type, const void **data,
		      uint64_t *len)
{
	if (i >= r->nrecords)
		return -ENOENT;
	if (type)
		*type = r->recs[i].type;
	if (data)
		*data = r->recs[i].data + IMG_REC_FIXED_SIZE;
	if (len)
		*len = r->recs[i].len;
	return 0;
}

int img_reader_record_find(const struct img_reader *r, uint32_t type, uint32_t *i,
			   const void **data, uint64_t *len)
{
	for (uint32_t k = *i; k < r->nrecords; k++) {
		if (r->recs[k].type == type) {
			*i = k;
			return img_reader_record(r, k, NULL, data, len);
		}
	}
	return -ENOENT;
}

uint32_t img_reader_area_count(const struct img_reader *r)
{
	return r->nareas;
}

const struct img_area *img_reader_area(const struct img_reader *r, uint32_t i)
{
	return i < r->nareas ? &r->areas[i].a : NULL;
}
