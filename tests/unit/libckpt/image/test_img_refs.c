/* test_img_refs.c - incremental images: reference chunks to a base image,
 * the IMG_REC_BASES record, and every way a base can be wrong (corrupt,
 * replaced, missing, other pages, a reference to a reference) refused with
 * a message naming the base's generation, never loaded. */
#include "img_format.h"
#include "img_test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PS	4096u
#define NPAGES	48u /* the test area: three chunks of 16 pages */
#define CPAGES	16u
#define START	0x10000000ull
#define BASEGEN 7u

static char *dir;
static uint8_t base_mem[NPAGES * PS]; /* contents in the base image */
static uint8_t new_mem[NPAGES * PS];  /* contents of the incremental one */
static uint64_t base_xxh[8];	      /* raw checksums of the base's chunks */
static uint64_t base_body;	      /* the base's body checksum */

static void fill(uint8_t *m, uint32_t seed)
{
	uint64_t x = 88172645463325252ull ^ seed;

	for (size_t i = 0; i < NPAGES * PS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		m[i] = (i & 3) ? (uint8_t)x : (uint8_t)(i >> 12);
	}
}

/* One chunk of the image being written: data from @src, or a reference. */
struct tchunk {
	bool ref;		/* a reference chunk */
	struct img_chunk_ref r; /* the reference */
	const uint8_t *src;	/* data (area-sized buffer) */
};

/* Writes an image of one NPAGES area at START cut into three chunks, with
 * @bases (may be NULL) as its IMG_REC_BASES list. Returns the writer's
 * result; *@err the status. */
static struct img_writer_result write_img(const char *name, const struct tchunk ch[3],
					  const struct img_base *bases, uint32_t nbases, bool refs,
					  int *err)
{
	struct img_writer_result res = { 0 };
	struct img_header h = { .pid = 1 };
	struct img_writer_opts o;
	struct img_area a = { .start = START,
			      .len = NPAGES * PS,
			      .prot = 3,
			      .flags = IMG_AREA_PRIVATE | IMG_AREA_ANON };
	struct img_writer *w = NULL;
	char *path = tpath(dir, name);
	uint8_t rec[4096];
	size_t asz;
	void *arena;
	int e;

	memset(&o, 0, sizeof(o));
	o.log_fd = -1;
	o.level = 1;
	o.nthreads = 2;
	o.no_fsync = true;
	o.refs = refs;
	o.chunk_xxh = base_xxh;
	o.chunk_xxh_max = 8;
	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	cr_assert_neq(arena, MAP_FAILED);
	unlink(path);
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(o.fd, 0);
	e = img_writer_begin(&w, &o, &h, arena, asz);
	if (!e && bases) {
		long n = img_bases_encode(rec, sizeof(rec), bases, nbases);

		cr_assert_gt(n, 0);
		e = img_writer_add_record(w, IMG_REC_BASES, rec, (uint64_t)n);
	}
	if (!e)
		e = img_writer_area_begin(w, &a);
	for (int i = 0; !e && i < 3; i++) {
		struct img_span run = { .off = (uint64_t)i * CPAGES * PS, .len = CPAGES * PS };

		if (ch[i].ref) {
			e = img_writer_area_ref(w, &ch[i].r, &run, 1);
		} else {
			e = img_writer_area_run(w, run.off, ch[i].src + run.off, run.len);
			if (!e)
				e = img_writer_area_cut(w);
		}
	}
	if (!e)
		e = img_writer_area_end(w);
	if (!e)
		e = img_writer_finish(w, &res);
	img_writer_free(w);
	close(o.fd);
	munmap(arena, asz);
	free(path);
	*err = e;
	return res;
}

/* The base image "base.img" holding base_mem; remembers its checksums. */
static void write_base(void)
{
	struct tchunk ch[3] = { { .src = base_mem }, { .src = base_mem }, { .src = base_mem } };
	struct img_writer_result res;
	int err;

	res = write_img("base.img", ch, NULL, 0, false, &err);
	cr_assert_eq(err, 0);
	cr_assert_eq(res.nchunks, 3);
	base_body = res.body_xxh;
}

static struct img_base the_base(void)
{
	struct img_base b = { .gen = BASEGEN, .body_xxh = base_body };

	strcpy(b.path, "base.img");
	return b;
}

static struct img_chunk_ref ref_to(uint32_t chunk)
{
	struct img_chunk_ref r = {
		.base = 0, .chunk = chunk, .raw_len = CPAGES * PS, .raw_xxh = base_xxh[chunk]
	};

	return r;
}

/* "inc.img": chunks 0 and 2 refer to the base, chunk 1 holds new data. */
static struct img_writer_result write_inc(void)
{
	struct img_base b = the_base();
	struct tchunk ch[3] = { { .ref = true, .r = ref_to(0) },
				{ .src = new_mem },
				{ .ref = true, .r = ref_to(2) } };
	struct img_writer_result res;
	int err;

