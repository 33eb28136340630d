import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir } from '../../helpers/cli.js';
import { type AgentProcess, startAgentProcess } from '../helpers/agent-process.js';

describe('scalpels broker with TLS and a password', () => {
  const dir = tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const password = join(dir, 'password');
  let broker: ReturnType<typeof startCli>;
  let url: string;
  let agent: AgentProcess;

  beforeAll(async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    writeFileSync(password, 'correct horse battery staple\n');
    broker = startCli([
      'broker',
      '--port',
      '0',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--username',
      'scalpels',
      '--password-file',
      password,
    ]);
    const deadline = Date.now() + 20_000;
    while (!/listening on (mqtts:\/\/\S+)/.test(broker.output()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    url = /listening on (mqtts:\/\/\S+)/.exec(broker.output())![1];
    agent = await startAgentProcess('tls-agent', url, [
      '--broker-ca',
      cert,
      '--broker-username',
      'scalpels',
      '--broker-password-file',
      password,
    ]);
  });
  afterAll(async () => {
    await agent?.stop();
    broker.child.kill('SIGTERM');
    await broker.done;
  });

  it('serves agents over mqtts:// with authentication', async () => {
    const r = await runCli([
      'agents',
      '--broker',
      url,
      '--broker-ca',
      cert,
      '--broker-username',
      'scalpels',
      '--broker-password-file',
      password,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((a: { name: string; online: boolean }) => [a.name, a.online])).toEqual([
      ['tls-agent', true],
    ]);
    // The password is read from its file and never printed.
    expect(agent.logs()).not.toContain('correct horse');
  });

  it('refuses a wrong password with one clear sentence', async () => {
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, 'nope');
    const r = await runCli([
      'agents',
      '--broker',
      url,
      '--broker-ca',
      cert,
      '--broker-username',
      'scalpels',
      '--broker-password-file',
      wrong,
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^Error: .*(Bad username or password|Not authorized)/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a server it cannot verify', async () => {
    const r = await runCli([
      'agents',
      '--broker',
      url,
      '--broker-username',
      'scalpels',
      '--broker-password-file',
      password,
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/self[- ]signed certificate/);
  });
});
