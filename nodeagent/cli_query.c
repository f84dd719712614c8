/* cli_query.c - ckpt checkpoint, ckpt status, ckpt list. */
#include "cli.h"

#include "agent_store.h"
#include "layout.h"
#include "msg.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Reply wait for a status request: the agent answers from memory. */
#define CLI_STATUS_TIMEOUT_MS 30000

static void checkpoint_usage(FILE *out)
{
	fprintf(out, "Usage: ckpt checkpoint [--dir DIR | JOBID] [--kill | --requeue] [--json]\n"
		     "\n"
		     "Checkpoints every process of the computation in DIR, or of the running\n"
		     "Slurm job JOBID (from any node; its owner or root only), and returns once\n"
		     "the new generation is committed, printing its directory. Exits 0 only\n"
		     "then.\n"
		     "\n"
		     "  --dir DIR     checkpoint directory (default $CKPT_DIR, else ./ckpt)\n"
		     "  --kill        the processes exit right after the commit (status 85)\n"
		     "  --requeue     JOBID only: final checkpoint, then the job is requeued and\n"
		     "                resumes from it when it starts again\n"
		     "  --json        print the agent's answer as JSON\n"
		     "  -h, --help    this help\n");
}

static void status_usage(FILE *out)
{
	fprintf(out, "Usage: ckpt status [--dir DIR | JOBID] [--json]\n"
		     "\n"
		     "Shows the agent of DIR, or the coordinator of the running Slurm job JOBID\n"
		     "(from any node; its owner or root only): processes and their nodes, a\n"
		     "checkpoint in progress, the committed generations and the last error.\n"
		     "\n"
		     "  --dir DIR     checkpoint directory (default $CKPT_DIR, else ./ckpt)\n"
		     "  --json        print the agent's status_reply as JSON\n"
		     "  -h, --help    this help\n");
}

static void list_usage(FILE *out)
{
	fprintf(out, "Usage: ckpt list [DIR] [--json]\n"
		     "\n"
		     "Lists the committed generations of DIR (default $CKPT_DIR, else ./ckpt):\n"
		     "number, time, total image size, duration, trigger and image count.\n"
		     "Needs no agent.\n"
		     "\n"
		     "  --dir DIR     same as the DIR argument\n"
		     "  --json        JSON array instead of a table\n"
		     "  -h, --help    this help\n");
}

/* Options of checkpoint, status and list. */
struct query_opts {
	const char *dir; /* --dir */
	const char *arg; /* the positional argument: JOBID or DIR */
	bool kill;	 /* --kill */
	bool requeue;	 /* --requeue */
	bool json;	 /* --json */
};

/* Which options a command takes. */
enum {
	QO_KILL = 1, /* --kill, --requeue */
	QO_ARG = 2,  /* one positional argument */
};

/* Parses the options shared by checkpoint/status/list. Returns -1 to go
 * on, or an exit status. */
