import { describe, expect, it } from 'vitest';
import { tracerSchemas, workloadSchemas } from '../../../src/cli/catalog.js';
import { loadScenario } from '../../../src/scenario/load.js';
import { ScenarioError } from '../../../src/scenario/source.js';

const options = { tracers: tracerSchemas, workloads: workloadSchemas };

function load(text: string) {
  return loadScenario('s.yaml', text, options);
}

function messageOf(text: string): string {
  try {
    load(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as Error).message;
  }
  throw new Error('expected a ScenarioError');
}

const base = (step: string, top = '') => `version: 1
name: demo
tracers:
  - use: proc
${top}steps:
  - name: busy
    workload: { use: http, with: { base_url: "http://127.0.0.1:1", requests: [ { name: login, url: /a }, { name: list, url: /b } ] } }
${step}`;

describe('scenario checks beyond the schema (file:line:col)', () => {
  it('accepts every kind of threshold the step can produce, and compare gates', () => {
    const loaded = load(
      base(
        `    runner: { type: rate, rps: { start: 1, end: 20, duration: 10s }, duration: 30s, max_concurrency: 10, warmup: 5 }
    thresholds:
      duration: ["p(95) < 2s", { threshold: "max < 5s", abort_on_fail: true, delay_abort_eval: 10s }]
      failure_rate: ["rate < 1%"]
      rate: ["min > 5"]
      action.login: ["med < 100ms"]
      cpu.usage_active{cpu=cpu-total}: ["avg < 80"]
      proc.mem.used_percent: ["max < 90"]
    sla:
      max_avg_duration_per_atomic: { login: 1s }
      outliers: { max: 1, sigmas: 2.5 }
      performance_degradation: { max_degradation: 50 }
    hooks:
      - trigger: { periodic: { unit: time, step: 5s, start: 5s } }
        action: { exec: "true" }
`,
        'compare:\n  gates: ["duration:p(95):+10%", "cpu.usage_active:avg:+5"]\n',
      ),
    );
    expect(Object.keys(loaded.scenario.steps[0].thresholds!)).toHaveLength(6);
    expect(loaded.scenario.compare!.gates).toHaveLength(2);
  });

  it('refuses a threshold on a tracer metric no attached tracer writes', () => {
    expect(messageOf(base('    thresholds:\n      procstat.cpu_usage: ["avg < 80"]\n'))).toBe(
      's.yaml:9:7: steps[0].thresholds.procstat.cpu_usage: threshold on "procstat.cpu_usage": no tracer attached to this step or the run writes measurement "procstat"; attached tracers write: cpu, mem, system, diskio, net',
    );
  });

  it('accepts it once the step attaches the tracer that writes it', () => {
    const loaded = load(
      base(
        '    tracers: [ { use: process, with: { name: sh } } ]\n    thresholds:\n      procstat.cpu_usage{process_name=sh}: ["avg < 80"]\n',
      ),
    );
    expect(loaded.scenario.steps[0].thresholds).toBeDefined();
  });

  it('refuses an unknown field or tag, suggesting the near one', () => {
    expect(messageOf(base('    thresholds:\n      cpu.usage_activ: ["avg < 80"]\n'))).toMatch(
      /^s\.yaml:9:7: .*measurement cpu has no field "usage_activ" \(did you mean "usage_active"\?\)/,
    );
    expect(messageOf(base('    thresholds:\n      cpu.usage_active{cpus=x}: ["avg < 80"]\n'))).toMatch(
      /has no tag "cpus" \(did you mean "cpu"\?\)/,
    );
  });

  it('refuses an action the workload does not report, and actions of a workload without any', () => {
    expect(messageOf(base('    thresholds:\n      action.logn: ["avg < 1s"]\n'))).toMatch(
      /s\.yaml:9:7: .*the workload reports no action "logn" \(did you mean "login"\?\); its actions: login, list/,
    );
    const exec = `version: 1\nname: x\nsteps:\n  - name: s\n    workload: { use: exec, with: { command: "true" } }\n    thresholds:\n      action.a: ["avg < 1s"]\n`;
    expect(messageOf(exec)).toMatch(/s\.yaml:7:7: .*the workload reports no atomic actions/);
    const perAtomic = `version: 1\nname: x\nsteps:\n  - name: s\n    workload: { use: exec, with: { command: "true" } }\n    sla: { max_avg_duration_per_atomic: { a: 1 } }\n`;
    expect(messageOf(perAtomic)).toMatch(
      /s\.yaml:6:43: steps\[0\]\.sla\.max_avg_duration_per_atomic\.a: the workload reports no atomic actions/,
    );
  });

  it('refuses a bad threshold expression or an aggregation that does not apply, at the item', () => {
    expect(messageOf(base('    thresholds:\n      duration: ["p95 < 2s"]\n'))).toMatch(
      /^s\.yaml:9:18: steps\[0\]\.thresholds\.duration\[0\]: invalid aggregation "p95"/,
    );
    expect(messageOf(base('    thresholds:\n      failure_rate: [{ threshold: "p(95) < 1" }]\n'))).toMatch(
      /^s\.yaml:9:35: .*aggregation p\(95\) does not apply to failure_rate: expected rate, count/,
    );
    expect(messageOf(base('    thresholds:\n      duration{host=a}: ["avg < 1s"]\n'))).toMatch(
      /duration metrics take no tag filter/,
    );
  });

  it('refuses rate on a level at the item, and accepts count and rate on counters', () => {
    expect(
      messageOf(base('    thresholds:\n      cpu.usage_active{cpu=cpu-total}: ["avg < 90", "rate < 5"]\n')),
    ).toBe(
      's.yaml:9:53: steps[0].thresholds.cpu.usage_active{cpu=cpu-total}[1]: rate applies to counters; cpu.usage_active{cpu=cpu-total} is a level: use avg, min, med, max or p(N)',
    );
    const loaded = load(
      base(
        '    tracers: [ { use: mysql }, { use: syscalls, with: { name: sh } } ]\n    thresholds:\n      diskio.read_bytes: ["rate < 1000000000"]\n      mysql.com_select: ["count >= 10", "rate < 500"]\n      syscalls.calls: ["rate < 1000000"]\n      cpu.usage_active: ["count > 0"]\n',
      ),
    );
    expect(Object.keys(loaded.scenario.steps[0].thresholds!)).toHaveLength(4);
  });

  it('refuses a bad gate', () => {
    expect(messageOf(base('', 'compare:\n  gates: ["duration:p95:+10%"]\n'))).toMatch(
      /^s\.yaml:6:11: compare\.gates\[0\]: invalid aggregation "p95"/,
    );
    expect(messageOf(base('', 'compare:\n  gates: ["nope.field:avg:+1"]\n'))).toMatch(
      /compare\.gates\[0\]: gate "nope\.field:avg:\+1": no tracer/,
    );
    expect(messageOf(base('', 'compare:\n  gates: ["cpu.usage_active:rate:+10%"]\n'))).toBe(
      's.yaml:6:11: compare.gates[0]: gate "cpu.usage_active:rate:+10%": rate applies to counters; cpu.usage_active is a level: use avg, min, med, max or p(N)',
    );
    expect(
      load(base('', 'compare:\n  gates: ["net.bytes_recv:rate:+10%"]\n')).scenario.compare!.gates,
    ).toHaveLength(1);
  });

  it('checks runners and hooks', () => {
    expect(messageOf(base('    runner: { type: rate, rps: 10 }\n'))).toBe(
      's.yaml:8:13: steps[0].runner: a rate runner needs times or duration (or both: whichever comes first ends the step)',
    );
    expect(messageOf(base('    runner: { type: constant, times: 3, warmup: 3 }\n'))).toMatch(
      /runner\.warmup: warmup 3 leaves no measured iteration of 3/,
    );
    expect(messageOf(base('    runner: { type: duratio, duration: 3s }\n'))).toMatch(
      /unknown type string "duratio" \(did you mean "duration"\?\)/,
    );
    expect(
      messageOf(
        base(
          '    hooks:\n      - trigger: { event: { unit: iteration, at: [0, 2.5] } }\n        action: { exec: "true" }\n',
        ),
      ),
    ).toMatch(
      /trigger\.event\.at\[0\]: expected an iteration number \(a whole number from 1\), got 0\n.*at\[1\].*got 2\.5/,
    );
    expect(
      messageOf(base('    hooks:\n      - trigger: { sometimes: {} }\n        action: { exec: "true" }\n')),
    ).toMatch(/unknown key "sometimes"/);
  });

  it('checks http params beyond the schema (URL, regex, JSON path, one body)', () => {
    const http = (w: string) =>
      `version: 1\nname: x\nsteps:\n  - name: s\n    workload: { use: http, with: ${w} }\n`;
    expect(messageOf(http('{ url: "not a url" }'))).toMatch(
      /^s\.yaml:5:41: steps\[0\]\.workload\.with\.url: invalid URL "not a url"/,
    );
    expect(messageOf(http('{ url: "http://x/", expect: { body_matches: "(" } }'))).toMatch(
      /body_matches: invalid regular expression/,
    );
    expect(messageOf(http('{ url: "http://x/", expect: { json: { "$..a": 1 } } }'))).toMatch(
      /invalid JSON path "\$\.\.a"/,
    );
    expect(messageOf(http('{ url: "http://x/", body: a, json: {} }'))).toMatch(
      /give one of body, json or body_file, not body and json/,
    );
  });

  it('is as strict as the protocol on what it sends agents: intervals and command actions', () => {
    // Below 10 ms an agent refuses the start request: validate must say so first, at the line.
    const scenario = (interval: string, command = 'c') => `version: 1
name: iv
tracers: [ { use: proc, interval: ${interval} } ]
steps:
  - name: s
    workload: { use: sleep, with: { duration: 10ms } }
    tracers:
      - use: proc
        interval: 25h
    teardown:
      - command: ${command}
        timeout: 0s
`;
    expect(messageOf(scenario('0s')).split('\n')).toEqual([
      's.yaml:3:35: tracers[0].interval: must be at least 10ms',
      's.yaml:9:19: steps[0].tracers[0].interval: must be at most 24h',
      's.yaml:12:18: steps[0].teardown[0].timeout: must be at least 1ms',
    ]);
    expect(messageOf(scenario('1ms'))).toMatch(
      /^s\.yaml:3:35: tracers\[0\]\.interval: must be at least 10ms$/m,
    );
    // A catalog entry's name: the protocol takes up to 128 characters.
    expect(messageOf(scenario('1s', 'c'.repeat(129)))).toMatch(
      /^s\.yaml:11:18: steps\[0\]\.teardown\[0\]\.command: expected the name of an entry .*\(up to 128 /,
    );
    expect(
      load(`version: 1
name: iv
tracers: [ { use: proc, interval: 10ms } ]
steps:
  - name: s
    workload: { use: sleep, with: { duration: 10ms } }
    teardown: [ { command: c, timeout: 1ms } ]
`).scenario.tracers![0].interval,
    ).toBe('10ms');
  });
});
