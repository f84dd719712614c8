/* lh_regions.h - what belongs to the MPI lower half: its memory areas, its
 * threads, its fds and the snapshot taken before MPI_Init, and the call a
 * checkpoint makes before writing the image (shadow_lh_prepare_image; the
 * restart's counterpart, shadow_lh_restore, is in shadow_ckpt.h). Included
 * by mpi/ sources and, later, by libckpt, which resolves these functions at
 * run time with dlsym(RTLD_DEFAULT, "shadow_lh_...") (they exist only when
 * the shadow libmpich.so.12 is loaded) and checks shadow_lh_api() first.
 *
 * The lower half (LH) is the link-map namespace the shadow library creates
 * with dlmopen(LM_ID_NEWLM): the LH shim, the real MPICH, UCX, hwloc and
 * their own libc. docs/mpi.md says what is tracked and what is not.
 */
#ifndef CKPT_MPI_LH_REGIONS_H
#define CKPT_MPI_LH_REGIONS_H

#include "lh_shim.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Version of this interface: shadow_lh_api() returns it. */
#define SHADOW_LH_API 2 /* 2: fds, prepare_image, the snapshot for restore */

enum shadow_lh_kind {
	SHADOW_LH_LIB = 1,   /* span of a library's segments (name: its path) */
	SHADOW_LH_HEAP = 2,  /* the LH allocator's arenas and large blocks */
	SHADOW_LH_MMAP = 3,  /* private mmap made by LH code */
	SHADOW_LH_SHM = 4,   /* shared mapping: /dev/shm (MAP_SHARED) or shmat */
	SHADOW_LH_STACK = 5, /* LH thread stack; glibc's descriptor and static TLS at its top */
};

/* Area flags (the shim's LH_SHIM_F_*, and): */
#define SHADOW_LH_F_FILE   LH_SHIM_F_FILE
#define SHADOW_LH_F_SYSV   LH_SHIM_F_SYSV
#define SHADOW_LH_F_ARENA  LH_SHIM_F_ARENA
#define SHADOW_LH_F_EXITED LH_SHIM_F_EXITED

struct shadow_lh_area {
	uintptr_t start;  /* page aligned */
	size_t len;	  /* page multiple */
	int kind;	  /* enum shadow_lh_kind */
	unsigned flags;	  /* SHADOW_LH_F_* */
	size_t used;	  /* bytes from start that may hold data (arenas: less than len) */
	const char *name; /* SHADOW_LH_LIB: the path ld.so loaded; else NULL */
};

/* One LH library file, as it was when the snapshot was taken. */
struct shadow_lh_lib {
	char *path;
	uintptr_t base; /* load bias (link_map l_addr) */
	uint64_t size;	/* st_size */
	uint64_t dev;
	uint64_t ino;
	int64_t mtime_ns;
	unsigned char build_id[64]; /* NT_GNU_BUILD_ID; build_id_len 0: none */
	unsigned build_id_len;
};

/* A copy of LH memory that was readable and writable at snapshot time. */
struct shadow_lh_piece {
	uintptr_t start;
	size_t len;
	const void *data; /* in the upper half (inside copy_start..copy_len) */
};

/* One object of the LH namespace's link-map chain (ld.so's list, whose
 * link_maps are upper-half memory and saved with every image). */
struct shadow_lh_chain_obj {
	char *name;	    /* l_name ("" for the namespace's copy of ld.so) */
	uintptr_t l_addr;   /* load bias */
	uintptr_t link_map; /* address of its struct link_map */
};

/* One line of /proc/self/maps inside an LH area at snapshot time, clipped
 * to the area: how to map it again at restore. */
struct shadow_lh_vma {
	uintptr_t start;
	uintptr_t end;
	int prot;	  /* PROT_* from the permissions column */
	int shared;	  /* 's' in the permissions column */
	uint64_t offset;  /* file offset of start (0 when anonymous) */
	const char *path; /* the file mapped, NULL when anonymous */
};

/* The main thread's TLS block of one LH module with a PT_TLS segment. */
struct shadow_lh_tls {
	size_t modid;	  /* ld.so's module id (dl_phdr_info.dlpi_tls_modid) */
	const char *name; /* the module's path */
	uintptr_t image;  /* its TLS initialisation image (in the LH library) */
	size_t image_len; /* PT_TLS p_filesz: the rest of the block is zeroed */
	size_t size;	  /* PT_TLS p_memsz */
	uintptr_t block;  /* the main thread's block then; 0: not allocated then */
	const void *data; /* a copy of @size bytes of @block (upper half) */
};

