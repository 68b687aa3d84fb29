/* err.h: the thread's last error detail, shared by every layer. */
#ifndef KGEN_ERR_H
#define KGEN_ERR_H

#include <stdarg.h>

/* Set the calling thread's last error message (printf format) and return
 * code, so that failing paths read `return kg_err(KGEN_EINVAL, "...")`. */
int kg_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message: "context: <message>". Returns code. */
int kg_err_ctx(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kg_err_clear(void);

#endif
