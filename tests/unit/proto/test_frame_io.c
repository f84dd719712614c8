/* Unit tests of proto/frame_io.c: blocking send/receive over socketpairs and
 * pipes, partial I/O, timeouts, EOF, malformed frames, SIGPIPE safety. */
#include "frame.h"
#include "msg.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void write_all(int fd, const void *buf, size_t len)
{
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
}

Test(frame_io, send_recv_roundtrip)
{
	struct json_object *m = proto_msg_new(PROTO_MSG_COMMITTED);
	struct json_object *r;
	int64_t gen;
	int sv[2];

	pair(sv);
	proto_msg_set_int(m, "gen", 12);
	cr_assert_eq(proto_frame_send(sv[0], m), 0);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 1000), 0);
	cr_assert(proto_msg_is(r, "committed"));
	cr_assert_eq(proto_msg_get_int(r, "gen", &gen), 0);
	cr_assert_eq(gen, 12);
	json_object_put(r);
	json_object_put(m);
	close(sv[0]);
	close(sv[1]);
}

Test(frame_io, recv_reads_exactly_one_frame)
{
	struct json_object *r;
	char buf[256];
	size_t l1;
	size_t l2;
	char *f1 = test_frame_str("{\"v\":1,\"type\":\"a\"}", &l1);
	char *f2 = test_frame_str("{\"v\":1,\"type\":\"b\"}", &l2);
	int sv[2];

	pair(sv);
	memcpy(buf, f1, l1);
	memcpy(buf + l1, f2, l2);
	write_all(sv[0], buf, l1 + l2);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 1000), 0);
	cr_assert(proto_msg_is(r, "a"));
	json_object_put(r);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 1000), 0);
	cr_assert(proto_msg_is(r, "b"));
	json_object_put(r);
	free(f1);
	free(f2);
}

Test(frame_io, recv_timeout_and_zero_timeout)
{
	struct json_object *r = (struct json_object *)1;
	struct timespec a;
	struct timespec b;
	long ms;
	int sv[2];

	pair(sv);
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 100), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	cr_assert(ms >= 95 && ms < 2000, "waited %ld ms", ms);
	cr_assert_null(r);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 0), -ETIMEDOUT);
}

Test(frame_io, recv_timeout_on_partial_frame)
{
	struct json_object *r;
	size_t len;
	char *f = test_frame_str("{\"v\":1,\"type\":\"a\"}", &len);
	int sv[2];

	pair(sv);
	write_all(sv[0], f, len - 2);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 50), -ETIMEDOUT);
	free(f);
}

Test(frame_io, recv_eof_clean_and_mid_frame)
{
	struct json_object *r;
	size_t len;
	char *f = test_frame_str("{\"v\":1,\"type\":\"a\"}", &len);
	int sv[2];

	pair(sv);
	close(sv[0]);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 1000), -ECONNRESET);
	close(sv[1]);

	pair(sv);
	write_all(sv[0], f, 2);
	close(sv[0]);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 1000), -ECONNRESET);
	close(sv[1]);

	pair(sv);
	write_all(sv[0], f, len - 1);
	close(sv[0]);
	cr_assert_eq(proto_frame_recv(sv[1], &r, -1), -ECONNRESET);
	close(sv[1]);
	free(f);
}

Test(frame_io, recv_malformed_is_eproto)
{
	const char *bad[] = { "nope", "[]", "{\"v\":1}", "{\"v\":2,\"type\":\"x\"}" };
	struct json_object *r = (struct json_object *)1;
	unsigned char big[4] = { 0x7f, 0xff, 0xff, 0xff };
	size_t len;
	size_t i;
	int sv[2];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *f = test_frame_str(bad[i], &len);

		pair(sv);
		write_all(sv[0], f, len);
		cr_assert_eq(proto_frame_recv(sv[1], &r, 1000), -EPROTO, "%s", bad[i]);
		cr_assert_null(r);
		close(sv[0]);
		close(sv[1]);
		free(f);
	}
	pair(sv);
	write_all(sv[0], big, 4);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 1000), -EPROTO);
}

struct big_send {
	int fd;			 /* where to send */
	struct json_object *msg; /* what to send */
	int ret;		 /* proto_frame_send()'s result */
};

static void *big_sender(void *arg)
{
	struct big_send *s = arg;

	s->ret = proto_frame_send(s->fd, s->msg);
	return NULL;
}

