import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseDuration } from '../../core/duration.js';
import type { IterationOutcome, WorkloadDefinition } from '../types.js';

interface ExecParams {
  command?: string;
  argv?: string[];
  env?: Record<string, string>;
  cwd?: string;
  timeout?: string | number;
}

/** Lines of stderr kept for the iteration's error: enough to see why, bounded for storage. */
const STDERR_TAIL_LINES = 5;
const STDERR_TAIL_BYTES = 2048;

/**
 * Runs a command per iteration: `command` through /bin/sh -c, or `argv` without a shell
 * (DESIGN.md §9). Success is exit status 0.
 */
export const execWorkload: WorkloadDefinition<ExecParams> = {
  name: 'exec',
  summary: 'Run a command each iteration (a shell command line, or an argv without a shell); success is exit status 0.',
  params: {
    type: 'object',
    additionalProperties: false,
    oneOf: [{ required: ['command'] }, { required: ['argv'] }],
    properties: {
      command: { type: 'string', minLength: 1, description: 'Run through /bin/sh -c.' },
      argv: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'Run directly, without a shell.' },
      env: { type: 'object', additionalProperties: { type: 'string' }, description: 'Added to the environment.' },
      cwd: { type: 'string', description: 'Working directory, relative to the scenario file.' },
      timeout: {
        type: ['string', 'number'],
        pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$',
        'x-expect': 'a duration such as 500ms, 2s, 1m or a number of seconds',
        description: 'Kill the command (SIGKILL to its process group) after this long; the iteration fails.',
      },
    },
  },
  example: { use: 'exec', with: { command: 'openstack token issue -f value -c id' } },
  create(params, ctx) {
    const [file, args] = params.argv ? [params.argv[0], params.argv.slice(1)] : ['/bin/sh', ['-c', params.command!]];
    const timeoutMs = params.timeout === undefined ? undefined : parseDuration(params.timeout);
    const cwd = params.cwd ? resolve(ctx.baseDir, params.cwd) : undefined;
    const env = params.env ? { ...process.env, ...params.env } : process.env;
    return {
      iterate: ({ signal }) =>
        new Promise<IterationOutcome>((done) => {
          // detached: the command gets its own process group, so a timeout or Ctrl-C kills
          // the whole tree (a shell and its children), leaving nothing behind.
          const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
          let stderr = '';
          let killedFor: string | undefined;
          const kill = (why: string) => {
            killedFor ??= why;
            try {
              if (child.pid) process.kill(-child.pid, 'SIGKILL');
            } catch {
              // Already gone.
            }
          };
          const timer = timeoutMs === undefined ? undefined : setTimeout(() => kill(`timed out after ${params.timeout}`), timeoutMs);
          const onAbort = () => kill('interrupted');
          signal.addEventListener('abort', onAbort, { once: true });
          child.stderr.setEncoding('utf8');
          child.stderr.on('data', (chunk: string) => {
            stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
          });
          const finish = (outcome: IterationOutcome) => {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            done(outcome);
          };
          child.on('error', (err) => finish({ ok: false, error: `cannot run ${file}: ${err.message}` }));
          child.on('close', (code, sig) => {
            if (killedFor) return finish({ ok: false, error: killedFor });
            if (code === 0) return finish({ ok: true });
            const tail = stderr.trim().split('\n').slice(-STDERR_TAIL_LINES).join(' | ');
            finish({ ok: false, error: `${sig ? `killed by ${sig}` : `exit status ${code}`}${tail ? `: ${tail}` : ''}` });
          });
        }),
    };
  },
};
