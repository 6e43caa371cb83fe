# shellcheck shell=bash
# Helpers for bats tests that need the fake providers in tests/fakes/.
#
#   load ../lib/fakes        (or: source tests/lib/fakes.bash)
#   fake_start evolution                 # exports FAKE_EVOLUTION_URL/_LOG/_PID/_PORT/_OUT
#   fake_ctl evolution /__control/instances/generate '{"count":3}'
#   curl -H "apikey: $FAKE_EVOLUTION_APIKEY" "$FAKE_EVOLUTION_URL/instance/fetchInstances"
#   fake_count evolution POST /message/sendText      # -> number of logged requests
#   fake_wait_count evolution /message/sendText 3 5  # wait for >= 3 within 5 s
#   fake_stop_all                                    # e.g. in teardown
#
# Names: slack evolution zapi salvy. Files go to $FAKE_DIR, else $BATS_TEST_TMPDIR,
# else a fresh mktemp dir. Keys: FAKE_EVOLUTION_APIKEY, FAKE_ZAPI_CLIENT_TOKEN,
# FAKE_SALVY_APIKEY (defaults below); extra args to fake_start override them.

FAKES_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${FAKE_EVOLUTION_APIKEY:=test-evo-key-123}"
: "${FAKE_ZAPI_CLIENT_TOKEN:=test-zapi-client-token}"
: "${FAKE_SALVY_APIKEY:=test-salvy-key}"
export FAKE_EVOLUTION_APIKEY FAKE_ZAPI_CLIENT_TOKEN FAKE_SALVY_APIKEY
if [[ -z "${FAKE_PYTHON:-}" ]]; then
  if [[ -x /usr/bin/python3 ]]; then FAKE_PYTHON=/usr/bin/python3; else FAKE_PYTHON=python3; fi
fi

_fake_upper() { printf '%s' "$1" | tr '[:lower:]' '[:upper:]'; }

_fake_dir() {
  if [[ -n "${FAKE_DIR:-}" ]]; then
    mkdir -p "$FAKE_DIR" && printf '%s' "$FAKE_DIR"
  elif [[ -n "${BATS_TEST_TMPDIR:-}" ]]; then
    printf '%s' "$BATS_TEST_TMPDIR"
  else
    FAKE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/fakes.XXXXXX")" && export FAKE_DIR && printf '%s' "$FAKE_DIR"
  fi
}

# _fake_var NAME SUFFIX -> value of FAKE_<NAME>_<SUFFIX>
_fake_var() { local v; v="FAKE_$(_fake_upper "$1")_$2"; printf '%s' "${!v:-}"; }

fake_start() {
  local name="$1"; shift || true
  local script="$FAKES_REPO_ROOT/tests/fakes/fake_${name}.py"
  local -a defaults=()
  case "$name" in
    slack) ;;
    evolution) defaults=(--apikey "$FAKE_EVOLUTION_APIKEY") ;;
    zapi) defaults=(--client-token "$FAKE_ZAPI_CLIENT_TOKEN") ;;
    salvy) defaults=(--apikey "$FAKE_SALVY_APIKEY") ;;
    *) echo "fake_start: unknown fake '$name' (slack evolution zapi salvy)" >&2; return 2 ;;
  esac
  local dir up portfile log out pid port i
  dir="$(_fake_dir)" || return 1
  up="$(_fake_upper "$name")"
  portfile="$dir/fake_${name}.port"; log="$dir/fake_${name}.jsonl"; out="$dir/fake_${name}.out"
  rm -f "$portfile"
  PYTHONDONTWRITEBYTECODE=1 "$FAKE_PYTHON" "$script" --port 0 --portfile "$portfile" --log "$log" "${defaults[@]}" "$@" \
    </dev/null >"$out" 2>&1 3>&- &
  pid=$!
  for ((i = 0; i < 200; i++)); do          # 200 x 0.05 s = 10 s
    [[ -s "$portfile" ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "fake_start: $name exited early; output:" >&2; cat "$out" >&2; return 1
    fi
    sleep 0.05
  done
  if [[ ! -s "$portfile" ]]; then
    echo "fake_start: $name did not write $portfile within 10 s; output:" >&2; cat "$out" >&2
    kill "$pid" 2>/dev/null; return 1
  fi
  port="$(tr -d '[:space:]' <"$portfile")"
  export "FAKE_${up}_URL=http://127.0.0.1:$port" "FAKE_${up}_PORT=$port" \
    "FAKE_${up}_LOG=$log" "FAKE_${up}_PID=$pid" "FAKE_${up}_OUT=$out"
}

fake_stop() {
  local name="$1" up pid i
  up="$(_fake_upper "$name")"
  pid="$(_fake_var "$name" PID)"
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  unset "FAKE_${up}_URL" "FAKE_${up}_PORT" "FAKE_${up}_PID"
  return 0
}

fake_stop_all() {
  local n
  for n in slack evolution zapi salvy; do fake_stop "$n"; done
}

# fake_ctl NAME PATH JSON: POST JSON to a control path; prints the body; fails on non-2xx.
fake_ctl() {
  local url data="${3-}"
  url="$(_fake_var "$1" URL)"
  [[ -n "$url" ]] || { echo "fake_ctl: $1 is not running" >&2; return 1; }
  [[ -n "$data" ]] || data='{}'
  curl -sS --fail-with-body --max-time 30 -X POST -H 'Content-Type: application/json' \
    --data-binary "$data" "$url$2"
}

# fake_count NAME [METHOD] [PATH_SUBSTR]: number of logged requests matching.
# A first filter that is an HTTP method (GET, POST, ...) filters the method.
fake_count() {
  local log method="" sub=""
  log="$(_fake_var "$1" LOG)"; shift
  if [[ $# -gt 0 && "$1" =~ ^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|\*)?$ ]]; then
    method="${1#\*}"; shift
  fi
  sub="${1:-}"
  "$FAKE_PYTHON" -c '
import json, sys
log, method, sub = sys.argv[1:4]
n = 0
try:
    with open(log, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if (not method or r["method"] == method) and sub in r["path"]:
                n += 1
except FileNotFoundError:
    pass
print(n)' "$log" "$method" "$sub"
}

# fake_wait_count NAME PATH_SUBSTR N [TIMEOUT_S]: wait until >= N matching requests are logged.
fake_wait_count() {
  local name="$1" sub="$2" want="$3" timeout="${4:-10}" n deadline
  deadline=$(($(date +%s%N) / 1000000 + timeout * 1000))
  while :; do
    n="$(fake_count "$name" "$sub")"
    ((n >= want)) && return 0
    if (($(date +%s%N) / 1000000 >= deadline)); then
      echo "fake_wait_count: $name '$sub': $n < $want after ${timeout}s" >&2; return 1
    fi
    sleep 0.05
  done
}

# fake_requests NAME: the logged requests as a JSON array (GET /__requests).
fake_requests() {
  curl -sS --fail-with-body --max-time 30 "$(_fake_var "$1" URL)/__requests"
}
