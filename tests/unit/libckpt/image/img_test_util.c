/* img_test_util.c - fixtures shared by the image unit tests. */
#define XXH_STATIC_LINKING_ONLY
#include "img_test_util.h"
#include "img_format.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#define PS 4096u

const uint32_t trec_type[TREC_COUNT] = { 1, 2, 0xfeedbeef };
const size_t trec_len[TREC_COUNT] = { 13, 0, 100000 };

uint8_t trec_byte(int r, size_t i)
{
	return (uint8_t)(r * 31 + i * 7 + (i >> 8));
}

char *tdir_make(void)
{
	char *d = strdup("/tmp/img-test-XXXXXX");

	cr_assert_not_null(d);
	cr_assert_not_null(mkdtemp(d));
	return d;
}

void tdir_remove(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char *p;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = tpath(dir, e->d_name);
		unlink(p);
		free(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	free(dir);
}

char *tpath(const char *dir, const char *name)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void fill(uint8_t *p, size_t len, enum tarea_data kind, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len; i++) {
		switch (kind) {
		case TDATA_TEXT:
			p[i] = (uint8_t)("slurm checkpoint page "[(i + seed) % 22]);
			if (i % 1000 == 0)
				p[i] = (uint8_t)(i >> 10);
			break;
		case TDATA_RANDOM:
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (uint8_t)x;
			break;
		case TDATA_ZERO:
			p[i] = 0;
			break;
		}
	}
}

static void area_add(struct timage *t, uint64_t start, uint64_t pages, const struct trun *runs,
		     size_t nruns, enum tarea_data kind, bool file)
{
	struct tarea *ta;

	t->areas = realloc(t->areas, (t->nareas + 1) * sizeof(*t->areas));
	cr_assert_not_null(t->areas);
	ta = &t->areas[t->nareas++];
	memset(ta, 0, sizeof(*ta));
	ta->a.start = start;
	ta->a.len = pages * PS;
	ta->a.prot = PROT_READ | (file ? PROT_EXEC : PROT_WRITE);
	ta->a.flags = file ? IMG_AREA_PRIVATE : IMG_AREA_PRIVATE | IMG_AREA_ANON;
	if (file) {
		ta->a.path = "/usr/lib/x86_64-linux-gnu/libfoo.so.1";
		ta->a.file_offset = 0x3000;
		ta->a.inode = 123456;
		ta->a.dev = 0x801;
		ta->a.mtime_sec = 1700000000;
		ta->a.mtime_nsec = 999999999;
	} else {
		ta->a.name = start == 0x7ffd00000000ull ? "[stack]" : "";
	}
	ta->nruns = nruns;
	ta->runs = malloc((nruns ? nruns : 1) * sizeof(*runs));
	cr_assert_not_null(ta->runs);
	if (nruns)
		memcpy(ta->runs, runs, nruns * sizeof(*runs));
	/* Sources are only as large as the last run needs. */
	uint64_t need = nruns ? (runs[nruns - 1].page + runs[nruns - 1].npages) * PS : PS;
	ta->src = malloc(need);
	cr_assert_not_null(ta->src);
	fill(ta->src, need, kind, start >> 12);
}

