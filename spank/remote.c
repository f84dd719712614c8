/* remote.c - slurmstepd context: every task of a job step that asked for
 * --checkpoint=auto either resumes from its image or starts fresh under
 * libckpt.so, connected to the job's agent on this node; the batch step
 * starts the job's coordinator. */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <slurm/slurm.h>

#include "agent_dir.h"
#include "ckpt_config.h"
#include "img.h"
#include "layout.h"
#include "manifest.h"
#include "mpi_split.h"
#include "plugin.h"

#define LOG_PREFIX ""
#include "log.h"

/* What one task needs to know about itself. */
struct task_ids {
	uint32_t jobid;
	uint32_t stepid;
	uint32_t rank; /* global task id within the step */
};

static int task_ids_get(spank_t sp, struct task_ids *t)
{
	if (spank_get_item(sp, S_JOB_ID, &t->jobid) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_STEPID, &t->stepid) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_TASK_GLOBAL_ID, &t->rank) != ESPANK_SUCCESS) {
		log_err("cannot read the job, step and task ids from Slurm");
		return -1;
	}
	return 0;
}

/*
 * Finds @name relative to the plugin: installed, libckpt.so and ckpt-restore
 * sit beside spank_ckpt.so and ckpt-agent in bindir; the build tree keeps
 * them in sibling folders. Fills @out, or logs what was tried.
 */
static int sibling_path(const char *name, char *out, size_t len)
{
	static const char *const dirs[] = { ".",	  CKPT_BINDIR_FROM_PKGLIBDIR,
					    "../libckpt", "../nodeagent",
					    "mpi",	  "../mpi" };
	char self[PATH_MAX];
	Dl_info info;

	if (!dladdr((void *)sibling_path, &info) || !info.dli_fname ||
	    !realpath(info.dli_fname, self)) {
		log_err("cannot find where spank_ckpt.so is installed");
		return -1;
	}
	*strrchr(self, '/') = '\0';
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (snprintf(out, len, "%s/%s/%s", self, dirs[i], name) >= (int)len)
			continue;
		if (access(out, R_OK) == 0)
			return 0;
	}
	log_err("cannot find %s beside %s (looked in ., %s, ../libckpt, ../nodeagent, mpi, "
		"../mpi); reinstall slurm-ckpt",
		name, self, CKPT_BINDIR_FROM_PKGLIBDIR);
	return -1;
}

/* "the batch script" or "step N", for messages. */
static const char *step_name(uint32_t step, char *buf, size_t len)
{
	if (step == SLURM_BATCH_SCRIPT)
		return "the batch script";
	snprintf(buf, len, "step %u", step);
	return buf;
}

/* Logs why @dir failed proto_layout_dir_check (@rc, @why) for step @step. */
static void dir_untrusted(const char *dir, int rc, const char *why, uint32_t step)
{
	char name[32];

	if (rc == -EPERM)
		log_err("checkpoint directory %s is not safe: %s. Another user could have put a "
			"checkpoint there for this job to restore; %s does not start. Use a "
			"directory only you can write (mkdir -m 700 DIR, --checkpoint-dir=DIR), "
			"or remove what is not yours.",
			dir, why, step_name(step, name, sizeof(name)));
	else
		log_err("checkpoint directory %s cannot be checked: %s; %s does not start", dir,
			why, step_name(step, name, sizeof(name)));
}

/*
 * The job's checkpoint directory DIR/<jobid>, the same DIR sbatch checked,
 * created if needed; refused (and logged) unless DIR is safe and the job
 * directory is the user's own (proto_layout_dir_check), since everything
 * restored from it runs as the user.
 */
