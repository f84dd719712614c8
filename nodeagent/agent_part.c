/* agent_part.c - a participant's description on the wire: the fields of
 * "register" read into struct agent_part and written back from it, so the
 * local socket and the link between node agent and coordinator agree. */
#include "agent_coord.h"
#include "msg.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

int agent_part_from_register(struct agent_part *p, const struct json_object *msg, const char **why)
{
	const char *exe;
	const char *node;
	int64_t pid;
	int64_t ppid;

	if (proto_msg_get_int_range(msg, "pid", 1, INT32_MAX, &pid) ||
	    proto_msg_get_str(msg, "exe", 0, &exe) ||
	    proto_msg_get_int_opt(msg, "step", 0, UINT32_MAX, 0, &p->step) ||
	    proto_msg_get_int_opt(msg, "rank", 0, UINT32_MAX, 0, &p->rank) ||
	    proto_msg_get_bool_opt(msg, "restored", false, &p->restored) ||
	    proto_msg_get_int_opt(msg, "gen", -1, INT64_MAX, -1, &p->restored_gen) ||
	    proto_msg_get_int_opt(msg, "ppid", 0, INT32_MAX, 0, &ppid) ||
	    proto_msg_get_str_opt(msg, "node", AGENT_NODE_MAX, "", &node)) {
		*why = proto_msg_why();
		return -EPROTO;
	}
	if (exe[0] != '/') {
		*why = "register: \"exe\" is not absolute";
		return -EPROTO;
	}
	p->claimed_pid = pid;
	p->ppid = (pid_t)ppid;
	if (!p->restored)
		p->restored_gen = -1;
	snprintf(p->exe, sizeof(p->exe), "%s", exe);
	snprintf(p->node, sizeof(p->node), "%s", node);
	return 0;
}

struct json_object *agent_part_to_register(const struct agent_part *p)
{
	struct json_object *m = proto_msg_new(PROTO_MSG_REGISTER);

	if (!m)
		return NULL;
	/* The pid the node agent saw (SO_PEERCRED): the coordinator cannot. */
	if (proto_msg_set_int(m, "pid", p->pid) || proto_msg_set_str(m, "exe", p->exe) ||
	    proto_msg_set_int(m, "step", p->step) || proto_msg_set_int(m, "rank", p->rank) ||
	    proto_msg_set_bool(m, "restored", p->restored) ||
	    proto_msg_set_int(m, "gen", p->restored_gen) || proto_msg_set_int(m, "ppid", p->ppid) ||
	    proto_msg_set_str(m, "node", p->node)) {
		json_object_put(m);
		return NULL;
	}
	return m;
}
