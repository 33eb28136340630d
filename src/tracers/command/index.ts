import { errorMessage, InputError, RuntimeFailure } from '../../core/errors.js';
import { didYouMean } from '../../core/registry.js';
import type { Sample } from '../../core/sample.js';
import type { ToolBackedInstance } from '../child-process.js';
import { loadTracerManifest } from '../manifest.js';
import {
  commandEnv,
  type OperatorCatalog,
  type OperatorCommand,
  type PreparedCommand,
  prepareCommand,
} from '../operator-catalog.js';
import type { Emit, TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import { type LineParser, lineParserFor } from './parse.js';
import { findSetpriv, type LineChild, spawnLineChild } from './process-group.js';

/** The `with:` block of the `command` tracer: the name of an entry of the agent's catalog. */
export interface CommandParams {
  name: string;
}

/** The reason every agent without a catalog gives, word for word. */
export const COMMANDS_NOT_ALLOWED = 'agent was not started with --allow-commands';

/**
 * The original Scalpels worker model: run an operator-defined command and turn each stdout
 * line into samples. The command comes from the agent's own catalog (files on its node,
 * loaded only with --allow-commands); the scenario only names it.
 */
export const commandTracer: TracerDefinition<CommandParams> = {
  name: 'command',
  manifest: loadTracerManifest('command'),

  async unavailableReason(ctx: TracerContext): Promise<string | undefined> {
    return ctx.operatorCatalog ? undefined : COMMANDS_NOT_ALLOWED;
  },

  create(params: CommandParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    const command = resolveCommand(params.name, ctx.operatorCatalog);
    if (command.format === undefined)
      throw new InputError(
        `command "${command.name}" (${command.source}) has no format, so it cannot be a tracer: an entry without one is an action (a hook, setup or teardown)`,
      );
    return new CommandTracerInstance(command, options, ctx);
  },
};

/** Looks a name up in the catalog, refusing with a sentence that says what to do. */
export function resolveCommand(name: string, catalog: OperatorCatalog | undefined): OperatorCommand {
  if (!catalog) throw new RuntimeFailure(`command "${name}" refused: ${COMMANDS_NOT_ALLOWED}`);
  const command = catalog.get(name);
  if (!command) {
    const where = catalog.dirs.length > 0 ? ` (read from ${catalog.dirs.join(', ')})` : '';
    const known = catalog.names();
    const hint = didYouMean(name, known);
    throw new InputError(
      `no command "${name}" in this agent's catalog${where}${hint ? ` (did you mean "${hint}"?)` : ''}; ${known.length > 0 ? `it has ${known.join(', ')}` : 'it is empty'}`,
    );
  }
  return command;
}

/**
 * One `command` stream. In `stream` mode the command starts with the tracer and is killed
 * (its whole process group) on stop; in `interval` mode it runs to completion once per
 * interval. Parsed samples are buffered and emitted once per interval, and on stop.
 */
export class CommandTracerInstance implements ToolBackedInstance {
  private readonly parse: LineParser;
  private readonly intervalMs: number;
  private buffer: Sample[] = [];
  private emit?: Emit;
  private timer?: NodeJS.Timeout;
  private child?: LineChild;
  private readonly children = new Set<LineChild>();
  private stopped = false;
  private stopping?: Promise<void>;
  private parseErrors = 0;
  private prepared?: PreparedCommand;

  constructor(
    private readonly command: OperatorCommand,
    options: TracerOptions,
    private readonly ctx: TracerContext,
  ) {
    this.parse = lineParserFor(command);
    this.intervalMs = Math.max(10, Number.isFinite(options.intervalMs) ? options.intervalMs : 1000);
  }

  /** Pids of the command's processes now running (each leads its own process group). */
  toolPids(): number[] {
    return [...this.children].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  async start(emit: Emit): Promise<void> {
    this.emit = emit;
    const prepared = await prepareCommand(this.command);
    if (typeof prepared === 'string') throw new RuntimeFailure(prepared);
    this.prepared = prepared;
    if (this.command.mode === 'stream') {
      this.child = await this.spawn();
      void this.child.exited.then((exit) => {
        if (this.stopped) return;
        const how = exit.error
          ? exit.error.message
          : exit.signal
            ? `signal ${exit.signal}`
            : `code ${exit.code}`;
        const fields = {
          command: this.command.name,
          how,
          stderr: this.child?.stderrTail().slice(-5).join(' | '),
        };
        if (exit.code === 0) this.ctx.log.info('command ended before the step did', fields);
        else this.ctx.log.warn('command failed before the step ended', fields);
      });
    } else {
      // Like a sampler: the first run must succeed, so a broken command fails the step barrier.
      const exit = await this.runOnce();
      if (exit) throw new RuntimeFailure(`command "${this.command.name}" failed: ${exit}`);
    }
    this.scheduleIn(this.intervalMs);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      if (this.timer) clearTimeout(this.timer);
      await Promise.all([...this.children].map((c) => c.stop()));
      this.flush();
    })();
    return this.stopping;
  }

  private scheduleIn(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const started = Date.now();
        void this.onTick().finally(() => this.scheduleIn(this.intervalMs - (Date.now() - started)));
      },
      Math.max(0, delayMs),
    );
    this.timer.unref();
  }

  private async onTick(): Promise<void> {
    this.flush();
    if (this.command.mode !== 'interval' || this.stopped) return;
    if (this.children.size > 0) {
      this.ctx.log.debug('command still running at the next interval; skipping this run', {
        command: this.command.name,
      });
      return;
    }
    const failure = await this.runOnce();
    if (failure) this.ctx.log.warn('command run failed', { command: this.command.name, error: failure });
    this.flush();
  }

  /** Runs the command to completion; resolves undefined on success, else what went wrong. */
  private async runOnce(): Promise<string | undefined> {
    const child = await this.spawn();
    const exit = await child.exited;
    if (exit.error) return exit.error.message;
    if (exit.code === 0) return undefined;
    if (this.stopped) return undefined;
    const stderr = child.stderrTail().slice(-5).join(' | ');
    return `${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`}${stderr ? `: ${stderr}` : ''}`;
  }

  private async spawn(): Promise<LineChild> {
    // start() prepared the command before anything spawns; unprepared, spawning fails as ENOENT would.
    const { argv, env } = this.prepared ?? { argv: this.command.argv, env: commandEnv(this.command) };
    const child = spawnLineChild(
      {
        argv,
        env,
        cwd: this.command.cwd,
        onStdoutLine: (line) => this.onLine(line),
      },
      await findSetpriv(),
    );
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  private onLine(line: string): void {
    let record: ReturnType<LineParser>;
    try {
      record = this.parse(line);
    } catch (err) {
      this.parseErrors++;
      const fields = {
        command: this.command.name,
        format: this.command.format,
        line: line.slice(0, 200),
        error: errorMessage(err),
      };
      if (this.parseErrors === 1)
        this.ctx.log.warn(
          'cannot parse a line of the command; further ones are logged at debug level',
          fields,
        );
      else this.ctx.log.debug('cannot parse a line of the command', fields);
      return;
    }
    if (!record) return;
    const tags = { command: this.command.name, ...record.tags };
    this.buffer.push({
      measurement: record.measurement,
      tags,
      fields: record.fields,
      time: record.time ?? this.ctx.now(),
    });
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    const samples = this.buffer;
    this.buffer = [];
    this.emit?.(samples);
  }
}
