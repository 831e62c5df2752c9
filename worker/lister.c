/*
 * A paged MCP list (tools/list; later resources/list,
 * resources/templates/list, prompts/list): the items of each page's
 * result, put together, following nextCursor.  Pure: the pages come in
 * as json-c results, nothing here sends anything, so the rules are
 * unit-tested.  A gateway can make a list loop (a cursor seen before),
 * never end (UPSTREAM_PAGES_MAX pages) or grow without bound (the
 * kind's cap): each stops the list with what it has, and says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "upstream.h"
#include "xmalloc.h"

static void
lister_cursors_free(struct lister *l)
{
	size_t	i;

	for (i = 0; i < l->ncursors; i++)
		free(l->cursors[i]);
	free(l->cursors);
	l->cursors = NULL;
	l->ncursors = 0;
}

/* A new list of the lister's kind; one that was running is dropped. */
void
lister_begin(struct lister *l)
{
	lister_free(l);
	l->items = json_object_new_array();
	l->running = 1;
}

/* The page's items, as many as the cap leaves room for: 0 when full. */
static int
lister_take_items(struct lister *l, struct json_object *arr)
{
	size_t	i, n = json_object_array_length(arr);

	for (i = 0; i < n; i++) {
		if (json_object_array_length(l->items) >= l->kind->max) {
			log_warnx("%s: more than %zu %s, the rest ignored",
			    l->kind->method, l->kind->max, l->kind->key);
			return (0);
		}
		json_object_array_add(l->items,
		    json_object_get(json_object_array_get_idx(arr, i)));
	}
	return (1);
}

/* The cursor of the next page is one to follow: 1, and it is noted. */
static int
lister_follow(struct lister *l, const char *cur)
{
	size_t	i;

	for (i = 0; i < l->ncursors; i++) {
		if (strcmp(l->cursors[i], cur) == 0) {
			log_warnx("%s: cursor repeats, stopped",
			    l->kind->method);
			return (0);
		}
	}
	if (l->ncursors + 1 >= l->kind->pages_max) {
		log_warnx("%s: more than %zu pages, stopped", l->kind->method,
		    l->kind->pages_max);
		return (0);
	}
	l->cursors = xreallocarray(l->cursors, l->ncursors + 1,
	    sizeof(*l->cursors));
	l->cursors[l->ncursors++] = xstrdup(cur);
	return (1);
}

/*
 * One page's result.  LISTER_NEXT: ask for the page at *cursor (valid
 * until the list ends); LISTER_DONE: lister_take() has the list;
 * LISTER_BAD: the result has no array of the kind's key (why says so),
 * and the list is over.
 */
enum lister_step
lister_page(struct lister *l, struct json_object *result, const char **cursor,
    char *why, size_t len)
{
	struct json_object	*arr, *c;

	*cursor = NULL;
	if (!json_object_is_type(result, json_type_object) ||
	    !json_object_object_get_ex(result, l->kind->key, &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		snprintf(why, len, "%s result without a %s array",
		    l->kind->method, l->kind->key);
		l->running = 0;
		return (LISTER_BAD);
	}
	if (!lister_take_items(l, arr) ||
	    !json_object_object_get_ex(result, "nextCursor", &c) ||
	    !json_object_is_type(c, json_type_string) ||
	    !lister_follow(l, json_object_get_string(c)))
		return (LISTER_DONE);
	*cursor = l->cursors[l->ncursors - 1];
	return (LISTER_NEXT);
}

/* The list put together (the caller's reference); the lister is idle. */
struct json_object *
lister_take(struct lister *l)
{
	struct json_object	*items = l->items;

	l->items = NULL;
	l->running = 0;
	lister_cursors_free(l);
	return (items);
}

void
lister_free(struct lister *l)
{
	json_object_put(l->items);
	l->items = NULL;
	l->running = 0;
	lister_cursors_free(l);
}
