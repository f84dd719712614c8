/* fake_proc.c - a stand-in for a checkpointed process, for the agent tests.
 *
 * Speaks the process side of the local protocol with proto/frame.h: it
 * registers on $CKPT_AGENT_SOCKET, answers "prepare" with "ready" and
 * "write" by writing a small dummy image and reporting its size and xxh64,
 * and obeys "resume", "abort" and "exit". Fault-injection options make it
 * misbehave in one chosen generation so the agent's abort paths are tested:
 *
 *   --fail-write N     answer "write" of generation N with an "error"
 *   --die-write N      exit (status 3) on "write" of generation N, no answer
 *   --hang-prepare N   never answer "prepare" of generation N
 *   --slow-write N S   take S seconds over "write" of generation N (a slow
 *                      file system), then answer it
 *   --bad-size N       report a wrong size for generation N's image
 *   --garbage          send a malformed frame right after registering
 *   --fork             fork once after registering; the child registers too
 *   --lifetime S       exit 0 after S seconds without "exit" (default 120)
 *   --send-json TEXT   instead of all this: connect, send TEXT as one frame
 *                      (not validated), print the reply or "closed", exit
 *
 * It prints one line per event on stdout ("registered", "resumed 2",
 * "aborted 3") so tests can follow it.
 */
#include "frame.h"
#include "msg.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

struct fake_opts {
	int64_t fail_write;   /* generation whose write fails, 0: none */
	int64_t die_write;    /* generation during whose write we die */
	int64_t hang_prepare; /* generation whose prepare we ignore */
	int64_t slow_write;   /* generation whose write takes @slow_s */
	int slow_s;	      /* seconds it takes */
	int64_t bad_size;     /* generation whose size we misreport */
	bool garbage;	      /* send a malformed frame after registering */
	bool fork;	      /* fork a second participant */
	int lifetime;	      /* seconds before giving up on our own */
};

static int fake_connect(void)
{
	const char *path = getenv("CKPT_AGENT_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "fake_proc: CKPT_AGENT_SOCKET unset or too long\n");
		exit(2);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "fake_proc: connect %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

static void send_or_die(int fd, struct json_object *m)
{
	int ret = proto_frame_send(fd, m);

	json_object_put(m);
	if (ret) {
		fprintf(stderr, "fake_proc: send: %s\n", strerror(-ret));
		exit(2);
	}
}

static int fake_register(void)
{
	struct json_object *m = proto_msg_new(PROTO_MSG_REGISTER);
	struct json_object *reply = NULL;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int fd = fake_connect();
	int ret;

	exe[n > 0 ? n : 0] = '\0';
	proto_msg_set_int(m, "pid", getpid());
	proto_msg_set_str(m, "exe", exe);
	proto_msg_set_int(m, "step", 0);
	proto_msg_set_int(m, "rank", 0);
	proto_msg_set_bool(m, "restored", false);
	proto_msg_set_int(m, "gen", 0);
	send_or_die(fd, m);
	ret = proto_frame_recv(fd, &reply, 10000);
	if (ret || !proto_msg_is(reply, PROTO_MSG_REGISTER_OK)) {
		fprintf(stderr, "fake_proc: no register_ok: %s\n",
			ret ? strerror(-ret) : "bad reply");
		exit(2);
	}
	json_object_put(reply);
	printf("registered %d\n", (int)getpid());
	fflush(stdout);
	return fd;
}

/* Writes a dummy image and returns its size and checksum. */
static int write_image(const char *path, int64_t gen, uint64_t *size, uint64_t *sum)
{
	char buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int len;

	if (fd < 0)
		return -errno;
	memset(buf, 'x', sizeof(buf));
	len = snprintf(buf, sizeof(buf), "fake image of pid %d, generation %lld\n", (int)getpid(),
		       (long long)gen);
	buf[len] = 'x';
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fsync(fd) < 0) {
		close(fd);
		return -EIO;
	}
	close(fd);
	*size = sizeof(buf);
	*sum = XXH64(buf, sizeof(buf), 0);
	return 0;
}

static void on_write(int fd, const struct json_object *msg, int64_t gen, const struct fake_opts *o)
{
	struct json_object *m;
	const char *path;
	uint64_t size = 0;
	uint64_t sum = 0;
	char hex[17];
	int ret;

	if (proto_msg_get_str(msg, "path", 0, &path)) {
		fprintf(stderr, "fake_proc: write without path\n");
		exit(2);
	}
	if (gen == o->die_write) {
		printf("dying in write %lld\n", (long long)gen);
		fflush(stdout);
		_exit(3);
	}
	if (gen == o->slow_write) {
		printf("slow write %lld\n", (long long)gen);
		fflush(stdout);
		sleep((unsigned int)o->slow_s);
	}
	ret = gen == o->fail_write ? -ENOSPC : write_image(path, gen, &size, &sum);
	if (ret) {
		m = proto_msg_new(PROTO_MSG_ERROR);
		proto_msg_set_int(m, "gen", gen);
		proto_msg_set_str(m, "reason",
				  gen == o->fail_write ? "injected write failure" : strerror(-ret));
		send_or_die(fd, m);
		return;
	}
	if (gen == o->bad_size)
		size += 1;
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)sum);
	m = proto_msg_new(PROTO_MSG_WRITTEN);
	proto_msg_set_int(m, "gen", gen);
	proto_msg_set_str(m, "path", path);
	proto_msg_set_int(m, "size", (int64_t)size);
	proto_msg_set_str(m, "xxh64", hex);
	proto_msg_set_int(m, "pause_ms", 1);
	proto_msg_set_int(m, "write_ms", 2);
	send_or_die(fd, m);
}

