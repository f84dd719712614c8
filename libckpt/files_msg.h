/* files_msg.h - messages of the files savers (files.c, files_epoll.c,
 * files_inotify.c), built without snprintf: capture runs while the
 * application's other threads are stopped, and one of them may hold a
 * stdio lock.
 * Included by libckpt/ sources only.
 */
#ifndef CKPT_LIBCKPT_FILES_MSG_H
#define CKPT_LIBCKPT_FILES_MSG_H

#include <stddef.h>
#include <stdint.h>

struct files_msg {
	char *s;    /* destination, always NUL-terminated */
	size_t cap; /* its capacity, at least 1 */
	size_t len; /* characters written */
};

static inline void msg_init(struct files_msg *m, char *s, size_t cap)
{
	m->s = s;
	m->cap = cap;
	m->len = 0;
	s[0] = '\0';
}

/* Appends @s, cut where the buffer ends. */
static inline void msg_str(struct files_msg *m, const char *s)
{
	while (*s && m->len + 1 < m->cap)
		m->s[m->len++] = *s++;
	m->s[m->len] = '\0';
}

static inline void msg_u64(struct files_msg *m, uint64_t v)
{
	char d[24];
	int i = (int)sizeof(d) - 1;

	d[i] = '\0';
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	msg_str(m, d + i);
}

static inline void msg_hex(struct files_msg *m, unsigned int v)
{
	static const char digits[] = "0123456789abcdef";
	char d[12];
	int i = (int)sizeof(d) - 1;

	d[i] = '\0';
	do {
		d[--i] = digits[v & 15];
		v >>= 4;
	} while (v);
	msg_str(m, d + i);
}

/* "fd N: " prefix of every per-descriptor message. */
static inline void msg_fd(struct files_msg *m, int fd)
{
	msg_str(m, "fd ");
	msg_u64(m, (uint64_t)fd);
	msg_str(m, ": ");
}

#endif
