import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage, oneLine } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { elapsedMs, perfToNs } from '../../core/sample.js';
import type { ActionOutcome, IterationOutcome, WorkloadDefinition } from '../types.js';

interface ModuleParams {
  path: string;
  export?: string;
  args?: Record<string, unknown>;
}

/** What a user's module function receives, once per iteration. */
export interface ModuleContext {
  /** 0-based iteration number within the step (warmup included). */
  iteration: number;
  /** The runner's worker slot running this iteration. */
  worker: number;
  /** The scenario's args, with the workload's `with.args` over them. */
  args: Record<string, unknown>;
  /** Aborted when the step stops or the iteration times out: stop promptly. */
  signal: AbortSignal;
  /** Times `fn` as the atomic action `name` (reported per action, usable as `action.<name>`). */
  time<T>(name: string, fn: () => T | Promise<T>): Promise<T>;
  log: Logger;
}

/** What a module's optional `setup`/`teardown` exports receive, once per step. */
export interface ModuleLifecycleContext {
  args: Record<string, unknown>;
  log: Logger;
}

type IterationFn = (ctx: ModuleContext) => unknown;

const ACTION_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Loads a module written in TypeScript or JavaScript, with no build step: tsx's scoped
 * loader (tsImport) compiles .ts/.mts on import without registering a global hook, so a user
 * module cannot change how Scalpels' own modules load.
 */
async function importModule(file: string): Promise<Record<string, unknown>> {
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>;
}

/**
 * Runs a user's function per iteration: `export default async (ctx) => { ... }`, with
 * `ctx.time(name, fn)` for atomic actions. Optional `setup(ctx)` and `teardown(ctx)`
 * exports run once per step, around the iterations. A thrown error fails the iteration.
 */
export const moduleWorkload: WorkloadDefinition<ModuleParams> = {
  name: 'module',
  summary:
    'Call a function from your own JS/TS module each iteration; ctx.time(name, fn) times atomic actions.',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      path: {
        type: 'string',
        minLength: 1,
        description: 'The module (.ts, .mts, .js, .mjs), relative to the scenario file.',
      },
      export: {
        type: 'string',
        pattern: '^[A-Za-z_$][A-Za-z0-9_$]*$',
        'x-expect': 'an export name',
        description: 'The function to call (default: the default export).',
      },
      args: { type: 'object', description: 'Passed as ctx.args, over the scenario args.' },
    },
  },
  example: { use: 'module', with: { path: './flows/boot.ts', args: { flavor: 'm1.tiny' } } },
  actions: () => 'any',
  check(params, ctx) {
    const file = resolve(ctx.baseDir, params.path);
    return existsSync(file) ? [] : [{ path: ['path'], message: `no module at ${file}` }];
  },
  create(params, ctx) {
    const file = resolve(ctx.baseDir, params.path);
    const args = { ...ctx.args, ...params.args };
    const log = ctx.log.child({ module: params.path });
    let fn: IterationFn | undefined;
    let exports: Record<string, unknown> = {};
    return {
      async init() {
        try {
          exports = await importModule(file);
        } catch (err) {
          throw new Error(`cannot load module ${file}: ${oneLine(errorMessage(err))}`);
        }
        const name = params.export ?? 'default';
        const candidate = exports[name];
        if (typeof candidate !== 'function') {
          const fns = Object.keys(exports).filter((k) => typeof exports[k] === 'function');
          throw new Error(
            `module ${file} has no function export "${name}"${fns.length ? `; its functions: ${fns.join(', ')}` : ''}`,
          );
        }
        fn = candidate as IterationFn;
        if (typeof exports.setup === 'function')
          await (exports.setup as (c: ModuleLifecycleContext) => unknown)({ args, log });
      },
      async iterate({ iteration, worker, signal }): Promise<IterationOutcome> {
        const actions: ActionOutcome[] = [];
        const time = async <T>(name: string, body: () => T | Promise<T>): Promise<T> => {
          if (!ACTION_NAME.test(name))
            throw new Error(`invalid action name "${name}": use letters, digits, _, . and -`);
          const t0 = performance.now();
          const startNs = perfToNs(t0);
          try {
            const value = await body();
            actions.push({ name, durationMs: elapsedMs(t0), ok: true, startNs });
            return value;
          } catch (err) {
            actions.push({
              name,
              durationMs: elapsedMs(t0),
              ok: false,
              error: errorMessage(err),
              startNs,
            });
            throw err;
          }
        };
        try {
          await fn!({ iteration, worker, args, signal, time, log });
          return { ok: true, actions: actions.length ? actions : undefined };
        } catch (err) {
          return {
            ok: false,
            error: errorMessage(err).split('\n')[0],
            actions: actions.length ? actions : undefined,
          };
        }
      },
      async close() {
        if (fn && typeof exports.teardown === 'function')
          await (exports.teardown as (c: ModuleLifecycleContext) => unknown)({ args, log });
      },
    };
  },
};
