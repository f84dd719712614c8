/* lh_root_ompi.c - libckpt-lhroot-ompi.so, the first object of Open MPI's
 * lower-half namespace (docs/mpi.md, "The lower half of Open MPI").
 *
 * glibc gives every object later loaded into a dlmopen namespace the first
 * object's search list as its global scope. This library's NEEDED are the
 * lower-half shim, then the real libmpi.so.40 by its absolute path (never
 * the shadow library of the same name that LD_LIBRARY_PATH finds first), so
 * the shim's definitions come first for the whole namespace and libmpi,
 * libopen-rte and libopen-pal are global for the MCA components, which
 * reference them without NEEDED entries of their own.
 *
 * Two more things Open MPI needs in a dlmopen namespace on glibc 2.36:
 *  - its dlopen of every component asks for RTLD_GLOBAL, which crashes
 *    glibc in a secondary namespace (add_to_global_resize): dlopen here
 *    drops the flag; what the components need is global already;
 *  - MPI_Init dlopens components and dlcloses the unselected ones, but the
 *    lower half is restored from a snapshot taken before MPI_Init and the
 *    namespace must not change after it: lh_root_preload() loads every
 *    component first and keeps it loaded.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#define LH_ROOT_EXPORT __attribute__((visibility("default")))

/* Open MPI's (and hwloc's, PMIx's) dlopen, seen through this namespace's
 * global scope, where this library comes first. */
LH_ROOT_EXPORT void *dlopen(const char *file, int mode)
{
	static void *(*real_dlopen)(const char *, int);

	if (!real_dlopen)
		real_dlopen = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	/* Called from here, so the object lands in this namespace. */
	return real_dlopen(file, mode & ~RTLD_GLOBAL);
}

/* Loads every shared object (name ending in ".so") of directory @dir into
 * this namespace and keeps it loaded, so that the library's own dlopen and
 * dlclose of it only count references. Returns the number loaded, or
 * -errno when @dir cannot be read; files that do not load (a component
 * whose own dependencies are missing: the library would skip it too) are
 * counted in *@failed, the first one's reason in @why. */
LH_ROOT_EXPORT int lh_root_preload(const char *dir, int *failed, char *why, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	int loaded = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (n < 4 || strcmp(e->d_name + n - 3, ".so") != 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (dlopen(path, RTLD_NOW)) {
			loaded++;
			continue;
		}
		if (!(*failed)++)
			snprintf(why, len, "%s", dlerror());
	}
	closedir(d);
	return loaded;
}

struct lh_root_count {
	size_t objects;
	size_t bytes;
};

static int lh_root_count_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lh_root_count *c = arg;

	(void)size;
	c->objects++;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD)
			c->bytes += info->dlpi_phdr[i].p_memsz;
	return 0;
}

/* The objects of this namespace and the bytes of their PT_LOAD segments:
 * glibc's dl_iterate_phdr lists the caller's namespace. */
LH_ROOT_EXPORT void lh_root_objects(size_t *objects, size_t *bytes)
{
	struct lh_root_count c = { 0, 0 };

	dl_iterate_phdr(lh_root_count_one, &c);
	*objects = c.objects;
	*bytes = c.bytes;
	/* Not a tail call: dl_iterate_phdr picks the namespace by its caller. */
	__asm__ volatile("" ::: "memory");
}
