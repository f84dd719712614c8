/* test_env_merge.c - the three-way merge of a Slurm-restored task's
 * environment (libckpt/env_fresh.c): Slurm's changes between two starts
 * reach the process, the program's own changes survive, libckpt's variables
 * stay, and a second restore still tells the two apart. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "env_fresh.h"

#define MERGE_MAX 32

/* Merges into a static array and returns it (NULL-terminated). */
static const char **merge(const char *const *start, const char *const *now,
			  const char *const *fresh)
{
	static const char *out[MERGE_MAX];
	size_t n = eng_env_merge(start, now, fresh, out, MERGE_MAX);

	cr_assert_lt(n, MERGE_MAX);
	cr_assert_null(out[n]);
	return out;
}

/* The value of @name in @env, or NULL. */
static const char *value(const char **env, const char *name)
{
	size_t len = strlen(name);

	for (; *env; env++)
		if (!strncmp(*env, name, len) && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

static size_t count(const char **env)
{
	size_t n = 0;

	while (env[n])
		n++;
	return n;
}

Test(env_merge, slurm_changes_reach_an_untouched_variable)
{
	const char *start[] = { "SLURM_RESTART_COUNT=0", "SLURMD_NODENAME=cn1", "HOME=/h", NULL };
	const char *now[] = { "SLURM_RESTART_COUNT=0", "SLURMD_NODENAME=cn1", "HOME=/h", NULL };
	const char *fresh[] = { "SLURM_RESTART_COUNT=1", "SLURMD_NODENAME=cn2", "HOME=/h", NULL };
	const char **out = merge(start, now, fresh);

	cr_assert_str_eq(value(out, "SLURM_RESTART_COUNT"), "1");
	cr_assert_str_eq(value(out, "SLURMD_NODENAME"), "cn2");
	cr_assert_str_eq(value(out, "HOME"), "/h");
	cr_assert_eq(count(out), 3);
}

Test(env_merge, program_changes_win)
{
	const char *start[] = { "OMP_NUM_THREADS=8", "GONE=1", NULL };
	const char *now[] = { "OMP_NUM_THREADS=2", "MINE=yes", NULL };
	const char *fresh[] = { "OMP_NUM_THREADS=16", "GONE=2", "MINE=slurm", NULL };
	const char **out = merge(start, now, fresh);

	cr_assert_str_eq(value(out, "OMP_NUM_THREADS"), "2", "set by the program");
	cr_assert_str_eq(value(out, "MINE"), "yes", "added by the program");
	cr_assert_null(value(out, "GONE"), "unset by the program");
	cr_assert_eq(count(out), 2);
}

Test(env_merge, slurm_adds_and_removes)
{
	const char *start[] = { "OLD_PROLOG=1", "KEEP=k", NULL };
	const char *now[] = { "OLD_PROLOG=1", "KEEP=k", NULL };
	const char *fresh[] = { "KEEP=k", "TMPDIR=/tmp/job9", "PROLOG_VAR=x", NULL };
	const char **out = merge(start, now, fresh);

	cr_assert_null(value(out, "OLD_PROLOG"), "no longer given by this start");
	cr_assert_str_eq(value(out, "TMPDIR"), "/tmp/job9");
	cr_assert_str_eq(value(out, "PROLOG_VAR"), "x");
	cr_assert_eq(count(out), 3);
}

Test(env_merge, libckpt_variables_stay)
{
	const char *start[] = { "CKPT_AGENT_SOCKET=/a", "LD_PRELOAD=/l/libckpt.so", NULL };
	const char *now[] = { "CKPT_AGENT_SOCKET=/a", "LD_PRELOAD=/l/libckpt.so", NULL };
	const char *fresh[] = { "CKPT_RESTORE_X=1", NULL };
	const char **out = merge(start, now, fresh);

	cr_assert_str_eq(value(out, "CKPT_AGENT_SOCKET"), "/a");
	cr_assert_str_eq(value(out, "LD_PRELOAD"), "/l/libckpt.so");
	cr_assert_null(value(out, "CKPT_RESTORE_X"));
	cr_assert_eq(count(out), 2);
}

Test(env_merge, a_variable_without_value_is_named_by_its_whole_string)
{
	const char *start[] = { "ODD", NULL };
	const char *now[] = { "ODD", NULL };
	const char *fresh[] = { "ODD=now", NULL };
	const char **out = merge(start, now, fresh);

	cr_assert_str_eq(value(out, "ODD"), "now");
}

Test(env_merge, too_small_output_reports_the_size_needed)
{
	const char *now[] = { "A=1", "B=2", "C=3", NULL };
	const char *out[2];

	cr_assert_eq(eng_env_merge(now, now, now, out, 2), 3);
	cr_assert_eq(eng_env_merge(now, now, now, NULL, 0), 3);
}

/* Through the process's real environ, twice, as two requeues would: the
 * second restore must still see the program's change of the first run and
 * take Slurm's new value. */
Test(env_merge, refresh_twice)
{
	char *fresh1[] = { "SLURM_RESTART_COUNT=1", "OMP_NUM_THREADS=8", NULL };
	char *fresh2[] = { "SLURM_RESTART_COUNT=2", "OMP_NUM_THREADS=8", NULL };

	clearenv();
	setenv("SLURM_RESTART_COUNT", "0", 1);
	setenv("OMP_NUM_THREADS", "8", 1);
	eng_env_start_save();
	setenv("OMP_NUM_THREADS", "3", 1); /* the program's own change */
	eng_env_refresh(fresh1);
	cr_assert_str_eq(getenv("SLURM_RESTART_COUNT"), "1");
	cr_assert_str_eq(getenv("OMP_NUM_THREADS"), "3");
	eng_env_refresh(fresh2);
	cr_assert_str_eq(getenv("SLURM_RESTART_COUNT"), "2");
	cr_assert_str_eq(getenv("OMP_NUM_THREADS"), "3");
	setenv("LATER", "1", 1); /* glibc still manages the merged environ */
	cr_assert_str_eq(getenv("LATER"), "1");
}
