/* test_files_sock.c - unit tests of libckpt/files_sock.c: the data of a
 * TREE_SOCK entry is decoded strictly (every length checked, hostile data
 * refused), and a socket's receive queue copied without consuming it comes
 * back through a fresh socketpair with the same bytes and message
 * boundaries. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "files_sock.h"

/* Builds TREE_SOCK data in @buf: a header of @type with the @n messages
 * @msgs (lengths @lens). Returns its length. */
static size_t build(unsigned char *buf, uint32_t type, const char *const *msgs,
		    const uint32_t *lens, uint32_t n)
{
	struct ckpt_usock_hdr h = {
		.peer = 42, .type = type, .flags = CKPT_USOCK_QUEUE, .peek_off = -1, .nmsgs = n
	};
	size_t pos = sizeof(h);

	for (uint32_t i = 0; i < n; i++) {
		buf[pos] = (unsigned char)lens[i];
		buf[pos + 1] = (unsigned char)(lens[i] >> 8);
		buf[pos + 2] = (unsigned char)(lens[i] >> 16);
		buf[pos + 3] = (unsigned char)(lens[i] >> 24);
		memcpy(buf + pos + 4, msgs[i], lens[i]);
		pos += 4 + lens[i];
		h.qbytes += lens[i];
	}
	memcpy(buf, &h, sizeof(h));
	return pos;
}

Test(files_sock, decodes_messages_with_their_boundaries)
{
	static const char *const msgs[] = { "hello", "", "world!" };
	static const uint32_t lens[] = { 5, 0, 6 };
	unsigned char buf[256];
	size_t len = build(buf, SOCK_DGRAM, msgs, lens, 3);
	struct ckpt_usock_hdr h;
	uint64_t pos = 0;
	const void *m;
	uint32_t ml;

	cr_assert_eq(ckpt_usock_data_check(buf, len, &h), 0);
	cr_assert_eq(h.nmsgs, 3);
	cr_assert_eq(h.qbytes, 11);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(ckpt_usock_msg_next(buf, len, &pos, &m, &ml), 1);
		cr_assert_eq(ml, lens[i]);
		cr_assert_eq(memcmp(m, msgs[i], ml), 0);
	}
	cr_assert_eq(ckpt_usock_msg_next(buf, len, &pos, &m, &ml), 0);
}

Test(files_sock, refuses_hostile_data)
{
	static const char *const msgs[] = { "abc", "defg" };
	static const uint32_t lens[] = { 3, 4 };
	unsigned char buf[256];
	unsigned char bad[256];
	size_t len = build(buf, SOCK_SEQPACKET, msgs, lens, 2);
	struct ckpt_usock_hdr h;

	/* Every truncation. */
	for (size_t l = 0; l < len; l++)
		cr_assert_lt(ckpt_usock_data_check(buf, l, &h), 0, "length %zu", l);
	/* A byte more. */
	memcpy(bad, buf, len);
	bad[len] = 0;
	cr_assert_lt(ckpt_usock_data_check(bad, len + 1, &h), 0);
	/* Each header field out of range. */
	struct {
		size_t off;
		uint32_t val;
	} cases[] = {
		{ offsetof(struct ckpt_usock_hdr, type), 99 },
		{ offsetof(struct ckpt_usock_hdr, shut), 4 },
		{ offsetof(struct ckpt_usock_hdr, flags), 1u << 7 },
		{ offsetof(struct ckpt_usock_hdr, peek_off), (uint32_t)-2 },
		{ offsetof(struct ckpt_usock_hdr, nmsgs), 3 },
		{ offsetof(struct ckpt_usock_hdr, pad), 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, buf, len);
		memcpy(bad + cases[i].off, &cases[i].val, 4);
		cr_assert_lt(ckpt_usock_data_check(bad, len, &h), 0, "case %zu", i);
	}
	/* A message length running past the end. */
	memcpy(bad, buf, len);
	bad[sizeof(h)] = 200;
	cr_assert_lt(ckpt_usock_data_check(bad, len, &h), 0);
	/* A byte count that disagrees with the messages. */
	memcpy(bad, buf, len);
	memcpy(&h, bad, sizeof(h));
	h.qbytes = 6;
	memcpy(bad, &h, sizeof(h));
	cr_assert_lt(ckpt_usock_data_check(bad, len, &h), 0);
	/* No queue flag: nothing may follow. */
	memcpy(bad, buf, len);
	memcpy(&h, bad, sizeof(h));
	h.flags = 0;
	memcpy(bad, &h, sizeof(h));
	cr_assert_lt(ckpt_usock_data_check(bad, len, &h), 0);
	cr_assert_lt(ckpt_usock_data_check(bad, sizeof(h), &h), 0); /* nmsgs still 2 */
	/* An empty chunk in a stream. */
	static const char *const smsgs[] = { "x", "" };
	static const uint32_t slens[] = { 1, 0 };
	len = build(buf, SOCK_STREAM, smsgs, slens, 2);
	cr_assert_lt(ckpt_usock_data_check(buf, len, &h), 0);
}

/* Fills @fd's peer's queue (through @tx), copies @fd's queue, checks it is
 * still there, refills a fresh pair from the copy and reads both back. */
