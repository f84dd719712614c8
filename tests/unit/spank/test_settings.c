/* test_settings.c - parsing of job options and site settings (spank/settings.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "settings.h"

static char err[256];

static int job_opt(struct job_settings *job, const char *name, const char *value)
{
	err[0] = '\0';
	return settings_job_parse_option(job, name, value, err, sizeof(err));
}

static int site_arg(struct site_settings *site, const char *arg)
{
	err[0] = '\0';
	return settings_site_parse_arg(site, arg, err, sizeof(err));
}

Test(job_options, checkpoint_mode)
{
	struct job_settings job = { 0 };

	cr_assert_eq(job_opt(&job, "checkpoint", "auto"), 0);
	cr_assert_eq(job.mode, CKPT_MODE_AUTO);
	cr_assert_eq(job_opt(&job, "checkpoint", "auto"), 0, "the same value twice is fine");
	cr_assert_eq(job_opt(&job, "checkpoint", "off"), 0);
	cr_assert_eq(job.mode, CKPT_MODE_OFF);
}

Test(job_options, bad_mode_names_the_option)
{
	struct job_settings job = { 0 };

	cr_assert_eq(job_opt(&job, "checkpoint", "yes"), -EINVAL);
	cr_assert(strstr(err, "--checkpoint=yes"), "message: %s", err);
	cr_assert(strstr(err, "auto or off"), "message: %s", err);
	cr_assert_eq(job_opt(&job, "checkpoint", ""), -EINVAL);
	cr_assert_eq(job_opt(&job, "checkpoint", NULL), -EINVAL);
	cr_assert_eq(job.mode, CKPT_MODE_UNSET);
}

Test(job_options, interval)
{
	struct job_settings job = { 0 };

	cr_assert_eq(job_opt(&job, "checkpoint-interval", "1h"), 0);
	cr_assert_eq(job.interval_s, 3600);
	cr_assert_eq(job_opt(&job, "checkpoint-interval", "30m"), 0);
	cr_assert_eq(job.interval_s, 1800);
	cr_assert_eq(job_opt(&job, "checkpoint-interval", "2:00:00"), 0);
	cr_assert_eq(job.interval_s, 7200);
	cr_assert_eq(job_opt(&job, "checkpoint-interval", "0"), -EINVAL);
	cr_assert_eq(job_opt(&job, "checkpoint-interval", "soon"), -EINVAL);
	cr_assert(strstr(err, "--checkpoint-interval=soon"), "message: %s", err);
	cr_assert_eq(job_opt(&job, "checkpoint-interval", NULL), -EINVAL);
}

Test(job_options, dir_must_be_absolute)
{
	struct job_settings job = { 0 };

	cr_assert_eq(job_opt(&job, "checkpoint-dir", "/scratch/me"), 0);
	cr_assert_str_eq(job.dir, "/scratch/me");
	cr_assert_eq(job_opt(&job, "checkpoint-dir", "relative/dir"), -EINVAL);
	cr_assert(strstr(err, "absolute"), "message: %s", err);
	cr_assert_str_eq(job.dir, "/scratch/me", "a refused value leaves the old one");

	char longdir[SETTINGS_DIR_MAX + 10];
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	cr_assert_eq(job_opt(&job, "checkpoint-dir", longdir), -EINVAL);
}

Test(job_options, keep_range)
{
	struct job_settings job = { 0 };

	cr_assert_eq(job_opt(&job, "checkpoint-keep", "3"), 0);
	cr_assert_eq(job.keep, 3);
	cr_assert_eq(job_opt(&job, "checkpoint-keep", "0"), -EINVAL);
	cr_assert_eq(job_opt(&job, "checkpoint-keep", "101"), -EINVAL);
	cr_assert_eq(job_opt(&job, "checkpoint-keep", "-1"), -EINVAL);
	cr_assert_eq(job_opt(&job, "checkpoint-keep", "2x"), -EINVAL);
	cr_assert_eq(job_opt(&job, "checkpoint-keep", " 2"), -EINVAL);
	cr_assert_eq(job.keep, 3);
}

Test(job_options, unknown_option)
{
	struct job_settings job = { 0 };

	cr_assert_eq(job_opt(&job, "checkpoint-color", "red"), -EINVAL);
	cr_assert(strstr(err, "checkpoint-color"), "message: %s", err);
}

Test(site_settings, defaults)
{
	struct site_settings site;

	settings_site_defaults(&site);
	cr_assert_str_eq(site.dir_pattern, "%h/.slurm-ckpt");
	cr_assert_eq(site.keep, 2);
	cr_assert_eq(site.compress_level, 1);
	cr_assert_eq(site.margin_s, 600);
	cr_assert_eq(site.max_image_bytes, 0);
	cr_assert_eq(site.port_lo, 0);
	cr_assert(settings_site_allows_user(&site, "anyone"));
	cr_assert(settings_site_allows_partition(&site, "any"));
}

/* The phase timeout a site sets is passed to the job's coordinator; unset,
 * the agent derives the WRITE phase's bound. */
