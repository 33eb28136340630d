import { describe, expect, it } from 'vitest';
import type { FieldValue, Sample } from '../../../src/core/sample.js';
import {
  decodeLine,
  decodeLines,
  decodeRecords,
  decodeStream,
  encodeBatch,
  encodeLine,
  encodeLines,
  LineProtocolError,
  numberText,
} from '../../../src/store/line-protocol.js';
import { FieldKind, type RecordView, SampleViews } from '../../../src/store/record-view.js';

function sample(
  measurement: string,
  tags: Record<string, string>,
  fields: Record<string, FieldValue>,
  time = 1_700_000_000_000_000_000n,
): Sample {
  return { measurement, tags, fields, time };
}

function roundTrip(s: Sample): Sample {
  return decodeLine(encodeLine(s));
}

async function* chunked(parts: (string | Uint8Array)[]): AsyncGenerator<string | Uint8Array> {
  for (const part of parts) yield part;
}

async function collect(iter: AsyncIterable<Sample>): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of iter) out.push(s);
  return out;
}

describe('encodeLine: escaping', () => {
  it('escapes commas and spaces in the measurement, but not equals signs', () => {
    expect(encodeLine(sample('my cpu,all=1', {}, { v: 1 }, 5n))).toBe('my\\ cpu\\,all=1 v=1 5');
  });

  it('escapes commas, equals signs and spaces in tag keys and values', () => {
    const line = encodeLine(sample('m', { 'a key,x=y': 'a value,b=c' }, { v: 1 }, 5n));
    expect(line).toBe('m,a\\ key\\,x\\=y=a\\ value\\,b\\=c v=1 5');
  });

  it('escapes commas, equals signs and spaces in field keys', () => {
    expect(encodeLine(sample('m', {}, { 'f k,=': 1 }, 5n))).toBe('m f\\ k\\,\\==1 5');
  });

  it('quotes string fields, escaping only double quotes and backslashes', () => {
    const line = encodeLine(sample('m', {}, { s: 'say "hi", a=b \\ c' }, 5n));
    expect(line).toBe('m s="say \\"hi\\", a=b \\\\ c" 5');
    expect(roundTrip(sample('m', {}, { s: 'say "hi", a=b \\ c' }, 5n)).fields.s).toBe('say "hi", a=b \\ c');
  });

  it('writes newlines in string fields raw, inside the quotes, and reads them back', () => {
    const s = sample('m', { host: 'a' }, { msg: 'line 1\nline 2\r\n', n: 1n }, 5n);
    const line = encodeLine(s);
    expect(line).toBe('m,host=a msg="line 1\nline 2\r\n",n=1i 5');
    expect(decodeLine(line)).toEqual(s);
    expect(decodeLines(`${line}\n${line}\n`)).toEqual([s, s]);
  });

  it('refuses newlines outside string fields rather than altering them', () => {
    expect(() => encodeLine(sample('m', { host: 'a\nb' }, { v: 1 }))).toThrow(
      /tag "host" contains a newline/,
    );
    expect(() => encodeLine(sample('m', { 'h\n': 'a' }, { v: 1 }))).toThrow(/newline/);
    expect(() => encodeLine(sample('m\n', {}, { v: 1 }))).toThrow(/measurement contains a newline/);
    expect(() => encodeLine(sample('m', {}, { 'v\n': 1 }))).toThrow(/field key "v\\n" contains a newline/);
  });

  it('passes backslashes through names, except where InfluxDB would read them as escapes', () => {
    const s = sample('a\\b', { path: 'C:\\tmp\\x' }, { 'k\\': 1, 'f\\g': 2 }, 5n);
    expect(() => encodeLine(s)).toThrow(/field key "k\\\\" ends with a backslash/);
    const ok = sample('a\\b', { path: 'C:\\tmp\\x' }, { 'f\\g': 2 }, 5n);
    expect(encodeLine(ok)).toBe('a\\b,path=C:\\tmp\\x f\\g=2 5');
    expect(roundTrip(ok)).toEqual(ok);
    expect(() => encodeLine(sample('m', { t: 'a\\,b' }, { v: 1 }))).toThrow(/backslash before ","/);
    expect(() => encodeLine(sample('m', { t: 'a\\ b' }, { v: 1 }))).toThrow(/backslash before " "/);
    expect(() => encodeLine(sample('m', { t: 'a\\' }, { v: 1 }))).toThrow(/ends with a backslash/);
  });

  it('passes unicode through measurement, tags and fields', () => {
    const s = sample(
      'température',
      { hôte: 'ordinateur-😀', 名前: '値' },
      { 'é t': 'naïve ☃ 日本語', n: 2 },
      5n,
    );
    const line = encodeLine(s);
    expect(line).toBe('température,hôte=ordinateur-😀,名前=値 é\\ t="naïve ☃ 日本語",n=2 5');
    expect(decodeLine(line)).toEqual(s);
  });
});