	res = write_img("inc.img", ch, &b, 1, true, &err);
	cr_assert_eq(err, 0, "incremental write: %d", err);
	return res;
}

/* Opens @name and loads its area; returns the open or load status and the
 * reader's message in @msg. */
static int load(const char *name, unsigned int flags, uint8_t *dest, char *msg, size_t len)
{
	char *path = tpath(dir, name);
	struct img_reader *r = NULL;
	int err;

	err = img_reader_open(path, flags, &r);
	if (!err)
		err = img_reader_area_load(r, 0, dest);
	snprintf(msg, len, "%s", img_reader_error(r));
	img_reader_free(r);
	free(path);
	return err;
}

static void setup(void)
{
	dir = tdir_make();
	fill(base_mem, 1);
	fill(new_mem, 1);
	/* the middle chunk changed */
	for (size_t i = CPAGES * PS; i < 2 * CPAGES * PS; i += 97)
		new_mem[i] ^= 0x5a;
	write_base();
}

static void teardown(void)
{
	tdir_remove(dir);
}

TestSuite(img_refs, .init = setup, .fini = teardown);

Test(img_refs, incremental_restores_the_same_memory)
{
	static uint8_t out[NPAGES * PS];
	struct img_writer_result res = write_inc();
	char msg[1024];

	cr_expect_eq(res.nrefs, 2);
	cr_expect_eq(res.ref_bytes, 2ull * CPAGES * PS);
	cr_expect_eq(res.data_bytes, (uint64_t)CPAGES * PS);
	cr_assert_eq(load("inc.img", 0, out, msg, sizeof(msg)), 0, "%s", msg);
	cr_expect(memcmp(out, new_mem, sizeof(out)) == 0, "restored memory differs");
	cr_assert_eq(load("inc.img", IMG_VERIFY_ALL, out, msg, sizeof(msg)), 0, "%s", msg);
}

Test(img_refs, full_images_keep_prologue_flags_zero)
{
	char *path = tpath(dir, "base.img");
	size_t len;
	uint8_t *f = tfile_read(path, &len);

	/* a reader of before incremental images still reads full ones */
	cr_expect_eq(img_get32(f + 12), 0);
	free(f);
	free(path);
	write_inc();
	path = tpath(dir, "inc.img");
	f = tfile_read(path, &len);
	cr_expect_eq(img_get32(f + 12), IMG_FLAG_REFS);
	free(f);
	free(path);
}

/* Flips a byte in the middle of the base's first chunk data. */
static void corrupt_base(void)
{
	char *path = tpath(dir, "base.img");
	size_t len;
	uint8_t *f = tfile_read(path, &len);

	f[len / 4] ^= 0x40;
	tfile_write(path, f, len);
	free(f);
	free(path);
}

Test(img_refs, corrupt_base_is_refused_by_name)
{
	static uint8_t out[NPAGES * PS];
	char msg[1024];
	int err;

	write_inc();
	corrupt_base();
	memset(out, 0xee, sizeof(out));
	err = load("inc.img", 0, out, msg, sizeof(msg));
	cr_expect_eq(err, -EBADMSG);
	cr_expect(strstr(msg, "generation 7") != NULL, "message: %s", msg);
	cr_expect(strstr(msg, "full image") != NULL, "message: %s", msg);
	err = load("inc.img", IMG_VERIFY_ALL, out, msg, sizeof(msg));
	cr_expect_eq(err, -EBADMSG, "verify accepted a chain over a corrupt base: %s", msg);
}

Test(img_refs, replaced_base_is_refused)
{
	static uint8_t out[NPAGES * PS];
	struct tchunk ch[3] = { { .src = new_mem }, { .src = new_mem }, { .src = new_mem } };
	char msg[1024];
	int err;

	write_inc();
	/* another valid image under the base's name */
	write_img("base.img", ch, NULL, 0, false, &err);
	cr_assert_eq(err, 0);
	err = load("inc.img", 0, out, msg, sizeof(msg));
	cr_expect_eq(err, -EBADMSG);
	cr_expect(strstr(msg, "not the image of generation 7") != NULL, "message: %s", msg);
}

Test(img_refs, missing_base_is_refused)
{
	static uint8_t out[NPAGES * PS];
	char *path = tpath(dir, "base.img");
	char msg[1024];

	write_inc();
	unlink(path);
	free(path);
	cr_expect_neq(load("inc.img", 0, out, msg, sizeof(msg)), 0);
	cr_expect(strstr(msg, "generation 7") != NULL, "message: %s", msg);
}

