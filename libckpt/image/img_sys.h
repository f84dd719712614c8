/* img_sys.h - raw system calls for the image writer; included only by
 * the files of libckpt/image.
 *
 * The writer runs in a raw-clone child and in clone threads that share the
 * creating thread's TLS, so it must not touch errno or any glibc state:
 * these wrappers issue the system call directly and return -errno.
 * On architectures without the inline version they fall back to syscall(2)
 * (which sets errno) and the writer then refuses extra threads.
 */
#ifndef CKPT_IMG_SYS_H
#define CKPT_IMG_SYS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define IMG_SYS_RAW 1
static inline long img_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
#define IMG_SYS_RAW 1
static inline long img_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a1;
	register long x1 __asm__("x1") = a2;
	register long x2 __asm__("x2") = a3;
	register long x3 __asm__("x3") = a4;
	register long x4 __asm__("x4") = a5;
	register long x5 __asm__("x5") = a6;

	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}
#else
#define IMG_SYS_RAW 0
#include <errno.h>
#include <unistd.h>
static inline long img_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret = syscall(n, a1, a2, a3, a4, a5, a6);

	return ret == -1 ? -errno : ret;
}
#endif

#define IMG_SYS(n, a, b, c, d, e, f) \
	img_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static inline long img_sys_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	return IMG_SYS(SYS_pwrite64, fd, buf, len, off, 0, 0);
}

static inline long img_sys_write(int fd, const void *buf, size_t len)
{
	return IMG_SYS(SYS_write, fd, buf, len, 0, 0, 0);
}

static inline long img_sys_pread(int fd, void *buf, size_t len, uint64_t off)
{
	return IMG_SYS(SYS_pread64, fd, buf, len, off, 0, 0);
}

static inline int img_sys_fsync(int fd)
{
	return (int)IMG_SYS(SYS_fsync, fd, 0, 0, 0, 0, 0);
}

/* Starts writeback of [off, off + len) (SYNC_FILE_RANGE_WRITE) or, with
 * @wait, waits for it to reach the disk as well. 0 or -errno. */
static inline int img_sys_sync_range(int fd, uint64_t off, uint64_t len, bool wait)
{
	unsigned int flags = wait ? SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					     SYNC_FILE_RANGE_WAIT_AFTER
				  : SYNC_FILE_RANGE_WRITE;

	return (int)IMG_SYS(SYS_sync_file_range, fd, off, len, flags, 0, 0);
}

/* Drops the clean page cache of [off, off + len) (POSIX_FADV_DONTNEED). */
static inline int img_sys_drop_cache(int fd, uint64_t off, uint64_t len)
{
	return (int)IMG_SYS(SYS_fadvise64, fd, off, len, POSIX_FADV_DONTNEED, 0, 0);
}

/* Waits while *@addr == @val (spurious wake-ups allowed). @shared for words
 * the kernel wakes itself (CLONE_CHILD_CLEARTID uses a shared wake). */
void img_futex_wait(uint32_t *addr, uint32_t val, bool shared);
/* Wakes up to @n waiters on @addr. */
void img_futex_wake(uint32_t *addr, int n);

/* Starts a thread of this process running @fn(@arg) on the stack ending at
 * @stack_top, with raw clone(CLONE_VM | CLONE_THREAD | ...), sharing the
 * caller's TLS (the thread must use only raw system calls). *@tid is set to
 * the thread id and cleared with a futex wake when the thread exits.
 * Returns the tid or -errno (-ENOSYS where unsupported). */
long img_thread_start(void *stack_top, uint32_t *tid, int (*fn)(void *), void *arg);

/* Waits until the thread whose tid word is @tid has exited. */
void img_thread_join(uint32_t *tid);

#endif
