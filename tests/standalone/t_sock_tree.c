/* t_sock_tree.c - traffic both ways over three Unix socketpairs between two
 * processes of a tree, with data queued in each direction at every
 * checkpoint (docs/process-trees.md, "Socketpairs between processes of the
 * tree").
 *
 * The parent makes a stream, a datagram and a seqpacket socketpair, puts
 * them on fixed descriptor numbers and forks a child; it keeps its copy of
 * the child's stream end (a socket held by two processes). Every loop turn
 * of each process does at most one read of each kind, then sleeps TURN_NS,
 * while writers send as fast as the sockets take, so the queues are full at
 * most checkpoints:
 *   stream    parent -> child: RECORDS numbered 100-byte records, then the
 *             parent shuts its sending side down (the child must still get
 *             every record, then end of file);
 *             child -> parent: "ack N" lines every ACK_EVERY records, read
 *             by the parent one per ACK_TURNS turns; then the child shuts
 *             its sending side down;
 *   datagram  parent -> child: DGRAMS messages of n % 97 bytes (some empty),
 *             each checked whole;
 *   seqpacket child -> parent: SEQS messages of n * 13 % 500 bytes, then the
 *             child shuts its sending side down and the parent reads end of
 *             file.
 * Each process checks what it receives (order, length, content, none lost,
 * none twice), that its sockets keep their type, O_NONBLOCK and numbers,
 * and prints a line every PRINT_EVERY messages. Anything wrong prints a line
 * starting with "FAIL" and makes the process exit non-zero. Lines of
 * different processes interleave: compare outputs sorted.
 *
 *   t_sock_tree closed        a child sends CLOSED_RECS records in one write
 *                             over a stream socketpair and CLOSED_DGRAMS
 *                             datagrams over a datagram one, and exits; once
 *                             it is reaped, the parent reads them slowly:
 *                             every checkpoint finds sockets whose peer is
 *                             closed, with data queued; the stream must end
 *                             after the last record, the datagrams be whole.
 *   t_sock_tree stdio         the stream flow on a child's standard input:
 *                             the parent writes RECORDS records into a
 *                             stream socketpair whose other end is the
 *                             child's fd 0, then shuts its side down; the
 *                             child reads one per turn until end of file.
 *   t_sock_tree refuse PATH   what cannot be restored, for
 *                             tree_sock_refused.sh: a stream socket
 *                             listening at PATH (fd 30), a socketpair between
 *                             parent (fd 31) and child (fd 32) with a
 *                             descriptor in flight to the child (SCM_RIGHTS,
 *                             never received: the child, the only holder of
 *                             fd 32, saves that queue and refuses); prints
 *                             "ready" and waits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define RECORDS	    4000
#define REC_LEN	    100
#define ACK_EVERY   20
#define ACK_TURNS   8
#define DGRAMS	    1000
#define SEQS	    1000
#define PRINT_EVERY 50
#define TURN_NS	    1000000L
/* Turns without any progress after which a process gives up: a socket that
 * lost its queue or its shutdown state would otherwise wait for ever. */
#define STALL_TURNS 20000

/* Descriptor numbers: the parent's ends, the child's ends, and the
 * parent's copy of the child's stream end. */
enum { P_STR = 20, P_DG, P_SQ, C_STR, C_DG, C_SQ };

static int bad;

static void fail(const char *who, const char *what, int n)
{
	printf("FAIL %s: %s (at %d): %s\n", who, what, n, strerror(errno));
	fflush(stdout);
	bad = 1;
}

static void rec_make(char *r, int n)
{
	snprintf(r, REC_LEN, "%08d ", n);
	for (int i = 9; i < REC_LEN - 1; i++)
		r[i] = (char)('a' + (n * 7 + i) % 26);
	r[REC_LEN - 1] = '\n';
}

/* Message @n of a datagram or seqpacket flow: @len bytes of a pattern. */
static void msg_make(char *m, int n, int len)
{
	for (int i = 0; i < len; i++)
		m[i] = (char)(n * 31 + i);
}

static int dg_len(int n)
{
	return n % 97;
}

static int sq_len(int n)
{
	return n * 13 % 500;
}

/* Checks that @fd is still a socket of @type with O_NONBLOCK. */
static void check_fd(const char *who, int fd, int type, int n)
{
	int t = -1;
	socklen_t len = sizeof(t);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len) < 0 || t != type)
		fail(who, "a socket changed type or number", fd);
	if (!(fcntl(fd, F_GETFL) & O_NONBLOCK))
		fail(who, "a socket lost O_NONBLOCK", n);
}

