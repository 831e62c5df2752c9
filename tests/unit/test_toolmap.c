/*
 * The exposed-tool table: naming at the 64-character edge, hashed forms,
 * collisions settled independently of arrival order, local tools first,
 * bad and duplicate tools, replacement and removal, the cached JSON and
 * the 20,000-tool scale.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "supervisor/mesh.h"

#define NPEERS	4
static struct peer	tp[NPEERS];

static void
setup(void)
{
	static const char *names[NPEERS] = { "a", "a_b", "fs", "mesh" };
	int	i;

	memset(tp, 0, sizeof(tp));
	for (i = 0; i < NPEERS; i++) {
		tp[i].index = i;
		tp[i].bridged = 1;
		TAILQ_INIT(&tp[i].tools);
		strlcpy(tp[i].name, names[i], sizeof(tp[i].name));
		strlcpy(tp[i].prefix, names[i], sizeof(tp[i].prefix));
	}
	toolmap_init();
}

static void
teardown(void)
{
	int	i;

	for (i = 0; i < NPEERS; i++)
		toolmap_remove_peer(&tp[i]);
	toolmap_clear();
}

TestSuite(toolmap, .init = setup, .fini = teardown);

static struct json_object *
tool(const char *name)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "description",
	    json_object_new_string("does things"));
	return (o);
}

/* A tools array from a NULL-terminated list of names. */
static struct json_object *
tools(const char *first, ...)
{
	struct json_object	*a;
	const char		*s;
	va_list			 ap;

	a = json_object_new_array();
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		json_object_array_add(a, tool(s));
	va_end(ap);
	return (a);
}

static struct toolent *
lookup(const char *exposed)
{
	return (toolmap_lookup(exposed, strlen(exposed)));
}

static int
set_peer(struct peer *p, struct json_object *a)
{
	int	n;

	n = toolmap_set_peer(p, a, NULL);
	json_object_put(a);
	return (n);
}

/* The name in e's definition; valid until the next call. */
static const char *
def_name(struct toolent *e)
{
	static char		 name[TOOL_NAME_MAX + 1];
	struct json_object	*d, *v;

	d = toolmap_def(e);
	cr_assert_not_null(d);
	cr_assert(json_object_object_get_ex(d, "name", &v));
	cr_assert_lt(strlen(json_object_get_string(v)), sizeof(name));
	strlcpy(name, json_object_get_string(v), sizeof(name));
	json_object_put(d);
	return (name);
}

