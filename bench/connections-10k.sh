#!/usr/bin/env bash
# Runs scenarios/connections-10k.toml as two processes (server + simulator) and
# reports peak resident memory (VmHWM) of both, their CPU time (user + system) and the
# CPU per 1,000 messages. Usage: bench/connections-10k.sh [OUT_DIR]
# Needs release binaries: cargo build --release -p switchboard-server -p switchboard-sim
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-reports/connections-10k}"
bin="${BIN:-target/release}"
tick=$(getconf CLK_TCK)

cpu_secs() { # utime + stime of PID in seconds
    awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"
}
hwm_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

addr_file=$(mktemp)
"$bin/switchboard-server" --listen 127.0.0.1:0 --admin-token bench \
    --max-connections 12000 >"$addr_file" 2>/tmp/connections-10k-server.log &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$addr_file"' EXIT
for _ in $(seq 50); do [ -s "$addr_file" ] && break; sleep 0.1; done
addr=$(head -1 "$addr_file")

"$bin/switchboard" run scenarios/connections-10k.toml --target "$addr" \
    --admin-token bench --out "$out" &
sim=$!
peak_conns=0
held=0 # seconds sampled with at least 11,000 connections established
sim_hwm=0
sim_cpu=0
while kill -0 "$sim" 2>/dev/null; do
    c=$(ss -Htn state established "( sport = :${addr##*:} )" 2>/dev/null | wc -l)
    [ "$c" -gt "$peak_conns" ] && peak_conns=$c
    [ "$c" -ge 11000 ] && held=$((held + 1))
    # Sample the simulator while it lives (its /proc entry goes with it).
    h=$(hwm_mib "$sim" 2>/dev/null || echo "$sim_hwm"); sim_hwm=${h:-$sim_hwm}
    s=$(cpu_secs "$sim" 2>/dev/null || echo "$sim_cpu"); sim_cpu=${s:-$sim_cpu}
    sleep 1
done
wait "$sim" && status=0 || status=$?
server_hwm=$(hwm_mib "$server")
server_cpu=$(cpu_secs "$server")
messages=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['messages']['sent'])" "$out/summary.json" 2>/dev/null || echo 0)
echo "simulator exit status: $status"
echo "peak established server-side connections: $peak_conns"
echo "seconds with >= 11,000 established (1 s samples): $held"
echo "peak RSS (VmHWM): server ${server_hwm} MiB, simulator ${sim_hwm} MiB, together $((server_hwm + sim_hwm)) MiB"
echo "CPU (user+sys): server ${server_cpu} s, simulator >= ${sim_cpu} s (last sample)"
echo "messages sent (relayed once each, from summary.json): $messages"
if [ "$messages" -gt 0 ]; then
    python3 -c "import sys; m=int(sys.argv[3]); print(f'CPU per 1,000 messages: server {float(sys.argv[1])*1000/m*1000:.1f} ms, simulator {float(sys.argv[2])*1000/m*1000:.1f} ms')" "$server_cpu" "$sim_cpu" "$messages"
fi
