/* hash.c: FNV-1a, 64 bit (see hash.h). */
#include "hash.h"

uint64_t kg_hash(uint64_t h, const void *data, unsigned long len)
{
	const unsigned char *p = data;
	if (!h)
		h = 14695981039346656037ull;
	for (unsigned long i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}
