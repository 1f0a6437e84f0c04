#!/usr/bin/env node
// prebuildify drives node-gyp; this project builds with cmake-js. prebuildify runs the program
// named by PREBUILD_NODE_GYP as `<it> rebuild --target=... --arch=... ...`, so this stand-in
// ignores node-gyp's flags and runs a portable cmake-js Release build (no -march=native) into
// build/Release, where prebuildify picks up the .node file. N-API headers come from the
// node-api-headers package, so nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'rebuild', '--out', 'build', '--CDGRWARM_NATIVE_ARCH=OFF'];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
