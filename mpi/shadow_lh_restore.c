/* shadow_lh_restore.c - the lower half (LH) at a checkpoint and at restart:
 * shadow_lh_prepare_image() before the image is written, shadow_lh_restore()
 * in the restored process (shadow_ckpt.h, lh_regions.h).
 *
 * The image holds the upper half only: the LH areas are holes after a
 * restart, the LH threads do not exist, the LH fds are closed. What the
 * upper half keeps about the LH must then agree with the LH as the snapshot
 * puts it back:
 *
 * - ld.so's link maps of the LH namespace (upper-half heap): the snapshot
 *   was taken after UCX's modules were loaded (shadow_lower_preload), so they
 *   describe exactly the objects the snapshot maps again; prepare_image
 *   refuses when the namespace changed since.
 * - ld.so's list of threads with user stacks (_dl_stack_user, its head in
 *   ld.so's data): glibc links every thread started on a caller's stack
 *   through its descriptor, and LH threads' descriptors lie in their shim
 *   stacks, which the image leaves out. prepare_image records the ring, the
 *   restore links it again without them; else the next pthread_create,
 *   fork or setxid would follow a pointer into unmapped memory.
 * - The main thread's TLS blocks of LH modules (its static TLS block and
 *   dynamic blocks in the upper half's heap): put back as they were at the
 *   snapshot, or to the module's initial image for blocks allocated since;
 *   every other thread's (the checkpoint thread's, which runs MPI_Init
 *   next, and the application's, found on ld.so's two thread lists) set to
 *   the initial images, as for threads the restored LH has never seen.
 *
 * Everything read from memory here may come from an image file: addresses
 * are read with shadow_lh_peek (no fault on garbage) and checked against
 * the snapshot before anything is written.
 */
#include "lh_regions.h"
#include "shadow.h"
#include "shadow_ckpt.h"
#include "shadow_lh_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Nodes of ld.so's user-stack thread list recorded at most: one per thread
 * of the process that runs on a caller-provided stack, plus the head. */
#define SHADOW_LH_RING_MAX 4096

/* Where glibc's `list` member lies in struct pthread, searched from this
 * offset (after tcbhead_t, 704 bytes on x86_64 in glibc 2.36) up to the
 * limit; the offset found is verified, never assumed. */
#define SHADOW_LH_LIST_OFF_MIN 16
#define SHADOW_LH_LIST_OFF_MAX 4096

/* Offset of tcbhead_t's `self` in a descriptor (x86_64): the descriptor's
 * own address, what tells a descriptor from other memory. */
#define SHADOW_LH_SELF_OFF 16

/* ld.so's user-stack list as prepare_image found it. Static storage of the
 * shadow library: upper-half memory, part of the image. */
static struct {
	size_t list_off;		    /* offset of `list` in struct pthread */
	size_t n;			    /* nodes, head first */
	uintptr_t node[SHADOW_LH_RING_MAX]; /* node addresses in ring order */
	bool lh[SHADOW_LH_RING_MAX];	    /* node of an LH thread's descriptor */
	size_t nlh;
	bool valid;    /* recorded and not yet used by a restore */
	bool recorded; /* list_off and node[0] (the head) were verified */
} shadow_lh_ring;

/* Areas for classifying nodes (static: prepare_image allocates nothing). */
static struct shadow_lh_area shadow_lh_ring_areas[LH_SHIM_REGIONS_MAX + 256];

/* ---------------- the link-map chain ---------------- */

/* Compares the LH namespace's link-map chain with the snapshot's. */
static int shadow_lh_chain_check(const struct shadow_lh_snapshot *snap, char *why, size_t len)
{
	struct link_map *lm = shadow_lh_chain_head();
	size_t i = 0;

	for (; lm; lm = lm->l_next, i++) {
		const char *name = lm->l_name ? lm->l_name : "";

		if (i >= snap->nchain || snap->chain[i].l_addr != lm->l_addr ||
		    strcmp(snap->chain[i].name, name) != 0) {
			snprintf(why, len,
				 "%s was loaded into the MPI lower half after its snapshot (taken "
				 "before MPI_Init); the checkpoint cannot include it, as a restart "
				 "recreates the lower half from the snapshot",
				 *name ? name : "an object without a name");
			return -EBUSY;
		}
	}
	if (i != snap->nchain) {
		snprintf(why, len,
			 "%s was unloaded from the MPI lower half after its snapshot; the "
			 "checkpoint cannot describe the lower half",
			 snap->chain[i].name);
		return -EBUSY;
	}
	return 0;
}

