#!/bin/bash
# WebGPU check: does the classifier run on this machine's real GPU in Chromium, as fast as it should,
# with the same scores as WASM, and does it fall back to WASM when the GPU device is lost?
# Nothing here needs Node, so it also runs on the lent GPU machines (see pack-for-device.sh).
#
#   tools/webgpu-check/run.sh IMAGES_DIR OUT_DIR [full|wasm]
#
# env: CHROMIUM (default /usr/bin/chromium), SITE_FROM (folder with lib/ and ort/, default build/demo:
# run `npm run build` first), FLAG_SETS (names below, tried in order; the first that gives a
# non-fallback adapter runs the check, else the first that gives any adapter), TIMEOUT (s, default 240).
# Writes OUT_DIR/result-*.json (the page's figures), log-*.txt and chromium-*.txt (browser logs).
set -u
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../.." && pwd)
# A missing argument is a usage error like the others (exit 2), not ${1:?}'s exit 1.
[ $# -ge 2 ] || { echo "usage: run.sh IMAGES_DIR OUT_DIR [full|wasm]" >&2; exit 2; }
images=$1; out=$2; mode=${3:-full}
chromium=${CHROMIUM:-/usr/bin/chromium}; from=${SITE_FROM:-$repo/build/demo}; timeout=${TIMEOUT:-240}
case "$mode" in full|wasm) ;; *) echo "webgpu-check: unknown mode '$mode' (full or wasm)" >&2; exit 2 ;; esac
ls "$images"/*.* >/dev/null 2>&1 || { echo "webgpu-check: no images in $images" >&2; exit 2; }
for needed in "$from/lib/classifier.js" "$from/lib/core.js" "$from/ort/ort.wasm.min.mjs" "$repo/model/contract.json"; do
  [ -f "$needed" ] || { echo "webgpu-check: $needed is missing (run \`npm run build\`, or set SITE_FROM)" >&2; exit 2; }
done
mkdir -p "$out"; out=$(cd "$out" && pwd)
site=$(mktemp -d); server=; browser=; profile=
# Killed or not, leave no server, browser or temporary folder behind.
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  [ -n "$browser" ] && kill "$browser" 2>/dev/null
  wait 2>/dev/null; rm -rf "$site" ${profile:+"$profile"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$site/model" "$site/images"
cp "$here/page.html" "$here/page.js" "$site/"; cp -r "$from/lib" "$from/ort" "$site/"
model_file=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['model_file'])" "$repo/model/contract.json")
cp "$repo/model/contract.json" "$repo/model/$model_file" "$site/model/"
(cd "$images" && for f in *.*; do cp -- "$f" "$site/images/"; done)
python3 -c "import json,os,sys; print(json.dumps(sorted(os.listdir(sys.argv[1]))))" "$site/images" > "$site/images-list.json"
mv "$site/images-list.json" "$site/images/list.json"

# Flag sets (flag-sets.txt, shared with extension-check.py): name -> Chromium flags.
declare -A FLAGS=()
while IFS= read -r line || [[ -n "$line" ]]; do
  [[ -z "${line// }" || "$line" == \#* || "$line" != *:* ]] && continue
  name=${line%%:*}; name=${name// }
  FLAGS[$name]=${line#*:}
done < "$here/flag-sets.txt"
common=${FLAGS[common]}; unset 'FLAGS[common]'
port=$((8700 + RANDOM % 1000))

visit() { # TAG FLAGS MODE SECONDS: serves the page, opens it, waits for its result
  local tag=$1 flags=$2 page_mode=$3 seconds=$4 status
  profile=$(mktemp -d); port=$((port + 1))
  python3 "$here/serve.py" "$site" "$out" "$tag" $port "$seconds" & server=$!
  # Chromium shows an error page, and never retries, when the server is not listening yet.
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$server" 2>/dev/null || { echo "webgpu-check: the server could not start on port $port" >&2; server=; return 1; }
    sleep 0.1
  done
  # TMPDIR: Chromium's singleton socket folder goes into the profile, which is removed after.
  TMPDIR="$profile" timeout $((seconds + 5)) "$chromium" $common $flags --user-data-dir="$profile/user-data" \
    "http://127.0.0.1:$port/page.html?mode=$page_mode" > "$out/chromium-$tag.txt" 2>&1 & browser=$!
  # The server ends once the page posted its result (or at the timeout); Chromium ending first failed.
  wait -n "$server" "$browser"; status=$?
  if kill -0 "$server" 2>/dev/null; then
    echo "webgpu-check: Chromium ended before the page gave a result (see $out/chromium-$tag.txt)" >&2
    kill "$server" 2>/dev/null; status=1
  else
    kill "$browser" 2>/dev/null
  fi
  wait 2>/dev/null; server=; browser=; rm -rf "$profile"; profile=
  return $status
}
adapter_of() { python3 -c "import json,sys; a=json.load(open(sys.argv[1])).get('adapter'); print('none' if not a else ('fallback' if a['isFallbackAdapter'] else 'real') + ' ' + str(a.get('vendor')))" "$1" 2>/dev/null || echo "no result"; }

if [ "$mode" = wasm ]; then
  visit wasm "" wasm "$timeout" || { echo "webgpu-check: no result from the page within $timeout s (see $out)" >&2; exit 1; }
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])).get('error'); sys.exit(e and 'webgpu-check: ' + e)" "$out/result-wasm.json"
  exit
fi
best=""; any=""
for set in ${FLAG_SETS:-gpu vulkan swiftshader}; do
  [ -n "${FLAGS[$set]+known}" ] || { echo "webgpu-check: unknown flag set '$set' (${!FLAGS[*]})" >&2; exit 2; }
  visit "probe-$set" "${FLAGS[$set]}" probe 45
  found=$(adapter_of "$out/result-probe-$set.json"); echo "flags '$set': adapter: $found"
  case "$found" in real*) best=$set; break ;; fallback*) any=${any:-$set} ;; esac
done
use=${best:-$any}
[ -n "$use" ] || { echo "webgpu-check: no flag set gave a WebGPU adapter (see $out/chromium-probe-*.txt)" >&2; exit 1; }
echo "full check with flags '$use'"
visit "full-$use" "${FLAGS[$use]}" full "$timeout" || { echo "webgpu-check: no result from the page within $timeout s (see $out)" >&2; exit 1; }
python3 - "$out/result-full-$use.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if r.get('error'): sys.exit('webgpu-check: ' + r['error'])
a = r['adapter']; print(f"adapter: {a['vendor']} {a.get('architecture') or ''} (fallback: {a['isFallbackAdapter']})")
for key in ('webgpu', 'wasm'):
    s = r[key]
    print(f"{key:6s} ran on {s['used']}, {s['threads']} threads, started in {s['startMs']:.0f} ms; median ms per image "
          "(inference / bytes to verdict) per pass: " + ', '.join(f"{p['inferenceMedianMs']:.1f} / {p['totalMedianMs']:.1f}" for p in s['passes']))
print('agreement:', r['agreement'])
print('device lost:', r.get('deviceLost'))
agreement, lost = r['agreement'], r.get('deviceLost') or {}
problems = [what for what, bad in [
    ('WebGPU fell back to WASM', r['webgpu']['used'] != 'webgpu'),
    ('WebGPU and WASM scores differ', agreement['maxAbsDiff'] > 1e-3 or agreement['sameTopClass'] != agreement['images']),
    ('no WASM fallback after the device was lost', lost.get('providerAfter') != 'wasm' or lost.get('maxAbsDiff', 1) > 1e-6),
] if bad]
if problems: sys.exit('webgpu-check: ' + '; '.join(problems))
PY
