/* mpi_lh_restore.c - the lower half (LH) can be put back from its snapshot
 * and MPI initialised again, as a restart does (shadow_lh_prepare_image,
 * shadow_lh_restore; mpi/shadow_lh_restore.c).
 *
 * Runs as an MPICH singleton under the shadow libmpich.so.12. Two modes:
 *
 *   finalize  MPI_Init, traffic, MPI_Finalize (UCX's thread ends). A fake
 *             thread descriptor in LH memory is linked into ld.so's list of
 *             threads with user stacks, right after its head (where the
 *             next pthread_create on a user stack writes). Then
 *             shadow_lh_prepare_image, every LH area unmapped and every LH
 *             fd closed (what an image leaves out), shadow_lh_restore with
 *             a new environment: the LH's getenv sees it, the main thread's
 *             LH errno (TLS) is the snapshot's again, the real MPICH says it
 *             is not initialised, and MPI_Init_thread (MULTIPLE, as
 *             shadow_ckpt_restart asks), Comm_size/rank, Allreduce, a
 *             message to itself and Finalize work; UCX's new thread is an LH
 *             thread in ld.so's list; the fake is gone from the list, and a
 *             thread on a user stack and a fork work; prepare_image accepts
 *             the LH again and a second restore round works too.
 *             Beforehand, in forked children: without the restore a second
 *             MPI_Init fails; prepare_image refuses (-EBUSY, naming it) an
 *             object loaded into the LH namespace after the snapshot, and a
 *             snapshot range the upper half maps now; the restore refuses a
 *             damaged snapshot (-EINVAL) and, in the process itself, to map
 *             over the still mapped LH (-EEXIST, naming the occupant).
 *   fork      MPI_Init and traffic, UCX's thread running, prepare_image;
 *             then fork: the child (no LH threads, like a restored process)
 *             unmaps the LH, closes its fds, restores and initialises MPI
 *             again; the parent finalises its own MPI.
 *
 * The real MPICH is called directly in the LH namespace (dlmopen
 * RTLD_NOLOAD of its soname there); the shadow library's own wrappers are
 * not used after the restore. Prints "ok: ..." lines and "BAD ..." on a
 * failure; exit status 0 when all is well.
 */
#include "lh_regions.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_AREAS 8192
#define MAX_FDS	  4096

static struct {
	int (*api)(void);
	int (*areas)(struct shadow_lh_area *out, size_t cap, size_t *count);
	int (*fds)(int *out, size_t cap, size_t *count);
	const struct shadow_lh_snapshot *(*snapshot)(void);
	int (*prepare)(char *why, size_t len);
	int (*restore)(char *const *env, char *why, size_t len);
	void *(*sym)(const char *name);
} lh;

/* The real MPICH in the LH namespace. */
static struct {
	int (*init_thread)(int *argc, char ***argv, int required, int *provided);
	int (*initialized)(int *flag);
	int (*finalized)(int *flag);
	int (*comm_size)(MPI_Comm comm, int *size);
	int (*comm_rank)(MPI_Comm comm, int *rank);
	int (*allreduce)(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c);
	int (*sendrecv)(const void *sb, int sn, MPI_Datatype st, int dst, int stag, void *rb,
			int rn, MPI_Datatype rt, int src, int rtag, MPI_Comm c, MPI_Status *s);
	int (*finalize)(void);
} real;

static struct shadow_lh_area areas[MAX_AREAS];
static int fds[MAX_FDS];
static int bad;
/* Threads of the test itself besides the main one (check_new_lh_threads). */
static int own_threads;
/* The main thread's descriptor: on ld.so's list of threads on user stacks
 * (a thread glibc gave a stack is on another list). */
static uintptr_t main_pd;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("BAD ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	bad++;
}

static void *need(void *p, const char *what)
{
	if (!p) {
		printf("BAD %s not found\n", what);
		fflush(stdout);
		_exit(2);
	}
	return p;
}

