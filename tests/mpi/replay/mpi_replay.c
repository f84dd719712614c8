/* mpi_replay.c - replaying the creation log of MPI objects (mpi/shadow_replay.c)
 * in a running job, under the shadow libmpich.so.12 on 4 ranks.
 *
 * Every rank makes communicators (split with colours and with MPI_UNDEFINED,
 * dup, create from a group, create_group on a subset, split_type with an
 * info, a Cartesian topology, its Cart_sub, a graph, and two distributed
 * graphs: weighted with an info, and unweighted from Dist_graph_create), frees some (also in a loop, so virtual handles are reused), makes
 * groups, derived datatypes (vector, struct of a freed vector, subarray,
 * resized, indexed, hindexed, indexed_block, hvector, dup), user ops (one
 * freed, so its trampoline slot is reused), sets errhandlers and names and
 * an info key; it takes a fingerprint of every object through the
 * application's handles (sizes, ranks, comparisons, translated ranks, names,
 * topologies (Topo_test, Cart_get/shift/rank/coords, Graph_get/neighbors,
 * Dist_graph_neighbors(_count) with the weights, a Neighbor_alltoall),
 * errhandlers, type size/extent/true extent, a Pack of a known buffer, an
 * Allreduce on each communicator and with the user op, a Sendrecv ring with
 * each datatype), then calls shadow_replay_all(): every virtual handle must
 * then point at a new lower-half object (shadow_replay_debug_lh) and the
 * fingerprint must be the same, byte for byte. Objects made again carry
 * only what replay gave them: names, errhandlers and info keys of new
 * lower-half objects are MPICH's defaults unless replay set them.
 *
 * Prints "rank R: ok N checks" or one "rank R BAD: ..." line per failed
 * check (exit 1). Must run under the shadow library (the debug entry
 * points are resolved with dlsym). MPI_REPLAY_TRACE=1 in the environment
 * prints each communicator's fingerprint step on stderr (to find a hang).
 */
#include <dlfcn.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCOMMS	 14
#define NGROUPS	 5
#define NTYPES	 10
#define BUF_INTS 1024
#define FP_MAX	 (64 * 1024)

static int rank;
static int size;
static int nchecks;
static int nbad;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	nchecks++;
	if (ok)
		return;
	nbad++;
	printf("rank %d BAD: ", rank);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* ---- the shadow library's entry points ---- */

static int (*replay_all)(char *why, size_t len);
static int (*debug_lh)(int h);
static size_t (*debug_log_len)(void);
static size_t (*debug_compact)(void);
static unsigned long (*debug_remade)(void);
static void (*debug_fail_at)(size_t index);

