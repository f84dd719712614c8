/* consist_ckpt.c - an MPI program whose results must not change when it is
 * paused for checkpoints at random moments (tests/mpi/consist/consist.sh).
 *
 * Configured by the environment (srun passes it on): CONSIST_ITERATIONS
 * (default 16), CONSIST_PAUSES (0), CONSIST_MAX_DELAY_MS (80), CONSIST_SEED
 * (1), CONSIST_ABSENT_RANK (none: a rank that never takes part in a cut,
 * the others must time out with -ETIMEDOUT and go on), CONSIST_STOP
 * ("retry": a thread the stop signal finds inside the library is signalled
 * again until it is outside, as libckpt does; else it parks on its way out
 * through shadow_ckpt_thread_park_on_exit).
 *
 * The main thread runs CONSIST_ITERATIONS rounds of blocking and non-blocking
 * point-to-point (ANY_SOURCE/ANY_TAG, an 8 MiB rendezvous message left in
 * flight across most of a round, a vector datatype, Probe, persistent
 * requests) and collectives (with v variants, non-blocking, on world and on
 * a split communicator), hashing everything it receives; rank 0 prints each
 * rank's hash. A side thread (MPI_THREAD_MULTIPLE) runs rounds of its own
 * on another communicator at the same time. Under the shadow library a second thread plays libckpt's
 * part CONSIST_PAUSES times: the first while the 8 MiB message of round 0
 * is in flight (so it is drained), the others after random delays:
 * shadow_ckpt_prepare, stop
 * the main thread with a signal (parked at once outside the lower half,
 * on its way out otherwise), shadow_ckpt_drain, shadow_ckpt_resume, let it
 * go. It prints the shadow library's counters on stderr ("stats ...").
 * Natively (no shadow library) there are no pauses.
 */
#include "shadow_consist.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
/* Requests complete in other functions, in Waitall over mixed arrays and
 * through the pause thread, which clang's MPI checker does not follow. */
// NOLINTBEGIN(clang-analyzer-optin.mpi.MPI-Checker)
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SMALL	 64	   /* ints in the small late message */
#define BIG	 (1 << 20) /* doubles in the 8 MiB late message */
#define RING	 1000	   /* doubles in the blocking ring exchange */
#define VEC	 100	   /* elements of the vector type */
#define STOP_SIG SIGUSR2
#define WAIT_MS	 60000 /* any wait of the pause thread */

static int rank;
static int size;
static uint64_t hash = 1469598103934665603ull;

/* The shadow library's checkpoint interface (NULL natively). */
static int (*ck_prepare)(int, char *, size_t);
static int (*ck_drain)(int, char *, size_t);
static void (*ck_resume)(void);
static int (*ck_in_lh)(void);
static void (*ck_park_on_exit)(void (*)(void));
static void (*ck_stats)(struct shadow_consist_stats *);

/* The application's threads: main and the side worker. */
#define APP_THREADS 2
static pthread_t app_threads[APP_THREADS];
static int parked;
static int release_app;
static uint64_t stops_deferred; /* signals that hit the thread inside the library */

static void die(const char *what)
{
	fprintf(stderr, "rank %d: %s\n", rank, what);
	MPI_Abort(MPI_COMM_WORLD, 1);
}

static void check(int rc, const char *what)
{
	if (rc != MPI_SUCCESS)
		die(what);
}

static void hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		hash = (hash ^ b[i]) * 1099511628211ull;
}

/* ---- the pause thread: libckpt's part ---- */

static void nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL); // NOLINT(bugprone-signal-handler): async-signal-safe (POSIX)
}

/* Which pause each application thread parked for last: a signal sent
 * again (retry mode) that arrives after the thread parked for this pause
 * is ignored. */
static int stop_gen;
static int thread_parked[APP_THREADS];

