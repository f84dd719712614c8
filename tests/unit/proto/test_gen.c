/* Unit tests of proto/gen.c: listing, committing, discarding and pruning
 * generations in a temporary directory full of junk. */
#include "layout.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Short, so paths built from it never approach PATH_MAX. */
static char run[64];

static void setup(void)
{
	snprintf(run, sizeof(run), "/tmp/proto-gen-XXXXXX");
	cr_assert_not_null(mkdtemp(run));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run);
	cr_assert_eq(system(cmd), 0);
}

static void mkdir_in(const char *name)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", run, name);
	cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
}

static void file_in(const char *name, const char *content)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", run, name);
	f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fputs(content, f);
	fclose(f);
}

static bool exists_in(const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", run, name);
	return lstat(p, &st) == 0;
}

/* Junk that must never count as a committed generation. */
static void add_junk(void)
{
	char p[PATH_MAX];
	char link[PATH_MAX];

	mkdir_in("gen-01");
	mkdir_in("gen-0");
	mkdir_in("gen-x");
	mkdir_in("gen-5.old");
	mkdir_in("notgen");
	file_in("gen-6", "a file, not a directory");
	snprintf(p, sizeof(p), "%s/notgen", run);
	snprintf(link, sizeof(link), "%s/gen-7", run);
	cr_assert_eq(symlink(p, link), 0, "a symlinked generation is junk too");
}

TestSuite(gen, .init = setup, .fini = teardown);

