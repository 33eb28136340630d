/**
 * The bpftrace program of the `python` tracer, generated per traced process because the probes
 * live in a different object for a plain interpreter (/usr/bin/python3.11) and for an embedder
 * such as uwsgi (libpython3.11.so).
 *
 * Counting. `python:function__return` fires for every return (and every yield) of a Python
 * frame on CPython 3.11, while `function__entry` fires only under sys.settrace/setprofile or
 * for generator.throw(): 3.11 runs Python-to-Python calls inside one C call of the eval loop
 * and emits the entry probe only on its tracing path. So calls are counted on return.
 *
 * Keys are the probe's two string pointers (file, function), not the strings: copying two
 * paths into every map key exceeds the 512-byte BPF stack once paths may be longer than 64
 * bytes, and a pointer key is cheaper. Each pointer's text is copied once (`@seen`) into
 * `@name` and printed, so the agent can resolve the pointers. Both strings belong to the code
 * object (its filename and name), which lives as long as the function, so a pointer names one
 * string; `@seen` is cleared every minute all the same, so that a reused address is renamed.
 *
 * Timing. No probe fires when a Python function calls another, so the start of most frames is
 * invisible. What is visible is every C-level entry into the eval loop,
 * `_PyEval_EvalFrameDefault`, with a uprobe and a uretprobe: a frame called from C code (the
 * WSGI application called by uwsgi, `__init__` called by a class, callbacks, functions called
 * by map()/sorted(), each step of a generator) runs in its own C activation, which ends when
 * that frame returns, yields or raises — and every one of those fires `function__return`. So
 * the last return a thread made before an activation ends is that activation's own frame:
 * each return records itself in `@last[tid]`, every activation entry and exit clears it (so a
 * nested activation's frame is never taken for its caller's), and the uretprobe pairs the
 * activation's duration with `@last[tid]`. Activations are keyed by (thread, stack pointer at
 * entry) — the uretprobe sees that stack pointer plus the popped return address — so nesting
 * needs no depth counter that a missed uretprobe (the kernel hijacks at most 64 nested
 * returns) could put out of step.
 */
export interface PythonScriptOptions {
  /** The object whose probes to use: /usr/bin/python3.11, or the libpython a process maps. */
  object: string;
  /** How often bpftrace prints (and clears) its maps, in milliseconds. */
  printMs: number;
  /** Also time the frames that are entered from C code (adds a uprobe and a uretprobe per such call). */
  timing: boolean;
}

/** Map names the program prints, read by the aggregator. */
export const PYTHON_MAPS = {
  calls: '@calls',
  timeNs: '@time_ns',
  timed: '@timed',
  name: '@name',
} as const;

/** Maps cleared after each print (the timing ones only exist with timing); the others hold state. */
const PRINTED = ['@calls', '@name'];
const PRINTED_TIMING = ['@time_ns', '@timed'];
const STATE = ['@seen'];
const STATE_TIMING = ['@start', '@last'];

/** Generates the bpftrace program for one process. `object` must be an absolute path. */
export function pythonProbeScript(options: PythonScriptOptions): string {
  if (!/^\/[^\s"{}]+$/.test(options.object)) throw new Error(`not a usable object path: ${options.object}`);
  const o = options.object;
  const printMs = Math.max(1, Math.round(options.printMs));
  const printed = options.timing ? [...PRINTED, ...PRINTED_TIMING] : PRINTED;
  const state = options.timing ? [...STATE, ...STATE_TIMING] : STATE;
  // Counted maps are double-buffered (`@g` picks the set the probes write; the interval
  // flips it, then prints and clears the other set): print() and clear() run later in
  // bpftrace's user space, so with one set every return in between was lost. The parser
  // folds both sets (`@calls_0`, `@calls_1`) into one.
  const flush = (b: 0 | 1) =>
    [
      ...printed.map((m) => (m === '@name' ? `print(${m});` : `print(${m}_${b});`)),
      ...printed.map((m) => (m === '@name' ? `clear(${m});` : `clear(${m}_${b});`)),
    ].join(' ');
  const both = (body: (b: 0 | 1) => string) => `if (@g == 0) { ${body(0)} } else { ${body(1)} }`;
  const lines: string[] = [
    `usdt:${o}:python:function__return {`,
    `  ${both((b) => `@calls_${b}[arg0, arg1] = count();`)}`,
    '  if (@seen[arg0] == 0) { @seen[arg0] = 1; @name[arg0] = str(arg0); }',
    '  if (@seen[arg1] == 0) { @seen[arg1] = 1; @name[arg1] = str(arg1); }',
  ];
  if (options.timing) lines.push('  @last[tid] = (arg0, arg1);');
  lines.push('}');
  if (options.timing) {
    lines.push(
      `uprobe:${o}:_PyEval_EvalFrameDefault {`,
      '  @start[tid, reg("sp")] = nsecs; @last[tid] = ((uint64)0, (uint64)0);',
      '}',
      `uretprobe:${o}:_PyEval_EvalFrameDefault {`,
      // After `ret` the stack pointer is 8 bytes above the one the uprobe saw.
      '  $k = reg("sp") - 8; $t0 = @start[tid, $k]; $l = @last[tid];',
      `  if ($t0 != 0 && $l.0 != 0) { ${both((b) => `@time_ns_${b}[$l.0, $l.1] = sum(nsecs - $t0); @timed_${b}[$l.0, $l.1] = count();`)} }`,
      '  delete(@start[tid, $k]); @last[tid] = ((uint64)0, (uint64)0);',
      '}',
    );
  }
  lines.push(
    `interval:ms:${printMs} { @g = 1 - @g; if (@g == 1) { ${flush(0)} } else { ${flush(1)} } }`,
    'interval:s:60 { clear(@seen); }',
    // On SIGINT: print what the last partial interval counted, and nothing else (bpftrace
    // would otherwise dump every remaining map, state included).
    `END { ${flush(0)} ${flush(1)} clear(@g); ${state.map((m) => `clear(${m});`).join(' ')} }`,
  );
  return lines.join('\n') + '\n';
}

/** Environment for bpftrace: paths up to 200 bytes, and room for many functions per interval. */
export const PYTHON_BPFTRACE_ENV: Record<string, string> = {
  BPFTRACE_STRLEN: '200',
  BPFTRACE_MAP_KEYS_MAX: '16384',
};
