/* subsys_mark.c - records that hold only a magic and a version ("mark"
 * records, subsys.h): the mpi subsystem marks an MPI rank's image with
 * one, the sysv subsystem every image. */
#include "subsys.h"

#include <errno.h>
#include <string.h>

#include "log.h"

/* The record's layout. */
struct subsys_mark {
	uint32_t magic;
	uint32_t version;
};

ssize_t ckpt_mark_write(void *buf, size_t cap, uint32_t magic, uint32_t version)
{
	struct subsys_mark rec = { magic, version };

	if (cap < sizeof(rec))
		return -ENOSPC;
	memcpy(buf, &rec, sizeof(rec));
	return (ssize_t)sizeof(rec);
}

int ckpt_mark_check(const void *data, size_t len, uint32_t magic, uint32_t version,
		    const char *what)
{
	struct subsys_mark rec;

	if (len != sizeof(rec))
		return -EBADMSG;
	memcpy(&rec, data, sizeof(rec));
	if (rec.magic != magic || rec.version != version) {
		log_err("the image's %s record is of another version (%u)", what, rec.version);
		return -EBADMSG;
	}
	return 0;
}
