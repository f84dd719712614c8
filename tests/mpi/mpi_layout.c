/* mpi_layout.c - where the MPI library of this rank lives. Prints one line
 *   rank R: shadow S real R base B
 * S: a library from CKPT_SHADOW_DIR (the shadow libmpich.so.12) is mapped;
 * R: MPICH's real libmpich.so.12 (CKPT_REAL_MPICH) is mapped;
 * B: the real one is loaded in the program's own namespace (dlopen with
 *    RTLD_NOLOAD finds it there) - 0 when it lives in another namespace.
 * Each 0 or 1. Also checks that MPI works (Allreduce of ranks).
 */
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mapped(const char *prefix)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');

		if (path && strncmp(path, prefix, strlen(prefix)) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	const char *shadow_dir = getenv("CKPT_SHADOW_DIR");
	const char *real = getenv("CKPT_REAL_MPICH");
	int rank;
	int size;
	int sum = 0;
	void *h;

	if (!shadow_dir || !real) {
		fprintf(stderr, "mpi_layout: set CKPT_SHADOW_DIR and CKPT_REAL_MPICH\n");
		return 2;
	}
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	h = dlopen(real, RTLD_NOW | RTLD_NOLOAD);
	printf("rank %d: shadow %d real %d base %d sum %d\n", rank, mapped(shadow_dir),
	       mapped(real), h != NULL, sum);
	if (h)
		dlclose(h);
	MPI_Finalize();
	return sum == size * (size - 1) / 2 ? 0 : 1;
}
