/** The runner closing its own connection is not a lost broker: no warning about reconnecting. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../../src/orchestrator/embedded-broker.js';
import { ProtocolClient, uniqueClientId } from '../../../src/protocol/client.js';

describe('ProtocolClient.close', () => {
  let broker: EmbeddedBroker;
  beforeAll(async () => {
    broker = await startEmbeddedBroker();
  });
  afterAll(() => broker.close());

  it('logs no "connection lost" warning, with or without a persistent session', async () => {
    for (const persistentSession of [false, true]) {
      const lines: string[] = [];
      const log = createLogger({ level: 'debug', write: (line) => lines.push(line) });
      const client = await ProtocolClient.connect({
        url: broker.url,
        clientId: uniqueClientId('close-test'),
        log,
        persistentSession,
      });
      await client.close();
      await new Promise((done) => setTimeout(done, 100));
      expect(
        lines.filter((l) => l.startsWith('warn')),
        `persistentSession ${persistentSession}`,
      ).toEqual([]);
    }
  });

  it('still warns when the broker goes away under it', async () => {
    const own = await startEmbeddedBroker();
    const lines: string[] = [];
    const client = await ProtocolClient.connect({
      url: own.url,
      clientId: uniqueClientId('lost-test'),
      log: createLogger({ level: 'warn', write: (line) => lines.push(line) }),
    });
    await own.close();
    const deadline = Date.now() + 10_000;
    while (!lines.some((l) => l.includes('broker connection lost')) && Date.now() < deadline)
      await new Promise((done) => setTimeout(done, 50));
    expect(lines.some((l) => l.includes('broker connection lost'))).toBe(true);
    client.destroy();
  });
});
