/* fault.h - named fault-injection points, so tests reach error paths on
 * purpose instead of by chance. Public: any component may include it.
 *
 * CKPT_FAULT="point[,point...]" in the environment makes proto_fault(point)
 * return true; the code at that point then fails as if the real operation
 * had failed (with -EIO unless said otherwise). Without CKPT_FAULT every
 * point costs one getenv(). Points defined in proto/:
 *   gen_commit_fsync    proto_gen_commit(): fsync of the images fails
 *   gen_commit_rename   proto_gen_commit(): the rename to gen-N fails
 *   manifest_write      proto_manifest_write(): writing the file fails
 *   frame_send          proto_frame_send*(): the write fails (-EPIPE)
 * Other components name theirs "<component>_<what>" and list them in their
 * README.
 */
#ifndef CKPT_PROTO_FAULT_H
#define CKPT_PROTO_FAULT_H

#include <stdbool.h>

/* True when @point is listed in CKPT_FAULT; logs a warning each time it
 * fires so an injected failure is never mistaken for a real one. */
bool proto_fault(const char *point);

#endif
