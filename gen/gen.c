/* gen.c: the Lua host that runs kernel templates (see gen.h).
 *
 * Everything a template does runs under lua_pcall with a traceback handler;
 * an error raised as a table {kgen_user = "..."} is the caller's mistake (an
 * unknown config key, an invalid value) and comes back as KGEN_EINVAL, any
 * other error is a template bug and comes back as KGEN_ETEMPLATE with the
 * file, line and traceback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "defs.h"
#include "err.h"
#include "gen.h"
#include "hash.h"

struct gen_embedded {
	const char *name;
	const char *text;
	unsigned long len;
};
extern const struct gen_embedded gen_embedded_templates[]; /* generated */

struct gen {
	lua_State *L;
};

char *gen_read_source(const char *name, unsigned long *len)
{
	const char *dir = getenv("KGEN_TEMPLATE_DIR");
	char *buf;
	if (dir && *dir) {
		char path[4096];
		FILE *f;
		long n;
		snprintf(path, sizeof path, "%s/%s", dir, name);
		if (!(f = fopen(path, "rb"))) {
			kg_err(KGEN_ENOTFOUND, "cannot open template '%s': %s", path, strerror(errno));
			return NULL;
		}
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		if (n < 0 || !(buf = malloc((size_t)n + 1))) {
			fclose(f);
			kg_err(KGEN_ENOMEM, "cannot read template '%s'", path);
			return NULL;
		}
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			fclose(f);
			free(buf);
			kg_err(KGEN_ETEMPLATE, "cannot read template '%s'", path);
			return NULL;
		}
		fclose(f);
		buf[n] = 0;
		if (len)
			*len = (unsigned long)n;
		return buf;
	}
	for (const struct gen_embedded *e = gen_embedded_templates; e->name; e++) {
		if (strcmp(e->name, name))
			continue;
		if (!(buf = malloc(e->len + 1))) {
			kg_err(KGEN_ENOMEM, "out of memory");
			return NULL;
		}
		memcpy(buf, e->text, e->len);
		buf[e->len] = 0;
		if (len)
			*len = e->len;
		return buf;
	}
	kg_err(KGEN_ENOTFOUND, "no template '%s'", name);
	return NULL;
}

/* package.searchers entry: "lib.reduce" -> templates/lib/reduce.lua. */
static int gen_searcher(lua_State *L)
{
	const char *mod = luaL_checkstring(L, 1);
	char name[256], chunk[300];
	unsigned long len;
	char *text;
	size_t i;
	snprintf(name, sizeof name, "%s.lua", mod);
	for (i = 0; name[i] && i + 4 < strlen(name); i++)
		if (name[i] == '.')
			name[i] = '/';
	if (!(text = gen_read_source(name, &len))) {
		lua_pushfstring(L, "\n\tno template '%s'", name); /* [msg] */
		return 1;
	}
	snprintf(chunk, sizeof chunk, "@templates/%s", name);
	if (luaL_loadbuffer(L, text, len, chunk) != LUA_OK) { /* [err] */
		free(text);
		return lua_error(L);
	}
	free(text);
	lua_pushstring(L, name); /* [loader, name] */
	return 2;
}

static int gen_traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg && lua_istable(L, 1))
		return 1; /* a user error table passes through unchanged */
	luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1); /* [msg, tb] */
	return 1;
}

int gen_open(gen **out)
{
	gen *g = calloc(1, sizeof *g);
	lua_State *L;
	if (!g)
		return kg_err(KGEN_ENOMEM, "out of memory");
	if (!(L = g->L = luaL_newstate())) {
		free(g);
		return kg_err(KGEN_ENOMEM, "cannot create a Lua state");
	}
	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	luaL_requiref(L, LUA_LOADLIBNAME, luaopen_package, 1);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
	luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
	lua_settop(L, 0);
	/* Templates come from gen_read_source only: package.searchers = {preload, ours}. */
	lua_getglobal(L, "package");              /* [package] */
	lua_getfield(L, -1, "searchers");         /* [package, searchers] */
	lua_pushcfunction(L, gen_searcher);       /* [package, searchers, fn] */
	lua_rawseti(L, -2, 2);                    /* [package, searchers] */
	for (lua_Integer i = 3; i <= 4; i++) {
		lua_pushnil(L);                       /* [package, searchers, nil] */
		lua_rawseti(L, -2, i);                /* [package, searchers] */
	}
	lua_pop(L, 2);                            /* [] */
	*out = g;
	return 0;
}

void gen_close(gen *g)
{
	if (!g)
		return;
	lua_close(g->L);
	free(g);
}

const char *gen_family(const char *op)
{
	return kg_op_family(op);
}

/* Push host.<fn> and the problem table; returns the stack base or an error. */
static int gen_prepare(gen *g, const char *fn, const gen_problem *p, int *base)
{
	lua_State *L = g->L;
	const char *family = kg_op_family(p->op);
	if (!family)
		return kg_err(KGEN_EINVAL, "unknown op '%s'", p->op ? p->op : "(null)");
	if (p->dtype < 0 || p->dtype >= KG_NDTYPES)
		return kg_err(KGEN_EINVAL, "unknown dtype %d", p->dtype);
	*base = lua_gettop(L);
	lua_pushcfunction(L, gen_traceback);      /* [tb] */
	lua_getglobal(L, "require");              /* [tb, require] */
	lua_pushstring(L, "lib.host");            /* [tb, require, "lib.host"] */
	if (lua_pcall(L, 1, 1, *base + 1) != LUA_OK) { /* [tb, host | err] */
		int rc = kg_err(KGEN_ETEMPLATE, "%s", lua_tostring(L, -1));
		lua_settop(L, *base);
		return rc;
	}
	lua_getfield(L, -1, fn);                  /* [tb, host, fn] */
	lua_remove(L, -2);                        /* [tb, fn] */
	lua_pushstring(L, family);                /* [tb, fn, family] */
	lua_createtable(L, 0, 6);                 /* [tb, fn, family, p] */
	lua_pushstring(L, p->opts && strcmp(p->opts, "-") ? p->opts : "");
	lua_setfield(L, -2, "opts");
	lua_pushstring(L, kg_op_name(p->op));
	lua_setfield(L, -2, "op");
	lua_pushstring(L, p->pass ? p->pass : "fwd");
	lua_setfield(L, -2, "pass");
	lua_pushstring(L, kg_dtype_names[p->dtype]);
	lua_setfield(L, -2, "dtype");
	lua_pushinteger(L, p->cols);
	lua_setfield(L, -2, "cols");
	lua_pushinteger(L, p->sm);
	lua_setfield(L, -2, "sm");
	return 0;
}

