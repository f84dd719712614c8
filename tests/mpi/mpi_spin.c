/* mpi_spin.c - an MPI program that stays in its compute loop long enough
 * to be asked for a checkpoint: prints "ready", then one line per step. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 50;
	struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
	long sum = 0;
	int rank;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	printf("ready rank %d\n", rank);
	fflush(stdout);
	for (int i = 0; i < steps; i++) {
		long mine = i + rank;
		long all = 0;

		MPI_Allreduce(&mine, &all, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
		sum += all;
		nanosleep(&tick, NULL);
	}
	printf("done %ld\n", sum);
	MPI_Finalize();
	return 0;
}
