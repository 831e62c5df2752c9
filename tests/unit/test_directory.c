/*
 * The peers directory (supervisor/directory.c): the parser's every error
 * with its file and line, each limit at its edge, the resolution order
 * (URL, then UUID, then name), and writes that are atomic: a writer
 * killed at each step of a write leaves the old file or the new one,
 * never a mix, with the operator's comments and order kept.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "supervisor/mesh.h"

#define U1	"a7196323-dcc1-4109-abf5-b47c2f99f920"
#define U2	"9f157a51-7aaa-4f2c-bc38-3c791b604892"
#define U3	"0b3c6a55-2f0e-4c39-9d7e-5a4d3b2a1c10"

static char	tmpdir[] = "/tmp/test_directory.XXXXXX";
static char	path[PATH_MAX];

static void
setup(void)
{
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/peers", tmpdir);
}

static void
teardown(void)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	(void)!system(cmd);
	strlcpy(tmpdir, "/tmp/test_directory.XXXXXX", sizeof(tmpdir));
}

TestSuite(directory, .init = setup, .fini = teardown);

static void
put(const char *text)
{
	FILE	*f;

	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static char *
slurp(void)
{
	static char	 buf[65536];
	FILE		*f;
	size_t		 n;

	cr_assert_not_null(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (buf);
}

/* text must be refused with exactly want (after "PATH:"). */
static void
refused(const char *text, const char *want)
{
	struct directory	d;
	char			err[PATH_MAX + 512], full[PATH_MAX + 512];

	put(text);
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), -1,
	    "accepted: %s", text);
	snprintf(full, sizeof(full), "%s:%s", path, want);
	cr_assert_str_eq(err, full);
	cr_assert_eq(d.n, 0, "a bad file is never half taken");
	directory_clear(&d);
}

Test(directory, good_file)
{
	struct directory	 d;
	const struct dir_entry	*e;
	char			 err[PATH_MAX + 256];

	put("# MCP Mesh Peers\n"
	    "# Format: UUID URL [NAME]\n"
	    "\n"
	    U1 " http://127.0.0.1:45678/mcp factory\n"
	    "  \t" U2 "\thttps://Edge.example:8443/mcp   edge   # the edge\n"
	    "A0B3C6A5-2F0E-4C39-9D7E-5A4D3B2A1C10 http://10.0.0.7/mcp\r\n");
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(d.n, 3);
	cr_assert_not_null(e = directory_by_name(&d, "factory"));
	cr_assert_str_eq(e->id, U1);
	cr_assert_eq(e->line, 4);
	cr_assert_not_null(e = directory_by_name(&d, "edge"));
	cr_assert_str_eq(e->url, "https://Edge.example:8443/mcp");
	/* UUIDs are kept lower case and found in any case. */
	cr_assert_not_null(e = directory_by_id(&d,
	    "a0b3c6a5-2f0e-4c39-9d7e-5a4d3b2a1c10"));
	cr_assert_str_eq(e->id, "a0b3c6a5-2f0e-4c39-9d7e-5a4d3b2a1c10");
	cr_assert_str_eq(e->name, "");
	cr_assert_not_null(directory_by_url(&d, "http://10.0.0.7/mcp"));
	directory_clear(&d);
}

Test(directory, missing_file_is_empty)
{
	struct directory	d;
	char			err[256];

	cr_assert_eq(directory_load(&d, "/nonexistent/peers", err,
	    sizeof(err)), 0);
	cr_assert_eq(d.n, 0);
	directory_clear(&d);
}

Test(directory, every_error_names_its_line)
{
	refused("# ok\nnot-a-uuid http://x/mcp a\n",
	    "2: bad UUID \"not-a-uuid\" (want 8-4-4-4-12 hex digits)");
	refused(U1 "\n", "1: no URL after the UUID");
	refused(U1 " ftp://x/mcp a\n", "1: bad URL \"ftp://x/mcp\" (want "
	    "http:// or https://, at most 2048 bytes)");
	refused(U1 " http:// a\n", "1: bad URL \"http://\" (want http:// or "
	    "https://, at most 2048 bytes)");
	refused(U1 " http://x/mcp Factory\n", "1: bad name \"Factory\" (1-32 "
	    "of a-z, 0-9 and -)");
	refused(U1 " http://x/mcp a b\n", "1: more than three fields (UUID "
	    "URL [NAME])");
	refused(U1 " http://x/mcp a\n" U1 " http://y/mcp b\n",
	    "2: UUID " U1 " is already on line 1");
	refused(U1 " http://x/mcp a\n\n" U2 " http://y/mcp a\n",
	    "3: name a is already on line 1");
	refused(U1 " http://x/mcp a\n" U2 "\0 http://y/mcp b\n",
	    "2: no URL after the UUID");
}

