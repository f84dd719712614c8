/* restore.c - ckpt-restore: turns its own process into the saved process.
 *
 *   ckpt-restore IMAGE [--agent SOCKET]
 *   CKPT_RESTORE_IMAGE=IMAGE [CKPT_RESTORE_AGENT=SOCKET] ckpt-restore [ANY...]
 *
 * The second form is how the Slurm plugin starts it: slurmstepd itself
 * executes ckpt-restore in place of the task's program, after TaskProlog,
 * the user's limits and TMPDIR (spank/remote.c), with the task's arguments,
 * which are ignored; the restored process then gets this step's environment
 * merged into its own (env_fresh.h).
 *
 * Ordinary C with libc and the image reader: it validates the image and the
 * engine's records, maps every saved area at a temporary address inside a
 * hole of the saved address map (so that the restorer's own mappings may sit
 * anywhere, even where the saved process had memory), loads the data, then
 * copies the freestanding trampoline (restore_pie.c) with its input and
 * stack into the same hole and jumps there. The trampoline moves the areas to
 * their saved addresses with mremap(), which costs no copy. See
 * docs/engine.md for why this replaced a restorer placed at a fixed address.
 *
 * The image is read once: each chunk's checksums are checked as it is loaded
 * into place, and the jump happens only after every chunk checked out. An
 * image found corrupt on the way (even in its last chunk) is dropped with
 * everything mapped for it, and the next candidate the plugin passed
 * (CKPT_RESTORE_OLDER: older generations of the same task) is restored in
 * the same process; when none is left, the task's own program is started
 * fresh (CKPT_RESTORE_ARGV0), as the plugin did before it left the
 * verification to us. See "One pass" in docs/engine.md.
 */
#define LOG_PREFIX ""
#include "engine.h"
#include "env_fresh.h"
#include "files.h"
#include "img.h"
#include "log.h"
#include "mpi_split.h"
#include "restore_pie.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <unistd.h>

/* Default top of user space with 4-level paging (47 bits, one page below). */
#define RST_TASK_SIZE 0x7ffffffff000ull
/* Trampoline stack: pie_main and pie_log use well under 4 KiB. */
#define RST_PIE_STACK (64u << 10)
/* Candidate step when a hole is partly taken by the restorer itself. */
#define RST_HOLE_STEP (256ull << 20)
#define RST_PAGE      4096ull
/* Length glibc passes to rseq(2): sizeof(struct rseq) of the kernel ABI. */
#define RST_RSEQ_LEN 32u
/* Older generations the plugin may pass: more than any keep setting in use
 * (default 2); what is beyond is ignored. */
#define RST_OLDER_MAX 16

/* One image that may be restored, with its generation for messages. */
struct rst_cand {
	const char *path; /* image file */
	uint64_t gen;	  /* generation number, 0 when not known */
};

/* What the Slurm plugin passes beside the image, for the fallback
 * (all optional; unset in the standalone form). */
struct rst_fallback {
	const char *task;			 /* "step S task R", for messages, or NULL */
	struct rst_cand cand[1 + RST_OLDER_MAX]; /* newest first */
	uint32_t ncand;				 /* entries of cand, >= 1 */
	uint32_t cur;				 /* the one being restored */
	const char *argv0;			 /* the task's program for a fresh start, or NULL */
	const char *preload;			 /* libckpt.so for a fresh start's LD_PRELOAD */
};

/* A shared object (memfd, unlinked /dev/shm file) re-created as a new
 * memfd for the areas that mapped it: one per saved (dev, inode), so that
 * several mappings of one object come back as one. */
struct rst_shobj {
	uint64_t dev;	/* saved identity */
	uint64_t inode; /* ... */
	int fd;		/* the new memfd, -1 once its last area is mapped */
	uint32_t last;	/* index of the last area that maps it */
};

struct rst {
	const char *path;		       /* image file, for messages */
	struct img_reader *r;		       /* open reader */
	const struct eng_process *proc;	       /* validated ENG_REC_PROCESS */
	const struct eng_thread *threads;      /* validated ENG_REC_THREADS */
	uint32_t nthreads;		       /* entries in threads */
	uint32_t leader;		       /* index of the thread the trampoline becomes */
	uint32_t nareas;		       /* areas in the image */
	uint64_t map_total;		       /* bytes of temporary area mappings */
	uint64_t vdso_total;		       /* bytes of the saved vdso block */
	const char *agent_sock;		       /* new agent socket or NULL */
	bool mpi;			       /* an MPI rank's image: hand over the environment */
	bool env_fresh;			       /* restored by Slurm: hand over the environment */
	struct ckpt_rlim limits[RLIM_NLIMITS]; /* ours at start, i.e. slurmstepd's */
	bool limits_ok;			       /* limits[] was read whole */
	int pmi_fd;			       /* the step's PMI socket, kept open, or -1 */
	struct ckpt_tree_pipe_fd pipes[CKPT_TREE_PIPES_MAX]; /* ends 'ckpt restart' handed */
	uint32_t npipes;				     /* entries of pipes */
	struct rst_shobj *shobjs;     /* shared objects re-created for areas */
	uint32_t nshobjs;	      /* entries of shobjs */
	bool pmi_moved;		      /* pmi_fd is set (once for all candidates) */
	bool image_bad;		      /* the failure is the image's (reader) */
	char why[1024];		      /* the reader's message when image_bad */
	void (*committed)(void *arg); /* called once the image is loaded whole */
	void *committed_arg;	      /* its argument */
};

static const char *const rst_msgs[PIE_ERR_COUNT] = {
	[PIE_ERR_VDSO_PARK] = "cannot move the restorer's vdso aside",
	[PIE_ERR_UNMAP] = "cannot unmap the restorer",
	[PIE_ERR_MREMAP] = "cannot move an area to its saved address (address taken?)",
	[PIE_ERR_MPROTECT] = "cannot set an area's protection",
	[PIE_ERR_VDSO_MOVE] = "cannot move the vdso to its saved address",
	[PIE_WARN_MM] = "warning: PR_SET_MM_MAP refused; brk and /proc fields not restored",
	[PIE_ERR_CLONE] = "cannot re-create a thread",
};

static bool rst_canonical(uint64_t a)
{
	return a < (1ull << 47);
}