/* ---------------- ld.so's user-stack thread list ---------------- */

static bool shadow_lh_is_descriptor(uintptr_t pd)
{
	uintptr_t self;

	return !shadow_lh_peek(pd + SHADOW_LH_SELF_OFF, &self, sizeof(self)) && self == pd;
}

static bool shadow_lh_task_exists(pid_t tid)
{
	return tid > 0 && syscall(SYS_tgkill, getpid(), tid, 0) == 0;
}

/* The offset of `list` in the descriptor @pd: the word pair that is a ring
 * node (next->prev and prev->next both point back to it) followed by the
 * descriptor's tid, a task of this process. 0 when none is. */
static size_t shadow_lh_find_list_off(uintptr_t pd)
{
	for (size_t off = SHADOW_LH_LIST_OFF_MIN; off < SHADOW_LH_LIST_OFF_MAX; off += 8) {
		uintptr_t node = pd + off;
		uintptr_t np[2];
		uintptr_t back;
		pid_t tid;

		if (shadow_lh_peek(node, np, sizeof(np)) || !np[0] || !np[1] || np[0] % 8 ||
		    np[1] % 8)
			continue;
		if (shadow_lh_peek(np[0] + 8, &back, sizeof(back)) || back != node)
			continue;
		if (shadow_lh_peek(np[1], &back, sizeof(back)) || back != node)
			continue;
		if (shadow_lh_peek(node + 16, &tid, sizeof(tid)) || !shadow_lh_task_exists(tid))
			continue;
		return off;
	}
	return 0;
}

/* The address range of ld.so's _rtld_global, where the list's head lies. */
static int shadow_lh_rtld_global(uintptr_t *start, size_t *size)
{
	void *sym = dlsym(RTLD_DEFAULT, "_rtld_global");
	const ElfW(Sym) *es = NULL;
	Dl_info info;

	if (!sym || !dladdr1(sym, &info, (void **)&es, RTLD_DL_SYMENT) || !es || !es->st_size)
		return -ENOENT;
	*start = (uintptr_t)sym;
	*size = es->st_size;
	return 0;
}

static bool shadow_lh_in_areas(uintptr_t a, const struct shadow_lh_area *areas, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a >= areas[i].start && a - areas[i].start < areas[i].len)
			return true;
	}
	return false;
}

/* Walks the ring from the main thread's node; fills shadow_lh_ring with
 * the head first. */
static int shadow_lh_ring_walk(uintptr_t main_pd, size_t off, char *why, size_t len)
{
	uintptr_t gstart;
	size_t gsize;
	uintptr_t first = main_pd + off;
	uintptr_t node = first;
	size_t head = SIZE_MAX;
	size_t n = 0;
	/* Static: the checkpoint thread's stack may be small. */
	static uintptr_t nodes[SHADOW_LH_RING_MAX];

	if (shadow_lh_rtld_global(&gstart, &gsize)) {
		snprintf(why, len,
			 "cannot find ld.so's _rtld_global, which holds its thread list: the "
			 "MPI lower half's threads cannot be dropped at restart");
		return -ENOTSUP;
	}
	do {
		uintptr_t next;

		if (n == SHADOW_LH_RING_MAX) {
			snprintf(why, len, "ld.so's thread list has more than %d entries",
				 SHADOW_LH_RING_MAX);
			return -ENOTSUP;
		}
		nodes[n] = node;
		if (node >= gstart && node - gstart < gsize) {
			if (head != SIZE_MAX)
				goto out_layout;
			head = n;
		} else if (!shadow_lh_is_descriptor(node - off)) {
			goto out_layout;
		}
		if (shadow_lh_peek(node, &next, sizeof(next)) || !next)
			goto out_layout;
		/* The ring must be consistent both ways. */
		{
			uintptr_t back;

			if (shadow_lh_peek(next + 8, &back, sizeof(back)) || back != node)
				goto out_layout;
		}
		node = next;
		n++;
	} while (node != first);
	if (head == SIZE_MAX)
		goto out_layout;
	shadow_lh_ring.list_off = off;
	shadow_lh_ring.n = n;
	for (size_t i = 0; i < n; i++)
		shadow_lh_ring.node[i] = nodes[(head + i) % n];
	return 0;
out_layout:
	snprintf(why, len,
		 "ld.so's thread list does not have the layout this library verified (glibc "
		 "struct pthread, list at offset %zu; node %#lx): the MPI lower half's threads "
		 "cannot be dropped at restart",
		 off, (unsigned long)node);
	return -ENOTSUP;
}

