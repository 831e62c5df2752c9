#!/usr/bin/env bash
# Interop: the MCP Inspector's CLI (@modelcontextprotocol/inspector, pinned
# in tests/tools/, run on Node 22) as a second third-party client: tools,
# resources and prompts, against
#   gateway     the test gateway alone over HTTP (a sanity run: every check
#               must pass, or the Inspector or the gateway is at fault)
#   mesh-http   a mesh bridging that gateway as "factory", over HTTP
#   mesh-stdio  the same mesh over stdio, the Inspector spawning it
# Through the mesh, tools and prompts are named factory_NAME, resources
# keep their URIs.  The checks through the mesh that must pass are listed
# in inspector-expected ("TARGET CHECK" a line); the others are "not yet".
# Run by `make interop` with MESH_BIN, MESH_WORKER_BIN, MESH_GATEWAY_BIN.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
. "$here/../tools/tools.sh"
: "${MESH_BIN:?MESH_BIN is not set (run: make interop)}"
: "${MESH_WORKER_BIN:?MESH_WORKER_BIN is not set}"
: "${MESH_GATEWAY_BIN:?MESH_GATEWAY_BIN is not set}"
export MCP_MESH_WORKER="$MESH_WORKER_BIN"
READY_S=${READY_S:-15}
expected_file=$here/inspector-expected

work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-inspector.XXXXXX")
pids=()
passed=0 failed=0 notyet=0
failing=() notyet_list=()

