import { describe, expect, it } from 'vitest';
import { LineBytes } from '../../../src/store/line-bytes.js';
import { numberText } from '../../../src/store/line-protocol.js';

/** What `write` puts in a fresh LineBytes, as text. */
function written(write: (out: LineBytes) => void, size = 8): string {
  const out = new LineBytes(size);
  write(out);
  return out.take().toString('utf8');
}

describe('LineBytes', () => {
  it('writes integers as String() does, up to 2^53', () => {
    const values = [
      0,
      1,
      9,
      10,
      99,
      100,
      999_999,
      2 ** 31,
      2 ** 32 + 1,
      1e15 - 1,
      1e15,
      Number.MAX_SAFE_INTEGER,
    ];
    for (let i = 0; i < 5000; i++) values.push(Math.floor(Math.random() * 10 ** (Math.random() * 16)));
    for (const n of values)
      expect(
        written((o) => o.integer(n)),
        `${n}`,
      ).toBe(String(n));
  });

  it('writes floats as the generic encoder does', () => {
    const values = [0, -0, 1, 0.5, 1e-6, 1e-7, 0.1 + 0.2, 123.456, 10.000001, 1e21, -2.5, Number.MIN_VALUE];
    for (let i = 0; i < 5000; i++) {
      values.push(Math.round(Math.random() * 10 ** (Math.random() * 15)) / 1e6);
      values.push((Math.random() - 0.5) * 10 ** (Math.random() * 30 - 10));
    }
    for (const v of values)
      expect(
        written((o) => o.float(v)),
        `${v}`,
      ).toBe(numberText(v));
  });

  it('grows past its first buffer, and hands over what was written, then starts afresh', () => {
    const out = new LineBytes(4);
    out.text('iteration,step=é ');
    out.integer(123_456_789);
    out.byte(10);
    expect(out.length).toBe(Buffer.byteLength('iteration,step=é 123456789\n'));
    const first = out.take();
    expect(first.toString('utf8')).toBe('iteration,step=é 123456789\n');
    expect(out.length).toBe(0);
    out.text('next');
    // The bytes handed over are not written over by what comes next.
    expect(first.toString('utf8')).toBe('iteration,step=é 123456789\n');
    expect(out.take().toString('utf8')).toBe('next');
  });

  it('hands over a large batch without copying, and never writes into it again', () => {
    const out = new LineBytes(1024);
    const line = 'iteration,step=s duration=1.5,ok=true,iteration=1i 1700000000000000000\n';
    for (let i = 0; i < 200; i++) out.text(line);
    const first = out.take();
    expect(first.length).toBe(200 * line.length);
    for (let i = 0; i < 200; i++) out.text('x'.repeat(line.length - 1) + '\n');
    out.take();
    expect(first.toString('latin1')).toBe(line.repeat(200));
  });

  it('forgets a line cut short with truncate', () => {
    const out = new LineBytes();
    out.text('kept\n');
    const mark = out.length;
    out.text('half a li');
    out.truncate(mark);
    out.text('other\n');
    expect(out.take().toString('utf8')).toBe('kept\nother\n');
  });
});
