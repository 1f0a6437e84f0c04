#!/usr/bin/env bash
# The packed-tarball test: what an npm user gets.
#   1. `npm run prebuilds` (portable binary with run-time ISA dispatch, in build-prebuild/;
#      build/ is left alone). PACK_TEST_SKIP_PREBUILDS=1 reuses prebuilds/ as they are.
#   2. `npm pack`, then `npm install <tarball>` into an empty temporary project (from the npm
#      cache: the dependencies are there after `npm ci`).
#   3. With a PATH that holds node/npm/npx and a few shell tools but no compiler, make or cmake:
#      `grwarm-native info` (must load the prebuilt binary, dispatch the kernels), 3 training
#      steps, 3 bf16 steps, the same with OpenBLAS and oneDNN hidden (built-in GEMM, bf16 emulated, and
#      `info` says why), `build-native` failing with a clear message (no compiler), and the
#      load error when no binary matches (says `npx grwarm-native build-native`).
# Needs `npm run build` (dist/) first. Leaves nothing behind (PACK_TEST_KEEP=1 keeps the temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fail() { echo "pack-test: FAIL: $*" >&2; exit 1; }
step() { echo "pack-test: $*" >&2; }

[ -f dist/src/cli.js ] || fail "dist/src/cli.js missing: run npm run build first"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grwarm-pack-test.XXXXXX")
if [ "${PACK_TEST_KEEP:-0}" != 1 ]; then trap 'rm -rf "$tmp"' EXIT; else step "keeping $tmp"; fi

platform=$(node -p 'process.platform + "-" + process.arch')
if [ "${PACK_TEST_SKIP_PREBUILDS:-0}" != 1 ]; then
  step "npm run prebuilds"
  build_before=$(stat -c %Y build/Release/grwarm_native.node 2>/dev/null || echo none)
  npm run prebuilds >"$tmp/prebuilds.log" 2>&1 || { tail -40 "$tmp/prebuilds.log" >&2; fail "npm run prebuilds"; }
  build_after=$(stat -c %Y build/Release/grwarm_native.node 2>/dev/null || echo none)
  [ "$build_before" = "$build_after" ] || fail "npm run prebuilds touched build/Release/grwarm_native.node"
fi
ls prebuilds/"$platform"/*.node >/dev/null 2>&1 || fail "no prebuilds/$platform/*.node"

step "npm pack"
tarball=$(npm pack --silent --pack-destination "$tmp" | tail -1)
tarball="$tmp/$tarball"
[ -f "$tarball" ] || fail "npm pack produced no tarball"
listing=$(tar tzf "$tarball")
for want in package/LICENSE package/dist/src/cli.js "package/prebuilds/$platform/grwarm-native.node" package/CMakeLists.txt; do
  grep -qx "$want" <<<"$listing" || fail "$want is not in the tarball"
done
if grep -q '\.map$' <<<"$listing"; then
  grep -qx package/src/native.ts <<<"$listing" || fail "the tarball ships source maps but not the src/ they point to"
fi
if grep -qE '^package/(build|build-prebuild|test|runs)/' <<<"$listing"; then fail "the tarball ships build/test/run folders"; fi

step "npm install $(basename "$tarball") into an empty project"
mkdir -p "$tmp/proj"
printf '{ "name": "grwarm-pack-test", "version": "1.0.0", "private": true }\n' >"$tmp/proj/package.json"
(cd "$tmp/proj" && npm install --prefer-offline --no-audit --no-fund --loglevel=error "$tarball") >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "npm install of the tarball"; }
pkg="$tmp/proj/node_modules/grwarm-native"
node_file="$pkg/prebuilds/$platform/grwarm-native.node"
[ ! -e "$pkg/build" ] || fail "the installed package has a build/ folder (an install script ran?)"

# What the binary needs at run time (before PATH is stripped: ldd is a shell script).
if command -v ldd >/dev/null; then
  deps=$(ldd "$node_file")
  echo "$deps" | sed 's/^/  ldd: /' >&2
  if grep -q 'not found' <<<"$deps"; then fail "unresolved libraries"; fi
  if grep -qi openblas <<<"$deps"; then fail "the prebuilt binary links OpenBLAS (it must dlopen it)"; fi
  if [ -e "$pkg/prebuilds/$platform/libgomp.so.1" ]; then
    grep -q "libgomp.so.1 => $pkg/prebuilds/$platform/libgomp.so.1" <<<"$deps" || fail "libgomp.so.1 does not resolve to the bundled copy"
  fi
fi

# A PATH with node and npm but no compiler, make or cmake.
bin="$tmp/bin"
mkdir -p "$bin"
for t in node npm npx sh bash env cat ls mkdir rm mv cp dirname basename uname sed grep head tail; do
  p=$(command -v "$t" || true)
  [ -n "$p" ] && ln -sf "$p" "$bin/$t"
done
for t in cc c++ gcc g++ cmake make ninja; do [ ! -e "$bin/$t" ] || fail "$t leaked into the test PATH"; done
run() { (cd "$tmp/proj" && env -u LD_LIBRARY_PATH -u GRWARM_ADDON -u GRWARM_ISA PATH="$bin" "$@"); }

step "npx grwarm-native info"
info=$(run npx --no-install grwarm-native info) || { echo "$info" >&2; fail "info"; }
echo "$info" | sed 's/^/  /' >&2
grep -q "^addon: .*prebuilds/$platform/grwarm-native.node (prebuilt binary)" <<<"$info" || fail "info does not name the prebuilt binary"
case "$(uname -m)" in
  x86_64) grep -qE '^simd: +(sse2|sse4|avx2|avx512) \(dispatched' <<<"$info" || fail "info: the kernels are not dispatched" ;;
esac

step "every ISA variant of the binary: chosen with GRWARM_ISA, or refused with the reason"
variants=$(run env GRWARM_ISA=list npx --no-install grwarm-native info --json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8")).simd; const m=/it has: ([^;]+);/.exec(s); console.log(m ? m[1].split(", ").join(" ") : "")')
[ -n "$variants" ] || fail "GRWARM_ISA=list: no list of variants"
for isa in $variants; do
  simd=$(run env GRWARM_ISA="$isa" npx --no-install grwarm-native info | sed -n 's/^simd: *//p')
  step "  GRWARM_ISA=$isa: $simd"
  case "$simd" in "$isa (GRWARM_ISA=$isa"*|"none: GRWARM_ISA=$isa: this CPU does not support"*) ;; *) fail "GRWARM_ISA=$isa: $simd" ;; esac
