/* test_files_memfd.c - unit tests of memfd descriptors in the files
 * subsystem (libckpt/files_memfd.c): a round trip with contents, seals,
 * offset, flags and a mapping that must come back on the same object;
 * hostile entries refused before any descriptor is touched; a memfd past
 * the size bound named at capture. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "files_memfd.h"
#include "subsys_test.h"

/* Entry layout of docs/files-and-state.md. */
#define HDR_SIZE    16
#define HDR_COUNT   8
#define E_SIZE	    0
#define E_FD	    4
#define E_KIND	    8
#define E_FLAGS	    12
#define E_PATH_LEN  32
#define E_FILE_SIZE 72
#define E_HDR	    88
#define KIND_MEMFD  15
#define PG	    4096

static const struct ckpt_subsys *fs = &ckpt_files_subsys;

TestSuite(files_memfd, .init = test_setup);

static bool is_zero_dev(int fd)
{
	char link[64] = "";
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return readlink(p, link, sizeof(link) - 1) > 0 && strcmp(link, "/dev/zero") == 0;
}

/* A memfd at fd 90 (4 pages + 100 bytes of a pattern, offset 123,
 * O_NONBLOCK, F_SEAL_SHRINK | F_SEAL_GROW) with a duplicate at 91
 * (close-on-exec) and mapped shared, pages 1-2, at the returned address. */
