import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  /** mqtt://127.0.0.1:<port> */
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
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `mqtt://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
