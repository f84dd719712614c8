/* mpi_split.c - libckpt's side of the split-process MPI layer; see
 * mpi_split.h and docs/mpi.md ("Checkpointing").
 *
 * The shadow libmpich.so.12 does the MPI work (consistent cut, drain,
 * restart); this file calls it at the right moments of libckpt's
 * checkpoint and tells the engine what of the process is the lower half:
 * memory areas left out of the image, threads never stopped, descriptors
 * not captured. Everything is found with dlsym(RTLD_DEFAULT) because the
 * shadow library is there only in MPI ranks.
 */
#define LOG_PREFIX "libckpt: "
#include "mpi_split.h"
#include "env_fresh.h"

#include "files.h"
#include "libckpt.h"
#include "lh_regions.h"
#include "log.h"
#include "shadow_ckpt.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Bound on the consistent cut and on the drain: ranks may have to run on
 * to their next collective first. */
#define MPI_PHASE_TIMEOUT_MS 60000
#define MPI_LH_AREAS_MAX     4200u
#define MPI_LH_FDS_MAX	     256u

/* The shadow library's entry points (docs/mpi.md, mpi/shadow_ckpt.h). */
struct mpi_api {
	int (*ckpt_api)(void);
	int (*lh_api)(void);
	int (*prepare)(int timeout_ms, char *why, size_t len);
	int (*drain)(int timeout_ms, char *why, size_t len);
	void (*resume)(void);
	int (*restart)(char *const *env, char *why, size_t len);
	int (*thread_in_lh)(void);
	int (*pmi_fd)(void);
	int (*areas)(struct shadow_lh_area *out, size_t cap, size_t *count);
	int (*threads)(pid_t *out, size_t cap, size_t *count);
	int (*fds)(int *out, size_t cap, size_t *count);
	int (*prepare_image)(char *why, size_t len);
	void (*note_state)(void);
};

static struct mpi_api mpi;
/* The process runs under the shadow library (its interface was found). */
static bool mpi_bound;
/* Between a consistent cut and its shadow_ckpt_resume(). */
static bool mpi_cut;
/* Descriptors hidden from the files capture for this checkpoint. */
static int mpi_hidden_fds[MPI_LH_FDS_MAX + 1];
static unsigned int mpi_nhidden;
/* Lower-half areas: static, the list is taken with the threads stopped. */
static struct shadow_lh_area mpi_areas[MPI_LH_AREAS_MAX];
/* The restarting step's environment, in its own mapping. */
static char **mpi_new_env;

struct mpi_sym {
	const char *name;
	void **slot;
};

bool eng_mpi_bind(void)
{
	const struct mpi_sym syms[] = {
		{ "shadow_ckpt_api", (void **)&mpi.ckpt_api },
		{ "shadow_lh_api", (void **)&mpi.lh_api },
		{ "shadow_ckpt_prepare", (void **)&mpi.prepare },
		{ "shadow_ckpt_drain", (void **)&mpi.drain },
		{ "shadow_ckpt_resume", (void **)&mpi.resume },
		{ "shadow_ckpt_restart", (void **)&mpi.restart },
		{ "shadow_ckpt_thread_in_lh", (void **)&mpi.thread_in_lh },
		{ "shadow_ckpt_pmi_fd", (void **)&mpi.pmi_fd },
		{ "shadow_lh_areas", (void **)&mpi.areas },
		{ "shadow_lh_threads", (void **)&mpi.threads },
		{ "shadow_lh_fds", (void **)&mpi.fds },
		{ "shadow_lh_prepare_image", (void **)&mpi.prepare_image },
		{ "shadow_ckpt_note_state", (void **)&mpi.note_state },
	};

	if (mpi_bound)
		return true;
	if (!dlsym(RTLD_DEFAULT, "shadow_ckpt_api"))
		return false;
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(RTLD_DEFAULT, syms[i].name);
		if (!*syms[i].slot) {
			log_err("the shadow MPI library lacks %s: it does not match this libckpt",
				syms[i].name);
			return false;
		}
	}
	if (mpi.ckpt_api() != SHADOW_CKPT_API || mpi.lh_api() != SHADOW_LH_API) {
		log_err("the shadow MPI library speaks interface %d/%d, libckpt %d/%d: install "
			"both from the same build",
			mpi.ckpt_api(), mpi.lh_api(), SHADOW_CKPT_API, SHADOW_LH_API);
		return false;
	}
	mpi_bound = true;
	eng_mpi_rank = true;
	return true;
}

