import { describe, expect, it } from 'vitest';
import { ExitCode, InputError } from '../../../src/core/errors.js';
import { chooseGates, compareLoaded } from '../../../src/report/api.js';
import { matchSteps } from '../../../src/report/compare.js';
import { evaluateGates, parseGates, scenarioGates } from '../../../src/report/gates.js';
import { loadRuns } from '../../../src/report/run-data.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import { type StepPlan, writeRun } from './synthetic.js';

async function pair(
  base: StepPlan[],
  cand: StepPlan[],
  extra: { cpu?: [number, number]; gates?: string[] } = {},
) {
  const store = new MemoryStore();
  const a = await writeRun(store, {
    id: 'base',
    startMs: Date.UTC(2026, 0, 1),
    steps: base,
    seed: 1,
    cpu: extra.cpu && { h1: extra.cpu[0] },
  });
  const b = await writeRun(store, {
    id: 'cand',
    startMs: Date.UTC(2026, 0, 2),
    steps: cand,
    seed: 2,
    cpu: extra.cpu && { h1: extra.cpu[1] },
    scenarioGates: extra.gates,
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
    expect(r.gates.filter((g) => g.status === 'skipped').map((g) => g.step)).toEqual(['old', 'new']);
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
});
