/* end_gate.h - lets run_cycles.sh hold a test program at its end.
 *
 * A cycle run must be checkpointed after it made progress, however slow the
 * machine or the checkpoints in between: on a loaded machine a program could
 * otherwise reach its end before its final checkpoint and the cycle would be
 * lost. With CKPT_TEST_END_GATE=PATH in its environment, the program waits
 * before its last line until PATH exists; the harness creates PATH only for
 * the run that is meant to end. Without the variable it does nothing. */
#ifndef CKPT_TEST_END_GATE_H
#define CKPT_TEST_END_GATE_H

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static inline void end_gate(void)
{
	const char *path = getenv("CKPT_TEST_END_GATE");
	struct timespec poll_interval = { 0, 5000000 };

	if (!path)
		return;
	while (access(path, F_OK) != 0)
		nanosleep(&poll_interval, NULL);
}

#endif
