/**
 * Control-plane benchmarks (issue 3), printed as ratios against peers measured in the same run:
 *  1. start/stop round trip (command sent → every ack back) for 1, 10, 50 and 100 agents on
 *     the local Mosquitto, next to the broker's floor: a bare MQTT 3.1.1 request → reply
 *     between two clients;
 *  2. an idle agent's CPU and RSS, and with `proc` at 1 s, next to `pidstat -u -r -d 1`
 *     collecting comparable data.
 *
 * Run: npm run bench -- agents   (needs mosquitto and pidstat: scripts/provision.sh)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Agent } from '../src/agent/agent.js';
import { silentLogger } from '../src/core/logger.js';
import { packageRoot } from '../src/core/paths.js';
import { ProtocolClient, uniqueClientId } from '../src/protocol/client.js';
import { topics } from '../src/protocol/topics.js';
import { percentile } from '../src/report/stats.js';
import { realTracerContext } from '../src/tracers/context.js';
import { tracerRegistry } from '../src/tracers/index.js';
import { PrivateMosquitto } from '../test/integration/helpers/private-mosquitto.js';

// A private Mosquitto with set_tcp_nodelay (see docs/deploy.md); SCALPELS_BENCH_BROKER picks another.
const privateBroker = process.env.SCALPELS_BENCH_BROKER ? undefined : await PrivateMosquitto.start();
const BROKER = process.env.SCALPELS_BENCH_BROKER ?? privateBroker!.url;
const ROUNDS = Number(process.env.ROUNDS ?? 30);
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function brokerFloor(rounds: number): Promise<number[]> {
  const a = await mqtt.connectAsync(BROKER, { protocolVersion: 4 });
  const b = await mqtt.connectAsync(BROKER, { protocolVersion: 4 });
  // The same socket option as the protocol client, so the floor is the broker's, not Nagle's.
  for (const c of [a, b]) (c.stream as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
  const id = `floor-${process.pid}`;
  await b.subscribeAsync(`${id}/req`, { qos: 1 });
  b.on('message', (_t, p) => void b.publishAsync(`${id}/rep`, p, { qos: 1 }));
  await a.subscribeAsync(`${id}/rep`, { qos: 1 });
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await new Promise<void>((done) => {
      a.once('message', () => done());
      void a.publishAsync(`${id}/req`, Buffer.from(String(i)), { qos: 1 });
    });
    times.push(performance.now() - t0);
  }
  await a.endAsync();
  await b.endAsync();
  return times;
}

async function startStopRoundTrips(n: number, rounds: number) {
  const names = Array.from({ length: n }, (_, i) => `bench-${process.pid}-${i}`);
  const agents = names.map(
    (name) =>
      new Agent({
        name,
        broker: { url: BROKER },
        tracers: tracerRegistry.all(),
        ctx: realTracerContext(silentLogger),
        log: silentLogger,
      }),
  );
  for (const a of agents) await a.start();
  const runner = await ProtocolClient.connect({
    url: BROKER,
    clientId: uniqueClientId('bench-runner'),
    log: silentLogger,
  });
  const start: number[] = [];
  const stop: number[] = [];
  const run = `20261124-000000-${(process.pid % 65536).toString(16).padStart(4, '0')}`;
  for (let r = 0; r < rounds; r++) {
    const stream = `bench.${r}.proc`;
    let t0 = performance.now();
    await Promise.all(
      names.map((agent) =>
        runner.request(
          topics.agentCommands(agent),
          {
            type: 'start',
            run,
            scenario: 'bench',
            step: null,
            stream,
            tracer: 'proc',
            params: {},
            intervalMs: 60_000,
            leaseMs: 60_000,
          },
          10_000,
        ),
      ),
    );
    start.push(performance.now() - t0);
    t0 = performance.now();
    await Promise.all(
      names.map((agent) =>
        runner.request(topics.agentCommands(agent), { type: 'stop', run, stream }, 10_000),
      ),
    );
    stop.push(performance.now() - t0);
  }
  await runner.close();
  for (const a of agents) await a.stop();
  // Forget the retained statuses on the shared broker.
  const c = await mqtt.connectAsync(BROKER, { protocolVersion: 4 });
  for (const name of names)
    await c.publishAsync(topics.agentStatus(name), Buffer.alloc(0), { qos: 1, retain: true });
  await c.endAsync();
  return { start, stop };
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime + stime + cutime + cstime (fields 14–17, 0-based 11–14 after the comm).
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function measureProcess(pid: number, seconds: number): Promise<{ cpuPerMin: number; rss: number }> {
  const c0 = cpuSeconds(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return { cpuPerMin: ((cpuSeconds(pid) - c0) / seconds) * 60, rss: rssMiB(pid) };
}

async function agentCost(seconds: number) {
  const cli = join(packageRoot, 'bin/run.js');
  const name = `bench-idle-${process.pid}`;
  const child = spawn(process.execPath, [cli, 'agent', '--broker', BROKER, '--name', name], {
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 10_000)); // start-up (module loading) is not idle cost
  const idle = await measureProcess(child.pid!, seconds);
  const runner = await ProtocolClient.connect({
    url: BROKER,
    clientId: uniqueClientId('bench-runner'),
    log: silentLogger,
  });
  const run = '20261124-000000-beef';
  await runner.request(
    topics.agentCommands(name),
    {
      type: 'start',
      run,
      scenario: 'bench',
      step: null,
      stream: 'cost.proc',
      tracer: 'proc',
      params: {},
      intervalMs: 1000,
      leaseMs: 600_000,
    },
    10_000,
  );
  const withProc = await measureProcess(child.pid!, seconds);
  await runner.request(topics.agentCommands(name), { type: 'stop', run, stream: 'cost.proc' }, 10_000);
  await runner.close();
  child.kill('SIGTERM');
  const pidstat = spawn('pidstat', ['-u', '-r', '-d', '1'], { stdio: 'ignore' });
  const peer = await measureProcess(pidstat.pid!, seconds);
  pidstat.kill('SIGINT');
  return { idle, withProc, peer };
}

const floor = await brokerFloor(ROUNDS * 4);
const f50 = percentile(
  [...floor].sort((a, b) => a - b),
  50,
);
const f99 = percentile(
  [...floor].sort((a, b) => a - b),
  99,
);
console.log(
  `broker floor (bare MQTT 3.1.1 request→reply, ${floor.length} rounds): p50 ${fmt(f50)}, p99 ${fmt(f99)}`,
);
console.log('agents  start p50   start p99   stop p50    stop p99    p99/floor p99');
for (const n of [1, 10, 50, 100]) {
  const { start, stop } = await startStopRoundTrips(n, ROUNDS);
  const s = [...start].sort((a, b) => a - b);
  const t = [...stop].sort((a, b) => a - b);
  const p99 = percentile(s, 99);
  console.log(
    `${String(n).padStart(6)}  ${fmt(percentile(s, 50)).padStart(10)}  ${fmt(p99).padStart(10)}  ${fmt(percentile(t, 50)).padStart(10)}  ${fmt(percentile(t, 99)).padStart(10)}  ${(p99 / f99).toFixed(1)}×`,
  );
}
const seconds = Number(process.env.COST_SECONDS ?? 20);
const cost = await agentCost(seconds);
console.log(
  `agent idle:        ${cost.idle.cpuPerMin.toFixed(3)} CPU-s/min, RSS ${cost.idle.rss.toFixed(0)} MiB`,
);
console.log(
  `agent + proc @1s:  ${cost.withProc.cpuPerMin.toFixed(3)} CPU-s/min, RSS ${cost.withProc.rss.toFixed(0)} MiB`,
);
console.log(
  `pidstat -u -r -d 1: ${cost.peer.cpuPerMin.toFixed(3)} CPU-s/min, RSS ${cost.peer.rss.toFixed(0)} MiB`,
);
console.log(
  `ratio (agent + proc) / pidstat: ${(cost.withProc.cpuPerMin / Math.max(cost.peer.cpuPerMin, 1e-6)).toFixed(1)}×`,
);
await privateBroker?.stop();
