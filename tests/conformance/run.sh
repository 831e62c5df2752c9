#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in tests/tools/) against mcp-mesh; run by `make conformance` with
# MESH_BIN and MESH_WORKER_BIN set.  Three runs, each a table:
#   (a) the suite's own fixture server alone, --suite all: the sanity run,
#       every scenario must pass (the fixture's two warnings of
#       server-sse-polling granted, fixture-warnings);
#   (b) the mesh with that fixture as a transparent peer (--bridge fx=URL
#       --prefix fx=), --suite all: the scenarios in "expected" must pass,
#       the others are "not yet";
#   (c) the mesh with no peer, --suite all, judged on the scenarios a
#       server can pass without the fixture (ALONE below): those in
#       "expected-alone" must pass.
# Exit status 0 only when nothing that must pass failed.  Everything binds
# and connects to 127.0.0.1 (the suite's server mode opens no listener).
#   CONFORMANCE_OUT=DIR   keep the suite's results (checks.json) and logs
#   CONFORMANCE_VERBOSE=1 print the suite's own output too
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
. "$here/../tools/tools.sh"
: "${MESH_BIN:?MESH_BIN is not set (run: make conformance)}"
: "${MESH_WORKER_BIN:?MESH_WORKER_BIN is not set}"
export MCP_MESH_WORKER="$MESH_WORKER_BIN"
READY_S=${READY_S:-30}
SUITE_TIMEOUT_S=${SUITE_TIMEOUT_S:-300}

# Scenarios of conformance 0.1.16 that a server can pass with nothing of
# the fixture: the handshake, ping, the tool list (the mesh's own tools),
# setLevel (the mesh relays its peers' logs, so it has logging itself),
# concurrent POSTs, the Host/Origin guard.  Not among them:
# resources-list, prompts-list, resources-subscribe and -unsubscribe: a
# mesh with no peer offering resources or prompts does not declare them
# and answers -32601, as a server without the capability must.
ALONE="server-initialize ping tools-list logging-set-level
	server-sse-multiple-streams dns-rebinding-protection"

if [ -n "${CONFORMANCE_OUT:-}" ]; then
	work=$CONFORMANCE_OUT
	rm -rf "$work"
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-conformance.XXXXXX")
fi
pids=()
status=0
tot_pass=0 tot_fail=0 tot_notyet=0