/* e's definition as json-c prints it; the caller frees it. */
static char *
def_text(struct toolent *e)
{
	struct json_object	*d;
	char			*s;

	d = toolmap_def(e);
	cr_assert_not_null(d);
	s = strdup(json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(d);
	return (s);
}

/* The exposed names, in toolmap_json order, joined by spaces. */
static char *
json_names(void)
{
	struct json_object	*a, *v;
	const char		*s;
	char			*out;
	size_t			 len, i, n;

	s = toolmap_json(&len);
	cr_assert_eq(strlen(s), len);
	a = json_tokener_parse(s);
	cr_assert_not_null(a, "not JSON: %s", s);
	cr_assert(json_object_is_type(a, json_type_array));
	n = json_object_array_length(a);
	out = calloc(1, n * (TOOL_NAME_MAX + 1) + 1);
	for (i = 0; i < n; i++) {
		cr_assert(json_object_object_get_ex(
		    json_object_array_get_idx(a, i), "name", &v));
		if (i != 0)
			strcat(out, " ");
		strcat(out, json_object_get_string(v));
	}
	json_object_put(a);
	return (out);
}

static void
assert_hashed(const char *name, const char *prefix)
{
	size_t	i, len = strlen(name);

	cr_assert(toolmap_valid_name(name), "invalid: %s", name);
	cr_assert_leq(len, TOOL_NAME_MAX);
	cr_assert(strncmp(name, prefix, strlen(prefix)) == 0,
	    "%s does not start with %s", name, prefix);
	cr_assert_eq(name[len - TOOL_HASH_LEN - 1], '_');
	for (i = len - TOOL_HASH_LEN; i < len; i++)
		cr_assert(strchr("0123456789abcdef", name[i]) != NULL, "%s",
		    name);
}

Test(toolmap, valid_name)
{
	char	s[TOOL_NAME_MAX + 2];

	cr_assert(toolmap_valid_name("a"));
	cr_assert(toolmap_valid_name("A-z_09"));
	cr_assert(!toolmap_valid_name(""));
	cr_assert(!toolmap_valid_name("a.b"));
	cr_assert(!toolmap_valid_name("a b"));
	cr_assert(!toolmap_valid_name("a/b"));
	cr_assert(!toolmap_valid_name("caf\xc3\xa9"));
	memset(s, 'x', TOOL_NAME_MAX);
	s[TOOL_NAME_MAX] = '\0';
	cr_assert(toolmap_valid_name(s));
	s[TOOL_NAME_MAX] = 'x';
	s[TOOL_NAME_MAX + 1] = '\0';
	cr_assert(!toolmap_valid_name(s));
}

Test(toolmap, plain_name)
{
	struct toolent	*e;
	char		 out[TOOL_NAME_MAX + 1];

	toolmap_name("fs", "fs", "read", 0, 0, out, sizeof(out));
	cr_assert_str_eq(out, "fs_read");
	cr_assert_eq(set_peer(&tp[2], tools("read", "write-file", NULL)), 2);
	cr_assert_eq(toolmap_count(), 2);
	e = lookup("fs_read");
	cr_assert_not_null(e);
	cr_assert_eq(e->peer, &tp[2]);
	cr_assert_str_eq(e->tool, "read");
	cr_assert_str_eq(def_name(e), "fs_read");
	cr_assert_eq(e->ord, 0);
	cr_assert_not_null(lookup("fs_write-file"));
	cr_assert_null(lookup("read"));
	cr_assert_null(lookup("fs_"));
}

Test(toolmap, length_edge)
{
	char		 t62[63], t63[64];
	char		 a[TOOL_NAME_MAX + 1], b[TOOL_NAME_MAX + 1];
	char		 prefix[TOOL_NAME_MAX];
	struct toolent	*e;

	/* "a_" + 62 = 64 characters: kept as is. */
	memset(t62, 'x', 62);
	t62[62] = '\0';
	memset(t63, 'y', 63);
	t63[63] = '\0';
	cr_assert_eq(set_peer(&tp[0], tools(t62, t63, NULL)), 2);
	snprintf(a, sizeof(a), "a_%s", t62);
	cr_assert_eq(strlen(a), TOOL_NAME_MAX);
	e = lookup(a);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->tool, t62);

	/* 65: hashed, 64 long, deterministic. */
	toolmap_name("a", "a", t63, 1, 0, a, sizeof(a));
	toolmap_name("a", "a", t63, 1, 0, b, sizeof(b));
	cr_assert_str_eq(a, b);
	cr_assert_eq(strlen(a), TOOL_NAME_MAX);
	/* The hashed base keeps the first 57 characters. */
	memcpy(prefix, "a_", 2);
	memcpy(prefix + 2, t63, TOOL_NAME_MAX - TOOL_HASH_LEN - 1 - 2);
	prefix[TOOL_NAME_MAX - TOOL_HASH_LEN - 1] = '\0';
	assert_hashed(a, prefix);
	e = lookup(a);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->tool, t63);
	cr_assert_str_eq(def_name(e), a);
	/* Another attempt is another name. */
	toolmap_name("a", "a", t63, 1, 1, b, sizeof(b));
	cr_assert_str_neq(a, b);
	assert_hashed(b, prefix);
}