/* Marks the ring's nodes that are LH threads' descriptors, and checks that
 * every running LH thread is one of them. */
static int shadow_lh_ring_classify(char *why, size_t len, size_t *nareas)
{
	struct lh_shim_thread t[64];
	size_t na = 0;
	size_t nt;
	int rc;

	rc = shadow_lh_areas(shadow_lh_ring_areas,
			     sizeof(shadow_lh_ring_areas) / sizeof(shadow_lh_ring_areas[0]), &na);
	if (rc || na > sizeof(shadow_lh_ring_areas) / sizeof(shadow_lh_ring_areas[0])) {
		snprintf(why, len, "cannot list the MPI lower half's areas: %s",
			 strerror(rc ? -rc : EOVERFLOW));
		return rc ? rc : -EOVERFLOW;
	}
	*nareas = na;
	shadow_lh_ring.nlh = 0;
	for (size_t i = 0; i < shadow_lh_ring.n; i++) {
		uintptr_t pd = shadow_lh_ring.node[i] - shadow_lh_ring.list_off;

		shadow_lh_ring.lh[i] = i > 0 && shadow_lh_in_areas(pd, shadow_lh_ring_areas, na);
		shadow_lh_ring.nlh += shadow_lh_ring.lh[i];
	}
	nt = shadow_lh_shim_threads(t, 64);
	for (size_t k = 0; k < nt && k < 64; k++) {
		bool found = false;

		if (t[k].state != LH_SHIM_T_RUNNING)
			continue;
		for (size_t i = 1; i < shadow_lh_ring.n && !found; i++)
			found = shadow_lh_ring.lh[i] &&
				shadow_lh_ring.node[i] - shadow_lh_ring.list_off == t[k].pth;
		if (!found) {
			snprintf(
				why, len,
				"MPI lower-half thread %d (descriptor %#lx) is not in ld.so's list "
				"of threads on their own stacks: a restart could not drop it",
				(int)t[k].tid, t[k].pth);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* True if any page of [s, e) is mapped (mincore fails with ENOMEM on a
 * hole). */
static bool shadow_lh_any_mapped(uintptr_t s, uintptr_t e)
{
	static unsigned char vec[4096];
	uintptr_t page = (uintptr_t)getpagesize();

	for (uintptr_t a = s; a < e; a += page) {
		if (mincore((void *)a, page, vec) == 0) /* NOLINT(performance-no-int-to-ptr) */
			return true;
	}
	return false;
}

/* Every range the snapshot maps again at restart must be the LH's now, or
 * a hole: a mapping of the upper half there (a snapshot area the LH has
 * since unmapped, reused) would be saved in the image and block the
 * restore. @areas: the LH's areas now. */
static int shadow_lh_snap_ranges_free(const struct shadow_lh_snapshot *snap,
				      const struct shadow_lh_area *areas, size_t na, char *why,
				      size_t len)
{
	uintptr_t page = (uintptr_t)getpagesize();

	for (size_t i = 0; i < snap->nvmas; i++) {
		for (uintptr_t a = snap->vmas[i].start; a < snap->vmas[i].end; a += page) {
			if (shadow_lh_in_areas(a, areas, na) || !shadow_lh_any_mapped(a, a + page))
				continue;
			snprintf(why, len,
				 "address %#lx of the MPI lower half's snapshot (%s) is used by "
				 "the upper half now: a restart could not put the lower half back",
				 (unsigned long)a,
				 snap->vmas[i].path ? snap->vmas[i].path : "anonymous");
			return -EBUSY;
		}
	}
	return 0;
}

SHADOW_EXPORT int shadow_lh_prepare_image(char *why, size_t len)
{
	const struct shadow_lh_snapshot *snap = shadow_lh_snapshot();
	size_t na = 0;
	size_t off;
	int rc;

	shadow_lh_ring.valid = false;
	shadow_lh_ring.recorded = false;
	if (!snap) {
		snprintf(why, len,
			 "the MPI lower half has no snapshot (it runs without the shim, "
			 "CKPT_MPI_LH_SHIM=none): it cannot be checkpointed");
		return -ENOENT;
	}
	rc = shadow_lh_chain_check(snap, why, len);
	if (rc)
		return rc;
	if (!shadow_lh_is_descriptor(snap->main_thread)) {
		snprintf(why, len,
			 "the main thread's descriptor %#lx does not hold its own address at "
			 "offset %d: glibc's thread layout is not the one this library knows",
			 (unsigned long)snap->main_thread, SHADOW_LH_SELF_OFF);
		return -ENOTSUP;
	}
	off = shadow_lh_find_list_off(snap->main_thread);
	if (!off) {
		snprintf(why, len,
			 "cannot find ld.so's thread list node in the main thread's descriptor "
			 "%#lx: glibc's thread layout is not the one this library knows",
			 (unsigned long)snap->main_thread);
		return -ENOTSUP;
	}
	rc = shadow_lh_ring_walk(snap->main_thread, off, why, len);
	if (!rc)
		rc = shadow_lh_ring_classify(why, len, &na);
	if (!rc)
		rc = shadow_lh_snap_ranges_free(snap, shadow_lh_ring_areas, na, why, len);
	if (rc)
		return rc;
	shadow_lh_ring.valid = true;
	shadow_lh_ring.recorded = true;
	return 0;
}

/* Links the ring again without the LH threads' nodes, in the recorded
 * order. Every kept node is checked first (the head inside _rtld_global,
 * the others descriptors of their own), so a damaged record writes
 * nothing. */
static int shadow_lh_ring_unlink(char *why, size_t len)
{
	uintptr_t gstart;
	size_t gsize;
	static uintptr_t kept[SHADOW_LH_RING_MAX];
	size_t nk = 0;
	size_t off = shadow_lh_ring.list_off;

	if (!shadow_lh_ring.valid || !shadow_lh_ring.nlh)
		return 0;
	if (shadow_lh_ring.n > SHADOW_LH_RING_MAX || off < SHADOW_LH_LIST_OFF_MIN ||
	    off >= SHADOW_LH_LIST_OFF_MAX || shadow_lh_rtld_global(&gstart, &gsize) ||
	    shadow_lh_ring.node[0] < gstart || shadow_lh_ring.node[0] - gstart >= gsize ||
	    shadow_lh_ring.lh[0]) {
		snprintf(why, len, "the record of ld.so's thread list is damaged");
		return -EINVAL;
	}
	for (size_t i = 0; i < shadow_lh_ring.n; i++) {
		if (shadow_lh_ring.lh[i])
			continue;
		if (i > 0 && !shadow_lh_is_descriptor(shadow_lh_ring.node[i] - off)) {
			snprintf(
				why, len,
				"entry %#lx of ld.so's thread list is no thread descriptor any more",
				(unsigned long)shadow_lh_ring.node[i]);
			return -EINVAL;
		}
		kept[nk++] = shadow_lh_ring.node[i];
	}
	for (size_t i = 0; i < nk; i++) {
		uintptr_t *a = (uintptr_t *)kept[i]; /* NOLINT(performance-no-int-to-ptr) */
		uintptr_t *b = (uintptr_t *)kept[(i + 1) % nk]; /* NOLINT */

		a[0] = kept[(i + 1) % nk]; /* a->next = b */
		b[1] = kept[i];		   /* b->prev = a */
	}
	shadow_lh_ring.valid = false;
	return 0;
}

/* ---------------- mapping the snapshot again ---------------- */

static bool shadow_lh_vma_has_piece(const struct shadow_lh_snapshot *snap,
				    const struct shadow_lh_vma *v)
{
	for (size_t i = 0; i < snap->npieces; i++) {
		if (snap->pieces[i].start < v->end &&
		    snap->pieces[i].start + snap->pieces[i].len > v->start)
			return true;
	}
	return false;
}

/* Checks what the restore will use of @snap: counts, ranges inside areas,
 * copies inside the copy mapping. */
static int shadow_lh_snap_validate(const struct shadow_lh_snapshot *snap, char *why, size_t len)
{
	uintptr_t page = (uintptr_t)getpagesize();
	char probe;

	if (snap->nvmas > 65536 || snap->npieces > 65536 || snap->ntls > 4096 || !snap->vmas ||
	    (snap->npieces && !snap->pieces)) {
		snprintf(why, len, "the MPI lower half's snapshot is damaged (counts)");
		return -EINVAL;
	}
	for (size_t i = 0; i < snap->nvmas; i++) {
		const struct shadow_lh_vma *v = &snap->vmas[i];

		if (v->start % page || v->end % page || v->start >= v->end ||
		    (i && v->start < snap->vmas[i - 1].end)) {
			snprintf(why, len, "the MPI lower half's snapshot is damaged (mapping %zu)",
				 i);
			return -EINVAL;
		}
		if (v->shared) {
			snprintf(
				why, len,
				"the MPI lower half's snapshot holds a shared mapping at %#lx (%s): "
				"a restart cannot recreate it",
				(unsigned long)v->start, v->path ? v->path : "anonymous");
			return -ENOTSUP;
		}
	}
	for (size_t i = 0; i < snap->npieces; i++) {
		const struct shadow_lh_piece *p = &snap->pieces[i];
		uintptr_t d = (uintptr_t)p->data;
		bool inside = false;

		for (size_t v = 0; v < snap->nvmas && !inside; v++)
			inside = p->start >= snap->vmas[v].start &&
				 p->start + p->len <= snap->vmas[v].end;
		if (!inside || d < snap->copy_start ||
		    d + p->len > snap->copy_start + snap->copy_len || d + p->len < d) {
			snprintf(why, len, "the MPI lower half's snapshot is damaged (copy %zu)",
				 i);
			return -EINVAL;
		}
	}
	if (snap->copy_len && shadow_lh_peek(snap->copy_start + snap->copy_len - 1, &probe, 1)) {
		snprintf(why, len,
			 "the MPI lower half's snapshot copy at %#lx is not mapped: the image "
			 "lacks it",
			 (unsigned long)snap->copy_start);
		return -EINVAL;
	}
	if (snap->nfds) {
		snprintf(why, len,
			 "the MPI lower half had %zu fds open when its snapshot was taken; a "
			 "restart cannot open them again",
			 snap->nfds);
		return -ENOTSUP;
	}
	return 0;
}

/* What occupies @addr now, for the error message. */
static void shadow_lh_describe(uintptr_t addr, char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	snprintf(out, len, "something");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s;
		unsigned long e;

		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && addr < e && addr + 1 > s) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s", line);
			break;
		}
	}
	fclose(f);
}

