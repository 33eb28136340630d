import { describeSelector } from '../process-selector.js';
import { createSampler } from '../sampler.js';
import type { TracerContext, TracerOptions } from '../types.js';
import { isError } from './parse.js';
import type { SelectionTracker } from './selection.js';
import type { SyscallsInstance, SyscallsSettings } from './settings.js';
import { StraceSession } from './strace-session.js';
import { SyscallTally, tallySamples } from './tally.js';

/**
 * The strace mode: `strace -f -T -q -s 0 -p PID...` stays attached for the whole step and its
 * lines are parsed as they come (not `strace -c` restarted every interval: that would stop and
 * restart every thread of the service each interval, miss the calls made between two strace
 * runs, and sum all processes of one strace together). Calls are counted per thread as they
 * arrive; every interval the threads are mapped to their processes, the processes are checked
 * against the selector, and new matching processes get a strace of their own.
 */
export function createStraceMode(
  selection: SelectionTracker,
  settings: SyscallsSettings,
  options: TracerOptions,
  ctx: TracerContext,
): SyscallsInstance {
  const label = describeSelector(selection.selector);
  let current = new SyscallTally();
  let stopping = false;
  const session = new StraceSession({
    // -s 0: the tracer needs no buffer contents, and formatting them is most of strace's output work.
    args: ['-T', '-s', '0'],
    ctx,
    onCall: (call) => current.add(call.tid, call.name, 1, isError(call.result) ? 1 : 0, call.durationUs ?? 0),
  });

  const collect = async () => {
    const time = ctx.now();
    const byThread = current;
    current = new SyscallTally();
    const found = await selection.refresh();
    if (!stopping) await session.attach(found.map((p) => p.pid));
    if (byThread.empty) return [];
    await session.noteLineage(selection);
    const processOf = await session.processesOf(byThread.byKey.keys());
    const selected = await selection.filter(processOf.values());
    const byProcess = new SyscallTally();
    for (const [tid, perName] of byThread.byKey) {
      const pid = processOf.get(tid)!;
      // Children forked by a traced process are traced too (-f), but count only if selected.
      if (selected.has(pid)) byProcess.addAll(pid, perName);
    }
    return tallySamples(byProcess, {
      top: settings.top,
      time,
      processNames: selection.names,
      selector: label,
      perPid: settings.perPid,
      timed: true,
    });
  };
  const sampler = createSampler(collect, options, ctx);

  return {
    mode: 'strace',
    start: (emit) => sampler.start(emit),
    async stop() {
      stopping = true;
      // Detach first, so that the last lines are in before the final reading.
      await session.stop();
      await sampler.stop();
    },
    toolPids: () => session.toolPids(),
  };
}