static int job_dir_prepare(const struct task_ids *t, char *out, size_t len)
{
	char base[SETTINGS_DIR_MAX];
	char why[PATH_MAX + 128];
	int rc;

	if (plugin_dir_expand(t->jobid, base, sizeof(base)))
		return -1;
	if (proto_layout_job_dir(out, len, base, t->jobid)) {
		log_err("checkpoint directory %s/%u is too long", base, t->jobid);
		return -1;
	}
	rc = agent_mkdir_parents(base);
	if (rc) {
		log_err("cannot create checkpoint directory %s: %s", base, strerror(-rc));
		return -1;
	}
	rc = proto_layout_dir_check(base, getuid(), false, why, sizeof(why));
	if (rc) {
		dir_untrusted(base, rc, why, t->stepid);
		return -1;
	}
	if (mkdir(out, 0700) < 0 && errno != EEXIST) {
		log_perror("cannot create checkpoint directory %s", out);
		return -1;
	}
	rc = proto_layout_dir_check(out, getuid(), true, why, sizeof(why));
	if (rc) {
		dir_untrusted(out, rc, why, t->stepid);
		return -1;
	}
	return 0;
}

/* The job instance sbatch drew (PLUGIN_INSTANCE_VAR), "" when the job was
 * submitted without the plugin in sbatch. */
static void job_instance_get(spank_t sp, char *out, size_t len)
{
	if (spank_getenv(sp, "SLURM_SPANK_" PLUGIN_INSTANCE_VAR, out, (int)len) != ESPANK_SUCCESS ||
	    !proto_manifest_name_ok(out) || strlen(out) >= PROTO_MANIFEST_INSTANCE_SIZE)
		out[0] = '\0';
}

/* Whether the step may run MPI ranks the shadow library serves: launched
 * with --mpi=pmi2 (Debian's MPICH speaks PMI-1/2 to it), which is also what
 * a site's MpiDefault=pmi2 gives every step. */
static bool step_is_mpi(spank_t sp)
{
	char type[32] = "";

	return spank_getenv(sp, "SLURM_MPI_TYPE", type, sizeof(type)) == ESPANK_SUCCESS &&
	       strcmp(type, "pmi2") == 0;
}

/* Whether step @step's images in generation @m (in @gendir) are an MPI
 * step's: the first of them that opens carries libckpt's mpi record. */
static bool gen_step_is_mpi(const char *gendir, const struct proto_manifest *m, uint32_t step)
{
	for (size_t i = 0; i < m->n_images; i++) {
		const struct proto_manifest_image *img = &m->images[i];
		char path[PATH_MAX];
		struct img_reader *r = NULL;
		const void *data;
		uint64_t len = 0;
		uint32_t idx = 0;
		bool mpi;

		if (img->step != step ||
		    snprintf(path, sizeof(path), "%s/%s", gendir, img->file) >= (int)sizeof(path))
			continue;
		if (img_reader_open(path, 0, &r) < 0) {
			img_reader_free(r);
			continue;
		}
		mpi = img_reader_record_find(r, CKPT_REC_MPI, &idx, &data, &len) == 0 && len > 0;
		img_reader_free(r);
		return mpi;
	}
	return false;
}

/* Older generations handed to ckpt-restore beside the newest (a few more
 * than any keep setting in use; the rest are never needed). */
#define RESTORE_OLDER_MAX 8

/* What a task restores: the newest image whose metadata opened, and the
 * older generations ckpt-restore falls back to when it finds that image's
 * data corrupt while loading it. */
struct restore_plan {
	char image[PATH_MAX]; /* newest candidate */
	uint64_t gen;	      /* its generation */
	bool mpi;	      /* an MPI step's: no fallback, no fresh start */
	char older[RESTORE_OLDER_MAX * (PATH_MAX + 24)]; /* "N\tPATH\n" lines */
	unsigned int nolder;				 /* lines in older */
};

/* Appends generation @gen's @image to @p's older candidates, unless the
 * list is full or the path cannot be written on one line. */