Test(toolmap, invalid_chars_hashed)
{
	char		 n1[TOOL_NAME_MAX + 1], n2[TOOL_NAME_MAX + 1];
	char		 n3[TOOL_NAME_MAX + 1];
	struct toolent	*e;

	cr_assert_eq(set_peer(&tp[2], tools("read.file", "read file",
	    "caf\xc3\xa9", "a/b", NULL)), 4);
	toolmap_name("fs", "fs", "read.file", 1, 0, n1, sizeof(n1));
	toolmap_name("fs", "fs", "read file", 1, 0, n2, sizeof(n2));
	toolmap_name("fs", "fs", "caf\xc3\xa9", 1, 0, n3, sizeof(n3));
	assert_hashed(n1, "fs_read_file_");
	assert_hashed(n2, "fs_read_file_");
	assert_hashed(n3, "fs_caf___");
	cr_assert_str_neq(n1, n2);
	e = lookup(n1);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->tool, "read.file");
	e = lookup(n3);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->tool, "caf\xc3\xa9");
	/* Stable across runs: a fixed value for a fixed input. */
	toolmap_name("fs", "fs", "read.file", 1, 0, n2, sizeof(n2));
	cr_assert_str_eq(n1, n2);
}

static char *
collide(int reverse)
{
	struct toolent	*e;
	char		 h[TOOL_NAME_MAX + 1];

	if (reverse) {
		cr_assert_eq(set_peer(&tp[1], tools("c", NULL)), 1);
		cr_assert_eq(set_peer(&tp[0], tools("b_c", NULL)), 1);
	} else {
		cr_assert_eq(set_peer(&tp[0], tools("b_c", NULL)), 1);
		cr_assert_eq(set_peer(&tp[1], tools("c", NULL)), 1);
	}
	e = lookup("a_b_c");
	cr_assert_not_null(e);
	cr_assert_eq(e->peer, &tp[0], "lower index keeps the plain name");
	toolmap_name("a_b", "a_b", "c", 1, 0, h, sizeof(h));
	e = lookup(h);
	cr_assert_not_null(e);
	cr_assert_eq(e->peer, &tp[1]);
	cr_assert_str_eq(def_name(e), h);
	cr_assert_eq(toolmap_count(), 2);
	return (json_names());
}

Test(toolmap, collision_order_independent)
{
	char	*one, *two;

	one = collide(0);
	toolmap_clear();
	two = collide(1);
	cr_assert_str_eq(one, two);
	free(one);
	free(two);
}

Test(toolmap, local_wins)
{
	struct json_object	*d;
	struct toolent		*e;
	char			 h[TOOL_NAME_MAX + 1];

	/* The peer came first: it is moved aside. */
	cr_assert_eq(set_peer(&tp[3], tools("status", "other", NULL)), 2);
	cr_assert_eq(lookup("mesh_status")->peer, &tp[3]);
	d = tool("mesh_status");
	toolmap_add_local(d);
	json_object_put(d);
	e = lookup("mesh_status");
	cr_assert_not_null(e);
	cr_assert_null(e->peer);
	toolmap_name("mesh", "mesh", "status", 1, 0, h, sizeof(h));
	e = lookup(h);
	cr_assert_not_null(e);
	cr_assert_eq(e->peer, &tp[3]);
	cr_assert_str_eq(def_name(e), h);

	/* The peer comes back after: it is hashed at once. */
	cr_assert_eq(set_peer(&tp[3], tools("status", NULL)), 1);
	cr_assert_null(lookup("mesh_status")->peer);
	cr_assert_eq(lookup(h)->peer, &tp[3]);
	cr_assert_eq(toolmap_count(), 2);
}

Test(toolmap, duplicates_dropped)
{
	struct json_object	*a, *t, *d;
	struct toolent		*e;
	char			*names;

	a = tools("x", "y", NULL);
	t = tool("x");
	json_object_object_add(t, "description", json_object_new_string("2"));
	json_object_array_add(a, t);
	json_object_array_add(a, tool("z"));
	json_object_array_add(a, tool("y"));
	cr_assert_eq(set_peer(&tp[2], a), 3);
	cr_assert_eq(toolmap_count(), 3);
	e = lookup("fs_x");
	cr_assert_eq(e->ord, 0);
	d = toolmap_def(e);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(d,
	    "description")), "does things");
	json_object_put(d);
	names = json_names();
	cr_assert_str_eq(names, "fs_x fs_y fs_z");
	free(names);
}