static void shadow_lh_unmap_done(const struct shadow_lh_snapshot *snap, size_t n)
{
	for (size_t i = 0; i < n; i++)
		munmap((void *)snap->vmas[i].start, /* NOLINT(performance-no-int-to-ptr) */
		       snap->vmas[i].end - snap->vmas[i].start);
}

/* Maps one recorded line at its address, never over anything (the LH's
 * ranges must be holes), writable for now when data is copied into it. */
static int shadow_lh_map_vma(const struct shadow_lh_snapshot *snap, const struct shadow_lh_vma *v,
			     char *why, size_t len)
{
	int prot = v->prot | (shadow_lh_vma_has_piece(snap, v) ? PROT_WRITE : 0);
	int flags = MAP_PRIVATE | MAP_FIXED_NOREPLACE;
	int fd = -1;
	void *p;
	char what[600];

	if (v->path) {
		fd = open(v->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(why, len, "cannot open %s of the MPI lower half: %s", v->path,
				 strerror(errno));
			return -errno;
		}
	} else {
		flags |= MAP_ANONYMOUS;
	}
	p = mmap((void *)v->start, v->end - v->start, prot, flags, fd, /* NOLINT */
		 (off_t)v->offset);
	if (fd >= 0)
		close(fd);
	if (p == (void *)v->start) /* NOLINT(performance-no-int-to-ptr) */
		return 0;
	if (p != MAP_FAILED)
		munmap(p, v->end - v->start);
	shadow_lh_describe(v->start, what, sizeof(what));
	snprintf(why, len,
		 "cannot map the MPI lower half's range %#lx-%#lx (%s) again: %s; it is "
		 "occupied by %s",
		 (unsigned long)v->start, (unsigned long)v->end, v->path ? v->path : "anonymous",
		 p == MAP_FAILED ? strerror(errno) : "mapped elsewhere", what);
	return p == MAP_FAILED && errno != EEXIST ? -errno : -EEXIST;
}

