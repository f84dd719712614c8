/* shadow_lh.c - what belongs to the lower half, seen from the upper half
 * (lh_regions.h): its library segments (from ld.so's link map of the LH
 * namespace), the regions, threads and fds the LH shim recorded, and the
 * LH snapshot taken right after loading, before MPI_Init: after UCX's
 * transport modules were loaded (shadow_lower_preload), with the namespace's
 * link-map chain, every mapping's file/offset/protection, the written
 * contents (data, bss, relro, the shim's heap) and the main thread's TLS
 * blocks of LH modules. shadow_lh_restore.c puts it back.
 *
 * Functions called at checkpoint time (shadow_lh_areas, shadow_lh_threads)
 * allocate nothing; they take ld.so's and the shim's locks, so they must
 * not run while a stopped thread is inside lower-half code or dlopen.
 */
#include "lh_regions.h"
#include "shadow.h"
#include "shadow_lh_int.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The shim's functions (NULL: the LH runs without the shim). */
static lh_shim_regions_fn *shadow_lh_regions_fn;
static lh_shim_threads_fn *shadow_lh_threads_fn;
static lh_shim_stats_fn *shadow_lh_stats_fn;
static lh_shim_iterate_phdr_fn *shadow_lh_iterate_fn;
static lh_shim_fds_fn *shadow_lh_fds_fn;
static void *shadow_lh_shim;
static size_t shadow_lh_npreloaded;	/* objects shadow_lower_preload added */
static struct link_map *shadow_lh_base; /* first object of the base namespace */

static char *shadow_lh_before;
/* The fds open before the LH was loaded (for tests). */
#define SHADOW_LH_FDS_BEFORE_MAX 1024
static int shadow_lh_fds_before_list[SHADOW_LH_FDS_BEFORE_MAX];
static size_t shadow_lh_nfds_before;
static struct shadow_lh_snapshot shadow_lh_snap;
static bool shadow_lh_snap_done;

/* Scratch for the shim's table, so that listing allocates nothing. */
static struct lh_shim_region shadow_lh_scratch[LH_SHIM_REGIONS_MAX];
static pthread_mutex_t shadow_lh_scratch_lock = PTHREAD_MUTEX_INITIALIZER;

/* LH libraries at most; this stack has ~12 before MPI_Init, ~15 after. */
#define SHADOW_LH_LIBS_MAX 256

SHADOW_EXPORT int shadow_lh_api(void)
{
	return SHADOW_LH_API;
}

/* The whole of /proc/self/maps, NUL-terminated, malloc'd; NULL on error. */
static char *shadow_lh_read_maps(void)
{
	size_t cap = 64 << 10;
	size_t len = 0;
	char *buf = malloc(cap);
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0)
		goto out_fail;
	for (;;) {
		if (cap - len < 4096) {
			char *b = realloc(buf, cap * 2);

			if (!b)
				goto out_fail;
			buf = b;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out_fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
out_fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static void shadow_lh_capture_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end || end == e->d_name || fd == dirfd(d))
			continue;
		if (shadow_lh_nfds_before < SHADOW_LH_FDS_BEFORE_MAX)
			shadow_lh_fds_before_list[shadow_lh_nfds_before] = (int)fd;
		shadow_lh_nfds_before++;
	}
	closedir(d);
}

void shadow_lh_capture_before(void)
{
	shadow_lh_before = shadow_lh_read_maps();
	shadow_lh_capture_fds();
}

SHADOW_EXPORT int shadow_lh_fds_before(int *out, size_t cap, size_t *count)
{
	for (size_t i = 0; i < shadow_lh_nfds_before && i < cap && i < SHADOW_LH_FDS_BEFORE_MAX;
	     i++)
		out[i] = shadow_lh_fds_before_list[i];
	*count = shadow_lh_nfds_before;
	return shadow_lh_nfds_before > SHADOW_LH_FDS_BEFORE_MAX ? -EOVERFLOW : 0;
}

SHADOW_EXPORT int shadow_lh_fds(int *out, size_t cap, size_t *count)
{
	struct lh_shim_stats st;

	if (!shadow_lh_fds_fn)
		return -ENOENT;
	*count = shadow_lh_fds_fn(out, cap);
	shadow_lh_stats_fn(&st);
	return st.fd_overflow ? -EOVERFLOW : 0;
}

