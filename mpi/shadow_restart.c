/* shadow_restart.c - the shadow library's checkpoint interface version, the
 * restart sequence of an MPI rank (shadow_ckpt.h), and the facts libckpt
 * asks about the lower half's environment. */
#include "shadow.h"
#include "lh_regions.h"
#include "shadow_ckpt.h"
#include "shadow_real.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHADOW_EXPORT __attribute__((visibility("default")))

/* Whether the application had MPI initialised and not finalised at the
 * last checkpoint: in a restored process this is the saved value, read
 * before the lower half (which could say) exists again. */
static bool shadow_restart_mpi_active;

SHADOW_EXPORT int shadow_ckpt_api(void)
{
	return SHADOW_CKPT_API;
}

SHADOW_EXPORT void shadow_ckpt_note_state(void)
{
	shadow_restart_mpi_active = shadow_lower_mpi_active();
}

/* The value of @name in the environment the lower half's libc sees. */
static const char *shadow_lh_getenv(const char *name)
{
	char ***lh_environ = shadow_lh_sym("__environ");
	size_t n = strlen(name);

	if (!lh_environ || !*lh_environ)
		return getenv(name);
	for (char **e = *lh_environ; *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Slurm's PMI socket the lower half talks through (PMI_FD), or -1. */
SHADOW_EXPORT int shadow_ckpt_pmi_fd(void)
{
	const char *v = shadow_lh_getenv("PMI_FD");
	char *end;
	long fd;

	if (!v)
		return -1;
	fd = strtol(v, &end, 10);
	return *end || fd < 0 || fd > 1 << 20 ? -1 : (int)fd;
}

SHADOW_EXPORT int shadow_ckpt_restart(char *const *env, char *why, size_t len)
{
	int provided = 0;
	int ret;

	ret = shadow_lh_restore(env, why, len);
	if (ret < 0)
		return ret;
	if (!shadow_restart_mpi_active)
		return 0;
	ret = shadow_real_MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
	if (ret != MPI_SUCCESS) {
		snprintf(why, len, "MPI_Init_thread of the new lower half failed (error %d)", ret);
		return -EIO;
	}
	ret = shadow_consist_mpi_initialized(true);
	if (ret < 0) {
		snprintf(why, len, "cannot set up the control communicator again: %s",
			 strerror(-ret));
		return ret;
	}
	ret = shadow_replay_all(why, len);
	if (ret < 0)
		return ret;
	return shadow_consist_restart_requests(why, len);
}
