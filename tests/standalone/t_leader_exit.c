/* t_leader_exit.c - a child whose main thread calls pthread_exit() while
 * another thread of it runs on: /proc shows the child in state 'Z' (its
 * main thread is a zombie) though the process lives. Its parent's tree
 * record cannot hold it (it is neither a zombie with an exit status nor
 * restorable as a live child by its leader): the checkpoint must be
 * refused, naming it, never recorded as a zombie that exited with 0
 * (test tree-leader-exit, docs/process-trees.md).
 *
 * Prints "ready" once the child's main thread has exited; runs until
 * killed. */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int t_ready_w;

/* Waits for the main thread's end, says so, and runs on. */
static void *t_spin(void *arg)
{
	pthread_join(*(pthread_t *)arg, NULL);
	close(t_ready_w);
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	int ready[2];
	pid_t pid;
	char c;

	if (pipe(ready) < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		static pthread_t main_th;
		pthread_t th;

		close(ready[0]);
		t_ready_w = ready[1];
		main_th = pthread_self();
		if (pthread_create(&th, NULL, t_spin, &main_th))
			_exit(1);
		pthread_exit(NULL);
	}
	close(ready[1]);
	while (read(ready[0], &c, 1) > 0)
		;
	close(ready[0]);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
