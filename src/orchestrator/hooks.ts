/**
 * Setup, teardown and hooks: actions run around a run, around a step, or during a step at
 * given iterations or times (Rally's `event` and `periodic` triggers). Every run of an
 * action is stored as a point (measurement `hook`) and in the record, so a report can put a
 * fault injection on the timeline next to the dip it caused.
 *
 * An action is a mapping keyed by its kind: `exec:` runs a command on the runner's node;
 * `command:` runs an entry of the command catalog of each agent `on:` selects (agents
 * started with --allow-commands), in parallel, one record and one point (tagged `host`) per
 * agent. The scenario only names the entry: the agent holds its argv, and no message ever
 * carries a command line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { formatDuration, parseDuration } from '../core/duration.js';
import { errorMessage, RuntimeFailure } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { nowNs, type Sample } from '../core/sample.js';
import {
  type ActionSpec,
  type AgentAction,
  type AgentSelector,
  type ExecAction,
  type HookSpec,
  isAgentAction,
} from '../scenario/types.js';
import type { HookRecord } from '../store/run-record.js';
import type { SampleSink } from '../store/store.js';
import { runCommand, TAIL_BYTES, tailLines } from '../workloads/exec/spawn.js';
import type { RunObserver } from './observer.js';
import { describeSelector } from './roster.js';

/** Where actions run and where their results go. */
export interface HookEnv {
  runId: string;
  scenario: string;
  /** The step, for step-level actions and hooks. */
  step?: string;
  sink: SampleSink;
  log: Logger;
  observer?: RunObserver;
  /** Relative `cwd`s resolve from here (the scenario file's directory). */
  baseDir: string;
  /** Runs `command:` actions on agents; without it such an action fails with a sentence that says so. */
  agents?: AgentCommands;
}

/** The run's way to its agents, as `command:` actions need it (see agent-commands.ts). */
export interface AgentCommands {
  /** The names of the online agents a selector picks (no selector: every agent). */
  select(on: AgentSelector | undefined): string[];
  /**
   * Asks `agent` to run catalog entry `command` to its end, killed after `timeoutMs`.
   * Resolves with how it ended, never rejects: a refusal or a silent agent is an `error`.
   */
  run(agent: string, command: string, timeoutMs: number, signal?: AbortSignal): Promise<AgentCommandOutcome>;
}

/** How a catalog entry ended on an agent, as far as the runner knows. */
export interface AgentCommandOutcome {
  exitCode?: number | null;
  /** The command's own duration, measured by the agent. */
  durationMs?: number;
  signal?: string;
  output?: string;
  /** Set when it was refused, did not run to its end, or no reply came: one sentence. */
  error?: string;
}

/** Default time an action may take; a background action's time to become ready. */
export const DEFAULT_ACTION_TIMEOUT_MS = 60_000;
/** A background process gets this long to exit after SIGTERM before SIGKILL. */
const BACKGROUND_STOP_MS = 5_000;
/** Lines of output kept in a hook record. */
const OUTPUT_LINES = 10;

/**
 * Process groups of running actions, foreground and background, killed if the runner exits
 * without waiting for them (a second Ctrl-C) or without its teardown.
 */
const liveGroups = new Set<number>();
let exitHandlerInstalled = false;
function track(pid: number): void {
  liveGroups.add(pid);
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
}

function untrack(pid: number | undefined): void {
  if (pid !== undefined) liveGroups.delete(pid);
}

function commandOf(spec: ExecAction): { file: string; args: string[]; label: string } {
  if (Array.isArray(spec.exec))
    return { file: spec.exec[0], args: spec.exec.slice(1), label: spec.exec.join(' ') };
  return { file: '/bin/sh', args: ['-c', spec.exec], label: spec.exec };
}

