/* fuzz_addr.c - agent_addr_read() (nodeagent/agent_addr.c) on arbitrary
 * coord.json contents: the file lies in a directory every node of the job
 * shares, so a record it accepts must hold in-range values and terminated
 * strings. */
#include "fuzz_target.h"

#include "agent_addr.h"

#include <stdlib.h>
#include <string.h>

void fuzz_target_init(void)
{
	fuzz_log_quiet();
}

int fuzz_target_one(const uint8_t *data, size_t size)
{
	struct agent_addr a;

	memset(&a, 0x5a, sizeof(a));
	if (agent_addr_read(fuzz_file_put(data, size), &a))
		return 0;
	if (a.job < 1 || a.port < 1 || a.port > 65535 || a.pid < 1 ||
	    !memchr(a.host, '\0', sizeof(a.host)) || !memchr(a.dir, '\0', sizeof(a.dir)))
		abort();
	return 0;
}