Test(toolmap, bad_tools_skipped)
{
	struct json_object	*a, *t;

	a = json_object_new_array();
	t = json_object_new_object();
	json_object_object_add(t, "description", json_object_new_string("?"));
	json_object_array_add(a, t);
	json_object_array_add(a, tool(""));
	t = json_object_new_object();
	json_object_object_add(t, "name", json_object_new_int(5));
	json_object_array_add(a, t);
	t = json_object_new_object();
	json_object_object_add(t, "name", NULL);
	json_object_array_add(a, t);
	json_object_array_add(a, json_object_new_string("str"));
	json_object_array_add(a, NULL);
	t = json_object_new_object();
	json_object_object_add(t, "name", json_object_new_string_len("n\0ul",
	    4));
	json_object_array_add(a, t);
	json_object_array_add(a, tool("ok"));
	cr_assert_eq(set_peer(&tp[2], a), 1);
	cr_assert_eq(toolmap_count(), 1);
	cr_assert_not_null(lookup("fs_ok"));
	/* Not an array at all. */
	cr_assert_eq(set_peer(&tp[2], json_object_new_object()), 0);
	cr_assert_eq(toolmap_count(), 0);
}

Test(toolmap, def_is_a_copy)
{
	struct json_object	*a, *t, *schema;
	struct toolent		*e;
	char			*s;

	a = json_object_new_array();
	t = json_object_new_object();
	json_object_object_add(t, "description", json_object_new_string("d"));
	json_object_object_add(t, "name", json_object_new_string("r"));
	schema = json_tokener_parse("{\"type\":\"object\",\"properties\":"
	    "{\"p\":{\"type\":\"string\"}}}");
	json_object_object_add(t, "inputSchema", schema);
	json_object_array_add(a, t);
	cr_assert_eq(toolmap_set_peer(&tp[2], a, NULL), 1);
	/* The peer's copy is untouched, and later changes do not leak in. */
	cr_assert_str_eq(json_object_get_string(json_object_object_get(t,
	    "name")), "r");
	json_object_object_add(schema, "type", json_object_new_string("x"));
	json_object_put(a);
	e = lookup("fs_r");
	/* The name is moved to the front; the rest keeps its order. */
	s = def_text(e);
	cr_assert_str_eq(s, "{\"name\":\"fs_r\",\"description\":\"d\","
	    "\"inputSchema\":{\"type\":\"object\",\"properties\":"
	    "{\"p\":{\"type\":\"string\"}}}}");
	free(s);
}

/*
 * Everything but the name comes out byte for byte as json-c prints the
 * peer's definition, in the list and from toolmap_def(), renamed or not.
 */
#define VERBATIM_IN \
	"\"description\":\"Caf\\u00e9 \\u2603 \\\"q\\\" a/b \\u0001\"," \
	"\"inputSchema\":{\"$schema\":" \
	"\"http://json-schema.org/draft-07/schema#\"," \
	"\"$defs\":{\"pt\":{\"type\":\"array\",\"items\":" \
	"[[1,2.5,-3e2],[],[{}],null,true,false]}}," \
	"\"type\":\"object\",\"additionalProperties\":false," \
	"\"properties\":{\"p\":{\"$ref\":\"#/$defs/pt\"}}," \
	"\"required\":[\"p\"]},\"annotations\":{\"readOnlyHint\":true}}"