static void plan_older_add(struct restore_plan *p, uint64_t gen, const char *image)
{
	size_t used = strlen(p->older);
	int n;

	if (p->nolder >= RESTORE_OLDER_MAX || strpbrk(image, "\t\n"))
		return;
	n = snprintf(p->older + used, sizeof(p->older) - used, "%llu\t%s\n",
		     (unsigned long long)gen, image);
	if (n < 0 || (size_t)n >= sizeof(p->older) - used) {
		p->older[used] = '\0';
		return;
	}
	p->nolder++;
}

/*
 * Looks for the image of (step, rank) in the newest committed generation of
 * @jobdir. Only the image's metadata is checked here (footer, index,
 * header, records, area descriptors: a few KiB); its page data is checked
 * by ckpt-restore as it loads it, so a restart reads each byte once. An
 * image whose metadata is unusable (or an unreadable manifest) is reported
 * and the generation before is tried; the older generations behind the one
 * chosen go to @p->older, for ckpt-restore to fall back to when it finds
 * the chosen image's data corrupt. A generation without this task's image
 * ends the search (the task starts fresh). Not so for a rank of an MPI step
 * (the step's other images carry libckpt's mpi record): its ranks must all
 * restart from one generation, and the others take the newest, so an
 * unusable image of its own stops the task, and no older one is listed. A
 * generation whose manifest does not name @instance (the running
 * submission's job instance) was not written by this job: it ends the
 * search too, said in the job output. Returns 1 with @p filled, 0 if there
 * is none, -1 when the task must not start.
 */
static int image_find(const char *jobdir, const struct task_ids *t, const char *instance,
		      struct restore_plan *p)
{
	char image[PATH_MAX];
	uint64_t *gens = NULL;
	unsigned int tried = 0;
	size_t n = 0;
	int found = 0;

	if (proto_gen_list(jobdir, &gens, &n) < 0)
		return 0; /* no directory yet: a first start */
	for (size_t i = n; i-- > 0 && found >= 0 && !(found && p->mpi);) {
		char gendir[PATH_MAX];
		struct proto_manifest *m = NULL;
		const struct proto_manifest_image *img;
		struct img_reader *r = NULL;

		if (proto_layout_gen_dir(gendir, sizeof(gendir), jobdir, gens[i], false) ||
		    proto_manifest_read(gendir, &m) < 0)
			continue; /* proto_manifest_read said why */
		if (!instance[0] || strcmp(m->instance, instance) != 0) {
			if (found) {
				/* An older submission's: no fallback there. */
				proto_manifest_free(m);
				break;
			}
			/* Not this submission's: neither it nor anything older. */
			log_err("gen-%llu in %s is not this job's (%s): not restored; step %u task "
				"%u starts from the beginning",
				(unsigned long long)gens[i], jobdir,
				!instance[0]
					? "the job was submitted without slurm-ckpt in sbatch, "
					  "so it has no job instance to match"
				: !m->instance[0]
					? "its manifest names no job instance: written "
					  "outside a Slurm job or by an older slurm-ckpt"
					: "it was written by an earlier job with the same id",
				t->stepid, t->rank);
			proto_manifest_free(m);
			break;
		}
		img = proto_manifest_find(m, t->stepid, t->rank);
		if (!img) {
			/* The newest generation is what the job had running: a
			 * step it does not hold had not started or had ended, and
			 * an older image of it would bring back a stale state. */
			proto_manifest_free(m);
			break;
		}
		if (snprintf(image, sizeof(image), "%s/%s", gendir, img->file) <
		    (int)sizeof(image)) {
			tried++;
			if (img_reader_open(image, 0, &r) == 0) {
				const void *data;
				uint64_t len = 0;
				uint32_t idx = 0;

				if (found) {
					plan_older_add(p, gens[i], image);
				} else {
					found = 1;
					p->gen = gens[i];
					snprintf(p->image, sizeof(p->image), "%s", image);
					p->mpi = img_reader_record_find(r, CKPT_REC_MPI, &idx,
									&data, &len) == 0 &&
						 len > 0;
				}
			} else if (found) {
				/* Not needed unless the chosen one fails: skipped. */
			} else if (gen_step_is_mpi(gendir, m, t->stepid)) {
				log_err("gen-%llu of step %u task %u is unusable (%s): the ranks of "
					"an MPI step must restart from one generation, so this one "
					"does not start; move %s aside to restart the job from the "
					"generation before",
					(unsigned long long)gens[i], t->stepid, t->rank,
					r ? img_reader_error(r) : "out of memory", gendir);
				found = -1;
			} else {
				log_err("gen-%llu of step %u task %u is unusable (%s); trying an "
					"older one",
					(unsigned long long)gens[i], t->stepid, t->rank,
					r ? img_reader_error(r) : "out of memory");
			}
			img_reader_free(r);
		}
		proto_manifest_free(m);
	}
	free(gens);
	if (found < 0)
		return -1;
	if (!found && tried)
		log_err("no usable image of step %u task %u in %u generation(s) of %s: it starts "
			"from the beginning",
			t->stepid, t->rank, tried, jobdir);
	return found;
}

