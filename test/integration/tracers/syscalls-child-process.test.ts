/**
 * The shared helper that runs tracer tools (src/tracers/child-process.ts): a tool must never
 * outlive its tracer — not after stop(), not after the agent exits, not after it is killed.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  liveTools,
  runTool,
  startTool,
  ToolNotFoundError,
  type ToolProcess,
} from '../../../src/tracers/child-process.js';
import { processGone, until } from '../../fixtures/syscalls/workload.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const started: ToolProcess[] = [];

afterEach(async () => {
  for (const t of started.splice(0)) await t.stop({ signal: 'SIGKILL' });
});

/** Runs a Node script (with tsx, from the repository root) that starts a `sleep` tool and prints its pid. */
function agentThatStartsATool(then: string): { pid: Promise<number>; exited: Promise<void>; kill(): void } {
  const code = `
    import { startTool } from './src/tracers/child-process.ts';
    const tool = await startTool('sleep', ['60']);
    process.stdout.write(tool.pid + '\\n');
    ${then}
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
    child.once('exit', () => reject(new Error('the agent exited before starting its tool')));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { pid, exited, kill: () => child.kill('SIGKILL') };
}

describe('tool children', () => {
  it('reads stdout and stderr line by line and reports the exit', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const tool = await startTool('sh', ['-c', 'echo one; echo two >&2; printf three; exit 3'], {
      onStdoutLine: (l) => out.push(l),
      onStderrLine: (l) => err.push(l),
    });
    started.push(tool);
    expect(await tool.exited).toEqual({ code: 3, signal: null });
    expect(out).toEqual(['one', 'three']);
    expect(err).toEqual(['two']);
    expect(tool.describeExit()).toBe('sh exited with code 3: two');
    expect(liveTools()).not.toContain(tool);
  });

  it('stops with the signal given, and SIGKILLs a tool that ignores it', async () => {
    const polite = await startTool('sleep', ['60']);
    const stubborn = await startTool(
      'sh',
      ['-c', 'trap "" TERM INT; echo armed; while :; do sleep 0.05; done'],
      {
        onStdoutLine: () => {},
      },
    );
    started.push(polite, stubborn);
    expect(liveTools()).toEqual(expect.arrayContaining([polite, stubborn]));
    expect(await polite.stop({ signal: 'SIGINT' })).toEqual({ code: null, signal: 'SIGINT' });
    await new Promise((r) => setTimeout(r, 200)); // let the shell install its trap
    expect(await stubborn.stop({ signal: 'SIGTERM', graceMs: 300 })).toEqual({
      code: null,
      signal: 'SIGKILL',
    });
    expect(processGone(polite.pid)).toBe(true);
    expect(processGone(stubborn.pid)).toBe(true);
    // stop() is idempotent.
    expect(await polite.stop()).toEqual({ code: null, signal: 'SIGINT' });
  });

  it('says when a tool is missing', async () => {
    await expect(startTool('no-such-tool-scalpels', [])).rejects.toBeInstanceOf(ToolNotFoundError);
    await expect(startTool('no-such-tool-scalpels', [])).rejects.toThrow(
      'no-such-tool-scalpels not found on PATH',
    );
  });

  it('runs a tool to completion, and kills one that outlives its timeout', async () => {
    expect(await runTool('sh', ['-c', 'echo a; echo b; echo c >&2'])).toEqual({
      code: 0,
      signal: null,
      stdout: 'a\nb',
      stderr: 'c',
      timedOut: false,
    });
    const slow = await runTool('sleep', ['30'], { timeoutMs: 200 });
    expect(slow).toMatchObject({ signal: 'SIGKILL', timedOut: true });
  });

  it('kills its tools when the agent exits', async () => {
    const agent = agentThatStartsATool('process.exit(0);');
    const pid = await agent.pid;
    await agent.exited;
    await until(() => processGone(pid), 5_000, `tool ${pid} to die`);
  });

  it('kills its tools when the agent is SIGKILLed (parent-death signal)', async () => {
    const agent = agentThatStartsATool('setInterval(() => {}, 1000);');
    const pid = await agent.pid;
    // setpriv sets the parent-death signal, then execs the tool: wait for the exec, since a
    // parent killed before the prctl escapes it (a window of microseconds, wide on a loaded node).
    await until(
      () => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep',
      5_000,
      'the exec of sleep',
    );
    agent.kill();
    await agent.exited;
    await until(() => processGone(pid), 5_000, `tool ${pid} to die`);
  });
});
