import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './private-mariadb.js';

const run = promisify(execFile);

/**
 * Debian's OpenStack libraries live under the system interpreter; the `python3` first on PATH
 * may be pyenv's, without them. Every tool is run through this one.
 */
const PYTHON = '/usr/bin/python3';

/** A Keystone of the test's own: its config, keys and database, served by uwsgi on a free port. */
export interface PrivateKeystone {
  /** Identity v3 URL, e.g. http://127.0.0.1:41234/v3 */
  authUrl: string;
  port: number;
  dir: string;
  /** The bootstrap admin (user admin, project admin, domain Default). */
  adminPassword: string;
  /** File holding osprofiler's HMAC key, as the workload's `osprofiler.hmac_key_file` wants. */
  hmacKeyFile: string;
  hmacKey: string;
  /** A clouds.yaml with one cloud named `private-keystone`. */
  cloudsYaml: string;
  /** The uwsgi master's pid (workers are its children). */
  masterPid: number;
  /** Database name on the given server; dropped by stop(). */
  database: string;
  /** Restarts uwsgi with another number of worker processes (same config, keys and database). */
  restart(workers: number): Promise<void>;
  /** Stops uwsgi, drops the database, removes the temp dir. */
  stop(): Promise<void>;
}

export interface KeystoneOptions {
  /** MariaDB to keep Keystone's database in (root, no password); default 127.0.0.1:3306. */
  dbHost?: string;
  dbPort?: number;
  /** uwsgi worker processes (default 2). */
  workers?: number;
  /** osprofiler's Redis (default redis://127.0.0.1:6379). */
  redisUrl?: string;
}

async function mysql(host: string, port: number, sql: string): Promise<void> {
  await run('mariadb', ['--no-defaults', '-h', host, '-P', String(port), '-uroot', '-e', sql], {
    timeout: 30_000,
  });
}

/**
 * Starts a private Keystone: a temp-dir keystone.conf (MariaDB database of its own, fernet and
 * credential keys in the dir, osprofiler on with trace_sqlalchemy), `keystone-manage db_sync`,
 * fernet_setup, credential_setup and bootstrap, then `uwsgi_python3` serving
 * keystone-wsgi-public on a free loopback port. No systemd, nothing shared is touched except
 * a `keystone_<random>` database, dropped afterwards.
 */