static void turn(void)
{
	struct timespec d = { 0, TURN_NS };

	nanosleep(&d, NULL);
}

static int child(void)
{
	char rec[REC_LEN];
	char want[REC_LEN];
	char m[512];
	char w[512];
	size_t got = 0; /* bytes of the record being read */
	int recs = 0, dgs = 0, seqs = 0, stall = 0;
	int str_eof = 0;

	while (!bad && (!str_eof || dgs < DGRAMS || seqs < SEQS)) {
		int moved = 0;
		ssize_t n;

		if (!str_eof) {
			n = recv(C_STR, rec + got, REC_LEN - got, 0);
			if (n == 0 && got == 0) {
				str_eof = 1;
				moved = 1;
				if (recs != RECORDS)
					fail("child", "stream ended early", recs);
				printf("child: stream end after %d records\n", recs);
				shutdown(C_STR, SHUT_WR);
			} else if (n == 0) {
				fail("child", "stream ended inside a record", recs);
			} else if (n > 0 && (got += (size_t)n) == REC_LEN) {
				rec_make(want, recs);
				if (memcmp(rec, want, REC_LEN) != 0)
					fail("child", "wrong stream record", recs);
				got = 0;
				moved = 1;
				if (++recs % ACK_EVERY == 0) {
					int len = snprintf(m, sizeof(m), "ack %08d\n", recs);

					if (send(C_STR, m, (size_t)len, 0) != len)
						fail("child", "ack not sent whole", recs);
				}
				if (recs % PRINT_EVERY == 0) {
					check_fd("child", C_STR, SOCK_STREAM, recs);
					printf("child: record %d ok\n", recs);
				}
			} else if (n > 0) {
				moved = 1;
			} else if (errno != EAGAIN) {
				fail("child", "stream recv", recs);
			}
		}
		if (dgs < DGRAMS) {
			n = recv(C_DG, m, sizeof(m), MSG_TRUNC);
			if (n >= 0) {
				msg_make(w, dgs, dg_len(dgs));
				if (n != dg_len(dgs) || memcmp(m, w, (size_t)n) != 0)
					fail("child", "wrong datagram", dgs);
				moved = 1;
				if (++dgs % PRINT_EVERY == 0) {
					check_fd("child", C_DG, SOCK_DGRAM, dgs);
					printf("child: datagram %d ok\n", dgs);
				}
			} else if (errno != EAGAIN) {
				fail("child", "datagram recv", dgs);
			}
		}
		if (seqs < SEQS) {
			msg_make(m, seqs, sq_len(seqs));
			n = send(C_SQ, m, (size_t)sq_len(seqs), 0);
			if (n == sq_len(seqs)) {
				moved = 1;
				if (++seqs == SEQS)
					shutdown(C_SQ, SHUT_WR);
			} else if (n >= 0 || errno != EAGAIN) {
				fail("child", "seqpacket send", seqs);
			}
		}
		fflush(stdout);
		stall = moved ? 0 : stall + 1;
		if (stall == STALL_TURNS)
			fail("child", "no progress for STALL_TURNS turns", recs);
		turn();
	}
	end_gate();
	printf("child: done, %d records, %d datagrams, %d seqpackets%s\n", recs, dgs, seqs,
	       bad ? " (FAIL)" : "");
	return bad;
}