static int shadow_lh_map_all(const struct shadow_lh_snapshot *snap, char *why, size_t len)
{
	int rc;

	for (size_t i = 0; i < snap->nvmas; i++) {
		rc = shadow_lh_map_vma(snap, &snap->vmas[i], why, len);
		if (rc) {
			shadow_lh_unmap_done(snap, i);
			return rc;
		}
	}
	for (size_t i = 0; i < snap->npieces; i++)
		memcpy((void *)snap->pieces[i].start, snap->pieces[i].data, /* NOLINT */
		       snap->pieces[i].len);
	for (size_t i = 0; i < snap->nvmas; i++) {
		const struct shadow_lh_vma *v = &snap->vmas[i];

		if (mprotect((void *)v->start, v->end - v->start, v->prot)) { /* NOLINT */
			snprintf(why, len,
				 "cannot set the protection of the MPI lower half's range "
				 "%#lx-%#lx: %s",
				 (unsigned long)v->start, (unsigned long)v->end, strerror(errno));
			shadow_lh_unmap_done(snap, snap->nvmas);
			return -errno;
		}
	}
	return 0;
}

/* ---------------- the main thread's LH TLS ---------------- */

/* True if the first and the last byte of [a, a+n) can be read (the
 * ranges checked are small, a few pages at most). */
