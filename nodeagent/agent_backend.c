/* agent_backend.c - the request and outcome messages every transport
 * exchanges with its requesters (agent_backend.h). */
#include "agent_backend.h"

#include "msg.h"

#include <errno.h>
#include <json-c/json.h>

/* Longest trigger name a requester may give. */
#define AGENT_TRIGGER_NAME_MAX 31

int agent_request_from_msg(const struct json_object *msg, struct agent_request *req,
			   const char **why)
{
	if (proto_msg_get_bool_opt(msg, "kill", false, &req->kill) ||
	    proto_msg_get_bool_opt(msg, "requeue", false, &req->requeue) ||
	    proto_msg_get_str_opt(msg, "trigger", AGENT_TRIGGER_NAME_MAX, "manual",
				  &req->trigger)) {
		*why = proto_msg_why();
		return -EPROTO;
	}
	if (!*req->trigger)
		req->trigger = "manual";
	/* A requeue ends this start: the processes must stop. */
	req->kill |= req->requeue;
	return 0;
}

struct json_object *agent_outcome_msg(int err, int64_t gen, const char *path, const char *reason)
{
	struct json_object *m;

	if (err) {
		m = proto_msg_new_error(err, reason, PROTO_MSG_CHECKPOINT);
		if (m && reason && proto_msg_set_str(m, "reason", reason)) {
			json_object_put(m);
			m = NULL;
		}
		return m;
	}
	m = proto_msg_new(PROTO_MSG_COMMITTED);
	if (m && (proto_msg_set_int(m, "gen", gen) || proto_msg_set_str(m, "path", path))) {
		json_object_put(m);
		m = NULL;
	}
	return m;
}
