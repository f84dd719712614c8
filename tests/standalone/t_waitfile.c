/* t_waitfile.c - runs until FILE exists (checked every 10 ms), then prints
 * "done" and exits 0; exits 1 after 120 s. A process that a test can
 * checkpoint, or try to, at any moment and then end when it chooses. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };

	if (argc != 2) {
		fprintf(stderr, "usage: t_waitfile FILE\n");
		return 2;
	}
	for (int i = 0; i < 12000; i++) {
		if (access(argv[1], F_OK) == 0) {
			printf("done\n");
			return 0;
		}
		nanosleep(&tick, NULL);
	}
	fprintf(stderr, "t_waitfile: %s never appeared\n", argv[1]);
	return 1;
}
