/* agent_addr.c - the coordinator's address record and the hello to it
 * (agent_addr.h). */
#define LOG_PREFIX "addr: "
#include "agent_addr.h"

#include "agent_dir.h"
#include "auth.h"
#include "frame.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int agent_addr_registry_path(uid_t uid, uint32_t job, char *out, size_t size)
{
	struct passwd pw;
	struct passwd *res = NULL;
	char buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) || !res || !res->pw_dir)
		return -ENOENT;
	if (snprintf(out, size, "%s/.slurm-ckpt/jobs/%u.json", res->pw_dir, job) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* Creates the directory holding @path (~/.slurm-ckpt/jobs may not exist). */
static int addr_mkdirs(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return agent_mkdir_parents(dir);
}

/* Reason of the last refusal of agent_addr_read() in this thread. */
static _Thread_local char addr_why[PATH_MAX + 200];

const char *agent_addr_why(void)
{
	return addr_why;
}

int agent_addr_pid_start(int pid, uint64_t *start)
{
	char path[64];
	char buf[1024];
	unsigned long long v;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* The name (field 2) may hold spaces and ')': fields 3.. follow the
	 * last ')'. Field 22 is the 20th after it. */
	p = strrchr(buf, ')');
	/* A zombie (nobody reaped the killed coordinator) runs nothing. */
	if (p && (p[1] != ' ' || p[2] == 'Z' || p[2] == 'X'))
		return -ESRCH;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &v) != 1)
		return -EPROTO;
	*start = v;
	return 0;
}

/* Whether @host names this machine. */
static bool addr_host_is_here(const char *host)
{
	char here[256] = "";

	if (gethostname(here, sizeof(here) - 1))
		return false;
	return !strcmp(host, here);
}

/* Checks the coordinator a record of this host names still runs: its pid
 * exists with the recorded start time. Returns 0 (alive, or not checkable
 * from here) or -ESTALE with addr_why set. */
static int addr_check_alive(const char *path, const struct agent_addr *a)
{
	uint64_t start = 0;
	int ret;

	if (!addr_host_is_here(a->node))
		return 0;
	ret = agent_addr_pid_start(a->pid, &start);
	if (ret == -ESRCH) {
		snprintf(addr_why, sizeof(addr_why),
			 "%s is stale: its coordinator (pid %d on %s) is gone; ignoring it", path,
			 a->pid, a->node);
		return -ESTALE;
	}
	if (!ret && a->start && start != a->start) {
		snprintf(addr_why, sizeof(addr_why),
			 "%s is stale: pid %d on %s is another process now (started at tick %llu, "
			 "not %llu); ignoring it",
			 path, a->pid, a->node, (unsigned long long)start,
			 (unsigned long long)a->start);
		return -ESTALE;
	}
	return 0;
}

int agent_addr_write(const char *path, const struct agent_addr *a)
{
	uint64_t start = 0;
	char node[256] = "";
	char tmp[PATH_MAX + 8];
	struct json_object *o = json_object_new_object();
	const char *text;
	int ret;
	int fd;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "job", json_object_new_int64(a->job));
	json_object_object_add(o, "host", json_object_new_string(a->host));
	json_object_object_add(o, "port", json_object_new_int(a->port));
	json_object_object_add(o, "dir", json_object_new_string(a->dir));
	json_object_object_add(o, "pid", json_object_new_int(a->pid));
	/* The listening address may be a NodeAddr: the pid checks need the
	 * machine's own name. */
	if (gethostname(node, sizeof(node) - 1) == 0)
		json_object_object_add(o, "node", json_object_new_string(node));
	/* Unknown (0) only if /proc is unreadable: readers then check the pid. */
	if (agent_addr_pid_start(a->pid, &start) == 0)
		json_object_object_add(o, "start", json_object_new_int64((int64_t)start));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	ret = addr_mkdirs(path);
	if (ret)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || write(fd, "\n", 1) != 1 ||
	    fsync(fd))
		ret = errno ? -errno : -EIO;
	close(fd);
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
out:
	json_object_put(o);
	return ret;
}

/* Largest record read: a few hundred bytes in practice. */
#define ADDR_RECORD_MAX 16384

/* Parses the record at @path: a regular file, not a link, of at most
 * ADDR_RECORD_MAX bytes. The job's owner writes it and root's CLI reads
 * it: a FIFO, a device or a huge file there must not hang or exhaust the
 * reader. Returns the JSON object or NULL (errno set). */
