/* t_threads.c - 8 worker threads in lock-step rounds (mutex, condition
 * variables, thread-local counters, nanosleep), plus a thread blocked in
 * read() on a pipe that the main thread feeds every few rounds. All threads
 * are joined at the end, which after a restart exercises the tid fields the
 * restorer set. Only the main thread prints; exit 0 only if every check
 * passes. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define NWORKERS 8
#define ROUNDS	 40

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t round_cv = PTHREAD_COND_INITIALIZER; /* main -> workers */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;  /* workers -> main */
static int round_no = -1;				   /* round the workers may run */
static int done_count;					   /* workers finished with round_no */
static uint64_t total;					   /* sum of every contribution */
static __thread uint64_t my_rounds;			   /* per-thread round count */
static __thread uint64_t my_acc;			   /* per-thread accumulator */
static int pipefd[2];
static uint64_t results[NWORKERS]; /* each worker's final accumulator, 0 on failure */
static uint64_t reader_sum;	   /* bytes' values the reader got */

static uint64_t work(uint64_t x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 2862933555777941757ull + 3037000493ull;
	return x;
}

static void *worker(void *arg)
{
	int id = *(const int *)arg;
	struct timespec ts = { 0, 1000000 };

	my_acc = (uint64_t)id + 1;
	for (int r = 0; r < ROUNDS; r++) {
		pthread_mutex_lock(&lock);
		while (round_no < r)
			pthread_cond_wait(&round_cv, &lock);
		pthread_mutex_unlock(&lock);

		my_acc = work(my_acc ^ (uint64_t)r, 5000000);
		nanosleep(&ts, NULL);
		my_rounds++;

		pthread_mutex_lock(&lock);
		total += my_acc;
		done_count++;
		pthread_cond_signal(&done_cv);
		pthread_mutex_unlock(&lock);
	}
	results[id] = my_rounds == ROUNDS ? my_acc : 0;
	return NULL;
}

static void *reader(void *arg)
{
	uint64_t n = 0;
	char c;

	(void)arg;
	while (read(pipefd[0], &c, 1) == 1)
		n += (unsigned char)c;
	reader_sum = n;
	return NULL;
}

int main(void)
{
	static int ids[NWORKERS];
	pthread_t th[NWORKERS];
	pthread_t rd;
	uint64_t fed = 0;

	if (pipe(pipefd) < 0)
		return 2;
	pthread_create(&rd, NULL, reader, NULL);
	for (int i = 0; i < NWORKERS; i++) {
		ids[i] = i;
		pthread_create(&th[i], NULL, worker, &ids[i]);
	}
	for (int r = 0; r < ROUNDS; r++) {
		pthread_mutex_lock(&lock);
		done_count = 0;
		round_no = r;
		pthread_cond_broadcast(&round_cv);
		while (done_count < NWORKERS)
			pthread_cond_wait(&done_cv, &lock);
		printf("round %d total %016llx\n", r, (unsigned long long)total);
		fflush(stdout);
		pthread_mutex_unlock(&lock);
		if (r % 5 == 4) {
			char c = (char)(r + 1);

			if (write(pipefd[1], &c, 1) != 1)
				return 3;
			fed += (uint64_t)(r + 1);
		}
	}
	uint64_t check = 0;

	for (int i = 0; i < NWORKERS; i++) {
		pthread_join(th[i], NULL);
		if (!results[i])
			return 4;
		check ^= results[i];
	}
	close(pipefd[1]);
	pthread_join(rd, NULL);
	if (reader_sum != fed)
		return 5;
	end_gate();
	printf("done total %016llx check %016llx fed %llu\n", (unsigned long long)total,
	       (unsigned long long)check, (unsigned long long)fed);
	return 0;
}
