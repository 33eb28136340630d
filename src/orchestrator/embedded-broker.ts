import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  /** mqtt://127.0.0.1:<port> (mqtts:// with TLS) */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 (the default) picks a free ephemeral port: never a fixed well-known one. */
  port?: number;
  /** When set, clients must present these credentials. */
  credentials?: { username: string; password: string };
  /** PEM key and certificate: serve mqtts:// instead of mqtt://. */
  tls?: { key: Buffer; cert: Buffer };
  /** Last say over the broker before it listens (tests use it to drop or delay messages). */
  configure?: (broker: Aedes) => void;
}

/**
 * The all-in-one broker: aedes in this process, on loopback. Speaks MQTT 3.1.1 (aedes 1.x
 * refuses MQTT 5), which is all protocol v1 needs.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  if (options.credentials) {
    const { username, password } = options.credentials;
    broker.authenticate = (_client, user, pass, done) => {
      const ok = user === username && pass?.toString() === password;
      done(ok ? null : Object.assign(new Error('bad username or password'), { returnCode: 4 }), ok);
    };
  }
  options.configure?.(broker);
  const server: Server = options.tls
    ? createTlsServer({ key: options.tls.key, cert: options.tls.cert, noDelay: true }, broker.handle)
    : createServer({ noDelay: true }, broker.handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
  } catch (err) {
    // Not listening: release the broker too, or its timers keep the process alive.
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `${options.tls ? 'mqtts' : 'mqtt'}://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
