/* err.h: the one error channel of every layer.
 *
 * A failing function returns a negative KGEN_E* code (kgen.h, whose names
 * kgen_strerror() gives) and leaves a detail message in the calling
 * thread's buffer (kgen_last_error()); nothing below the command line
 * prints or takes a caller's message buffer.
 */
#ifndef KGEN_ERR_H
#define KGEN_ERR_H

#include <stdarg.h>

#include "kgen.h"

/* Set the calling thread's last error message (printf format) and return
 * code, so that failing paths read `return kg_err(KGEN_EINVAL, "...")`. */
int kg_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message: "context: <message>". Returns code. */
int kg_err_ctx(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kg_err_clear(void);

#endif