cleanup() {
	stop_pids 3000 "${pids[@]}"
	[ -n "${CONFORMANCE_OUT:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { echo $(( $(date +%s%N) / 1000000 )); }

dump_log() {
	[ -s "$1" ] || return 0
	echo "----- $(basename "$1") (last 40 lines) -----"
	tail -n 40 "$1"
}

die() {
	echo "conformance: $*" >&2
	echo "conformance: $tot_pass passed, $((tot_fail + 1)) failed"
	exit 1
}

# wait_for FILE PATTERN PID: the first line of FILE matching PATTERN
# (grep -E), while PID lives.
wait_for() {
	local file=$1 pattern=$2 pid=$3 i line
	for ((i = 0; i < READY_S * 20; i++)); do
		line=$(grep -m1 -E -- "$pattern" "$file" 2>/dev/null) &&
		    { printf '%s\n' "$line"; return 0; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "conformance: no \"$pattern\" in $(basename "$file")" >&2
	dump_log "$file" >&2
	return 1
}

t0=$(ms)
tools_setup || die "cannot install the test tools (tests/tools)"
tools_install "$here/fixture" || die "cannot install the fixture server"
suite="$TOOLS_DIR/node_modules/.bin/conformance"
t_inst=$(ms)

# The suite's scenarios, in its order.
all=$(node22 "$suite" list --server |
    sed -nE 's/^  - ([a-z0-9-]+) \[.*/\1/p' | tr '\n' ',')
[ -n "$all" ] || die "conformance list printed no scenario"

# The fixture: node with tsx's loader (one process, so its pid is the
# server), bound to 127.0.0.1 by bind-loopback.cjs.  Its port is chosen
# free first; taken in the meantime, the next try picks another.
fixture_url=
for try in 1 2 3; do
	port=$(node22 node -e 'const s = require("net").createServer();
	    s.listen(0, "127.0.0.1", () => { console.log(s.address().port);
	    s.close(); });')
	(cd "$here/fixture" && PORT=$port \
	    NODE_OPTIONS="--require $here/bind-loopback.cjs" \
	    PATH="$NODE22_BIN:$PATH" exec node --import tsx everything-server.ts) \
	    >"$work/fixture-$try.log" 2>&1 </dev/null &
	fpid=$!
	if wait_for "$work/fixture-$try.log" 'Test Server running on' \
	    "$fpid" >/dev/null; then
		pids+=("$fpid")
		fixture_url="http://127.0.0.1:$port/mcp"
		break
	fi
	stop_pids 1000 "$fpid"
done
[ -n "$fixture_url" ] || die "the fixture server did not start"

# run_suite NAME URL ARGS...: the suite into $work/NAME, its output in
# $work/NAME.log.
run_suite() {
	local name=$1 url=$2 rc
	shift 2
	mkdir -p "$work/$name"
	timeout "$SUITE_TIMEOUT_S" env PATH="$NODE22_BIN:$PATH" \
	    "$suite" server --url "$url" "$@" -o "$work/$name" \
	    >>"$work/$name.log" 2>&1 </dev/null
	rc=$?
	[ "$rc" -eq 124 ] && echo "conformance: $name: the suite timed out" \
	    "after ${SUITE_TIMEOUT_S}s" >&2
	[ -n "${CONFORMANCE_VERBOSE:-}" ] && cat "$work/$name.log"
	return 0	# the verdict is the report's
}

# report NAME TITLE SCENARIOS --expected|--expect-all FILE [LOG...]
report() {
	local name=$1 title=$2 scen=$3 mode=$4 file=$5 n p f y
	shift 5
	node22 node "$here/report.mjs" --title "$title" \
	    --results "$work/$name" --scenarios "$scen" "$mode" "$file" \
	    --tally "$work/$name.tally"
	if [ $? -ne 0 ]; then
		status=1
		for n in "$@"; do dump_log "$n"; done
	fi
	read -r p f y <"$work/$name.tally" 2>/dev/null || { p=0 f=1 y=0; }
	tot_pass=$((tot_pass + p)) tot_fail=$((tot_fail + f))
	tot_notyet=$((tot_notyet + y))
}

# start_mesh NAME ARGS...: a mesh on a free port; sets mesh_url.
start_mesh() {
	local name=$1 line pid
	shift
	MCP_MESH_DATA_DIR="$work/data-$name" "$MESH_BIN" --port 0 \
	    --name "conformance-$name" --worker-path "$MESH_WORKER_BIN" "$@" \
	    >"$work/mesh-$name.log" 2>&1 </dev/null &
	pid=$!
	pids+=("$pid")
	line=$(wait_for "$work/mesh-$name.log" \
	    'http: listening on http://127\.0\.0\.1:[0-9]+' "$pid") ||
	    die "mcp-mesh ($name) did not start listening"
	mesh_url=$(printf '%s\n' "$line" |
	    sed -E 's|.*(http://127\.0\.0\.1:[0-9]+/mcp).*|\1|')
}

# (a) the fixture alone
t1=$(ms)
run_suite fixture "$fixture_url" --suite all
t2=$(ms)
report fixture "(a) the fixture server alone, --suite all ($fixture_url)" \
    "$all" --expect-all "$here/fixture-warnings" "$work/fixture-$try.log"

# (b) through the mesh, the fixture a transparent peer
start_mesh fx --bridge "fx=$fixture_url" --prefix fx=
wait_for "$work/mesh-fx.log" 'peer fx: ready' "${pids[-1]}" >/dev/null ||
    die "peer fx never ready"
t3=$(ms)
run_suite mesh "$mesh_url" --suite all
t4=$(ms)
report mesh "(b) through the mesh (--bridge fx=<fixture> --prefix fx=), --suite all" \
    "$all" --expected "$here/expected" "$work/mesh-fx.log"

# (c) the mesh alone
start_mesh alone
t5=$(ms)
# (one run of the whole suite is faster than one a scenario: the suite
# takes a second to start; the table shows the scenarios of ALONE)
run_suite alone "$mesh_url" --suite all
t6=$(ms)
report alone "(c) the mesh alone, no peer" "$(echo $ALONE | tr ' ' ',')" \
    --expected "$here/expected-alone" "$work/mesh-alone.log"

echo
echo "conformance: install/check $((t_inst - t0)) ms; suite runs:" \
    "fixture $((t2 - t1)) ms, through the mesh $((t4 - t3)) ms," \
    "mesh alone $((t6 - t5)) ms; all $(( $(ms) - t0 )) ms"
[ -n "${CONFORMANCE_OUT:-}" ] && echo "conformance: results in $work"
echo "conformance: $tot_pass passed, $tot_fail failed, $tot_notyet skipped"
exit "$status"
