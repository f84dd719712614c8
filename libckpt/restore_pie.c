/* restore_pie.c - the restore trampoline: the last code of the restorer, run
 * from a copy placed in a hole of the saved address map after every area of
 * the saved process has been mapped and loaded at a temporary address.
 *
 * Why a separate, freestanding file: this code unmaps the restorer itself,
 * libc included, and then runs with nothing but the copy of its own code,
 * its argument struct and its stack. So it must not call libc, must not use
 * global data, string constants or jump tables (all of which live outside
 * the copied section), and must not use a stack protector (its canary is in
 * the restorer's TLS) or sanitizers. Everything is in the ckpt_pie section;
 * calls between its functions are PC-relative, so the copy runs anywhere.
 * Build flags: see libckpt/meson.build.
 *
 * What it does, in order: block signals, drop the restorer's rseq
 * registration (the kernel would keep writing into memory that goes away),
 * park the vdso block inside the region, unmap everything else, move each
 * area to its saved address, put the vdso block at its saved address,
 * restore the kernel mm fields, tell the restored libckpt about its new
 * world, close the restorer's descriptors, re-create the threads and jump.
 * A failure is written to the log fd and ends the process: there is nothing
 * left to return to.
 */
#include "restore_pie.h"

#include <asm/prctl.h>
#include <asm/unistd.h>
#include <linux/futex.h>
#include <linux/mman.h>
#include <linux/sched.h>
#include <linux/signal.h>

/* GCC turns byte loops into memcpy/memset calls and merges constant stores
 * into loads from .rodata; neither is available to the copied code. (These
 * are GCC options, given here rather than on the command line so that the
 * clang-based style checker can still parse the file.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns", "no-tree-vectorize", \
		     "no-tree-slp-vectorize", "no-store-merging")
#endif

#define PIE __attribute__((section("ckpt_pie")))

/* rseq(2) signature glibc registers with on x86 (sys/rseq.h RSEQ_SIG). */
#define PIE_RSEQ_SIG	    0x53053053
#define PIE_RSEQ_UNREGISTER 1

