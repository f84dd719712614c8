/* tree_gen.h - reads the tree records of a generation's images and checks
 * them as 'ckpt restart' will (cli_tree_check.h). Included by the agent
 * (agent_coord.c, before it commits a generation) and by the CLI. */
#ifndef CKPT_NODEAGENT_TREE_GEN_H
#define CKPT_NODEAGENT_TREE_GEN_H

#include "tree_rec.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Checks tree record @data of @len bytes (from image file @image:
 * untrusted) and copies it into @rec and its children into *@children
 * (free() it; set only on success). Returns 0, -EBADMSG (said in @why) or
 * -ENOMEM. */
int tree_gen_parse(const char *image, const void *data, uint64_t len, struct tree_rec *rec,
		   struct tree_rec_child **children, char *why, size_t why_len);

/* Reads the tree record of image file @image into @rec and a copy of its
 * children into *@children (free() it; set only on success). The file is
 * untrusted: the record's layout is checked. Returns 0, -ENOENT (no tree
 * record, or a file the image reader refuses: restored as before trees),
 * -EBADMSG (a malformed record, said in @why) or -ENOMEM. */
int tree_gen_read(const char *image, struct tree_rec *rec, struct tree_rec_child **children,
		  char *why, size_t why_len);

/* Reads the records of the @n images @paths (a generation, in manifest
 * order) and checks them (cli_tree_check_for() with CLI_TREE_CHECK_COMMIT,
 * root CLI_TREE_ROOT). A generation with no tree record, or whose first
 * image was taken outside a namespace of 'ckpt run', is no tree and
 * passes, as 'ckpt restart' restores it as before. Returns 0, -EBADMSG
 * with the first problem (an image, the child, its parent, what is wrong)
 * in @why, or -ENOMEM. */
int tree_gen_check(const char *const *paths, size_t n, char *why, size_t why_len);

#endif
