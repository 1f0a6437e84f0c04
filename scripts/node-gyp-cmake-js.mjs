#!/usr/bin/env node
// prebuildify drives node-gyp; this project builds with cmake-js. `npm run prebuilds` runs
//   prebuildify --napi --strip --name grwarm-native --cwd build-prebuild --out .
// with PREBUILD_NODE_GYP naming this script, so prebuildify runs `<this> rebuild --target=...
// --arch=...` in build-prebuild/ and then takes the .node (and any .so) from
// build-prebuild/build/Release. This stand-in ignores node-gyp's flags and runs a portable
// cmake-js Release build of the package root there: every CPU-kernel ISA variant with run-time
// dispatch (no -march=native), the CUDA plugin when nvcc is found. The developer's build/ is
// never touched. libgomp.so.1 is copied next to the .node (which has RUNPATH $ORIGIN), so the
// prebuilt binary needs only glibc and libstdc++. N-API headers come from the node-api-headers
// package: nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build-prebuild', 'build');
const release = join(out, 'Release');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const jobs = process.env.GRWARM_JOBS || String(availableParallelism());
const args = [cmakeJs, 'rebuild', '--out', out, '--CDGRWARM_NATIVE_ARCH=OFF', '--CDGRWARM_TESTS=OFF', '--', `-j${jobs}`];
console.error(`prebuild: ${args.slice(1).join(' ')} (in ${root})`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

// Bundle the OpenMP runtime (GPL-3 with the GCC Runtime Library Exception: redistributable).
const gomp = spawnSync(process.env.CXX || 'c++', ['-print-file-name=libgomp.so.1'], { encoding: 'utf8' });
const gompPath = gomp.status === 0 ? gomp.stdout.trim() : '';
if (gompPath && gompPath !== 'libgomp.so.1' && existsSync(gompPath)) {
  mkdirSync(release, { recursive: true });
  copyFileSync(gompPath, join(release, 'libgomp.so.1'));
  console.error(`prebuild: bundled ${gompPath} as libgomp.so.1`);
} else {
  console.error('prebuild: libgomp.so.1 not found; the prebuilt binary will need the system libgomp1');
}