static int app_index(void)
{
	pthread_t self = pthread_self();

	for (int t = 0; t < APP_THREADS; t++)
		// NOLINTNEXTLINE(bugprone-signal-handler): pthread_equal compares two words
		if (pthread_equal(app_threads[t], self))
			return t;
	return 0;
}

static void park(void)
{
	int t = app_index();
	int gen = __atomic_load_n(&stop_gen, __ATOMIC_SEQ_CST);

	if (__atomic_load_n(&thread_parked[t], __ATOMIC_SEQ_CST) == gen)
		return;
	__atomic_store_n(&thread_parked[t], gen, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&parked, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&release_app, __ATOMIC_SEQ_CST))
		nap_us(100);
	__atomic_sub_fetch(&parked, 1, __ATOMIC_SEQ_CST);
}

/* As libckpt's stop signal: parks the thread now, or when it leaves the
 * shadow library's code it must not be stopped in (CONSIST_STOP=retry:
 * returns, and the pause thread signals it again, as libckpt does). */
static bool stop_retry;

/* Async-signal-safe in fact (the NOLINTs inside): nanosleep, pthread_equal
 * and errno are, and libckpt's real handler parks with a futex the same way. */
static void on_stop(int sig)
{
	int saved = errno; // NOLINT(bugprone-signal-handler)

	(void)sig;
	if (ck_in_lh()) {
		__atomic_add_fetch(&stops_deferred, 1, __ATOMIC_RELAXED);
		if (!stop_retry)
			ck_park_on_exit(park);
	} else {
		park();
	}
	errno = saved;
}

/* Waits until @want application threads are parked; in retry mode the
 * ones not parked yet are signalled again every millisecond. */
static bool wait_parked(int want)
{
	for (int ms = 0; ms < WAIT_MS; ms++) {
		if (__atomic_load_n(&parked, __ATOMIC_SEQ_CST) == want)
			return true;
		if (stop_retry && want)
			for (int t = 0; t < APP_THREADS; t++)
				if (__atomic_load_n(&thread_parked[t], __ATOMIC_SEQ_CST) !=
				    __atomic_load_n(&stop_gen, __ATOMIC_SEQ_CST))
					pthread_kill(app_threads[t], STOP_SIG);
		nap_us(1000);
	}
	return false;
}

struct pauses {
	int count;
	int max_delay_ms;
	unsigned seed;
	int absent_rank;
};

/* Set by the main thread once the 8 MiB message of round 0 is sent. */
static int big_sent;

/* A rank that stays out of the cut: the others must give up in time. */
static void *absent_check(struct pauses *p)
{
	char why[512];
	int rc;

	if (rank == p->absent_rank)
		return NULL;
	rc = ck_prepare(3000, why, sizeof(why));
	ck_resume();
	if (rc != -ETIMEDOUT) {
		fprintf(stderr,
			"rank %d: prepare without rank %d returned %d, not -ETIMEDOUT: %s\n", rank,
			p->absent_rank, rc, why);
		exit(2);
	}
	fprintf(stderr, "rank %d: prepare timed out as expected: %s\n", rank, why);
	return NULL;
}

static void *pause_thread(void *arg)
{
	struct pauses *p = arg;
	char why[512];
	int rc;

	if (p->absent_rank >= 0)
		return absent_check(p);
	for (int k = 0; k < p->count; k++) {
		if (k == 0) {
			while (!__atomic_load_n(&big_sent, __ATOMIC_SEQ_CST))
				nap_us(100);
		} else {
			nap_us((long)(rand_r(&p->seed) % (unsigned)(p->max_delay_ms + 1)) * 1000);
		}
		rc = ck_prepare(WAIT_MS, why, sizeof(why));
		if (rc) {
			fprintf(stderr, "rank %d: pause %d: shadow_ckpt_prepare: %d: %s\n", rank, k,
				rc, why);
			exit(2);
		}
		__atomic_store_n(&release_app, 0, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&stop_gen, 1, __ATOMIC_SEQ_CST);
		for (int t = 0; t < APP_THREADS; t++)
			pthread_kill(app_threads[t], STOP_SIG);
		if (!wait_parked(APP_THREADS)) {
			fprintf(stderr,
				"rank %d: pause %d: application threads not parked after %d ms\n",
				rank, k, WAIT_MS);
			exit(2);
		}
		rc = ck_drain(WAIT_MS, why, sizeof(why));
		if (rc) {
			fprintf(stderr, "rank %d: pause %d: shadow_ckpt_drain: %d: %s\n", rank, k,
				rc, why);
			exit(2);
		}
		ck_resume();
		__atomic_store_n(&release_app, 1, __ATOMIC_SEQ_CST);
		if (!wait_parked(0)) {
			fprintf(stderr, "rank %d: pause %d: application threads did not go on\n",
				rank, k);
			exit(2);
		}
	}
	return NULL;
}

