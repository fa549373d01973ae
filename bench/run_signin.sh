#!/usr/bin/env bash
# Sign-in timing (issue 19): an unknown username must cost what a wrong password costs, or the
# answer time tells which usernames exist. Builds the release binary, makes a project with one
# user per five tries, serves it on 127.0.0.1 on a free port, and times N unknown-username and
# N wrong-password sign-ins (default 200 each), interleaved, one at a time with curl. Each try
# comes from its own loopback address (127.0.x.y) and each username takes five tries, so that
# neither the per-client backoff nor the per-username delay (crates/server/src/auth.rs) answers
# instead of argon2. Prints median and p90 of each kind, their ratio and difference.
#   bench/run_signin.sh            (GRIDMAP=path/to/gridmap skips the build; N=200)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [[ -z "${GRIDMAP:-}" ]]; then
  cargo build --release -p gridmap-cli
  GRIDMAP="$root/target/release/gridmap"
fi
N="${N:-200}"
dir="$(mktemp -d)"
server=""
trap '[[ -n "$server" ]] && kill "$server" 2>/dev/null; rm -rf "$dir"' EXIT

P="$dir/signin.gpkg"
"$GRIDMAP" init "$P" --town bench --code T >/dev/null
users=$(( (N + 4) / 5 ))
for u in $(seq 1 "$users"); do
  echo quiet-harbour-2026 | "$GRIDMAP" user add "$P" --username "$(printf 'user%03d' "$u")" \
    --role admin --scope T --password-stdin >/dev/null
done
"$GRIDMAP" serve "$P" --bind 127.0.0.1:0 >"$dir/out" 2>"$dir/err" &
server=$!
for _ in $(seq 100); do grep -q serving "$dir/out" && break; sleep 0.1; done
url="$(grep -o 'http://[^ ]*' "$dir/out" | head -1)"
[[ -n "$url" ]] || { cat "$dir/err"; echo "the server did not start" >&2; exit 1; }

# One sign-in: BODY FROM-ADDRESS → "STATUS SECONDS".
login() {
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --interface "$2" \
    -H 'content-type: application/json' -d "$1" "${url}api/login"
}
for i in $(seq 1 5); do  # warm-up, not counted
  login "{\"username\":\"warmup$i\",\"password\":\"x\"}" "127.0.200.$i" >/dev/null
done
: >"$dir/unknown" && : >"$dir/wrong"
for i in $(seq 0 $(( N - 1 ))); do
  u="$(printf '%03d' $(( i / 5 + 1 )))"
  host=$(( 1 + i % 250 ))
  login "{\"username\":\"nobody$u\",\"password\":\"wrong-$i\"}" "127.0.$(( 1 + i / 250 )).$host" >>"$dir/unknown"
  login "{\"username\":\"user$u\",\"password\":\"wrong-$i\"}" "127.0.$(( 101 + i / 250 )).$host" >>"$dir/wrong"
done

python3 - "$dir/unknown" "$dir/wrong" "$N" <<'PY'
import sys
def load(path):
    rows = [l.split() for l in open(path) if l.strip()]
    bad = [r[0] for r in rows if r[0] != "401"]
    if bad:
        sys.exit(f"{path}: {len(bad)} answers were not 401: {sorted(set(bad))}")
    return sorted(float(r[1]) * 1000 for r in rows)
def pct(xs, p):
    return xs[min(len(xs) - 1, int(p * len(xs)))]
unknown, wrong = load(sys.argv[1]), load(sys.argv[2])
print(f"{sys.argv[3]} sign-ins of each kind, one at a time, each 401")
print(f"{'':16} {'median ms':>10} {'p90 ms':>10}")
for name, xs in (("unknown user", unknown), ("wrong password", wrong)):
    print(f"{name:16} {pct(xs, 0.5):10.2f} {pct(xs, 0.9):10.2f}")
for label, p in (("median", 0.5), ("p90", 0.9)):
    r = pct(wrong, p) / pct(unknown, p)
    print(f"{label} ratio wrong/unknown: {r:.3f} (difference {abs(r - 1) * 100:.1f}%)")
PY