Test(site_settings, phase_timeout)
{
	struct site_settings site;

	settings_site_defaults(&site);
	cr_assert_eq(site.phase_timeout_s, 0, "unset by default: the agent derives it");
	cr_assert_eq(site_arg(&site, "phase_timeout=30:00"), 0, "%s", err);
	cr_assert_eq(site.phase_timeout_s, 1800);
	cr_assert_eq(site_arg(&site, "phase_timeout=0:02"), 0, "%s", err);
	cr_assert_eq(site.phase_timeout_s, 2);
	cr_assert_eq(site_arg(&site, "phase_timeout=1-00:00:00"), 0, "%s", err);
	cr_assert_eq(site.phase_timeout_s, 86400);
	cr_assert_eq(site_arg(&site, "phase_timeout=0"), -EINVAL);
	cr_assert(strstr(err, "phase_timeout=0"), "message: %s", err);
	cr_assert_eq(site_arg(&site, "phase_timeout=1-00:00:01"), -EINVAL, "over a day");
	cr_assert_eq(site_arg(&site, "phase_timeout=soon"), -EINVAL);
	cr_assert_eq(site_arg(&site, "phase_timeout=-5"), -EINVAL);
	cr_assert_eq(site.phase_timeout_s, 86400, "refused values change nothing");
}

Test(site_settings, every_key)
{
	struct site_settings site;

	settings_site_defaults(&site);
	cr_assert_eq(site_arg(&site, "dir=/scratch/%u/ckpt"), 0, "%s", err);
	cr_assert_str_eq(site.dir_pattern, "/scratch/%u/ckpt");
	cr_assert_eq(site_arg(&site, "keep=4"), 0, "%s", err);
	cr_assert_eq(site.keep, 4);
	cr_assert_eq(site_arg(&site, "compress=0"), 0, "%s", err);
	cr_assert_eq(site.compress_level, 0);
	cr_assert_eq(site_arg(&site, "margin=15:00"), 0, "%s", err);
	cr_assert_eq(site.margin_s, 900);
	cr_assert_eq(site_arg(&site, "ports=20000-20099"), 0, "%s", err);
	cr_assert_eq(site.port_lo, 20000);
	cr_assert_eq(site.port_hi, 20099);
	cr_assert_eq(site_arg(&site, "max_image_size=64G"), 0, "%s", err);
	cr_assert_eq(site.max_image_bytes, 64ULL << 30);
	cr_assert_eq(site_arg(&site, "max_image_size=1000"), 0, "%s", err);
	cr_assert_eq(site.max_image_bytes, 1000);
	cr_assert_eq(site_arg(&site, "allow_users=alice,bob"), 0, "%s", err);
	cr_assert(settings_site_allows_user(&site, "bob"));
	cr_assert_not(settings_site_allows_user(&site, "mallory"));
	cr_assert_eq(site_arg(&site, "allow_partitions=low"), 0, "%s", err);
	cr_assert(settings_site_allows_partition(&site, "low"));
	cr_assert_not(settings_site_allows_partition(&site, "high"));
}

Test(site_settings, bad_arguments_are_named)
{
	struct site_settings site;
	static const char *const bad[] = {
		"dir",
		"=x",
		"dir=relative",
		"keep=0",
		"keep=lots",
		"compress=20",
		"compress=-1",
		"margin=0",
		"margin=later",
		"ports=20000",
		"ports=20099-20000",
		"ports=80-90",
		"ports=20000-70000",
		"ports=-5",
		"max_image_size=12Q",
		"max_image_size=",
		"max_image_size=99999999999T",
		"allow_users=",
		"allow_users=a,,b",
		"colour=blue",
	};

	settings_site_defaults(&site);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(site_arg(&site, bad[i]), -EINVAL, "accepted '%s'", bad[i]);
		cr_assert_neq(err[0], '\0', "no message for '%s'", bad[i]);
	}
	cr_assert_eq(site.keep, 2, "refused values change nothing");
}

Test(site_settings, too_many_names)
{
	struct site_settings site;
	char arg[SETTINGS_LIST_MAX * 4 + 32] = "allow_users=";

	settings_site_defaults(&site);
	for (int i = 0; i <= SETTINGS_LIST_MAX; i++)
		sprintf(arg + strlen(arg), "%su%d", i ? "," : "", i);
	cr_assert_eq(site_arg(&site, arg), -EINVAL);
	cr_assert(strstr(err, "more than"), "message: %s", err);
}

Test(expand_dir, sequences)
{
	char out[64];

	cr_assert_eq(settings_expand_dir("%h/ckpt/%u/%j/100%%", "ann", "/home/ann", 4242, out,
					 sizeof(out)),
		     0);
	cr_assert_str_eq(out, "/home/ann/ckpt/ann/4242/100%");
	cr_assert_eq(settings_expand_dir("/x/%q", "ann", "/h", 1, out, sizeof(out)), -EINVAL);
	cr_assert_eq(settings_expand_dir("/x/%", "ann", "/h", 1, out, sizeof(out)), -EINVAL);
}

Test(expand_dir, too_long)
{
	char out[16];

	cr_assert_eq(settings_expand_dir("/scratch/%u", "averylongusername", "/h", 1, out,
					 sizeof(out)),
		     -ENAMETOOLONG);
	cr_assert_eq(settings_expand_dir("/0123456789abcd", "u", "/h", 1, out, sizeof(out)), 0);
	cr_assert_eq(settings_expand_dir("/0123456789abcde", "u", "/h", 1, out, sizeof(out)),
		     -ENAMETOOLONG);
}
