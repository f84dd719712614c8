/* snapshot.c - capture of a quiesced process and forked writing of its image.
 *
 * While the application is stopped, the checkpoint thread runs the
 * subsystem captures, records the threads and the mm fields, saves its own
 * registers, and creates the writer with a raw clone() (no glibc fork(): its
 * atfork handlers take locks a stopped thread may hold). The child owns a
 * copy-on-write snapshot of the whole address space; the parent lets the
 * application go on at once (unless the checkpoint is final) and waits for
 * the child. The child walks its own /proc/self/maps and pagemap and writes
 * the image with the image library, inside a pre-mapped arena: no malloc,
 * no stdio, no locks.
 *
 * The child's copy is also what a restore brings back: the checkpoint
 * thread's registers were saved just before the clone, so a restored process
 * continues in eng_snapshot_write() with eng_ctx_save() returning 1.
 */
#define LOG_PREFIX "libckpt: "
#include "libckpt.h"
#include "env_fresh.h"
#include "files.h"
#include "incr.h"
#include "mpi_split.h"
#include "proc_read.h"

#include "fault.h"
#include "img.h"
#include "log.h"
#include "subsys.h"
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Arena layout sizes. */
#define ENG_CHILD_STACK \
	(1u << 20) /* writer child's stack: the image library
					 * keeps its buffers in the arena, 1 MiB
					 * covers the pagemap batches on stack */
#define ENG_MAPS_MAX \
	(32u << 20)			  /* /proc/self/maps of 65536 areas with
					 * long paths; touched only as far as used */
#define ENG_SUBSYS_MAX	       (8u << 20) /* all subsystem records together */
#define ENG_AREAS_MAX	       65536u	  /* vm.max_map_count default */
#define ENG_WRITER_THREADS_MAX 64u	  /* compression threads a write may use */

/* One parsed line of /proc/self/maps (paths point into the maps buffer). */
struct eng_map {
	uint64_t start;	  /* first address */
	uint64_t end;	  /* one past the last address */
	uint64_t offset;  /* file offset */
	uint64_t inode;	  /* inode, 0 for anonymous */
	uint32_t major;	  /* device major */
	uint32_t minor;	  /* device minor */
	char perms[5];	  /* "rwxp" */
	const char *path; /* path or [name], "" if none */
};

/* Address ranges left out of the image: the writer's own arena, the MPI
 * lower half's areas. */
#define ENG_EXCL_MAX 4200u

struct eng_range {
	uint64_t lo; /* first byte */
	uint64_t hi; /* one past the last byte */
};

/* What the parent prepares for the child; lives at the start of the arena. */
struct eng_arena {
	size_t total;				    /* bytes of the whole mapping */
	size_t writer_size;			    /* bytes reserved for the image writer */
	void *writer_mem;			    /* the image writer's arena */
	char *stack_top;			    /* top of the child's stack */
	char *maps_buf;				    /* raw /proc/self/maps text */
	struct eng_map *maps;			    /* parsed lines */
	unsigned char *subsys;			    /* subsystem records, back to back */
	size_t subsys_len[16];			    /* length of each subsystem's record */
	struct eng_process proc;		    /* ENG_REC_PROCESS */
	struct eng_thread threads[ENG_THREADS_MAX]; /* ENG_REC_THREADS */
	unsigned int nthreads;			    /* entries used in threads */
	struct img_writer_opts opts;		    /* writer options (fd, level, threads) */
	struct eng_range excl[ENG_EXCL_MAX];	    /* never saved, sorted by start */
	unsigned int nexcl;			    /* entries used in excl */
	const char *argv[64];			    /* header argv (from /proc/self/cmdline) */
	char cmdline[8192];			    /* its text */
	char exe[4096];				    /* /proc/self/exe */
	uint32_t argc;				    /* argv entries */
	/* The files record holds room for the bytes of pipes this process
	 * saves for its tree (it takes part in the pipe barrier) ... */
	bool saves_pipes;
	bool pipes_saved; /* ... and they were read: once per generation */
};

/* Result page shared with the child (MAP_SHARED: the child's writes must
 * reach the parent). */
struct eng_child_result {
	int status;	     /* 0 or -errno */
	uint64_t size;	     /* image bytes */
	uint64_t xxh64;	     /* image checksum */
	uint64_t body_xxh;   /* trailer body checksum (names the image as a base) */
	uint64_t data_bytes; /* page bytes stored */
	uint64_t ref_bytes;  /* page bytes referred to in earlier images */
	char reason[256];    /* failure text */
};

uint32_t eng_saved_nthreads;
static struct eng_arena *eng_arena;
static struct eng_child_result *eng_result;

/* Subsystem warnings at capture time: reported by name (no malloc here). */
/* Warnings of the captures, held until every process of the checkpoint
 * has captured (eng_snapshot_warnings_flush()): printed at once they went
 * to the program's stderr, which may be a file another process of the
 * tree records the size of a moment later, and a restart then cut it back
 * to sizes that disagree (a hole of zeros where the warnings were). */
static char eng_warn_held[8192];
static size_t eng_warn_held_len;

static void eng_subsys_warn(const char *msg)
{
	size_t n = strlen(msg);

	if (n + 1 > sizeof(eng_warn_held) - eng_warn_held_len) {
		log_warn("%s", msg); /* no room: at once rather than never */
		return;
	}
	memcpy(eng_warn_held + eng_warn_held_len, msg, n + 1);
	eng_warn_held_len += n + 1;
}

void eng_snapshot_warnings_flush(void)
{
	for (size_t at = 0; at < eng_warn_held_len; at += strlen(eng_warn_held + at) + 1)
		log_warn("%s", eng_warn_held + at);
	eng_warn_held_len = 0;
}

