/*
 * This node's identity and its data directory.  The directory is
 * MCP_MESH_DATA_DIR, else ~/.config/mcp-mesh (under systemd the unit sets
 * it to the StateDirectory), made 0700 when missing.  The node's UUID is
 * made once (RFC 4122 version 4, from arc4random) and kept there in
 * "node-id", so a node is the same node across restarts: other meshes
 * and hubs know it by that id.  The name defaults to the host name.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mesh.h"
#include "peerspec.h"

#define NODE_ID_FILE	"node-id"

/* ~/.config/mcp-mesh, from $HOME or the password file. */
static int
node_default_dir(char *out, size_t len)
{
	const char	*home = getenv("HOME");
	struct passwd	*pw;

	if ((home == NULL || *home == '\0') &&
	    (pw = getpwuid(getuid())) != NULL)
		home = pw->pw_dir;
	if (home == NULL || *home == '\0')
		return (-1);
	return (snprintf(out, len, "%s/.config/mcp-mesh", home) >= (int)len ?
	    -1 : 0);
}

int
node_data_dir(char *out, size_t len)
{
	const char	*d = getenv("MCP_MESH_DATA_DIR");

	if (d != NULL && *d != '\0')
		return (strlcpy(out, d, len) >= len ? -1 : 0);
	return (node_default_dir(out, len));
}

/* mkdir -p, every directory made 0700 (its parents may hold secrets). */
static int
node_mkdirs(const char *path)
{
	char	buf[PATH_MAX], *p;

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		return (-1);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (mkdir(buf, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

/* The id kept in the data directory; -1 and a reason if it is bad. */
static int
node_read_id(const char *path, char *id, char *err, size_t errlen)
{
	char	 buf[UUID_LEN + 8];
	FILE	*f;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return (errno == ENOENT ? 1 : -1);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!uuid_valid(buf)) {
		snprintf(err, errlen, "%s: not a UUID (remove it to make a new "
		    "node id)", path);
		return (-1);
	}
	strlcpy(id, buf, UUID_LEN + 1);
	return (0);
}

/* Written once, atomically: a crash leaves no half-written id. */
static int
node_write_id(const char *dir, const char *path, const char *id)
{
	char	tmp[PATH_MAX];
	int	fd, ok;

	if (snprintf(tmp, sizeof(tmp), "%s/.node-id.XXXXXX", dir) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((fd = mkstemp(tmp)) == -1)
		return (-1);
	ok = dprintf(fd, "%s\n", id) == UUID_LEN + 1 && fsync(fd) == 0;
	if (close(fd) == -1 || !ok || rename(tmp, path) == -1) {
		unlink(tmp);
		return (-1);
	}
	return (0);
}

/*
 * The data directory, the node id, the default name.  check_only (-n)
 * makes nothing: the id is read if there is one.
 */
int
node_init(struct mesh_config *c, char *err, size_t errlen)
{
	char	path[PATH_MAX];
	int	r;

	if (node_data_dir(c->data_dir, sizeof(c->data_dir)) == -1) {
		snprintf(err, errlen, "no data directory: set MCP_MESH_DATA_DIR "
		    "or HOME");
		return (-1);
	}
	if (c->name[0] == '\0') {
		if (gethostname(c->name, sizeof(c->name)) == -1 ||
		    c->name[0] == '\0')
			strlcpy(c->name, MESH_SERVER_NAME, sizeof(c->name));
		c->name[sizeof(c->name) - 1] = '\0';
	}
	if (!c->check_only && node_mkdirs(c->data_dir) == -1) {
		snprintf(err, errlen, "data directory %s: %s", c->data_dir,
		    strerror(errno));
		return (-1);
	}
	if (snprintf(path, sizeof(path), "%s/%s", c->data_dir, NODE_ID_FILE) >=
	    (int)sizeof(path)) {
		snprintf(err, errlen, "data directory %s: path too long",
		    c->data_dir);
		return (-1);
	}
	if ((r = node_read_id(path, c->node_id, err, errlen)) == 0)
		return (0);
	if (r == -1) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	uuid_make(c->node_id);
	if (c->check_only)
		return (0);
	if (node_write_id(c->data_dir, path, c->node_id) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	log_info("node id %s made and kept in %s", c->node_id, path);
	return (0);
}
