/**
 * Topic layout of protocol v1 (docs/protocol.md is normative). Names are validated so that a
 * name can never inject a topic level or a wildcard.
 */
export const PROTOCOL_VERSION = 1;
export const TOPIC_PREFIX = `scalpels/v${PROTOCOL_VERSION}`;

const SAFE_NAME = /^[A-Za-z0-9_.:@-]{1,128}$/;

export function assertTopicName(kind: string, name: string): string {
  if (!SAFE_NAME.test(name)) {
    throw new Error(`invalid ${kind} name "${name}": use letters, digits and . _ - : @ (at most 128)`);
  }
  return name;
}

export const topics = {
  /** Retained; the agent's last will overwrites it with `online: false`. */
  agentStatus: (agent: string) => `${TOPIC_PREFIX}/agents/${assertTopicName('agent', agent)}/status`,
  allAgentStatus: () => `${TOPIC_PREFIX}/agents/+/status`,
  /** Requests to one agent. */
  agentCommands: (agent: string) => `${TOPIC_PREFIX}/agents/${assertTopicName('agent', agent)}/cmd`,
  /** Replies to one runner (or any requester): the topic a request names in `replyTo`. */
  replies: (client: string) => `${TOPIC_PREFIX}/clients/${assertTopicName('client', client)}/reply`,
  /** Data batches and end-of-stream markers of a run, per agent. */
  runData: (run: string, agent: string) =>
    `${TOPIC_PREFIX}/runs/${assertTopicName('run', run)}/data/${assertTopicName('agent', agent)}`,
  allRunData: (run: string) => `${TOPIC_PREFIX}/runs/${assertTopicName('run', run)}/data/+`,
  /** Tracer lifecycle events of a run, per agent. */
  runEvents: (run: string, agent: string) =>
    `${TOPIC_PREFIX}/runs/${assertTopicName('run', run)}/events/${assertTopicName('agent', agent)}`,
  allRunEvents: (run: string) => `${TOPIC_PREFIX}/runs/${assertTopicName('run', run)}/events/+`,
};