size_t shadow_lh_shim_threads(struct lh_shim_thread *out, size_t cap)
{
	return shadow_lh_threads_fn ? shadow_lh_threads_fn(out, cap) : 0;
}

SHADOW_EXPORT const char *shadow_lh_maps_before(void)
{
	return shadow_lh_before;
}

/* True if an object loaded at @l_addr is one of the base namespace's: ld.so
 * appears in every namespace with the base one's mapping, which belongs to
 * the upper half. Called inside dl_iterate_phdr, which holds the lock ld.so
 * takes to change the lists. */
static bool shadow_lh_in_base(uintptr_t l_addr)
{
	for (struct link_map *lm = shadow_lh_base; lm; lm = lm->l_next) {
		if (lm->l_addr == l_addr)
			return true;
	}
	return false;
}

struct shadow_lh_phdr_walk {
	struct shadow_lh_area *out;
	size_t cap;
	size_t n;
};

/* The NT_GNU_BUILD_ID note among @len bytes of notes at @p. */
static unsigned shadow_lh_note_build_id(const unsigned char *p, size_t len, unsigned char *id,
					size_t cap)
{
	size_t off = 0;

	while (off + sizeof(ElfW(Nhdr)) <= len) {
		const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(p + off);
		size_t name = (nh->n_namesz + 3) & ~(size_t)3;
		size_t desc = (nh->n_descsz + 3) & ~(size_t)3;
		const unsigned char *d = p + off + sizeof(*nh) + name;

		if (off + sizeof(*nh) + name + desc > len)
			break;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    memcmp(p + off + sizeof(*nh), "GNU", 4) == 0 && nh->n_descsz <= cap) {
			memcpy(id, d, nh->n_descsz);
			return nh->n_descsz;
		}
		off += sizeof(*nh) + name + desc;
	}
	return 0;
}

/* One object of the LH namespace: the span of its PT_LOAD segments. */
static int shadow_lh_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct shadow_lh_phdr_walk *w = arg;
	uintptr_t page = (uintptr_t)getpagesize();
	uintptr_t lo = UINTPTR_MAX;
	uintptr_t hi = 0;

	if (!info->dlpi_name || !*info->dlpi_name || shadow_lh_in_base(info->dlpi_addr))
		return 0;
	for (int k = 0; k < info->dlpi_phnum; k++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD)
			continue;
		if (s < lo)
			lo = s;
		if (s + ph->p_memsz > hi)
			hi = s + ph->p_memsz;
	}
	if (hi <= lo)
		return 0;
	lo &= ~(page - 1);
	hi = (hi + page - 1) & ~(page - 1);
	if (w->n < w->cap)
		w->out[w->n] = (struct shadow_lh_area){ .start = lo,
							.len = hi - lo,
							.kind = SHADOW_LH_LIB,
							.used = hi - lo,
							.name = info->dlpi_name };
	w->n++;
	(void)size;
	return 0;
}

/* The spans of the LH libraries into @out (at most @cap); returns how many
 * there are. The shared ld.so is the upper half's. */
static size_t shadow_lh_lib_areas(struct shadow_lh_area *out, size_t cap)
{
	struct shadow_lh_phdr_walk w = { .out = out, .cap = cap };

	shadow_lh_iterate_fn(shadow_lh_phdr_cb, &w);
	return w.n;
}

static const void *shadow_lh_ptr(uintptr_t a)
{
	return (const void *)a; /* NOLINT(performance-no-int-to-ptr) */
}

static int shadow_lh_kind_of(uint32_t shim_kind)
{
	switch (shim_kind) {
	case LH_SHIM_HEAP:
		return SHADOW_LH_HEAP;
	case LH_SHIM_SHM:
		return SHADOW_LH_SHM;
	case LH_SHIM_STACK:
		return SHADOW_LH_STACK;
	default:
		return SHADOW_LH_MMAP;
	}
}

/* Sorts by start (insertion sort: a few hundred areas, no allocation). */
static void shadow_lh_sort(struct shadow_lh_area *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct shadow_lh_area x = a[i];
		size_t j = i;

		for (; j > 0 && a[j - 1].start > x.start; j--)
			a[j] = a[j - 1];
		a[j] = x;
	}
}