describe('encodeLine: types and shape', () => {
  it('writes integers with i, floats in shortest form, booleans as true/false', () => {
    const s = sample('m', {}, { i: -42n, f: 5, g: 0.1, big: 1e21, tiny: 5e-7, t: true, fa: false }, 5n);
    expect(encodeLine(s)).toBe('m i=-42i,f=5,g=0.1,big=1e+21,tiny=5e-7,t=true,fa=false 5');
    const back = decodeLine(encodeLine(s));
    expect(back).toEqual(s);
    expect(typeof back.fields.f).toBe('number');
    expect(typeof back.fields.i).toBe('bigint');
  });

  it('writes every float as String() does, through the integer shortcut for six decimals or fewer', () => {
    const values = [0, 1, 0.5, 1e-6, 1e-7, 0.1 + 0.2, 123.456, 1000, 10.000001, 999_999_999.999999];
    values.push(1e9, 1e15, 1e21, 1.5e-300, -0.25, -1e-6, Number.MAX_VALUE, Number.MIN_VALUE);
    for (let i = 0; i < 20_000; i++) {
      // Whole nanoseconds in milliseconds (the runner's durations), then arbitrary doubles.
      values.push(Math.round(Math.random() * 10 ** (Math.random() * 15)) / 1e6);
      values.push(Math.random() * 10 ** (Math.random() * 30 - 10));
    }
    for (const v of values) expect(numberText(v), `${v}`).toBe(String(v));
    expect(numberText(-0)).toBe('-0');
  });

  it('keeps the sign of negative zero', () => {
    const back = roundTrip(sample('m', {}, { z: -0 }));
    expect(Object.is(back.fields.z, -0)).toBe(true);
  });

  it('writes the 64-bit integer extremes and refuses beyond them', () => {
    const s = sample('m', {}, { lo: -(2n ** 63n), hi: 2n ** 63n - 1n }, -(2n ** 63n));
    expect(roundTrip(s)).toEqual(s);
    expect(() => encodeLine(sample('m', {}, { x: 2n ** 63n }))).toThrow(/outside the 64-bit range/);
    expect(() => encodeLine(sample('m', {}, { x: 1 }, 2n ** 63n))).toThrow(/time is outside/);
  });

  it('sorts tags by key and leaves out empty tag values', () => {
    expect(encodeLine(sample('m', { zone: 'z', host: 'h', empty: '', app: 'a' }, { v: 1 }, 5n))).toBe(
      'm,app=a,host=h,zone=z v=1 5',
    );
  });

  it('refuses a sample with no fields, an empty measurement or a measurement starting with #', () => {
    expect(() => encodeLine(sample('m', {}, {}))).toThrow(/no fields/);
    expect(() => encodeLine(sample('', {}, { v: 1 }))).toThrow(/measurement is empty/);
    expect(() => encodeLine(sample('#m', {}, { v: 1 }))).toThrow(/starts with "#"/);
    expect(() => encodeLine(sample('\tm', {}, { v: 1 }))).toThrow(/measurement starts with a tab/);
    expect(() => encodeLine(sample('m', {}, { '\tv': 1 }))).toThrow(/field key "\\tv" starts with a tab/);
    expect(encodeLine(sample('m', { '\tt': '\tv' }, { 'v\t': 1 }, 5n))).toBe('m,\tt=\tv v\t=1 5');
    expect(() => encodeLine(sample('m', { '': 'x' }, { v: 1 }))).toThrow(/tag key is empty/);
    expect(() => encodeLine(sample('m', {}, { '': 1 }))).toThrow(/field key is empty/);
  });

  it('drops NaN and Infinity fields, and samples left without fields in a batch', () => {
    expect(encodeLine(sample('m', {}, { a: Number.NaN, b: 1, c: Number.POSITIVE_INFINITY }, 5n))).toBe(
      'm b=1 5',
    );
    expect(() => encodeLine(sample('m', {}, { a: Number.NaN }))).toThrow(/NaN or Infinity/);
    const batch = encodeBatch([
      sample('m', {}, { a: 1 }, 1n),
      sample('m', {}, { a: Number.NaN }, 2n),
      sample('m', {}, { a: Number.NEGATIVE_INFINITY }, 3n),
      sample('m', {}, { a: 4 }, 4n),
    ]);
    expect(batch).toEqual({ text: 'm a=1 1\nm a=4 4\n', lines: 2, dropped: 2 });
  });

  it('joins records with newlines, ending with one; an empty batch is empty text', () => {
    expect(encodeLines([sample('a', {}, { v: 1 }, 1n), sample('b', {}, { v: 2 }, 2n)])).toBe(
      'a v=1 1\nb v=2 2\n',
    );
    expect(encodeLines([])).toBe('');
  });

  it('does not let a __proto__ key replace the prototype on decode', () => {
    const s = sample('m', { __proto__x: 'y' }, { v: 1 }, 5n);
    expect(roundTrip(s)).toEqual(s);
    const back = decodeLine('m,__proto__=y __proto__=1 5');
    expect(Object.getPrototypeOf(back.tags)).toBe(Object.prototype);
    expect(Object.keys(back.tags)).toEqual(['__proto__']);
    expect(Object.keys(back.fields)).toEqual(['__proto__']);
  });
});

