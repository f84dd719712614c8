/* coord_probe.c - checks how a job's coordinator authenticates TCP clients
 * (tests/slurm/cluster_security.sh).
 *
 *   coord-probe HOST PORT JOBID MODE
 *
 * Connects to the coordinator of job JOBID at HOST:PORT and opens with a
 * "register" (role "client") whose credential MODE chooses:
 *   forged   a string that is no munge credential    -> error, code 3 (E_AUTH)
 *   purpose  a valid credential for "coord:999999"   -> error, code 3 (E_AUTH)
 *   replay   one valid credential on two connections -> register_ok, then code 5 (E_REPLAY)
 *   own      a fresh valid credential                -> register_ok, then a
 *            "status" gets a status_reply for JOBID
 *   other    a fresh valid credential of a user who is neither the owner nor
 *            root (run it as such a user)            -> error, code 4 (E_PERM)
 * After an error the coordinator must close the connection.
 *
 *   coord-probe HOST PORT JOBID fake SECONDS
 *
 * Plays an impostor on PORT (HOST ignored) for SECONDS, as whoever runs
 * it: the port of a killed coordinator that a stale coord.json still names.
 * Each client's hello is answered with register_ok and the strongest proof
 * this user can make (its own munge credential, bound to the client's
 * nonce and address), then a "prepare" for process 0. One line per
 * connection: "conn N (role R): closed after register_ok" when the client
 * hung up, "conn N (role R): OBEYED ..." when it sent anything more.
 * Exit 0 when there was at least one connection and every client hung up.
 *
 *   coord-probe HOST PORT JOBID relay SECONDS
 *
 * Plays a relaying impostor for SECONDS on a free port it prints
 * ("relaying on port Q"): each client's hello is forwarded to the real
 * coordinator at HOST:PORT, and its answer reported: "relay N: refused,
 * code C" (what must happen: the hello names port Q, not PORT) or
 * "relay N: ACCEPTED" (the impostor would now act as the job's owner).
 * Exit 0 when at least one hello was relayed and every one was refused.
 *
 * Exit status: 0 when the coordinator answered as expected, 1 otherwise
 * (with one line on stderr saying what was expected and what came), 2 for
 * a wrong command line.
 */
#include "auth.h"
#include "frame.h"
#include "msg.h"

#include <errno.h>
#include <json-c/json.h>
#include <munge.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Milliseconds to wait for each answer: munge decoding and a slurmctld
 * lookup on a loaded test host take well under a second; 15 s only bounds a
 * coordinator that never answers. */
#define PROBE_TIMEOUT_MS 15000

/* Where the coordinator listens and which job it serves. */
struct probe {
	const char *host; /* coordinator's host */
	const char *port; /* its TCP port */
	const char *job;  /* job id, as given */
};

