/**
 * End to end: a threshold on a mysql counter, through `scalpels run` on the real MariaDB. The
 * tracer writes running totals by default; the threshold's count is what they counted in the step.
 */
import { describe, expect, it } from 'vitest';
import { runCli, tempDir, writeScenario } from '../../helpers/cli.js';
import { portOpen } from '../../helpers/net.js';

const N = 20;

// Under CI a missing service is a failure (the run fails to start its tracer), never a skip.
const up = process.env.CI === 'true' || (await portOpen(3306));

const scenario = `version: 1
name: mysql-threshold
args: { min: ${N} }
steps:
  - name: selects
    workload: { use: exec, with: { command: "mysql --protocol=tcp -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' >/dev/null" } }
    runner: { type: constant, times: ${N}, concurrency: 1 }
    tracers:
      - use: mysql
        interval: 500ms
        with: { host: 127.0.0.1, port: 3306, user: root, statements: false }
    thresholds:
      mysql.com_select: ["count >= {{min}}", "rate > 0"]
`;

interface Result {
  criterion: string;
  success: boolean;
  detail: string;
  value?: number;
}

async function run(min: number): Promise<{ code: number | null; results: Result[]; stderr: string }> {
  const dir = tempDir();
  const file = writeScenario(dir, scenario);
  const r = await runCli(['run', file, '--store-dir', `${dir}/store`, '--json', '--arg', `min=${min}`]);
  const record = JSON.parse(r.stdout || '{}');
  const results = ((record.steps?.[0]?.sla ?? []) as Result[]).filter((s) =>
    s.criterion.startsWith('threshold'),
  );
  return { code: r.code, results, stderr: r.stderr };
}

describe.skipIf(!up)('a threshold on mysql.com_select over a step running N SELECTs', () => {
  it(`passes with count >= N, and fails with count >= N + 1000`, async () => {
    const pass = await run(N);
    expect(pass.code, pass.stderr).toBe(0);
    const [count, rate] = pass.results;
    expect(count).toMatchObject({ criterion: `threshold mysql.com_select: count >= ${N}`, success: true });
    // Other sessions of the shared server may add a few SELECTs; a thousand more is out of reach.
    expect(count.value).toBeGreaterThanOrEqual(N);
    expect(count.value).toBeLessThan(N + 1000);
    expect(count.detail).toBe(`count = ${count.value}`);
    expect(rate).toMatchObject({ success: true });
    expect(rate.detail).toMatch(/^rate = [\d.]+\/s$/);

    const fail = await run(N + 1000);
    expect(fail.code, fail.stderr).toBe(1);
    expect(fail.results[0]).toMatchObject({
      criterion: `threshold mysql.com_select: count >= ${N + 1000}`,
      success: false,
    });
    expect(fail.results[0].value).toBeGreaterThanOrEqual(N);
  });
});
