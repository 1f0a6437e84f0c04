/**
 * The decoded cache: the decoded uint8 pixels of a split in one file, so later runs (and
 * `eval`) skip decoding. Read back whole on later runs (the OS page cache keeps it warm; a
 * 64 px TinyImageNet training store at 80 px side is 1.9 GB).
 *
 * File: "GRWDEC01", u32 header length, header JSON, then count "ok" bytes (1 = decoded, 0 =
 * skipped bad file), then count·bytesPerImage pixels. The header holds the key: a hash of the
 * file list (paths, sizes, modification times), the labels and the decode settings. A file
 * whose key differs (stale: files or settings changed) or whose length is not the one its
 * header implies (truncated) is rebuilt.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { makeDir } from '../../io/make-dir.js';
import type { DecodeSpec } from './decode.js';

const MAGIC = Buffer.from('GRWDEC01', 'ascii');
/** Bump when the decoder's output changes for the same settings. */
const FORMAT_VERSION = 1;

interface Header {
  version: number;
  key: string;
  count: number;
  bytesPerImage: number;
}

export interface CachedDecode {
  pixels: Uint8Array;
  ok: Uint8Array;
}

/** Hash of what the decoded bytes depend on. Missing files hash as size -1 (decoding reports them). */
export function cacheKey(files: string[], labels: Int32Array, spec: DecodeSpec, skipBad: boolean): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: FORMAT_VERSION, spec, skipBad }));
  for (let i = 0; i < files.length; i++) {
    let size = -1;
    let mtime = 0;
    try {
      const st = statSync(files[i]);
      size = st.size;
      mtime = st.mtimeMs;
    } catch {
      // unreadable: part of the key as such
    }
    h.update(`${files[i]}\0${size}\0${mtime}\0${labels[i]}\n`);
  }
  return h.digest('hex').slice(0, 32);
}

export function cachePath(dir: string, name: string): string {
  return join(dir, `${name}.u8`);
}

/** Why a cache file cannot be used, or the contents. */
export function readCache(path: string, key: string): CachedDecode | { reason: string } {
  if (!existsSync(path)) return { reason: 'no cache yet' };
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(12);
    if (readSync(fd, head, 0, 12, 0) !== 12 || !head.subarray(0, 8).equals(MAGIC)) return { reason: 'not a decoded-cache file' };
    const hlen = head.readUInt32LE(8);
    const hbuf = Buffer.alloc(hlen);
    if (hlen > 1 << 20 || readSync(fd, hbuf, 0, hlen, 12) !== hlen) return { reason: 'truncated header' };
    let header: Header;
    try {
      header = JSON.parse(hbuf.toString('utf8')) as Header;
    } catch {
      return { reason: 'unreadable header' };
    }
    if (header.version !== FORMAT_VERSION || header.key !== key) return { reason: 'stale (the files or the decode settings changed)' };
    const start = 12 + hlen;
    const expected = start + header.count + header.count * header.bytesPerImage;
    if (size !== expected) return { reason: `truncated (${size} bytes, expected ${expected})` };
    const ok = new Uint8Array(header.count);
    readAll(fd, ok, start);
    const pixels = new Uint8Array(new SharedArrayBuffer(header.count * header.bytesPerImage));
    readAll(fd, pixels, start + header.count);
    return { pixels, ok };
  } finally {
    closeSync(fd);
  }
}

/** readSync reads at most 2 GiB per call, and may read less: loop. */
function readAll(fd: number, into: Uint8Array, position: number): void {
  const CHUNK = 1 << 30;
  for (let done = 0; done < into.length; ) {
    const n = readSync(fd, into, done, Math.min(CHUNK, into.length - done), position + done);
    if (n <= 0) throw new Error('decoded cache: unexpected end of file');
    done += n;
  }
}

export function writeCache(path: string, dir: string, key: string, data: CachedDecode, bytesPerImage: number): void {
  makeDir(dir);
  const header: Header = { version: FORMAT_VERSION, key, count: data.ok.length, bytesPerImage };
  const hbuf = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(hbuf.length);
  const chunks: Uint8Array[] = [MAGIC, len, hbuf, data.ok];
  // One chunk per GiB: a single write of more than 2 GiB is refused.
  for (let off = 0; off < data.pixels.length; off += 1 << 30) chunks.push(data.pixels.subarray(off, Math.min(data.pixels.length, off + (1 << 30))));
  writeFileAtomic(path, chunks);
}
