/* Unit tests of proto/layout.c: path building and strict name parsing. */
#include "layout.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Test(layout, job_and_standalone_dirs)
{
	char b[PATH_MAX];

	cr_assert_eq(proto_layout_job_dir(b, sizeof(b), "/scratch/ckpt", 123456), 0);
	cr_assert_str_eq(b, "/scratch/ckpt/123456");
	cr_assert_eq(proto_layout_standalone_dir(b, sizeof(b), "/tmp/c", "a.out", 4242), 0);
	cr_assert_str_eq(b, "/tmp/c/a.out-4242");
	cr_assert_eq(proto_layout_standalone_dir(b, sizeof(b), "/tmp/c", "a/b", 1), -EINVAL);
	cr_assert_eq(proto_layout_standalone_dir(b, sizeof(b), "/tmp/c", "..", 1), -EINVAL);
	cr_assert_eq(proto_layout_standalone_dir(b, sizeof(b), "/tmp/c", ".", 1), -EINVAL);
	cr_assert_eq(proto_layout_standalone_dir(b, sizeof(b), "/tmp/c", "", 1), -EINVAL);
	cr_assert_eq(proto_layout_standalone_dir(b, sizeof(b), "/tmp/c", "x", 0), -EINVAL);
	cr_assert_eq(proto_layout_job_dir(b, sizeof(b), "", 1), -EINVAL);
	cr_assert_eq(proto_layout_job_dir(b, sizeof(b), NULL, 1), -EINVAL);
}

Test(layout, gen_and_image_paths)
{
	char b[PATH_MAX];

	cr_assert_eq(proto_layout_gen_dir(b, sizeof(b), "/d/77", 3, false), 0);
	cr_assert_str_eq(b, "/d/77/gen-3");
	cr_assert_eq(proto_layout_gen_dir(b, sizeof(b), "/d/77", 3, true), 0);
	cr_assert_str_eq(b, "/d/77/gen-3.tmp");
	cr_assert_eq(proto_layout_gen_dir(b, sizeof(b), "/d/77", 0, false), -EINVAL);
	cr_assert_eq(proto_layout_image_name(b, sizeof(b), 2, 15), 0);
	cr_assert_str_eq(b, "2.15.img");
	cr_assert_eq(proto_layout_image_path(b, sizeof(b), "/d/77/gen-3.tmp", 0, 4294967295u), 0);
	cr_assert_str_eq(b, "/d/77/gen-3.tmp/0.4294967295.img");
}

Test(layout, too_long_is_enametoolong)
{
	char small[12];

	cr_assert_eq(proto_layout_job_dir(small, sizeof(small), "/a", 1), 0);
	cr_assert_eq(proto_layout_job_dir(small, sizeof(small), "/scratch", 123456), -ENAMETOOLONG);
	cr_assert_str_eq(small, "", "no cut path left behind");
	cr_assert_eq(proto_layout_gen_dir(small, sizeof(small), "/d", 123456789, true),
		     -ENAMETOOLONG);
	cr_assert_eq(proto_layout_image_name(small, 0, 1, 1), -EINVAL);
}