function writePoint(env: HookEnv, rec: HookRecord): void {
  const tags: Record<string, string> = {
    run: env.runId,
    scenario: env.scenario,
    hook: rec.name,
    phase: rec.phase,
  };
  if (env.step !== undefined) tags.step = env.step;
  // Telegraf's tag for the node: one series per agent, so agents' runs never collide.
  if (rec.host !== undefined) tags.host = rec.host;
  const sample: Sample = {
    measurement: 'hook',
    tags,
    fields: { duration: rec.durationMs, ok: rec.ok, output: rec.output },
    time: BigInt(rec.startNs),
  };
  if (rec.exitCode !== undefined && rec.exitCode !== null) sample.fields.exit_code = BigInt(rec.exitCode);
  if (rec.error) sample.fields.error = rec.error;
  if (rec.trigger) sample.fields.trigger = rec.trigger;
  if (rec.offsetMs !== undefined) sample.fields.offset = rec.offsetMs;
  try {
    env.sink.write([sample]);
  } catch (err) {
    env.log.warn('could not store a hook result', { hook: rec.name, error: errorMessage(err) });
  }
}

interface RunOptions {
  name: string;
  phase: HookRecord['phase'];
  trigger?: string;
  offsetMs?: number;
  /** Kills the action when aborted (Ctrl-C); teardown passes none. */
  signal?: AbortSignal;
}

function timeoutOf(spec: ActionSpec): number {
  return spec.timeout === undefined ? DEFAULT_ACTION_TIMEOUT_MS : parseDuration(spec.timeout);
}

/** Stores a record as a point, and drops the keys it does not use. */
function finish(env: HookEnv, rec: HookRecord): HookRecord {
  for (const key of ['trigger', 'offsetMs', 'error', 'host'] as const)
    if (rec[key] === undefined) delete rec[key];
  writePoint(env, rec);
  return rec;
}

/**
 * Runs one action to its end and records it: one record for `exec`, one per selected agent
 * for `command`. Never rejects.
 */
export async function runAction(spec: ActionSpec, env: HookEnv, opts: RunOptions): Promise<HookRecord[]> {
  return isAgentAction(spec) ? runOnAgents(spec, env, opts) : [await runExec(spec, env, opts)];
}