static int eng_read_file(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = eng_fd_above((int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC),
			      STDERR_FILENO);
	size_t n = 0;
	long r;

	if (fd < 0)
		return -errno;
	while (n < cap - 1 && (r = syscall(SYS_read, fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (n >= cap - 1)
		return -EFBIG;
	buf[n] = '\0';
	*len = n;
	return 0;
}

int eng_snapshot_prepare(char *why, size_t why_len)
{
	struct img_writer_opts opts;
	size_t writer_size;
	size_t total;
	size_t off;
	char *base;

	/* Sized for the most compression threads a write may ask for; the
	 * index space is only touched as far as it is used. */
	memset(&opts, 0, sizeof(opts));
	opts.nthreads = ENG_WRITER_THREADS_MAX;
	img_writer_opts_defaults(&opts);
	writer_size = img_writer_arena_size(&opts);
	if (!writer_size) {
		snprintf(why, why_len, "image writer refuses its default options");
		return -EINVAL;
	}
	total = sizeof(struct eng_arena) + ENG_CHILD_STACK + ENG_MAPS_MAX +
		ENG_AREAS_MAX * sizeof(struct eng_map) + ENG_SUBSYS_MAX + writer_size;
	total = (total + 0xfffff) & ~(size_t)0xfffff;
	base = mmap(NULL, total, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		snprintf(why, why_len, "cannot map the %zu-byte writer arena: %s", total,
			 strerror(errno));
		return -ENOMEM;
	}
	eng_result = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (eng_result == MAP_FAILED) {
		eng_result = NULL;
		munmap(base, total);
		snprintf(why, why_len, "cannot map the result page: %s", strerror(errno));
		return -ENOMEM;
	}
	eng_arena = (struct eng_arena *)base;
	eng_arena->total = total;
	off = (sizeof(struct eng_arena) + 4095) & ~(size_t)4095;
	off += ENG_CHILD_STACK;
	eng_arena->stack_top = base + off - 64;
	eng_arena->maps_buf = base + off;
	off += ENG_MAPS_MAX;
	eng_arena->maps = (struct eng_map *)(base + off);
	off += ENG_AREAS_MAX * sizeof(struct eng_map);
	eng_arena->subsys = (unsigned char *)(base + off);
	off += ENG_SUBSYS_MAX;
	off = (off + 4095) & ~(size_t)4095;
	eng_arena->writer_mem = base + off;
	eng_arena->writer_size = total - off;
	eng_arena->nexcl = 0;
	eng_snapshot_exclude((uintptr_t)base, total);
	eng_incr_prepare();

	/* Subsystem captures, now that every other thread is stopped. */
	size_t used = 0;

	if (ckpt_subsys_count > 16) {
		snprintf(why, why_len, "too many subsystems (%zu)", ckpt_subsys_count);
		goto out_discard;
	}
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		const struct ckpt_subsys *ss = ckpt_subsys_table[i];
		ssize_t n = ss->capture(eng_arena->subsys + used, ENG_SUBSYS_MAX - used,
					eng_subsys_warn);

		if (n < 0) {
			snprintf(why, why_len, "subsystem %s: capture failed: %s", ss->name,
				 strerror((int)-n));
			goto out_discard;
		}
		eng_arena->subsys_len[i] = (size_t)n;
		if (ss == &ckpt_files_subsys)
			eng_arena->saves_pipes =
				ckpt_files_tree_pipes_saved(eng_arena->subsys + used, (size_t)n);
		used += (size_t)n;
	}
	eng_arena->pipes_saved = false;
	return 0;

out_discard:
	eng_snapshot_discard();
	return -EIO;
}

int eng_snapshot_exclude(uint64_t start, uint64_t len)
{
	struct eng_arena *a = eng_arena;
	unsigned int i;

	if (!a || !len)
		return a ? 0 : -EINVAL;
	if (a->nexcl >= ENG_EXCL_MAX)
		return -E2BIG;
	/* Insertion keeps the list sorted without qsort(), which may malloc
	 * while a stopped thread holds malloc's lock. */
	for (i = a->nexcl; i > 0 && a->excl[i - 1].lo > start; i--)
		a->excl[i] = a->excl[i - 1];
	a->excl[i].lo = start;
	a->excl[i].hi = start + len;
	a->nexcl++;
	return 0;
}

void eng_snapshot_discard(void)
{
	if (eng_arena)
		munmap(eng_arena, eng_arena->total);
	if (eng_result)
		munmap(eng_result, 4096);
	eng_arena = NULL;
	eng_result = NULL;
}

/* Parses decimal field @n (1-based, after the ")" of comm) of /proc/self/stat. */
static uint64_t eng_stat_field(const char *stat, int n)
{
	const char *p = strrchr(stat, ')');
	int field = 2;

	if (!p)
		return 0;
	p++;
	while (*p && field < n) {
		while (*p == ' ')
			p++;
		field++;
		if (field == n)
			break;
		while (*p && *p != ' ')
			p++;
	}
	while (*p == ' ')
		p++;
	return strtoull(p, NULL, 10);
}

/* Fills the process record. Runs in the parent while quiesced. Reads
 * /proc/thread-self: /proc/self is the thread group leader, whose files
 * fail once the main thread called pthread_exit(). */
static int eng_process_fill(struct eng_process *p)
{
	char buf[4096];
	size_t len = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	p->magic = ENG_MAGIC;
	p->version = ENG_VERSION;
	p->pid = getpid();
	p->ckpt_signal = eng_signal;
	p->tid_offset = eng_tid_offset;
	p->rseq_offset = __rseq_offset;
	/* glibc 2.36 registers 32 bytes (the kernel's struct rseq) and
	 * reports only the used part in __rseq_size. */
	p->rseq_size = __rseq_size ? 32 : 0;
	p->restore_info = (uintptr_t)&eng_restore_info;
	ret = eng_read_file("/proc/thread-self/stat", buf, sizeof(buf), &len);
	if (ret < 0)
		return ret;
	p->start_code = eng_stat_field(buf, 26);
	p->end_code = eng_stat_field(buf, 27);
	p->start_stack = eng_stat_field(buf, 28);
	p->start_data = eng_stat_field(buf, 45);
	p->end_data = eng_stat_field(buf, 46);
	p->start_brk = eng_stat_field(buf, 47);
	p->arg_start = eng_stat_field(buf, 48);
	p->arg_end = eng_stat_field(buf, 49);
	p->env_start = eng_stat_field(buf, 50);
	p->env_end = eng_stat_field(buf, 51);
	p->brk = (uint64_t)syscall(SYS_brk, 0);
	ret = eng_read_file("/proc/thread-self/auxv", (char *)p->auxv, sizeof(p->auxv), &len);
	if (ret < 0)
		return ret;
	p->auxv_len = (uint32_t)len;
	return 0;
}

/* Header argv and exe, read while quiesced (no malloc). */
static void eng_header_fill(struct eng_arena *a)
{
	size_t len = 0;
	long n;

	a->argc = 0;
	if (eng_read_file("/proc/thread-self/cmdline", a->cmdline, sizeof(a->cmdline), &len) == 0)
		for (size_t i = 0; i < len && a->argc < 64; i += strlen(a->cmdline + i) + 1)
			a->argv[a->argc++] = a->cmdline + i;
	n = readlink("/proc/thread-self/exe", a->exe, sizeof(a->exe) - 1);
	a->exe[n > 0 ? n : 0] = '\0';
}

/* ---- the writer child ----------------------------------------------------- */

static uint64_t eng_hex(const char **pp)
{
	const char *p = *pp;
	uint64_t v = 0;

	for (;; p++) {
		int c = (unsigned char)*p;

		if (c >= '0' && c <= '9')
			v = v * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uint64_t)(c - 'a' + 10);
		else
			break;
	}
	*pp = p;
	return v;
}

/* Parses /proc/self/maps text in place. Returns the number of lines, or
 * -E2BIG when there are more than @max. */
static int eng_maps_parse(char *text, struct eng_map *maps, unsigned int max)
{
	unsigned int n = 0;
	char *line = text;

	while (*line && n < max) {
		char *nl = strchr(line, '\n');
		const char *p = line;
		struct eng_map *m = &maps[n];

		if (nl)
			*nl = '\0';
		m->start = eng_hex(&p);
		p++;
		m->end = eng_hex(&p);
		p++;
		memcpy(m->perms, p, 4);
		m->perms[4] = '\0';
		p += 5;
		m->offset = eng_hex(&p);
		p++;
		m->major = (uint32_t)eng_hex(&p);
		p++;
		m->minor = (uint32_t)eng_hex(&p);
		p++;
		m->inode = strtoull(p, (char **)&p, 10);
		while (*p == ' ')
			p++;
		m->path = p;
		n++;
		if (!nl)
			break;
		line = nl + 1;
	}
	return *line && n == max ? -E2BIG : (int)n;
}

struct eng_run_ctx {
	struct img_writer *w; /* the writer */
	uint64_t start;	      /* area start */
};

static int eng_run_cb(void *arg, uint64_t addr, uint64_t len)
{
	struct eng_run_ctx *rc = arg;

	return img_writer_area_run(rc->w, addr - rc->start, eng_ptr(addr), len);
}

/* Resident pages of a shared mapping, via mincore(): shared memory has no
 * private page table copy in the child, and reading a hole would allocate. */
static int eng_mincore_runs(uint64_t start, uint64_t end, struct eng_run_ctx *rc)
{
	unsigned char vec[4096];
	uint64_t run = 0;
	uint64_t run_len = 0;
	int ret;

	for (uint64_t a = start; a < end;) {
		uint64_t chunk = end - a > sizeof(vec) * 4096ull ? sizeof(vec) * 4096ull : end - a;

		if (mincore(eng_ptr(a), chunk, vec) < 0)
			return -errno;
		for (uint64_t i = 0; i < chunk / 4096; i++) {
			uint64_t pa = a + i * 4096;

			if (vec[i] & 1) {
				if (!run_len)
					run = pa;
				run_len += 4096;
				continue;
			}
			if (run_len && (ret = eng_run_cb(rc, run, run_len)) < 0)
				return ret;
			run_len = 0;
		}
		a += chunk;
	}
	if (run_len)
		return eng_run_cb(rc, run, run_len);
	return 0;
}

static bool eng_str_ends(const char *s, const char *suffix)
{
	size_t ls = strlen(s);
	size_t lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* What a shared mapping of a file is, for saving it. */
enum eng_shared_kind {
	ENG_SHARED_BY_REF,  /* a file with a path: mapped again from it at restore */
	ENG_SHARED_OBJECT,  /* memfd, unlinked /dev/shm object: contents saved, re-created */
	ENG_SHARED_SYSV,    /* System V shared memory: refused */
	ENG_SHARED_DELETED, /* an unlinked file elsewhere: refused */
};

/* Classifies a shared file mapping by its maps @path. A memfd and an
 * unlinked POSIX shm object or named semaphore (glibc's sem_open and
 * shm_open live in /dev/shm) are tmpfs: their pages are all in memory, so
 * the resident ones are the whole contents, as for shared anonymous
 * memory. An unlinked file of a disk file system has pages that only the
 * disk holds, which a process cannot read back through the mapping
 * without risking SIGBUS past its end: refused. */
static enum eng_shared_kind eng_shared_kind_of(const char *path)
{
	if (!strncmp(path, "/SYSV", 5))
		return ENG_SHARED_SYSV;
	if (!eng_str_ends(path, " (deleted)"))
		return ENG_SHARED_BY_REF;
	if (!strncmp(path, "/memfd:", 7) || !strncmp(path, "/dev/shm/", 9))
		return ENG_SHARED_OBJECT;
	return ENG_SHARED_DELETED;
}

/* At most this many /dev/shm entries are looked at for the name an object
 * is linked under: past them it counts as unlinked (and is re-created). */
#define ENG_SHM_SCAN_MAX 65536

/* The name under which the /dev/shm object of map @m is linked now, into
 * @out (@cap bytes): "/dev/shm/NAME". glibc's sem_open() maps a temporary
 * file, links it under the semaphore's name and unlinks the temporary one,
 * so maps shows "/dev/shm/sem.XXXXXX (deleted)" for a semaphore that lives
 * on as /dev/shm/sem.NAME, which other processes open by that name: it
 * must be mapped again by that name, not re-created as a private copy.
 * Raw getdents64 and fstatat only (the writer child). False if no entry
 * has the object's device and inode (really unlinked). */
static bool eng_shm_linked_name(const struct eng_map *m, char *out, size_t cap)
{
	uint64_t buf[512];
	struct eng_dir d;
	const char *name;
	unsigned int seen = 0;
	bool found = false;
	int dfd =
		(int)syscall(SYS_openat, AT_FDCWD, "/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return false;
	eng_dir_start(&d, dfd, buf, sizeof(buf));
	while (!found && seen++ < ENG_SHM_SCAN_MAX && (name = eng_dir_next(&d))) {
		struct stat st;
		size_t l = strlen(name);

		if (name[0] == '.' || l + 10 > cap ||
		    syscall(SYS_newfstatat, dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode) && st.st_ino == m->inode && major(st.st_dev) == m->major &&
		    minor(st.st_dev) == m->minor) {
			memcpy(out, "/dev/shm/", 10);
			memcpy(out + 9, name, l + 1);
			found = true;
		}
	}
	syscall(SYS_close, dfd);
	return found;
}

/* Refuses shared mapping @m that cannot come back, with the reason in
 * @res and on stderr: pid, range, what to do, then the path (last: a long
 * one is cut in @res only). */
static int eng_shared_refuse(const struct eng_map *m, enum eng_shared_kind kind,
			     struct eng_child_result *res)
{
	const char *what =
		kind == ENG_SHARED_SYSV
			? "System V shared memory is not restored (use shm_open() or "
			  "MAP_SHARED|MAP_ANONYMOUS instead)"
			: "the contents of a deleted file outside /dev/shm cannot be saved (keep "
			  "the file linked while it is mapped, or use memfd_create() or shm_open())";
	int pid = (int)syscall(SYS_getppid);

	snprintf(res->reason, sizeof(res->reason),
		 "pid %d: area %#lx-%#lx mapped shared: checkpoint refused: %s: %s", pid,
		 (unsigned long)m->start, (unsigned long)m->end, what, m->path);
	log_err("pid %d: area %#lx-%#lx mapped shared: checkpoint refused: %s: %s", pid,
		(unsigned long)m->start, (unsigned long)m->end, what, m->path);
	return -ENOTSUP;
}

/* Describes map @m as an image area: 1 if saved, 0 if not, -ENOTSUP if the
 * checkpoint is refused (reason in @res). */
static int eng_area_describe(const struct eng_map *m, struct img_area *a, char *pathbuf,
			     struct eng_child_result *res)
{
	enum eng_shared_kind kind = ENG_SHARED_BY_REF;
	const char *path = m->path;
	struct stat st;

	memset(a, 0, sizeof(*a));
	if (!strcmp(path, "[vsyscall]"))
		return 0;
	a->start = m->start;
	a->len = m->end - m->start;
	a->prot = (m->perms[0] == 'r' ? PROT_READ : 0) | (m->perms[1] == 'w' ? PROT_WRITE : 0) |
		  (m->perms[2] == 'x' ? PROT_EXEC : 0);
	a->flags = m->perms[3] == 's' ? IMG_AREA_SHARED : IMG_AREA_PRIVATE;
	if (!strcmp(path, "[vdso]") || !strcmp(path, "[vvar]") || !strcmp(path, "[vvar_vclock]")) {
		a->flags |= IMG_AREA_VDSO | IMG_AREA_NO_DATA;
		a->name = path;
		return 1;
	}
	if (path[0] == '[' || path[0] == '\0' || m->inode == 0) {
		a->flags |= IMG_AREA_ANON;
		a->name = path;
		if (!strcmp(path, "[heap]"))
			a->flags |= ENG_AREA_HEAP;
		if (!strcmp(path, "[stack]"))
			a->flags |= ENG_AREA_STACK | IMG_AREA_GROWSDOWN;
	} else if ((a->flags & IMG_AREA_SHARED) &&
		   (!strncmp(path, "/dev/zero", 9) ||
		    !strncmp(path, "/memfd:" CKPT_SHARED_ANON_NAME " ",
			     8 + CKPT_SHARED_ANON_LEN))) {
		/* MAP_SHARED | MAP_ANONYMOUS shows up as a deleted /dev/zero,
		 * and as the memfd 'ckpt restart' made for it once restored
		 * in a tree. Its identity and offset in the object let the
		 * restart of a tree make it shared again
		 * (docs/process-trees.md). */
		a->flags |= IMG_AREA_ANON;
		a->inode = m->inode;
		a->dev = ((uint64_t)m->major << 8) | m->minor;
		a->file_offset = m->offset;
	} else {
		char linked[9 + 256 + 1];
		size_t l;

		if (a->flags & IMG_AREA_SHARED)
			kind = eng_shared_kind_of(path);
		if (kind == ENG_SHARED_SYSV || kind == ENG_SHARED_DELETED)
			return eng_shared_refuse(m, kind, res);
		if (kind == ENG_SHARED_OBJECT && !strncmp(path, "/dev/shm/", 9) &&
		    eng_shm_linked_name(m, linked, sizeof(linked))) {
			/* still linked under another name: by reference */
			kind = ENG_SHARED_BY_REF;
			path = linked;
		}
		l = strlen(path);
		if (l >= IMG_PATH_MAX)
			l = IMG_PATH_MAX - 1;
		memcpy(pathbuf, path, l);
		pathbuf[l] = '\0';
		if (eng_str_ends(pathbuf, " (deleted)")) {
			pathbuf[l - 10] = '\0';
			a->flags |= IMG_AREA_FILE_DELETED;
		}
		a->path = pathbuf;
		a->file_offset = m->offset;
		a->inode = m->inode;
		a->dev = ((uint64_t)m->major << 8) | m->minor;
		if (stat(pathbuf, &st) == 0 && st.st_ino == m->inode) {
			a->dev = st.st_dev;
			a->mtime_sec = st.st_mtim.tv_sec;
			a->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
		}
	}
	/* A shared object re-created at restore needs its data even where it
	 * is mapped PROT_NONE: another mapping of it may read it. */
	if (a->prot == 0 && kind != ENG_SHARED_OBJECT)
		a->flags |= IMG_AREA_NO_DATA;
	if (kind == ENG_SHARED_BY_REF && (a->flags & IMG_AREA_SHARED) &&
	    !(a->flags & IMG_AREA_ANON)) {
		/* Shared file mappings are restored by mapping the file again:
		 * their data lives in the file, which may change meanwhile. */
		a->flags |= IMG_AREA_NO_DATA;
		log_warn(
			"%s mapped shared at %#lx: saved by reference, its contents are not in the image",
			a->path, (unsigned long)a->start);
	}
	return 1;
}

/* Saves [lo, hi) of map @m (a file mapping's offset follows lo). */
static int eng_area_save(struct img_writer *w, const struct eng_map *m, int pagemap, char *pathbuf,
			 struct eng_child_result *res);

static int eng_area_save_piece(struct img_writer *w, const struct eng_map *m, uint64_t lo,
			       uint64_t hi, int pagemap, char *pathbuf,
			       struct eng_child_result *res)
{
	struct eng_map piece = *m;

	if (piece.inode)
		piece.offset += lo - m->start;
	piece.start = lo;
	piece.end = hi;
	return eng_area_save(w, &piece, pagemap, pathbuf, res);
}

/* Saves one mapping (or a part of one). */
static int eng_area_save(struct img_writer *w, const struct eng_map *m, int pagemap, char *pathbuf,
			 struct eng_child_result *res)
{
	struct eng_run_ctx rc = { .w = w, .start = m->start };
	struct img_area area;
	int ret = 0;

	ret = eng_area_describe(m, &area, pathbuf, res);
	if (ret <= 0)
		return ret;
	ret = img_writer_area_begin(w, &area);
	if (!ret && !(area.flags & IMG_AREA_NO_DATA)) {
		/* Reading needs PROT_READ: lift it in the child only; the
		 * restorer sets the saved protection. */
		if (!(area.prot & PROT_READ))
			mprotect(eng_ptr(m->start), area.len, area.prot | PROT_READ);
		if (area.flags & IMG_AREA_SHARED) {
			ret = eng_mincore_runs(m->start, m->end, &rc);
		} else {
			if (eng_incr_active())
				ret = eng_incr_area(w, m->start, m->end, pagemap);
			else
				ret = img_pagemap_runs(pagemap, m->start, m->end, eng_run_cb, &rc);
		}
	}
	if (!ret)
		ret = img_writer_area_end(w);
	if (ret == -ENOTSUP && res->reason[0])
		return ret; /* refused, said by eng_shared_refuse() */
	if (ret)
		snprintf(res->reason, sizeof(res->reason), "area %lx-%lx %s: %s",
			 (unsigned long)m->start, (unsigned long)m->end, m->path, strerror(-ret));
	return ret;
}

/* Saves the parts of map @m outside every excluded range. The kernel may
 * merge an excluded mapping with a neighbouring one of the application,
 * so one line of the maps can hold both. */
static int eng_area_save_outside(struct img_writer *w, const struct eng_map *m,
				 const struct eng_arena *a, int pagemap, char *pathbuf,
				 struct eng_child_result *res)
{
	uint64_t cursor = m->start;

	for (unsigned int i = 0; i < a->nexcl && cursor < m->end; i++) {
		const struct eng_range *r = &a->excl[i];

		if (r->hi <= cursor || r->lo >= m->end)
			continue;
		if (r->lo > cursor) {
			int ret = eng_area_save_piece(w, m, cursor, r->lo, pagemap, pathbuf, res);

			if (ret)
				return ret;
		}
		if (r->hi > cursor)
			cursor = r->hi;
	}
	if (cursor < m->end)
		return eng_area_save_piece(w, m, cursor, m->end, pagemap, pathbuf, res);
	return 0;
}

static int eng_child_write(struct eng_arena *a, struct eng_child_result *res)
{
	struct img_writer *w = NULL;
	struct img_header hdr;
	char pathbuf[IMG_PATH_MAX];
	size_t maps_len;
	double t0 = eng_clock_ms();
	int pagemap = -1;
	int nmaps;
	int ret;

	ret = eng_read_file("/proc/self/maps", a->maps_buf, ENG_MAPS_MAX, &maps_len);
	if (ret < 0) {
		snprintf(res->reason, sizeof(res->reason), "cannot read /proc/self/maps: %s",
			 strerror(-ret));
		return ret;
	}
	nmaps = eng_maps_parse(a->maps_buf, a->maps, ENG_AREAS_MAX);
	if (nmaps < 0) {
		snprintf(res->reason, sizeof(res->reason), "more than %u memory areas",
			 ENG_AREAS_MAX);
		return nmaps;
	}
	pagemap = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap < 0) {
		ret = -errno;
		snprintf(res->reason, sizeof(res->reason), "cannot open pagemap: %s",
			 strerror(errno));
		return ret;
	}

	memset(&hdr, 0, sizeof(hdr));
	hdr.pid = (uint32_t)a->proc.pid;
	hdr.exe = a->exe;
	hdr.argc = a->argc;
	hdr.argv = a->argv;
	ret = img_writer_begin(&w, &a->opts, &hdr, a->writer_mem, a->writer_size);
	if (ret < 0) {
		snprintf(res->reason, sizeof(res->reason), "image writer: %s", strerror(-ret));
		goto out_close;
	}
	ret = img_writer_add_record(w, ENG_REC_PROCESS, &a->proc, sizeof(a->proc));
	if (!ret)
		ret = img_writer_add_record(w, ENG_REC_THREADS, a->threads,
					    a->nthreads * sizeof(a->threads[0]));
	size_t off = 0;

	for (size_t i = 0; !ret && i < ckpt_subsys_count; i++) {
		ret = img_writer_add_record(w, ckpt_subsys_table[i]->record_type, a->subsys + off,
					    a->subsys_len[i]);
		off += a->subsys_len[i];
	}
	if (!ret)
		ret = eng_incr_record(w);
	if (ret) {
		snprintf(res->reason, sizeof(res->reason), "cannot add records: %s",
			 strerror(-ret));
		goto out_free;
	}

	for (int i = 0; i < nmaps; i++) {
		if (a->maps[i].start == (uintptr_t)res)
			continue;
		ret = eng_area_save_outside(w, &a->maps[i], a, pagemap, pathbuf, res);
		if (ret)
			goto out_free;
	}

	struct img_writer_result wr;

	ret = img_writer_finish(w, &wr);
	if (ret) {
		snprintf(res->reason, sizeof(res->reason), "finishing the image: %s",
			 strerror(-ret));
		goto out_free;
	}
	res->size = wr.size;
	res->xxh64 = wr.xxh64;
	res->body_xxh = wr.body_xxh;
	res->data_bytes = wr.data_bytes;
	res->ref_bytes = wr.ref_bytes;
	log_debug("writer: %.0f ms, %llu MiB of pages into %llu MiB in %u chunks; "
		  "waiting for compression %.0f ms, writing %.0f ms, fsync %.0f ms",
		  eng_clock_ms() - t0, (unsigned long long)(wr.data_bytes >> 20),
		  (unsigned long long)(wr.stored_bytes >> 20), wr.nchunks, (double)wr.wait_ns / 1e6,
		  (double)wr.write_ns / 1e6, (double)wr.fsync_ns / 1e6);
out_free:
	img_writer_free(w);
out_close:
	close(pagemap);
	return ret;
}

/* The writer child inherits the checkpoint thread's rseq registration
 * (clone() without CLONE_VM keeps it), whose area lies in that thread's
 * TLS: a page of the snapshot being saved. The kernel would store the
 * child's CPU into it whenever the child is scheduled, under the writer's
 * feet. Drop the registration, then put back the bytes the kernel clears
 * on unregistering, so the snapshot stays frozen. A restore registers
 * rseq afresh, so no value of these fields matters after it. */
static void eng_child_rseq_drop(void)
{
	unsigned char saved[32]; /* glibc registers the kernel's 32-byte struct */
	unsigned char *area;

	if (!__rseq_size)
		return;
	area = (unsigned char *)__builtin_thread_pointer() + __rseq_offset;
	memcpy(saved, area, sizeof(saved));
	if (syscall(SYS_rseq, area, sizeof(saved), RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0)
		memcpy(area, saved, sizeof(saved));
}

/* The pid of the process that starts the writer, read by the writer. */
static pid_t eng_writer_parent;

static int eng_child_main(void *arg)
{
	struct eng_arena *a = arg;

	/* A task killed during WRITE takes its writer along: an orphan would
	 * go on writing into an aborted generation and hold the agent socket
	 * open, so the agent would learn of the death only when it ends. */
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (syscall(SYS_getppid) != eng_writer_parent)
		syscall(SYS_exit_group, 1);
	eng_child_rseq_drop();
	eng_result->status = eng_child_write(a, eng_result);
	syscall(SYS_exit_group, eng_result->status ? 1 : 0);
	return 0;
}

/* Walks the parsed maps for eng_incr_plan(): private writable memory
 * outside the excluded ranges is what write-protection can track. */
struct eng_plan_iter {
	const struct eng_arena *a; /* maps and excluded ranges */
	int n;			   /* lines */
	int i;			   /* next line */
};

static bool eng_plan_next(void *arg, uint64_t *start, uint64_t *end, bool *trackable)
{
	struct eng_plan_iter *it = arg;
	const struct eng_map *m;

	if (it->i >= it->n)
		return false;
	m = &it->a->maps[it->i++];
	*start = m->start;
	*end = m->end;
	*trackable = m->perms[1] == 'w' && m->perms[3] == 'p' && strcmp(m->path, "[vsyscall]") != 0;
	for (unsigned int k = 0; *trackable && k < it->a->nexcl; k++)
		if (it->a->excl[k].lo < m->end && it->a->excl[k].hi > m->start)
			*trackable = false;
	return true;
}

/* Decides full or incremental and scans written pages: the last thing
 * before the clone, so that little is written between scan and snapshot
 * (and that little is in areas dirty.c never trusts). */
static void eng_plan(struct eng_arena *a, const struct eng_write_req *req)
{
	struct eng_plan_iter it = { .a = a, .n = 0, .i = 0 };
	size_t len;

	if (eng_incr_mode() == ENG_DIRTY_UFFD &&
	    eng_read_file("/proc/self/maps", a->maps_buf, ENG_MAPS_MAX, &len) == 0)
		it.n = eng_maps_parse(a->maps_buf, a->maps, ENG_AREAS_MAX);
	if (it.n < 0)
		it.n = 0;
	eng_incr_plan((uint64_t)req->gen, req->path, &a->opts, eng_plan_next, &it);
}

/* Longest the test point below waits for another process to touch a pipe:
 * far beyond a scheduling delay on a loaded machine, well within the
 * coordinator's phase bound. */
#define ENG_SAVE_LATE_MS 10000

/*
 * Test only (CKPT_FAULT=libckpt_tree_pipe_save_late, tests/standalone/
 * tree_pipe_barrier.sh): before reading the bytes of the pipes it saves for
 * its tree, the process waits until the count buffered in one of them
 * changes, at most ENG_SAVE_LATE_MS, and says which came first. A change
 * means another process of the tree ran between the cut and the save (it
 * was released), so the saved bytes and its memory are not one cut; this
 * forces the latest possible save instead of leaving it to the scheduler.
 */
static void eng_tree_pipes_late(const void *rec, size_t len)
{
	struct ckpt_tree_pipe_ent ents[CKPT_TREE_PIPES_MAX];
	int before[CKPT_TREE_PIPES_MAX];
	struct timespec ms = { 0, 1000000 };
	double t0;
	int n;

	/* Only a process that saves pipes gets here: one getenv() it is. */
	if (!proto_fault("libckpt_tree_pipe_save_late"))
		return;
	n = ckpt_files_tree_pipe_ends(rec, len, ents, CKPT_TREE_PIPES_MAX);
	for (int i = 0; i < n; i++) {
		before[i] = 0;
		if (!ents[i].data_len || ioctl(ents[i].fd, FIONREAD, &before[i]) < 0)
			ents[i].data_len = 0;
	}
	t0 = eng_clock_ms();
	while (eng_clock_ms() - t0 < ENG_SAVE_LATE_MS) {
		for (int i = 0; i < n; i++) {
			int now = before[i];

			if (!ents[i].data_len || ioctl(ents[i].fd, FIONREAD, &now) < 0 ||
			    now == before[i])
				continue;
			log_warn(
				"libckpt_tree_pipe_save_late: fd %d held %d bytes when its save began, "
				"%d after %.0f ms: another process of the tree ran before the "
				"save",
				ents[i].fd, before[i], now, eng_clock_ms() - t0);
			return;
		}
		nanosleep(&ms, NULL);
	}
	log_warn("libckpt_tree_pipe_save_late: no process of the tree touched the pipes saved here "
		 "in %d ms before their save",
		 ENG_SAVE_LATE_MS);
}

/* The bytes of the pipes this process saves for its tree are read once
 * every process of the tree is stopped (at prepare the writers may still
 * be running), and before any of them is released: at "save_pipes" in a
 * non-final generation (the pipe barrier), else at write. The files record
 * shrinks to them and the records after it move down. Once per generation. */
static int eng_tree_pipes_fill(struct eng_arena *a)
{
	size_t off = 0;
	size_t total = 0;

	if (!a->saves_pipes || a->pipes_saved)
		return 0;

	for (size_t i = 0; i < ckpt_subsys_count; i++)
		total += a->subsys_len[i];
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		ssize_t n;

		if (ckpt_subsys_table[i] != &ckpt_files_subsys) {
			off += a->subsys_len[i];
			continue;
		}
		eng_tree_pipes_late(a->subsys + off, a->subsys_len[i]);
		n = ckpt_files_tree_pipes_fill(a->subsys + off, a->subsys_len[i]);
		if (n < 0)
			return (int)n;
		memmove(a->subsys + off + n, a->subsys + off + a->subsys_len[i],
			total - off - a->subsys_len[i]);
		a->subsys_len[i] = (size_t)n;
		break;
	}
	a->pipes_saved = true;
	return 0;
}

/* The children the tree record lists as running still run (tree.h). */
static int eng_tree_record_recheck_at(const struct eng_arena *a, char *why, size_t why_len)
{
	size_t off = 0;

	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		if (ckpt_subsys_table[i] == &ckpt_tree_subsys && a->subsys_len[i])
			return eng_tree_record_recheck(a->subsys + off, a->subsys_len[i], why,
						       why_len);
		off += a->subsys_len[i];
	}
	return 0;
}

bool eng_snapshot_saves_pipes(void)
{
	return eng_arena && eng_arena->saves_pipes;
}

/* Why eng_tree_pipes_fill() failed with @ret, in @why: the same words at
 * PIPES and at WRITE, whichever saved the bytes. */
static void eng_tree_pipes_why(char *why, size_t why_len, int ret)
{
	snprintf(why, why_len,
		 "cannot save the bytes of a pipe or socket shared in the process tree "
		 "(the process's log names it): %s",
		 strerror(-ret));
}

int eng_snapshot_save_pipes(char *why, size_t why_len)
{
	int ret;

	if (!eng_arena) {
		snprintf(why, why_len, "save_pipes without prepare");
		return -EINVAL;
	}
	ret = eng_tree_pipes_fill(eng_arena);
	if (ret < 0)
		eng_tree_pipes_why(why, why_len, ret);
	return ret;
}

/* Runs each subsystem's check on its final record (pipe and socket bytes
 * in): a record the restore would refuse fails the checkpoint now, while
 * the last committed generation still stands, not the restart. */
static int eng_subsys_check(const struct eng_arena *a, char *why, size_t why_len)
{
	size_t off = 0;

	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		const struct ckpt_subsys *ss = ckpt_subsys_table[i];

		if (ss->check && ss->check(a->subsys + off, a->subsys_len[i]) < 0) {
			snprintf(why, why_len,
				 "subsystem %s: the state captured would be refused at restart "
				 "(the process's log says why), so it is not committed; this is "
				 "a bug of slurm-ckpt: please report it with that log",
				 ss->name);
			return -ENOTRECOVERABLE;
		}
		off += a->subsys_len[i];
	}
	return 0;
}