static bool shadow_found(void)
{
	ck_prepare = (int (*)(int, char *, size_t))dlsym(RTLD_DEFAULT, "shadow_ckpt_prepare");
	ck_drain = (int (*)(int, char *, size_t))dlsym(RTLD_DEFAULT, "shadow_ckpt_drain");
	ck_resume = (void (*)(void))dlsym(RTLD_DEFAULT, "shadow_ckpt_resume");
	ck_in_lh = (int (*)(void))dlsym(RTLD_DEFAULT, "shadow_ckpt_thread_in_lh");
	ck_park_on_exit =
		(void (*)(void (*)(void)))dlsym(RTLD_DEFAULT, "shadow_ckpt_thread_park_on_exit");
	ck_stats = (void (*)(struct shadow_consist_stats *))dlsym(RTLD_DEFAULT,
								  "shadow_consist_stats");
	return ck_prepare && ck_drain && ck_resume && ck_in_lh && ck_park_on_exit && ck_stats;
}

/* ---- the work ---- */

struct work {
	MPI_Comm half; /* even / odd ranks */
	MPI_Comm any;  /* dup of world: ANY_TAG sees only its own traffic */
	MPI_Comm side; /* dup of world for the side worker thread */
	int iterations;
	MPI_Datatype vec; /* every other int */
	double *big_send;
	double *big_recv;
	int pers_out[SMALL];
	int pers_in[SMALL];
	MPI_Request pers[2]; /* persistent send to next, receive from prev */
};

static int next_rank(void)
{
	return (rank + 1) % size;
}

static int prev_rank(void)
{
	return (rank + size - 1) % size;
}

static void ring_blocking(int it)
{
	double out[RING];
	double in[RING];

	for (int i = 0; i < RING; i++)
		out[i] = rank * 1e6 + it * 1e3 + i * 0.5;
	if (rank % 2 == 0) {
		check(MPI_Send(out, RING, MPI_DOUBLE, next_rank(), 1, MPI_COMM_WORLD), "Send");
		check(MPI_Recv(in, RING, MPI_DOUBLE, prev_rank(), 1, MPI_COMM_WORLD,
			       MPI_STATUS_IGNORE),
		      "Recv");
	} else {
		check(MPI_Recv(in, RING, MPI_DOUBLE, prev_rank(), 1, MPI_COMM_WORLD,
			       MPI_STATUS_IGNORE),
		      "Recv");
		check(MPI_Ssend(out, RING, MPI_DOUBLE, next_rank(), 1, MPI_COMM_WORLD), "Ssend");
	}
	hash_bytes(in, sizeof(in));
}

/* Everyone sends to everyone; receives with ANY_SOURCE/ANY_TAG, so the
 * arrival order varies: folded in an order-independent way. */
