/* cli.h: what every `kgen` command shares: exit statuses, usage errors,
 * error messages, option values and JSON strings. Only the command line
 * (main.c, report.c, pack.c) prints or exits. */
#ifndef KGEN_CLI_H
#define KGEN_CLI_H

#include <stddef.h>
#include <stdio.h>

#define EXIT_USAGE 2
#define EXIT_NOGPU 3

/* The command whose --help a usage error points to ("kgen" unless set,
 * e.g. "kgen pack ls"). The string must outlive the command. */
void cli_set_command(const char *name);

/* "kgen: error: <message>" and the command's --help; exits EXIT_USAGE. */
void cli_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* "kgen: error: <message>"; returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The library's error rc (its detail, else its name) as cli_error does;
 * returns EXIT_USAGE for KGEN_EINVAL, else 1. */
int cli_fail(int rc);

/* s as an integer in lo..hi, else a usage error naming the option opt. */
long long cli_int(const char *opt, const char *s, long long lo, long long hi);

/* Whether name is one of the space-separated words of list. */
int cli_word_in(const char *list, const char *name);

/* lead, then text wrapped at width columns into out, the lines after the
 * first indented as far as lead is long; ends with a newline. */
void cli_wrap(char *out, size_t len, const char *lead, const char *text, int width);

/* s as a JSON string, quoted and escaped. */
void cli_json_str(FILE *f, const char *s);

#endif
