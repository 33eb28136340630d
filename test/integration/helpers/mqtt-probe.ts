import mqtt, { type MqttClient } from 'mqtt';
import { decodeMessage } from '../../../src/protocol/codec.js';
import type { Message } from '../../../src/protocol/messages.js';

/** A bare MQTT client for tests: watches topics and records what was decoded. */
export class MqttProbe {
  readonly messages: { topic: string; message: Message; at: number }[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      if (payload.length === 0) return;
      try {
        this.messages.push({ topic, message: decodeMessage(payload), at: Date.now() });
      } catch {
        // Tests publish garbage on purpose; the probe ignores it.
      }
    });
  }

  static async connect(url: string): Promise<MqttProbe> {
    return new MqttProbe(await mqtt.connectAsync(url, { protocolVersion: 4 }));
  }

  async watch(pattern: string): Promise<void> {
    await this.client.subscribeAsync(pattern, { qos: 1 });
  }

  async waitFor(
    pred: (m: { topic: string; message: Message }) => boolean,
    timeoutMs = 10_000,
  ): Promise<{ topic: string; message: Message; at: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(pred);
      if (found) return found;
      if (Date.now() > deadline) throw new Error('timed out waiting for an MQTT message');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Deletes retained statuses the test's agents left on a shared broker. */
  async forgetAgents(names: string[]): Promise<void> {
    for (const n of names)
      await this.client.publishAsync(`scalpels/v1/agents/${n}/status`, Buffer.alloc(0), {
        qos: 1,
        retain: true,
      });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
