/* mpi_lh_regions.c - every mapping the lower half (LH) made is known.
 *
 * Runs under the shadow libmpich.so.12 (the LH shim loaded first in the LH
 * namespace) and checks, right after loading (before MPI_Init), after
 * MPI_Init and some traffic, and after MPI_Finalize, that every range of
 * /proc/self/maps that did not exist before the LH was loaded is in the LH
 * area list (shadow_lh_areas) or explained as the upper half's own: the
 * snapshot's copy, growth of the brk heap or of the main stack (the program
 * itself allocates nothing large: its buffers are static), and the upper
 * half's glibc malloc arenas that ld.so creates when an LH thread first
 * needs dynamic TLS (at most one per LH thread: the program starts no
 * thread of its own, so a new arena serves an LH thread); and that every
 * listed area is mapped in full (no stale record). Also that the LH
 * threads listed are exactly the threads started since (the program starts
 * none), that the snapshot saw no thread and its library files match.
 *
 * Between "init" and "probe" it calls allocating functions of the LH's own
 * libc directly (stdio, getaddrinfo, opendir, strdup): they must allocate
 * through the shim.
 *
 * After each phase it also checks the fds: every fd open now that was not
 * open before the LH was loaded is in the LH's fd list (shadow_lh_fds),
 * and every listed fd is open.
 *
 * With LH_TAMPER_WITH=FILE (and CKPT_MPI_REAL_LIB naming a copy of MPICH),
 * at the end it renames FILE over that copy and prints what
 * shadow_lh_libs_check says: a restart must refuse a changed library.
 *
 * Prints per rank and phase
 *   rank R load|init|probe|final: ok areas lib L heap H mmap M shm S stack T threads N
 *   rank R load|init|probe|final: fds ok: N new, all the LH's (it lists M)
 * or "BAD ..." lines naming each unexplained range; LH_VERBOSE=1 lists
 * every new range and what explains it. Exit status 0 when all is well.
 */
#include "lh_regions.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <mpi.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#define MAX_VMAS  4096
#define MAX_AREAS 4096
#define BIG	  (1 << 20)
/* glibc's non-main malloc heaps: HEAP_MAX_SIZE-aligned, HEAP_MAX_SIZE long. */
#define GLIBC_HEAP_MAX (64UL << 20)

struct vma {
	unsigned long start;
	unsigned long end;
	char perms[5];
	char name[160];
};

static struct {
	int (*api)(void);
	int (*areas)(struct shadow_lh_area *out, size_t cap, size_t *count);
	int (*threads)(pid_t *out, size_t cap, size_t *count);
	const struct shadow_lh_snapshot *(*snapshot)(void);
	int (*libs_check)(const struct shadow_lh_snapshot *snap, char *why, size_t len);
	const char *(*maps_before)(void);
	int (*stats)(struct lh_shim_stats *out);
	void *(*sym)(const char *name);
	int (*fds)(int *out, size_t cap, size_t *count);
	int (*fds_before)(int *out, size_t cap, size_t *count);
} lh;

/* Static, so the program's own buffers exist before the LH is loaded. */
static char maps_text[1 << 20];
static struct vma before[MAX_VMAS];
static struct vma now[MAX_VMAS];
static struct shadow_lh_area areas[MAX_AREAS];
static int heaps[MAX_VMAS];
static char sendbuf[BIG];
static char recvbuf[BIG];
static int rank;
static int verbose;

static size_t parse_maps(const char *text, struct vma *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = text; p && *p && n < cap;) {
		int name = 0;

		if (sscanf(p, "%lx-%lx %4s %*s %*s %*s %n", &out[n].start, &out[n].end,
			   out[n].perms, &name) >= 3) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);

			out[n].name[0] = '\0';
			if (name && (size_t)name < len)
				snprintf(out[n].name, sizeof(out[n].name), "%.*s",
					 (int)(len - name), p + name);
			n++;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

