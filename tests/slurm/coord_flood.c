/* coord_flood.c - an anonymous flood of a job's coordinator port
 * (tests/slurm/cluster_flood.sh).
 *
 *   coord-flood HOST PORT IDLE HALF FORGED WAIT_S
 *
 * Opens IDLE connections that never say anything, HALF connections that
 * each send a frame header announcing the largest frame (1 MiB) and then
 * all of it but the last byte, so that a coordinator buffering frames of
 * unauthenticated peers holds a megabyte for each, and FORGED connections
 * that each send a hello with a forged credential (each refusal could be
 * a log line). Prints
 *   "connected: N of IDLE+HALF+FORGED (F refused or timed out)"
 * once every connection was tried, then watches them for WAIT_S seconds
 * and prints
 *   "closed: all N by the coordinator after S s"            (exit 0), or
 *   "open: K of N still open after WAIT_S s"                (exit 1).
 * 2 for a wrong command line or a local failure.
 */
#include "frame.h"
#include "msg.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bound on connecting one wave of them (in parallel): a coordinator not accepting
 * leaves connections in its backlog or drops their SYN; after 5 s it did
 * not take them. */
#define FLOOD_CONNECT_TIMEOUT_S 5
/* Connections opened at once, well under any listen backlog (64 here). */
#define FLOOD_WAVE 16

/* One flooding connection. */
struct flood_conn {
	int fd;		/* -1 once the coordinator closed it */
	bool forged;	/* sends a forged hello once connected */
	bool connected; /* the TCP handshake completed */
	size_t to_send; /* bytes of the half frame still to send */
};