int eng_snapshot_write(const struct eng_write_req *req, struct eng_write_res *res)
{
	struct eng_arena *a = eng_arena;
	struct eng_thread *self;
	double t0;
	siginfo_t si;
	int fd;
	int pid;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!a) {
		snprintf(res->reason, sizeof(res->reason), "write without prepare");
		return -EINVAL;
	}
	ret = eng_tree_pipes_fill(a);
	if (ret < 0) {
		eng_tree_pipes_why(res->reason, sizeof(res->reason), ret);
		return ret;
	}
	ret = eng_tree_record_recheck_at(a, res->reason, sizeof(res->reason));
	if (ret < 0)
		return ret;
	ret = eng_subsys_check(a, res->reason, sizeof(res->reason));
	if (ret < 0)
		return ret;
	ret = eng_process_fill(&a->proc);
	if (ret < 0) {
		snprintf(res->reason, sizeof(res->reason), "cannot read /proc/self: %s",
			 strerror(-ret));
		return ret;
	}
	eng_header_fill(a);
	a->nthreads = eng_threads_saved(a->threads, ENG_THREADS_MAX - 1);
	self = &a->threads[a->nthreads++];
	memset(self, 0, sizeof(*self));
	eng_thread_self_fill(self);
	self->flags |= ENG_THREAD_CKPT;
	a->proc.nthreads = a->nthreads;
	eng_saved_nthreads = a->nthreads;
	memset(&a->opts, 0, sizeof(a->opts));
	a->opts.level = req->level;
	a->opts.nthreads = req->nthreads > ENG_WRITER_THREADS_MAX ? ENG_WRITER_THREADS_MAX
								  : req->nthreads;
	img_writer_opts_defaults(&a->opts);
	if (img_writer_arena_size(&a->opts) > a->writer_size) {
		snprintf(res->reason, sizeof(res->reason), "writer arena too small");
		return -ENOMEM;
	}
	memset(&eng_restore_info, 0, sizeof(eng_restore_info));

	/* A fresh file only: an existing one, or a symlink planted in its
	 * place, is not ours to fill with the process's memory. */
	fd = (int)syscall(SYS_openat, AT_FDCWD, req->path,
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(res->reason, sizeof(res->reason), "cannot create %s: %s", req->path,
			 strerror(errno));
		return ret;
	}
	a->opts.fd = fd;
	a->opts.log_fd = 2;
	memset(eng_result, 0, sizeof(*eng_result));
	eng_plan(a, req);

	/* The restored process continues here, with 1. */
	if (eng_ctx_save(&self->ctx))
		return 1;

	t0 = eng_clock_ms();
	/* No CLONE_VM: a copy-on-write child. Exit signal 0 so that no SIGCHLD
	 * reaches the application and its wait() calls never see the child. */
	eng_writer_parent = (pid_t)syscall(SYS_getpid);
	pid = clone(eng_child_main, a->stack_top, 0, a);
	ret = pid < 0 ? -errno : 0;
	close(fd);
	if (!req->final)
		eng_release();
	res->released_ms = eng_clock_ms();
	if (ret < 0) {
		snprintf(res->reason, sizeof(res->reason), "cannot clone the writer: %s",
			 strerror(-ret));
		return ret;
	}
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL) < 0)
		if (errno != EINTR) {
			ret = -errno;
			snprintf(res->reason, sizeof(res->reason), "waiting for the writer: %s",
				 strerror(errno));
			return ret;
		}
	res->write_ms = eng_clock_ms() - t0;
	if (si.si_code != CLD_EXITED || eng_result->status) {
		snprintf(res->reason, sizeof(res->reason), "%s",
			 eng_result->reason[0] ? eng_result->reason : "writer child died");
		return eng_result->status ? eng_result->status : -EIO;
	}
	res->size = eng_result->size;
	res->xxh64 = eng_result->xxh64;
	res->data_bytes = eng_result->data_bytes;
	res->ref_bytes = eng_result->ref_bytes;
	eng_incr_written(eng_result->size, eng_result->body_xxh);
	return 0;
}

