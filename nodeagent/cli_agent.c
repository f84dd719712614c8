/* cli_agent.c - reaching the agent of a computation, starting it on demand
 * (the start itself is agent_dir_ensure(), shared with the SPANK plugin). */
#include "cli.h"

#include "frame.h"
#include "msg.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool no_agent(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

int cli_agent_connect(struct agent_dir *ad)
{
	int fd;

	agent_dir_locate(ad);
	fd = agent_dir_connect(ad);

	if (fd >= 0)
		return fd;
	if (no_agent(fd))
		cli_err("no agent running for %s (it ends once no process of the computation "
			"is left; start one with 'ckpt run' or 'ckpt restart')",
			ad->dir);
	else if (fd == -EPERM)
		cli_err("the socket %s of %s belongs to another user; refusing to use it", ad->sock,
			ad->dir);
	else
		cli_err("cannot reach the agent of %s at %s: %s", ad->dir, ad->sock, strerror(-fd));
	return fd;
}

int cli_agent_ensure(struct agent_dir *ad)
{
	char agent[PATH_MAX];
	int fd;

	agent_dir_locate(ad);
	fd = agent_dir_connect(ad);
	if (fd >= 0 || !no_agent(fd))
		return fd >= 0 ? fd : cli_agent_connect(ad);
	if (cli_find("ckpt-agent", "CKPT_BINDIR", agent, sizeof(agent)))
		return -ENOENT;
	/* Reports its own failures (log.h, on our stderr). */
	if (agent_dir_ensure(agent, ad->dir, NULL, ad->sock, sizeof(ad->sock)))
		return -EIO;
	return cli_agent_connect(ad);
}

int cli_agent_call(int fd, const char *name, const char *log, struct json_object *req,
		   struct json_object **reply, int timeout_ms)
{
	int ret = proto_frame_send(fd, req);

	if (ret) {
		cli_err("cannot send to the agent of %s: %s", name, strerror(-ret));
		return ret;
	}
	ret = proto_frame_recv(fd, reply, timeout_ms);
	if (ret == -ECONNRESET)
		cli_err("the agent of %s closed the connection without answering; see %s", name,
			log);
	else if (ret == -ETIMEDOUT)
		cli_err("the agent of %s did not answer within %d s", name, timeout_ms / 1000);
	else if (ret)
		cli_err("bad answer from the agent of %s: %s", name, strerror(-ret));
	return ret;
}

/* Fails when processes of the computation are still registered: two
 * programs in one DIR would be checkpointed, and restored, as one. */
int cli_agent_check_idle(int fd, const struct agent_dir *ad, const char *hint)
{
	struct json_object *req = proto_msg_new(PROTO_MSG_STATUS);
	struct json_object *reply = NULL;
	struct json_object *procs;
	int ret;

	if (!req)
		return -ENOMEM;
	ret = cli_agent_call(fd, ad->dir, ad->log, req, &reply, 30000);
	json_object_put(req);
	if (ret)
		return ret;
	if (json_object_object_get_ex(reply, "processes", &procs) &&
	    json_object_array_length(procs) > 0) {
		struct json_object *p0 = json_object_array_get_idx(procs, 0);

		cli_err("a computation is already running in %s (pid %s and %zu more); "
			"%s",
			ad->dir, json_object_get_string(json_object_object_get(p0, "pid")),
			json_object_array_length(procs) - 1, hint);
		ret = -EBUSY;
	}
	json_object_put(reply);
	return ret;
}

const char *cli_reply_reason(const struct json_object *reply)
{
	const char *s = NULL;

	if (!proto_msg_get_str_opt(reply, "reason", PROTO_MSG_TEXT_MAX, NULL, &s) && s && *s)
		return s;
	if (!proto_msg_get_str_opt(reply, "message", PROTO_MSG_TEXT_MAX, NULL, &s) && s && *s)
		return s;
	return "(no reason given)";
}