static struct json_object *addr_record_parse(const char *path)
{
	char buf[ADDR_RECORD_MAX + 1];
	struct json_object *o = NULL;
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > ADDR_RECORD_MAX) {
		errno = EPROTO;
		goto out;
	}
	n = read(fd, buf, ADDR_RECORD_MAX);
	if (n < 0)
		goto out;
	buf[n] = '\0';
	o = json_tokener_parse(buf);
	if (!o)
		errno = EPROTO;
out:
	close(fd);
	return o;
}

int agent_addr_read(const char *path, struct agent_addr *a)
{
	struct json_object *o = addr_record_parse(path);
	const char *host;
	const char *node = NULL;
	const char *dir;
	int64_t job;
	int64_t port;
	int64_t pid;
	int64_t start = 0;
	int ret = 0;

	addr_why[0] = '\0';
	if (!o) {
		int err = errno == ENOENT || errno == EACCES ? errno : EPROTO;

		snprintf(addr_why, sizeof(addr_why),
			 "%s is not a JSON record (a regular file of at most %d bytes)", path,
			 ADDR_RECORD_MAX);
		return -err;
	}
	if (proto_msg_get_int_range(o, "job", 1, UINT32_MAX, &job) ||
	    proto_msg_get_str(o, "host", sizeof(a->host) - 1, &host) ||
	    proto_msg_get_int_range(o, "port", 1, 65535, &port) ||
	    proto_msg_get_str(o, "dir", sizeof(a->dir) - 1, &dir) ||
	    proto_msg_get_int_range(o, "pid", 1, INT32_MAX, &pid) ||
	    (json_object_object_get_ex(o, "start", NULL) &&
	     proto_msg_get_int_range(o, "start", 0, INT64_MAX, &start)) ||
	    (json_object_object_get_ex(o, "node", NULL) &&
	     proto_msg_get_str(o, "node", sizeof(a->node) - 1, &node))) {
		snprintf(addr_why, sizeof(addr_why), "%s: %s", path, proto_msg_why());
		log_debug("%s", addr_why);
		ret = -EPROTO;
	} else {
		a->job = (uint32_t)job;
		snprintf(a->host, sizeof(a->host), "%s", host);
		/* Records of before "node" named the machine in "host". */
		snprintf(a->node, sizeof(a->node), "%s", node ? node : host);
		a->port = (int)port;
		snprintf(a->dir, sizeof(a->dir), "%s", dir);
		a->pid = (int)pid;
		a->start = (uint64_t)start;
		ret = addr_check_alive(path, a);
	}
	json_object_put(o);
	return ret;
}

int agent_addr_remove(const char *path)
{
	struct agent_addr a = { 0 };
	uint64_t mine = 0;
	int ret = agent_addr_read(path, &a);

	if (ret == -ENOENT)
		return ret;
	/* Ours is alive (we are), so a stale or unreadable record is someone
	 * else's, and so is one that names another process. */
	agent_addr_pid_start(getpid(), &mine);
	if (ret || a.pid != getpid() || !addr_host_is_here(a.node) ||
	    (a.start && a.start != mine)) {
		log_info("leaving %s: it is not this coordinator's record (%s)", path,
			 ret ? strerror(-ret) : "another pid or start time");
		return -EPERM;
	}
	return unlink(path) < 0 ? -errno : 0;
}

