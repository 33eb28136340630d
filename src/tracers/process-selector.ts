import { InputError } from '../core/errors.js';
import type { TracerContext } from './types.js';

/**
 * How a scenario picks processes, the same way in every tracer (DESIGN.md §9). Every
 * criterion given must match (they are ANDed), so `{ name: python3, cmdline: nova-api }`
 * narrows a generic interpreter down to one service.
 */
export interface ProcessSelector {
  /** Exact process name: /proc/<pid>/comm, or the basename of argv[0] (comm is cut at 15 characters). */
  name?: string;
  /** Regular expression searched (unanchored, like `pgrep -f`) in the command line, arguments joined by spaces. */
  cmdline?: string;
  /** One process id. */
  pid?: number;
  /** A file holding a process id, read on every lookup so that a restarted service is followed. */
  pidfile?: string;
  /** A systemd unit: matches processes whose cgroup path has a component equal to it (`nova-api.service`). */
  systemd_unit?: string;
  /** Substring of the process's cgroup path (any line of /proc/<pid>/cgroup). */
  cgroup?: string;
}

/** A process found by {@link findProcesses}. */
export interface ProcessInfo {
  pid: number;
  /** /proc/<pid>/comm, without the trailing newline. */
  name: string;
  /** The command line with arguments joined by spaces; empty for kernel threads. */
  cmdline: string;
}

const CRITERIA = ['name', 'cmdline', 'pid', 'pidfile', 'systemd_unit', 'cgroup'] as const;

/**
 * JSON Schema of a {@link ProcessSelector}, for the `with:` block of tracers that select
 * processes. Manifests are YAML and repeat it; a unit test keeps them equal to this one.
 */
export const processSelectorSchema = {
  type: 'object',
  additionalProperties: false,
  // Every property is a criterion, so "at least one property" is "at least one criterion";
  // anyOf/required would say the same but trips Ajv's strictRequired in strict mode.
  minProperties: 1,
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      description: 'Exact process name: /proc/<pid>/comm or the basename of argv[0].',
    },
    cmdline: {
      type: 'string',
      minLength: 1,
      description: 'Regular expression searched in the command line (arguments joined by spaces).',
    },
    pid: { type: 'integer', minimum: 1, description: 'A process id.' },
    pidfile: { type: 'string', minLength: 1, description: 'Path of a file holding a process id.' },
    systemd_unit: {
      type: 'string',
      minLength: 1,
      description: 'systemd unit whose processes are selected, e.g. nova-api.service.',
    },
    cgroup: { type: 'string', minLength: 1, description: 'Substring of the cgroup path of the processes.' },
  },
} as const;

/** A selector checked and prepared once, so that a tick does not recompile its regular expression. */
interface CompiledSelector {
  selector: ProcessSelector;
  cmdline?: RegExp;
}

// Keyed by the params object a tracer instance keeps for its whole life.
const compiledSelectors = new WeakMap<ProcessSelector, CompiledSelector>();

/**
 * Checks what the JSON Schema cannot: that at least one criterion is set and that `cmdline`
 * compiles. Throws an {@link InputError} naming the problem.
 */
export function validateProcessSelector(selector: ProcessSelector): void {
  compile(selector);
}

function compile(selector: ProcessSelector): CompiledSelector {
  if (!CRITERIA.some((c) => selector[c] !== undefined)) {
    throw new InputError(`a process selector needs one of ${CRITERIA.join(', ')}`);
  }
  if (selector.cmdline === undefined) return { selector };
  try {
    return { selector, cmdline: new RegExp(selector.cmdline) };
  } catch (err) {
    throw new InputError(`invalid cmdline regular expression "${selector.cmdline}"`, { cause: err });
  }
}

/**
 * A short, stable label of a selector for the `selector` tag: the value itself when there is
 * one criterion (`nova-api`), otherwise `key:value` pairs joined by spaces in a fixed order.
 */
export function describeSelector(selector: ProcessSelector): string {
  const set = CRITERIA.filter((c) => selector[c] !== undefined);
  if (set.length === 1) return String(selector[set[0]]);
  return set.map((c) => `${c}:${selector[c]}`).join(' ');
}

/** Options of {@link findProcesses}. */
export interface FindProcessesOptions {
  /** The pid excluded from cmdline matches (defaults to this process): its own argv may hold the pattern. */
  selfPid?: number;
  /**
   * Examine only these pids instead of every pid in /proc, for a caller that already listed
   * /proc and wants to check only the processes it has not seen. Ignored when the selector
   * names a pid or a pidfile, which pin the candidate themselves.
   */
  among?: readonly number[];
}

