// Turning Node's errno errors into messages a user can act on: the path, what was being
// done and the OS reason in words ("disk full", "read-only file system"), never a bare
// `ENOSPC: no space left on device, write` without a path.

/** An operating-system error on a file or directory; the message names the path and the reason. */
export class FileSystemError extends Error {
  constructor(
    readonly path: string,
    /** What was being done: "write", "create directory", ... */
    readonly action: string,
    /** The errno code (`ENOSPC`, `EROFS`, ...) or undefined. */
    readonly code: string | undefined,
    options: { cause?: unknown; detail?: string } = {},
  ) {
    const reason = options.detail ?? reasonText(code, (options.cause as Error | undefined)?.message);
    super(`cannot ${action} ${path}: ${reason}`, { cause: options.cause });
    this.name = 'FileSystemError';
  }
}

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device (disk full)',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a component of the path is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EIO: 'input/output error (failing disk?)',
  EFBIG: 'file too large for the file system',
};

/** `disk full (ENOSPC)`-style text for an errno code; falls back to the raw message. */
export function reasonText(code: string | undefined, fallback?: string): string {
  if (code && REASONS[code]) return `${REASONS[code]} (${code})`;
  return fallback ?? code ?? 'unknown error';
}

/** True for Node's errno errors (they carry a string `code` and a `syscall`). */
export function isErrnoError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && 'syscall' in err;
}

/**
 * Runs `fn`; an errno error it throws becomes a FileSystemError naming `path` and `action`.
 * Other errors pass through unchanged.
 */
export function withPath<T>(path: string, action: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isErrnoError(err)) throw new FileSystemError(path, action, err.code, { cause: err });
    throw err;
  }
}