/* connect() with a deadline. Returns 0 or -errno. */
static int addr_connect_one(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int err = 0;
	int flags = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (connect(fd, sa, len) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		err = -errno;
		goto out;
	}
	if (poll(&p, 1, timeout_ms) <= 0) {
		err = -ETIMEDOUT;
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	err = -err;
out:
	fcntl(fd, F_SETFL, flags);
	return err;
}

static int addr_tcp_connect(const struct agent_addr *a, int timeout_ms, char *why, size_t size)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char port[16];
	int err = -EHOSTUNREACH;
	int one = 1;
	int fd = -1;
	int gai;

	snprintf(port, sizeof(port), "%d", a->port);
	gai = getaddrinfo(a->host, port, &hints, &res);
	if (gai) {
		snprintf(why, size, "cannot resolve %s: %s", a->host, gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		err = addr_connect_one(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
		if (!err)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(why, size, "cannot connect to %s:%d: %s", a->host, a->port,
			 strerror(-err));
		return err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Checks the coordinator's proof in @reply: made by @owner for this job,
 * our @nonce and our end of @fd. Returns 0, or -EACCES with @why said. */
static int addr_check_proof(int fd, const struct agent_addr *a, const struct json_object *reply,
			    const char *purpose, const char *nonce, uid_t owner, char *why,
			    size_t size)
{
	char peer[PROTO_AUTH_PEER_MAX + 1] = "?";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const char *proof = NULL;
	char detail[160];
	struct passwd *pw;
	uid_t uid;
	int ret;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		proto_auth_sockaddr_str((struct sockaddr *)&ss, peer, sizeof(peer));
	proto_msg_get_str_opt(reply, "proof", PROTO_MSG_STR_MAX, NULL, &proof);
	ret = proto_auth_check_proof(proof, purpose, nonce, peer, owner, &uid);
	if (!ret)
		return 0;
	if (ret == -EACCES)
		snprintf(detail, sizeof(detail), "%s (uid %u)", proto_auth_proof_strerror(ret),
			 (unsigned)uid);
	else
		snprintf(detail, sizeof(detail), "%s", proto_auth_proof_strerror(ret));
	pw = getpwuid(owner);
	snprintf(why, size,
		 "the coordinator at %s:%d for job %u could not prove it runs as %s (uid %u): "
		 "%s; is its address record stale (coordinator killed, port taken by another "
		 "process)?",
		 a->host, a->port, a->job, pw ? pw->pw_name : "the job's owner", (unsigned)owner,
		 detail);
	return -EACCES;
}

/* Sends the hello and reads the answer. Returns 0 or -errno. */
static int addr_hello(int fd, const struct agent_addr *a, const char *role, const char *node,
		      uid_t owner, int timeout_ms, char *why, size_t size)
{
	char nonce[PROTO_AUTH_NONCE_LEN + 1];
	char purpose[PROTO_AUTH_PURPOSE_MAX + 1];
	struct sockaddr_storage server;
	socklen_t server_len = sizeof(server);
	struct json_object *m = proto_msg_new(PROTO_MSG_REGISTER);
	struct json_object *reply = NULL;
	const char *text = "";
	char *cred = NULL;
	int code = 0;
	int ret;

	/* Bound to the address we reached: relayed, it is refused. */
	ret = getpeername(fd, (struct sockaddr *)&server, &server_len) ? -errno : 0;
	if (!ret)
		ret = proto_auth_coord_purpose(a->job, (struct sockaddr *)&server, purpose,
					       sizeof(purpose));
	if (ret) {
		snprintf(why, size, "cannot name the address of %s:%d: %s", a->host, a->port,
			 strerror(-ret));
		goto out;
	}
	ret = m ? proto_auth_make_hello_nonce(purpose, &cred, nonce) : -ENOMEM;
	if (ret) {
		snprintf(why, size, "cannot make a munge credential: %s", strerror(-ret));
		goto out;
	}
	if (proto_msg_set_str(m, "role", role) || proto_msg_set_str(m, "cred", cred) ||
	    (node && proto_msg_set_str(m, "node", node))) {
		ret = -ENOMEM;
		snprintf(why, size, "out of memory");
		goto out;
	}
	ret = proto_frame_send_timeout(fd, m, timeout_ms);
	if (!ret)
		ret = proto_frame_recv(fd, &reply, timeout_ms);
	if (ret) {
		snprintf(why, size, "no answer from the coordinator at %s:%d: %s", a->host, a->port,
			 strerror(-ret));
		goto out;
	}
	if (!proto_msg_is(reply, PROTO_MSG_REGISTER_OK)) {
		if (proto_msg_get_error(reply, &code, &text))
			text = "unexpected answer";
		snprintf(why, size, "the coordinator refused us: %s (%s)", text,
			 proto_err_name(code));
		ret = -EACCES;
		goto out;
	}
	ret = addr_check_proof(fd, a, reply, purpose, nonce, owner, why, size);
out:
	free(cred);
	json_object_put(m);
	json_object_put(reply);
	return ret;
}

int agent_addr_connect(const struct agent_addr *a, const char *role, const char *node, uid_t owner,
		       int timeout_ms, char *why, size_t why_size)
{
	int fd = addr_tcp_connect(a, timeout_ms, why, why_size);
	int ret;

	if (fd < 0)
		return fd;
	ret = addr_hello(fd, a, role, node, owner, timeout_ms, why, why_size);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}