static void resolve(void)
{
	Dl_info info;
	struct link_map *lm = NULL;
	Lmid_t lmid = LM_ID_BASE; /* set by dlinfo(); need() exits when that fails */
	void *mpich;

	lh.api = need(dlsym(RTLD_DEFAULT, "shadow_lh_api"), "shadow_lh_api");
	lh.areas = need(dlsym(RTLD_DEFAULT, "shadow_lh_areas"), "shadow_lh_areas");
	lh.fds = need(dlsym(RTLD_DEFAULT, "shadow_lh_fds"), "shadow_lh_fds");
	lh.snapshot = need(dlsym(RTLD_DEFAULT, "shadow_lh_snapshot"), "shadow_lh_snapshot");
	lh.prepare = need(dlsym(RTLD_DEFAULT, "shadow_lh_prepare_image"), "prepare_image");
	lh.restore = need(dlsym(RTLD_DEFAULT, "shadow_lh_restore"), "shadow_lh_restore");
	lh.sym = need(dlsym(RTLD_DEFAULT, "shadow_lh_sym"), "shadow_lh_sym");
	if (lh.api() != SHADOW_LH_API || !lh.snapshot()) {
		printf("BAD not under the shadow library with its shim\n");
		_exit(2);
	}
	/* The LH namespace: the one the shim's code lives in. */
	if (!dladdr1(need(lh.sym("lh_shim_version"), "the shim"), &info, (void **)&lm,
		     RTLD_DL_LINKMAP) ||
	    dlinfo(lm, RTLD_DI_LMID, &lmid))
		need(NULL, "the LH namespace");
	mpich = need(dlmopen(lmid, "libmpich.so.12", RTLD_NOW | RTLD_NOLOAD), "LH libmpich");
	real.init_thread = need(dlsym(mpich, "PMPI_Init_thread"), "PMPI_Init_thread");
	real.initialized = need(dlsym(mpich, "PMPI_Initialized"), "PMPI_Initialized");
	real.finalized = need(dlsym(mpich, "PMPI_Finalized"), "PMPI_Finalized");
	real.comm_size = need(dlsym(mpich, "PMPI_Comm_size"), "PMPI_Comm_size");
	real.comm_rank = need(dlsym(mpich, "PMPI_Comm_rank"), "PMPI_Comm_rank");
	real.allreduce = need(dlsym(mpich, "PMPI_Allreduce"), "PMPI_Allreduce");
	real.sendrecv = need(dlsym(mpich, "PMPI_Sendrecv"), "PMPI_Sendrecv");
	real.finalize = need(dlsym(mpich, "PMPI_Finalize"), "PMPI_Finalize");
	/* dlmopen counted a reference; the handle is not needed any more. */
}

static void traffic(void)
{
	long one = 1;
	long sum = 0;
	int size = 0;

	MPI_Comm_size(MPI_COMM_WORLD, &size);
	for (int i = 0; i < 50; i++)
		MPI_Allreduce(&one, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	if (size != 1 || sum != 1)
		fail("first MPI: size %d, allreduce %ld", size, sum);
}

/* ---- ld.so's list of threads on user stacks, seen independently ---- */

/* Reads a word at @a without faulting (the scan below tries many words). */
static bool peek(uintptr_t a, uintptr_t *v)
{
	struct iovec l = { .iov_base = v, .iov_len = sizeof(*v) };
	void *ap = (void *)a; /* NOLINT(performance-no-int-to-ptr) */
	struct iovec r = { .iov_base = ap, .iov_len = sizeof(*v) };

	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)sizeof(*v);
}

/* The offset of `list` in glibc's struct pthread, found in this thread's
 * descriptor as the ring node followed by its tid. */
static size_t list_off(void)
{
	uintptr_t pd = (uintptr_t)pthread_self();
	pid_t tid = (pid_t)syscall(SYS_gettid);

	for (size_t off = 16; off < 4096; off += 8) {
		uintptr_t node = pd + off;
		uintptr_t next;
		uintptr_t prev;
		uintptr_t back;
		uintptr_t fwd;

		if (!peek(node, &next) || !peek(node + 8, &prev) || !next || !prev ||
		    !peek(next + 8, &back) || !peek(prev, &fwd))
			continue;
		if (back == node && fwd == node &&
		    *(pid_t *)(node + 16) == tid) /* NOLINT(performance-no-int-to-ptr) */
			return off;
	}
	return 0;
}