/* Call the prepared function with nargs more arguments pushed after p. */
static int gen_call(gen *g, int base, int nargs)
{
	lua_State *L = g->L;
	int rc;
	if (lua_pcall(L, 2 + nargs, 1, base + 1) == LUA_OK) /* [tb, result] */
		return 0;
	if (lua_istable(L, -1)) {                 /* [tb, {kgen_user = msg}] */
		lua_getfield(L, -1, "kgen_user");     /* [tb, err, msg] */
		rc = kg_err(KGEN_EINVAL, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "invalid config");
	} else {
		rc = kg_err(KGEN_ETEMPLATE, "%s", lua_tostring(L, -1));
	}
	lua_settop(L, base);
	return rc;
}

static char *dupstr(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

int gen_space(gen *g, const gen_problem *p, char ***configs, int *n)
{
	lua_State *L = g->L;
	int base, rc, count;
	char **list;
	if ((rc = gen_prepare(g, "space", p, &base)) || (rc = gen_call(g, base, 0)))
		return rc;
	count = (int)luaL_len(L, -1);             /* [tb, list] */
	if (!(list = calloc((size_t)count + 1, sizeof *list))) {
		lua_settop(L, base);
		return kg_err(KGEN_ENOMEM, "out of memory");
	}
	for (int i = 0; i < count; i++) {
		lua_rawgeti(L, -1, i + 1);            /* [tb, list, s] */
		list[i] = dupstr(lua_tostring(L, -1));
		lua_pop(L, 1);                        /* [tb, list] */
	}
	lua_settop(L, base);
	*configs = list;
	*n = count;
	return 0;
}

int gen_default(gen *g, const gen_problem *p, char **config)
{
	int base, rc;
	if ((rc = gen_prepare(g, "default", p, &base)) || (rc = gen_call(g, base, 0)))
		return rc;
	*config = dupstr(lua_tostring(g->L, -1));
	lua_settop(g->L, base);
	return *config ? 0 : kg_err(KGEN_ENOMEM, "out of memory");
}

static unsigned field_uint(lua_State *L, const char *k, unsigned dflt)
{
	unsigned v;
	lua_getfield(L, -1, k);                   /* [.., r, v] */
	v = lua_isinteger(L, -1) ? (unsigned)lua_tointeger(L, -1) : dflt;
	lua_pop(L, 1);                            /* [.., r] */
	return v;
}

static char *field_str(lua_State *L, const char *k)
{
	char *s;
	lua_getfield(L, -1, k);                   /* [.., r, v] */
	s = lua_isstring(L, -1) ? dupstr(lua_tostring(L, -1)) : NULL;
	lua_pop(L, 1);                            /* [.., r] */
	return s;
}

int gen_render(gen *g, const gen_problem *p, const char *config, gen_variant *v)
{
	lua_State *L = g->L;
	int base, rc;
	memset(v, 0, sizeof *v);
	if ((rc = gen_prepare(g, "render", p, &base)))
		return rc;
	lua_pushstring(L, config ? config : "");  /* [tb, fn, family, p, cfg] */
	if ((rc = gen_call(g, base, 1)))
		return rc;
	v->config = field_str(L, "config");       /* [tb, r] */
	v->source = field_str(L, "source");
	v->kernel = field_str(L, "kernel");
	v->prep = field_str(L, "prep");
	v->finish = field_str(L, "finish");
	v->block = field_uint(L, "block", 0);
	v->smem = field_uint(L, "smem", 0);
	v->rows_per_cta = field_uint(L, "rows_per_cta", 1);
	v->cluster = field_uint(L, "cluster", 1);
	v->persist = field_uint(L, "persist", 0);
	v->split = field_uint(L, "split", 0);
	lua_settop(L, base);
	if (!v->config || !v->source || !v->kernel || !v->block) {
		gen_variant_free(v);
		return kg_err(KGEN_ETEMPLATE, "template '%s' rendered no config, source, kernel or block", gen_family(p->op));
	}
	return 0;
}

void gen_variant_free(gen_variant *v)
{
	if (!v)
		return;
	free(v->config);
	free(v->source);
	free(v->kernel);
	free(v->prep);
	free(v->finish);
	memset(v, 0, sizeof *v);
}

uint64_t gen_template_hash(gen *g, const char *family)
{
	uint64_t h = 0;
	char name[256];
	(void)g;
	snprintf(name, sizeof name, "%s.lua", family);
	for (const struct gen_embedded *e = gen_embedded_templates; e->name; e++) {
		/* The family's file and every shared library file, in table order. */
		if (strcmp(e->name, name) && strncmp(e->name, "lib/", 4))
			continue;
		unsigned long len;
		char *text = gen_read_source(e->name, &len);
		if (!text)
			continue;
		h = kg_hash(h, e->name, strlen(e->name));
		h = kg_hash(h, text, len);
		free(text);
	}
	return h;
}
