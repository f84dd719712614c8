/* t_sigmask.c - an application that blocks every signal in every thread,
 * installs its own handler for every real-time signal, and sleeps with
 * nanosleep()/clock_nanosleep() without retrying on EINTR: checkpoints must
 * work regardless and stay invisible (no EINTR from a sleep, the handler the
 * application installed is the one it reads back). Exit 0 only if all
 * checks pass. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "end_gate.h"

#define STEPS 40

static volatile int sleeper_fail;
static volatile int stop;

static void handler(int sig)
{
	(void)sig;
}

static void *sleeper(void *arg)
{
	struct timespec ts = { 0, 3 * 1000 * 1000 };
	long n = 0;

	(void)arg;
	while (!stop) {
		int r = (n & 1) ? clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL)
				: nanosleep(&ts, NULL);

		if (r != 0)
			sleeper_fail = 1;
		n++;
	}
	return NULL;
}

static uint64_t work(uint64_t x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1;
	return x;
}

int main(void)
{
	struct sigaction sa;
	struct sigaction old;
	sigset_t all;
	pthread_t th;
	uint64_t acc = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigfillset(&sa.sa_mask);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++) {
		if (sigaction(s, &sa, NULL) < 0)
			return 2;
		if (sigaction(s, NULL, &old) < 0 || old.sa_handler != handler)
			return 3;
	}
	sigfillset(&all);
	if (pthread_sigmask(SIG_BLOCK, &all, NULL))
		return 4;
	if (pthread_create(&th, NULL, sleeper, NULL))
		return 5;
	for (int s = 0; s < STEPS; s++) {
		acc = work(acc, 12000000);
		printf("step %d acc %016llx\n", s, (unsigned long long)acc);
		fflush(stdout);
	}
	stop = 1;
	pthread_join(th, NULL);
	if (sleeper_fail)
		return 6;
	end_gate();
	printf("done\n");
	return 0;
}
