/* files_sock.c - Unix socketpairs shared in a process tree: what a TREE_SOCK
 * entry of the files record carries (files_sock.h), how the capture learns a
 * socket's peer and state (sock_diag, which every user may ask about a
 * socket by inode) and copies its receive queue without consuming it, and
 * how 'ckpt restart' puts the queue back.
 *
 * The capture side runs while the application's threads are stopped: raw
 * syscalls, the caller's buffers, no allocation. The decoding is pure and
 * takes data from an image: every length is checked before it is used.
 */
#define LOG_PREFIX "files: "

#include "files_sock.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Ancillary data a peek may hand over: credentials and a pidfd when the
 * socket asks for them, descriptors in flight. 512 bytes hold a full
 * SCM_RIGHTS message of 100 descriptors beside them; more only sets
 * MSG_CTRUNC, which is refused all the same. */
#define USOCK_CMSG_ROOM 512
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04 /* Linux 6.5: a pidfd of the sender, with SO_PASSPIDFD */
#endif

static uint32_t usock_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void usock_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* ---- the data of an entry (pure) ------------------------------------------ */

int ckpt_usock_msg_next(const void *data, uint64_t len, uint64_t *pos, const void **msg,
			uint32_t *mlen)
{
	const unsigned char *d = data;
	uint64_t p = *pos ? *pos : sizeof(struct ckpt_usock_hdr);
	uint32_t n;

	if (len < sizeof(struct ckpt_usock_hdr) || p > len)
		return -EINVAL;
	if (p == len)
		return 0;
	if (len - p < 4)
		return -EINVAL;
	n = usock_get32(d + p);
	if (n > len - p - 4)
		return -EINVAL;
	*msg = d + p + 4;
	*mlen = n;
	*pos = p + 4 + n;
	return 1;
}

int ckpt_usock_data_check(const void *data, uint64_t len, struct ckpt_usock_hdr *h)
{
	uint64_t pos = 0;
	uint64_t bytes = 0;
	uint32_t count = 0;
	const void *msg;
	uint32_t mlen;
	int r;

	if (!data || len < sizeof(*h))
		return -EINVAL;
	memcpy(h, data, sizeof(*h));
	if ((h->type != SOCK_STREAM && h->type != SOCK_DGRAM && h->type != SOCK_SEQPACKET) ||
	    (h->shut & ~(CKPT_USOCK_SHUT_RD | CKPT_USOCK_SHUT_WR)) ||
	    (h->flags & ~CKPT_USOCK_FLAGS_KNOWN) || h->pad || h->peek_off < -1 ||
	    h->qbytes > CKPT_USOCK_QUEUE_MAX)
		return -EINVAL;
	if (!(h->flags & CKPT_USOCK_QUEUE))
		return h->nmsgs || h->qbytes || len != sizeof(*h) ? -EINVAL : 0;
	while ((r = ckpt_usock_msg_next(data, len, &pos, &msg, &mlen)) == 1) {
		/* A stream has no empty chunks: the capture never writes one. */
		if (h->type == SOCK_STREAM && mlen == 0)
			return -EINVAL;
		count++;
		bytes += mlen;
	}
	if (r < 0 || count != h->nmsgs || bytes != h->qbytes)
		return -EINVAL;
	return 0;
}

uint64_t ckpt_usock_queue_room(uint32_t sndbuf)
{
	return (uint64_t)sndbuf + 4 * ((uint64_t)sndbuf / 256 + 1);
}

/* ---- capture -------------------------------------------------------------- */

int ckpt_usock_diag_open(void)
{
	long fd = syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	return fd < 0 ? -errno : (int)fd;
}

/* Reads the attributes of answer @m (@len bytes) into @out. */
static void usock_diag_attrs(const struct unix_diag_msg *m, size_t len, struct ckpt_usock_info *out)
{
	const unsigned char *p = (const unsigned char *)(m + 1);
	size_t rem = len - sizeof(*m);

	while (rem >= 4) {
		uint16_t alen;
		uint16_t atype;
		size_t step;

		memcpy(&alen, p, 2);
		memcpy(&atype, p + 2, 2);
		if (alen < 4 || alen > rem)
			break;
		if (atype == UNIX_DIAG_PEER && alen >= 8)
			out->peer = usock_get32(p + 4);
		else if (atype == UNIX_DIAG_NAME)
			out->named = true;
		else if (atype == UNIX_DIAG_SHUTDOWN && alen >= 5)
			out->shut = p[4] & (CKPT_USOCK_SHUT_RD | CKPT_USOCK_SHUT_WR);
		else if (atype == UNIX_DIAG_MEMINFO && alen >= 4 + 4 * (SK_MEMINFO_SNDBUF + 1))
			memcpy(&out->sndbuf, p + 4 + 4 * SK_MEMINFO_SNDBUF, 4);
		step = ((size_t)alen + 3) & ~(size_t)3;
		if (step >= rem)
			break;
		p += step;
		rem -= step;
	}
}