static void *shadow_sym(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	if (!p) {
		fprintf(stderr, "rank %d: %s not found: not run under the shadow libmpich.so.12?\n",
			rank, name);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	return p;
}

static void shadow_syms(void)
{
	replay_all = (int (*)(char *, size_t))shadow_sym("shadow_replay_all");
	debug_lh = (int (*)(int))shadow_sym("shadow_replay_debug_lh");
	debug_log_len = (size_t(*)(void))shadow_sym("shadow_replay_debug_log_len");
	debug_compact = (size_t(*)(void))shadow_sym("shadow_replay_debug_compact");
	debug_remade = (unsigned long (*)(void))shadow_sym("shadow_replay_debug_remade");
	debug_fail_at = (void (*)(size_t))shadow_sym("shadow_replay_debug_fail_at");
}

/* ---- the objects ---- */

static MPI_Comm comms[NCOMMS];
static const char *comm_names[NCOMMS] = { "world",   "split", "undef", "dup",	 "create",
					  "cgroup",  "stype", "after", "dupdup", "cart",
					  "cartsub", "graph", "distw", "distu" };
static MPI_Group groups[NGROUPS];
static MPI_Datatype types[NTYPES];
static const char *type_names[NTYPES] = { "vec",  "struct", "sub",  "res", "idx",
					  "hidx", "iblock", "hvec", "dup", "contig" };
static MPI_Op op_plus1;
static MPI_Info info;

/* inout[i] = in[i] + inout[i] + 1: commutative; a reduction over n ranks
 * adds n - 1. */
static void plus1(void *in, void *inout, int *len, MPI_Datatype *type)
{
	(void)type;
	for (int i = 0; i < *len; i++)
		((int *)inout)[i] += ((int *)in)[i] + 1;
}

static void plus100(void *in, void *inout, int *len, MPI_Datatype *type)
{
	(void)type;
	for (int i = 0; i < *len; i++)
		((int *)inout)[i] += ((int *)in)[i] + 100;
}

/* A 2-D torus-in-one-direction from Dims_create, its rows, and a ring
 * graph of every rank (comms[9..11]). */
static void make_topologies(void)
{
	int dims[2] = { 0, 0 };
	int periods[2] = { 1, 0 };
	int remain[2] = { 0, 1 };
	int index[16];
	int edges[32];

	MPI_Dims_create(size, 2, dims);
	MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &comms[9]);
	MPI_Cart_sub(comms[9], remain, &comms[10]);
	for (int i = 0; i < size && i < 16; i++) {
		index[i] = 2 * (i + 1);
		edges[2 * i] = (i + size - 1) % size;
		edges[2 * i + 1] = (i + 1) % size;
	}
	MPI_Graph_create(MPI_COMM_WORLD, size, index, edges, 0, &comms[11]);
}

/* comms[12]: rank r hears from r - 1 and r + 2, tells r + 1 and r - 2,
 * with weight 10 s + d on edge s -> d, and an info; comms[13]: each rank
 * gives the edge r -> r + 1, unweighted (Dist_graph_create). */
static void make_dist_graphs(void)
{
	int src[2] = { (rank + size - 1) % size, (rank + 2) % size };
	int dst[2] = { (rank + 1) % size, (rank + size - 2) % size };
	int sw[2] = { 10 * src[0] + rank, 10 * src[1] + rank };
	int dw[2] = { 10 * rank + dst[0], 10 * rank + dst[1] };
	int one_src[1] = { rank };
	int one_deg[1] = { 1 };
	int one_dst[1] = { (rank + 1) % size };

	MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 2, src, sw, 2, dst, dw, info, 0, &comms[12]);
	MPI_Dist_graph_create(MPI_COMM_WORLD, 1, one_src, one_deg, one_dst, MPI_UNWEIGHTED,
			      MPI_INFO_NULL, 0, &comms[13]);
}

/* A user error handler on comms[7]: it must be called, with the
 * application's handle, before and after replay (fp_comm). */
static MPI_Comm errh_comm;

static void note_error(MPI_Comm *comm, int *code, ...)
{
	(void)code;
	errh_comm = *comm;
}

