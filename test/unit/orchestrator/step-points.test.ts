import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { perfToNs, type Sample } from '../../../src/core/sample.js';
import { StepPoints } from '../../../src/orchestrator/step-points.js';
import { type EncodedBatch, encodeBatch } from '../../../src/store/line-protocol.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import type { EncodedRecords, SampleSink } from '../../../src/store/store.js';

/** Tags whose run, scenario and step names need every escape line protocol has. */
const TAGS = { run: 'run-1', scenario: 'my scenario, v=1', step: 'step 1,a=b' };
/** Iterations start at performance.now() readings; actions carry their own epoch time. */
const P0 = 5_000.123456789;
const T0 = 1_764_000_000_123_456_789n;

/** The points a step records, fed to `points` as the step executor does. */
function record(points: StepPoints): void {
  // An HTTP iteration: the workload's integers after the runner's fields.
  points.iteration(
    0,
    { iteration: 0, durationMs: 1.234567891, ok: true, fields: { bytes: 11n, status: 200n } },
    P0,
  );
  // A warmup iteration on another worker, and a cut-short failure whose error needs quoting.
  points.iteration(3, { iteration: 1, durationMs: 0.5, ok: true, warmup: true }, P0 + 1);
  const error = 'GET http://h/ "x": timed out\nC:\\path, é';
  points.iteration(0, { iteration: 2, durationMs: 30000, ok: false, interrupted: true, error }, P0 + 2);
  // Atomic actions, one with a name that needs escaping, one failed.
  points.action(3, 'login', { iteration: 3, durationMs: 2.5, ok: true, fields: { status: 201n } }, T0 + 3n);
  const failed = { iteration: 3, durationMs: -0, ok: false, warmup: true, error: 'status 500' };
  points.action(3, 'list servers, all', failed, T0 + 4n);
  points.action(0, 'login', { iteration: 4, durationMs: 1e-7, ok: true }, T0 + 5n);
  // Workload fields: one not writable (NaN), one string with a space in its key.
  const odd = { ratio: Number.NaN, 'a key': 'v', n: 1.5 };
  points.iteration(5, { iteration: 5, durationMs: 7, ok: true, fields: odd }, P0 + 6);
  // Where the shortcut steps aside: a workload field named like the runner's, or like an
  // array index (an object puts those first), and a duration that cannot be written.
  points.iteration(6, { iteration: 6, durationMs: 1, ok: true, fields: { ok: 'mine', x: 1n } }, P0 + 7);
  points.iteration(6, { iteration: 7, durationMs: 1, ok: false, fields: { '7': 1n }, error: 'e' }, P0 + 8);
  points.iteration(7, { iteration: 8, durationMs: Number.NaN, ok: true }, P0 + 9);
  points.flush();
}

/** A sink that keeps Sample objects (the generic path). */
function sampleSink(): SampleSink & { samples: Sample[] } {
  const samples: Sample[] = [];
  return { samples, write: (s) => samples.push(...s), flush: async () => {} };
}

/** A sink that takes encoded records (the fast path, as bytes) and refuses Sample objects. */
function encodedSink(): SampleSink & { batches: EncodedBatch[]; writeEncoded(b: EncodedRecords): void } {
  const batches: EncodedBatch[] = [];
  return {
    batches,
    write: () => {
      throw new Error('samples written to a sink that takes encoded records');
    },
    writeEncoded: (b) => batches.push({ ...b, text: b.text.toString() }),
    flush: async () => {},
  };
}

describe('StepPoints', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scalpels-step-points-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('encodes iteration and action points to the same bytes as the generic encoder', () => {
    const generic = sampleSink();
    record(new StepPoints(generic, TAGS));
    const fast = encodedSink();
    record(new StepPoints(fast, TAGS));

    const expected = encodeBatch(generic.samples);
    expect(fast.batches).toHaveLength(1);
    expect(fast.batches[0]).toEqual(expected);
    expect(expected).toMatchObject({ lines: 10, dropped: 0 });
    // The generic path's points, to be sure what is compared: tags per worker, then `action`.
    expect(generic.samples[4]).toMatchObject({
      measurement: 'action',
      tags: { ...TAGS, worker: '3', action: 'list servers, all' },
    });
    expect(expected.text.split('\n')[0]).toBe(
      `iteration,run=run-1,scenario=my\\ scenario\\,\\ v\\=1,step=step\\ 1\\,a\\=b,worker=0 duration=1.234567891,ok=true,iteration=0i,bytes=11i,status=200i ${perfToNs(P0)}`,
    );
    expect(generic.samples[7].fields).toEqual({ duration: 1, ok: 'mine', iteration: 6n, x: 1n });
    expect(Object.keys(generic.samples[8].fields)[0]).toBe('7');
  });

  it('stores through a LocalStore the bytes the generic encoder writes, and reads back the same samples', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('fast');
    record(new StepPoints(writer, TAGS));
    await writer.close();
    const generic = sampleSink();
    record(new StepPoints(generic, TAGS));

    const text = await readFile(join(dir, 'runs', 'fast', 'samples.lp'), 'utf8');
    expect(text).toBe(encodeBatch(generic.samples).text);
    expect(writer.samplesWritten).toBe(10);
    expect(writer.samplesDropped).toBe(0);
    const read: Sample[] = [];
    for await (const s of store.readSamples('fast')) read.push(s);
    expect(read).toHaveLength(10);
    expect(read[2].fields.error).toBe('GET http://h/ "x": timed out\nC:\\path, é');
    expect(read[4].tags.action).toBe('list servers, all');
  });

  it('hands points over in batches of 500, and the rest after 200 ms', async () => {
    const fast = encodedSink();
    const points = new StepPoints(fast, TAGS);
    for (let i = 0; i < 502; i++) points.iteration(i % 4, { iteration: i, durationMs: 1, ok: true }, P0);
    expect(fast.batches.map((b) => b.lines)).toEqual([500]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fast.batches.map((b) => b.lines)).toEqual([500, 2]);
    points.flush();
    expect(fast.batches).toHaveLength(2);
  });

  it('leaves no half-written line behind a point it refuses', () => {
    const fast = encodedSink();
    const points = new StepPoints(fast, TAGS);
    points.iteration(0, { iteration: 0, durationMs: 1, ok: true }, P0);
    expect(() => points.action(0, 'a', { iteration: 0, durationMs: 1, ok: true }, 2n ** 64n)).toThrow(
      /64-bit/,
    );
    points.iteration(0, { iteration: 1, durationMs: 2, ok: true }, P0 + 1);
    points.flush();
    const lines = fast.batches[0].text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^iteration,.* duration=1,ok=true,iteration=0i \d+$/);
    expect(lines[1]).toMatch(/^iteration,.* duration=2,ok=true,iteration=1i \d+$/);
    expect(fast.batches[0].lines).toBe(2);
  });

  it('refuses a step whose tags cannot be written exactly, as the generic encoder does', () => {
    const points = new StepPoints(encodedSink(), { ...TAGS, step: 'bad\nstep' });
    expect(() => points.iteration(0, { iteration: 0, durationMs: 1, ok: true }, P0)).toThrow(/newline/);
  });
});