PIE static long pie_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define pie_sys(nr, a, b, c, d, e, f) \
	pie_syscall6(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

PIE static unsigned long pie_strlen(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

/* Writes "ckpt-restore: <msg> <a> <b> (errno <e>)" with numbers in hex. */
PIE static void pie_log(const struct pie_args *args, int err, uint64_t a, uint64_t b, long e)
{
	char buf[PIE_MSG_MAX + 96];
	const char *m = args->msgs[err];
	unsigned long n = 0;
	uint64_t vals[3];

	vals[0] = a;
	vals[1] = b;
	vals[2] = (uint64_t)(e < 0 ? -e : e);
	for (unsigned long i = 0; i < pie_strlen(m); i++)
		buf[n++] = m[i];
	for (int v = 0; v < 3; v++) {
		char tmp[20];
		int k = 0;
		uint64_t x = vals[v];

		buf[n++] = ' ';
		if (v == 2) {
			buf[n++] = 'e';
			buf[n++] = '=';
			/* errno in decimal */
			do {
				tmp[k++] = (char)('0' + x % 10);
				x /= 10;
			} while (x);
		} else {
			buf[n++] = '0';
			buf[n++] = 'x';
			do {
				int d = (int)(x & 15);

				tmp[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
				x >>= 4;
			} while (x);
		}
		while (k)
			buf[n++] = tmp[--k];
	}
	buf[n++] = '\n';
	pie_sys(__NR_write, args->log_fd, buf, n, 0, 0, 0);
}

PIE __attribute__((noreturn)) static void pie_fail(const struct pie_args *args, int err, uint64_t a,
						   uint64_t b, long e)
{
	pie_log(args, err, a, b, e);
	for (;;)
		pie_sys(__NR_exit_group, 127, 0, 0, 0, 0, 0);
}

/* Restores the callee-saved registers of @ctx and returns @val from the
 * eng_ctx_save() call that filled it. Offsets: struct eng_ctx. */
__asm__(".pushsection ckpt_pie,\"ax\",@progbits\n"
	".type pie_ctx_jump,@function\n"
	"pie_ctx_jump:\n"
	"	movq 0(%rdi), %rbx\n"
	"	movq 8(%rdi), %rbp\n"
	"	movq 16(%rdi), %r12\n"
	"	movq 24(%rdi), %r13\n"
	"	movq 32(%rdi), %r14\n"
	"	movq 40(%rdi), %r15\n"
	"	ldmxcsr 64(%rdi)\n"
	"	fldcw 68(%rdi)\n"
	"	movq 48(%rdi), %rsp\n"
	"	movl %esi, %eax\n"
	"	jmpq *56(%rdi)\n"
	".size pie_ctx_jump, .-pie_ctx_jump\n"
	".popsection\n");
__attribute__((noreturn, visibility("hidden"))) void pie_ctx_jump(const struct eng_ctx *ctx,
								  int val);

/* Kernel state of the calling thread that lives outside memory, then the
 * jump back into the thread's saved context. */
PIE __attribute__((noreturn, used)) static void pie_thread_start(const struct pie_args *args,
								 const struct eng_thread *t)
{
	if (t->robust_head)
		pie_sys(__NR_set_robust_list, t->robust_head, t->robust_len, 0, 0, 0, 0);
	if (args->rseq_size)
		pie_sys(__NR_rseq, t->fs_base + (uint64_t)args->rseq_offset, args->rseq_size, 0,
			PIE_RSEQ_SIG, 0, 0);
	if (!(t->altstack_flags & 2 /* SS_DISABLE */)) {
		struct {
			uint64_t sp;
			int32_t flags;
			uint64_t size;
		} ss = { t->altstack_sp, t->altstack_flags, t->altstack_size };

		pie_sys(__NR_sigaltstack, &ss, 0, 0, 0, 0, 0);
	}
	pie_ctx_jump(&t->ctx, 1);
}

/* Starts a thread with raw clone(): it begins on a scratch part of its own
 * saved stack (below the saved stack pointer, which is dead space there) and
 * goes through pie_thread_start(). Returns the tid or -errno. */
PIE static long pie_clone_thread(const struct pie_args *args, const struct eng_thread *t)
{
	unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			      CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
			      CLONE_CHILD_CLEARTID;
	uint64_t tidp = t->fs_base + (uint64_t)args->tid_offset;
	uint64_t sp = ((t->ctx.rsp - 1024) & ~15ull);
	register long r10 __asm__("r10") = (long)tidp;
	register long r8 __asm__("r8") = (long)t->fs_base;
	register long r12 __asm__("r12") = (long)args;
	register long r13 __asm__("r13") = (long)t;
	long ret;

	__asm__ volatile("syscall\n"
			 "	testq %%rax, %%rax\n"
			 "	jnz 1f\n"
			 "	xorl %%ebp, %%ebp\n"
			 "	movq %%r12, %%rdi\n"
			 "	movq %%r13, %%rsi\n"
			 "	call pie_thread_start\n"
			 "	ud2\n"
			 "1:\n"
			 : "=a"(ret)
			 : "0"((long)__NR_clone), "D"(flags), "S"(sp), "d"(tidp), "r"(r10), "r"(r8),
			   "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory");
	return ret;
}

PIE static void pie_copy(void *dst, const void *src, unsigned long n)
{
	volatile char *d = dst;
	const char *s = src;

	for (unsigned long i = 0; i < n; i++)
		d[i] = s[i];
}

PIE static void pie_move(const struct pie_args *args, uint64_t from, uint64_t to, uint64_t len,
			 int err)
{
	long r;

	if (from == to)
		return;
	r = pie_sys(__NR_mremap, from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to, 0);
	if (r != (long)to)
		pie_fail(args, err, from, to, r);
}

/* Closes the restorer's descriptors from 3 up except the kept ones. */
PIE static void pie_close_except(const struct pie_args *args)
{
	uint64_t from = 3;

	for (uint32_t i = 0; i < args->nkeep && i < PIE_KEEP_MAX; i++) {
		int64_t k = args->keep[i];

		if (k < 0 || (uint64_t)k < from)
			continue;
		if ((uint64_t)k > from)
			pie_sys(__NR_close_range, from, (uint64_t)k - 1, 0, 0, 0, 0);
		from = (uint64_t)k + 1;
	}
	pie_sys(__NR_close_range, from, ~0u, 0, 0, 0, 0);
}

PIE __attribute__((noreturn)) void pie_main(struct pie_args *args)
{
	const struct pie_area *areas = eng_ptr(args->areas);
	const struct eng_thread *threads = eng_ptr(args->threads);
	const struct eng_thread *leader = &threads[args->leader];
	uint64_t all = ~0ull;
	long r;

	pie_sys(__NR_rt_sigprocmask, SIG_SETMASK, &all, 0, sizeof(all), 0, 0);
	if (args->own_rseq_len)
		pie_sys(__NR_rseq, args->own_rseq, args->own_rseq_len, PIE_RSEQ_UNREGISTER,
			PIE_RSEQ_SIG, 0, 0);

	for (uint32_t i = 0; i < args->nvdso; i++)
		pie_move(args, args->vdso[i].cur, args->vdso[i].park, args->vdso[i].len,
			 PIE_ERR_VDSO_PARK);

	/* Everything outside the region is the restorer's: drop it. */
	r = pie_sys(__NR_munmap, 0, args->region_start, 0, 0, 0, 0);
	if (r < 0)
		pie_fail(args, PIE_ERR_UNMAP, 0, args->region_start, r);
	r = pie_sys(__NR_munmap, args->region_end, args->task_size - args->region_end, 0, 0, 0, 0);
	if (r < 0)
		pie_fail(args, PIE_ERR_UNMAP, args->region_end, args->task_size, r);

	for (uint32_t i = 0; i < args->nareas; i++) {
		const struct pie_area *a = &areas[i];

		pie_move(args, a->tmp, a->final, a->len, PIE_ERR_MREMAP);
		r = pie_sys(__NR_mprotect, a->final, a->len, a->prot, 0, 0, 0);
		if (r < 0)
			pie_fail(args, PIE_ERR_MPROTECT, a->final, a->len, r);
	}
	for (uint32_t i = 0; i < args->nvdso; i++)
		pie_move(args, args->vdso[i].park, args->vdso[i].saved, args->vdso[i].len,
			 PIE_ERR_VDSO_MOVE);
	if (args->tmp_end > args->tmp_start)
		pie_sys(__NR_munmap, args->tmp_start, args->tmp_end - args->tmp_start, 0, 0, 0, 0);

	/* First with the executable (needs CAP_CHECKPOINT_RESTORE on some
	 * kernels), then without it. */
	r = -1;
	if (args->exe_fd >= 0) {
		args->mm.exe_fd = (uint32_t)args->exe_fd;
		r = pie_sys(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &args->mm, sizeof(args->mm), 0,
			    0);
		args->mm.exe_fd = (uint32_t)-1;
	}
	if (r < 0)
		r = pie_sys(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &args->mm, sizeof(args->mm), 0,
			    0);
	if (r < 0)
		pie_log(args, PIE_WARN_MM, args->mm.start_brk, args->mm.brk, r);

	pie_copy(eng_ptr(args->restore_info), &args->info, sizeof(args->info));
	/* The restorer's descriptors other than stdio and an MPI rank's PMI
	 * socket; the files subsystem brings back the application's own. */
	pie_close_except(args);

	for (uint32_t i = 0; i < args->nthreads; i++) {
		if (i == args->leader)
			continue;
		r = pie_clone_thread(args, &threads[i]);
		if (r < 0)
			pie_fail(args, PIE_ERR_CLONE, i, threads[i].fs_base, r);
	}

	/* This thread becomes the leader: its TLS, its tid where glibc keeps
	 * it, and the kernel's pointer cleared when it exits. */
	pie_sys(__NR_arch_prctl, ARCH_SET_FS, leader->fs_base, 0, 0, 0, 0);
	r = pie_sys(__NR_gettid, 0, 0, 0, 0, 0, 0);
	*(volatile int32_t *)eng_ptr(leader->fs_base + (uint64_t)args->tid_offset) = (int32_t)r;
	pie_sys(__NR_set_tid_address, leader->fs_base + (uint64_t)args->tid_offset, 0, 0, 0, 0, 0);
	pie_thread_start(args, leader);
}