cleanup() {
	stop_pids 3000 "${pids[@]}"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "inspector: $*" >&2
	for f in "$work"/*.log; do
		[ -s "$f" ] && { echo "----- $(basename "$f") -----"; tail -n 40 "$f"; }
	done
	echo "inspector: $passed passed, $((failed + 1)) failed"
	exit 1
}

wait_for() {
	local file=$1 pattern=$2 i line
	for ((i = 0; i < READY_S * 20; i++)); do
		line=$(grep -m1 -E -- "$pattern" "$file" 2>/dev/null) &&
		    { printf '%s\n' "$line"; return 0; }
		sleep 0.05
	done
	return 1
}

t0=$(date +%s%N)
tools_setup || die "cannot install the test tools (tests/tools)"
inspector=$TOOLS_DIR/node_modules/.bin/mcp-inspector
# Its files (a catalog, storage) go to a home of its own, not the user's.
mkdir -p "$work/home"

"$MESH_GATEWAY_BIN" --port 0 --name factory >"$work/gateway.log" 2>&1 </dev/null &
pids+=($!)
line=$(wait_for "$work/gateway.log" '^port [0-9]+') || die "the gateway did not start"
gw_url="http://127.0.0.1:${line#port }/mcp"

export MCP_MESH_DATA_DIR="$work/data"
mkdir -p "$MCP_MESH_DATA_DIR"
"$MESH_BIN" --port 0 --worker-path "$MESH_WORKER_BIN" --bridge "factory=$gw_url" \
    >"$work/mesh.log" 2>&1 </dev/null &
pids+=($!)
line=$(wait_for "$work/mesh.log" 'http: listening on http://127\.0\.0\.1:[0-9]+') ||
    die "mcp-mesh did not start listening"
mesh_url=$(printf '%s\n' "$line" | sed -E 's|.*(http://127\.0\.0\.1:[0-9]+/mcp).*|\1|')
wait_for "$work/mesh.log" 'peer factory: ready' >/dev/null || die "peer factory never ready"

# The stdio mesh, as the Inspector's config names it.
cat >"$work/stdio.json" <<EOF
{"mcpServers": {"mesh": {"command": "$MESH_BIN",
  "args": ["--stdio", "--worker-path", "$MESH_WORKER_BIN", "--bridge", "factory=$gw_url"],
  "env": {"MCP_MESH_DATA_DIR": "$work/data-stdio"}}}}
EOF

# insp TARGET ARGS...: one Inspector run; its output in $work/out, its
# exit status returned.
insp() {
	local target=$1
	shift
	case $target in
	gateway)	set -- "$gw_url" --transport http "$@" ;;
	mesh-http)	set -- "$mesh_url" --transport http "$@" ;;
	mesh-stdio)	set -- --config "$work/stdio.json" --server mesh "$@" ;;
	esac
	(cd "$work" && timeout 60 env HOME="$work/home" PATH="$NODE22_BIN:$PATH" \
	    "$inspector" --cli "$@" --format json -q) >"$work/out" 2>&1 </dev/null
}

is_expected() {
	[ "$1" = gateway ] && return 0
	grep -qE "^[[:space:]]*$1[[:space:]]+$2[[:space:]]*(#.*)?$" "$expected_file"
}

# check TARGET NAME WANT-STATUS PATTERN ARGS...: the run of ARGS exits
# WANT-STATUS and prints PATTERN (grep -F; {P} is the prefix of TARGET).
rows=()
check() {
	local target=$1 name=$2 want=$3 pattern=$4 p= rc verdict cause=
	shift 4
	[ "$target" = gateway ] || p=factory_
	local args=() a
	for a in "$@"; do args+=("${a//\{P\}/$p}"); done
	pattern=${pattern//\{P\}/$p}
	# A stdio mesh is new for each run: its first request may come
	# before the bridged peer's lists are in (seen once in a CI run:
	# resources/templates/list empty).  Two more tries, shown as such.
	local try=1 tries=1
	[ "$target" = mesh-stdio ] && tries=3
	while :; do
		insp "$target" "${args[@]}"
		rc=$?
		{ [ "$rc" -eq "$want" ] && grep -qF -- "$pattern" "$work/out"; } && break
		[ "$try" -ge "$tries" ] && break
		try=$((try + 1))
		sleep 0.5
	done
	if [ "$rc" -eq "$want" ] && grep -qF -- "$pattern" "$work/out"; then
		verdict=pass
		[ "$try" -gt 1 ] && { verdict="pass"; cause="on try $try: the stdio mesh answered before its peer's lists were in"; }
		passed=$((passed + 1))
	else
		if [ "$rc" -eq "$want" ]; then
			cause="no $pattern in: "
		else
			cause="exit $rc (want $want): "
		fi
		cause+=$(head -c 160 "$work/out" | tr '\n' ' ')
		if is_expected "$target" "$name"; then
			verdict=FAIL
			failed=$((failed + 1))
			failing+=("$target:$name")
		else
			verdict="not yet"
			notyet=$((notyet + 1))
			notyet_list+=("$target:$name")
		fi
	fi
	rows+=("$(printf '%-11s %-24s %-8s %s' "$target" "$name" "$verdict" "$cause")")
}

t1=$(date +%s%N)
for target in gateway mesh-http mesh-stdio; do
	check $target tools-list 0 '"name":"{P}echo"' --method tools/list
	check $target tools-call-echo 0 '"text":"hello"' \
	    --method tools/call --tool-name '{P}echo' --tool-arg text=hello
	check $target tools-call-add 0 '"structuredContent":{"sum":5}' \
	    --method tools/call --tool-name '{P}add' --tool-arg a=2 b=3
	check $target tools-call-unknown 5 'tool_not_found' \
	    --method tools/call --tool-name '{P}no_such_tool'
	check $target resources-list 0 '"uri":"test://factory/text"' \
	    --method resources/list
	check $target resources-read 0 '"text":"Hello from factory."' \
	    --method resources/read --uri test://factory/text
	check $target resources-templates-list 0 \
	    '"uriTemplate":"test://factory/items/{id}"' --method resources/templates/list
	check $target prompts-list 0 '"name":"{P}greet"' --method prompts/list
	check $target prompts-get 0 '"text":"Greet Ann in a friendly way."' \
	    --method prompts/get --prompt-name '{P}greet' --prompt-args name=Ann
done
t2=$(date +%s%N)

echo "== the MCP Inspector $(node22 "$inspector" --cli --version 2>/dev/null | head -n 1) (CLI)"
printf '%-11s %-24s %-8s %s\n' target check verdict cause
printf '%s\n' "${rows[@]}"
[ ${#failing[@]} -gt 0 ] && echo "FAILING (must pass): ${failing[*]}"
[ ${#notyet_list[@]} -gt 0 ] && echo "not yet: ${notyet_list[*]}"
if [ "$failed" -gt 0 ]; then
	for f in "$work"/*.log; do
		[ -s "$f" ] && { echo "----- $(basename "$f") -----"; tail -n 40 "$f"; }
	done
fi
echo "inspector: setup $(( (t1 - t0) / 1000000 )) ms, checks $(( (t2 - t1) / 1000000 )) ms"
echo "inspector: $passed passed, $failed failed, $notyet skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