static void make_comms(void)
{
	MPI_Group world_group;
	MPI_Group g3;
	MPI_Group gx;
	MPI_Comm tmp;
	MPI_Info info_tmp;
	int ranks3[3] = { 3, 1, 2 };
	int excl1[1] = { 1 };

	comms[0] = MPI_COMM_WORLD;
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &comms[1]);
	MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : 1, rank, &comms[2]);
	MPI_Comm_dup(comms[1], &comms[3]);
	MPI_Comm_set_name(comms[3], "dup-of-split");
	/* not what it inherits from MPI_COMM_WORLD: only replay can give it back */
	MPI_Comm_set_errhandler(comms[3], MPI_ERRORS_ARE_FATAL);
	MPI_Comm_group(MPI_COMM_WORLD, &world_group);
	MPI_Group_incl(world_group, 3, ranks3, &g3);
	MPI_Group_excl(world_group, 1, excl1, &gx);
	MPI_Comm_create(MPI_COMM_WORLD, g3, &comms[4]);
	comms[5] = MPI_COMM_NULL;
	if (rank != 1)
		MPI_Comm_create_group(MPI_COMM_WORLD, gx, 7, &comms[5]);
	/* the group the communicator was made from is freed: replay must still
	 * have it when it makes the communicator again */
	MPI_Group_free(&g3);
	MPI_Group_free(&gx);
	MPI_Group_free(&world_group);
	MPI_Info_create(&info);
	MPI_Info_set(info, "slurm_ckpt_test", "replayed");
	/* an info freed after use: compaction must keep what the communicator
	 * needs at replay */
	MPI_Info_create(&info_tmp);
	MPI_Info_set(info_tmp, "mpi_hw_resource_type", "mpi_shared_memory");
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, size - rank, info_tmp, &comms[6]);
	MPI_Info_free(&info_tmp);
	/* churn: the freed communicators' handles are reused */
	for (int i = 0; i < 5; i++) {
		MPI_Comm_dup(MPI_COMM_WORLD, &tmp);
		MPI_Comm_free(&tmp);
	}
	MPI_Comm_dup(comms[1], &tmp);
	MPI_Comm_dup(tmp, &comms[8]);
	MPI_Comm_free(&tmp);
	MPI_Comm_dup(MPI_COMM_WORLD, &comms[7]);
	MPI_Comm_set_name(comms[7], "after-churn");
	MPI_Errhandler user_eh;

	MPI_Comm_create_errhandler(note_error, &user_eh);
	MPI_Comm_set_errhandler(comms[7], user_eh);
	MPI_Errhandler_free(&user_eh);
	MPI_Comm_set_name(MPI_COMM_WORLD, "renamed-world");
	make_topologies();
	make_dist_graphs();
}

static void make_groups(void)
{
	MPI_Group tmp;
	int ranks[2] = { 2, 0 };
	int excl[2] = { 0, 3 };

	MPI_Comm_group(MPI_COMM_WORLD, &groups[0]);
	MPI_Group_incl(groups[0], 2, ranks, &groups[1]);
	MPI_Group_excl(groups[0], 2, excl, &groups[2]);
	MPI_Group_union(groups[1], groups[2], &groups[3]);
	MPI_Group_difference(groups[0], groups[1], &tmp);
	MPI_Group_intersection(tmp, groups[2], &groups[4]);
	MPI_Group_free(&tmp);
}

static void make_types(void)
{
	MPI_Datatype vtmp;
	MPI_Datatype contig3;
	MPI_Datatype st_types[3] = { MPI_INT, MPI_DATATYPE_NULL, MPI_DOUBLE };
	int st_bl[3] = { 1, 1, 2 };
	MPI_Aint st_disp[3] = { 0, 8, 80 };
	int sizes[2] = { 4, 5 };
	int subsizes[2] = { 2, 3 };
	int starts[2] = { 1, 1 };
	int idx_bl[3] = { 1, 2, 1 };
	int idx_disp[3] = { 0, 3, 7 };
	int hidx_bl[2] = { 2, 1 };
	MPI_Aint hidx_disp[2] = { 4, 40 };
	int ib_disp[3] = { 5, 1, 9 };

	MPI_Type_vector(3, 2, 4, MPI_INT, &types[0]);
	MPI_Type_vector(2, 1, 3, MPI_INT, &vtmp);
	st_types[1] = vtmp;
	MPI_Type_create_struct(3, st_bl, st_disp, st_types, &types[1]);
	MPI_Type_free(&vtmp); /* used by a live type: replay still needs it */
	MPI_Type_create_subarray(2, sizes, subsizes, starts, MPI_ORDER_C, MPI_INT, &types[2]);
	MPI_Type_contiguous(3, MPI_DOUBLE, &contig3);
	MPI_Type_create_resized(contig3, -4, 40, &types[3]);
	MPI_Type_free(&contig3);
	MPI_Type_indexed(3, idx_bl, idx_disp, MPI_INT, &types[4]);
	MPI_Type_create_hindexed(2, hidx_bl, hidx_disp, MPI_INT, &types[5]);
	MPI_Type_create_indexed_block(3, 2, ib_disp, MPI_SHORT, &types[6]);
	MPI_Type_create_hvector(3, 1, 12, MPI_FLOAT, &types[7]);
	MPI_Type_dup(types[4], &types[8]);
	MPI_Type_contiguous(5, MPI_CHAR, &types[9]);
	for (int i = 0; i < NTYPES; i++)
		MPI_Type_commit(&types[i]);
	MPI_Type_set_name(types[1], "int-vec-doubles");
	MPI_Type_set_name(types[8], "dup-of-idx");
}