static int parse_common(int argc, char **argv, const char *cmd, unsigned int allowed,
			void (*usage)(FILE *), struct query_opts *o)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "kill", no_argument, NULL, 'k' },
		{ "requeue", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dir = optarg;
			break;
		case 'k':
		case 'q':
			if (!(allowed & QO_KILL))
				return cli_usage_err(cmd, "unknown option '%s'", argv[optind - 1]);
			*(c == 'k' ? &o->kill : &o->requeue) = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'v':
			cli_is_verbose = true;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case ':':
			return cli_usage_err(cmd, "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_err(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if ((allowed & QO_ARG) && optind < argc)
		o->arg = argv[optind++];
	if (optind < argc)
		return cli_usage_err(cmd, "unexpected argument '%s'", argv[optind]);
	if (o->kill && o->requeue)
		return cli_usage_err(cmd, "--kill and --requeue exclude each other");
	return -1;
}

static void print_json(const struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext((struct json_object *)o,
						      JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Prints the answer to a checkpoint request; returns the exit status. */
static int checkpoint_report(const struct cli_target *t, const struct json_object *reply, bool json)
{
	const char *path;

	if (json)
		print_json(reply);
	if (proto_msg_is(reply, PROTO_MSG_COMMITTED) &&
	    !proto_msg_get_str(reply, "path", 0, &path)) {
		if (!json)
			printf("%s\n", path);
		return CLI_EXIT_OK;
	}
	if (proto_msg_is(reply, PROTO_MSG_ERROR))
		cli_err("checkpoint of %s failed: %s", t->name, cli_reply_reason(reply));
	else
		cli_err("unexpected answer from the agent of %s: %s", t->name,
			json_object_to_json_string((struct json_object *)reply));
	return CLI_EXIT_FAIL;
}

int cli_cmd_checkpoint(int argc, char **argv)
{
	struct query_opts o = { 0 };
	struct json_object *req;
	struct json_object *reply = NULL;
	struct cli_target t;
	int ret;
	int fd;

	ret = parse_common(argc, argv, "checkpoint", QO_KILL | QO_ARG, checkpoint_usage, &o);
	if (ret >= 0)
		return ret;
	ret = cli_target_init("checkpoint", o.dir, o.arg, &t);
	if (ret)
		return ret == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	if (o.requeue && !t.is_job)
		return cli_usage_err("checkpoint", "--requeue needs a JOBID");
	fd = cli_target_connect(&t);
	if (fd < 0)
		return CLI_EXIT_FAIL;
	req = proto_msg_new(PROTO_MSG_CHECKPOINT);
	if (!req || proto_msg_set_bool(req, "kill", o.kill) ||
	    (o.requeue && proto_msg_set_bool(req, "requeue", true))) {
		cli_err("out of memory");
		ret = CLI_EXIT_FAIL;
		goto out;
	}
	/* No timeout of our own: the agent bounds every phase and answers. */
	ret = cli_agent_call(fd, t.name, t.log, req, &reply, -1)
		      ? CLI_EXIT_FAIL
		      : checkpoint_report(&t, reply, o.json);
out:
	json_object_put(reply);
	json_object_put(req);
	close(fd);
	return ret;
}

static void fmt_size(uint64_t n, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

static void fmt_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, size, "%lld", (long long)t);
}

static int64_t jint(struct json_object *o, const char *key)
{
	return json_object_get_int64(json_object_object_get(o, key));
}

static const char *jstr(struct json_object *o, const char *key)
{
	const char *s = json_object_get_string(json_object_object_get(o, key));

	return s ? s : "";
}

static void fmt_duration(int64_t ms, char *buf, size_t size)
{
	if (ms < 10000)
		snprintf(buf, size, "%lld ms", (long long)ms);
	else
		snprintf(buf, size, "%.1f s", (double)ms / 1000.0);
}

static void print_generation_row(int64_t gen, int64_t t, uint64_t size, int64_t dur_ms,
				 const char *trigger, int64_t nimages, const char *err)
{
	char ts[32];
	char sz[32];
	char dur[32];

	if (err && *err) {
		printf("%6lld  %-19s  %10s  %9s  %-9s  %s\n", (long long)gen, "-", "-", "-", "-",
		       err);
		return;
	}
	fmt_time(t, ts, sizeof(ts));
	fmt_size(size, sz, sizeof(sz));
	fmt_duration(dur_ms, dur, sizeof(dur));
	printf("%6lld  %-19s  %10s  %9s  %-9s  %lld\n", (long long)gen, ts, sz, dur, trigger,
	       (long long)nimages);
}

static void print_generation_header(void)
{
	printf("%6s  %-19s  %10s  %9s  %-9s  %s\n", "GEN", "TIME", "SIZE", "DURATION", "TRIGGER",
	       "IMAGES");
}

/* Job mode's lines, and the next planned checkpoint in both modes. */
static void status_print_job(struct json_object *r)
{
	struct json_object *next = json_object_object_get(r, "next_checkpoint");
	struct json_object *fin = json_object_object_get(r, "final_checkpoint");
	char ts[32];

	if (json_object_object_get(r, "job")) {
		fmt_time(jint(r, "job_end"), ts, sizeof(ts));
		printf("job:         %lld, ends %s, margin %lld s, final checkpoint %s",
		       (long long)jint(r, "job"), ts, (long long)jint(r, "margin"),
		       jstr(r, "final_state"));
		if (fin) {
			fmt_time(json_object_get_int64(fin), ts, sizeof(ts));
			printf(" at %s", ts);
		}
		printf("\n");
	}
	if (next) {
		fmt_time(json_object_get_int64(next), ts, sizeof(ts));
		printf("next:        checkpoint at %s (in %lld s)\n", ts,
		       (long long)(json_object_get_int64(next) - (int64_t)time(NULL)));
	} else {
		printf("next:        no checkpoint planned\n");
	}
}

static void status_print(struct json_object *r)
{
	struct json_object *procs = json_object_object_get(r, "processes");
	struct json_object *gens = json_object_object_get(r, "generations");
	struct json_object *cur = json_object_object_get(r, "checkpoint");
	struct json_object *err = json_object_object_get(r, "last_error");
	size_t n = procs ? json_object_array_length(procs) : 0;
	size_t i;

	printf("directory:   %s\n", jstr(r, "dir"));
	printf("agent:       pid %lld, socket %s\n", (long long)jint(r, "agent_pid"),
	       jstr(r, "socket"));
	if (jint(r, "interval") > 0)
		printf("interval:    every %lld s\n", (long long)jint(r, "interval"));
	else
		printf("interval:    none\n");
	status_print_job(r);
	printf("processes:   %zu\n", n);
	for (i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(procs, i);

		printf("  pid %-7lld %s%s%sstep %lld rank %lld  %-9s %s", (long long)jint(p, "pid"),
		       *jstr(p, "node") ? "on " : "", jstr(p, "node"), *jstr(p, "node") ? " " : "",
		       (long long)jint(p, "step"), (long long)jint(p, "rank"), jstr(p, "state"),
		       jstr(p, "exe"));
		if (json_object_get_boolean(json_object_object_get(p, "restored")))
			printf("  (restored from generation %lld)",
			       (long long)jint(p, "restored_gen"));
		printf("\n");
	}
	if (cur)
		printf("checkpoint:  generation %lld in phase %s for %.1f s, %lld to answer "
		       "(trigger %s%s)\n",
		       (long long)jint(cur, "gen"), jstr(cur, "phase"),
		       (double)jint(cur, "elapsed_ms") / 1000.0, (long long)jint(cur, "pending"),
		       jstr(cur, "trigger"),
		       json_object_get_boolean(json_object_object_get(cur, "final")) ? ", final"
										     : "");
	else
		printf("checkpoint:  none in progress\n");
	n = gens ? json_object_array_length(gens) : 0;
	printf("generations: %zu committed (keeping %lld)\n", n, (long long)jint(r, "keep"));
	if (n) {
		print_generation_header();
		for (i = 0; i < n; i++) {
			struct json_object *g = json_object_array_get_idx(gens, i);

			print_generation_row(jint(g, "gen"), jint(g, "time"),
					     (uint64_t)jint(g, "size"), jint(g, "duration_ms"),
					     jstr(g, "trigger"), jint(g, "images"),
					     jstr(g, "error"));
		}
	}
	printf("last error:  %s\n", err ? json_object_get_string(err) : "none");
}

int cli_cmd_status(int argc, char **argv)
{
	struct query_opts o = { 0 };
	struct json_object *req = NULL;
	struct json_object *reply = NULL;
	struct cli_target t;
	int ret;
	int fd;

	ret = parse_common(argc, argv, "status", QO_ARG, status_usage, &o);
	if (ret >= 0)
		return ret;
	ret = cli_target_init("status", o.dir, o.arg, &t);
	if (ret)
		return ret == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	fd = cli_target_connect(&t);
	if (fd < 0)
		return CLI_EXIT_FAIL;
	ret = CLI_EXIT_FAIL;
	req = proto_msg_new(PROTO_MSG_STATUS);
	if (!req || cli_agent_call(fd, t.name, t.log, req, &reply, CLI_STATUS_TIMEOUT_MS))
		goto out;
	if (!proto_msg_is(reply, PROTO_MSG_STATUS_REPLY)) {
		cli_err("the agent of %s refused the status request: %s", t.name,
			cli_reply_reason(reply));
		goto out;
	}
	if (o.json)
		print_json(reply);
	else
		status_print(reply);
	ret = CLI_EXIT_OK;
out:
	json_object_put(reply);
	json_object_put(req);
	close(fd);
	return ret;
}

static void list_json(const struct agent_gen_info *g, size_t n)
{
	struct json_object *arr = json_object_new_array();
	size_t i;

	for (i = 0; i < n && arr; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "gen", json_object_new_int64(g[i].gen));
		json_object_object_add(o, "path", json_object_new_string(g[i].path));
		if (g[i].error[0]) {
			json_object_object_add(o, "error", json_object_new_string(g[i].error));
		} else {
			json_object_object_add(o, "time", json_object_new_int64(g[i].time));
			json_object_object_add(o, "size",
					       json_object_new_int64((int64_t)g[i].size));
			json_object_object_add(o, "duration_ms",
					       json_object_new_int64(g[i].duration_ms));
			json_object_object_add(o, "trigger", json_object_new_string(g[i].trigger));
			json_object_object_add(o, "images", json_object_new_int64(g[i].nimages));
		}
		json_object_array_add(arr, o);
	}
	printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
}

int cli_cmd_list(int argc, char **argv)
{
	char why[PATH_MAX + 128];
	struct query_opts o = { 0 };
	struct agent_gen_info *gens = NULL;
	struct agent_dir ad;
	size_t n = 0;
	size_t i;
	int ret;

	ret = parse_common(argc, argv, "list", QO_ARG, list_usage, &o);
	if (ret >= 0)
		return ret;
	if (o.dir && o.arg)
		return cli_usage_err("list", "give DIR or --dir, not both");
	if (cli_dir(o.dir ? o.dir : o.arg, false, &ad))
		return CLI_EXIT_FAIL;
	/* Listing reads only manifests: a warning, 'ckpt restart' refuses. */
	if (proto_layout_dir_check(ad.dir, getuid(), true, why, sizeof(why)))
		cli_err("warning: %s: %s; 'ckpt restart' will refuse it", ad.dir, why);
	ret = agent_store_list(ad.dir, &gens, &n);
	if (ret) {
		cli_err("cannot list %s: %s", ad.dir, strerror(-ret));
		return CLI_EXIT_FAIL;
	}
	if (o.json) {
		list_json(gens, n);
	} else if (!n) {
		printf("no committed generation in %s\n", ad.dir);
	} else {
		print_generation_header();
		for (i = 0; i < n; i++)
			print_generation_row(gens[i].gen, gens[i].time, gens[i].size,
					     gens[i].duration_ms, gens[i].trigger, gens[i].nimages,
					     gens[i].error);
	}
	free(gens);
	return CLI_EXIT_OK;
}