/** A selector that names its process (a pid or a pid file) rather than searching for it. */
export function isPinned(selector: ProcessSelector): boolean {
  return selector.pid !== undefined || selector.pidfile !== undefined;
}

/**
 * Lists the processes matching `selector`, sorted by pid, reading only through `ctx`.
 * A process that exits while it is being read is skipped silently: on a busy node that is
 * the normal case, not an error. An unreadable pidfile yields no process (the service may
 * be restarting); an unreadable /proc throws.
 */
export async function findProcesses(
  selector: ProcessSelector,
  ctx: TracerContext,
  options: FindProcessesOptions = {},
): Promise<ProcessInfo[]> {
  const compiled = compiledSelectors.get(selector) ?? compile(selector);
  compiledSelectors.set(selector, compiled);
  const selfPid = options.selfPid ?? process.pid;
  const pinned = isPinned(selector);
  const candidates = options.among && !pinned ? options.among : await candidatePids(selector, ctx);
  const found = await Promise.all(candidates.map((pid) => matchOne(pid, compiled, selfPid, ctx)));
  return found.filter((p): p is ProcessInfo => p !== undefined).sort((a, b) => a.pid - b.pid);
}

async function candidatePids(selector: ProcessSelector, ctx: TracerContext): Promise<number[]> {
  const pinned: number[] = [];
  if (selector.pid !== undefined) pinned.push(selector.pid);
  if (selector.pidfile !== undefined) {
    const pid = await readPidfile(selector.pidfile, ctx);
    if (pid === undefined) return [];
    pinned.push(pid);
  }
  if (pinned.length > 0) {
    // pid and pidfile together select the process only when both name the same one.
    return pinned.every((p) => p === pinned[0]) ? [pinned[0]] : [];
  }
  const entries = await ctx.readdir('/proc');
  return entries.filter((e) => /^\d+$/.test(e)).map(Number);
}

async function readPidfile(path: string, ctx: TracerContext): Promise<number | undefined> {
  try {
    const m = /^\s*(\d+)/.exec(await ctx.readFile(path));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function matchOne(
  pid: number,
  { selector, cmdline: cmdlineRe }: CompiledSelector,
  selfPid: number,
  ctx: TracerContext,
): Promise<ProcessInfo | undefined> {
  try {
    // comm is read for every candidate: it both proves the process exists and names it.
    const name = (await ctx.readFile(`/proc/${pid}/comm`)).replace(/\n$/, '');
    let raw: string | undefined;
    const getRaw = async () => {
      raw ??= await ctx.readFile(`/proc/${pid}/cmdline`);
      return raw;
    };
    if (selector.name !== undefined && name !== selector.name) {
      if (argv0Basename(await getRaw()) !== selector.name) return undefined;
    }
    if (cmdlineRe) {
      if (pid === selfPid) return undefined;
      const line = joinCmdline(await getRaw());
      // Kernel threads have no command line; a pattern such as `.*` must not select them all.
      if (line === '' || !cmdlineRe.test(line)) return undefined;
    }
    if (selector.systemd_unit !== undefined || selector.cgroup !== undefined) {
      const paths = cgroupPaths(await ctx.readFile(`/proc/${pid}/cgroup`));
      if (selector.systemd_unit !== undefined && !paths.some((p) => inUnit(p, selector.systemd_unit!))) {
        return undefined;
      }
      if (selector.cgroup !== undefined && !paths.some((p) => p.includes(selector.cgroup!))) return undefined;
    }
    return { pid, name, cmdline: joinCmdline(await getRaw()) };
  } catch {
    return undefined;
  }
}

/** /proc/<pid>/cmdline separates arguments with NULs and ends with one. */
export function joinCmdline(raw: string): string {
  return raw.replace(/\0+$/, '').split('\0').join(' ');
}

function argv0Basename(raw: string): string {
  // Split on NUL, not on spaces: argv[0] may itself contain spaces (a path, a rewritten title).
  const argv0 = raw.split('\0')[0];
  return argv0.slice(argv0.lastIndexOf('/') + 1);
}

/** The cgroup paths of /proc/<pid>/cgroup lines (`hierarchy-id:controllers:path`). */
export function cgroupPaths(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(':').slice(2).join(':'));
}

function inUnit(path: string, unit: string): boolean {
  // A bare name means a service, as with `systemctl status nova-api`.
  const full = unit.includes('.') ? unit : `${unit}.service`;
  return path.split('/').includes(full);
}
