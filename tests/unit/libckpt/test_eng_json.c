/* test_eng_json.c - libckpt's reader of the agent's messages (eng_json.c):
 * fields and escapes it accepts, and that it never reads past the NUL that
 * ends its input, even on a truncated escape (issue 12, item 7). */
#include "eng_json.h"

#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Copies @s so that its NUL is the last byte before an inaccessible page:
 * reading one byte past the end faults in every build, not only under ASan. */
static const char *at_page_end(const char *s)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t n = strlen(s) + 1;
	char *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	cr_assert_neq(m, MAP_FAILED);
	cr_assert_lt(n, (size_t)pg);
	cr_assert_eq(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	memcpy(m + pg - n, s, n);
	return m + pg - n;
}

/* String value of "k" in @json (placed at a page end), or NULL if refused. */
static const char *str_of(const char *json)
{
	static char out[64];

	return eng_get_str(at_page_end(json), "k", out, sizeof(out)) ? out : NULL;
}

Test(eng_json, plain_and_escaped_strings)
{
	cr_assert_str_eq(str_of("{\"k\":\"abc\"}"), "abc");
	cr_assert_str_eq(str_of("{\"k\" : \"a\\\"b\\\\c\\/d\"}"), "a\"b\\c/d");
	cr_assert_str_eq(str_of("{\"k\":\"\\u0041\\u007a\\u00e9\"}"), "Az\xe9");
	cr_assert_str_eq(str_of("{\"x\":1,\"k\":\"\"}"), "");
}

Test(eng_json, bad_strings_refused)
{
	cr_assert_null(str_of("{\"k\":\"\\u0000\"}"), "embedded NUL");
	cr_assert_null(str_of("{\"k\":\"\\n\"}"), "escape not used for paths");
	cr_assert_null(str_of("{\"k\":\"\\u0100\"}"), "beyond \\u00XX");
	cr_assert_null(str_of("{\"k\":\"abc"), "unterminated");
	cr_assert_null(str_of("{\"k\":abc}"), "not a string");
	cr_assert_null(str_of("{\"k\":\"0123456789012345678901234567890123456789"
			      "012345678901234567890123\"}"),
		       "longer than the output");
}

/* strtol() took signs and blanks as part of the two hex digits. */
Test(eng_json, hex_escape_needs_two_hex_digits)
{
	cr_assert_null(str_of("{\"k\":\"\\u00-1\"}"));
	cr_assert_null(str_of("{\"k\":\"\\u00 1\"}"));
	cr_assert_null(str_of("{\"k\":\"\\u00+f\"}"));
	cr_assert_null(str_of("{\"k\":\"\\u004g\"}"));
}

/* An escape cut by the end of the buffer: the reader used to step over the
 * NUL and go on reading (a fault on the guard page here). */
Test(eng_json, truncated_escape_at_end_of_buffer)
{
	cr_assert_null(str_of("{\"k\":\"\\u004"));
	cr_assert_null(str_of("{\"k\":\"\\u00"));
	cr_assert_null(str_of("{\"k\":\"\\u0"));
	cr_assert_null(str_of("{\"k\":\"\\u"));
	cr_assert_null(str_of("{\"k\":\"\\"));
	cr_assert_null(str_of("{\"k\":\"a\\u00f"));
}

Test(eng_json, ints_and_bools)
{
	int64_t v = 0;
	bool b = false;

	cr_assert(eng_get_int(at_page_end("{\"v\":1,\"gen\": -42}"), "gen", &v));
	cr_assert_eq(v, -42);
	cr_assert_not(eng_get_int(at_page_end("{\"gen\":\"x\"}"), "gen", &v));
	cr_assert_not(eng_get_int(at_page_end("{\"gen\":99999999999999999999}"), "gen", &v));
	cr_assert_not(eng_get_int(at_page_end("{\"gen\":"), "gen", &v));
	cr_assert(eng_get_bool(at_page_end("{\"final\":true}"), "final", &b));
	cr_assert(b);
	cr_assert(eng_get_bool(at_page_end("{\"final\":false}"), "final", &b));
	cr_assert_not(b);
	cr_assert_not(eng_get_bool(at_page_end("{\"final\":tru"), "final", &b));
	cr_assert_null(eng_field(at_page_end("{\"fin"), "final"));
	cr_assert_null(eng_field(at_page_end("{\"final\""), "final"));
}