SHADOW_EXPORT int shadow_lh_areas(struct shadow_lh_area *out, size_t cap, size_t *count)
{
	struct lh_shim_stats st;
	size_t nlib;
	size_t nreg;
	size_t n;

	if (!shadow_lh_regions_fn)
		return -ENOENT;
	nlib = shadow_lh_lib_areas(out, cap);
	pthread_mutex_lock(&shadow_lh_scratch_lock);
	nreg = shadow_lh_regions_fn(shadow_lh_scratch, LH_SHIM_REGIONS_MAX);
	n = nlib;
	for (size_t i = 0; i < nreg && i < LH_SHIM_REGIONS_MAX; i++, n++) {
		const struct lh_shim_region *r = &shadow_lh_scratch[i];

		if (n < cap)
			out[n] = (struct shadow_lh_area){ .start = r->start,
							  .len = r->len,
							  .kind = shadow_lh_kind_of(r->kind),
							  .flags = r->flags,
							  .used = r->used };
	}
	pthread_mutex_unlock(&shadow_lh_scratch_lock);
	shadow_lh_sort(out, n < cap ? n : cap);
	*count = n;
	shadow_lh_stats_fn(&st);
	return st.region_overflow ? -EOVERFLOW : 0;
}

SHADOW_EXPORT int shadow_lh_threads(pid_t *out, size_t cap, size_t *count)
{
	struct lh_shim_thread t[64];
	size_t nt;
	size_t n = 0;

	if (!shadow_lh_threads_fn)
		return -ENOENT;
	nt = shadow_lh_threads_fn(t, 64);
	for (size_t i = 0; i < nt && i < 64; i++) {
		if (t[i].state != LH_SHIM_T_RUNNING || !t[i].tid)
			continue;
		if (n < cap)
			out[n] = t[i].tid;
		n++;
	}
	*count = n;
	return 0;
}

SHADOW_EXPORT void *shadow_lh_sym(const char *name)
{
	return shadow_lh_shim ? dlsym(shadow_lh_shim, name) : NULL;
}

SHADOW_EXPORT int shadow_lh_shim_stats(struct lh_shim_stats *out)
{
	if (!shadow_lh_stats_fn)
		return -ENOENT;
	shadow_lh_stats_fn(out);
	return 0;
}