/** Malformed records, and what the error says. */
const MALFORMED: [string, RegExp][] = [
  ['m v=1 1\n\ncpu\n', /^line 3, column 4: expected a space and fields after the measurement/],
  ['m v=1 1\nm v=1\n', /^line 2, column 6: expected a space and a timestamp after the fields/],
  ['m v=1 \n', /^line 1, column 7: expected a timestamp/],
  ['m v=1.5i 1', /^line 1, column 5: expected an integer .* for field "v"/],
  ['m v=12u 1', /unsigned "u" is not supported/],
  [
    'm v=1 1\nm v="abc 1\nn v=1 2\n',
    /^line 2, column 5: expected a closing '"' for string field "v", opened here/,
  ],
  ['m,t=a=b v=1 1', /^line 1, column 6: expected "\\=".* in the value of tag "t"/],
  ['m,t=a,t=b v=1 1', /expected tag "t" only once/],
  ['m,t v=1 1', /^line 1, column 4: expected "=" after tag key "t"/],
  ['m,=x v=1 1', /expected a tag key/],
  ['m,t= v=1 1', /expected a value for tag "t"/],
  ['m v=yes 1', /expected a value for field "v": a number/],
  ['m v=0x10 1', /expected a number for field "v"/],
  ['m v= 1', /expected a value for field "v"/],
  ['m v 1', /expected "=" after field key "v"/],
  ['m =1 1', /expected a field key/],
  ['m v=1 12a', /expected the end of the line after the timestamp/],
  ['m v=1 99999999999999999999', /within the 64-bit nanosecond range/],
  [',t=a v=1 1', /expected a measurement/],
  ['m v=1e999 1', /expected a finite number/],
];

