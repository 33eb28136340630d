/**
 * The store commands as a user runs them (the built CLI): `run --influx`, `runs list|show`
 * from InfluxDB, `runs push`, `runs tag`, `runs export|import`, `runs rm`, and credentials
 * kept out of every output.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../../helpers/cli.js';
import { assertInfluxd, PrivateInfluxd, skipInfluxTests } from '../helpers/private-influxd.js';

const quickstart = join(import.meta.dirname, '../../../examples/quickstart.yaml');
let influxd: PrivateInfluxd;
const dirs: string[] = [];

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

describe.skipIf(skipInfluxTests)('store commands against a private influxd', () => {
  beforeAll(async () => {
    assertInfluxd();
    influxd = await PrivateInfluxd.start();
  });

  afterAll(async () => {
    await influxd?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('runs into InfluxDB, lists and shows from it, and counts match the summary', {
    timeout: 180_000,
  }, async () => {
    const store = dir();
    const url = influxd.url('cli');
    const r = await runCli([
      'run',
      quickstart,
      '--arg',
      'iterations=3',
      '--influx',
      url,
      '--store-dir',
      store,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout);
    expect(record.data).toMatchObject({ spooled: 0, lost: 0, written: record.data.produced });
    const rows = influxd
      .influxCli('cli', `SELECT * FROM /.*/ WHERE "run" = '${record.id}'`)
      .results.flatMap((x) => x.series ?? [])
      .filter((s) => s.name !== 'scalpels_run')
      .reduce((n, s) => n + s.values.length, 0);
    expect(rows).toBe(record.data.produced);

    const list = await runCli(['runs', 'list', '--json'], {
      env: { SCALPELS_INFLUX_URL: url, SCALPELS_STORE_DIR: store },
    });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).map((x: { id: string; status: string }) => [x.id, x.status])).toEqual([
      [record.id, 'passed'],
    ]);
    const show = await runCli(['runs', 'show', 'latest', '--influx', url]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`Stored in ${url} (run ${record.id})`);
  });

  it('pushes a local run; lists the same runs from both stores; tags, exports, imports and removes', {
    timeout: 180_000,
  }, async () => {
    const store = dir();
    const url = influxd.url('pushed');
    const run = await runCli(['run', quickstart, '--arg', 'iterations=2', '--store-dir', store, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const id = JSON.parse(run.stdout).id as string;
    const push = await runCli(['runs', 'push', 'latest', '--influx', url, '--store-dir', store]);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toMatch(new RegExp(`^Run ${id}: \\d+ samples uploaded to ${url}`, 'm'));

    const fromLocal = await runCli(['runs', 'list', '--store-dir', store]);
    const fromInflux = await runCli(['runs', 'list', '--influx', url]);
    expect(fromInflux.stdout).toBe(fromLocal.stdout);

    const tag = await runCli(['runs', 'tag', id.slice(0, 17), 'baseline', '--influx', url]);
    expect(tag.stdout).toContain(`Run ${id} is now tagged baseline.`);
    const archive = join(store, 'run.tar.gz');
    const exp = await runCli(['runs', 'export', 'baseline', '-o', archive, '--influx', url]);
    expect(exp.code, exp.stderr).toBe(0);
    const other = dir();
    const imp = await runCli(['runs', 'import', archive, '--store-dir', other]);
    expect(imp.code, imp.stderr).toBe(0);
    const again = await runCli(['runs', 'import', archive, '--store-dir', other]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
    const shown = await runCli(['runs', 'show', id, '--json', '--store-dir', other]);
    expect(JSON.parse(shown.stdout).id).toBe(id);

    const rm = await runCli(['runs', 'rm', 'baseline', '--influx', url]);
    expect(rm.code, rm.stderr).toBe(0);
    const empty = await runCli(['runs', 'list', '--influx', url, '--json']);
    expect(JSON.parse(empty.stdout)).toEqual([]);
  });

  it('spools when InfluxDB is unreachable, exits 0, says how much waits, and runs push delivers it', {
    timeout: 180_000,
  }, async () => {
    const store = dir();
    const dead = 'http://127.0.0.1:9/nowhere';
    const r = await runCli([
      'run',
      quickstart,
      '--arg',
      'iterations=2',
      '--influx',
      dead,
      '--store-dir',
      store,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const m = /Data: (\d+) samples produced, 0 written, (\d+) spooled, 0 lost\./.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(m![2]).toBe(m![1]);
    expect(r.stderr).toMatch(/scalpels runs push \S+ --influx http:\/\/127\.0\.0\.1:9\/nowhere/);
    const push = await runCli(['runs', 'push', '--influx', influxd.url('late'), '--store-dir', store]);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toMatch(new RegExp(`: ${m![1]} spooled samples replayed`));
    const list = await runCli(['runs', 'list', '--influx', influxd.url('late'), '--json']);
    expect(JSON.parse(list.stdout)).toHaveLength(1);
  });

  it('never prints credentials', { timeout: 180_000 }, async () => {
    const store = dir();
    const secret = 'pa55-w0rd-xyz';
    const file = join(store, 'password');
    writeFileSync(file, `${secret}\n`);
    const inUrl = await runCli(['runs', 'list', '--influx', `http://admin:${secret}@127.0.0.1:9/db`]);
    expect(inUrl.code).toBe(2);
    expect(inUrl.stdout + inUrl.stderr).not.toContain(secret);
    const viaFile = await runCli([
      'runs',
      'list',
      '--influx',
      'http://127.0.0.1:9/db',
      '--influx-username',
      'admin',
      '--influx-password-file',
      file,
      '--debug',
    ]);
    expect(viaFile.code).toBe(3);
    expect(viaFile.stdout + viaFile.stderr).not.toContain(secret);
    expect(viaFile.stderr).toMatch(/cannot reach InfluxDB/);
  });
});
