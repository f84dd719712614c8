/* settings.h - the job's checkpoint options and the site's settings, parsed
 * strictly from text. Pure functions: included by spank/ and its unit tests.
 */
#ifndef CKPT_SPANK_SETTINGS_H
#define CKPT_SPANK_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest checkpoint directory or pattern; PATH_MAX less room for job/gen names. */
#define SETTINGS_DIR_MAX 3072
/* Most user or partition names a site may list in allow_users/allow_partitions. */
#define SETTINGS_LIST_MAX 64
/* Longest user or partition name we keep. */
#define SETTINGS_NAME_MAX 64

enum ckpt_mode {
	CKPT_MODE_UNSET = 0,
	CKPT_MODE_OFF,
	CKPT_MODE_AUTO,
};

/* What one job asked for with --checkpoint*. */
struct job_settings {
	/* --checkpoint=auto|off; UNSET when the option was not given. */
	enum ckpt_mode mode;
	/* --checkpoint-interval in seconds; 0 = no periodic checkpoints. */
	uint64_t interval_s;
	/* --checkpoint-dir; empty = the site's pattern. */
	char dir[SETTINGS_DIR_MAX];
	/* --checkpoint-keep: committed generations kept; 0 = the site's default. */
	unsigned keep;
};

/* What the site set as arguments on the plugstack.conf line. */
struct site_settings {
	/* Checkpoint directory pattern; %u user, %j job id, %h home (see expand). */
	char dir_pattern[SETTINGS_DIR_MAX];
	/* Committed generations kept per job unless the job says otherwise. */
	unsigned keep;
	/* zstd level for images, 0 = store raw. */
	int compress_level;
	/* Safety margin before the walltime end, until a measured one exists. */
	uint64_t margin_s;
	/* TCP ports a job's coordinator may listen on; 0-0 = any free one. */
	unsigned port_lo;
	unsigned port_hi;
	/* Bound on each checkpoint phase (PREPARE, WRITE) in seconds; 0 = the
	 * agent's default: 600 s for PREPARE, WRITE's derived from the job's
	 * last image size and write bandwidth (docs/admins.md). */
	uint64_t phase_timeout_s;
	/* Refuse checkpoints whose images would exceed this many bytes; 0 = no limit. */
	uint64_t max_image_bytes;
	/* When non-empty, only these users may use --checkpoint=auto. */
	char allow_users[SETTINGS_LIST_MAX][SETTINGS_NAME_MAX];
	size_t n_allow_users;
	/* When non-empty, --checkpoint=auto is allowed only in these partitions. */
	char allow_partitions[SETTINGS_LIST_MAX][SETTINGS_NAME_MAX];
	size_t n_allow_partitions;
};

/* Fills @site with the built-in defaults (documented in docs/admins.md). */
void settings_site_defaults(struct site_settings *site);

/*
 * Parses one plugstack.conf argument "key=value" into @site. Returns 0, or
 * -EINVAL with a message naming the argument and what is accepted in @err.
 */
int settings_site_parse_arg(struct site_settings *site, const char *arg, char *err, size_t errlen);

/*
 * Parses the value of one job option (@name without the leading dashes,
 * e.g. "checkpoint-interval") into @job. Giving the same value twice is
 * fine. Returns 0, or -EINVAL with a message in @err.
 */
int settings_job_parse_option(struct job_settings *job, const char *name, const char *value,
			      char *err, size_t errlen);

/*
 * Expands @pattern (%u user, %j job id, %h home, %% a percent sign) into
 * @out. Returns 0, -ENAMETOOLONG, or -EINVAL for an unknown %-sequence.
 */
int settings_expand_dir(const char *pattern, const char *user, const char *home, uint32_t jobid,
			char *out, size_t outlen);

/* Whether @user may use checkpointing under the site's allow_users list. */
bool settings_site_allows_user(const struct site_settings *site, const char *user);
/* Whether jobs in @partition may use checkpointing (allow_partitions). */
bool settings_site_allows_partition(const struct site_settings *site, const char *partition);

#endif