/* As json-c prints it: UTF-8 as is, "/" unescaped, numbers as given. */
#define VERBATIM_OUT \
	"\"title\":\"T\"," \
	"\"description\":\"Caf\xc3\xa9 \xe2\x98\x83 \\\"q\\\" a/b \\u0001\"," \
	"\"inputSchema\":{\"$schema\":" \
	"\"http://json-schema.org/draft-07/schema#\"," \
	"\"$defs\":{\"pt\":{\"type\":\"array\",\"items\":" \
	"[[1,2.5,-3e2],[],[{}],null,true,false]}}," \
	"\"type\":\"object\",\"additionalProperties\":false," \
	"\"properties\":{\"p\":{\"$ref\":\"#/$defs/pt\"}}," \
	"\"required\":[\"p\"]},\"annotations\":{\"readOnlyHint\":true}}"

Test(toolmap, def_text_verbatim)
{
	struct json_object	*a, *d, *j;
	struct toolent		*e;
	const char		*s;
	char			*got, *want, h[TOOL_NAME_MAX + 1];
	size_t			 len;

	/* The name in the middle, and a tool with nothing but a name. */
	a = json_tokener_parse("[{\"title\":\"T\",\"name\":\"b_c\","
	    VERBATIM_IN ",{\"name\":\"bare\"}]");
	cr_assert_not_null(a);
	cr_assert_eq(set_peer(&tp[0], a), 2);

	e = lookup("a_b_c");
	cr_assert_not_null(e);
	cr_assert_eq(e->bodylen, strlen(VERBATIM_OUT) - 1);
	cr_assert(strncmp(e->body, VERBATIM_OUT, e->bodylen) == 0, "%s",
	    e->body);
	got = def_text(e);
	cr_assert_str_eq(got, "{\"name\":\"a_b_c\"," VERBATIM_OUT);
	free(got);
	s = toolmap_json(&len);
	cr_assert_eq(strlen(s), len);
	cr_assert_not_null(strstr(s, "[{\"name\":\"a_b_c\"," VERBATIM_OUT
	    ",{\"name\":\"a_bare\"}]"), "%s", s);
	e = lookup("a_bare");
	cr_assert_eq(e->bodylen, 0);
	got = def_text(e);
	cr_assert_str_eq(got, "{\"name\":\"a_bare\"}");
	free(got);

	/* The local tool takes a_b_c: the peer's tool is renamed, intact. */
	d = json_object_new_object();
	json_object_object_add(d, "name", json_object_new_string("a_b_c"));
	toolmap_add_local(d);
	json_object_put(d);
	cr_assert_null(lookup("a_b_c")->peer);
	toolmap_name("a", "a", "b_c", 1, 0, h, sizeof(h));
	e = lookup(h);
	cr_assert_not_null(e);
	cr_assert_eq(e->peer, &tp[0]);
	cr_assert(asprintf(&want, "[{\"name\":\"a_b_c\"},{\"name\":\"%s\",%s,"
	    "{\"name\":\"a_bare\"}]", h, VERBATIM_OUT) > 0);
	s = toolmap_json(&len);
	cr_assert_str_eq(s, want);
	cr_assert_eq(strlen(s), len);
	free(want);
	cr_assert(asprintf(&want, "{\"name\":\"%s\",%s", h, VERBATIM_OUT) > 0);
	got = def_text(e);
	cr_assert_str_eq(got, want);
	free(got);
	free(want);
	j = json_tokener_parse(s);
	cr_assert_not_null(j);
	cr_assert_eq(json_object_array_length(j), 3);
	json_object_put(j);
}

/* toolmap_def() takes what a peer may send: nested to JSON_DEPTH_MAX. */
Test(toolmap, def_deep)
{
	struct json_object	*a, *d;
	const char		*why;
	char			 in[JSON_DEPTH_MAX * 8 + 64];
	size_t			 off;
	int			 i, depth = JSON_DEPTH_MAX - 3;

	off = strlcpy(in, "[{\"name\":\"deep\",\"x\":", sizeof(in));
	for (i = 0; i < depth; i++)
		in[off++] = '[';
	for (i = 0; i < depth; i++)
		in[off++] = ']';
	strlcpy(in + off, "}]", sizeof(in) - off);
	a = jsonrpc_parse(in, strlen(in), JSON_DEPTH_MAX, &why);
	cr_assert_not_null(a, "%s", why);
	/* Too deep for json_tokener_parse(). */
	cr_assert_null(json_tokener_parse(strchr(in, '{')));
	cr_assert_eq(set_peer(&tp[2], a), 1);
	d = toolmap_def(lookup("fs_deep"));
	cr_assert_not_null(d);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(d,
	    "name")), "fs_deep");
	json_object_put(d);
}

