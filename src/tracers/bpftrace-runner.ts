import { readFile } from 'node:fs/promises';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { findExecutable, runTool, startTool, type ToolExit, type ToolProcess } from './child-process.js';

/**
 * What the `python` and `bpftrace` tracers share about bpftrace: starting it (through
 * child-process.ts, so that it never outlives the agent) until its probes are live, parsing
 * its `-f json` output, telling its harmless warnings from failures, and checking that it can
 * run on this node.
 */

// ---------------------------------------------------------------------------------------------
// bpftrace's -f json output
// ---------------------------------------------------------------------------------------------

/** `stats()` values: count, integer average and total. */
export interface StatsValue {
  count: number;
  average: number;
  total: number;
}

/** One bucket of a `hist()` or `lhist()` map. */
export interface HistBucket {
  min?: number;
  max?: number;
  count: number;
}

/** A map value as bpftrace prints it: a number (count, sum, min, max, avg), a string, stats or a histogram. */
export type MapValue = number | string | StatsValue | HistBucket[];

/** One entry of a printed map; `key` is absent for a map without keys (`@n = count()`). */
export interface MapEntry {
  /** The key as printed: the parts of a multi-part key are joined by commas (`comm,42`). */
  key?: string;
  value: MapValue;
}

/** A printed map. `kind` is bpftrace's message type: plain values, `avg`/`stats`, or histograms. */
export interface BpftraceMap {
  kind: 'map' | 'stats' | 'hist';
  /** The map name with its `@` (`@calls`, or `@` for the anonymous map). */
  name: string;
  entries: MapEntry[];
}

/** What one line of `bpftrace -f json` says. */
export type BpftraceMessage =
  | { type: 'attached'; probes: number }
  | { type: 'map'; map: BpftraceMap }
  | { type: 'printf'; text: string }
  | { type: 'lost'; events: number }
  | { type: 'other'; raw: unknown };

/**
 * Parses one stdout line of `bpftrace -f json` (0.17). Returns undefined for blank lines
 * (bpftrace prints one for an empty map) and for lines that are not JSON (a script's own
 * output when it was not written for -f json); never throws.
 */
export function parseBpftraceJson(line: string): BpftraceMessage | undefined {
  const text = line.trim();
  if (text === '' || text[0] !== '{') return undefined;
  let msg: { type?: unknown; data?: unknown };
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  const data = msg.data as Record<string, unknown> | undefined;
  switch (msg.type) {
    case 'attached_probes':
      return { type: 'attached', probes: Number((data as { probes?: unknown })?.probes ?? 0) };
    case 'map':
    case 'stats':
    case 'hist': {
      if (!data || typeof data !== 'object') return { type: 'other', raw: msg };
      const [name] = Object.keys(data);
      if (name === undefined) return { type: 'other', raw: msg };
      return { type: 'map', map: { kind: msg.type, name, entries: mapEntries(msg.type, data[name]) } };
    }
    case 'printf':
      return { type: 'printf', text: String(msg.data ?? '') };
    case 'lost_events':
      return { type: 'lost', events: Number((data as { events?: unknown })?.events ?? 0) };
    default:
      return { type: 'other', raw: msg };
  }
}

function mapEntries(kind: BpftraceMap['kind'], body: unknown): MapEntry[] {
  // A map without keys prints its value directly: a number, a stats object or a bucket list.
  if (body === null || body === undefined) return [];
  if (typeof body !== 'object' || Array.isArray(body) || (kind === 'stats' && isStats(body))) {
    return [{ value: body as MapValue }];
  }
  return Object.entries(body as Record<string, unknown>).map(([key, value]) => ({
    key,
    value: value as MapValue,
  }));
}

function isStats(v: object): boolean {
  return 'count' in v && 'average' in v && 'total' in v;
}

/**
 * Splits a printed key into its parts. bpftrace joins the parts of `@m[a, b]` with commas and
 * does not escape commas inside a part, so when there are more parts than `expected`, the
 * extra ones are joined back into the last part (a command name with a comma stays whole
 * when it is the last key).
 */
export function splitMapKey(key: string, expected?: number): string[] {
  const parts = key.split(',');
  if (expected === undefined || expected < 1 || parts.length <= expected) return parts;
  return [...parts.slice(0, expected - 1), parts.slice(expected - 1).join(',')];
}

/**
 * bpftrace's messages that are not failures on this kind of machine: the memlock warning
 * (the limit is not needed with a recent kernel's memcg accounting) and the uprobe detach
 * error at exit when the traced process has already gone.
 */