/* Index of the area containing [a, a + len), or -1. */
static int rst_area_of(const struct rst *s, uint64_t a, uint64_t len)
{
	for (uint32_t i = 0; i < s->nareas; i++) {
		const struct img_area *ar = img_reader_area(s->r, i);

		if (a >= ar->start && a - ar->start < ar->len && len <= ar->len - (a - ar->start))
			return (int)i;
	}
	return -1;
}

static int rst_bad(const struct rst *s, const char *what)
{
	log_err("%s: refused: %s", s->path, what);
	return -EBADMSG;
}

static int rst_validate_records(struct rst *s)
{
	const void *data;
	uint64_t len;
	uint32_t idx = 0;
	char why[256];

	if (img_reader_record_find(s->r, ENG_REC_PROCESS, &idx, &data, &len) < 0)
		return rst_bad(s, "no engine process record (not a libckpt image?)");
	if (len != sizeof(struct eng_process))
		return rst_bad(s, "engine process record has the wrong size");
	s->proc = data;
	if (s->proc->magic != ENG_MAGIC || s->proc->version != ENG_VERSION)
		return rst_bad(s, "engine record of another engine version");
	idx = 0;
	if (img_reader_record_find(s->r, ENG_REC_THREADS, &idx, &data, &len) < 0)
		return rst_bad(s, "no thread record");
	s->threads = data;
	s->nthreads = s->proc->nthreads;
	if (s->nthreads < 1 || s->nthreads > ENG_THREADS_MAX ||
	    len != (uint64_t)s->nthreads * sizeof(struct eng_thread))
		return rst_bad(s, "thread count out of bounds or record size mismatch");
	if (s->proc->tid_offset < 0 || s->proc->tid_offset > 4096 - 4 ||
	    s->proc->rseq_offset < -65536 || s->proc->rseq_offset > 65536 ||
	    s->proc->rseq_size > 256)
		return rst_bad(s, "implausible glibc descriptor offsets");
	if (s->proc->auxv_len > sizeof(s->proc->auxv))
		return rst_bad(s, "auxv length out of bounds");
	if (rst_area_of(s, s->proc->restore_info, sizeof(struct eng_restore_info)) < 0)
		return rst_bad(s, "restore-info address outside the saved memory");

	uint32_t nckpt = 0;
	bool have_leader = false;

	for (uint32_t i = 0; i < s->nthreads; i++) {
		const struct eng_thread *t = &s->threads[i];
		int ai;

		if (t->flags & ENG_THREAD_CKPT)
			nckpt++;
		if ((t->flags & ENG_THREAD_MAIN) && !have_leader) {
			s->leader = i;
			have_leader = true;
		}
		ai = rst_area_of(s, t->ctx.rip, 1);
		if (!rst_canonical(t->ctx.rip) || ai < 0 ||
		    !(img_reader_area(s->r, (uint32_t)ai)->prot & PROT_EXEC)) {
			snprintf(why, sizeof(why),
				 "thread %d: resume address %#lx not in executable memory", t->tid,
				 (unsigned long)t->ctx.rip);
			return rst_bad(s, why);
		}
		ai = rst_area_of(s, t->ctx.rsp - 1024, 1024);
		if (ai < 0 || !(img_reader_area(s->r, (uint32_t)ai)->prot & PROT_WRITE)) {
			snprintf(why, sizeof(why),
				 "thread %d: stack pointer %#lx not in writable memory", t->tid,
				 (unsigned long)t->ctx.rsp);
			return rst_bad(s, why);
		}
		if (rst_area_of(s, t->fs_base + (uint64_t)s->proc->tid_offset, 4) < 0) {
			snprintf(why, sizeof(why),
				 "thread %d: TLS pointer %#lx outside saved memory", t->tid,
				 (unsigned long)t->fs_base);
			return rst_bad(s, why);
		}
		if (t->robust_head && rst_area_of(s, t->robust_head, 8) < 0) {
			snprintf(why, sizeof(why), "thread %d: robust list outside saved memory",
				 t->tid);
			return rst_bad(s, why);
		}
	}
	if (nckpt != 1)
		return rst_bad(s, "not exactly one checkpoint thread");
	/* Each thread's tid is written into its own descriptor: two threads
	 * sharing one TLS block (raw clone() without CLONE_SETTLS) cannot be
	 * re-created faithfully. */
	for (uint32_t i = 0; i < s->nthreads; i++)
		for (uint32_t j = i + 1; j < s->nthreads; j++)
			if (s->threads[i].fs_base == s->threads[j].fs_base) {
				snprintf(
					why, sizeof(why),
					"threads %d and %d share one TLS block (raw clone() threads are not supported)",
					s->threads[i].tid, s->threads[j].tid);
				return rst_bad(s, why);
			}
	if (!have_leader)
		s->leader = 0;
	idx = 0;
	s->mpi = img_reader_record_find(s->r, CKPT_REC_MPI, &idx, &data, &len) == 0 && len > 0;
	return 0;
}

/* One line of our own /proc/self/maps that we care about. */
struct rst_vdso_cur {
	uint64_t start;
	uint64_t end;
	char name[16];
};

static int rst_own_vdso(struct rst_vdso_cur *v, int max)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a;
		unsigned long b;
		char name[64] = "";

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %63s", &a, &b, name) < 2)
			continue;
		if (strcmp(name, "[vdso]") != 0 && strcmp(name, "[vvar]") != 0 &&
		    strcmp(name, "[vvar_vclock]") != 0)
			continue;
		if (n == max)
			break;
		v[n].start = a;
		v[n].end = b;
		snprintf(v[n].name, sizeof(v[n].name), "%s", name);
		n++;
	}
	fclose(f);
	return n;
}

/* Pairs the saved vdso pieces with ours: same names, sizes and relative
 * offsets, or a clear refusal. */
