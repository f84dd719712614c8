/* t_nostderr.c - an application that closes its standard error (as daemons
 * and some batch wrappers do) and still writes diagnostics to it, which
 * must keep failing with EBADF: a descriptor of the engine (its agent
 * connection, opened again after every restore) must never take the number
 * the application closed, or the application's writes would land in it.
 * Exit 0 only if fd 2 stayed closed at every step. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 40

static uint64_t work(uint64_t x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1;
	return x;
}

int main(void)
{
	uint64_t acc = 1;

	if (close(STDERR_FILENO) < 0)
		return 2;
	for (int s = 0; s < STEPS; s++) {
		acc = work(acc, 12000000);
		/* What a program that closed stderr still does: it must fail. */
		if (fprintf(stderr, "diagnostic %d\n", s) >= 0 && fflush(stderr) == 0) {
			printf("FAIL: step %d: a write to the closed stderr succeeded\n", s);
			return 1;
		}
		if (fcntl(STDERR_FILENO, F_GETFD) >= 0 || errno != EBADF) {
			printf("FAIL: step %d: fd 2, closed by the program, is open\n", s);
			return 1;
		}
		printf("step %d acc %016llx\n", s, (unsigned long long)acc);
		fflush(stdout);
	}
	end_gate();
	printf("done acc %016llx\n", (unsigned long long)acc);
	return 0;
}