void timage_build(struct timage *t, enum tarea_data kind, bool small)
{
	memset(t, 0, sizeof(*t));
	for (int r = 0; r < TREC_COUNT; r++)
		t->rec_len[r] = trec_len[r];
	if (small) {
		/* Every byte of a small image is flipped in turn: keep it small. */
		t->rec_len[2] = 300;
		struct trun r0[] = { { 0, 3 } };
		struct trun r1[] = { { 1, 1 }, { 3, 1 } };
		struct trun r2[] = { { 0, 1 } };

		area_add(t, 0x400000, 3, r0, 1, kind, false);
		area_add(t, 0x10000000, 8, r1, 2, TDATA_RANDOM, false);
		area_add(t, 0x7f0000000000ull, 2, r2, 1, kind, true);
		return;
	}
	/* 8 MiB + 3 pages, all present: two full chunks and a partial one. */
	struct trun r0[] = { { 0, 2048 + 3 } };
	/* Sparse runs crossing chunk boundaries. */
	struct trun r1[] = { { 0, 3 }, { 10, 1 }, { 100, 1000 }, { 1101, 2000 }, { 4000, 96 } };
	/* File-backed, one page. */
	struct trun r2[] = { { 0, 1 } };
	/* One run per page: 2048 runs over two chunks. */
	struct trun r4[2048];

	for (size_t i = 0; i < 2048; i++) {
		r4[i].page = 2 * i;
		r4[i].npages = 1;
	}
	area_add(t, 0x400000, 2048 + 3, r0, 1, kind, false);
	area_add(t, 0x10000000, 4096, r1, 5, kind, false);
	area_add(t, 0x7f0000000000ull, 4, r2, 1, kind, true);
	/* A 1 GiB reservation with nothing present. */
	area_add(t, 0x7f1000000000ull, 262144, NULL, 0, kind, false);
	area_add(t, 0x7ffd00000000ull, 4096, r4, 2048, kind, false);
}

void timage_free(struct timage *t)
{
	for (size_t i = 0; i < t->nareas; i++) {
		free(t->areas[i].src);
		free(t->areas[i].runs);
	}
	free(t->areas);
}

static int write_areas(struct timage *t, struct img_writer *w)
{
	int err = 0;

	for (int r = 0; r < TREC_COUNT && !err; r++) {
		uint8_t buf[100000];

		for (size_t i = 0; i < t->rec_len[r]; i++)
			buf[i] = trec_byte(r, i);
		err = img_writer_add_record(w, trec_type[r], buf, t->rec_len[r]);
	}
	for (size_t i = 0; i < t->nareas && !err; i++) {
		struct tarea *ta = &t->areas[i];

		err = img_writer_area_begin(w, &ta->a);
		for (size_t k = 0; k < ta->nruns && !err; k++)
			err = img_writer_area_run(w, ta->runs[k].page * PS,
						  ta->src + ta->runs[k].page * PS,
						  ta->runs[k].npages * PS);
		if (!err)
			err = img_writer_area_end(w);
	}
	return err;
}

static int do_write(struct timage *t, const char *path, int level, unsigned int nthreads,
		    void *arena, size_t asz, const struct img_writer_opts *base)
{
	struct img_writer_opts o = *base;
	static const char *const argv[] = { "/bin/app", "--size", "42", "" };
	struct img_header h = { .pid = 4242, .exe = "/bin/app", .argc = 4, .argv = argv };
	struct img_writer *w = NULL;
	int err;

	(void)level;
	(void)nthreads;
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (o.fd < 0)
		return -errno;
	err = img_writer_begin(&w, &o, &h, arena, asz);
	if (!err)
		err = write_areas(t, w);
	if (!err)
		err = img_writer_finish(w, &t->res);
	img_writer_free(w);
	close(o.fd);
	return err;
}

static void opts_make(struct img_writer_opts *o, int level, unsigned int nthreads)
{
	memset(o, 0, sizeof(*o));
	o->log_fd = 2;
	o->level = level;
	o->nthreads = nthreads;
	o->no_fsync = true;
	o->max_areas = 64;
	o->max_records = 16;
	o->max_chunks = 1024;
	img_writer_opts_defaults(o);
}

int timage_write(struct timage *t, const char *path, int level, unsigned int nthreads)
{
	struct img_writer_opts o;
	size_t asz;
	void *arena;
	int err;

	opts_make(&o, level, nthreads);
	t->level = level;
	t->nthreads = nthreads;
	asz = img_writer_arena_size(&o);
	cr_assert_gt(asz, 0);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	cr_assert_neq(arena, MAP_FAILED);
	err = do_write(t, path, level, nthreads, arena, asz, &o);
	munmap(arena, asz);
	return err;
}

/* The shared page through which the child reports its result. */
struct child_out {
	int err;		      /* writer result */
	int malloc_delta;	      /* bytes malloc'd by the writer */
	struct img_writer_result res; /* writer's result */
};

