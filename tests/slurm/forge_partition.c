/* forge_partition.c - LD_PRELOAD shim for srun that sets the step's
 * SLURM_JOB_PARTITION to $FORGE_PARTITION: a user needs nothing more to
 * make the job environment lie about the partition (slurm-dir-partition). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*setenv_fn)(const char *, const char *, int);
typedef int (*putenv_fn)(char *);

int setenv(const char *name, const char *value, int overwrite)
{
	setenv_fn real = (setenv_fn)dlsym(RTLD_NEXT, "setenv");
	const char *forged = getenv("FORGE_PARTITION");

	if (forged && !strcmp(name, "SLURM_JOB_PARTITION"))
		value = forged;
	return real(name, value, overwrite);
}

int putenv(char *s)
{
	static const char prefix[] = "SLURM_JOB_PARTITION=";
	static char buf[256];
	putenv_fn real = (putenv_fn)dlsym(RTLD_NEXT, "putenv");
	const char *forged = getenv("FORGE_PARTITION");

	if (forged && !strncmp(s, prefix, sizeof(prefix) - 1) &&
	    snprintf(buf, sizeof(buf), "%s%s", prefix, forged) < (int)sizeof(buf))
		s = buf;
	return real(s);
}
