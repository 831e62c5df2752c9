#!/usr/bin/env bash
#
# bench.sh: the benchmark of `make bench`.  Every figure is measured both
# DIRECT (loadgen -> test gateway) and through the MESH (loadgen -> mcp-mesh
# -> worker -> the same gateway) in the same run, in interleaved rounds
# (the order alternates each round), and the median of the rounds is
# quoted.  Prints one table and writes it as JSON to $BENCH_OUT/bench.json,
# with every raw loadgen report in $BENCH_OUT/raw.jsonl.
#
# Environment:
#	MESH_BIN, MESH_WORKER_BIN, MESH_GATEWAY_BIN, LOADGEN_BIN  the programs
#	BENCH_QUICK=1	a few-second run that only proves the benchmark works
#	BENCH_OUT	output directory (default: bench-results)
#	BENCH_ROUNDS	rounds of the interleaved measurements
#
# Timings are never checked here: the exit status is non-zero only when
# the benchmark itself could not run (a program failed to start, a run
# produced no report, or a call failed outside the recovery test).
#
# Everything listens on and talks to 127.0.0.1 only; every process started
# is stopped on exit.

set -u
. "$(cd "$(dirname "$0")" && pwd)/../lib.sh"

: "${MESH_BIN:?set MESH_BIN}"
: "${MESH_WORKER_BIN:?set MESH_WORKER_BIN}"
: "${MESH_GATEWAY_BIN:?set MESH_GATEWAY_BIN}"
: "${LOADGEN_BIN:?set LOADGEN_BIN}"
QUICK=${BENCH_QUICK:-0}
OUT=${BENCH_OUT:-bench-results}

if [ "$QUICK" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-1}
	LAT_N=300		# calls per latency run
	FLOOR_N=2000		# round trips per floor run
	THR_MS=200		# throughput window
	THR_WARM_MS=50
	SCALE_PEERS=5
	SCALE_TOOLS=20
	LIST_N=3
	REC_ROUNDS=1
	REC_MS=600		# recovery run, the kill at REC_KILL_MS
	REC_KILL_MS=150
else
	ROUNDS=${BENCH_ROUNDS:-5}
	LAT_N=3000
	FLOOR_N=20000
	THR_MS=1500
	THR_WARM_MS=300
	SCALE_PEERS=100
	SCALE_TOOLS=200
	LIST_N=20
	REC_ROUNDS=3
	REC_MS=2000
	REC_KILL_MS=500
fi
CONCURRENCY="1 8 64"
SHARED_CONNS=64		# the shared-session row: connections on one MCP session
MAIN_TOOLS=10		# the small mesh: one peer with 10 tools
REC_PEERS=8		# recovery: calls go to this many peers, one killed
REC_CONNS_PER_PEER=2
START_TIMEOUT_S=30
CLK_TCK=$(getconf CLK_TCK)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mesh-bench.XXXXXX") || exit 1
vals="$tmp/vals"
mkdir -p "$vals" "$OUT" || exit 1
raw="$OUT/raw.jsonl"
: > "$raw"
failed=0
meshes=()		# pids of the mcp-mesh processes started
gateways=()		# pids of the gateways started

# The gateways read this fifo: when this script dies in any way its end
# closes and --exit-on-stdin-eof makes them exit, trap or not.
mkfifo "$tmp/hold" || exit 1
exec 9<>"$tmp/hold"

