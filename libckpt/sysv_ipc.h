/* sysv_ipc.h - the "sysv" subsystem: System V semaphore sets and message
 * queues a process uses are not restored, so a checkpoint that finds one
 * still existing is refused, naming it (sysv_ipc.c). SysV shared memory is
 * found in the memory map instead (snapshot.c). Included by libckpt/
 * sources only. */
#ifndef CKPT_LIBCKPT_SYSV_IPC_H
#define CKPT_LIBCKPT_SYSV_IPC_H

#include "subsys.h"

/* Record type of the subsystem: magic and version only. */
#define CKPT_REC_SYSV 0x600u

/* Kinds of ids the table holds. */
enum { CKPT_SYSV_SEM = 1, CKPT_SYSV_MSG = 2 };

/* Remembers that this process used SysV object @id of @kind; @key is the
 * key it was looked up by, or -1 when unknown. Async-signal-safe; the
 * table keeps the first CKPT_SYSV_IDS_MAX ids, and says so at capture when
 * more were used. */
#define CKPT_SYSV_IDS_MAX 64
void ckpt_sysv_note(int kind, int id, long key);

extern const struct ckpt_subsys ckpt_sysv_subsys;

#endif
