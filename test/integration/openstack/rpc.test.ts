import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLines } from '../../../src/store/line-protocol.js';
import { runCli, tempDir, writeScenario } from '../../helpers/cli.js';

/** Debian's interpreter carries oslo.messaging; the python3 on PATH may be another one. */
const PYTHON = '/usr/bin/python3';
const oslo = (name: string) => fileURLToPath(new URL(`../../fixtures/oslo/${name}`, import.meta.url));
const API = 'http://127.0.0.1:15672/api';
const AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

describe('real RPC: an oslo.messaging server and client over RabbitMQ, traced by a scenario', () => {
  const id = randomBytes(3).toString('hex');
  const exchange = `scalpels-rpc-${id}`;
  const topic = `scalpels_rpc_${id}`;
  const target = ['--exchange', exchange, '--topic', topic, '--server', 'node-1'];
  let server: ChildProcess;

  beforeAll(async () => {
    server = spawn(PYTHON, [oslo('rpc_server.py'), ...target], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    server.stderr?.on('data', (d) => {
      stderr += d;
    });
    await new Promise<void>((resolve, reject) => {
      server.stdout?.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
      server.once('exit', (code) => reject(new Error(`rpc_server.py exited ${code}: ${stderr}`)));
    });
  });

  afterAll(async () => {
    server?.kill('SIGTERM');
    if (server && server.exitCode === null) await new Promise((r) => server.once('exit', r));
    // Leave the shared broker as we found it: the target's queues and exchanges.
    for (const q of [topic, `${topic}.node-1`])
      await fetch(`${API}/queues/%2F/${q}`, { method: 'DELETE', headers: { authorization: AUTH } });
    for (const x of [exchange, `${topic}_fanout`])
      await fetch(`${API}/exchanges/%2F/${x}`, { method: 'DELETE', headers: { authorization: AUTH } });
  });

  it('counts N calls of the named method in the firehose, and the python tracer sees the server endpoint', async () => {
    const N = 12;
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: oslo-rpc
steps:
  - name: calls
    workload:
      use: exec
      with: { argv: [${PYTHON}, ${oslo('rpc_client.py')}, ${target.join(', ')}, --method, add, --calls, "${N}", --casts, "0"] }
    runner: { type: serial, times: 1 }
    tracers:
      - use: rabbitmq
        with: { firehose: true, stats: false }
      - use: python
        interval: 500ms
        with: { cmdline: "rpc_server.py .*${topic}", modules: [rpc_server] }
    sla: { failure_rate: { max: 0 } }
`,
    );
    const store = join(dir, 'store');
    const r = await runCli(['run', file, '--store-dir', store, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout);
    const samples = decodeLines(readFileSync(join(store, 'runs', record.id, 'samples.lp'), 'utf8'));
    const calls = samples.filter(
      (s) =>
        s.measurement === 'rpc_calls' &&
        s.tags.exchange === exchange &&
        s.tags.kind === 'call' &&
        s.tags.method === 'add',
    );
    expect(calls.reduce((n, s) => n + (s.fields.count as bigint), 0n)).toBe(BigInt(N));
    // The server's endpoint method, in the server's own file, called (at least) N times.
    const add = samples.filter(
      (s) =>
        s.measurement === 'python_calls' &&
        s.tags.function === 'add' &&
        s.tags.file?.endsWith('rpc_server.py'),
    );
    const seen = samples
      .filter((s) => s.measurement === 'python_calls')
      .map((s) => `${s.tags.function}@${s.tags.file}`);
    expect(
      add.reduce((n, s) => n + Number(s.fields.calls), 0),
      JSON.stringify({ streams: record.streams, seen: seen.slice(0, 30) }),
    ).toBeGreaterThanOrEqual(N);
  });
});
