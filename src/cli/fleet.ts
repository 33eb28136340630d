import type { Logger } from '../core/logger.js';
import { ProtocolClient, uniqueClientId } from '../protocol/client.js';
import type { OperatorCatalog } from '../tracers/operator-catalog.js';
import { startAllInOne } from './all-in-one.js';
import { type BrokerFlagValues, brokerOptions, sharedSecret } from './broker-flags.js';

/**
 * The runner's way to its agents: an existing broker with agents on every node (--broker),
 * or, by default, the all-in-one embedded broker with an in-process agent.
 */
export async function connectFleet(
  flags: BrokerFlagValues,
  log: Logger,
  /** The in-process agent's command catalog (run --allow-commands); agents on a broker have their own. */
  operatorCatalog?: OperatorCatalog,
): Promise<{ client: ProtocolClient; close(): Promise<void>; onlyAgents?: string[] }> {
  if (!flags.broker) return startAllInOne(log, operatorCatalog);
  const client = await ProtocolClient.connect({
    ...brokerOptions(flags, flags.broker),
    clientId: uniqueClientId('runner'),
    log,
    secret: sharedSecret(flags),
    // Data queued by the broker while the runner reconnects is delivered, not lost.
    persistentSession: true,
  });
  return { client, close: () => client.close() };
}
