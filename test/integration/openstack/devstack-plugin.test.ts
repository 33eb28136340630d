/**
 * The devstack plugin without devstack: shellcheck, then its install, configure and start
 * functions against this checkout (a temp bin dir, conf dir and state dir; no systemd), and the
 * agent it started announces itself on the broker it started, labelled with the node's services.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../../helpers/cli.js';
import { freePort } from '../helpers/private-mariadb.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const plugin = join(root, 'devstack/plugin.sh');

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('devstack plugin', () => {
  const dir = tempDir('scalpels-devstack-');
  let env: Record<string, string> = {};
  const bash = (script: string) =>
    run('bash', ['-c', `set -euo pipefail; . ${join(root, 'devstack/settings')}; . ${plugin}; ${script}`], {
      env: { ...process.env, ...env },
      timeout: 60_000,
    });

  afterAll(async () => {
    if (Object.keys(env).length) await bash('stop_scalpels').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes shellcheck', async () => {
    // Under CI the provisioning script installed it; elsewhere its absence is not the plugin's fault.
    if (!has('shellcheck')) {
      expect(process.env.CI, 'shellcheck missing (scripts/provision.sh installs it)').not.toBe('true');
      return;
    }
    await run('shellcheck', ['-s', 'bash', plugin, join(root, 'devstack/settings')]);
  });

  it('installs against the local checkout, starts broker and agent, and labels the agent', async () => {
    const port = await freePort();
    env = {
      SCALPELS_DIR: root,
      SCALPELS_BIN_DIR: join(dir, 'bin'),
      SCALPELS_CONF_DIR: join(dir, 'etc'),
      SCALPELS_STATE_DIR: join(dir, 'state'),
      SCALPELS_SERVICE_MANAGER: 'process',
      SCALPELS_BROKER_HOST: '127.0.0.1',
      SCALPELS_BROKER_PORT: String(port),
      SCALPELS_AGENT_NAME: 'devstack-test-node',
      ENABLED_SERVICES: 'key,mysql,rabbit,n-api,n-cpu,scalpels-agent,scalpels-broker',
    };
    const install = await bash('install_scalpels');
    expect(install.stdout).toMatch(/\d+\.\d+\.\d+/);
    await bash('configure_scalpels');
    const conf = readFileSync(join(dir, 'etc/scalpels-agent.env'), 'utf8');
    expect(conf).toContain(`SCALPELS_BROKER=mqtt://127.0.0.1:${port}`);
    expect(conf).toContain('--label role=controller');
    expect(conf).toContain('--label service.n-cpu=enabled');
    // The devstack entry point itself, for the phase that starts things.
    await run('bash', ['-c', `. ${join(root, 'devstack/settings')}; . ${plugin} stack extra`], {
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    let listed = '';
    for (let i = 0; i < 60; i++) {
      const res = await runCli(
        [
          'agents',
          '--broker',
          `mqtt://127.0.0.1:${port}`,
          '--secret-file',
          join(dir, 'etc/secret'),
          '--json',
        ],
        {},
      );
      listed = res.stdout;
      if (listed.includes('devstack-test-node')) break;
      await sleep(500);
    }
    expect(listed).toContain('devstack-test-node');
    expect(listed).toContain('service.key');
    expect(listed).toContain('controller');
    await bash('stop_scalpels');
    env = {};
  }, 120_000);
});