/* Build id of the ELF file at @path (from its PT_NOTE segments). */
static unsigned shadow_lh_file_build_id(const char *path, unsigned char *id, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ElfW(Ehdr) eh;
	unsigned n = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_phentsize != sizeof(ElfW(Phdr)))
		goto out;
	for (unsigned k = 0; k < eh.e_phnum && !n; k++) {
		ElfW(Phdr) ph;
		unsigned char notes[4096];

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + k * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			break;
		if (ph.p_type != PT_NOTE || ph.p_filesz > sizeof(notes))
			continue;
		if (pread(fd, notes, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
			break;
		n = shadow_lh_note_build_id(notes, ph.p_filesz, id, cap);
	}
out:
	close(fd);
	return n;
}

static void shadow_lh_hex(const unsigned char *id, unsigned len, char *out)
{
	for (unsigned i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
	out[2 * len] = '\0';
}

SHADOW_EXPORT int shadow_lh_libs_check(const struct shadow_lh_snapshot *snap, char *why, size_t len)
{
	if (!snap)
		return -ENOENT;
	for (size_t i = 0; i < snap->nlibs; i++) {
		const struct shadow_lh_lib *l = &snap->libs[i];
		unsigned char id[64];
		unsigned idlen;
		char was[129];
		char now[129];
		struct stat st;

		if (stat(l->path, &st)) {
			snprintf(why, len, "MPI library %s of the checkpointed job is gone: %s",
				 l->path, strerror(errno));
			return -ESTALE;
		}
		idlen = shadow_lh_file_build_id(l->path, id, sizeof(id));
		if (idlen != l->build_id_len || memcmp(id, l->build_id, idlen) != 0) {
			shadow_lh_hex(l->build_id, l->build_id_len, was);
			shadow_lh_hex(id, idlen, now);
			snprintf(why, len,
				 "MPI library %s changed since the checkpoint: build id %s, was %s",
				 l->path, idlen ? now : "(none)", l->build_id_len ? was : "(none)");
			return -ESTALE;
		}
		if ((uint64_t)st.st_size != l->size) {
			snprintf(
				why, len,
				"MPI library %s changed since the checkpoint: %lld bytes, was %llu",
				l->path, (long long)st.st_size, (unsigned long long)l->size);
			return -ESTALE;
		}
		if (!idlen &&
		    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != l->mtime_ns) {
			snprintf(why, len,
				 "MPI library %s (no build id) was modified since the checkpoint",
				 l->path);
			return -ESTALE;
		}
	}
	return 0;
}

/* Fills snap->libs from the LH link map; 0 or -errno. */
static int shadow_lh_snap_libs(struct shadow_lh_snapshot *snap)
{
	struct shadow_lh_area spans[SHADOW_LH_LIBS_MAX];
	struct shadow_lh_lib *libs = calloc(SHADOW_LH_LIBS_MAX, sizeof(*libs));
	size_t n;

	if (!libs)
		return -ENOMEM;
	n = shadow_lh_lib_areas(spans, SHADOW_LH_LIBS_MAX);
	if (n > SHADOW_LH_LIBS_MAX)
		n = SHADOW_LH_LIBS_MAX;
	for (size_t i = 0; i < n; i++) {
		struct shadow_lh_lib *l = &libs[i];
		struct stat st;

		l->build_id_len =
			shadow_lh_file_build_id(spans[i].name, l->build_id, sizeof(l->build_id));
		l->path = strdup(spans[i].name);
		if (!l->path) {
			while (i-- > 0)
				free(libs[i].path);
			free(libs);
			return -ENOMEM;
		}
		l->base = spans[i].start;
		if (stat(l->path, &st) == 0) {
			l->size = (uint64_t)st.st_size;
			l->dev = st.st_dev;
			l->ino = st.st_ino;
			l->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		}
	}
	snap->libs = libs;
	snap->nlibs = n;
	return 0;
}

/* One line of /proc/self/maps, parsed; @path points into the text. */
struct shadow_lh_line {
	uintptr_t start;
	uintptr_t end;
	char perms[5];
	uint64_t offset;
	unsigned long inode;
	const char *path; /* NULL: none */
	int path_len;
};

/* Parses @maps into @out (at most @cap); returns how many. */
static size_t shadow_lh_parse_maps(const char *maps, struct shadow_lh_line *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = maps; p && *p && n < cap;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		unsigned long s;
		unsigned long e;
		unsigned long long off;
		int name = 0;

		if (sscanf(p, "%lx-%lx %4s %llx %*x:%*x %lu %n", &s, &e, out[n].perms, &off,
			   &out[n].inode, &name) >= 5) {
			out[n].start = s;
			out[n].end = e;
			out[n].offset = off;
			out[n].path = name && name < len && p[name] == '/' ? p + name : NULL;
			out[n].path_len = out[n].path ? len - name : 0;
			n++;
		}
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

static int shadow_lh_line_prot(const struct shadow_lh_line *l)
{
	return (l->perms[0] == 'r' ? PROT_READ : 0) | (l->perms[1] == 'w' ? PROT_WRITE : 0) |
	       (l->perms[2] == 'x' ? PROT_EXEC : 0);
}

/* Page ranges ld.so made read-only after relocating (PT_GNU_RELRO), and
 * that UCX's memory hooks patched: their contents are not the file's, so
 * the snapshot copies them like writable data. */
#define SHADOW_LH_RELRO_MAX SHADOW_LH_LIBS_MAX
static uintptr_t shadow_lh_relro_start[SHADOW_LH_RELRO_MAX];
static uintptr_t shadow_lh_relro_end[SHADOW_LH_RELRO_MAX];
static size_t shadow_lh_nrelro;

/* The part of [s, e) that must be copied because of line @l: all of it
 * when the line is private and writable, the relro pages of a private
 * read-only line; calls @fn for each piece. Returns the bytes. */
static size_t shadow_lh_copy_ranges(const struct shadow_lh_line *l, uintptr_t s, uintptr_t e,
				    void (*fn)(uintptr_t s, uintptr_t e, void *arg), void *arg)
{
	size_t total = 0;

	if (l->perms[3] != 'p' || l->perms[0] != 'r' || s >= e)
		return 0;
	if (l->perms[1] == 'w') {
		fn(s, e, arg);
		return e - s;
	}
	if (l->perms[2] == 'x')
		return 0;
	for (size_t r = 0; r < shadow_lh_nrelro; r++) {
		uintptr_t rs = shadow_lh_relro_start[r] > s ? shadow_lh_relro_start[r] : s;
		uintptr_t re = shadow_lh_relro_end[r] < e ? shadow_lh_relro_end[r] : e;

		if (rs < re) {
			fn(rs, re, arg);
			total += re - rs;
		}
	}
	return total;
}

struct shadow_lh_copy_walk {
	struct shadow_lh_snapshot *snap;
	char *copy; /* NULL in the counting pass */
	size_t off; /* bytes placed */
	size_t n;   /* pieces */
};

static void shadow_lh_copy_piece(uintptr_t s, uintptr_t e, void *arg)
{
	struct shadow_lh_copy_walk *w = arg;

	if (w->copy) {
		w->snap->pieces[w->n] = (struct shadow_lh_piece){ .start = s,
								  .len = e - s,
								  .data = w->copy + w->off };
		memcpy(w->copy + w->off, shadow_lh_ptr(s), e - s);
	}
	w->off += e - s;
	w->n++;
}

/* Records the maps lines inside the areas (clipped to them), so that a
 * restore maps each again with its file, offset and protection. */
static int shadow_lh_snap_vmas(struct shadow_lh_snapshot *snap, const struct shadow_lh_line *lines,
			       size_t nlines)
{
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		n = 0;
		for (size_t a = 0; a < snap->nareas; a++) {
			uintptr_t as = snap->areas[a].start;
			uintptr_t ae = as + snap->areas[a].len;

			for (size_t v = 0; v < nlines; v++) {
				const struct shadow_lh_line *l = &lines[v];
				uintptr_t s = l->start > as ? l->start : as;
				uintptr_t e = l->end < ae ? l->end : ae;
				struct shadow_lh_vma *r;

				if (s >= e)
					continue;
				if (pass == 1) {
					r = &snap->vmas[n];
					*r = (struct shadow_lh_vma){ .start = s,
								     .end = e,
								     .prot = shadow_lh_line_prot(l),
								     .shared = l->perms[3] == 's' };
					if (l->path && l->inode) {
						r->offset = l->offset + (s - l->start);
						r->path = strndup(l->path, (size_t)l->path_len);
						if (!r->path)
							return -ENOMEM;
					}
				}
				n++;
			}
		}
		if (pass == 0) {
			snap->vmas = calloc(n + 1, sizeof(*snap->vmas));
			if (!snap->vmas)
				return -ENOMEM;
		}
	}
	snap->nvmas = n;
	return 0;
}

/* Copies what the LH wrote of every snapshot area (private writable lines,
 * relro pages) into one upper-half mapping, and records the lines. */
static int shadow_lh_snap_copy(struct shadow_lh_snapshot *snap)
{
	char *maps = shadow_lh_read_maps();
	struct shadow_lh_line *lines = NULL;
	struct shadow_lh_copy_walk w = { .snap = snap };
	size_t nlines;
	size_t page = (size_t)getpagesize();
	int rc = -ENOMEM;

	if (!maps)
		return -EIO;
	lines = calloc(8192, sizeof(*lines));
	if (!lines)
		goto out;
	nlines = shadow_lh_parse_maps(maps, lines, 8192);
	/* Two passes: the pieces and their size, then the copies. */
	for (int pass = 0; pass < 2; pass++) {
		w.off = 0;
		w.n = 0;
		for (size_t a = 0; a < snap->nareas; a++) {
			uintptr_t as = snap->areas[a].start;
			uintptr_t ae = as + snap->areas[a].used;

			for (size_t v = 0; v < nlines; v++) {
				uintptr_t s = lines[v].start > as ? lines[v].start : as;
				uintptr_t e = lines[v].end < ae ? lines[v].end : ae;

				shadow_lh_copy_ranges(&lines[v], s, e, shadow_lh_copy_piece, &w);
			}
		}
		if (pass == 0) {
			/* Whole pages: the mapping's extent is what the test explains. */
			snap->copy_len = (w.off + page) & ~(page - 1);
			snap->pieces = calloc(w.n + 1, sizeof(*snap->pieces));
			w.copy = mmap(NULL, snap->copy_len, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (!snap->pieces || w.copy == MAP_FAILED)
				goto out;
			snap->copy_start = (uintptr_t)w.copy;
		}
	}
	snap->npieces = w.n;
	snap->bytes = w.off;
	rc = shadow_lh_snap_vmas(snap, lines, nlines);
out:
	free(lines);
	free(maps);
	return rc;
}

/* The first link_map of the LH namespace (NULL without the shim). */
struct link_map *shadow_lh_chain_head(void)
{
	struct link_map *lm = NULL;

	if (!shadow_lh_shim || dlinfo(shadow_lh_shim, RTLD_DI_LINKMAP, &lm) || !lm)
		return NULL;
	while (lm->l_prev)
		lm = lm->l_prev;
	return lm;
}

static size_t shadow_lh_chain_len(void)
{
	size_t n = 0;

	for (struct link_map *lm = shadow_lh_chain_head(); lm; lm = lm->l_next)
		n++;
	return n;
}

static int shadow_lh_snap_chain(struct shadow_lh_snapshot *snap)
{
	size_t n = shadow_lh_chain_len();
	size_t i = 0;

	snap->chain = calloc(n + 1, sizeof(*snap->chain));
	if (!snap->chain)
		return -ENOMEM;
	for (struct link_map *lm = shadow_lh_chain_head(); lm && i < n; lm = lm->l_next, i++) {
		snap->chain[i] =
			(struct shadow_lh_chain_obj){ .name = strdup(lm->l_name ? lm->l_name : ""),
						      .l_addr = lm->l_addr,
						      .link_map = (uintptr_t)lm };
		if (!snap->chain[i].name)
			return -ENOMEM;
	}
	snap->nchain = i;
	return 0;
}

/* The LH's relro ranges and TLS modules, from its program headers. */
struct shadow_lh_tls_walk {
	struct shadow_lh_snapshot *snap;
	int rc;
};

static int shadow_lh_snap_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct shadow_lh_tls_walk *w = arg;
	uintptr_t page = (uintptr_t)getpagesize();
	struct shadow_lh_tls *t;
	void *data;

	(void)size;
	if (!info->dlpi_name || !*info->dlpi_name || shadow_lh_in_base(info->dlpi_addr))
		return 0;
	for (int k = 0; k < info->dlpi_phnum; k++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_GNU_RELRO && shadow_lh_nrelro < SHADOW_LH_RELRO_MAX) {
			/* ld.so protects whole pages: start rounded down, end down. */
			shadow_lh_relro_start[shadow_lh_nrelro] = s & ~(page - 1);
			shadow_lh_relro_end[shadow_lh_nrelro++] = (s + ph->p_memsz) & ~(page - 1);
		}
		if (ph->p_type != PT_TLS || !info->dlpi_tls_modid ||
		    w->snap->ntls >= SHADOW_LH_LIBS_MAX)
			continue;
		t = &w->snap->tls[w->snap->ntls];
		data = ph->p_memsz ? malloc(ph->p_memsz) : NULL;
		t->name = strdup(info->dlpi_name);
		if ((ph->p_memsz && !data) || !t->name) {
			free(data);
			w->rc = -ENOMEM;
			return 1;
		}
		t->modid = info->dlpi_tls_modid;
		t->image = s;
		t->image_len = ph->p_filesz;
		t->size = ph->p_memsz;
		t->block = (uintptr_t)info->dlpi_tls_data;
		if (t->block && data)
			memcpy(data, info->dlpi_tls_data, ph->p_memsz);
		t->data = data;
		w->snap->ntls++;
	}
	return 0;
}

/* Reads @len bytes at @addr of this process into @buf without faulting
 * (process_vm_readv): 0, or -EFAULT when they are not all mapped. Used on
 * addresses taken from memory that may come from an image file. */
int shadow_lh_peek(uintptr_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)addr, /* NOLINT(performance-no-int-to-ptr) */
				.iov_len = len };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