static bool in_areas(uintptr_t a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a >= areas[i].start && a - areas[i].start < areas[i].len)
			return true;
	}
	return false;
}

/* Links a fake descriptor (in LH memory, from the LH's malloc) right
 * before the main thread's node, which is right after the list's head
 * when the main thread is the only thread on a user stack. A block larger
 * than the shim's size classes gets a mapping of its own, made after the
 * snapshot: like a real LH thread's stack, it stays a hole after the
 * restore, so glibc's next list_add after the head would fault on it. */
#define FAKE_SIZE (256 << 10)
static void *fake_insert(size_t off)
{
	void *(*lh_malloc)(size_t) = need(lh.sym("malloc"), "LH malloc");
	char *pd = (char *)pthread_self(); /* NOLINT(performance-no-int-to-ptr) */
	char **m = (char **)(pd + off);
	char *fake = lh_malloc(FAKE_SIZE);
	char **f;

	if (!fake || off + 64 > FAKE_SIZE)
		need(NULL, "memory for the fake descriptor");
	memset(fake, 0, off + 64);
	*(char **)(fake + 16) = fake; /* header.self */
	*(pid_t *)(fake + off + 16) = 0x7ffffffe;
	f = (char **)(fake + off);
	f[0] = (char *)m;
	f[1] = m[1];
	((char **)m[1])[0] = (char *)f;
	m[1] = (char *)f;
	return f;
}

/* Counts the list's nodes from the main thread's and those in LH areas;
 * SIZE_MAX when a link cannot be read (a node left in unmapped memory). */
static size_t ring_count(size_t off, size_t nareas, size_t *nlh)
{
	uintptr_t start = main_pd + off;
	uintptr_t n = start;
	size_t count = 0;

	*nlh = 0;
	do {
		*nlh += in_areas(n - off, nareas);
		count++;
		if (!peek(n, &n))
			return SIZE_MAX;
	} while (n != start && count < 10000);
	return count;
}

/* ---- what an image leaves out ---- */

static size_t unmap_lh(void)
{
	size_t n = 0;
	int rc = lh.areas(areas, MAX_AREAS, &n);

	if (rc || n > MAX_AREAS) {
		printf("BAD shadow_lh_areas: %d (%zu)\n", rc, n);
		_exit(2);
	}
	for (size_t i = 0; i < n; i++)
		munmap((void *)areas[i].start, areas[i].len); /* NOLINT */
	return n;
}

static size_t close_lh_fds(void)
{
	size_t n = 0;
	int rc = lh.fds(fds, MAX_FDS, &n);

	if (rc || n > MAX_FDS) {
		printf("BAD shadow_lh_fds: %d (%zu)\n", rc, n);
		_exit(2);
	}
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	return n;
}

static int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n - 2;
}

/* After MPI_Init in the restored LH, UCX's thread runs again: recorded by
 * the shim as an LH thread, and linked into ld.so's list like the first. */
