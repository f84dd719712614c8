/* shadow_lh_int.h - internals shared by shadow_lh.c, shadow_lh_restore.c
 * and shadow_lower.c (the shadow library's view of the lower half);
 * included by them only.
 */
#ifndef CKPT_MPI_SHADOW_LH_INT_H
#define CKPT_MPI_SHADOW_LH_INT_H

#include "lh_regions.h"

#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>

/* Loads into the LH namespace what MPI_Init would load there (UCX's
 * transport modules), so that the snapshot holds it (shadow_lower.c;
 * called by shadow_lh_setup before the snapshot). */
void shadow_lower_preload(void);

/* The first link_map of the LH namespace; NULL without the shim. */
struct link_map *shadow_lh_chain_head(void);

/* Reads @len bytes at @addr without faulting: 0, or -EFAULT. */
int shadow_lh_peek(uintptr_t addr, void *buf, size_t len);

/* The shim's thread table: up to @cap into @out; returns how many there
 * are (0 without the shim). */
size_t shadow_lh_shim_threads(struct lh_shim_thread *out, size_t cap);

#endif
