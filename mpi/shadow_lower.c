/* shadow_lower.c - loads the real MPICH as the lower half.
 *
 * The real libmpich.so.12 goes into a new link-map namespace
 * (dlmopen(LM_ID_NEWLM)) with its own copies of libc, UCX and hwloc, so
 * nothing of it is bound into the application's namespace and it can be
 * dropped and loaded again at restart. The lower-half shim is loaded into
 * that namespace first, so that the libraries there allocate, map and start
 * threads through it (lh_shim_*.c, shadow_lh.c); UCX's transport modules
 * are loaded into it before the LH snapshot. Loaded from a constructor,
 * before the application's code runs; a failure stops the program with the
 * reason.
 */
#include "shadow.h"
#include "shadow_lh_int.h"
#include "shadow_real.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The real library: CKPT_MPI_REAL_LIB, else where meson found MPICH. */
#ifndef SHADOW_REAL_LIB
#error "SHADOW_REAL_LIB must be set by the build"
#endif

/* The shim's file name, next to this library (build tree and install). */
#define SHADOW_LH_SHIM_NAME "libckpt-lhshim.so"

static void *shadow_lower_handle;
static void *shadow_lower_shim;
static Lmid_t shadow_lower_lmid;
static char shadow_lower_shim_path[4096];

int *shadow_lower_unweighted;
int *shadow_lower_weights_empty;

/* True when @path is this very library (a loop through LD_LIBRARY_PATH). */
static bool shadow_lower_is_self(const char *path)
{
	Dl_info info;
	struct stat self;
	struct stat real;

	if (!dladdr((void *)shadow_lower_is_self, &info) || !info.dli_fname)
		return false;
	if (stat(info.dli_fname, &self) || stat(path, &real))
		return false;
	return self.st_dev == real.st_dev && self.st_ino == real.st_ino;
}

/* The shim to load first: CKPT_MPI_LH_SHIM (a path, or "none" to run the
 * lower half without it), else SHADOW_LH_SHIM_NAME next to this library.
 * NULL: no shim. */
static const char *shadow_lower_shim_file(void)
{
	const char *env = getenv("CKPT_MPI_LH_SHIM");
	Dl_info info;
	const char *slash;

	if (env && !strcmp(env, "none"))
		return NULL;
	if (env && *env)
		return env;
	if (!dladdr((void *)shadow_lower_shim_file, &info) || !info.dli_fname)
		shadow_die("cannot find where the shadow library lives (dladdr)");
	slash = strrchr(info.dli_fname, '/');
	snprintf(shadow_lower_shim_path, sizeof(shadow_lower_shim_path), "%.*s%s",
		 slash ? (int)(slash - info.dli_fname + 1) : 0, info.dli_fname,
		 SHADOW_LH_SHIM_NAME);
	return shadow_lower_shim_path;
}

/* Loads the shim into a new namespace, then the real MPICH into the same. */
static void *shadow_lower_open(const char *shim, const char *path)
{
	if (!shim)
		return dlmopen(LM_ID_NEWLM, path, RTLD_NOW | RTLD_LOCAL);
	shadow_lower_shim = dlmopen(LM_ID_NEWLM, shim, RTLD_NOW | RTLD_LOCAL);
	if (!shadow_lower_shim)
		shadow_die("cannot load the lower-half shim into a new namespace: %s "
			   "(CKPT_MPI_LH_SHIM=none runs without it, untracked)",
			   dlerror());
	if (dlinfo(shadow_lower_shim, RTLD_DI_LMID, &shadow_lower_lmid))
		shadow_die("dlinfo(%s): %s", shim, dlerror());
	return dlmopen(shadow_lower_lmid, path, RTLD_NOW | RTLD_LOCAL);
}

