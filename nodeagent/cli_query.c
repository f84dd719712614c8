/* cli_query.c - ckpt checkpoint, ckpt status, ckpt list. */
#include "cli.h"

#include "agent_store.h"
#include "layout.h"
#include "msg.h"
#include "timestr.h"

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
#define CLI_STATUS_TIMEOUT_S 30
/* A checkpoint's answer comes after PREPARE and WRITE, each bounded by the
 * agent's phase timeout (CKPT_PHASE_TIMEOUT, 600 s by default), and the
 * commit: twice that plus this margin for the commit of a large job. */
#define CLI_CKPT_PHASE_DEFAULT_S 600
#define CLI_CKPT_MARGIN_S	 120
/* Longest --timeout: a week, far beyond any phase timeout. */
#define CLI_TIMEOUT_MAX_S (7 * 24 * 3600)

/* Bytes of input cli_safe() escapes; longer strings are cut ("..."). */
#define CLI_SAFE_IN_MAX 4096

/* Length of the valid UTF-8 sequence at @p that is not a C1 control
 * (U+0080..U+009F), or 0. */
static size_t utf8_printable_len(const unsigned char *p)
{
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* C1 controls, overlong forms, surrogates, beyond U+10FFFF. */
	if ((p[0] == 0xc2 && p[1] < 0xa0) || (p[0] == 0xe0 && p[1] < 0xa0) ||
	    (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return n;
}

const char *cli_safe(const char *s)
{
	/* 4 output bytes per input byte at most, plus "..." and the NUL. */
	static char bufs[8][CLI_SAFE_IN_MAX * 4 + 4];
	static unsigned int next;
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char *out = bufs[next++ % 8];
	size_t o = 0;
	size_t in = 0;

	while (p[in] && in < CLI_SAFE_IN_MAX) {
		size_t n = p[in] >= 0x80 ? utf8_printable_len(p + in) : 0;

		if (n && in + n <= CLI_SAFE_IN_MAX) {
			memcpy(out + o, p + in, n);
			o += n;
			in += n;
		} else if (p[in] < 0x20 || p[in] >= 0x7f || p[in] == '\\') {
			o += (size_t)snprintf(out + o, 5, "\\x%02x", p[in]);
			in++;
		} else {
			out[o++] = (char)p[in++];
		}
	}
	if (p[in]) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* --timeout: "SECONDS", "1h30m" or "HH:MM:SS", 1 s to a week. */
static bool parse_timeout(const char *s, int *secs)
{
	int64_t v;

	if (proto_interval_parse(s, &v) || v < 1 || v > CLI_TIMEOUT_MAX_S)
		return false;
	*secs = (int)v;
	return true;
}

/* How long `ckpt checkpoint` waits without --timeout. */
static int checkpoint_default_timeout(void)
{
	const char *env = getenv("CKPT_PHASE_TIMEOUT");
	int phase = CLI_CKPT_PHASE_DEFAULT_S;
	int v;

	if (env && parse_timeout(env, &v))
		phase = v;
	return 2 * phase + CLI_CKPT_MARGIN_S;
}

static void checkpoint_usage(FILE *out)
{
	fprintf(out, "Usage: ckpt checkpoint [--dir DIR | JOBID] [--kill | --requeue] [--json]\n"
		     "                       [--timeout T]\n"
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
		     "  --timeout T   give up after T (seconds, 1h30m or HH:MM:SS) without an\n"
		     "                answer; default twice $CKPT_PHASE_TIMEOUT (600 s) plus\n"
		     "                120 s. The checkpoint may still commit afterwards.\n"
		     "  -h, --help    this help\n");
}

static void status_usage(FILE *out)
{
	fprintf(out, "Usage: ckpt status [--dir DIR | JOBID] [--json] [--timeout T]\n"
		     "\n"
		     "Shows the agent of DIR, or the coordinator of the running Slurm job JOBID\n"
		     "(from any node; its owner or root only): processes and their nodes, a\n"
		     "checkpoint in progress, the committed generations and the last error.\n"
		     "\n"
		     "  --dir DIR     checkpoint directory (default $CKPT_DIR, else ./ckpt)\n"
		     "  --json        print the agent's status_reply as JSON\n"
		     "  --timeout T   give up after T without an answer (default 30 s)\n"
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
	int timeout_s;	 /* --timeout, 0: the command's default */
};

/* Which options a command takes. */
enum {
	QO_KILL = 1,	/* --kill, --requeue */
	QO_ARG = 2,	/* one positional argument */
	QO_TIMEOUT = 4, /* --timeout */
};

/* Parses the options shared by checkpoint/status/list. Returns -1 to go
 * on, or an exit status. */
static int parse_common(int argc, char **argv, const char *cmd, unsigned int allowed,
			void (*usage)(FILE *), struct query_opts *o)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },     { "kill", no_argument, NULL, 'k' },
		{ "requeue", no_argument, NULL, 'q' },	     { "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	     { NULL, 0, NULL, 0 },
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
		case 't':
			if (!(allowed & QO_TIMEOUT))
				return cli_usage_err(cmd, "unknown option '%s'", argv[optind - 1]);
			if (!parse_timeout(optarg, &o->timeout_s))
				return cli_usage_err(
					cmd,
					"--timeout %s: give seconds, 1h30m or HH:MM:SS, "
					"at most a week",
					cli_safe(optarg));
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

/* JSON for machines, and still safe on a terminal: json-c escapes C0
 * controls but passes DEL, C1 controls and invalid UTF-8 through; those
 * become \\u00XX (DEL, C1) or U+FFFD (bytes that are not UTF-8). */
static void print_json(const struct json_object *o)
{
	const unsigned char *p = (const unsigned char *)json_object_to_json_string_ext(
		(struct json_object *)o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

	while (p && *p) {
		size_t n = *p >= 0x80 ? utf8_printable_len(p) : 0;

		if (n) {
			fwrite(p, 1, n, stdout);
			p += n;
		} else if (*p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
			printf("\\u00%02x", *p == 0x7f ? 0x7f : p[1]);
			p += *p == 0x7f ? 1 : 2;
		} else if (*p >= 0x80) {
			fputs("\\ufffd", stdout);
			p++;
		} else {
			putchar(*p++);
		}
	}
	putchar('\n');
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
			printf("%s\n", cli_safe(path));
		return CLI_EXIT_OK;
	}
	if (proto_msg_is(reply, PROTO_MSG_ERROR))
		cli_err("checkpoint of %s failed: %s", t->name, cli_safe(cli_reply_reason(reply)));
	else
		cli_err("unexpected answer from the agent of %s: %s", t->name,
			cli_safe(json_object_to_json_string((struct json_object *)reply)));
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

	ret = parse_common(argc, argv, "checkpoint", QO_KILL | QO_ARG | QO_TIMEOUT,
			   checkpoint_usage, &o);
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
	/* The agent bounds every phase and answers, but a coordinator that
	 * hangs, or is not one, must not hold us forever. */
	if (!o.timeout_s)
		o.timeout_s = checkpoint_default_timeout();
	ret = cli_agent_call(fd, t.name, t.log, req, &reply, o.timeout_s * 1000);
	if (ret == -ETIMEDOUT)
		cli_err("gave up waiting for the checkpoint of %s to commit after %d s "
			"(--timeout); it may still commit: see 'ckpt status' and 'ckpt list'",
			t.name, o.timeout_s);
	ret = ret ? CLI_EXIT_FAIL : checkpoint_report(&t, reply, o.json);
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

/* A string field of an agent's answer, escaped for the terminal. */
static const char *jstr(struct json_object *o, const char *key)
{
	return cli_safe(json_object_get_string(json_object_object_get(o, key)));
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
	/* An agent older than write_timeout gives only the PREPARE bound. */
	if (json_object_object_get(r, "write_timeout"))
		printf("timeouts:    prepare %lld s, write %lld s (%s)\n",
		       (long long)jint(r, "phase_timeout"), (long long)jint(r, "write_timeout"),
		       json_object_get_boolean(json_object_object_get(r, "write_timeout_derived"))
			       ? "derived from the last checkpoint"
			       : "set by the site");
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
	printf("last error:  %s\n", err ? cli_safe(json_object_get_string(err)) : "none");
}

int cli_cmd_status(int argc, char **argv)
{
	struct query_opts o = { 0 };
	struct json_object *req = NULL;
	struct json_object *reply = NULL;
	struct cli_target t;
	int ret;
	int fd;

	ret = parse_common(argc, argv, "status", QO_ARG | QO_TIMEOUT, status_usage, &o);
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
	if (!req || cli_agent_call(fd, t.name, t.log, req, &reply,
				   (o.timeout_s ? o.timeout_s : CLI_STATUS_TIMEOUT_S) * 1000))
		goto out;
	if (!proto_msg_is(reply, PROTO_MSG_STATUS_REPLY)) {
		cli_err("the agent of %s refused the status request: %s", t.name,
			cli_safe(cli_reply_reason(reply)));
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
	print_json(arr);
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
					     gens[i].duration_ms, cli_safe(gens[i].trigger),
					     gens[i].nimages, cli_safe(gens[i].error));
	}
	free(gens);
	return CLI_EXIT_OK;
}
