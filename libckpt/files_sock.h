/* files_sock.h - Unix socketpairs shared in a process tree (files_sock.c):
 * the data a TREE_SOCK entry of the files record carries, how it is read
 * from the kernel at checkpoint and put back at restart. Included by
 * libckpt/files.c, nodeagent/cli_tree.c and their unit tests only.
 *
 * Layout and rules: docs/image-format.md ("files"), docs/process-trees.md
 * ("Socketpairs between processes of the tree").
 */
#ifndef CKPT_LIBCKPT_FILES_SOCK_H
#define CKPT_LIBCKPT_FILES_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ckpt_usock_hdr.shut: the socket's own shutdown state (sk_shutdown). */
#define CKPT_USOCK_SHUT_RD 1u /* no more receiving (SHUT_RD, or the peer's SHUT_WR) */
#define CKPT_USOCK_SHUT_WR 2u /* no more sending (SHUT_WR, or the peer's SHUT_RD) */

/* ckpt_usock_hdr.flags */
#define CKPT_USOCK_QUEUE       (1u << 0) /* the receive queue follows (one holder) */
#define CKPT_USOCK_PASSCRED    (1u << 1) /* SO_PASSCRED was on */
#define CKPT_USOCK_FLAGS_KNOWN (CKPT_USOCK_QUEUE | CKPT_USOCK_PASSCRED)

/* Start of the data of a TREE_SOCK entry, pinned in docs/image-format.md.
 * With CKPT_USOCK_QUEUE, nmsgs messages follow, each a little-endian u32
 * length and that many bytes, packed; a stream's bytes are one or more
 * such chunks whose boundaries mean nothing. */
struct ckpt_usock_hdr {
	uint64_t peer;	  /* the other end's inode at the checkpoint; 0: its
			   * last holder had closed it (still connected) */
	uint32_t type;	  /* SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET */
	uint32_t shut;	  /* CKPT_USOCK_SHUT_* */
	uint32_t flags;	  /* CKPT_USOCK_* */
	int32_t peek_off; /* SO_PEEK_OFF, -1 when off */
	uint32_t sndbuf;  /* SO_SNDBUF as getsockopt() reads it (twice the set value) */
	uint32_t rcvbuf;  /* SO_RCVBUF likewise */
	uint32_t nmsgs;	  /* messages that follow; 0 without CKPT_USOCK_QUEUE */
	uint32_t pad;	  /* 0 */
	uint64_t qbytes;  /* bytes of those messages, lengths excluded */
};

_Static_assert(sizeof(struct ckpt_usock_hdr) == 48, "TREE_SOCK data layout");

/* Largest queue one socket may carry in an image: a sender can queue at
 * most its SO_SNDBUF, and the largest an unprivileged process can set is
 * twice net.core.wmem_max; 64 MiB leaves room and bounds what an image
 * makes 'ckpt restart' send. */
#define CKPT_USOCK_QUEUE_MAX (64ull << 20)

/* What sock_diag tells of one Unix socket, by inode. */
struct ckpt_usock_info {
	uint64_t ino;	 /* the socket asked about */
	uint64_t peer;	 /* its peer's inode, 0: none (not connected, or gone) */
	uint32_t type;	 /* SOCK_* */
	uint32_t state;	 /* TCP_ESTABLISHED (1), TCP_LISTEN (10), TCP_CLOSE (7) */
	uint32_t shut;	 /* CKPT_USOCK_SHUT_* */
	uint32_t sndbuf; /* sk_sndbuf */
	bool named;	 /* it has an address (bound, or accepted from a bound one) */
};

/*
 * Checks the data of a TREE_SOCK entry, @len bytes at @data: the header,
 * known type, flags and shutdown bits, and with CKPT_USOCK_QUEUE exactly
 * nmsgs messages of qbytes bytes filling the rest; without it nothing
 * follows. Copies the header to @h. Pure. Returns 0 or -EINVAL.
 */
int ckpt_usock_data_check(const void *data, uint64_t len, struct ckpt_usock_hdr *h);
/*
 * Steps through the messages of checked data: *@pos starts at 0. Sets
 * @msg/@mlen to the next message. Returns 1, 0 after the last one, or
 * -EINVAL (data that ckpt_usock_data_check() would refuse). Pure.
 */
int ckpt_usock_msg_next(const void *data, uint64_t len, uint64_t *pos, const void **msg,
			uint32_t *mlen);
/* Bytes of data a TREE_SOCK entry reserves for a queue that a sender with
 * SO_SNDBUF @sndbuf can fill: its bytes and one length per message (each
 * queued message costs the sender at least 256 bytes of its budget). */
uint64_t ckpt_usock_queue_room(uint32_t sndbuf);

/* Opens a NETLINK_SOCK_DIAG socket for ckpt_usock_diag(): -errno or fd. */
int ckpt_usock_diag_open(void);
/*
 * Asks sock_diag about Unix socket @ino through @nl (raw syscalls, no
 * allocation: usable in the capture). Returns 0, -ENOENT when the kernel
 * knows no such socket, or -errno.
 */
int ckpt_usock_diag(int nl, uint64_t ino, struct ckpt_usock_info *out);
/*
 * Copies the receive queue of socket @fd (type @type; @rcv_shut: its
 * receiving side is shut down) into @dst (@room bytes) as messages, without
 * consuming it: MSG_PEEK from offset 0 (SO_PEEK_OFF, put back afterwards).
 * Descriptors in flight are closed as soon as the peek hands them over and
 * make it fail. Sets *@nmsgs, *@qbytes and *@used. Returns 0, -ENOSPC
 * (@room too small), -EBADE (descriptors in flight: SCM_RIGHTS), or -errno.
 */
int ckpt_usock_queue_save(int fd, uint32_t type, bool rcv_shut, char *dst, size_t room,
			  uint32_t *nmsgs, uint64_t *qbytes, size_t *used);
/*
 * At restart: sends the messages of checked data @data/@len through @fd
 * (the other end of the socket they were queued on), non-blocking. Returns
 * 0, or -errno of the send that failed (-EAGAIN: the queue did not fit).
 */
int ckpt_usock_queue_refill(int fd, const void *data, uint64_t len);

#endif