Test(directory, line_length_edge)
{
	struct directory	 d;
	char			*text, err[PATH_MAX + 256];
	size_t			 fixed = strlen(U1 " http://x/") + strlen(" a");
	size_t			 pad;

	/* DIRECTORY_LINE_MAX bytes: taken, when the URL fits its own cap. */
	text = malloc(DIRECTORY_LINE_MAX + 64);
	pad = PEER_URL_MAX - strlen("http://x/");
	memset(text, 0, DIRECTORY_LINE_MAX + 64);
	snprintf(text, DIRECTORY_LINE_MAX + 64, "%s http://x/", U1);
	memset(text + strlen(text), 'p', pad);
	strcat(text, " a");
	cr_assert_leq(strlen(text), DIRECTORY_LINE_MAX);
	put(text);
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), 0, "%s", err);
	directory_clear(&d);
	/* One byte more in the URL: over PEER_URL_MAX. */
	memmove(text + fixed - 2 + pad + 1, text + fixed - 2 + pad, 3);
	text[fixed - 2 + pad] = 'p';
	put(text);
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), -1);
	cr_assert(strstr(err, ":1: bad URL") != NULL, "%s", err);
	directory_clear(&d);
	/* A line of DIRECTORY_LINE_MAX + 1 bytes (a comment): too long. */
	memset(text, '#', DIRECTORY_LINE_MAX + 1);
	text[DIRECTORY_LINE_MAX + 1] = '\n';
	text[DIRECTORY_LINE_MAX + 2] = '\0';
	put(text);
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), -1);
	cr_assert(strstr(err, ":1: line longer than 4096 bytes") != NULL, "%s",
	    err);
	text[DIRECTORY_LINE_MAX] = '\n';
	text[DIRECTORY_LINE_MAX + 1] = '\0';
	put(text);
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), 0, "%s", err);
	directory_clear(&d);
	free(text);
}

Test(directory, entries_edge)
{
	struct directory	 d;
	FILE			*f;
	char			 err[PATH_MAX + 256];
	int			 i;

	cr_assert_not_null(f = fopen(path, "w"));
	for (i = 0; i < DIRECTORY_ENTRIES_MAX; i++)
		fprintf(f, "%08x-0000-4000-8000-000000000000 http://h%d/mcp\n",
		    i, i);
	fclose(f);
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(d.n, DIRECTORY_ENTRIES_MAX);
	directory_clear(&d);
	cr_assert_not_null(f = fopen(path, "a"));
	fprintf(f, "ffffffff-0000-4000-8000-000000000000 http://last/mcp\n");
	fclose(f);
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), -1);
	cr_assert(strstr(err, ":4097: more than 4096 entries") != NULL, "%s",
	    err);
	directory_clear(&d);
}

