/*
 * meshctl's command table, relayctl-style: each token names an action and
 * says whether it takes an argument.
 */
#include <stdio.h>
#include <string.h>

#include "parser.h"

struct token {
	const char		*word;
	enum meshctl_action	 action;
	const char		*argname;	/* NULL: no argument */
	const char		*help;
};

static const struct token tokens[] = {
	{ "status",	ACT_STATUS,	NULL,		"show the local node's status" },
	{ "list",	ACT_LIST,	NULL,		"list all nodes in the directory" },
	{ "networks",	ACT_NETWORKS,	NULL,		"list available hubs" },
	{ "network",	ACT_NETWORK,	"hub-url",	"show a network's details" },
	{ "join",	ACT_JOIN,	"hub-url",	"join a network" },
	{ "connect",	ACT_CONNECT,	"peer",		"connect to a peer" },
	{ "disconnect",	ACT_DISCONNECT,	"peer",		"disconnect from a peer" },
	{ NULL,		ACT_NONE,	NULL,		NULL }
};

void
parse_usage(void)
{
	const struct token	*t;

	fprintf(stderr, "usage: meshctl [-s socket] command [argument]\n");
	for (t = tokens; t->word != NULL; t++)
		fprintf(stderr, "  %-11s %-9s %s\n", t->word,
		    t->argname ? t->argname : "", t->help);
}

int
parse_command(int argc, char **argv, struct meshctl_cmd *cmd)
{
	const struct token	*t;

	memset(cmd, 0, sizeof(*cmd));
	if (argc < 1) {
		parse_usage();
		return (-1);
	}
	for (t = tokens; t->word != NULL; t++)
		if (strcmp(t->word, argv[0]) == 0)
			break;
	if (t->word == NULL) {
		fprintf(stderr, "meshctl: unknown command \"%s\"\n", argv[0]);
		parse_usage();
		return (-1);
	}
	if (t->argname != NULL && argc != 2) {
		fprintf(stderr, "meshctl: %s needs a %s\n", t->word, t->argname);
		return (-1);
	}
	if (t->argname == NULL && argc != 1) {
		fprintf(stderr, "meshctl: %s takes no argument\n", t->word);
		return (-1);
	}
	cmd->action = t->action;
	cmd->arg = argc == 2 ? argv[1] : NULL;
	return (0);
}
