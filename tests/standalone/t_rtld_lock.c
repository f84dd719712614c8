/* t_rtld_lock.c - a thread stopped by a checkpoint while it holds one of
 * ld.so's recursive locks (here dl_load_write_lock, held by dl_iterate_phdr()
 * around its callback; pthread_create() holds dl_load_tls_lock the same way).
 *
 *   t_rtld_lock [--hold]
 *
 * main calls dl_iterate_phdr(); in the callback it prints "in callback" and,
 * with --hold, stays there until its pid changes, i.e. until it runs in a
 * restored process (at most 120 s). Then threads each call dl_iterate_phdr()
 * and pthread_create() again: a restored process in which the lock still
 * names the old owner's tid hangs there. Prints one line per step and
 * "done"; exit 0 only if every step saw the objects the first one saw. */
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STEPS	 5
#define HOLD_MAX 120

static int hold;

static int count_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)info;
	(void)size;
	(*(int *)data)++;
	return 0;
}

static int first_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	pid_t pid = getpid();
	time_t end = time(NULL) + HOLD_MAX;

	(void)info;
	(void)size;
	if ((*(int *)data)++ > 0)
		return 0;
	printf("in callback\n");
	fflush(stdout);
	while (hold && getpid() == pid && time(NULL) < end) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	return 0;
}

static void *worker(void *arg)
{
	int *n = arg;

	*n = 0;
	dl_iterate_phdr(count_cb, n);
	return NULL;
}

int main(int argc, char **argv)
{
	int objects = 0;

	hold = argc > 1 && !strcmp(argv[1], "--hold");
	dl_iterate_phdr(first_cb, &objects);
	for (int s = 0; s < STEPS; s++) {
		pthread_t t;
		int n = -1;

		if (pthread_create(&t, NULL, worker, &n))
			return 2;
		pthread_join(t, NULL);
		if (n != objects)
			return 3;
		printf("step %d\n", s);
		fflush(stdout);
	}
	printf("done\n");
	return 0;
}
