/* cli_restart.c - ckpt restart: restore a committed generation in the
 * foreground. The restored program takes over this very process (its stdio,
 * its exit status); images of further processes (a program that forked) are
 * restored as children started just before, so they end up children of the
 * restored first process, as they were of the original one.
 */
#include "cli.h"

#include "layout.h"
#include "manifest.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void restart_usage(FILE *out)
{
	fprintf(out, "Usage: ckpt restart [--dir DIR] [-v] [GENERATION]\n"
		     "\n"
		     "Restores the newest committed generation of DIR (or GENERATION, a number\n"
		     "as shown by 'ckpt list') in the foreground: the restored program continues\n"
		     "in this process, with this terminal's stdin/stdout/stderr, and its exit\n"
		     "status becomes ckpt restart's. An agent for DIR is started if needed.\n"
		     "\n"
		     "  --dir DIR       checkpoint directory (default $CKPT_DIR, else ./ckpt)\n"
		     "  -v, --verbose   diagnostics on stderr\n"
		     "  -h, --help      this help\n");
}

/* Accepts "N" and "gen-N". Returns 0 or -EINVAL. */
static int parse_gen(const char *s, uint64_t *gen)
{
	char name[64];

	if (!strncmp(s, PROTO_LAYOUT_GEN_PREFIX, strlen(PROTO_LAYOUT_GEN_PREFIX)))
		s += strlen(PROTO_LAYOUT_GEN_PREFIX);
	if (snprintf(name, sizeof(name), "%s%s", PROTO_LAYOUT_GEN_PREFIX, s) >= (int)sizeof(name))
		return -EINVAL;
	return proto_layout_parse_gen(name, gen, &(bool){ false }) ? -EINVAL : 0;
}

/* What is restored runs as us: refuses a directory another user could have
 * put a checkpoint in (proto_layout_dir_check on its real path). */
static int check_dir_trusted(const struct agent_dir *ad)
{
	char why[PATH_MAX + 128];
	int ret = proto_layout_dir_check(ad->dir, getuid(), true, why, sizeof(why));

	if (ret == -EPERM)
		cli_err("%s is not safe to restart from: %s. Another user could have put a "
			"checkpoint there; restart only from a directory that is yours and "
			"writable by nobody else (chmod go-w, or copy it to one)",
			ad->dir, why);
	else if (ret)
		cli_err("cannot check %s: %s", ad->dir, why);
	return ret;
}

/* Chooses the generation: @want, or the newest committed. */
static int pick_gen(const struct agent_dir *ad, const char *want, uint64_t *gen)
{
	uint64_t *gens = NULL;
	char list[256] = "";
	size_t len = 0;
	size_t n = 0;
	size_t i;
	int ret;

	ret = proto_gen_list(ad->dir, &gens, &n);
	if (ret) {
		cli_err("cannot list the generations of %s: %s", ad->dir, strerror(-ret));
		return ret;
	}
	ret = -ENOENT;
	if (!n) {
		cli_err("no committed generation in %s: nothing to restart (take one with "
			"'ckpt checkpoint --dir %s' while the program runs)",
			ad->dir, ad->dir);
		goto out;
	}
	if (!want) {
		*gen = gens[n - 1];
		ret = 0;
		goto out;
	}
	if (parse_gen(want, gen)) {
		cli_err("'%s' is not a generation number (see 'ckpt list %s')", want, ad->dir);
		ret = -EINVAL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (gens[i] == *gen) {
			ret = 0;
			goto out;
		}
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%llu",
						i ? ", " : "", (unsigned long long)gens[i]);
	}
	cli_err("generation %llu not found in %s (committed: %s); see 'ckpt list %s'",
		(unsigned long long)*gen, ad->dir, list, ad->dir);
out:
	free(gens);
	return ret;
}

/* Checks that every image the manifest names is there with its size: a
 * missing or cut image is refused here, before anything is started. */
static int check_images(const char *gen_dir, const struct proto_manifest *m)
{
	size_t i;

	if (!m->n_images) {
		cli_err("%s/%s lists no image", gen_dir, PROTO_LAYOUT_MANIFEST);
		return -EBADMSG;
	}
	for (i = 0; i < m->n_images; i++) {
		char path[PATH_MAX + PROTO_MANIFEST_NAME_SIZE];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", gen_dir, m->images[i].file);
		if (stat(path, &st) < 0) {
			cli_err("image %s: %s", path, strerror(errno));
			return -errno;
		}
		if ((uint64_t)st.st_size != m->images[i].size) {
			cli_err("image %s has %lld bytes, the manifest says %llu: refusing a torn "
				"image (try an older generation)",
				path, (long long)st.st_size, (unsigned long long)m->images[i].size);
			return -EBADMSG;
		}
	}
	return 0;
}

