/* manifest.h - MANIFEST.json of a checkpoint generation.
 * Public: any component may include it.
 *
 * The coordinator writes the manifest last, after every image was reported
 * written, and commits the generation right after; the restorer trusts an
 * image only if its size and xxh64 match the manifest. Reading validates
 * everything and refuses with a message naming the file and the field.
 *
 * JSON form (docs/protocol.md):
 *   {"format": 1, "job": "1234", "job_instance": "5f0c...", "gen": 3, "trigger": "time",
 *    "start_ms": 1700000000000, "end_ms": 1700000004200, "duration_ms": 4200,
 *    "images": [{"file": "0.0.img", "step": 0, "rank": 0, "node": "cn1",
 *                "size": 123456, "xxh64": "0123456789abcdef"}]}
 */
#ifndef CKPT_PROTO_MANIFEST_H
#define CKPT_PROTO_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Manifest format version; a reader refuses any other. */
#define PROTO_MANIFEST_FORMAT 1
/* Most images per generation: a quarter million ranks is beyond any job this
 * tool targets, and bounds what a corrupt manifest can make us allocate. */
#define PROTO_MANIFEST_IMAGES_MAX (256u * 1024u)
/* Largest MANIFEST.json accepted: ~200 bytes per image at the image cap. */
#define PROTO_MANIFEST_FILE_MAX (64u * 1024u * 1024u)
/* Field sizes, including the NUL. A file name is one path component. */
#define PROTO_MANIFEST_NAME_SIZE 256
/* Job ids ("1234") or standalone run names ("prog-4242"). */
#define PROTO_MANIFEST_JOB_SIZE 96
/* Slurm node names (NodeName) are short; 128 leaves ample room. */
#define PROTO_MANIFEST_NODE_SIZE 128
/* The job instance: the SPANK plugin's 32 hex digits, with room to spare. */
#define PROTO_MANIFEST_INSTANCE_SIZE 65
/* How the SPANK plugin hands the job instance to the coordinator it starts
 * (nodeagent/agent_store.c copies it into every manifest it writes). */
#define PROTO_MANIFEST_INSTANCE_ENV "CKPT_JOB_INSTANCE"
/* Trigger names: "time", "signal", "preempt", "interval", "manual", "app"... */
#define PROTO_MANIFEST_TRIGGER_SIZE 32

/* One process image of the generation. */
struct proto_manifest_image {
	char file[PROTO_MANIFEST_NAME_SIZE]; /* file name inside gen-N/, no '/' nor ".." */
	uint32_t step;			     /* step ordinal the image belongs to */
	uint32_t rank;			     /* global task id within the step */
	char node[PROTO_MANIFEST_NODE_SIZE]; /* SLURMD_NODENAME (or host) that wrote it */
	uint64_t size;			     /* bytes of the image file */
	uint64_t xxh64;			     /* XXH64 (seed 0) of the whole file */
};

/* A generation's manifest. Owned by whoever allocated it;
 * proto_manifest_free() releases one returned by proto_manifest_read(). */
struct proto_manifest {
	char job[PROTO_MANIFEST_JOB_SIZE]; /* Slurm job id or standalone run name */
	/* Which submission of job @job wrote it (optional "job_instance"; ""
	 * when absent, as in standalone runs and manifests written before it
	 * existed): a job id reused after a slurmctld state reset has another,
	 * so the plugin restores only generations of the submission it runs. */
	char instance[PROTO_MANIFEST_INSTANCE_SIZE];
	uint64_t gen;				   /* generation number (>= 1) */
	char trigger[PROTO_MANIFEST_TRIGGER_SIZE]; /* what started this checkpoint */
	int64_t start_ms;			   /* Unix time (ms) PREPARE was sent */
	int64_t end_ms;				   /* Unix time (ms) the last image was written */
	int64_t duration_ms;			   /* end - start, what margins are learned from */
	size_t n_images;			   /* entries in images */
	struct proto_manifest_image *images;	   /* malloc'd array of n_images entries */
};

/* Builds the JSON form of @m after validating it like the reader does.
 * Returns a new object or NULL (reason logged). */
struct json_object *proto_manifest_to_json(const struct proto_manifest *m);

/* Validates and converts @obj; @what names the source in messages (a path).
 * On success *@m is a new manifest (proto_manifest_free() it) and 0 is
 * returned; otherwise -EBADMSG (logged: which file, which field, what is
 * wrong) or -ENOMEM. Unknown fields are ignored. */
int proto_manifest_from_json(const struct json_object *obj, const char *what,
			     struct proto_manifest **m);

/* Writes @gen_dir/MANIFEST.json atomically: MANIFEST.json.tmp, fsync,
 * rename, fsync @gen_dir. Returns 0, -EINVAL for an invalid @m, or -errno. */
int proto_manifest_write(const char *gen_dir, const struct proto_manifest *m);

/* Reads and validates @gen_dir/MANIFEST.json. Returns 0 and a new manifest,
 * -ENOENT when absent, -EBADMSG when corrupt or invalid, -EFBIG when over
 * PROTO_MANIFEST_FILE_MAX, or -errno. Every failure is logged with the path. */
int proto_manifest_read(const char *gen_dir, struct proto_manifest **m);

/* Frees @m and its images; accepts NULL. */
void proto_manifest_free(struct proto_manifest *m);

/* Finds the image of (@step, @rank) in @m, NULL if none. */
const struct proto_manifest_image *proto_manifest_find(const struct proto_manifest *m,
						       uint32_t step, uint32_t rank);

/* True when @name is acceptable as an image file name: 1..255 bytes, no '/',
 * no "..", no control characters, not "." */
bool proto_manifest_name_ok(const char *name);

#endif
