/* stub.c - an empty stand-in for libckpt.so: the agent tests run the fake
 * process under 'ckpt run', which preloads whatever CKPT_LIBDIR holds; the
 * fake process speaks the protocol itself, so the library must do nothing. */
int ckpt_test_stub;