/*
 * srun --multi-prog: each task's command line is built from the
 * configuration file separately, so the step's argv (the file's name and
 * contents) is not what slurmstepd executes. Its contents hold a newline;
 * an ordinary command with a one-argument newline also lands here, which
 * only costs it the early restore below.
 */
static bool step_is_multi_prog(int argc, char **argv)
{
	return argc == 2 && argv[1] && strchr(argv[1], '\n');
}

/*
 * Makes slurmstepd execute ckpt-restore of @image in place of the task's
 * program. slurmstepd runs TaskProlog (site and --task-prolog), creates
 * TMPDIR, sets the user's propagated limits and then executes the task's
 * argv[0] with the environment the plugin may still change: putting the
 * restorer there (the image and socket go in the environment) gives the
 * restored task the same set-up a fresh one gets. With @fresh, the task's
 * own program is named too (CKPT_RESTORE_ARGV0), for ckpt-restore to start
 * it when no image turns out usable. Returns 0, or -1 when the step's argv
 * cannot be changed (the caller restores at once).
 */
static int task_restore_deferred(spank_t sp, const char *restorer, const char *image,
				 const char *sock, bool fresh)
{
	char **argv = NULL;
	char *exe;
	int argc = 0;

	if (spank_get_item(sp, S_JOB_ARGV, &argc, &argv) != ESPANK_SUCCESS || !argv || argc < 1 ||
	    !argv[0] || step_is_multi_prog(argc, argv))
		return -1;
	if (spank_setenv(sp, "CKPT_RESTORE_IMAGE", image, 1) != ESPANK_SUCCESS ||
	    spank_setenv(sp, "CKPT_RESTORE_AGENT", sock, 1) != ESPANK_SUCCESS)
		return -1;
	exe = strdup(restorer);
	if (!exe)
		return -1;
	if (fresh && spank_setenv(sp, "CKPT_RESTORE_ARGV0", argv[0], 1) != ESPANK_SUCCESS) {
		free(exe);
		return -1;
	}
	/* This is the task's own copy of slurmstepd: it executes argv[0]
	 * next (or exits), so the old string is neither freed nor needed. */
	argv[0] = exe;
	return 0;
}

static int task_env_set(spank_t sp, const char *sock, const char *jobdir, const struct task_ids *t,
			bool restorer);

/*
 * Replaces this task by ckpt-restore of @p's image: through slurmstepd's
 * own execve where possible, else at once (--multi-prog). ckpt-restore
 * checks the image's data as it loads it; it falls back to @p's older
 * generations when that fails, and, unless the task is an MPI rank, starts
 * the task's program fresh when none is usable: the environment of a fresh
 * task is set up for that (libckpt.so named in CKPT_RESTORE_PRELOAD, not
 * preloaded into the restorer). It prints the "resumes from" line once a
 * generation is loaded whole. Returns 0 when the restore is set up, -1 on
 * failure.
 */