async function runExec(spec: ExecAction, env: HookEnv, opts: RunOptions): Promise<HookRecord> {
  const { file, args, label } = commandOf(spec);
  const timeoutMs = timeoutOf(spec);
  const startNs = nowNs();
  const startedAt = new Date().toISOString();
  let pgid: number | undefined;
  const r = await runCommand({
    onSpawn: (pid) => {
      pgid = pid;
      track(pid);
    },
    file,
    args,
    cwd: spec.cwd ? resolve(env.baseDir, spec.cwd) : env.baseDir,
    env: spec.env ? { ...process.env, ...spec.env } : process.env,
    timeoutMs,
    signal: opts.signal,
    capture: 'both',
    timeoutMessage: `timed out after ${formatDuration(timeoutMs)}`,
  });
  // Done: what the action left running in its group is its own business, as before.
  untrack(pgid);
  const ok = !r.error && r.code === 0;
  const rec: HookRecord = {
    name: opts.name,
    phase: opts.phase,
    trigger: opts.trigger,
    startedAt,
    startNs: startNs.toString(),
    offsetMs: opts.offsetMs,
    durationMs: r.durationMs,
    ok,
    exitCode: r.code,
    output: tailLines(r.tail, OUTPUT_LINES).slice(-TAIL_BYTES),
    error: ok ? undefined : (r.error ?? (r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`)),
  };
  env.log.debug(`${opts.phase} ${opts.name}: ${label}`, { ok, durationMs: Math.round(r.durationMs) });
  return finish(env, rec);
}

/**
 * Runs a catalog entry on every agent the action selects, in parallel. An agent that
 * refuses, fails or does not answer gives a failed record; selecting no agent at all gives
 * one failed record without a host (the run checks selectors before it starts, so this
 * means the agents went away meanwhile).
 */
async function runOnAgents(spec: AgentAction, env: HookEnv, opts: RunOptions): Promise<HookRecord[]> {
  const timeoutMs = timeoutOf(spec);
  const base = () => ({
    name: opts.name,
    phase: opts.phase,
    trigger: opts.trigger,
    startedAt: new Date().toISOString(),
    startNs: nowNs().toString(),
    offsetMs: opts.offsetMs,
  });
  const agents = env.agents?.select(spec.on) ?? [];
  if (!env.agents || agents.length === 0) {
    const error = env.agents
      ? `command ${spec.command}: no online agent matches ${describeSelector(spec.on)}`
      : `command ${spec.command}: this runner has no agents to run it on`;
    return [finish(env, { ...base(), durationMs: 0, ok: false, output: '', error })];
  }
  const via = env.agents;
  return Promise.all(
    agents.map(async (agent) => {
      const start = base();
      const t0 = performance.now();
      const r = await via.run(agent, spec.command, timeoutMs, opts.signal);
      const ok = r.error === undefined && r.exitCode === 0;
      const rec: HookRecord = {
        ...start,
        host: agent,
        durationMs: r.durationMs ?? performance.now() - t0,
        ok,
        exitCode: r.exitCode,
        output: r.output ?? '',
        error: ok
          ? undefined
          : (r.error ?? (r.signal ? `killed by ${r.signal}` : `exit status ${r.exitCode}`)),
      };
      if (rec.exitCode === undefined) delete rec.exitCode;
      env.log.debug(`${opts.phase} ${opts.name}: command ${spec.command} on ${agent}`, {
        ok,
        durationMs: Math.round(rec.durationMs),
      });
      return finish(env, rec);
    }),
  );
}

/** Resolves once `target` (tcp://host:port or an http(s) URL) answers, or rejects at the deadline. */
async function waitReady(
  target: string,
  deadline: number,
  child: ChildProcess,
  signal?: AbortSignal,
): Promise<void> {
  const probe = (): Promise<boolean> => {
    if (target.startsWith('tcp://')) {
      const url = new URL(target.replace(/^tcp:/, 'http:'));
      return new Promise((done) => {
        const socket = connect({ host: url.hostname, port: Number(url.port) });
        socket.once('connect', () => {
          socket.destroy();
          done(true);
        });
        socket.once('error', () => done(false));
        socket.setTimeout(1000, () => {
          socket.destroy();
          done(false);
        });
      });
    }
    return fetch(target, { signal: AbortSignal.timeout(1000) }).then(
      async (res) => {
        await res.arrayBuffer().catch(() => {});
        return true;
      },
      () => false,
    );
  };
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new Error('interrupted');
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before ${target} answered`);
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${target} did not answer within the timeout`);
}

/**
 * The actions of one scope (the run, or a step): setup in order, teardown always, and the
 * background processes setup started, stopped after teardown.
 */
export class ActionScope {
  readonly records: HookRecord[] = [];
  private readonly background: { child: ChildProcess; name: string; exited: Promise<void> }[] = [];

  constructor(private readonly env: HookEnv) {}

  /** Runs setup actions in order; throws a RuntimeFailure at the first failure not ignored. */
  async setup(list: readonly ActionSpec[] | undefined, signal?: AbortSignal): Promise<void> {
    for (const [i, spec] of (list ?? []).entries()) {
      if (signal?.aborted) return;
      const name = spec.name ?? `setup-${i + 1}`;
      const recs =
        !isAgentAction(spec) && spec.background
          ? [await this.startBackground(spec, name, signal)]
          : await runAction(spec, this.env, { name, phase: 'setup', signal });
      this.records.push(...recs);
      for (const rec of recs)
        this.env.observer?.note?.(
          `${this.where()}setup ${name}${onHost(rec)}: ${rec.ok ? 'ok' : `FAILED: ${rec.error}`}${rec.ok || !rec.output ? '' : ` — ${rec.output}`}`,
        );
      const failed = recs.find((r) => !r.ok);
      if (failed && !spec.ignore_errors) {
        throw new RuntimeFailure(
          `${this.where()}setup ${name}${onHost(failed)} failed: ${failed.error}${failed.output ? ` — ${failed.output}` : ''}`,
        );
      }
    }
  }

  /**
   * Runs every teardown action, also after one fails, then stops the background processes.
   * Never throws and takes no abort signal: a teardown is what runs after Ctrl-C.
   */
  async teardown(list: readonly ActionSpec[] | undefined): Promise<void> {
    for (const [i, spec] of (list ?? []).entries()) {
      const name = spec.name ?? `teardown-${i + 1}`;
      const recs =
        !isAgentAction(spec) && spec.background
          ? [await this.startBackground(spec, name, undefined, 'teardown')]
          : await runAction(spec, this.env, { name, phase: 'teardown' });
      this.records.push(...recs);
      for (const rec of recs.filter((r) => !r.ok))
        this.env.observer?.note?.(
          `${this.where()}teardown ${name}${onHost(rec)} FAILED: ${rec.error}${rec.output ? ` — ${rec.output}` : ''}`,
        );
    }
    await this.stopBackground();
  }

  private where(): string {
    return this.env.step === undefined ? '' : `step ${this.env.step}: `;
  }

  private async startBackground(
    spec: ExecAction,
    name: string,
    signal?: AbortSignal,
    phase: HookRecord['phase'] = 'setup',
  ): Promise<HookRecord> {
    const { file, args } = commandOf(spec);
    const timeoutMs = spec.timeout === undefined ? DEFAULT_ACTION_TIMEOUT_MS : parseDuration(spec.timeout);
    const startNs = nowNs();
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    let output = '';
    let error: string | undefined;
    const child = spawn(file, args, {
      cwd: spec.cwd ? resolve(this.env.baseDir, spec.cwd) : this.env.baseDir,
      env: spec.env ? { ...process.env, ...spec.env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const exited = new Promise<void>((done) => {
      child.once('exit', () => done());
      child.once('error', (err) => {
        error ??= `cannot run ${file}: ${err.message}`;
        done();
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        output = (output + chunk).slice(-TAIL_BYTES);
      });
    }
    if (child.pid) {
      track(child.pid);
      this.background.push({ child, name, exited });
    }
    try {
      if (spec.ready) await waitReady(spec.ready, Date.now() + timeoutMs, child, signal);
      else await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
      if (child.exitCode !== null && child.exitCode !== 0) error ??= `exited with status ${child.exitCode}`;
    } catch (err) {
      error ??= errorMessage(err);
    }
    const rec: HookRecord = {
      name,
      phase,
      startedAt,
      startNs: startNs.toString(),
      durationMs: performance.now() - t0,
      ok: error === undefined,
      output: tailLines(output, OUTPUT_LINES),
      background: true,
    };
    if (error) rec.error = error;
    writePoint(this.env, rec);
    return rec;
  }

  /** SIGTERM to each background process group, SIGKILL to those still there after a grace. */
  private async stopBackground(): Promise<void> {
    const list = this.background.splice(0);
    await Promise.all(
      list.map(async ({ child, exited }) => {
        const pid = child.pid!;
        const signal = (sig: NodeJS.Signals) => {
          try {
            process.kill(-pid, sig);
          } catch {
            // Already gone.
          }
        };
        signal('SIGTERM');
        const timer = setTimeout(() => signal('SIGKILL'), BACKGROUND_STOP_MS);
        await exited;
        clearTimeout(timer);
        // The leader is gone; children it left in its group get the same end.
        signal('SIGKILL');
        untrack(pid);
        child.stdout?.destroy();
        child.stderr?.destroy();
      }),
    );
  }
}

/** " on <agent>" for an action an agent ran, for messages. */
function onHost(rec: HookRecord): string {
  return rec.host === undefined ? '' : ` on ${rec.host}`;
}

/** Rally's triggers, compiled: when does a hook fire? */
interface CompiledHook {
  spec: HookSpec;
  name: string;
  /** Iteration numbers (1-based) it fires at, as a test. */
  atIteration?: (n: number) => boolean;
  /** Times (ms after the workload started) it fires at, in order; a generator for periodic ones. */
  times?: () => Iterator<number>;
}

function compileHook(spec: HookSpec, index: number): CompiledHook {
  const name = spec.name ?? `hook-${index + 1}`;
  if ('event' in spec.trigger) {
    const ev = spec.trigger.event;
    if (ev.unit === 'iteration') {
      const at = new Set(ev.at as number[]);
      return { spec, name, atIteration: (n) => at.has(n) };
    }
    const ms = (ev.at as (string | number)[]).map((t) => parseDuration(t)).sort((a, b) => a - b);
    return { spec, name, times: () => ms[Symbol.iterator]() };
  }
  const p = spec.trigger.periodic;
  if (p.unit === 'iteration') {
    const step = p.step as number;
    const start = (p.start as number | undefined) ?? 0;
    const end = (p.end as number | undefined) ?? Number.POSITIVE_INFINITY;
    // Rally's rule: fire at start, start + step, ... up to end (iterations count from 1).
    return { spec, name, atIteration: (n) => n >= start && n <= end && (n - start) % step === 0 };
  }
  const step = parseDuration(p.step as string | number);
  const start = p.start === undefined ? 0 : parseDuration(p.start as string | number);
  const end = p.end === undefined ? Number.POSITIVE_INFINITY : parseDuration(p.end as string | number);
  return {
    spec,
    name,
    times: function* () {
      for (let t = start; t <= end && step > 0; t += step) yield t;
    },
  };
}

/**
 * The hooks of one step while its workload runs. Iteration triggers fire as the Nth
 * iteration starts (counting from 1, warmup included); time triggers at their offset from
 * the workload's start. A fired action runs alongside the iterations, never blocking them.
 */
export class HookSchedule {
  readonly records: HookRecord[] = [];
  private readonly hooks: CompiledHook[];
  private readonly running = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private t0 = 0;
  private stopped = false;

  constructor(
    specs: readonly HookSpec[] | undefined,
    private readonly env: HookEnv,
    private readonly signal?: AbortSignal,
  ) {
    this.hooks = (specs ?? []).map(compileHook);
  }

  get empty(): boolean {
    return this.hooks.length === 0;
  }

  /** The workload starts now: arm the time triggers. */
  start(): void {
    this.t0 = performance.now();
    for (const hook of this.hooks) {
      if (!hook.times) continue;
      const it = hook.times();
      // libuv computes a timer's due time from the loop's cached clock, which is stale by
      // however long the current callback has run (spawning is synchronous), so a timer
      // can fire a millisecond or more early. A trigger must never fire before its time:
      // when woken early, sleep the rest.
      const armAt = (dueMs: number) => {
        const timer = setTimeout(
          () => {
            this.timers.delete(timer);
            if (this.stopped) return;
            if (performance.now() < this.t0 + dueMs) return armAt(dueMs);
            this.fire(hook, `time ${formatDuration(dueMs)}`);
            armNext();
          },
          Math.max(0, Math.ceil(this.t0 + dueMs - performance.now())),
        );
        this.timers.add(timer);
      };
      const armNext = () => {
        const next = it.next();
        if (next.done || this.stopped) return;
        armAt(next.value);
      };
      armNext();
    }
  }

  /** Iteration `n` (1-based) is starting. */
  onIteration(n: number): void {
    for (const hook of this.hooks) if (hook.atIteration?.(n)) this.fire(hook, `iteration ${n}`);
  }

  private fire(hook: CompiledHook, trigger: string): void {
    if (this.stopped) return;
    const offsetMs = performance.now() - this.t0;
    const p = runAction(hook.spec.action, this.env, {
      name: hook.name,
      phase: 'hook',
      trigger,
      offsetMs,
      signal: this.signal,
    }).then((recs) => {
      this.records.push(...recs);
      for (const rec of recs)
        this.env.observer?.note?.(
          `step ${this.env.step}: hook ${hook.name}${onHost(rec)} (${trigger}) ${rec.ok ? 'ok' : `FAILED: ${rec.error}`} in ${formatDuration(rec.durationMs)}`,
        );
    });
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** No more firings; waits for the hooks still running (each bounded by its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.running]);
    this.records.sort((a, b) => (BigInt(a.startNs) < BigInt(b.startNs) ? -1 : 1));
  }
}

/** The scenario-level scope (`setup:`/`teardown:` at the top of the scenario) of one run. */
export function runActionScope(
  loaded: { file: string; scenario: { name: string } },
  runId: string,
  sink: SampleSink,
  log: Logger,
  observer?: RunObserver,
  agents?: AgentCommands,
): ActionScope {
  return new ActionScope({
    runId,
    scenario: loaded.scenario.name,
    sink,
    log,
    observer,
    baseDir: dirname(loaded.file),
    agents,
  });
}
