/* The check the agent makes before it commits a generation of a tree
 * (tree_gen_check()): the tree records of the images just written, read
 * from real image files, pass the checks 'ckpt restart' makes, or the
 * generation is refused naming the image, the child and its parent
 * (docs/process-trees.md, Status item 9). */
#include "tree_gen.h"

#include "img.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAXC 4

static char dir[] = "/tmp/test_tree_gen.XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* Writes image @name holding @len bytes of @rec as its tree record (no
 * record if @rec is NULL); returns its path (static per call slot). */
static const char *image(int slot, const void *rec, size_t len)
{
	static char paths[8][128];
	struct img_header h = { .pid = 1 };
	struct img_writer_opts o = { .log_fd = -1, .level = 1, .nthreads = 1, .no_fsync = true };
	struct img_writer *w;
	struct img_writer_result res;
	size_t asz;
	void *arena;

	snprintf(paths[slot], sizeof(paths[slot]), "%s/%d.img", dir, slot);
	o.max_areas = 1;
	o.max_records = 2;
	o.max_chunks = 1;
	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	cr_assert_neq(arena, MAP_FAILED);
	o.fd = open(paths[slot], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(o.fd, 0);
	cr_assert_eq(img_writer_begin(&w, &o, &h, arena, asz), 0);
	if (rec)
		cr_assert_eq(img_writer_add_record(w, CKPT_REC_TREE, rec, len), 0);
	cr_assert_eq(img_writer_finish(w, &res), 0);
	img_writer_free(w);
	close(o.fd);
	munmap(arena, asz);
	return paths[slot];
}

/* A tree record with its children, as libckpt writes it. */
struct rec {
	struct tree_rec r;
	struct tree_rec_child c[MAXC];
};

static size_t rec_make(struct rec *x, int pid, int ppid, const int *live, size_t nlive,
		       const int *zombies, size_t nzombies)
{
	memset(x, 0, sizeof(*x));
	x->r.magic = TREE_REC_MAGIC;
	x->r.version = TREE_REC_VERSION;
	x->r.flags = TREE_REC_IN_PIDNS;
	x->r.pid = pid;
	x->r.ppid = ppid;
	x->r.pgid = 2;
	for (size_t i = 0; i < nlive; i++)
		x->c[x->r.nchildren++] =
			(struct tree_rec_child){ .pid = live[i], .state = TREE_CHILD_LIVE };
	for (size_t i = 0; i < nzombies; i++)
		x->c[x->r.nchildren++] = (struct tree_rec_child){ .pid = zombies[i],
								  .state = TREE_CHILD_ZOMBIE,
								  .status = 7 << 8 };
	return sizeof(x->r) + x->r.nchildren * sizeof(x->c[0]);
}

TestSuite(tree_gen, .init = setup, .fini = teardown);

/* Root 2 with a running child 3 and a zombie 5: a generation to commit. */
Test(tree_gen, a_consistent_tree_passes)
{
	struct rec a;
	struct rec b;
	const char *p[2];
	char why[512] = "";

	p[0] = image(0, &a, rec_make(&a, 2, 1, (int[]){ 3 }, 1, (int[]){ 5 }, 1));
	p[1] = image(1, &b, rec_make(&b, 3, 2, NULL, 0, NULL, 0));
	cr_assert_eq(tree_gen_check(p, 2, why, sizeof(why)), 0, "%s", why);
}

/* What 'ckpt restart' refused after a commit in tree-dash: bash (3) lists
 * a running child 50 that has no image. Refused, naming the parent's
 * image, the child and the parent, with what the agent does. */
Test(tree_gen, a_running_child_without_image_is_refused_naming_child_and_parent)
{
	struct rec a;
	struct rec b;
	const char *p[2];
	char why[512] = "";

	p[0] = image(0, &a, rec_make(&a, 2, 1, (int[]){ 3 }, 1, NULL, 0));
	p[1] = image(1, &b, rec_make(&b, 3, 2, (int[]){ 50 }, 1, NULL, 0));
	cr_assert_eq(tree_gen_check(p, 2, why, sizeof(why)), -EBADMSG);
	cr_assert(strstr(why, p[1]), "%s", why);
	cr_assert(strstr(why, "child pid 50 was running"), "%s", why);
	cr_assert(strstr(why, "parent pid 3"), "%s", why);
	cr_assert(strstr(why, "would be missing from"), "%s", why);
	cr_assert(strstr(why, "the previous generation stays"), "%s", why);
}

/* A child with an image whose record names another parent: the listing
 * parent's child has no image of its own, as 'ckpt restart' sees it. */
Test(tree_gen, a_child_image_naming_another_parent_is_refused)
{
	struct rec a;
	struct rec b;
	struct rec c;
	const char *p[3];
	char why[512] = "";

	p[0] = image(0, &a, rec_make(&a, 2, 1, (int[]){ 3, 4 }, 2, NULL, 0));
	p[1] = image(1, &b, rec_make(&b, 3, 2, NULL, 0, NULL, 0));
	p[2] = image(2, &c, rec_make(&c, 4, 3, NULL, 0, NULL, 0));
	cr_assert_eq(tree_gen_check(p, 3, why, sizeof(why)), -EBADMSG);
}

/* Images without tree records (a Slurm task, an MPI rank) and images taken
 * outside a namespace of 'ckpt run' are no tree: nothing to check. */
Test(tree_gen, a_generation_that_is_no_tree_passes)
{
	struct rec a;
	const char *p[2];
	char why[512] = "";

	p[0] = image(0, NULL, 0);
	p[1] = image(1, NULL, 0);
	cr_assert_eq(tree_gen_check(p, 2, why, sizeof(why)), 0, "%s", why);

	rec_make(&a, 2, 1, (int[]){ 50 }, 1, NULL, 0);
	a.r.flags = 0;
	p[0] = image(0, &a, sizeof(a.r) + sizeof(a.c[0]));
	cr_assert_eq(tree_gen_check(p, 1, why, sizeof(why)), 0, "%s", why);
}

/* A record on some images only: 'ckpt restart' refuses the mix. */
Test(tree_gen, a_mix_of_images_with_and_without_records_is_refused)
{
	struct rec a;
	const char *p[2];
	char why[512] = "";

	p[0] = image(0, &a, rec_make(&a, 2, 1, NULL, 0, NULL, 0));
	p[1] = image(1, NULL, 0);
	cr_assert_eq(tree_gen_check(p, 2, why, sizeof(why)), -EBADMSG);
	cr_assert(strstr(why, "the mix"), "%s", why);
}

/* A record whose length disagrees with its count of children. */
Test(tree_gen, a_malformed_record_is_refused_naming_the_image)
{
	struct rec a;
	const char *p[1];
	char why[512] = "";
	size_t len = rec_make(&a, 2, 1, (int[]){ 3 }, 1, NULL, 0);

	p[0] = image(0, &a, len - 1);
	cr_assert_eq(tree_gen_check(p, 1, why, sizeof(why)), -EBADMSG);
	cr_assert(strstr(why, p[0]) && strstr(why, "tree record"), "%s", why);
}