/* The offset of the DTV pointer in a thread descriptor (tcbhead_t's dtv on
 * x86_64: 8), found as the word of this thread's descriptor that points to
 * a vector whose entries are the TLS blocks dl_iterate_phdr reported for
 * this thread. 0 when no word does. */
static size_t shadow_lh_find_dtv_off(const struct shadow_lh_snapshot *snap)
{
	uintptr_t pd = snap->main_thread;
	size_t checked = 0;

	for (size_t off = 8; off <= 64; off += 8) {
		uintptr_t dtv;
		bool ok = true;

		if (shadow_lh_peek(pd + off, &dtv, sizeof(dtv)) || !dtv)
			continue;
		checked = 0;
		for (size_t i = 0; i < snap->ntls && ok; i++) {
			uintptr_t val;

			if (!snap->tls[i].block)
				continue;
			/* dtv_t: a 16-byte union, the block's address first. */
			ok = !shadow_lh_peek(dtv + 16 * snap->tls[i].modid, &val, sizeof(val)) &&
			     val == snap->tls[i].block;
			checked++;
		}
		if (ok && checked)
			return off;
	}
	return 0;
}

/* Module ids of the LH objects with TLS. */
struct shadow_lh_modids {
	size_t id[SHADOW_LH_LIBS_MAX];
	size_t n;
};

