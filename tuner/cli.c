/* cli.c: what every `kgen` command shares (see cli.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kgen.h"

static const char *command = "kgen";

void cli_set_command(const char *name)
{
	command = name;
}

/* "kgen: error: <message>" on stderr, without the line's end. */
static void verror(const char *fmt, va_list ap)
{
	fprintf(stderr, "kgen: error: ");
	vfprintf(stderr, fmt, ap);
}

void cli_die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see '%s --help')\n", command);
	exit(EXIT_USAGE);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int cli_fail(int rc)
{
	cli_error("%s", kgen_last_error()[0] ? kgen_last_error() : kgen_strerror(rc));
	return rc == KGEN_EINVAL ? EXIT_USAGE : 1;
}

long long cli_int(const char *opt, const char *s, long long lo, long long hi)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end)
		cli_die_usage("%s needs an integer, not '%s'", opt, s);
	if (v < lo || v > hi)
		cli_die_usage("%s must be in %lld..%lld (got %lld)", opt, lo, hi, v);
	return v;
}

int cli_word_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
			return 1;
	return 0;
}

void cli_wrap(char *out, size_t len, const char *lead, const char *text, int width)
{
	int indent = (int)strlen(lead), col = indent;
	size_t at;
	if (!len)
		return;
	snprintf(out, len, "%s", lead);
	at = strlen(out);
	for (const char *w = text + strspn(text, " "); *w && at < len; w += strspn(w, " ")) {
		int n = (int)strcspn(w, " "), k;
		if (col > indent && col + 1 + n > width)
			k = snprintf(out + at, len - at, "\n%*s%.*s", indent, "", n, w), col = indent + n;
		else
			k = snprintf(out + at, len - at, "%s%.*s", col > indent ? " " : "", n, w), col += n + (col > indent);
		at = k > 0 && at + (size_t)k < len ? at + (size_t)k : len;
		w += n;
	}
	if (at + 1 < len)
		strcpy(out + at, "\n");
}

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}
