import { PERF_ORIGIN, perfToNs } from '../core/sample.js';
import { millionthsOf } from './line-protocol.js';

const EMPTY = Buffer.alloc(0);
const DOT = 46;
const ZERO = 48;
/** Powers of ten up to 10^15, the most digits written arithmetically. */
const POWERS = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * Line protocol written as bytes into a growing buffer, its numbers digit by digit. It is for
 * the runner's points, one per iteration at tens of thousands a second. Writing their numbers
 * with String(n) costs more than it seems: V8 keeps each number's decimal string in its
 * number-string cache, a table of up to 16 K recent strings that survive every young-generation
 * collection, so each collection copies them. In an http step that doubled every collection's
 * pause (1.0 → 2.4 ms, measured with the gc PerformanceObserver), a pause every request in
 * flight waits out: the tail of the step's latency. Digits written as bytes leave no string
 * at all, and the batch needs no encoding before it is written to a file.
 *
 * Each number method writes exactly what the generic encoder (line-protocol.ts) writes, which
 * is String(n) but for -0; a value outside their fast range takes String's path.
 */
export class LineBytes {
  /** Empty until the first write: a step whose sink takes Sample objects never writes. */
  private buf = EMPTY;
  private pos = 0;

  constructor(private readonly initialSize = 64 * 1024) {}

  /** Bytes written since the last take(). */
  get length(): number {
    return this.pos;
  }

  /** Hands over the bytes written, which are the caller's now, and starts afresh. */
  take(): Buffer {
    const written = this.pos;
    this.pos = 0;
    // A few points (a slow step's 200 ms batch) are copied out rather than pinning the buffer
    // until the store has written them.
    if (written < 4096) return Buffer.from(this.buf.subarray(0, written));
    const out = this.buf.subarray(0, written);
    // The next batch is likely the size of this one: no growth and copy on the way.
    this.buf = Buffer.allocUnsafeSlow(Math.max(this.initialSize, Math.ceil(written * 1.25)));
    return out;
  }

  /** Forgets what was written after `length` (a line that had to be written otherwise). */
  truncate(length: number): void {
    this.pos = length;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    this.room(n);
    if (n > 16) {
      this.buf.set(b, this.pos);
      this.pos += n;
      return;
    }
    // The few bytes of a field name: a loop the JIT inlines beats set()'s call into a builtin.
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = b[i];
    this.pos = p;
  }

  byte(c: number): void {
    this.room(1);
    this.buf[this.pos++] = c;
  }

  /** Text, as UTF-8. */
  text(s: string): void {
    this.room(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A safe non-negative integer, as String(n) writes it. */
  integer(n: number): void {
    let width = 1;
    while (width < 16 && n >= POWERS[width]) width++;
    if (width === 16) {
      this.text(String(n));
      return;
    }
    this.digits(n, width);
  }

  /** A finite number as line protocol writes a float (numberText, that is String(v)). */
  float(v: number): void {
    const millionths = millionthsOf(v);
    if (millionths === undefined) {
      this.text(v === 0 && 1 / v < 0 ? '-0' : String(v));
      return;
    }
    const whole = Math.floor(millionths / 1e6);
    let fraction = millionths - whole * 1e6;
    this.integer(whole);
    if (fraction === 0) return;
    let width = 6;
    while (fraction % 10 === 0) {
      fraction /= 10;
      width--;
    }
    this.byte(DOT);
    this.digits(fraction, width);
  }

  /** A performance.now() reading as its epoch-nanosecond timestamp: String(perfToNs(perfMs)). */
  perfTime(perfMs: number): void {
    const ns = Math.round(perfMs * 1e6) + PERF_ORIGIN.nanos;
    if (!(ns >= 0 && ns <= Number.MAX_SAFE_INTEGER)) {
      this.text(String(perfToNs(perfMs)));
      return;
    }
    const seconds = Math.floor(ns / 1e9);
    this.integer(PERF_ORIGIN.seconds + seconds);
    this.digits(ns - seconds * 1e9, 9);
  }

  /** `n` in exactly `width` digits, zero-padded. */
  private digits(n: number, width: number): void {
    this.room(width);
    const buf = this.buf;
    for (let i = this.pos + width - 1; i >= this.pos; i--) {
      const rest = Math.floor(n / 10);
      buf[i] = ZERO + (n - rest * 10);
      n = rest;
    }
    this.pos += width;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.initialSize, this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