static int rst_vdso_plan(struct rst *s, struct pie_args *args)
{
	struct rst_vdso_cur cur[PIE_VDSO_MAX] = { 0 };
	int ncur = rst_own_vdso(cur, PIE_VDSO_MAX);
	uint32_t nsaved = 0;
	uint64_t saved0 = 0;
	char why[256];

	if (ncur < 0)
		return ncur;
	for (uint32_t i = 0; i < s->nareas; i++) {
		const struct img_area *a = img_reader_area(s->r, i);

		if (!(a->flags & IMG_AREA_VDSO))
			continue;
		if (nsaved == (uint32_t)ncur) {
			snprintf(
				why, sizeof(why),
				"the saved process has more vdso areas than this kernel gives (%s)",
				a->name ? a->name : "?");
			return rst_bad(s, why);
		}
		if (!nsaved)
			saved0 = a->start;
		if (strcmp(a->name ? a->name : "", cur[nsaved].name) != 0 ||
		    a->len != cur[nsaved].end - cur[nsaved].start ||
		    a->start - saved0 != cur[nsaved].start - cur[0].start) {
			snprintf(
				why, sizeof(why),
				"vdso layout differs: saved %s of %lu bytes at +%lu, here %s of %lu bytes at +%lu (kernel changed?)",
				a->name, (unsigned long)a->len, (unsigned long)(a->start - saved0),
				cur[nsaved].name,
				(unsigned long)(cur[nsaved].end - cur[nsaved].start),
				(unsigned long)(cur[nsaved].start - cur[0].start));
			return rst_bad(s, why);
		}
		args->vdso[nsaved].cur = cur[nsaved].start;
		args->vdso[nsaved].saved = a->start;
		args->vdso[nsaved].len = a->len;
		s->vdso_total = a->start + a->len - saved0;
		nsaved++;
	}
	if (nsaved != (uint32_t)ncur)
		return rst_bad(s, "the saved process has fewer vdso areas than this kernel gives");
	args->nvdso = nsaved;
	return 0;
}

/* Finds and reserves a hole of @size bytes that overlaps neither a saved
 * area nor anything of ours. */
static uint64_t rst_hole_reserve(struct rst *s, uint64_t size)
{
	uint64_t lo = 1ull << 32; /* stay clear of low non-PIE executables */

	for (uint32_t i = 0; i <= s->nareas; i++) {
		const struct img_area *a = i < s->nareas ? img_reader_area(s->r, i) : NULL;
		uint64_t hi = a ? a->start : RST_TASK_SIZE;

		for (uint64_t c = (lo + RST_HOLE_STEP - 1) & ~(RST_HOLE_STEP - 1);
		     hi > c && hi - c >= size; c += RST_HOLE_STEP) {
			void *p = mmap(eng_ptr(c), size, PROT_NONE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
					       MAP_FIXED_NOREPLACE,
				       -1, 0);

			if (p == eng_ptr(c))
				return c;
			if (p != MAP_FAILED)
				munmap(p, size);
		}
		if (a && a->start + a->len > lo)
			lo = a->start + a->len;
	}
	return 0;
}

/* Whether area @a maps a shared object whose contents the image holds and
 * that is re-created at restore (docs/engine.md, "Memory areas"). Images
 * of before saved such areas by reference (IMG_AREA_NO_DATA): refused by
 * rst_file_check() as they were. */
static bool rst_area_shobj(const struct img_area *a)
{
	/* Only what the checkpoint saves so: anything else, say a forged
	 * path without a '/', is refused by rst_file_check() as deleted. */
	return (a->flags & IMG_AREA_SHARED) && (a->flags & IMG_AREA_FILE_DELETED) &&
	       !(a->flags & (IMG_AREA_NO_DATA | IMG_AREA_ANON)) && a->path &&
	       (!strncmp(a->path, "/memfd:", 7) || !strncmp(a->path, "/dev/shm/", 9));
}

/* Closes the descriptors of the re-created shared objects: their areas
 * hold them from now on. */
static void rst_shobjs_close(struct rst *s)
{
	for (uint32_t i = 0; i < s->nshobjs; i++)
		if (s->shobjs[i].fd >= 0)
			close(s->shobjs[i].fd);
	free(s->shobjs);
	s->shobjs = NULL;
	s->nshobjs = 0;
}

/* The memfd standing for the object of area @a, created at the first area
 * of that object and sized to the furthest end any area maps. Returns a
 * descriptor owned by @s, or -errno. */
static int rst_shobj_fd(struct rst *s, const struct img_area *a)
{
	uint64_t size = 0;
	uint32_t last = 0;
	const char *name;
	struct rst_shobj *o;
	int fd;

	for (uint32_t i = 0; i < s->nshobjs; i++)
		if (s->shobjs[i].dev == a->dev && s->shobjs[i].inode == a->inode)
			return s->shobjs[i].fd;
	for (uint32_t i = 0; i < s->nareas; i++) {
		const struct img_area *b = img_reader_area(s->r, i);

		if (!rst_area_shobj(b) || b->dev != a->dev || b->inode != a->inode)
			continue;
		last = i;
		if (b->file_offset + b->len > size)
			size = b->file_offset + b->len;
	}
	if (size > (uint64_t)INT64_MAX || a->file_offset > (uint64_t)INT64_MAX - a->len) {
		log_err("%s: area %#lx maps %s at offset %#lx: offset out of range", s->path,
			(unsigned long)a->start, a->path, (unsigned long)a->file_offset);
		return -EBADMSG;
	}
	o = realloc(s->shobjs, (s->nshobjs + 1) * sizeof(*o));
	if (!o)
		return -ENOMEM;
	s->shobjs = o;
	/* The new object keeps the old name in /proc/PID/maps: "/memfd:NAME"
	 * for a memfd, the last component for a /dev/shm file. */
	name = strncmp(a->path, "/memfd:", 7) == 0 ? a->path + 7 : strrchr(a->path, '/') + 1;
	fd = memfd_create(strlen(name) < 240 ? name : "ckpt-shm", MFD_CLOEXEC);
	if (fd < 0) {
		log_perror("%s: cannot re-create %s (mapped at %#lx)", s->path, a->path,
			   (unsigned long)a->start);
		return -errno;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		log_perror("%s: cannot size the new %s to %lu bytes", s->path, a->path,
			   (unsigned long)size);
		close(fd);
		return -ENOMEM;
	}
	o[s->nshobjs].dev = a->dev;
	o[s->nshobjs].inode = a->inode;
	o[s->nshobjs].fd = fd;
	o[s->nshobjs].last = last;
	s->nshobjs++;
	return fd;
}

/* Area @i of a re-created object is mapped: after the object's last area
 * its descriptor goes (the mappings hold the object), so a process mapping
 * more objects than its descriptor limit still comes back. */
