/* cli_run.c - ckpt run: run a program in the foreground under checkpointing. */
#include "cli.h"

#include "msg.h"
#include "timestr.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void run_usage(FILE *out)
{
	fprintf(out, "Usage: ckpt run [--dir DIR] [--interval T] [-v] [--] PROG [ARGS...]\n"
		     "\n"
		     "Runs PROG in the foreground with checkpointing enabled. PROG keeps the\n"
		     "terminal's stdin, stdout and stderr; ckpt run exits with PROG's status\n"
		     "(128+N when a signal N killed it).\n"
		     "\n"
		     "  --dir DIR       checkpoint directory naming the computation\n"
		     "                  (default $CKPT_DIR, else ./ckpt); created if missing\n"
		     "  --interval T    also checkpoint every T (seconds, 1h30m, or HH:MM:SS)\n"
		     "  -v, --verbose   diagnostics on stderr\n"
		     "  -h, --help      this help\n"
		     "\n"
		     "Checkpoint with 'ckpt checkpoint --dir DIR [--kill]', restore with\n"
		     "'ckpt restart --dir DIR'.\n");
}

/* Records the interval for the agent (read when the program registers). */
static int run_set_interval(const struct agent_dir *ad, int64_t secs)
{
	FILE *f;

	if (secs <= 0) {
		if (unlink(ad->interval) < 0 && errno != ENOENT) {
			cli_err("cannot remove %s: %s", ad->interval, strerror(errno));
			return -errno;
		}
		return 0;
	}
	f = fopen(ad->interval, "we");
	if (!f || fprintf(f, "%lld\n", (long long)secs) < 0 || fclose(f) == EOF) {
		cli_err("cannot write %s: %s", ad->interval, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* Sets LD_PRELOAD (ours first, an existing one kept after it), the agent's
 * socket and the directory. */
static int run_env(const struct agent_dir *ad, const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *preload = NULL;
	int n;

	if (old && *old)
		n = asprintf(&preload, "%s:%s", lib, old);
	else
		n = asprintf(&preload, "%s", lib);
	if (n < 0)
		return -ENOMEM;
	n = setenv("LD_PRELOAD", preload, 1) || setenv("CKPT_AGENT_SOCKET", ad->sock, 1) ||
	    setenv("CKPT_DIR", ad->dir, 1);
	free(preload);
	return n ? -errno : 0;
}

/* Process exit status as a shell reports it. */
static int run_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return CLI_EXIT_FAIL;
}

static pid_t run_child;

/* Passes termination requests on to the program; it decides how to end. */
static void run_forward(int sig)
{
	if (run_child > 0)
		kill(run_child, sig);
}

int cli_run_wait(pid_t pid, const char *prog)
{
	static const int forwarded[] = { SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT };
	struct sigaction sa = { .sa_handler = run_forward };
	int status;
	size_t i;

	run_child = pid;
	/* The terminal sends SIGINT/SIGQUIT to the whole foreground group:
	 * the program gets its own copy; we wait for its decision. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			cli_err("waiting for %s: %s", prog, strerror(errno));
			return CLI_EXIT_FAIL;
		}
	}
	if (WIFSIGNALED(status))
		cli_verbose("%s (pid %d) was killed by signal %d", prog, (int)pid,
			    WTERMSIG(status));
	else
		cli_verbose("%s (pid %d) exited with status %d", prog, (int)pid,
			    WEXITSTATUS(status));
	return run_status(status);
}

int cli_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	int64_t interval = 0;
	char lib[PATH_MAX];
	struct agent_dir ad;
	pid_t pid;
	int fd;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'i':
			if (proto_interval_parse(optarg, &interval) || interval <= 0)
				return cli_usage_err("run",
						     "--interval: '%s' is not a duration "
						     "(seconds, 1h30m, or HH:MM:SS)",
						     optarg);
			break;
		case 'v':
			cli_is_verbose = true;
			break;
		case 'h':
			run_usage(stdout);
			return CLI_EXIT_OK;
		case ':':
			return cli_usage_err("run", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_err("run", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_err("run", "missing PROG: what should run under checkpointing?");

	if (cli_find("libckpt.so", "CKPT_LIBDIR", lib, sizeof(lib)))
		return CLI_EXIT_FAIL;
	if (cli_dir(dir, true, &ad))
		return CLI_EXIT_FAIL;
	fd = cli_agent_ensure(&ad);
	if (fd < 0)
		return CLI_EXIT_FAIL;
	c = cli_agent_check_idle(fd, &ad, "use another --dir, or stop it first");
	close(fd);
	if (c || run_set_interval(&ad, interval))
		return CLI_EXIT_FAIL;
	if (run_env(&ad, lib)) {
		cli_err("cannot set the environment: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	cli_verbose("running %s with agent %s, images in %s%s", argv[optind], ad.sock, ad.dir,
		    interval ? " (periodic checkpoints)" : "");
	fflush(NULL);
	/* A namespace of its own, so that a restart gives every process of the
	 * tree its pid again (docs/process-trees.md); without one the program
	 * runs as before. */
	if (!cli_tree_ns_enter()) {
		if (setenv("CKPT_PIDNS", "1", 1)) {
			cli_err("cannot set the environment: %s", strerror(errno));
			return CLI_EXIT_FAIL;
		}
		pid = cli_tree_run(argv + optind);
		if (pid < 0)
			return CLI_EXIT_FAIL;
		return cli_run_wait(pid, argv[optind]);
	}
	unsetenv("CKPT_PIDNS");
	pid = fork();
	if (pid < 0) {
		cli_err("fork: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		cli_err("cannot run %s: %s", argv[optind], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	return cli_run_wait(pid, argv[optind]);
}
