/* env_fresh.c - the environment of a task restored by Slurm (env_fresh.h).
 *
 * A fresh task gets the environment slurmstepd builds for this start of the
 * job: SLURM_JOB_NODELIST, SLURM_RESTART_COUNT, SLURMD_NODENAME, TMPDIR,
 * what TaskProlog exported. A restored process would otherwise keep the
 * values of the start that checkpointed it, which are stale after a requeue
 * (another node list, another restart count). Replacing the environment
 * wholesale would undo the program's own setenv() calls, so the merge keeps
 * every variable the program changed since it started and takes Slurm's
 * value for the others.
 */
#define LOG_PREFIX "libckpt: "
#include "env_fresh.h"

#include "log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

extern char **environ;

/* The environment at start, owned by libckpt; part of the image. */
static char **eng_env_start;

/* Length of the name part of "NAME=value" (the whole string without '='). */
static size_t env_name_len(const char *var)
{
	const char *eq = strchr(var, '=');

	return eq ? (size_t)(eq - var) : strlen(var);
}

/* The entry of @env whose name is @name[0..@len), or NULL. */
static const char *env_lookup(const char *const *env, const char *name, size_t len)
{
	if (!env)
		return NULL;
	for (; *env; env++) {
		if (env_name_len(*env) == len && !memcmp(*env, name, len))
			return *env;
	}
	return NULL;
}

/* Variables libckpt manages itself: the restored process keeps its own. */
static bool env_owned(const char *name, size_t len)
{
	return (len >= 5 && !memcmp(name, "CKPT_", 5)) ||
	       (len == 10 && !memcmp(name, "LD_PRELOAD", 10));
}

/* The same string or both absent. */
static bool env_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

size_t eng_env_merge(const char *const *start, const char *const *now, const char *const *fresh,
		     const char **out, size_t cap)
{
	size_t n = 0;

	for (const char *const *v = now; v && *v; v++) {
		size_t len = env_name_len(*v);
		const char *pick = *v;

		if (!env_owned(*v, len) && env_same(env_lookup(start, *v, len), *v))
			pick = env_lookup(fresh, *v, len); /* untouched by the program */
		if (!pick)
			continue;
		if (n + 1 < cap)
			out[n] = pick;
		n++;
	}
	for (const char *const *v = fresh; v && *v; v++) {
		size_t len = env_name_len(*v);

		/* In @now it was decided above; in @start only, the program
		 * removed it. */
		if (env_owned(*v, len) || env_lookup(now, *v, len) || env_lookup(start, *v, len))
			continue;
		if (n + 1 < cap)
			out[n] = *v;
		n++;
	}
	if (n < cap)
		out[n] = NULL;
	return n;
}

char **eng_env_from_record(const void *rec, size_t len)
{
	const char *s = rec;
	size_t count = 0;
	size_t size;
	char *copy;
	char **env;

	for (size_t i = 0; i < len; i++)
		count += s[i] == '\0';
	size = (count + 1) * sizeof(char *) + len;
	/* mmap, not malloc: a stopped thread may hold malloc's lock. */
	env = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (env == MAP_FAILED)
		return NULL;
	copy = (char *)(env + count + 1);
	memcpy(copy, rec, len);
	count = 0;
	for (size_t i = 0; i < len; i += strlen(copy + i) + 1)
		env[count++] = copy + i;
	env[count] = NULL;
	return env;
}

void eng_env_start_save(void)
{
	size_t count = 0;
	size_t bytes = 0;
	char **copy;
	char *p;

	for (char **e = environ; e && *e; e++) {
		count++;
		bytes += strlen(*e) + 1;
	}
	copy = malloc((count + 1) * sizeof(*copy) + bytes);
	if (!copy) {
		log_warn("cannot keep the start environment (out of memory): a restore by Slurm "
			 "will keep the saved environment unchanged");
		return;
	}
	p = (char *)(copy + count + 1);
	for (size_t i = 0; i < count; i++) {
		size_t n = strlen(environ[i]) + 1;

		memcpy(p, environ[i], n);
		copy[i] = p;
		p += n;
	}
	copy[count] = NULL;
	eng_env_start = copy;
}

void eng_env_refresh(char **fresh)
{
	const char *const *now = (const char *const *)environ;
	size_t n;
	const char **merged;

	if (!eng_env_start || !fresh)
		return;
	n = eng_env_merge((const char *const *)eng_env_start, now, (const char *const *)fresh, NULL,
			  0);
	/* Never unmapped: environ points into it for the rest of the run. */
	merged = mmap(NULL, (n + 1) * sizeof(*merged), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (merged == MAP_FAILED) {
		log_warn("cannot map the restarting step's environment: the saved one stays");
		return;
	}
	eng_env_merge((const char *const *)eng_env_start, now, (const char *const *)fresh, merged,
		      n + 1);
	environ = (char **)merged;
	/* What Slurm gave this start is the baseline for the next restore: a
	 * later restart must again tell the program's own changes from
	 * Slurm's. */
	eng_env_start = fresh;
}
