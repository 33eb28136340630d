import { formatDuration } from '../core/duration.js';
import { errorMessage } from '../core/errors.js';
import type { ProtocolClient } from '../protocol/client.js';
import { topics } from '../protocol/topics.js';
import type { AgentCommandOutcome, AgentCommands } from './hooks.js';
import { matchesSelector, type Roster } from './roster.js';

/**
 * How long past the command's own timeout the runner waits for the agent's reply: the agent
 * kills the command at the timeout and then answers, so only the round trip is added.
 */
export const REPLY_MARGIN_MS = 5_000;

/** `command:` actions of one run, sent as `run-command` requests to the agents the roster has online. */
export function agentCommands(client: ProtocolClient, roster: Roster, runId: string): AgentCommands {
  return {
    select: (on) =>
      roster
        .online()
        .filter((a) => matchesSelector(a, on))
        .map((a) => a.name),

    async run(agent, command, timeoutMs, signal): Promise<AgentCommandOutcome> {
      const waitMs = timeoutMs + REPLY_MARGIN_MS;
      const reply = client.request(
        topics.agentCommands(agent),
        { type: 'run-command', run: runId, command, timeoutMs },
        waitMs,
      );
      // Ctrl-C stops the waiting here; the run then sends stop-run, which kills the command (run.ts).
      reply.catch(() => {});
      let onAbort = () => {};
      const interrupted = new Promise<'interrupted'>((resolve) => {
        onAbort = () => resolve('interrupted');
        if (signal?.aborted) onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      try {
        const r = await Promise.race([reply, interrupted]);
        if (r === 'interrupted')
          return {
            error: `interrupted while agent ${agent} ran command ${command} (the run's stop-run kills it)`,
          };
        const { exitCode, durationMs, signal: killedBy, output } = r.result ?? {};
        const outcome: AgentCommandOutcome = { exitCode, durationMs, signal: killedBy, output };
        if (!r.ok) outcome.error = r.error?.message ?? 'refused';
        return outcome;
      } catch (err) {
        const why = errorMessage(err);
        return {
          error: why.startsWith('no reply')
            ? `agent ${agent} did not answer within ${formatDuration(waitMs)} (the command's timeout plus ${formatDuration(REPLY_MARGIN_MS)}): it is offline, hung, or too old to know run-command`
            : `could not ask agent ${agent}: ${why}`,
        };
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
  };
}
