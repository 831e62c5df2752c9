/*
 * The peers directory: a hosts-style file of known nodes, one per line,
 *
 *	# comment
 *	UUID URL [NAME]
 *
 * (MCP_MESH_PEERS, else $MCP_MESH_DATA_DIR/peers).  Our own parser with
 * named limits: every error names the file, the line and what is wrong,
 * and a bad file is never half taken.  A missing file is an empty
 * directory.
 *
 * A SPEC (--bridge, --peer, a mesh tool's argument) is resolved in this
 * order: a URL is itself (and takes the UUID and name of an entry with
 * that URL, if any); else a UUID names the entry with that UUID; else a
 * name names the entry with that name.
 *
 * Writes (a peer added or removed with "persist") change only their own
 * line, so the operator's comments and order stay, and are atomic: a
 * temporary file in the same directory, fsync, rename over the old one,
 * fsync of the directory.  A crash at any step leaves the old file or
 * the new one, never a mix.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mesh.h"
#include "peerspec.h"
#include "xmalloc.h"

#define DIR_FIELDS_MAX	3

struct directory	 directory;
void			(*directory_write_hook)(enum dir_write_step);

static int
dir_error(char *err, size_t errlen, const char *path, unsigned line,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
dir_error(char *err, size_t errlen, const char *path, unsigned line,
    const char *fmt, ...)
{
	va_list	ap;
	int	n;

	n = snprintf(err, errlen, "%s:%u: ", path, line);
	if (n < 0 || (size_t)n >= errlen)
		return (-1);
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return (-1);
}

void
directory_init(struct directory *d, const char *path)
{
	memset(d, 0, sizeof(*d));
	TAILQ_INIT(&d->entries);
	strlcpy(d->path, path, sizeof(d->path));
}

void
directory_clear(struct directory *d)
{
	struct dir_entry	*e;

	while ((e = TAILQ_FIRST(&d->entries)) != NULL) {
		TAILQ_REMOVE(&d->entries, e, entry);
		free(e);
	}
	d->n = 0;
}

/* d takes what src holds; src is left empty. */
void
directory_move(struct directory *d, struct directory *src)
{
	struct dir_entry	*e;

	directory_clear(d);
	strlcpy(d->path, src->path, sizeof(d->path));
	while ((e = TAILQ_FIRST(&src->entries)) != NULL) {
		TAILQ_REMOVE(&src->entries, e, entry);
		TAILQ_INSERT_TAIL(&d->entries, e, entry);
	}
	d->n = src->n;
	src->n = 0;
}

const struct dir_entry *
directory_by_id(const struct directory *d, const char *id)
{
	const struct dir_entry	*e;

	TAILQ_FOREACH(e, &d->entries, entry)
		if (strcasecmp(e->id, id) == 0)
			return (e);
	return (NULL);
}

const struct dir_entry *
directory_by_name(const struct directory *d, const char *name)
{
	const struct dir_entry	*e;

	TAILQ_FOREACH(e, &d->entries, entry)
		if (e->name[0] != '\0' && strcmp(e->name, name) == 0)
			return (e);
	return (NULL);
}

const struct dir_entry *
directory_by_url(const struct directory *d, const char *url)
{
	const struct dir_entry	*e;

	TAILQ_FOREACH(e, &d->entries, entry)
		if (strcmp(e->url, url) == 0)
			return (e);
	return (NULL);
}

/* Split a line into at most DIR_FIELDS_MAX fields; a '#' field ends it. */
static int
dir_fields(char *line, char **f)
{
	char	*p = line;
	int	 n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == '\0' || *p == '#')
			return (n);
		if (n == DIR_FIELDS_MAX)
			return (n + 1);
		f[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
}

