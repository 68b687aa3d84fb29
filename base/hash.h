/* hash.h: the one hash of kgen (FNV-1a, 64 bit).
 *
 * It names compiled variants (kg_variant_hash), stamps templates
 * (gen_template_hash) and checks the cubins of packs (kg_pack_sum); the
 * values are stored in caches and packs, so it never changes.
 */
#ifndef KGEN_HASH_H
#define KGEN_HASH_H

#include <stdint.h>

/* FNV-1a, 64 bit, chainable: h = kg_hash(h, data, len), start at 0. */
uint64_t kg_hash(uint64_t h, const void *data, unsigned long len);

#endif
