/**
 * A minimal TensorBoard event-file writer: scalars only, in the documented record format, so
 * no TensorFlow or protobuf dependency is needed.
 *
 * File: a sequence of TFRecords, each
 *   uint64 length (little-endian) | uint32 masked CRC-32C of the length bytes |
 *   data (length bytes)           | uint32 masked CRC-32C of the data
 * where masked(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8 (mod 2^32). Each record's data is
 * an `Event` protobuf message (tensorflow/core/util/event.proto):
 *   1 wall_time double | 2 step int64 | 3 file_version string | 5 summary Summary |
 *   6 session_log SessionLog (1 status enum: START = 1)
 *   Summary: 1 value repeated Value;  Value: 1 tag string | 2 simple_value float
 * The first record names the version ("brain.Event:2"). The file name is
 * `events.out.tfevents.<unix seconds>.<host>.<pid>.<n>` (TensorBoard looks for `tfevents`).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { withPath } from './fs-errors.js';

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; // Castagnoli, reflected
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of `buf`. */
export function crc32c(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC32C_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The masked CRC of TFRecords (a CRC of data that holds CRCs is weak; the mask avoids that). */
export function maskedCrc32c(buf: Uint8Array): number {
  const c = crc32c(buf);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord around `data`. */
export function tfRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

// --- protobuf encoding (just what Event needs) ---

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const key = (field: number, wire: number): number[] => varint((field << 3) | wire);

function lengthDelimited(field: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...key(field, 2), ...varint(body.length)]), body]);
}

function scalarValue(tag: string, value: number): Buffer {
  const f = Buffer.alloc(4);
  f.writeFloatLE(value, 0);
  return Buffer.concat([lengthDelimited(1, Buffer.from(tag, 'utf8')), Buffer.from(key(2, 5)), f]);
}

/** An Event message: wall time, step and one of file_version / summary / session_log. */
export function encodeEvent(e: { wallTime: number; step: number; fileVersion?: string; scalars?: [string, number][]; sessionStart?: boolean }): Buffer {
  const wall = Buffer.alloc(8);
  wall.writeDoubleLE(e.wallTime, 0);
  const parts: Buffer[] = [Buffer.from(key(1, 1)), wall, Buffer.from([...key(2, 0), ...varint(e.step)])];
  if (e.fileVersion !== undefined) parts.push(lengthDelimited(3, Buffer.from(e.fileVersion, 'utf8')));
  if (e.scalars) parts.push(lengthDelimited(5, Buffer.concat(e.scalars.map(([t, v]) => lengthDelimited(1, scalarValue(t, v))))));
  if (e.sessionStart) parts.push(lengthDelimited(6, Buffer.from([...key(1, 0), 1])));
  return Buffer.concat(parts);
}

/** Files opened by this process so far (part of the name: two sessions in one second get two files). */
let opened = 0;

/** Appends scalar events to a new event file in `dir` (created by the caller). */
export class EventFileWriter {
  readonly path: string;
  private fd: number | undefined;

  constructor(dir: string, now: Date = new Date()) {
    this.path = join(dir, `events.out.tfevents.${Math.floor(now.getTime() / 1000)}.${hostname()}.${process.pid}.${opened++}`);
    this.fd = withPath(this.path, 'create', () => openSync(this.path, 'a'));
    this.write(encodeEvent({ wallTime: now.getTime() / 1000, step: 0, fileVersion: 'brain.Event:2' }));
  }

  /**
   * Marks a (re)start at `step`: TensorBoard drops the events of steps >= `step` written
   * before it (an abandoned future after a resume from an older checkpoint).
   */
  sessionStart(step: number): void {
    this.write(encodeEvent({ wallTime: Date.now() / 1000, step, sessionStart: true }));
  }

  /** Scalars (non-finite values are skipped) at `step`. */
  scalars(step: number, values: [string, number | null | undefined][]): void {
    const finite = values.filter((v): v is [string, number] => typeof v[1] === 'number' && Number.isFinite(v[1]));
    if (finite.length > 0) this.write(encodeEvent({ wallTime: Date.now() / 1000, step, scalars: finite }));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(event: Buffer): void {
    if (this.fd === undefined) return;
    const rec = tfRecord(event);
    withPath(this.path, 'write', () => writeSync(this.fd!, rec));
  }
}
