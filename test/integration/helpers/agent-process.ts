import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from '../../helpers/cli.js';

/** An agent in its own process, as on a real node. */
export interface AgentProcess {
  name: string;
  child: ChildProcess;
  logs: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
}

export async function startAgentProcess(
  name: string,
  broker: string,
  extra: string[] = [],
  opts: { env?: Record<string, string>; wrap?: string[] } = {},
): Promise<AgentProcess> {
  const argv = [
    ...(opts.wrap ?? []),
    process.execPath,
    CLI,
    'agent',
    '--broker',
    broker,
    '--name',
    name,
    ...extra,
  ];
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let logs = '';
  child.stdout!.on('data', (d) => {
    logs += d;
  });
  child.stderr!.on('data', (d) => {
    logs += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  while (!logs.includes('"msg":"ready"')) {
    if (child.exitCode !== null) throw new Error(`agent ${name} exited ${child.exitCode}: ${logs}`);
    if (Date.now() > deadline) throw new Error(`agent ${name} did not start: ${logs}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name,
    child,
    logs: () => logs,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
