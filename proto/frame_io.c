/* frame_io.c - blocking frame send/receive on a file descriptor, for clients
 * without an event loop (the preloaded library's checkpoint thread, the CLI).
 *
 * Time limits use poll() against a CLOCK_MONOTONIC deadline, never alarm() or
 * signals: this code runs inside applications whose signal handlers we must
 * not disturb.
 */
#define LOG_PREFIX "frame: "
#include "frame.h"

#include "fault.h"
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Milliseconds on the monotonic clock; immune to wall-clock jumps. */
static int64_t io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for @timeout_ms from now; -1 means none. */
static int64_t io_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : io_now_ms() + timeout_ms;
}

/* Waits until @fd is ready for @events or @deadline passes.
 * Returns 0 when ready (or hung up: the next read/write tells how),
 * -ETIMEDOUT, or -errno from poll(). */
static int io_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline < 0 ? -1 : deadline - io_now_ms();
		if (deadline >= 0 && left < 0)
			left = 0;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return (pfd.revents & POLLNVAL) ? -EBADF : 0;
		if (n == 0 && deadline >= 0 && io_now_ms() >= deadline)
			return -ETIMEDOUT;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Reads exactly @len bytes. *@got tells how many arrived before a failure.
 * Returns 0, -ECONNRESET on EOF, -ETIMEDOUT, or -errno. */
static int io_read_full(int fd, void *buf, size_t len, int64_t deadline, size_t *got)
{
	ssize_t n;
	int ret;

	*got = 0;
	while (*got < len) {
		if (deadline >= 0) {
			ret = io_wait(fd, POLLIN, deadline);
			if (ret)
				return ret;
		}
		n = read(fd, (char *)buf + *got, len - *got);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = io_wait(fd, POLLIN, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

/* One write attempt: send() with MSG_NOSIGNAL on sockets so a vanished peer
 * is -EPIPE instead of a SIGPIPE that would kill the application. With a
 * deadline, MSG_DONTWAIT keeps a blocking socket from waiting past it for
 * the whole buffer to drain (pipes cannot do that: documented limit). */
static ssize_t io_write_once(int fd, const char *buf, size_t len, bool timed, bool *not_sock)
{
	ssize_t n;

	if (!*not_sock) {
		n = send(fd, buf, len, MSG_NOSIGNAL | (timed ? MSG_DONTWAIT : 0));
		if (n >= 0 || errno != ENOTSOCK)
			return n;
		*not_sock = true;
	}
	return write(fd, buf, len);
}

static int io_write_full(int fd, const char *buf, size_t len, int64_t deadline)
{
	bool not_sock = false;
	size_t done = 0;
	ssize_t n;
	int ret;

	while (done < len) {
		if (deadline >= 0) {
			ret = io_wait(fd, POLLOUT, deadline);
			if (ret)
				return ret;
		}
		n = io_write_once(fd, buf + done, len - done, deadline >= 0, &not_sock);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = io_wait(fd, POLLOUT, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

int proto_frame_send_timeout(int fd, const struct json_object *msg, int timeout_ms)
{
	int64_t deadline = io_deadline(timeout_ms);
	size_t len;
	char *buf;
	int ret;

	if (fd < 0)
		return -EBADF;
	ret = proto_frame_encode(msg, &buf, &len);
	if (ret)
		return ret;
	ret = proto_fault("frame_send") ? -EPIPE : io_write_full(fd, buf, len, deadline);
	if (ret == -ETIMEDOUT)
		log_err("sending a %zu-byte frame on fd %d timed out after %d ms; "
			"the peer is not reading",
			len, fd, timeout_ms);
	else if (ret == -EPIPE || ret == -ECONNRESET)
		log_debug("peer on fd %d closed the connection before a frame was sent", fd);
	else if (ret)
		log_err("sending a %zu-byte frame on fd %d failed: %s", len, fd, strerror(-ret));
	free(buf);
	return ret;
}

int proto_frame_send(int fd, const struct json_object *msg)
{
	return proto_frame_send_timeout(fd, msg, -1);
}

/* Reads the payload of a frame whose header is @hdr and decodes it through a
 * decoder, so the blocking path refuses exactly what the event path refuses
 * and reports it with the same words. */
static int io_recv_payload(int fd, const unsigned char *hdr, int64_t deadline,
			   struct json_object **msg)
{
	uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
		       hdr[3];
	struct proto_decoder *dec;
	char *payload = NULL;
	size_t got = 0;
	int ret;

	dec = proto_decoder_new();
	if (!dec)
		return -ENOMEM;
	ret = proto_decoder_feed(dec, hdr, PROTO_FRAME_HDR_LEN);
	if (ret)
		goto out_free_dec;
	if (len <= PROTO_FRAME_MAX) {
		payload = malloc(len ? len : 1);
		if (!payload) {
			log_err("cannot allocate a %u-byte frame from fd %d", len, fd);
			ret = -ENOMEM;
			goto out_free_dec;
		}
		ret = io_read_full(fd, payload, len, deadline, &got);
		if (ret == -ECONNRESET)
			log_warn("peer on fd %d closed the connection after %zu of %u frame bytes",
				 fd, got, len);
		if (ret)
			goto out_free_payload;
		ret = proto_decoder_feed(dec, payload, len);
		if (ret)
			goto out_free_payload;
	}
	ret = proto_decoder_next(dec, msg);
	if (ret < 0)
		log_err("malformed frame from fd %d: %s; closing the connection is the only "
			"safe answer",
			fd, proto_decoder_strerror(dec));
	ret = ret == 1 ? 0 : (ret < 0 ? ret : -EPROTO);
out_free_payload:
	free(payload);
out_free_dec:
	proto_decoder_free(dec);
	return ret;
}

int proto_frame_recv(int fd, struct json_object **msg, int timeout_ms)
{
	int64_t deadline = io_deadline(timeout_ms);
	unsigned char hdr[PROTO_FRAME_HDR_LEN];
	size_t got = 0;
	int ret;

	*msg = NULL;
	if (fd < 0)
		return -EBADF;
	ret = io_read_full(fd, hdr, sizeof(hdr), deadline, &got);
	if (ret == -ECONNRESET && got == 0)
		log_debug("peer on fd %d closed the connection", fd);
	else if (ret == -ECONNRESET)
		log_warn("peer on fd %d closed the connection inside a frame header", fd);
	if (ret == 0)
		ret = io_recv_payload(fd, hdr, deadline, msg);
	if (ret == -ETIMEDOUT)
		log_debug("no complete frame on fd %d within %d ms", fd, timeout_ms);
	else if (ret && ret != -ECONNRESET && ret != -EPROTO && ret != -ENOMEM)
		log_err("receiving a frame on fd %d failed: %s", fd, strerror(-ret));
	return ret;
}
