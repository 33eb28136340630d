/**
 * Synthetic runs for the report tests: a scenario's record and samples written into a store
 * (a MemoryStore, or a LocalStore on disk), so tests read them back through the same codec and
 * interface as a real run.
 */
import type { Sample } from '../../../src/core/sample.js';
import { seededRandom } from '../../../src/report/stats.js';
import type { RunRecord, RunStatus } from '../../../src/store/run-record.js';
import type { Store } from '../../../src/store/store.js';

export interface StepPlan {
  name: string;
  iterations: number;
  /** Median duration, ms. */
  medianMs: number;
  /** Relative spread of durations (lognormal sigma). */
  spread?: number;
  /** Iterations that fail, by index → error message. */
  failures?: Record<number, string>;
  /** Step length, ms. */
  lengthMs?: number;
}

export interface RunPlan {
  id: string;
  startMs: number;
  steps: StepPlan[];
  seed?: number;
  /** A run-level cpu series (one sample per 100 ms) with this level, per host. */
  cpu?: Record<string, number>;
  /** procstat samples of two pids of one process name per 100 ms. */
  procstat?: boolean;
  scenarioGates?: string[];
  scenario?: string;
  /** The record's status (default passed). */
  status?: RunStatus;
  /** More samples, written last (their `run` tag is the caller's business). */
  extra?: Sample[];
}

const ns = (ms: number) => BigInt(Math.round(ms * 1000)) * 1000n;

/** Writes a run into `store` and returns its record. */
export async function writeRun(store: Store, plan: RunPlan): Promise<RunRecord> {
  const rng = seededRandom(plan.seed ?? 1);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const w = await store.createRun(plan.id);
  const scenario = plan.scenario ?? 'synthetic';
  const base = { run: plan.id, scenario };
  const steps: RunRecord['steps'] = [];
  let t = plan.startMs + 100;
  plan.steps.forEach((s, index) => {
    const length = s.lengthMs ?? 1000;
    const samples: Sample[] = [
      {
        measurement: 'step',
        tags: { ...base, step: s.name, phase: 'start' },
        fields: { index: BigInt(index) },
        time: ns(t),
      },
    ];
    let failures = 0;
    for (let i = 0; i < s.iterations; i++) {
      const d = s.medianMs * Math.exp((s.spread ?? 0.1) * normal());
      const error = s.failures?.[i];
      if (error) failures++;
      samples.push({
        measurement: 'iteration',
        tags: { ...base, step: s.name, worker: String(i % 2) },
        fields: error
          ? { duration: d, ok: false, iteration: BigInt(i), error }
          : { duration: d, ok: true, iteration: BigInt(i) },
        time: ns(t + (i / s.iterations) * (length - s.medianMs * 2)),
      });
    }
    samples.push({
      measurement: 'step',
      tags: { ...base, step: s.name, phase: 'end' },
      fields: { index: BigInt(index) },
      time: ns(t + length),
    });
    w.write(samples);
    steps.push({
      name: s.name,
      startedAt: new Date(t).toISOString(),
      endedAt: new Date(t + length).toISOString(),
      startNs: ns(t).toString(),
      endNs: ns(t + length).toString(),
      workload: 'sleep',
      runner: `serial ×${s.iterations}`,
      iterations: s.iterations,
      failures,
      sla: [{ criterion: 'failure_rate', success: failures === 0, detail: `${failures} failed` }],
      errors: [],
    });
    t += length + 50;
  });
  const end = t;
  const tracer: Sample[] = [];
  for (let x = plan.startMs; x <= end; x += 100) {
    for (const [host, level] of Object.entries(plan.cpu ?? {})) {
      tracer.push({
        measurement: 'cpu',
        tags: { ...base, host, tracer: 'proc', cpu: 'cpu-total' },
        fields: { usage_active: level + normal(), usage_idle: 100 - level },
        time: ns(x),
      });
      tracer.push({
        measurement: 'net',
        tags: { ...base, host, tracer: 'proc', interface: 'eth0' },
        fields: { bytes_recv: BigInt(Math.round((x - plan.startMs) * 100)) },
        time: ns(x),
      });
    }
    if (plan.procstat) {
      for (const pid of ['11', '12']) {
        tracer.push({
          measurement: 'procstat',
          tags: { ...base, host: 'h1', tracer: 'process', process_name: 'api', pid },
          fields: { cpu_usage: 10, memory_rss: 1000n },
          time: ns(x),
        });
      }
    }
  }
  w.write(tracer);
  if (plan.extra) w.write(plan.extra);
  const record: RunRecord = {
    format: 1,
    id: plan.id,
    status: plan.status ?? 'passed',
    exitCode: { passed: 0, failed: 1, error: 3, interrupted: 130, running: 0 }[plan.status ?? 'passed'],
    scenario: {
      name: scenario,
      file: 'synthetic.yaml',
      source: `name: ${scenario}\n`,
      rendered: {
        name: scenario,
        // The tracers whose samples are written above: gates resolve counter kinds through them.
        tracers: [...(plan.cpu ? [{ use: 'proc' }] : []), ...(plan.procstat ? [{ use: 'process' }] : [])],
        steps: plan.steps.map((s) => ({ name: s.name })),
        ...(plan.scenarioGates ? { compare: { gates: plan.scenarioGates } } : {}),
      },
      args: { n: 1 },
    },
    startedAt: new Date(plan.startMs).toISOString(),
    endedAt: new Date(end).toISOString(),
    scalpelsVersion: '0.1.0',
    host: 'test',
    agents: [{ name: 'h1', host: 'h1', labels: {}, version: '0.1.0', clockOffsetMs: -1.5 }],
    steps,
    streams: [],
    data: { produced: 0, written: 0, spooled: 0, lost: 0 },
    tags: [],
  };
  await w.saveRecord(record);
  await w.close();
  return record;
}