/* MPI_Init makes UCX load its transport modules (libuct_ib, libuct_rdmacm,
 * libuct_cma and, through them, libibverbs, libmlx5, librdmacm, libnl):
 * objects whose link_maps would be saved with the upper half while their
 * mappings, being the LH's, are not. So they are loaded before the LH
 * snapshot (shadow_lh_setup calls this), by the very calls of UCX that
 * load them in MPI_Init: UCT's component query loads every module UCT has
 * (ucs_load_modules), and ibverbs' device list loads the providers of the
 * devices present. What MPI_Init would load beyond this is seen by
 * shadow_lh_prepare_image. */
void shadow_lower_preload(void)
{
	typedef int query_fn(void **list, unsigned *n);
	typedef void release_fn(void *list);
	typedef void **devices_fn(int *n);
	typedef void free_devices_fn(void **list);
	query_fn *query;
	release_fn *release;
	void *verbs;
	void *list = NULL;
	unsigned n = 0;

	if (!shadow_lower_handle)
		return;
	query = (query_fn *)dlsym(shadow_lower_handle, "uct_query_components");
	release = (release_fn *)dlsym(shadow_lower_handle, "uct_release_component_list");
	if (query && release && query(&list, &n) == 0)
		release(list);
	verbs = dlmopen(shadow_lower_lmid, "libibverbs.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (verbs) {
		devices_fn *devices = (devices_fn *)dlsym(verbs, "ibv_get_device_list");
		free_devices_fn *free_devices =
			(free_devices_fn *)dlsym(verbs, "ibv_free_device_list");
		void **devs = devices && free_devices ? devices(NULL) : NULL;

		if (devs)
			free_devices(devs);
		dlclose(verbs);
	}
}

/* The value of pointer constant @name (an `int *const` the real library
 * exports) in the lower half. */
static int *shadow_lower_ptr_const(const char *path, const char *name)
{
	int *const *p = dlsym(shadow_lower_handle, name);

	if (!p)
		shadow_die("%s has no %s: not the MPICH ABI this library was built for", path,
			   name);
	return *p;
}

int shadow_lower_load(void)
{
	const char *path = getenv("CKPT_MPI_REAL_LIB");
	const char *shim = shadow_lower_shim_file();
	const struct shadow_real_sym *s;

	if (!path || !*path)
		path = SHADOW_REAL_LIB;
	if (shadow_lower_is_self(path))
		shadow_die("the real MPI library %s is this shadow library; set CKPT_MPI_REAL_LIB "
			   "to MPICH's libmpich.so.12",
			   path);
	shadow_lh_capture_before();
	shadow_lower_handle = shadow_lower_open(shim, path);
	if (!shadow_lower_handle)
		shadow_die("cannot load the real MPI library into its own namespace: %s "
			   "(set CKPT_MPI_REAL_LIB to MPICH's libmpich.so.12)",
			   dlerror());
	if (dlinfo(shadow_lower_handle, RTLD_DI_LMID, &shadow_lower_lmid))
		shadow_die("dlinfo(%s): %s", path, dlerror());
	for (s = shadow_real_syms; s->name; s++) {
		*s->slot = dlsym(shadow_lower_handle, s->name);
		if (!*s->slot)
			shadow_die("%s has no %s: not the MPICH ABI this library was built for",
				   path, s->name);
	}
	shadow_lower_unweighted = shadow_lower_ptr_const(path, "MPI_UNWEIGHTED");
	shadow_lower_weights_empty = shadow_lower_ptr_const(path, "MPI_WEIGHTS_EMPTY");
	return shadow_lh_setup(shadow_lower_shim);
}

bool shadow_lower_mpi_active(void)
{
	int init = 0;
	int fini = 1;

	if (!shadow_real_MPI_Initialized || !shadow_real_MPI_Finalized)
		return false;
	shadow_real_MPI_Initialized(&init);
	shadow_real_MPI_Finalized(&fini);
	return init && !fini;
}

__attribute__((constructor)) static void shadow_lower_init(void)
{
	shadow_lower_load();
}