static int task_restore(spank_t sp, const struct restore_plan *p, const char *sock,
			const char *jobdir, const struct task_ids *t)
{
	char restorer[PATH_MAX];
	char task[64];
	char gen[24];
	char **env = NULL;

	if (sibling_path("ckpt-restore", restorer, sizeof(restorer)))
		return -1;
	snprintf(task, sizeof(task), "step %u task %u", t->stepid, t->rank);
	snprintf(gen, sizeof(gen), "%llu", (unsigned long long)p->gen);
	/* The job's environment is the user's: only what is set here counts. */
	spank_unsetenv(sp, "CKPT_RESTORE_OLDER");
	spank_unsetenv(sp, "CKPT_RESTORE_ARGV0");
	spank_unsetenv(sp, "CKPT_RESTORE_PRELOAD");
	if (spank_setenv(sp, "CKPT_RESTORE_GEN", gen, 1) != ESPANK_SUCCESS ||
	    spank_setenv(sp, "CKPT_RESTORE_TASK", task, 1) != ESPANK_SUCCESS ||
	    (p->nolder && spank_setenv(sp, "CKPT_RESTORE_OLDER", p->older, 1) != ESPANK_SUCCESS)) {
		log_err("cannot set the environment of ckpt-restore for %s", task);
		return -1;
	}
	if (!p->mpi && task_env_set(sp, sock, jobdir, t, true))
		return -1;
	if (task_restore_deferred(sp, restorer, p->image, sock, !p->mpi) == 0)
		return 0;
	log_info("step %u task %u is restored at once, without this start's TaskProlog, TMPDIR "
		 "and limits (an srun --multi-prog step)",
		 t->stepid, t->rank);
	if (spank_get_item(sp, S_JOB_ENV, &env) != ESPANK_SUCCESS)
		env = NULL;
	char *const argv[] = { restorer, (char *)p->image, "--agent", (char *)sock, NULL };
	execve(restorer, argv, env);
	log_perror("cannot execute %s", restorer);
	return -1;
}

/* Prepends @lib to the task's LD_PRELOAD. */
static int preload_add(spank_t sp, const char *lib)
{
	char old[4096] = "";
	char val[PATH_MAX + sizeof(old) + 2];

	if (spank_getenv(sp, "LD_PRELOAD", old, sizeof(old)) != ESPANK_SUCCESS)
		old[0] = '\0';
	snprintf(val, sizeof(val), "%s%s%s", lib, old[0] ? ":" : "", old);
	return spank_setenv(sp, "LD_PRELOAD", val, 1) == ESPANK_SUCCESS ? 0 : -1;
}

static int setenv_u32(spank_t sp, const char *name, uint32_t v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", v);
	return spank_setenv(sp, name, buf, 1) == ESPANK_SUCCESS ? 0 : -1;
}

/* MPI steps (srun --mpi=pmi2) load the shadow libmpich.so.12 instead of
 * MPICH's, so that their ranks can be checkpointed (docs/mpi.md): its
 * directory goes first in LD_LIBRARY_PATH. Other MPI plugin types are left
 * alone; libckpt then refuses to checkpoint an MPI rank and says why. */
static int mpi_shadow_add(spank_t sp)
{
	char shadow[PATH_MAX];
	char old[4096] = "";
	char val[PATH_MAX + sizeof(old) + 2];

	if (!step_is_mpi(sp))
		return 0;
	if (sibling_path("libmpich.so.12", shadow, sizeof(shadow)))
		return -1;
	*strrchr(shadow, '/') = '\0';
	if (spank_getenv(sp, "LD_LIBRARY_PATH", old, sizeof(old)) != ESPANK_SUCCESS)
		old[0] = '\0';
	snprintf(val, sizeof(val), "%s%s%s", shadow, old[0] ? ":" : "", old);
	return spank_setenv(sp, "LD_LIBRARY_PATH", val, 1) == ESPANK_SUCCESS ? 0 : -1;
}

