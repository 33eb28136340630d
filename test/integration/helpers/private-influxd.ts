/**
 * A private InfluxDB 1.x for tests and benchmarks: its own temp dir, random loopback ports,
 * started with the Debian `influxd` and stopped afterwards. It never touches a system
 * instance. Restartable on the same ports and data, for the outage tests.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../helpers/net.js';

/** Why a private influxd cannot run here (binary missing), or undefined when it can. */
export function influxdMissing(): string | undefined {
  for (const bin of ['influxd', 'influx']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) {
      return `${bin} is not installed (Debian packages influxdb and influxdb-client; scripts/provision.d/20-influxdb.sh installs them)`;
    }
  }
  return undefined;
}

/**
 * Under CI=true a missing influxd is a failure, never a silent skip: the suite calls this in
 * beforeAll. Elsewhere the suite is skipped (describe.skipIf(skipInfluxTests)).
 */
export const skipInfluxTests = influxdMissing() !== undefined && process.env.CI !== 'true';

export function assertInfluxd(): void {
  const missing = influxdMissing();
  if (missing) throw new Error(`cannot run the InfluxDB tests: ${missing}`);
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running (or stopped, restartable) private influxd. */
export class PrivateInfluxd {
  private child?: ChildProcess;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly httpPort: number,
    readonly rpcPort: number,
  ) {}

  /** Starts one on free ports in a new temp dir. */
  static async start(): Promise<PrivateInfluxd> {
    assertInfluxd();
    let lastError: unknown;
    // A port found free can be taken before influxd binds it: try a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = mkdtempSync(join(tmpdir(), 'scalpels-influxd-'));
      const server = new PrivateInfluxd(dir, await freePort(), await freePort());
      try {
        await server.restart();
        return server;
      } catch (err) {
        lastError = err;
        await server.stop();
        server.remove();
      }
    }
    throw lastError;
  }

  /** The base URL, `http://127.0.0.1:<port>`. */
  get base(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** The `--influx` URL of a database. */
  url(database: string): string {
    return `${this.base}/${database}`;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts (again) on the same ports and data, and waits for `/ping` to answer 204. */
  async restart(): Promise<void> {
    if (this.running) return;
    const conf = join(this.dir, 'influxdb.conf');
    // NOTES.md: the minimal config of a private 1.6 instance; everything else off or default.
    writeFileSync(
      conf,
      `reporting-disabled = true
bind-address = "127.0.0.1:${this.rpcPort}"
[meta]
  dir = "${join(this.dir, 'meta')}"
[data]
  dir = "${join(this.dir, 'data')}"
  wal-dir = "${join(this.dir, 'wal')}"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${this.httpPort}"
  log-enabled = false
[monitor]
  store-enabled = false
`,
    );
    this.log = '';
    const child = spawn('influxd', ['-config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => this.append(d));
    child.stderr!.on('data', (d) => this.append(d));
    this.child = child;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (!this.running)
        throw new Error(
          `influxd exited at start (${child.exitCode ?? child.signalCode}): ${this.log.slice(-2000)}`,
        );
      try {
        const res = await fetch(`${this.base}/ping`, { signal: AbortSignal.timeout(1_000) });
        if (res.status === 204) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`influxd did not answer /ping within 30 s: ${this.log.slice(-2000)}`);
  }

  private append(d: Buffer): void {
    this.log = (this.log + d.toString()).slice(-20_000);
  }

  /** Stops the process (SIGTERM, then SIGKILL after 10 s) and keeps the data for restart(). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops and deletes the temp dir. */
  async destroy(): Promise<void> {
    await this.stop();
    this.remove();
  }

  private remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Runs InfluxQL with the real `influx` CLI (not the code under test) and returns its JSON
   * output parsed: `{ results: [{ series: [{ name, columns, values }] }] }`.
   */
  influxCli(
    database: string,
    query: string,
  ): { results: { series?: { name: string; columns: string[]; values: unknown[][] }[]; error?: string }[] } {
    const out = execFileSync(
      'influx',
      [
        '-host',
        '127.0.0.1',
        '-port',
        String(this.httpPort),
        '-database',
        database,
        '-format',
        'json',
        '-execute',
        query,
      ],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 30 },
    );
    // The CLI prints one JSON document per statement.
    const docs = out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l));
    return { results: docs.flatMap((d) => d.results ?? [d]) };
  }

  /** `SELECT count(<field>) FROM <measurement> WHERE <where>` through the `influx` CLI; 0 when nothing matches. */
  count(database: string, measurement: string, field: string, where: string): number {
    const doc = this.influxCli(database, `SELECT count("${field}") FROM "${measurement}" WHERE ${where}`);
    const value = doc.results[0]?.series?.[0]?.values?.[0]?.[1];
    return typeof value === 'number' ? value : 0;
  }
}