log() { printf 'bench: %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; failed=1; }

stop_all() {
	local pid kids=()

	for pid in "${meshes[@]}"; do
		kids+=($(pgrep -P "$pid" 2>/dev/null))
	done
	stop_pids 2000 "${meshes[@]}"
	for pid in "${kids[@]}" "${gateways[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	meshes=()
	gateways=()
}
cleanup() {
	stop_all
	exec 9>&-
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- small tools --------------------------------------------------------------

# jget KEY JSON: a number of a flat loadgen report ("nan" when absent).
jget() {
	local v=${2#*\"$1\":}

	if [ "$v" = "$2" ]; then
		echo nan
	else
		echo "${v%%[,\}]*}"
	fi
}
rec() { echo "$2" >> "$vals/$1"; }
median() {
	[ -s "$vals/$1" ] || { echo nan; return; }
	sort -g "$vals/$1" | awk '{ a[NR] = $1 } END {
		if (NR % 2) print a[(NR + 1) / 2];
		else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
maxof() {
	[ -s "$vals/$1" ] || { echo nan; return; }
	sort -g "$vals/$1" | tail -n 1
}
calc() { awk "BEGIN { v = $1; printf \"%.${2:-1}f\", v }" 2>/dev/null || echo nan; }
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

# pin CPULIST PID...: move every thread of the processes to those CPUs.
pin() {
	local cpus=$1 pid
	shift
	for pid in "$@"; do
		taskset -a -p -c "$cpus" "$pid" > /dev/null 2>&1 ||
		    log "taskset $pid failed"
	done
}
ALL_CPUS="0-$(($(nproc) - 1))"

# The mesh's workers (its other children, like the log stamper and the
# zygote that forks the workers, are not).
workers_of() {
	local pid comm
	for pid in $(pgrep -P "$1"); do
		comm=$(cat "/proc/$pid/comm" 2>/dev/null)
		case $comm in loadgen|mcp-mesh-zygote) ;; *) echo "$pid" ;; esac
	done
}
zygote_of() { pgrep -P "$1" -x mcp-mesh-zygote | head -n 1; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo nan; }
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo nan; }

# run LABEL loadgen-args...: one loadgen report, kept in raw.jsonl.
run() {
	local label=$1 out
	shift
	out=$("$LOADGEN_BIN" "$@" 2>>"$tmp/loadgen.err")
	if [ -z "$out" ]; then
		fail "loadgen $label: no report ($(tail -n 1 "$tmp/loadgen.err"))"
		out='{}'
	fi
	printf '{"label":"%s",%s\n' "$label" "${out#\{}" >> "$raw"
	REPLY=$out
}

# Calls that fail outside the recovery test mean the benchmark is broken.
check_errors() {
	local e
	e=$(jget errors "$REPLY")
	if [ "$e" != 0 ] && [ "$e" != nan ]; then
		fail "$1: $e calls failed"
	fi
}

# --- processes ----------------------------------------------------------------

# start_gateway NAME NTOOLS: sets GW_PID and GW_URL.
start_gateway() {
	local f="$tmp/gw-$1.out" port=

	"$MESH_GATEWAY_BIN" --port 0 --name "$1" --tools "$2" \
	    --exit-on-stdin-eof < "$tmp/hold" > "$f" 2>"$tmp/gw-$1.err" &
	GW_PID=$!
	gateways+=("$GW_PID")
	GW_FILE=$f
}
wait_gateway() {
	local f=$1 port= i

	for i in $(seq $((START_TIMEOUT_S * 100))); do
		port=$(awk '/^port / { print $2; exit }' "$f" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.01
	done
	[ -n "$port" ] || { fail "gateway ($f) did not start"; exit 1; }
	GW_URL="http://127.0.0.1:$port/mcp"
}

# start_mesh TAG NPEERS bridge-args...: sets MESH_PID, MESH_URL,
# MESH_READY_MS (exec to the last peer ready) and MESH_LOG.  Each stderr
# line is stamped by loadgen as it arrives, so readiness is timed from
# the log, not from this script's polling.
start_mesh() {
	local tag=$1 npeers=$2 t0 i port= nready last
	shift 2
	MESH_LOG="$tmp/mesh-$tag.log"
	t0=$(now_us)
	"$MESH_BIN" -v --port 0 --worker-path "$MESH_WORKER_BIN" "$@" \
	    2> >("$LOADGEN_BIN" stamp > "$MESH_LOG") &
	MESH_PID=$!
	meshes+=("$MESH_PID")
	for i in $(seq $((START_TIMEOUT_S * 200))); do
		nready=$(grep -c ': ready (' "$MESH_LOG" 2>/dev/null)
		port=$(sed -n 's|.*http: listening on http://127.0.0.1:\([0-9]*\)/mcp.*|\1|p' \
		    "$MESH_LOG" 2>/dev/null | head -n 1)
		[ -n "$port" ] && [ "${nready:-0}" -ge "$npeers" ] && break
		kill -0 "$MESH_PID" 2>/dev/null || break
		sleep 0.005
	done
	if [ -z "$port" ] || [ "${nready:-0}" -lt "$npeers" ]; then
		fail "mesh $tag: not ready (${nready:-0}/$npeers peers)"
		tail -n 5 "$MESH_LOG" >&2
		exit 1
	fi
	MESH_URL="http://127.0.0.1:$port/mcp"
	last=$(grep ': ready (' "$MESH_LOG" | sed -n "${npeers}p" | cut -d' ' -f1)
	MESH_READY_MS=$(calc "($last * 1000000 - $t0) / 1000" 1)
}

# worker_pid LOG PEER: the pid of the peer's current worker (the mesh logs
# it in each "ready" line).
worker_pid() {
	grep "peer $2: ready (" "$1" | tail -n 1 |
	    sed -n 's/.*pid \([0-9]*\)).*/\1/p'
}

# --- phase 1: one gateway, DIRECT against MESH, interleaved rounds --------------

# How many tools the gateway has before --tools adds some, so that the
# peers have exactly the number of tools asked for.
probe_base_tools() {
	local pid

	start_gateway probe 0
	pid=$GW_PID
	wait_gateway "$GW_FILE"
	run probe list --url "$GW_URL" --n 1 --warmup 0
	BASE_TOOLS=$(jget tools "$REPLY")
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	case $BASE_TOOLS in
	''|nan|*[!0-9]*) fail "cannot list the gateway's tools"; exit 1;;
	esac
}
extra_tools() {
	local n=$(($1 - BASE_TOOLS))
	echo $((n < 0 ? 0 : n))
}

phase_main() {
	local r order side url tool c watch

	probe_base_tools
	start_gateway factory "$(extra_tools "$MAIN_TOOLS")"
	wait_gateway "$GW_FILE"
	GW1_PID=$GW_PID
	GW1_URL=$GW_URL
	start_mesh main 1 --bridge "factory=$GW1_URL"
	MESH1_PID=$MESH_PID
	MESH1_URL=$MESH_URL
	MESH1_LOG=$MESH_LOG
	WORKER1_PID=$(worker_pid "$MESH1_LOG" factory)
	[ -n "$WORKER1_PID" ] || WORKER1_PID=$(workers_of "$MESH1_PID" | head -n 1)
	log "gateway $GW1_URL, mesh $MESH1_URL (pid $MESH1_PID, worker $WORKER1_PID)"
	rec sup_rss_idle_start_kb "$(rss_kb "$MESH1_PID")"
	rec worker_rss_idle_start_kb "$(rss_kb "$WORKER1_PID")"
	rec worker_pss_idle_start_kb "$(pss_kb "$WORKER1_PID")"

	for r in $(seq "$ROUNDS"); do
		log "round $r/$ROUNDS"
		floors "$r"
		if [ $((r % 2)) = 1 ]; then order="direct mesh"; else order="mesh direct"; fi
		for side in $order; do
			latency_round "$r" "$side"
		done
		for c in $CONCURRENCY; do
			for side in $order; do
				throughput_round "$r" "$side" "$c"
			done
		done
		# The client shape of wrk or of a connection pool: many
		# keep-alive connections, one MCP session.
		for side in $order; do
			throughput_round "$r" "$side" "$SHARED_CONNS" shared
		done
		rec added_p50_us "$(calc "$LAST_mesh_p50 - $LAST_direct_p50")"
		rec added_p99_us "$(calc "$LAST_mesh_p99 - $LAST_direct_p99")"
		latency_pinned "$r" "$order"
	done
	rec sup_rss_idle_end_kb "$(rss_kb "$MESH1_PID")"
	rec worker_rss_idle_end_kb "$(rss_kb "$WORKER1_PID")"
	rec worker_pss_idle_end_kb "$(pss_kb "$WORKER1_PID")"
}

floors() {
	local pins

	run "round$1/floor/socketpair" floor-socketpair --n "$FLOOR_N" --warmup 200
	rec floor_socketpair_p50_us "$(jget p50_us "$REPLY")"
	run "round$1/floor/http" floor-http --n "$FLOOR_N" --warmup 200
	rec floor_http_p50_us "$(jget p50_us "$REPLY")"
	run "round$1/floor/gateway-ping" latency --url "$GW1_URL" \
	    --method ping --n "$FLOOR_N" --warmup 200
	check_errors "gateway ping"
	rec floor_gwping_p50_us "$(jget p50_us "$REPLY")"
	[ "$(nproc)" -ge 2 ] || return
	# The same hops pinned: one CPU, then two (the wakeup cost that the
	# scheduler's placement adds, large in a VM).
	for pins in 0,0 0,1; do
		run "round$1/floor/socketpair-$pins" floor-socketpair \
		    --n $((FLOOR_N / 4)) --warmup 200 --cpus "$pins"
		rec "floor_socketpair_cpus${pins/,/}_p50_us" "$(jget p50_us "$REPLY")"
		run "round$1/floor/http-$pins" floor-http \
		    --n $((FLOOR_N / 4)) --warmup 200 --cpus "$pins"
		rec "floor_http_cpus${pins/,/}_p50_us" "$(jget p50_us "$REPLY")"
	done
}

latency_round() {
	local r=$1 side=$2 url tool p50 p99

	if [ "$side" = direct ]; then url=$GW1_URL tool=echo
	else url=$MESH1_URL tool=factory_echo; fi
	run "round$r/$side/latency" latency --url "$url" --tool "$tool" \
	    --n "$LAT_N" --warmup $((LAT_N / 10))
	check_errors "$side latency"
	p50=$(jget p50_us "$REPLY")
	p99=$(jget p99_us "$REPLY")
	rec "lat_${side}_p50_us" "$p50"
	rec "lat_${side}_p99_us" "$p99"
	rec "lat_${side}_max_us" "$(jget max_us "$REPLY")"
	rec "client_cpu_lat_${side}_us" "$(jget client_cpu_us_per_call "$REPLY")"
	eval "LAST_${side}_p50=\$p50 LAST_${side}_p99=\$p99"
}

# Latency with every process of the path on CPU 0: no wakeup crosses
# CPUs, so the figure is the software cost of the path, and comparable
# with the floor pinned the same way.  Unpinned, the scheduler's
# placement makes a one-client latency bimodal on a VM (see floors).
latency_pinned() {
	local r=$1 side url tool p50 d=

	pin 0 "$GW1_PID" "$MESH1_PID" "$WORKER1_PID"
	for side in $2; do
		if [ "$side" = direct ]; then url=$GW1_URL tool=echo
		else url=$MESH1_URL tool=factory_echo; fi
		run "round$r/$side/latency-pinned" latency --url "$url" \
		    --tool "$tool" --n "$LAT_N" --warmup $((LAT_N / 10)) --cpus 0,0
		check_errors "$side pinned latency"
		p50=$(jget p50_us "$REPLY")
		rec "lat_${side}_pin_p50_us" "$p50"
		rec "lat_${side}_pin_p99_us" "$(jget p99_us "$REPLY")"
		eval "PIN_${side}=\$p50"
	done
	pin "$ALL_CPUS" "$GW1_PID" "$MESH1_PID" "$WORKER1_PID"
	rec added_pin_p50_us "$(calc "$PIN_mesh - $PIN_direct")"
}

# throughput_round ROUND SIDE CONNS [shared]: CONNS connections, each with
# its own session or (shared) all on one; the key of the figures is CONNS,
# or CONNSs for the shared shape.
throughput_round() {
	local r=$1 side=$2 c=$3 key=$3 url tool watch shape=()

	if [ "${4:-}" = shared ]; then
		key=${c}s
		shape=(--shared-session)
	fi
	if [ "$side" = direct ]; then
		url=$GW1_URL tool=echo watch=(--watch "$GW1_PID")
	else
		# The gateway too: what the mesh's client side costs it.
		url=$MESH1_URL tool=factory_echo
		watch=(--watch "$MESH1_PID" --watch "$WORKER1_PID" --watch "$GW1_PID")
	fi
	run "round$r/$side/throughput-$key" throughput --url "$url" \
	    --tool "$tool" --conns "$c" --duration-ms "$THR_MS" \
	    --warmup-ms "$THR_WARM_MS" "${shape[@]}" "${watch[@]}"
	check_errors "$side throughput $key"
	rec "thr_${side}_${key}_cps" "$(jget calls_per_s "$REPLY")"
	rec "thr_${side}_${key}_p50_us" "$(jget p50_us "$REPLY")"
	rec "thr_${side}_${key}_p99_us" "$(jget p99_us "$REPLY")"
	rec "client_cpu_${side}_${key}_us" "$(jget client_cpu_us_per_call "$REPLY")"
	rec "tcp_opens_${side}_${key}_pk" "$(jget tcp_opens_per_kcall "$REPLY")"
	if [ "$side" = direct ]; then
		rec "cpu_gateway_${key}_us" "$(jget watch_cpu_us_per_call "$REPLY")"
		return
	fi
	rec "cpu_mesh_${key}_us" "$(calc "$(jget watch0_cpu_us_per_call "$REPLY") + \
	    $(jget watch1_cpu_us_per_call "$REPLY")" 2)"
	rec "cpu_sup_${key}_us" "$(jget watch0_cpu_us_per_call "$REPLY")"
	rec "cpu_worker_${key}_us" "$(jget watch1_cpu_us_per_call "$REPLY")"
	rec "cpu_gw_mesh_${key}_us" "$(jget watch2_cpu_us_per_call "$REPLY")"
	if [ "$key" = 64 ]; then
		rec sup_rss_load_kb "$(jget watch0_rss_kb "$REPLY")"
		rec worker_rss_load_kb "$(jget watch1_rss_kb "$REPLY")"
		rec worker_pss_load_kb "$(pss_kb "$WORKER1_PID")"
	fi
}

# --- phase 2: many peers, many tools ------------------------------------------

phase_scale() {
	local i name files=() scale_gw=() bridges=() pid kb wrss=0 wpss=0 zpid zpss n r
	local mid=$((SCALE_PEERS / 2)) midname midworker

	log "scale: $SCALE_PEERS peers x $SCALE_TOOLS tools"
	for i in $(seq 0 $((SCALE_PEERS - 1))); do
		name=$(printf 'p%03d' "$i")
		start_gateway "$name" "$(extra_tools "$SCALE_TOOLS")"
		files+=("$GW_FILE")
		scale_gw+=("$GW_PID")
	done
	for i in $(seq 0 $((SCALE_PEERS - 1))); do
		wait_gateway "${files[$i]}"
		bridges+=(--bridge "$(printf 'p%03d' "$i")=$GW_URL")
	done
	start_mesh scale "$SCALE_PEERS" "${bridges[@]}"
	MESH2_PID=$MESH_PID
	MESH2_URL=$MESH_URL
	MESH2_LOG=$MESH_LOG
	rec scale_ready_ms "$MESH_READY_MS"
	log "scale: every peer ready after $MESH_READY_MS ms"

	run scale/list list --url "$MESH2_URL" --n "$LIST_N" --warmup 2
	check_errors "tools/list"
	rec scale_list_p50_ms "$(calc "$(jget p50_us "$REPLY") / 1000" 2)"
	rec scale_list_tools "$(jget tools "$REPLY")"
	rec scale_list_bytes "$(jget bytes "$REPLY")"

	midname=$(printf 'p%03d' "$mid")
	midworker=$(worker_pid "$MESH2_LOG" "$midname")
	for r in $(seq "$ROUNDS"); do
		scale_latency "$r" "$MESH1_URL" factory_echo 10tools ""
		scale_latency "$r" "$MESH2_URL" "${midname}_echo" manytools ""
		# Pinned to CPU 0 (see latency_pinned): the routing cost alone.
		pin 0 "$GW1_PID" "$MESH1_PID" "$WORKER1_PID"
		scale_latency "$r" "$MESH1_URL" factory_echo 10tools_pin 0,0
		pin "$ALL_CPUS" "$GW1_PID" "$MESH1_PID" "$WORKER1_PID"
		pin 0 "${scale_gw[$mid]}" "$MESH2_PID" "$midworker"
		scale_latency "$r" "$MESH2_URL" "${midname}_echo" manytools_pin 0,0
		pin "$ALL_CPUS" "${scale_gw[$mid]}" "$MESH2_PID" "$midworker"
	done

	for pid in $(workers_of "$MESH2_PID"); do
		kb=$(rss_kb "$pid"); wrss=$((wrss + ${kb:-0}))
		kb=$(pss_kb "$pid"); wpss=$((wpss + ${kb:-0}))
	done
	rec scale_sup_rss_kb "$(rss_kb "$MESH2_PID")"
	rec scale_sup_pss_kb "$(pss_kb "$MESH2_PID")"
	rec scale_workers_rss_kb "$wrss"
	rec scale_workers_pss_kb "$wpss"
	zpid=$(zygote_of "$MESH2_PID")
	zpss=0
	[ -z "$zpid" ] || zpss=$(pss_kb "$zpid")
	rec scale_zygote_pss_kb "$zpss"
	rec scale_total_pss_kb $(( $(pss_kb "$MESH2_PID") + wpss + zpss ))
	rec scale_workers "$(workers_of "$MESH2_PID" | wc -l)"
	n=$(workers_of "$MESH2_PID" | wc -l)
	[ "$n" -gt 0 ] && rec scale_worker_pss_each_kb $(( wpss / n ))
}

# scale_latency ROUND URL TOOL TAG CPUS
scale_latency() {
	local pins=()

	[ -z "$5" ] || pins=(--cpus "$5")
	run "scale/round$1/$4" latency --url "$2" --tool "$3" \
	    --n "$LAT_N" --warmup $((LAT_N / 10)) "${pins[@]}"
	check_errors "latency $4"
	rec "lat_$4_p50_us" "$(jget p50_us "$REPLY")"
}

# --- phase 3: a worker SIGKILLed under load -------------------------------------

phase_recovery() {
	local r victim pid tools=() i npeers=$REC_PEERS

	[ "$npeers" -le "$SCALE_PEERS" ] || npeers=$SCALE_PEERS
	for r in $(seq "$REC_ROUNDS"); do
		victim=$(printf 'p%03d' $((r - 1)))
		pid=$(worker_pid "$MESH2_LOG" "$victim")
		[ -n "$pid" ] || { fail "recovery: no worker pid for $victim"; return; }
		# The victim's tool first (loadgen's convention), then others.
		tools=(--tool "${victim}_echo")
		for i in $(seq 1 $((npeers - 1))); do
			tools+=(--tool "$(printf 'p%03d' $(((r - 1 + i) % SCALE_PEERS)))_echo")
		done
		run "recovery/round$r" recovery --url "$MESH2_URL" "${tools[@]}" \
		    --conns $((npeers * REC_CONNS_PER_PEER)) \
		    --duration-ms "$REC_MS" --warmup-ms 100 \
		    --kill-pid "$pid" --kill-at-ms "$REC_KILL_MS"
		rec rec_recover_ms "$(jget killed_recover_ms "$REPLY")"
		rec rec_killed_errors "$(jget killed_errors "$REPLY")"
		rec rec_others_errors "$(jget others_errors "$REPLY")"
		rec rec_others_calls "$(jget others_calls "$REPLY")"
		rec rec_others_max_gap_ms "$(jget others_max_gap_ms "$REPLY")"
		log "recovery $r: $victim (pid $pid) serving again after" \
		    "$(jget killed_recover_ms "$REPLY") ms"
		if ! kill -0 "$MESH2_PID" 2>/dev/null; then
			fail "recovery: mcp-mesh died ($(tail -n 1 "$MESH2_LOG"))"
			return
		fi
		# Let the restarted worker settle before the next victim.
		sleep 0.3
	done
}

# --- the table -----------------------------------------------------------------

M() { median "$1"; }
ratio() { calc "($1) / ($2)" 2; }
mib() { calc "$1 / 1024" 2; }
row() { printf '  %-44s %12s %12s %10s\n' "$@"; }
section() { printf '\n%s\n' "$1"; }

# target NAME VALUE OP LIMIT UNIT: one line of the verdicts, also kept
# for the JSON.
target() {
	local ok
	ok=$(awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN {
		if (v == "nan" || v == "") { print "n/a"; exit }
		if ((op == "<" && v + 0 < l + 0) || (op == "<=" && v + 0 <= l + 0) ||
		    (op == "==" && v + 0 == l + 0)) print "met"; else print "MISSED" }')
	printf '  %-52s %10s %-2s %-8s %-5s %s\n' "$1" "$2" "$3" "$4" "$5" "$ok"
	printf '{"target":"%s","value":"%s","op":"%s","limit":"%s","unit":"%s","verdict":"%s"}\n' \
	    "$1" "$2" "$3" "$4" "$5" "$ok" >> "$tmp/targets.jsonl"
}

print_table() {
	local floor pfloor c

	floor=$(calc "$(M floor_gwping_p50_us) + $(M floor_socketpair_p50_us)")
	# Pinned: the minimal HTTP hop and the socketpair, both on one CPU.
	pfloor=$(calc "$(M floor_http_cpus00_p50_us) + $(M floor_socketpair_cpus00_p50_us)")
	printf '\nmcp-mesh benchmark: %s rounds, medians  (%s)\n' "$ROUNDS" \
	    "$(machine_line)"
	row "" DIRECT MESH "MESH/DIR"
	section "1. tools/call latency, one client, sequential (us)"
	row "p50" "$(M lat_direct_p50_us)" "$(M lat_mesh_p50_us)" \
	    "$(ratio "$(M lat_mesh_p50_us)" "$(M lat_direct_p50_us)")"
	row "p99" "$(M lat_direct_p99_us)" "$(M lat_mesh_p99_us)" \
	    "$(ratio "$(M lat_mesh_p99_us)" "$(M lat_direct_p99_us)")"
	row "added per call, p50 / p99" "" "$(M added_p50_us) / $(M added_p99_us)" ""
	row "p50, all processes pinned to one CPU" "$(M lat_direct_pin_p50_us)" \
	    "$(M lat_mesh_pin_p50_us)" \
	    "$(ratio "$(M lat_mesh_pin_p50_us)" "$(M lat_direct_pin_p50_us)")"
	row "added per call, pinned, p50" "" "$(M added_pin_p50_us)" ""
	section "2. throughput, closed loop (calls/s) and CPU per call (us)"
	for c in $CONCURRENCY; do
		row "$c client(s): calls/s" "$(M "thr_direct_${c}_cps")" \
		    "$(M "thr_mesh_${c}_cps")" \
		    "$(ratio "$(M "thr_mesh_${c}_cps")" "$(M "thr_direct_${c}_cps")")"
	done
	for c in $CONCURRENCY; do
		row "$c client(s): p50 / p99 latency (us)" \
		    "$(M "thr_direct_${c}_p50_us")/$(M "thr_direct_${c}_p99_us")" \
		    "$(M "thr_mesh_${c}_p50_us")/$(M "thr_mesh_${c}_p99_us")" ""
	done
	for c in $CONCURRENCY; do
		row "$c client(s): CPU/call gateway | mesh" \
		    "$(M "cpu_gateway_${c}_us")" "$(M "cpu_mesh_${c}_us")" ""
	done
	row "  64 clients: mesh = supervisor + worker" "" \
	    "$(M cpu_sup_64_us) + $(M cpu_worker_64_us)" ""
	row "  64 clients: gateway, direct | behind the mesh" \
	    "$(M cpu_gateway_64_us)" "$(M cpu_gw_mesh_64_us)" ""
	row "loadgen CPU/call at 64 clients" "$(M client_cpu_direct_64_us)" \
	    "$(M client_cpu_mesh_64_us)" ""
	row "TCP connects per 1000 calls, 64 clients" \
	    "$(M tcp_opens_direct_64_pk)" "$(M tcp_opens_mesh_64_pk)" ""
	c=$SHARED_CONNS
	row "$c conns sharing one session: calls/s" "$(M "thr_direct_${c}s_cps")" \
	    "$(M "thr_mesh_${c}s_cps")" \
	    "$(ratio "$(M "thr_mesh_${c}s_cps")" "$(M "thr_direct_${c}s_cps")")"
	row "  p50 / p99 latency (us)" \
	    "$(M "thr_direct_${c}s_p50_us")/$(M "thr_direct_${c}s_p99_us")" \
	    "$(M "thr_mesh_${c}s_p50_us")/$(M "thr_mesh_${c}s_p99_us")" ""
	row "  CPU/call gateway | mesh" "$(M "cpu_gateway_${c}s_us")" \
	    "$(M "cpu_mesh_${c}s_us")" ""
	row "  mesh = supervisor + worker" "" \
	    "$(M "cpu_sup_${c}s_us") + $(M "cpu_worker_${c}s_us")" ""
	row "  gateway, direct | behind the mesh" \
	    "$(M "cpu_gateway_${c}s_us")" "$(M "cpu_gw_mesh_${c}s_us")" ""
	row "  mesh CPU/call, one session / one each" "" "" \
	    "$(ratio "$(M "cpu_mesh_${c}s_us")" "$(M "cpu_mesh_${c}_us")")"
	row "  TCP connects per 1000 calls" "$(M "tcp_opens_direct_${c}s_pk")" \
	    "$(M "tcp_opens_mesh_${c}s_pk")" ""
	section "3. memory (KiB)"
	row "supervisor RSS idle (start / end)" "" \
	    "$(M sup_rss_idle_start_kb) / $(M sup_rss_idle_end_kb)" ""
	row "supervisor RSS under load (64 clients)" "" "$(M sup_rss_load_kb)" ""
	row "worker RSS idle / under load" "" \
	    "$(M worker_rss_idle_end_kb) / $(M worker_rss_load_kb)" ""
	row "worker PSS idle / after load" "" \
	    "$(M worker_pss_idle_end_kb) / $(M worker_pss_load_kb)" ""
	section "4. scale: $SCALE_PEERS peers x $SCALE_TOOLS tools"
	row "start to every peer ready (ms)" "" "$(M scale_ready_ms)" ""
	row "tools/list through the mesh (ms)" "" "$(M scale_list_p50_ms)" ""
	row "  tools listed / bytes" "" \
	    "$(M scale_list_tools) / $(M scale_list_bytes)" ""
	row "call p50 with 10 tools / with all (us)" "" \
	    "$(M lat_10tools_p50_us) / $(M lat_manytools_p50_us)" \
	    "$(ratio "$(M lat_manytools_p50_us)" "$(M lat_10tools_p50_us)")"
	row "  the same, pinned to one CPU (us)" "" \
	    "$(M lat_10tools_pin_p50_us) / $(M lat_manytools_pin_p50_us)" \
	    "$(ratio "$(M lat_manytools_pin_p50_us)" "$(M lat_10tools_pin_p50_us)")"
	row "supervisor RSS / PSS (KiB)" "" \
	    "$(M scale_sup_rss_kb) / $(M scale_sup_pss_kb)" ""
	row "workers ($(M scale_workers)) RSS / PSS sum (KiB)" "" \
	    "$(M scale_workers_rss_kb) / $(M scale_workers_pss_kb)" ""
	row "  PSS of one worker, average / the zygote (KiB)" "" \
	    "$(M scale_worker_pss_each_kb) / $(M scale_zygote_pss_kb)" ""
	row "total PSS, supervisor + zygote + workers (KiB)" "" \
	    "$(M scale_total_pss_kb)" ""
	section "5. recovery: worker SIGKILLed under load ($REC_ROUNDS times)"
	row "time until its peer serves again (ms)" "" \
	    "$(M rec_recover_ms) (max $(maxof rec_recover_ms))" ""
	row "failed calls to the killed peer" "" "$(M rec_killed_errors)" ""
	row "failed calls to other peers (sum)" "" \
	    "$(awk '{ s += $1 } END { print s + 0 }' "$vals/rec_others_errors" 2>/dev/null)" ""
	row "longest stall of another peer (ms)" "" "$(maxof rec_others_max_gap_ms)" ""
	section "6. the floor: physical cost of the hops (p50, us)"
	row "keep-alive HTTP RTT, minimal server" "$(M floor_http_p50_us)" "" ""
	row "keep-alive HTTP RTT, gateway ping" "$(M floor_gwping_p50_us)" "" ""
	row "socketpair RTT (64 bytes, 2 processes)" "$(M floor_socketpair_p50_us)" "" ""
	row "  pinned to one CPU / to two CPUs" \
	    "$(M floor_socketpair_cpus00_p50_us) / $(M floor_socketpair_cpus01_p50_us)" "" ""
	row "HTTP RTT minimal, one CPU / two CPUs" \
	    "$(M floor_http_cpus00_p50_us) / $(M floor_http_cpus01_p50_us)" "" ""
	row "floor: HTTP hop + socketpair RTT" "$floor" "" ""
	row "  the same, pinned to one CPU" "$pfloor" "" ""
	row "added p50 / floor (unpinned | pinned)" "" \
	    "$(ratio "$(M added_p50_us)" "$floor") | $(ratio "$(M added_pin_p50_us)" "$pfloor")" ""

	section "targets"
	: > "$tmp/targets.jsonl"
	target "added latency p50 within 2x floor (us)" "$(M added_p50_us)" "<=" \
	    "$(calc "2 * $floor")" us
	target "  the same, pinned to one CPU (us)" "$(M added_pin_p50_us)" "<=" \
	    "$(calc "2 * $pfloor")" us
	target "mesh p99 latency (us)" "$(M lat_mesh_p99_us)" "<" 1000 us
	target "mesh CPU per call at 64 clients (us)" "$(M cpu_mesh_64_us)" "<" 50 us
	target "worker PSS after load, one peer (KiB)" "$(M worker_pss_load_kb)" "<" 1024 KiB
	target "worker PSS, each of $(M scale_workers) peers (KiB)" \
	    "$(M scale_worker_pss_each_kb)" "<" 1024 KiB
	target "supervisor RSS, $SCALE_PEERS peers (KiB)" "$(M scale_sup_rss_kb)" "<" 16384 KiB
	target "$SCALE_PEERS peers ready (ms)" "$(M scale_ready_ms)" "<" 1000 ms
	target "tools/list of $(M scale_list_tools) tools (ms)" "$(M scale_list_p50_ms)" "<" 50 ms
	target "call p50 many tools / 10 tools" \
	    "$(ratio "$(M lat_manytools_p50_us)" "$(M lat_10tools_p50_us)")" "<=" 1.10 x
	target "  the same, pinned to one CPU" \
	    "$(ratio "$(M lat_manytools_pin_p50_us)" "$(M lat_10tools_pin_p50_us)")" "<=" 1.10 x
	target "killed worker's peer serving again (ms)" "$(maxof rec_recover_ms)" "<" 250 ms
	target "errors seen by clients of other peers" \
	    "$(awk '{ s += $1 } END { print s + 0 }' "$vals/rec_others_errors" 2>/dev/null)" "==" 0 calls
}

machine_line() {
	printf '%s, %s cores, %s MiB, Linux %s' \
	    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
	    "$(nproc)" "$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)" \
	    "$(uname -r)"
}

write_json() {
	local f first=1 k

	{
		printf '{\n  "machine": "%s",\n  "date": "%s",\n' \
		    "$(machine_line)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf '  "quick": %s,\n  "rounds": %s,\n' \
		    "$([ "$QUICK" = 1 ] && echo true || echo false)" "$ROUNDS"
		printf '  "scale": {"peers": %s, "tools_per_peer": %s},\n' \
		    "$SCALE_PEERS" "$SCALE_TOOLS"
		printf '  "medians": {'
		for f in "$vals"/*; do
			k=${f##*/}
			[ $first = 1 ] || printf ','
			first=0
			printf '\n    "%s": %s' "$k" "$(M "$k" | sed 's/^nan$/null/')"
		done
		printf '\n  },\n  "rounds_raw": {'
		first=1
		for f in "$vals"/*; do
			k=${f##*/}
			[ $first = 1 ] || printf ','
			first=0
			printf '\n    "%s": [%s]' "$k" \
			    "$(sed 's/^nan$/null/' "$f" | paste -sd, -)"
		done
		printf '\n  },\n  "targets": [\n'
		sed '$!s/$/,/; s/^/    /' "$tmp/targets.jsonl"
		printf '  ]\n}\n'
	} > "$OUT/bench.json"
}

# --- main -----------------------------------------------------------------------

for b in "$MESH_BIN" "$MESH_WORKER_BIN" "$MESH_GATEWAY_BIN" "$LOADGEN_BIN"; do
	[ -x "$b" ] || { log "$b: not an executable"; exit 1; }
done
started=$(now_us)
phase_main
phase_scale
phase_recovery
stop_all
print_table | tee "$OUT/bench.txt"
write_json
log "done in $(calc "($(now_us) - $started) / 1000000" 1) s;" \
    "$OUT/bench.json, $OUT/bench.txt, $OUT/raw.jsonl"
if [ "$failed" != 0 ]; then
	log "the benchmark itself failed (see above)"
	exit 1
fi
exit 0