const HARMLESS = [
  /couldn't set RLIMIT_MEMLOCK/,
  /failed to detach probe/,
  /uprobe_events: No such file/,
  /^\s*$/,
];

/** True for a stderr line of bpftrace that says nothing went wrong. */
export function isHarmlessBpftraceStderr(line: string): boolean {
  return HARMLESS.some((re) => re.test(line));
}

/** The stderr lines that explain a failure, without the harmless ones. */
export function bpftraceFailure(stderr: readonly string[]): string {
  const lines = stderr.filter((l) => !isHarmlessBpftraceStderr(l)).map((l) => l.trim());
  return lines.slice(0, 6).join(' | ') || 'bpftrace exited without saying why';
}

// ---------------------------------------------------------------------------------------------
// Running bpftrace
// ---------------------------------------------------------------------------------------------

/**
 * What the ready probe prints. bpftrace prints `attached_probes` ("Attaching N probes...")
 * *before* it attaches them, and a uprobe can take a while to be live after that; BEGIN runs
 * once every other probe is attached, so a line printed by BEGIN says the probes are live.
 */
export const READY_MARKER = '__scalpels_bpftrace_ready__';

/**
 * Adds the ready printf to a program: into its BEGIN block when it has one (bpftrace allows
 * only one), otherwise as a new BEGIN probe. Either way nothing is added before the first
 * newline, so bpftrace's line numbers in error messages stay those of the script.
 */
export function withReadyProbe(text: string): string {
  const ready = `printf("${READY_MARKER}\\n");`;
  const begin = /(^|[\s;}])BEGIN(\s*)\{/m.exec(stripComments(text));
  if (begin) {
    const brace = begin.index + begin[0].length;
    return `${text.slice(0, brace)} ${ready}${text.slice(brace)}`;
  }
  return `BEGIN { ${ready} } ${text}`;
}

/** Blanks out comments, keeping every offset, so that a BEGIN in a comment is not taken for the probe. */
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/\/\/[^\n]*/g, (c) => ' '.repeat(c.length));
}

/** Options of {@link startBpftrace}. */
export interface BpftraceOptions {
  /** The program: its text, or a script file (read, then run with `-e`, like text). */
  program: { text: string } | { file: string };
  /** Positional parameters ($1, $2, ...). */
  args?: readonly string[];
  /** Attach to this process (`-p`): needed for USDT semaphores and to scope uprobes. */
  pid?: number;
  /** Extra environment (BPFTRACE_STRLEN, BPFTRACE_MAP_KEYS_MAX, ...). */
  env?: Record<string, string>;
  /** Called for every parsed stdout message (but the ready line). */
  onMessage(message: BpftraceMessage): void;
  /** How long to wait for the probes to be live. Default 60 s (compiling takes about 1 s). */
  attachTimeoutMs?: number;
  /** bpftrace's executable; default `bpftrace` on PATH. */
  bpftrace?: string;
  log: Logger;
}

/** A running bpftrace. */
export interface BpftraceRun {
  readonly pid: number;
  /** Resolves once every probe is live (BEGIN ran); rejects with bpftrace's error when it exits first. */
  readonly attached: Promise<number>;
  readonly exited: Promise<ToolExit>;
  /** SIGINT (bpftrace runs END and prints its maps), then SIGKILL after 5 s; resolves when it is gone. */
  stop(): Promise<ToolExit>;
  /** The explanation of a failure, from stderr without the harmless lines. */
  failure(): string;
}

/**
 * Starts `bpftrace -f json` and parses its output as it comes. A script file is read and
 * passed with `-e`, so that the ready probe can be added ({@link withReadyProbe}). Rejects
 * when the file cannot be read or bpftrace is not installed.
 */
