/* fuzz_pack.c: libFuzzer harness for the pack reader. Each input is
 * written to a file and read as the runtime and the `kgen pack` commands
 * read a pack: kg_pack_open (the file checks: trailer, size, digest), then,
 * for a pack that opens, its meta data, every record (key, fields), the
 * lookup of kg_record_find and every cubin with its checksum. Any input must
 * end in a clean refusal or a clean read: never a crash, a sanitizer
 * report or a hang. Seeds: tests/corpus/pack (built with -DKGEN_FUZZ=ON,
 * clang; .ci/run runs it for a bounded time). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "internal.h"
#include "packfile.h"

static char file[64];

static int setup(void)
{
	int fd;
	snprintf(file, sizeof file, "/tmp/fuzz_pack.XXXXXX");
	if ((fd = mkstemp(file)) < 0)
		abort();
	close(fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	char meta[256], hex[17], prefix[KG_KEY_MAX] = "", stamp[128] = "x";
	pack_entries l;
	cache *c;
	FILE *f;
	if (!once)
		once = !setup();
	if (!(f = fopen(file, "wb")))
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (kg_pack_open(&c, file)) {
		if (!strstr(kgen_last_error(), file)) /* every refusal names the file */
			abort();
		return 0;
	}
	kg_pack_meta(c, "gpu", meta, sizeof meta);
	if (!pack_read_all(c, "best", &l)) {
		if (l.n) { /* the first record's problem and stamp, for the lookup below */
			char *bar = strrchr(l.v[0].key, '|');
			snprintf(prefix, sizeof prefix, "%.*s|r", bar ? (int)(bar - l.v[0].key) : 0, l.v[0].key);
			rec_get(l.v[0].rec, "stamp", stamp, sizeof stamp);
		}
		for (int i = 0; i < l.n; i++) {
			kg_key k;
			void *cubin;
			size_t n;
			char v[64];
			rec_get(l.v[i].rec, "config", v, sizeof v);
			rec_get(l.v[i].rec, "rows_per_cta", v, sizeof v);
			if (!kg_key_parse(l.v[i].key, l.v[i].klen, &k))
				pack_stamp_current(&k, l.v[i].rec);
			if (!pack_cubin(c, 1, file, l.v[i].rec, &cubin, &n, hex))
				free(cubin);
		}
		pack_entries_free(&l);
	}
	cache_close(c);
	/* the runtime's path: a set of one pack and a lookup */
	{
		kg_packs *p;
		kg_record r;
		if (!kg_packs_new(&p, file, NULL)) {
			if (!prefix[0])
				kg_problem_prefix(prefix, sizeof prefix, KG_SOFTMAX_FWD, 0, KGEN_BF16, 1024, 90, meta);
			if (!kg_record_find(NULL, p, prefix, 4096, stamp, 0, &r)) {
				void *cubin;
				size_t n;
				if (!kg_record_cubin(&r, &cubin, &n))
					free(cubin);
			}
			kg_record_free(&r);
			kg_packs_free(p);
		}
	}
	return 0;
}
