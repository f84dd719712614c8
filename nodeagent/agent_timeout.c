/* agent_timeout.c - the derived WRITE phase bound (agent_timeout.h). */
#include "agent_timeout.h"

uint64_t agent_timeout_bandwidth(uint64_t bytes, int64_t ms)
{
	if (!bytes || ms <= 0)
		return 0;
	/* bytes * 1000 would overflow above 16 PiB: divide first there. */
	if (bytes > UINT64_MAX / 1000)
		return bytes / (uint64_t)ms * 1000;
	uint64_t bps = bytes * 1000 / (uint64_t)ms;

	return bps ? bps : 1;
}

int agent_timeout_write_s(uint64_t bytes, uint64_t bytes_per_s, int floor_s, int cap_s)
{
	uint64_t cap = (uint64_t)(cap_s > floor_s ? cap_s : floor_s);
	uint64_t expect;
	uint64_t s;

	if (!bytes_per_s)
		return floor_s;
	expect = bytes / bytes_per_s + (bytes % bytes_per_s != 0);
	/* Saturate instead of overflowing: anything this large hits the cap. */
	if (expect > cap)
		return (int)cap;
	s = expect * AGENT_WRITE_TIMEOUT_FACTOR + AGENT_WRITE_TIMEOUT_SLACK;
	if (s > cap)
		s = cap;
	return s < (uint64_t)floor_s ? floor_s : (int)s;
}
