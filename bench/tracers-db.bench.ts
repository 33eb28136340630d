/**
 * CPU cost of the `mysql`, `postgres` and `rabbitmq` tracers (issue 4), agent side, as a share
 * of one core at each tracer's default interval, next to a peer measured in the same run:
 *
 *  1. per tick: the tracer sampling every 50 ms for 3 s, the process's CPU (process.cpuUsage,
 *     microseconds) less that of the same process idle (2 s, measured just before), per tick; at
 *     the default interval the share is that divided by the interval;
 *  2. mysql and postgres: at the default interval in real time (8 s), less idle, next to
 *     the classic command-line poller of the same data running beside it: `mysqladmin -i 1
 *     extended-status` and `psql` with `\watch 1` on pg_stat_database (their CPU from
 *     /proc/<pid>/stat, in 10 ms clock ticks: coarse over a few seconds);
 *  3. the firehose decoder: CPU per oslo.messaging message (decode + aggregate, recorded
 *     messages in a loop), and the share of one core at 1 000 messages/s.
 *
 * MariaDB and PostgreSQL are private instances (performance_schema ON, pg_stat_statements
 * loaded) with 200 distinct statements in their statistics; RabbitMQ is the shared broker with
 * one test queue. Run: npm run bench -- tracers-db   (about 60 s).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { silentLogger } from '../src/core/logger.js';
import { packageRoot } from '../src/core/paths.js';
import { realTracerContext } from '../src/tracers/context.js';
import { mysqlTracer } from '../src/tracers/mysql/index.js';
import { postgresTracer } from '../src/tracers/postgres/index.js';
import { rabbitmqTracer } from '../src/tracers/rabbitmq/index.js';
import { decodeOslo, RpcAggregator } from '../src/tracers/rabbitmq/oslo.js';
import type { TracerInstance } from '../src/tracers/types.js';
import { startPrivateMariadb } from '../test/integration/helpers/private-mariadb.js';
import { postgresBinDir, startPrivatePostgres } from '../test/integration/helpers/private-postgres.js';

const ctx = realTracerContext(silentLogger);
const cpuMs = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};
const pct = (x: number) => `${x.toFixed(3)} %`;

/** CPU of this process per ms of wall time with nothing to do: the floor every figure is net of. */
async function idleCpuPerMs(ms: number): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  await sleep(ms);
  return cpuMs(c0) / (Date.now() - t0);
}
let idlePerMs = 0;

/** CPU time (ms) of another process so far, from /proc (10 ms resolution). */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function perTick(make: (intervalMs: number) => TracerInstance): Promise<{ ms: number; ticks: number }> {
  const windowMs = 3000;
  let ticks = 0;
  const tracer = make(50);
  await tracer.start(() => {
    ticks++;
  });
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  const before = ticks;
  await sleep(windowMs);
  const used = cpuMs(c0);
  const elapsed = Date.now() - t0;
  const n = ticks - before;
  await tracer.stop();
  return { ms: Math.max(0, used - idlePerMs * elapsed) / Math.max(1, n), ticks: n };
}

async function realTime(
  make: (intervalMs: number) => TracerInstance,
  intervalMs: number,
  windowMs: number,
  peer?: () => ChildProcess,
): Promise<{ share: number; peerShare?: number }> {
  idlePerMs = await idleCpuPerMs(4000);
  const child = peer?.();
  await sleep(300);
  const p0 = child?.pid ? procCpuMs(child.pid) : 0;
  const tracer = make(intervalMs);
  await tracer.start(() => {});
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  await sleep(windowMs);
  const used = cpuMs(c0);
  const elapsed = Date.now() - t0;
  const p1 = child?.pid ? procCpuMs(child.pid) : 0;
  child?.kill();
  await tracer.stop();
  return {
    share: (100 * Math.max(0, used - idlePerMs * elapsed)) / elapsed,
    peerShare: child ? (100 * (p1 - p0)) / elapsed : undefined,
  };
}

function report(
  name: string,
  defaultMs: number,
  tick: { ms: number; ticks: number },
  rt?: { share: number; peerShare?: number },
  peer?: string,
) {
  console.log(`${name}: ${tick.ms.toFixed(3)} ms CPU per tick (${tick.ticks} ticks at 50 ms)`);
  console.log(
    `  at the default interval (${defaultMs / 1000} s): ${pct((100 * tick.ms) / defaultMs)} of one core from the per-tick cost`,
  );
  if (!rt) return;
  if (!rt) return;
  console.log(`  measured in real time at ${defaultMs / 1000} s, net of idle: ${pct(rt.share)} of one core`);
  if (peer && rt.peerShare !== undefined) {
    console.log(`  peer ${peer}, same window: ${pct(rt.peerShare)} of one core (10 ms clock ticks)`);
  }
}

