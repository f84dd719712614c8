/* mpi_record.c - the "mpi" subsystem: marks the image of an MPI rank under
 * the shadow library, so that the restorer hands the restarting step's
 * environment over (mpi_split.h). Apart from mpi_split.c so that it links
 * into tests without the engine. */
#include "mpi_split.h"

/* "MPI1": the record's magic. */
#define MPI_REC_MAGIC 0x3149504du
/* Version of the record and of the shadow library interface it came with. */
#define MPI_REC_VERSION 1u

bool eng_mpi_rank;

static ssize_t mpi_capture(void *buf, size_t cap, void (*warn)(const char *msg))
{
	(void)warn;
	if (!eng_mpi_rank)
		return 0;
	return ckpt_mark_write(buf, cap, MPI_REC_MAGIC, MPI_REC_VERSION);
}

/* The record carries nothing to put back: restoring it is checking it. */
static int mpi_check(const void *data, size_t len)
{
	if (len == 0)
		return 0;
	return ckpt_mark_check(data, len, MPI_REC_MAGIC, MPI_REC_VERSION, "MPI");
}

const struct ckpt_subsys ckpt_mpi_subsys = {
	.name = "mpi",
	.record_type = CKPT_REC_MPI,
	.capture = mpi_capture,
	.check = mpi_check,
	.restore = mpi_check,
};
