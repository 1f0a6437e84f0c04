// Reading a file that someone else's folder provides (a run directory given to `report`,
// a sweep's run directories): only a regular file, only up to a size limit. A FIFO named
// metrics.jsonl would block a plain readFileSync forever, and a symlink to /dev/zero would
// fill the memory; here the file is opened non-blocking, checked with fstat on the opened
// descriptor (no race between the check and the read), and refused with the reason.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { FileSystemError, isErrnoError } from './fs-errors.js';

/** Reads `path` as UTF-8 when it is a regular file of at most `maxBytes`; throws FileSystemError otherwise. */
export function readRegularFile(path: string, maxBytes: number): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new FileSystemError(path, 'read', isErrnoError(err) ? err.code : undefined, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileSystemError(path, 'read', undefined, { detail: `not a regular file (${kindName(st)})` });
    if (st.size > maxBytes) {
      throw new FileSystemError(path, 'read', 'EFBIG', { detail: `${st.size} bytes, more than the ${maxBytes} expected of this file` });
    }
    const buf = Buffer.alloc(st.size);
    let off = 0;
    // Read at most the size fstat gave: a file growing meanwhile cannot push us past the limit.
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, null);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } catch (err) {
    if (err instanceof FileSystemError) throw err;
    throw new FileSystemError(path, 'read', isErrnoError(err) ? err.code : undefined, { cause: err });
  } finally {
    closeSync(fd);
  }
}

function kindName(st: import('node:fs').Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a file';
}
