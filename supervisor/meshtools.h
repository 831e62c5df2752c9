/*
 * The mesh tools' own header, shared by meshtools.c (the table, the
 * reading tools) and meshtools-peers.c (the tools that change or call
 * peers).
 */
#ifndef MESH_MESHTOOLS_H
#define MESH_MESHTOOLS_H

enum meshtool_kind {
	MT_READ,	/* listing and lookup: offered under --mesh-tools read */
	MT_CHANGE,	/* adds or removes peers */
	MT_CALL,	/* calls a peer's tool */
};

typedef void (*meshtool_fn)(struct call *, struct json_object *args,
    struct json_object *req);

struct meshtool {
	const char	 *name;
	enum meshtool_kind kind;
	const char	 *description;
	const char	 *input_schema;		/* JSON text */
	const char	 *output_schema;	/* JSON text, or NULL */
	meshtool_fn	  fn;
};

/* meshtools.c */
int		 mt_arg_str(struct call *, struct json_object *args,
		    const char *key, int required, const char **out);
int		 mt_arg_bool(struct call *, struct json_object *args,
		    const char *key, int *out);
struct peer	*mt_arg_peer(struct call *, struct json_object *args);
void		 mt_answer(struct call *, struct json_object *structured);
struct json_object *mt_entry_json(const struct dir_entry *);

/* meshtools-peers.c */
void		 mt_add_peer(struct call *, struct json_object *,
		    struct json_object *);
void		 mt_remove_peer(struct call *, struct json_object *,
		    struct json_object *);
void		 mt_call_peer(struct call *, struct json_object *,
		    struct json_object *);
void		 mt_call_bridged(struct call *, struct json_object *,
		    struct json_object *);

#endif
