/* t_dlopen.c - calls into a dlopen()ed library, and dlopen()s a second one
 * halfway (after any restart: the dynamic linker's state must be intact),
 * then dlclose()s the first. Exit 0 only if all checks pass.
 * Usage: t_dlopen PLUGIN1.so PLUGIN2.so */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

#include "end_gate.h"

#define STEPS 40

typedef uint64_t (*step_fn)(uint64_t);
typedef uint64_t (*count_fn)(void);

static uint64_t work(uint64_t x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1;
	return x;
}

int main(int argc, char **argv)
{
	void *h1;
	void *h2 = NULL;
	step_fn s1;
	step_fn s2 = NULL;
	uint64_t acc = 1;

	if (argc != 3)
		return 2;
	h1 = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h1)
		return 3;
	*(void **)&s1 = dlsym(h1, "plugin_step");
	if (!s1)
		return 4;
	for (int s = 0; s < STEPS; s++) {
		acc = work(s1(acc), 10000000);
		if (s == STEPS / 2) {
			h2 = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
			if (!h2)
				return 5;
			*(void **)&s2 = dlsym(h2, "plugin_step");
			if (!s2)
				return 6;
		}
		if (s2)
			acc ^= s2(acc);
		printf("step %d acc %016llx\n", s, (unsigned long long)acc);
		fflush(stdout);
	}
	count_fn c1;

	*(void **)&c1 = dlsym(h1, "plugin_calls_count");

	if (!c1 || c1() != STEPS)
		return 7;
	if (dlclose(h1) || dlclose(h2))
		return 8;
	end_gate();
	printf("done acc %016llx\n", (unsigned long long)acc);
	return 0;
}
