/**
 * Pure parsers of `perf stat -I <ms> -x, --per-thread` output (perf writes it to stderr).
 *
 * A line is `time,comm-tid,value,unit,event,run_time,run_percent,metric,metric_unit`, e.g.
 * `1.009404096,python3-25702,344.53,msec,task-clock,344526877,100.00,0.689,CPUs utilized`.
 * The value is `<not supported>` for an event the machine lacks (hardware counters in most
 * VMs) and `<not counted>` when the thread did not run during the interval.
 */

/** The value of one counter of one thread over one interval. */
export type PerfValue =
  | { kind: 'value'; value: number }
  | { kind: 'not-supported' }
  | { kind: 'not-counted' };

/** One parsed counter line. */
export interface PerfStatLine {
  /** Seconds since perf started: the end of the interval. */
  time: number;
  comm: string;
  tid: number;
  value: PerfValue;
  /** `msec` for task-clock and cpu-clock, empty for counts. */
  unit: string;
  event: string;
}

/**
 * Parses one line of `perf stat -I -x, --per-thread`; undefined for anything else (headers,
 * blank lines, perf's warnings).
 */
export function parsePerfStatLine(line: string): PerfStatLine | undefined {
  const fields = line.trim().split(',');
  if (fields.length < 5) return undefined;
  const time = Number(fields[0]);
  if (!Number.isFinite(time) || fields[0] === '') return undefined;
  // comm may hold dashes (and, rarely, commas): the tid is what follows the last dash. A line
  // has 9 fields (the metric pair may be empty); more means commas in comm, so the thread
  // column is everything up to the last seven fields.
  const tail = fields.length > 9 ? fields.length - 7 : 2;
  const thread = fields.slice(1, tail).join(',');
  const dash = thread.lastIndexOf('-');
  const tid = Number(thread.slice(dash + 1));
  if (dash <= 0 || !Number.isInteger(tid)) return undefined;
  const raw = fields[tail];
  const unit = fields[tail + 1];
  const event = fields[tail + 2];
  let value: PerfValue;
  if (raw === '<not supported>') value = { kind: 'not-supported' };
  else if (raw === '<not counted>') value = { kind: 'not-counted' };
  else {
    const n = Number(raw);
    if (raw === '' || !Number.isFinite(n)) return undefined;
    value = { kind: 'value', value: n };
  }
  return { time, comm: thread.slice(0, dash), tid, value, unit, event };
}

/** The field name of an event: `context-switches` → `context_switches`, `L1-dcache-loads` → `l1_dcache_loads`. */
export function eventField(event: string): string {
  return event
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Whether an event's values are times (written as float milliseconds) rather than counts. */
export function isTimeUnit(unit: string): boolean {
  return unit === 'msec' || unit === 'ns';
}

/** The counts of one interval per process, and the events the machine does not support. */
export interface PerfInterval {
  /** pid → field → value (float milliseconds for times, integer counts otherwise). */
  perProcess: Map<number, Record<string, number | bigint>>;
  unsupported: Set<string>;
}

/**
 * Sums one interval's per-thread lines into their processes (`processOf` names the process of a
 * thread; a thread it does not know is left out). `<not counted>` (the thread did not run) adds
 * 0, so that an idle process still has its fields; `<not supported>` events are set aside.
 */
export function sumPerProcess(
  lines: readonly PerfStatLine[],
  processOf: (tid: number) => number | undefined,
): PerfInterval {
  const perProcess = new Map<number, Record<string, number | bigint>>();
  const unsupported = new Set<string>();
  for (const line of lines) {
    if (line.value.kind === 'not-supported') {
      unsupported.add(line.event);
      continue;
    }
    const pid = processOf(line.tid);
    if (pid === undefined) continue;
    let fields = perProcess.get(pid);
    if (!fields) {
      fields = {};
      perProcess.set(pid, fields);
    }
    const name = eventField(line.event);
    const v = line.value.kind === 'value' ? line.value.value : 0;
    if (isTimeUnit(line.unit)) {
      const ms = line.unit === 'ns' ? v / 1e6 : v;
      fields[name] = ((fields[name] as number | undefined) ?? 0) + ms;
    } else {
      fields[name] = ((fields[name] as bigint | undefined) ?? 0n) + BigInt(Math.round(v));
    }
  }
  return { perProcess, unsupported };
}

/**
 * Groups lines into intervals: perf prints every line of an interval with the same time, so
 * a new time means the previous interval is complete. `flush()` hands over the last one.
 */
export class PerfIntervals {
  private lines: PerfStatLine[] = [];
  private time: number | undefined;

  constructor(private readonly onInterval: (lines: PerfStatLine[]) => void) {}

  feed(line: PerfStatLine): void {
    if (this.time !== undefined && line.time !== this.time) this.flush();
    this.time = line.time;
    this.lines.push(line);
  }

  flush(): void {
    if (this.lines.length === 0) return;
    const lines = this.lines;
    this.lines = [];
    this.time = undefined;
    this.onInterval(lines);
  }
}
