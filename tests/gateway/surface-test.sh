#!/usr/bin/env bash
# surface-test.sh: the test gateway's MCP surface beyond tools, checked
# directly with curl (no mesh), so that it is known good before the mesh
# is tested through it: capabilities, resources (paged, read, templates,
# subscribe and notifications/resources/updated on the GET stream),
# prompts, completions, logging, progress, sampling / elicitation / roots
# requests to the client (answered, refused, unanswered, undeclared),
# --uri-prefix, --tools-only, and a clean exit with streams open.
# Run by `make check` (MESH_GATEWAY_BIN, or beside MESH_BIN); prints
# "N passed, M failed".
set -u

: "${MESH_GATEWAY_BIN:=$(dirname "${MESH_BIN:?set MESH_GATEWAY_BIN or MESH_BIN}")/tests/gateway/mcp-test-gateway}"
command -v curl >/dev/null || { echo "surface-test: no curl"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gw-surface.XXXXXX") || exit 1
pids=()
passed=0
failed=0

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() {
	failed=$((failed + 1))
	echo "FAIL $1"
	[ -n "${2:-}" ] && printf '     got: %.600s\n' "$2"
	return 0
}
# check NAME TEXT PATTERN...: every PATTERN (grep -F) is in TEXT
check() {
	local name=$1 text=$2 p
	shift 2
	for p in "$@"; do
		if ! printf '%s' "$text" | grep -qF -- "$p"; then
			bad "$name (no $p)" "$text"
			return 1
		fi
	done
	ok "$name"
}
# check_not NAME TEXT PATTERN: PATTERN is not in TEXT
check_not() {
	if printf '%s' "$2" | grep -qF -- "$3"; then bad "$1 ($3 present)" "$2"
	else ok "$1"; fi
}

# start NAME ARGS...: a gateway; sets url_NAME and pid_NAME.
start() {
	local name=$1 i port=
	shift
	"$MESH_GATEWAY_BIN" --port 0 --name "$name" "$@" \
	    >"$work/$name.out" 2>"$work/$name.err" </dev/null &
	pids+=($!)
	printf -v "pid_$name" '%s' "$!"
	for ((i = 0; i < 200; i++)); do
		port=$(sed -n 's/^port //p' "$work/$name.out")
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { echo "gateway $name did not start"; cat "$work/$name.err"; exit 1; }
	printf -v "url_$name" 'http://127.0.0.1:%s/mcp' "$port"
}

H=(-H 'Accept: application/json, text/event-stream'
   -H 'Content-Type: application/json')

# init URL CAPS: a session; prints its id.
init() {
	curl -s -D "$work/h" -o "$work/b" "${H[@]}" "$1" -d '{"jsonrpc":"2.0",'\
'"id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'\
'"capabilities":'"$2"',"clientInfo":{"name":"surface-test","version":"1"}}}'
	sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([0-9a-f]*\).*/\1/p' "$work/h"
}

# rpc URL SID METHOD PARAMS [CURL ARGS...]: the answer's body.
seq_id=1
rpc() {
	local url=$1 sid=$2 method=$3 params=$4
	shift 4
	seq_id=$((seq_id + 1))
	curl -s -N "${H[@]}" -H "Mcp-Session-Id: $sid" "$@" "$url" \
	    -d '{"jsonrpc":"2.0","id":'$seq_id',"method":"'"$method"'","params":'"$params"'}'
}
call() { rpc "$1" "$2" tools/call '{"name":"'"$3"'","arguments":'"$4"'}' "${@:5}"; }

# wait_grep FILE PATTERN MS: PATTERN (grep -F) appears in FILE within MS.
wait_grep() {
	local i
	for ((i = 0; i < $3 / 20; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

start alpha --resources 120 --prompts 60 --client-timeout 5000
A=$url_alpha
S=$(init "$A" '{"sampling":{},"elicitation":{},"roots":{}}')
[ -n "$S" ] || { echo "no session"; cat "$work/b"; exit 1; }
check "initialize: capabilities" "$(cat "$work/b")" \
    '"tools":{"listChanged":true}' \
    '"resources":{"subscribe":true,"listChanged":true}' \
    '"prompts":{"listChanged":true}' '"completions":{}' '"logging":{}'

# --- resources
r=$(rpc "$A" "$S" resources/list '{}')
check "resources/list page 1: 50, nextCursor page-1" "$r" \
    '"uri":"test://alpha/text"' '"uri":"test://alpha/binary"' \
    '"uri":"test://alpha/watched"' '"nextCursor":"page-1"'
n=$(printf '%s' "$r" | grep -o '"uri":' | wc -l)
[ "$n" -eq 50 ] && ok "resources/list: 50 a page" || bad "resources/list: $n on page 1"
r=$(rpc "$A" "$S" resources/list '{"cursor":"page-2"}')
n=$(printf '%s' "$r" | grep -o '"uri":' | wc -l)
check_not "resources/list page 2 is the last" "$r" nextCursor
[ "$n" -eq 23 ] && ok "resources/list: 123 in all" || bad "resources/list: $n on page 3"
check "resources/list page 3 ends with res/0120" "$r" '"uri":"test://alpha/res/0120"'
check "resources/list: bad cursor is -32602" \
    "$(rpc "$A" "$S" resources/list '{"cursor":"page-9"}')" '"code":-32602'
check "resources/templates/list" \
    "$(rpc "$A" "$S" resources/templates/list '{}')" \
    '"uriTemplate":"test://alpha/items/{id}"'
check "resources/read text" \
    "$(rpc "$A" "$S" resources/read '{"uri":"test://alpha/text"}')" \
    '"text":"Hello from alpha."' '"mimeType":"text/plain"'
check "resources/read blob" \
    "$(rpc "$A" "$S" resources/read '{"uri":"test://alpha/binary"}')" \
    '"blob":"AAECAwQFBgcICQoLDA0ODw=="'
check "resources/read from the template" \
    "$(rpc "$A" "$S" resources/read '{"uri":"test://alpha/items/42"}')" \
    '"text":"item 42 of alpha"'
check "resources/read unknown: -32002 with the uri" \
    "$(rpc "$A" "$S" resources/read '{"uri":"test://alpha/nope"}')" \
    '"code":-32002' '"data":{"uri":"test://alpha/nope"}'

# --- prompts and completions
r=$(rpc "$A" "$S" prompts/list '{}')
check "prompts/list page 1" "$r" '"name":"simple"' '"name":"greet"' \
    '"name":"with_resource"' '"required":true' '"nextCursor":"page-1"'
r=$(rpc "$A" "$S" prompts/list '{"cursor":"page-1"}')
check "prompts/list page 2: the last, prompt_0060" "$r" '"name":"prompt_0060"'
check_not "prompts/list page 2 has no nextCursor" "$r" nextCursor
check "prompts/get simple" "$(rpc "$A" "$S" prompts/get '{"name":"simple"}')" \
    '"text":"Say hello to alpha."'
check "prompts/get greet with arguments" \
    "$(rpc "$A" "$S" prompts/get '{"name":"greet","arguments":{"name":"Ann","style":"formal"}}')" \
    '"text":"Greet Ann in a formal way."'
check "prompts/get greet without its required argument: -32602" \
    "$(rpc "$A" "$S" prompts/get '{"name":"greet","arguments":{}}')" '"code":-32602'
check "prompts/get with_resource embeds it" \
    "$(rpc "$A" "$S" prompts/get '{"name":"with_resource","arguments":{"uri":"test://alpha/text"}}')" \
    '"type":"resource"' '"text":"Hello from alpha."'
check "prompts/get unknown: -32602" \
    "$(rpc "$A" "$S" prompts/get '{"name":"nope"}')" '"code":-32602'
check "completion/complete a prompt argument" \
    "$(rpc "$A" "$S" completion/complete '{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"style","value":"f"}}')" \
    '"values":["formal","friendly","funny"]' '"total":3' '"hasMore":false'
check "completion/complete a template variable" \
    "$(rpc "$A" "$S" completion/complete '{"ref":{"type":"ref/resource","uri":"test://alpha/items/{id}"},"argument":{"name":"id","value":"ap"}}')" \
    '"values":["apple","apricot"]'
check "completion/complete an unknown prompt: -32602" \
    "$(rpc "$A" "$S" completion/complete '{"ref":{"type":"ref/prompt","name":"nope"},"argument":{"name":"x","value":""}}')" \
    '"code":-32602'

# --- logging and progress
r=$(call "$A" "$S" log '{"level":"info","text":"hi","count":3}')
n=$(printf '%s' "$r" | grep -c '"method":"notifications/message"')
[ "$n" -eq 3 ] && ok "log: 3 notifications/message on the call's stream" ||
    bad "log: $n messages" "$r"
check "log: an SSE stream, priming event first, the answer last" \
    "$(printf '%s' "$r" | head -n 2 | tr '\n' '|')" 'id: ' '|data: |'
check "log: the messages' fields" "$r" '"level":"info","logger":"alpha","data":"hi (1/3)"'
check "logging/setLevel warning" \
    "$(rpc "$A" "$S" logging/setLevel '{"level":"warning"}')" '"result":{}'
check "logging/setLevel bad: -32602" \
    "$(rpc "$A" "$S" logging/setLevel '{"level":"loud"}')" '"code":-32602'
r=$(call "$A" "$S" log '{"level":"info","count":2}')
check "log below the session's level: none sent" "$r" '"sent 0 of 2 messages'
r=$(call "$A" "$S" log '{"level":"error","count":2}')
check "log at or above it: sent" "$r" '"sent 2 of 2 messages' '"level":"error"'
t0=$(date +%s%N)
r=$(rpc "$A" "$S" tools/call '{"name":"progress","arguments":{"steps":3,"ms":100},"_meta":{"progressToken":"tok-1"}}')
t1=$(date +%s%N)
n=$(printf '%s' "$r" | grep -c '"progressToken":"tok-1"')
[ "$n" -eq 3 ] && ok "progress: 3 notifications/progress with the token" ||
    bad "progress: $n notifications" "$r"
check "progress: in order, then the answer" "$(printf '%s' "$r" | tr -d '\n')" \
    '"progress":1,"total":3' '"progress":3,"total":3,"message":"step 3 of 3"}}event: message' \
    '"text":"3 steps of 100 ms"'
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 280 ] && ok "progress: paced ($ms ms for 3 x 100)" || bad "progress: $ms ms"
r=$(rpc "$A" "$S" tools/call '{"name":"progress","arguments":{"steps":2,"ms":10},"_meta":{"progressToken":7}}')
check "progress: an integer token" "$r" '"progressToken":7,"progress":2'
check_not "progress without a token sends none" \
    "$(call "$A" "$S" progress '{"steps":2,"ms":10}')" notifications/progress

# --- subscriptions and the GET stream
curl -s -N -H 'Accept: text/event-stream' -H "Mcp-Session-Id: $S" "$A" \
    >"$work/get" 2>/dev/null &
getpid=$!
pids+=($getpid)
wait_grep "$work/get" ': keepalive' 2000 && ok "GET stream: a keepalive at once" ||
    bad "GET stream: no keepalive" "$(cat "$work/get")"
check "resources/subscribe" \
    "$(rpc "$A" "$S" resources/subscribe '{"uri":"test://alpha/watched"}')" '"result":{}'
check "touch_resource: one subscription" \
    "$(call "$A" "$S" touch_resource '{"uri":"test://alpha/watched"}')" \
    'notified 1 subscription'
wait_grep "$work/get" '"method":"notifications/resources/updated","params":{"uri":"test://alpha/watched"}' 2000 &&
    ok "notifications/resources/updated on the GET stream" ||
    bad "no notifications/resources/updated" "$(cat "$work/get")"
check "the watched resource's version went up" \
    "$(rpc "$A" "$S" resources/read '{"uri":"test://alpha/watched"}')" 'version 2'
S2=$(init "$A" '{}')
check "touch_resource of a URI nobody subscribed" \
    "$(call "$A" "$S2" touch_resource '{"uri":"test://alpha/text"}')" 'notified 0 subscriptions'
check "resources/unsubscribe" \
    "$(rpc "$A" "$S" resources/unsubscribe '{"uri":"test://alpha/watched"}')" '"result":{}'
check "touch_resource after unsubscribe: nobody" \
    "$(call "$A" "$S" touch_resource '{"uri":"test://alpha/watched"}')" 'notified 0 subscriptions'
call "$A" "$S2" notify_list_changed '{"list":"prompts"}' >/dev/null
wait_grep "$work/get" 'notifications/prompts/list_changed' 2000 &&
    ok "notify_list_changed: on the GET stream" ||
    bad "no notifications/prompts/list_changed" "$(cat "$work/get")"
n=$(grep -c 'notifications/resources/updated' "$work/get")
[ "$n" -eq 1 ] && ok "nothing after unsubscribe" || bad "$n resources/updated"

# --- requests to the client
# ask NAME ARGS RESPONSE-BODY-AFTER-ID: the call in the background, the
# client's answer posted once the request is on the stream; the stream.
ask() {
	local tool=$1 args=$2 answer=$3 id f=$work/ask.$RANDOM
	call "$A" "$S" "$tool" "$args" >"$f" &
	local cpid=$!
	if ! wait_grep "$f" '"method":"' 3000; then
		wait "$cpid"
		cat "$f"
		return
	fi
	id=$(sed -n 's/.*"id":\([0-9]*\),"method":"[a-z]*\/[a-zA-Z]*".*/\1/p' "$f" | head -n 1)
	if [ -n "$answer" ]; then
		curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -H "Mcp-Session-Id: $S" "$A" \
		    -d '{"jsonrpc":"2.0","id":'"$id"','"$answer"'}' >"$f.status"
	fi
	wait "$cpid"
	cat "$f"
}
r=$(ask sample '{"prompt":"2+2?"}' '"result":{"role":"assistant","content":{"type":"text","text":"4"},"model":"m-1"}')
check "sample: sampling/createMessage on the call's stream" "$r" \
    '"method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"2+2?"}}],"maxTokens":100}'
check "sample: the answer is the client's" "$r" '"structuredContent":{"role":"assistant"' '"model":"m-1"'
check_not "sample: not an error" "$r" '"isError":true'
r=$(ask sample '{"prompt":"no"}' '"error":{"code":-1,"message":"User rejected sampling"}')
check "sample refused: isError with the client's message" "$r" \
    'the client refused sampling/createMessage: User rejected sampling' '"isError":true'
t0=$(date +%s%N)
r=$(ask sample '{"prompt":"silence","timeout_ms":300}' '')
t1=$(date +%s%N)
check "sample unanswered: notifications/cancelled, then isError" "$(printf '%s' "$r" | tr -d '\n')" \
    '"method":"notifications/cancelled","params":{"requestId":' '"reason":"timeout"' \
    'no answer to sampling/createMessage from the client within 300 ms' '"isError":true'
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 290 ] && [ "$ms" -lt 3000 ] && ok "sample: the deadline held ($ms ms)" || bad "sample: $ms ms"
r=$(ask elicit '{"message":"Your name?"}' '"result":{"action":"accept","content":{"answer":"Ann"}}')
check "elicit: elicitation/create with a form" "$r" \
    '"method":"elicitation/create","params":{"message":"Your name?","requestedSchema":{"type":"object"'
check "elicit: the client's answer" "$r" '"structuredContent":{"action":"accept","content":{"answer":"Ann"}}'
r=$(ask roots '{}' '"result":{"roots":[{"uri":"file:///tmp/x","name":"x"}]}')
check "roots: roots/list, the client's roots" "$r" '"method":"roots/list"' '"uri":"file:///tmp/x"'
check "a response nobody waits for: 202" "$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" \
    -H "Mcp-Session-Id: $S" "$A" -d '{"jsonrpc":"2.0","id":999999,"result":{}}')" 202
r=$(call "$A" "$S2" sample '{"prompt":"x"}')
check "sample, the client did not declare sampling: not asked" "$r" \
    'the client did not declare sampling' '"isError":true'
check_not "sample, undeclared: no request sent" "$r" '"method":"sampling/createMessage"'
r=$(call "$A" "$S2" elicit '{"message":"x","force":true,"timeout_ms":100}')
check "elicit, undeclared, force: asked anyway" "$r" '"method":"elicitation/create"' 'no answer'

# --- the same URIs on two gateways, --tools-only, an old tool still there
start beta --uri-prefix test://shared/
start gamma --uri-prefix test://shared/
Sb=$(init "$url_beta" '{}')
Sg=$(init "$url_gamma" '{}')
check "--uri-prefix: beta serves test://shared/text" \
    "$(rpc "$url_beta" "$Sb" resources/read '{"uri":"test://shared/text"}')" '"text":"Hello from beta."'
check "--uri-prefix: gamma serves the same URI" \
    "$(rpc "$url_gamma" "$Sg" resources/read '{"uri":"test://shared/text"}')" '"text":"Hello from gamma."'
check "--uri-prefix: the template too" \
    "$(rpc "$url_gamma" "$Sg" resources/templates/list '{}')" '"uriTemplate":"test://shared/items/{id}"'
start delta --tools-only
Sd=$(init "$url_delta" '{}')
check "--tools-only: tools alone in the capabilities" "$(cat "$work/b")" \
    '"capabilities":{"tools":{"listChanged":true}},'
check "--tools-only: resources/list is -32601" \
    "$(rpc "$url_delta" "$Sd" resources/list '{}')" '"code":-32601'
r=$(rpc "$url_delta" "$Sd" tools/list '{}')
check_not "--tools-only: no surface tools" "$r" '"name":"sample"'
check "--tools-only: the tools of old" "$r" '"name":"echo"' '"name":"forget_sessions"'
check "echo still answers" "$(call "$A" "$S" echo '{"text":"still"}')" '"text":"still"'

# --- DELETE with a subscription, exit with a GET stream and a call open
rpc "$A" "$S2" resources/subscribe '{"uri":"test://alpha/watched"}' >/dev/null
check "DELETE a session with subscriptions" \
    "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Mcp-Session-Id: $S2" "$A")" 200
call "$A" "$S" sample '{"prompt":"pending"}' >/dev/null &
pending=$!
wait_grep "$work/get" 'keepalive' 100 >/dev/null
sleep 0.2
kill -TERM "$pid_alpha"
wait "$pid_alpha"
st=$?
[ "$st" -eq 0 ] && ok "SIGTERM with a GET stream and a request to the client open: exit 0" ||
    { bad "exit status $st"; tail -n 30 "$work/alpha.err"; }
wait "$pending" 2>/dev/null
wait "$getpid" 2>/dev/null
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work"/*.err; then
	bad "a sanitizer report" "$(grep -hE -A5 'Sanitizer|runtime error' "$work"/*.err | head -n 30)"
fi

echo "surface-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
