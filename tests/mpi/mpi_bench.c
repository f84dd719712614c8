/* mpi_bench.c - the cost of MPI calls, for comparing native MPICH with the
 * shadow libmpich.so.12 (contrib/bench/mpi_run). Ranks 0 and 1 measure
 * point-to-point, all ranks the collectives. Rank 0 prints
 *   latency_us      8-byte ping-pong, half a round trip
 *   bandwidth_MBps  4 MiB messages, 8 in flight, acknowledged per window
 *   allreduce8_us   MPI_Allreduce of one double (8 bytes)
 *   allreduce1M_us  MPI_Allreduce of 1 MiB of doubles
 * Each figure is the best of BENCH_TRIALS (default 5) timed loops, after a
 * warm-up, to damp the noise of a shared VM.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BW_SIZE	  (4 << 20)
#define BW_WINDOW 8
#define AR_BIG	  ((1 << 20) / 8)

static int rank;
static int size;

static double pingpong(char *buf, int bytes, int iters)
{
	double t0 = MPI_Wtime();

	for (int i = 0; i < iters; i++) {
		if (rank == 0) {
			MPI_Send(buf, bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
			MPI_Recv(buf, bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else if (rank == 1) {
			MPI_Recv(buf, bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(buf, bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
		}
	}
	return (MPI_Wtime() - t0) / iters / 2 * 1e6;
}

static double bandwidth(char *buf, int windows)
{
	MPI_Request req[BW_WINDOW];
	MPI_Status st[BW_WINDOW];
	char ack = 0;
	double t0 = MPI_Wtime();

	for (int w = 0; w < windows; w++) {
		if (rank == 0) {
			for (int i = 0; i < BW_WINDOW; i++)
				MPI_Isend(buf, BW_SIZE, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &req[i]);
			MPI_Waitall(BW_WINDOW, req, st);
			MPI_Recv(&ack, 1, MPI_BYTE, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else if (rank == 1) {
			for (int i = 0; i < BW_WINDOW; i++)
				MPI_Irecv(buf + (size_t)i * BW_SIZE, BW_SIZE, MPI_BYTE, 0, 2,
					  MPI_COMM_WORLD, &req[i]);
			MPI_Waitall(BW_WINDOW, req, st);
			MPI_Send(&ack, 1, MPI_BYTE, 0, 3, MPI_COMM_WORLD);
		}
	}
	return (double)BW_SIZE * BW_WINDOW * windows / (MPI_Wtime() - t0) / 1e6;
}

static double allreduce(double *in, double *out, int count, int iters)
{
	double t0;

	MPI_Barrier(MPI_COMM_WORLD);
	t0 = MPI_Wtime();
	for (int i = 0; i < iters; i++)
		MPI_Allreduce(in, out, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
	return (MPI_Wtime() - t0) / iters * 1e6;
}

static double best(double a, double b, int higher)
{
	return (higher ? a > b : a < b) ? a : b;
}

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_TRIALS");
	int trials = env ? atoi(env) : 5;
	char *buf = malloc((size_t)BW_SIZE * BW_WINDOW);
	double *in = malloc(AR_BIG * sizeof(double));
	double *out = malloc(AR_BIG * sizeof(double));
	double lat = 1e30;
	double bw = 0;
	double ar8 = 1e30;
	double ar1m = 1e30;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (!buf || !in || !out || size < 2) {
		fprintf(stderr, "mpi_bench: needs 2+ ranks and memory\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
		free(buf);
		free(in);
		free(out);
		return 2;
	}
	memset(buf, 1, (size_t)BW_SIZE * BW_WINDOW);
	for (int i = 0; i < AR_BIG; i++)
		in[i] = i;
	pingpong(buf, 8, 2000);
	bandwidth(buf, 2);
	allreduce(in, out, 1, 500);
	allreduce(in, out, AR_BIG, 5);
	for (int t = 0; t < trials; t++) {
		MPI_Barrier(MPI_COMM_WORLD);
		lat = best(lat, pingpong(buf, 8, 100000), 0);
		MPI_Barrier(MPI_COMM_WORLD);
		bw = best(bw, bandwidth(buf, 40), 1);
		ar8 = best(ar8, allreduce(in, out, 1, 50000), 0);
		ar1m = best(ar1m, allreduce(in, out, AR_BIG, 100), 0);
	}
	if (rank == 0)
		printf("latency_us %.3f\nbandwidth_MBps %.1f\nallreduce8_us %.3f\n"
		       "allreduce1M_us %.1f\n",
		       lat, bw, ar8, ar1m);
	MPI_Finalize();
	free(buf);
	free(in);
	free(out);
	return 0;
}
