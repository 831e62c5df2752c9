#ifndef MESHCTL_PARSER_H
#define MESHCTL_PARSER_H

enum meshctl_action {
	ACT_NONE = 0,
	ACT_STATUS,
	ACT_LIST,
	ACT_NETWORKS,
	ACT_NETWORK,
	ACT_JOIN,
	ACT_CONNECT,
	ACT_DISCONNECT,
};

struct meshctl_cmd {
	enum meshctl_action	 action;
	const char		*arg;	/* hub URL or peer, when the action takes one */
};

/* Returns 0 and fills cmd, or -1 with a message on stderr. */
int	parse_command(int argc, char **argv, struct meshctl_cmd *cmd);
void	parse_usage(void);

#endif