// --- mysql ---------------------------------------------------------------------------------
{
  const db = await startPrivateMariadb();
  try {
    const admin = await mysql.createConnection({ socketPath: db.socket, user: 'root' });
    for (let i = 0; i < 200; i++) await admin.query(`SELECT ${'1,'.repeat(i)}1 AS c`);
    await admin.end();
    const make = (intervalMs: number) => mysqlTracer.create({ port: db.port }, { intervalMs }, ctx);
    // Per tick first: it also warms the code up, so the real-time window sees steady state.
    idlePerMs = await idleCpuPerMs(2000);
    const tick = await perTick(make);
    const rt = await realTime(make, 1000, 8000, () =>
      spawn(
        'mysqladmin',
        ['--no-defaults', `--socket=${db.socket}`, '-uroot', '-i', '1', 'extended-status'],
        { stdio: 'ignore' },
      ),
    );
    report(
      'mysql (status + statements, performance_schema ON)',
      1000,
      tick,
      rt,
      'mysqladmin -i 1 extended-status',
    );
  } finally {
    await db.stop();
  }
}

// --- postgres ------------------------------------------------------------------------------
{
  const cluster = await startPrivatePostgres();
  try {
    const admin = new pg.Client({
      host: cluster.socketDir,
      port: cluster.port,
      user: 'postgres',
      database: 'postgres',
    });
    await admin.connect();
    await admin.query('CREATE EXTENSION pg_stat_statements');
    for (let i = 0; i < 200; i++) await admin.query(`SELECT ${'1,'.repeat(i)}1 AS c`);
    await admin.end();
    const make = (intervalMs: number) =>
      postgresTracer.create({ socket: cluster.socketDir, port: cluster.port }, { intervalMs }, ctx);
    const psql = `${await postgresBinDir()}/psql`;
    idlePerMs = await idleCpuPerMs(2000);
    const tick = await perTick(make);
    const rt = await realTime(make, 1000, 8000, () => {
      const child = spawn(
        psql,
        ['-X', '-q', '-h', cluster.socketDir, '-p', String(cluster.port), '-U', 'postgres', 'postgres'],
        {
          stdio: ['pipe', 'ignore', 'ignore'],
        },
      );
      child.stdin?.write('SELECT * FROM pg_stat_database \\watch 1\n');
      return child;
    });
    report(
      'postgres (pg_stat_database + pg_stat_statements)',
      1000,
      tick,
      rt,
      'psql \\watch 1 on pg_stat_database',
    );
  } finally {
    await cluster.stop();
  }
}

// --- rabbitmq ------------------------------------------------------------------------------
{
  const amqp = await import('amqplib');
  const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672/');
  const ch = await conn.createChannel();
  const queue = `scalpels-bench-${process.pid}`;
  await ch.assertQueue(queue, { durable: false, autoDelete: true });
  try {
    const make = (intervalMs: number) =>
      rabbitmqTracer.create({ settle: 0, queues: `^${queue}$` }, { intervalMs }, ctx);
    // Two readings in 10 s would say little at 5 s: the per-tick cost stands for it.
    idlePerMs = await idleCpuPerMs(2000);
    const tick = await perTick(make);
    report('rabbitmq (management API, one vhost)', 5000, tick);
  } finally {
    await ch.deleteQueue(queue).catch(() => {});
    await conn.close();
  }

  const traced = JSON.parse(
    readFileSync(join(packageRoot, 'test/fixtures/rabbitmq/firehose-oslo.json'), 'utf8'),
  ) as { exchange: string; routingKey: string; body: string }[];
  const bodies = traced.map((m) => ({ ...m, buf: Buffer.from(m.body) }));
  const agg = new RpcAggregator();
  const rounds = 20_000;
  const c0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) {
    for (const m of bodies) agg.add(decodeOslo(m.exchange, m.routingKey, m.buf), m.buf.length, r);
    if (r % 1000 === 0) agg.drain(0n);
  }
  const perMessageUs = (cpuMs(c0) * 1000) / (rounds * bodies.length);
  console.log(
    `rabbitmq firehose decoder: ${perMessageUs.toFixed(2)} µs CPU per oslo.messaging message; ${pct(
      (perMessageUs * 1000) / 1e4,
    )} of one core at 1 000 messages/s (AMQP receive not included)`,
  );
}
process.exit(0);