describe('decode: what InfluxDB 1.x accepts', () => {
  it('reads the escapes of the InfluxDB documentation examples', () => {
    expect(decodeLine('weather,location\\ place=us-midwest temperature=82 1465839830100400200')).toEqual(
      sample('weather', { 'location place': 'us-midwest' }, { temperature: 82 }, 1465839830100400200n),
    );
    expect(decodeLine('weather,location=us\\,midwest temperature=82 1').tags).toEqual({
      location: 'us,midwest',
    });
    expect(decodeLine('weather,location=us-midwest temp\\=rature=82 1').fields).toEqual({
      'temp=rature': 82,
    });
    expect(decodeLine('weather,location=us-midwest temperature_str="too hot\\\\cold" 1').fields).toEqual({
      temperature_str: 'too hot\\cold',
    });
    expect(decodeLine('wea\\ ther,loc=x temperature_str="too \\"hot\\"" 1')).toEqual(
      sample('wea ther', { loc: 'x' }, { temperature_str: 'too "hot"' }, 1n),
    );
  });

  it('keeps backslashes InfluxDB does not unescape', () => {
    expect(decodeLine('m s="a\\nb" 1').fields.s).toBe('a\\nb');
    expect(decodeLine('m,t=a\\b v=1 1').tags.t).toBe('a\\b');
  });

  it('reads every boolean spelling and numbers with exponents', () => {
    const s = decodeLine(
      'm a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE,k=1.5e3,l=-.5,n=2E-2 1',
    );
    expect(s.fields).toEqual({
      a: true,
      b: true,
      c: true,
      d: true,
      e: true,
      f: false,
      g: false,
      h: false,
      i: false,
      j: false,
      k: 1500,
      l: -0.5,
      n: 0.02,
    });
  });

  it('skips blank lines, whitespace and # comments, and allows trailing spaces', () => {
    const text = '# header\n\n   \n  m v=1 1   \n\t# indented comment\nm v=2 2';
    expect(decodeLines(text).map((s) => s.fields.v)).toEqual([1, 2]);
    expect(decodeLines('')).toEqual([]);
  });

  it('names the line, column and what was expected for malformed input', () => {
    for (const [text, message] of MALFORMED) {
      let error: unknown;
      try {
        decodeLines(text);
      } catch (err) {
        error = err;
      }
      expect(error, text).toBeInstanceOf(LineProtocolError);
      expect((error as Error).message, text).toMatch(message);
    }
  });

  it('counts newlines inside string fields when naming a later line', () => {
    expect(() => decodeLines('m s="a\nb\nc" 1\nbad\n')).toThrow(/^line 4, column 4: /);
    try {
      decodeLines('m v=1 1\nm v=x 2\n');
    } catch (err) {
      expect(err).toMatchObject({ line: 2, column: 5 });
    }
  });

  it('decodeLine refuses more than one record, and nothing at all', () => {
    expect(() => decodeLine('m v=1 1\nm v=2 2')).toThrow(/line 2, column 1: expected a single record/);
    expect(() => decodeLine('# only a comment')).toThrow(/expected a line-protocol record/);
    expect(decodeLine('m v=1 1\n')).toEqual(sample('m', {}, { v: 1 }, 1n));
  });
});

/* A tiny deterministic generator: mulberry32, so failures reproduce and no dependency is needed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [
  'a',
  'b',
  'Z',
  '0',
  '_',
  '-',
  '.',
  ' ',
  ',',
  '=',
  '"',
  '\\',
  '#',
  'é',
  '日',
  '😀',
  '\t',
  '\r',
  '\n',
];

function generator(seed: number) {
  const next = rng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const text = (min: number, max: number, allowNewline: boolean) => {
    let s = '';
    const len = min + int(max - min + 1);
    while (s.length < len) {
      const c = pick(ALPHABET);
      if (c !== '\n' || allowNewline) s += c;
    }
    return s;
  };
  // Names cannot hold a backslash that InfluxDB would read as an escape: turn those into letters.
  const name = (min: number) => {
    const s = text(min, 8, false);
    let out = '';
    for (let i = 0; i < s.length; i++) {
      const nextChar = s[i + 1];
      out += s[i] === '\\' && (nextChar === undefined || ' ,="'.includes(nextChar)) ? 'x' : s[i];
    }
    // InfluxDB skips a leading tab in a measurement or field key.
    return out.startsWith('\t') ? `x${out}` : out;
  };
  const bigint64 = () => {
    const hi = BigInt(int(2 ** 31)) * (next() < 0.5 ? -1n : 1n);
    return hi * 2n ** 32n + BigInt(int(2 ** 32));
  };
  const float = () => {
    switch (int(5)) {
      case 0:
        return int(1000) - 500;
      case 1:
        return (next() - 0.5) * 10 ** (int(40) - 20);
      case 2:
        return next();
      case 3:
        return -0;
      default:
        return Number.MAX_VALUE * next();
    }
  };
  const field = (): FieldValue => {
    switch (int(4)) {
      case 0:
        return float();
      case 1:
        return pick([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), bigint64()]);
      case 2:
        return text(0, 12, true);
      default:
        return next() < 0.5;
    }
  };
  return (): Sample => {
    let measurement = name(1);
    if (measurement.startsWith('#')) measurement = `m${measurement}`;
    const tags: Record<string, string> = {};
    for (let i = int(4); i > 0; i--) tags[name(1)] = name(1);
    const fields: Record<string, FieldValue> = {};
    for (let i = 1 + int(4); i > 0; i--) fields[name(1)] = field();
    return { measurement, tags, fields, time: bigint64() };
  };
}

/** Tags in the order the encoder writes them, so toEqual compares content, not key order. */
function sortedTags(s: Sample): Sample {
  return { ...s, tags: Object.fromEntries(Object.entries(s.tags).sort(([a], [b]) => (a < b ? -1 : 1))) };
}

