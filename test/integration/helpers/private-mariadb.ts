import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../../helpers/net.js';

export { freePort };

const run = promisify(execFile);

/** A MariaDB server of the test's own, in a temp dir, on a port nobody else uses. */
export interface PrivateMariadb {
  host: '127.0.0.1';
  port: number;
  socket: string;
  dir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts a private MariaDB with performance_schema ON: the shared server on 3306 has it off,
 * and turning it on needs a server start, which a shared service must never get from a test.
 * `mariadb-install-db` seeds the data dir (root@localhost with no password, by the "normal"
 * authentication method), then `mariadbd` runs with --no-defaults so that nothing of the
 * machine's my.cnf (port, socket, datadir) leaks in.
 */
export async function startPrivateMariadb(extraArgs: string[] = []): Promise<PrivateMariadb> {
  const dir = await mkdtemp(join(tmpdir(), 'scalpels-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  await run(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...(asRoot ? ['--user=root'] : []),
    ],
    { timeout: 60_000 },
  );
  const child: ChildProcess = spawn(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${join(dir, 'mariadbd.pid')}`,
      `--log-error=${join(dir, 'error.log')}`,
      '--performance-schema=ON',
      '--skip-log-bin',
      // Small enough to start fast next to the shared server on a 2-core, shared machine.
      '--innodb-buffer-pool-size=16M',
      ...(asRoot ? ['--user=root'] : []),
      ...extraArgs,
    ],
    { stdio: 'ignore' },
  );
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const stop = async (): Promise<void> => {
    if (!exited) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  for (let i = 0; i < 300; i++) {
    if (exited) break;
    try {
      await run('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '-uroot', 'ping'], {
        timeout: 5000,
      });
      return { host: '127.0.0.1', port, socket, dir, stop };
    } catch {
      await sleep(100);
    }
  }
  const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
  await stop();
  throw new Error(`private mariadbd did not start on port ${port}:\n${log.slice(-2000)}`);
}