static double flood_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A non-blocking socket connecting to @ai, or -1. */
static int flood_connect(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits until the connections of @conns[0..@n) are established, at most
 * FLOOD_CONNECT_TIMEOUT_S; closes (fd -1) those that failed or are still
 * pending. Returns how many are connected. */
static int flood_wait_connected(struct flood_conn *conns, struct pollfd *pfds, int n)
{
	double start = flood_now();
	int pending = n;
	int connected = 0;

	while (pending && flood_now() - start < FLOOD_CONNECT_TIMEOUT_S) {
		int k = 0;

		for (int i = 0; i < n; i++) {
			if (conns[i].fd < 0 || conns[i].connected)
				continue;
			pfds[k].fd = conns[i].fd;
			pfds[k].events = POLLOUT;
			pfds[k].revents = 0;
			k++;
		}
		if (poll(pfds, (nfds_t)k, 200) < 0 && errno != EINTR)
			break;
		for (int j = 0; j < k; j++) {
			int err = 0;
			socklen_t len = sizeof(err);
			int i;

			if (!pfds[j].revents)
				continue;
			for (i = 0; conns[i].fd != pfds[j].fd; i++)
				;
			pending--;
			if (getsockopt(conns[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
				close(conns[i].fd);
				conns[i].fd = -1;
				continue;
			}
			conns[i].connected = true;
			connected++;
		}
	}
	for (int i = 0; i < n; i++) {
		if (conns[i].fd >= 0 && !conns[i].connected) {
			close(conns[i].fd);
			conns[i].fd = -1;
		}
	}
	return connected;
}

/* Sends what the socket takes of @c's half frame; the header first. */
static void flood_push(struct flood_conn *c)
{
	static char junk[65536];
	unsigned char hdr[PROTO_FRAME_HDR_LEN];
	size_t total = PROTO_FRAME_HDR_LEN + PROTO_FRAME_MAX - 1;
	ssize_t n;

	while (c->fd >= 0 && c->to_send) {
		size_t off = total - c->to_send;

		if (off < PROTO_FRAME_HDR_LEN) {
			hdr[0] = (unsigned char)(PROTO_FRAME_MAX >> 24);
			hdr[1] = (unsigned char)(PROTO_FRAME_MAX >> 16);
			hdr[2] = (unsigned char)(PROTO_FRAME_MAX >> 8);
			hdr[3] = (unsigned char)PROTO_FRAME_MAX;
			n = send(c->fd, hdr + off, PROTO_FRAME_HDR_LEN - off, MSG_NOSIGNAL);
		} else {
			size_t len = c->to_send < sizeof(junk) ? c->to_send : sizeof(junk);

			memset(junk, '{', sizeof(junk));
			n = send(c->fd, junk, len, MSG_NOSIGNAL);
		}
		if (n < 0)
			return; /* full (EAGAIN) or refused: poll() tells which */
		c->to_send -= (size_t)n;
	}
}

/* True when the coordinator has closed @c (reads and drops its error). */
static bool flood_gone(struct flood_conn *c)
{
	char buf[4096];
	ssize_t n;

	do
		n = recv(c->fd, buf, sizeof(buf), 0);
	while (n > 0);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_INET };
	struct addrinfo *res = NULL;
	struct flood_conn *conns;
	struct pollfd *pfds;
	struct rlimit rl;
	int idle;
	int half;
	int forged;
	int all;
	char *hello = NULL;
	size_t hello_len = 0;
	struct json_object *m;
	int wait_s;
	int n = 0;
	int connected;
	int open;
	double start;

	if (argc != 7 || (idle = atoi(argv[3])) < 0 || (half = atoi(argv[4])) < 0 ||
	    (forged = atoi(argv[5])) < 0 || (wait_s = atoi(argv[6])) <= 0) {
		fprintf(stderr, "usage: coord-flood HOST PORT IDLE HALF FORGED WAIT_S\n");
		return 2;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &res)) {
		fprintf(stderr, "coord-flood: cannot resolve %s:%s\n", argv[1], argv[2]);
		return 2;
	}
	/* Our own fds must not be what runs out. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	all = idle + half + forged;
	m = proto_msg_new("register");
	if (!m || proto_msg_set_str(m, "role", "client") ||
	    proto_msg_set_str(m, "cred", "MUNGE:forged-by-coord-flood:") ||
	    proto_frame_encode(m, &hello, &hello_len)) {
		fprintf(stderr, "coord-flood: cannot build the forged hello\n");
		json_object_put(m);
		return 2;
	}
	json_object_put(m);
	conns = calloc((size_t)all, sizeof(*conns));
	pfds = calloc((size_t)all, sizeof(*pfds));
	if (!conns || !pfds) {
		fprintf(stderr, "coord-flood: out of memory\n");
		free(conns);
		free(pfds);
		return 2;
	}
	/* In waves: a burst larger than the listen backlog would leave
	 * connections half-open in the kernel, which the coordinator never
	 * sees and so can never close. */
	connected = 0;
	for (int i = 0; i < all; i += FLOOD_WAVE) {
		int first = n;

		for (int j = i; j < all && j < i + FLOOD_WAVE; j++) {
			int fd = flood_connect(res);

			if (fd < 0)
				continue; /* counted as not connected */
			conns[n].fd = fd;
			/* Forged first, idle last: the idle ones are left
			 * for the coordinator's hello deadline. */
			conns[n].forged = j < forged;
			conns[n].to_send = j >= forged && j < forged + half
						   ? PROTO_FRAME_HDR_LEN + PROTO_FRAME_MAX - 1
						   : 0;
			n++;
		}
		connected += flood_wait_connected(conns + first, pfds, n - first);
		for (int j = first; j < n; j++)
			if (conns[j].fd >= 0 && conns[j].forged &&
			    send(conns[j].fd, hello, hello_len, MSG_NOSIGNAL) < 0)
				fprintf(stderr, "coord-flood: forged hello: %s\n", strerror(errno));
	}
	free(hello);
	freeaddrinfo(res);
	for (int i = 0; i < n; i++)
		flood_push(&conns[i]);
	printf("connected: %d of %d (%d refused or timed out)\n", connected, all, all - connected);
	fflush(stdout);
	start = flood_now();
	for (open = n; open > 0 && flood_now() - start < wait_s;) {
		int k = 0;

		for (int i = 0; i < n; i++) {
			if (conns[i].fd < 0)
				continue;
			pfds[k].fd = conns[i].fd;
			pfds[k].events = (short)(POLLIN | (conns[i].to_send ? POLLOUT : 0));
			pfds[k].revents = 0;
			k++;
		}
		if (poll(pfds, (nfds_t)k, 200) < 0 && errno != EINTR)
			break; /* counted as still open */
		open = 0;
		for (int i = 0; i < n; i++) {
			if (conns[i].fd < 0)
				continue;
			flood_push(&conns[i]);
			if (flood_gone(&conns[i])) {
				close(conns[i].fd);
				conns[i].fd = -1;
				continue;
			}
			open++;
		}
	}
	if (open)
		printf("open: %d of %d still open after %d s\n", open, connected, wait_s);
	else
		printf("closed: all %d by the coordinator after %.1f s\n", connected,
		       flood_now() - start);
	free(conns);
	free(pfds);
	return open ? 1 : 0;
}