describe('round trip', () => {
  const next = generator(20240611);
  const samples = Array.from({ length: 500 }, next);

  it('decode(encode(sample)) equals the sample for 500 random samples', () => {
    for (const s of samples) {
      const line = encodeLine(s);
      expect(decodeLine(line), line).toEqual(sortedTags(s));
      expect(encodeLine(decodeLine(line))).toBe(line);
    }
  });

  it('decodeLines(encodeLines(samples)) equals the samples', () => {
    expect(decodeLines(encodeLines(samples))).toEqual(samples.map(sortedTags));
  });

  it('decodeStream gives the same samples however the text is cut into chunks', async () => {
    const text = encodeLines(samples.slice(0, 60));
    const bytes = Buffer.from(text, 'utf8');
    const expected = samples.slice(0, 60).map(sortedTags);
    for (const size of [1, 2, 3, 7, 64, 1000]) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
      expect(await collect(decodeStream(chunked(parts))), `chunks of ${size} bytes`).toEqual(expected);
    }
    const strings = [text.slice(0, 100), text.slice(100, 101), text.slice(101)];
    expect(await collect(decodeStream(chunked(strings)))).toEqual(expected);
  });
});

describe('decodeStream', () => {
  it('reports the physical line of an error across chunks', async () => {
    const parts = ['m s="a\nb" 1\n', 'm v=1 1\nm v=', '1 3\nbroken\n'];
    await expect(collect(decodeStream(chunked(parts)))).rejects.toThrow(/^line 5, column 7: /);
  });

  it('ignores a torn last record only when asked to', async () => {
    const parts = ['m v=1 1\nm v=2 2\nm v="unfinish'];
    await expect(collect(decodeStream(chunked(parts)))).rejects.toThrow(LineProtocolError);
    const read = await collect(decodeStream(chunked(parts), { allowTruncatedEnd: true }));
    expect(read.map((s) => s.fields.v)).toEqual([1, 2]);
    // A complete last record without its newline is still read.
    expect(
      await collect(decodeStream(chunked(['m v=1 1\nm v=2 2']), { allowTruncatedEnd: true })),
    ).toHaveLength(2);
    // A malformed record that is not last still fails.
    await expect(
      collect(decodeStream(chunked(['m v=1 1\nbad\nm v=2 2']), { allowTruncatedEnd: true })),
    ).rejects.toThrow(/line 2/);
  });
});

/** A record as plain data: what a consumer of the view can see. */
function snapshot(view: RecordView) {
  const fields: [string, FieldKind, string | number][] = [];
  for (let k = 0; k < view.fieldCount; k++) {
    fields.push([
      view.names[k],
      view.kinds[k],
      view.kinds[k] === FieldKind.string ? view.strings[k] : view.numbers[k],
    ]);
  }
  return { measurement: view.series.measurement, tags: { ...view.series.tags }, time: view.time, fields };
}

async function records(chunks: AsyncIterable<string | Uint8Array>, allowTruncatedEnd = false) {
  const out: ReturnType<typeof snapshot>[] = [];
  const count = await decodeRecords(chunks, (view) => out.push(snapshot(view)), { allowTruncatedEnd });
  expect(count).toBe(out.length);
  return out;
}

