#!/usr/bin/env bash
# DNSBL benchmark: rbldnsd, threatstop and the stock-CoreDNS ceiling on the same data set, the same query
# file, the same dnsperf settings and the same CPU pinning. See BENCHMARKS.md for the results and method.
#
#   bench/run.sh full     # make bench:       1M IPv4 + 100k IPv6 prefixes + 1M domains, 20 s runs (~15 min)
#   bench/run.sh quick    # make bench-quick: 100k + 10k + 100k, 2 s runs (< 2 min)
#
# Every knob below is an environment variable (V4=200000 RUN_S=10 bench/run.sh full, for example).
# A scenario is one function, scenario_NAME, listed in SCENARIOS; a server is one function, server_NAME,
# listed in SERVERS. Data and results stay under bench/out/ (gitignored); the full run writes
# BENCHMARKS.md, the quick one bench/out/BENCHMARKS-quick.md (REPORT= to change).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODE=${1:-full}
case $MODE in
full)
	: "${V4:=1000000}" "${V6:=100000}" "${DOM:=1000000}" "${QUERIES:=1000000}"
	: "${RUN_S:=20}" "${LAT_S:=10}" "${LAT_RUNS:=3}" "${MC_LAT_S:=$LAT_S}" "${MEM_LOAD_S:=5}" "${REFRESH_S:=20}" "${REBUILDS:=5}"
	: "${ADMIN_EDITS:=200}" "${ADMIN_SUSTAINED:=6000}" "${ACTIVE_COUNT:=5}"
	: "${REPORT:=$ROOT/BENCHMARKS.md}"
	;;
quick)
	: "${V4:=100000}" "${V6:=10000}" "${DOM:=100000}" "${QUERIES:=200000}"
	: "${RUN_S:=2}" "${LAT_S:=2}" "${LAT_RUNS:=1}" "${MC_LAT_S:=0}" "${MEM_LOAD_S:=1}" "${REFRESH_S:=3}" "${REBUILDS:=3}"
	: "${ADMIN_EDITS:=50}" "${ADMIN_SUSTAINED:=500}" "${ACTIVE_COUNT:=1}"
	: "${REPORT:=$ROOT/bench/out/BENCHMARKS-quick.md}"
	;;
*)
	echo "usage: $0 [full|quick]" >&2
	exit 2
	;;
esac
: "${RUNS:=3}"           # dnsperf runs per server and series: median, min, max
: "${LAT_QPS:=10000}"    # offered load of the latency and refresh runs
: "${SEED:=20251123}" "${KAF:=2000}" "${POLICIES:=1000}"
: "${WILD:=0.10}" "${LISTED:=0.30}"
: "${PORT:=25353}"       # DNS; PORT+1 the metrics server block, PORT+2 prometheus, PORT+3 ready
: "${SERVER_CPU:=0}" "${CLIENT_CPU:=1}"
: "${DNSPERF_ARGS:=-c 4 -T 1 -q 200}"       # the single-core series (and the latency runs)
# The multi series: the server on ALL_CPUS, dnsperf on MC_CLIENT_CPUS. With three cores or more they get
# cores of their own, dnsperf a quarter of them (one thread each); with two, the server takes both and
# shares one with dnsperf, which then limits what the series can show.
NCPU=$(nproc)
if ((NCPU >= 3)); then
	MC_K=$((NCPU / 4 > 0 ? NCPU / 4 : 1))
	: "${ALL_CPUS:=0-$((NCPU - MC_K - 1))}" "${MC_CLIENT_CPUS:=$((NCPU - MC_K))-$((NCPU - 1))}"
	: "${MC_DNSPERF_ARGS:=-c $((4 * MC_K)) -T $MC_K -q $((200 * MC_K))}"
else
	: "${ALL_CPUS:=0-$((NCPU - 1))}" "${MC_CLIENT_CPUS:=$CLIENT_CPU}" "${MC_DNSPERF_ARGS:=-c 8 -T 2 -q 400}"
fi
# The refresh scenario: the server on two cores (GOMAXPROCS=2), dnsperf on a third when there is one.
: "${REFRESH_CPUS:=0-1}" "${REFRESH_PROCS:=2}"
if ((NCPU >= 3)); then : "${REFRESH_CLIENT_CPU:=2}"; else : "${REFRESH_CLIENT_CPU:=$CLIENT_CPU}"; fi
: "${DNSPERF_TIMEOUT:=1}"  # dnsperf -t: a query unanswered after 1 s on loopback is lost (default 5 s: each
                           # run would wait 5 s at its end for the few datagrams the kernel dropped)
: "${SERVERS:=rbldnsd threatstop whoami template}"
: "${SCENARIOS:=single multi memory rebuild refresh firewall axfr admin active}"
: "${FW_CLEAN:=3000}" "${FW_ALIAS:=500}" "${FW_BADIP:=1000}" "${FW_BADNAME:=500}" # firewall scenario names

OUT=$ROOT/bench/out
BIN=$OUT/bin
DATA=$OUT/data-$V4-$V6-$DOM-$QUERIES-$SEED
RUN=$(realpath -m "${RUN_DIR:-$OUT/run-$MODE}") # emptied at the start of each run
ZONE=bl.bench
POLICY=p
SUFFIX=.$POLICY.$ZONE
META_PORT=$((PORT + 1)) PROM_PORT=$((PORT + 2)) READY_PORT=$((PORT + 3))
TS=$ROOT/bin/threatstop
RBLDNSD=rbldnsd

declare -A R=()  # results, key=value; also written to $RUN/results.env
VOID=()          # servers or scenarios whose answers were wrong
SPID=            # the server running now
RWPID=           # the feed rewriter running now
UPID=            # the firewall scenario's upstream

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
set_r() {
	R[$1]=$2
	printf '%s=%s\n' "$1" "$2" >>"$RUN/results.env"
}
get_r() { printf '%s' "${R[$1]:-n/a}"; }
# live_heap KEY: the live heap estimated from the heap goal and the GOGC in force
live_heap() {
	local g n
	g=$(get_r "$1.gogc") n=$(get_r "$1.next_gc")
	if num "$g" && num "$n"; then calc %.0f "$n * 100 / (100 + $g)"; else echo n/a; fi
}
note_cmd() { printf '%s\n' "$*" >>"$RUN/commands.txt"; }
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1; } # kv KEY "k=v k=v ..."
num() { [[ ${1:-} =~ ^-?[0-9.]+(e[-+]?[0-9]+)?$ ]]; }
calc() { awk "BEGIN { printf \"$1\", ($2) }"; } # calc FORMAT EXPRESSION (parenthesized: a bare > would redirect)
# cpus LIST: the CPUs of a taskset list ("0-3,6"), one a line.
cpus() { tr ',' '\n' <<<"$1" | awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }'; }

# cpus_overlap A B: whether two taskset lists share a CPU.
cpus_overlap() { [[ -n $(comm -12 <(cpus "$1" | sort) <(cpus "$2" | sort)) ]]; }

ratio() { if num "${1:-}" && num "${2:-}" && [[ $(calc %d "$2 != 0") == 1 ]]; then calc %.2f "$1 / $2"; else echo n/a; fi; }

