/**
 * Pure parsers of what the `syscalls` (and `fsio`) tracers read: strace's trace lines,
 * bpftrace's JSON output, and the kernel's syscall-number table. No I/O here, so that unit
 * tests feed them outputs captured on a real machine (test/fixtures/syscalls/).
 */

/** The result of a system call as strace prints it after ` = `. */
export interface StraceResult {
  /** The return value as printed: `0`, `-1`, `0x7f...`, or `?` (no return: exit, detach). */
  value: string;
  /** The errno name when the call failed (`ENOENT`, `ERESTARTSYS`, `errno_530`). */
  errno?: string;
  /** What -y printed after a returned descriptor (`3</etc/passwd>` gives `/etc/passwd`). */
  fdPath?: string;
}

/** One line of `strace -f -T` output, classified. `tid` is absent on unprefixed lines. */
export type StraceLine =
  | {
      kind: 'call';
      tid?: number;
      name: string;
      /** Everything between the opening parenthesis and the result, closing parenthesis included. */
      args: string;
      result: StraceResult;
      /** Time between entry and exit (-T), in microseconds. */
      durationUs?: number;
    }
  | { kind: 'unfinished'; tid?: number; name: string; args: string }
  | {
      kind: 'resumed';
      tid?: number;
      name: string;
      /** The rest of the arguments, printed on resumption. */
      args: string;
      result: StraceResult;
      durationUs?: number;
    }
  /** `+++ exited with 0 +++` or `+++ killed by SIGKILL +++`: this thread is gone. */
  | { kind: 'exit'; tid?: number; text: string }
  /** `--- SIGCHLD {...} ---`: a signal delivered to the thread. */
  | { kind: 'signal'; tid?: number; text: string }
  /** strace's own diagnostics (`strace: attach: ...`) and anything unrecognised. */
  | { kind: 'message'; text: string };

