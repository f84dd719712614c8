/* mpi_unsupported.c - calls MPI_Win_create (one-sided communication), which
 * the shadow libmpich.so.12 does not support yet: under it the job must stop
 * with a message naming the function, never run on with a wrong result.
 * Natively it prints "win ok". */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	static int window[64];
	MPI_Win win;

	MPI_Init(&argc, &argv);
	MPI_Win_create(window, sizeof(window), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
	printf("win ok\n");
	MPI_Win_free(&win);
	MPI_Finalize();
	return 0;
}