static bool shadow_lh_range_mapped(uintptr_t a, size_t n)
{
	char c;

	return !n || (a + n > a && !shadow_lh_peek(a, &c, 1) && !shadow_lh_peek(a + n - 1, &c, 1));
}

/* Puts the main thread's TLS block of each LH module back: the snapshot's
 * copy where the block was allocated then, the module's initial image for
 * a block allocated since (through the main thread's DTV). */
static int shadow_lh_tls_restore(const struct shadow_lh_snapshot *snap, char *why, size_t len)
{
	uintptr_t dtv = 0;
	size_t dtv_len = 0;

	if (snap->dtv_off &&
	    !shadow_lh_peek(snap->main_thread + snap->dtv_off, &dtv, sizeof(dtv)) && dtv &&
	    shadow_lh_peek(dtv - 16, &dtv_len, sizeof(dtv_len)))
		dtv = 0;
	for (size_t i = 0; i < snap->ntls; i++) {
		const struct shadow_lh_tls *t = &snap->tls[i];
		uintptr_t cur = 0;

		if (t->size > (64u << 20) || t->image_len > t->size) {
			snprintf(why, len, "the MPI lower half's snapshot is damaged (TLS of %s)",
				 t->name);
			return -EINVAL;
		}
		/* The DTV's length word precedes entry 0; unallocated is -1. */
		if (dtv && t->modid <= dtv_len &&
		    (shadow_lh_peek(dtv + 16 * t->modid, &cur, sizeof(cur)) || cur == UINTPTR_MAX))
			cur = 0;
		if (t->block && t->data) {
			if (!shadow_lh_range_mapped(t->block, t->size)) {
				snprintf(why, len,
					 "the main thread's TLS block of %s at %#lx is not mapped",
					 t->name, (unsigned long)t->block);
				return -EFAULT;
			}
			memcpy((void *)t->block, t->data, t->size); /* NOLINT */
		} else if (cur && cur != t->block) {
			/* Allocated since the snapshot: as a new thread would get it. */
			if (!shadow_lh_range_mapped(cur, t->size) ||
			    !shadow_lh_range_mapped(t->image, t->image_len)) {
				snprintf(
					why, len,
					"the main thread's TLS block of %s at %#lx or its image at "
					"%#lx is not mapped",
					t->name, (unsigned long)cur, (unsigned long)t->image);
				return -EFAULT;
			}
			memcpy((void *)cur, (const void *)t->image, t->image_len);     /* NOLINT */
			memset((char *)cur + t->image_len, 0, t->size - t->image_len); /* NOLINT */
		}
	}
	return 0;
}