/* The environment of a task started fresh under libckpt.so, registered
 * with the job's agent. For @restorer (ckpt-restore, which starts the task
 * fresh only when no image is usable), libckpt.so is named in
 * CKPT_RESTORE_PRELOAD instead of being preloaded into the restorer. */
static int task_env_set(spank_t sp, const char *sock, const char *jobdir, const struct task_ids *t,
			bool restorer)
{
	char lib[PATH_MAX];

	if (sibling_path("libckpt.so", lib, sizeof(lib)))
		return -1;
	/* Inherited from the batch shell's environment: not for tasks. */
	spank_unsetenv(sp, "CKPT_SIGNALS_ONLY");
	/* SIGTERM and --signal's USR1 become checkpoint requests. */
	if ((restorer ? spank_setenv(sp, "CKPT_RESTORE_PRELOAD", lib, 1) != ESPANK_SUCCESS
		      : preload_add(sp, lib) != 0) ||
	    spank_setenv(sp, "CKPT_AGENT_SOCKET", sock, 1) ||
	    spank_setenv(sp, "CKPT_DIR", jobdir, 1) || setenv_u32(sp, "CKPT_STEP", t->stepid) ||
	    setenv_u32(sp, "CKPT_RANK", t->rank) || spank_setenv(sp, "CKPT_SIGNALS", "1", 1) ||
	    mpi_shadow_add(sp)) {
		log_err("cannot set the task environment for libckpt");
		return -1;
	}
	return 0;
}

/* Finds ckpt-agent and starts it for @dir with @args unless one runs. */
static int agent_start(const char *dir, const char *const *args, char *sock, size_t len)
{
	char agent[PATH_MAX];

	if (sibling_path("ckpt-agent", agent, sizeof(agent)))
		return -1;
	if (agent_dir_ensure(agent, dir, args, sock, len) < 0) {
		log_err("cannot start the checkpoint agent for %s (log: %s/agent.log)", dir, dir);
		return -1;
	}
	return 0;
}

/* The job's coordinator, on the batch host: its job, margin, keep, level
 * and interval. */
static int coordinator_ensure(const char *jobdir, uint32_t jobid, char *sock, size_t len)
{
	/* The same list the coordinator records for its restart. */
	const struct agent_coord_opts o = {
		.job_id = jobid,
		.margin_s = (int64_t)plugin_site.margin_s,
		.keep = (int)(plugin_job.keep ? plugin_job.keep : plugin_site.keep),
		.level = plugin_site.compress_level,
		.interval_s = plugin_job.interval_s ? (int64_t)plugin_job.interval_s : -1,
		.port_lo = (int)plugin_site.port_lo,
		.port_hi = (int)plugin_site.port_hi,
		.phase_timeout_s = (int64_t)plugin_site.phase_timeout_s,
	};
	struct agent_coord_argv argv;

	return agent_start(jobdir, agent_coord_args(&o, &argv), sock, len);
}

/* The job's agent on this node, which forwards the node's processes to the
 * coordinator; it lives in JOBDIR/nodes/NODE (one per slurmd, several may
 * share a host). */
static int node_agent_ensure(spank_t sp, const char *jobdir, uint32_t jobid, char *sock, size_t len)
{
	char node[SETTINGS_NAME_MAX];
	char dir[PATH_MAX];
	char job[16];

	if (spank_getenv(sp, "SLURMD_NODENAME", node, sizeof(node)) != ESPANK_SUCCESS || !*node ||
	    strchr(node, '/')) {
		log_err("SLURMD_NODENAME is not set to a node name: cannot start the node agent");
		return -1;
	}
	if (snprintf(dir, sizeof(dir), "%s/nodes/%s", jobdir, node) >= (int)sizeof(dir)) {
		log_err("checkpoint directory %s is too long", jobdir);
		return -1;
	}
	int rc = agent_mkdir_parents(dir);

	if (rc) {
		log_err("cannot create %s: %s", dir, strerror(-rc));
		return -1;
	}
	snprintf(job, sizeof(job), "%u", jobid);
	const char *const args[] = { "--job", job, "--relay", jobdir, "--node", node, NULL };

	return agent_start(dir, args, sock, len);
}

