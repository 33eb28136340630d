import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/agent.js';
import { defaultIntervalMs, tracerSchemas, workloadSchemas } from '../../../src/cli/catalog.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Collector } from '../../../src/orchestrator/collector.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../../src/orchestrator/embedded-broker.js';
import { executeRun } from '../../../src/orchestrator/run.js';
import { ProtocolClient, uniqueClientId } from '../../../src/protocol/client.js';
import { encodeMessage, envelope } from '../../../src/protocol/codec.js';
import type { DataMessage, EndMessage, StartTracerRequest } from '../../../src/protocol/messages.js';
import { topics } from '../../../src/protocol/topics.js';
import { loadScenario } from '../../../src/scenario/load.js';
import { encodeLines } from '../../../src/store/line-protocol.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { tracerRegistry } from '../../../src/tracers/index.js';

const RUN = '20261124-120000-f00d';

function validStart(): StartTracerRequest {
  return envelope<StartTracerRequest>({
    type: 'start',
    replyTo: 'scalpels/v1/clients/fuzz/reply',
    run: RUN,
    scenario: 'fuzz',
    step: null,
    stream: 'run.0.proc',
    tracer: 'proc',
    params: {},
    intervalMs: 1000,
    leaseMs: 2000,
  });
}

/** Random payloads: garbage, arbitrary JSON, and valid messages with one field replaced. */
const payloads = fc.oneof(
  fc.string().map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)),
  fc.json().map((j) => Buffer.from(j)),
  fc
    .tuple(
      fc.constantFrom(
        'v',
        'type',
        'id',
        'ts',
        'run',
        'stream',
        'tracer',
        'params',
        'intervalMs',
        'leaseMs',
        'seq',
        'lines',
        'extra',
      ),
      fc.jsonValue(),
    )
    .map(([key, value]) => encodeMessage({ ...validStart(), [key]: value } as never)),
  fc
    .record({
      seq: fc.integer({ min: -5, max: 50 }),
      lines: fc.string(),
      count: fc.integer({ min: -1, max: 10 }),
      stream: fc.constantFrom('fz', 'a/b', '', 'run.9.x'),
    })
    .map((m) => encodeMessage({ ...envelope<DataMessage>({ type: 'data', run: RUN, ...m }) })),
);

describe('protocol robustness (embedded broker, in-process agent)', () => {
  let broker: EmbeddedBroker;
  let agent: Agent;
  let runner: ProtocolClient;
  let attacker: ProtocolClient;
  let dropNext: ((topic: string, payload: Buffer) => boolean) | undefined;

  beforeAll(async () => {
    broker = await startEmbeddedBroker({
      configure: (aedes) => {
        // Drops chosen messages on their way to the runner, as a lossy path would.
        aedes.authorizeForward = (client, packet) => {
          if (client?.id.startsWith('runner') && dropNext?.(packet.topic, packet.payload as Buffer))
            return null;
          return packet;
        };
      },
    });
    agent = new Agent({
      name: 'fuzzed',
      broker: { url: broker.url },
      tracers: tracerRegistry.all(),
      ctx: realTracerContext(silentLogger),
      log: silentLogger,
    });
    await agent.start();
    runner = await ProtocolClient.connect({
      url: broker.url,
      clientId: uniqueClientId('runner'),
      log: silentLogger,
    });
    attacker = await ProtocolClient.connect({
      url: broker.url,
      clientId: uniqueClientId('fuzz'),
      log: silentLogger,
    });
  });
  afterAll(async () => {
    await attacker.close();
    await runner.close();
    await agent.stop();
    await broker.close();
  });

  it('keeps the agent up and correct under thousands of random and mutated commands', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(payloads, { minLength: 50, maxLength: 50 }), async (batch) => {
        for (const p of batch)
          await attacker.mqtt.publishAsync(topics.agentCommands('fuzzed'), p, { qos: 0 });
      }),
      { numRuns: 60 },
    );
    // Still answering, with a correct reply.
    const reply = await runner.request(topics.agentCommands('fuzzed'), { type: 'ping' }, 5000);
    expect(reply.ok).toBe(true);
    expect(Math.abs((reply.agentTs ?? 0) - Date.now())).toBeLessThan(5000);
    // Mutations that stayed valid started tracers; those of RUN stop on request, those of
    // mutated run ids (one field changes at a time, so their lease is 2 s) by their lease.
    await runner.request(topics.agentCommands('fuzzed'), { type: 'stop-run', run: RUN }, 5000);
    const deadline = Date.now() + 5000;
    while (agent.activeStreams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(agent.activeStreams).toBe(0);
  });

  it('keeps the collector exact while garbage arrives on the data topics', async () => {
    const store = new MemoryStore();
    const writer = await store.createRun(RUN);
    const collector = new Collector(runner, RUN, writer, silentLogger, new Map());
    await collector.start();
    await fc.assert(
      fc.asyncProperty(fc.array(payloads, { minLength: 50, maxLength: 50 }), async (batch) => {
        for (const p of batch) await attacker.mqtt.publishAsync(topics.runData(RUN, 'noise'), p, { qos: 0 });
      }),
      { numRuns: 40 },
    );
    const lines = (n: number) =>
      encodeLines(
        Array.from({ length: n }, (_, i) => ({
          measurement: 'm',
          tags: { i: String(i) },
          fields: { v: i },
          time: BigInt(i + 1),
        })),
      );
    for (const [seq, n] of [
      [0, 3],
      [1, 5],
      [1, 5],
      [2, 2],
    ] as const) {
      await attacker.publish(
        topics.runData(RUN, 'good'),
        envelope<DataMessage>({ type: 'data', run: RUN, stream: 'good', seq, count: n, lines: lines(n) }),
      );
    }
    await attacker.publish(
      topics.runData(RUN, 'good'),
      envelope<EndMessage>({ type: 'end', run: RUN, stream: 'good', batches: 3, samples: 10 }),
    );
    expect(await collector.waitComplete(['good/good'], 5000)).toBe(true);
    expect(collector.tally('good', 'good')).toMatchObject({
      samples: 10,
      batches: 3,
      complete: true,
      sent: 10,
    });
    expect(collector.duplicates).toBeGreaterThanOrEqual(1);
    await collector.stop();
  });

  it('fetches a batch lost on the way again from the agent, so the run is complete', async () => {
    let dropped = 0;
    dropNext = (topic, payload) => {
      if (dropped > 0 || !topic.includes('/data/')) return false;
      const m = JSON.parse(payload.toString());
      if (m.type === 'data' && m.seq === 1) {
        dropped++;
        return true;
      }
      return false;
    };
    const loaded = loadScenario(
      'lossy.yaml',
      `version: 1
name: lossy
tracers: [{ use: proc, interval: 100ms }]
steps:
  - name: s
    workload: { use: sleep, with: { duration: 1s } }
`,
      { tracers: tracerSchemas, workloads: workloadSchemas },
    );
    const notes: string[] = [];
    const { record } = await executeRun(loaded, {
      client: runner,
      store: new MemoryStore(),
      log: silentLogger,
      observer: { note: (t) => notes.push(t) },
      signal: new AbortController().signal,
      defaultIntervalMs,
      drainTimeoutMs: 5000,
    });
    dropNext = undefined;
    expect(record.error).toBeUndefined();
    expect(dropped).toBe(1);
    expect(notes).toContain('asking fuzzed to resend 1 batch of run.0.proc');
    expect(record.streams[0]).toMatchObject({ complete: true });
    expect(record.data.lost).toBe(0);
    expect(record.status).toBe('passed');
  });
});