Test(gen, list_sorted_ignoring_junk)
{
	char target[PATH_MAX];
	char link[PATH_MAX];
	uint64_t *g;
	size_t n;

	mkdir_in("gen-10");
	mkdir_in("gen-2");
	mkdir_in("gen-3");
	mkdir_in("gen-11.tmp");
	mkdir_in("gen-1.tmp");
	add_junk();
	snprintf(target, sizeof(target), "%s/gen-3", run);
	snprintf(link, sizeof(link), "%s/gen-8", run);
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(proto_gen_list(run, &g, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(g[0], 2);
	cr_assert_eq(g[1], 3);
	cr_assert_eq(g[2], 10);
	free(g);
}

Test(gen, newest_and_empty)
{
	uint64_t g = 0;
	uint64_t *list;
	size_t n;
	char missing[PATH_MAX];

	cr_assert_eq(proto_gen_newest(run, &g), -ENOENT);
	mkdir_in("gen-4.tmp");
	cr_assert_eq(proto_gen_newest(run, &g), -ENOENT);
	mkdir_in("gen-3");
	cr_assert_eq(proto_gen_newest(run, &g), 0);
	cr_assert_eq(g, 3);
	snprintf(missing, sizeof(missing), "%s/absent", run);
	cr_assert_eq(proto_gen_list(missing, &list, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(list);
	file_in("plainfile", "x");
	snprintf(missing, sizeof(missing), "%s/plainfile", run);
	cr_assert_eq(proto_gen_list(missing, &list, &n), -ENOTDIR);
}

Test(gen, commit_renames_and_never_replaces)
{
	uint64_t g;

	mkdir_in("gen-1.tmp");
	file_in("gen-1.tmp/0.0.img", "image");
	file_in("gen-1.tmp/MANIFEST.json", "{}");
	cr_assert_eq(proto_gen_commit(run, 1), 0);
	cr_assert(exists_in("gen-1/0.0.img"));
	cr_assert(exists_in("gen-1/MANIFEST.json"));
	cr_assert_not(exists_in("gen-1.tmp"));
	cr_assert_eq(proto_gen_newest(run, &g), 0);
	cr_assert_eq(g, 1);

	/* An existing committed generation is never replaced, even if empty. */
	mkdir_in("gen-2");
	mkdir_in("gen-2.tmp");
	file_in("gen-2.tmp/0.0.img", "new");
	cr_assert_eq(proto_gen_commit(run, 2), -EEXIST);
	cr_assert(exists_in("gen-2.tmp/0.0.img"));
	cr_assert_not(exists_in("gen-2/0.0.img"));

	cr_assert_eq(proto_gen_commit(run, 3), -ENOENT);
	cr_assert_eq(proto_gen_commit(run, 0), -EINVAL);
}

Test(gen, commit_refuses_symlinked_tmp)
{
	char target[PATH_MAX];
	char link[PATH_MAX];

	mkdir_in("elsewhere");
	snprintf(target, sizeof(target), "%s/elsewhere", run);
	snprintf(link, sizeof(link), "%s/gen-1.tmp", run);
	cr_assert_eq(symlink(target, link), 0);
	/* O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR. */
	cr_assert_eq(proto_gen_commit(run, 1), -ENOTDIR);
}

Test(gen, discard_removes_tmp_only)
{
	mkdir_in("gen-5.tmp");
	file_in("gen-5.tmp/1.1.img", "x");
	mkdir_in("gen-5.tmp/sub");
	file_in("gen-5.tmp/sub/f", "x");
	mkdir_in("gen-4");
	cr_assert_eq(proto_gen_discard(run, 5), 0);
	cr_assert_not(exists_in("gen-5.tmp"));
	cr_assert(exists_in("gen-4"));
	cr_assert_eq(proto_gen_discard(run, 5), 0, "absent is fine");
}

Test(gen, prune_keeps_newest_k)
{
	uint64_t *g;
	size_t n;

	mkdir_in("gen-1");
	mkdir_in("gen-2");
	mkdir_in("gen-3");
	file_in("gen-1/0.0.img", "x");
	mkdir_in("gen-4");
	mkdir_in("gen-2.tmp"); /* stale: below newest */
	mkdir_in("gen-5.tmp"); /* in progress: above newest */
	add_junk();
	cr_assert_eq(proto_gen_prune(run, 2), 0);
	cr_assert_eq(proto_gen_list(run, &g, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(g[0], 3);
	cr_assert_eq(g[1], 4);
	free(g);
	cr_assert_not(exists_in("gen-1"));
	cr_assert_not(exists_in("gen-1.tmp"));
	cr_assert_not(exists_in("gen-2.tmp"));
	cr_assert(exists_in("gen-5.tmp"));
	cr_assert(exists_in("notgen"), "junk is left alone");
	cr_assert(exists_in("gen-01"));
	cr_assert(exists_in("gen-6"));
}

Test(gen, prune_zero_keeps_newest)
{
	uint64_t g;

	mkdir_in("gen-7");
	mkdir_in("gen-9");
	cr_assert_eq(proto_gen_prune(run, 0), 0);
	cr_assert_eq(proto_gen_newest(run, &g), 0);
	cr_assert_eq(g, 9);
	cr_assert_not(exists_in("gen-7"));
}

Test(gen, prune_without_committed_keeps_tmp)
{
	mkdir_in("gen-1.tmp");
	cr_assert_eq(proto_gen_prune(run, 2), 0);
	cr_assert(exists_in("gen-1.tmp"));
}

Test(gen, prune_does_not_follow_symlinks)
{
	char target[PATH_MAX];
	char link[PATH_MAX];

	mkdir_in("keepme");
	file_in("keepme/precious", "x");
	mkdir_in("gen-1");
	mkdir_in("gen-2");
	snprintf(target, sizeof(target), "%s/keepme", run);
	snprintf(link, sizeof(link), "%s/gen-1/link", run);
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(proto_gen_prune(run, 1), 0);
	cr_assert_not(exists_in("gen-1"));
	cr_assert(exists_in("keepme/precious"));
}

Test(gen, prune_missing_dir_is_fine)
{
	char missing[PATH_MAX];

	snprintf(missing, sizeof(missing), "%s/none", run);
	cr_assert_eq(proto_gen_prune(missing, 2), 0);
}

/* Fault injection: a failed fsync or rename leaves the generation
 * uncommitted (gen-N.tmp intact) and the previous one untouched. */
Test(gen, commit_fsync_fault_leaves_tmp)
{
	uint64_t g;

	mkdir_in("gen-1");
	mkdir_in("gen-2.tmp");
	file_in("gen-2.tmp/0.0.img", "x");
	setenv("CKPT_FAULT", "other,gen_commit_fsync", 1);
	cr_assert_eq(proto_gen_commit(run, 2), -EIO);
	unsetenv("CKPT_FAULT");
	cr_assert(exists_in("gen-2.tmp/0.0.img"));
	cr_assert_not(exists_in("gen-2"));
	cr_assert_eq(proto_gen_newest(run, &g), 0);
	cr_assert_eq(g, 1);
	cr_assert_eq(proto_gen_commit(run, 2), 0, "commits once the fault is gone");
}

Test(gen, commit_rename_fault_leaves_tmp)
{
	mkdir_in("gen-3.tmp");
	setenv("CKPT_FAULT", "gen_commit_rename", 1);
	cr_assert_eq(proto_gen_commit(run, 3), -EIO);
	unsetenv("CKPT_FAULT");
	cr_assert(exists_in("gen-3.tmp"));
	cr_assert_not(exists_in("gen-3"));
}

/* Incremental checkpoints: the bases kept generations refer to stay. */
Test(gen, prune_drops_rule_keeps_needed_bases)
{
	const uint64_t c[] = { 1, 2, 3, 4, 5, 6 };
	const uint64_t need[] = { 2, 3 };
	bool drop[6];

	for (size_t i = 0; i < 6; i++)
		drop[i] = proto_gen_prune_drops(c, 6, i, 2, need, 2);
	cr_expect(drop[0], "gen 1: neither kept nor needed");
	cr_expect_not(drop[1], "gen 2: a base of a kept generation");
	cr_expect_not(drop[2], "gen 3: a base of a kept generation");
	cr_expect(drop[3], "gen 4: not needed");
	cr_expect_not(drop[4]);
	cr_expect_not(drop[5]);
	/* keep 0 counts as 1; without needs, the old rule */
	cr_expect(proto_gen_prune_drops(c, 6, 4, 0, NULL, 0));
	cr_expect_not(proto_gen_prune_drops(c, 6, 5, 0, NULL, 0));
}

Test(gen, prune_keep_leaves_needed_directories)
{
	uint64_t need = 2;

	mkdir_in("gen-1");
	mkdir_in("gen-2");
	mkdir_in("gen-3");
	mkdir_in("gen-4");
	cr_assert_eq(proto_gen_prune_keep(run, 1, &need, 1), 0);
	cr_expect_not(exists_in("gen-1"));
	cr_expect(exists_in("gen-2"), "a needed base was deleted");
	cr_expect_not(exists_in("gen-3"));
	cr_expect(exists_in("gen-4"));
}
