import { describe, expect, it } from 'vitest';
import { tracerSchemas, workloadSchemas } from '../../../src/cli/catalog.js';
import { InputError } from '../../../src/core/errors.js';
import { loadScenario } from '../../../src/scenario/load.js';
import { ScenarioError } from '../../../src/scenario/source.js';

const options = { tracers: tracerSchemas, workloads: workloadSchemas };

const valid = `version: 1
name: demo
args: { iterations: 3, cmd: "true" }
tracers:
  - use: proc
    interval: 500ms
steps:
  - name: busy
    workload: { use: exec, with: { command: "{{cmd}}" } }
    runner: { type: constant, times: "{{iterations}}", concurrency: 2 }
    sla: { failure_rate: { max: 0 } }
`;

/** Loads and returns the one-line-per-issue message, failing the test if it loads. */
function errorOf(text: string, extra: Partial<Parameters<typeof loadScenario>[2]> = {}): ScenarioError {
  try {
    loadScenario('s.yaml', text, { ...options, ...extra });
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return err as ScenarioError;
  }
  throw new Error('expected a ScenarioError');
}

describe('loadScenario', () => {
  it('renders args with their types and keeps the source', () => {
    const loaded = loadScenario('s.yaml', valid, options);
    const step = loaded.scenario.steps[0];
    expect(step.runner).toEqual({ type: 'constant', times: 3, concurrency: 2 });
    expect(step.workload.with).toEqual({ command: 'true' });
    expect(loaded.source).toBe(valid);
    expect(loaded.args).toEqual({ iterations: 3, cmd: 'true' });
  });

  it('applies --arg over the declared default, parsing the value as YAML', () => {
    const loaded = loadScenario('s.yaml', valid, { ...options, argFlags: ['iterations=7'] });
    expect(loaded.scenario.steps[0].runner).toMatchObject({ times: 7 });
  });

  it('renders args inside longer strings', () => {
    const text = valid.replace('"{{cmd}}"', '"echo {{iterations}} <&>"');
    expect(loadScenario('s.yaml', text, options).scenario.steps[0].workload.with).toEqual({
      command: 'echo 3 <&>',
    });
  });

  it('refuses an --arg the scenario does not declare, suggesting the near one', () => {
    expect(() => loadScenario('s.yaml', valid, { ...options, argFlags: ['iteration=7'] })).toThrow(
      /declares no arg "iteration" \(did you mean "iterations"\?\)/,
    );
    expect(() => loadScenario('s.yaml', valid, { ...options, argFlags: ['iteration=7'] })).toThrow(
      InputError,
    );
  });

  it('names file:line:col and suggests the key for a misspelt key', () => {
    const e = errorOf(valid.replace('runner: {', 'runer: {'));
    expect(e.issues).toHaveLength(1);
    expect(e.message).toBe(
      's.yaml:10:5: steps[0].runer: unknown key "runer" (did you mean "runner"?); expected one of: name, description, workload, runner, tracers, sla, thresholds, setup, teardown, hooks',
    );
  });

  it('names the place and the expected type for a wrong type', () => {
    const e = errorOf(valid.replace('concurrency: 2', 'concurrency: lots'));
    expect(e.issues).toHaveLength(1);
    expect(e.message).toMatch(
      /^s\.yaml:10:\d+: steps\[0\]\.runner\.concurrency: expected integer, got string "lots"$/,
    );
  });

  describe('actions: exec on the runner, or command on agents', () => {
    const withHook = (action: string) =>
      `${valid}    hooks:\n      - trigger: { event: { unit: iteration, at: [2] } }\n        action: ${action}\n`;

    it('accepts a catalog entry on agents selected by labels, a name, or none', () => {
      const loaded = loadScenario(
        's.yaml',
        `${withHook('{ command: restart-keystone, on: { role: controller }, timeout: 2m }')}    setup: [ { command: warm-cache, on: "ctl-*" } ]\n    teardown: [ { command: cleanup, ignore_errors: true } ]\n`,
        options,
      );
      const step = loaded.scenario.steps[0];
      expect(step.hooks?.[0].action).toEqual({
        command: 'restart-keystone',
        on: { role: 'controller' },
        timeout: '2m',
      });
      expect(step.setup).toEqual([{ command: 'warm-cache', on: 'ctl-*' }]);
      expect(step.teardown).toEqual([{ command: 'cleanup', ignore_errors: true }]);
    });

    it('refuses both kinds at once, or neither, in one sentence at the action', () => {
      const both = errorOf(withHook('{ exec: "true", command: restart }'));
      expect(both.issues).toHaveLength(1);
      expect(both.message).toBe(
        "s.yaml:14:17: steps[0].hooks[0].action: expected exactly one of exec (a command on the runner's node) or command (an entry of the agents' catalogs)",
      );
      const neither = errorOf(withHook('{ name: x, timeout: 1s }'));
      expect(neither.issues).toHaveLength(1);
      expect(neither.message).toMatch(
        /^s\.yaml:14:17: steps\[0\]\.hooks\[0\]\.action: expected exactly one of exec/,
      );
    });

    it('refuses an unknown key, with the near one', () => {
      expect(errorOf(withHook('{ command: restart, onn: ctl-1 }')).message).toMatch(
        /^s\.yaml:14:37: steps\[0\]\.hooks\[0\]\.action\.onn: unknown key "onn" \(did you mean "on"\?\); expected one of: name, exec, command, on, /,
      );
    });

    it('refuses a command line where an entry name belongs', () => {
      expect(errorOf(withHook('{ command: "systemctl restart keystone" }')).message).toMatch(
        /action\.command: expected the name of an entry of the agents' command catalogs/,
      );
    });

    it("keeps keys to the kind they belong to: the agent owns a command's env and cwd", () => {
      expect(errorOf(withHook('{ command: restart, cwd: /tmp, background: true }')).message).toBe(
        [
          's.yaml:14:37: steps[0].hooks[0].action.cwd: "cwd" is for exec actions; a command runs as its entry in the agent\'s catalog says',
          's.yaml:14:48: steps[0].hooks[0].action.background: "background" is for exec actions; a command runs as its entry in the agent\'s catalog says',
        ].join('\n'),
      );
      expect(errorOf(withHook('{ exec: "true", on: ctl-1 }')).message).toBe(
        's.yaml:14:33: steps[0].hooks[0].action.on: "on" selects agents for a command action; exec runs on the runner\'s node',
      );
    });
  });

  it('names a missing required key at its parent', () => {
    const e = errorOf(valid.replace('    workload: { use: exec, with: { command: "{{cmd}}" } }\n', ''));
    expect(e.message).toBe('s.yaml:8:5: steps[0]: missing required key "workload"');
  });

  it('reports invalid YAML with its position', () => {
    const e = errorOf('version: 1\nname: [unclosed\nsteps: []\n');
    expect(e.issues).toHaveLength(1);
    expect(e.message).toMatch(/^s\.yaml:\d+:\d+: invalid YAML: /);
  });

  it('reports an unknown tracer at its use: value, with a suggestion', () => {
    const e = errorOf(valid.replace('use: proc', 'use: prco'));
    expect(e.message).toMatch(
      /^s\.yaml:5:10: tracers\[0\]\.use: unknown tracer "prco" \(did you mean "proc"\?\); available: .*proc/,
    );
  });

  it('reports an unknown workload', () => {
    const e = errorOf(valid.replace('use: exec', 'use: exex'));
    expect(e.message).toMatch(
      /^s\.yaml:9:22: steps\[0\]\.workload\.use: unknown workload "exex" \(did you mean "exec"\?\)/,
    );
  });

  it("validates a tracer's with: block against its manifest", () => {
    const e = errorOf(valid.replace('interval: 500ms', 'interval: 500ms\n    with: { percpu: maybe }'));
    expect(e.message).toMatch(
      /^s\.yaml:7:\d+: tracers\[0\]\.with\.percpu: expected boolean, got string "maybe"$/,
    );
  });

  it('explains a bad duration', () => {
    const e = errorOf(valid.replace('interval: 500ms', 'interval: soon'));
    expect(e.message).toBe(
      's.yaml:6:15: tracers[0].interval: expected a duration such as 500ms, 2s, 1m or a number of seconds, got string "soon"',
    );
  });

  it('names an arg that has no value, with its line', () => {
    const e = errorOf(valid.replace('"{{cmd}}"', '"{{command}}"'));
    expect(e.message).toMatch(
      /^s\.yaml:9:\d+: steps\[0\]\.workload\.with\.command: arg "command" has no value/,
    );
  });

  it('suggests a runner type', () => {
    const e = errorOf(valid.replace('type: constant', 'type: constnat'));
    expect(e.message).toMatch(
      /steps\[0\]\.runner\.type: unknown type string "constnat" \(did you mean "constant"\?\)/,
    );
  });

  it('refuses duplicate step names', () => {
    const text = `${valid}  - name: busy\n    workload: { use: sleep, with: { duration: 1s } }\n`;
    expect(errorOf(text).message).toMatch(/steps\[1\]\.name: duplicate step name "busy"/);
  });
});