/* The calling thread's TLS blocks of the LH modules, when it is not the
 * main thread: set to each module's initial image, as for a thread the
 * restored LH has never seen. This thread may have run LH code before the
 * checkpoint (shadow_ckpt_prepare's collectives), and it runs MPI_Init
 * next. __tls_get_addr finds (and, if need be, allocates) the blocks. */
static int shadow_lh_tls_reset_self(const struct shadow_lh_snapshot *snap, char *why, size_t len)
{
	void *(*get_addr)(void *ti) = (void *(*)(void *))dlsym(RTLD_DEFAULT, "__tls_get_addr");
	struct {
		unsigned long module;
		unsigned long offset;
	} ti;

	if ((uintptr_t)pthread_self() == snap->main_thread || !snap->ntls)
		return 0;
	if (!get_addr) {
		snprintf(why, len,
			 "ld.so has no __tls_get_addr: this thread's lower-half TLS "
			 "cannot be reset");
		return -ENOTSUP;
	}
	for (size_t i = 0; i < snap->ntls; i++) {
		const struct shadow_lh_tls *t = &snap->tls[i];
		uintptr_t block;

		ti.module = t->modid;
		ti.offset = 0;
		block = (uintptr_t)get_addr(&ti);
		if (!block || !shadow_lh_range_mapped(block, t->size) ||
		    !shadow_lh_range_mapped(t->image, t->image_len)) {
			snprintf(why, len, "this thread's TLS block of %s is not mapped", t->name);
			return -EFAULT;
		}
		memcpy((void *)block, (const void *)t->image, t->image_len);	 /* NOLINT */
		memset((char *)block + t->image_len, 0, t->size - t->image_len); /* NOLINT */
	}
	return 0;
}

/* Sets a thread's TLS block of @t at @block to the module's initial image. */
static int shadow_lh_tls_init_block(const struct shadow_lh_tls *t, uintptr_t block, char *why,
				    size_t len)
{
	if (!shadow_lh_range_mapped(block, t->size) ||
	    !shadow_lh_range_mapped(t->image, t->image_len)) {
		snprintf(why, len, "a thread's TLS block of %s at %#lx is not mapped", t->name,
			 (unsigned long)block);
		return -EFAULT;
	}
	memcpy((void *)block, (const void *)t->image, t->image_len);	 /* NOLINT */
	memset((char *)block + t->image_len, 0, t->size - t->image_len); /* NOLINT */
	return 0;
}

/* The static TLS area's size (ld.so's _dl_get_tls_static_info); 0 if
 * unknown. A module's block lies in it, below the descriptor (x86_64's
 * TLS variant II), at the same distance in every thread. */
