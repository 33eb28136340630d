import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { release } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { errorMessage, InputError, RuntimeFailure } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import { SCRIPT_NAME, shippedScriptsDir } from '../bpftrace/index.js';
import { capEffAllowsBpf } from '../bpftrace-runner.js';
import { findExecutable, startTool, type ToolBackedInstance, type ToolProcess } from '../child-process.js';
import { lineParserFor } from '../command/parse.js';
import { loadTracerManifest } from '../manifest.js';
import type { Emit, TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';

/** The `with:` block of the `systemtap` tracer (see tracers/systemtap.yaml). */
export interface SystemtapParams {
  /** A script shipped with Scalpels: tracers/scripts/<script>.stp. */
  script?: string;
  /** An absolute path of a script on the agent's node. */
  path?: string;
  /** How the script prints its results: line protocol (default), json lines or key=value. */
  format?: 'line-protocol' | 'json' | 'kv';
  /** Measurement of json and kv lines. Default `systemtap`. */
  measurement?: string;
  /** Keys of json and kv lines written as tags. */
  tags?: string[];
  /** Positional parameters after the interval: $2, $3, ... */
  args?: (string | number)[];
}

/** The I/O {@link systemtapUnavailableReason} needs, injectable for unit tests. */
export interface SystemtapProbeDeps {
  findExecutable(name: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
  /** The running kernel's release (uname -r). */
  release(): string;
  readFile(path: string): Promise<string>;
}

const realDeps = (ctx: TracerContext): SystemtapProbeDeps => ({
  findExecutable: (n) => findExecutable(n),
  exists: (p) =>
    access(p, constants.R_OK).then(
      () => true,
      () => false,
    ),
  release,
  readFile: (p) => ctx.readFile(p),
});

/**
 * Why stap cannot run here: stap itself, root, and the running kernel's build tree — stap
 * compiles every script into a kernel module, so without /lib/modules/<release>/build (the
 * linux-headers package of exactly this kernel) nothing can run.
 */
export async function systemtapUnavailableReason(deps: SystemtapProbeDeps): Promise<string | undefined> {
  if (!(await deps.findExecutable('stap'))) return 'stap is not installed (Debian package systemtap)';
  const rel = deps.release();
  const config = `/lib/modules/${rel}/build/.config`;
  if (!(await deps.exists(config))) {
    return `stap compiles scripts into kernel modules and needs the build tree of the running kernel ${rel}, which is missing (${config}): install linux-headers-${rel}`;
  }
  try {
    if (!capEffAllowsBpf(await deps.readFile('/proc/self/status')))
      return 'stap needs root to load its kernel module';
  } catch (err) {
    return `cannot read /proc/self/status to check privileges: ${errorMessage(err)}`;
  }
  return undefined;
}

/**
 * Runs an operator's SystemTap script (shipped in tracers/scripts/ or a file on the agent's
 * node) and parses each line it prints, like the `command` tracer does. Listed as
 * unavailable wherever stap cannot build its kernel module.
 */
export const systemtapTracer: TracerDefinition<SystemtapParams> = {
  name: 'systemtap',
  manifest: loadTracerManifest('systemtap'),

  unavailableReason(ctx: TracerContext): Promise<string | undefined> {
    return systemtapUnavailableReason(realDeps(ctx));
  },

  create(params: SystemtapParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    if ((params.script === undefined) === (params.path === undefined)) {
      throw new InputError(
        'the systemtap tracer needs exactly one of script (a shipped script) or path (a file on the agent)',
      );
    }
    if (params.script !== undefined && !SCRIPT_NAME.test(params.script)) {
      throw new InputError(`invalid script name "${params.script}"`);
    }
    if (params.path !== undefined && !isAbsolute(params.path)) {
      throw new InputError(`systemtap script path must be absolute: "${params.path}"`);
    }
    const file = params.script !== undefined ? join(shippedScriptsDir, `${params.script}.stp`) : params.path!;
    return new SystemtapTracerInstance(file, params, options, ctx);
  },
};

/** One `systemtap` stream: one stap process, stopped with SIGINT so that its end probes print. */
class SystemtapTracerInstance implements ToolBackedInstance {
  private child?: ToolProcess;
  private buffer: Sample[] = [];
  private timer?: NodeJS.Timeout;
  private emit?: Emit;
  private stopping?: Promise<void>;
  private readonly intervalMs: number;

  constructor(
    private readonly file: string,
    private readonly params: SystemtapParams,
    options: TracerOptions,
    private readonly ctx: TracerContext,
  ) {
    this.intervalMs = Math.max(10, Math.round(options.intervalMs));
  }

  /** The stap process while it runs. */
  toolPids(): number[] {
    return this.child?.running ? [this.child.pid] : [];
  }

  async start(emit: Emit): Promise<void> {
    this.emit = emit;
    const parse = lineParserFor({
      name: 'systemtap',
      argv: ['stap'],
      format: this.params.format ?? 'line-protocol',
      mode: 'stream',
      measurement:
        this.params.format === 'line-protocol' ? undefined : (this.params.measurement ?? 'systemtap'),
      tags: this.params.tags,
      source: this.file,
    });
    let warned = false;
    this.child = await startTool(
      'stap',
      [this.file, String(this.intervalMs), ...(this.params.args ?? []).map(String)],
      {
        onStdoutLine: (line) => {
          try {
            const r = parse(line);
            if (r)
              this.buffer.push({
                measurement: r.measurement,
                tags: r.tags,
                fields: r.fields,
                time: r.time ?? this.ctx.now(),
              });
          } catch (err) {
            if (!warned)
              this.ctx.log.warn('cannot parse a line of the stap script', { line, error: errorMessage(err) });
            warned = true;
          }
        },
      },
    );
    // stap prints nothing when its module is loaded; a failure to build it ends the process.
    const early = await Promise.race([
      this.child.exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000).unref()),
    ]);
    if (early)
      throw new RuntimeFailure(
        `stap exited (${early.code ?? early.signal}): ${this.child.stderrTail().slice(-5).join(' | ')}`,
      );
    this.timer = setInterval(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      // SIGINT: stap runs its end probes (which print the last partial interval) and unloads its module.
      await this.child?.stop({ signal: 'SIGINT', graceMs: 10_000 });
      this.flush();
    })();
    return this.stopping;
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    const samples = this.buffer;
    this.buffer = [];
    this.emit?.(samples);
  }
}
