/* consist_serve.c - drained messages are served to later receives and
 * probes with MPI's matching and statuses (shadow_drain.c, shadow_p2p.c).
 * An MPICH singleton under the shadow library: the program sends itself
 * messages nobody receives yet, posts a receive nothing matches yet, and
 * checkpoints itself (prepare, drain, resume from its only thread, which
 * is outside the library then). Every later receive, probe, persistent
 * start and the reposted receive must then see what native MPI would.
 * Prints "ok" and exits 0, or names the first check that failed (exit 1).
 */
#include "shadow_consist.h"

#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void expect(bool ok, const char *what)
{
	if (!ok) {
		printf("BAD: %s\n", what);
		failures++;
	}
}

static void *sym(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	if (!p) {
		printf("BAD: %s not found: not under the shadow library?\n", name);
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	int (*prepare)(int, char *, size_t) =
		(int (*)(int, char *, size_t))sym("shadow_ckpt_prepare");
	int (*drain)(int, char *, size_t) = (int (*)(int, char *, size_t))sym("shadow_ckpt_drain");
	void (*resume)(void) = (void (*)(void))sym("shadow_ckpt_resume");
	void (*stats)(struct shadow_consist_stats *) =
		(void (*)(struct shadow_consist_stats *))sym("shadow_consist_stats");
	struct shadow_consist_stats st;
	int one[4] = { 1, 2, 3, 4 };
	int two[8] = { 21, 22, 23, 24, 25, 26, 27, 28 };
	int three[16];
	int vec_out[20];
	int vec_in[20];
	int small[4] = { 0 };
	int late = 0;
	int nine = 99;
	int five[3] = { 51, 52, 53 };
	int six[2] = { 61, 62 };
	int got[3] = { 0 };
	MPI_Message msg;
	MPI_Request sends[6];
	MPI_Request early;
	MPI_Request req;
	MPI_Datatype vec;
	MPI_Status s;
	MPI_Status sstat[6];
	char why[512];
	int flag = 0;
	int count = 0;
	int rc;

	MPI_Init(&argc, &argv);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Type_vector(10, 1, 2, MPI_INT, &vec);
	MPI_Type_commit(&vec);
	for (int i = 0; i < 16; i++)
		three[i] = 300 + i;
	for (int i = 0; i < 20; i++) {
		vec_out[i] = 400 + i;
		vec_in[i] = -1;
	}
	/* In flight at the checkpoint: four messages to self, one receive. */
	MPI_Irecv(&late, 1, MPI_INT, 0, 9, MPI_COMM_WORLD, &early);
	MPI_Isend(one, 4, MPI_INT, 0, 1, MPI_COMM_WORLD, &sends[0]);
	MPI_Isend(two, 8, MPI_INT, 0, 2, MPI_COMM_WORLD, &sends[1]);
	MPI_Isend(three, 16, MPI_INT, 0, 3, MPI_COMM_WORLD, &sends[2]);
	MPI_Isend(vec_out, 1, vec, 0, 4, MPI_COMM_WORLD, &sends[3]);
	MPI_Isend(five, 3, MPI_INT, 0, 5, MPI_COMM_WORLD, &sends[4]);
	MPI_Isend(six, 2, MPI_INT, 0, 6, MPI_COMM_WORLD, &sends[5]);

	rc = prepare(10000, why, sizeof(why));
	expect(rc == 0, why);
	rc = drain(10000, why, sizeof(why));
	expect(rc == 0, why);
	resume();
	stats(&st);
	expect(st.drained == 6, "6 messages drained");
	expect(st.reposted == 1, "the pending receive posted again");
	expect(MPI_Waitall(6, sends, sstat) == MPI_SUCCESS, "sends complete");

	/* Matched probes served from drained messages; a checkpoint between
	 * MPI_Mprobe and MPI_Mrecv keeps the matched message. */
	MPI_Mprobe(MPI_ANY_SOURCE, 5, MPI_COMM_WORLD, &msg, &s);
	MPI_Get_count(&s, MPI_INT, &count);
	expect(s.MPI_TAG == 5 && s.MPI_SOURCE == 0 && count == 3, "Mprobe tag 5: 3 ints");
	rc = prepare(10000, why, sizeof(why));
	expect(rc == 0, why);
	rc = drain(10000, why, sizeof(why));
	expect(rc == 0, why);
	resume();
	MPI_Mrecv(got, 3, MPI_INT, &msg, &s);
	expect(msg == MPI_MESSAGE_NULL && got[0] == 51 && got[2] == 53 && s.MPI_TAG == 5,
	       "Mrecv after a checkpoint: the matched message's data");
	flag = 0;
	MPI_Improbe(0, 6, MPI_COMM_WORLD, &flag, &msg, &s);
	expect(flag, "Improbe tag 6 finds the drained message");
	MPI_Imrecv(got, 3, MPI_INT, &msg, &req);
	MPI_Wait(&req, &s);
	MPI_Get_count(&s, MPI_INT, &count);
	expect(count == 2 && got[0] == 61 && got[1] == 62, "Imrecv tag 6: data and count");
	MPI_Isend(&nine, 1, MPI_INT, 0, 7, MPI_COMM_WORLD, &sends[0]);
	MPI_Mprobe(0, 7, MPI_COMM_WORLD, &msg, &s);
	MPI_Mrecv(got, 1, MPI_INT, &msg, &s);
	MPI_Wait(&sends[0], MPI_STATUS_IGNORE);
	expect(got[0] == 99 && s.MPI_TAG == 7, "Mprobe + Mrecv of a message from the lower half");
	MPI_Mprobe(MPI_PROC_NULL, 0, MPI_COMM_WORLD, &msg, &s);
	expect(msg == MPI_MESSAGE_NO_PROC && s.MPI_SOURCE == MPI_PROC_NULL,
	       "Mprobe of MPI_PROC_NULL: MPI_MESSAGE_NO_PROC");
	MPI_Mrecv(got, 1, MPI_INT, &msg, &s);
	expect(msg == MPI_MESSAGE_NULL, "Mrecv of MPI_MESSAGE_NO_PROC");

	MPI_Iprobe(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &flag, &s);
	MPI_Get_count(&s, MPI_INT, &count);
	expect(flag && s.MPI_TAG == 2 && s.MPI_SOURCE == 0 && count == 8, "Iprobe tag 2: 8 ints");
	MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &s);
	expect(s.MPI_TAG == 1, "Probe ANY_TAG: the first message sent (tag 1)");

	MPI_Irecv(small, 4, MPI_INT, 0, 1, MPI_COMM_WORLD, &req);
	flag = 0;
	MPI_Test(&req, &flag, &s);
	MPI_Get_count(&s, MPI_INT, &count);
	expect(flag && req == MPI_REQUEST_NULL,
	       "Irecv of a drained message: Test completes at once");
	expect(count == 4 && !memcmp(small, one, sizeof(one)), "Irecv tag 1: data and count");

	rc = MPI_Recv(small, 4, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &s);
	expect(rc == MPI_ERR_TRUNCATE || (rc != MPI_SUCCESS && s.MPI_TAG == 2),
	       "Recv of 8 ints into 4: MPI_ERR_TRUNCATE");
	expect(s.MPI_TAG == 2 && small[0] == 21 && small[3] == 24, "truncated Recv: first 4 ints");

	memset(three, 0, sizeof(three));
	MPI_Recv_init(three, 16, MPI_INT, 0, 3, MPI_COMM_WORLD, &req);
	MPI_Start(&req);
	MPI_Wait(&req, &s);
	MPI_Get_count(&s, MPI_INT, &count);
	expect(count == 16 && three[0] == 300 && three[15] == 315 && req != MPI_REQUEST_NULL,
	       "persistent receive served: data, count, request kept");
	MPI_Request_free(&req);

	MPI_Recv(vec_in, 1, vec, 0, 4, MPI_COMM_WORLD, &s);
	MPI_Get_count(&s, vec, &count);
	expect(count == 1 && vec_in[0] == 400 && vec_in[1] == -1 && vec_in[18] == 418,
	       "vector type served: elements in place, gaps untouched");

	flag = 1;
	MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
	expect(!flag, "nothing left to probe");
	MPI_Send(&nine, 1, MPI_INT, 0, 9, MPI_COMM_WORLD);
	MPI_Wait(&early, &s);
	expect(late == 99 && s.MPI_TAG == 9,
	       "the receive posted again gets the message sent later");

	stats(&st);
	expect(st.served == 6, "6 drained messages served");
	MPI_Type_free(&vec);
	MPI_Finalize();
	if (failures)
		return 1;
	printf("ok: drained %llu, served %llu, reposted %llu\n", (unsigned long long)st.drained,
	       (unsigned long long)st.served, (unsigned long long)st.reposted);
	return 0;
}