static void make_ops(void)
{
	MPI_Op tmp;

	/* plus100 takes the first trampoline slot and is freed: plus1 reuses it */
	MPI_Op_create(plus100, 1, &tmp);
	MPI_Op_free(&tmp);
	MPI_Op_create(plus1, 1, &op_plus1);
}

/* Types made and freed in a loop: local objects whose records compaction
 * drops. Returns how many were made. */
static int churn_types(int n)
{
	for (int i = 0; i < n; i++) {
		MPI_Datatype t;
		MPI_Group g;

		MPI_Type_vector(i % 7 + 1, 1, 2, MPI_INT, &t);
		MPI_Type_commit(&t);
		MPI_Type_free(&t);
		MPI_Comm_group(comms[1], &g);
		MPI_Group_free(&g);
	}
	return n;
}

/* ---- the fingerprint ---- */

struct fp {
	char text[FP_MAX];
	size_t len;
};

static void fp_add(struct fp *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (f->len < sizeof(f->text))
		f->len += (size_t)vsnprintf(f->text + f->len, sizeof(f->text) - f->len, fmt, ap);
	va_end(ap);
}

static uint64_t fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static void pattern(int *buf, int who)
{
	for (int i = 0; i < BUF_INTS; i++)
		buf[i] = who * 100000 + i * 7 + 1;
}

static void fp_group_members(struct fp *f, MPI_Group g)
{
	MPI_Group world_group;
	int n = 0;
	int in[16];
	int out[16];

	MPI_Comm_group(MPI_COMM_WORLD, &world_group);
	MPI_Group_size(g, &n);
	for (int i = 0; i < n && i < 16; i++)
		in[i] = i;
	MPI_Group_translate_ranks(g, n, in, world_group, out);
	fp_add(f, " members");
	for (int i = 0; i < n && i < 16; i++)
		fp_add(f, " %d", out[i]);
	MPI_Group_free(&world_group);
}

/* Degrees, neighbours and weights of distributed graph @c, and what a
 * Neighbor_alltoall over it delivers (from in-neighbour i: 1000 i + the
 * sender's world rank). */
static void fp_dist_graph(struct fp *f, MPI_Comm c)
{
	int in = -1;
	int out = -1;
	int weighted = -1;
	int src[4] = { -1, -1, -1, -1 };
	int dst[4] = { -1, -1, -1, -1 };
	int sw[4] = { -1, -1, -1, -1 };
	int dw[4] = { -1, -1, -1, -1 };
	int sbuf[4];
	int rbuf[4] = { -1, -1, -1, -1 };
	int rc;

	MPI_Dist_graph_neighbors_count(c, &in, &out, &weighted);
	/* MPICH copies max entries: ask for exactly as many as there are */
	if (in >= 0 && in <= 4 && out >= 0 && out <= 4)
		MPI_Dist_graph_neighbors(c, in, src, sw, out, dst, dw);
	for (int i = 0; i < 4; i++)
		sbuf[i] = 1000 * i + rank;
	rc = MPI_Neighbor_alltoall(sbuf, 1, MPI_INT, rbuf, 1, MPI_INT, c);
	check(rc == MPI_SUCCESS, "Neighbor_alltoall on a distributed graph failed (%d)", rc);
	fp_add(f, " in %d out %d weighted %d src %d %d w %d %d dst %d %d w %d %d got %d %d", in,
	       out, weighted, src[0], src[1], weighted ? sw[0] : 0, weighted ? sw[1] : 0, dst[0],
	       dst[1], weighted ? dw[0] : 0, weighted ? dw[1] : 0, rbuf[0], rbuf[1]);
}