static void any_source(struct work *w, int it)
{
	int out[4][16];
	int in[64][16];
	MPI_Request reqs[128];
	MPI_Status st[128];
	uint64_t sum = 0;

	memset(st, 0, sizeof(st));
	memset(in, 0, sizeof(in));
	int n = 0;

	for (int p = 0; p < size - 1; p++)
		check(MPI_Irecv(in[p], 16, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, w->any,
				&reqs[n++]),
		      "Irecv any");
	for (int p = 0, k = 0; p < size; p++) {
		if (p == rank)
			continue;
		for (int i = 0; i < 16; i++)
			out[k][i] = rank * 1000 + p * 100 + it + i;
		check(MPI_Isend(out[k], 16, MPI_INT, p, 100 + rank, w->any, &reqs[n++]),
		      "Isend any");
		k++;
	}
	check(MPI_Waitall(n, reqs, st), "Waitall any");
	for (int p = 0; p < size - 1; p++) {
		int count = 0;

		MPI_Get_count(&st[p], MPI_INT, &count);
		if (st[p].MPI_TAG != 100 + st[p].MPI_SOURCE || count != 16 ||
		    in[p][0] != st[p].MPI_SOURCE * 1000 + rank * 100 + it)
			die("ANY_SOURCE receive: wrong status or data");
		for (int i = 0; i < 16; i++)
			sum += (uint64_t)in[p][i] * (uint64_t)(st[p].MPI_SOURCE + 7);
	}
	hash_bytes(&sum, sizeof(sum));
}

static void vector_exchange(struct work *w, int it)
{
	int out[2 * VEC];
	int in[2 * VEC];
	MPI_Status st;
	int count = 0;

	for (int i = 0; i < 2 * VEC; i++) {
		out[i] = rank * 100000 + it * 1000 + i;
		in[i] = -1;
	}
	check(MPI_Sendrecv(out, 1, w->vec, next_rank(), 2, in, 1, w->vec, prev_rank(), 2,
			   MPI_COMM_WORLD, &st),
	      "Sendrecv vector");
	MPI_Get_count(&st, w->vec, &count);
	if (count != 1 || in[1] != -1)
		die("vector receive: wrong count or touched a gap");
	hash_bytes(in, sizeof(in));
}