static void rst_shobj_mapped(struct rst *s, uint32_t i)
{
	for (uint32_t k = 0; k < s->nshobjs; k++) {
		if (s->shobjs[k].last == i && s->shobjs[k].fd >= 0) {
			close(s->shobjs[k].fd);
			s->shobjs[k].fd = -1;
		}
	}
}

static int rst_file_check(const struct rst *s, const struct img_area *a)
{
	struct stat st;
	char why[IMG_PATH_MAX + 128];

	if (a->flags & IMG_AREA_FILE_DELETED) {
		snprintf(why, sizeof(why),
			 "area at %#lx maps the deleted file %s, which cannot be mapped again",
			 (unsigned long)a->start, a->path);
		return rst_bad(s, why);
	}
	if (stat(a->path, &st) < 0 || st.st_ino != a->inode ||
	    (a->mtime_sec && (st.st_mtim.tv_sec != a->mtime_sec ||
			      (uint32_t)st.st_mtim.tv_nsec != a->mtime_nsec))) {
		snprintf(why, sizeof(why),
			 "mapped file %s is missing or changed since the checkpoint", a->path);
		return rst_bad(s, why);
	}
	return 0;
}

/* Whether area @a maps shared anonymous memory, with the object's
 * identity saved (docs/process-trees.md). */
static bool rst_area_shanon(const struct img_area *a)
{
	return (a->flags & (IMG_AREA_SHARED | IMG_AREA_ANON)) ==
		       (IMG_AREA_SHARED | IMG_AREA_ANON) &&
	       a->inode;
}

/* The memfd 'ckpt restart' handed for the object area @a maps when other
 * processes of the tree map it too (shared anonymous memory, a memfd, an
 * unlinked /dev/shm object: CKPT_TREE_SHM, "FD:DEV:INODE,...",
 * docs/process-trees.md): -1 for none, -EINVAL (said) when the list is
 * malformed or the memfd too short. */
