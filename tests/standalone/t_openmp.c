/* t_openmp.c - an OpenMP program (libgomp) through checkpoint/restart: per
 * step a parallel loop with a reduction, a parallel region whose threads
 * keep threadprivate counters, and tasks, then a pause in which the pool's
 * threads are idle. OMP_WAIT_POLICY (set by the test: active or passive)
 * decides whether idle threads spin or sleep in futex, the two states a
 * checkpoint finds them in. Every step checks the team size, each
 * thread's counter and the results against values computed serially, and
 * prints one line; exit 0 only if every check passed. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "end_gate.h"

#define NTHREADS 4
#define STEPS	 40
#define N	 (1 << 18)

static uint64_t step_count; /* steps each thread of the team ran */
#pragma omp threadprivate(step_count)

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static uint64_t serial_sum(int step)
{
	uint64_t s = 0;

	for (long i = 0; i < N; i++)
		s += mix((uint64_t)i * 31u + (uint64_t)step);
	return s;
}

static uint64_t parallel_sum(int step)
{
	uint64_t s = 0;

#pragma omp parallel for reduction(+ : s) schedule(static)
	for (long i = 0; i < N; i++)
		s += mix((uint64_t)i * 31u + (uint64_t)step);
	return s;
}

/* Each thread counts its steps; all must have seen @step + 1 of them. */
static int team_counts_ok(int step)
{
	int bad = 0;
	int size = 0;

#pragma omp parallel reduction(+ : bad) reduction(max : size)
	{
		step_count++;
		bad += step_count != (uint64_t)step + 1;
		size = omp_get_num_threads();
	}
	return !bad && size == NTHREADS;
}

/* A task tree: fib(@n) with a task per call above a cut-off. */
static uint64_t fib(int n)
{
	uint64_t a;
	uint64_t b;

	if (n < 2)
		return (uint64_t)n;
	if (n < 15)
		return fib(n - 1) + fib(n - 2);
#pragma omp task shared(a)
	a = fib(n - 1);
#pragma omp task shared(b)
	b = fib(n - 2);
#pragma omp taskwait
	return a + b;
}

static uint64_t task_fib(int n)
{
	uint64_t r = 0;

#pragma omp parallel
#pragma omp single
	r = fib(n);
	return r;
}

int main(void)
{
	struct timespec idle = { 0, 20000000 };
	const uint64_t fib24 = 46368;

	omp_set_dynamic(0);
	omp_set_num_threads(NTHREADS);
	for (int step = 0; step < STEPS; step++) {
		uint64_t got = parallel_sum(step);
		uint64_t want = serial_sum(step);
		uint64_t f = task_fib(24);
		int team_ok = team_counts_ok(step);

		if (got != want || f != fib24 || !team_ok) {
			printf("FAIL step %d: sum %llu (want %llu), fib %llu, team counts %s\n",
			       step, (unsigned long long)got, (unsigned long long)want,
			       (unsigned long long)f, team_ok ? "ok" : "wrong");
			return 1;
		}
		if (step == STEPS - 1)
			end_gate();
		printf("step %d: %016llx\n", step, (unsigned long long)got);
		fflush(stdout);
		nanosleep(&idle, NULL); /* the pool idles: spinning or asleep */
	}
	return 0;
}
