/* t_sigown.c - a program with its own SIGTERM and SIGUSR1 handlers, for
 * signals.sh: libckpt must leave both signals to it.
 *
 * Checks first that sigaction() reports SIG_DFL for both (the application's
 * view, even while libckpt intercepts them), installs its handlers (SIGTERM
 * with sigaction(), SIGUSR1 with signal()) and checks they read back. Then
 * prints "ready" and waits: each SIGUSR1 prints "handled SIGUSR1", a SIGTERM
 * prints "handled SIGTERM" and ends the program with status 0.
 *
 * With the argument "redefault", the first SIGUSR1 also puts SIGUSR1 back to
 * SIG_DFL and prints "SIGUSR1 default again": libckpt then intercepts it
 * again, so the next SIGUSR1 asks for a checkpoint.
 *
 * Exit: 0 after SIGTERM, 1 on a failed check, 2 when nothing came in 60 s.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t got_usr1;
static volatile sig_atomic_t got_term;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static int check_default(int sig, const char *name)
{
	struct sigaction q;

	if (sigaction(sig, NULL, &q) < 0 || q.sa_handler != SIG_DFL) {
		printf("BAD: %s does not read back as SIG_DFL\n", name);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec nap = { 0, 10 * 1000000L };
	int redefault = argc > 1 && !strcmp(argv[1], "redefault");
	struct sigaction sa;
	struct sigaction q;

	if (check_default(SIGTERM, "SIGTERM") || check_default(SIGUSR1, "SIGUSR1"))
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || signal(SIGUSR1, on_usr1) != SIG_DFL) {
		puts("BAD: cannot install the handlers");
		return 1;
	}
	if (sigaction(SIGTERM, NULL, &q) < 0 || q.sa_handler != on_term ||
	    sigaction(SIGUSR1, NULL, &q) < 0 || q.sa_handler != on_usr1) {
		puts("BAD: the handlers do not read back");
		return 1;
	}
	puts("ready");
	fflush(stdout);
	for (int i = 0; i < 6000; i++) {
		if (got_usr1) {
			got_usr1 = 0;
			puts("handled SIGUSR1");
			if (redefault) {
				if (signal(SIGUSR1, SIG_DFL) != on_usr1 ||
				    check_default(SIGUSR1, "SIGUSR1"))
					return 1;
				puts("SIGUSR1 default again");
			}
			fflush(stdout);
		}
		if (got_term) {
			puts("handled SIGTERM");
			return 0;
		}
		nanosleep(&nap, NULL);
	}
	puts("nothing came");
	return 2;
}
