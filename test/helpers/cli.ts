import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The built CLI: tests run what a user runs (npm test builds before vitest). */
export const CLI = resolve(import.meta.dirname, '../../bin/run.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function tempDir(prefix = 'scalpels-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a scenario into a temp dir and returns its path. */
export function writeScenario(dir: string, text: string, name = 'scenario.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/**
 * Writes a one-step scenario that sleeps `seconds` while proc samples the agents matching
 * `on` every 200 ms: long enough to break things under it (a broker, an agent, the runner).
 */
export function writeSleepScenario(dir: string, opts: { name: string; on: string; seconds: number }): string {
  return writeScenario(
    dir,
    `version: 1
name: ${opts.name}
tracers: [{ use: proc, on: "${opts.on}", interval: 200ms }]
steps:
  - name: long
    workload: { use: sleep, with: { duration: ${opts.seconds}s } }
`,
  );
}

/** Starts the CLI; the caller may signal the child before awaiting `done`. */
export function startCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, CI: 'true', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  const output = () => stdout + stderr;
  /** Resolves once the CLI has printed `text` (stdout or stderr); throws with the output so far after the timeout. */
  const waitOutput = async (text: string, timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!output().includes(text)) {
      if (Date.now() > deadline) throw new Error(`never saw "${text}" in: ${output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, done, output, waitOutput };
}

export function runCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return startCli(args, opts).done;
}
