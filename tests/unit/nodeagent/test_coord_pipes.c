/* The coordinator's pipe barrier (agent_coord.c, docs/protocol.md
 * "save_pipes"): in a non-final generation, "write" goes out only once every
 * participant whose "ready" said "pipes" has answered "pipes_saved"; other
 * generations skip the phase; answers out of turn are refused; a process
 * that never answers aborts the generation, named, and everyone is told.
 * Driven through the coordinator's own interface with a fake transport that
 * records what it is sent. */
#include "agent_coord.h"
#include "msg.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENT_MAX 16

/* A participant of the fake transport and what it was sent. */
struct fake {
	struct agent_part part;	 /* what the coordinator holds */
	char sent[SENT_MAX][32]; /* types received, in order */
	int64_t gen[SENT_MAX];	 /* their "gen" */
	char reason[1024];	 /* the last "abort"'s reason */
	int nsent;		 /* entries used */
	char name[32];		 /* "fake N" */
};

static int fake_send(struct agent_part *part, struct json_object *msg)
{
	struct fake *f = (struct fake *)part;
	const char *type = json_object_get_string(json_object_object_get(msg, "type"));
	const char *reason = json_object_get_string(json_object_object_get(msg, "reason"));

	cr_assert_lt(f->nsent, SENT_MAX);
	snprintf(f->sent[f->nsent], sizeof(f->sent[0]), "%s", type);
	f->gen[f->nsent] = json_object_get_int64(json_object_object_get(msg, "gen"));
	if (reason)
		snprintf(f->reason, sizeof(f->reason), "%s", reason);
	f->nsent++;
	return 0;
}

static const char *fake_name(const struct agent_part *part)
{
	return ((const struct fake *)part)->name;
}

static const struct agent_part_ops fake_ops = { .send = fake_send, .name = fake_name };

static struct event_base *base;
static struct agent_coord *co;
static struct fake parts[2];
static char dir[] = "/tmp/test-coord-pipes.XXXXXX";

static void setup(void)
{
	struct agent_coord_conf conf = { .phase_timeout_s = 1, .phase_fixed = true, .keep = 2 };

	cr_assert_not_null(mkdtemp(dir));
	base = event_base_new();
	cr_assert_not_null(base);
	co = agent_coord_new(base, dir, &conf);
	cr_assert_not_null(co);
	for (int i = 0; i < 2; i++) {
		struct fake *f = &parts[i];

		memset(f, 0, sizeof(*f));
		f->part.ops = &fake_ops;
		/* Our own pid: in the agent's namespace, so no tree check. */
		f->part.pid = getpid();
		f->part.restored_gen = -1;
		snprintf(f->name, sizeof(f->name), "fake %d", i);
		agent_coord_part_add(co, &f->part);
	}
}

