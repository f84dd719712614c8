/* bad_records.c - hostile engine records: images that are well-formed
 * containers but whose thread or process records lie. ckpt-restore must
 * refuse each before touching its own address space, with a message that
 * names the file and the problem.
 *
 *   bad_records RESTORE DIR
 */
#include "engine.h"
#include "img.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CODE 0x400000ull /* r-x area */
#define DATA 0x600000ull /* rw- area, 64 KiB */

struct variant {
	const char *name;   /* what is wrong */
	const char *expect; /* text the refusal must contain */
	void (*spoil)(struct eng_process *p, struct eng_thread *t, uint32_t *nrec);
};

static void no_proc(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)p;
	(void)t;
	*n = 0;
}

static void bad_magic(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)t;
	(void)n;
	p->magic ^= 1;
}

static void zero_threads(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)t;
	(void)n;
	p->nthreads = 0;
}

static void many_threads(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)t;
	(void)n;
	p->nthreads = 3;
}

static void rip_outside(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)p;
	(void)n;
	t[1].ctx.rip = DATA + 16;
}

static void rip_noncanonical(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)p;
	(void)n;
	t[0].ctx.rip = 0xffff800000001000ull;
}

static void rsp_outside(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)p;
	(void)n;
	t[0].ctx.rsp = CODE + 0x800;
}

static void tls_outside(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)p;
	(void)n;
	t[1].fs_base = 0x12345000;
}

static void shared_tls(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)p;
	(void)n;
	t[1].fs_base = t[0].fs_base;
}

static void two_ckpt(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)p;
	(void)n;
	t[0].flags |= ENG_THREAD_CKPT;
}

static void bad_offset(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)t;
	(void)n;
	p->tid_offset = 1 << 20;
}

static void info_outside(struct eng_process *p, struct eng_thread *t, uint32_t *n)
{
	(void)t;
	(void)n;
	p->restore_info = DATA + 0x10000 - 8;
}

static const struct variant variants[] = {
	{ "no process record", "no engine process record", no_proc },
	{ "bad magic", "another engine version", bad_magic },
	{ "zero threads", "thread count", zero_threads },
	{ "thread count mismatch", "thread count", many_threads },
	{ "resume address in data", "not in executable memory", rip_outside },
	{ "non-canonical resume address", "not in executable memory", rip_noncanonical },
	{ "stack pointer in code", "not in writable memory", rsp_outside },
	{ "TLS outside memory", "TLS pointer", tls_outside },
	{ "shared TLS", "share one TLS block", shared_tls },
	{ "two checkpoint threads", "exactly one checkpoint thread", two_ckpt },
	{ "tid offset", "implausible", bad_offset },
	{ "restore info outside", "restore-info address", info_outside },
};

static int write_image(const char *path, const struct variant *v)
{
	struct eng_process p;
	struct eng_thread t[2];
	struct img_writer_opts o = { .level = 1, .nthreads = 1, .log_fd = 2, .no_fsync = true };
	struct img_header h = { .pid = 1, .exe = "/bin/true", .argc = 0 };
	struct img_area code = { .start = CODE,
				 .len = 0x1000,
				 .prot = PROT_READ | PROT_EXEC,
				 .flags = IMG_AREA_PRIVATE | IMG_AREA_ANON | IMG_AREA_NO_DATA };
	struct img_area data = { .start = DATA,
				 .len = 0x10000,
				 .prot = PROT_READ | PROT_WRITE,
				 .flags = IMG_AREA_PRIVATE | IMG_AREA_ANON };
	struct img_writer *w = NULL;
	uint32_t nrec = 2;
	size_t asz;
	void *arena;
	int ret;

	memset(&p, 0, sizeof(p));
	memset(t, 0, sizeof(t));
	p.magic = ENG_MAGIC;
	p.version = ENG_VERSION;
	p.nthreads = 2;
	p.tid_offset = 0x2d0;
	p.restore_info = DATA + 0x100;
	for (int i = 0; i < 2; i++) {
		t[i].tid = 100 + i;
		t[i].fs_base = DATA + 0x1000 + (uint64_t)i * 0x1000;
		t[i].ctx.rip = CODE + 0x10;
		t[i].ctx.rsp = DATA + 0x8000 + (uint64_t)i * 0x2000;
		t[i].altstack_flags = 2;
	}
	t[0].flags = ENG_THREAD_MAIN;
	t[1].flags = ENG_THREAD_CKPT;
	v->spoil(&p, t, &nrec);

	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (o.fd < 0)
		return -1;
	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	if (arena == MAP_FAILED)
		return -1;
	ret = img_writer_begin(&w, &o, &h, arena, asz);
	if (!ret && nrec > 0)
		ret = img_writer_add_record(w, ENG_REC_PROCESS, &p, sizeof(p));
	if (!ret && nrec > 1)
		ret = img_writer_add_record(w, ENG_REC_THREADS, t, sizeof(t));
	if (!ret)
		ret = img_writer_area_begin(w, &code);
	if (!ret)
		ret = img_writer_area_end(w);
	if (!ret)
		ret = img_writer_area_begin(w, &data);
	if (!ret)
		ret = img_writer_area_end(w);
	if (!ret)
		ret = img_writer_finish(w, NULL);
	img_writer_free(w);
	munmap(arena, asz);
	close(o.fd);
	return ret;
}

/* Runs the restorer on @path; true if it refused with @expect and @path in
 * its message and a plain failure status. */
static bool refused(const char *restore, const char *path, const char *expect)
{
	char out[8192];
	int pfd[2];
	ssize_t n;
	size_t len = 0;
	int status;
	pid_t pid;

	if (pipe(pfd) < 0)
		return false;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		execl(restore, restore, path, (char *)NULL);
		_exit(126);
	}
	close(pfd[1]);
	while (len < sizeof(out) - 1 && (n = read(pfd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) {
		fprintf(stderr, "  status %#x, output: %s\n", status, out);
		return false;
	}
	if (!strstr(out, expect) || !strstr(out, path)) {
		fprintf(stderr, "  unexpected message: %s\n", out);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc != 3)
		return 2;
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/bad-%zu.img", argv[2], i);
		if (write_image(path, &variants[i]) < 0) {
			fprintf(stderr, "cannot write %s\n", path);
			return 1;
		}
		if (refused(argv[1], path, variants[i].expect)) {
			printf("ok: %s refused\n", variants[i].name);
		} else {
			printf("FAIL: %s\n", variants[i].name);
			failed++;
		}
		unlink(path);
	}
	return failed ? 1 : 0;
}
