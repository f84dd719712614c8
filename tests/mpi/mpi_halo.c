/* mpi_halo.c - a compute + halo-exchange mini-app: a 2-D Jacobi stencil on an
 * NX x NY grid of doubles split into row blocks, one per rank. Every
 * iteration posts Irecv/Isend of the two boundary rows to the neighbours,
 * Waitall, relaxes the block (5-point stencil, the compute that dominates)
 * and sums the residual over all ranks with an 8-byte MPI_Allreduce.
 *
 *   mpi_halo NX NY ITERS             bench mode (contrib/bench/mpi_run)
 *   mpi_halo NX NY ITERS SLEEP_MS    checkpoint mode (contrib/bench/mpi_ckpt)
 *
 * Bench mode times ITERS iterations BENCH_TRIALS times (default 5) after a
 * warm-up and rank 0 prints the best trial:
 *   halo_iter_us   wall time per iteration
 *   halo_comm_us   of which in MPI (halo exchange + Allreduce), rank 0
 * Checkpoint mode sleeps SLEEP_MS after every iteration, and every rank
 * prints CLOCK_REALTIME stamps (comparable across ranks on one host):
 *   "rank R first T"           after MPI_Init and the first iteration (its
 *                              halo exchange and Allreduce)
 *   "rank R gap G iter I T"    an iteration that ended G ms (> HALO_GAP_MS,
 *                              default 100) after the previous one, beyond
 *                              SLEEP_MS: the application's pause at a
 *                              checkpoint, and after a restore the first
 *                              iteration done (T) since the image was taken
 *   "rank R done I sum S"      at the end, S a checksum of the block.
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct halo {
	int rank;
	int size;
	int nx;	    /* columns */
	int rows;   /* rows of this rank, without the 2 ghost rows */
	double *u;  /* (rows + 2) x nx, current */
	double *un; /* (rows + 2) x nx, next */
	double comm_s;
};

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check(int rc, const char *what)
{
	if (rc != MPI_SUCCESS) {
		fprintf(stderr, "mpi_halo: %s failed (%d)\n", what, rc);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
}

static void halo_init(struct halo *h, int nx, int ny)
{
	size_t n;

	check(MPI_Comm_rank(MPI_COMM_WORLD, &h->rank), "Comm_rank");
	check(MPI_Comm_size(MPI_COMM_WORLD, &h->size), "Comm_size");
	h->nx = nx;
	h->rows = ny / h->size + (h->rank < ny % h->size);
	n = (size_t)(h->rows + 2) * (size_t)nx;
	h->u = malloc(n * sizeof(double));
	h->un = malloc(n * sizeof(double));
	if (!h->u || !h->un || h->rows < 1 || nx < 3) {
		fprintf(stderr, "mpi_halo: bad size or out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
		exit(2); /* MPI_Abort does not return; the compiler cannot know */
	}
	/* Fixed boundary: hot left column; the rest starts from a pattern. */
	for (size_t i = 0; i < n; i++)
		h->u[i] = (double)((i * 2654435761u + (size_t)h->rank) % 1000) * 1e-3;
	for (int r = 0; r < h->rows + 2; r++)
		h->u[(size_t)r * nx] = 100.0;
	memcpy(h->un, h->u, n * sizeof(double));
}

/* One iteration: returns the global residual. */
static double halo_step(struct halo *h)
{
	int up = h->rank > 0 ? h->rank - 1 : MPI_PROC_NULL;
	int down = h->rank < h->size - 1 ? h->rank + 1 : MPI_PROC_NULL;
	size_t nx = (size_t)h->nx;
	MPI_Request req[4];
	MPI_Status st[4];
	double local = 0, global = 0, t0 = MPI_Wtime(), t1, t2;

	check(MPI_Irecv(h->u, h->nx, MPI_DOUBLE, up, 1, MPI_COMM_WORLD, &req[0]), "Irecv");
	check(MPI_Irecv(h->u + (size_t)(h->rows + 1) * nx, h->nx, MPI_DOUBLE, down, 2,
			MPI_COMM_WORLD, &req[1]),
	      "Irecv");
	check(MPI_Isend(h->u + nx, h->nx, MPI_DOUBLE, up, 2, MPI_COMM_WORLD, &req[2]), "Isend");
	check(MPI_Isend(h->u + (size_t)h->rows * nx, h->nx, MPI_DOUBLE, down, 1, MPI_COMM_WORLD,
			&req[3]),
	      "Isend");
	check(MPI_Waitall(4, req, st), "Waitall");
	t1 = MPI_Wtime();
	for (int r = 1; r <= h->rows; r++) {
		const double *c = h->u + (size_t)r * nx;
		double *o = h->un + (size_t)r * nx;

		for (size_t x = 1; x < nx - 1; x++) {
			double v = 0.25 * (c[x - 1] + c[x + 1] + c[x - nx] + c[x + nx]);

			local += (v - c[x]) * (v - c[x]);
			o[x] = v;
		}
	}
	double *t = h->u;

	h->u = h->un;
	h->un = t;
	t2 = MPI_Wtime();
	check(MPI_Allreduce(&local, &global, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "Allreduce");
	h->comm_s += (t1 - t0) + (MPI_Wtime() - t2);
	return global;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void bench(struct halo *h, int iters)
{
	const char *env = getenv("BENCH_TRIALS");
	int trials = env ? atoi(env) : 5;
	double best = 1e30, best_comm = 0;

	for (int i = 0; i < iters / 4 + 1; i++)
		halo_step(h);
	for (int t = 0; t < trials; t++) {
		check(MPI_Barrier(MPI_COMM_WORLD), "Barrier");
		h->comm_s = 0;
		double t0 = MPI_Wtime();

		for (int i = 0; i < iters; i++)
			halo_step(h);
		double per = (MPI_Wtime() - t0) / iters;

		/* Rank 0's time decides, the same on all ranks. */
		check(MPI_Bcast(&per, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD), "Bcast");
		if (per < best) {
			best = per;
			best_comm = h->comm_s / iters;
		}
	}
	if (h->rank == 0)
		printf("halo_iter_us %.1f\nhalo_comm_us %.1f\n", best * 1e6, best_comm * 1e6);
}

static void run(struct halo *h, int iters, int pause)
{
	const char *env = getenv("HALO_GAP_MS");
	double gap_min = (env ? atof(env) : 100) * 1e-3 + pause * 1e-3;
	double prev, t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	halo_step(h);
	prev = now_real();
	printf("rank %d first %.6f\n", h->rank, prev);
	for (int i = 1; i < iters; i++) {
		sleep_ms(pause);
		halo_step(h);
		t = now_real();
		if (t - prev > gap_min)
			printf("rank %d gap %.1f iter %d %.6f\n", h->rank,
			       (t - prev - pause * 1e-3) * 1e3, i, t);
		prev = t;
	}
	double sum = 0;

	for (int r = 1; r <= h->rows; r++)
		for (int x = 0; x < h->nx; x++)
			sum += h->u[(size_t)r * h->nx + x];
	printf("rank %d done %d sum %.9e\n", h->rank, iters, sum);
}

int main(int argc, char **argv)
{
	static struct halo h;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: mpi_halo NX NY ITERS [SLEEP_MS]\n");
		return 2;
	}
	check(MPI_Init(&argc, &argv), "Init");
	halo_init(&h, atoi(argv[1]), atoi(argv[2]));
	if (argc == 4)
		bench(&h, atoi(argv[3]));
	else
		run(&h, atoi(argv[3]), atoi(argv[4]));
	check(MPI_Finalize(), "Finalize");
	free(h.u);
	free(h.un);
	return 0;
}