static int shadow_lh_modid_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct shadow_lh_modids *m = arg;

	(void)size;
	if (info->dlpi_tls_modid && m->n < SHADOW_LH_LIBS_MAX &&
	    !shadow_lh_in_base(info->dlpi_addr))
		m->id[m->n++] = info->dlpi_tls_modid;
	return 0;
}

/* Brings this thread's DTV up to date for every LH module with TLS and
 * allocates its blocks: dl_iterate_phdr and dlinfo report no TLS block of
 * a module loaded after the thread's DTV was last updated (even a static
 * one, which the module's code reaches without the DTV), and the snapshot
 * needs every block's address and contents. __tls_get_addr does both. */
static void shadow_lh_tls_touch(void)
{
	struct {
		unsigned long module;
		unsigned long offset;
	} ti;
	void *(*get_addr)(void *ti) = (void *(*)(void *))dlsym(RTLD_DEFAULT, "__tls_get_addr");
	static struct shadow_lh_modids m;

	if (!get_addr)
		return;
	m.n = 0;
	shadow_lh_iterate_fn(shadow_lh_modid_cb, &m);
	for (size_t i = 0; i < m.n; i++) {
		ti.module = m.id[i];
		ti.offset = 0;
		get_addr(&ti);
	}
}

static int shadow_lh_snap_tls(struct shadow_lh_snapshot *snap)
{
	struct shadow_lh_tls_walk w = { .snap = snap };

	snap->tls = calloc(SHADOW_LH_LIBS_MAX, sizeof(*snap->tls));
	if (!snap->tls)
		return -ENOMEM;
	shadow_lh_tls_touch();
	shadow_lh_nrelro = 0;
	shadow_lh_iterate_fn(shadow_lh_snap_phdr_cb, &w);
	if (w.rc)
		return w.rc;
	snap->main_thread = (uintptr_t)pthread_self();
	snap->dtv_off = shadow_lh_find_dtv_off(snap);
	return 0;
}

