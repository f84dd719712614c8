/* The coordinator's options (agent_coord_args(), agent_dir.h): the plugin
 * starts it with them and the coordinator records the same list for its
 * restart, so both must give every option set, in one order. */
#include "agent_dir.h"

#include <criterion/criterion.h>
#include <stdio.h>

/* @argv joined with spaces. */
static const char *joined(const char *const *argv)
{
	static char buf[512];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; argv[i] && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? " " : "",
					argv[i]);
	return buf;
}

Test(coord_args, every_option)
{
	const struct agent_coord_opts o = { .job_id = 4294967295u,
					    .margin_s = 120,
					    .keep = 3,
					    .level = 19,
					    .interval_s = 600,
					    .port_lo = 60000,
					    .port_hi = 60100,
					    .phase_timeout_s = 86400 };
	struct agent_coord_argv a;
	const char *const *argv = agent_coord_args(&o, &a);
	size_t n = 0;

	while (argv[n])
		n++;
	cr_assert_eq(n, AGENT_COORD_ARGS_MAX, "all %d arguments", AGENT_COORD_ARGS_MAX);
	cr_assert_str_eq(joined(argv),
			 "--job 4294967295 --margin 120 --keep 3 --level 19 --interval 600 "
			 "--port 60000-60100 --phase-timeout 86400");
}

/* Unset options are left out (the agent's defaults apply), and a site's
 * phase timeout is never dropped: a coordinator started again without it
 * would bound its checkpoints differently. */
Test(coord_args, unset_left_out)
{
	struct agent_coord_opts o = { .job_id = 7, .margin_s = 0, .interval_s = -1 };
	struct agent_coord_argv a;

	cr_assert_str_eq(joined(agent_coord_args(&o, &a)), "--job 7 --margin 0");
	o.phase_timeout_s = 20;
	o.interval_s = 0;
	cr_assert_str_eq(joined(agent_coord_args(&o, &a)),
			 "--job 7 --margin 0 --interval 0 --phase-timeout 20");
}
