/* t_memory.c - unusual memory: a 4 GiB MAP_NORESERVE reservation with a few
 * touched pages (the image must stay small), PROT_NONE guard pages between
 * data, a read-only area, an area grown and moved with mremap(), shared
 * anonymous memory, and main-stack growth after a restart (a growsdown
 * stack). Every step checks every area; exit 0 only if all checks pass. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "end_gate.h"

#define PG	4096ul
#define RESERVE (4ul << 30)
#define STEPS	40

static uint8_t *reserve; /* 4 GiB PROT_NONE reservation */
static uint8_t *guarded; /* rw | none | rw */
static uint8_t *ro;	 /* read-only after filling */
static uint8_t *moved;	 /* grown with mremap */
static size_t moved_len;
static uint8_t *shared; /* MAP_SHARED | MAP_ANONYMOUS */

static uint64_t work(uint64_t x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1;
	return x;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static int check(const uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			return -1;
	return 0;
}

/* Uses about @kb KiB of main stack, below anything used so far. */
static uint64_t deep(int kb)
{
	volatile uint8_t buf[1024];

	for (int i = 0; i < 1024; i++)
		buf[i] = (uint8_t)(kb + i);
	if (kb <= 1)
		return buf[5];
	return deep(kb - 1) + buf[kb % 1024];
}

int main(void)
{
	uint64_t acc = 1;

	reserve =
		mmap(NULL, RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	guarded = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	moved = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (reserve == MAP_FAILED || guarded == MAP_FAILED || ro == MAP_FAILED ||
	    moved == MAP_FAILED || shared == MAP_FAILED)
		return 2;
	/* A few pages inside the reservation, far apart. */
	for (int k = 0; k < 4; k++) {
		uint8_t *p = reserve + (size_t)k * (1ul << 30) + 12345 * PG;

		if (mprotect(p, 2 * PG, PROT_READ | PROT_WRITE) < 0)
			return 2;
		fill(p, 2 * PG, (uint8_t)k);
	}
	fill(guarded, PG, 1);
	fill(guarded + 2 * PG, PG, 2);
	mprotect(guarded + PG, PG, PROT_NONE);
	fill(ro, 4 * PG, 3);
	mprotect(ro, 4 * PG, PROT_READ);
	fill(moved, 16 * PG, 4);
	moved_len = 16 * PG;
	fill(shared, 8 * PG, 5);

	for (int s = 0; s < STEPS; s++) {
		for (int k = 0; k < 4; k++)
			if (check(reserve + (size_t)k * (1ul << 30) + 12345 * PG, 2 * PG,
				  (uint8_t)k))
				return 10 + k;
		if (check(guarded, PG, 1) || check(guarded + 2 * PG, PG, 2))
			return 20;
		if (check(ro, 4 * PG, 3))
			return 21;
		if (check(moved, 16 * PG, 4))
			return 22;
		if (check(shared, 8 * PG, (uint8_t)(5 + s)))
			return 23;
		fill(shared, 8 * PG, (uint8_t)(6 + s));
		if (s == STEPS / 2) {
			/* Grow and move it: the old address must become free. */
			uint8_t *n = mremap(moved, moved_len, 64 * PG, MREMAP_MAYMOVE);

			if (n == MAP_FAILED)
				return 24;
			moved = n;
			moved_len = 64 * PG;
			fill(moved + 16 * PG, 48 * PG, 9);
		}
		if (s > STEPS / 2 && check(moved + 16 * PG, 48 * PG, 9))
			return 25;
		/* 2 MiB of stack: more than the stack had when it was saved. */
		acc = work(acc ^ deep(2048), 12000000);
		printf("step %d acc %016llx\n", s, (unsigned long long)acc);
		fflush(stdout);
	}
	end_gate();
	printf("done acc %016llx\n", (unsigned long long)acc);
	return 0;
}
