import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { errorMessage, InputError, RuntimeFailure } from '../../core/errors.js';
import { tracerManifestDir } from '../../core/paths.js';
import { type BpftraceRun, bpftraceUnavailableReason, startBpftrace } from '../bpftrace-runner.js';
import type { ToolBackedInstance } from '../child-process.js';
import { loadTracerManifest } from '../manifest.js';
import type { Emit, TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import { MapRound } from './parse.js';

/** The `with:` block of the `bpftrace` tracer (see tracers/bpftrace.yaml). */
export interface BpftraceParams {
  /** A script shipped with Scalpels: tracers/scripts/<script>.bt. */
  script?: string;
  /** An absolute path of a script on the agent's node. */
  path?: string;
  /** Measurement of the samples. Default `bpftrace`. */
  measurement?: string;
  /** Tag names of the map keys' parts, by position. */
  keys?: string[];
  /** Positional parameters after the interval: $2, $3, ... */
  args?: (string | number)[];
}

/** Where shipped scripts live. */
export const shippedScriptsDir = join(tracerManifestDir, 'scripts');

/** Shipped script names: what `script:` accepts. */
export const SCRIPT_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * Runs an operator's bpftrace script — one shipped in tracers/scripts/ or a file already on
 * the agent's node, never text sent over the wire — and turns the maps it prints into
 * samples: one sample per map key, one field per map, map keys as tags.
 */
export const bpftraceTracer: TracerDefinition<BpftraceParams> = {
  name: 'bpftrace',
  manifest: loadTracerManifest('bpftrace'),

  unavailableReason(): Promise<string | undefined> {
    return bpftraceUnavailableReason();
  },

  create(params: BpftraceParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    return new BpftraceTracerInstance(resolveScript(params), params, options, ctx);
  },
};

/** The file a `script` or `path` parameter names; throws an InputError for anything else. */
export function resolveScript(params: BpftraceParams, dir = shippedScriptsDir): string {
  if ((params.script === undefined) === (params.path === undefined)) {
    throw new InputError(
      'the bpftrace tracer needs exactly one of script (a shipped script) or path (a file on the agent)',
    );
  }
  if (params.script !== undefined) {
    if (!SCRIPT_NAME.test(params.script)) throw new InputError(`invalid script name "${params.script}"`);
    return join(dir, `${params.script}.bt`);
  }
  if (!isAbsolute(params.path!))
    throw new InputError(`bpftrace script path must be absolute: "${params.path}"`);
  return params.path!;
}

/** True when a script uses tracepoints, which need tracefs. */
export function usesTracepoints(script: string): boolean {
  return /(^|[\s,{}])(tracepoint|t):[A-Za-z_*]/m.test(script.replace(/\/\/.*$/gm, ''));
}

const TRACEFS = '/sys/kernel/tracing';

/**
 * Makes sure tracefs is mounted when a script needs tracepoints: mounts it when it is missing
 * and the agent may (root), and otherwise says exactly what to run.
 */
export async function ensureTracefs(ctx: TracerContext): Promise<void> {
  const mounted = () =>
    ctx.readdir(`${TRACEFS}/events`).then(
      () => true,
      () => false,
    );
  if (await mounted()) return;
  try {
    await promisify(execFile)('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { timeout: 10_000 });
    ctx.log.info('mounted tracefs for tracepoints', { at: TRACEFS });
  } catch (err) {
    throw new RuntimeFailure(
      `the script uses tracepoints, which need tracefs at ${TRACEFS}; mounting it failed (${errorMessage(err).split('\n')[0]}): run "mount -t tracefs nodev ${TRACEFS}" as root`,
    );
  }
  if (!(await mounted())) throw new RuntimeFailure(`tracefs is mounted but ${TRACEFS}/events is missing`);
}

/** One `bpftrace` stream: one bpftrace process for the stream's life. */
export class BpftraceTracerInstance implements ToolBackedInstance {
  private run?: BpftraceRun;
  private round?: MapRound;
  private quiet?: NodeJS.Timeout;
  private emit?: Emit;
  private stopping?: Promise<void>;
  private stopped = false;
  private readonly warnedSkipped = new Set<string>();
  private readonly intervalMs: number;

  constructor(
    private readonly file: string,
    private readonly params: BpftraceParams,
    options: TracerOptions,
    private readonly ctx: TracerContext,
  ) {
    this.intervalMs = Math.max(
      10,
      Math.round(Number.isFinite(options.intervalMs) ? options.intervalMs : 1000),
    );
  }

  /** The bpftrace's pid while it runs. */
  toolPids(): number[] {
    return this.run && !this.stopped ? [this.run.pid] : [];
  }

  async start(emit: Emit): Promise<void> {
    this.emit = emit;
    let text: string;
    try {
      await access(this.file, constants.R_OK);
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      const what = this.params.script !== undefined ? `shipped script "${this.params.script}"` : 'script';
      throw new RuntimeFailure(`cannot read the bpftrace ${what} ${this.file}: ${errorMessage(err)}`);
    }
    if (usesTracepoints(text)) await ensureTracefs(this.ctx);
    this.run = await startBpftrace({
      program: { file: this.file },
      args: [String(this.intervalMs), ...(this.params.args ?? []).map(String)],
      log: this.ctx.log,
      onMessage: (m) => {
        if (m.type === 'map') {
          if (!this.round || this.round.has(m.map)) this.endRound();
          this.round ??= new MapRound(
            { measurement: this.params.measurement ?? 'bpftrace', keys: this.params.keys },
            this.ctx.now(),
          );
          this.round.add(m.map);
          // A round is the maps printed together; it ends when bpftrace falls quiet.
          if (this.quiet) clearTimeout(this.quiet);
          this.quiet = setTimeout(() => this.endRound(), 50);
          this.quiet.unref();
        } else if (m.type === 'lost') {
          this.ctx.log.warn('bpftrace lost events', { events: m.events });
        }
      },
    });
    await this.run.attached;
    const run = this.run;
    void run.exited.then((exit) => {
      if (!this.stopped) {
        this.ctx.log.warn('bpftrace script ended before the step did', {
          code: exit.code,
          why: run.failure(),
        });
      }
    });
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      await this.run?.stop();
      if (this.quiet) clearTimeout(this.quiet);
      this.endRound();
    })();
    return this.stopping;
  }

  private endRound(): void {
    const round = this.round;
    this.round = undefined;
    if (!round) return;
    for (const name of round.skipped) {
      if (this.warnedSkipped.has(name)) continue;
      this.warnedSkipped.add(name);
      this.ctx.log.warn('histogram maps are not turned into samples; use count(), sum(), avg() or stats()', {
        map: name,
      });
    }
    const samples = round.take();
    if (samples.length > 0) this.emit?.(samples);
  }
}