/* The LH as it was right after loading, before MPI_Init: everything a
 * restart needs to put it back at the same addresses. Kept in upper-half
 * memory, so it is part of every image. */
struct shadow_lh_snapshot {
	size_t nareas;
	struct shadow_lh_area *areas; /* every LH area then, sorted by start */
	size_t npieces;
	struct shadow_lh_piece *pieces; /* the writable contents */
	size_t bytes;			/* sum of the pieces' lengths */
	size_t nlibs;
	struct shadow_lh_lib *libs; /* the LH library files */
	size_t nthreads;	    /* LH threads then (0: MPICH starts none before MPI_Init) */
	uintptr_t copy_start;	    /* the one upper-half mapping holding all copies */
	size_t copy_len;
	size_t nchain;
	struct shadow_lh_chain_obj *chain; /* the namespace's link-map chain, in order */
	size_t npreloaded;		   /* objects loaded before it only to make
					      MPI_Init load none (UCX's modules) */
	size_t nvmas;
	struct shadow_lh_vma *vmas; /* every mapping inside the areas, sorted */
	size_t ntls;
	struct shadow_lh_tls *tls; /* LH modules with TLS */
	uintptr_t main_thread;	   /* pthread_self() of the thread that took it */
	size_t dtv_off;		   /* offset of the DTV pointer in a descriptor,
				       verified; 0: could not be verified */
	size_t nfds;		   /* LH fds open then (a restart cannot reopen them) */
};

/* SHADOW_LH_API. */
int shadow_lh_api(void);

/* The fds the LH opened and has not closed (UCX's epoll, event and socket
 * fds, its /dev/shm files, hwloc's directories), sorted: up to @cap into
 * @out, the total in *count. A checkpoint leaves them out: a restart closes
 * them and the LH opens its own again in MPI_Init. Returns 0; -ENOENT
 * without the shim; -EOVERFLOW when an fd number was too large to record. */
int shadow_lh_fds(int *out, size_t cap, size_t *count);

/* The fds open right before the LH was loaded (for tests): as above. */
int shadow_lh_fds_before(int *out, size_t cap, size_t *count);

/* Called at a checkpoint, with every application thread stopped outside
 * the LH, before the image is written. Checks that ld.so's chain of LH
 * objects is still the snapshot's (-EBUSY naming an object loaded since:
 * the image could not include it), and records, in upper-half memory that
 * the image keeps, ld.so's list of threads with user stacks as it is now
 * and which of its entries are LH threads' descriptors (they lie in LH
 * stacks that the image leaves out): shadow_lh_restore() unlinks them.
 * -ENOTSUP when glibc's thread descriptor layout cannot be verified.
 * Returns 0 or -errno with a sentence in @why. */
int shadow_lh_prepare_image(char *why, size_t len);

/* Lists the LH's areas now, sorted by start: up to @cap into @out, the
 * total in *count. Returns 0; -ENOENT when the LH runs without the shim
 * (CKPT_MPI_LH_SHIM=none: its memory is not known); -EOVERFLOW when the
 * shim could not record every mapping (the list is incomplete). */
int shadow_lh_areas(struct shadow_lh_area *out, size_t cap, size_t *count);

/* Kernel tids of the LH threads that are running now (started by the LH
 * through the shim and not ended): up to @cap into @out, total in *count.
 * Returns 0, or -ENOENT without the shim. */
int shadow_lh_threads(pid_t *out, size_t cap, size_t *count);

/* The snapshot taken after loading the LH and before MPI_Init; NULL
 * without the shim. */
const struct shadow_lh_snapshot *shadow_lh_snapshot(void);

/* Checks that the LH library files are still those of @snap (path, size,
 * build id; mtime when a file has no build id). Returns 0, or -ESTALE with
 * a sentence naming the first difference in @why (a restart must refuse),
 * or -ENOENT with @snap NULL. */
int shadow_lh_libs_check(const struct shadow_lh_snapshot *snap, char *why, size_t len);

/* /proc/self/maps as it was right before the LH was loaded (for tests and
 * diagnostics); NULL if it could not be read. */
const char *shadow_lh_maps_before(void);

/* The address of @name in the LH namespace (the shim's libc first), for
 * tests that call the LH's libc directly; NULL without the shim or when
 * there is none. */
void *shadow_lh_sym(const char *name);

/* The shim's counters. Returns 0, or -ENOENT without the shim. */
int shadow_lh_shim_stats(struct lh_shim_stats *out);

#endif
