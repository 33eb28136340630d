/**
 * The CI gate end to end, through the built CLI: a deliberate slowdown fails the gate and names
 * the step; runs with no change never do (no false alarm over ten repetitions). The JUnit XML
 * validates against the schema and the Markdown renders to tables (GitHub's own cmark-gfm).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeScenario } from '../../helpers/cli.js';
import { GATE_SCENARIO, SLOWER } from './scenario.js';

const XSD = resolve(import.meta.dirname, '../../fixtures/junit/junit.xsd');

describe('scalpels compare: the gate', () => {
  const dir = tempDir('scalpels-gate-');
  const store = join(dir, 'store');
  const scenario = writeScenario(dir, GATE_SCENARIO);
  const run = async (...args: string[]) => {
    const r = await runCli(['run', scenario, '--store-dir', store, '-q', '--json', ...args]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout).id as string;
  };
  let baseline: string;
  let slower: string;

  beforeAll(async () => {
    baseline = await run();
    slower = await run('--arg', SLOWER);
  });

  it('exits 1 on a sleep 100 ms longer, names the step, and writes JUnit and Markdown', async () => {
    const junit = join(dir, 'gate.xml');
    const markdown = join(dir, 'gate.md');
    const r = await runCli([
      'compare',
      baseline,
      slower,
      '--store-dir',
      store,
      '--gate',
      'duration:p(95):+10%',
      '--junit',
      junit,
      '--markdown',
      markdown,
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}changing {2}duration:p\(95\):\+10%/);
    expect(r.stdout).toMatch(/pass {2}steady {4}duration:p\(95\):\+10%/);
    expect(r.stdout).toMatch(/1 of 2 gate checks failed \(steps: changing\)/);

    // JUnit: valid against the schema, one testcase per step × gate, the failure on "changing".
    const xml = readFileSync(junit, 'utf8');
    execFileSync('xmllint', ['--noout', '--schema', XSD, junit], { stdio: 'pipe' });
    expect(xml.match(/<testcase /g)).toHaveLength(2);
    expect(xml).toMatch(/<testcase name="changing: duration:p\(95\):\+10%"[^>]*>\s*<failure /);

    // Markdown: GitHub's renderer makes tables of it, with the failing gate in a row.
    const html = execFileSync('cmark-gfm', ['-e', 'table', markdown], { encoding: 'utf8' });
    expect(html.match(/<table>/g)).toHaveLength(2);
    expect(html).toMatch(/<td>changing<\/td>\s*<td><code>duration:p\(95\):\+10%<\/code><\/td>/);
    expect(html).toContain('❌ fail');
  });

  it('--json prints the comparison; --step limits the gates to one step', async () => {
    const r = await runCli([
      'compare',
      baseline,
      slower,
      '--store-dir',
      store,
      '--gate',
      'duration:med:+10%',
      '--step',
      'steady',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.gates.map((g: { step: string }) => g.step)).toEqual(['steady']);
    expect(result.steps.find((s: { name: string }) => s.name === 'changing').candidates[0].verdict).toBe(
      'worse',
    );
  });

  it('exits 2 on a bad gate, an unknown step or an unknown run', async () => {
    const bad = await runCli([
      'compare',
      baseline,
      slower,
      '--store-dir',
      store,
      '--gate',
      'duration:p95:+10%',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid aggregation "p95"/);
    const step = await runCli([
      'compare',
      baseline,
      slower,
      '--store-dir',
      store,
      '--gate',
      'duration:med:+1%',
      '--step',
      'nope',
    ]);
    expect(step.code).toBe(2);
    expect(step.stderr).toMatch(/no step named "nope"/);
    const missing = await runCli(['compare', baseline, 'no-such-run', '--store-dir', store]);
    expect(missing.code).toBe(2);
  });

  it('never passes a candidate that errored with no steps: run and compare both say so (A1)', async () => {
    // A module that does not compile: the run errors before its first step (status error, exit 3).
    writeFileSync(join(dir, 'broken.ts'), 'export default {{{ broken\n');
    const broken = writeScenario(
      dir,
      `version: 1\nname: gate-check\nsteps:\n  - name: steady\n    workload: { use: module, with: { path: ./broken.ts } }\n`,
      'broken.yaml',
    );
    const gate = ['--gate', 'duration:p(95):+10%'];
    const r = await runCli(['run', broken, '--store-dir', store, '-q', '--compare-to', baseline, ...gate]);
    expect(r.code, r.stderr).toBe(3); // the worse of the run's own (3) and the gates' (1)
    const id = /Gates not passed: run (\S+) did not finish \(status error\)/.exec(r.stdout)?.[1];
    expect(id, r.stdout).toBeDefined();

    const junit = join(dir, 'broken.xml');
    const c = await runCli(['compare', baseline, id!, '--store-dir', store, ...gate, '--junit', junit]);
    expect(c.code, c.stderr).toBe(1);
    expect(c.stdout).toMatch(
      /FAIL {2}steady {4}duration:p\(95\):\+10% {2}\S+: +step steady is missing from run/,
    );
    expect(c.stdout).toMatch(
      /FAIL {2}changing {2}duration:p\(95\):\+10% {2}\S+: +step changing is missing from run/,
    );
    expect(c.stdout).toContain(
      `Gates not passed: run ${id} did not finish (status error): its gates cannot pass (2 checked, 2 failed, 0 skipped).`,
    );
    execFileSync('xmllint', ['--noout', '--schema', XSD, junit], { stdio: 'pipe' });
    expect(readFileSync(junit, 'utf8')).toMatch(
      /<testcase name="run status"[^>]*>\s*<failure [^>]*type="RunNotFinished"/,
    );
  });

  it('does not raise a false alarm over 10 repetitions of the same scenario', async () => {
    const repeats: string[] = [];
    for (let i = 0; i < 10; i++) repeats.push(await run());
    const r = await runCli([
      'compare',
      baseline,
      ...repeats,
      '--store-dir',
      store,
      '--gate',
      'duration:p(95):+10%',
      '--gate',
      'duration:med:+10%',
      '--json',
    ]);
    const result = JSON.parse(r.stdout);
    const failed = result.gates.filter((g: { status: string }) => g.status === 'fail');
    const changes = result.gates.map((g: { change: number }) => Math.abs(g.change));
    const ps = result.gates.map((g: { pValue: number }) => g.pValue);
    console.info(
      `no-false-alarm: ${result.gates.length} gate checks, largest change ${Math.max(...changes).toFixed(1)} %, smallest p ${Math.min(...ps).toExponential(1)}`,
    );
    expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
    expect(result.gates).toHaveLength(10 * 2 * 2);
    expect(r.code).toBe(0);
  }, 240_000);

  it('scalpels run --compare-to applies the gates after the run (exit 1) and writes the report', async () => {
    const report = join(dir, 'ci.html');
    const r = await runCli([
      'run',
      scenario,
      '--store-dir',
      store,
      '-q',
      '--arg',
      SLOWER,
      '--compare-to',
      baseline,
      '--gate',
      'duration:p(95):+10%',
      '-o',
      report,
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}changing/);
    expect(r.stdout).toContain(`Report: ${report}`);
    expect(readFileSync(report, 'utf8')).toContain('Gates');
    // Gates without a baseline are invalid input.
    const noBase = await runCli([
      'run',
      scenario,
      '--store-dir',
      store,
      '-q',
      '--gate',
      'duration:p(95):+10%',
    ]);
    expect(noBase.code).toBe(2);
    expect(noBase.stderr).toMatch(/need --compare-to/);
  });
});