static void probe_exchange(int it)
{
	int len = 10 + (rank * 7 + it) % 50;
	int out[64];
	int *in;
	MPI_Status st;
	int count = 0;

	for (int i = 0; i < len; i++)
		out[i] = rank + it * i;
	check(MPI_Send(out, len, MPI_INT, next_rank(), 3, MPI_COMM_WORLD), "Send probe");
	check(MPI_Probe(MPI_ANY_SOURCE, 3, MPI_COMM_WORLD, &st), "Probe");
	MPI_Get_count(&st, MPI_INT, &count);
	if (st.MPI_SOURCE != prev_rank() || count != 10 + (prev_rank() * 7 + it) % 50)
		die("Probe: wrong source or count");
	in = malloc((size_t)count * sizeof(*in));
	check(MPI_Recv(in, count, MPI_INT, st.MPI_SOURCE, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
	      "Recv probe");
	hash_bytes(in, (size_t)count * sizeof(*in));
	free(in);
}

static void persistent_round(struct work *w, int it)
{
	MPI_Status st[2];

	for (int i = 0; i < SMALL; i++)
		w->pers_out[i] = rank * 7 + it * 3 + i;
	check(MPI_Startall(2, w->pers), "Startall");
	check(MPI_Waitall(2, w->pers, st), "Waitall persistent");
	hash_bytes(w->pers_in, sizeof(w->pers_in));
}

static void collectives_world(int it)
{
	double a[32];
	double r[32];
	int counts[64];
	int displs[64];
	int mine[64];
	int all[64 * 8];
	int sc[64], sd[64], rc[64], rd[64];
	int sbuf[64 * 8], rbuf[64 * 8];
	long scan = rank + it;
	long scanned = 0;
	int bc[8];
	MPI_Request req;
	double ia = rank + it * 0.25;
	double ir = 0;
	int off = 0;

	for (int i = 0; i < 32; i++)
		a[i] = rank * 0.5 + it + i;
	check(MPI_Allreduce(a, r, 32, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "Allreduce");
	hash_bytes(r, sizeof(r));
	for (int i = 0; i < 8; i++)
		bc[i] = rank == it % size ? it * 11 + i : 0;
	check(MPI_Bcast(bc, 8, MPI_INT, it % size, MPI_COMM_WORLD), "Bcast");
	hash_bytes(bc, sizeof(bc));
	for (int p = 0; p < size; p++) {
		counts[p] = 1 + (p + it) % 4;
		displs[p] = off;
		off += counts[p];
	}
	for (int i = 0; i < counts[rank]; i++)
		mine[i] = rank * 50 + it + i;
	check(MPI_Allgatherv(mine, counts[rank], MPI_INT, all, counts, displs, MPI_INT,
			     MPI_COMM_WORLD),
	      "Allgatherv");
	hash_bytes(all, (size_t)off * sizeof(int));
	off = 0;
	for (int p = 0; p < size; p++) {
		sc[p] = 1 + (rank + p + it) % 3;
		sd[p] = off;
		for (int i = 0; i < sc[p]; i++)
			sbuf[off + i] = rank * 1000 + p * 10 + i + it;
		off += sc[p];
	}
	off = 0;
	for (int p = 0; p < size; p++) {
		rc[p] = 1 + (p + rank + it) % 3;
		rd[p] = off;
		off += rc[p];
	}
	check(MPI_Alltoallv(sbuf, sc, sd, MPI_INT, rbuf, rc, rd, MPI_INT, MPI_COMM_WORLD),
	      "Alltoallv");
	hash_bytes(rbuf, (size_t)off * sizeof(int));
	check(MPI_Scan(&scan, &scanned, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD), "Scan");
	hash_bytes(&scanned, sizeof(scanned));
	check(MPI_Iallreduce(&ia, &ir, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, &req), "Iallreduce");
	check(MPI_Wait(&req, MPI_STATUS_IGNORE), "Wait Iallreduce");
	hash_bytes(&ir, sizeof(ir));
	check(MPI_Barrier(MPI_COMM_WORLD), "Barrier");
}

static void collectives_half(struct work *w, int it)
{
	int hsize = 0;
	int v = rank * 3 + it;
	int sum = 0;
	int got[64];
	int gcounts[64];
	int gdispls[64];
	int gmine[4];
	int gall[256];
	int off = 0;
	int hrank = 0;

	MPI_Comm_size(w->half, &hsize);
	MPI_Comm_rank(w->half, &hrank);
	check(MPI_Allreduce(&v, &sum, 1, MPI_INT, MPI_SUM, w->half), "Allreduce half");
	check(MPI_Allgather(&v, 1, MPI_INT, got, 1, MPI_INT, w->half), "Allgather half");
	hash_bytes(&sum, sizeof(sum));
	hash_bytes(got, (size_t)hsize * sizeof(int));
	for (int p = 0; p < hsize; p++) {
		gcounts[p] = 1 + (p + it) % 3;
		gdispls[p] = off;
		off += gcounts[p];
	}
	for (int i = 0; i < gcounts[hrank]; i++)
		gmine[i] = v + i;
	check(MPI_Gatherv(gmine, gcounts[hrank], MPI_INT, gall, gcounts, gdispls, MPI_INT, 0,
			  w->half),
	      "Gatherv half");
	if (hrank == 0)
		hash_bytes(gall, (size_t)off * sizeof(int));
}

static void iteration(struct work *w, int it)
{
	int small_out[SMALL];
	int small_in[SMALL];
	MPI_Request late[2] = { MPI_REQUEST_NULL, MPI_REQUEST_NULL };
	MPI_Request big_recv = MPI_REQUEST_NULL;
	MPI_Status late_st[2];
	bool big = it % 4 == 0;

	/* Late messages: sent now, received at the end of the round, so they
	 * are in flight while most of the round runs. */
	for (int i = 0; i < SMALL; i++)
		small_out[i] = rank * 31 + it * 17 + i;
	check(MPI_Isend(small_out, SMALL, MPI_INT, next_rank(), 1000 + it, MPI_COMM_WORLD,
			&late[0]),
	      "Isend late");
	if (big) {
		for (int i = 0; i < BIG; i += 4096)
			w->big_send[i] = rank + it + i * 1e-3;
		check(MPI_Isend(w->big_send, BIG, MPI_DOUBLE, next_rank(), 2000 + it,
				MPI_COMM_WORLD, &late[1]),
		      "Isend big");
		__atomic_store_n(&big_sent, 1, __ATOMIC_SEQ_CST);
	}
	ring_blocking(it);
	any_source(w, it);
	vector_exchange(w, it);
	probe_exchange(it);
	persistent_round(w, it);
	collectives_world(it);
	collectives_half(w, it);
	if (big) {
		check(MPI_Irecv(w->big_recv, BIG, MPI_DOUBLE, prev_rank(), 2000 + it,
				MPI_COMM_WORLD, &big_recv),
		      "Irecv big");
		check(MPI_Wait(&big_recv, MPI_STATUS_IGNORE), "Wait big");
		for (int i = 0; i < BIG; i += 4096)
			hash_bytes(&w->big_recv[i], sizeof(double));
	}
	check(MPI_Recv(small_in, SMALL, MPI_INT, prev_rank(), 1000 + it, MPI_COMM_WORLD,
		       MPI_STATUS_IGNORE),
	      "Recv late");
	hash_bytes(small_in, sizeof(small_in));
	check(MPI_Waitall(2, late, late_st), "Waitall late");
}

/* ---- the side worker: a second application thread ---- */

static uint64_t side_hash = 1469598103934665603ull;
static int side_finish; /* set by main once the pauses are over */

static void side_hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		side_hash = (side_hash ^ b[i]) * 1099511628211ull;
}

static void side_round(struct work *w, int it)
{
	int out[256];
	int in[256];
	int sum = 0;
	int v = rank * 5 + it;
	int a = rank + it;
	int b = -1;
	MPI_Request reqs[2];
	int idx = 0;

	for (int i = 0; i < 256; i++)
		out[i] = rank * 4096 + it * 16 + i;
	check(MPI_Sendrecv(out, 256, MPI_INT, next_rank(), 5, in, 256, MPI_INT, prev_rank(), 5,
			   w->side, MPI_STATUS_IGNORE),
	      "side Sendrecv");
	side_hash_bytes(in, sizeof(in));
	check(MPI_Allreduce(&v, &sum, 1, MPI_INT, MPI_SUM, w->side), "side Allreduce");
	side_hash_bytes(&sum, sizeof(sum));
	check(MPI_Irecv(&b, 1, MPI_INT, next_rank(), 6, w->side, &reqs[0]), "side Irecv");
	check(MPI_Isend(&a, 1, MPI_INT, prev_rank(), 6, w->side, &reqs[1]), "side Isend");
	for (int k = 0; k < 2; k++)
		check(MPI_Waitany(2, reqs, &idx, MPI_STATUS_IGNORE), "side Waitany");
	side_hash_bytes(&b, sizeof(b));
}

static void *side_worker(void *arg)
{
	struct work *w = arg;

	for (int it = 0; it < w->iterations; it++)
		side_round(w, it);
	/* Stays for the pauses still to come: a thread that ended cannot be signalled. */
	while (!__atomic_load_n(&side_finish, __ATOMIC_SEQ_CST))
		nap_us(1000);
	return NULL;
}

static void work_setup(struct work *w)
{
	check(MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &w->half), "Comm_split");
	check(MPI_Comm_dup(MPI_COMM_WORLD, &w->any), "Comm_dup");
	check(MPI_Comm_dup(MPI_COMM_WORLD, &w->side), "Comm_dup side");
	check(MPI_Type_vector(VEC, 1, 2, MPI_INT, &w->vec), "Type_vector");
	check(MPI_Type_commit(&w->vec), "Type_commit");
	w->big_send = calloc(BIG, sizeof(double));
	w->big_recv = calloc(BIG, sizeof(double));
	if (!w->big_send || !w->big_recv)
		die("out of memory");
	check(MPI_Send_init(w->pers_out, SMALL, MPI_INT, next_rank(), 4, MPI_COMM_WORLD,
			    &w->pers[0]),
	      "Send_init");
	check(MPI_Recv_init(w->pers_in, SMALL, MPI_INT, prev_rank(), 4, MPI_COMM_WORLD,
			    &w->pers[1]),
	      "Recv_init");
}

