import { findProcesses, type ProcessInfo, type ProcessSelector } from '../process-selector.js';
import type { TracerContext } from '../types.js';

/** The selector criteria of a tracer's `with:` block (the other keys are the tracer's own). */
export function pickSelector(params: ProcessSelector & Record<string, unknown>): ProcessSelector {
  const selector: ProcessSelector = {};
  if (params.name !== undefined) selector.name = params.name;
  if (params.cmdline !== undefined) selector.cmdline = params.cmdline;
  if (params.pid !== undefined) selector.pid = params.pid;
  if (params.pidfile !== undefined) selector.pidfile = params.pidfile;
  if (params.systemd_unit !== undefined) selector.systemd_unit = params.systemd_unit;
  if (params.cgroup !== undefined) selector.cgroup = params.cgroup;
  return selector;
}

/**
 * The processes a tracer follows during one step: the selector is resolved again on every
 * interval ({@link refresh}), and a pid that shows up in a tool's output between two
 * resolutions (a forked worker, a process the tool saw first) is checked on demand
 * ({@link isSelected}). A pid once selected stays selected for the step, so the last
 * interval of a process that exited still counts.
 *
 * A child forked by a selected process that has not called exec is a copy of the selected
 * program (a uwsgi or multiprocessing worker), so it is selected too, even when it exited
 * before anyone could look at it in /proc: tools report forks and execs ({@link noteFork},
 * {@link noteExec}) for that.
 */
export class SelectionTracker {
  /** Every pid selected so far in the step, with its process name. */
  readonly names = new Map<number, string>();
  private rejected = new Set<number>();
  private current: ProcessInfo[] = [];
  private readonly forkParents = new Map<number, number>();
  private readonly execed = new Set<number>();

  constructor(
    readonly selector: ProcessSelector,
    private readonly ctx: TracerContext,
  ) {}

  /** Resolves the selector now and returns the processes that match. */
  async refresh(): Promise<ProcessInfo[]> {
    this.current = await findProcesses(this.selector, this.ctx);
    for (const p of this.current) this.names.set(p.pid, p.name);
    // A process may exec into a selected program after a negative check: look again.
    this.rejected = new Set();
    return this.current;
  }

  /** The processes matched by the last {@link refresh}. */
  get matched(): readonly ProcessInfo[] {
    return this.current;
  }

  /** Records that `parent` forked `child` (a process, not a thread). */
  noteFork(child: number, parent: number): void {
    if (child !== parent) this.forkParents.set(child, parent);
  }

  /** Records that `pid` called exec: it is no longer a copy of its parent. */
  noteExec(pid: number): void {
    this.execed.add(pid);
  }

  /**
   * Whether `pid` is known to be selected without looking at /proc: selected before, or a
   * fork (without exec) of a selected process. Such a child takes its parent's name.
   */
  knownSelected(pid: number): boolean {
    if (this.names.has(pid)) return true;
    const seen = new Set<number>();
    let p = pid;
    while (!this.names.has(p)) {
      const parent = this.forkParents.get(p);
      if (parent === undefined || this.execed.has(p) || seen.has(p)) return false;
      seen.add(p);
      p = parent;
    }
    // Every copy between the selected ancestor and pid takes the ancestor's name.
    const name = this.names.get(p)!;
    for (const copy of seen) this.names.set(copy, name);
    return true;
  }

  /** Whether `pid` is selected; a pid never seen is checked against the selector now. */
  async isSelected(pid: number): Promise<boolean> {
    if (this.knownSelected(pid)) return true;
    if (this.rejected.has(pid)) return false;
    if (this.selector.pid !== undefined && this.selector.pid !== pid) {
      this.rejected.add(pid);
      return false;
    }
    const [found] = await findProcesses({ ...this.selector, pid }, this.ctx);
    if (found) {
      this.names.set(pid, found.name);
      return true;
    }
    this.rejected.add(pid);
    return false;
  }

  /** The selected pids among `pids`. */
  async filter(pids: Iterable<number>): Promise<Set<number>> {
    const out = new Set<number>();
    await Promise.all(
      [...new Set(pids)].map(async (pid) => {
        if (await this.isSelected(pid)) out.add(pid);
      }),
    );
    return out;
  }
}