/* A ~900 KiB frame does not fit a socket buffer: exercises partial writes
 * and reads on both sides, with a non-blocking receiver. */
Test(frame_io, large_frame_partial_io_nonblocking)
{
	struct big_send s = { .msg = proto_msg_new("status_reply") };
	char *pad = malloc(PROTO_MSG_STR_MAX + 1);
	struct json_object *r;
	pthread_t t;
	char key[16];
	int sv[2];
	int i;

	memset(pad, 'p', PROTO_MSG_STR_MAX);
	pad[PROTO_MSG_STR_MAX] = '\0';
	for (i = 0; i < 220; i++) {
		snprintf(key, sizeof(key), "f%d", i);
		proto_msg_set_str(s.msg, key, pad);
	}
	pair(sv);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	s.fd = sv[0];
	pthread_create(&t, NULL, big_sender, &s);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 10000), 0);
	pthread_join(t, NULL);
	cr_assert_eq(s.ret, 0);
	cr_assert_eq(json_object_object_length(r), 222);
	json_object_put(r);
	json_object_put(s.msg);
	free(pad);
}

Test(frame_io, send_to_closed_peer_is_epipe_not_sigpipe)
{
	struct json_object *m = proto_msg_new("heartbeat");
	int sv[2];

	pair(sv);
	close(sv[1]);
	/* Default SIGPIPE disposition would kill the test process. */
	cr_assert_eq(proto_frame_send(sv[0], m), -EPIPE);
	json_object_put(m);
}

Test(frame_io, send_timeout_when_peer_does_not_read)
{
	struct json_object *m = proto_msg_new("status_reply");
	char *pad = malloc(PROTO_MSG_STR_MAX + 1);
	char key[16];
	int sv[2];
	int i;

	memset(pad, 'p', PROTO_MSG_STR_MAX);
	pad[PROTO_MSG_STR_MAX] = '\0';
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "f%d", i);
		proto_msg_set_str(m, key, pad);
	}
	pair(sv);
	cr_assert_eq(proto_frame_send_timeout(sv[0], m, 100), -ETIMEDOUT);
	json_object_put(m);
	free(pad);
}

Test(frame_io, works_on_pipes)
{
	struct json_object *m = proto_msg_new("status");
	struct json_object *r;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(proto_frame_send(p[1], m), 0);
	cr_assert_eq(proto_frame_recv(p[0], &r, 1000), 0);
	cr_assert(proto_msg_is(r, "status"));
	json_object_put(r);
	json_object_put(m);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* A signal handler installed without SA_RESTART interrupts read(): the
 * helper must retry, not fail with EINTR. */
Test(frame_io, recv_survives_eintr)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct json_object *r;
	size_t len;
	char *f = test_frame_str("{\"v\":1,\"type\":\"late\"}", &len);
	pid_t child;
	int sv[2];
	int st;

	pair(sv);
	sigaction(SIGALRM, &sa, NULL);
	child = fork();
	if (child == 0) {
		usleep(200 * 1000);
		write_all(sv[0], f, 3);
		usleep(100 * 1000);
		write_all(sv[0], f + 3, len - 3);
		_exit(0);
	}
	ualarm(50 * 1000, 20 * 1000);
	cr_assert_eq(proto_frame_recv(sv[1], &r, 5000), 0);
	ualarm(0, 0);
	cr_assert(proto_msg_is(r, "late"));
	json_object_put(r);
	waitpid(child, &st, 0);
	free(f);
}

Test(frame_io, bad_fd)
{
	struct json_object *m = proto_msg_new("status");
	struct json_object *r;

	cr_assert_eq(proto_frame_recv(-1, &r, 100), -EBADF);
	cr_assert_eq(proto_frame_recv(12345, &r, -1), -EBADF);
	cr_assert_eq(proto_frame_send(12345, m), -EBADF);
	json_object_put(m);
}

Test(frame_io, send_fault_is_epipe)
{
	struct json_object *m = proto_msg_new("heartbeat");
	struct json_object *r;
	int sv[2];

	pair(sv);
	setenv("CKPT_FAULT", "frame_send", 1);
	cr_assert_eq(proto_frame_send(sv[0], m), -EPIPE);
	unsetenv("CKPT_FAULT");
	cr_assert_eq(proto_frame_recv(sv[1], &r, 0), -ETIMEDOUT, "nothing was sent");
	json_object_put(m);
}
