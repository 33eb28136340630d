import { describe, expect, it } from 'vitest';
import { renderGateText } from '../../../src/cli/gate-text.js';
import { ExitCode, InputError } from '../../../src/core/errors.js';
import { chooseGates, compareLoaded } from '../../../src/report/api.js';
import { matchSteps } from '../../../src/report/compare.js';
import { gateSummary } from '../../../src/report/compare-result.js';
import { evaluateGates, parseGates, scenarioGates } from '../../../src/report/gates.js';
import { renderJunit } from '../../../src/report/junit.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { loadRuns } from '../../../src/report/run-data.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import type { RunStatus } from '../../../src/store/run-record.js';
import { type StepPlan, writeRun } from './synthetic.js';

async function pair(
  base: StepPlan[],
  cand: StepPlan[],
  extra: {
    cpu?: [number, number];
    gates?: string[];
    status?: [RunStatus, RunStatus];
    scenario?: [string, string];
  } = {},
) {
  const store = new MemoryStore();
  const a = await writeRun(store, {
    id: 'base',
    startMs: Date.UTC(2026, 0, 1),
    steps: base,
    seed: 1,
    cpu: extra.cpu && { h1: extra.cpu[0] },
    status: extra.status?.[0],
    scenario: extra.scenario?.[0],
  });
  const b = await writeRun(store, {
    id: 'cand',
    startMs: Date.UTC(2026, 0, 2),
    steps: cand,
    seed: 2,
    cpu: extra.cpu && { h1: extra.cpu[1] },
    scenarioGates: extra.gates,
    status: extra.status?.[1],
    scenario: extra.scenario?.[1],
  });
  return loadRuns(store, [a, b]);
}

const step = (name: string, medianMs: number, more: Partial<StepPlan> = {}): StepPlan => ({
  name,
  iterations: 40,
  medianMs,
  ...more,
});

