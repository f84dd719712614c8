/* The checks 'ckpt restart' makes of a generation's tree records before it
 * creates any process (cli_tree_check()): records from files are untrusted,
 * and a damaged one must be refused with a reason, never make the restart
 * fail part-way or leave processes out. */
#include "cli_tree_check.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define MAXP 8
#define MAXC 4

/* A generation under construction: process i has record rec[i] and
 * children kids[i]. */
struct gen {
	struct tree_rec rec[MAXP];
	struct tree_rec_child kids[MAXP][MAXC];
	struct tree_check_proc v[MAXP];
	size_t n;
};

static struct tree_rec_child *add(struct gen *g, int pid, int ppid)
{
	struct tree_rec *r = &g->rec[g->n];

	memset(r, 0, sizeof(*r));
	r->magic = TREE_REC_MAGIC;
	r->version = TREE_REC_VERSION;
	r->flags = TREE_REC_IN_PIDNS;
	r->pid = pid;
	r->ppid = ppid;
	r->pgid = 2;
	r->sid = 0;
	g->v[g->n] = (struct tree_check_proc){ r, g->kids[g->n], "IMG" };
	return g->kids[g->n++];
}

static void child(struct gen *g, int parent, int pid, unsigned state)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->rec[i].pid == parent) {
			g->kids[i][g->rec[i].nchildren++] =
				(struct tree_rec_child){ .pid = pid, .state = state };
			return;
		}
	cr_assert_fail("no process %d", parent);
}

static int check(struct gen *g, char *why)
{
	return cli_tree_check(g->v, g->n, 2, why, 256);
}

/* root 2 with a running child 3 (which has a running child 4) and a
 * zombie 5. */
static void valid(struct gen *g)
{
	memset(g, 0, sizeof(*g));
	add(g, 2, 1);
	add(g, 3, 2);
	add(g, 4, 3);
	child(g, 2, 3, TREE_CHILD_LIVE);
	child(g, 3, 4, TREE_CHILD_LIVE);
	child(g, 2, 5, TREE_CHILD_ZOMBIE);
}

Test(tree_check, a_valid_tree_passes)
{
	struct gen g;
	char why[256] = "";

	valid(&g);
	cr_assert_eq(check(&g, why), 0, "%s", why);
}

/* Two processes that name each other as parent, each listed by the other:
 * every per-process check holds, but neither descends from the init, so a
 * re-creation from the init would leave both out. */
Test(tree_check, a_cycle_of_parents_is_refused)
{
	struct gen g;
	char why[256] = "";

	valid(&g);
	add(&g, 6, 7);
	add(&g, 7, 6);
	child(&g, 6, 7, TREE_CHILD_LIVE);
	child(&g, 7, 6, TREE_CHILD_LIVE);
	cr_assert_eq(check(&g, why), -EBADMSG);
	cr_assert(strstr(why, "cycle of parents"), "%s", why);
}

/* A zombie two parents list: it would be made twice. */
Test(tree_check, a_zombie_listed_by_two_parents_is_refused)
{
	struct gen g;
	char why[256] = "";

	valid(&g);
	child(&g, 3, 5, TREE_CHILD_ZOMBIE);
	cr_assert_eq(check(&g, why), -EBADMSG);
	cr_assert(strstr(why, "pid 5 is listed as a child twice"), "%s", why);
}

Test(tree_check, a_child_listed_twice_by_its_parent_is_refused)
{
	struct gen g;
	char why[256] = "";

	valid(&g);
	child(&g, 3, 4, TREE_CHILD_LIVE);
	cr_assert_eq(check(&g, why), -EBADMSG);
	cr_assert(strstr(why, "pid 4 is listed as a child twice"), "%s", why);
}

Test(tree_check, the_checks_made_before_still_hold)
{
	struct gen g;
	char why[256];

	valid(&g); /* a running child without an image */
	child(&g, 4, 9, TREE_CHILD_LIVE);
	cr_assert_eq(check(&g, why), -EBADMSG);
	cr_assert(strstr(why, "child pid 9 was running"), "%s", why);

	valid(&g); /* a pid with two images */
	add(&g, 4, 3);
	cr_assert_eq(check(&g, why), -EBADMSG);
	cr_assert(strstr(why, "pid 4 appears in two images"), "%s", why);

	valid(&g);		/* a parent that does not list its child */
	g.rec[0].nchildren = 1; /* 2 keeps only its zombie slot 0: child 3 */
	g.kids[0][0].state = TREE_CHILD_ZOMBIE;
	cr_assert_eq(check(&g, why), -EBADMSG);

	valid(&g); /* no root */
	g.rec[0].pid = 8;
	g.rec[1].ppid = 8;
	cr_assert_eq(check(&g, why), -EBADMSG);
	cr_assert(strstr(why, "no image of the generation is pid 2"), "%s", why);

	valid(&g); /* impossible ids */
	g.rec[2].pgid = -3;
	cr_assert_eq(check(&g, why), -EBADMSG);
	cr_assert(strstr(why, "impossible ids"), "%s", why);
}
