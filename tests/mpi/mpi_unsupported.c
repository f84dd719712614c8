/* mpi_unsupported.c - calls MPI_Cart_create, which the shadow libmpich.so.12
 * does not support yet: under it the job must stop with a message naming
 * the function, never run on with a wrong result. Natively it prints
 * "cart ok". */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	MPI_Comm cart;
	int size;
	int dims[1];
	int periods[1] = { 1 };

	MPI_Init(&argc, &argv);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	dims[0] = size;
	MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &cart);
	printf("cart ok\n");
	MPI_Comm_free(&cart);
	MPI_Finalize();
	return 0;
}