static void teardown(void)
{
	char cmd[64];

	for (int i = 0; i < 2; i++)
		agent_coord_part_remove(co, &parts[i].part);
	agent_coord_free(co);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* The last type @f was sent, "" if none. */
static const char *last(const struct fake *f)
{
	return f->nsent ? f->sent[f->nsent - 1] : "";
}

/* Asks for a generation and runs the loop until "prepare" went out. */
static int64_t start(bool kill)
{
	cr_assert_eq(agent_coord_request(co, "manual", kill, NULL), 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_str_eq(last(&parts[0]), "prepare");
	cr_assert_str_eq(last(&parts[1]), "prepare");
	return parts[0].gen[parts[0].nsent - 1];
}

/* Feeds @f's answer of @type for @gen, with "pipes" when @pipes. */
static int answer(struct fake *f, const char *type, int64_t gen, const char *extra_json)
{
	char text[256];
	struct json_object *m;
	int ret;

	snprintf(text, sizeof(text), "{\"v\":1,\"type\":\"%s\",\"gen\":%lld%s}", type,
		 (long long)gen, extra_json ? extra_json : "");
	m = json_tokener_parse(text);
	cr_assert_not_null(m);
	ret = agent_coord_on_message(co, &f->part, m);
	json_object_put(m);
	return ret;
}

Test(coord_pipes, write_waits_for_every_saver, .init = setup, .fini = teardown)
{
	int64_t gen = start(false);

	cr_assert_eq(answer(&parts[0], "ready", gen, NULL), 0);
	cr_assert_eq(answer(&parts[1], "ready", gen, ",\"pipes\":true"), 0);
	/* Only the saver is asked; nobody is told to write yet. */
	cr_assert_str_eq(last(&parts[1]), "save_pipes");
	cr_assert_eq(parts[1].gen[parts[1].nsent - 1], gen);
	cr_assert_str_eq(last(&parts[0]), "prepare", "a non-saver got \"%s\"", last(&parts[0]));
	cr_assert_eq(answer(&parts[1], "pipes_saved", gen, NULL), 0);
	cr_assert_str_eq(last(&parts[0]), "write");
	cr_assert_str_eq(last(&parts[1]), "write");
}

Test(coord_pipes, no_saver_no_phase, .init = setup, .fini = teardown)
{
	int64_t gen = start(false);

	cr_assert_eq(answer(&parts[0], "ready", gen, NULL), 0);
	cr_assert_eq(answer(&parts[1], "ready", gen, ",\"pipes\":false"), 0);
	cr_assert_str_eq(last(&parts[0]), "write");
	cr_assert_str_eq(last(&parts[1]), "write");
}

/* A final generation releases nobody before "exit": pipes are read at
 * write, no extra round trip. */
Test(coord_pipes, final_skips_the_phase, .init = setup, .fini = teardown)
{
	int64_t gen = start(true);

	cr_assert_eq(answer(&parts[0], "ready", gen, ",\"pipes\":true"), 0);
	cr_assert_eq(answer(&parts[1], "ready", gen, NULL), 0);
	cr_assert_str_eq(last(&parts[0]), "write");
	cr_assert_str_eq(last(&parts[1]), "write");
}

Test(coord_pipes, out_of_turn_refused, .init = setup, .fini = teardown)
{
	int64_t gen = start(false);

	cr_assert_eq(answer(&parts[0], "pipes_saved", gen, NULL), -EPROTO,
		     "pipes_saved during PREPARE");
	cr_assert_eq(answer(&parts[0], "ready", gen, ",\"pipes\":\"yes\""), -EPROTO,
		     "a \"pipes\" that is not a boolean");
	cr_assert_eq(answer(&parts[0], "ready", gen, ",\"pipes\":true"), 0);
	cr_assert_eq(answer(&parts[1], "ready", gen, NULL), 0);
	cr_assert_eq(answer(&parts[1], "pipes_saved", gen, NULL), -EPROTO,
		     "pipes_saved from a process not asked");
	cr_assert_eq(answer(&parts[0], "written", gen,
			    ",\"path\":\"x\",\"size\":1,"
			    "\"xxh64\":\"0123456789abcdef\""),
		     -EPROTO, "written before write");
	cr_assert_eq(answer(&parts[0], "pipes_saved", gen, NULL), 0);
	cr_assert_eq(answer(&parts[0], "pipes_saved", gen, NULL), -EPROTO, "a second one");
}

/* A saver that never answers: the generation is aborted within the bound,
 * the reason names it, and every participant is told (and resumes). */
Test(coord_pipes, silent_saver_aborts_named, .init = setup, .fini = teardown, .timeout = 30)
{
	int64_t gen = start(false);

	cr_assert_eq(answer(&parts[0], "ready", gen, ",\"pipes\":true"), 0);
	cr_assert_eq(answer(&parts[1], "ready", gen, NULL), 0);
	cr_assert_str_eq(last(&parts[0]), "save_pipes");
	/* The 1 s phase bound fires. */
	while (strcmp(last(&parts[1]), "abort") != 0)
		cr_assert_geq(event_base_loop(base, EVLOOP_ONCE), 0);
	cr_assert_str_eq(last(&parts[0]), "abort");
	cr_assert(strstr(parts[0].reason, "in phase pipes") != NULL, "reason: %s", parts[0].reason);
	cr_assert(strstr(parts[0].reason, "fake 0") != NULL, "reason: %s", parts[0].reason);
	cr_assert(strstr(parts[0].reason, "fake 1") == NULL, "reason: %s", parts[0].reason);
	cr_assert_not(agent_coord_busy(co));
}