/* The record of @type the restorer handed over, or NULL. */
static const void *eng_restore_record(uint32_t type, uint64_t *len)
{
	const unsigned char *q = eng_ptr(eng_restore_info.records);
	uint64_t l = eng_restore_info.records_len;

	while (l >= sizeof(struct eng_rec_hdr)) {
		const struct eng_rec_hdr *h = (const struct eng_rec_hdr *)q;
		uint64_t step = sizeof(*h) + ((h->len + 7) & ~7ull);

		if (h->len > l - sizeof(*h))
			break;
		if (h->type == type) {
			*len = h->len;
			return q + sizeof(*h);
		}
		if (step > l)
			break;
		q += step;
		l -= step;
	}
	return NULL;
}

/* A task restored by Slurm: the limits of this start, for attrs. */
static void eng_restore_fresh_limits(void)
{
	uint64_t len = 0;
	const void *rec = eng_restore_record(ENG_REC_RLIMITS_FRESH, &len);

	ckpt_attrs_use_fresh_limits(rec, rec ? len / sizeof(struct ckpt_rlim) : 0);
}

/* The pipe ends 'ckpt restart' handed over, which ckpt-restore kept, for
 * files. */
static void eng_restore_tree_pipes(void)
{
	uint64_t len = 0;
	const void *rec = eng_restore_record(ENG_REC_TREE_PIPES, &len);

	ckpt_files_use_tree_pipes(rec, rec ? len / sizeof(struct ckpt_tree_pipe_fd) : 0);
}

int eng_snapshot_restore_subsys(void)
{
	int ret = 0;

	/* The arena of the checkpoint was not saved; forget it. */
	eng_arena = NULL;
	eng_result = NULL;
	eng_restore_fresh_limits();
	eng_restore_tree_pipes();
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		const struct ckpt_subsys *ss = ckpt_subsys_table[i];
		uint64_t len = 0;
		const void *rec = eng_restore_record(ss->record_type, &len);

		if (!rec) {
			log_warn("image has no record for subsystem %s", ss->name);
			continue;
		}
		int r = ss->restore(rec, len);

		if (r < 0 && !ret)
			ret = r;
	}
	return ret;
}

void eng_snapshot_restore_env(void)
{
	uint64_t len = 0;
	const void *rec = eng_restore_record(ENG_REC_ENV, &len);

	if (rec)
		eng_mpi_keep_env(rec, len);
	rec = eng_restore_record(ENG_REC_ENV_FRESH, &len);
	if (rec)
		eng_env_refresh(eng_env_from_record(rec, len));
}