export async function startBpftrace(options: BpftraceOptions): Promise<BpftraceRun> {
  const text =
    'text' in options.program ? options.program.text : await readFile(options.program.file, 'utf8');
  const args = ['-f', 'json'];
  if (options.pid !== undefined) args.push('-p', String(options.pid));
  args.push('-e', withReadyProbe(text), ...(options.args ?? []));

  let probes = 0;
  let onReady!: (probes: number) => void;
  const readySignal = new Promise<number>((resolve) => {
    onReady = resolve;
  });
  const tool: ToolProcess = await startTool(options.bpftrace ?? 'bpftrace', args, {
    env: { ...process.env, ...options.env },
    isDiagnostic: (line) => !isHarmlessBpftraceStderr(line),
    onStdoutLine: (line) => {
      const m = parseBpftraceJson(line);
      if (!m) {
        if (line.trim() !== '') options.log.debug('bpftrace printed a line that is not JSON', { line });
        return;
      }
      if (m.type === 'attached') probes = m.probes;
      if (m.type === 'printf' && m.text === `${READY_MARKER}\n`) {
        onReady(probes);
        return;
      }
      try {
        options.onMessage(m);
      } catch (err) {
        options.log.warn('could not use a bpftrace message', { error: errorMessage(err) });
      }
    },
    onStderrLine: (line) => {
      if (!isHarmlessBpftraceStderr(line)) options.log.debug('bpftrace stderr', { line });
    },
  });
  const failure = () => bpftraceFailure(tool.stderrTail());
  const stop = () => tool.stop({ signal: 'SIGINT', graceMs: 5000 });
  const timeoutMs = options.attachTimeoutMs ?? 60_000;
  const attached = (async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`bpftrace did not attach its probes within ${timeoutMs} ms`)),
        timeoutMs,
      );
      timer.unref();
    });
    const exitedFirst = tool.exited.then((e): never => {
      throw new Error(`bpftrace exited (${e.code ?? e.signal}) before its probes were live: ${failure()}`);
    });
    try {
      return await Promise.race([readySignal, exitedFirst, timeout]);
    } catch (err) {
      await stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  })();
  // The caller may stop before awaiting `attached`; its rejection must not go unhandled.
  attached.catch(() => {});
  return { pid: tool.pid, attached, exited: tool.exited, stop, failure };
}

// ---------------------------------------------------------------------------------------------
// Can bpftrace run here?
// ---------------------------------------------------------------------------------------------

/** Capability bits of /proc/<pid>/status CapEff that let bpftrace load programs. */
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** True when a CapEff mask (hex, from /proc/self/status) allows loading BPF tracing programs. */
export function capEffAllowsBpf(status: string): boolean {
  const m = /^CapEff:\s*([0-9a-fA-F]+)/m.exec(status);
  if (!m) return false;
  const caps = BigInt(`0x${m[1]}`);
  const has = (bit: bigint) => ((caps >> bit) & 1n) === 1n;
  return has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
}

/** The I/O {@link bpftraceUnavailableReason} needs, injectable for unit tests. */
export interface BpftraceProbeDeps {
  findExecutable(name: string): Promise<string | undefined>;
  readFile(path: string): Promise<string>;
  /** Runs `bpftrace -e 'BEGIN { exit(); }'`: resolves undefined when it worked, else the reason. */
  trialRun(bpftrace: string): Promise<string | undefined>;
}

let trialCache: Promise<string | undefined> | undefined;

/** The real dependencies; the trial run is done once per agent process. */
export function realBpftraceProbeDeps(): BpftraceProbeDeps {
  return {
    findExecutable: (name) => findExecutable(name),
    readFile: (path) => readFile(path, 'utf8'),
    trialRun: (bpftrace) => {
      trialCache ??= trialRun(bpftrace);
      return trialCache;
    },
  };
}

async function trialRun(bpftrace: string): Promise<string | undefined> {
  try {
    const r = await runTool(bpftrace, ['-e', 'BEGIN { exit(); }'], { timeoutMs: 20_000 });
    if (r.code === 0) return undefined;
    return `bpftrace cannot load a BPF program here: ${bpftraceFailure(r.stderr.split('\n'))}`;
  } catch (err) {
    return `cannot run ${bpftrace}: ${errorMessage(err)}`;
  }
}

/**
 * Why bpftrace cannot run on this node, or undefined: the binary, the privileges (root, or
 * CAP_BPF with CAP_PERFMON), then a real one-line program, so that a kernel that refuses BPF
 * is reported with bpftrace's own words rather than discovered in the middle of a run.
 */
export async function bpftraceUnavailableReason(
  deps: BpftraceProbeDeps = realBpftraceProbeDeps(),
): Promise<string | undefined> {
  const bin = await deps.findExecutable('bpftrace');
  if (!bin) return 'bpftrace is not installed (Debian package bpftrace)';
  let status: string;
  try {
    status = await deps.readFile('/proc/self/status');
  } catch (err) {
    return `cannot read /proc/self/status to check privileges: ${errorMessage(err)}`;
  }
  if (!capEffAllowsBpf(status))
    return 'bpftrace needs root (or CAP_BPF and CAP_PERFMON); the agent has neither';
  return deps.trialRun(bin);
}