int ckpt_usock_diag(int nl, uint64_t ino, struct ckpt_usock_info *out)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req;
	/* Aligned for the netlink headers. */
	uint64_t ans[512];
	const struct nlmsghdr *h = (const struct nlmsghdr *)ans;
	const struct unix_diag_msg *m;
	long n;

	if (ino > UINT32_MAX)
		return -ENOENT; /* unix_diag takes 32-bit inode numbers */
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_ino = (uint32_t)ino;
	req.r.udiag_states = ~0u;
	req.r.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_MEMINFO;
	req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u; /* no cookie check */
	do {
		n = syscall(SYS_sendto, nl, &req, sizeof(req), 0, NULL, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	do {
		n = syscall(SYS_recvfrom, nl, ans, sizeof(ans), 0, NULL, NULL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(*h) || h->nlmsg_len > (size_t)n || h->nlmsg_len < sizeof(*h))
		return -EIO;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return -EIO;
		return e->error ? e->error : -EIO;
	}
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EIO;
	m = NLMSG_DATA(h);
	if (m->udiag_ino != (uint32_t)ino)
		return -EIO;
	memset(out, 0, sizeof(*out));
	out->ino = ino;
	out->type = m->udiag_type;
	out->state = m->udiag_state;
	/* The shutdown attribute comes with every dump since Linux 3.10. */
	usock_diag_attrs(m, h->nlmsg_len - NLMSG_LENGTH(0), out);
	return 0;
}

static long usock_sockopt(int fd, int opt, int *val, bool set)
{
	socklen_t len = sizeof(*val);
	long r = set ? syscall(SYS_setsockopt, fd, SOL_SOCKET, opt, val, sizeof(*val))
		     : syscall(SYS_getsockopt, fd, SOL_SOCKET, opt, val, &len);

	return r < 0 ? -errno : 0;
}

/* Closes what a peek handed over in @m; true if descriptors were in flight. */
static bool usock_cmsg_drop(struct msghdr *m)
{
	bool rights = (m->msg_flags & MSG_CTRUNC) != 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET ||
		    (c->cmsg_type != SCM_RIGHTS && c->cmsg_type != SCM_PIDFD) ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			syscall(SYS_close, fd);
		}
		if (c->cmsg_type == SCM_RIGHTS)
			rights = true;
	}
	return rights;
}

/* One peek at the current offset into @buf/@cap; returns bytes or -errno,
 * -EBADE for descriptors in flight, -ENOSPC for a cut message. */
static long usock_peek(int fd, char *buf, size_t cap)
{
	uint64_t cbuf[USOCK_CMSG_ROOM / 8];
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr m;
	long n;

	do {
		memset(&m, 0, sizeof(m));
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		n = syscall(SYS_recvmsg, fd, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (usock_cmsg_drop(&m))
		return -EBADE;
	if (m.msg_flags & MSG_TRUNC)
		return -ENOSPC;
	return n;
}

/* The peek loop of ckpt_usock_queue_save(), SO_PEEK_OFF already at 0. */
static int usock_queue_walk(int fd, uint32_t type, bool rcv_shut, char *dst, size_t room,
			    uint32_t *nmsgs, uint64_t *qbytes, size_t *used)
{
	int inq = 0;

	/* Streams and seqpacket: every queued byte; datagrams: the first
	 * message only (read until EAGAIN instead). */
	if (syscall(SYS_ioctl, fd, SIOCINQ, &inq) < 0)
		return -errno;
	for (;;) {
		long n;

		if (type != SOCK_DGRAM && *qbytes >= (uint64_t)inq &&
		    (type == SOCK_STREAM || rcv_shut))
			return 0; /* all of it; a shut seqpacket would peek 0 for ever */
		if (room - *used < 4)
			return -ENOSPC;
		n = usock_peek(fd, dst + *used + 4, room - *used - 4);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		if (n == 0 && type == SOCK_STREAM)
			return *qbytes == (uint64_t)inq ? 0 : -EIO;
		usock_put32((unsigned char *)dst + *used, (uint32_t)n);
		*used += 4 + (size_t)n;
		*qbytes += (uint64_t)n;
		(*nmsgs)++;
	}
}

int ckpt_usock_queue_save(int fd, uint32_t type, bool rcv_shut, char *dst, size_t room,
			  uint32_t *nmsgs, uint64_t *qbytes, size_t *used)
{
	int old = -1;
	int zero = 0;
	int ret;

	*nmsgs = 0;
	*qbytes = 0;
	*used = 0;
	ret = (int)usock_sockopt(fd, SO_PEEK_OFF, &old, false);
	if (ret == 0)
		ret = (int)usock_sockopt(fd, SO_PEEK_OFF, &zero, true);
	if (ret < 0)
		return ret;
	ret = usock_queue_walk(fd, type, rcv_shut, dst, room, nmsgs, qbytes, used);
	/* The application's own peek offset, as it was. */
	usock_sockopt(fd, SO_PEEK_OFF, &old, true);
	return ret;
}

/* ---- restart -------------------------------------------------------------- */

int ckpt_usock_queue_refill(int fd, const void *data, uint64_t len)
{
	uint64_t pos = 0;
	const void *msg;
	uint32_t mlen;
	int r;

	while ((r = ckpt_usock_msg_next(data, len, &pos, &msg, &mlen)) == 1) {
		uint32_t done = 0;

		do {
			long n = syscall(SYS_sendto, fd, (const char *)msg + done, mlen - done,
					 MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			done += (uint32_t)n;
		} while (done < mlen);
	}
	return r;
}
