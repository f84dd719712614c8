/* img_inspect.c - human-readable summary of an image (ckpt inspect). */
#include "img.h"
#include "img_format.h"
#include "img_reader_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

/* Copies @s into @buf with control characters shown as \xNN: strings come
 * from the file, and a hostile one must not drive the user's terminal. */
static const char *safe(char *buf, size_t len, const char *s)
{
	size_t n = 0;

	for (; *s && n + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return buf;
}

static void size_fmt(char *buf, size_t len, uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* "rw-p anon,growsdown": protection as in /proc/PID/maps, then the kinds. */
static void flags_fmt(char *buf, size_t len, const struct img_area *a)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} kinds[] = {
		{ IMG_AREA_ANON, "anon" },
		{ IMG_AREA_GROWSDOWN, "growsdown" },
		{ IMG_AREA_FILE_DELETED, "deleted" },
		{ IMG_AREA_SYSV_SHM, "sysv" },
		{ IMG_AREA_VDSO, "vdso" },
		{ IMG_AREA_NO_DATA, "nodata" },
	};
	size_t n = (size_t)snprintf(buf, len, "%c%c%c%c ", a->prot & PROT_READ ? 'r' : '-',
				    a->prot & PROT_WRITE ? 'w' : '-',
				    a->prot & PROT_EXEC ? 'x' : '-',
				    a->flags & IMG_AREA_SHARED ? 's' : 'p');
	bool first = true;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && n < len; i++) {
		if (!(a->flags & kinds[i].bit))
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", first ? "" : ",", kinds[i].name);
		first = false;
	}
	if (first && n < len)
		snprintf(buf + n, len - n, "%s", a->path[0] ? "file" : "-");
}

static const char *arch_name(uint32_t machine)
{
	switch (machine) {
	case 62:
		return "x86_64"; /* EM_X86_64 */
	case 183:
		return "aarch64"; /* EM_AARCH64 */
	default:
		return "unknown";
	}
}

static void header_print(const struct img_reader *r, FILE *out, bool verbose)
{
	const struct img_header *h = &r->hdr;
	time_t t = (time_t)h->ctime_sec;
	struct tm tm;
	char when[64] = "?";

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(out, "image:    %s\n", r->path);
	fprintf(out, "format:   version %u, page size %u, %s\n", h->version, h->page_size,
		arch_name(h->arch));
	char s1[4 * IMG_HOSTSTR_MAX + 1];
	char s2[4 * IMG_HOSTSTR_MAX + 1];
	char s3[4 * IMG_HOSTSTR_MAX + 1];
	char *big = malloc(4 * (size_t)IMG_PATH_MAX + 1);

	if (!big)
		return;
	fprintf(out, "created:  %s on %s (kernel %s, glibc %s)\n", when,
		safe(s1, sizeof(s1), h->hostname), safe(s2, sizeof(s2), h->kernel),
		safe(s3, sizeof(s3), h->glibc));
	fprintf(out, "process:  pid %u, exe %s, %u args\n", h->pid,
		safe(big, 4 * (size_t)IMG_PATH_MAX + 1, h->exe), h->argc);
	if (verbose)
		for (uint32_t i = 0; i < h->argc; i++)
			fprintf(out, "  argv[%u] = \"%s\"\n", i,
				safe(big, 4 * (size_t)IMG_PATH_MAX + 1, h->argv[i]));
	free(big);
	fprintf(out, "size:     %" PRIu64 " bytes\n", r->size);
}

int img_inspect_print(struct img_reader *r, FILE *out, bool verbose)
{
	uint64_t rec_bytes = 0;
	uint64_t total = 0;
	uint64_t present = 0;
	char s1[32];
	char s2[32];
	char fl[80];
	size_t plen = 4 * (size_t)IMG_PATH_MAX + 1; /* escaped path */
	char *path = malloc(plen);
	char name[4 * IMG_NAME_MAX + 1];
	int err;

	if (!path)
		return -ENOMEM;

	header_print(r, out, verbose);
	for (uint32_t i = 0; i < r->nrecords; i++)
		rec_bytes += r->recs[i].len;
	size_fmt(s1, sizeof(s1), rec_bytes);
	fprintf(out, "records:  %u, %s\n", r->nrecords, s1);
	if (verbose)
		for (uint32_t i = 0; i < r->nrecords; i++)
			fprintf(out, "  record %u: type %#010x, %" PRIu64 " bytes\n", i,
				r->recs[i].type, r->recs[i].len);
	for (uint32_t i = 0; i < r->nareas; i++) {
		total += r->areas[i].a.len;
		present += r->areas[i].a.present_pages * r->hdr.page_size;
	}
	size_fmt(s1, sizeof(s1), present);
	size_fmt(s2, sizeof(s2), total);
	fprintf(out, "areas:    %u, %s present of %s, %u chunks", r->nareas, s1, s2, r->nchunks);
	if (present)
		fprintf(out, ", file is %.1f%% of present data",
			100.0 * (double)r->size / (double)present);
	fputc('\n', out);
	for (uint32_t i = 0; i < r->nareas; i++) {
		const struct img_area_ent *e = &r->areas[i];
		const struct img_area *a = &e->a;

		flags_fmt(fl, sizeof(fl), a);
		size_fmt(s1, sizeof(s1), a->present_pages * r->hdr.page_size);
		size_fmt(s2, sizeof(s2), a->len);
		fprintf(out, "  %012" PRIx64 "-%012" PRIx64 " %-20s %10s / %-10s %s%s%s\n",
			a->start, a->start + a->len, fl, s1, s2, safe(name, sizeof(name), a->name),
			a->name[0] && a->path[0] ? " " : "", safe(path, plen, a->path));
		if (verbose) {
			fprintf(out,
				"      offset %#" PRIx64 " dev %#" PRIx64 " inode %" PRIu64
				" mtime %" PRId64 ".%09u, %u chunks\n",
				a->file_offset, a->dev, a->inode, a->mtime_sec, a->mtime_nsec,
				e->nchunks);
		}
	}
	err = ferror(out) ? -EIO : 0;
	free(path);
	return err;
}