/* Returns a connected TCP socket to the coordinator, or -1 (logged). */
static int probe_connect(const struct probe *p)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	int fd = -1;
	int ret;

	ret = getaddrinfo(p->host, p->port, &hints, &res);
	if (ret) {
		fprintf(stderr, "coord-probe: %s:%s: %s\n", p->host, p->port, gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fprintf(stderr, "coord-probe: cannot connect to %s:%s: %s\n", p->host, p->port,
			strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* Sends a client "register" carrying @cred on @fd. Returns 0 or -1 (logged). */
static int probe_register(int fd, const char *cred)
{
	struct json_object *m = proto_msg_new("register");
	int ret = -1;

	if (!m || proto_msg_set_str(m, "role", "client") || proto_msg_set_str(m, "cred", cred)) {
		fprintf(stderr, "coord-probe: cannot build the register message\n");
		goto out;
	}
	ret = proto_frame_send(fd, m);
	if (ret)
		fprintf(stderr, "coord-probe: cannot send register: %s\n", strerror(-ret));
	ret = ret ? -1 : 0;
out:
	json_object_put(m);
	return ret;
}

/* Receives one frame; NULL (logged) when none came. */
static struct json_object *probe_recv(int fd, const char *what)
{
	struct json_object *m = NULL;
	int ret = proto_frame_recv(fd, &m, PROBE_TIMEOUT_MS);

	if (ret) {
		fprintf(stderr, "coord-probe: no answer to %s: %s\n", what, strerror(-ret));
		return NULL;
	}
	return m;
}

/* True when @m is an "error" with @code. Says what came otherwise. */
static bool probe_is_error(struct json_object *m, int code)
{
	const char *text = "";
	int got = -1;

	if (!proto_msg_is(m, "error") || proto_msg_get_error(m, &got, &text) || got != code) {
		fprintf(stderr, "coord-probe: expected error code %d (%s), got %s\n", code,
			proto_err_name(code), json_object_to_json_string(m));
		return false;
	}
	printf("error code %d (%s): %s\n", got, proto_err_name(got), text);
	return true;
}

/* True when the coordinator closes @fd (after an error) within the timeout. */
static bool probe_closed(int fd)
{
	struct json_object *m = NULL;
	int ret = proto_frame_recv(fd, &m, PROBE_TIMEOUT_MS);

	if (ret == -ECONNRESET)
		return true;
	if (ret == 0)
		fprintf(stderr, "coord-probe: connection still open after the error; got %s\n",
			json_object_to_json_string(m));
	else
		fprintf(stderr, "coord-probe: connection not closed after the error: %s\n",
			strerror(-ret));
	json_object_put(m);
	return false;
}

/* One connection registering with @cred; true when the answer is an error
 * with @code (> 0) followed by a close, or register_ok (@code 0). */
static bool probe_once(const struct probe *p, const char *cred, int code, int *fd_out)
{
	struct json_object *m;
	bool ok = false;
	int fd = probe_connect(p);

	if (fd < 0)
		return false;
	if (probe_register(fd, cred))
		goto out_close;
	m = probe_recv(fd, "register");
	if (!m)
		goto out_close;
	if (code) {
		ok = probe_is_error(m, code) && probe_closed(fd);
	} else {
		ok = proto_msg_is(m, "register_ok");
		if (!ok)
			fprintf(stderr, "coord-probe: expected register_ok, got %s\n",
				json_object_to_json_string(m));
		else
			printf("register_ok\n");
	}
	json_object_put(m);
	if (ok && fd_out) {
		*fd_out = fd;
		return true;
	}
out_close:
	close(fd);
	return ok;
}

/* After register_ok on @fd: "status" must get a status_reply for our job. */
static bool probe_status(const struct probe *p, int fd)
{
	struct json_object *req = proto_msg_new("status");
	struct json_object *m = NULL;
	int64_t job = -1;
	bool ok = false;

	if (!req || proto_frame_send(fd, req)) {
		fprintf(stderr, "coord-probe: cannot send status\n");
		goto out;
	}
	m = probe_recv(fd, "status");
	if (!m)
		goto out;
	if (!proto_msg_is(m, "status_reply") || proto_msg_get_int(m, "job", &job) ||
	    job != strtoll(p->job, NULL, 10)) {
		fprintf(stderr, "coord-probe: expected a status_reply for job %s, got %.300s\n",
			p->job, json_object_to_json_string(m));
		goto out;
	}
	printf("status_reply for job %lld\n", (long long)job);
	ok = true;
out:
	json_object_put(m);
	json_object_put(req);
	return ok;
}

/* Makes a fresh credential for @purpose; NULL (logged) on failure. */
static char *probe_cred(const char *purpose)
{
	char *cred = NULL;
	int ret = proto_auth_make_hello(purpose, &cred);

	if (ret) {
		fprintf(stderr, "coord-probe: cannot make a credential for %s: %s\n", purpose,
			strerror(-ret));
		return NULL;
	}
	return cred;
}

/* The purpose a hello to this coordinator binds: "coord:<job>@<address
 * the connection reaches>" (proto_auth_coord_purpose()), learnt from one
 * connection closed without a word. Returns 0 or -1 (logged). */
static int probe_purpose(const struct probe *p, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = probe_connect(p);
	int ret = -1;

	if (fd < 0)
		return -1;
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    proto_auth_coord_purpose((uint32_t)strtoul(p->job, NULL, 10), (struct sockaddr *)&ss,
				     out, size) == 0)
		ret = 0;
	else
		fprintf(stderr, "coord-probe: cannot name the coordinator's address\n");
	close(fd);
	return ret;
}

/* True when @mode is one of those this probe knows. */
static bool probe_mode_known(const char *mode)
{
	static const char *const modes[] = { "forged", "purpose", "replay", "own", "other" };
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i]) == 0)
			return true;
	return false;
}

