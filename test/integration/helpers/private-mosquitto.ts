import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../helpers/net.js';

/**
 * A private Mosquitto on a random port, with persistence in a temp dir so that a restart
 * keeps sessions and retained messages — never the machine's shared broker, which tests
 * must not restart.
 */
export { freePort };

export class PrivateMosquitto {
  private child?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'scalpels-mosquitto-'));

  private constructor(
    readonly host: string,
    readonly port: number,
    extraHosts: string[] = [],
  ) {
    writeFileSync(
      join(this.dir, 'mosquitto.conf'),
      [
        `listener ${port} ${host}`,
        ...extraHosts.map((h) => `listener ${port} ${h}`),
        'allow_anonymous true',
        // Without it Mosquitto delays small writes (Nagle): ~40 ms per request/reply.
        'set_tcp_nodelay true',
        'persistence true',
        `persistence_location ${this.dir}/`,
        'autosave_interval 1',
        'log_dest none',
        '',
      ].join('\n'),
    );
  }

  /** Starts on `host`, and on `extraHosts` with the same port (one listener per address). */
  static async start(host = '127.0.0.1', extraHosts: string[] = []): Promise<PrivateMosquitto> {
    const m = new PrivateMosquitto(host, await freePort(host), extraHosts);
    await m.resume();
    return m;
  }

  get url(): string {
    return `mqtt://${this.host}:${this.port}`;
  }

  /** (Re)starts the broker process. */
  async resume(): Promise<void> {
    this.child = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    await waitForPort(this.host, this.port, 'mosquitto');
  }

  /** Stops the broker process (SIGTERM: it saves its state, as a restart would). */
  async pause(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  async stop(): Promise<void> {
    await this.pause();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
