/* files_evfd.h - eventfd, timerfd and signalfd descriptors (files_evfd.c):
 * the state an EVENTFD, TIMERFD or SIGNALFD entry of the files record
 * carries, how it is read from the kernel at checkpoint and put back at
 * restart. Included by libckpt/files.c and its unit tests only.
 *
 * Layout and rules: docs/files-and-state.md ("eventfd, timerfd, signalfd").
 */
#ifndef CKPT_LIBCKPT_FILES_EVFD_H
#define CKPT_LIBCKPT_FILES_EVFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The three kinds, in the order of their files record kinds. */
enum ckpt_evfd_kind {
	CKPT_EVFD_EVENTFD = 0,
	CKPT_EVFD_TIMERFD = 1,
	CKPT_EVFD_SIGNALFD = 2,
};

/* ckpt_evfd_state.flags of an eventfd. */
#define CKPT_EVFD_SEMAPHORE 1u
/* ckpt_evfd_state.flags of a timerfd: the settime flags it was armed with
 * (TFD_TIMER_ABSTIME 1, TFD_TIMER_CANCEL_ON_SET 2). */
#define CKPT_EVFD_TFD_FLAGS_KNOWN 3u

/* Largest eventfd counter the kernel holds (ULLONG_MAX - 1). */
#define CKPT_EVFD_COUNT_MAX 0xfffffffffffffffeull
/* Bound of a timerfd's times (about 292 years, in ns). */
#define CKPT_EVFD_NS_MAX INT64_MAX

/* The data of such an entry, after its path; pinned in
 * docs/files-and-state.md. Fields a kind does not use are 0. */
struct ckpt_evfd_state {
	uint32_t flags;	     /* eventfd: CKPT_EVFD_SEMAPHORE; timerfd: settime flags */
	int32_t clockid;     /* timerfd: CLOCK_REALTIME, _MONOTONIC, _BOOTTIME(_ALARM) */
	uint64_t count;	     /* eventfd: counter; timerfd: expirations not yet read */
	uint64_t sigmask;    /* signalfd: bit n-1 = signal n */
	int64_t value_ns;    /* timerfd: time left to the next expiration; 0: disarmed */
	int64_t interval_ns; /* timerfd: period; 0: one-shot */
	int64_t abs_ns;	     /* timerfd armed absolute on CLOCK_REALTIME(_ALARM):
			       * the wall-clock time of the next expiration */
	uint64_t reserved;   /* 0 */
};

/* The kind of descriptor whose /proc link is @link; -1 for other kinds. */
int ckpt_evfd_kind_of(const char *link);

/* Name of @kind for messages ("eventfd", ...). */
const char *ckpt_evfd_kind_name(int kind);

/* Parses the text of /proc/PID/fdinfo/N of a descriptor of @kind into
 * @st (timerfd: times as the kernel prints them, relative; abs_ns is left
 * to the caller). Returns 0, or -EINVAL naming the missing line in *@why. */
int ckpt_evfd_parse_fdinfo(int kind, const char *text, struct ckpt_evfd_state *st,
			   const char **why);

/* Checkpoint: reads the state of descriptor @fd of @kind into @st. Only raw
 * system calls (it runs while the other threads are stopped). For a timer,
 * reads the time left first, which also counts the expirations of a
 * periodic timer not yet accounted. Returns 0 or -errno with *@why set. */
int ckpt_evfd_capture(int kind, int fd, struct ckpt_evfd_state *st, const char **why);

/* Whether @data (@len bytes) is a sound state of @kind for descriptor @fd,
 * with open flags @open_flags; says what is wrong (naming @fd) if not. */
int ckpt_evfd_check(int kind, int fd, uint32_t open_flags, const void *data, uint64_t len);

/* Restart: makes a new descriptor of @kind with state @data (checked by
 * ckpt_evfd_check()) and the O_NONBLOCK of @open_flags, close-on-exec
 * (files.c places it with the saved flag). Returns it, or -errno (said). */
int ckpt_evfd_restore(int kind, int fd, uint32_t open_flags, const void *data);

/* In a process tree: whether the description of our @fd (of @kind) is also
 * held by another process of the tree (every /proc/PID but 1 and @self).
 * Returns 0 if not; 1 with *@pid and *@pfd of a holder; -1 with *@pid and
 * *@pfd when a descriptor of the same kind could not be compared. */
int ckpt_evfd_tree_shared(int kind, int fd, long self, long *pid, int *pfd);

#endif
