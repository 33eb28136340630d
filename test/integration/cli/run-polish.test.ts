/**
 * What a new user met at the command line (docs: the new-user report, items A2–A17): flags
 * and references checked before a run, one JSON document with --json, a run that survives a
 * closed pipe or a second Ctrl-C without leaving a `running` record, errors in one sentence.
 * All through the built CLI, with real processes and files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir, writeScenario } from '../../helpers/cli.js';
import { GATE_SCENARIO, SLOWER } from '../report/scenario.js';

const SHORT = `version: 1
name: short
steps:
  - { name: only, workload: { use: sleep, with: { duration: 50ms } }, runner: { type: serial, times: 3 } }
`;

const runsIn = (store: string) => (existsSync(join(store, 'runs')) ? readdirSync(join(store, 'runs')) : []);
const storedRecord = (store: string, id: string) =>
  JSON.parse(readFileSync(join(store, 'runs', id, 'run.json'), 'utf8'));

describe('scalpels run: checks before the run starts', { timeout: 180_000 }, () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  const scenario = writeScenario(dir, SHORT);
  let baseline: string;

  beforeAll(async () => {
    const r = await runCli(['run', scenario, '--store-dir', store, '-q', '--json']);
    expect(r.code, r.stderr).toBe(0);
    baseline = JSON.parse(r.stdout).id;
  });

  it('refuses an unknown --compare-to run or --step name before running anything: exit 2', async () => {
    for (const [args, message] of [
      [['--compare-to', 'nosuch'], /^Error: no run matches "nosuch" in the runs before this one/m],
      [
        ['--compare-to', baseline, '--step', 'onyl'],
        /^Error: --step onyl: the scenario has no such step \(did you mean only\?\)/m,
      ],
    ] as const) {
      const r = await runCli(['run', scenario, '--store-dir', store, '-q', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
    expect(runsIn(store)).toEqual([baseline]);
  });

  it('refuses a --lease below the protocol minimum of 1s: exit 2, no run', async () => {
    for (const lease of ['0s', '500ms']) {
      const r = await runCli(['run', scenario, '--store-dir', store, '-q', '--lease', lease]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`Error: --lease ${lease}: must be at least 1s`);
    }
    expect(runsIn(store)).toEqual([baseline]);
  });

  it('cannot read a missing scenario: says "no such file", exit 2', async () => {
    const r = await runCli(['run', join(dir, 'nosuch.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`Error: cannot read scenario ${join(dir, 'nosuch.yaml')}: no such file`);
  });
});

describe('scalpels run --json --compare-to --gate', { timeout: 180_000 }, () => {
  it('prints one JSON document holding the comparison; status and exitCode agree with the exit code, also stored', async () => {
    const dir = tempDir();
    const store = join(dir, 'store');
    const scenario = writeScenario(dir, GATE_SCENARIO);
    const base = await runCli(['run', scenario, '--store-dir', store, '-q', '--json']);
    expect(base.code, base.stderr).toBe(0);
    const baseline = JSON.parse(base.stdout).id;
    // `latest`, resolved before the run, still names the run before this one.
    const r = await runCli([
      'run',
      scenario,
      '--store-dir',
      store,
      '--json',
      '--arg',
      SLOWER,
      '--compare-to',
      'latest',
      '--gate',
      'duration:p(95):+10%',
    ]);
    expect(r.code, r.stderr).toBe(1);
    const record = JSON.parse(r.stdout); // throws on "Extra data"
    expect(record.exitCode).toBe(1);
    expect(record.status).toBe('failed');
    expect(record.comparison.baseline).toBe(baseline);
    expect(record.comparison.passed).toBe(false);
    expect(record.comparison.gates.filter((g: { status: string }) => g.status === 'fail')).toHaveLength(1);
    // The text comparison went to stderr.
    expect(r.stderr).toMatch(/FAIL {2}changing/);
    const stored = storedRecord(store, record.id);
    expect(stored.status).toBe('failed');
    expect(stored.exitCode).toBe(1);
    expect(stored.comparison.baseline).toBe(baseline);
  }, 120_000);
});

describe('scalpels run: output that goes away, and quitting at once', { timeout: 180_000 }, () => {
  it('finishes and stores the run when stderr is closed under it (| head -1)', async () => {
    const dir = tempDir();
    const store = join(dir, 'store');
    const scenario = writeScenario(
      dir,
      `version: 1
name: epipe
steps:
  - { name: a, workload: { use: sleep, with: { duration: 300ms } }, runner: { type: serial, times: 3 } }
  - { name: b, workload: { use: sleep, with: { duration: 300ms } }, runner: { type: serial, times: 3 } }
`,
    );
    const cli = startCli(['run', scenario, '--store-dir', store, '--json']);
    // Like `2>&1 | head -1`: read the first line, then close the pipe.
    cli.child.stderr!.once('data', () => cli.child.stderr!.destroy());
    const r = await cli.done;
    expect(r.code).toBe(0);
    const record = JSON.parse(r.stdout);
    expect(record.status).toBe('passed');
    expect(record.steps.map((s: { name: string }) => s.name)).toEqual(['a', 'b']);
    expect(storedRecord(store, record.id).status).toBe('passed');
  }, 60_000);

  it('a second Ctrl-C quits at once, stores the run as interrupted and kills the teardown action', async () => {
    const dir = tempDir();
    const store = join(dir, 'store');
    const marker = `scalpels-twice-${process.pid}-${Date.now()}`;
    const scenario = writeScenario(
      dir,
      `version: 1
name: twice
teardown:
  - exec: "sleep 20 # ${marker}-teardown"
steps:
  - name: long
    workload: { use: exec, with: { command: "sleep 30 # ${marker}-step" } }
`,
    );
    const cli = startCli(['run', scenario, '--store-dir', store]);
    await waitFor(() => pgrep(`${marker}-step`));
    cli.child.kill('SIGINT');
    await waitFor(() => pgrep(`${marker}-teardown`));
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code).toBe(130);
    const [id] = runsIn(store);
    const record = storedRecord(store, id);
    expect(record.status).toBe('interrupted');
    expect(record.exitCode).toBe(130);
    await new Promise((done) => setTimeout(done, 300));
    expect(pgrep(marker)).toBe(false);
  }, 150_000);
});

describe('scalpels run: a failing step is named on stderr and in the table', { timeout: 180_000 }, () => {
  it('a module that does not compile: exit 3, the esbuild detail kept, the step shown as error', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'broken.ts'), 'export default async function (ctx) {\n  if ( { }\n}\n');
    const scenario = writeScenario(
      dir,
      `version: 1
name: broken-module
steps:
  - { name: s, workload: { use: module, with: { path: ./broken.ts } } }
  - { name: after, workload: { use: sleep, with: { duration: 10ms } } }
`,
    );
    const r = await runCli(['run', scenario, '--store-dir', join(dir, 'store')]);
    expect(r.code).toBe(3);
    // One line, with the file:line:col of the syntax error after esbuild's headline.
    expect(r.stderr).toMatch(
      /^Error: step s: cannot load module \S+broken\.ts: Transform failed with 1 error: \S*broken\.ts:\d+:\d+: ERROR: Expected .+$/m,
    );
    expect(r.stdout).toMatch(/^s\s+-\s+-\s+-\s+-\s+-\s+-\s+error$/m);
    expect(r.stdout).toMatch(/^after\s+-\s+-\s+-\s+-\s+-\s+-\s+not run$/m);
  }, 60_000);
});

describe('reports and archives: where they are written', { timeout: 180_000 }, () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  beforeAll(async () => {
    const r = await runCli(['run', writeScenario(dir, SHORT), '--store-dir', store, '-q']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('report -o and runs export -o both create missing directories; a directory as the file is exit 2', async () => {
    const html = join(dir, 'new', 'deeper', 'r.html');
    const report = await runCli(['report', 'latest', '--store-dir', store, '-o', html]);
    expect(report.code, report.stderr).toBe(0);
    expect(readFileSync(html, 'utf8')).toContain('<html');
    const archive = join(dir, 'other', 'x.tgz');
    const exp = await runCli(['runs', 'export', 'latest', '--store-dir', store, '-o', archive]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(existsSync(archive)).toBe(true);
    for (const args of [
      ['report', 'latest', '-o', dir],
      ['runs', 'export', 'latest', '-o', dir],
    ]) {
      const r = await runCli([...args, '--store-dir', store]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim()).toBe(`Error: cannot write ${dir}: it is a directory`);
    }
  });

  it('a template that does not parse: Handlebars says what it expected, on one line', async () => {
    const templates = join(dir, 'tpl');
    mkdirSync(templates);
    writeFileSync(join(templates, 'report.hbs'), '<p>\n{{#each}}\n');
    const r = await runCli([
      'report',
      'latest',
      '--store-dir',
      store,
      '--templates',
      templates,
      '-o',
      join(dir, 'x.html'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: template report\.hbs: Parse error on line \d+: .*Expecting .+$/m);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('broker flags and network errors: one sentence each', { timeout: 180_000 }, () => {
  it('broker --port out of range is a flag error (2); a port in use is named (3)', async () => {
    const bad = await runCli(['broker', '--port', '99999']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--port .*less than or equal to 65535/);
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as { port: number }).port;
    try {
      const busy = await runCli(['broker', '--port', String(port)]);
      expect(busy.code).toBe(3);
      expect(busy.stderr.trim()).toBe(`Error: port ${port} is already in use on 127.0.0.1`);
    } finally {
      server.close();
    }
  });

  it('agents and agent at a broker that refuses: the broker is named, exit 3, no --debug hint', async () => {
    for (const command of ['agents', 'agent']) {
      const r = await runCli([command, '--broker', 'mqtt://127.0.0.1:1']);
      expect(r.code, command).toBe(3);
      expect(r.stderr.trim()).toBe(
        'Error: cannot reach the broker at mqtt://127.0.0.1:1: connection refused',
      );
    }
  });

  it('agents --wait takes a duration', async () => {
    const r = await runCli(['agents', '--broker', 'mqtt://127.0.0.1:1883', '--wait', '200ms', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
    const bad = await runCli(['agents', '--broker', 'mqtt://127.0.0.1:1883', '--wait', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^Error: --wait: invalid duration "soon"/);
  });
});

describe('help text', { timeout: 180_000 }, () => {
  it('says what the flags and arguments really are', async () => {
    const compare = await runCli(['compare', '--help']);
    expect(compare.stdout).toContain('$ scalpels compare BASELINE [RUNS...]');
    expect(compare.stdout).toMatch(
      /BASELINE +The baseline run \(id, unique id prefix, tag, latest, latest~N\)/,
    );
    // No hard line break in mid-sentence: "…Mann-Whitney U test, and the median's…" stays one paragraph.
    expect(compare.stdout.replace(/\n +/g, ' ')).toContain('Mann-Whitney U test, and the median');
    const agent = await runCli(['agent', '--help']);
    expect(agent.stdout).toMatch(/--name=name +\[default: this host's name\]/);
    const agents = await runCli(['agents', '--help']);
    // Required, and without run's words about an embedded broker.
    expect(agents.stdout.replace(/\n +/g, ' ')).toMatch(
      /--broker=url +\(required\) \[env: SCALPELS_BROKER\] MQTT broker URL \(mqtt:\/\/ or mqtts:\/\/\)\. --broker-ca/,
    );
    expect(agents.stdout).toMatch(/--wait=duration +\[default: 1s\]/);
    const run = await runCli(['run', '--help']);
    expect(run.stdout.replace(/\n +/g, ' ')).toContain('1 an SLA, threshold or gate failed');
    expect(run.stdout.replace(/\n +/g, ' ')).toContain('130 interrupted by Ctrl-C or SIGTERM');
  });
});

// Generous: on a loaded 2-core machine the CLI alone can take 10 s to start.
async function waitFor(condition: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((done) => setTimeout(done, 100));
  }
}

function pgrep(pattern: string): boolean {
  try {
    execFileSync('pgrep', ['-f', pattern]);
    return true;
  } catch {
    return false;
  }
}
