/* img_bench.c - writer throughput: writes N MiB of compressible or random
 * page data through img_writer at levels 0/1/3 with 1 and 2 threads and
 * prints MB/s. Not installed; the 'bench' target runs it.
 *
 * usage: img_bench [-m MiB] [-r | -H] [-d DIR | -n] [-f] [-k N] [-l L,..] [-t T,..]
 *   -m  data size (default 256)   -r  random data (default compressible)
 *   -H  bench_mem's heap-like data (what `ninja bench` checkpoints)
 *   -l  zstd levels (default 0,1,3)   -t  thread counts (default 1,2)
 *   -d  directory for the file (default /tmp)   -f  fsync the file
 *   -n  write to /dev/null (compression pipeline only, no page cache)
 *   -k  runs per configuration, the best is printed (default 3)
 */
#include "img.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Heap-like data: every 64-byte line holds 40 bytes of text-like
 * structure and 24 of noise (pointers, doubles); one page in eight is zero.
 * zstd -3 gets about 2.5x, close to what real application heaps give. */
static void fill_compressible(uint8_t *p, size_t len)
{
	static const char words[] = "checkpoint restart slurm job memory page ";
	size_t wl = sizeof(words) - 1;
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < len; i++) {
		if ((i / 4096) % 8 == 7) {
			p[i] = 0;
		} else if (i % 64 < 40) {
			p[i] = (uint8_t)words[(i + i / 4096) % wl];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (uint8_t)x;
		}
	}
}

/* The data tests/bench/bench_mem.c fills its heap with (keep the two in
 * step): words drawn from a small vocabulary, one 8-byte slot in four a
 * random 64-bit value; zstd -1 shrinks it about 2x. What the end-to-end
 * checkpoint benchmark saves, so the writer alone can be compared with it. */
static void fill_heap(uint8_t *p, size_t len)
{
	static const char *const vocab[] = { "node ",  "rank ",	 "step ", "value ",
					     "count ", "index ", "mesh ", "cell ",
					     "flux ",  "grid ",	 "time ", "iter ",
					     "solve ", "halo ",	 "data ", "field " };
	uint64_t x = 2463534242ull;
	size_t i = 0;

	memset(p + len - 8, 0, 8); /* the tail no word fits in */
	while (i + 8 <= len) {
		uint64_t r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = x;
		if ((r & 3) == 0) {
			memcpy(p + i, &r, 8);
			i += 8;
			continue;
		}
		const char *w = vocab[(r >> 8) % 16];
		size_t n = strlen(w);

		memcpy(p + i, w, n < len - i ? n : len - i);
		i += n;
	}
}

static void fill_random(uint8_t *p, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *path, const uint8_t *data, size_t len, int level, unsigned int nthreads,
	       bool fsync_on, double *secs, struct img_writer_result *out)
{
	struct img_writer_opts o = {
		.log_fd = 2, .level = level, .nthreads = nthreads, .no_fsync = !fsync_on
	};
	const char *argv[] = { "img_bench" };
	struct img_header h = {
		.pid = (uint32_t)getpid(), .exe = "/img_bench", .argc = 1, .argv = argv
	};
	struct img_area a = { .start = (uintptr_t)data,
			      .len = len,
			      .prot = PROT_READ | PROT_WRITE,
			      .flags = IMG_AREA_PRIVATE | IMG_AREA_ANON };
	struct img_writer_result res = { 0 };
	struct img_writer *w = NULL;
	size_t asz;
	void *arena;
	double t0;
	int err;

	*secs = 0;
	*out = res;
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (o.fd < 0) {
		perror(path);
		return -errno;
	}
	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	if (arena == MAP_FAILED) {
		close(o.fd);
		return -ENOMEM;
	}
	t0 = now();
	err = img_writer_begin(&w, &o, &h, arena, asz);
	if (!err)
		err = img_writer_area_begin(w, &a);
	if (!err)
		err = img_writer_area_run(w, 0, data, len);
	if (!err)
		err = img_writer_finish(w, &res);
	*secs = now() - t0;
	*out = res;
	img_writer_free(w);
	munmap(arena, asz);
	close(o.fd);
	if (strcmp(path, "/dev/null") != 0)
		unlink(path);
	return err;
}

/* Parses a comma-separated list of at most @max numbers into @v; returns
 * the count, 0 if malformed. */
static size_t parse_list(const char *s, int *v, size_t max)
{
	size_t n = 0;

	while (*s && n < max) {
		char *end;

		v[n++] = (int)strtol(s, &end, 10);
		if (end == s || (*end && *end != ','))
			return 0;
		s = *end ? end + 1 : end;
	}
	return *s ? 0 : n;
}

int main(int argc, char **argv)
{
	int levels[8] = { 0, 1, 3 };
	int threads[8] = { 1, 2 };
	size_t nlevels = 3;
	size_t nthreads = 2;
	const char *dir = "/tmp";
	const char *kind = "compressible";
	void (*fill)(uint8_t *, size_t) = fill_compressible;
	size_t mib = 256;
	bool fsync_on = false;
	bool devnull = false;
	unsigned int reps = 3;
	char path[4096];
	uint8_t *data;
	int opt;

	while ((opt = getopt(argc, argv, "m:rHd:fnk:l:t:")) != -1) {
		switch (opt) {
		case 'm':
			mib = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			fill = fill_random;
			kind = "random";
			break;
		case 'H':
			fill = fill_heap;
			kind = "heap-like (bench_mem)";
			break;
		case 'd':
			dir = optarg;
			break;
		case 'f':
			fsync_on = true;
			break;
		case 'n':
			devnull = true;
			break;
		case 'k':
			reps = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			nlevels = parse_list(optarg, levels, 8);
			break;
		case 't':
			nthreads = parse_list(optarg, threads, 8);
			break;
		default:
			nlevels = 0;
			break;
		}
		if (!nlevels || !nthreads) {
			fprintf(stderr,
				"usage: %s [-m MiB] [-r | -H] [-d DIR | -n] [-f] [-k N] "
				"[-l LEVELS] [-t THREADS]\n",
				argv[0]);
			return 2;
		}
	}
	if (!mib)
		mib = 1;
	data = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (data == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	fill(data, mib << 20);
	if (!reps)
		reps = 1;
	if (devnull)
		snprintf(path, sizeof(path), "/dev/null");
	else
		snprintf(path, sizeof(path), "%s/img_bench.%d.img", dir, (int)getpid());
	printf("%zu MiB of %s data to %s%s, best of %u\n", mib, kind, devnull ? "/dev/null" : dir,
	       fsync_on ? " (fsync)" : "", reps);
	for (size_t l = 0; l < nlevels; l++) {
		for (size_t t = 0; t < nthreads; t++) {
			struct img_writer_result res = { 0 };
			double best = 0;

			for (unsigned int k = 0; k < reps; k++) {
				double dt = 0;

				if (run(path, data, mib << 20, levels[l], (unsigned int)threads[t],
					fsync_on, &dt, &res))
					return 1;
				if (!k || dt < best)
					best = dt;
			}
			printf("level %d threads %d: %8.1f MB/s  ratio %5.2f\n", levels[l],
			       threads[t], (double)(mib << 20) / best / 1e6,
			       (double)res.data_bytes / (double)res.stored_bytes);
		}
	}
	munmap(data, mib << 20);
	return 0;
}