Test(toolmap, replace_and_remove)
{
	cr_assert_eq(set_peer(&tp[2], tools("a", "b", NULL)), 2);
	cr_assert_eq(set_peer(&tp[0], tools("q", NULL)), 1);
	cr_assert_eq(set_peer(&tp[2], tools("c", NULL)), 1);
	cr_assert_null(lookup("fs_a"));
	cr_assert_null(lookup("fs_b"));
	cr_assert_not_null(lookup("fs_c"));
	cr_assert_eq(toolmap_count(), 2);
	toolmap_remove_peer(&tp[2]);
	cr_assert_null(lookup("fs_c"));
	cr_assert_not_null(lookup("a_q"));
	cr_assert_eq(toolmap_count(), 1);
	toolmap_remove_peer(&tp[2]);
	cr_assert_eq(toolmap_count(), 1);
	cr_assert_eq(set_peer(&tp[0], json_object_new_array()), 0);
	cr_assert_eq(toolmap_count(), 0);
	cr_assert_str_eq(toolmap_json(NULL), "[]");
}

Test(toolmap, lookup_edges)
{
	char	s[TOOL_NAME_MAX * 2];

	cr_assert_null(lookup(""));
	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	cr_assert_null(lookup(s));
}

Test(toolmap, json_order_and_cache)
{
	struct json_object	*d;
	const char		*j1, *j2;
	char			*names;
	size_t			 l1, l2;

	cr_assert_str_eq(toolmap_json(&l1), "[]");
	cr_assert_eq(l1, 2);
	/* Peers arrive out of order; locals are added last. */
	cr_assert_eq(set_peer(&tp[3], tools("z", "y", NULL)), 2);
	cr_assert_eq(set_peer(&tp[0], tools("m", "n", NULL)), 2);
	cr_assert_eq(set_peer(&tp[2], tools("k", NULL)), 1);
	d = tool("mesh_b");
	toolmap_add_local(d);
	json_object_put(d);
	d = tool("mesh_a");
	toolmap_add_local(d);
	json_object_put(d);
	names = json_names();
	cr_assert_str_eq(names, "mesh_b mesh_a a_m a_n fs_k mesh_z mesh_y");
	free(names);

	j1 = toolmap_json(&l1);
	j2 = toolmap_json(&l2);
	cr_assert_eq(j1, j2, "cached");
	cr_assert_eq(l1, l2);
	cr_assert_null(memchr(j1, '\n', l1));
	cr_assert_eq(set_peer(&tp[1], tools("w", NULL)), 1);
	names = json_names();
	cr_assert_str_eq(names,
	    "mesh_b mesh_a a_m a_n a_b_w fs_k mesh_z mesh_y");
	free(names);
}

Test(toolmap, cap_per_peer)
{
	struct json_object	*a;
	char			 name[32];
	int			 i;

	a = json_object_new_array();
	for (i = 0; i < UPSTREAM_TOOLS_MAX + 5; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		json_object_array_add(a, tool(name));
	}
	cr_assert_eq(set_peer(&tp[2], a), UPSTREAM_TOOLS_MAX);
	cr_assert_eq(toolmap_count(), UPSTREAM_TOOLS_MAX);
	snprintf(name, sizeof(name), "fs_t%d", UPSTREAM_TOOLS_MAX - 1);
	cr_assert_not_null(lookup(name));
	snprintf(name, sizeof(name), "fs_t%d", UPSTREAM_TOOLS_MAX);
	cr_assert_null(lookup(name));
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec	t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9);
}

