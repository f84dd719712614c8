/* The filling of the memfds 'ckpt restart' makes for memory shared in a tree
 * (nodeagent/cli_tree_shm.c): an image is read once to list the shared
 * areas and size the memfds, and again to load their bytes; an image that
 * changed between the two reads (a hostile or damaged file) is refused,
 * named, instead of loading more bytes than the mapping holds. The file is
 * included so that the test can replace an image between the two reads,
 * which the public calls do back to back. */
#include "../../../nodeagent/cli_tree_shm.c" // NOLINT(bugprone-suspicious-include): its static functions

#include <criterion/criterion.h>
#include <stdarg.h>
#include <sys/stat.h>

#define PS 4096u

/* cli.c is not linked: its messages go to stderr, the last one kept. */
static char last_err[1024];

void cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", last_err);
}

/* Writes to @path an image of pid @pid with one shared anonymous area of
 * @npages pages (device 1, inode 77) at 0x10000, every byte @fill. */
static void image_write(const char *path, uint32_t pid, uint64_t npages, uint8_t fill)
{
	struct img_writer_opts o = { .log_fd = 2, .level = 1, .nthreads = 1, .no_fsync = true };
	struct img_header h = { .pid = pid };
	struct img_area a = { .start = 0x10000,
			      .len = npages * PS,
			      .prot = PROT_READ | PROT_WRITE,
			      .flags = IMG_AREA_SHARED | IMG_AREA_ANON,
			      .inode = 77,
			      .dev = 1 };
	struct img_writer *w = NULL;
	uint8_t *src = malloc(a.len);
	size_t asz;
	void *arena;

	cr_assert_not_null(src);
	memset(src, fill, a.len);
	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	cr_assert_neq(arena, MAP_FAILED);
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(o.fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(img_writer_begin(&w, &o, &h, arena, asz), 0);
	cr_assert_eq(img_writer_area_begin(w, &a), 0);
	cr_assert_eq(img_writer_area_run(w, 0, src, a.len), 0);
	cr_assert_eq(img_writer_area_end(w), 0);
	cr_assert_eq(img_writer_finish(w, NULL), 0);
	img_writer_free(w);
	close(o.fd);
	munmap(arena, asz);
	free(src);
}

static char dir[] = "/tmp/ckpt-shm-fill-XXXXXX";
static char img[2][64];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	for (int i = 0; i < 2; i++) {
		snprintf(img[i], sizeof(img[i]), "%s/%d.img", dir, i);
		image_write(img[i], 100 + (uint32_t)i, 1, (uint8_t)('a' + i));
	}
}

static void teardown(void)
{
	char p[80];

	unlink(img[0]);
	unlink(img[1]);
	snprintf(p, sizeof(p), "%s/big.img", dir);
	unlink(p);
	rmdir(dir);
}

TestSuite(tree_shm_fill, .init = setup, .fini = teardown);

/* Both pids' areas are one object: one memfd, holding the lowest pid's
 * bytes. */
Test(tree_shm_fill, fills_one_memfd_with_the_lowest_pid_bytes)
{
	const char *const images[] = { img[0], img[1] };
	const pid_t pids[] = { 100, 101 };
	struct cli_tree_shm *s = NULL;
	char c = 0;

	cr_assert_eq(cli_tree_shm_make(images, pids, 2, 200, &s), 0, "%s", last_err);
	cr_assert_eq(s->nobjs, 1);
	cr_assert_eq(pread(s->objs[0].fd, &c, 1, PS - 1), 1);
	cr_assert_eq(c, 'a');
	cli_tree_shm_free(s);
}

/* An image rewritten after the first read with a larger area: the memfd
 * and the mapping are one page, the area now sixteen. Without the check,
 * the load wrote fifteen pages past the mapping. */
Test(tree_shm_fill, refuses_an_image_changed_between_the_reads)
{
	const char *const images[] = { img[0], img[1] };
	struct cli_tree_shm *s = calloc(1, sizeof(*s));
	char big[80];
	size_t cap = 0;

	cr_assert_not_null(s);
	cr_assert_eq(areas_read(s, &cap, images[0], 100, 0), 0);
	cr_assert_eq(areas_read(s, &cap, images[1], 101, 1), 0);
	cr_assert(s->nareas == 2 && s->areas);
	if (s->areas) /* for the static analyser: cr_assert does not return */
		qsort(s->areas, s->nareas, sizeof(*s->areas), area_cmp);
	s->objs = calloc(1, sizeof(*s->objs));
	cr_assert_not_null(s->objs);

	snprintf(big, sizeof(big), "%s/big.img", dir);
	image_write(big, 100, 16, 'z');
	cr_assert_eq(rename(big, img[0]), 0);

	cr_assert_eq(obj_make(s, 0, s->nareas, images, 200), -ESTALE);
	cr_assert(strstr(last_err, img[0]) &&
			  strstr(last_err, "changed while ckpt restart read it"),
		  "message: %s", last_err);
	cli_tree_shm_free(s);
}