static void check_new_lh_threads(const char *who)
{
	int (*threads)(pid_t * out, size_t cap, size_t * count) =
		need(dlsym(RTLD_DEFAULT, "shadow_lh_threads"), "shadow_lh_threads");
	size_t off = list_off();
	size_t na = 0;
	size_t nt = 0;
	size_t nlh = 0;
	size_t nring;
	pid_t t[16];

	threads(t, 16, &nt);
	lh.areas(areas, MAX_AREAS, &na);
	nring = ring_count(off, na, &nlh);
	if (!nt || nlh != nt || count_tasks() != (int)nt + 1 + own_threads)
		fail("%s: after MPI_Init again: %zu LH threads listed, %zu LH nodes in ld.so's "
		     "list of %zu, %d threads run",
		     who, nt, nlh, nring, count_tasks());
	else
		printf("ok: %s: MPI_Init_thread after the restore started %zu LH thread(s), linked "
		       "into ld.so's list (%zu nodes)\n",
		       who, nt, nring);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The "new step's environment": this one plus LH_RESTORE_PROBE=@who. */
static char *const *new_env_for(const char *who)
{
	static char *env[1024];
	static char probe[64];
	size_t n = 0;

	snprintf(probe, sizeof(probe), "LH_RESTORE_PROBE=%s", who);
	for (char **e = environ; *e && n < 1022; e++)
		env[n++] = *e;
	env[n++] = probe;
	env[n] = NULL;
	return env;
}

/* Leaves out the LH, restores it and uses MPI again through the real
 * MPICH. @lh_areas receives the number of areas unmapped. */
static void restore_and_use(const char *who, size_t *nunmapped)
{
	char why[1024] = "";
	size_t nfd;
	double t0;
	double t1;
	int flag = 1;
	int provided = -1;
	int size = -1;
	int rank = -1;
	long in = 21;
	long out = 0;
	int msg = 0;
	int rc;

	int *(*lh_errno)(void) = need(lh.sym("__errno_location"), "LH __errno_location");
	char *(*lh_getenv)(const char *) = need(lh.sym("getenv"), "LH getenv");
	const char *probe;

	/* The main thread's errno of the LH libc lies in its static TLS: the
	 * restore puts the snapshot's value back. */
	*lh_errno() = 12345;
	/* The fd list is the shim's: read it before the shim is unmapped. */
	nfd = close_lh_fds();
	*nunmapped = unmap_lh();
	t0 = now_ms();
	rc = lh.restore(new_env_for(who), why, sizeof(why));
	t1 = now_ms();
	if (rc) {
		printf("BAD %s: shadow_lh_restore: %d: %s\n", who, rc, why);
		fflush(stdout);
		_exit(1);
	}
	printf("ok: %s: restored after unmapping %zu LH areas and closing %zu LH fds in %.2f "
	       "ms\n",
	       who, *nunmapped, nfd, t1 - t0);
	probe = lh_getenv("LH_RESTORE_PROBE");
	if (*lh_errno() == 12345)
		fail("%s: the calling thread's LH errno (TLS) was not restored", who);
	else if (!probe || strcmp(probe, who) != 0)
		fail("%s: the LH's getenv does not see the new environment (%s)", who,
		     probe ? probe : "unset");
	else
		printf("ok: %s: the LH sees the new environment and its TLS is restored\n", who);
	real.initialized(&flag);
	if (flag)
		fail("%s: the restored MPICH says it is initialised", who);
	real.finalized(&flag);
	if (flag)
		fail("%s: the restored MPICH says it is finalised", who);
	/* As shadow_ckpt_restart asks for it. */
	rc = real.init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
	if (rc != MPI_SUCCESS || provided != MPI_THREAD_MULTIPLE) {
		printf("BAD %s: MPI_Init_thread after the restore: %d (provided %d)\n", who, rc,
		       provided);
		fflush(stdout);
		_exit(1);
	}
	check_new_lh_threads(who);
	real.comm_size(MPI_COMM_WORLD, &size);
	real.comm_rank(MPI_COMM_WORLD, &rank);
	real.allreduce(&in, &out, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	real.sendrecv(&(int){ 42 }, 1, MPI_INT, 0, 7, &msg, 1, MPI_INT, 0, 7, MPI_COMM_WORLD,
		      MPI_STATUS_IGNORE);
	if (size != 1 || rank != 0 || out != 21 || msg != 42)
		fail("%s: MPI after the restore: size %d rank %d allreduce %ld message %d", who,
		     size, rank, out, msg);
	rc = real.finalize();
	if (rc != MPI_SUCCESS)
		fail("%s: MPI_Finalize after the restore: %d", who, rc);
	else
		printf("ok: %s: MPI_Init_thread, Comm_size/rank, Allreduce, Sendrecv, Finalize "
		       "after the restore\n",
		       who);
}

static int wait_child(pid_t pid, int timeout_s)
{
	int st = 0;

	for (int i = 0; i < timeout_s * 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Without a restore, a second MPI_Init after MPI_Finalize is an error
 * (MPICH aborts or returns an error): the restore is what makes it work. */
static void check_second_init_fails(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int provided;
		int rc = real.init_thread(NULL, NULL, MPI_THREAD_SINGLE, &provided);

		_exit(rc == MPI_SUCCESS ? 3 : 4);
	}
	st = wait_child(pid, 30);
	if (st < 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 3))
		fail("a second MPI_Init without restore did not fail (status %#x)", st);
	else
		printf("ok: without the restore a second MPI_Init fails (%s %d)\n",
		       WIFSIGNALED(st) ? "signal" : "exit",
		       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

/* prepare_image refuses once an object was loaded into the LH namespace
 * after the snapshot, naming it (in a child: the object stays). */
static void check_late_object_refused(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		Dl_info info;
		struct link_map *lm = NULL;
		Lmid_t lmid;
		char why[1024] = "";
		int rc;

		dladdr1(lh.sym("lh_shim_version"), &info, (void **)&lm, RTLD_DL_LINKMAP);
		dlinfo(lm, RTLD_DI_LMID, &lmid);
		if (!dlmopen(lmid, "libz.so.1", RTLD_NOW | RTLD_LOCAL)) {
			printf("BAD cannot load libz.so.1 into the LH: %s\n", dlerror());
			_exit(1);
		}
		rc = lh.prepare(why, sizeof(why));
		if (rc != -EBUSY || !strstr(why, "libz.so.1")) {
			printf("BAD prepare_image with a late object: %d: %s\n", rc, why);
			_exit(1);
		}
		printf("ok: a late object is refused: %s\n", why);
		fflush(stdout);
		_exit(0);
	}
	st = wait_child(pid, 30);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the late-object child failed (status %#x)", st);
}

/* prepare_image refuses when a range of the snapshot is the upper half's
 * now (the LH unmapped a snapshot area, the upper half mapped there): the
 * restore could not map it again. In a child. */
static void check_reused_range_refused(void)
{
	const struct shadow_lh_snapshot *snap = lh.snapshot();
	int (*lh_munmap)(void *, size_t) = need(lh.sym("munmap"), "LH munmap");
	pid_t pid;
	int st;

	pid = fork();
	if (pid == 0) {
		char why[1024] = "";
		void *at = NULL;
		size_t len = 0;
		int rc;

		for (size_t i = 0; i < snap->nareas && !at; i++) {
			if (snap->areas[i].kind == SHADOW_LH_MMAP) {
				at = (void *)snap->areas[i].start; /* NOLINT */
				len = snap->areas[i].len;
			}
		}
		if (!at || lh_munmap(at, len) ||
		    mmap(at, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0) != at) {
			printf("BAD cannot put an upper-half mapping into a snapshot area\n");
			_exit(1);
		}
		rc = lh.prepare(why, sizeof(why));
		if (rc != -EBUSY || !strstr(why, "used by the upper half")) {
			printf("BAD prepare_image with a reused snapshot range: %d: %s\n", rc, why);
			_exit(1);
		}
		printf("ok: a snapshot range reused by the upper half is refused: %s\n", why);
		fflush(stdout);
		_exit(0);
	}
	st = wait_child(pid, 30);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the reused-range child failed (status %#x)", st);
}

/* A snapshot damaged in the image (here: a mapping's start no longer page
 * aligned, or a copy pointing outside the copy mapping) is refused before
 * anything is mapped. In a child: it damages the snapshot. */
static void check_damaged_snapshot_refused(void)
{
	struct shadow_lh_snapshot *snap = (struct shadow_lh_snapshot *)lh.snapshot();
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		char why[1024] = "";
		uintptr_t start = snap->vmas[0].start;
		int rc;

		snap->vmas[0].start += 8;
		rc = lh.restore(environ, why, sizeof(why));
		if (rc != -EINVAL || !strstr(why, "damaged")) {
			printf("BAD restore of a damaged snapshot (mapping): %d: %s\n", rc, why);
			_exit(1);
		}
		snap->vmas[0].start = start;
		snap->pieces[0].data = (const char *)snap->copy_start + snap->copy_len; /* NOLINT */
		rc = lh.restore(environ, why, sizeof(why));
		if (rc != -EINVAL || !strstr(why, "damaged")) {
			printf("BAD restore of a damaged snapshot (copy): %d: %s\n", rc, why);
			_exit(1);
		}
		printf("ok: a damaged snapshot is refused: %s\n", why);
		fflush(stdout);
		_exit(0);
	}
	st = wait_child(pid, 30);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the damaged-snapshot child failed (status %#x)", st);
}

static char user_stack[256 << 10] __attribute__((aligned(4096)));

static void *noop(void *arg)
{
	return arg;
}

/* glibc walks or changes ld.so's thread list in pthread_create on a user
 * stack (list_add after the head) and in fork: both must work. */
static void check_glibc_after(void)
{
	pthread_attr_t attr;
	pthread_t t;
	pid_t pid;
	int st;

	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, user_stack, sizeof(user_stack));
	if (pthread_create(&t, &attr, noop, NULL) || pthread_join(t, NULL))
		fail("pthread_create on a user stack after the restore");
	pthread_attr_destroy(&attr);
	pid = fork();
	if (pid == 0)
		_exit(0);
	st = wait_child(pid, 30);
	if (st != 0)
		fail("fork after the restore: child status %#x", st);
	else
		printf("ok: a thread on a user stack and a fork work after the restore\n");
}

static void *second_round(void *arg)
{
	size_t nareas;

	restore_and_use("second round", &nareas);
	return arg;
}

/* Application threads alive across the second round (one on a stack glibc
 * made, one on its own): each sets its LH errno, waits for the restore,
 * and reports whether its LH TLS was reset. */
static int app_pipe[2];
static int app_stale; /* threads that still saw their old LH errno */
static int app_ready; /* threads that set their LH errno and left LH code */
static char app_stack[256 << 10] __attribute__((aligned(4096)));

static void *app_thread(void *arg)
{
	int *(*lh_errno)(void) = arg;
	char c;

	*lh_errno() = 12345;
	/* Out of LH code now: the "checkpoint" may unmap the LH. */
	__atomic_fetch_add(&app_ready, 1, __ATOMIC_RELEASE);
	if (read(app_pipe[0], &c, 1) != 1)
		return NULL;
	if (*lh_errno() == 12345)
		__atomic_fetch_add(&app_stale, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void second_round_with_app_threads(void)
{
	int *(*lh_errno)(void) = need(lh.sym("__errno_location"), "LH __errno_location");
	char why[1024] = "";
	pthread_attr_t attr;
	pthread_t t[3];

	if (pipe(app_pipe))
		need(NULL, "a pipe");
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, app_stack, sizeof(app_stack));
	if (pthread_create(&t[0], NULL, app_thread, (void *)lh_errno) ||
	    pthread_create(&t[1], &attr, app_thread, (void *)lh_errno))
		need(NULL, "the application threads");
	pthread_attr_destroy(&attr);
	for (int i = 0; i < 30000 && __atomic_load_n(&app_ready, __ATOMIC_ACQUIRE) < 2; i++)
		usleep(1000);
	if (__atomic_load_n(&app_ready, __ATOMIC_ACQUIRE) < 2)
		need(NULL, "the application threads' start (30 s)");
	/* The checkpoint: prepare_image sees them on ld.so's lists. */
	if (lh.prepare(why, sizeof(why)))
		fail("prepare_image with application threads: %s", why);
	own_threads = 3;
	if (pthread_create(&t[2], NULL, second_round, NULL) || pthread_join(t[2], NULL))
		fail("cannot run the second round in a thread");
	own_threads = 0;
	if (write(app_pipe[1], "xx", 2) != 2)
		fail("cannot wake the application threads");
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	if (app_stale)
		fail("%d application thread(s) kept their LH TLS across the restore", app_stale);
	else
		printf("ok: the LH TLS of two application threads was reset by the restore\n");
}

static int mode_finalize(int argc, char **argv)
{
	char why[1024] = "";
	size_t off = list_off();
	size_t n0;
	size_t n1;
	size_t nlh;
	size_t nareas;
	int rc;

	MPI_Init(&argc, &argv);
	traffic();
	MPI_Finalize();
	check_second_init_fails();
	check_late_object_refused();
	check_reused_range_refused();
	check_damaged_snapshot_refused();
	if (!off) {
		printf("BAD the test cannot find glibc's thread list node\n");
		return 1;
	}
	rc = lh.prepare(why, sizeof(why));
	if (rc) {
		printf("BAD prepare_image: %d: %s\n", rc, why);
		return 1;
	}
	printf("ok: prepare_image after MPI_Init and MPI_Finalize: the LH namespace is the "
	       "snapshot's (%zu objects, %zu of them preloaded)\n",
	       lh.snapshot()->nchain, lh.snapshot()->npreloaded);
	n0 = ring_count(off, 0, &nlh);
	fake_insert(off);
	rc = lh.prepare(why, sizeof(why));
	if (rc) {
		printf("BAD prepare_image with the fake thread: %d: %s\n", rc, why);
		return 1;
	}
	/* The LH's ranges must be holes: with the LH still mapped the restore
	 * refuses and names what occupies them, changing nothing. */
	rc = lh.restore(environ, why, sizeof(why));
	if (rc != -EEXIST || !strstr(why, "occupied by"))
		fail("restore over the mapped LH: %d: %s", rc, why);
	else
		printf("ok: the restore refuses to map over a mapped LH: %s\n", why);
	restore_and_use("finalize", &nareas);
	lh.areas(areas, MAX_AREAS, &nareas);
	n1 = ring_count(off, nareas, &nlh);
	if (n1 != n0 || nlh)
		fail("ld.so's thread list after the restore: %zu nodes (%zu before the fake), %zu "
		     "in LH areas",
		     n1, n0, nlh);
	else
		printf("ok: the fake LH thread was unlinked from ld.so's list (%zu nodes)\n", n1);
	check_glibc_after();
	/* MPI_Init in the restored LH loaded nothing new either: the next
	 * checkpoint of a restarted process is possible. */
	rc = lh.prepare(why, sizeof(why));
	if (rc)
		fail("prepare_image after the restore and MPI_Init: %d: %s", rc, why);
	else
		printf("ok: prepare_image accepts the LH after the restore and MPI_Init again\n");
	/* And a restarted process restarts again: the same snapshot serves.
	 * This time restored and used from another thread, as libckpt's
	 * checkpoint thread does, with application threads that ran LH code
	 * alive: their LH TLS and the caller's are set to the initial images. */
	second_round_with_app_threads();
	return bad ? 1 : 0;
}

static int mode_fork(int argc, char **argv)
{
	char why[1024] = "";
	size_t off = list_off();
	size_t nareas = 0;
	size_t nlh = 0;
	size_t nring;
	pid_t pid;
	int st;
	int rc;

	MPI_Init(&argc, &argv);
	traffic();
	lh.areas(areas, MAX_AREAS, &nareas);
	nring = off ? ring_count(off, nareas, &nlh) : 0;
	if (!nlh)
		fail("no LH thread in ld.so's list after MPI_Init (%zu nodes)", nring);
	rc = lh.prepare(why, sizeof(why));
	if (rc) {
		printf("BAD prepare_image with UCX's thread running: %d: %s\n", rc, why);
		return 1;
	}
	printf("ok: prepare_image with UCX's thread running (%zu of %zu list nodes are LH "
	       "threads)\n",
	       nlh, nring);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		restore_and_use("fork child", &nareas);
		check_glibc_after();
		fflush(stdout);
		_exit(bad ? 1 : 0);
	}
	st = wait_child(pid, 60);
	if (st != 0)
		fail("the fork child failed (status %#x)", st);
	traffic();
	MPI_Finalize();
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	main_pd = (uintptr_t)pthread_self();
	resolve();
	if (argc > 1 && !strcmp(argv[1], "fork"))
		rc = mode_fork(argc, argv);
	else
		rc = mode_finalize(argc, argv);
	printf("%s\n", rc ? "FAILED" : "all checks ok");
	return rc;
}