/* What the topology functions say of @c (MPI_UNDEFINED: none). */
static void fp_topology(struct fp *f, MPI_Comm c)
{
	int topo = -1;
	int nd = 0;
	int dims[4] = { 0 };
	int periods[4] = { 0 };
	int coords[4] = { 0 };
	int src = -1;
	int dst = -1;
	int back = -1;
	int nnodes = 0;
	int nedges = 0;
	int nn = 0;
	int nb[8] = { 0 };
	int index[16] = { 0 };
	int edges[32] = { 0 };

	MPI_Topo_test(c, &topo);
	fp_add(f, " topo %s",
	       topo == MPI_CART		? "cart"
	       : topo == MPI_GRAPH	? "graph"
	       : topo == MPI_DIST_GRAPH ? "dist"
					: "none");
	if (topo == MPI_DIST_GRAPH)
		fp_dist_graph(f, c);
	if (topo == MPI_CART) {
		MPI_Cartdim_get(c, &nd);
		MPI_Cart_get(c, 4, dims, periods, coords);
		MPI_Cart_shift(c, 0, 1, &src, &dst);
		MPI_Cart_rank(c, coords, &back);
		fp_add(f, " ndims %d dims %d %d periods %d %d coords %d %d shift %d %d rank %d", nd,
		       dims[0], dims[1], periods[0], periods[1], coords[0], coords[1], src, dst,
		       back);
		MPI_Cart_coords(c, 0, 4, coords);
		fp_add(f, " coords-of-0 %d %d", coords[0], coords[1]);
	} else if (topo == MPI_GRAPH) {
		int r = -1;

		MPI_Comm_rank(c, &r);
		MPI_Graphdims_get(c, &nnodes, &nedges);
		MPI_Graph_neighbors_count(c, r, &nn);
		MPI_Graph_neighbors(c, r, 8, nb);
		MPI_Graph_get(c, 16, 32, index, edges);
		fp_add(f, " nodes %d edges %d neighbours %d: %d %d index-last %d edge-last %d",
		       nnodes, nedges, nn, nb[0], nb[1], index[nnodes > 0 ? nnodes - 1 : 0],
		       edges[nedges > 0 ? nedges - 1 : 0]);
	}
}

static void fp_comm(struct fp *f, int i)
{
	MPI_Comm c = comms[i];
	MPI_Group g;
	MPI_Errhandler eh;
	char name[MPI_MAX_OBJECT_NAME];
	int n = 0;
	int r = -1;
	int cmp = -1;
	int inter = -1;
	int len = 0;
	int sum = -1;
	int rc;

	if (getenv("MPI_REPLAY_TRACE"))
		fprintf(stderr, "rank %d: fingerprint of communicator %s\n", rank, comm_names[i]);
	if (c == MPI_COMM_NULL) {
		fp_add(f, "comm %s null\n", comm_names[i]);
		return;
	}
	MPI_Comm_size(c, &n);
	MPI_Comm_rank(c, &r);
	MPI_Comm_compare(c, MPI_COMM_WORLD, &cmp);
	MPI_Comm_test_inter(c, &inter);
	MPI_Comm_get_name(c, name, &len);
	MPI_Comm_get_errhandler(c, &eh);
	rc = MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, c);
	check(rc == MPI_SUCCESS, "Allreduce on communicator %s failed (%d)", comm_names[i], rc);
	fp_add(f, "comm %s size %d rank %d cmp %d inter %d name '%s' errh %s sum %d", comm_names[i],
	       n, r, cmp, inter, name,
	       eh == MPI_ERRORS_RETURN	    ? "return"
	       : eh == MPI_ERRORS_ARE_FATAL ? "fatal"
					    : "other",
	       sum);
	if (eh != MPI_ERRORS_RETURN && eh != MPI_ERRORS_ARE_FATAL) {
		errh_comm = MPI_COMM_NULL;
		MPI_Comm_call_errhandler(c, MPI_ERR_OTHER);
		fp_add(f, " user errh called with own handle %d", errh_comm == c);
	}
	MPI_Errhandler_free(&eh);
	MPI_Comm_group(c, &g);
	fp_group_members(f, g);
	MPI_Group_free(&g);
	fp_topology(f, c);
	fp_add(f, "\n");
}

