/* t_churn.c - threads come and go all the time: 16 long-lived workers plus,
 * every step, a batch of short-lived joinable and detached threads, so that
 * checkpoints land while threads are being created and are exiting. Exit 0
 * only if every thread's result is as expected. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "end_gate.h"

#define LONG_LIVED 16
#define STEPS	   60
#define BATCH	   6

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t detached_sum; /* added to by detached threads */
static int detached_done;     /* how many finished */
static pthread_cond_t detached_cv = PTHREAD_COND_INITIALIZER;
static volatile int stop;

static uint64_t work(uint64_t x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

/* Input and result of one thread. */
struct job {
	uint64_t in;  /* seed */
	uint64_t out; /* result */
};

static void *long_lived(void *arg)
{
	struct job *j = arg;
	uint64_t x = j->in;
	uint64_t n = 0;

	while (!stop) {
		x = work(x, 10000);
		n++;
	}
	j->out = n > 0;
	return NULL;
}

static void *short_lived(void *arg)
{
	struct job *j = arg;

	j->out = work(j->in, 50000);
	return NULL;
}

static void *detached(void *arg)
{
	const struct job *j = arg;
	uint64_t v = work(j->in, 30000);

	pthread_mutex_lock(&lock);
	detached_sum += v;
	detached_done++;
	pthread_cond_signal(&detached_cv);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	static struct job ll_jobs[LONG_LIVED];
	static struct job sl_jobs[BATCH];
	/* Reused each step: main waits for every detached thread of a step. */
	static struct job d_jobs[BATCH];
	pthread_t ll[LONG_LIVED];
	pthread_attr_t da;
	uint64_t acc = 0;

	pthread_attr_init(&da);
	pthread_attr_setdetachstate(&da, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < LONG_LIVED; i++) {
		ll_jobs[i].in = (uint64_t)i + 1;
		if (pthread_create(&ll[i], NULL, long_lived, &ll_jobs[i]))
			return 2;
	}
	for (int s = 0; s < STEPS; s++) {
		pthread_t sl[BATCH];

		for (int i = 0; i < BATCH; i++) {
			pthread_t d;

			sl_jobs[i].in = (uint64_t)s * 100 + (uint64_t)i;
			d_jobs[i].in = sl_jobs[i].in + 7;
			if (pthread_create(&sl[i], NULL, short_lived, &sl_jobs[i]))
				return 3;
			if (pthread_create(&d, &da, detached, &d_jobs[i]))
				return 4;
		}
		for (int i = 0; i < BATCH; i++) {
			pthread_join(sl[i], NULL);
			acc ^= sl_jobs[i].out;
		}
		pthread_mutex_lock(&lock);
		while (detached_done < (s + 1) * BATCH)
			pthread_cond_wait(&detached_cv, &lock);
		printf("step %d acc %016llx detached %016llx\n", s, (unsigned long long)acc,
		       (unsigned long long)detached_sum);
		fflush(stdout);
		pthread_mutex_unlock(&lock);
		acc = work(acc, 3000000);
	}
	stop = 1;
	for (int i = 0; i < LONG_LIVED; i++) {
		pthread_join(ll[i], NULL);
		if (!ll_jobs[i].out)
			return 5;
	}
	end_gate();
	printf("done\n");
	return 0;
}
