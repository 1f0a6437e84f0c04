/**
 * The lifeline between a sweep and its cells. A sweep starts each cell (`train`) with
 * GRWARM_LIFELINE=stdin and its stdin a pipe the sweep holds open and never writes. When the
 * sweep ends in any way, kill -9 included, the kernel closes its end and the cell reads end of
 * file: it stops as on SIGTERM (finishes the step, writes a checkpoint, summary "interrupted")
 * instead of training on as an orphan. A signal cannot do this: nothing is sent when a process
 * is killed, but its pipes always close.
 */

export const LIFELINE_ENV = 'GRWARM_LIFELINE';

/**
 * When `env` asks for it, watches stdin and calls `onLost` once when it closes. Returns the
 * function that stops watching (so the process can exit).
 */
export function watchLifeline(env: Record<string, string | undefined>, onLost: () => void): () => void {
  if (env[LIFELINE_ENV] !== 'stdin') return () => {};
  const stdin = process.stdin;
  let done = false;
  const lost = () => {
    if (done) return;
    done = true;
    onLost();
  };
  // stdout is a pipe to the sweep too: once the sweep is gone, writes fail with EPIPE, which
  // must not end the run before it has written its checkpoint.
  process.stdout.on('error', ignore);
  stdin.on('data', () => {}); // the sweep never writes; reading is what notices the close
  stdin.on('end', lost);
  stdin.on('error', lost);
  stdin.resume();
  return () => {
    done = true;
    stdin.off('end', lost);
    stdin.off('error', lost);
    stdin.pause();
    stdin.destroy();
  };
}

function ignore(): void {}