static void print_hashes(void)
{
	uint64_t all[64];

	check(MPI_Gather(&hash, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD),
	      "Gather hashes");
	if (rank != 0)
		return;
	for (int p = 0; p < size; p++)
		printf("rank %d hash %016" PRIx64 "\n", p, all[p]);
	printf("result: done\n");
	fflush(stdout);
}

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : dflt;
}

int main(int argc, char **argv)
{
	struct pauses pauses = { 0, 0, 0, -1 };
	struct work w;
	pthread_t pauser;
	bool pausing;
	int iterations;
	int level = 0;
	pthread_t side;

	iterations = env_int("CONSIST_ITERATIONS", 16);
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &level);
	if (level != MPI_THREAD_MULTIPLE) {
		fprintf(stderr, "MPI_THREAD_MULTIPLE not provided (%d)\n", level);
		return 1;
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size > 64)
		die("at most 64 ranks");
	memset(&w, 0, sizeof(w));
	w.iterations = iterations;
	work_setup(&w);
	pauses.absent_rank = env_int("CONSIST_ABSENT_RANK", -1);
	pausing = (env_int("CONSIST_PAUSES", 0) > 0 || pauses.absent_rank >= 0) && shadow_found();
	if (pausing) {
		pauses.count = env_int("CONSIST_PAUSES", 0);
		pauses.max_delay_ms = env_int("CONSIST_MAX_DELAY_MS", 80);
		pauses.seed = (unsigned)env_int("CONSIST_SEED", 1) * 1000u + (unsigned)rank;
		const char *stop = getenv("CONSIST_STOP");

		stop_retry = stop && !strcmp(stop, "retry");
		signal(STOP_SIG, on_stop);
	}
	app_threads[0] = pthread_self();
	if (pthread_create(&side, NULL, side_worker, &w))
		die("pthread_create side");
	app_threads[1] = side;
	if (pausing && pthread_create(&pauser, NULL, pause_thread, &pauses))
		die("pthread_create pauser");
	for (int it = 0; it < iterations; it++)
		iteration(&w, it);
	if (pausing)
		pthread_join(pauser, NULL);
	__atomic_store_n(&side_finish, 1, __ATOMIC_SEQ_CST);
	pthread_join(side, NULL);
	hash_bytes(&side_hash, sizeof(side_hash));
	print_hashes();
	if (ck_stats) {
		struct shadow_consist_stats s;

		ck_stats(&s);
		fprintf(stderr,
			"stats rank %d pauses %d cuts %" PRIu64 " rounds %" PRIu64
			" drains %" PRIu64 " drained %" PRIu64 " bytes %" PRIu64 " served %" PRIu64
			" completed %" PRIu64 " reposted %" PRIu64 " deferred %" PRIu64 "\n",
			rank, pauses.count, s.cuts, s.cut_rounds, s.drains, s.drained,
			s.drained_bytes, s.served, s.completed, s.reposted, stops_deferred);
	}
	MPI_Request_free(&w.pers[0]);
	MPI_Request_free(&w.pers[1]);
	MPI_Type_free(&w.vec);
	MPI_Comm_free(&w.half);
	MPI_Comm_free(&w.any);
	MPI_Comm_free(&w.side);
	MPI_Finalize();
	return 0;
}
// NOLINTEND(clang-analyzer-optin.mpi.MPI-Checker)
