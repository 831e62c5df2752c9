#!/usr/bin/env bash
# Interop: the official MCP TypeScript SDK client against mcp-mesh, over
# Streamable HTTP and over stdio.  Two test gateways (factory, edge), one
# mesh bridging both.  Run by `make interop` with MESH_BIN, MESH_WORKER_BIN
# and MESH_GATEWAY_BIN set.  Exit status 0 only when every check passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
: "${MESH_BIN:?MESH_BIN is not set (run: make interop)}"
: "${MESH_WORKER_BIN:?MESH_WORKER_BIN is not set}"
: "${MESH_GATEWAY_BIN:?MESH_GATEWAY_BIN is not set}"
export MCP_MESH_WORKER="$MESH_WORKER_BIN"
READY_S=${READY_S:-15}

work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-interop.XXXXXX")
pids=()
failed=0
passed=0

cleanup() {
	stop_pids 3000 "${pids[@]}"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dump_logs() {
	local f
	for f in "$work"/*.log; do
		[ -s "$f" ] || continue
		echo "----- $(basename "$f") -----"
		tail -n 60 "$f"
	done
}

# wait_for FILE PATTERN: the first line of FILE matching PATTERN (grep -E).
wait_for() {
	local file=$1 pattern=$2 i line
	for ((i = 0; i < READY_S * 20; i++)); do
		line=$(grep -m1 -E -- "$pattern" "$file" 2>/dev/null) &&
		    { printf '%s\n' "$line"; return 0; }
		sleep 0.05
	done
	echo "interop: no \"$pattern\" in $(basename "$file") after" \
	    "${READY_S}s" >&2
	return 1
}

die() {
	echo "interop: $*" >&2
	dump_logs >&2
	echo "interop: $passed passed, $((failed + 1)) failed"
	exit 1
}

command -v node >/dev/null || die "node is not installed"
if [ ! -d "$here/node_modules/@modelcontextprotocol/sdk" ]; then
	(cd "$here" && npm ci --no-audit --no-fund --silent) ||
	    die "npm ci failed in $here"
fi

# Two gateways on ports of their own choice; sets url_NAME.
start_gateway() {
	local name=$1 line
	"$MESH_GATEWAY_BIN" --port 0 --name "$name" \
	    >"$work/$name.log" 2>&1 </dev/null &
	pids+=($!)
	line=$(wait_for "$work/$name.log" '^port [0-9]+') ||
	    die "gateway $name did not start"
	printf -v "url_$name" 'http://127.0.0.1:%s/mcp' "${line#port }"
}
start_gateway factory
start_gateway edge
# The contract's form: peers named in a peers file (a data directory of
# the run's own), bridged by name.  "spare" is for mesh_add_peer.
export MCP_MESH_DATA_DIR="$work/data"
mkdir -p "$MCP_MESH_DATA_DIR"
cat >"$MCP_MESH_DATA_DIR/peers" <<EOF
# peers of the interop run
a7196323-dcc1-4109-abf5-b47c2f99f920 $url_factory factory
9f157a51-7aaa-4f2c-bc38-3c791b604892 $url_edge edge
0b3c6a55-2f0e-4c39-9d7e-5a4d3b2a1c10 $url_edge spare
EOF
bridges=(--bridge factory --bridge edge)

# The mesh over HTTP.
"$MESH_BIN" --port 0 --worker-path "$MESH_WORKER_BIN" "${bridges[@]}" \
    >"$work/mesh.log" 2>&1 </dev/null &
pids+=($!)
line=$(wait_for "$work/mesh.log" 'http: listening on http://127\.0\.0\.1:[0-9]+') ||
    die "mcp-mesh did not start listening"
port=$(printf '%s\n' "$line" | sed -E 's|.*http://127\.0\.0\.1:([0-9]+).*|\1|')
wait_for "$work/mesh.log" 'peer factory: ready' >/dev/null ||
    die "peer factory never ready"
wait_for "$work/mesh.log" 'peer edge: ready' >/dev/null ||
    die "peer edge never ready"

# run_client ARGS...: one client.mjs run, its counts added to ours.
run_client() {
	local out summary p f
	out=$(cd "$here" && timeout 60 node client.mjs "$@" 2>&1)
	printf '%s\n' "$out" | grep -v -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed$'
	summary=$(printf '%s\n' "$out" |
	    grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	if [ -z "$summary" ]; then
		echo "FAIL client.mjs $1 printed no summary"
		failed=$((failed + 1))
		return
	fi
	p=$(printf '%s\n' "$summary" | sed -E 's/^[a-z]+: ([0-9]+) passed.*/\1/')
	f=$(printf '%s\n' "$summary" | sed -E 's/.* ([0-9]+) failed$/\1/')
	passed=$((passed + p))
	failed=$((failed + f))
}

t0=$(date +%s%N)
run_client --http "http://127.0.0.1:$port/mcp"
run_client --stdio -- "$MESH_BIN" --stdio --worker-path "$MESH_WORKER_BIN" \
    "${bridges[@]}"
t1=$(date +%s%N)

if [ "$failed" -gt 0 ]; then
	dump_logs
fi
echo "interop: clients took $(( (t1 - t0) / 1000000 )) ms"
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
