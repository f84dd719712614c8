/* t_fortran_c.c - what t_fortran.f90 calls through bind(c): end_gate()
 * (end_gate.h) and a pause in milliseconds. */
#include <time.h>

#include "end_gate.h"

void end_gate_c(void);
void pause_ms_c(int ms);

void end_gate_c(void)
{
	end_gate();
}

void pause_ms_c(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}