/* One line's entry (or nothing for a comment or a blank line). */
static int
dir_line(struct directory *d, char *line, unsigned lineno, char *err,
    size_t errlen)
{
	const struct dir_entry	*o;
	struct dir_entry	*e;
	char			*f[DIR_FIELDS_MAX];
	int			 n, i;

	if ((n = dir_fields(line, f)) == 0)
		return (0);
	if (n > DIR_FIELDS_MAX)
		return (dir_error(err, errlen, d->path, lineno, "more than "
		    "three fields (UUID URL [NAME])"));
	if (!uuid_valid(f[0]))
		return (dir_error(err, errlen, d->path, lineno, "bad UUID "
		    "\"%.40s\" (want 8-4-4-4-12 hex digits)", f[0]));
	if (n < 2)
		return (dir_error(err, errlen, d->path, lineno, "no URL after "
		    "the UUID"));
	if (!peer_url_valid(f[1]))
		return (dir_error(err, errlen, d->path, lineno, "bad URL "
		    "\"%.80s\" (want http:// or https://, at most %d bytes)",
		    f[1], PEER_URL_MAX));
	if (n == 3 && !peer_name_valid(f[2]))
		return (dir_error(err, errlen, d->path, lineno, "bad name "
		    "\"%.40s\" (1-%d of a-z, 0-9 and -)", f[2], PEER_NAME_MAX));
	if ((o = directory_by_id(d, f[0])) != NULL)
		return (dir_error(err, errlen, d->path, lineno, "UUID %s is "
		    "already on line %u", f[0], o->line));
	if (n == 3 && (o = directory_by_name(d, f[2])) != NULL)
		return (dir_error(err, errlen, d->path, lineno, "name %s is "
		    "already on line %u", f[2], o->line));
	if (d->n == DIRECTORY_ENTRIES_MAX)
		return (dir_error(err, errlen, d->path, lineno, "more than %d "
		    "entries", DIRECTORY_ENTRIES_MAX));
	e = xcalloc(1, sizeof(*e));
	for (i = 0; f[0][i] != '\0'; i++)
		e->id[i] = tolower((unsigned char)f[0][i]);
	strlcpy(e->url, f[1], sizeof(e->url));
	if (n == 3)
		strlcpy(e->name, f[2], sizeof(e->name));
	e->line = lineno;
	TAILQ_INSERT_TAIL(&d->entries, e, entry);
	d->n++;
	return (0);
}

int
directory_parse(struct directory *d, const char *text, size_t len, char *err,
    size_t errlen)
{
	char		 line[DIRECTORY_LINE_MAX + 1];
	const char	*p = text, *end = text + len, *nl;
	unsigned	 lineno = 0;
	size_t		 n;

	directory_clear(d);
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		n = nl - p;
		if (n > DIRECTORY_LINE_MAX)
			return (dir_error(err, errlen, d->path, lineno, "line "
			    "longer than %d bytes", DIRECTORY_LINE_MAX));
		if (memchr(p, '\0', n) != NULL)
			return (dir_error(err, errlen, d->path, lineno, "NUL "
			    "byte"));
		memcpy(line, p, n);
		line[n] = '\0';
		if (dir_line(d, line, lineno, err, errlen) == -1) {
			directory_clear(d);
			return (-1);
		}
		p = nl + 1;
	}
	return (0);
}

/* The file's bytes, at most DIRECTORY_FILE_MAX; a missing file is empty. */
static int
dir_read(const char *path, struct buf *b, char *err, size_t errlen)
{
	char	 chunk[8192];
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return (0);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (buf_used(b) + (size_t)n > DIRECTORY_FILE_MAX) {
			close(fd);
			snprintf(err, errlen, "%s: larger than %d bytes", path,
			    DIRECTORY_FILE_MAX);
			return (-1);
		}
		buf_append(b, chunk, (size_t)n);
	}
	close(fd);
	if (n == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	return (0);
}

int
directory_load(struct directory *d, const char *path, char *err,
    size_t errlen)
{
	struct buf	b;
	int		r;

	memset(&b, 0, sizeof(b));
	directory_init(d, path);
	if ((r = dir_read(path, &b, err, errlen)) == 0)
		r = directory_parse(d, buf_used(&b) ? buf_data(&b) : "",
		    buf_used(&b), err, errlen);
	buf_free(&b);
	return (r);
}

/* --- resolution ---------------------------------------------------------- */

int
directory_resolve(const struct directory *d, const char *spec,
    struct bridge_spec *b, char *err, size_t errlen)
{
	const struct dir_entry	*e;

	if (strstr(spec, "://") != NULL) {
		if (bridge_spec_parse(spec, b, err, errlen) == -1)
			return (-1);
		if ((e = directory_by_url(d, b->url)) != NULL) {
			strlcpy(b->id, e->id, sizeof(b->id));
			if (e->name[0] != '\0' && strchr(spec, '=') == NULL)
				strlcpy(b->name, e->name, sizeof(b->name));
		}
		return (0);
	}
	if (uuid_valid(spec))
		e = directory_by_id(d, spec);
	else
		e = directory_by_name(d, spec);
	if (e == NULL) {
		snprintf(err, errlen, "\"%.64s\" is not a URL, and no entry of "
		    "%s (%u entries) has that %s", spec, d->path, d->n,
		    uuid_valid(spec) ? "UUID" : "name");
		return (-1);
	}
	memset(b, 0, sizeof(*b));
	strlcpy(b->url, e->url, sizeof(b->url));
	strlcpy(b->id, e->id, sizeof(b->id));
	if (e->name[0] != '\0')
		strlcpy(b->name, e->name, sizeof(b->name));
	else
		peer_name_from_url(e->url, b->name, sizeof(b->name));
	b->bridged = 1;
	return (0);
}