static size_t shadow_lh_static_tls_size(void)
{
	void (*info)(size_t * size, size_t * align) =
		(void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
	size_t size = 0;
	size_t align = 0;

	if (info)
		info(&size, &align);
	return size;
}

/* Resets the LH TLS blocks of the thread with descriptor @pd: static ones
 * at the main thread's distance from the descriptor, dynamic ones through
 * the thread's DTV where allocated. */
static int shadow_lh_tls_reset_thread(const struct shadow_lh_snapshot *snap, uintptr_t pd,
				      size_t static_size, char *why, size_t len)
{
	uintptr_t dtv = 0;
	size_t dtv_len = 0;
	int rc;

	if (snap->dtv_off && !shadow_lh_peek(pd + snap->dtv_off, &dtv, sizeof(dtv)) && dtv &&
	    shadow_lh_peek(dtv - 16, &dtv_len, sizeof(dtv_len)))
		dtv = 0;
	for (size_t i = 0; i < snap->ntls; i++) {
		const struct shadow_lh_tls *t = &snap->tls[i];
		uintptr_t block = 0;

		if (t->block && t->block < snap->main_thread &&
		    snap->main_thread - t->block <= static_size)
			block = pd - (snap->main_thread - t->block);
		else if (dtv && t->modid <= dtv_len &&
			 (shadow_lh_peek(dtv + 16 * t->modid, &block, sizeof(block)) ||
			  block == UINTPTR_MAX))
			block = 0;
		if (!block)
			continue;
		rc = shadow_lh_tls_init_block(t, block, why, len);
		if (rc)
			return rc;
	}
	return 0;
}

/* The descriptors on ld.so's list whose head is @head (excluding it), into
 * @out (at most @cap); returns how many, or SIZE_MAX when the list does
 * not have the verified layout. */
static size_t shadow_lh_list_descriptors(uintptr_t head, size_t off, uintptr_t *out, size_t cap)
{
	uintptr_t node;
	size_t n = 0;

	if (shadow_lh_peek(head, &node, sizeof(node)))
		return SIZE_MAX;
	while (node != head) {
		uintptr_t back;
		uintptr_t next;

		if (n == cap || !shadow_lh_is_descriptor(node - off) ||
		    shadow_lh_peek(node, &next, sizeof(next)) ||
		    shadow_lh_peek(next + 8, &back, sizeof(back)) || back != node)
			return SIZE_MAX;
		out[n++] = node - off;
		node = next;
	}
	return n;
}

/* The LH TLS of every other thread of the process (the application's, on
 * both of ld.so's lists: threads on their own stacks and on stacks glibc
 * made) set to the initial images: the restored LH has never seen them.
 * The list of glibc-made stacks (_dl_stack_used) is the list head right
 * before _dl_stack_user in ld.so's data, accepted only if walking it finds
 * nothing but thread descriptors. Runs after the LH threads' nodes were
 * unlinked. */
static int shadow_lh_tls_reset_others(const struct shadow_lh_snapshot *snap, char *why, size_t len)
{
	static uintptr_t pds[2 * SHADOW_LH_RING_MAX];
	size_t off = shadow_lh_ring.list_off;
	size_t static_size = shadow_lh_static_tls_size();
	uintptr_t user = shadow_lh_ring.node[0];
	uintptr_t self = (uintptr_t)pthread_self();
	size_t nu;
	size_t nd;
	int rc;

	if (!shadow_lh_ring.recorded || !snap->ntls)
		return 0;
	nu = shadow_lh_list_descriptors(user, off, pds, SHADOW_LH_RING_MAX);
	nd = nu == SIZE_MAX
		     ? SIZE_MAX
		     : shadow_lh_list_descriptors(user - 16, off, pds + nu, SHADOW_LH_RING_MAX);
	if (nd == SIZE_MAX || !static_size) {
		snprintf(why, len,
			 "cannot find every thread in ld.so's thread lists (layout not verified): "
			 "their lower-half TLS cannot be reset");
		return -ENOTSUP;
	}
	for (size_t i = 0; i < nu + nd; i++) {
		if (pds[i] == snap->main_thread || pds[i] == self)
			continue;
		rc = shadow_lh_tls_reset_thread(snap, pds[i], static_size, why, len);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---------------- the LH's environment ---------------- */

static int shadow_lh_set_environ(char *const *env, char *why, size_t len)
{
	char ***lh_environ = shadow_lh_sym("__environ");
	char ***lh_environ2 = shadow_lh_sym("environ");

	if (!lh_environ) {
		snprintf(why, len, "the MPI lower half's libc has no __environ");
		return -ENOENT;
	}
	*lh_environ = (char **)env;
	if (lh_environ2 && lh_environ2 != lh_environ)
		*lh_environ2 = (char **)env;
	return 0;
}

/* Exported (not only for shadow_ckpt_restart): the tests call it. */
SHADOW_EXPORT int shadow_lh_restore(char *const *env, char *why, size_t len)
{
	const struct shadow_lh_snapshot *snap = shadow_lh_snapshot();
	int rc;

	if (!snap) {
		snprintf(why, len,
			 "the MPI lower half has no snapshot (it ran without the shim): it "
			 "cannot be restored");
		return -ENOENT;
	}
	rc = shadow_lh_libs_check(snap, why, len);
	if (rc)
		return -ESTALE;
	rc = shadow_lh_snap_validate(snap, why, len);
	if (!rc)
		rc = shadow_lh_map_all(snap, why, len);
	if (rc)
		return rc;
	rc = shadow_lh_tls_restore(snap, why, len);
	if (!rc)
		rc = shadow_lh_tls_reset_self(snap, why, len);
	if (!rc)
		rc = shadow_lh_ring_unlink(why, len);
	if (!rc)
		rc = shadow_lh_tls_reset_others(snap, why, len);
	if (!rc && env)
		rc = shadow_lh_set_environ(env, why, len);
	return rc;
}
