import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './private-mariadb.js';

const run = promisify(execFile);

/** A PostgreSQL cluster of the test's own, in a temp dir, on a port nobody else uses. */
export interface PrivatePostgres {
  host: '127.0.0.1';
  port: number;
  /** Directory of the Unix socket (`host` for a socket connection with pg). */
  socketDir: string;
  /** Superuser; over TCP it authenticates with {@link PrivatePostgres.password} (scram-sha-256). */
  user: 'postgres';
  password: string;
  dir: string;
  /** Stops the server (fast shutdown, SIGKILL after 10 s) and removes its directory. */
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL's binaries (Debian keeps them out of PATH). */
export async function postgresBinDir(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [] as string[]))
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0)
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  return join('/usr/lib/postgresql', versions[0], 'bin');
}

/**
 * Starts a private cluster with pg_stat_statements preloaded: loading it needs a server start,
 * which a shared service must never get from a test. PostgreSQL refuses to run as root, so as
 * root every command runs as the `postgres` user (spawn's uid/gid: the same as runuser, but
 * signals reach the server itself), in a directory that user owns.
 * Local (socket) connections are trusted; TCP ones need the password, so that tests of
 * password_file exercise a real authentication.
 */
export async function startPrivatePostgres(settings: Record<string, string> = {}): Promise<PrivatePostgres> {
  const bin = await postgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'scalpels-postgres-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const asRoot = process.getuid?.() === 0;
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  let ids: { uid: number; gid: number } | Record<string, never> = {};
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    ids = { uid, gid };
    await chown(dir, uid, gid);
    await chown(pwfile, uid, gid);
  }

  await run(
    join(bin, 'initdb'),
    [
      '-D',
      data,
      '-U',
      'postgres',
      `--pwfile=${pwfile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--no-sync',
    ],
    { timeout: 120_000, cwd: dir, ...ids },
  );
  const conf: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    shared_preload_libraries: 'pg_stat_statements',
    fsync: 'off',
    ...settings,
  };
  const args = ['-D', data, ...Object.entries(conf).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const child: ChildProcess = spawn(join(bin, 'postgres'), args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: dir,
    ...ids,
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const stop = async (): Promise<void> => {
    if (!exited) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // SIGINT is PostgreSQL's fast shutdown: it ends sessions instead of waiting for them.
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  for (let i = 0; i < 300; i++) {
    if (exited) break;
    try {
      await run(join(bin, 'pg_isready'), ['-h', dir, '-p', String(port)], { timeout: 5000 });
      return { host: '127.0.0.1', port, socketDir: dir, user: 'postgres', password, dir, stop };
    } catch {
      await sleep(100);
    }
  }
  await stop();
  throw new Error(`private postgres did not start on port ${port}:\n${log}`);
}