/* Runs MODE (known) against the coordinator; true when it answered as expected. */
static bool probe_run(const struct probe *p, const char *mode)
{
	char purpose[PROTO_AUTH_PURPOSE_MAX];
	char *cred = NULL;
	bool ok = false;
	int fd = -1;

	if (strcmp(mode, "forged") == 0)
		return probe_once(p, "MUNGE:this-is-not-a-credential:", PROTO_E_AUTH, NULL);
	if (probe_purpose(p, purpose, sizeof(purpose)))
		return false;
	cred = probe_cred(strcmp(mode, "purpose") == 0 ? "coord:999999" : purpose);
	if (!cred)
		return false;
	if (strcmp(mode, "purpose") == 0) {
		ok = probe_once(p, cred, PROTO_E_AUTH, NULL);
	} else if (strcmp(mode, "replay") == 0) {
		ok = probe_once(p, cred, 0, &fd) && probe_once(p, cred, PROTO_E_REPLAY, NULL);
	} else if (strcmp(mode, "own") == 0) {
		ok = probe_once(p, cred, 0, &fd) && probe_status(p, fd);
	} else {
		ok = probe_once(p, cred, PROTO_E_PERM, NULL);
	}
	if (fd >= 0)
		close(fd);
	free(cred);
	return ok;
}

/* Seconds an impostor waits for a client's next frame after its
 * register_ok: a client that trusts it sends at once (its processes'
 * registrations, its request); one that refuses it hangs up at once. */
#define FAKE_WAIT_MS 5000

/* Listens on @port (SO_REUSEADDR: the killed coordinator's connections may
 * linger in TIME_WAIT), retrying 10 s while the port is still taken. */
static int fake_listen(const char *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	for (int i = 0; i < 100; i++) {
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(fd, 16) == 0)
			return fd;
		usleep(100000);
	}
	fprintf(stderr, "coord-probe: cannot listen on port %s: %s\n", port, strerror(errno));
	close(fd);
	return -1;
}

/* Answers one client as an impostor. Returns true when the client hung up
 * after register_ok, without sending anything more. */
static bool fake_serve(const struct probe *p, int fd, int n)
{
	char purpose[PROTO_AUTH_PURPOSE_MAX];
	char nonce[PROTO_AUTH_NONCE_LEN + 1] = "";
	char peer[PROTO_AUTH_PEER_MAX + 1] = "?";
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct json_object *hello = NULL;
	struct json_object *ok = NULL;
	struct json_object *prep = NULL;
	struct json_object *next = NULL;
	const char *role = "?";
	const char *cred = NULL;
	char *proof = NULL;
	void *payload = NULL;
	int len = 0;
	bool good = false;
	int ret;

	(void)p;
	snprintf(purpose, sizeof(purpose), "?");
	if (proto_frame_recv(fd, &hello, PROBE_TIMEOUT_MS) ||
	    proto_msg_get_str(hello, "cred", 4096, &cred)) {
		printf("conn %d: no hello\n", n);
		goto out;
	}
	proto_msg_get_str_opt(hello, "role", 16, "?", &role);
	/* Anyone may decode a munge credential: the nonce is no secret. */
	if (munge_decode(cred, NULL, &payload, &len, NULL, NULL) == EMUNGE_SUCCESS &&
	    len >= PROTO_AUTH_NONCE_LEN) {
		const char *sp = memchr(payload, ' ', (size_t)len);

		memcpy(nonce, (char *)payload + len - PROTO_AUTH_NONCE_LEN, PROTO_AUTH_NONCE_LEN);
		nonce[PROTO_AUTH_NONCE_LEN] = '\0';
		/* "slurm-ckpt-hello/1 <purpose> <nonce>": prove for that purpose. */
		if (sp && len > (int)(sp + 1 - (char *)payload) + PROTO_AUTH_NONCE_LEN + 1)
			snprintf(purpose, sizeof(purpose), "%.*s",
				 (int)(len - (sp + 1 - (char *)payload) - PROTO_AUTH_NONCE_LEN - 1),
				 sp + 1);
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0)
		proto_auth_sockaddr_str((struct sockaddr *)&ss, peer, sizeof(peer));
	ok = proto_msg_new("register_ok");
	if (!ok || proto_auth_make_proof(purpose, nonce, peer, &proof) ||
	    proto_msg_set_str(ok, "proof", proof) || proto_frame_send(fd, ok)) {
		printf("conn %d (role %s): cannot answer\n", n, role);
		goto out;
	}
	prep = proto_msg_new("prepare");
	if (prep && !proto_msg_set_int(prep, "gen", 1) && !proto_msg_set_int(prep, "part", 0))
		proto_frame_send(fd, prep);
	ret = proto_frame_recv(fd, &next, FAKE_WAIT_MS);
	if (ret == -ECONNRESET) {
		printf("conn %d (role %s): closed after register_ok\n", n, role);
		good = true;
	} else if (ret == 0) {
		printf("conn %d (role %s): OBEYED: sent %.200s after register_ok\n", n, role,
		       json_object_to_json_string(next));
	} else {
		printf("conn %d (role %s): OBEYED: kept the connection open: %s\n", n, role,
		       strerror(-ret));
	}
out:
	fflush(stdout);
	free(payload);
	free(proof);
	json_object_put(hello);
	json_object_put(ok);
	json_object_put(prep);
	json_object_put(next);
	return good;
}

