/* Unit tests of proto/layout.c: path building and strict name parsing. */
#include "layout.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>

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
