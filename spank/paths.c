/* paths.c - directories the plugin creates for the job user. */
#include <errno.h>
#include <sys/stat.h>

#include "plugin.h"

/* Creates @dir and its parents as the submitting user (mode 0700 for new ones). */
int plugin_mkdir_parents(char *dir)
{
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(dir, 0700);
		*p = '/';
		if (rc && errno != EEXIST)
			return -errno;
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}
