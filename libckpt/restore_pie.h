/* restore_pie.h - the input of the restore trampoline (restore_pie.c).
 * Included by restore.c and restore_pie.c only. Libc-free: plain types, all
 * pointers are absolute addresses inside the trampoline region, which is the
 * only memory of the restorer that survives until the jump.
 */
#ifndef CKPT_LIBCKPT_RESTORE_PIE_H
#define CKPT_LIBCKPT_RESTORE_PIE_H

#include "engine.h"

#include <linux/prctl.h>
#include <stdint.h>

/* Failure points of the trampoline; the restorer fills the matching texts
 * in pie_args.msgs because the trampoline has no string constants of its
 * own (they would live in .rodata, outside the copied code). */
enum pie_err {
	PIE_ERR_VDSO_PARK = 0, /* moving the restorer's vdso aside */
	PIE_ERR_UNMAP,	       /* unmapping the restorer */
	PIE_ERR_MREMAP,	       /* moving an area to its saved address */
	PIE_ERR_MPROTECT,      /* setting an area's saved protection */
	PIE_ERR_VDSO_MOVE,     /* moving the vdso to its saved address */
	PIE_WARN_MM,	       /* PR_SET_MM_MAP refused (not fatal) */
	PIE_ERR_CLONE,	       /* re-creating a thread */
	PIE_ERR_COUNT,
};

/* Longest message text. */
#define PIE_MSG_MAX 96

/* One premapped area. */
struct pie_area {
	uint64_t tmp;	/* where the restorer mapped and loaded it */
	uint64_t final; /* saved address */
	uint64_t len;	/* bytes */
	uint32_t prot;	/* saved protection */
	uint32_t pad;	/* alignment */
};

/* One piece of the vdso block ([vvar], [vvar_vclock], [vdso]). */
struct pie_vdso {
	uint64_t cur;	/* address in the restorer now */
	uint64_t park;	/* temporary address inside the region */
	uint64_t saved; /* address in the saved process */
	uint64_t len;	/* bytes (equal in both) */
};

/* Most vdso pieces: vvar, vvar_vclock, vdso and room for one more kind. */
#define PIE_VDSO_MAX 4

/* Descriptors the trampoline keeps: 64 handed pipe ends and the PMI socket. */
#define PIE_KEEP_MAX 72

struct pie_args {
	uint64_t region_start; /* the trampoline region (kept mapped) */
	uint64_t region_end;
	uint64_t tmp_start; /* premapped areas, unmapped after the moves */
	uint64_t tmp_end;
	uint64_t task_size; /* top of user space to unmap up to */
	uint64_t areas;	    /* struct pie_area[nareas] */
	uint32_t nareas;
	uint32_t nvdso; /* used entries of vdso */
	struct pie_vdso vdso[PIE_VDSO_MAX];
	uint64_t threads; /* struct eng_thread[nthreads] */
	uint32_t nthreads;
	uint32_t leader;		       /* index of the thread the trampoline becomes */
	int64_t tid_offset;		       /* of struct pthread's tid */
	int64_t rseq_offset;		       /* glibc's rseq area offset from the TLS pointer */
	uint32_t rseq_size;		       /* 0: do not register rseq */
	uint32_t own_rseq_len;		       /* restorer's rseq registration to drop, 0: none */
	uint64_t own_rseq;		       /* its address */
	struct prctl_mm_map mm;		       /* kernel mm fields to set */
	uint64_t restore_info;		       /* address of struct eng_restore_info to fill */
	struct eng_restore_info info;	       /* what to put there */
	int32_t log_fd;			       /* where failures are written */
	int32_t exe_fd;			       /* the saved executable, -1 if not opened */
	int32_t keep[PIE_KEEP_MAX];	       /* kept open for the process, ascending: the
						* PMI socket, the pipe ends 'ckpt restart'
						* handed over */
	uint32_t nkeep;			       /* entries of keep */
	char msgs[PIE_ERR_COUNT][PIE_MSG_MAX]; /* texts of enum pie_err */
};

/* Entry point; never returns. */
void pie_main(struct pie_args *args) __attribute__((noreturn));

/* Bounds of the code to copy (the ckpt_pie section). */
extern const char __start_ckpt_pie[];
extern const char __stop_ckpt_pie[];

#endif
