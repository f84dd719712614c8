/* paths.c - directories the plugin creates for the job user. */
#include <errno.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

#define LOG_PREFIX "--checkpoint: "
#include "log.h"

int plugin_dir_expand(uint32_t jobid, char *out, size_t len)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *pattern = plugin_job.dir[0] ? plugin_job.dir : plugin_site.dir_pattern;
	int rc;

	if (!pw) {
		log_err("cannot look up user %u", (unsigned)getuid());
		return -1;
	}
	rc = settings_expand_dir(pattern, pw->pw_name, pw->pw_dir, jobid, out, len);
	if (rc) {
		log_err("checkpoint directory '%s': %s", pattern,
			rc == -EINVAL ? "unknown %-sequence (use %u, %h, %j, %%)"
				      : "path too long");
		return -1;
	}
	return 0;
}
