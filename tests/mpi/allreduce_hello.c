/* allreduce_hello.c - MPI smoke test: every rank reports its node and the sum
 * of (rank + 1) over all ranks; exits non-zero if MPI_Allreduce disagrees with
 * the closed form n(n+1)/2. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int rank;
	int size;
	long mine;
	long sum;
	const char *node = getenv("SLURMD_NODENAME");

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	mine = rank + 1;
	MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	printf("rank %d of %d on %s sum %ld\n", rank, size, node ? node : "?", sum);
	MPI_Finalize();
	return sum == (long)size * (size + 1) / 2 ? 0 : 1;
}
