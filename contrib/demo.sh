#!/usr/bin/env bash
# The demo of the README: two local gateways, "factory" and "edge", named
# in a peers file; one mesh node that bridges factory (its tools as
# factory_*) and reaches edge P2P (mesh_call_peer), and a second node that
# reaches the first one P2P, calling a tool two meshes away; all over
# Streamable HTTP, printing what happens.  Run by `make demo`, which sets
# MESH_BIN, MESH_WORKER_BIN and MESH_GATEWAY_BIN to the build tree.
set -euo pipefail
: "${MESH_BIN:?}" "${MESH_WORKER_BIN:?}" "${MESH_GATEWAY_BIN:?}"

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# start_gateway NAME: a test gateway on a free port; sets PORT.  Not
# called as $(...): a subshell's pids+=() would not reach cleanup().
start_gateway() {
	local name=$1 port=""
	"$MESH_GATEWAY_BIN" --port 0 --name "$name" >"$work/$name.out" \
		2>"$work/$name.err" &
	pids+=($!)
	for _ in $(seq 100); do
		port=$(awk '/^port /{print $2}' "$work/$name.out")
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { echo "gateway $name did not start" >&2; exit 1; }
	PORT=$port
}

# wait_log FILE TEXT: until a log line shows up (10 s at most).
wait_log() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" && return 0
		sleep 0.05
	done
	echo "timed out waiting for \"$2\" in $1:" >&2
	cat "$1" >&2
	exit 1
}

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

start_gateway factory; factory=$PORT
start_gateway edge; edge=$PORT
say "gateways: factory on 127.0.0.1:$factory, edge on 127.0.0.1:$edge"

# The node's data directory and its peers file (hosts-style).
export MCP_MESH_DATA_DIR="$work/data"
mkdir -p "$MCP_MESH_DATA_DIR"
cat >"$MCP_MESH_DATA_DIR/peers" <<EOF
# MCP Mesh Peers
# Format: UUID URL [NAME]
a7196323-dcc1-4109-abf5-b47c2f99f920 http://127.0.0.1:$factory/mcp factory
9f157a51-7aaa-4f2c-bc38-3c791b604892 http://127.0.0.1:$edge/mcp edge
EOF
say "peers file $MCP_MESH_DATA_DIR/peers"
sed 's/^/  | /' "$MCP_MESH_DATA_DIR/peers"

say "mcp-mesh --port 0 --name demo-mesh --bridge factory --peer edge"
"$MESH_BIN" --port 0 --name demo-mesh --worker-path "$MESH_WORKER_BIN" \
	--bridge factory --peer edge 2>"$work/mesh.log" &
pids+=($!)
wait_log "$work/mesh.log" "http: listening on"
wait_log "$work/mesh.log" "peer factory: ready"
wait_log "$work/mesh.log" "peer edge: ready"
url=$(sed -n 's|.*http: listening on \(http://[^ ]*\).*|\1|p' "$work/mesh.log" | head -1)
say "mesh: $url"
sed 's/^/  | /' "$work/mesh.log"

# mcp METHOD PARAMS: one JSON-RPC request to the mesh in our session.
id=0
mcp() {
	id=$((id + 1))
	curl -sS "$url" -H 'Content-Type: application/json' \
		-H 'Accept: application/json, text/event-stream' \
		-H "Mcp-Session-Id: $session" -H 'MCP-Protocol-Version: 2025-11-25' \
		-d "{\"jsonrpc\":\"2.0\",\"id\":$id,\"method\":\"$1\",\"params\":$2}"
	echo
}

say "initialize"
session=$(curl -sS -D - -o "$work/init.json" "$url" \
	-H 'Content-Type: application/json' \
	-H 'Accept: application/json, text/event-stream' \
	-d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"demo","version":"1"}}}' |
	tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
cat "$work/init.json"; echo
echo "session: $session"
curl -sS -o /dev/null -w 'notifications/initialized: HTTP %{http_code}\n' "$url" \
	-H 'Content-Type: application/json' \
	-H 'Accept: application/json, text/event-stream' \
	-H "Mcp-Session-Id: $session" -H 'MCP-Protocol-Version: 2025-11-25' \
	-d '{"jsonrpc":"2.0","method":"notifications/initialized"}'

say "tools/list (names)"
mcp tools/list '{}' | grep -o '"name":"[^"]*"' | sed 's/"name":/  /'

say "tools/call factory_echo {\"text\":\"hello from the demo\"}"
mcp tools/call '{"name":"factory_echo","arguments":{"text":"hello from the demo"}}'

say "tools/call mesh_call_peer: edge is a P2P peer, not bridged: add on edge"
mcp tools/call '{"name":"mesh_call_peer","arguments":{"peer":"edge","tool":"add","arguments":{"a":2,"b":3}}}'

say "tools/call mesh_directory_lookup {\"spec\":\"edge\"}"
mcp tools/call '{"name":"mesh_directory_lookup","arguments":{"spec":"edge"}}' > "$work/lookup.json"
grep -o '"structuredContent":.*' "$work/lookup.json"

say "tools/call mesh_node_info"
# Cut for the screen; kept whole first, as head would break the pipe.
mcp tools/call '{"name":"mesh_node_info","arguments":{}}' > "$work/info.json"
head -c 600 "$work/info.json"; echo

say "tools/call nosuch_tool (an error, as it should be)"
mcp tools/call '{"name":"nosuch_tool","arguments":{}}'

# A second node, with a data directory (and so a node id) of its own,
# reaching the first node P2P: a mesh is an MCP server like any other.
say "a second node: mcp-mesh --name site-b --peer demo=$url"
MCP_MESH_DATA_DIR="$work/data-b" "$MESH_BIN" --port 0 --name site-b \
	--worker-path "$MESH_WORKER_BIN" --peer "demo=$url" 2>"$work/mesh-b.log" &
pids+=($!)
wait_log "$work/mesh-b.log" "http: listening on"
wait_log "$work/mesh-b.log" "peer demo: ready"
url_a=$url
url=$(sed -n 's|.*http: listening on \(http://[^ ]*\).*|\1|p' "$work/mesh-b.log" | head -1)
session=$(curl -sS -D - -o /dev/null "$url" \
	-H 'Content-Type: application/json' \
	-H 'Accept: application/json, text/event-stream' \
	-d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"demo","version":"1"}}}' |
	tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
say "site-b: mesh_call_peer demo factory_echo: two meshes, one gateway"
mcp tools/call '{"name":"mesh_call_peer","arguments":{"peer":"demo","tool":"factory_echo","arguments":{"text":"hello from site-b"}}}'
echo "(first node: $url_a, second: $url)"

say "demo done"
