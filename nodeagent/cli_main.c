/* cli_main.c - ckpt: the command-line tool of standalone checkpoint/restart.
 * Dispatches to one function per command and holds the helpers they share.
 */
#include "cli.h"

#include "ckpt_config.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool cli_is_verbose;

static void cli_vmsg(const char *fmt, va_list ap)
{
	char buf[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "ckpt: %s\n", buf);
}

void cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(fmt, ap);
	va_end(ap);
}

void cli_verbose(const char *fmt, ...)
{
	va_list ap;

	if (!cli_is_verbose)
		return;
	va_start(ap, fmt);
	cli_vmsg(fmt, ap);
	va_end(ap);
}

int cli_usage_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'ckpt %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return CLI_EXIT_USAGE;
}

int cli_dir(const char *dir, bool create, struct agent_dir *ad)
{
	int ret;

	if (!dir)
		dir = agent_dir_default();
	ret = agent_dir_resolve(dir, create, ad);
	if (ret == -ENOENT)
		cli_err("checkpoint directory %s does not exist (give the --dir of a 'ckpt run', "
			"or set CKPT_DIR)",
			dir);
	else if (ret == -ENOTDIR)
		cli_err("checkpoint directory %s is not a directory", dir);
	else if (ret)
		cli_err("checkpoint directory %s: %s", dir, strerror(-ret));
	return ret;
}

/* Directory of the running executable, from /proc/self/exe. */
static int exe_dir(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	char *slash;

	if (n <= 0 || (size_t)n >= size - 1)
		return -ENAMETOOLONG;
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	return 0;
}

int cli_find(const char *name, const char *env, char *out, size_t size)
{
	const char *override = env ? getenv(env) : NULL;
	char tried[3][PATH_MAX + 64];
	char dir[PATH_MAX];
	int n = 0;
	int i;

	if (override && *override) {
		snprintf(tried[n++], sizeof(tried[0]), "%s/%s", override, name);
	} else if (exe_dir(dir, sizeof(dir)) == 0) {
		/* Build tree: nodeagent/ckpt next to libckpt/; the agent sits
		 * next to the CLI in both trees. */
		if (!strcmp(name, "ckpt-agent"))
			snprintf(tried[n++], sizeof(tried[0]), "%s/%s", dir, name);
		else
			snprintf(tried[n++], sizeof(tried[0]), "%s/../libckpt/%s", dir, name);
		snprintf(tried[n++], sizeof(tried[0]), "%s/%s/%s", dir, CKPT_PKGLIBDIR_FROM_BINDIR,
			 name);
	}
	for (i = 0; i < n; i++) {
		if (access(tried[i], R_OK) == 0 && realpath(tried[i], out) && strlen(out) < size)
			return 0;
	}
	fprintf(stderr, "ckpt: cannot find %s; tried:", name);
	for (i = 0; i < n; i++)
		fprintf(stderr, "%s %s", i ? "," : "", tried[i]);
	fprintf(stderr, "\n      (%s%s%s)\n", env ? "set " : "", env ? env : "reinstall slurm-ckpt",
		env ? " to the directory that holds it" : "");
	return -ENOENT;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ckpt COMMAND [OPTIONS]\n"
		"\n"
		"Transparent checkpoint/restart of a program, outside of Slurm.\n"
		"\n"
		"Commands:\n"
		"  run [--dir DIR] [--interval T] [-v] [--] PROG [ARGS...]\n"
		"                      run PROG under checkpointing, in the foreground\n"
		"  checkpoint [--dir DIR] [--kill] [--timeout T]\n"
		"                      checkpoint every process of the computation\n"
		"  restart [--dir DIR] [-v] [GENERATION]\n"
		"                      restore the newest (or the named) generation\n"
		"  status [--dir DIR] [--json] [--timeout T]\n"
		"                      processes, generations and last error, from the agent\n"
		"  list [DIR] [--json] committed generations of DIR\n"
		"  inspect [--verify] [-v] IMAGE\n"
		"                      describe (and check) one process image\n"
		"\n"
		"DIR names the computation: default $CKPT_DIR, else ./ckpt.\n"
		"'ckpt COMMAND --help' describes one command. Version %s.\n",
		CKPT_VERSION);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;		  /* command word */
		int (*fn)(int argc, char **argv); /* its implementation */
	} cmds[] = {
		{ "run", cli_cmd_run },		{ "checkpoint", cli_cmd_checkpoint },
		{ "restart", cli_cmd_restart }, { "status", cli_cmd_status },
		{ "list", cli_cmd_list },	{ "inspect", cli_cmd_inspect },
	};
	size_t i;

	log_set_ident("ckpt");
	if (argc < 2)
		return cli_usage_err(NULL, "missing command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ckpt %s\n", CKPT_VERSION);
		return CLI_EXIT_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return cli_usage_err(NULL, "unknown option '%s'", argv[1]);
	return cli_usage_err(NULL,
			     "unknown command '%s' (commands: run, checkpoint, restart, "
			     "status, list, inspect)",
			     argv[1]);
}