/*
 * The site's allow lists, checked again on the node: sbatch's check is only
 * a courtesy, a job can be submitted without the plugin loaded.
 */
static bool site_allows(void)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *user = pw ? pw->pw_name : "";
	/* slurmctld's, not SLURM_JOB_PARTITION: the job's environment is the
	 * user's to set. */
	const char *part = plugin_record.partition;

	if (!settings_site_allows_user(&plugin_site, user)) {
		log_err("user '%s' may not use checkpointing here (site setting allow_users); "
			"the job runs WITHOUT checkpoints",
			user);
		return false;
	}
	if (!settings_site_allows_partition(&plugin_site, part)) {
		log_err("partition '%s' does not allow checkpointing (site setting "
			"allow_partitions); the job runs WITHOUT checkpoints",
			part);
		return false;
	}
	return true;
}

/*
 * The batch shell is not checkpointed, but it gets `--signal=B:USR1` and,
 * on preemption, a SIGTERM that would end the job before the steps are
 * saved: libckpt in signals-only mode turns both into requests to the
 * coordinator and keeps itself out of the commands the script runs.
 */
static int batch_shell_signals(spank_t sp, const char *sock)
{
	char lib[PATH_MAX];

	if (sibling_path("libckpt.so", lib, sizeof(lib)))
		return -1;
	if (preload_add(sp, lib) || spank_setenv(sp, "CKPT_AGENT_SOCKET", sock, 1) ||
	    spank_setenv(sp, "CKPT_SIGNALS_ONLY", "1", 1)) {
		log_err("cannot set the batch script's environment for libckpt");
		return -1;
	}
	return 0;
}

/* True when the job was submitted with sbatch: Slurm sets ENVIRONMENT=BATCH
 * for the batch script, and its steps inherit it. */
static bool job_is_batch(spank_t sp)
{
	char env[16];

	return spank_getenv(sp, "ENVIRONMENT", env, sizeof(env)) == ESPANK_SUCCESS &&
	       !strcmp(env, "BATCH");
}

/* A --container step: its tasks run where neither libckpt.so nor
 * ckpt-restore is (sbatch refuses such jobs; srun --container inside one
 * still reaches here). */
static bool step_in_container(spank_t sp)
{
	char name[256];

	return spank_getenv(sp, "SLURM_CONTAINER", name, sizeof(name)) == ESPANK_SUCCESS && name[0];
}

/* The per-node launchers `mpiexec`/`mpirun` start through srun inside a
 * job (MPICH's Hydra, Open MPI 4 and 5): their MPI ranks are their
 * children, outside any step's task list. Checkpointing the launcher would
 * save a process whose ranks cannot come back, and the ranks would claim
 * the launcher's step and rank. Returns the launcher's name, or NULL. */
static const char *step_mpi_launcher(spank_t sp)
{
	static const char *const launchers[] = { "hydra_pmi_proxy", "orted", "prted" };
	char **argv = NULL;
	const char *base;
	int argc = 0;

	if (spank_get_item(sp, S_JOB_ARGV, &argc, &argv) != ESPANK_SUCCESS || !argv || argc < 1 ||
	    !argv[0])
		return NULL;
	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	for (size_t i = 0; i < sizeof(launchers) / sizeof(launchers[0]); i++)
		if (!strcmp(base, launchers[i]))
			return launchers[i];
	return NULL;
}

/* A first start (restart count 0 at slurmctld) restores nothing: what its
 * directory holds was not written by this job. Says so when it holds some. */
