import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** A free TCP port, as the kernel hands it out (released at once: a short race, acceptable in tests). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Whether something accepts TCP connections on host:port. */
export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Waits until host:port accepts connections, or throws naming what did not come up. */
export async function waitForPort(
  host: string,
  port: number,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portOpen(port, host))) {
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether a pid is a live process (a zombie, or a gone pid, is not). */
export function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