static int parent(pid_t pid)
{
	char rec[REC_LEN];
	char m[512];
	char w[512];
	size_t sent = 0; /* bytes of the record being sent */
	int recs = 0, dgs = 0, seqs = 0, acks = 0, stall = 0, turns = 0;
	int seq_eof = 0, ack_eof = 0;
	int status;

	while (!bad && (recs < RECORDS || dgs < DGRAMS || !seq_eof || !ack_eof)) {
		int moved = 0;
		ssize_t n;

		while (recs < RECORDS) {
			rec_make(rec, recs);
			n = send(P_STR, rec + sent, REC_LEN - sent, 0);
			if (n < 0) {
				if (errno != EAGAIN)
					fail("parent", "stream send", recs);
				break;
			}
			moved = 1;
			sent += (size_t)n;
			if (sent == REC_LEN) {
				sent = 0;
				if (++recs == RECORDS)
					shutdown(P_STR, SHUT_WR);
			}
		}
		while (dgs < DGRAMS) {
			msg_make(m, dgs, dg_len(dgs));
			n = send(P_DG, m, (size_t)dg_len(dgs), 0);
			if (n < 0) {
				if (errno != EAGAIN)
					fail("parent", "datagram send", dgs);
				break;
			}
			if (n != dg_len(dgs))
				fail("parent", "datagram sent in part", dgs);
			moved = 1;
			dgs++;
		}
		if (!seq_eof) {
			n = recv(P_SQ, m, sizeof(m), MSG_TRUNC);
			if (n == 0 && seqs == SEQS) {
				seq_eof = 1;
				moved = 1;
				printf("parent: seqpacket end after %d\n", seqs);
			} else if (n >= 0) {
				msg_make(w, seqs, sq_len(seqs));
				if (n != sq_len(seqs) || memcmp(m, w, (size_t)n) != 0)
					fail("parent", "wrong seqpacket", seqs);
				moved = 1;
				if (++seqs % PRINT_EVERY == 0) {
					check_fd("parent", P_SQ, SOCK_SEQPACKET, seqs);
					printf("parent: seqpacket %d ok\n", seqs);
				}
			} else if (errno != EAGAIN) {
				fail("parent", "seqpacket recv", seqs);
			}
		}
		if (!ack_eof && ++turns % ACK_TURNS == 0) {
			/* Acks are 13 bytes each and a stream keeps no boundary:
			 * read exactly one. */
			n = recv(P_STR, m, 13, 0);
			snprintf(w, sizeof(w), "ack %08d\n", (acks + 1) * ACK_EVERY);
			if (n == 0) {
				ack_eof = 1;
				moved = 1;
				if (acks != RECORDS / ACK_EVERY)
					fail("parent", "acks ended early", acks);
				printf("parent: ack end after %d\n", acks);
			} else if (n == 13) {
				if (memcmp(m, w, 13) != 0)
					fail("parent", "wrong ack", acks);
				moved = 1;
				acks++;
				printf("parent: %.12s\n", m);
			} else if (n > 0) {
				fail("parent", "ack read in part", acks);
			} else if (errno != EAGAIN) {
				fail("parent", "ack recv", acks);
			}
		}
		fflush(stdout);
		stall = moved ? 0 : stall + 1;
		if (stall == STALL_TURNS)
			fail("parent", "no progress for STALL_TURNS turns", recs);
		turn();
	}
	check_fd("parent", P_DG, SOCK_DGRAM, dgs);
	check_fd("parent", C_STR, SOCK_STREAM, recs);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("FAIL parent: the child ended with wait status %#x\n", status);
		bad = 1;
	}
	printf("parent: done%s\n", bad ? " (FAIL)" : "");
	return bad;
}

/* Makes a socketpair of @type on descriptors @a and @b, non-blocking. */
static int pair_on(int type, int a, int b)
{
	int sv[2];

	if (socketpair(AF_UNIX, type, 0, sv) < 0 || dup2(sv[0], a) < 0 || dup2(sv[1], b) < 0)
		return -1;
	close(sv[0]);
	close(sv[1]);
	return fcntl(a, F_SETFL, O_NONBLOCK) < 0 || fcntl(b, F_SETFL, O_NONBLOCK) < 0 ? -1 : 0;
}

#define CLOSED_RECS   300
#define CLOSED_DGRAMS 10 /* within net.unix.max_dgram_qlen's default */
/* Turns per record read, one line each: slow enough that a restored run
 * prints a few dozen lines at most before its next checkpoint lands, so
 * the cycles never run out of lines before the end gate (each restart
 * and checkpoint takes some 200 ms of the run's time). */
#define CLOSED_REC_TURNS 20