int eng_mpi_prepare(char *why, size_t len)
{
	pid_t tids[ENG_QUIESCE_SKIP_MAX];
	size_t ntids = 0;
	int ret;

	mpi_cut = true;
	ret = mpi.prepare(MPI_PHASE_TIMEOUT_MS, why, len);
	if (ret < 0) {
		eng_mpi_resume();
		return ret;
	}
	ret = mpi.threads(tids, ENG_QUIESCE_SKIP_MAX, &ntids);
	if (ret < 0 || ntids > ENG_QUIESCE_SKIP_MAX) {
		snprintf(why, len, "cannot list the MPI library's threads: %s",
			 ret < 0 ? strerror(-ret) : "more than the engine can leave running");
		eng_mpi_resume();
		return ret < 0 ? ret : -E2BIG;
	}
	eng_quiesce_skip(tids, (unsigned int)ntids, mpi.thread_in_lh);
	eng_release_hook_set(eng_mpi_resume);
	return 0;
}

/* Hides the lower half's descriptors, and Slurm's PMI socket it talks
 * through, from the files capture: the restart gets new ones. */
static int mpi_hide_fds(char *why, size_t len)
{
	int fds[MPI_LH_FDS_MAX + 1];
	size_t n = 0;
	int ret = mpi.fds(fds, MPI_LH_FDS_MAX, &n);

	if (ret < 0 || n > MPI_LH_FDS_MAX) {
		snprintf(why, len, "cannot list the MPI library's descriptors: %s",
			 ret < 0 ? strerror(-ret) : "too many");
		return ret < 0 ? ret : -E2BIG;
	}
	fds[n++] = mpi.pmi_fd();
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0 || ckpt_files_fd_excluded(fds[i]))
			continue;
		ret = ckpt_files_exclude_fd(fds[i]);
		if (ret < 0) {
			snprintf(why, len, "cannot leave descriptor %d of the MPI library out: %s",
				 fds[i], strerror(-ret));
			return ret;
		}
		mpi_hidden_fds[mpi_nhidden++] = fds[i];
	}
	return 0;
}

int eng_mpi_drain(char *why, size_t len)
{
	int ret = mpi.drain(MPI_PHASE_TIMEOUT_MS, why, len);

	if (ret < 0)
		return ret;
	return mpi_hide_fds(why, len);
}

int eng_mpi_exclude_memory(char *why, size_t len)
{
	size_t n = 0;
	int ret = mpi.prepare_image(why, len);

	if (ret < 0)
		return ret;
	mpi.note_state();
	ret = mpi.areas(mpi_areas, MPI_LH_AREAS_MAX, &n);
	if (ret < 0 || n > MPI_LH_AREAS_MAX) {
		snprintf(why, len, "cannot list the MPI library's memory: %s",
			 ret < 0 ? strerror(-ret) : "more areas than the engine can leave out");
		return ret < 0 ? ret : -E2BIG;
	}
	for (size_t i = 0; i < n; i++) {
		ret = eng_snapshot_exclude(mpi_areas[i].start, mpi_areas[i].len);
		if (ret < 0) {
			snprintf(why, len, "cannot leave the MPI library's memory out: %s",
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void eng_mpi_resume(void)
{
	for (unsigned int i = 0; i < mpi_nhidden; i++)
		ckpt_files_include_fd(mpi_hidden_fds[i]);
	mpi_nhidden = 0;
	eng_quiesce_skip(NULL, 0, NULL);
	if (mpi_cut) {
		mpi_cut = false;
		mpi.resume();
	}
}

void eng_mpi_keep_env(const void *rec, size_t len)
{
	mpi_new_env = eng_env_from_record(rec, len);
}

/* A message on stderr without stdio (a stopped thread may hold its lock);
 * a failed write changes nothing, the process ends anyway. */
static void mpi_say(const char *a, const char *b)
{
	struct iovec iov[3] = { { (void *)a, strlen(a) }, { (void *)b, strlen(b) }, { "\n", 1 } };

	if (writev(STDERR_FILENO, iov, 3) < 0)
		return;
}

void eng_mpi_restart(void)
{
	char why[512] = "";
	int ret;

	if (!mpi_bound)
		return;
	if (!mpi_new_env) {
		mpi_say("slurm-ckpt: cannot restart this MPI rank: ",
			"the restorer passed no environment (ckpt-restore of another build?)");
		syscall(SYS_exit_group, 70);
	}
	ret = mpi.restart(mpi_new_env, why, sizeof(why));
	if (ret < 0) {
		mpi_say("slurm-ckpt: cannot restart this MPI rank: ", why);
		syscall(SYS_exit_group, 70);
	}
}
