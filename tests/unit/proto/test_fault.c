/* Unit tests of proto/fault.c: CKPT_FAULT matching. */
#include "fault.h"

#include <criterion/criterion.h>
#include <stdlib.h>

Test(fault, exact_tokens_only)
{
	unsetenv("CKPT_FAULT");
	cr_assert_not(proto_fault("a"));
	setenv("CKPT_FAULT", "alpha,beta_x,gamma", 1);
	cr_assert(proto_fault("alpha"));
	cr_assert(proto_fault("beta_x"));
	cr_assert(proto_fault("gamma"));
	cr_assert_not(proto_fault("beta"), "a prefix is not a match");
	cr_assert_not(proto_fault("x"), "a suffix is not a match");
	cr_assert_not(proto_fault("lpha"));
	cr_assert_not(proto_fault(""));
	cr_assert_not(proto_fault(NULL));
	setenv("CKPT_FAULT", "", 1);
	cr_assert_not(proto_fault("alpha"));
	setenv("CKPT_FAULT", "xalpha,alpha", 1);
	cr_assert(proto_fault("alpha"), "found after a longer token containing it");
}