static void first_start_note(const char *jobdir, const struct task_ids *t)
{
	uint64_t *gens = NULL;
	size_t n = 0;

	if (proto_gen_list(jobdir, &gens, &n) == 0 && n)
		log_err("job %u starts for the first time (restart count 0 at slurmctld): gen-%llu "
			"in %s is not its own and is not restored; step %u task %u starts from "
			"the beginning",
			t->jobid, (unsigned long long)gens[n - 1], jobdir, t->stepid, t->rank);
	free(gens);
}

int plugin_task_init(spank_t sp)
{
	char instance[PROTO_MANIFEST_INSTANCE_SIZE];
	struct task_ids t;
	char jobdir[PATH_MAX];
	char sock[PATH_MAX];
	static struct restore_plan plan;
	int found;

	if (plugin_job.mode != CKPT_MODE_AUTO)
		return 0;
	if (task_ids_get(sp, &t))
		return -1;
	/* Only batch steps and their job steps: the extern step has no task
	 * of the user's, interactive steps are not requeued. */
	if (t.stepid >= SLURM_INTERACTIVE_STEP && t.stepid != SLURM_BATCH_SCRIPT)
		return 0;
	if (!plugin_record.loaded) {
		char name[32];

		log_err("%s: cannot tell a restart from a first start nor check the site's "
			"allow lists; %s does not start",
			plugin_record.error[0] ? plugin_record.error : "no job record",
			step_name(t.stepid, name, sizeof(name)));
		return -1;
	}
	if (!site_allows())
		return 0;
	if (step_in_container(sp)) {
		log_err("step %u runs in a container (--container): it runs WITHOUT checkpoints",
			t.stepid);
		return 0;
	}
	if (step_mpi_launcher(sp)) {
		const char *launcher = step_mpi_launcher(sp);

		log_err("step %u runs %s, the launcher of mpiexec/mpirun inside the job: its MPI "
			"ranks cannot be checkpointed that way and the step runs WITHOUT "
			"checkpoints; %s",
			t.stepid, launcher,
			strcmp(launcher, "hydra_pmi_proxy") == 0
				? "start the ranks with srun --mpi=pmi2 instead"
				: "Open MPI programs are not checkpointed yet");
		return 0;
	}
	if (!job_is_batch(sp)) {
		log_err("job %u is not a batch job: --checkpoint=auto needs sbatch (a requeued "
			"job reruns its batch script); step %u runs WITHOUT checkpoints",
			t.jobid, t.stepid);
		return 0;
	}
	if (job_dir_prepare(&t, jobdir, sizeof(jobdir)))
		return -1;
	job_instance_get(sp, instance, sizeof(instance));
	/* The batch shell reruns from the top after a requeue and is not
	 * checkpointed; its start is where the job's coordinator starts. */
	if (t.stepid == SLURM_BATCH_SCRIPT) {
		if (!instance[0])
			log_err("job %u was submitted without slurm-ckpt in sbatch: it has no job "
				"instance, so its checkpoints will not be restored",
				t.jobid);
		/* The coordinator writes it into every manifest (agent_store.c);
		 * this process's environment is not the task's (S_JOB_ENV is). */
		if (instance[0] && setenv(PROTO_MANIFEST_INSTANCE_ENV, instance, 1)) {
			log_perror("cannot pass the job instance to the coordinator");
			return -1;
		}
		if (coordinator_ensure(jobdir, t.jobid, sock, sizeof(sock)))
			return -1;
		return batch_shell_signals(sp, sock);
	}
	if (node_agent_ensure(sp, jobdir, t.jobid, sock, sizeof(sock)))
		return -1;
	if (!plugin_record.restart_cnt) {
		first_start_note(jobdir, &t);
		found = 0;
	} else {
		memset(&plan, 0, sizeof(plan));
		found = image_find(jobdir, &t, instance, &plan);
	}
	if (found < 0)
		return -1;
	if (found > 0)
		return task_restore(sp, &plan, sock, jobdir, &t);
	return task_env_set(sp, sock, jobdir, &t, false);
}
