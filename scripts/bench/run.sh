#!/usr/bin/env bash
# Benchmark `dropcast clean` against an encoding/csv program and pandas on a
# generated purchases CSV: wall time, CPU time, throughput and peak RSS of
# each, the ratios, and the CPU cost of a run forced into 12 segments.
#
#   scripts/bench/run.sh                  # 1,000,000 rows (~58 MB)
#   scripts/bench/run.sh --size 1G        # ~1 GiB file
#   scripts/bench/run.sh --rows 200000 --no-pandas
#
# DROPCAST_BIN=path uses a prebuilt dropcast instead of building ./cmd/dropcast.
# Needs Go, bc and /usr/bin/time; pandas from Debian (apt-get install -y python3-pandas).
set -euo pipefail

rows=1000000 size="" pandas=1 work="${BENCH_DIR:-/tmp/dropcast-bench}"
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --no-pandas) pandas=0; shift ;;
    --dir) work="$2"; shift 2 ;;
    *) echo "usage: $0 [--rows N | --size 58M|1G] [--no-pandas] [--dir DIR]" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
spec="$root/scripts/bench/purchases.spec.yaml"
mkdir -p "$work"
csv="$work/purchases.csv"
cd "$root"

echo "== generating $csv (${size:-$rows rows})"
if [ -n "$size" ]; then go run ./scripts/bench/gen -size "$size" -o "$csv"; else go run ./scripts/bench/gen -rows "$rows" -o "$csv"; fi
bytes=$(stat -c %s "$csv")
lines=$(($(wc -l < "$csv") - 1))
echo "   $bytes bytes, $lines data lines"

echo "== building"
if [ -n "${DROPCAST_BIN:-}" ]; then cp "$DROPCAST_BIN" "$work/dropcast"; else go build -o "$work/dropcast" ./cmd/dropcast; fi
go build -o "$work/stdcsv" ./scripts/bench/stdcsv

# measure NAME CMD...: runs CMD under /usr/bin/time, records wall, cpu, rss.
declare -A wall cpu rss
measure() {
  local name="$1"; shift
  local t="$work/$name.time"
  /usr/bin/time -f "%e %U %S %M" -o "$t" "$@" 2> "$work/$name.stderr" || {
    local rc=$?
    # dropcast clean exits 1 when rejects exceed the threshold: still a result.
    if [ "$name" != dropcast ] && [ "$name" != segmented ] || [ $rc -ne 1 ]; then
      echo "$name failed ($rc):"; cat "$work/$name.stderr"; exit 1
    fi
  }
  read -r w u s m < <(tail -1 "$t")
  wall[$name]=$w
  cpu[$name]=$(echo "$u + $s" | bc -l)
  rss[$name]=$m
  printf "   %-10s %s\n" "$name" "$(grep -v '^Command exited' "$work/$name.stderr" | tail -1)"
}

echo "== running"
head -1 "$csv" > "$work/empty.csv"
measure baseline "$work/dropcast" clean --spec "$spec" -o /dev/null "$work/empty.csv"
measure dropcast "$work/dropcast" clean --spec "$spec" -o "$work/clean.csv" --rejects "$work/rejects.csv" "$csv"
measure segmented "$work/dropcast" clean --spec "$spec" --segment-records $(( lines / 12 + 1 )) -o "$work/clean-seg.csv" --rejects "$work/rejects-seg.csv" "$csv"
measure stdcsv "$work/stdcsv" -o "$work/clean-std.csv" -rejects "$work/rejects-std.csv" "$csv"
if [ "$pandas" = 1 ]; then
  measure pandas /usr/bin/python3 scripts/bench/clean_pandas.py "$csv" "$work/clean-pd.csv" "$work/rejects-pd.csv"
fi

if cmp -s "$work/clean.csv" "$work/clean-seg.csv" && cmp -s "$work/rejects.csv" "$work/rejects-seg.csv"; then
  echo "   segmented output is byte-identical to the single run"
else
  echo "   SEGMENTED OUTPUT DIFFERS"; exit 1
fi
if cmp -s "$work/clean.csv" "$work/clean-std.csv"; then
  echo "   encoding/csv program wrote the same clean CSV"
else
  echo "   note: encoding/csv program's clean CSV differs from dropcast's"
fi

echo
mb=$(echo "$bytes / 1000000" | bc -l)
printf "%-10s %8s %8s %9s %9s %12s %12s\n" tool wall_s cpu_s MB/s_wall MB/s_cpu maxRSS_MB cpu_vs_dropcast
for n in baseline dropcast segmented stdcsv pandas; do
  [ -n "${wall[$n]:-}" ] || continue
  printf "%-10s %8.2f %8.2f %9.1f %9.1f %12.1f %11.2fx\n" "$n" "${wall[$n]}" "${cpu[$n]}" \
    "$(echo "$mb / ${wall[$n]}" | bc -l)" "$(echo "$mb / ${cpu[$n]}" | bc -l)" \
    "$(echo "${rss[$n]} / 1024" | bc -l)" "$(echo "${cpu[$n]} / ${cpu[dropcast]}" | bc -l)"
done
echo
echo "dropcast vs encoding/csv: $(printf %.2f "$(echo "${wall[stdcsv]} / ${wall[dropcast]}" | bc -l)")x wall, $(printf %.2f "$(echo "${cpu[stdcsv]} / ${cpu[dropcast]}" | bc -l)")x cpu"
if [ -n "${wall[pandas]:-}" ]; then
  echo "dropcast vs pandas:       $(printf %.2f "$(echo "${wall[pandas]} / ${wall[dropcast]}" | bc -l)")x wall, $(printf %.2f "$(echo "${cpu[pandas]} / ${cpu[dropcast]}" | bc -l)")x cpu"
fi
echo "(baseline = dropcast clean on a header-only file: the binary's own startup RSS)"
echo "12 segments vs one run:   $(printf %.2f "$(echo "${cpu[segmented]} / ${cpu[dropcast]}" | bc -l)")x cpu"