const PID_PREFIX = /^\[pid\s+(\d+)\]\s/;
const RESUMED = /^<\.\.\. ([A-Za-z0-9_]+) resumed>\s?/;
const CALL = /^([A-Za-z0-9_]+)\(/;
const DURATION = /\s<(\d+(?:\.\d+)?)>$/;
const UNFINISHED = /\s?<unfinished \.\.\.>$/;
/** What follows ` = `: a value, maybe a -y path, maybe an errno, maybe a note in parentheses. */
const RESULT = /^(-?\d+|0x[0-9a-fA-F]+|\?)(?:<(.*)>)?(?: (E[A-Z0-9_]+))?(?: \((errno \d+|.*)\))?$/;

/**
 * Finds the result at the end of a completed call: the last ` = ` whose remainder reads as
 * a result (arguments and -y paths may themselves contain ` = `). Undefined when none does.
 */
export function splitResult(text: string): { before: string; result: StraceResult } | undefined {
  let at = text.length;
  for (;;) {
    at = text.lastIndexOf(' = ', at - 1);
    if (at < 0) return undefined;
    const m = RESULT.exec(text.slice(at + 3));
    if (m) {
      const result: StraceResult = { value: m[1] };
      if (m[3]) result.errno = m[3];
      else if (m[4]?.startsWith('errno ')) result.errno = `errno_${m[4].slice(6)}`;
      if (m[2] !== undefined) result.fdPath = m[2];
      return { before: text.slice(0, at).trimEnd(), result };
    }
    if (at === 0) return undefined;
  }
}

/** Classifies one line of strace output (stderr of `strace -f -T -q`). Never throws. */
export function parseStraceLine(line: string): StraceLine {
  let rest = line;
  let tid: number | undefined;
  const prefix = PID_PREFIX.exec(rest);
  if (prefix) {
    tid = Number(prefix[1]);
    rest = rest.slice(prefix[0].length);
  }
  if (rest.startsWith('+++ ')) return { kind: 'exit', tid, text: rest };
  if (rest.startsWith('--- ')) return { kind: 'signal', tid, text: rest };

  let name: string;
  let body: string;
  let resumed = false;
  const r = RESUMED.exec(rest);
  if (r) {
    resumed = true;
    name = r[1];
    body = rest.slice(r[0].length);
  } else {
    const c = CALL.exec(rest);
    if (!c) return { kind: 'message', text: line };
    name = c[1];
    body = rest.slice(c[0].length);
  }

  // `<... futex resumed> <unfinished ...>) = ?`: resumed, then cut short by an exit. It ends
  // with a result, so the unfinished test must come after the result test.
  let durationUs: number | undefined;
  const d = DURATION.exec(body);
  if (d) {
    durationUs = Math.round(Number(d[1]) * 1e6);
    body = body.slice(0, d.index);
  }
  const split = splitResult(body);
  if (!split) {
    if (UNFINISHED.test(body)) {
      const args = body.replace(UNFINISHED, '');
      // A resumed call that is interrupted again is not a new start: keep what came before.
      return { kind: 'unfinished', tid, name, args };
    }
    return { kind: 'message', text: line };
  }
  const args = split.before.replace(UNFINISHED, '');
  if (resumed) return { kind: 'resumed', tid, name, args, result: split.result, durationUs };
  return { kind: 'call', tid, name, args, result: split.result, durationUs };
}

/** A complete system call of one thread: an unfinished line joined with its resumption. */
export interface StraceCall {
  /** Thread id (equal to the process id for a single-threaded process). */
  tid: number;
  name: string;
  /** All arguments as printed, for the calls whose arguments matter (clone flags, fd paths). */
  args: string;
  result: StraceResult;
  durationUs?: number;
}

/**
 * Joins strace's `<unfinished ...>` / `<... resumed>` pairs into whole calls and names the
 * thread of unprefixed lines.
 *
 * strace prefixes lines with `[pid N]` only while it traces more than one thread; when only
 * one is left (a single-threaded process, or the last survivor), lines carry no prefix. The
 * assembler keeps the set of live tracees (the roots it was attached to, plus every tid seen,
 * minus those whose `+++ exited` line came) to name that one thread.
 */
export class StraceCallAssembler {
  private readonly pending = new Map<number, { name: string; args: string }>();
  private readonly liveTids = new Set<number>();
  private lastTid: number;

  /** @param roots the pids strace was attached to; the first names unprefixed lines until another is known. */
  constructor(roots: readonly number[]) {
    for (const r of roots) this.liveTids.add(r);
    this.lastTid = roots[0] ?? 0;
  }

  /** The thread an unprefixed line belongs to. */
  private soleTid(): number {
    if (this.liveTids.size === 1) return this.liveTids.values().next().value!;
    return this.lastTid;
  }

  /**
   * Feeds one parsed line; returns the call it completes, or the thread it reports gone, or
   * undefined (a start, a signal, a message).
   */
  feed(line: StraceLine): { call: StraceCall } | { exitedTid: number } | undefined {
    if (line.kind === 'message') return undefined;
    const tid = line.tid ?? this.soleTid();
    if (line.tid !== undefined) {
      this.liveTids.add(tid);
      this.lastTid = tid;
    }
    switch (line.kind) {
      case 'exit':
        this.liveTids.delete(tid);
        this.pending.delete(tid);
        return { exitedTid: tid };
      case 'signal':
        return undefined;
      case 'unfinished': {
        const before = this.pending.get(tid);
        // `<... x resumed> <unfinished ...>` keeps the arguments printed at the start.
        if (before && before.name === line.name) return undefined;
        this.pending.set(tid, { name: line.name, args: line.args });
        return undefined;
      }
      case 'call':
        return {
          call: { tid, name: line.name, args: line.args, result: line.result, durationUs: line.durationUs },
        };
      case 'resumed': {
        const start = this.pending.get(tid);
        this.pending.delete(tid);
        const args = start && start.name === line.name ? start.args + line.args : line.args;
        return { call: { tid, name: line.name, args, result: line.result, durationUs: line.durationUs } };
      }
    }
  }
}

/** True when the call failed: strace printed an errno name (ERESTART* included, as the kernel returns them). */
export function isError(result: StraceResult): boolean {
  return result.errno !== undefined;
}

/**
 * The new thread or process a successful clone/clone3/fork/vfork created, and whether it is a
 * thread of the caller's process (CLONE_THREAD) or a process of its own.
 */
export function cloneChild(call: StraceCall): { tid: number; thread: boolean } | undefined {
  if (call.name !== 'clone' && call.name !== 'clone3' && call.name !== 'fork' && call.name !== 'vfork') {
    return undefined;
  }
  if (!/^\d+$/.test(call.result.value)) return undefined;
  const tid = Number(call.result.value);
  if (tid <= 0) return undefined;
  return { tid, thread: /\bCLONE_THREAD\b/.test(call.args) };
}

/**
 * The syscall-number table of the kernel headers (`asm/unistd_64.h`): `#define __NR_read 0`.
 * Read at run time rather than hard-coded, so that it matches the installed kernel headers.
 */
export function parseUnistdHeader(text: string): Map<number, string> {
  const table = new Map<number, string>();
  for (const m of text.matchAll(/^#define\s+__NR_([A-Za-z0-9_]+)\s+(\d+)\s*$/gm)) {
    table.set(Number(m[2]), m[1]);
  }
  return table;
}

/** The same table from `ausyscall --dump` (auditd): a title line, then `number<TAB>name` lines. */
export function parseAusyscallDump(text: string): Map<number, string> {
  const table = new Map<number, string>();
  for (const m of text.matchAll(/^(\d+)\s+([A-Za-z0-9_]+)\s*$/gm)) table.set(Number(m[1]), m[2]);
  return table;
}

/** One entry of a bpftrace map keyed by `[pid, syscall number]`. */
export interface PidSyscallEntry {
  pid: number;
  nr: number;
}

/** A message of `bpftrace -f json`, reduced to what the syscalls tracer uses. */
export type BpftraceMessage =
  | { kind: 'attached'; probes: number }
  /** `stats()` map: count and total per key. */
  | { kind: 'stats'; map: string; entries: Array<{ key: number[]; count: number; total: number }> }
  /** `count()`/`sum()` map: one number per key. */
  | { kind: 'map'; map: string; entries: Array<{ key: number[]; value: number }> }
  | { kind: 'printf'; text: string }
  | { kind: 'other'; type: string };

/** Splits a JSON map key (`"1234,39"`, `"1234"`) into numbers. */
function mapKey(key: string): number[] {
  return key.split(',').map((k) => Number(k.trim()));
}

/**
 * Parses one line of `bpftrace -f json` stdout. Returns undefined for a blank or non-JSON
 * line (bpftrace prints an empty line for some empty maps).
 */
export function parseBpftraceJsonLine(line: string): BpftraceMessage | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  let msg: { type?: unknown; data?: unknown };
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  const type = String(msg.type);
  const data = msg.data as Record<string, unknown> | undefined;
  switch (type) {
    case 'attached_probes':
      return { kind: 'attached', probes: Number((data as { probes?: number })?.probes ?? 0) };
    case 'printf':
      return { kind: 'printf', text: String(msg.data) };
    case 'stats': {
      const [map, body] = Object.entries(data ?? {})[0] ?? ['', {}];
      const entries = Object.entries(body as Record<string, { count: number; total: number }>).map(
        ([k, v]) => ({ key: mapKey(k), count: Number(v.count), total: Number(v.total) }),
      );
      return { kind: 'stats', map, entries };
    }
    case 'map': {
      const [map, body] = Object.entries(data ?? {})[0] ?? ['', {}];
      const entries = Object.entries(body as Record<string, unknown>)
        .filter(([, v]) => typeof v === 'number')
        .map(([k, v]) => ({ key: mapKey(k), value: v as number }));
      return { kind: 'map', map, entries };
    }
    default:
      return { kind: 'other', type };
  }
}

/**
 * bpftrace's stderr lines that are harmless on the machines we run on (see NOTES): the
 * RLIMIT_MEMLOCK warning and the uprobe detach message at exit.
 */
export function isHarmlessBpftraceMessage(line: string): boolean {
  return /RLIMIT_MEMLOCK|failed to detach probe|^\s*$/.test(line);
}