done

step "3 training steps"
train=(train --model vit-micro --synthetic-train 256 --synthetic-test 64 --batch-size 32 --steps 3 --warmup-epochs 0 --quiet)
run npx --no-install grwarm-native "${train[@]}" --out-dir "$tmp/run1" >&2 || fail "train"
[ -f "$tmp/run1/summary.json" ] || fail "train wrote no summary.json"

step "the shipped examples: sweep --config repro-small finds the package's examples/repro-small.yaml"
# (exit 1 when Fashion-MNIST is not installed here: the dry run checks the data; the plan line comes first)
plan=$(run npx --no-install grwarm-native sweep --config repro-small --dry-run --out-dir "$tmp/rs" 2>/dev/null || true)
grep -q 'examples/repro-small.yaml: 21 cells' <<<"$plan" || { echo "$plan" >&2; fail "sweep --config repro-small did not find the shipped example"; }

step "bf16 mixed precision (oneDNN when installed, else the emulation)"
run npx --no-install grwarm-native "${train[@]}" --precision bf16 --out-dir "$tmp/run-bf16" >&2 || fail "train --precision bf16"
grep -q '"precision": "bfloat16"' "$tmp/run-bf16/config.json" || fail "the bf16 run's config does not say bfloat16"

step "without OpenBLAS and oneDNN (GRWARM_OPENBLAS=/nonexistent GRWARM_ONEDNN=/nonexistent)"
nolibs=(env GRWARM_OPENBLAS=/nonexistent GRWARM_ONEDNN=/nonexistent)
info=$(run "${nolibs[@]}" npx --no-install grwarm-native info)
grep -qE '^gemm: +builtin \(float32\): builtin \(GRWARM_OPENBLAS=/nonexistent not found: .*GRWARM_ONEDNN=/nonexistent not usable: ' <<<"$info" || { echo "$info" >&2; fail "info does not say why the built-in GEMM is used"; }
grep -qE '^bf16: +emulated: ' <<<"$info" || fail "info does not say that bf16 is emulated"
run "${nolibs[@]}" npx --no-install grwarm-native "${train[@]}" --out-dir "$tmp/run2" >&2 || fail "train without OpenBLAS"
run "${nolibs[@]}" npx --no-install grwarm-native "${train[@]}" --precision bf16 --out-dir "$tmp/run2-bf16" >&2 || fail "train bf16 without oneDNN"

step "build-native without a compiler fails clearly"
if out=$(run npx --no-install grwarm-native build-native 2>&1); then fail "build-native succeeded without cmake"; fi
grep -q 'the build failed' <<<"$out" || { echo "$out" >&2; fail "build-native: no clear message"; }

step "no binary for this platform: the error says what to run"
mv "$pkg/prebuilds" "$pkg/prebuilds.hidden"
if out=$(run npx --no-install grwarm-native info 2>&1); then fail "info succeeded without a binary"; fi
mv "$pkg/prebuilds.hidden" "$pkg/prebuilds"
grep -q 'Build it from source with `npx grwarm-native build-native`' <<<"$out" || { echo "$out" >&2; fail "load error does not say what to run"; }
[ "$(grep -c 'grwarm-native:' <<<"$out")" = 1 ] || { echo "$out" >&2; fail "load error is not one line"; }

step "OK ($(basename "$tarball"), $(du -k "$tarball" | cut -f1) KiB)"