describe('gates', () => {
  it('fail on a significant slowdown beyond the tolerance, and name the step', async () => {
    const runs = await pair([step('fast', 20), step('slow', 20)], [step('fast', 20), step('slow', 70)]);
    const results = evaluateGates(runs, parseGates(['duration:p(95):+10%'], 'test'));
    const slow = results.find((r) => r.step === 'slow')!;
    const fast = results.find((r) => r.step === 'fast')!;
    expect(slow.status).toBe('fail');
    expect(slow.reason).toMatch(/beyond \+10%.*significant/);
    expect(slow.pValue).toBeLessThan(0.001);
    expect(fast.status).toBe('pass');
  });

  it('pass a change beyond the tolerance that is not significant (noise)', async () => {
    // Few, widely spread iterations: p(95) may move a lot without the distributions differing.
    const runs = await pair(
      [step('s', 20, { iterations: 6, spread: 0.6 })],
      [step('s', 21, { iterations: 6, spread: 0.6 })],
    );
    const [r] = evaluateGates(runs, parseGates(['duration:max:+1%'], 'test'));
    expect(r.change).toBeGreaterThan(1);
    expect(r.pValue).toBeGreaterThan(0.05);
    expect(r.status).toBe('pass');
    expect(r.reason).toMatch(/not significantly/);
  });

  it('a "-" gate fails on a decrease; an absolute gate compares in the unit', async () => {
    const runs = await pair([step('s', 100)], [step('s', 30)]);
    expect(evaluateGates(runs, parseGates(['duration:med:-10%'], 't'))[0].status).toBe('fail');
    expect(evaluateGates(runs, parseGates(['duration:med:+5'], 't'))[0].status).toBe('pass');
  });

  it('single numbers per step (failure_rate, tracer aggregates) use the tolerance only', async () => {
    const runs = await pair(
      [step('s', 10)],
      [step('s', 10, { failures: { 1: 'x', 2: 'x', 3: 'x', 4: 'x' } })],
      { cpu: [40, 60] },
    );
    const [fr, cpu] = evaluateGates(
      runs,
      parseGates(['failure_rate:avg:+5', 'cpu.usage_active{host=h1}:avg:+20%'], 't'),
    );
    expect(fr.status).toBe('fail');
    expect(fr.change).toBeCloseTo(10, 6); // 0 % → 10 %: +10 points
    expect(fr.pValue).toBeUndefined();
    expect(cpu.status).toBe('fail');
    expect(cpu.reason).toMatch(/tolerance only/);
  });

  it('count and rate on a tracer counter are what it counted in the step, and that per second', async () => {
    // net.bytes_recv is a running total (proc writes it so): 100 bytes per ms in both runs.
    const runs = await pair([step('s', 10)], [step('s', 10)], { cpu: [40, 60] });
    const [count, rate, samples] = evaluateGates(
      runs,
      parseGates(
        ['net.bytes_recv:count:+10%', 'net.bytes_recv:rate:+10%', 'cpu.usage_active:count:+10%'],
        't',
      ),
    );
    // The step lasts 1 s: its points span 1 s at most, 0.9 s at least.
    expect(count.baseline).toBeGreaterThanOrEqual(90_000);
    expect(count.baseline).toBeLessThanOrEqual(100_000);
    expect(count).toMatchObject({ status: 'pass', unit: '' });
    expect(rate.baseline).toBeCloseTo(count.baseline!, 6);
    expect(rate).toMatchObject({ status: 'pass', unit: '/s' });
    // On a level, count is the number of samples.
    expect(samples.baseline).toBeGreaterThanOrEqual(9);
    expect(samples.baseline).toBeLessThanOrEqual(11);
    // rate on a level means nothing: invalid input, as in a threshold.
    expect(() => evaluateGates(runs, parseGates(['cpu.usage_active:rate:+10%'], 't'))).toThrow(
      'gate "cpu.usage_active:rate:+10%": rate applies to counters; cpu.usage_active is a level: use avg, min, med, max or p(N)',
    );
  });

  it('--step restricts the gates; an unknown step or a gate without data is invalid input', async () => {
    const runs = await pair([step('a', 10), step('b', 10)], [step('a', 10), step('b', 10)]);
    expect(
      evaluateGates(runs, parseGates(['duration:p(95):+10%'], 't'), { steps: ['b'] }).map((r) => r.step),
    ).toEqual(['b']);
    expect(() => evaluateGates(runs, parseGates(['duration:p(95):+10%'], 't'), { steps: ['nope'] })).toThrow(
      /no step named "nope"/,
    );
    expect(() => evaluateGates(runs, parseGates(['mysql.queries:avg:+10%'], 't'))).toThrow(InputError);
    expect(() => parseGates(['duration:p95:+10%'], '--gate')).toThrow(/--gate: invalid aggregation/);
  });

  it('matches steps by name and lists the unmatched', async () => {
    const runs = await pair([step('a', 10), step('old', 10)], [step('a', 10), step('new', 10)]);
    const m = matchSteps(runs);
    expect(m.names).toEqual(['a', 'old', 'new']);
    expect(m.unmatched).toEqual([
      { name: 'old', presentIn: ['base'], missingFrom: ['cand'] },
      { name: 'new', presentIn: ['cand'], missingFrom: ['base'] },
    ]);
    const r = compareLoaded(runs, { gates: ['duration:med:+10%'] });
    // A step that disappeared is a regression; a new one has nothing to compare with.
    expect(r.gates.map((g) => [g.step, g.status])).toEqual([
      ['a', 'pass'],
      ['old', 'fail'],
      ['new', 'skipped'],
    ]);
    expect(r.gates[1].reason).toBe('step old is missing from run cand (the baseline has it)');
    expect(r.passed).toBe(false);
    expect(gateSummary(r)).toBe('1 of 2 gate checks failed (steps: old); 1 skipped.');
  });

  it("reads compare.gates from the candidate's rendered scenario, defensively", async () => {
    const runs = await pair([step('s', 20)], [step('s', 80)], { gates: ['duration:med:+10%'] });
    expect(
      chooseGates(
        runs.map((r) => r.record),
        undefined,
      ),
    ).toEqual({ texts: ['duration:med:+10%'], source: 'the scenario (compare.gates)' });
    expect(
      chooseGates(
        runs.map((r) => r.record),
        ['rate:avg:-5%'],
      ).texts,
    ).toEqual(['rate:avg:-5%']);
    const result = compareLoaded(runs);
    expect(result.passed).toBe(false);
    expect(result.failed).toBe(1);
    expect(scenarioGates({ scenario: { rendered: { compare: { gates: 'nope' } } } })).toEqual([]);
    expect(scenarioGates({ scenario: { rendered: { compare: { gates: ['a', 3] } } } })).toEqual(['a']);
    expect(scenarioGates({ scenario: { rendered: null } })).toEqual([]);
    expect(scenarioGates({})).toEqual([]);
    expect(new InputError('x').exitCode).toBe(ExitCode.InvalidInput);
  });

  it('classifies durations better / worse / no significant change', async () => {
    const runs = await pair(
      [step('same', 20), step('up', 20), step('down', 20)],
      [step('same', 20), step('up', 40), step('down', 10)],
    );
    const r = compareLoaded(runs);
    const verdict = (name: string) => r.steps.find((s) => s.name === name)!.candidates[0]!.verdict;
    expect(verdict('same')).toBe('same');
    expect(verdict('up')).toBe('worse');
    expect(verdict('down')).toBe('better');
    const up = r.steps.find((s) => s.name === 'up')!.candidates[0]!;
    expect(up.ciLow).toBeGreaterThan(0.5);
    expect(up.ciHigh).toBeLessThan(1.5);
    expect(r.gates).toEqual([]);
    expect(r.passed).toBe(true);
  });

  it('say "N checked, M skipped" rather than "all passed" when some checks were skipped', async () => {
    const runs = await pair([step('a', 10)], [step('a', 10), step('extra', 10)]);
    const r = compareLoaded(runs, { gates: ['duration:med:+10%'] });
    expect([r.checked, r.skipped, r.passed]).toEqual([1, 1, true]);
    expect(gateSummary(r)).toBe('Gates passed: 1 checked; 1 skipped.');
    expect(renderMarkdown(r)).toContain('(✅ Gates passed: 1 checked; 1 skipped)');
  });

  it('never pass a candidate that errored with no steps: its lost steps fail, exit 1', async () => {
    const runs = await pair([step('idle', 10), step('busy', 10)], [], { status: ['passed', 'error'] });
    const r = compareLoaded(runs, { gates: ['duration:p(95):+10%'] });
    expect(r.gates.map((g) => g.status)).toEqual(['fail', 'fail']);
    expect(r.passed).toBe(false);
    expect(r.problems).toEqual([
      {
        run: 'cand',
        status: 'error',
        message: 'run cand did not finish (status error): its gates cannot pass',
      },
    ]);
    expect(gateSummary(r)).toBe(
      'Gates not passed: run cand did not finish (status error): its gates cannot pass (2 checked, 2 failed, 0 skipped).',
    );
    // JUnit says why, in a testcase of its own.
    const xml = renderJunit(r, { timestamp: '2026-01-01T00:00:00Z' });
    expect(xml).toMatch(/<testsuites [^>]*tests="3" failures="3" errors="0" skipped="0"/);
    expect(xml).toMatch(
      /<testcase name="run status"[^>]*>\s*<failure message="run cand did not finish \(status error\)/,
    );
  });

  it('never pass an interrupted or running candidate, even when every check passes or was skipped', async () => {
    for (const status of ['interrupted', 'running'] as const) {
      const runs = await pair([step('s', 10)], [step('s', 10)], { status: ['passed', status] });
      const r = compareLoaded(runs, { gates: ['duration:med:+10%'] });
      expect(r.gates.map((g) => g.status)).toEqual(['pass']);
      expect(r.passed).toBe(false);
      expect(gateSummary(r)).toMatch(
        new RegExp(`^Gates not passed: run cand did not finish \\(status ${status}\\)`),
      );
    }
    // Cut short before any iteration: the checks are skipped, and that is not invalid input but a failure.
    const empty = await pair([step('s', 10)], [step('s', 10, { iterations: 0 })], {
      status: ['passed', 'interrupted'],
    });
    const r = compareLoaded(empty, { gates: ['duration:med:+10%'] });
    expect([r.checked, r.skipped, r.passed]).toEqual([0, 1, false]);
    const xml = renderJunit(r);
    expect(xml).toMatch(/<skipped message="no iterations in step s of run cand"\/>/);
    expect(xml).toMatch(/failures="1"/);
  });

  it('refuse an unfinished baseline, and runs of different scenarios unless allowed (exit 2)', async () => {
    const gates = parseGates(['duration:med:+10%'], 't');
    const broken = await pair([step('s', 10)], [step('s', 10)], { status: ['error', 'passed'] });
    expect(() => evaluateGates(broken, gates)).toThrow(
      /^the baseline run base did not finish \(status error\): gates need a finished baseline$/,
    );
    const other = await pair([step('s', 10)], [step('s', 10)], { scenario: ['quickstart', 'exec'] });
    const err = (() => {
      try {
        evaluateGates(other, gates);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(InputError);
    expect(err?.message).toMatch(
      /runs are of different scenarios \(baseline base is of quickstart, cand is of exec\)/,
    );
    expect(err?.message).toMatch(/--allow-different-scenarios/);
    const r = compareLoaded(other, { gates: ['duration:med:+10%'], allowDifferentScenarios: true });
    expect(r.checked).toBe(1);
    expect(r.scenarios).toEqual(['quickstart', 'exec']);
    expect(renderGateText(r).join('\n')).toMatch(/different scenarios \(quickstart, exec\)/);
    // Without gates, a comparison of different scenarios is only a report.
    expect(compareLoaded(other).passed).toBe(true);
  });

  it('no check evaluated is invalid input, never "passed"', async () => {
    const runs = await pair([step('a', 10)], [step('a', 10), step('extra', 10)]);
    expect(() => compareLoaded(runs, { gates: ['duration:med:+10%'], steps: ['extra'] })).toThrow(
      /^no gate check could be evaluated: extra: step extra is new: the baseline has no such step$/,
    );
  });

  it('apply a step-scoped gate to its step only, and refuse one for a step no run has', async () => {
    const runs = await pair([step('idle', 10), step('busy', 10)], [step('idle', 10), step('busy', 40)]);
    const r = compareLoaded(runs, { gates: ['duration{step=busy}:med:+10%'] });
    expect(r.gates.map((g) => [g.step, g.status])).toEqual([['busy', 'fail']]);
    expect(() => compareLoaded(runs, { gates: ['duration{step=bsy}:med:+10%'] })).toThrow(
      /gate "duration\{step=bsy\}:med:\+10%" is for step bsy, which no compared run has \(steps: idle, busy\)/,
    );
  });

  it('show units in gate reasons, round values in JUnit, and align the gate table', async () => {
    const runs = await pair(
      [step('s', 2000), step('a-much-longer-step', 10)],
      [step('s', 2002), step('a-much-longer-step', 10)],
    );
    const r = compareLoaded(runs, { gates: ['duration:med:+20', 'duration:p(95):+10%'] });
    expect(r.gates[0].reason).toMatch(/^med changed [+-]\d+(\.\d+)? ms, within \+20 ms \(p=/);
    const xml = renderJunit(r);
    expect(xml).toMatch(/baseline base: \d\.\d\d s\n/);
    expect(xml).not.toMatch(/\d\.\d{5,}/);
    const rows = renderGateText(r).filter((l) => /^ {2}(pass|FAIL|skip) /.test(l));
    expect(rows).toHaveLength(4);
    const at = rows.map((l) => l.indexOf('duration:'));
    expect(new Set(at).size).toBe(1);
  });
});