static void round_trip(int type, bool shut)
{
	static const uint32_t lens[] = { 5, 0, 1000, 0, 3 };
	int sv[2];
	int nv[2];
	char data[65536];
	char msg[2000];
	char got[2000];
	uint32_t nmsgs;
	uint64_t qbytes;
	size_t used;
	struct ckpt_usock_hdr h = {
		.peer = 1, .type = (uint32_t)type, .flags = CKPT_USOCK_QUEUE, .peek_off = -1
	};
	int count = type == SOCK_STREAM ? 3 : 5;

	cr_assert_eq(socketpair(AF_UNIX, type, 0, sv), 0);
	for (int i = 0; i < 5; i++) {
		memset(msg, 'a' + i, lens[i]);
		if (type != SOCK_STREAM || lens[i])
			cr_assert_eq(send(sv[1], msg, lens[i], 0), (ssize_t)lens[i]);
	}
	if (shut)
		cr_assert_eq(shutdown(sv[1], SHUT_WR), 0);
	cr_assert_eq(ckpt_usock_queue_save(sv[0], (uint32_t)type, shut, data + sizeof(h),
					   sizeof(data) - sizeof(h), &nmsgs, &qbytes, &used),
		     0);
	cr_assert_eq(qbytes, 1008);
	if (type != SOCK_STREAM)
		cr_assert_eq(nmsgs, 5, "type %d: %u messages", type, nmsgs);
	h.nmsgs = nmsgs;
	h.qbytes = qbytes;
	memcpy(data, &h, sizeof(h));
	cr_assert_eq(ckpt_usock_data_check(data, sizeof(h) + used, &h), 0);

	/* Nothing consumed: the first message is still first. */
	cr_assert_eq(recv(sv[0], got, sizeof(got), MSG_PEEK | MSG_DONTWAIT),
		     type == SOCK_STREAM ? 1008 : 5);

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, nv), 0);
	cr_assert_eq(ckpt_usock_queue_refill(nv[1], data, sizeof(h) + used), 0);
	if (type == SOCK_STREAM) {
		cr_assert_eq(recv(nv[0], got, sizeof(got), MSG_WAITALL), 1008);
		cr_assert_eq(got[0], 'a');
		cr_assert_eq(got[5], 'c');
		cr_assert_eq(got[1007], 'e');
	} else {
		for (int i = 0; i < count; i++) {
			memset(msg, 'a' + i, lens[i]);
			cr_assert_eq(recv(nv[0], got, sizeof(got), 0), (ssize_t)lens[i],
				     "message %d", i);
			cr_assert_eq(memcmp(got, msg, lens[i]), 0);
		}
		cr_assert_eq(recv(nv[0], got, sizeof(got), MSG_DONTWAIT), -1);
	}
	close(sv[0]);
	close(sv[1]);
	close(nv[0]);
	close(nv[1]);
}

Test(files_sock, stream_queue_round_trip)
{
	round_trip(SOCK_STREAM, false);
	round_trip(SOCK_STREAM, true);
}

Test(files_sock, datagram_queue_round_trip)
{
	round_trip(SOCK_DGRAM, false);
	round_trip(SOCK_DGRAM, true);
}

Test(files_sock, seqpacket_queue_round_trip)
{
	round_trip(SOCK_SEQPACKET, false);
	round_trip(SOCK_SEQPACKET, true);
}

Test(files_sock, keeps_the_application_peek_offset)
{
	int sv[2];
	int off = 2;
	socklen_t len = sizeof(off);
	char data[4096];
	uint32_t nmsgs;
	uint64_t qbytes;
	size_t used;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(send(sv[1], "abcdef", 6, 0), 6);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)), 0);
	cr_assert_eq(ckpt_usock_queue_save(sv[0], SOCK_STREAM, false, data, sizeof(data), &nmsgs,
					   &qbytes, &used),
		     0);
	cr_assert_eq(qbytes, 6);
	off = -7;
	cr_assert_eq(getsockopt(sv[0], SOL_SOCKET, SO_PEEK_OFF, &off, &len), 0);
	cr_assert_eq(off, 2);
}

Test(files_sock, refuses_descriptors_in_flight_and_leaks_none)
{
	int sv[2];
	char data[4096];
	char c[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = "fd", .iov_len = 2 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c)
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int one = 1;
	uint32_t nmsgs;
	uint64_t qbytes;
	size_t used;
	int next;

	for (int type = 1; type <= 5; type++) {
		if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
			continue;
		cr_assert_eq(socketpair(AF_UNIX, type, 0, sv), 0);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &one, sizeof(one));
		cr_assert_eq(send(sv[1], "before", 6, 0), 6);
		cr_assert_eq(sendmsg(sv[1], &m, 0), 2);
		next = dup(0);
		close(next);
		cr_assert_eq(ckpt_usock_queue_save(sv[0], (uint32_t)type, false, data, sizeof(data),
						   &nmsgs, &qbytes, &used),
			     -EBADE, "type %d", type);
		cr_assert_eq(dup(0), next, "type %d: a descriptor in flight was left open", type);
		close(next);
		close(sv[0]);
		close(sv[1]);
	}
}

Test(files_sock, says_when_the_room_is_too_small)
{
	int sv[2];
	char data[64];
	char big[200];
	uint32_t nmsgs;
	uint64_t qbytes;
	size_t used;

	memset(big, 'x', sizeof(big));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	cr_assert_eq(send(sv[1], big, sizeof(big), 0), (ssize_t)sizeof(big));
	cr_assert_eq(ckpt_usock_queue_save(sv[0], SOCK_DGRAM, false, data, sizeof(data), &nmsgs,
					   &qbytes, &used),
		     -ENOSPC);
	/* Still queued, whole. */
	cr_assert_eq(recv(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
}
