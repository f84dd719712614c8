/* cli_inspect.c - ckpt inspect: describe, and with --verify check, one
 * process image. */
#include "cli.h"

#include "img.h"
#include "layout.h"
#include "log.h"
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static void inspect_usage(FILE *out)
{
	fprintf(out, "Usage: ckpt inspect [--verify] [-v] IMAGE\n"
		     "\n"
		     "Prints the header, records and memory areas of a process image.\n"
		     "\n"
		     "  --verify        also decompress and check every chunk and the whole-file\n"
		     "                  checksum, and compare size and xxh64 with the\n"
		     "                  generation's MANIFEST.json when there is one;\n"
		     "                  exit 1 if anything is wrong\n"
		     "  -v, --verbose   argv, records and chunks in detail\n"
		     "  -h, --help      this help\n");
}

/* XXH64 (seed 0) of the whole file, as the manifest records it. */
static int file_xxh64(const char *path, uint64_t *sum, uint64_t *size)
{
	XXH64_state_t *st = XXH64_createState();
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int ret = 0;

	*size = 0;
	if (fd < 0 || !st) {
		ret = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	XXH64_reset(st, 0);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		XXH64_update(st, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	*sum = XXH64_digest(st);
out:
	if (fd >= 0)
		close(fd);
	XXH64_freeState(st);
	return ret;
}

/* Compares @path with its entry in the MANIFEST.json next to it. Returns 0
 * (also when there is no manifest: a loose image), or -EBADMSG. */
static int verify_manifest(const char *path)
{
	const struct proto_manifest_image *img = NULL;
	struct proto_manifest *m = NULL;
	char dir[PATH_MAX];
	const char *base;
	char *slash;
	uint64_t sum = 0;
	uint64_t size = 0;
	struct stat st;
	size_t i;
	int ret;

	if (!realpath(path, dir))
		return -errno;
	slash = strrchr(dir, '/');
	*slash = '\0';
	base = path + (strrchr(path, '/') ? strrchr(path, '/') - path + 1 : 0);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", PROTO_LAYOUT_MANIFEST);
	if (stat(dir, &st) < 0)
		return 0;
	*strrchr(dir, '/') = '\0';
	ret = proto_manifest_read(dir, &m);
	if (ret) {
		cli_err("%s/%s is unreadable or corrupt", dir, PROTO_LAYOUT_MANIFEST);
		return -EBADMSG;
	}
	for (i = 0; i < m->n_images; i++)
		if (!strcmp(m->images[i].file, base))
			img = &m->images[i];
	ret = -EBADMSG;
	if (!img) {
		cli_err("%s is not listed in %s/%s", base, dir, PROTO_LAYOUT_MANIFEST);
		goto out;
	}
	if (file_xxh64(path, &sum, &size)) {
		cli_err("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (size != img->size || sum != img->xxh64) {
		cli_err("%s does not match its manifest: %llu bytes, xxh64 %016llx; the manifest "
			"says %llu bytes, xxh64 %016llx",
			path, (unsigned long long)size, (unsigned long long)sum,
			(unsigned long long)img->size, (unsigned long long)img->xxh64);
		goto out;
	}
	printf("manifest: size and xxh64 %016llx match %s/%s\n", (unsigned long long)sum, dir,
	       PROTO_LAYOUT_MANIFEST);
	ret = 0;
out:
	proto_manifest_free(m);
	return ret;
}

int cli_cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verify", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct img_reader *r = NULL;
	bool verify = false;
	const char *path;
	int ret;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (c) {
		case 'V':
			verify = true;
			break;
		case 'v':
			cli_is_verbose = true;
			break;
		case 'h':
			inspect_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_err("inspect", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_err("inspect", "missing IMAGE (a .img file of a generation)");
	path = argv[optind++];
	if (optind < argc)
		return cli_usage_err("inspect", "unexpected argument '%s'", argv[optind]);

	ret = img_reader_open(path, verify ? IMG_VERIFY_ALL : 0, &r);
	if (ret) {
		if (r && *img_reader_error(r))
			cli_err("%s", img_reader_error(r));
		else
			cli_err("%s: %s", path, strerror(-ret));
		img_reader_free(r);
		return CLI_EXIT_FAIL;
	}
	ret = img_inspect_print(r, stdout, cli_is_verbose);
	img_reader_free(r);
	if (ret) {
		cli_err("%s: %s", path, strerror(-ret));
		return CLI_EXIT_FAIL;
	}
	if (!verify)
		return CLI_EXIT_OK;
	if (verify_manifest(path))
		return CLI_EXIT_FAIL;
	printf("verify: OK, every chunk and the file checksum are valid\n");
	return CLI_EXIT_OK;
}