Test(layout, parse_gen_strict)
{
	uint64_t g = 0;
	bool tmp = true;
	const char *bad[] = { "gen-",	       "gen-0",	    "gen-01",
			      "gen--1",	       "gen-+1",    "gen-1.tm",
			      "gen-1.tmp.tmp", "gen-1x",    "Gen-1",
			      "gen-1 ",	       " gen-1",    "gen-9223372036854775808",
			      "gen-1/",	       "gen-0.tmp", "gen-18446744073709551616",
			      "gen-1.TMP",     "gen-",	    "" };
	size_t i;

	cr_assert_eq(proto_layout_parse_gen("gen-1", &g, &tmp), 0);
	cr_assert_eq(g, 1);
	cr_assert_not(tmp);
	cr_assert_eq(proto_layout_parse_gen("gen-42.tmp", &g, &tmp), 0);
	cr_assert_eq(g, 42);
	cr_assert(tmp);
	cr_assert_eq(proto_layout_parse_gen("gen-9223372036854775807", &g, NULL), 0);
	cr_assert_eq(g, INT64_MAX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(proto_layout_parse_gen(bad[i], &g, &tmp), -EINVAL, "\"%s\"", bad[i]);
	cr_assert_eq(proto_layout_parse_gen(NULL, &g, &tmp), -EINVAL);
}

Test(layout, parse_image_name_strict)
{
	uint32_t s = 9;
	uint32_t r = 9;
	const char *bad[] = { "0.img",	  "0.0",      "0.0.im",	   "00.0.img",
			      "0.01.img", "-1.0.img", "0.0.img.x", "4294967296.0.img",
			      "a.0.img",  ".0.img",   "0..img",	   "0.0.IMG",
			      "" };
	size_t i;

	cr_assert_eq(proto_layout_parse_image_name("0.0.img", &s, &r), 0);
	cr_assert_eq(s, 0);
	cr_assert_eq(r, 0);
	cr_assert_eq(proto_layout_parse_image_name("3.4294967295.img", &s, &r), 0);
	cr_assert_eq(s, 3);
	cr_assert_eq(r, UINT32_MAX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(proto_layout_parse_image_name(bad[i], &s, &r), -EINVAL, "\"%s\"",
			     bad[i]);
}

Test(layout, build_then_parse_roundtrip)
{
	char b[64];
	uint64_t g;
	uint32_t s;
	uint32_t r;
	bool tmp;

	cr_assert_eq(proto_layout_gen_dir(b, sizeof(b), ".", 987654321, true), 0);
	cr_assert_eq(proto_layout_parse_gen(b + 2, &g, &tmp), 0);
	cr_assert_eq(g, 987654321);
	cr_assert(tmp);
	cr_assert_eq(proto_layout_image_name(b, sizeof(b), 12, 34), 0);
	cr_assert_eq(proto_layout_parse_image_name(b, &s, &r), 0);
	cr_assert_eq(s, 12);
	cr_assert_eq(r, 34);
}

/* ---- proto_layout_dir_check on real directories ---------------------------
 * The tests run as root (CI does) so that they can hand directories to other
 * users with chown: the job's user is TRUST_UID, the hostile one EVIL_UID. */

#define TRUST_UID 4242
#define EVIL_UID  4343

/* The directory trust_base() made, removed after each test. */
static char trust_dir[64];

static void trust_cleanup(void)
{
	char cmd[128];

	if (!trust_dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", trust_dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(layout_trust, .fini = trust_cleanup);

/* A fresh root-owned 0755 directory under /tmp (root-owned, sticky). */
static void trust_base(char *base, size_t size)
{
	cr_assert_eq(geteuid(), 0, "these tests chown directories: run them as root");
	snprintf(base, size, "/tmp/test-layout-trust.XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	cr_assert_eq(chmod(base, 0755), 0);
	snprintf(trust_dir, sizeof(trust_dir), "%s", base);
}

/* mkdir @base/@name with @mode, owned by @uid; the path goes to @out. */
static void trust_mkdir(char *out, size_t size, const char *base, const char *name, mode_t mode,
			uid_t uid)
{
	snprintf(out, size, "%s/%s", base, name);
	cr_assert_eq(mkdir(out, 0700), 0, "mkdir %s: %s", out, strerror(errno));
	cr_assert_eq(chown(out, uid, uid), 0);
	cr_assert_eq(chmod(out, mode), 0);
}

static int trust_check(const char *dir, bool leaf, char *why)
{
	return proto_layout_dir_check(dir, TRUST_UID, leaf, why, 256);
}

Test(layout_trust, own_directories_are_accepted)
{
	char base[64], user[PATH_MAX], job[PATH_MAX], why[256];

	trust_base(base, sizeof(base));
	trust_mkdir(user, sizeof(user), base, "alice", 0755, TRUST_UID);
	trust_mkdir(job, sizeof(job), user, "123", 0700, TRUST_UID);
	cr_assert_eq(trust_check(job, true, why), 0, "%s", why);
	cr_assert_eq(trust_check(user, false, why), 0, "%s", why);
	cr_assert_eq(trust_check(user, true, why), 0, "a 0755 leaf of the user is fine: %s", why);
	/* Extra slashes name the same directory. */
	snprintf(job + strlen(job), sizeof(job) - strlen(job), "//");
	cr_assert_eq(trust_check(job, true, why), 0, "%s", why);
}

Test(layout_trust, directory_of_another_user_is_refused)
{
	char base[64], evil[PATH_MAX], job[PATH_MAX], why[256];

	trust_base(base, sizeof(base));
	trust_mkdir(evil, sizeof(evil), base, "ck", 0755, EVIL_UID);
	trust_mkdir(job, sizeof(job), evil, "123", 0700, TRUST_UID);
	cr_assert_eq(trust_check(evil, false, why), -EPERM);
	cr_assert(strstr(why, "owned by uid 4343"), "%s", why);
	cr_assert_eq(trust_check(job, true, why), -EPERM, "a parent of another user");
	cr_assert(strstr(why, evil), "names the component: %s", why);
	/* The job directory itself pre-created by another user. */
	trust_mkdir(job, sizeof(job), base, "124", 0700, EVIL_UID);
	cr_assert_eq(trust_check(job, true, why), -EPERM);
	/* Root's job directory is not the user's. */
	trust_mkdir(job, sizeof(job), base, "125", 0700, 0);
	cr_assert_eq(trust_check(job, true, why), -EPERM);
}

Test(layout_trust, group_or_other_writable_is_refused)
{
	char base[64], d[PATH_MAX], job[PATH_MAX], why[256];

	trust_base(base, sizeof(base));
	trust_mkdir(d, sizeof(d), base, "g", 0770, TRUST_UID);
	cr_assert_eq(trust_check(d, true, why), -EPERM);
	cr_assert(strstr(why, "writable by its group"), "%s", why);
	cr_assert_eq(trust_check(d, false, why), -EPERM, "not sticky either");
	trust_mkdir(job, sizeof(job), d, "1", 0700, TRUST_UID);
	cr_assert_eq(trust_check(job, true, why), -EPERM, "a group-writable parent");
	trust_mkdir(d, sizeof(d), base, "o", 0707, TRUST_UID);
	cr_assert_eq(trust_check(d, true, why), -EPERM);
	cr_assert(strstr(why, "other users"), "%s", why);
	/* A sticky job directory still lets others create gen-N in it. */
	trust_mkdir(d, sizeof(d), base, "s", 01777, TRUST_UID);
	cr_assert_eq(trust_check(d, true, why), -EPERM);
}

Test(layout_trust, sticky_world_writable_parent_is_accepted)
{
	char base[64], pub[PATH_MAX], job[PATH_MAX], why[256];

	trust_base(base, sizeof(base));
	/* /scratch/ckpt as a site makes it: root, 1777. */
	trust_mkdir(pub, sizeof(pub), base, "ckpt", 01777, 0);
	cr_assert_eq(trust_check(pub, false, why), 0, "%s", why);
	trust_mkdir(job, sizeof(job), pub, "alice", 0700, TRUST_UID);
	cr_assert_eq(trust_check(job, true, why), 0, "%s", why);
	/* Not so without the sticky bit: anyone could rename alice away. */
	cr_assert_eq(chmod(pub, 0777), 0);
	cr_assert_eq(trust_check(job, true, why), -EPERM);
	cr_assert(strstr(why, "without the sticky bit"), "%s", why);
	cr_assert_eq(trust_check(pub, false, why), -EPERM);
	/* A sticky directory of another user: its owner may rename anything. */
	cr_assert_eq(chmod(pub, 01777), 0);
	cr_assert_eq(chown(pub, EVIL_UID, EVIL_UID), 0);
	cr_assert_eq(trust_check(job, true, why), -EPERM);
}

Test(layout_trust, symbolic_links)
{
	char base[64], real[PATH_MAX], link[PATH_MAX + 8], job[PATH_MAX], evil[PATH_MAX];
	char why[256];

	trust_base(base, sizeof(base));
	trust_mkdir(real, sizeof(real), base, "real", 0700, TRUST_UID);
	/* The job directory itself may not be a link. */
	snprintf(link, sizeof(link), "%s/123", base);
	cr_assert_eq(symlink(real, link), 0);
	cr_assert_eq(lchown(link, TRUST_UID, TRUST_UID), 0);
	cr_assert_eq(trust_check(link, true, why), -EPERM);
	cr_assert(strstr(why, "symbolic link"), "%s", why);
	/* A parent may, when it is the user's and points somewhere safe. */
	snprintf(job, sizeof(job), "%s/123/9", base);
	cr_assert_eq(mkdir(job, 0700), 0);
	cr_assert_eq(chown(job, TRUST_UID, TRUST_UID), 0);
	cr_assert_eq(trust_check(job, true, why), 0, "%s", why);
	/* Not a link of another user... */
	cr_assert_eq(lchown(link, EVIL_UID, EVIL_UID), 0);
	cr_assert_eq(trust_check(job, true, why), -EPERM);
	cr_assert(strstr(why, "owned by uid 4343"), "%s", why);
	/* ...nor one that leads through a directory another user controls. */
	cr_assert_eq(lchown(link, TRUST_UID, TRUST_UID), 0);
	cr_assert_eq(chown(real, EVIL_UID, EVIL_UID), 0);
	cr_assert_eq(trust_check(job, true, why), -EPERM);
	cr_assert(strstr(why, real), "names the link's target: %s", why);
	/* A link to a file is not a directory. */
	trust_mkdir(evil, sizeof(evil), base, "e", 0700, TRUST_UID);
	snprintf(link, sizeof(link), "%s/f", evil);
	cr_assert_eq(symlink("/etc/passwd", link), 0);
	cr_assert_eq(trust_check(link, false, why), -ENOTDIR, "%s", why);
}

Test(layout_trust, bad_paths)
{
	char base[64], d[PATH_MAX], why[256];

	trust_base(base, sizeof(base));
	trust_mkdir(d, sizeof(d), base, "u", 0700, TRUST_UID);
	cr_assert_eq(trust_check("relative/dir", true, why), -EINVAL);
	snprintf(d, sizeof(d), "%s/u/../u", base);
	cr_assert_eq(trust_check(d, true, why), -EINVAL);
	cr_assert(strstr(why, ".."), "%s", why);
	snprintf(d, sizeof(d), "%s/missing", base);
	cr_assert_eq(trust_check(d, true, why), -ENOENT);
	cr_assert(strstr(why, d), "%s", why);
	cr_assert_eq(proto_layout_dir_check("/", 0, false, why, sizeof(why)), 0, "%s", why);
}