/* Forwards the hello a client sent on @fd to the real coordinator, as an
 * impostor would. Returns true when the coordinator refused it. */
static bool relay_one(const struct probe *p, int fd, int n)
{
	struct json_object *hello = NULL;
	struct json_object *ans = NULL;
	const char *text = "";
	bool refused = false;
	int code = 0;
	int up;

	if (proto_frame_recv(fd, &hello, PROBE_TIMEOUT_MS)) {
		printf("relay %d: no hello\n", n);
		return false;
	}
	up = probe_connect(p);
	if (up < 0 || proto_frame_send(up, hello) || proto_frame_recv(up, &ans, PROBE_TIMEOUT_MS)) {
		printf("relay %d: no answer from the coordinator\n", n);
	} else if (proto_msg_is(ans, "register_ok")) {
		printf("relay %d: ACCEPTED: the coordinator took the relayed hello\n", n);
	} else {
		proto_msg_get_error(ans, &code, &text);
		printf("relay %d: refused, code %d (%s): %s\n", n, code, proto_err_name(code),
		       text);
		refused = code > 0;
	}
	fflush(stdout);
	if (up >= 0)
		close(up);
	json_object_put(hello);
	json_object_put(ans);
	return refused;
}

/* Accepts the connections to @lfd for @seconds, hands each to @serve with
 * its number, then closes @lfd. Returns how many were served; *@all turns
 * false when @serve says one went wrong. */
static int serve_for(int lfd, int seconds, const struct probe *p,
		     bool (*serve)(const struct probe *p, int fd, int n), bool *all)
{
	time_t end = time(NULL) + seconds;
	int n = 0;

	while (time(NULL) < end) {
		struct timeval tv = { .tv_sec = 1 };
		int fd;

		setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (!serve(p, fd, ++n))
			*all = false;
		close(fd);
	}
	close(lfd);
	return n;
}

/* The relaying impostor: forwards every client's hello for @seconds. */
static int relay_run(const struct probe *p, int seconds)
{
	struct sockaddr_in sin = { 0 };
	socklen_t len = sizeof(sin);
	int lfd = fake_listen("0");
	int n;
	bool all = true;

	if (lfd < 0)
		return 1;
	if (getsockname(lfd, (struct sockaddr *)&sin, &len)) {
		close(lfd);
		return 1;
	}
	printf("relaying on port %u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);
	n = serve_for(lfd, seconds, p, relay_one, &all);
	printf("relay: %d hello(s) relayed, %s\n", n, n && all ? "all refused" : "not all refused");
	return n && all ? 0 : 1;
}

/* The impostor: serves every client for @seconds. */
static int fake_run(const struct probe *p, int seconds)
{
	int lfd = fake_listen(p->port);
	int n;
	bool all = true;

	if (lfd < 0)
		return 1;
	printf("listening on port %s as uid %u\n", p->port, (unsigned)getuid());
	fflush(stdout);
	n = serve_for(lfd, seconds, p, fake_serve, &all);
	printf("fake: %d connection(s), %s\n", n,
	       n && all ? "every client hung up" : "not every client hung up");
	return n && all ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct probe p;

	if (argc == 6 && (strcmp(argv[4], "fake") == 0 || strcmp(argv[4], "relay") == 0)) {
		p.host = argv[1];
		p.port = argv[2];
		p.job = argv[3];
		return strcmp(argv[4], "fake") == 0 ? fake_run(&p, atoi(argv[5]))
						    : relay_run(&p, atoi(argv[5]));
	}
	if (argc != 5 || !probe_mode_known(argv[4])) {
		fprintf(stderr,
			"usage: coord-probe HOST PORT JOBID forged|purpose|replay|own|other\n"
			"       coord-probe HOST PORT JOBID fake|relay SECONDS\n");
		return 2;
	}
	p.host = argv[1];
	p.port = argv[2];
	p.job = argv[3];
	return probe_run(&p, argv[4]) ? 0 : 1;
}