int timage_write_in_child(struct timage *t, const char *path, int level, unsigned int nthreads)
{
	struct img_writer_opts o;
	struct child_out *out;
	size_t asz;
	void *arena;
	long pid;
	int status;

	opts_make(&o, level, nthreads);
	t->level = level;
	t->nthreads = nthreads;
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	out = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(arena, MAP_FAILED);
	cr_assert_neq(out, MAP_FAILED);
	out->err = -EINPROGRESS;
	/* Raw clone, no glibc fork(): no atfork handlers, no malloc locks
	 * taken - exactly the engine's situation. */
	pid = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	cr_assert_geq(pid, 0);
	if (pid == 0) {
#if !defined(__SANITIZE_ADDRESS__)
		struct mallinfo2 before = mallinfo2();
#endif
		out->err = do_write(t, path, level, nthreads, arena, asz, &o);
		out->res = t->res;
#if !defined(__SANITIZE_ADDRESS__)
		struct mallinfo2 after = mallinfo2();
		out->malloc_delta = (int)(after.uordblks - before.uordblks) +
				    (int)(after.hblkhd - before.hblkhd);
#endif
		syscall(SYS_exit_group, 0);
	}
	cr_assert_eq(waitpid((pid_t)pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer child died: status %#x",
		  status);
	cr_expect_eq(out->malloc_delta, 0, "writer child malloc'd %d bytes", out->malloc_delta);
	t->res = out->res;
	status = out->err;
	munmap(out, 4096);
	munmap(arena, asz);
	return status;
}

static bool run_present(const struct tarea *ta, uint64_t page)
{
	for (size_t k = 0; k < ta->nruns; k++)
		if (page >= ta->runs[k].page && page < ta->runs[k].page + ta->runs[k].npages)
			return true;
	return false;
}

struct runs_cmp {
	const struct tarea *ta; /* expected runs */
	size_t next;		/* expected page of the next callback */
	uint64_t pages;		/* pages reported */
};

static int runs_cb(void *arg, uint64_t off, uint64_t len)
{
	struct runs_cmp *c = arg;

	for (uint64_t p = off / PS; p < (off + len) / PS; p++)
		if (!run_present(c->ta, p))
			return -EINVAL;
	c->pages += len / PS;
	return 0;
}

static bool area_check(struct img_reader *r, const struct tarea *ta, uint32_t i)
{
	const struct img_area *a = img_reader_area(r, i);
	uint64_t pages = ta->a.len / PS;
	uint64_t present = 0;
	struct runs_cmp rc = { ta, 0, 0 };
	uint8_t *dest;
	bool ok = true;

	cr_assert_not_null(a);
	cr_expect_eq(a->start, ta->a.start);
	cr_expect_eq(a->len, ta->a.len);
	cr_expect_eq(a->prot, ta->a.prot);
	cr_expect_eq(a->flags, ta->a.flags);
	cr_expect_eq(a->file_offset, ta->a.file_offset);
	cr_expect_eq(a->inode, ta->a.inode);
	cr_expect_eq(a->dev, ta->a.dev);
	cr_expect_eq(a->mtime_sec, ta->a.mtime_sec);
	cr_expect_eq(a->mtime_nsec, ta->a.mtime_nsec);
	cr_expect_str_eq(a->path, ta->a.path ? ta->a.path : "");
	cr_expect_str_eq(a->name, ta->a.name ? ta->a.name : "");
	for (size_t k = 0; k < ta->nruns; k++)
		present += ta->runs[k].npages;
	cr_expect_eq(a->present_pages, present);
	cr_expect_eq(img_reader_area_runs(r, i, runs_cb, &rc), 0, "%s", img_reader_error(r));
	cr_expect_eq(rc.pages, present);

	dest = mmap(NULL, ta->a.len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(dest, MAP_FAILED);
	/* Mark the pages that are not stored: they must stay untouched. */
	for (uint64_t p = 0; p < pages && p < 8192; p++)
		if (!run_present(ta, p))
			dest[p * PS] = 0xa5;
	if (img_reader_area_load(r, i, dest)) {
		cr_expect_fail("load area %u: %s", i, img_reader_error(r));
		ok = false;
	}
	for (uint64_t p = 0; ok && p < pages && p < 8192; p++) {
		if (run_present(ta, p)) {
			if (memcmp(dest + p * PS, ta->src + p * PS, PS) != 0) {
				cr_expect_fail("area %u page %llu differs", i,
					       (unsigned long long)p);
				ok = false;
			}
		} else if (dest[p * PS] != 0xa5) {
			cr_expect_fail("area %u page %llu (absent) overwritten", i,
				       (unsigned long long)p);
			ok = false;
		}
	}
	munmap(dest, ta->a.len);
	return ok;
}

bool timage_check(const struct timage *t, const char *path, unsigned int flags)
{
	struct img_reader *r = NULL;
	const struct img_header *h;
	bool ok = true;
	int err;

	err = img_reader_open(path, flags, &r);
	cr_assert_eq(err, 0, "open: %s", img_reader_error(r));
	h = img_reader_header(r);
	cr_expect_eq(h->version, IMG_FORMAT_VERSION);
	cr_expect_eq(h->pid, 4242u);
	cr_expect_str_eq(h->exe, "/bin/app");
	cr_expect_eq(h->argc, 4u);
	cr_expect_str_eq(h->argv[0], "/bin/app");
	cr_expect_str_eq(h->argv[2], "42");
	cr_expect_str_eq(h->argv[3], "");
	cr_expect_eq(h->page_size, PS);
	cr_expect_gt(strlen(h->hostname), 0);
	cr_expect_gt(strlen(h->kernel), 0);
	cr_expect_gt(strlen(h->glibc), 0);
	cr_expect_gt(h->ctime_sec, 1600000000);

	cr_expect_eq(img_reader_record_count(r), TREC_COUNT);
	for (int k = 0; k < TREC_COUNT; k++) {
		uint32_t type;
		const void *data;
		uint64_t len;

		cr_assert_eq(img_reader_record(r, (uint32_t)k, &type, &data, &len), 0);
		cr_expect_eq(type, trec_type[k]);
		cr_expect_eq(len, t->rec_len[k]);
		for (size_t i = 0; i < len; i++)
			if (((const uint8_t *)data)[i] != trec_byte(k, i)) {
				cr_expect_fail("record %d byte %zu differs", k, i);
				ok = false;
				break;
			}
	}
	cr_expect_eq(img_reader_area_count(r), t->nareas);
	for (uint32_t i = 0; i < t->nareas && i < img_reader_area_count(r); i++)
		ok &= area_check(r, &t->areas[i], i);
	img_reader_free(r);
	return ok;
}

uint8_t *tfile_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

void tfile_write(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

void tdamage_setup(struct tdamage *f, int level, enum tarea_data kind)
{
	f->dir = tdir_make();
	f->good = tpath(f->dir, "good.img");
	f->bad = tpath(f->dir, "bad.img");
	timage_build(&f->t, kind, true);
	cr_assert_eq(timage_write(&f->t, f->good, level, 1), 0);
	f->img = tfile_read(f->good, &f->len);
}

void tdamage_teardown(struct tdamage *f)
{
	free(f->img);
	free(f->good);
	free(f->bad);
	timage_free(&f->t);
	tdir_remove(f->dir);
}

void tdamage_rehash(uint8_t *b, size_t n, uint64_t off)
{
	uint32_t dl = img_get32(b + off + 4);
	XXH64_state_t st;

	if (off + IMG_BLK_HDR_SIZE > n || dl > n - off - IMG_BLK_HDR_SIZE)
		return;
	XXH64_reset(&st, 0);
	XXH64_update(&st, b + off, 16);
	XXH64_update(&st, b + off + IMG_BLK_HDR_SIZE, dl);
	img_put64(b + off + 16, XXH64_digest(&st));
}