static void fp_groups(struct fp *f)
{
	for (int i = 0; i < NGROUPS; i++) {
		int n = -1;
		int r = -2;

		MPI_Group_size(groups[i], &n);
		MPI_Group_rank(groups[i], &r);
		fp_add(f, "group %d size %d rank %d", i, n, r);
		fp_group_members(f, groups[i]);
		fp_add(f, "\n");
	}
}

static void fp_type(struct fp *f, int i)
{
	static int buf[BUF_INTS];
	static char packed[8 * BUF_INTS];
	char name[MPI_MAX_OBJECT_NAME];
	MPI_Aint lb = 0;
	MPI_Aint extent = 0;
	MPI_Aint tlb = 0;
	MPI_Aint textent = 0;
	int tsize = -1;
	int pos = 0;
	int len = 0;

	pattern(buf, 0);
	MPI_Type_size(types[i], &tsize);
	MPI_Type_get_extent(types[i], &lb, &extent);
	MPI_Type_get_true_extent(types[i], &tlb, &textent);
	MPI_Type_get_name(types[i], name, &len);
	MPI_Pack(buf + 16, 2, types[i], packed, sizeof(packed), &pos, MPI_COMM_WORLD);
	fp_add(f,
	       "type %s size %d lb %ld extent %ld tlb %ld textent %ld name '%s' pack %d %016llx\n",
	       type_names[i], tsize, (long)lb, (long)extent, (long)tlb, (long)textent, name, pos,
	       (unsigned long long)fnv(packed, (size_t)pos));
}

/* A Sendrecv ring with each datatype over @c: what arrives must be what a
 * local Pack of the sender's buffer and Unpack here gives. */
static void ring_types(struct fp *f, MPI_Comm c, const char *cname)
{
	static int sendbuf[BUF_INTS];
	static int recvbuf[BUF_INTS];
	static int expect[BUF_INTS];
	static char packed[8 * BUF_INTS];
	int n;
	int r;

	MPI_Comm_size(c, &n);
	MPI_Comm_rank(c, &r);
	for (int i = 0; i < NTYPES; i++) {
		int next = (r + 1) % n;
		int prev = (r + n - 1) % n;
		int pos = 0;
		int rc;

		pattern(sendbuf, r);
		memset(recvbuf, 0, sizeof(recvbuf));
		rc = MPI_Sendrecv(sendbuf + 16, 2, types[i], next, i, recvbuf + 16, 2, types[i],
				  prev, i, c, MPI_STATUS_IGNORE);
		check(rc == MPI_SUCCESS, "Sendrecv of type %s over %s failed (%d)", type_names[i],
		      cname, rc);
		pattern(sendbuf, prev);
		MPI_Pack(sendbuf + 16, 2, types[i], packed, sizeof(packed), &pos, c);
		memset(expect, 0, sizeof(expect));
		pos = 0;
		MPI_Unpack(packed, sizeof(packed), &pos, expect + 16, 2, types[i], c);
		check(memcmp(recvbuf, expect, sizeof(expect)) == 0,
		      "Sendrecv of type %s over %s: received data differs from the typemap",
		      type_names[i], cname);
		fp_add(f, "ring %s %s %016llx\n", cname, type_names[i],
		       (unsigned long long)fnv(recvbuf, sizeof(recvbuf)));
	}
}