export async function startPrivateKeystone(opts: KeystoneOptions = {}): Promise<PrivateKeystone> {
  const dbHost = opts.dbHost ?? '127.0.0.1';
  const dbPort = opts.dbPort ?? 3306;
  const workers = opts.workers ?? 2;
  const dir = await mkdtemp(join(tmpdir(), 'scalpels-keystone-'));
  const database = `keystone_${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  const adminPassword = randomBytes(12).toString('hex');
  const hmacKey = randomBytes(16).toString('hex');
  const hmacKeyFile = join(dir, 'osprofiler-hmac');
  const conf = join(dir, 'keystone.conf');
  const authUrl = `http://127.0.0.1:${port}/v3`;
  let child: ChildProcess | undefined;
  let exited = false;
  let dbCreated = false;

  const stopUwsgi = async (): Promise<void> => {
    if (child && !exited) {
      const gone = new Promise<void>((r) => child!.once('exit', () => r()));
      // uwsgi's master treats SIGINT/SIGQUIT as "shut down now"; SIGTERM means reload to it.
      child.kill('SIGINT');
      const killer = setTimeout(() => child!.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(killer);
    }
  };

  const serve = async (n: number): Promise<void> => {
    exited = false;
    child = spawn(
      'uwsgi_python3',
      [
        // http11-socket keeps connections alive, as the web servers in front of real clouds do;
        // plain --http-socket closes each one, and a client reusing it races that close.
        '--http11-socket',
        `127.0.0.1:${port}`,
        '--wsgi-file',
        '/usr/bin/keystone-wsgi-public',
        '--master',
        '--processes',
        String(n),
        '--threads',
        '1',
        '--die-on-term',
        '--logto',
        join(dir, 'uwsgi.log'),
        '--env',
        `OS_KEYSTONE_CONFIG_FILES=${conf}`,
      ],
      { env: cleanEnv(), stdio: 'ignore' },
    );
    child.once('exit', () => {
      exited = true;
    });
    // Ready when every worker answers GET /v3: a few seconds each to import keystone. uwsgi
    // forks workers from the master after the app loads (no lazy-apps), so one answer is enough.
    for (let i = 0; i < 600 && !exited; i++) {
      try {
        const res = await fetch(authUrl, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    const log = await readFile(join(dir, 'uwsgi.log'), 'utf8').catch(() => '');
    throw new Error(`private keystone did not answer on ${authUrl}:\n${log.slice(-3000)}`);
  };

  const stop = async (): Promise<void> => {
    await stopUwsgi();
    if (dbCreated) await mysql(dbHost, dbPort, `DROP DATABASE IF EXISTS ${database}`).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await writeFile(hmacKeyFile, `${hmacKey}\n`, { mode: 0o600 });
    await mkdir(join(dir, 'fernet-keys'));
    await mkdir(join(dir, 'credential-keys'));
    await writeFile(
      conf,
      [
        '[DEFAULT]',
        `log_file = ${join(dir, 'keystone.log')}`,
        '[database]',
        `connection = mysql+pymysql://root@${dbHost}:${dbPort}/${database}`,
        '[fernet_tokens]',
        `key_repository = ${join(dir, 'fernet-keys')}`,
        '[credential]',
        `key_repository = ${join(dir, 'credential-keys')}`,
        '[profiler]',
        'enabled = true',
        `hmac_keys = ${hmacKey}`,
        `connection_string = ${opts.redisUrl ?? 'redis://127.0.0.1:6379'}`,
        'trace_sqlalchemy = true',
        '',
      ].join('\n'),
    );
    await mysql(dbHost, dbPort, `CREATE DATABASE ${database}`);
    dbCreated = true;
    const env = cleanEnv();
    const manage = (...args: string[]) =>
      run(PYTHON, ['/usr/bin/keystone-manage', '--config-file', conf, ...args], {
        env,
        timeout: 180_000,
        maxBuffer: 16 << 20,
      });
    // db_sync prints an eventlet traceback at exit with status 0 (NOTES.md): the status decides.
    await manage('db_sync');
    const owner = ['--keystone-user', 'root', '--keystone-group', 'root'];
    await manage('fernet_setup', ...owner);
    await manage('credential_setup', ...owner);
    await manage(
      'bootstrap',
      '--bootstrap-password',
      adminPassword,
      '--bootstrap-admin-url',
      `${authUrl}/`,
      '--bootstrap-public-url',
      `${authUrl}/`,
      '--bootstrap-internal-url',
      `${authUrl}/`,
      '--bootstrap-region-id',
      'RegionOne',
    );
    const cloudsYaml = join(dir, 'clouds.yaml');
    await writeFile(
      cloudsYaml,
      [
        'clouds:',
        '  private-keystone:',
        '    auth:',
        `      auth_url: ${authUrl}`,
        '      username: admin',
        `      password: ${adminPassword}`,
        '      project_name: admin',
        '      user_domain_name: Default',
        '      project_domain_name: Default',
        '    region_name: RegionOne',
        '    interface: public',
        '    identity_api_version: 3',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    await serve(workers);
    return {
      authUrl,
      port,
      dir,
      adminPassword,
      hmacKey,
      hmacKeyFile,
      cloudsYaml,
      get masterPid() {
        return child!.pid!;
      },
      database,
      async restart(n: number) {
        await stopUwsgi();
        await serve(n);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The environment minus what would point uwsgi or keystone-manage at another interpreter. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['PYTHONHOME', 'PYTHONPATH', 'VIRTUAL_ENV', 'PYENV_VERSION']) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('OS_')) delete env[k];
  env.PATH = `/usr/bin:/bin:/usr/sbin:/sbin:${env.PATH ?? ''}`;
  return env;
}
