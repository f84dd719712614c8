/* fuzz_addr.c - agent_addr_read() (nodeagent/agent_addr.c) on arbitrary
 * coord.json contents: the file lies in a directory every node of the job
 * shares, so a record it accepts must hold in-range values and terminated
 * strings. */
#include "fuzz_target.h"

#include "agent_addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A record the reader must accept: if the harness hands it over in a way
 * the reader refuses before parsing (a symbolic link, say), every input is
 * rejected and neither fuzzing nor the corpus replay tests the parser. */
static const char fuzz_addr_valid[] = "{\"job\":1234,\"host\":\"cn1\",\"port\":20001,"
				      "\"dir\":\"/scratch/alice/ckpt/1234\",\"pid\":4242}";

void fuzz_target_init(void)
{
	struct agent_addr a;

	fuzz_log_quiet();
	if (agent_addr_read(fuzz_file_put((const uint8_t *)fuzz_addr_valid,
					  sizeof(fuzz_addr_valid) - 1),
			    &a)) {
		fprintf(stderr, "fuzz-addr: the harness's valid record is refused: %s\n",
			agent_addr_why());
		abort();
	}
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
