/** Shared-memory layout between pool.ts and decode-worker.ts. */
export const CTRL = {
  /** Next file index to claim (Atomics.add). */
  NEXT: 0,
  /** Files finished, good or bad (the main thread waits on this word). */
  DONE: 1,
  /** Non-zero: stop claiming (a bad file in strict mode). */
  STOP: 2,
  SIZE: 3,
} as const;

export const STATUS = { PENDING: 0, OK: 1, BAD: 2 } as const;
