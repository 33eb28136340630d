import { resolve } from 'node:path';
import { formatDuration, parseDuration } from '../../core/duration.js';
import type { WorkloadDefinition } from '../types.js';
import { runCommand, tailLines } from './spawn.js';

interface ExecParams {
  command?: string;
  argv?: string[];
  env?: Record<string, string>;
  cwd?: string;
  timeout?: string | number;
  expect?: { exit_code?: number | number[] };
}

const DURATION = {
  type: ['string', 'number'],
  minimum: 0,
  pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$',
  'x-expect': 'a duration such as 500ms, 2s, 1m or a number of seconds',
};

/**
 * Runs a command per iteration: `command` through /bin/sh -c, or `argv` without a shell
 * (DESIGN.md §9). Success is an expected exit status (0 unless `expect.exit_code` says
 * otherwise); a failure carries the last lines of stderr.
 */
export const execWorkload: WorkloadDefinition<ExecParams> = {
  name: 'exec',
  summary:
    'Run a command each iteration (a shell command line, or an argv without a shell); success is an expected exit status.',
  params: {
    type: 'object',
    additionalProperties: false,
    oneOf: [{ required: ['command'] }, { required: ['argv'] }],
    properties: {
      command: { type: 'string', minLength: 1, description: 'Run through /bin/sh -c.' },
      argv: {
        type: 'array',
        minItems: 1,
        items: { type: 'string' },
        description: 'Run directly, without a shell.',
      },
      env: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'Added to the environment.',
      },
      cwd: { type: 'string', description: 'Working directory, relative to the scenario file.' },
      timeout: {
        ...DURATION,
        description: 'Kill the command (SIGKILL to its process group) after this long; the iteration fails.',
      },
      expect: {
        type: 'object',
        additionalProperties: false,
        properties: {
          exit_code: {
            description: 'Exit statuses that count as success (default 0).',
            oneOf: [
              { type: 'integer', minimum: 0, maximum: 255 },
              { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0, maximum: 255 } },
            ],
          },
        },
      },
    },
  },
  example: { use: 'exec', with: { command: 'openstack token issue -f value -c id', timeout: '30s' } },
  create(params, ctx) {
    const [file, args] = params.argv
      ? [params.argv[0], params.argv.slice(1)]
      : ['/bin/sh', ['-c', params.command!]];
    const timeoutMs = params.timeout === undefined ? undefined : parseDuration(params.timeout);
    const cwd = params.cwd ? resolve(ctx.baseDir, params.cwd) : undefined;
    const env = params.env ? { ...process.env, ...params.env } : process.env;
    const expected = params.expect?.exit_code ?? 0;
    const okCodes = new Set(Array.isArray(expected) ? expected : [expected]);
    const timeoutMessage =
      timeoutMs === undefined ? undefined : `timed out after ${formatDuration(timeoutMs)}`;
    return {
      async iterate({ signal }) {
        const r = await runCommand({
          file,
          args,
          cwd,
          env,
          timeoutMs,
          signal,
          capture: 'stderr',
          timeoutMessage,
        });
        const fields = r.code === null ? undefined : { exit_code: BigInt(r.code) };
        if (r.error) return { ok: false, error: r.error, fields };
        if (r.code !== null && okCodes.has(r.code)) return { ok: true, fields };
        const tail = tailLines(r.tail);
        const status = r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`;
        return { ok: false, error: `${status}${tail ? `: ${tail}` : ''}`, fields };
      },
    };
  },
};