static void exec_restore(const char *restorer, const char *image, const char *sock)
{
	execl(restorer, "ckpt-restore", image, "--agent", sock, (char *)NULL);
}

int cli_cmd_restart(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char image[PATH_MAX + PROTO_MANIFEST_NAME_SIZE];
	struct proto_manifest *m = NULL;
	char restorer[PATH_MAX];
	char gen_dir[PATH_MAX];
	const char *dir = NULL;
	const char *want = NULL;
	struct agent_dir ad;
	pid_t *kids = NULL;
	uint64_t gen;
	size_t i;
	int ret;
	int fd;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'v':
			cli_is_verbose = true;
			break;
		case 'h':
			restart_usage(stdout);
			return CLI_EXIT_OK;
		case ':':
			return cli_usage_err("restart", "option '%s' needs a value",
					     argv[optind - 1]);
		default:
			return cli_usage_err("restart", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		want = argv[optind++];
	if (optind < argc)
		return cli_usage_err("restart", "unexpected argument '%s'", argv[optind]);

	if (cli_dir(dir, false, &ad) || check_dir_trusted(&ad) || pick_gen(&ad, want, &gen))
		return CLI_EXIT_FAIL;
	proto_layout_gen_dir(gen_dir, sizeof(gen_dir), ad.dir, gen, false);
	ret = proto_manifest_read(gen_dir, &m);
	if (ret) {
		cli_err("generation %llu of %s has a corrupt or unreadable manifest (%s/%s): %s; "
			"restart an older generation with 'ckpt restart --dir %s N' (see 'ckpt list')",
			(unsigned long long)gen, ad.dir, gen_dir, PROTO_LAYOUT_MANIFEST,
			ret == -EBADMSG ? "invalid contents" : strerror(-ret), ad.dir);
		return CLI_EXIT_FAIL;
	}
	ret = CLI_EXIT_FAIL;
	if (check_images(gen_dir, m) ||
	    cli_find("ckpt-restore", "CKPT_LIBDIR", restorer, sizeof(restorer)))
		goto out_free;
	fd = cli_agent_ensure(&ad);
	if (fd < 0)
		goto out_free;
	c = cli_agent_check_idle(fd, &ad,
				 "checkpoint it with 'ckpt checkpoint --kill' "
				 "before restarting");
	close(fd);
	if (c)
		goto out_free;
	if (setenv("CKPT_AGENT_SOCKET", ad.sock, 1) || setenv("CKPT_DIR", ad.dir, 1)) {
		cli_err("cannot set the environment: %s", strerror(errno));
		goto out_free;
	}
	kids = calloc(m->n_images, sizeof(*kids));
	if (!kids) {
		cli_err("out of memory");
		goto out_free;
	}
	cli_verbose("restoring generation %llu of %s: %zu image(s), agent %s",
		    (unsigned long long)gen, ad.dir, m->n_images, ad.sock);
	fflush(NULL);
	/* A tree 'ckpt run' started in its own namespace comes back with its
	 * pids (docs/process-trees.md); other generations as before. */
	c = cli_tree_restart(gen_dir, m, restorer, ad.sock, &kids[0]);
	if (!c) {
		ret = cli_run_wait(kids[0], "the restored program");
		goto out_free;
	}
	if (c != -ENOENT)
		goto out_free;
	for (i = 1; i < m->n_images; i++) {
		snprintf(image, sizeof(image), "%s/%s", gen_dir, m->images[i].file);
		kids[i] = fork();
		if (kids[i] < 0) {
			cli_err("fork: %s", strerror(errno));
			goto out_kill;
		}
		if (kids[i] == 0) {
			exec_restore(restorer, image, ad.sock);
			cli_err("cannot execute %s: %s", restorer, strerror(errno));
			_exit(127);
		}
		cli_verbose("restoring %s as pid %d", image, (int)kids[i]);
	}
	snprintf(image, sizeof(image), "%s/%s", gen_dir, m->images[0].file);
	cli_verbose("restoring %s in the foreground", image);
	exec_restore(restorer, image, ad.sock);
	cli_err("cannot execute %s: %s", restorer, strerror(errno));
out_kill:
	while (--i > 0)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
out_free:
	free(kids);
	proto_manifest_free(m);
	return ret;
}