static unsigned char *make_memfd(void)
{
	int fd = memfd_create("unit", MFD_ALLOW_SEALING);
	unsigned char buf[4 * PG + 100];
	unsigned char *map;

	cr_assert_geq(fd, 0);
	for (size_t k = 0; k < sizeof(buf); k++)
		buf[k] = (unsigned char)(k * 7 + 3);
	cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	test_move_to(fd, 90);
	cr_assert_eq(fcntl(90, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	cr_assert_eq(lseek(90, 123, SEEK_SET), 123);
	cr_assert_eq(fcntl(90, F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(dup3(90, 91, O_CLOEXEC), 91);
	map = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 90, PG);
	cr_assert_neq(map, MAP_FAILED);
	return map;
}

Test(files_memfd, round_trips_with_contents_seals_offset_and_its_mapping)
{
	unsigned char *map = make_memfd();
	unsigned char b;
	struct stat st;
	size_t len;
	char *rec = test_capture(fs, &len);
	char link[64] = "";

	cr_assert(!strstr(test_warnings, "fd 90"), "%s", test_warnings);
	test_clobber(90);
	test_clobber(91);
	/* The mapping is replaced by other memory, as the restorer's copy. */
	cr_assert_eq(mmap(map, 2 * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		     map);

	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_gt(readlink("/proc/self/fd/90", link, sizeof(link) - 1), 0);
	cr_assert_str_eq(link, "/memfd:unit (deleted)");
	cr_assert_eq(fstat(90, &st), 0);
	cr_assert_eq(st.st_size, 4 * PG + 100);
	cr_assert_eq(pread(90, &b, 1, 4 * PG + 99), 1);
	cr_assert_eq(b, (unsigned char)((4 * PG + 99) * 7 + 3));
	cr_assert_eq(lseek(91, 0, SEEK_CUR), 123, "offset or shared description lost");
	cr_assert_eq(fcntl(90, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW);
	cr_assert(fcntl(90, F_GETFL) & O_NONBLOCK);
	cr_assert(fcntl(91, F_GETFD) & FD_CLOEXEC);
	cr_assert(!(fcntl(90, F_GETFD) & FD_CLOEXEC));
	/* The mapping maps the restored object: saved contents, and a write
	 * through the descriptor shows through it. */
	cr_assert_eq(map[0], (unsigned char)(PG * 7 + 3));
	cr_assert_eq(pwrite(90, "Z", 1, PG + 5), 1);
	cr_assert_eq(map[5], 'Z');
	munmap(map, 2 * PG);
	close(90);
	close(91);
	free(rec);
}

/* One hostile change to an entry. */
struct spoil {
	size_t off;	    /* in the data, or (size_t)-1: the entry's file_size */
	uint64_t value;	    /* written there (4 or 8 bytes, per @width) */
	int width;	    /* 4 or 8 */
	const char *expect; /* text the refusal must contain */
};

Test(files_memfd, hostile_entries_are_refused_naming_the_fd)
{
	const size_t m0 = sizeof(struct ckpt_memfd_hdr);
	const struct spoil spoils[] = {
		{ offsetof(struct ckpt_memfd_hdr, seals), 0x100, 4, "fd 90: invalid memfd header" },
		{ offsetof(struct ckpt_memfd_hdr, nmaps), 65, 4, "fd 90: invalid memfd header" },
		{ offsetof(struct ckpt_memfd_hdr, nmaps), 2, 4, "fd 90: invalid memfd header" },
		{ offsetof(struct ckpt_memfd_hdr, reserved), 1, 8, "fd 90: invalid memfd header" },
		{ (size_t)-1, 4 * PG + 101, 8, "fd 90: invalid memfd header" },
		{ m0 + offsetof(struct ckpt_memfd_map, start), 0x1001, 8,
		  "fd 90: memfd mapping 0" },
		{ m0 + offsetof(struct ckpt_memfd_map, start), 1ull << 47, 8,
		  "fd 90: memfd mapping 0" },
		{ m0 + offsetof(struct ckpt_memfd_map, len), 0, 8, "fd 90: memfd mapping 0" },
		{ m0 + offsetof(struct ckpt_memfd_map, len), UINT64_MAX & ~0xfffull, 8,
		  "fd 90: memfd mapping 0" },
		{ m0 + offsetof(struct ckpt_memfd_map, offset), 7, 8, "fd 90: memfd mapping 0" },
		{ m0 + offsetof(struct ckpt_memfd_map, prot), 8, 4, "fd 90: memfd mapping 0" },
		{ m0 + offsetof(struct ckpt_memfd_map, reserved), 1, 4, "fd 90: memfd mapping 0" },
		/* F_SEAL_WRITE with the writable mapping the entry lists. */
		{ offsetof(struct ckpt_memfd_hdr, seals), F_SEAL_WRITE, 4,
		  "fd 90: memfd mapping 0" },
	};
	unsigned char *map = make_memfd();
	size_t len;
	char *rec = test_capture(fs, &len);

	test_clobber(90);
	test_clobber(91);
	for (size_t i = 0; i < sizeof(spoils) / sizeof(spoils[0]); i++) {
		const struct spoil *s = &spoils[i];
		char *c = malloc(len);
		char *p;

		cr_assert_not_null(c);
		memcpy(c, rec, len);
		p = s->off == (size_t)-1 ? c + test_find_entry(c, len, 90) + E_FILE_SIZE
					 : c + test_data_of(c, len, 90) + s->off;
		if (s->width == 4) {
			uint32_t v32 = (uint32_t)s->value;

			memcpy(p, &v32, 4);
		} else {
			memcpy(p, &s->value, 8);
		}
		test_logs[0] = '\0';
		cr_assert_eq(fs->restore(c, len), -EINVAL, "spoil %zu accepted", i);
		cr_assert(strstr(test_logs, s->expect), "spoil %zu: %s", i, test_logs);
		/* Refused before any descriptor is touched. */
		cr_assert(is_zero_dev(90) && is_zero_dev(91), "spoil %zu: a descriptor changed", i);
		free(c);
	}
	/* A memfd entry whose path is no memfd's. */
	{
		char *c = malloc(len);
		char *path;

		cr_assert_not_null(c);
		memcpy(c, rec, len);
		path = c + test_find_entry(c, len, 90) + E_HDR;
		cr_assert_eq(strncmp(path, "/memfd:", 7), 0, "%s", path);
		path[1] = 'x';
		test_logs[0] = '\0';
		cr_assert_eq(fs->restore(c, len), -EINVAL);
		cr_assert(strstr(test_logs, "fd 90: invalid memfd entry"), "%s", test_logs);
		free(c);
	}
	/* Untouched, it restores. */
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(!is_zero_dev(90) && !is_zero_dev(91));
	munmap(map, 2 * PG);
	close(90);
	close(91);
	free(rec);
}

Test(files_memfd, a_memfd_past_the_bound_is_named_with_its_size)
{
	int fd = memfd_create("big", 0);
	uint32_t kind;
	size_t len;
	char *rec;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 5000), 0);
	test_move_to(fd, 92);
	setenv("CKPT_MAX_UNLINKED_BYTES", "4k", 1);
	rec = test_capture(fs, &len);
	unsetenv("CKPT_MAX_UNLINKED_BYTES");
	cr_assert(strstr(test_warnings, "fd 92: memfd /memfd:big (5000 bytes, more than "
					"CKPT_MAX_UNLINKED_BYTES=4096"),
		  "%s", test_warnings);
	memcpy(&kind, rec + test_find_entry(rec, len, 92) + E_KIND, 4);
	cr_assert_neq(kind, KIND_MEMFD);
	close(92);
	free(rec);
}

Test(files_memfd, a_read_only_sealed_memfd_round_trips)
{
	const int seals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;
	int fd = memfd_create("ro", MFD_ALLOW_SEALING);
	unsigned char *map;
	size_t len;
	char *rec;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "sealed", 6), 6);
	test_move_to(fd, 93);
	cr_assert_eq(fcntl(93, F_ADD_SEALS, seals), 0);
	map = mmap(NULL, PG, PROT_READ, MAP_SHARED, 93, 0);
	cr_assert_neq(map, MAP_FAILED);
	rec = test_capture(fs, &len);
	test_clobber(93);
	cr_assert_eq(mmap(map, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), map);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fcntl(93, F_GET_SEALS), seals);
	cr_assert_eq(memcmp(map, "sealed", 6), 0);
	cr_assert_eq(pwrite(93, "x", 1, 0), -1);
	cr_assert_eq(errno, EPERM);
	munmap(map, PG);
	close(93);
	free(rec);
}