/** What decodeStream reads, as views: the reference decodeRecords must match. */
async function viaSamples(chunks: AsyncIterable<string | Uint8Array>, allowTruncatedEnd = false) {
  const views = new SampleViews();
  const out: ReturnType<typeof snapshot>[] = [];
  for await (const s of decodeStream(chunks, { allowTruncatedEnd })) out.push(snapshot(views.of(s)));
  return out;
}

async function failure(read: Promise<unknown>): Promise<unknown> {
  try {
    await read;
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('decodeRecords', () => {
  // Beyond what the encoder writes: integers and times past 2^53 (and past 4.6e18, where only a
  // BigInt can round them), leading zeros, signs, short and long floats, index keys after
  // others, a repeated key, escapes.
  const handWritten = [
    'm,t=a\\ b\\,c v=9007199254740993i,w=-9223372036854775808i,x=00012.50,y=-0i 9223372036854775807',
    'm,t=a\\ b\\,c v=-0.0,w=.5,x=5.,y=1e3,z=-12345678901234567 -4611686018427387905',
    'm,t=a\\ b\\,c b=1,1=2,0=3i,b="again",a=t 000000000000000000000000042',
    'm,t=a\\ b\\,c b=1,1=2,0=3i,b="again",a=t 4611686018427387904',
    'n s="multi\nline \\"quoted\\" \\\\ end",u=0.1,v=123456789012345.6 1700000000123456789',
  ].join('\n');

  it('reads what decodeStream reads, however the text is cut into chunks', async () => {
    // A byte-order mark first, which a UTF-8 reader drops.
    const text = '\ufeff' + encodeLines(Array.from({ length: 300 }, generator(7))) + handWritten + '\n';
    const bytes = Buffer.from(text, 'utf8');
    const expected = await viaSamples(chunked([text]));
    expect(expected).toHaveLength(305);
    expect(expected.map((r) => r.measurement)).toEqual(decodeLines(text.slice(1)).map((s) => s.measurement));
    expect(await records(chunked([text]))).toEqual(expected);
    for (const size of [1, 3, 64, 1000]) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
      expect(await records(chunked(parts)), `chunks of ${size} bytes`).toEqual(expected);
    }
  });

  it('gives integers and times as the nearest double, and fields in the order of a fields object', async () => {
    const [first, second, third] = await records(chunked([handWritten]));
    expect(first.measurement).toBe('m');
    expect(first.tags).toEqual({ t: 'a b,c' });
    expect(first.time).toBe(Number(9223372036854775807n));
    expect(first.fields).toEqual([
      ['v', FieldKind.integer, Number(9007199254740993n)],
      ['w', FieldKind.integer, -(2 ** 63)],
      ['x', FieldKind.float, 12.5],
      ['y', FieldKind.integer, 0],
    ]);
    expect(second.time).toBe(Number(-4611686018427387905n));
    expect(second.fields.map((f) => f[2])).toEqual([-0, 0.5, 5, 1000, -12345678901234568]);
    expect(third.time).toBe(42);
    expect(third.fields).toEqual([
      ['0', FieldKind.integer, 3],
      ['1', FieldKind.float, 2],
      ['b', FieldKind.string, 'again'],
      ['a', FieldKind.boolean, 1],
    ]);
  });

  it('fails where decodeStream fails, with the same error', async () => {
    for (const [text, message] of MALFORMED) {
      for (const parts of [[text], [...text]]) {
        const error = await failure(records(chunked(parts)));
        expect(error, text).toBeInstanceOf(LineProtocolError);
        expect((error as Error).message, text).toMatch(message);
        expect(error, text).toEqual(await failure(viaSamples(chunked(parts))));
      }
    }
  });

  it('ignores a torn last record only when asked to', async () => {
    const parts = ['m v=1 1\nm v=2 2\nm v="unfinish'];
    await expect(records(chunked(parts))).rejects.toThrow(LineProtocolError);
    expect((await records(chunked(parts), true)).map((r) => r.fields[0][2])).toEqual([1, 2]);
    expect(await records(chunked(['m v=1 1\nm v=2 2']), true)).toHaveLength(2);
    await expect(records(chunked(['m v=1 1\nbad\nm v=2 2']), true)).rejects.toThrow(/line 2/);
  });
});