static void fp_op(struct fp *f)
{
	int in[4] = { rank, 2 * rank, -rank, 7 };
	int out[4] = { 0 };
	int rc = MPI_Allreduce(in, out, 4, MPI_INT, op_plus1, MPI_COMM_WORLD);
	int s = size * (size - 1) / 2;

	check(rc == MPI_SUCCESS && out[0] == s + size - 1 && out[1] == 2 * s + size - 1 &&
		      out[2] == -s + size - 1 && out[3] == 7 * size + size - 1,
	      "Allreduce with the user op gave %d %d %d %d (rc %d)", out[0], out[1], out[2], out[3],
	      rc);
	fp_add(f, "op %d %d %d %d\n", out[0], out[1], out[2], out[3]);
}

static void fp_info(struct fp *f)
{
	char value[64] = "";
	int flag = 0;
	int nkeys = -1;

	MPI_Info_get(info, "slurm_ckpt_test", sizeof(value) - 1, value, &flag);
	MPI_Info_get_nkeys(info, &nkeys);
	fp_add(f, "info nkeys %d flag %d value '%s'\n", nkeys, flag, value);
}

static void fingerprint(struct fp *f)
{
	f->len = 0;
	for (int i = 0; i < NCOMMS; i++)
		fp_comm(f, i);
	fp_groups(f);
	for (int i = 0; i < NTYPES; i++)
		fp_type(f, i);
	ring_types(f, MPI_COMM_WORLD, "world");
	ring_types(f, comms[3], "dup");
	fp_op(f);
	fp_info(f);
}

/* ---- the handles' lower-half values ---- */

#define NHANDLES (NCOMMS + NGROUPS + NTYPES + 2)

static void handles(int *h)
{
	int n = 0;

	for (int i = 0; i < NCOMMS; i++)
		h[n++] = (int)comms[i];
	for (int i = 0; i < NGROUPS; i++)
		h[n++] = (int)groups[i];
	for (int i = 0; i < NTYPES; i++)
		h[n++] = (int)types[i];
	h[n++] = (int)op_plus1;
	h[n++] = (int)info;
}

static void check_lh_changed(const int *before)
{
	int h[NHANDLES];

	handles(h);
	for (int i = 0; i < NHANDLES; i++) {
		int now = debug_lh(h[i]);
		int is_virtual = ((unsigned)h[i] & 0xc0000000u) == 0xc0000000u;

		if (!is_virtual) { /* MPI_COMM_WORLD, and MPI_COMM_NULL where not a member */
			check(now == h[i], "predefined handle %#x translates to %#x", h[i], now);
			continue;
		}
		/* MPICH hands out the communicator's own group for MPI_Comm_group of
		 * MPI_COMM_WORLD, which replay in the same lower half does not make
		 * anew (groups[0]; at a restart every object is new) */
		if (i == NCOMMS) {
			check(now != 0, "virtual handle %#x (world's group) translates to 0", h[i]);
			continue;
		}
		check(now != 0 && now != before[i],
		      "virtual handle %#x (object %d) still points at lower-half %#x (was %#x)",
		      h[i], i, now, before[i]);
	}
}

/* Prints each line where two fingerprints differ. */
static void fp_compare(const struct fp *a, const struct fp *b)
{
	const char *p = a->text;
	const char *q = b->text;

	check(a->len < sizeof(a->text), "fingerprint longer than %zu bytes", sizeof(a->text));
	while (*p && *q) {
		const char *pe = strchr(p, '\n');
		const char *qe = strchr(q, '\n');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t ql = qe ? (size_t)(qe - q) : strlen(q);

		if (pl != ql || memcmp(p, q, pl) != 0)
			check(0, "after replay '%.*s', before '%.*s'", (int)ql, q, (int)pl, p);
		p += pl + (pe ? 1 : 0);
		q += ql + (qe ? 1 : 0);
	}
	check(*p == 0 && *q == 0, "fingerprints differ in length (%zu before, %zu after)", a->len,
	      b->len);
}