Test(toolmap, twenty_thousand)
{
	static struct peer	 many[100];
	struct json_object	*a, *arr;
	struct timespec		 t0;
	char			 name[64];
	const char		*s;
	size_t			 len;
	int			 i, j;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Backwards: the worst order for keeping the list sorted. */
	for (i = 99; i >= 0; i--) {
		many[i].index = i;
		many[i].bridged = 1;
		TAILQ_INIT(&many[i].tools);
		snprintf(many[i].name, sizeof(many[i].name), "peer%d", i);
		strlcpy(many[i].prefix, many[i].name, sizeof(many[i].prefix));
		a = json_object_new_array();
		for (j = 0; j < 200; j++) {
			snprintf(name, sizeof(name), "tool_%d", j);
			json_object_array_add(a, tool(name));
		}
		cr_assert_eq(set_peer(&many[i], a), 200);
	}
	cr_assert_eq(toolmap_count(), 20000);
	s = toolmap_json(&len);
	cr_log_info("20000 tools set and serialised in %.3f s, %zu bytes",
	    elapsed(&t0), len);
	cr_assert_lt(elapsed(&t0), 5.0);

	arr = json_tokener_parse(s);
	cr_assert_not_null(arr);
	cr_assert_eq(json_object_array_length(arr), 20000);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(
	    json_object_array_get_idx(arr, 0), "name")), "peer0_tool_0");
	cr_assert_str_eq(json_object_get_string(json_object_object_get(
	    json_object_array_get_idx(arr, 19999), "name")), "peer99_tool_199");
	json_object_put(arr);

	for (i = 0; i < 100; i++) {
		for (j = 0; j < 200; j += 13) {
			snprintf(name, sizeof(name), "peer%d_tool_%d", i, j);
			cr_assert_eq(lookup(name)->peer, &many[i]);
		}
	}
	for (i = 0; i < 100; i++)
		toolmap_remove_peer(&many[i]);
}

/* A name with a NUL inside names no tool (not the part before it). */
Test(toolmap, lookup_by_length)
{
	cr_assert_eq(set_peer(&tp[2], tools("read", NULL)), 1);
	cr_assert_not_null(toolmap_lookup("fs_read", 7));
	cr_assert_null(toolmap_lookup("fs_read\0junk", 12));
	cr_assert_null(toolmap_lookup("fs_rea", 6));
}

/*
 * A peer that is not bridged keeps its tools on its own list, out of the
 * index; its list prints its tools under their own names.
 */
Test(toolmap, plain_peer_not_indexed)
{
	struct json_object	*arr;
	char			*text;
	size_t			 len;

	tp[1].bridged = 0;
	cr_assert_eq(set_peer(&tp[1], tools("secret", "two words", NULL)), 2);
	cr_assert_eq(toolmap_count(), 0);
	cr_assert_null(lookup("a_b_secret"));
	cr_assert_str_eq(toolmap_json(NULL), "[]");
	text = toolmap_peer_json(&tp[1], &len);
	cr_assert_eq(strlen(text), len);
	arr = json_tokener_parse(text);
	cr_assert_not_null(arr, "%s", text);
	cr_assert_eq(json_object_array_length(arr), 2);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(
	    json_object_array_get_idx(arr, 1), "name")), "two words");
	cr_assert_str_eq(json_object_get_string(json_object_object_get(
	    json_object_array_get_idx(arr, 1), "description")), "does things");
	json_object_put(arr);
	free(text);
}

/* A bridged peer's list holds its tools even when the index drops one. */
Test(toolmap, peer_list_keeps_all)
{
	char	*text;
	size_t	 len;

	cr_assert_eq(set_peer(&tp[2], tools("read", "read", "write", NULL)),
	    2);
	text = toolmap_peer_json(&tp[2], &len);
	cr_assert_not_null(strstr(text, "\"read\""));
	cr_assert_not_null(strstr(text, "\"write\""));
	free(text);
	toolmap_remove_peer(&tp[2]);
	cr_assert_eq(toolmap_count(), 0);
	cr_assert(TAILQ_EMPTY(&tp[2].tools));
}

