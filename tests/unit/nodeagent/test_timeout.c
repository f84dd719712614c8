/* test_timeout.c - the derived bound of the WRITE phase (agent_timeout.h). */
#include "agent_timeout.h"

#include <criterion/criterion.h>
#include <stdint.h>

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)

Test(timeout_bandwidth, measured)
{
	cr_assert_eq(agent_timeout_bandwidth(100 * MIB, 1000), 100 * MIB);
	cr_assert_eq(agent_timeout_bandwidth(100 * MIB, 4000), 25 * MIB);
	/* A tiny image written in no time: at least 1 byte/s, never 0. */
	cr_assert_eq(agent_timeout_bandwidth(1, 1000000), 1);
	/* Nothing measured. */
	cr_assert_eq(agent_timeout_bandwidth(0, 1000), 0);
	cr_assert_eq(agent_timeout_bandwidth(100 * MIB, 0), 0);
	cr_assert_eq(agent_timeout_bandwidth(100 * MIB, -5), 0);
	/* No overflow for huge images. */
	cr_assert_eq(agent_timeout_bandwidth(UINT64_MAX, 1000), UINT64_MAX / 1000 * 1000);
}

Test(timeout_write, unknown_bandwidth_is_the_floor)
{
	cr_assert_eq(agent_timeout_write_s(0, 0, 600, 21600), 600);
	cr_assert_eq(agent_timeout_write_s(64 * GIB, 0, 600, 21600), 600);
}

Test(timeout_write, small_or_fast_is_the_floor)
{
	/* 1 GiB at 1 GiB/s: 4 * 1 + 60 = 64 s, below the floor. */
	cr_assert_eq(agent_timeout_write_s(GIB, GIB, 600, 21600), 600);
	/* A floor set lower shows the derived value. */
	cr_assert_eq(agent_timeout_write_s(GIB, GIB, 10, 21600), 64);
}

Test(timeout_write, slow_file_system_gets_more)
{
	/* 100 GiB at 50 MiB/s: 2048 s expected, 4 * 2048 + 60 = 8252 s. */
	cr_assert_eq(agent_timeout_write_s(100 * GIB, 50 * MIB, 600, 21600), 8252);
	/* Rounded up: 1 byte over a whole second is one more second. */
	cr_assert_eq(agent_timeout_write_s(10 * MIB + 1, MIB, 1, 21600), 11 * 4 + 60);
	/* The fixed 600 s would have aborted this one: 8 GiB at 20 MiB/s. */
	cr_assert_gt(agent_timeout_write_s(8 * GIB, 20 * MIB, 600, 21600), 409 * 4);
}

Test(timeout_write, capped)
{
	cr_assert_eq(agent_timeout_write_s(1000 * GIB, MIB, 600, 21600), 21600);
	/* Overflow-proof: the largest sizes at the smallest bandwidth. */
	cr_assert_eq(agent_timeout_write_s(UINT64_MAX, 1, 600, 21600), 21600);
	cr_assert_eq(agent_timeout_write_s(UINT64_MAX / 4, 1, 600, 21600), 21600);
	/* A floor above the cap wins: the site asked for at least that. */
	cr_assert_eq(agent_timeout_write_s(1000 * GIB, MIB, 30000, 21600), 30000);
}
