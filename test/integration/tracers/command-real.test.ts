import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { type CommandTracerInstance, commandTracer } from '../../../src/tracers/command/index.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { loadOperatorCatalog } from '../../../src/tracers/operator-catalog.js';
import type { TracerContext } from '../../../src/tracers/types.js';
import { isAlive } from '../../helpers/net.js';

/**
 * The command tracer with a real local catalog in a temp dir and a real command (a shell
 * script printing one line every 50 ms in each format): every format parsed, the command's
 * whole process group gone after stop, and refusal without --allow-commands.
 */
const emit = join(import.meta.dirname, '../../fixtures/command/emit.sh');
const dir = mkdtempSync(join(tmpdir(), 'scalpels-commands-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, 'probes.yaml'),
  `commands:
  emit-lp: { argv: [/bin/sh, ${emit}, lp], format: line-protocol }
  emit-json: { argv: [/bin/sh, ${emit}, json], format: json, measurement: emitted, tags: [kind] }
  emit-kv: { argv: [/bin/sh, ${emit}, kv], format: kv, tags: [kind] }
  emit-regex:
    argv: [/bin/sh, ${emit}, regex]
    format: regex
    regex: '^tick kind=(?<kind>\\w+) n=(?<n>\\d+)$'
    tags: [kind]
  emit-bad: { argv: [/bin/sh, ${emit}, bad], format: line-protocol }
  emit-once: { argv: [/bin/sh, ${emit}, kv, once], format: kv, mode: interval }
  missing-program: { argv: [/nonexistent/probe], format: kv }
  failing: { argv: [/bin/sh, -c, 'echo broken >&2; exit 4'], format: kv, mode: interval }
`,
);

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The pids in a process group, read from /proc (field 5 of stat is the group). */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(fields[2]) === pgid && fields[0] !== 'Z';
      } catch {
        return false;
      }
    })
    .map(Number);
}

function recordingLogger(lines: string[]): Logger {
  return createLogger({ level: 'debug', write: (l) => lines.push(l) });
}

async function context(logLines: string[] = []): Promise<TracerContext> {
  return {
    ...realTracerContext(recordingLogger(logLines)),
    operatorCatalog: await loadOperatorCatalog(dir, { mustExist: true }),
  };
}

async function run(name: string, ms: number, ctx?: TracerContext, intervalMs = 100): Promise<Sample[]> {
  const instance = commandTracer.create(
    { name },
    { intervalMs },
    ctx ?? (await context()),
  ) as CommandTracerInstance;
  cleanups.push(() => instance.stop());
  const samples: Sample[] = [];
  await instance.start((s) => samples.push(...s));
  const pids = instance.toolPids();
  await new Promise((r) => setTimeout(r, ms));
  const group = pids.flatMap(groupMembers);
  await instance.stop();
  // stop() resolves when the leader has exited and its pipes are closed; a killed member of its
  // group may still be between closing its files and becoming a zombie, for a moment on a
  // loaded machine. Give the kernel 500 ms to finish what the signal started.
  const deadline = Date.now() + 500;
  while ([...pids, ...group].some(isAlive) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  for (const pid of [...pids, ...group])
    expect(isAlive(pid), `pid ${pid} of ${name} is still running`).toBe(false);
  return samples;
}

describe('command tracer with a real local catalog', () => {
  it('parses line protocol, killing the command and its children on stop', async () => {
    const samples = await run('emit-lp', 500);
    expect(samples.length).toBeGreaterThanOrEqual(3);
    expect(samples[0]).toMatchObject({
      measurement: 'emit_lp',
      tags: { command: 'emit-lp', kind: 'lp' },
      fields: { n: 1n, half: 0.5 },
    });
    expect(samples.map((s) => s.fields.n)).toEqual(samples.map((_, i) => BigInt(i + 1)));
  });

  it('parses JSON lines, key=value and regex lines', async () => {
    const [json, kv, regex] = await Promise.all([
      run('emit-json', 400),
      run('emit-kv', 400),
      run('emit-regex', 400),
    ]);
    expect(json[0]).toMatchObject({
      measurement: 'emitted',
      tags: { command: 'emit-json', kind: 'json' },
      fields: { n: 1 },
    });
    expect(kv[0]).toMatchObject({ measurement: 'emit-kv', tags: { kind: 'kv' }, fields: { n: 1n } });
    expect(regex[0]).toMatchObject({ measurement: 'emit-regex', tags: { kind: 'regex' }, fields: { n: 1 } });
    for (const s of [json, kv, regex]) expect(s.length).toBeGreaterThanOrEqual(3);
  });

  it('skips lines it cannot parse, with one warning', async () => {
    const log: string[] = [];
    const samples = await run('emit-bad', 300, await context(log));
    expect(samples).toEqual([]);
    expect(log.filter((l) => l.startsWith('warn: cannot parse a line of the command'))).toHaveLength(1);
  });

  it('runs an interval command once per interval, the first time at start', async () => {
    const samples = await run('emit-once', 550, undefined, 200);
    // One run at start, then one per 200 ms interval: three lines each.
    expect(samples.length).toBeGreaterThanOrEqual(6);
    // (A run cut short by stop() may leave fewer than three lines at the end.)
    expect(samples.every((s) => [1n, 2n, 3n].includes(s.fields.n as bigint))).toBe(true);
    expect(samples.slice(0, 3).map((s) => s.fields.n)).toEqual([1n, 2n, 3n]);
  });

  it('fails to start a program that is missing or a first run that fails', async () => {
    const ctx = await context();
    await expect(
      commandTracer.create({ name: 'missing-program' }, { intervalMs: 100 }, ctx).start(() => {}),
    ).rejects.toThrow(/program \/nonexistent\/probe is not found or not executable/);
    await expect(
      commandTracer.create({ name: 'failing' }, { intervalMs: 100 }, ctx).start(() => {}),
    ).rejects.toThrow('command "failing" failed: exit code 4: broken');
  });

  it('refuses every command without a catalog, and names outside it with one', async () => {
    const bare = realTracerContext(createLogger({ level: 'error' }));
    expect(await commandTracer.unavailableReason(bare)).toBe('agent was not started with --allow-commands');
    expect(() => commandTracer.create({ name: 'emit-lp' }, { intervalMs: 100 }, bare)).toThrow(
      'command "emit-lp" refused: agent was not started with --allow-commands',
    );
    const ctx = await context();
    expect(await commandTracer.unavailableReason(ctx)).toBeUndefined();
    expect(() => commandTracer.create({ name: 'rm' }, { intervalMs: 100 }, ctx)).toThrow(
      /no command "rm" in this agent's catalog/,
    );
  });
});
