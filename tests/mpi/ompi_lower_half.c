/* ompi_lower_half.c - Open MPI as a lower half (docs/mpi.md, "The lower
 * half of Open MPI"): libckpt-lhroot-ompi.so is loaded into a new link-map
 * namespace (it brings the shim and the real libmpi.so.40), every MCA
 * component, PMIx and hwloc plugin is preloaded, and MPI_Init, an
 * Allreduce on MPI_COMM_WORLD and MPI_Finalize run through dlsym, the
 * handles being the real library's predefined objects. The namespace must
 * hold the same objects before MPI_Init, after it and after MPI_Finalize
 * (what the lower-half snapshot requires), and the application's namespace
 * must not see libmpi. This program is not linked to any MPI library.
 *   ompi_lower_half ROOT REAL_LIBMPI PRELOAD_DIR...
 * Prints "rank R of N on NODE sum S objects A B C preloaded P".
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef int init_fn(int *, char ***);
typedef int comm_int_fn(void *, int *);
typedef int allreduce_fn(const void *, void *, int, void *, void *, void *);
typedef int finalize_fn(void);
typedef int preload_fn(const char *, int *, char *, size_t);
typedef void objects_fn(size_t *, size_t *);

static void *need(void *h, const char *name)
{
	void *p = dlsym(h, name);

	if (!p) {
		fprintf(stderr, "FAIL: %s not found in the lower half: %s\n", name, dlerror());
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	size_t before, after_init, after_fini, bytes;
	int rank = -1, size = -1, mine, sum = 0, preloaded = 0, failed = 0;
	char why[512] = "";
	Lmid_t lmid;
	void *root, *mpi;

	if (argc < 4) {
		fprintf(stderr, "usage: %s ROOT REAL_LIBMPI PRELOAD_DIR...\n", argv[0]);
		return 2;
	}
	root = dlmopen(LM_ID_NEWLM, argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!root || dlinfo(root, RTLD_DI_LMID, &lmid) != 0) {
		fprintf(stderr, "FAIL: cannot load %s into a new namespace: %s\n", argv[1],
			dlerror());
		return 1;
	}
	/* The root's NEEDED brought it in: this only takes a reference. */
	mpi = dlmopen(lmid, argv[2], RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	if (!mpi) {
		fprintf(stderr, "FAIL: %s is not in the root's namespace\n", argv[2]);
		return 1;
	}
	if (dlopen(argv[2], RTLD_NOW | RTLD_NOLOAD) ||
	    dlopen("libopen-pal.so.40", RTLD_NOW | RTLD_NOLOAD)) {
		fprintf(stderr, "FAIL: Open MPI is visible in the application's namespace\n");
		return 1;
	}
	for (int i = 3; i < argc; i++) {
		int n = ((preload_fn *)need(root, "lh_root_preload"))(argv[i], &failed, why,
								      sizeof(why));

		if (n < 0) {
			fprintf(stderr, "FAIL: cannot read %s\n", argv[i]);
			return 1;
		}
		preloaded += n;
	}
	if (failed)
		fprintf(stderr, "%d objects did not preload, the first: %s\n", failed, why);
	((objects_fn *)need(root, "lh_root_objects"))(&before, &bytes);

	if (((init_fn *)need(mpi, "PMPI_Init"))(&argc, &argv) != 0) {
		fprintf(stderr, "FAIL: MPI_Init in the lower half failed\n");
		return 1;
	}
	((objects_fn *)need(root, "lh_root_objects"))(&after_init, &bytes);
	((comm_int_fn *)need(mpi, "PMPI_Comm_rank"))(need(mpi, "ompi_mpi_comm_world"), &rank);
	((comm_int_fn *)need(mpi, "PMPI_Comm_size"))(need(mpi, "ompi_mpi_comm_world"), &size);
	mine = rank + 1;
	((allreduce_fn *)need(mpi, "PMPI_Allreduce"))(&mine, &sum, 1, need(mpi, "ompi_mpi_int"),
						      need(mpi, "ompi_mpi_op_sum"),
						      need(mpi, "ompi_mpi_comm_world"));
	((finalize_fn *)need(mpi, "PMPI_Finalize"))();
	((objects_fn *)need(root, "lh_root_objects"))(&after_fini, &bytes);
	printf("rank %d of %d on %s sum %d objects %zu %zu %zu preloaded %d\n", rank, size,
	       getenv("SLURMD_NODENAME") ? getenv("SLURMD_NODENAME") : "-", sum, before, after_init,
	       after_fini, preloaded);
	return 0;
}
