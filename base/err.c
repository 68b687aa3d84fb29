/* err.c: error names and the thread's last error detail (see err.h). */
#include <stdio.h>
#include <string.h>

#include "err.h"

static _Thread_local char kg_errbuf[2048];

static const char *const kg_errstr[] = {
	"KGEN_SUCCESS: success",
	"KGEN_EINVAL: invalid argument",
	"KGEN_ENOMEM: out of host memory",
	"KGEN_ENODRIVER: CUDA driver not available",
	"KGEN_ENODEVICE: no CUDA device",
	"KGEN_ENONVRTC: NVRTC not available",
	"KGEN_ECOMPILE: kernel compilation failed",
	"KGEN_ECUDA: CUDA driver call failed",
	"KGEN_ECACHE: tuning cache error",
	"KGEN_ENOTFOUND: not found",
	"KGEN_ETEMPLATE: template error",
	"KGEN_EMISMATCH: result does not match the reference",
	"KGEN_EALIGN: misaligned pointer or leading dimension",
	"KGEN_EARCH: GPU architecture differs from the one asked for",
	"KGEN_EUNSUPPORTED: not supported",
};

const char *kgen_strerror(int err)
{
	if (err > 0 || err < KGEN_LAST_ERRCODE)
		return "KGEN_EUNKNOWN: unknown error code";
	return kg_errstr[-err];
}

const char *kgen_last_error(void)
{
	return kg_errbuf;
}

int kg_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(kg_errbuf, sizeof kg_errbuf, fmt, ap);
	va_end(ap);
	return code;
}

int kg_err_ctx(int code, const char *fmt, ...)
{
	char head[512], old[sizeof kg_errbuf];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	memcpy(old, kg_errbuf, sizeof old);
	snprintf(kg_errbuf, sizeof kg_errbuf, "%s: %s", head, old);
	return code;
}

void kg_err_clear(void)
{
	kg_errbuf[0] = 0;
}