int main(int argc, char **argv)
{
	static struct fp before;
	static struct fp after;
	static struct fp again;
	int lh_before[NHANDLES];
	char why[512] = "";
	size_t len_churn;
	size_t len_compact;
	unsigned long remade;
	int rc;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	shadow_syms();
	if (size != 4) {
		fprintf(stderr, "mpi_replay needs 4 ranks, has %d\n", size);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	make_comms();
	make_groups();
	make_types();
	make_ops();
	/* 1500 type + group pairs (6000 records) made and freed: compaction
	 * keeps the log far below that */
	churn_types(1500);
	len_churn = debug_log_len();
	check(len_churn < 2 * 1024, "log holds %zu records after 1500 freed types and groups",
	      len_churn);
	len_compact = debug_compact();
	check(len_compact < 120, "log holds %zu records after compaction (all live objects: <120)",
	      len_compact);

	fingerprint(&before);
	handles(lh_before);
	for (int i = 0; i < NHANDLES; i++)
		lh_before[i] = debug_lh(lh_before[i]);
	remade = debug_remade();

	/* A record the lower half refuses stops the replay with a sentence
	 * naming it: the first record on every rank is MPI_Comm_set_errhandler
	 * of MPI_COMM_WORLD, so no rank is left in a collective. */
	debug_fail_at(1);
	rc = replay_all(why, sizeof(why));
	check(rc < 0 && strstr(why, "record 1 of ") &&
		      strstr(why, "(MPI_Comm_set_errhandler of handle 0x44000000)") &&
		      strstr(why, "Other MPI error"),
	      "injected failure: shadow_replay_all gave %d '%s'", rc, why);
	check(debug_remade() == remade, "the failed replay made %lu objects",
	      debug_remade() - remade);
	if (rank == 0)
		printf("injected failure: %s\n", why);

	rc = replay_all(why, sizeof(why));
	check(rc == 0, "shadow_replay_all: %d: %s", rc, why);
	check(debug_remade() - remade >= 30, "replay made %lu objects again",
	      debug_remade() - remade);
	check_lh_changed(lh_before);

	fingerprint(&after);
	fp_compare(&before, &after);

	/* the replayed objects keep working with new calls: free some, make
	 * more, replay again */
	MPI_Comm_free(&comms[8]);
	if (comms[4] != MPI_COMM_NULL) {
		MPI_Comm_dup(comms[4], &comms[8]);
		MPI_Comm_free(&comms[8]);
	}
	MPI_Comm_dup(comms[1], &comms[8]);
	fingerprint(&before);
	rc = replay_all(why, sizeof(why));
	check(rc == 0, "second shadow_replay_all: %d: %s", rc, why);
	fingerprint(&again);
	fp_compare(&before, &again);

	for (int i = 1; i < NCOMMS; i++) {
		if (comms[i] != MPI_COMM_NULL)
			MPI_Comm_free(&comms[i]);
	}
	for (int i = 0; i < NGROUPS; i++)
		MPI_Group_free(&groups[i]);
	for (int i = 0; i < NTYPES; i++)
		MPI_Type_free(&types[i]);
	MPI_Op_free(&op_plus1);
	MPI_Info_free(&info);
	check(debug_compact() <= len_compact + 40,
	      "log holds %zu records after everything local was freed", debug_compact());
	if (!nbad)
		printf("rank %d: ok %d checks, log %zu records after churn, %zu compacted, %zu at end\n",
		       rank, nchecks, len_churn, len_compact, debug_log_len());
	fflush(stdout);
	MPI_Finalize();
	return nbad ? 1 : 0;
}
