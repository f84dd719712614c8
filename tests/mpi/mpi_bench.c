/* mpi_bench.c - the cost of MPI calls, for comparing native MPICH with the
 * shadow libmpich.so.12 (contrib/bench/mpi_run). Ranks 0 and 1 measure
 * point-to-point, all ranks the collectives. Rank 0 prints
 *   latency_us      8-byte ping-pong, half a round trip
 *   bandwidth_MBps  4 MiB messages, 8 in flight, acknowledged per window
 *   allreduce8_us   MPI_Allreduce of one double (8 bytes)
 *   allreduce1M_us  MPI_Allreduce of 1 MiB of doubles
 *   latency_nb_us   the same ping-pong as Isend/Irecv + MPI_Wait
 *   latency_test_us the same as Isend/Irecv + a loop of MPI_Test (what the
 *                   shadow library makes of a blocking call, done natively)
 * Run as a singleton (1 rank), it measures the CPU cost of the calls alone,
 * with no peer to wait for (what a loaded machine disturbs least):
 *   self_msg_us     one 8-byte message to itself: Irecv, Send, Wait
 *   self_nb_us      the same as Irecv, Isend, Waitall
 *   self_ar8_us     MPI_Allreduce of one double on 1 rank
 * Each figure is the best of BENCH_TRIALS (default 5) timed loops, after a
 * warm-up, to damp the noise of a shared VM. BENCH_THREAD=multiple
 * initialises with MPI_Init_thread(MPI_THREAD_MULTIPLE), the level the
 * shadow library's lower half always runs at.
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

/* The ping-pong with non-blocking calls, completed by MPI_Wait (@test 0)
 * or by a loop of MPI_Test (@test 1). */
static void xfer(char *buf, int bytes, int peer, int send, int test)
{
	MPI_Request req;
	int flag = 0;

	if (send)
		MPI_Isend(buf, bytes, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &req);
	else
		MPI_Irecv(buf, bytes, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &req);
	if (!test) {
		MPI_Wait(&req, MPI_STATUS_IGNORE);
		return;
	}
	while (!flag)
		MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
} // NOLINT(clang-analyzer-optin.mpi.MPI-Checker): MPI_Test completed it

static double pingpong_nb(char *buf, int bytes, int iters, int test)
{
	double t0 = MPI_Wtime();

	for (int i = 0; i < iters; i++) {
		if (rank == 0) {
			xfer(buf, bytes, 1, 1, test);
			xfer(buf, bytes, 1, 0, test);
		} else if (rank == 1) {
			xfer(buf, bytes, 0, 0, test);
			xfer(buf, bytes, 0, 1, test);
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

/* The singleton's figures: @what 0 Irecv+Send+Wait, 1 Irecv+Isend+Waitall,
 * 2 Allreduce of one double; microseconds per operation. */
static double self_loop(int what, int iters)
{
	double in = 1, out = 0;
	char sbuf[8] = { 0 }, rbuf[8];
	MPI_Request req[2];
	MPI_Status st[2];
	double t0 = MPI_Wtime();

	for (int i = 0; i < iters; i++) {
		if (what == 2) {
			MPI_Allreduce(&in, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
			continue;
		}
		MPI_Irecv(rbuf, 8, MPI_BYTE, 0, 5, MPI_COMM_WORLD, &req[0]);
		if (what == 0) {
			MPI_Send(sbuf, 8, MPI_BYTE, 0, 5, MPI_COMM_WORLD);
			MPI_Wait(&req[0], &st[0]);
		} else {
			MPI_Isend(sbuf, 8, MPI_BYTE, 0, 5, MPI_COMM_WORLD, &req[1]);
			MPI_Waitall(2, req, st);
		}
	}
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
	double lat_nb = 1e30;
	double lat_test = 1e30;
	const char *thr = getenv("BENCH_THREAD");
	int provided;

	if (thr && !strcmp(thr, "multiple"))
		MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	else
		MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (!buf || !in || !out) {
		fprintf(stderr, "mpi_bench: out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
		free(buf);
		free(in);
		free(out);
		return 2;
	}
	if (size == 1) {
		double self[3] = { 1e30, 1e30, 1e30 };

		for (int w = 0; w < 3; w++)
			self_loop(w, 20000);
		for (int t = 0; t < trials; t++)
			for (int w = 0; w < 3; w++)
				self[w] = best(self[w], self_loop(w, 200000), 0);
		printf("self_msg_us %.4f\nself_nb_us %.4f\nself_ar8_us %.4f\n", self[0], self[1],
		       self[2]);
		MPI_Finalize();
		free(buf);
		free(in);
		free(out);
		return 0;
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
		MPI_Barrier(MPI_COMM_WORLD);
		lat_nb = best(lat_nb, pingpong_nb(buf, 8, 100000, 0), 0);
		MPI_Barrier(MPI_COMM_WORLD);
		lat_test = best(lat_test, pingpong_nb(buf, 8, 100000, 1), 0);
	}
	if (rank == 0)
		printf("latency_us %.3f\nbandwidth_MBps %.1f\nallreduce8_us %.3f\n"
		       "allreduce1M_us %.1f\nlatency_nb_us %.3f\nlatency_test_us %.3f\n",
		       lat, bw, ar8, ar1m, lat_nb, lat_test);
	MPI_Finalize();
	free(buf);
	free(in);
	free(out);
	return 0;
}