static int shadow_lh_take_snapshot(void)
{
	struct shadow_lh_snapshot *snap = &shadow_lh_snap;
	size_t n = 0;
	size_t nt = 0;
	int rc;

	rc = shadow_lh_areas(NULL, 0, &n);
	if (rc)
		return rc;
	snap->areas = calloc(n + 1, sizeof(*snap->areas));
	if (!snap->areas)
		return -ENOMEM;
	rc = shadow_lh_areas(snap->areas, n, &snap->nareas);
	if (rc)
		return rc;
	if (snap->nareas > n)
		return -EAGAIN;
	rc = shadow_lh_snap_libs(snap);
	if (rc)
		return rc;
	/* Names must outlive a dlclose of the LH: point them at our copies. */
	for (size_t a = 0; a < snap->nareas; a++) {
		for (size_t l = 0; snap->areas[a].name && l < snap->nlibs; l++) {
			if (!strcmp(snap->areas[a].name, snap->libs[l].path))
				snap->areas[a].name = snap->libs[l].path;
		}
	}
	shadow_lh_threads(NULL, 0, &nt);
	snap->nthreads = nt;
	snap->nfds = shadow_lh_fds_fn(NULL, 0);
	snap->npreloaded = shadow_lh_npreloaded;
	rc = shadow_lh_snap_chain(snap);
	if (!rc)
		rc = shadow_lh_snap_tls(snap);
	if (!rc)
		rc = shadow_lh_snap_copy(snap);
	if (rc)
		return rc;
	shadow_lh_snap_done = true;
	return 0;
}

