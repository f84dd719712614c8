/* fuzz_settings.c - the plugstack.conf argument and job option parsers and
 * the directory pattern expansion (spank/settings.c). Each input line is
 * one plugstack argument, applied in turn to the same site settings as the
 * plugin does; a line "name=value" is also given as a job option, and every
 * line as a directory pattern. Accepted settings must stay in range. */
#include "fuzz_target.h"

#include "settings.h"

#include <stdlib.h>
#include <string.h>

void fuzz_target_init(void)
{
	fuzz_log_quiet();
}

static void fuzz_job_option(struct job_settings *job, char *line)
{
	char *eq = strchr(line, '=');
	char err[256];

	if (!eq)
		return;
	*eq = '\0';
	settings_job_parse_option(job, line, eq + 1, err, sizeof(err));
	*eq = '=';
}

static void fuzz_expand(const char *pattern)
{
	char out[SETTINGS_DIR_MAX];
	char tiny[8];

	if (!settings_expand_dir(pattern, "alice", "/home/alice", 1234, out, sizeof(out)) &&
	    strnlen(out, sizeof(out)) >= sizeof(out))
		abort();
	settings_expand_dir(pattern, "bob", "/h", 4294967295u, tiny, sizeof(tiny));
}

int fuzz_target_one(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	struct site_settings site;
	struct job_settings job;
	char err[256];
	char *save = NULL;

	memset(&job, 0, sizeof(job));
	settings_site_defaults(&site);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (settings_site_parse_arg(&site, line, err, sizeof(err)) &&
		    !memchr(err, '\0', sizeof(err)))
			abort();
		fuzz_job_option(&job, line);
		fuzz_expand(line);
	}
	if (site.port_lo > site.port_hi || site.port_hi > 65535 ||
	    site.n_allow_users > SETTINGS_LIST_MAX || site.n_allow_partitions > SETTINGS_LIST_MAX ||
	    !memchr(site.dir_pattern, '\0', sizeof(site.dir_pattern)) ||
	    !memchr(job.dir, '\0', sizeof(job.dir)))
		abort();
	settings_site_allows_user(&site, "alice");
	settings_site_allows_partition(&site, "batch");
	if (site.dir_pattern[0])
		fuzz_expand(site.dir_pattern);
	free(text);
	return 0;
}