static const char *read_maps(void)
{
	int fd = open("/proc/self/maps", O_RDONLY);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return NULL;
	while ((n = read(fd, maps_text + len, sizeof(maps_text) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	maps_text[len] = '\0';
	return maps_text;
}

/* Pieces of a range still unexplained. */
struct pieces {
	unsigned long s[64];
	unsigned long e[64];
	int n;
};

/* Removes [xs, xe) from @p; returns the bytes removed. */
static unsigned long cut(struct pieces *p, unsigned long xs, unsigned long xe)
{
	unsigned long removed = 0;

	for (int i = 0; i < p->n; i++) {
		unsigned long s = p->s[i];
		unsigned long e = p->e[i];

		if (xe <= s || xs >= e)
			continue;
		removed += (xe < e ? xe : e) - (xs > s ? xs : s);
		if (xs > s && xe < e && p->n < 64) {
			p->e[i] = xs;
			p->s[p->n] = xe;
			p->e[p->n] = e;
			p->n++;
		} else if (xs > s) {
			p->e[i] = xs;
		} else if (xe < e) {
			p->s[i] = xe;
		} else {
			p->s[i] = p->s[p->n - 1];
			p->e[i] = p->e[p->n - 1];
			p->n--;
			i--;
		}
	}
	return removed;
}

static const char *kind_name(int kind)
{
	static const char *const names[] = { "?", "lib", "heap", "mmap", "shm", "stack" };

	return kind >= 1 && kind <= 5 ? names[kind] : "?";
}

/* Tids of this process but the main thread's, sorted; returns how many. */
static size_t other_tasks(pid_t *out, size_t cap)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		pid_t t = (pid_t)atoi(e->d_name);

		if (t > 0 && t != getpid() && n < cap)
			out[n++] = t;
	}
	closedir(d);
	return n;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

/* True if @v starts a glibc malloc heap: 64 MiB aligned, and its heap_info
 * starts with the arena pointer, which points into the same first page. */
static int glibc_heap(const struct vma *v)
{
	unsigned long ar;

	if (v->start % GLIBC_HEAP_MAX || strcmp(v->perms, "rw-p") != 0 || v->name[0])
		return 0;
	ar = *(const unsigned long *)v->start; /* NOLINT(performance-no-int-to-ptr) */
	return ar > v->start && ar < v->start + 4096;
}

/* The report of one attempt of check(): printed only for the last one. */
static char report[1 << 16];
static size_t report_len;

__attribute__((format(printf, 1, 2))) static void out(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(report + report_len, sizeof(report) - report_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		report_len += (size_t)n < sizeof(report) - report_len
				      ? (size_t)n
				      : sizeof(report) - report_len - 1;
}

/* One attempt; returns the number of problems. */
static int check_once(const char *phase)
{
	unsigned long bytes[6] = { 0 };
	unsigned long uh = 0;
	unsigned long arena = 0;
	size_t narena = 0;
	struct lh_shim_stats st;
	size_t nb;
	size_t nn;
	size_t na = 0;
	int bad = 0;
	int rc;
	const struct shadow_lh_snapshot *snap = lh.snapshot();
	pid_t lt[64];
	pid_t tt[64];
	size_t nlt = 0;
	size_t ntt;

	nb = parse_maps(lh.maps_before(), before, MAX_VMAS);
	rc = lh.areas(areas, MAX_AREAS, &na);
	if (rc || na > MAX_AREAS) {
		out("rank %d %s: BAD shadow_lh_areas: %d (%zu areas)\n", rank, phase, rc, na);
		return 1;
	}
	if (!read_maps()) {
		out("rank %d %s: BAD cannot read /proc/self/maps\n", rank, phase);
		return 1;
	}
	nn = parse_maps(maps_text, now, MAX_VMAS);
	for (size_t v = 0; v < nn; v++)
		heaps[v] = glibc_heap(&now[v]);
	for (size_t v = 0; v < nn; v++) {
		struct pieces p = { .s = { now[v].start }, .e = { now[v].end }, .n = 1 };

		for (size_t b = 0; b < nb; b++)
			cut(&p, before[b].start, before[b].end);
		for (size_t a = 0; a < na; a++) {
			unsigned long r = cut(&p, areas[a].start, areas[a].start + areas[a].len);

			bytes[areas[a].kind] += r;
			if (r && verbose)
				out("rank %d %s: %lx-%lx %s %s: LH %s%s%s\n", rank, phase,
				    now[v].start, now[v].end, now[v].perms, now[v].name,
				    kind_name(areas[a].kind), areas[a].name ? " " : "",
				    areas[a].name ? areas[a].name : "");
		}
		uh += cut(&p, snap->copy_start, snap->copy_start + snap->copy_len);
		for (size_t h = 0; h < nn; h++) {
			unsigned long r =
				heaps[h] ? cut(&p, now[h].start, now[h].start + GLIBC_HEAP_MAX) : 0;

			arena += r;
			if (r && verbose)
				out("rank %d %s: %lx-%lx %s: upper-half malloc heap at %lx\n", rank,
				    phase, now[v].start, now[v].end, now[v].perms, now[h].start);
		}
		/* The brk heap (the LH's libc never uses brk) and the main stack grow. */
		if (strcmp(now[v].name, "[heap]") == 0 || strcmp(now[v].name, "[stack]") == 0)
			for (int i = p.n - 1; i >= 0; i--)
				uh += cut(&p, p.s[i], p.e[i]);
		for (int i = 0; i < p.n; i++) {
			out("rank %d %s: BAD unexplained %lx-%lx (%lu KiB) in %lx-%lx %s %s\n",
			    rank, phase, p.s[i], p.e[i], (p.e[i] - p.s[i]) >> 10, now[v].start,
			    now[v].end, now[v].perms, now[v].name);
			bad++;
		}
	}
	/* And no area is stale: each is mapped in full (a munmap the shim did
	 * not see would leave one). */
	for (size_t a = 0; a < na; a++) {
		struct pieces p = { .s = { areas[a].start },
				    .e = { areas[a].start + areas[a].len },
				    .n = 1 };

		for (size_t v = 0; v < nn; v++)
			cut(&p, now[v].start, now[v].end);
		for (int i = 0; i < p.n; i++) {
			out("rank %d %s: BAD LH %s area %lx-%lx not mapped at %lx-%lx\n", rank,
			    phase, kind_name(areas[a].kind), (unsigned long)areas[a].start,
			    (unsigned long)(areas[a].start + areas[a].len), p.s[i], p.e[i]);
			bad++;
		}
	}
	for (size_t v = 0; v < nn; v++) {
		int old = 0;

		for (size_t b = 0; heaps[v] && b < nb; b++)
			old |= before[b].start == now[v].start;
		narena += heaps[v] && !old;
	}
	lh.stats(&st);
	if (narena > st.threads) {
		out("rank %d %s: BAD %zu new malloc heaps for %llu LH threads\n", rank, phase,
		    narena, (unsigned long long)st.threads);
		bad++;
	}
	lh.threads(lt, 64, &nlt);
	ntt = other_tasks(tt, 64);
	qsort(lt, nlt, sizeof(*lt), cmp_pid);
	qsort(tt, ntt, sizeof(*tt), cmp_pid);
	/* LH threads call the upper half's malloc: its libc must know. */
	if (nlt && __libc_single_threaded) {
		out("rank %d %s: BAD LH threads run but the upper half's libc believes it is "
		    "single-threaded\n",
		    rank, phase);
		bad++;
	}
	if (nlt != ntt || memcmp(lt, tt, ntt * sizeof(*tt)) != 0) {
		out("rank %d %s: BAD LH threads listed %zu, threads started since %zu\n", rank,
		    phase, nlt, ntt);
		bad++;
	}
	if (verbose)
		out("rank %d %s: new KiB lib %lu heap %lu mmap %lu shm %lu stack %lu; upper "
		    "half: own %lu, malloc heaps for LH threads %lu (%zu)\n",
		    rank, phase, bytes[1] >> 10, bytes[2] >> 10, bytes[3] >> 10, bytes[4] >> 10,
		    bytes[5] >> 10, uh >> 10, arena >> 10, narena);
	if (!bad)
		out("rank %d %s: ok areas%s%s%s%s%s threads %zu\n", rank, phase,
		    bytes[1] ? " lib" : "", bytes[2] ? " heap" : "", bytes[3] ? " mmap" : "",
		    bytes[4] ? " shm" : "", bytes[5] ? " stack" : "", nlt);
	(void)narena;
	return bad;
}

/* One check, retried: an LH thread (UCX's) may map or unmap between the
 * listing of the areas and the reading of /proc/self/maps. Only the last
 * attempt's report is printed; returns its number of problems. */
static int check(const char *phase)
{
	int bad = 0;

	for (int attempt = 0; attempt < 3; attempt++) {
		report_len = 0;
		report[0] = '\0';
		bad = check_once(phase);
		if (!bad)
			break;
	}
	fputs(report, stdout);
	return bad;
}

#define MAX_FDS 4096
static int fds_before[MAX_FDS];
static int fds_lh[MAX_FDS];

static bool fd_in(int fd, const int *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (set[i] == fd)
			return true;
	}
	return false;
}

/* One attempt of check_fds; returns the number of problems. */
static int check_fds_once(const char *phase)
{
	size_t nb = 0;
	size_t nl = 0;
	size_t nnew = 0;
	int bad = 0;
	DIR *d;
	struct dirent *e;

	if (lh.fds_before(fds_before, MAX_FDS, &nb) || lh.fds(fds_lh, MAX_FDS, &nl) ||
	    nb > MAX_FDS || nl > MAX_FDS) {
		out("rank %d %s: BAD cannot list the fds (%zu before, %zu LH)\n", rank, phase, nb,
		    nl);
		return 1;
	}
	d = opendir("/proc/self/fd");
	while (d && (e = readdir(d))) {
		char path[64];
		char target[256];
		ssize_t n;
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end || end == e->d_name || fd == dirfd(d) || fd_in((int)fd, fds_before, nb))
			continue;
		nnew++;
		snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (!fd_in((int)fd, fds_lh, nl)) {
			out("rank %d %s: BAD fd %ld (%s) opened since the LH was loaded is not in "
			    "the LH's fd list\n",
			    rank, phase, fd, target);
			bad++;
		} else if (verbose) {
			out("rank %d %s: fd %ld (%s): LH\n", rank, phase, fd, target);
		}
	}
	if (d)
		closedir(d);
	/* And every listed fd is open: a close the shim missed leaves one. */
	for (size_t i = 0; i < nl; i++) {
		if (fcntl(fds_lh[i], F_GETFD) < 0) {
			out("rank %d %s: BAD LH fd %d is listed but not open\n", rank, phase,
			    fds_lh[i]);
			bad++;
		}
	}
	if (!bad)
		out("rank %d %s: fds ok: %zu new, all the LH's (it lists %zu)\n", rank, phase, nnew,
		    nl);
	return bad;
}

/* Every fd opened since the LH was loaded is in shadow_lh_fds (the test
 * itself keeps none open between phases), and every listed fd is open.
 * Retried like check(): UCX's thread may open or close one meanwhile. */
static int check_fds(const char *phase)
{
	int bad = 0;

	for (int attempt = 0; attempt < 3; attempt++) {
		report_len = 0;
		report[0] = '\0';
		bad = check_fds_once(phase);
		if (!bad)
			break;
	}
	fputs(report, stdout);
	return bad;
}

/* MPI_Init loaded no object into the LH namespace that the snapshot does
 * not have (shadow_lh_preload did it before), and the thread list's layout
 * is verified: a checkpoint could be taken now. */
static int check_prepare(const char *phase)
{
	int (*prepare)(char *why, size_t len) = dlsym(RTLD_DEFAULT, "shadow_lh_prepare_image");
	char why[1024] = "";
	int rc;

	if (!prepare) {
		printf("rank %d %s: BAD no shadow_lh_prepare_image\n", rank, phase);
		return 1;
	}
	rc = prepare(why, sizeof(why));
	if (rc) {
		printf("rank %d %s: BAD shadow_lh_prepare_image: %d: %s\n", rank, phase, rc, why);
		return 1;
	}
	printf("rank %d %s: prepare_image ok\n", rank, phase);
	return 0;
}

static int check_snapshot(void)
{
	const struct shadow_lh_snapshot *snap = lh.snapshot();
	char why[512];
	int bad = 0;

	if (!snap) {
		printf("rank %d: BAD no LH snapshot\n", rank);
		return 1;
	}
	if (snap->nthreads) {
		printf("rank %d: BAD the snapshot saw %zu LH threads\n", rank, snap->nthreads);
		bad++;
	}
	/* A restart closes the LH's fds: the snapshot must need none. */
	if (snap->nfds) {
		printf("rank %d: BAD the snapshot saw %zu LH fds open\n", rank, snap->nfds);
		bad++;
	}
	if (lh.libs_check(snap, why, sizeof(why))) {
		printf("rank %d: BAD %s\n", rank, why);
		bad++;
	}
	for (size_t i = 0; i < snap->nlibs; i++) {
		if (!snap->libs[i].build_id_len || !snap->libs[i].size) {
			printf("rank %d: BAD no build id or size for %s\n", rank,
			       snap->libs[i].path);
			bad++;
		}
	}
	if (verbose) {
		printf("rank %d snapshot: %zu areas, %zu mappings, %zu pieces, %zu KiB copied, %zu "
		       "libs, %zu objects in the namespace (%zu preloaded), %zu TLS modules\n",
		       rank, snap->nareas, snap->nvmas, snap->npieces, snap->bytes >> 10,
		       snap->nlibs, snap->nchain, snap->npreloaded, snap->ntls);
		for (size_t i = 0; i < snap->nareas; i++)
			printf("rank %d snapshot area: %#lx %zu KiB %s used %zu KiB %s\n", rank,
			       (unsigned long)snap->areas[i].start, snap->areas[i].len >> 10,
			       kind_name(snap->areas[i].kind), snap->areas[i].used >> 10,
			       snap->areas[i].name ? snap->areas[i].name : "");
		for (size_t i = 0; i < snap->nlibs; i++)
			printf("rank %d snapshot lib: %s %llu bytes build id %u bytes\n", rank,
			       snap->libs[i].path, (unsigned long long)snap->libs[i].size,
			       snap->libs[i].build_id_len);
	}
	return bad;
}

static void traffic(int size)
{
	int right = (rank + 1) % size;
	int left = (rank + size - 1) % size;
	long sum = 0;
	long one = 1;
	MPI_Request req[2];
	MPI_Status st[2];

	for (int i = 0; i < 100; i++)
		MPI_Allreduce(&one, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	memset(sendbuf, rank, sizeof(sendbuf));
	for (int i = 0; i < 10; i++) {
		MPI_Irecv(recvbuf, BIG, MPI_BYTE, left, i, MPI_COMM_WORLD, &req[0]);
		MPI_Isend(sendbuf, BIG, MPI_BYTE, right, i, MPI_COMM_WORLD, &req[1]);
		MPI_Waitall(2, req, st);
		MPI_Sendrecv(sendbuf, 64, MPI_BYTE, right, 100 + i, recvbuf, 64, MPI_BYTE, left,
			     100 + i, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	}
	MPI_Bcast(sendbuf, BIG, MPI_BYTE, 0, MPI_COMM_WORLD);
	MPI_Alltoall(sendbuf, 1024, MPI_BYTE, recvbuf, 1024, MPI_BYTE, MPI_COMM_WORLD);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Calls allocating functions of the LH's own libc (stdio, getaddrinfo with
 * its NSS modules, opendir, strdup): their memory must come from the shim
 * (the malloc count grows, and check() finds nothing unexplained). */
static int probe_lh_libc(void)
{
	FILE *(*lh_fopen)(const char *, const char *) = lh.sym("fopen");
	char *(*lh_fgets)(char *, int, FILE *) = lh.sym("fgets");
	int (*lh_fclose)(FILE *) = lh.sym("fclose");
	int (*lh_gai)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
		lh.sym("getaddrinfo");
	void (*lh_freeai)(struct addrinfo *) = lh.sym("freeaddrinfo");
	DIR *(*lh_opendir)(const char *) = lh.sym("opendir");
	struct dirent *(*lh_readdir)(DIR *) = lh.sym("readdir");
	int (*lh_closedir)(DIR *) = lh.sym("closedir");
	char *(*lh_strdup)(const char *) = lh.sym("strdup");
	void (*lh_free)(void *) = lh.sym("free");
	struct mallinfo2 (*lh_mallinfo2)(void) = lh.sym("mallinfo2");
	struct mallinfo2 mi;
	struct lh_shim_stats a;
	struct lh_shim_stats b;
	struct addrinfo *ai = NULL;
	char line[256];
	FILE *f;
	DIR *d;

	if (!lh_fopen || !lh_fgets || !lh_fclose || !lh_gai || !lh_freeai || !lh_opendir ||
	    !lh_readdir || !lh_closedir || !lh_strdup || !lh_free || !lh_mallinfo2) {
		printf("rank %d probe: BAD LH libc functions not found\n", rank);
		return 1;
	}
	lh.stats(&a);
	f = lh_fopen("/proc/self/status", "r");
	while (f && lh_fgets(line, sizeof(line), f))
		;
	if (f)
		lh_fclose(f);
	if (lh_gai("localhost", "22", NULL, &ai) == 0)
		lh_freeai(ai);
	d = lh_opendir("/proc/self/fd");
	while (d && lh_readdir(d))
		;
	if (d)
		lh_closedir(d);
	lh_free(lh_strdup("lower half"));
	lh.stats(&b);
	if (verbose)
		printf("rank %d probe: LH libc mallocs %llu frees %llu mmaps %llu\n", rank,
		       (unsigned long long)(b.mallocs - a.mallocs),
		       (unsigned long long)(b.frees - a.frees),
		       (unsigned long long)(b.mmaps - a.mmaps));
	if (b.mallocs - a.mallocs < 4 || b.foreign_frees != a.foreign_frees) {
		printf("rank %d probe: BAD LH libc allocations bypass the shim (%llu mallocs, "
		       "%llu foreign frees)\n",
		       rank, (unsigned long long)(b.mallocs - a.mallocs),
		       (unsigned long long)(b.foreign_frees - a.foreign_frees));
		return 1;
	}
	/* The LH libc's own malloc never served anything. */
	mi = lh_mallinfo2();
	if (mi.arena || mi.hblkhd) {
		printf("rank %d probe: BAD the LH libc's own malloc holds %zu bytes (%zu mmapped)\n",
		       rank, mi.arena, mi.hblkhd);
		return 1;
	}
	return 0;
}

/* Every LH thread started on a stack the shim mapped, and glibc put its
 * descriptor (pthread_self, with the static TLS next to it) at that stack's
 * top: both are inside the recorded stack region. */
static int check_thread_stacks(void)
{
	lh_shim_threads_fn *threads = (lh_shim_threads_fn *)lh.sym("lh_shim_threads");
	struct lh_shim_thread t[64];
	size_t n;
	int bad = 0;

	if (!threads) {
		printf("rank %d: BAD no lh_shim_threads in the lower half\n", rank);
		return 1;
	}
	n = threads(t, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		if (t[i].state != LH_SHIM_T_RUNNING)
			continue;
		if (!t[i].stack || t[i].pth < t[i].stack ||
		    t[i].pth >= t[i].stack + t[i].stack_len) {
			printf("rank %d: BAD LH thread %d: descriptor %#lx outside its stack %#lx+%zu\n",
			       rank, (int)t[i].tid, t[i].pth, (unsigned long)t[i].stack,
			       t[i].stack_len);
			bad++;
		}
	}
	return bad;
}

/* Replaces the LH's MPICH file by @with (a rename: the mapped one stays
 * intact) and expects the library check to refuse, naming it. */
static int tamper(const char *with, const char *real)
{
	char why[512] = "";
	int rc;

	if (!real || rename(with, real)) {
		printf("rank %d tamper: BAD cannot replace %s\n", rank, real ? real : "(unset)");
		return 1;
	}
	rc = lh.libs_check(lh.snapshot(), why, sizeof(why));
	if (rc != -ESTALE || !strstr(why, real)) {
		printf("rank %d tamper: BAD library check returned %d: %s\n", rank, rc, why);
		return 1;
	}
	printf("rank %d tamper: refused: %s\n", rank, why);
	return 0;
}

static void print_stats(void)
{
	struct lh_shim_stats st;

	if (lh.stats(&st))
		return;
	printf("rank %d stats: mallocs %llu frees %llu large %llu foreign %llu mmaps %llu "
	       "munmaps %llu mremaps %llu shmats %llu shmdts %llu threads %llu stacks_freed "
	       "%llu overflow %llu arenas %llu KiB fds opened %llu closed %llu overflow %llu\n",
	       rank, (unsigned long long)st.mallocs, (unsigned long long)st.frees,
	       (unsigned long long)st.large, (unsigned long long)st.foreign_frees,
	       (unsigned long long)st.mmaps, (unsigned long long)st.munmaps,
	       (unsigned long long)st.mremaps, (unsigned long long)st.shmats,
	       (unsigned long long)st.shmdts, (unsigned long long)st.threads,
	       (unsigned long long)st.stacks_freed, (unsigned long long)st.region_overflow,
	       (unsigned long long)(st.arena_bytes >> 10), (unsigned long long)st.fds_opened,
	       (unsigned long long)st.fds_closed, (unsigned long long)st.fd_overflow);
}

int main(int argc, char **argv)
{
	const char *pmi_rank;
	int size = 1;
	int bad = 0;

	verbose = getenv("LH_VERBOSE") != NULL;
	lh.api = (int (*)(void))dlsym(RTLD_DEFAULT, "shadow_lh_api");
	lh.areas = dlsym(RTLD_DEFAULT, "shadow_lh_areas");
	lh.threads = dlsym(RTLD_DEFAULT, "shadow_lh_threads");
	lh.snapshot = dlsym(RTLD_DEFAULT, "shadow_lh_snapshot");
	lh.libs_check = dlsym(RTLD_DEFAULT, "shadow_lh_libs_check");
	lh.maps_before = dlsym(RTLD_DEFAULT, "shadow_lh_maps_before");
	lh.stats = dlsym(RTLD_DEFAULT, "shadow_lh_shim_stats");
	lh.sym = dlsym(RTLD_DEFAULT, "shadow_lh_sym");
	lh.fds = dlsym(RTLD_DEFAULT, "shadow_lh_fds");
	lh.fds_before = dlsym(RTLD_DEFAULT, "shadow_lh_fds_before");
	if (!lh.fds || !lh.fds_before || !lh.api || !lh.areas || !lh.threads || !lh.snapshot ||
	    !lh.libs_check || !lh.maps_before || !lh.stats || !lh.sym ||
	    lh.api() != SHADOW_LH_API || !lh.maps_before()) {
		fprintf(stderr, "mpi_lh_regions: not running under the shadow library (%s)\n",
			lh.api ? "API version differs" : "no shadow_lh_* functions");
		return 2;
	}
	pmi_rank = getenv("PMI_RANK");
	rank = pmi_rank ? atoi(pmi_rank) : 0;
	bad += check_snapshot();
	bad += check("load");
	bad += check_fds("load");
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	traffic(size);
	bad += check("init");
	bad += check_fds("init");
	bad += probe_lh_libc();
	bad += check_thread_stacks();
	bad += check("probe");
	bad += check_fds("probe");
	bad += check_prepare("probe");
	if (verbose)
		print_stats();
	MPI_Finalize();
	bad += check("final");
	bad += check_fds("final");
	bad += check_prepare("final");
	if (verbose)
		print_stats();
	if (getenv("LH_TAMPER_WITH"))
		bad += tamper(getenv("LH_TAMPER_WITH"), getenv("CKPT_MPI_REAL_LIB"));
	printf("rank %d: %s\n", rank, bad ? "FAILED" : "all checks ok");
	return bad ? 1 : 0;
}
