/* check.h: the tests' assertion: count, and on failure print where and why. */
#ifndef KGEN_TEST_CHECK_H
#define KGEN_TEST_CHECK_H

#include <stdio.h>

static int failures, checks;

#define CHECK(cond, ...)                                                                          \
	do {                                                                                      \
		checks++;                                                                         \
		if (!(cond)) {                                                                    \
			failures++;                                                               \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
			fprintf(stderr, __VA_ARGS__);                                             \
			fputc('\n', stderr);                                                      \
		}                                                                                 \
	} while (0)

#endif
