/* manifest_io.c - atomic write and validated read of MANIFEST.json files. */
#define LOG_PREFIX "manifest: "
#include "manifest.h"

#include "fault.h"
#include "layout.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MF_TMP_NAME PROTO_LAYOUT_MANIFEST ".tmp"

/* Writes all of @buf to @fd, retrying short writes and EINTR. */
static int mf_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates @name in @dfd with @text, fsynced. */
static int mf_write_file(int dfd, const char *gen_dir, const char *name, const char *text)
{
	int fd;
	int ret;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		log_perror("cannot create %s/%s", gen_dir, name);
		return ret;
	}
	ret = proto_fault("manifest_write") ? -EIO : mf_write_all(fd, text, strlen(text));
	if (!ret)
		ret = mf_write_all(fd, "\n", 1);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (ret)
		log_err("cannot write %s/%s: %s; check space and quota of the checkpoint "
			"directory",
			gen_dir, name, strerror(-ret));
	return ret;
}

int proto_manifest_write(const char *gen_dir, const struct proto_manifest *m)
{
	struct json_object *o;
	const char *text;
	int dfd;
	int ret;

	o = proto_manifest_to_json(m);
	if (!o) {
		log_err("refusing to write an invalid manifest into %s", gen_dir);
		return -EINVAL;
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	dfd = open(gen_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ret = -errno;
		log_perror("cannot open generation directory %s", gen_dir);
		goto out_put;
	}
	ret = text ? mf_write_file(dfd, gen_dir, MF_TMP_NAME, text) : -ENOMEM;
	if (!ret && renameat(dfd, MF_TMP_NAME, dfd, PROTO_LAYOUT_MANIFEST)) {
		ret = -errno;
		log_perror("cannot rename %s/" MF_TMP_NAME, gen_dir);
	}
	if (ret) {
		/* A half-written manifest must not linger next to the images. */
		unlinkat(dfd, MF_TMP_NAME, 0);
	} else if (fsync(dfd)) {
		ret = -errno;
		log_perror("cannot fsync directory %s after writing its manifest", gen_dir);
	}
	close(dfd);
out_put:
	json_object_put(o);
	return ret;
}

/* Reads the whole of @fd (a regular file of at most PROTO_MANIFEST_FILE_MAX
 * bytes) into a malloc'd NUL-terminated buffer. */
static int mf_slurp(int fd, const char *path, char **out, size_t *out_len)
{
	struct stat st;
	size_t len = 0;
	char *buf;
	ssize_t n = 0;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		log_err("%s is not a regular file", path);
		return -EBADMSG;
	}
	if (st.st_size > (off_t)PROTO_MANIFEST_FILE_MAX) {
		log_err("%s is %lld bytes, over the %u-byte limit; it is not a manifest we wrote",
			path, (long long)st.st_size, PROTO_MANIFEST_FILE_MAX);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	/* Read up to one byte past the size seen: a file that grew is refused. */
	while (len <= (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n < 0 || len != (size_t)st.st_size) {
		int ret = n < 0 ? -errno : -EBADMSG;

		log_err("%s changed size while being read or could not be read", path);
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

/* Parses @text strictly (RFC 8259, UTF-8, nothing after the value but
 * whitespace). */
static struct json_object *mf_parse(const char *text, size_t len, const char *path)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj = NULL;
	size_t end;

	if (!tok || !text || len > INT_MAX || memchr(text, '\0', len))
		goto out_refuse;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success)
		goto out_refuse;
	end = json_tokener_get_parse_end(tok);
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (end == len)
		goto out_free_tok;
out_refuse:
	log_err("%s is not valid JSON%s%s; the generation cannot be trusted", path, tok ? ": " : "",
		tok ? json_tokener_error_desc(json_tokener_get_error(tok)) : "");
	json_object_put(obj);
	obj = NULL;
out_free_tok:
	json_tokener_free(tok);
	return obj;
}

int proto_manifest_read(const char *gen_dir, struct proto_manifest **m)
{
	char path[PATH_MAX];
	struct json_object *obj;
	size_t len = 0;
	char *text = NULL;
	int fd;
	int ret;

	*m = NULL;
	if (snprintf(path, sizeof(path), "%s/" PROTO_LAYOUT_MANIFEST, gen_dir) >=
	    (int)sizeof(path)) {
		log_err("manifest path under %.64s... is too long", gen_dir);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_perror("cannot open %s", path);
		return ret;
	}
	ret = mf_slurp(fd, path, &text, &len);
	close(fd);
	if (ret)
		return ret;
	obj = mf_parse(text, len, path);
	free(text);
	if (!obj)
		return -EBADMSG;
	ret = proto_manifest_from_json(obj, path, m);
	json_object_put(obj);
	return ret;
}