static int rst_tree_shm_fd(const struct rst *s, const struct img_area *a)
{
	const char *env = getenv(CKPT_TREE_SHM_ENV);
	const char *p = env;
	unsigned int n = 0;

	if (!p || !(rst_area_shanon(a) || rst_area_shobj(a)))
		return -1;
	while (*p) {
		unsigned long long dev;
		unsigned long long ino;
		struct stat st;
		int fd = -1;
		int used = 0;

		if (++n > CKPT_TREE_SHM_MAX ||
		    sscanf(p, "%d:%llu:%llu%n", &fd, &dev, &ino, &used) != 3 || fd < 3 ||
		    fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			goto bad;
		if (dev == a->dev && ino == a->inode) {
			if ((uint64_t)st.st_size < a->file_offset ||
			    (uint64_t)st.st_size - a->file_offset < a->len)
				goto bad;
			return fd;
		}
		p += used;
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	return -1;
bad:
	log_err("%s: %s=\"%s\" does not list memfds covering the shared memory at %#lx (entry "
		"%u): was this started by 'ckpt restart'?",
		s->path, CKPT_TREE_SHM_ENV, env, (unsigned long)a->start, n);
	return -EINVAL;
}

/* Maps area @i at @tmp and loads its data. */
static int rst_area_premap(struct rst *s, uint32_t i, uint64_t tmp)
{
	const struct img_area *a = img_reader_area(s->r, i);
	int prot = PROT_READ | PROT_WRITE;
	int flags = MAP_FIXED | MAP_NORESERVE;
	int treefd = rst_tree_shm_fd(s, a);
	int shfd = -1;
	int fd = -1;
	void *p;
	int ret;

	if (treefd == -EINVAL)
		return treefd;
	if (treefd >= 0) {
		/* Shared with other processes of the tree: the memfd holds
		 * the bytes ('ckpt restart' filled it); the trampoline closes
		 * it, the mapping stays and gets the saved protection. */
		p = mmap(eng_ptr(tmp), a->len, prot, flags | MAP_SHARED, treefd,
			 (off_t)a->file_offset);
		if (p != eng_ptr(tmp)) {
			log_perror("%s: cannot map the shared memory at %#lx+%#lx", s->path,
				   (unsigned long)a->start, (unsigned long)a->len);
			return -ENOMEM;
		}
		return 0;
	}

	if ((a->flags & IMG_AREA_NO_DATA) && !(a->flags & IMG_AREA_SHARED))
		prot = PROT_NONE;
	if (a->flags & IMG_AREA_SHARED)
		flags |= MAP_SHARED;
	else
		flags |= MAP_PRIVATE;
	if (a->flags & IMG_AREA_GROWSDOWN)
		flags |= MAP_GROWSDOWN;
	if (rst_area_shobj(a)) {
		/* Owned by s->shobjs; mapped writable until its data is
		 * loaded, the trampoline sets the saved protection. */
		shfd = rst_shobj_fd(s, a);
		if (shfd < 0)
			return shfd;
	} else if (a->path && a->path[0] &&
		   !((a->flags & IMG_AREA_NO_DATA) && !(a->flags & IMG_AREA_SHARED))) {
		ret = rst_file_check(s, a);
		if (ret < 0)
			return ret;
		fd = open(a->path, ((a->flags & IMG_AREA_SHARED) && (a->prot & PROT_WRITE))
					   ? O_RDWR
					   : O_RDONLY);
		if (fd < 0) {
			log_perror("%s: cannot open %s", s->path, a->path);
			return -errno;
		}
	} else {
		flags |= MAP_ANONYMOUS;
	}
	if ((a->flags & IMG_AREA_SHARED) && fd >= 0)
		prot = a->prot ? (int)a->prot : PROT_NONE;
	if (shfd >= 0)
		p = mmap(eng_ptr(tmp), a->len, prot, flags, shfd, (off_t)a->file_offset);
	else
		p = mmap(eng_ptr(tmp), a->len, prot, flags, fd,
			 fd >= 0 ? (off_t)a->file_offset : 0);
	if (fd >= 0)
		close(fd);
	if (p != eng_ptr(tmp)) {
		log_perror("%s: cannot map area %#lx+%#lx (%s)", s->path, (unsigned long)a->start,
			   (unsigned long)a->len, a->path && a->path[0] ? a->path : a->name);
		return -ENOMEM;
	}
	if (shfd >= 0)
		rst_shobj_mapped(s, i);
	if (a->present_pages) {
		ret = img_reader_area_load(s->r, i, p);
		if (ret < 0) {
			/* Logged by the caller: it may fall back to an older image. */
			s->image_bad = true;
			snprintf(s->why, sizeof(s->why), "%s", img_reader_error(s->r));
			return ret;
		}
	}
	return 0;
}

static void rst_mm_fill(const struct rst *s, struct pie_args *args, uint64_t auxv_copy)
{
	const struct eng_process *p = s->proc;

	memset(&args->mm, 0, sizeof(args->mm));
	args->mm.start_code = p->start_code;
	args->mm.end_code = p->end_code;
	args->mm.start_data = p->start_data;
	args->mm.end_data = p->end_data;
	args->mm.start_brk = p->start_brk;
	args->mm.brk = p->brk;
	args->mm.start_stack = p->start_stack;
	args->mm.arg_start = p->arg_start;
	args->mm.arg_end = p->arg_end;
	args->mm.env_start = p->env_start;
	args->mm.env_end = p->env_end;
	args->mm.auxv = eng_ptr(auxv_copy);
	args->mm.auxv_size = p->auxv_len;
	args->mm.exe_fd = (uint32_t)-1;
}

/* Opens the saved executable so that /proc/PID/exe names it again; the
 * kernel may refuse that part (then the trampoline retries without). */
static int rst_exe_open(const struct rst *s)
{
	const struct img_header *h = img_reader_header(s->r);

	if (!h || !h->exe || h->exe[0] != '/')
		return -1;
	return open(h->exe, O_RDONLY | O_CLOEXEC);
}

/* Appends one record to @dst (when not NULL) at @off; returns the new offset. */
static uint64_t rst_record_put(unsigned char *dst, uint64_t off, uint32_t type, const void *data,
			       uint64_t len)
{
	struct eng_rec_hdr h = { .type = type, .len = len };

	if (dst) {
		memcpy(dst + off, &h, sizeof(h));
		memcpy(dst + off + sizeof(h), data, len);
	}
	return off + sizeof(h) + ((len + 7) & ~7ull);
}

/* The restarting step's environment as NUL-separated strings in a record
 * of @type: for an MPI rank's lower half (PMI_FD, PMI_RANK, SLURM_* of this
 * step), and for the merge into a task's environment (env_fresh.h). */
static uint64_t rst_env_put(unsigned char *dst, uint64_t off, uint32_t type)
{
	struct eng_rec_hdr h = { .type = type, .len = 0 };
	uint64_t at = off + sizeof(h);

	for (char **e = environ; *e; e++) {
		size_t n = strlen(*e) + 1;

		if (dst)
			memcpy(dst + at + h.len, *e, n);
		h.len += n;
	}
	if (dst)
		memcpy(dst + off, &h, sizeof(h));
	return at + ((h.len + 7) & ~7ull);
}

/*
 * The restored process writes its next images only under this directory
 * (agent_client.c): $CKPT_DIR of its new start (ckpt restart sets it), else
 * the directory the image's generation lies in, DIR/gen-N/IMAGE (the Slurm
 * plugin execs us with the job's environment). Fills @out (PATH_MAX) with
 * its real path, "" when neither resolves: the process then refuses to
 * write checkpoints, and says so.
 */
static void rst_job_dir(const struct rst *s, char *out)
{
	const char *env = getenv("CKPT_DIR");
	char dir[PATH_MAX];
	char *slash;

	out[0] = '\0';
	if (env && *env) {
		if (!realpath(env, out))
			out[0] = '\0';
		return;
	}
	if (snprintf(dir, sizeof(dir), "%s", s->path) >= (int)sizeof(dir))
		return;
	for (int i = 0; i < 2; i++) {
		slash = strrchr(dir, '/');
		if (!slash)
			return;
		*slash = '\0';
	}
	if (!realpath(dir[0] ? dir : "/", out))
		out[0] = '\0';
}

/* Copies the subsystem records (every record that is not the engine's)
 * into @dst, and for an MPI rank the environment; returns the bytes used,
 * or the bytes needed when @dst is NULL. */
static uint64_t rst_records_copy(const struct rst *s, unsigned char *dst)
{
	uint32_t n = img_reader_record_count(s->r);
	uint64_t off = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t type;
		const void *data;
		uint64_t len;

		if (img_reader_record(s->r, i, &type, &data, &len) < 0 || type == ENG_REC_PROCESS ||
		    type == ENG_REC_THREADS)
			continue;
		off = rst_record_put(dst, off, type, data, len);
	}
	if (s->npipes)
		off = rst_record_put(dst, off, ENG_REC_TREE_PIPES, s->pipes,
				     s->npipes * sizeof(s->pipes[0]));
	if (s->mpi)
		off = rst_env_put(dst, off, ENG_REC_ENV);
	if (s->env_fresh) {
		off = rst_env_put(dst, off, ENG_REC_ENV_FRESH);
		if (s->limits_ok)
			off = rst_record_put(dst, off, ENG_REC_RLIMITS_FRESH, s->limits,
					     sizeof(s->limits));
	}
	return off;
}

/* Reads the pipe ends and sockets 'ckpt restart' handed this process
 * (CKPT_TREE_PIPES, "FD:INO:r,FD:INO:w,FD:INO:s,..."), checks each is an
 * open pipe end of that direction or a socket, at most CKPT_TREE_PIPES_MAX
 * (the trampoline keeps them open).
 * Returns 0 or -EINVAL (said). */
static int rst_tree_pipes(struct rst *s)
{
	const char *p = getenv(CKPT_TREE_PIPES_ENV);

	s->npipes = 0;
	while (p && *p) {
		struct ckpt_tree_pipe_fd *e = &s->pipes[s->npipes];
		unsigned long long ino;
		struct stat st;
		char dir = 0;
		int fd = -1;
		int used = 0;
		int fl;

		if (s->npipes >= CKPT_TREE_PIPES_MAX ||
		    sscanf(p, "%d:%llu:%c%n", &fd, &ino, &dir, &used) != 3 || fd < 3 ||
		    (dir != 'r' && dir != 'w' && dir != 's'))
			goto bad;
		fl = fcntl(fd, F_GETFL);
		e->acc = dir == 'r' ? O_RDONLY : dir == 'w' ? O_WRONLY : O_RDWR;
		if (fl < 0 || fstat(fd, &st) < 0 ||
		    (dir == 's' ? !S_ISSOCK(st.st_mode)
				: !S_ISFIFO(st.st_mode) || (uint32_t)(fl & O_ACCMODE) != e->acc))
			goto bad;
		e->fd = fd;
		e->ino = ino;
		s->npipes++;
		p += used;
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	return 0;
bad:
	log_err("%s=\"%s\" does not list open pipe ends and sockets (%u read): was this started by "
		"'ckpt restart'?",
		CKPT_TREE_PIPES_ENV, getenv(CKPT_TREE_PIPES_ENV), s->npipes);
	return -EINVAL;
}

_Static_assert(PIE_KEEP_MAX >= CKPT_TREE_PIPES_MAX + 1, "the trampoline keeps every handed end");

/* The descriptors the trampoline keeps open, ascending: the PMI socket and
 * the handed pipe ends. */
static void rst_keep_fds(const struct rst *s, struct pie_args *args)
{
	args->nkeep = 0;
	if (s->pmi_fd >= 3)
		args->keep[args->nkeep++] = s->pmi_fd;
	for (uint32_t i = 0; i < s->npipes; i++)
		args->keep[args->nkeep++] = s->pipes[i].fd;
	for (uint32_t i = 1; i < args->nkeep; i++)
		for (uint32_t j = i; j > 0 && args->keep[j - 1] > args->keep[j]; j--) {
			int32_t t = args->keep[j];

			args->keep[j] = args->keep[j - 1];
			args->keep[j - 1] = t;
		}
}

/* Slurm's PMI socket of this step (PMI_FD) must outlive the restore of the
 * saved descriptors, which may reuse its number: it moves high, and
 * PMI_FD follows, before the environment is handed over. */
static int rst_move_pmi_fd(void)
{
	const char *v = getenv("PMI_FD");
	struct rlimit rl;
	char num[16];
	int low = 1000;
	int fd;

	if (!v || !*v)
		return -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1100)
		low = (int)rl.rlim_cur > 64 ? (int)rl.rlim_cur - 24 : 40;
	fd = fcntl(atoi(v), F_DUPFD, low);
	if (fd < 0) {
		log_warn("cannot move the PMI descriptor %s: %s (MPI may fail to start)", v,
			 strerror(errno));
		return -1;
	}
	close(atoi(v));
	snprintf(num, sizeof(num), "%d", fd);
	setenv("PMI_FD", num, 1);
	return fd;
}

static int rst_run(struct rst *s)
{
	uint64_t code_len = (uint64_t)(__stop_ckpt_pie - __start_ckpt_pie);
	uint64_t code_sz = (code_len + RST_PAGE - 1) & ~(RST_PAGE - 1);
	uint64_t nmapped = 0;
	struct pie_args hdr_probe;
	int ret;

	s->nareas = img_reader_area_count(s->r);
	for (uint32_t i = 0; i < s->nareas; i++) {
		const struct img_area *a = img_reader_area(s->r, i);

		if (!rst_canonical(a->start) || !rst_canonical(a->start + a->len) ||
		    (a->start & (RST_PAGE - 1)) || (a->len & (RST_PAGE - 1)))
			return rst_bad(s, "area address not canonical or not page aligned");
		if (a->flags & IMG_AREA_VDSO)
			continue;
		s->map_total += a->len + RST_PAGE; /* one guard page between areas */
		nmapped++;
	}
	ret = rst_validate_records(s);
	if (ret < 0)
		return ret;
	if (s->mpi && !s->pmi_moved) {
		s->pmi_fd = rst_move_pmi_fd();
		s->pmi_moved = true;
	}
	memset(&hdr_probe, 0, sizeof(hdr_probe));
	ret = rst_vdso_plan(s, &hdr_probe);
	if (ret < 0)
		return ret;

	/* Region: [code][args][areas table][threads][auxv][records][stack]
	 * [vdso parking][guard][areas...] */
	uint64_t rec_len = rst_records_copy(s, NULL);
	uint64_t data_len = sizeof(struct pie_args) + nmapped * sizeof(struct pie_area) +
			    s->nthreads * sizeof(struct eng_thread) + sizeof(s->proc->auxv) +
			    rec_len + 64;
	uint64_t data_sz = (data_len + RST_PAGE - 1) & ~(RST_PAGE - 1);
	uint64_t vdso_sz = (s->vdso_total + RST_PAGE - 1) & ~(RST_PAGE - 1);
	uint64_t pie_len = code_sz + data_sz + RST_PIE_STACK;
	uint64_t total = pie_len + vdso_sz + RST_PAGE + s->map_total;
	uint64_t base = rst_hole_reserve(s, total);

	if (!base) {
		log_err("%s: no hole of %lu bytes in the saved address map is free here", s->path,
			(unsigned long)total);
		return -ENOMEM;
	}
	if (mmap(eng_ptr(base), pie_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != eng_ptr(base)) {
		log_perror("%s: cannot map the trampoline region", s->path);
		ret = -ENOMEM;
		goto out_unmap;
	}
	memcpy(eng_ptr(base), __start_ckpt_pie, code_len);

	struct pie_args *args = eng_ptr(base + code_sz);
	struct pie_area *areas = (struct pie_area *)(args + 1);
	struct eng_thread *threads = (struct eng_thread *)(areas + nmapped);
	uint64_t *auxv = (uint64_t *)(threads + s->nthreads);
	unsigned char *recs = (unsigned char *)(auxv + sizeof(s->proc->auxv) / 8);

	memcpy(args, &hdr_probe, sizeof(*args));
	args->region_start = base;
	args->region_end = base + total;
	args->tmp_start = base + pie_len + vdso_sz + RST_PAGE;
	args->tmp_end = base + total;
	args->task_size = RST_TASK_SIZE;
	for (uint32_t i = 0; i < args->nvdso; i++)
		args->vdso[i].park = base + pie_len + (args->vdso[i].saved - args->vdso[0].saved);

	uint64_t tmp = args->tmp_start;
	uint32_t k = 0;

	for (uint32_t i = 0; i < s->nareas; i++) {
		const struct img_area *a = img_reader_area(s->r, i);

		if (a->flags & IMG_AREA_VDSO)
			continue;
		ret = rst_area_premap(s, i, tmp);
		if (ret < 0)
			goto out_unmap;
		areas[k].tmp = tmp;
		areas[k].final = a->start;
		areas[k].len = a->len;
		areas[k].prot = a->prot;
		k++;
		tmp += a->len + RST_PAGE;
	}
	rst_shobjs_close(s);
	args->areas = (uint64_t)(uintptr_t)areas;
	args->nareas = k;
	memcpy(threads, s->threads, s->nthreads * sizeof(*threads));
	args->threads = (uint64_t)(uintptr_t)threads;
	args->nthreads = s->nthreads;
	args->leader = s->leader;
	args->tid_offset = s->proc->tid_offset;
	args->rseq_offset = s->proc->rseq_offset;
	args->rseq_size = s->proc->rseq_size;
	if (__rseq_size) {
		args->own_rseq =
			(uint64_t)(uintptr_t)__builtin_thread_pointer() + (uint64_t)__rseq_offset;
		/* glibc registers the whole 32-byte struct rseq but reports
		 * the used feature size (20) in __rseq_size; unregistering
		 * needs the registered length. */
		args->own_rseq_len = RST_RSEQ_LEN;
	}
	memcpy(auxv, s->proc->auxv, sizeof(s->proc->auxv));
	rst_mm_fill(s, args, (uint64_t)(uintptr_t)auxv);
	args->exe_fd = rst_exe_open(s);
	rst_records_copy(s, recs);
	args->restore_info = s->proc->restore_info;
	args->info.restored = 1;
	args->info.pie_start = base;
	args->info.pie_len = pie_len;
	args->info.records = (uint64_t)(uintptr_t)recs;
	args->info.records_len = rec_len;
	if (s->agent_sock)
		snprintf(args->info.agent_sock, sizeof(args->info.agent_sock), "%s", s->agent_sock);
	rst_job_dir(s, args->info.job_dir);
	args->log_fd = 2;
	rst_keep_fds(s, args);
	for (int i = 0; i < PIE_ERR_COUNT; i++)
		snprintf(args->msgs[i], PIE_MSG_MAX, "ckpt-restore: %s:", rst_msgs[i]);

	if (mprotect(eng_ptr(base), code_sz, PROT_READ | PROT_EXEC) < 0) {
		log_perror("%s: cannot make the trampoline executable", s->path);
		ret = -errno;
		if (args->exe_fd >= 0)
			close(args->exe_fd);
		goto out_unmap;
	}
	/* Every chunk checked out: from here on this image is the process. */
	if (s->committed)
		s->committed(s->committed_arg);
	img_reader_free(s->r);
	s->r = NULL;
	fflush(NULL);

	/* The entry's address in the copy: same offset from the section start. */
	void (*entry)(struct pie_args *) = eng_ptr(
		base + ((uint64_t)(uintptr_t)pie_main - (uint64_t)(uintptr_t)__start_ckpt_pie));
	uint64_t stack_top = base + pie_len - 64;

	__asm__ volatile("movq %0, %%rsp\n"
			 "	xorl %%ebp, %%ebp\n"
			 "	callq *%1\n"
			 "	ud2\n"
			 :
			 : "r"(stack_top), "r"(entry), "D"(args)
			 : "memory");
	__builtin_unreachable();

out_unmap:
	rst_shobjs_close(s);
	/* Everything this image got is in the hole: a next candidate starts
	 * from the address space we had before it. */
	munmap(eng_ptr(base), total);
	return ret;
}

static void rst_usage(void)
{
	fprintf(stderr,
		"usage: ckpt-restore IMAGE [--agent SOCKET]\n"
		"       CKPT_RESTORE_IMAGE=IMAGE [CKPT_RESTORE_AGENT=SOCKET] ckpt-restore\n");
}

/* The Slurm plugin's form: everything comes from the environment, the
 * arguments are the task's own. The variables do not reach the restored
 * process. Returns false when the form is not used. */
static bool rst_args_from_env(struct rst *s)
{
	static char image[PATH_MAX];
	static char sock[PATH_MAX];
	const char *v = getenv("CKPT_RESTORE_IMAGE");

	if (!v)
		return false;
	snprintf(image, sizeof(image), "%s", v);
	s->path = image;
	v = getenv("CKPT_RESTORE_AGENT");
	if (v) {
		snprintf(sock, sizeof(sock), "%s", v);
		s->agent_sock = sock;
	}
	unsetenv("CKPT_RESTORE_IMAGE");
	unsetenv("CKPT_RESTORE_AGENT");
	s->env_fresh = true;
	/* Nothing has changed them yet: these are what slurmstepd set. */
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		struct rlimit rl;

		if (getrlimit(i, &rl) < 0)
			return true; /* none handed over: the saved limits are kept */
		s->limits[i].cur = rl.rlim_cur;
		s->limits[i].max = rl.rlim_max;
	}
	s->limits_ok = true;
	return true;
}

/* Static copies of what the environment held: the variables themselves
 * are removed before anything is restored. */
static char rst_env_older[(RST_OLDER_MAX + 1) * (PATH_MAX + 24)];
static char rst_env_task[64];
static char rst_env_argv0[PATH_MAX];
static char rst_env_preload[PATH_MAX];

/* Copies environment variable @name into @buf (of @size) and removes it;
 * returns @buf, or NULL when unset or too long. */
static const char *rst_env_take(const char *name, char *buf, size_t size)
{
	const char *v = getenv(name);
	const char *ret = NULL;

	if (v && *v && snprintf(buf, size, "%s", v) < (int)size)
		ret = buf;
	unsetenv(name);
	return ret;
}

/*
 * The plugin's fallback variables: CKPT_RESTORE_GEN (the image's
 * generation), CKPT_RESTORE_TASK ("step S task R"), CKPT_RESTORE_OLDER
 * (lines "N<TAB>PATH", newest first: older generations whose image opened
 * with valid metadata), CKPT_RESTORE_ARGV0 and CKPT_RESTORE_PRELOAD (the
 * task's program and libckpt.so, for a fresh start when no image is
 * usable). They never reach the restored process.
 */
static void rst_fallback_from_env(struct rst_fallback *fb)
{
	static char gen[24];
	char *line;
	char *save = NULL;

	fb->ncand = 1; /* cand[0] is the image named by the caller */
	if (rst_env_take("CKPT_RESTORE_GEN", gen, sizeof(gen)))
		fb->cand[0].gen = strtoull(gen, NULL, 10);
	fb->task = rst_env_take("CKPT_RESTORE_TASK", rst_env_task, sizeof(rst_env_task));
	fb->argv0 = rst_env_take("CKPT_RESTORE_ARGV0", rst_env_argv0, sizeof(rst_env_argv0));
	fb->preload =
		rst_env_take("CKPT_RESTORE_PRELOAD", rst_env_preload, sizeof(rst_env_preload));
	if (!rst_env_take("CKPT_RESTORE_OLDER", rst_env_older, sizeof(rst_env_older)))
		return;
	for (line = strtok_r(rst_env_older, "\n", &save); line && fb->ncand < 1 + RST_OLDER_MAX;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');

		if (!tab || tab[1] != '/')
			continue; /* not ours: the plugin writes absolute paths */
		*tab = '\0';
		fb->cand[fb->ncand].gen = strtoull(line, NULL, 10);
		fb->cand[fb->ncand].path = tab + 1;
		fb->ncand++;
	}
}

/* "gen-N" of @c for messages, or its path when the generation is unknown. */
static const char *rst_cand_name(const struct rst_cand *c, char *buf, size_t size)
{
	if (c->gen)
		snprintf(buf, size, "gen-%llu", (unsigned long long)c->gen);
	else
		snprintf(buf, size, "%s", c->path);
	return buf;
}

/* The one line of the job's output saying which generation a task resumes
 * from, printed once that image is loaded whole (restore committed); in
 * the standalone form, a line only when an older generation is restored. */
static void rst_resume_note(void *arg)
{
	const struct rst_fallback *fb = arg;
	const struct rst_cand *c = &fb->cand[fb->cur];

	if (fb->task && c->gen)
		fprintf(stderr, "slurm-ckpt: %s resumes from gen-%llu\n", fb->task,
			(unsigned long long)c->gen);
	else if (fb->cur > 0)
		log_warn("restoring %s instead", c->path);
}

/* Tries one image; returns only on failure (then s->image_bad says
 * whether the image is at fault, s->why what is wrong with it). */
static int rst_attempt(struct rst *s)
{
	int ret = img_reader_open(s->path, 0, &s->r);

	if (ret < 0) {
		if (!s->r) {
			snprintf(s->why, sizeof(s->why), "%s: %s", s->path, strerror(-ret));
			s->image_bad = ret != -ENOMEM;
		} else {
			snprintf(s->why, sizeof(s->why), "%s", img_reader_error(s->r));
			s->image_bad = true;
		}
		return ret;
	}
	return rst_run(s);
}

/* No image was usable: the task's own program starts from the beginning,
 * under libckpt, with the environment the plugin prepared for that. Returns
 * only on failure. */
static void rst_fresh_start(char **argv, const struct rst_fallback *fb)
{
	const char *old = getenv("LD_PRELOAD");
	char val[PATH_MAX + 4096];

	snprintf(val, sizeof(val), "%s%s%s", fb->preload, old && *old ? ":" : "", old ? old : "");
	if (setenv("LD_PRELOAD", val, 1) < 0) {
		log_perror("cannot set LD_PRELOAD for a fresh start of %s", fb->argv0);
		return;
	}
	argv[0] = (char *)fb->argv0;
	fflush(NULL);
	execvp(fb->argv0, argv);
	log_perror("cannot execute %s for a fresh start of %s", fb->argv0, fb->task);
}

int main(int argc, char **argv)
{
	static struct rst_fallback fb;
	char name[PATH_MAX + 24];
	struct rst s;

	memset(&s, 0, sizeof(s));
	s.pmi_fd = -1;
	log_set_ident("ckpt-restore");
	rst_fallback_from_env(&fb);
	if (!rst_args_from_env(&s)) {
		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--agent") && i + 1 < argc)
				s.agent_sock = argv[++i];
			else if (argv[i][0] != '-' && !s.path)
				s.path = argv[i];
			else {
				rst_usage();
				return 2;
			}
		}
	}
	if (!s.path) {
		rst_usage();
		return 2;
	}
	if (!s.agent_sock)
		s.agent_sock = getenv("CKPT_AGENT_SOCKET");
	if (s.agent_sock && strlen(s.agent_sock) >= ENG_SOCK_PATH_MAX) {
		log_err("agent socket path too long: %s", s.agent_sock);
		return 2;
	}
	if (rst_tree_pipes(&s) < 0)
		return 2;
	fb.cand[0].path = s.path;
	for (uint32_t i = 0; i < fb.ncand; i++) {
		struct rst_cand *c = &fb.cand[i];

		/* What one attempt found out starts afresh for the next. */
		s.r = NULL;
		s.proc = NULL;
		s.threads = NULL;
		s.nthreads = s.leader = s.nareas = 0;
		s.map_total = s.vdso_total = 0;
		s.mpi = false;
		s.image_bad = false;
		s.why[0] = '\0';
		s.path = c->path;
		fb.cur = i;
		s.committed = rst_resume_note;
		s.committed_arg = &fb;
		rst_attempt(&s);
		img_reader_free(s.r);
		s.r = NULL;
		if (!s.image_bad)
			return 1; /* not the image's fault: rst_run said why */
		if (i + 1 < fb.ncand) {
			log_err("%s of %s is unusable (%s); trying an older one",
				rst_cand_name(c, name, sizeof(name)), fb.task ? fb.task : s.path,
				s.why);
			continue;
		}
		if (!fb.task) {
			log_err("refused: %s", s.why);
			return 1;
		}
		if (s.mpi || !fb.argv0 || !fb.preload) {
			log_err("%s of %s is unusable (%s)%s; it does not start: move the "
				"generation's directory aside to restart the job from the "
				"generation before",
				rst_cand_name(c, name, sizeof(name)), fb.task, s.why,
				s.mpi ? " and the ranks of an MPI step must restart from one "
					"generation"
				      : "");
			return 1;
		}
		log_err("%s of %s is unusable (%s); no usable image of %s in %u generation(s): "
			"it starts from the beginning",
			rst_cand_name(c, name, sizeof(name)), fb.task, s.why, fb.task, fb.ncand);
	}
	rst_fresh_start(argv, &fb);
	return 1;
}
