import { RuntimeFailure } from '../core/errors.js';
import { WakeUp } from '../core/wake-up.js';
import type { ProtocolClient } from '../protocol/client.js';
import type { AgentInfo, Message } from '../protocol/messages.js';
import { topics } from '../protocol/topics.js';
import type { AgentSelector } from '../scenario/types.js';

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${body}$`);
}

/** Does this agent match a scenario's `on:` selector? No selector means every agent. */
export function matchesSelector(agent: AgentInfo, selector: AgentSelector | undefined): boolean {
  if (selector === undefined) return true;
  if (typeof selector === 'string') return globToRegExp(selector).test(agent.name);
  if (Array.isArray(selector)) return selector.some((s) => globToRegExp(s).test(agent.name));
  return Object.entries(selector).every(
    ([k, v]) => agent.labels[k] !== undefined && globToRegExp(v).test(agent.labels[k]),
  );
}

export function describeSelector(selector: AgentSelector | undefined): string {
  if (selector === undefined) return 'every agent';
  if (typeof selector === 'string') return `agents named "${selector}"`;
  if (Array.isArray(selector)) return `agents named ${selector.map((s) => `"${s}"`).join(' or ')}`;
  return `agents labelled ${Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;
}

/** The agents the broker's retained status topics say are online, kept current. */
export class Roster {
  private readonly agents = new Map<string, { info: AgentInfo; online: boolean; since: number }>();
  /** When (runner's clock) each agent was seen going offline, while it stays offline. */
  private readonly wentOffline = new Map<string, number>();
  private readonly changed = new WakeUp();
  /** Called when an agent that was online goes offline (its last will, or a clean stop). */
  onLost?: (agent: string) => void;
  /** Called when an agent that had gone offline is back (it reconnected, e.g. after a broker restart). */
  onBack?: (agent: string) => void;

  constructor(private readonly client: ProtocolClient) {}

  async start(): Promise<void> {
    await this.client.subscribe(topics.allAgentStatus(), (m) => this.onStatus(m));
  }

  online(): AgentInfo[] {
    return [...this.agents.values()].filter((a) => a.online).map((a) => a.info);
  }

  /** Every agent seen, online or not, by name. */
  all(): { info: AgentInfo; online: boolean }[] {
    return [...this.agents.values()].sort((a, b) => a.info.name.localeCompare(b.info.name));
  }

  get(name: string): AgentInfo | undefined {
    return this.agents.get(name)?.info;
  }

  isOnline(name: string): boolean {
    return this.agents.get(name)?.online ?? false;
  }

  /** When this agent was seen going offline (ms since the epoch), if it was online before and still is not. */
  offlineSince(name: string): number | undefined {
    return this.wentOffline.get(name);
  }

  /** Waits up to `timeoutMs` for an agent to be online; resolves whether it is. */
  async waitOnline(name: string, timeoutMs: number): Promise<boolean> {
    return this.changed.until(() => this.isOnline(name), timeoutMs);
  }

  /**
   * Waits until every selector matches at least one online agent, and every agent named
   * literally (no glob) is online. On timeout the error names what is missing. With
   * `onlyAgents` (the whole fleet, known in advance) it stops waiting once those are online:
   * no agent that could still come would match.
   */
  async waitFor(
    selectors: (AgentSelector | undefined)[],
    timeoutMs: number,
    onlyAgents?: readonly string[],
  ): Promise<void> {
    const missing = () => {
      const problems: string[] = [];
      for (const s of selectors) {
        const literal = typeof s === 'string' ? [s] : Array.isArray(s) ? s : [];
        for (const name of literal.filter((n) => !/[*?]/.test(n))) {
          if (!this.isOnline(name)) problems.push(`agent "${name}"`);
        }
        if (!this.online().some((a) => matchesSelector(a, s))) problems.push(describeSelector(s));
      }
      return [...new Set(problems)];
    };
    const allCame = () => onlyAgents?.every((n) => this.isOnline(n)) ?? false;
    const t0 = Date.now();
    await this.changed.until(() => missing().length === 0 || allCame(), timeoutMs, 500);
    if (missing().length === 0) return;
    const online = this.online().map((a) => a.name);
    throw new RuntimeFailure(
      `waited ${Math.round(Math.min(Date.now() - t0, timeoutMs) / 1000)}s for ${missing().join(', ')}; online: ${online.length ? online.join(', ') : 'none'}`,
    );
  }

  private onStatus(message: Message): void {
    if (message.type !== 'status') return;
    const previous = this.agents.get(message.agent.name);
    this.agents.set(message.agent.name, { info: message.agent, online: message.online, since: message.ts });
    if (message.online) this.wentOffline.delete(message.agent.name);
    if (previous?.online && !message.online) {
      this.wentOffline.set(message.agent.name, Date.now());
      this.onLost?.(message.agent.name);
    }
    if (previous && !previous.online && message.online) this.onBack?.(message.agent.name);
    this.changed.notify();
  }
}

/**
 * Agent clock minus runner clock, in ms: several pings, keeping the one with the shortest
 * round trip (its midpoint estimate has the smallest error bound, NTP's rule).
 */
export async function measureClockOffset(
  client: ProtocolClient,
  agent: string,
  samples = 5,
): Promise<number> {
  let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
  for (let i = 0; i < samples; i++) {
    const t0 = Date.now();
    const reply = await client.request(topics.agentCommands(agent), { type: 'ping' }, 5000);
    const t1 = Date.now();
    if (!reply.ok) throw new RuntimeFailure(`agent ${agent} refused ping: ${reply.error?.message}`);
    if (reply.agentTs !== undefined && t1 - t0 < best.rtt)
      best = { rtt: t1 - t0, offset: reply.agentTs - (t0 + t1) / 2 };
  }
  // The estimate's error is at most half the round trip: an offset within that bound cannot
  // be told from zero, and "correcting" by it would only move samples by noise.
  return Math.abs(best.offset) <= best.rtt / 2 ? 0 : best.offset;
}