SHADOW_EXPORT const struct shadow_lh_snapshot *shadow_lh_snapshot(void)
{
	return shadow_lh_snap_done ? &shadow_lh_snap : NULL;
}

static void *shadow_lh_noop(void *arg)
{
	return arg;
}

/* Its stack: static, so that it leaves no mapping behind (glibc would
 * cache an 8 MiB one). 64 KiB hold glibc's descriptor and static TLS. */
static char shadow_lh_helper_stack[64 << 10] __attribute__((aligned(4096)));

static void shadow_lh_make_multithreaded(void)
{
	pthread_attr_t attr;
	pthread_t t;

	if (pthread_attr_init(&attr))
		return;
	if (pthread_attr_setstack(&attr, shadow_lh_helper_stack, sizeof(shadow_lh_helper_stack)) ==
		    0 &&
	    pthread_create(&t, &attr, shadow_lh_noop, NULL) == 0)
		pthread_join(t, NULL);
	pthread_attr_destroy(&attr);
}

/* The lower half is about to start a thread. glibc 2.36's malloc serves
 * every request from its main arena without locking while
 * __libc_single_threaded is set, and only the upper half's own
 * pthread_create clears it; but LH threads call the upper half's malloc
 * (ld.so allocates their DTV and dynamic TLS with it). So the upper half
 * starts and joins one thread of its own, once, the documented way to make
 * its libc multi-threaded for good. */
static void shadow_lh_thread_starting(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, shadow_lh_make_multithreaded);
}

int shadow_lh_setup(void *shim)
{
	lh_shim_version_fn *version;
	lh_shim_set_upper_fn *set_upper;
	struct lh_shim_upper upper = { .free = free,
				       .realloc = realloc,
				       .thread_starting = shadow_lh_thread_starting };
	void *self = dlopen(NULL, RTLD_NOW | RTLD_NOLOAD);
	size_t npreloaded;
	int rc;

	if (!shim)
		return 0;
	shadow_lh_shim = shim;
	if (!self || dlinfo(self, RTLD_DI_LINKMAP, &shadow_lh_base))
		shadow_die("cannot find the program's link map: %s", dlerror());
	while (shadow_lh_base->l_prev)
		shadow_lh_base = shadow_lh_base->l_prev;
	version = (lh_shim_version_fn *)dlsym(shim, "lh_shim_version");
	set_upper = (lh_shim_set_upper_fn *)dlsym(shim, "lh_shim_set_upper");
	shadow_lh_regions_fn = (lh_shim_regions_fn *)dlsym(shim, "lh_shim_regions");
	shadow_lh_threads_fn = (lh_shim_threads_fn *)dlsym(shim, "lh_shim_threads");
	shadow_lh_stats_fn = (lh_shim_stats_fn *)dlsym(shim, "lh_shim_stats");
	shadow_lh_iterate_fn = (lh_shim_iterate_phdr_fn *)dlsym(shim, "lh_shim_iterate_phdr");
	shadow_lh_fds_fn = (lh_shim_fds_fn *)dlsym(shim, "lh_shim_fds");
	if (!version || !set_upper || !shadow_lh_regions_fn || !shadow_lh_threads_fn ||
	    !shadow_lh_stats_fn || !shadow_lh_iterate_fn || !shadow_lh_fds_fn)
		shadow_die("the lower-half shim lacks its interface (lh_shim_*): not ours");
	if (version() != LH_SHIM_VERSION)
		shadow_die("the lower-half shim is version %d, this library needs %d", version(),
			   LH_SHIM_VERSION);
	set_upper(&upper);
	npreloaded = shadow_lh_chain_len();
	shadow_lower_preload();
	shadow_lh_npreloaded = shadow_lh_chain_len() - npreloaded;
	rc = shadow_lh_take_snapshot();
	if (rc)
		shadow_die("cannot take the lower half's snapshot: %s", strerror(-rc));
	return 0;
}
