/* mpi_cycle.c - an MPI program to checkpoint at random moments: every
 * iteration mixes blocking and non-blocking point-to-point (a ring with
 * Sendrecv on a periodic Cart_create communicator, neighbours from
 * Cart_shift and a user attribute on it; ANY_SOURCE receives after a
 * Probe, an Mprobe or an Improbe on a Comm_dup communicator, a vector
 * datatype, and every 16th iteration a 4 MiB rendezvous message
 * in flight while the ranks sleep), collectives on MPI_COMM_WORLD
 * (Barrier, Allreduce, Bcast of a struct datatype, Gatherv, Scatterv,
 * Allgatherv, Alltoall, Alltoallv, Reduce_scatter_block, Scan, and an
 * Iallreduce, an Iallgatherv and an Ialltoallw (a struct datatype to some
 * peers, plain words to others) left in flight across the sleep), on a
 * Comm_split and on a Comm_create communicator (Reduce, Bcast), on a
 * weighted distributed graph ring (every 8th iteration its neighbours and
 * weights checked and a Neighbor_alltoall; an Ineighbor_allgather left in
 * flight across every sleep), then sleeps.
 *
 *   mpi_cycle ITERATIONS SLEEP_MS
 *
 * All arithmetic is on unsigned 64-bit integers, so results do not depend on
 * the order a collective reduces in (which may change with the placement).
 * Prints "iter N" every 10 iterations (rank 0) and at the end one line per
 * rank "rank R state S" and on rank 0 "result X": a run that was checkpointed
 * and restarted must print exactly what an uninterrupted run prints.
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdbool.h>
/* The requests of the 4 MiB messages and of MPI_Imrecv are completed in
 * other functions and by calls clang's MPI checker does not know. */
// NOLINTBEGIN(clang-analyzer-optin.mpi.MPI-Checker)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../standalone/end_gate.h"

#define CELLS	  4096	       /* state words per rank */
#define BIG_WORDS (512 * 1024) /* 4 MiB rendezvous message */
#define TAG_RING  1
#define TAG_ANY	  2
#define TAG_BIG	  3
#define TAG_VEC	  4

struct cycle {
	int rank;
	int size;
	MPI_Comm half;	   /* ranks of the same parity */
	MPI_Comm ring;	   /* world as a periodic 1-D Cartesian topology */
	int ring_key;	   /* its attribute: the state word ring_step flips */
	int gv_counts[64]; /* Iallgatherv: rank r gives 1 + r % 2 words */
	int gv_displs[64];
	int gv_total;
	/* Ialltoallw: 3 words to each rank, sent as one struct (c->pair) to
	 * ranks of the other parity, as 3 words to the others; received as 3
	 * words (the type signatures match) */
	int aw_scounts[64];
	int aw_rcounts[64];
	int aw_displs[64]; /* bytes */
	MPI_Datatype aw_stypes[64];
	MPI_Datatype aw_rtypes[64];
	MPI_Comm nbr;		  /* distributed graph: hears left, right; tells right, left */
	MPI_Comm dup;		  /* a copy of world for the ANY_SOURCE traffic */
	MPI_Comm most;		  /* Comm_create of every rank but the last (NULL there) */
	MPI_Datatype every_other; /* every second word of the state */
	MPI_Datatype pair;	  /* struct { uint64_t a; uint64_t b[2]; } */
	uint64_t state[CELLS];
	uint64_t *big_out;
	uint64_t *big_in;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ull;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dull;
	return x ^ (x >> 33);
}