/* --- atomic writes -------------------------------------------------------- */

static void
dir_step(enum dir_write_step step)
{
	if (directory_write_hook != NULL)
		directory_write_hook(step);
}

/* fsync of the directory holding path: the rename is then on disk. */
static int
dir_sync_parent(const char *path)
{
	char	copy[PATH_MAX];
	int	fd, r;

	strlcpy(copy, path, sizeof(copy));
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return (-1);
	r = fsync(fd);
	close(fd);
	return (r);
}

/* Replace path's contents with text, atomically. */
static int
dir_replace(const char *path, const char *text, size_t len, char *err,
    size_t errlen)
{
	char	tmp[PATH_MAX];
	ssize_t	n;
	size_t	off = 0;
	int	fd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp) ||
	    (fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "%s: temporary file: %s", path,
		    strerror(errno));
		return (-1);
	}
	fchmod(fd, 0600);
	dir_step(DIR_WRITE_CREATED);
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
		dir_step(DIR_WRITE_WRITING);
	}
	if (fsync(fd) == -1)
		goto fail;
	dir_step(DIR_WRITE_SYNCED);
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	dir_step(DIR_WRITE_RENAMED);
	if (dir_sync_parent(path) == -1)
		log_warn("%s: fsync of its directory", path);
	dir_step(DIR_WRITE_DONE);
	return (0);
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return (-1);
}

/*
 * The file as it is now, changed by one line: appended (add) or cut
 * (the line of id).  Re-read first: the operator may have edited it, and
 * an edit that broke it is not overwritten.
 */
static int
dir_rewrite(struct directory *d, const char *add, const char *cut_id,
    char *err, size_t errlen)
{
	struct directory	 now;
	const struct dir_entry	*e = NULL;
	struct buf		 in, out;
	const char		*p, *nl, *end;
	unsigned		 lineno = 0;
	int			 r = -1;

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	directory_init(&now, d->path);
	if (dir_read(d->path, &in, err, errlen) == -1 ||
	    directory_parse(&now, buf_used(&in) ? buf_data(&in) : "",
	    buf_used(&in), err, errlen) == -1)
		goto done;
	if (cut_id != NULL && (e = directory_by_id(&now, cut_id)) == NULL) {
		snprintf(err, errlen, "%s: no entry %s", d->path, cut_id);
		goto done;
	}
	p = buf_used(&in) ? buf_data(&in) : "";
	end = p + buf_used(&in);
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (e == NULL || lineno != e->line) {
			buf_append(&out, p, nl - p);
			buf_append(&out, "\n", 1);
		}
		p = nl + 1;
	}
	if (add != NULL) {
		buf_append(&out, add, strlen(add));
		buf_append(&out, "\n", 1);
	}
	if (dir_replace(d->path, buf_used(&out) ? buf_data(&out) : "",
	    buf_used(&out), err, errlen) == 0 &&
	    directory_load(&now, d->path, err, errlen) == 0) {
		directory_move(d, &now);
		r = 0;
	}
done:
	directory_clear(&now);
	buf_free(&in);
	buf_free(&out);
	return (r);
}

int
directory_add(struct directory *d, const char *id, const char *url,
    const char *name, char *err, size_t errlen)
{
	char	line[DIRECTORY_LINE_MAX + 1];

	if (!uuid_valid(id) || !peer_url_valid(url) ||
	    (name[0] != '\0' && !peer_name_valid(name))) {
		snprintf(err, errlen, "%s: not a valid entry", d->path);
		return (-1);
	}
	snprintf(line, sizeof(line), "%s %s%s%s", id, url,
	    name[0] != '\0' ? " " : "", name);
	return (dir_rewrite(d, line, NULL, err, errlen));
}

int
directory_del(struct directory *d, const char *id, char *err, size_t errlen)
{
	return (dir_rewrite(d, NULL, id, err, errlen));
}