/* The "closed" mode (see the top). */
static int closed(void)
{
	static char all[CLOSED_RECS * REC_LEN];
	char rec[REC_LEN];
	char want[REC_LEN];
	char m[512];
	char w[512];
	int recs = 0, dgs = 0, status = -1, t = 0;
	pid_t pid;

	if (pair_on(SOCK_STREAM, P_STR, C_STR) || pair_on(SOCK_DGRAM, P_DG, C_DG)) {
		printf("FAIL: socketpair: %s\n", strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		for (int n = 0; n < CLOSED_RECS; n++)
			rec_make(all + n * REC_LEN, n);
		for (int n = 0; n < CLOSED_DGRAMS; n++) {
			msg_make(m, n, dg_len(n * 11));
			if (send(C_DG, m, (size_t)dg_len(n * 11), 0) != dg_len(n * 11))
				_exit(3);
		}
		_exit(send(C_STR, all, sizeof(all), 0) == (ssize_t)sizeof(all) ? 0 : 2);
	}
	close(C_STR);
	close(C_DG);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
		printf("FAIL: the sender ended with status %#x\n", status);
		return 1;
	}
	printf("parent: sender gone\n");
	while (!bad && (recs <= CLOSED_RECS || dgs < CLOSED_DGRAMS)) {
		if (++t % CLOSED_REC_TURNS == 0 && recs <= CLOSED_RECS) {
			ssize_t n = recv(P_STR, rec, REC_LEN, MSG_WAITALL);

			rec_make(want, recs);
			if (n == 0 && recs == CLOSED_RECS) {
				printf("parent: stream end after %d records\n", recs++);
			} else if (n != REC_LEN || memcmp(rec, want, REC_LEN) != 0) {
				fail("parent", "wrong or missing record", recs);
			} else {
				printf("parent: record %d ok\n", recs++);
			}
		}
		if (t % (10 * CLOSED_REC_TURNS) == 0 && dgs < CLOSED_DGRAMS) {
			ssize_t n = recv(P_DG, m, sizeof(m), MSG_TRUNC);

			msg_make(w, dgs, dg_len(dgs * 11));
			if (n != dg_len(dgs * 11) || memcmp(m, w, (size_t)n) != 0)
				fail("parent", "wrong or missing datagram", dgs);
			else
				printf("parent: datagram %d ok\n", dgs++);
		}
		fflush(stdout);
		turn();
	}
	if (recv(P_DG, m, sizeof(m), MSG_DONTWAIT) >= 0 || errno != EAGAIN)
		fail("parent", "a datagram more than sent", dgs);
	end_gate();
	printf("parent: done%s\n", bad ? " (FAIL)" : "");
	return bad;
}

/* The "stdio" mode (see the top). */
static int on_stdin(void)
{
	char rec[REC_LEN];
	char want[REC_LEN];
	int sv[2];
	int status = -1;
	pid_t pid;

	fflush(stdout);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || (pid = fork()) < 0) {
		printf("FAIL: socketpair or fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		int n = 0;

		dup2(sv[1], 0);
		close(sv[0]);
		close(sv[1]);
		for (;; n++) {
			ssize_t got = recv(0, rec, REC_LEN, MSG_WAITALL);

			if (got == 0)
				break;
			rec_make(want, n);
			if (got != REC_LEN || memcmp(rec, want, REC_LEN) != 0)
				fail("child", "wrong or missing record on stdin", n);
			if (bad) {
				fflush(stdout);
				_exit(1);
			}
			if (n % PRINT_EVERY == 0)
				printf("child: stdin record %d ok\n", n);
			fflush(stdout);
			turn();
		}
		end_gate();
		printf("child: stdin end after %d records%s\n", n, n == RECORDS ? "" : " (FAIL)");
		fflush(stdout);
		_exit(n != RECORDS);
	}
	close(sv[1]);
	for (int n = 0; n < RECORDS; n++) {
		rec_make(rec, n);
		if (send(sv[0], rec, REC_LEN, 0) != REC_LEN)
			fail("parent", "send", n);
	}
	shutdown(sv[0], SHUT_WR);
	printf("parent: %d records sent\n", RECORDS);
	fflush(stdout);
	if (waitpid(pid, &status, 0) != pid || status != 0) {
		printf("FAIL parent: the child ended with wait status %#x\n", status);
		bad = 1;
	}
	printf("parent: done%s\n", bad ? " (FAIL)" : "");
	return bad;
}

/* The "refuse" mode (see the top). */
static int refuse(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char c[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = "fd", .iov_len = 2 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c)
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int one = 1;
	int l = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    dup2(l, 30) < 0 || pair_on(SOCK_STREAM, 31, 32) < 0) {
		printf("FAIL: refuse set-up: %s\n", strerror(errno));
		return 1;
	}
	close(l);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &one, sizeof(one));
	if (sendmsg(31, &m, 0) != 2) {
		printf("FAIL: sendmsg: %s\n", strerror(errno));
		return 1;
	}
	if (fork() == 0) {
		close(31);
		for (;;)
			pause();
	}
	close(32);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	pid_t pid;

	if (argc == 3 && !strcmp(argv[1], "refuse"))
		return refuse(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "closed"))
		return closed();
	if (argc == 2 && !strcmp(argv[1], "stdio"))
		return on_stdin();

	if (pair_on(SOCK_STREAM, P_STR, C_STR) || pair_on(SOCK_DGRAM, P_DG, C_DG) ||
	    pair_on(SOCK_SEQPACKET, P_SQ, C_SQ)) {
		printf("FAIL: socketpair: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("FAIL: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(P_STR);
		close(P_DG);
		close(P_SQ);
		_exit(child());
	}
	close(C_DG);
	close(C_SQ);
	return parent(pid);
}