cleanup() {
	# (a failed kill of a process that already exited must not end the cleanup under set -e)
	[[ -z $RWPID ]] || kill "$RWPID" 2>/dev/null || true
	[[ -z $UPID ]] || kill "$UPID" 2>/dev/null || true
	stop_server
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------- setup ----------

ensure_packages() {
	local missing=()
	command -v dnsperf >/dev/null || missing+=(dnsperf)
	command -v rbldnsd >/dev/null || [[ -x /usr/sbin/rbldnsd ]] || missing+=(rbldnsd)
	command -v curl >/dev/null || missing+=(curl)
	command -v ss >/dev/null || missing+=(iproute2)
	command -v taskset >/dev/null || missing+=(util-linux)
	((${#missing[@]} == 0)) && return
	local sudo=
	((EUID == 0)) || sudo=sudo
	log "installing ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
		{ $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
}

build() {
	log "building bin/threatstop and the bench tools"
	make --no-print-directory build
	mkdir -p "$BIN"
	go build -o "$BIN/gen" ./bench/gen
	go build -o "$BIN/dnsbench" ./bench/dnsbench
	command -v rbldnsd >/dev/null || RBLDNSD=/usr/sbin/rbldnsd
}

generate() {
	local args=(-out "$DATA" -v4 "$V4" -v6 "$V6" -dom "$DOM" -wild "$WILD" -queries "$QUERIES" -listed "$LISTED"
		-kaf "$KAF" -seed "$SEED" -variants "$REFRESH_S" -policy "$POLICY" -zone "$ZONE")
	local stamp
	stamp="$(sha256sum bench/gen/main.go | cut -c1-16) ${args[*]}"
	note_cmd "bench/out/bin/gen ${args[*]}"
	if [[ -f $DATA/stamp && $(cat "$DATA/stamp") == "$stamp" ]]; then
		log "data set $DATA is up to date"
		return
	fi
	log "generating the data set in $DATA"
	rm -rf "$DATA"
	local t0=$SECONDS
	"$BIN/gen" "${args[@]}"
	echo "$stamp" >"$DATA/stamp"
	log "generated in $((SECONDS - t0)) s"
}

# ---------- servers ----------
# server_NAME sets CMD (the command line), PROBE_WANT (the A of a correct probe answer), VERIFY_ARGS (for
# dnsbench verify) and PARSE_ARGS (rcode expectations for dnsbench parse).

# threatstop_corefile FILE FEEDDIR POLICIES [REFRESH]: the bench Corefile: only the needed plugins (no log,
# no prometheus in the measured server block: both cost per query); the metrics come from a second server
# block on META_PORT whose prometheus endpoint serves the process-wide registry.
threatstop_corefile() {
	local file=$1 feeds=$2 policies=$3 refresh=${4:-}
	{
		echo "$ZONE:$PORT {"
		echo "    bind 127.0.0.1"
		echo "    ready 127.0.0.1:$READY_PORT"
		echo "    threatfeed {"
		[[ -n $refresh ]] && echo "        refresh $refresh"
		local f
		for f in v4 v6 dom; do
			printf '        feed %s {\n            file %s\n            format plain\n            category bench\n        }\n' "$f" "$feeds/$f.txt"
		done
		echo "    }"
		echo "    threatstop {"
		printf '        policy %s {\n            lists v4 v6 dom\n        }\n' "$POLICY"
		local i
		for ((i = 1; i < policies; i++)); do
			printf '        policy q%d {\n            lists v4 v6 dom\n        }\n' "$i"
		done
		echo "    }"
		echo "}"
		echo ".:$META_PORT {"
		echo "    bind 127.0.0.1"
		echo "    prometheus 127.0.0.1:$PROM_PORT"
		echo "    whoami"
		echo "}"
	} >"$file"
}

server_threatstop() {
	threatstop_corefile "$RUN/threatstop.Corefile" "$DATA/feeds" 1
	CMD=("$TS" -conf "$RUN/threatstop.Corefile")
	PROBE_WANT=127.0.0.2 VERIFY_ARGS=(-kaf "$DATA/kaf.txt" -suffix "$SUFFIX")
	PARSE_ARGS=(-queries "$DATA/queries.txt" -expect "$DATA/queries.expect")
}

server_rbldnsd() {
	# -n foreground (loads the zones before answering), -a no NS in the authority section of positive
	# answers (threatstop sends none either); the SOA in negative answers comes from $SOA in v4.rbl.
	# rbldnsd refuses to run as root: as root it drops to the rbldns user of the Debian package, which
	# must be able to read the data set.
	local user=()
	if ((EUID == 0)); then
		user=(-u rbldns)
		runuser -u rbldns -- test -r "$DATA/rbldnsd/v4.rbl" ||
			die "user rbldns cannot read $DATA/rbldnsd/v4.rbl (make the path readable, or run as another user)"
	fi
	CMD=("$RBLDNSD" -n "${user[@]}" -a -b "127.0.0.1/$PORT"
		"$POLICY.$ZONE:ip4trie:$DATA/rbldnsd/v4.rbl" "$POLICY.$ZONE:ip6trie:$DATA/rbldnsd/v6.rbl"
		"$POLICY.$ZONE:dnset:$DATA/rbldnsd/dom.rbl")
	PROBE_WANT=127.0.0.2 VERIFY_ARGS=(-kaf "$DATA/kaf.txt" -suffix "$SUFFIX")
	PARSE_ARGS=(-queries "$DATA/queries.txt" -expect "$DATA/queries.expect")
}

# The ceiling: the same binary, one server block that answers every name through a cheap stock plugin.
server_whoami() {
	printf '.:%s {\n    bind 127.0.0.1\n    whoami\n}\n' "$PORT" >"$RUN/whoami.Corefile"
	CMD=("$TS" -conf "$RUN/whoami.Corefile")
	PROBE_WANT=- VERIFY_ARGS=(-kaf "$DATA/kaf.txt" -suffix "$SUFFIX" -fixed -) # NOERROR, the address in ADDITIONAL
	PARSE_ARGS=(-rcode NOERROR)
}

server_template() {
	printf '.:%s {\n    bind 127.0.0.1\n    template IN A {\n        answer "{{ .Name }} 60 IN A 127.0.0.2"\n    }\n}\n' "$PORT" >"$RUN/template.Corefile"
	CMD=("$TS" -conf "$RUN/template.Corefile")
	PROBE_WANT=127.0.0.2 VERIFY_ARGS=(-kaf "$DATA/kaf.txt" -suffix "$SUFFIX" -fixed 127.0.0.2)
	PARSE_ARGS=(-rcode NOERROR)
}

# ---------- process and measurement helpers ----------

port_free() {
	local p
	for p in "$@"; do
		[[ -z $(ss -Hlun "sport = :$p") && -z $(ss -Hltn "sport = :$p") ]] || return 1
	done
}

# start_server NAME CPUS CMD...: starts the server pinned to CPUS; sets SPID and T0 (Unix ns, just before).
start_server() {
	local name=$1 cpus=$2
	shift 2
	local i
	for i in $(seq 50); do port_free "$PORT" "$META_PORT" "$PROM_PORT" "$READY_PORT" && break; sleep 0.1; done
	port_free "$PORT" "$META_PORT" "$PROM_PORT" "$READY_PORT" || die "a port of $PORT-$READY_PORT is in use"
	note_cmd "taskset -c $cpus $*"
	T0=$(date +%s%N)
	taskset -c "$cpus" "$@" >"$RUN/$name.log" 2>&1 &
	SPID=$!
}

stop_server() {
	[[ -n $SPID ]] || return 0
	kill -TERM "$SPID" 2>/dev/null || true
	local i
	for i in $(seq 100); do
		kill -0 "$SPID" 2>/dev/null || break
		[[ $(awk '{print $3}' "/proc/$SPID/stat" 2>/dev/null) == Z ]] && break
		sleep 0.1
	done
	kill -KILL "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
	SPID=
}

# wait_answer PROBES WANT [SUFFIX]: seconds from T0 to the first correct answer to every probe.
wait_answer() {
	note_cmd "bench/out/bin/dnsbench wait -s 127.0.0.1:$PORT -probes ${1#"$ROOT"/} -want $2 -suffix ${3:-$SUFFIX} -t0 START_NS -pid SERVER_PID"
	"$BIN/dnsbench" wait -s "127.0.0.1:$PORT" -probes "$1" -want "$2" -suffix "${3:-$SUFFIX}" -t0 "$T0" -pid "$SPID" -timeout 300s
}

rss_kb() { awk -v k="${2:-VmRSS}:" '$1==k {print $2}' "/proc/$1/status"; }
# metric NAME: a value from the prometheus endpoint of the server block on META_PORT (awk reads it all:
# an early exit would fail curl, and the pipeline with it).
metric() {
	local i v
	for i in 1 2 3; do
		v=$(curl -s --max-time 5 "http://127.0.0.1:$PROM_PORT/metrics" | awk -v n="$1" '$1==n && !done {printf "%.10g\n", $2; done=1}') || true
		[[ -n $v ]] && break
		sleep 0.2
	done
	echo "$v"
}

# perf OUT CPUS DNSPERF_ARGS...: one dnsperf run against the server, bounded in time (-l) and count (-n).
perf() {
	local out=$1 cpus=$2
	shift 2
	note_cmd "taskset -c $cpus dnsperf -s 127.0.0.1 -p $PORT -d ${DATA#"$ROOT"/}/queries.txt -t $DNSPERF_TIMEOUT $*"
	local limit
	limit=$(sed -n 's/.*-l \([0-9]*\).*/\1/p' <<<"$*")
	timeout $((${limit:-60} + 60)) taskset -c "$cpus" dnsperf -s 127.0.0.1 -p "$PORT" -d "$DATA/queries.txt" -t "$DNSPERF_TIMEOUT" "$@" >"$out" 2>&1 ||
		die "dnsperf failed, see $out"
}

# median3 VALUES...: the median, with 3 decimals
median3() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# median_min_max VALUES...
median_min_max() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {m = NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.0f %.0f %.0f\n", m, a[1], a[NR]}'; }

# verify KEY VERIFY_ARGS...: the known answers; a mismatch voids KEY.
verify() {
	local key=$1
	shift
	note_cmd "bench/out/bin/dnsbench verify -s 127.0.0.1:$PORT ${*//$ROOT\//}"
	if "$BIN/dnsbench" verify -s "127.0.0.1:$PORT" "$@" >"$RUN/$key.verify" 2>&1; then
		set_r "$key.answers" "ok ($(awk '/^verify:/ {print $2}' "$RUN/$key.verify"))"
	else
		set_r "$key.answers" VOID
		VOID+=("$key")
		log "WRONG ANSWERS from $key: results void"
		sed 's/^/    /' "$RUN/$key.verify" | head -25 >&2
	fi
}

# ---------- scenarios ----------

# bench_server SERIES SERVER: start to first correct answer, known answers, QPS (RUNS runs), latency at
# LAT_QPS with every answered rcode checked, RSS after load.
bench_server() {
	local series=$1 srv=$2 key=$1.$2 scpus ccpus dargs lat_s
	if [[ $series == single ]]; then
		scpus=$SERVER_CPU ccpus=$CLIENT_CPU dargs=$DNSPERF_ARGS lat_s=$LAT_S
	else
		scpus=$ALL_CPUS ccpus=$MC_CLIENT_CPUS dargs=$MC_DNSPERF_ARGS lat_s=$MC_LAT_S
	fi
	"server_$srv"
	log "$key: starting on CPU $scpus"
	start_server "$key" "$scpus" "${CMD[@]}"
	local st
	st=$(wait_answer "$DATA/probes.txt" "$PROBE_WANT") || die "$key did not answer, see $RUN/$key.log"
	set_r "$key.start_s" "$st"
	verify "$key" "${VERIFY_ARGS[@]}"
	local qs=() i p lost=0 sent=0
	# shellcheck disable=SC2086 # dargs is a list of options
	for ((i = 1; i <= RUNS; i++)); do
		perf "$RUN/$key.qps$i.txt" "$ccpus" $dargs -l "$RUN_S" -n 1000
		p=$("$BIN/dnsbench" parse "$RUN/$key.qps$i.txt")
		qs+=("$(kv qps "$p")")
		lost=$((lost + $(kv lost "$p"))) sent=$((sent + $(kv sent "$p")))
		set_r "$key.run$i" "$p"
		if [[ $(kv other_rcode "$p") != 0 ]]; then
			log "$key: $(kv other_rcode "$p") answers with another rcode than NOERROR/NXDOMAIN"
		fi
	done
	read -r med mn mx < <(median_min_max "${qs[@]}")
	set_r "$key.qps" "$med" && set_r "$key.qps_min" "$mn" && set_r "$key.qps_max" "$mx"
	set_r "$key.qps_lost_pct" "$(calc %.3f "100 * $lost / $sent")"
	log "$key: QPS median $med (min $mn, max $mx)"
	if ((lat_s > 0)); then
		local p50s=() p99s=() p999s=() llost=0 checked=0 wrong=0 other=0
		for ((i = 1; i <= LAT_RUNS; i++)); do
			# shellcheck disable=SC2086
			perf "$RUN/$key.lat$i.txt" "$ccpus" $dargs -Q "$LAT_QPS" -l "$lat_s" -n 1000 -v
			p=$("$BIN/dnsbench" parse "${PARSE_ARGS[@]}" "$RUN/$key.lat$i.txt")
			set_r "$key.lat$i" "$p"
			p50s+=("$(kv p50_ms "$p")") p99s+=("$(kv p99_ms "$p")") p999s+=("$(kv p999_ms "$p")")
			llost=$((llost + $(kv lost "$p"))) checked=$((checked + $(kv checked "$p")))
			wrong=$((wrong + $(kv wrong "$p"))) other=$((other + $(kv other_rcode "$p")))
			if [[ $(kv wrong "$p") != 0 ]]; then
				log "$key: $(kv wrong "$p") of $(kv checked "$p") answers under load had the wrong rcode (e.g. $(kv first_wrong "$p")): results void"
			fi
		done
		set_r "$key.p50_ms" "$(median3 "${p50s[@]}")"
		set_r "$key.p99_ms" "$(median3 "${p99s[@]}")"
		set_r "$key.p99_all" "$(printf '%s ' "${p99s[@]}")"
		set_r "$key.p999_ms" "$(median3 "${p999s[@]}")"
		set_r "$key.lost" "$llost" && set_r "$key.checked" "$checked" && set_r "$key.wrong" "$wrong" && set_r "$key.other_rcode" "$other"
		if ((wrong > 0 || other > 0)); then
			VOID+=("$key")
			set_r "$key.answers" VOID
		fi
		log "$key: at $LAT_QPS QPS p50 $(get_r "$key.p50_ms") ms, p99 $(get_r "$key.p99_ms") ms (runs: ${p99s[*]}), lost $llost"
	fi
	set_r "$key.rss_kb" "$(rss_kb "$SPID")"
	set_r "$key.hwm_kb" "$(rss_kb "$SPID" VmHWM)"
	if [[ $srv == threatstop ]]; then
		set_r "$key.heap_alloc" "$(metric go_memstats_heap_alloc_bytes)"
		set_r "$key.next_gc" "$(metric go_memstats_next_gc_bytes)"
		set_r "$key.gogc" "$(metric go_gc_gogc_percent)"
		set_r "$key.build_s" "$(metric coredns_threatfeed_snapshot_build_duration_seconds_sum)"
	fi
	stop_server
}

scenario_single() {
	local s
	for s in $SERVERS; do bench_server single "$s"; done
}

scenario_multi() {
	local s
	for s in $SERVERS; do bench_server multi "$s"; done
}

# scenario_memory: threatstop with empty feeds, with the data set and 1 policy, and with POLICIES policies,
# each through the same sequence (start, known answers, one MEM_LOAD_S dnsperf run), then RSS and heap.
scenario_memory() {
	local cfg dir key
	for cfg in empty one many; do
		key=memory.$cfg
		dir=$RUN/$key
		mkdir -p "$dir/feeds"
		local n=1 probes=$DATA/probes.txt suffix=$SUFFIX
		if [[ $cfg == empty ]]; then
			: >"$dir/feeds/v4.txt" && : >"$dir/feeds/v6.txt" && : >"$dir/feeds/dom.txt"
			echo 2.0.0.127 >"$dir/probes.txt" # the RFC 5782 test point answers in every policy
			probes=$dir/probes.txt
		else
			ln -f "$DATA/feeds/"{v4,v6,dom}.txt "$dir/feeds/"
		fi
		if [[ $cfg == many ]]; then
			n=$POLICIES suffix=.q$((POLICIES - 1)).$ZONE # the last policy of the Corefile
		fi
		threatstop_corefile "$dir/Corefile" "$dir/feeds" "$n"
		log "$key: threatstop, $n policies"
		start_server "$key" "$SERVER_CPU" "$TS" -conf "$dir/Corefile"
		local st
		st=$(wait_answer "$probes" 127.0.0.2 "$suffix") || die "$key did not answer, see $RUN/$key.log"
		set_r "$key.start_s" "$st"
		[[ $cfg == empty ]] || verify "$key" -kaf "$DATA/kaf.txt" -suffix "$suffix"
		# shellcheck disable=SC2086
		perf "$dir/qps.txt" "$CLIENT_CPU" $DNSPERF_ARGS -l "$MEM_LOAD_S" -n 1000
		set_r "$key.qps" "$(kv qps "$("$BIN/dnsbench" parse "$dir/qps.txt")")"
		set_r "$key.rss_kb" "$(rss_kb "$SPID")"
		set_r "$key.hwm_kb" "$(rss_kb "$SPID" VmHWM)"
		set_r "$key.heap_alloc" "$(metric go_memstats_heap_alloc_bytes)"
		set_r "$key.next_gc" "$(metric go_memstats_next_gc_bytes)"
		set_r "$key.gogc" "$(metric go_gc_gogc_percent)"
		log "$key: RSS $(get_r "$key.rss_kb") kB, heap $(get_r "$key.heap_alloc") B"
		stop_server
	done
}

# scenario_rebuild: the full snapshot is rebuilt whenever a feed changes. REBUILDS times: rename a new
# version of the IPv4 feed (the data set plus one address that the known answers say is clean) over the
# old one, and time it until that address answers; the build itself from the threatfeed histogram.
scenario_rebuild() {
	local dir=$RUN/rebuild key=rebuild
	mkdir -p "$dir/feeds"
	ln -f "$DATA/feeds/"{v4,v6,dom}.txt "$dir/feeds/"
	threatstop_corefile "$dir/Corefile" "$dir/feeds" 1 100ms
	log "rebuild: threatstop, refresh 100ms, $REBUILDS rewrites of the IPv4 feed"
	start_server "$key" "$SERVER_CPU" "$TS" -conf "$dir/Corefile"
	wait_answer "$DATA/probes.txt" 127.0.0.2 >/dev/null || die "rebuild: no answer"
	local c0 s0 c1 s1 builds=() e2e=() k sentinel addr t
	c0=$(metric coredns_threatfeed_snapshot_build_duration_seconds_count)
	s0=$(metric coredns_threatfeed_snapshot_build_duration_seconds_sum)
	set_r rebuild.startup_build_s "$(calc %.3f "$s0 / $c0")"
	mapfile -t clean < <(awk '$4 == "v4-clean" {print $1}' "$DATA/kaf.txt" | head -n "$REBUILDS")
	for ((k = 0; k < REBUILDS && k < ${#clean[@]}; k++)); do
		sentinel=${clean[k]}
		addr=$(awk -F. '{print $4"."$3"."$2"."$1}' <<<"$sentinel")
		cp "$DATA/feeds/v4.txt" "$dir/v4.tmp"
		echo "$addr" >>"$dir/v4.tmp"
		echo "$sentinel" >"$dir/probe"
		T0=$(date +%s%N)
		mv -f "$dir/v4.tmp" "$dir/feeds/v4.txt"
		t=$(wait_answer "$dir/probe" 127.0.0.2) || die "rebuild: $addr never listed"
		e2e+=("$t")
		# the metrics move right after the swap; give them a moment to be scraped consistently
		for _ in $(seq 50); do
			c1=$(metric coredns_threatfeed_snapshot_build_duration_seconds_count)
			[[ $(calc %d "$c1 > $c0") == 1 ]] && break
			sleep 0.02
		done
		s1=$(metric coredns_threatfeed_snapshot_build_duration_seconds_sum)
		builds+=("$(calc %.3f "($s1 - $s0) / ($c1 - $c0)")")
		c0=$c1 s0=$s1
	done
	set_r rebuild.build_s "$(printf '%s\n' "${builds[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}')"
	set_r rebuild.build_max_s "$(printf '%s\n' "${builds[@]}" | sort -g | tail -1)"
	set_r rebuild.e2e_s "$(printf '%s\n' "${e2e[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}')"
	set_r rebuild.e2e_max_s "$(printf '%s\n' "${e2e[@]}" | sort -g | tail -1)"
	set_r rebuild.hwm_kb "$(rss_kb "$SPID" VmHWM)"
	log "rebuild: build $(get_r rebuild.build_s) s (max $(get_r rebuild.build_max_s)), change to answer $(get_r rebuild.e2e_s) s"
	stop_server
}

# scenario_refresh: fixed-rate load (LAT_QPS for REFRESH_S seconds) twice on a fresh server on two cores
# (REFRESH_CPUS, GOMAXPROCS=REFRESH_PROCS): without feed
# changes, then while the IPv4 feed is replaced every second (temp file + rename, 1% more lines changed
# each time). LAT_RUNS such pairs: one pair's ratio swings with the noise of this kind of machine (the
# p99.9 of the unchanged runs moves by 3x between runs), the median of the pairs' ratios much less.
scenario_refresh() {
	local dir=$RUN/refresh key=refresh p r ratios=() rebuilds=0 build_sum=0 hwm=0 c0 s0 c1 s1
	mkdir -p "$dir"
	threatstop_corefile "$dir/Corefile" "$dir/feeds" 1 1s
	note_cmd "every second, $REFRESH_S times: ln -f ${DATA#"$ROOT"/}/variants/v4.NNN.txt v4.tmp && mv -f v4.tmp feeds/v4.txt"
	for ((r = 1; r <= LAT_RUNS; r++)); do
		rm -rf "$dir/feeds" && mkdir -p "$dir/feeds"
		ln -f "$DATA/feeds/"{v4,v6,dom}.txt "$dir/feeds/"
		log "refresh $r/$LAT_RUNS: threatstop, refresh 1s, $LAT_QPS QPS for $REFRESH_S s without and with rewrites"
		start_server "$key" "$REFRESH_CPUS" env GOMAXPROCS="$REFRESH_PROCS" "$TS" -conf "$dir/Corefile"
		wait_answer "$DATA/probes.txt" 127.0.0.2 >/dev/null || die "refresh: no answer"
		verify "$key" -kaf "$DATA/kaf.txt" -suffix "$SUFFIX"
		# shellcheck disable=SC2086
		perf "$dir/still$r.txt" "$REFRESH_CLIENT_CPU" $DNSPERF_ARGS -Q "$LAT_QPS" -l "$REFRESH_S" -n 1000 -v
		set_r "refresh.still$r" "$("$BIN/dnsbench" parse -queries "$DATA/queries.txt" -expect "$DATA/queries.expect" "$dir/still$r.txt")"
		c0=$(metric coredns_threatfeed_snapshot_build_duration_seconds_count)
		s0=$(metric coredns_threatfeed_snapshot_build_duration_seconds_sum)
		(
			for ((k = 1; k <= REFRESH_S; k++)); do
				sleep 1
				ln -f "$(printf '%s/variants/v4.%03d.txt' "$DATA" "$k")" "$dir/v4.tmp"
				mv -f "$dir/v4.tmp" "$dir/feeds/v4.txt"
			done
		) &
		RWPID=$!
		# shellcheck disable=SC2086
		perf "$dir/rewrite$r.txt" "$REFRESH_CLIENT_CPU" $DNSPERF_ARGS -Q "$LAT_QPS" -l "$REFRESH_S" -n 1000 -v
		wait "$RWPID" || true
		RWPID=
		sleep 1.5 # the last rewrite's rebuild
		p=$("$BIN/dnsbench" parse -queries "$DATA/queries.txt" -expect "$DATA/queries.expect" "$dir/rewrite$r.txt")
		set_r "refresh.rewrite$r" "$p"
		c1=$(metric coredns_threatfeed_snapshot_build_duration_seconds_count)
		s1=$(metric coredns_threatfeed_snapshot_build_duration_seconds_sum)
		rebuilds=$(calc %d "$rebuilds + $c1 - $c0") build_sum=$(calc %.6f "$build_sum + $s1 - $s0")
		hwm=$(calc %d "$(rss_kb "$SPID" VmHWM) > $hwm ? $(rss_kb "$SPID" VmHWM) : $hwm")
		ratios+=("$(ratio "$(kv p99_ms "$p")" "$(kv p99_ms "$(get_r "refresh.still$r")")")")
		log "refresh $r: p99 $(kv p99_ms "$(get_r "refresh.still$r")") ms still, $(kv p99_ms "$p") ms with $(calc %d "$c1 - $c0") rebuilds (ratio ${ratios[-1]})"
		stop_server
	done
	set_r refresh.ratio "$(calc %.2f "$(median3 "${ratios[@]}")")"
	set_r refresh.ratios "${ratios[*]}"
	set_r refresh.rebuilds "$rebuilds"
	set_r refresh.build_s "$(if ((rebuilds > 0)); then calc %.3f "$build_sum / $rebuilds"; else echo n/a; fi)"
	set_r refresh.hwm_kb "$hwm"
}

# refresh_field NAME FIELD: the median over the refresh runs of FIELD in their NAME (still, rewrite) results.
refresh_field() {
	local r v=()
	for ((r = 1; r <= LAT_RUNS; r++)); do v+=("$(kv "$2" "$(get_r "refresh.$1$r")")"); done
	if [[ $2 == qps ]]; then median_min_max "${v[@]}" | cut -d' ' -f1; else median3 "${v[@]}"; fi
}

# refresh_sum NAME FIELD...: the sum over the refresh runs of the FIELDs in their NAME results.
refresh_sum() {
	local name=$1 r f n=0
	shift
	for ((r = 1; r <= LAT_RUNS; r++)); do
		for f in "$@"; do n=$((n + $(kv "$f" "$(get_r "refresh.$name$r")"))); done
	done
	echo "$n"
}

# scenario_firewall: the resolver chain (cache + forward to a local upstream) with and without the in-line
# firewall of one policy over the whole data set, on the same query file. The names fit in the cache, so
# after one warm-up pass every answer comes from the cache: the firewall's per-query cost against the
# cheapest resolver answer there is. 30% of the names are listed: by a response address (upstream answer
# from the cache, rewritten) or by the query name (answered before the cache).
scenario_firewall() {
	local dir=$RUN/firewall up=$((PORT + 4)) v
	mkdir -p "$dir"
	port_free "$up" || die "port $up is in use"
	{
		printf '$ORIGIN fw.bench.\n$TTL 3600\n@ SOA ns.fw.bench. h.fw.bench. 1 3600 600 604800 3600\n@ NS ns\nns A 192.0.2.53\n'
		awk -v n="$FW_CLEAN" 'BEGIN { for (i = 0; i < n; i++) printf "www-%d A 192.0.2.%d\n", i, i % 250 + 1 }'
		awk -v n="$FW_ALIAS" 'BEGIN { for (i = 0; i < n; i++) printf "alias-%d CNAME www-%d\n", i, i }'
		awk -v n="$FW_BADIP" '/^[0-9.]+(\/32)?$/ && c < n { sub("/32", ""); printf "bad-%d A %s\n", c++, $1 }' "$DATA/feeds/v4.txt"
	} >"$dir/fw.bench.zone"
	{
		awk -v n="$FW_CLEAN" 'BEGIN { for (i = 0; i < n; i++) printf "www-%d.fw.bench A\n", i }'
		awk -v n="$FW_ALIAS" 'BEGIN { for (i = 0; i < n; i++) printf "alias-%d.fw.bench A\n", i }'
		awk -v n="$FW_BADIP" 'BEGIN { for (i = 0; i < n; i++) printf "bad-%d.fw.bench A\n", i }'
		awk -v n="$FW_BADNAME" '!/[*\/#]/ && NF && c < n { print $1, "A"; c++ }' "$DATA/feeds/dom.txt"
	} | shuf --random-source=<(yes "$SEED") >"$dir/queries.txt"
	local total listed
	total=$(wc -l <"$dir/queries.txt") listed=$((FW_BADIP + FW_BADNAME))
	printf 'fw.bench:%s {\n    bind 127.0.0.1\n    file %s\n}\n.:%s {\n    bind 127.0.0.1\n    template IN A {\n        answer "{{ .Name }} 3600 IN A 192.0.2.200"\n    }\n}\n' \
		"$up" "$dir/fw.bench.zone" "$up" >"$dir/upstream.Corefile"
	printf '.:%s {\n    bind 127.0.0.1\n    cache 3600\n    forward . 127.0.0.1:%s\n}\n' "$PORT" "$up" >"$dir/resolver.Corefile"
	{
		printf '.:%s {\n    bind 127.0.0.1\n    threatfeed {\n' "$PORT"
		for v in v4 v6 dom; do
			printf '        feed %s {\n            file %s\n            format plain\n            category bench\n        }\n' "$v" "$DATA/feeds/$v.txt"
		done
		printf '    }\n    threatstop {\n        policy %s {\n            lists v4 v6 dom\n        }\n' "$POLICY"
		printf '        firewall {\n            client 0.0.0.0/0 ::/0 %s\n        }\n    }\n' "$POLICY"
		printf '    cache 3600\n    forward . 127.0.0.1:%s\n}\n' "$up"
	} >"$dir/firewall.Corefile"
	note_cmd "taskset -c $CLIENT_CPU bin/threatstop -conf ${dir#"$ROOT"/}/upstream.Corefile"
	taskset -c "$CLIENT_CPU" "$TS" -conf "$dir/upstream.Corefile" >"$dir/upstream.log" 2>&1 &
	UPID=$!
	local probe_bad probe_name chain qs i p nx
	probe_bad=bad-0.fw.bench probe_name=$(awk '!/fw\.bench/ { print $1; exit }' "$dir/queries.txt")
	for chain in resolver firewall; do
		log "firewall: $chain chain on CPU $SERVER_CPU, $total names ($listed listed), upstream on CPU $CLIENT_CPU"
		start_server "fw-$chain" "$SERVER_CPU" "$TS" -conf "$dir/$chain.Corefile"
		local want=NOERROR
		[[ $chain == firewall ]] && want=NXDOMAIN
		for i in $(seq 240); do
			kill -0 "$SPID" 2>/dev/null && kill -0 "$UPID" 2>/dev/null || die "firewall: a server exited, see $dir/upstream.log and $RUN/fw-$chain.log"
			[[ $(dig +tries=1 +time=1 -p "$PORT" @127.0.0.1 "$probe_name" A 2>/dev/null | sed -n 's/.*status: \([A-Z]*\).*/\1/p') == "$want" &&
				$(dig +tries=1 +time=1 -p "$PORT" @127.0.0.1 "$probe_bad" A 2>/dev/null | sed -n 's/.*status: \([A-Z]*\).*/\1/p') == "$want" ]] && break
			sleep 0.5
		done
		((i < 240)) || die "firewall: the $chain chain did not answer as expected"
		# One pass fills the cache; the measured runs then answer from it.
		timeout 120 taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" -d "$dir/queries.txt" -t "$DNSPERF_TIMEOUT" -n 1 >"$dir/$chain.warm.txt" 2>&1
		qs=()
		for ((i = 1; i <= RUNS; i++)); do
			note_cmd "taskset -c $CLIENT_CPU dnsperf -s 127.0.0.1 -p $PORT -d ${dir#"$ROOT"/}/queries.txt -t $DNSPERF_TIMEOUT $DNSPERF_ARGS -l $RUN_S -n 1000"
			# shellcheck disable=SC2086
			timeout $((RUN_S + 60)) taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" -d "$dir/queries.txt" -t "$DNSPERF_TIMEOUT" \
				$DNSPERF_ARGS -l "$RUN_S" -n 1000 >"$dir/$chain.qps$i.txt" 2>&1 || die "dnsperf failed, see $dir/$chain.qps$i.txt"
			p=$("$BIN/dnsbench" parse "$dir/$chain.qps$i.txt")
			qs+=("$(kv qps "$p")")
			# The share of NXDOMAIN answers is the share of listed names the chain blocked.
			nx=$(kv nxdomain "$p")
			set_r "firewall.$chain.nx_pct$i" "$(calc %.2f "100 * ${nx:-0} / $(kv answered "$p")")"
		done
		read -r med mn mx < <(median_min_max "${qs[@]}")
		set_r "firewall.$chain.qps" "$med" && set_r "firewall.$chain.qps_min" "$mn" && set_r "firewall.$chain.qps_max" "$mx"
		set_r "firewall.$chain.rss_kb" "$(rss_kb "$SPID")"
		log "firewall: $chain QPS median $med (min $mn, max $mx), NXDOMAIN $(get_r "firewall.$chain.nx_pct1")%"
		stop_server
	done
	kill "$UPID" 2>/dev/null || true
	wait "$UPID" 2>/dev/null || true
	UPID=
	set_r firewall.listed_pct "$(calc %.2f "100 * $listed / $total")"
	local want_nx
	want_nx=$(get_r firewall.listed_pct)
	for ((i = 1; i <= RUNS; i++)); do
		# Blocked names must be exactly the listed share (the runs replay the file, so it holds per run within 1%).
		if [[ $(calc %d "($(get_r "firewall.firewall.nx_pct$i") - $want_nx) ^ 2 > 1") == 1 || $(get_r "firewall.resolver.nx_pct$i") != 0.00 ]]; then
			VOID+=(firewall)
			set_r firewall.answers VOID
			log "firewall: NXDOMAIN share $(get_r "firewall.firewall.nx_pct$i")% through the firewall, $(get_r "firewall.resolver.nx_pct$i")% without, want $want_nx% and 0%: results void"
			break
		fi
	done
}

# scenario_axfr: the policy's RPZ zone over the whole data set by AXFR, from threatstop (rendered from the
# snapshot at transfer time) and from BIND serving the same records from a zone file as a primary, each
# pinned to SERVER_CPU, dig on CLIENT_CPU; the best of AXFR_RUNS transfers each.
# scenario_admin: the management API over the data set, by the Go benchmarks of plugin/threatadmin
# (in-process servers over the data set's feeds): an API edit until the DNS answer shows it with 10,000
# policies (p50, p99 of ADMIN_EDITS), edits at 100 a second (ADMIN_SUSTAINED of them) while a client asks
# other policies (failed answers), and the RSS of 10,000 policies made through the API against one.
scenario_admin() {
	local out=$RUN/admin.txt b
	: >"$out"
	for b in "EditVisible -benchtime ${ADMIN_EDITS}x" "SustainedEdits -benchtime ${ADMIN_SUSTAINED}x" "PoliciesRSS -benchtime 1x"; do
		log "admin: $b"
		# shellcheck disable=SC2086
		note_cmd THREATSTOP_BENCH_FEEDS=$DATA/feeds go test -run "'^\$'" -bench $b -timeout 30m ./plugin/threatadmin/
		# shellcheck disable=SC2086
		THREATSTOP_BENCH_FEEDS=$DATA/feeds go test -run '^$' -bench $b -timeout 30m ./plugin/threatadmin/ 2>&1 | grep 'ns/op' >>"$out" ||
			die "admin: $b failed, see $out"
	done
	local m
	for m in p50-ms p99-ms edits/s failed qps ratio anon-ratio ratio-restarted anon-ratio-restarted rss-1-MB rss-10k-MB ms/create heap-B/policy; do
		set_r "admin.$m" "$(awk -v m="$m" '{for (i = 3; i < NF; i++) if ($(i + 1) == m) v = $i} END {print v}' "$out")"
	done
	# Edges: an edit on an aggregator with 10,000 policies until an edge that follows its configuration
	# zone answers it (plugin/threatstop's BenchmarkFollow, its own small feeds: the policies are the load).
	local fout=$RUN/follow.txt
	log "admin: Follow"
	note_cmd go test -run "'^\$'" -bench Follow -benchtime "${ADMIN_EDITS}x" -timeout 30m ./plugin/threatstop/
	go test -run '^$' -bench Follow -benchtime "${ADMIN_EDITS}x" -timeout 30m ./plugin/threatstop/ 2>&1 | grep 'ns/op' >"$fout" ||
		die "admin: Follow failed, see $fout"
	for m in p50-ms p99-ms first-ms; do
		set_r "follow.$m" "$(awk -v m="$m" '{for (i = 3; i < NF; i++) if ($(i + 1) == m) v = $i} END {print v}' "$fout")"
	done
}

# scenario_active: the active list's costs and stability by Go tests over the data set. The snapshot
# build of the 2.1M entries with scores (a confidence per list, one per entry in one list) next to the
# same without (plugin/pkg/snapshot's BenchmarkBuild and BenchmarkBuildUnscored, ACTIVE_COUNT alternating
# runs of 5 builds each, medians), with the heap per entry of each; and a policy with max_entries 1000 over the data set's
# feeds (TestMaxEntriesBenchData): its zone holds exactly the 1,000 highest scored, and two refreshes that
# each move three entries across the cut are IXFRs of 6 records.
scenario_active() {
	local out=$RUN/active.txt tout=$RUN/active-maxentries.txt
	log "active: BenchmarkBuild, BenchmarkBuildUnscored"
	# Alternating processes of 5 builds each: a process's first builds run slower (the heap grows), and
	# -count would run all of one benchmark before the other.
	(cd "$ROOT" && go test -c -o "$RUN/snapshot.test" ./plugin/pkg/snapshot/) || die "active: building the snapshot tests"
	note_cmd "for r in \$(seq $ACTIVE_COUNT); do for b in BuildUnscored Build; do (cd plugin/pkg/snapshot && ./snapshot.test -test.run '^\$' -test.bench \"^Benchmark\$b\\\$\" -test.benchtime 5x); done; done"
	: >"$out"
	local r b
	for r in $(seq "$ACTIVE_COUNT"); do
		for b in BuildUnscored Build; do
			(cd "$ROOT/plugin/pkg/snapshot" && "$RUN/snapshot.test" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchtime 5x) 2>&1 | grep 'ns/op' >>"$out" ||
				die "active: Benchmark$b failed, see $out"
		done
	done
	for b in Build BuildUnscored; do
		set_r "active.$b.ms" "$(awk -v b="BenchmarkBuild${b#Build}-" 'index($1, b) == 1 {print $3 / 1e6}' "$out" | sort -n | awk '{v[NR] = $1} END {printf "%.0f", v[int((NR + 1) / 2)]}')"
		set_r "active.$b.bpe" "$(awk -v b="BenchmarkBuild${b#Build}-" 'index($1, b) == 1 {for (i = 3; i < NF; i++) if ($(i + 1) == "snapshot-B/entry") print $i}' "$out" | tail -1)"
	done
	log "active: TestMaxEntriesBenchData"
	note_cmd THREATSTOP_BENCH_FEEDS=$DATA/feeds go test -count=1 -run "'^TestMaxEntriesBenchData\$'" -v ./plugin/threatstop/
	if THREATSTOP_BENCH_FEEDS=$DATA/feeds go test -count=1 -run '^TestMaxEntriesBenchData$' -v -timeout 10m ./plugin/threatstop/ >"$tout" 2>&1; then
		set_r active.maxentries "pass; IXFR records: $(grep -o 'IXFR of [0-9]* records' "$tout" | awk '{print $3}' | paste -sd, -)"
	else
		set_r active.maxentries "FAILED (see $tout)"
	fi
}

scenario_axfr() {
	local dir=$RUN/axfr bport=$((PORT + 5)) zone=$POLICY.rpz.$ZONE i
	command -v named >/dev/null || { log "axfr: named (bind9) is not installed: skipped"; return; }
	mkdir -p "$dir"
	port_free "$bport" || die "port $bport is in use"
	mkdir -p "$dir/feeds"
	cp "$DATA/feeds/"{v4,v6,dom}.txt "$dir/feeds/"
	threatstop_corefile "$dir/Corefile" "$dir/feeds" 1 1s
	# Signed transfers, as customers fetch their zones (and only signed messages keep name compression).
	local secret=YmVuY2gta2V5LW9mLTMyLWJ5dGVzLWZvci1obWFjLXNoYQ==
	sed -i "0,/^    bind 127.0.0.1\$/s//    bind 127.0.0.1\n    tsig {\n        secret bench.key. $secret\n    }\n    transfer {\n        to *\n    }/; 0,/^            lists v4 v6 dom\$/s//            lists v4 v6 dom\n            keys bench.key./" "$dir/Corefile"
	AXFR_KEY=hmac-sha256:bench.key.:$secret
	log "axfr: threatstop, $zone"
	start_server axfr-threatstop "$SERVER_CPU" "$TS" -conf "$dir/Corefile"
	wait_answer "$DATA/probes.txt" 127.0.0.2 >/dev/null || die "axfr: threatstop did not answer"
	axfr_best threatstop "$PORT" "$zone" "$dir"
	axfr_ixfr "$zone" "$dir"
	stop_server
	# The same records as a zone file (the transfer without its closing SOA), served by BIND.
	grep -v '^;' "$dir/threatstop.axfr1.txt" | sed '/^$/d' | grep -v '[[:space:]]TSIG[[:space:]]' | sed '$d' >"$dir/$zone.zone"
	cat >"$dir/named.conf" <<-EOF
		options {
		    directory "$dir";
		    pid-file "$dir/named.pid";
		    session-keyfile "$dir/session.key";
		    listen-on port $bport { 127.0.0.1; };
		    listen-on-v6 { none; };
		    recursion no;
		};
		key bench.key. { algorithm hmac-sha256; secret "$secret"; };
		zone "$zone" { type primary; file "$dir/$zone.zone"; allow-transfer { key bench.key.; }; };
	EOF
	log "axfr: BIND $(named -v | awk '{print $2}'), the same $(wc -l <"$dir/$zone.zone") records from a file"
	note_cmd "taskset -c $SERVER_CPU named -g -c ${dir#"$ROOT"/}/named.conf"
	local t0 loaded
	t0=$(date +%s%N)
	taskset -c "$SERVER_CPU" named -g -c "$dir/named.conf" >"$dir/named.log" 2>&1 &
	SPID=$!
	for i in $(seq 1200); do
		dig +tries=1 +time=1 -p "$bport" @127.0.0.1 "$zone" SOA 2>/dev/null | grep -q 'status: NOERROR' && break
		kill -0 "$SPID" 2>/dev/null || die "axfr: named exited, see $dir/named.log"
		sleep 0.1
	done
	loaded=$(calc %.2f "($(date +%s%N) - $t0) / 1e9")
	set_r axfr.bind.load_s "$loaded"
	axfr_best bind "$bport" "$zone" "$dir"
	set_r axfr.bind.rss_kb "$(rss_kb "$SPID")"
	stop_server
}

# axfr_ixfr ZONE DIR: 100 new IPv4 entries in the feed, then an IXFR from the serial before: the first
# answer (which computes the difference) and a second one (from the journal's cache).
axfr_ixfr() {
	local zone=$1 dir=$2 s0 s1 i t0 k
	s0=$(dig +short -p "$PORT" @127.0.0.1 "$zone" SOA | awk '{print $3}')
	awk 'BEGIN { for (i = 0; i < 100; i++) printf "100.%d.%d.%d/32\n", 128 + int(i / 65536) % 64, int(i / 256) % 256, i % 256 }' >>"$dir/feeds/v4.txt"
	for i in $(seq 100); do
		s1=$(dig +short -p "$PORT" @127.0.0.1 "$zone" SOA | awk '{print $3}')
		[[ -n $s1 && $s1 != "$s0" ]] && break
		sleep 0.2
	done
	[[ $s1 != "$s0" ]] || die "axfr: the serial did not move after the feed change"
	for k in first cached; do
		note_cmd "taskset -c $CLIENT_CPU dig +tcp -y hmac-sha256:bench.key.:SECRET -p $PORT @127.0.0.1 $zone IXFR=SERIAL"
		t0=$(date +%s%N)
		taskset -c "$CLIENT_CPU" dig +tcp -y "$AXFR_KEY" -p "$PORT" @127.0.0.1 "$zone" "IXFR=$s0" >"$dir/ixfr.$k.txt"
		set_r "ixfr.$k.s" "$(calc %.3f "($(date +%s%N) - $t0) / 1e9")"
	done
	set_r ixfr.records "$(sed -n 's/^;; XFR size: \([0-9]*\) records.*/\1/p' "$dir/ixfr.first.txt")"
	set_r ixfr.bytes "$(sed -n 's/^;; XFR size: .* bytes \([0-9]*\).*/\1/p' "$dir/ixfr.first.txt")"
	log "axfr: IXFR of a 100-entry change: $(get_r ixfr.records) records, $(get_r ixfr.bytes) bytes, $(get_r ixfr.first.s) s first, $(get_r ixfr.cached.s) s again"
}

# axfr_best NAME PORT ZONE DIR: AXFR_RUNS transfers with dig; records the best time, the records and bytes.
axfr_best() {
	local name=$1 port=$2 zone=$3 dir=$4 i t0 s best=
	for ((i = 1; i <= ${AXFR_RUNS:-3}; i++)); do
		note_cmd "taskset -c $CLIENT_CPU dig +tcp -y hmac-sha256:bench.key.:SECRET -p $port @127.0.0.1 $zone AXFR"
		t0=$(date +%s%N)
		taskset -c "$CLIENT_CPU" dig +tcp -y "$AXFR_KEY" -p "$port" @127.0.0.1 "$zone" AXFR >"$dir/$name.axfr$i.txt"
		s=$(calc %.3f "($(date +%s%N) - $t0) / 1e9")
		if [[ -z $best || $(calc %d "$s < $best") == 1 ]]; then best=$s; fi
	done
	grep -q '^;; XFR size' "$dir/$name.axfr1.txt" || die "axfr: no transfer from $name, see $dir/$name.axfr1.txt"
	set_r "axfr.$name.s" "$best"
	set_r "axfr.$name.records" "$(sed -n 's/^;; XFR size: \([0-9]*\) records.*/\1/p' "$dir/$name.axfr1.txt")"
	set_r "axfr.$name.bytes" "$(sed -n 's/^;; XFR size: .* bytes \([0-9]*\).*/\1/p' "$dir/$name.axfr1.txt")"
	set_r "axfr.$name.messages" "$(sed -n 's/^;; XFR size: .*messages \([0-9]*\),.*/\1/p' "$dir/$name.axfr1.txt")"
	log "axfr: $name $(get_r "axfr.$name.records") records, $(get_r "axfr.$name.bytes") bytes in $best s (best of ${AXFR_RUNS:-3})"
}

# ---------- report ----------

fmt_ms() { if num "${1:-}"; then calc %.3f "$1"; else echo n/a; fi; }
fmt_mb() { if num "${1:-}"; then calc %.1f "$1 / 1024"; else echo n/a; fi; }
fmt_k() { if num "${1:-}"; then calc %.1fk "$1 / 1000"; else echo n/a; fi; }
verdict() { if [[ $1 == n/a ]]; then echo n/a; elif [[ $(calc %d "$1 $2") == 1 ]]; then echo yes; else echo NO; fi; }

server_label() {
	case $1 in
	rbldnsd) echo "rbldnsd (ip4trie, ip6trie, dnset)" ;;
	threatstop) echo "threatstop (policy over the 3 feeds)" ;;
	whoami) echo "ceiling: CoreDNS whoami" ;;
	template) echo "ceiling: CoreDNS template" ;;
	*) echo "$1" ;;
	esac
}

main_table() {
	local series s k lost
	echo "| series | server | QPS median | QPS min | QPS max | lost % at max QPS | p50 ms | p99 ms | p99.9 ms | lost at $LAT_QPS QPS (all runs) | RSS MB | start → first answer s | answers |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for series in single multi; do
		[[ " $SCENARIOS " == *" $series "* ]] || continue
		for s in $SERVERS; do
			k=$series.$s
			lost=$(get_r "$k.lost")
			echo "| $series | $(server_label "$s") | $(get_r "$k.qps") | $(get_r "$k.qps_min") | $(get_r "$k.qps_max") | $(get_r "$k.qps_lost_pct") | $(fmt_ms "$(get_r "$k.p50_ms")") | $(fmt_ms "$(get_r "$k.p99_ms")") | $(fmt_ms "$(get_r "$k.p999_ms")") | $lost | $(fmt_mb "$(get_r "$k.rss_kb")") | $(get_r "$k.start_s") | $(get_r "$k.answers") |"
		done
		for s in rbldnsd whoami template; do
			[[ " $SERVERS " == *" $s "* && " $SERVERS " == *" threatstop "* ]] || continue
			local t=$series.threatstop o=$series.$s
			echo "| $series | **ratio threatstop / $s** | **$(ratio "$(get_r "$t.qps")" "$(get_r "$o.qps")")** | | | | $(ratio "$(get_r "$t.p50_ms")" "$(get_r "$o.p50_ms")") | $(ratio "$(get_r "$t.p99_ms")" "$(get_r "$o.p99_ms")") | | | $(ratio "$(get_r "$t.rss_kb")" "$(get_r "$o.rss_kb")") | $(ratio "$(get_r "$t.start_s")" "$(get_r "$o.start_s")") | |"
		done
	done
}

extra_table() {
	local entries=$((V4 + V6 + DOM))
	local e1 e0 added rb hl1 hl0
	echo "| measurement | value | target | met |"
	echo "|---|---:|---|---|"
	if [[ " $SCENARIOS " == *" single "* ]]; then
		local rw
		rw=$(ratio "$(get_r single.threatstop.qps)" "$(get_r single.whoami.qps)")
		echo "| DNSBL QPS on one core: threatstop / CoreDNS whoami (same run) | $rw | ≥ 0.90 | $(verdict "$rw" ">= 0.9") |"
	fi
	if [[ " $SCENARIOS " == *" single "* && " $SCENARIOS " == *" multi "* ]]; then
		local rm met
		rm=$(ratio "$(get_r multi.threatstop.qps)" "$(get_r single.rbldnsd.qps)")
		if cpus_overlap "$ALL_CPUS" "$MC_CLIENT_CPUS"; then
			met="n/a: on $NCPU cores the server shares CPU $MC_CLIENT_CPUS with dnsperf"
		else
			met=$(verdict "$rm" "> 1")
		fi
		echo "| DNSBL QPS: threatstop on CPUs $ALL_CPUS / rbldnsd on one core (single-threaded) | $rm ($(get_r multi.threatstop.qps) / $(get_r single.rbldnsd.qps)) | > 1 | $met |"
	fi
	if [[ " $SCENARIOS " == *" memory "* ]]; then
		e0=$(get_r memory.empty.rss_kb) e1=$(get_r memory.one.rss_kb)
		added=n/a
		num "$e0" && num "$e1" && added=$((e1 - e0))
		rb=$(get_r single.rbldnsd.rss_kb)
		hl1=$(live_heap memory.one) hl0=$(live_heap memory.empty)
		echo "| threatstop RSS, empty feeds (after ${MEM_LOAD_S} s of load) | $(fmt_mb "$e0") MB | | |"
		echo "| threatstop RSS, data set loaded, 1 policy (same sequence) | $(fmt_mb "$e1") MB | | |"
		echo "| RSS added by loading the data set ($entries entries) | $(fmt_mb "$added") MB | | |"
		echo "| rbldnsd whole RSS after load (single series) | $(fmt_mb "$rb") MB | | |"
		echo "| ratio: threatstop RSS added / rbldnsd RSS | $(ratio "$added" "$rb") | | |"
		echo "| threatstop RSS bytes per entry (added RSS / entries) | $(if num "$added"; then calc %.0f "$added * 1024 / $entries"; else echo n/a; fi) | | |"
		echo "| rbldnsd RSS bytes per entry (whole RSS / entries) | $(if num "$rb"; then calc %.0f "$rb * 1024 / $entries"; else echo n/a; fi) | | |"
		echo "| threatstop live heap bytes per entry (go_memstats_next_gc_bytes × 100 / (100 + GOGC), loaded − empty) | $(if num "$hl1" && num "$hl0"; then calc %.0f "($hl1 - $hl0) / $entries"; else echo n/a; fi) | | |"
		echo "| GOGC in force (go_gc_gogc_percent; the binary's default 50), empty / loaded | $(get_r memory.empty.gogc) / $(get_r memory.one.gogc) | | |"
		echo "| threatstop heap_alloc bytes per entry (loaded − empty; includes garbage not yet collected) | $(if num "$(get_r memory.one.heap_alloc)" && num "$(get_r memory.empty.heap_alloc)"; then calc %.0f "($(get_r memory.one.heap_alloc) - $(get_r memory.empty.heap_alloc)) / $entries"; else echo n/a; fi) | | |"
		local r1000
		r1000=$(ratio "$(get_r memory.many.rss_kb)" "$e1")
		echo "| threatstop RSS with $POLICIES policies over the same feeds | $(fmt_mb "$(get_r memory.many.rss_kb)") MB | | |"
		echo "| ratio: RSS $POLICIES policies / 1 policy (RSS moves by ±10% with the moment of the last GC) | $r1000 | ≤ 1.2 | $(verdict "$r1000" "<= 1.2") |"
		local h1000
		h1000=$(ratio "$(live_heap memory.many)" "$hl1")
		echo "| ratio: live heap $POLICIES policies / 1 policy | $h1000 | ≤ 1.2 | $(verdict "$h1000" "<= 1.2") |"
		echo "| start → first answer with $POLICIES policies | $(get_r memory.many.start_s) s | | |"
	fi
	if [[ " $SCENARIOS " == *" single "* ]]; then
		local rs
		rs=$(ratio "$(get_r single.threatstop.start_s)" "$(get_r single.rbldnsd.start_s)")
		echo "| start → first correct answer: threatstop / rbldnsd | $rs ($(get_r single.threatstop.start_s) s / $(get_r single.rbldnsd.start_s) s) | ≤ 3 | $(verdict "$rs" "<= 3") |"
		echo "| threatstop peak RSS (VmHWM) during start and load | $(fmt_mb "$(get_r single.threatstop.hwm_kb)") MB | | |"
	fi
	if [[ " $SCENARIOS " == *" rebuild "* ]]; then
		local b
		b=$(get_r rebuild.build_max_s)
		echo "| snapshot build at start-up (all feeds) | $(get_r rebuild.startup_build_s) s | | |"
		echo "| snapshot rebuild after a feed change, median of $REBUILDS (max) | $(get_r rebuild.build_s) s ($b s) | < 3 s | $(verdict "$b" "< 3") |"
		echo "| feed renamed → new entry answered (refresh 100ms: read, parse, rebuild, swap), median (max) | $(get_r rebuild.e2e_s) s ($(get_r rebuild.e2e_max_s) s) | | |"
		echo "| threatstop peak RSS (VmHWM) across the rebuilds | $(fmt_mb "$(get_r rebuild.hwm_kb)") MB | | |"
	fi
	if [[ " $SCENARIOS " == *" refresh "* ]]; then
		local n w fail
		n="median of $LAT_RUNS run(s) on a fresh server each"
		for w in still rewrite; do
			echo "| offered $LAT_QPS QPS for $REFRESH_S s, $(if [[ $w == still ]]; then echo "feeds unchanged"; else echo "IPv4 feed rewritten every second ($(get_r refresh.rebuilds) rebuilds in all, $(get_r refresh.build_s) s each)"; fi): achieved QPS; p50 / p99 / p99.9 / max ms, $n | $(refresh_field $w qps); $(refresh_field $w p50_ms) / $(refresh_field $w p99_ms) / $(refresh_field $w p999_ms) / $(refresh_field $w max_ms) | | |"
		done
		echo "| ratio: p99 rewritten / unchanged, server on CPUs $REFRESH_CPUS (GOMAXPROCS=$REFRESH_PROCS), median of the runs' ratios (each run: $(get_r refresh.ratios)) | $(get_r refresh.ratio) | ≤ 1.5 | $(verdict "$(get_r refresh.ratio)" "<= 1.5") |"
		fail=$(refresh_sum rewrite lost other_rcode)
		echo "| failed queries (lost + SERVFAIL/other rcodes), unchanged → rewritten, all runs | $(refresh_sum still lost other_rcode) of $(refresh_sum still sent) → $fail of $(refresh_sum rewrite sent) | 0 | $(if ((fail == 0)); then echo yes; else echo NO; fi) |"
		echo "| answers that changed rcode with the rewritten entries (expected: ~1% of the IPv4 entries per rewrite), all runs | $(refresh_sum rewrite wrong) of $(refresh_sum rewrite checked) | | |"
		echo "| threatstop peak RSS (VmHWM) with rebuilds every second, highest of the runs | $(fmt_mb "$(get_r refresh.hwm_kb)") MB | | |"
	fi
	if [[ " $SCENARIOS " == *" firewall "* ]]; then
		local fr
		fr=$(ratio "$(get_r firewall.firewall.qps)" "$(get_r firewall.resolver.qps)")
		echo "| resolver chain (cache + forward), answers from the cache: QPS median (min, max) | $(get_r firewall.resolver.qps) ($(get_r firewall.resolver.qps_min), $(get_r firewall.resolver.qps_max)) | | |"
		echo "| same chain with the in-line firewall (1 policy over the data set; $(get_r firewall.listed_pct)% of names listed, blocked: $(get_r firewall.firewall.nx_pct1)%) | $(get_r firewall.firewall.qps) ($(get_r firewall.firewall.qps_min), $(get_r firewall.firewall.qps_max)) | | |"
		echo "| ratio: with firewall / without | $fr | ≥ 0.90 | $(verdict "$fr" ">= 0.9") |"
	fi
	if [[ " $SCENARIOS " == *" admin "* ]]; then
		echo "| management API: edit → DNS answer with 10,000 policies, p50 / p99 of $ADMIN_EDITS edits (\`BenchmarkEditVisible\`) | $(get_r admin.p50-ms) ms / $(get_r admin.p99-ms) ms | p99 < 1 s | $(verdict "$(get_r admin.p99-ms)" "< 1000") |"
		echo "| edits a second held over $ADMIN_SUSTAINED edits at 100/s, DNS answers failed meanwhile (of $(get_r admin.qps) QPS) (\`BenchmarkSustainedEdits\`) | $(get_r admin.edits/s) /s, $(get_r admin.failed) failed | 100/s, 0 failed | $(verdict "$(get_r admin.failed)" "== 0") |"
		echo "| RSS with 10,000 policies made through the API / with 1 ($(get_r admin.rss-10k-MB) MB / $(get_r admin.rss-1-MB) MB, in-process after a GC; $(get_r admin.heap-B/policy) B of heap a policy) (\`BenchmarkPoliciesRSS\`) | $(get_r admin.ratio) | ≤ 1.2 | $(verdict "$(get_r admin.ratio)" "<= 1.2") |"
		echo "| the same 10,000 policies after a restart over the same database (RssAnon ratio $(get_r admin.anon-ratio-restarted); the rest is the database's file pages read at start) (\`BenchmarkPoliciesRSS\`) | $(get_r admin.ratio-restarted) | | |"
		echo "| edges: an edit on an aggregator with 10,000 policies → the answer of an edge that follows its configuration zone, p50 / p99 of $ADMIN_EDITS edits; the first transfer of all 10,000 $(get_r follow.first-ms) ms (\`BenchmarkFollow\`) | $(get_r follow.p50-ms) ms / $(get_r follow.p99-ms) ms | p99 < 2 s | $(verdict "$(get_r follow.p99-ms)" "< 2000") |"
	fi
	if [[ " $SCENARIOS " == *" active "* ]]; then
		local ar
		ar=$(ratio "$(get_r active.Build.ms)" "$(get_r active.BuildUnscored.ms)")
		echo "| snapshot build of BenchmarkBuild's 2.1M entries with scores / without, medians of $ACTIVE_COUNT ($(get_r active.Build.ms) ms / $(get_r active.BuildUnscored.ms) ms; heap $(get_r active.Build.bpe) / $(get_r active.BuildUnscored.bpe) B an entry) (\`BenchmarkBuild\`) | $ar | ≤ 1.2 | $(verdict "$ar" "<= 1.2") |"
		echo "| max_entries 1000 over the data set: exactly the 1,000 highest scored; two refreshes moving 3 entries across the cut (\`TestMaxEntriesBenchData\`) | $(get_r active.maxentries) | 6,6 | $([[ $(get_r active.maxentries) == "pass; IXFR records: 6,6" ]] && echo yes || echo NO) |"
	fi
	if [[ " $SCENARIOS " == *" axfr "* ]]; then
		echo "| AXFR of policy $POLICY's RPZ zone ($(get_r axfr.threatstop.records) records): threatstop, best of ${AXFR_RUNS:-3} (bytes, messages) | $(get_r axfr.threatstop.s) s ($(get_r axfr.threatstop.bytes) B, $(get_r axfr.threatstop.messages)) | | |"
		echo "| same records from BIND as a primary (bytes, messages; BIND loaded the zone in $(get_r axfr.bind.load_s) s, RSS $(fmt_mb "$(get_r axfr.bind.rss_kb)") MB) | $(get_r axfr.bind.s) s ($(get_r axfr.bind.bytes) B, $(get_r axfr.bind.messages)) | | |"
		echo "| ratio: AXFR time threatstop / BIND; bytes threatstop / BIND | $(ratio "$(get_r axfr.threatstop.s)" "$(get_r axfr.bind.s)"); $(ratio "$(get_r axfr.threatstop.bytes)" "$(get_r axfr.bind.bytes)") | | |"
		echo "| IXFR of a 100-entry change: records, bytes; time of the first answer (computes the difference) and of a second one | $(get_r ixfr.records) records, $(get_r ixfr.bytes) B; $(get_r ixfr.first.s) s, $(get_r ixfr.cached.s) s | | |"
	fi
}

machine() {
	echo "| | |"
	echo "|---|---|"
	echo "| CPU | $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread per core) |"
	echo "| memory | $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |"
	echo "| kernel | $(uname -sr)$([[ $(cat /sys/kernel/mm/damon/admin/kdamonds/0/state 2>/dev/null) == on ]] && echo "; DAMON kdamond running (a guest memory-reclaim daemon: a source of noise)") |"
	echo "| Go | $(go version | awk '{print $3, $4}') |"
	echo "| dnsperf | $(dpkg-query -W -f='${Version}' dnsperf 2>/dev/null || dnsperf -h 2>&1 | sed -n 's/^Version //p') |"
	echo "| rbldnsd | $(dpkg-query -W -f='${Version}' rbldnsd 2>/dev/null || echo '?') |"
	echo "| threatstop | CoreDNS $(sed -n 's/^CoreDNS-//p' "$RUN/single.threatstop.log" 2>/dev/null | head -1) build, commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo " + uncommitted changes in $(git status --porcelain | wc -l) files") |"
}

report() {
	local took=$1 tmp=$RUN/report.md
	{
		echo "# Benchmarks"
		echo
		echo "Generated by \`bench/run.sh $MODE\` (\`make bench$([[ $MODE == quick ]] && echo -quick)\`) on $(date -u '+%Y-%m-%d %H:%M UTC'); the run took $took s."
		echo "Runs vary by up to 1.5× between passes on this kind of machine: compare within one run, by the ratios."
		if ((${#VOID[@]} > 0)); then
			echo
			echo "**VOID: wrong answers from ${VOID[*]}; their numbers do not count.**"
		fi
		echo
		echo "## Machine"
		echo
		machine
		echo
		echo "## Data set"
		echo
		echo "Generated by \`bench/gen\` with seed $SEED: $V4 IPv4 prefixes, $V6 IPv6 prefixes, $DOM domains ($(calc %.0f "$WILD * 100")% cover their subdomains: \`*.name\` for threatstop, \`.name\` for rbldnsd). Every entry lies outside the ranges threatfeed's guards drop, so both servers hold the same entries."
		echo
		echo "* IPv4 prefix lengths: \`$(sed -n 's/^ipv4_bits=//p' "$DATA/meta.txt")\`"
		echo "* IPv6 prefix lengths: \`$(sed -n 's/^ipv6_bits=//p' "$DATA/meta.txt" | tr ',' '\n' | awk -F: '{split($1,b,"/"); l=b[2]; k=(l<32?"/17-31":l==32?"/32":l<48?"/33-47":l==48?"/48":l<64?"/49-63":l==64?"/64":l<128?"/65-127":"/128"); c[k]+=$2; if(!(k in o)){o[k]=++n; ord[n]=k}} END {for(i=1;i<=n;i++) printf "%s%s:%d", (i>1?",":""), ord[i], c[ord[i]]}')\`"
		echo "* Queries: $(sed -n 's/^queries=//p' "$DATA/meta.txt") A queries ($(sed -n 's/^queries_v4=//p' "$DATA/meta.txt") IPv4, $(sed -n 's/^queries_v6=//p' "$DATA/meta.txt") IPv6 as 32 nibbles, $(sed -n 's/^queries_dom=//p' "$DATA/meta.txt") domains), $(sed -n 's/^queries_listed=//p' "$DATA/meta.txt") of them listed; names \`…$SUFFIX\`."
		echo "* Known answers: $(sed -n 's/^known_answers=//p' "$DATA/meta.txt") names ($(sed -n 's/^known_answers_listed=//p' "$DATA/meta.txt") listed) sampled from the queries plus edge cases (first/last address of prefixes and their neighbours, addresses inside the broadest prefixes, deep names below wildcards, subdomains of exact-only names, upper case); every server must answer each with the right rcode and A set, and every query of the latency runs with the right rcode, or its results are void."
		echo
		echo "## Results"
		echo
		echo "**single**: server on CPU $SERVER_CPU (\`taskset -c $SERVER_CPU\`; Go sets GOMAXPROCS=1), dnsperf on CPU $CLIENT_CPU with \`$DNSPERF_ARGS\`. **multi**: server on CPUs $ALL_CPUS, dnsperf on CPU $MC_CLIENT_CPUS with \`$MC_DNSPERF_ARGS\` (rbldnsd is single-threaded). QPS: $RUNS runs of $RUN_S s each, median (min, max). Latency: $LAT_RUNS run(s) at a fixed offered load of $LAT_QPS QPS for $LAT_S s each$( ((MC_LAT_S > 0)) || echo " (single series only)"), median of the runs' percentiles of every query's latency from \`dnsperf -v\`. RSS: VmRSS after the load runs. Start: from the exec of the server to the first correct answer to a listed IPv4, IPv6 and domain name, polled every 2 ms."
		echo
		main_table
		echo
		echo "### Memory, start-up, rebuild and refresh under load (threatstop, server on CPU $SERVER_CPU; refresh on CPUs $REFRESH_CPUS)"
		echo
		extra_table
		echo
		echo "## Method"
		echo
		cat <<-'EOF'
			* **Latency.** dnsperf 2.10 prints only the average and standard deviation (its latency histogram
			  came in later versions), but with `-v` it prints every answer with its latency in microseconds
			  (`> NOERROR name A 0.000123`). The latency runs use the same dnsperf settings with `-Q` (a fixed
			  offered load) and `-v`; `bench/dnsbench parse` reads that output, computes p50/p99/p99.9/max over
			  every answered query, counts lost queries and rcodes, and checks every answer's rcode against the
			  generator's expectation for that name. The printing costs dnsperf CPU on its own core only; at
			  10k QPS dnsperf is far from saturated. Latency is measured by dnsperf, from send to receive, so it
			  includes the loopback path and dnsperf's own scheduling, the same for every server.
			* **Fairness.** The same query file, dnsperf settings and pinning for every server. Answers are
			  comparable in size: rbldnsd runs with `-a` (no NS records in the authority section of positive
			  answers, as threatstop) and with an `$SOA` so that NXDOMAIN answers carry an SOA, as threatstop's
			  do; only A queries are asked. The threatstop server block has only `threatfeed`, `threatstop` and
			  `ready` (no `log`, no `prometheus`: both cost per query); its metrics come from a second server block
			  on another port, whose `prometheus` endpoint serves the process-wide registry.
			* **dnsperf** runs with `-t 1` besides the settings above: a query unanswered after 1 s on loopback
			  is lost (with the default 5 s, every run would wait 5 s at its end for the few datagrams the
			  kernel dropped: at maximum load the server's socket buffer overflows now and then, which
			  `nstat UdpRcvbufErrors` shows; those are the "lost % at max QPS"). Each run is also bounded in count
			  (`-n 1000` passes over the file).
			* **The multi series** gives the server every core, but on a 2-core machine dnsperf (on CPU 1) then
			  competes with it: it shows whether the server scales past one core, not a ceiling. rbldnsd is
			  single-threaded; Go sets GOMAXPROCS to the cores in the affinity mask.
			* **Answers**: `ok (N)` means all N known answers matched (rcode and set of A records; for the
			  ceilings, NOERROR with the fixed answer) and every rcode under load matched too.
			* **The ceiling** is the same binary with one server block that answers every name through a stock
			  plugin: `whoami` (NOERROR, the client's address and port in the additional section) and
			  `template` (an A record 127.0.0.2 for every name). No plugin chain can answer faster than these.
			* **Memory.** RSS added by the data set = VmRSS of threatstop with the data set minus VmRSS of the
			  same binary and Corefile with empty feed files, both after the same sequence (start, known answers,
			  one dnsperf run); compared with rbldnsd's whole RSS. Live heap is estimated as
			  `go_memstats_next_gc_bytes × 100 / (100 + GOGC)` (the heap goal is the heap marked live by the
			  last GC plus GOGC percent; the threatstop binary runs with GOGC=50 unless GOGC or GOMEMLIMIT is set, `go_gc_gogc_percent`);
			  `go_memstats_heap_alloc_bytes` also counts garbage not collected yet.
			* **Rebuild.** `coredns_threatfeed_snapshot_build_duration_seconds` (sum and count before and after
			  each change): compiling every feed into a new snapshot. The end-to-end time adds the refresh poll
			  (100 ms ± 10%), reading and parsing the changed feed, and the swap.
			* **Refresh under load.** The IPv4 feed is replaced every second (a pre-generated version hard-linked
			  to a temporary name, then renamed over the feed), each version with 1% more of its lines replaced,
			  while dnsperf offers a fixed load; compared with the run just before it on the same server, without
			  changes. Each pair runs on a fresh server on two cores (`REFRESH_CPUS`, GOMAXPROCS=2: the Go
			  scheduler runs queries beside the rebuild; dnsperf on `REFRESH_CLIENT_CPU`, which on a 2-core
			  machine is one of the server's), as many times as the latency runs, and the ratio is the median of
			  the pairs'.
			* **Firewall.** The resolver chain `cache` + `forward` to a local upstream (the same binary with the
			  `file` plugin and a `template` for other names, on the client's CPU), with and without the in-line
			  firewall of one policy over the whole data set, on 5,000 names that fit in the cache (one warm-up
			  pass first, so every measured answer comes from the cache): 30% of them listed, by their answer
			  address or by name. The share of NXDOMAIN answers must equal the listed share through the firewall
			  and be 0 without it, or the run is void.
			* **Management API.** The Go benchmarks of plugin/threatadmin with `THREATSTOP_BENCH_FEEDS` set
			  to the data set's feeds: in-process servers over the same entries, 10,000 policies in the
			  Corefile (edits) or 1 in the Corefile and 9,999 made by `POST /api/v1/policies` (RSS, VmRSS after
			  `runtime.GC` and `debug.FreeOSMemory`, so without GC headroom), the API on loopback. An edit is
			  timed from the POST to the first DNS answer that shows it; the sustained run sends one edit every
			  10 ms from four clients to the customer's three policies in turn while another client asks other
			  policies' listed and clean names over UDP.
			* **AXFR.** The policy's RPZ zone by AXFR with dig (TCP, TSIG-signed), best of 3: from threatstop, which renders it
			  from the snapshot at transfer time, and from BIND serving the same records (the first transfer
			  written to a zone file) as a primary; both servers on the server CPU.
		EOF
		echo
		echo "## Commands"
		echo
		echo "Exact commands of this run, in order (repeated runs once); every log, Corefile, dnsperf output and raw result of the run is in \`${RUN#"$ROOT"/}/\` (gitignored)."
		echo
		echo '```sh'
		awk '!seen[$0]++' "$RUN/commands.txt" | sed "s|$ROOT/||g"
		echo '```'
		echo
		echo "threatstop Corefile (\`$(basename "$RUN")/threatstop.Corefile\`; the memory scenario adds policies \`q1\` … \`q$((POLICIES - 1))\` with the same \`lists\`, the rebuild and refresh scenarios set \`refresh 100ms\` and \`refresh 1s\`):"
		echo
		echo '```'
		sed "s|$ROOT/||g" "$RUN/threatstop.Corefile" 2>/dev/null || echo "(not run)"
		echo '```'
		echo
		echo "Ceilings:"
		echo
		echo '```'
		cat "$RUN/whoami.Corefile" "$RUN/template.Corefile" 2>/dev/null || echo "(not run)"
		echo '```'
	} >"$tmp"
	cp "$tmp" "$REPORT"
	log "report written to ${REPORT#"$ROOT"/}"
	echo
	sed -n '/^## Results/,/^## Method/p' "$tmp" | sed '$d'
}

# ---------- main ----------

main() {
	local t0=$SECONDS
	rm -rf "$RUN"
	mkdir -p "$RUN"
	: >"$RUN/commands.txt"
	: >"$RUN/results.env"
	ensure_packages
	build
	generate
	local sc
	for sc in $SCENARIOS; do
		declare -F "scenario_$sc" >/dev/null || die "unknown scenario $sc"
		"scenario_$sc"
	done
	report $((SECONDS - t0))
	if ((${#VOID[@]} > 0)); then
		die "wrong answers from ${VOID[*]}: results void"
	fi
}

main
