#!/usr/bin/env bash
# Benchmark (prints figures, asserts nothing): `supplygate check` resolving 500 distinct image
# references in 50 Deployments against a local docker-registry, next to skopeo inspecting the
# same references at 2-way parallelism. Reports median wall time and HTTP requests, both as
# supplygate counts them (`.stats.requests` of the JSON report) and as the registry's access
# log sees them (the like-for-like number for both clients).
#
#   benches/resolve.sh                 # RUNS=5 IMAGES=500 REPOS=25
#   RUNS=3 SKIP_BUILD=1 benches/resolve.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
IMAGES=${IMAGES:-500}        # distinct images, one tag each
REPOS=${REPOS:-25}           # spread over this many repositories
PER_FILE=${PER_FILE:-10}     # containers per Deployment
BIN=${SUPPLYGATE_BIN:-target/release/supplygate}  # another binary: set SKIP_BUILD=1 too

for tool in docker-registry skopeo python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (tests/run.sh installs docker-registry and skopeo)" >&2; exit 2; }
done

work=$(mktemp -d -t supplygate-bench-XXXXXX)
registry_pid=""
cleanup() {
  if [[ -n $registry_pid ]]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  cargo build --release --locked >&2
fi

# --- registry --------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $work/data
  delete:
    enabled: true
http:
  addr: $host
EOF
docker-registry serve "$work/registry.yml" >"$work/access.log" 2>"$work/registry.log" &
registry_pid=$!

http_get() { # prints the HTTP status of GET http://$host$1 (000 when nothing answers)
  python3 - "$host" "$1" <<'EOF'
import http.client, sys
try:
    c = http.client.HTTPConnection(sys.argv[1], timeout=5)
    c.request("GET", sys.argv[2])
    print(c.getresponse().status)
except OSError:
    print("000")
EOF
}

for _ in $(seq 200); do
  [[ $(http_get /v2/) == 200 ]] && break
  kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; exit 2; }
  sleep 0.1
done
[[ $(http_get /v2/) == 200 ]] || { echo "registry did not start:" >&2; cat "$work/registry.log" >&2; exit 2; }

# Requests the registry has logged so far: sends a marker request, waits until it is logged
# (so every request answered before is in the log), counts `/v2/` lines without markers.
marker=0
logged_requests() {
  marker=$((marker + 1))
  http_get "/v2/?bench-marker=$marker" >/dev/null
  for _ in $(seq 100); do
    grep -q "bench-marker=$marker " "$work/access.log" && break
    sleep 0.05
  done
  grep -E '"[A-Z]+ /v2/' "$work/access.log" | grep -vc bench-marker || true
}

# --- images, manifests, config ---------------------------------------------------------------
start=$(date +%s%N)
python3 benches/push_images.py "$host" "$IMAGES" "$REPOS" "$work/refs.txt"
echo "pushed $IMAGES images to $host in $(( ($(date +%s%N) - start) / 1000000 )) ms" >&2

mkdir "$work/manifests"
python3 - "$work/refs.txt" "$work/manifests" "$PER_FILE" <<'EOF'
import sys
refs = open(sys.argv[1]).read().split()
out, per_file = sys.argv[2], int(sys.argv[3])
for n, first in enumerate(range(0, len(refs), per_file)):
    containers = "".join(
        f"        - name: c{i}\n          image: {ref}\n"
        for i, ref in enumerate(refs[first:first + per_file])
    )
    with open(f"{out}/deploy-{n:03}.yaml", "w") as f:
        f.write(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{n}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app-{n}
  template:
    metadata:
      labels:
        app: app-{n}
    spec:
      containers:
{containers}""")
EOF
printf 'registries:\n  "%s":\n    insecure: true\n' "$host" >"$work/supplygate.yaml"
echo '{}' >"$work/skopeo-auth.json"

# --- runs ------------------------------------------------------------------------------------
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
: >"$work/results.txt"
for run in $(seq "$RUNS"); do
  before=$(logged_requests)
  t0=$(now_ms)
  status=0
  "$BIN" check "$work/manifests" --config "$work/supplygate.yaml" --format json \
    >"$work/report.json" 2>"$work/check.err" || status=$?
  if ((status != 0)); then
    echo "supplygate check failed (exit $status):" >&2
    head -c 2000 "$work/check.err" >&2
    head -c 2000 "$work/report.json" >&2
    exit 1
  fi
  t1=$(now_ms)
  ours_logged=$(( $(logged_requests) - before ))
  ours_reported=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["stats"]["requests"])' "$work/report.json")

  before=$(logged_requests)
  t2=$(now_ms)
  REGISTRY_AUTH_FILE="$work/skopeo-auth.json" xargs -P2 -I{} \
    skopeo inspect --tls-verify=false --format '{{.Digest}}' 'docker://{}' \
    <"$work/refs.txt" >"$work/skopeo.out"
  t3=$(now_ms)
  skopeo_logged=$(( $(logged_requests) - before ))
  # Two skopeo processes share the output file: count digests, not lines.
  resolved=$(grep -oE 'sha256:[0-9a-f]{64}' "$work/skopeo.out" | wc -l)
  [[ $resolved == "$IMAGES" ]] || { echo "skopeo resolved $resolved of $IMAGES" >&2; exit 1; }
  # Both clients must have found the same digests (all distinct, so compare the sets).
  python3 - "$work/report.json" "$work/skopeo.out" <<'EOF'
import json, re, sys
ours = sorted(i["digest"] or "" for i in json.load(open(sys.argv[1]))["images"])
theirs = sorted(re.findall(r"sha256:[0-9a-f]{64}", open(sys.argv[2]).read()))
if ours != theirs:
    sys.exit(f"supplygate and skopeo disagree on {len(set(ours) ^ set(theirs))} digests")
EOF

  echo "$((t1 - t0)) $ours_reported $ours_logged $((t3 - t2)) $skopeo_logged" >>"$work/results.txt"
  echo "run $run: supplygate $((t1 - t0)) ms, $ours_reported requests ($ours_logged logged); skopeo $((t3 - t2)) ms, $skopeo_logged logged" >&2
done

# --- figures ---------------------------------------------------------------------------------
python3 - "$work/results.txt" "$IMAGES" "$RUNS" "$(ls "$work/manifests" | wc -l)" <<'EOF'
import statistics, sys
rows = [list(map(int, line.split())) for line in open(sys.argv[1])]
images, runs, files = sys.argv[2], sys.argv[3], sys.argv[4]
med = [statistics.median(col) for col in zip(*rows)]
ours_ms, ours_req, ours_log, sko_ms, sko_log = med
print(f"{images} distinct image references in {files} Deployments, median of {runs} runs")
print(f"{'':28}{'wall time':>12}{'requests (report)':>20}{'requests (registry log)':>26}")
print(f"{'supplygate check':28}{ours_ms:>9.0f} ms{ours_req:>20.0f}{ours_log:>26.0f}")
print(f"{'skopeo inspect, xargs -P2':28}{sko_ms:>9.0f} ms{'-':>20}{sko_log:>26.0f}")
print(f"{'ratio skopeo / supplygate':28}{sko_ms / max(ours_ms, 1):>11.1f}x{'':>20}{sko_log / max(ours_log, 1):>25.1f}x")
EOF
