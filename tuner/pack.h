/* pack.h: the `kgen pack` commands (pack.c). */
#ifndef KGEN_PACK_H
#define KGEN_PACK_H

/* Run `kgen pack ...`: argv[0] is "pack". Returns the exit status. */
int pack_main(int argc, char **argv);

#endif