/* Answers the agent until "exit" or the lifetime ends. */
static int serve(int fd, const struct fake_opts *o)
{
	time_t end = time(NULL) + o->lifetime;

	for (;;) {
		struct json_object *msg = NULL;
		int64_t gen = 0;
		int64_t status;
		int ret;

		if (time(NULL) >= end)
			return 0;
		ret = proto_frame_recv(fd, &msg, 1000);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret) {
			printf("agent gone: %s\n", strerror(-ret));
			return 4;
		}
		proto_msg_get_int_opt(msg, "gen", 0, INT64_MAX, 0, &gen);
		switch (proto_msg_type(msg)) {
		case PROTO_MSG_T_PREPARE:
			if (gen != o->hang_prepare) {
				struct json_object *m = proto_msg_new(PROTO_MSG_READY);

				proto_msg_set_int(m, "gen", gen);
				send_or_die(fd, m);
			}
			break;
		case PROTO_MSG_T_WRITE:
			on_write(fd, msg, gen, o);
			break;
		case PROTO_MSG_T_RESUME:
			printf("resumed %lld\n", (long long)gen);
			break;
		case PROTO_MSG_T_ABORT:
			printf("aborted %lld\n", (long long)gen);
			break;
		case PROTO_MSG_T_EXIT:
			proto_msg_get_int_opt(msg, "status", 0, 255, 0, &status);
			printf("exit %lld\n", (long long)status);
			fflush(stdout);
			exit((int)status);
		default:
			fprintf(stderr, "fake_proc: unexpected %s\n",
				json_object_to_json_string(msg));
			break;
		}
		fflush(stdout);
		json_object_put(msg);
	}
}

/* Raw client mode: sends @text framed as is, prints what comes back. */
static int send_json(const char *text)
{
	uint32_t len = (uint32_t)strlen(text);
	unsigned char hdr[4] = { len >> 24, len >> 16, len >> 8, len };
	struct json_object *reply = NULL;
	int fd = fake_connect();
	int ret;

	if (write(fd, hdr, 4) != 4 || write(fd, text, len) != (ssize_t)len)
		return 2;
	ret = proto_frame_recv(fd, &reply, 10000);
	if (ret) {
		printf("closed\n");
		return 0;
	}
	printf("%s\n", json_object_to_json_string(reply));
	json_object_put(reply);
	/* A connection that was dropped after its reply reads EOF next. */
	ret = proto_frame_recv(fd, &reply, 2000);
	if (ret == -ECONNRESET)
		printf("closed\n");
	else if (!ret)
		json_object_put(reply);
	return 0;
}

int main(int argc, char **argv)
{
	struct fake_opts o = { .lifetime = 120 };
	int fd;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : "0";

		if (!strcmp(a, "--fail-write"))
			o.fail_write = atoll(v), i++;
		else if (!strcmp(a, "--die-write"))
			o.die_write = atoll(v), i++;
		else if (!strcmp(a, "--hang-prepare"))
			o.hang_prepare = atoll(v), i++;
		else if (!strcmp(a, "--slow-write") && i + 2 < argc)
			o.slow_write = atoll(v), o.slow_s = atoi(argv[i + 2]), i += 2;
		else if (!strcmp(a, "--bad-size"))
			o.bad_size = atoll(v), i++;
		else if (!strcmp(a, "--lifetime"))
			o.lifetime = atoi(v), i++;
		else if (!strcmp(a, "--garbage"))
			o.garbage = true;
		else if (!strcmp(a, "--send-json"))
			return send_json(v);
		else if (!strcmp(a, "--fork"))
			o.fork = true;
		else {
			fprintf(stderr, "fake_proc: unknown option %s\n", a);
			return 2;
		}
	}
	fd = fake_register();
	if (o.garbage) {
		/* A length prefix far above the 1 MiB limit. */
		static const unsigned char bad[] = { 0x7f, 0xff, 0xff, 0xff, '{' };

		if (write(fd, bad, sizeof(bad)) < 0)
			return 2;
		return serve(fd, &o);
	}
	if (o.fork && fork() == 0) {
		close(fd);
		fd = fake_register();
	}
	return serve(fd, &o);
}