static void check(int rc, const char *what)
{
	if (rc != MPI_SUCCESS) {
		fprintf(stderr, "mpi_cycle: %s failed (%d)\n", what, rc);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Ring neighbours (from the Cartesian ring) exchange a word with Sendrecv
 * on it, and half the state as a strided datatype with Isend/Irecv. */
static void ring_step(struct cycle *c, int it)
{
	int right = -1;
	int left = -1;
	uint64_t out = c->state[it % CELLS], in = 0;
	static uint64_t vec_in[CELLS];
	MPI_Request req[2];
	MPI_Status st[2];

	uint64_t *flipped = NULL;
	int flag = 0;

	check(MPI_Comm_get_attr(c->ring, c->ring_key, &flipped, &flag), "Comm_get_attr");
	if (!flag || flipped != &c->state[1]) {
		fprintf(stderr, "mpi_cycle: rank %d: the ring's attribute is %s\n", c->rank,
			flag ? "another value" : "gone");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	*flipped ^= (uint64_t)it;
	check(MPI_Cart_shift(c->ring, 0, 1, &left, &right), "Cart_shift");
	if (left != (c->rank + c->size - 1) % c->size || right != (c->rank + 1) % c->size) {
		fprintf(stderr,
			"mpi_cycle: rank %d: the Cartesian ring gives neighbours %d and %d\n",
			c->rank, left, right);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	check(MPI_Sendrecv(&out, 1, MPI_UINT64_T, right, TAG_RING, &in, 1, MPI_UINT64_T, left,
			   TAG_RING, c->ring, MPI_STATUS_IGNORE),
	      "Sendrecv");
	c->state[(it * 7) % CELLS] ^= mix(in + (uint64_t)it);
	check(MPI_Irecv(vec_in, 1, c->every_other, left, TAG_VEC, MPI_COMM_WORLD, &req[0]),
	      "Irecv vector");
	check(MPI_Isend(c->state, 1, c->every_other, right, TAG_VEC, MPI_COMM_WORLD, &req[1]),
	      "Isend vector");
	check(MPI_Waitall(2, req, st), "Waitall vector");
	for (int i = 0; i < CELLS; i += 2)
		c->state[(i + 1) % CELLS] += vec_in[i];
}

/* The distributed graph must still have its neighbours and weights (edge
 * s -> d weighs 64 s + d + 1); its ranks then swap a word with each
 * neighbour (Neighbor_alltoall). */
static void graph_step(struct cycle *c, int it)
{
	int left = (c->rank + c->size - 1) % c->size;
	int right = (c->rank + 1) % c->size;
	int in = -1;
	int out = -1;
	int weighted = -1;
	int src[2] = { -1, -1 };
	int dst[2] = { -1, -1 };
	int sw[2] = { -1, -1 };
	int dw[2] = { -1, -1 };
	uint64_t send[2];
	uint64_t recv[2] = { 0, 0 };

	check(MPI_Dist_graph_neighbors_count(c->nbr, &in, &out, &weighted),
	      "Dist_graph_neighbors_count");
	check(MPI_Dist_graph_neighbors(c->nbr, 2, src, sw, 2, dst, dw), "Dist_graph_neighbors");
	if (in != 2 || out != 2 || !weighted || src[0] != left || src[1] != right ||
	    dst[0] != right || dst[1] != left || sw[0] != 64 * left + c->rank + 1 ||
	    sw[1] != 64 * right + c->rank + 1 || dw[0] != 64 * c->rank + right + 1 ||
	    dw[1] != 64 * c->rank + left + 1) {
		fprintf(stderr,
			"mpi_cycle: rank %d: the distributed graph has %d in, %d out, weighted %d, "
			"sources %d %d weights %d %d, destinations %d %d weights %d %d\n",
			c->rank, in, out, weighted, src[0], src[1], sw[0], sw[1], dst[0], dst[1],
			dw[0], dw[1]);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	send[0] = mix(c->state[(it * 41) % CELLS] + 1);
	send[1] = mix(c->state[(it * 43) % CELLS] + 2);
	check(MPI_Neighbor_alltoall(send, 1, MPI_UINT64_T, recv, 1, MPI_UINT64_T, c->nbr),
	      "Neighbor_alltoall");
	c->state[(it * 47 + 13) % CELLS] ^= recv[0] + 3 * recv[1];
}

/* Receives one word from any rank on the dup communicator, in turn with
 * Probe + Recv, a matched probe (Mprobe + Mrecv), and Improbe + Imrecv. */
static void recv_any(struct cycle *c, int it, uint64_t *got, MPI_Status *st)
{
	MPI_Message msg;
	MPI_Request req;
	int count = 0;
	int flag = 0;

	switch (it % 3) {
	case 0:
		check(MPI_Probe(MPI_ANY_SOURCE, TAG_ANY, c->dup, st), "Probe");
		check(MPI_Get_count(st, MPI_UINT64_T, &count), "Get_count");
		check(MPI_Recv(got, 1, MPI_UINT64_T, st->MPI_SOURCE, TAG_ANY, c->dup, st), "Recv");
		break;
	case 1:
		check(MPI_Mprobe(MPI_ANY_SOURCE, TAG_ANY, c->dup, &msg, st), "Mprobe");
		check(MPI_Get_count(st, MPI_UINT64_T, &count), "Get_count");
		check(MPI_Mrecv(got, 1, MPI_UINT64_T, &msg, st), "Mrecv");
		break;
	default:
		while (!flag)
			check(MPI_Improbe(MPI_ANY_SOURCE, TAG_ANY, c->dup, &flag, &msg, st),
			      "Improbe");
		check(MPI_Get_count(st, MPI_UINT64_T, &count), "Get_count");
		check(MPI_Imrecv(got, 1, MPI_UINT64_T, &msg, &req), "Imrecv");
		check(MPI_Wait(&req, st), "Wait Imrecv");
		break;
	}
	if (count != 1) {
		fprintf(stderr, "mpi_cycle: probe saw %d words\n", count);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
}

/* Every rank sends one word to rank 0, which takes them as they come with
 * MPI_ANY_SOURCE (after a probe) and answers each. */
static void gather_any(struct cycle *c, int it)
{
	uint64_t v = mix(c->state[(it * 13) % CELLS] + (uint64_t)c->rank);

	if (c->rank == 0) {
		uint64_t sum = v;

		for (int i = 1; i < c->size; i++) {
			MPI_Status st;
			uint64_t got;

			recv_any(c, it, &got, &st);
			/* Order-independent: the sum. */
			sum += got * (uint64_t)(st.MPI_SOURCE + 1);
		}
		c->state[0] ^= sum;
	} else {
		check(MPI_Send(&v, 1, MPI_UINT64_T, 0, TAG_ANY, c->dup), "Send any");
	}
}

/* The rest of the common collectives, with their v variants. */
static void more_collectives(struct cycle *c, int it, uint64_t mine)
{
	uint64_t in[128] = { 0 }, out[128] = { 0 }, scan = 0, block = 0;
	int counts[64] = { 0 }, displs[64] = { 0 }, mine_counts[64] = { 0 };
	int root = (it + 1) % c->size;

	for (int r = 0; r < c->size; r++) {
		counts[r] = 1 + (r + it) % 2;
		/* What each rank sends to this one: its counts[this rank]. */
		mine_counts[r] = 1 + (c->rank + it) % 2;
		displs[r] = 2 * r;
		out[2 * r] = mix(mine + 2 * (uint64_t)r);
		out[2 * r + 1] = mix(mine + 2 * (uint64_t)r + 1);
	}
	check(MPI_Barrier(MPI_COMM_WORLD), "Barrier");
	check(MPI_Gatherv(out, counts[c->rank], MPI_UINT64_T, in, counts, displs, MPI_UINT64_T,
			  root, MPI_COMM_WORLD),
	      "Gatherv");
	if (c->rank == root)
		for (int r = 0; r < c->size; r++)
			c->state[(it + 5 * r) % CELLS] ^= in[displs[r]];
	check(MPI_Scatterv(out, counts, displs, MPI_UINT64_T, in, counts[c->rank], MPI_UINT64_T,
			   root, MPI_COMM_WORLD),
	      "Scatterv");
	c->state[(it * 29 + 7) % CELLS] += in[0];
	check(MPI_Alltoallv(out, counts, displs, MPI_UINT64_T, in, mine_counts, displs,
			    MPI_UINT64_T, MPI_COMM_WORLD),
	      "Alltoallv");
	for (int r = 0; r < c->size; r++)
		c->state[(it * 31 + r) % CELLS] ^= in[displs[r]];
	check(MPI_Reduce_scatter_block(out, &block, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD),
	      "Reduce_scatter_block");
	check(MPI_Scan(&mine, &scan, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD), "Scan");
	c->state[(it * 37 + 11) % CELLS] += block ^ scan;
}

static void collectives(struct cycle *c, int it)
{
	uint64_t mine = mix(c->state[(it * 5) % CELLS]), all = 0, half_sum = 0;
	struct {
		uint64_t a;
		uint64_t b[2];
	} root_pair = { c->state[it % CELLS], { 0, 0 } };
	uint64_t most_sum = 0;
	uint64_t gathered[128] = { 0 };
	int counts[64] = { 0 }, displs[64] = { 0 };
	uint64_t a2a_out[64], a2a_in[64];

	check(MPI_Allreduce(&mine, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD), "Allreduce");
	root_pair.b[1] = mix(root_pair.a);
	check(MPI_Bcast(&root_pair, 1, c->pair, it % c->size, MPI_COMM_WORLD), "Bcast struct");
	uint64_t root_word = root_pair.a ^ root_pair.b[1];
	if (c->most != MPI_COMM_NULL) {
		check(MPI_Reduce(&mine, &most_sum, 1, MPI_UINT64_T, MPI_SUM, 0, c->most),
		      "Reduce most");
		check(MPI_Bcast(&most_sum, 1, MPI_UINT64_T, 0, c->most), "Bcast most");
	}
	check(MPI_Allreduce(&mine, &half_sum, 1, MPI_UINT64_T, MPI_BXOR, c->half),
	      "Allreduce half");
	for (int r = 0; r < c->size; r++) {
		counts[r] = 1 + r % 2;
		displs[r] = 2 * r;
		a2a_out[r] = mix(mine + (uint64_t)r);
	}
	uint64_t send2[2] = { mine, mine ^ all };

	check(MPI_Allgatherv(send2, counts[c->rank], MPI_UINT64_T, gathered, counts, displs,
			     MPI_UINT64_T, MPI_COMM_WORLD),
	      "Allgatherv");
	check(MPI_Alltoall(a2a_out, 1, MPI_UINT64_T, a2a_in, 1, MPI_UINT64_T, MPI_COMM_WORLD),
	      "Alltoall");
	more_collectives(c, it, mine);
	c->state[(it * 3 + 1) % CELLS] += all ^ root_word;
	c->state[(it * 11 + 2) % CELLS] ^= half_sum;
	c->state[(it * 17 + 3) % CELLS] += most_sum;
	for (int r = 0; r < c->size; r++) {
		c->state[(it + r) % CELLS] += gathered[displs[r]] + a2a_in[r];
		if (counts[r] == 2)
			c->state[(it + r + 1) % CELLS] ^= gathered[displs[r] + 1];
	}
}

/* A 4 MiB message from each rank to its right neighbour, left in flight
 * across a sleep so that a checkpoint can find it there. */
static void big_start(struct cycle *c, int it, MPI_Request req[2])
{
	int right = (c->rank + 1) % c->size;
	int left = (c->rank + c->size - 1) % c->size;

	for (int i = 0; i < BIG_WORDS; i++)
		c->big_out[i] = mix((uint64_t)it * BIG_WORDS + (uint64_t)i + c->state[i % CELLS]);
	check(MPI_Irecv(c->big_in, BIG_WORDS, MPI_UINT64_T, left, TAG_BIG, MPI_COMM_WORLD, &req[0]),
	      "Irecv big");
	check(MPI_Isend(c->big_out, BIG_WORDS, MPI_UINT64_T, right, TAG_BIG, MPI_COMM_WORLD,
			&req[1]),
	      "Isend big");
}

static void big_finish(struct cycle *c, MPI_Request req[2])
{
	uint64_t h = 0;
	MPI_Status st[2];

	check(MPI_Waitall(2, req, st), "Waitall big");
	for (int i = 0; i < BIG_WORDS; i++)
		h = mix(h ^ c->big_in[i]);
	c->state[CELLS - 1] ^= h;
}

static void cycle_init(struct cycle *c)
{
	check(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank), "Comm_rank");
	check(MPI_Comm_size(MPI_COMM_WORLD, &c->size), "Comm_size");
	if (c->size > 64) {
		fprintf(stderr, "mpi_cycle: at most 64 ranks\n");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	check(MPI_Comm_split(MPI_COMM_WORLD, c->rank % 2, c->rank, &c->half), "Comm_split");
	int dims[1] = { c->size };
	int periods[1] = { 1 };

	check(MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &c->ring), "Cart_create");
	check(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, MPI_COMM_NULL_DELETE_FN, &c->ring_key,
				     NULL),
	      "Comm_create_keyval");
	check(MPI_Comm_set_attr(c->ring, c->ring_key, &c->state[1]), "Comm_set_attr");
	c->gv_total = 0;
	for (int r = 0; r < c->size; r++) {
		c->gv_counts[r] = 1 + r % 2;
		c->gv_displs[r] = c->gv_total;
		c->gv_total += c->gv_counts[r];
	}
	int left = (c->rank + c->size - 1) % c->size;
	int right = (c->rank + 1) % c->size;
	int src[2] = { left, right };
	int dst[2] = { right, left };
	int sw[2] = { 64 * left + c->rank + 1, 64 * right + c->rank + 1 };
	int dw[2] = { 64 * c->rank + right + 1, 64 * c->rank + left + 1 };

	check(MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 2, src, sw, 2, dst, dw, MPI_INFO_NULL,
					     0, &c->nbr),
	      "Dist_graph_create_adjacent");
	check(MPI_Comm_dup(MPI_COMM_WORLD, &c->dup), "Comm_dup");
	MPI_Group world, most;
	int last = c->size - 1;

	check(MPI_Comm_group(MPI_COMM_WORLD, &world), "Comm_group");
	check(MPI_Group_excl(world, 1, &last, &most), "Group_excl");
	check(MPI_Comm_create(MPI_COMM_WORLD, most, &c->most), "Comm_create");
	check(MPI_Group_free(&most), "Group_free");
	check(MPI_Group_free(&world), "Group_free");
	check(MPI_Type_vector(CELLS / 2, 1, 2, MPI_UINT64_T, &c->every_other), "Type_vector");
	check(MPI_Type_commit(&c->every_other), "Type_commit");
	int lens[2] = { 1, 2 };
	MPI_Aint disp[2] = { 0, sizeof(uint64_t) };
	MPI_Datatype types[2] = { MPI_UINT64_T, MPI_UINT64_T };

	check(MPI_Type_create_struct(2, lens, disp, types, &c->pair), "Type_create_struct");
	check(MPI_Type_commit(&c->pair), "Type_commit");
	for (int r = 0; r < c->size; r++) {
		bool as_pair = (c->rank + r) % 2 == 1;

		c->aw_scounts[r] = as_pair ? 1 : 3;
		c->aw_stypes[r] = as_pair ? c->pair : MPI_UINT64_T;
		c->aw_rcounts[r] = 3;
		c->aw_rtypes[r] = MPI_UINT64_T;
		c->aw_displs[r] = (int)(3 * sizeof(uint64_t)) * r;
	}
	for (int i = 0; i < CELLS; i++)
		c->state[i] = mix((uint64_t)c->rank * CELLS + (uint64_t)i);
	c->big_out = malloc(BIG_WORDS * sizeof(uint64_t));
	c->big_in = malloc(BIG_WORDS * sizeof(uint64_t));
	if (!c->big_out || !c->big_in) {
		fprintf(stderr, "mpi_cycle: out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
}

static void cycle_report(const struct cycle *c)
{
	uint64_t h = 0, all = 0;
	int level = -1, is_main = 0;

	/* What the application asked for, also after a restart (whose lower
	 * half runs MPI_THREAD_MULTIPLE, initialised from another thread). */
	check(MPI_Query_thread(&level), "Query_thread");
	check(MPI_Is_thread_main(&is_main), "Is_thread_main");
	if (level != MPI_THREAD_SINGLE || !is_main) {
		fprintf(stderr, "mpi_cycle: thread level %d, main thread %d\n", level, is_main);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}

	for (int i = 0; i < CELLS; i++)
		h = mix(h ^ c->state[i]);
	printf("rank %d state %016llx\n", c->rank, (unsigned long long)h);
	check(MPI_Reduce(&h, &all, 1, MPI_UINT64_T, MPI_BXOR, 0, MPI_COMM_WORLD), "Reduce");
	if (c->rank == 0)
		printf("result %016llx\n", (unsigned long long)all);
}

int main(int argc, char **argv)
{
	static struct cycle c;
	MPI_Request big[2];
	int iters, sleep_time;

	if (argc != 3) {
		fprintf(stderr, "usage: mpi_cycle ITERATIONS SLEEP_MS\n");
		return 2;
	}
	iters = atoi(argv[1]);
	sleep_time = atoi(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	check(MPI_Init(&argc, &argv), "Init");
	cycle_init(&c);
	for (int it = 0; it < iters; it++) {
		int with_big = it % 16 == 0;

		if (with_big)
			big_start(&c, it, big);
		uint64_t inflight = c.state[(it * 19) % CELLS], inflight_sum = 0;
		MPI_Request ired;
		MPI_Status ist;

		uint64_t gv_out[2] = { c.state[(it * 29) % CELLS], c.state[(it * 31) % CELLS] };
		static uint64_t gv_in[128];
		MPI_Request igv;

		check(MPI_Iallreduce(&inflight, &inflight_sum, 1, MPI_UINT64_T, MPI_SUM,
				     MPI_COMM_WORLD, &ired),
		      "Iallreduce");
		check(MPI_Iallgatherv(gv_out, 1 + c.rank % 2, MPI_UINT64_T, gv_in, c.gv_counts,
				      c.gv_displs, MPI_UINT64_T, MPI_COMM_WORLD, &igv),
		      "Iallgatherv");
		uint64_t nb_out = c.state[(it * 53) % CELLS];
		uint64_t nb_in[2] = { 0, 0 };
		MPI_Request inb;

		check(MPI_Ineighbor_allgather(&nb_out, 1, MPI_UINT64_T, nb_in, 1, MPI_UINT64_T,
					      c.nbr, &inb),
		      "Ineighbor_allgather");
		static uint64_t aw_out[3 * 64];
		static uint64_t aw_in[3 * 64];
		MPI_Request iaw;

		for (int i = 0; i < 3 * c.size; i++)
			aw_out[i] = c.state[(it * 67 + i) % CELLS] + (uint64_t)i;
		check(MPI_Ialltoallw(aw_out, c.aw_scounts, c.aw_displs, c.aw_stypes, aw_in,
				     c.aw_rcounts, c.aw_displs, c.aw_rtypes, MPI_COMM_WORLD, &iaw),
		      "Ialltoallw");
		ring_step(&c, it);
		/* every 8th only: each blocking collective more per iteration
		 * made the run measurably longer on 2 loaded cores */
		if (it % 8 == 0)
			graph_step(&c, it);
		gather_any(&c, it);
		collectives(&c, it);
		sleep_ms(sleep_time);
		check(MPI_Wait(&ired, &ist), "Wait Iallreduce");
		c.state[(it * 23 + 5) % CELLS] ^= inflight_sum;
		check(MPI_Wait(&igv, MPI_STATUS_IGNORE), "Wait Iallgatherv");
		check(MPI_Wait(&inb, MPI_STATUS_IGNORE), "Wait Ineighbor_allgather");
		check(MPI_Wait(&iaw, MPI_STATUS_IGNORE), "Wait Ialltoallw");
		for (int i = 0; i < 3 * c.size; i++)
			c.state[(it * 71 + i) % CELLS] ^= aw_in[i] << (i % 7);
		c.state[(it * 59 + 17) % CELLS] += nb_in[0] ^ (nb_in[1] << 1);
		for (int i = 0; i < c.gv_total; i++)
			c.state[(it * 37 + i) % CELLS] += gv_in[i];
		if (with_big)
			big_finish(&c, big);
		if (c.rank == 0 && it % 10 == 0)
			printf("iter %d\n", it);
	}
	/* A test may hold every rank here until it lets the run end. */
	end_gate();
	cycle_report(&c);
	check(MPI_Type_free(&c.every_other), "Type_free");
	check(MPI_Type_free(&c.pair), "Type_free");
	check(MPI_Comm_free(&c.half), "Comm_free");
	check(MPI_Comm_free(&c.ring), "Comm_free");
	check(MPI_Comm_free_keyval(&c.ring_key), "Comm_free_keyval");
	check(MPI_Comm_free(&c.nbr), "Comm_free");
	check(MPI_Comm_free(&c.dup), "Comm_free");
	if (c.most != MPI_COMM_NULL)
		check(MPI_Comm_free(&c.most), "Comm_free");
	check(MPI_Finalize(), "Finalize");
	free(c.big_out);
	free(c.big_in);
	return 0;
}
// NOLINTEND(clang-analyzer-optin.mpi.MPI-Checker)
