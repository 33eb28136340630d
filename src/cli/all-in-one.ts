import { hostname } from 'node:os';
import { Agent } from '../agent/agent.js';
import type { Logger } from '../core/logger.js';
import { startEmbeddedBroker } from '../orchestrator/embedded-broker.js';
import { ProtocolClient, uniqueClientId } from '../protocol/client.js';
import { realTracerContext } from '../tracers/context.js';
import { tracerRegistry } from '../tracers/index.js';
import type { OperatorCatalog } from '../tracers/operator-catalog.js';

/** This node's name as an agent: the host name, reduced to the characters topics allow. */
export function localAgentName(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9_.:@-]/g, '-')
      .slice(0, 128) || 'local'
  );
}

/**
 * The all-in-one setup: an embedded broker on an ephemeral loopback port, an in-process
 * agent and the runner's client, all speaking the same MQTT protocol a fleet uses — one
 * code path, not a shortcut.
 */
export async function startAllInOne(
  log: Logger,
  operatorCatalog?: OperatorCatalog,
): Promise<{ client: ProtocolClient; close(): Promise<void>; onlyAgents: string[] }> {
  const broker = await startEmbeddedBroker();
  const agentLog = log.child({ component: 'agent' });
  const agent = new Agent({
    name: localAgentName(),
    broker: { url: broker.url },
    tracers: tracerRegistry.all(),
    ctx: { ...realTracerContext(agentLog), operatorCatalog },
    log: agentLog,
  });
  try {
    await agent.start();
    const client = await ProtocolClient.connect({ url: broker.url, clientId: uniqueClientId('runner'), log });
    return {
      client,
      // No other agent can join an embedded broker on an ephemeral port.
      onlyAgents: [agent.name],
      async close() {
        await client.close().catch(() => {});
        await agent.stop().catch(() => {});
        await broker.close();
      },
    };
  } catch (err) {
    await agent.stop().catch(() => {});
    await broker.close();
    throw err;
  }
}
