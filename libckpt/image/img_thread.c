/* img_thread.c - raw clone threads and futexes for the image writer.
 *
 * The writer's compression threads live inside a raw-clone child of the
 * checkpointed process, where pthread_create() is off limits (it allocates
 * and takes the stack-cache lock another thread of the parent may have held
 * at clone time). These threads share the creator's TLS and must therefore
 * stay away from errno and glibc state: they run zstd, xxhash and raw
 * system calls only.
 */
#include "img_sys.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>

void img_futex_wait(uint32_t *addr, uint32_t val, bool shared)
{
	IMG_SYS(SYS_futex, addr, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, val, NULL, 0, 0);
}

void img_futex_wake(uint32_t *addr, int n)
{
	IMG_SYS(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, 0, 0, 0);
}

/* Threads share everything a thread shares; CHILD_CLEARTID lets the writer
 * join them without a flag the thread could set while still on its stack. */
#define IMG_THREAD_FLAGS                                                                    \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | \
	 CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

#if defined(__x86_64__)
long img_thread_start(void *stack_top, uint32_t *tid, int (*fn)(void *), void *arg)
{
	/* 16-byte aligned; fn and arg travel on the new stack because the
	 * child cannot use this frame's registers after the syscall. */
	uintptr_t *sp = (uintptr_t *)((char *)stack_top - ((uintptr_t)stack_top & 15));
	register long r10 __asm__("r10") = (long)tid;
	register long r8 __asm__("r8") = 0;
	long ret;

	*--sp = (uintptr_t)arg;
	*--sp = (uintptr_t)fn;
	*tid = UINT32_MAX; /* non-zero until the kernel stores the tid */
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "pop %%rax\n\t"
			 "pop %%rdi\n\t"
			 "call *%%rax\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov %[nr_exit], %%eax\n\t"
			 "syscall\n\t"
			 "hlt\n"
			 "1:\n\t"
			 : "=a"(ret)
			 : "0"((long)SYS_clone), "D"((long)IMG_THREAD_FLAGS), "S"(sp), "d"(tid),
			   "r"(r10), "r"(r8), [nr_exit] "i"(SYS_exit)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
long img_thread_start(void *stack_top, uint32_t *tid, int (*fn)(void *), void *arg)
{
	uintptr_t *sp = (uintptr_t *)((char *)stack_top - ((uintptr_t)stack_top & 15));
	register long x8 __asm__("x8") = SYS_clone;
	register long x0 __asm__("x0") = IMG_THREAD_FLAGS;
	register long x1 __asm__("x1");
	register long x2 __asm__("x2") = (long)tid;
	register long x3 __asm__("x3") = 0;
	register long x4 __asm__("x4") = (long)tid;

	sp -= 2;
	sp[0] = (uintptr_t)fn;
	sp[1] = (uintptr_t)arg;
	x1 = (long)sp;
	*tid = UINT32_MAX;
	__asm__ volatile("svc 0\n\t"
			 "cbnz x0, 1f\n\t"
			 "ldp x9, x0, [sp], #16\n\t"
			 "mov x29, xzr\n\t"
			 "blr x9\n\t"
			 "mov x8, %[nr_exit]\n\t"
			 "svc 0\n\t"
			 "brk #0\n"
			 "1:\n\t"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), [nr_exit] "i"(SYS_exit)
			 : "x9", "x30", "memory");
	return x0;
}
#else
long img_thread_start(void *stack_top, uint32_t *tid, int (*fn)(void *), void *arg)
{
	(void)stack_top;
	(void)tid;
	(void)fn;
	(void)arg;
	return -ENOSYS;
}
#endif

void img_thread_join(uint32_t *tid)
{
	uint32_t v;

	while ((v = __atomic_load_n(tid, __ATOMIC_ACQUIRE)) != 0)
		img_futex_wait(tid, v, true);
}