/* The same list again changes nothing; a new definition does. */
Test(toolmap, change_detected)
{
	struct json_object	*a;
	int			 changed;

	a = tools("read", "write", NULL);
	toolmap_set_peer(&tp[2], a, &changed);
	cr_assert_eq(changed, 1);
	toolmap_set_peer(&tp[2], a, &changed);
	cr_assert_eq(changed, 0, "the same list twice must not be a change");
	json_object_put(a);
	a = tools("read", "write", "delete", NULL);
	toolmap_set_peer(&tp[2], a, &changed);
	cr_assert_eq(changed, 1);
	json_object_put(a);
	a = tools("read", "write", "delete", NULL);
	json_object_object_add(json_object_array_get_idx(a, 0), "description",
	    json_object_new_string("reads other things"));
	toolmap_set_peer(&tp[2], a, &changed);
	cr_assert_eq(changed, 1, "a changed description is a change");
	json_object_put(a);
	toolmap_set_peer(&tp[2], NULL, &changed);
	cr_assert_eq(changed, 1);
	toolmap_set_peer(&tp[2], NULL, &changed);
	cr_assert_eq(changed, 0);
}

/* A tool whose path holds this node came round a loop: not taken. */
Test(toolmap, loop_path)
{
	struct json_object	*a, *t, *meta, *path, *def;
	struct toolent		*e;

	toolmap_set_node("11111111-1111-4111-8111-111111111111");
	a = tools("mine", "theirs", NULL);
	t = json_object_array_get_idx(a, 0);
	meta = json_object_new_object();
	path = json_object_new_array();
	json_object_array_add(path, json_object_new_string(
	    "11111111-1111-4111-8111-111111111111"));
	json_object_array_add(path, json_object_new_string("other"));
	json_object_object_add(meta, MESH_META_PATH, path);
	json_object_object_add(t, "_meta", meta);
	cr_assert_eq(set_peer(&tp[2], a), 1);
	cr_assert_null(lookup("fs_mine"));
	cr_assert_not_null(e = lookup("fs_theirs"));
	def = toolmap_def(e);
	path = json_object_object_get(json_object_object_get(def, "_meta"),
	    MESH_META_PATH);
	cr_assert_eq(json_object_array_length(path), 1);
	cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(path,
	    0)), "11111111-1111-4111-8111-111111111111");
	json_object_put(def);
	toolmap_set_node("");
}

/*
 * A transparent peer (an empty prefix) exposes its tools under their own
 * names; a clash with another peer's is settled as any other.
 */
/* The exposed name of p's tool of that name, or "". */
static const char *
exposed_of(struct peer *p, const char *tool)
{
	struct toolent	*ent;

	TAILQ_FOREACH(ent, &p->tools, pentry)
		if (strcmp(ent->tool, tool) == 0)
			return (ent->indexed ? ent->exposed : "");
	return ("");
}

Test(toolmap, empty_prefix)
{
	tp[3].prefix[0] = '\0';
	cr_assert_eq(set_peer(&tp[3], tools("test_simple_text", "read", NULL)),
	    2);
	cr_assert_not_null(lookup("test_simple_text"));
	cr_assert_eq(lookup("test_simple_text")->peer, &tp[3]);
	cr_assert_null(lookup("mesh_test_simple_text"));
	/* tp[2] ("fs") comes first: its fs_read is no clash with "read". */
	cr_assert_eq(set_peer(&tp[2], tools("read", NULL)), 1);
	cr_assert_not_null(lookup("fs_read"));
	cr_assert_eq(lookup("read")->peer, &tp[3]);
	/* Another transparent peer given earlier takes "read" over. */
	tp[0].prefix[0] = '\0';
	cr_assert_eq(set_peer(&tp[0], tools("read", NULL)), 1);
	cr_assert_eq(lookup("read")->peer, &tp[0]);
	cr_assert_str_neq(exposed_of(&tp[3], "read"), "read");
}
