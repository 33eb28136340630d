import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeLines } from '../../../src/store/line-protocol.js';
import { runCli, tempDir } from '../../helpers/cli.js';
import { freePort } from '../helpers/private-mosquitto.js';

const example = resolve(import.meta.dirname, '../../../examples/tracers.yaml');

describe('examples/tracers.yaml: six tracers on one local service', () => {
  it('stores samples from process, syscalls, fsio, python, mysql and rabbitmq', async () => {
    const store = join(tempDir(), 'store');
    const port = await freePort();
    const r = await runCli([
      'run',
      example,
      '--store-dir',
      store,
      '--json',
      '--arg',
      `port=${port}`,
      '--arg',
      'requests=100',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout);
    const counts = Object.fromEntries(
      record.streams.map((s: { tracer: string; samples: number }) => [s.tracer, s.samples]),
    );
    for (const tracer of ['process', 'syscalls', 'fsio', 'python', 'mysql', 'rabbitmq']) {
      expect(counts[tracer], `${tracer} samples`).toBeGreaterThan(0);
    }
    const samples = decodeLines(readFileSync(join(store, 'runs', record.id, 'samples.lp'), 'utf8'));
    // The server's own code answered the requests: functions of the http package, and the
    // system calls it made to serve them.
    expect(samples.some((s) => s.measurement === 'python_calls' && s.tags.file?.includes('/http/'))).toBe(
      true,
    );
    expect(samples.some((s) => s.measurement === 'syscalls' && Number(s.fields.calls) > 0)).toBe(true);
  });
});