Test(directory, resolution_order)
{
	struct directory	d;
	struct bridge_spec	b;
	char			err[PATH_MAX + 256];

	/* A name that looks like a UUID of another entry cannot exist
	 * (names are [a-z0-9-] of at most 32); a URL entry's name is taken. */
	put(U1 " http://127.0.0.1:1/mcp factory\n"
	    U2 " http://127.0.0.1:2/mcp\n");
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), 0);
	/* 1. a URL is itself, with its entry's id and name */
	cr_assert_eq(directory_resolve(&d, "http://127.0.0.1:1/mcp", &b, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(b.url, "http://127.0.0.1:1/mcp");
	cr_assert_str_eq(b.id, U1);
	cr_assert_str_eq(b.name, "factory");
	/* ... NAME=URL keeps its own name */
	cr_assert_eq(directory_resolve(&d, "mine=http://127.0.0.1:1/mcp", &b,
	    err, sizeof(err)), 0);
	cr_assert_str_eq(b.name, "mine");
	/* ... a URL in no entry is still a URL */
	cr_assert_eq(directory_resolve(&d, "http://127.0.0.1:3/mcp", &b, err,
	    sizeof(err)), 0);
	cr_assert_str_eq(b.id, "");
	cr_assert_str_eq(b.name, "127-0-0-1-3");
	/* 2. a UUID, any case; an entry without a name gets one from its URL */
	cr_assert_eq(directory_resolve(&d, "9F157A51-7AAA-4F2C-BC38-3C791B604892",
	    &b, err, sizeof(err)), 0);
	cr_assert_str_eq(b.url, "http://127.0.0.1:2/mcp");
	cr_assert_str_eq(b.name, "127-0-0-1-2");
	/* 3. a name */
	cr_assert_eq(directory_resolve(&d, "factory", &b, err, sizeof(err)), 0);
	cr_assert_str_eq(b.id, U1);
	/* and what was tried when nothing fits */
	cr_assert_eq(directory_resolve(&d, "edge", &b, err, sizeof(err)), -1);
	cr_assert(strstr(err, "\"edge\" is not a URL, and no entry of ") !=
	    NULL && strstr(err, "(2 entries) has that name") != NULL, "%s",
	    err);
	cr_assert_eq(directory_resolve(&d, U3, &b, err, sizeof(err)), -1);
	cr_assert(strstr(err, "has that UUID") != NULL, "%s", err);
	directory_clear(&d);
}

Test(directory, add_and_remove_keep_comments_and_order)
{
	struct directory	d;
	char			err[PATH_MAX + 256];
	const char		*head = "# my peers\n" U1 " http://a/mcp a\n"
				    "\n# the edge, below\n" U2 " http://b/mcp b\n";

	put(head);
	cr_assert_eq(directory_load(&d, path, err, sizeof(err)), 0);
	cr_assert_eq(directory_add(&d, U3, "http://c/mcp", "c", err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(slurp(), "# my peers\n" U1 " http://a/mcp a\n"
	    "\n# the edge, below\n" U2 " http://b/mcp b\n" U3
	    " http://c/mcp c\n");
	cr_assert_eq(d.n, 3);
	cr_assert_eq(directory_del(&d, U1, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(slurp(), "# my peers\n\n# the edge, below\n" U2
	    " http://b/mcp b\n" U3 " http://c/mcp c\n");
	cr_assert_null(directory_by_id(&d, U1));
	cr_assert_eq(directory_del(&d, U1, err, sizeof(err)), -1);
	/* The operator broke the file meanwhile: it is not overwritten. */
	put("garbage\n");
	cr_assert_eq(directory_add(&d, U1, "http://a/mcp", "a", err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, ":1: bad UUID") != NULL, "%s", err);
	cr_assert_str_eq(slurp(), "garbage\n");
	directory_clear(&d);
}

static enum dir_write_step	die_at;
static int			die_count;

static void
die_hook(enum dir_write_step step)
{
	if (step == die_at && --die_count <= 0)
		_exit(99);
}

/*
 * The writer is killed at each step (and, while writing, after each
 * write): the file is then the old one or the new one, whole.
 */
Test(directory, atomic_under_crash)
{
	static const char	*old = "# kept\n" U1 " http://a/mcp a\n";
	static const char	*new = "# kept\n" U1 " http://a/mcp a\n" U2
				    " http://b/mcp b\n";
	enum dir_write_step	 step;
	struct directory	 d;
	char			 err[PATH_MAX + 256], *now;
	pid_t			 pid;
	int			 status, seen_old = 0, seen_new = 0;

	for (step = DIR_WRITE_CREATED; step <= DIR_WRITE_DONE; step++) {
		put(old);
		if ((pid = fork()) == 0) {
			directory_load(&d, path, err, sizeof(err));
			die_at = step;
			die_count = 1;
			directory_write_hook = die_hook;
			directory_add(&d, U2, "http://b/mcp", "b", err,
			    sizeof(err));
			_exit(0);
		}
		cr_assert_gt(pid, 0);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 99,
		    "step %d: the writer did not die there", step);
		now = slurp();
		cr_assert(strcmp(now, old) == 0 || strcmp(now, new) == 0,
		    "step %d: torn file: \"%s\"", step, now);
		if (strcmp(now, old) == 0)
			seen_old++;
		else
			seen_new++;
		/* And it still parses. */
		cr_assert_eq(directory_load(&d, path, err, sizeof(err)), 0,
		    "step %d: %s", step, err);
		directory_clear(&d);
	}
	cr_assert_eq(seen_old, 3, "killed before the rename: old (%d)",
	    seen_old);
	cr_assert_eq(seen_new, 2, "killed after it: new (%d)", seen_new);
}