Test(img_refs, reference_with_other_checksum_is_refused)
{
	static uint8_t out[NPAGES * PS];
	struct img_base b = the_base();
	struct tchunk ch[3] = { { .ref = true, .r = ref_to(0) },
				{ .src = new_mem },
				{ .ref = true, .r = ref_to(2) } };
	char msg[1024];
	int err;

	ch[0].r.raw_xxh ^= 1; /* a writer bug or a forged file */
	write_img("inc.img", ch, &b, 1, true, &err);
	cr_assert_eq(err, 0);
	err = load("inc.img", 0, out, msg, sizeof(msg));
	cr_expect_eq(err, -EBADMSG);
	cr_expect(strstr(msg, "holds other pages") != NULL, "message: %s", msg);
}

Test(img_refs, reference_to_a_reference_is_refused)
{
	static uint8_t out[NPAGES * PS];
	struct img_base b = { .gen = 8 };
	struct img_writer_result inc = write_inc();
	struct tchunk ch[3] = { { .ref = true, .r = ref_to(0) },
				{ .src = new_mem },
				{ .src = new_mem } };
	char msg[1024];
	int err;

	/* inc.img's chunk 0 is itself a reference */
	b.body_xxh = inc.body_xxh;
	strcpy(b.path, "inc.img");
	write_img("inc2.img", ch, &b, 1, true, &err);
	cr_assert_eq(err, 0);
	err = load("inc2.img", 0, out, msg, sizeof(msg));
	cr_expect_eq(err, -EBADMSG);
	cr_expect(strstr(msg, "a reference, not data") != NULL, "message: %s", msg);
}

Test(img_refs, writer_refuses_bad_references)
{
	struct tchunk ch[3] = { { .ref = true, .r = ref_to(0) },
				{ .src = new_mem },
				{ .src = new_mem } };
	struct img_base b = the_base();
	int err;

	/* without opts.refs */
	write_img("x.img", ch, NULL, 0, false, &err);
	cr_expect_eq(err, -EINVAL);
	/* length not that of the runs */
	ch[0].r.raw_len = PS;
	write_img("y.img", ch, &b, 1, true, &err);
	cr_expect_eq(err, -EINVAL);
}

Test(img_refs, bases_record_roundtrip_and_bounds)
{
	struct img_base in[2] = { { .gen = 3, .body_xxh = 0x1234 }, { .gen = 5, .body_xxh = 9 } };
	struct img_base out[IMG_BASES_MAX];
	uint8_t buf[1024];
	long n;

	strcpy(in[0].path, "../gen-3/0.0.img");
	strcpy(in[1].path, "../gen-5/0.0.img");
	n = img_bases_encode(buf, sizeof(buf), in, 2);
	cr_assert_gt(n, 0);
	cr_assert_eq(img_bases_decode(buf, (uint64_t)n, out), 2);
	cr_expect_eq(out[1].gen, 5);
	cr_expect_eq(out[0].body_xxh, 0x1234);
	cr_expect_str_eq(out[1].path, "../gen-5/0.0.img");
	/* trailing bytes, truncation, too many, absolute paths */
	cr_expect_eq(img_bases_decode(buf, (uint64_t)n + 1, out), -EBADMSG);
	cr_expect_eq(img_bases_decode(buf, (uint64_t)n - 1, out), -EBADMSG);
	img_put32(buf, IMG_BASES_MAX + 1);
	cr_expect_eq(img_bases_decode(buf, (uint64_t)n, out), -EBADMSG);
	strcpy(in[0].path, "/etc/passwd");
	cr_expect_eq(img_bases_encode(buf, sizeof(buf), in, 2), -EINVAL);
	/* a base is NAME or ../gen-GEN/NAME of its own generation, nothing else */
	static const char *const outside[] = { "../gen-4/0.0.img",  "../../x/gen-3/0.0.img",
					       "../gen-3/../../x",  "../gen-3/",
					       "../gen-03/0.0.img", "..",
					       "./0.0.img" };
	for (size_t k = 0; k < sizeof(outside) / sizeof(outside[0]); k++) {
		snprintf(in[0].path, sizeof(in[0].path), "%s", outside[k]);
		cr_expect_eq(img_bases_encode(buf, sizeof(buf), in, 2), -EINVAL, "%s", outside[k]);
	}
	/* the decoder refuses the same, written past the encoder */
	strcpy(in[0].path, "../gen-3/0.0.img");
	n = img_bases_encode(buf, sizeof(buf), in, 2);
	cr_assert_gt(n, 0);
	buf[8 + 20 + 7] = '4'; /* "../gen-3/..." becomes "../gen-4/..." */
	cr_expect_eq(img_bases_decode(buf, (uint64_t)n, out), -EBADMSG);
	buf[8 + 20 + 7] = '3';
	cr_expect_eq(img_bases_decode(buf, (uint64_t)n, out), 2);
	buf[8 + 20 + 3] = '.'; /* "../.en-3/...": not a generation directory */
	cr_expect_eq(img_bases_decode(buf, (uint64_t)n, out), -EBADMSG);
	cr_expect_eq(img_bases_encode(buf, 20, in + 1, 1), -ENOSPC);
}
