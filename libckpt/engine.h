/* engine.h - records and state shared by the checkpoint side (libckpt.so) and
 * the restorer (ckpt-restore and its trampoline). Included by libckpt/ engine
 * sources only; restore_pie.c includes it too, so it must stay libc-free
 * (plain fixed-size types, no functions).
 *
 * The records below are stored bytes-exact in the image as engine metadata
 * records. They are only ever read back by the same build on the same
 * architecture; they still carry a magic and a version so that a restorer
 * refuses an image of another engine version instead of misreading it.
 * Besides the records, only eng_ptr() lives here.
 */
#ifndef CKPT_LIBCKPT_ENGINE_H
#define CKPT_LIBCKPT_ENGINE_H

#include <stdint.h>

/* Addresses arrive as integers (from /proc, the kernel, the image); this is
 * the one place they become pointers. Always inlined, so that the restore
 * trampoline can use it without a call outside its own section. */
static inline __attribute__((always_inline)) void *eng_ptr(uint64_t addr)
{
	return (void *)(uintptr_t)addr; /* NOLINT(performance-no-int-to-ptr) */
}

/* Metadata record types of the engine ("EN" + number); the subsystems use
 * other values (see subsys.h). Pinned forever. */
#define ENG_REC_PROCESS 0x454e0001u
#define ENG_REC_THREADS 0x454e0002u

/* Engine area flag bits (the engine's half of struct img_area.flags). */
#define ENG_AREA_HEAP  (1u << 16) /* "[heap]": the brk area */
#define ENG_AREA_STACK (1u << 17) /* "[stack]": the main thread's stack */

/* "CKPTENG1": first field of ENG_REC_PROCESS. */
#define ENG_MAGIC 0x31474e4554504b43ull
/* Bumped whenever a record layout changes. */
#define ENG_VERSION 1u

/* Most threads a process may have when checkpointed. 4096 threads is far
 * beyond what one HPC rank runs; the table stays in untouched .bss below it. */
#define ENG_THREADS_MAX 4096u

/* Longest agent socket path handed to the restored process (sun_path). */
#define ENG_SOCK_PATH_MAX 108u
/* Longest checkpoint directory the restorer hands over: PATH_MAX. */
#define ENG_DIR_PATH_MAX 4096u

/* Saved callee-saved state of a thread at the point where it waits: what a
 * longjmp needs, and nothing more, because everything else (the full
 * application context) lies in the kernel's signal frame on the thread's own
 * stack, which the memory image restores. Layout used by the assembly in
 * quiesce.c and restore_pie.c: keep the offsets. */
struct eng_ctx {
	uint64_t rbx;	/* offset 0 */
	uint64_t rbp;	/* offset 8 */
	uint64_t r12;	/* offset 16 */
	uint64_t r13;	/* offset 24 */
	uint64_t r14;	/* offset 32 */
	uint64_t r15;	/* offset 40 */
	uint64_t rsp;	/* offset 48: stack pointer after the save call returns */
	uint64_t rip;	/* offset 56: return address of the save call */
	uint32_t mxcsr; /* offset 64: SSE control/status (callee-saved part) */
	uint16_t fpucw; /* offset 68: x87 control word (callee-saved) */
	uint16_t pad;	/* offset 70: keeps the size a multiple of 8 */
};

/* One thread as saved (ENG_REC_THREADS is an array of these). */
struct eng_thread {
	int32_t tid;		/* tid at checkpoint time (for messages only) */
	uint32_t flags;		/* ENG_THREAD_* */
	uint64_t fs_base;	/* TLS pointer = glibc struct pthread address */
	struct eng_ctx ctx;	/* where the thread continues */
	uint64_t robust_head;	/* set_robust_list() head, 0 if none */
	uint64_t robust_len;	/* its length argument */
	uint64_t altstack_sp;	/* sigaltstack ss_sp */
	uint64_t altstack_size; /* sigaltstack ss_size */
	int32_t altstack_flags; /* sigaltstack ss_flags (SS_DISABLE when none) */
	uint32_t pad;		/* alignment */
	uint64_t sigmask;	/* application signal mask while it waited (info) */
};

#define ENG_THREAD_MAIN (1u << 0) /* was the thread group leader */
#define ENG_THREAD_CKPT (1u << 1) /* the checkpoint thread */

/* Kernel mm fields (prctl PR_SET_MM_MAP) and other process-wide facts. */
struct eng_process {
	uint64_t magic;	       /* ENG_MAGIC */
	uint32_t version;      /* ENG_VERSION */
	uint32_t nthreads;     /* entries in ENG_REC_THREADS */
	int32_t pid;	       /* pid at checkpoint time */
	int32_t ckpt_signal;   /* the quiesce signal number */
	int64_t tid_offset;    /* offset of tid in glibc's struct pthread */
	int64_t rseq_offset;   /* glibc __rseq_offset (from the thread pointer) */
	uint32_t rseq_size;    /* glibc __rseq_size; 0: rseq not registered */
	uint32_t pad;	       /* alignment */
	uint64_t restore_info; /* address of struct eng_restore_info in libckpt */
	uint64_t start_code;   /* mm fields from /proc/self/stat, for PR_SET_MM_MAP */
	uint64_t end_code;
	uint64_t start_data;
	uint64_t end_data;
	uint64_t start_brk;
	uint64_t brk; /* current program break */
	uint64_t start_stack;
	uint64_t arg_start;
	uint64_t arg_end;
	uint64_t env_start;
	uint64_t env_end;
	uint32_t auxv_len; /* bytes used in auxv */
	uint32_t pad2;	   /* alignment */
	uint64_t auxv[64]; /* saved auxiliary vector (AT_* pairs, 0-terminated) */
};

/* Written by the restorer's trampoline into the restored libckpt (at
 * eng_process.restore_info) before any thread runs: what the restored
 * checkpoint thread needs to know about its new world. */
struct eng_restore_info {
	uint32_t restored;  /* 1 once written by a restorer */
	uint32_t started;   /* futex: threads re-created (trampoline sets 1) */
	uint64_t pie_start; /* trampoline region to unmap once threads left it */
	uint64_t pie_len;
	uint64_t records;		    /* subsystem records copied by the restorer into
				 * the trampoline region: a sequence of struct
				 * eng_rec_hdr + data padded to 8 bytes */
	uint64_t records_len;		    /* bytes of that sequence */
	char agent_sock[ENG_SOCK_PATH_MAX]; /* new agent socket, "" if none */
	char job_dir[ENG_DIR_PATH_MAX];	    /* new $CKPT_DIR (real path), "" if none */
};

/* Header of one subsystem record handed to the restored process. */
struct eng_rec_hdr {
	uint32_t type; /* record type (subsys.h record_type) */
	uint32_t pad;  /* alignment */
	uint64_t len;  /* data bytes following */
};

#endif
