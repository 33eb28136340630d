import { hostname } from 'node:os';
import { formatDuration, parseDuration } from '../core/duration.js';
import { ExitCode, errorMessage, RuntimeFailure } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Sample } from '../core/sample.js';
import { scalpelsVersion } from '../core/version.js';
import type { ProtocolClient } from '../protocol/client.js';
import type { RequestDraft } from '../protocol/codec.js';
import { topics } from '../protocol/topics.js';
import {
  type ActionSpec,
  type AgentAction,
  type AgentSelector,
  isAgentAction,
  type LoadedScenario,
  type Scenario,
  type TracerUse,
} from '../scenario/types.js';
import { newRunId } from '../store/run-id.js';
import type { AgentRecord, BrokerOutage, RunRecord, StreamRecord } from '../store/run-record.js';
import {
  type EncodedRecords,
  type EncodedSink,
  type RunWriter,
  type SampleSink,
  type Store,
  takesEncoded,
} from '../store/store.js';
import { agentCommands } from './agent-commands.js';
import { Collector } from './collector.js';
import { runActionScope } from './hooks.js';
import type { RunObserver } from './observer.js';
import { describeSelector, matchesSelector, measureClockOffset, Roster } from './roster.js';
import { executeStep } from './step-executor.js';
import { SeriesTap } from './thresholds.js';

export interface RunDependencies {
  client: ProtocolClient;
  store: Store;
  log: Logger;
  observer: RunObserver;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  /** Default sampling interval of a tracer (from its manifest), ms. */
  defaultIntervalMs(tracer: string): number;
  /** How long to wait for the selected agents to be online. */
  agentWaitMs?: number;
  /** How long to wait for each tracer to acknowledge start or stop. */
  ackTimeoutMs?: number;
  /** How long to wait, after stop, for a stream's last batches. */
  drainTimeoutMs?: number;
  /** Agents stop tracers by themselves when the lease is not renewed (a crashed runner). */
  leaseMs?: number;
  /** `fail` (default): a lost agent makes the run exit 3 once it has finished for the others. */
  onAgentLoss?: 'fail' | 'continue';
  /** How long an agent that went offline may take to come back (a broker restart) before it counts as lost. */
  agentRejoinMs?: number;
  /**
   * Every agent there can be, when that is known (the all-in-one run's in-process agent):
   * once they are online, a selector none of them matches fails at once.
   */
  onlyAgents?: readonly string[];
}

interface ActiveStream {
  agent: string;
  stream: string;
  tracer: string;
  step: string | null;
  /** Totals from the agent's stop reply. */
  reported?: { samples?: number; batches?: number };
  error?: string;
}

/**
 * A sink that counts what passes through it, for the data-loss accounting. It takes encoded
 * records when the writer does (EncodedSink), so the runner's fast path reaches the store.
 */
function countingSink(writer: RunWriter): SampleSink & Partial<EncodedSink> & { readonly count: number } {
  let count = 0;
  return {
    get count() {
      return count;
    },
    write(samples: Sample[]) {
      count += samples.length;
      writer.write(samples);
    },
    writeEncoded: takesEncoded(writer)
      ? (batch: EncodedRecords) => {
          count += batch.lines + batch.dropped;
          writer.writeEncoded(batch);
        }
      : undefined,
    flush: () => writer.flush(),
  };
}

/**
 * One run, start to end: wait for agents, measure their clocks, then per step start the
 * tracers (barrier), run the workload, stop the tracers and wait for their last batches.
 * Always stores a record, also when interrupted or failing.
 */
export interface RunOutcome {
  record: RunRecord;
  /** Where the run is stored (a directory or a URL). */
  location: string;
}

export async function executeRun(loaded: LoadedScenario, deps: RunDependencies): Promise<RunOutcome> {
  const { client, log, observer, signal } = deps;
  const scenario = loaded.scenario;
  const runId = newRunId();
  const writer = await deps.store.createRun(runId);
  const sink = countingSink(writer);
  const record: RunRecord = {
    format: 1,
    id: runId,
    status: 'running',
    exitCode: ExitCode.Ok,
    scenario: {
      name: scenario.name,
      file: loaded.file,
      source: loaded.source,
      rendered: scenario,
      args: loaded.args,
    },
    startedAt: new Date().toISOString(),
    scalpelsVersion,
    host: hostname(),
    agents: [],
    steps: [],
    streams: [],
    data: { produced: 0, written: 0, spooled: 0, lost: 0 },
    tags: [],
  };
  await writer.saveRecord(record);
  observer.runStarted?.({
    id: runId,
    scenario: scenario.name,
    steps: scenario.steps.length,
    location: writer.location,
  });

  const roster = new Roster(client);
  const offsets = new Map<string, number>();
  // The tap keeps the tracer samples that step thresholds name (see thresholds.ts).
  const tap = new SeriesTap();
  const collector = new Collector(client, runId, tap.wrap(sink), log, offsets);
  const commands = agentCommands(client, roster, runId);
  const runScope = runActionScope(loaded, runId, sink, log, observer, commands);
  const streams: ActiveStream[] = [];
  const lost = new Map<string, string>();
  const leaseMs = deps.leaseMs ?? 30_000;
  let leaseTimer: NodeJS.Timeout | undefined;

  const outages = new Map<string, { from: string; to?: string }[]>();
  const involved = new Set<string>();
  roster.onLost = (agent) => {
    if (!involved.has(agent)) return;
    const at = new Date().toISOString();
    outages.set(agent, [...(outages.get(agent) ?? []), { from: at }]);
    observer.note?.(`agent ${agent} went offline at ${at}`);
  };
  roster.onBack = (agent) => {
    if (!involved.has(agent)) return;
    const open = outages.get(agent)?.at(-1);
    if (open && !open.to) open.to = new Date().toISOString();
    observer.note?.(`agent ${agent} is back online`);
  };

  // The runner's own connection. A broker restart shows here: the agents' last wills say
  // nothing then (the broker that would publish them is the one gone), and they are usually
  // back before the runner could see their status change.
  const brokerOutages: BrokerOutage[] = [];
  const onBrokerLost = () => {
    const last = brokerOutages.at(-1);
    if (last && last.to === undefined) return;
    const at = new Date().toISOString();
    brokerOutages.push({ from: at });
    observer.note?.(`lost the broker connection at ${at}; reconnecting`);
  };
  const onBrokerBack = () => {
    const open = brokerOutages.at(-1);
    if (!open || open.to !== undefined) return;
    const to = new Date();
    open.to = to.toISOString();
    open.durationMs = to.getTime() - Date.parse(open.from);
    observer.note?.(`reconnected to the broker after ${formatDuration(open.durationMs)}`);
  };
  client.mqtt.on('offline', onBrokerLost);
  client.mqtt.on('connect', onBrokerBack);

  const request = async (agent: string, draft: RequestDraft) => {
    const reply = await client.request(topics.agentCommands(agent), draft, deps.ackTimeoutMs ?? 15_000);
    if (!reply.ok) throw new RuntimeFailure(`agent ${agent}: ${reply.error?.message ?? 'request refused'}`);
    return reply;
  };

  const startTracers = async (list: TracerUse[] | undefined, step: string | null, prefix: string) => {
    const started = (list ?? []).flatMap((use, i) => {
      const agents = roster.online().filter((a) => matchesSelector(a, use.on));
      const intervalMs =
        use.interval !== undefined ? parseDuration(use.interval) : deps.defaultIntervalMs(use.use);
      return agents.map(async (agent) => {
        const stream = `${prefix}.${i}.${use.use}`;
        const draft: RequestDraft = {
          type: 'start',
          run: runId,
          scenario: scenario.name,
          step,
          stream,
          tracer: use.use,
          params: use.with ?? {},
          intervalMs,
          leaseMs,
        };
        await request(agent.name, draft);
        streams.push({ agent: agent.name, stream, tracer: use.use, step });
      });
    });
    // The barrier: the workload starts only once every tracer has said it is running.
    const results = await Promise.allSettled(started);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  };

  // Run-level streams sample at every step boundary: a step shorter than their interval
  // still has their samples inside it. A failed mark costs a sample, never the run.
  const markRunTracers = async () => {
    // An agent known offline is not asked: it cannot answer, and waiting out the ack timeout
    // at a step boundary would stretch the step (its duration and throughput) by as much.
    const agents = [
      ...new Set(
        streams.filter((s) => s.step === null && !s.reported && roster.isOnline(s.agent)).map((s) => s.agent),
      ),
    ];
    await Promise.all(
      agents.map((agent) =>
        request(agent, { type: 'mark', run: runId }).catch((err) =>
          log.debug('mark failed', { agent, error: errorMessage(err) }),
        ),
      ),
    );
  };

  const stopTracers = async (which: (s: ActiveStream) => boolean) => {
    const mine = streams.filter((s) => which(s) && s.reported === undefined && s.error === undefined);
    await Promise.all(
      mine.map(async (s) => {
        // An offline agent may be reconnecting (a broker restart, a network cut): it has
        // agentRejoinMs from when it went offline to come back, once, not per request.
        const rejoinMs = deps.agentRejoinMs ?? 10_000;
        const offlineFor = Date.now() - (roster.offlineSince(s.agent) ?? Date.now());
        if (!(await roster.waitOnline(s.agent, Math.max(0, rejoinMs - offlineFor)))) {
          s.error = `agent ${s.agent} was lost`;
          return;
        }
        try {
          const reply = await request(s.agent, { type: 'stop', run: runId, stream: s.stream });
          s.reported = reply.result ?? {};
        } catch (err) {
          s.error = errorMessage(err);
        }
      }),
    );
    const reachable = mine.filter((s) => s.reported !== undefined);
    for (const s of reachable) collector.expect(s.agent, s.stream, s.reported!);
    const keys = reachable.map((s) => `${s.agent}/${s.stream}`);
    const drainMs = deps.drainTimeoutMs ?? 10_000;
    if (await collector.waitComplete(keys, Math.min(3000, drainMs))) return;
    // Completeness is proven end to end: fetch what went missing on the way from the agent's archive.
    await Promise.all(
      reachable.map(async (s) => {
        const seqs = collector.missing(s.agent, s.stream);
        if (seqs.length === 0) return;
        observer.note?.(
          `asking ${s.agent} to resend ${seqs.length} batch${seqs.length > 1 ? 'es' : ''} of ${s.stream}`,
        );
        await request(s.agent, { type: 'resend', run: runId, stream: s.stream, seqs }).catch((err) =>
          log.warn('resend failed', { agent: s.agent, stream: s.stream, error: errorMessage(err) }),
        );
      }),
    );
    await collector.waitComplete(keys, drainMs);
  };

  try {
    await roster.start();
    await collector.start();
    const actions = agentActionsOf(scenario);
    const selectors: (AgentSelector | undefined)[] = [
      ...[...(scenario.tracers ?? []), ...scenario.steps.flatMap((s) => s.tracers ?? [])].map((t) => t.on),
      ...actions.map((a) => a.action.on),
    ];
    // A run without tracers or agent actions needs no agent: it runs its workload alone.
    if (selectors.length > 0) {
      observer.note?.('waiting for agents');
      await roster.waitFor(selectors, deps.agentWaitMs ?? 30_000, deps.onlyAgents);
    }
    preflight(
      roster,
      scenario.tracers ?? [],
      scenario.steps.flatMap((s) => s.tracers ?? []),
      actions,
    );
    // The run's agents are those its tracers and actions select: on a shared broker, other
    // runners' agents come and go, and must neither be pinged nor counted as lost.
    for (const agent of roster.online().filter((a) => selectors.some((sel) => matchesSelector(a, sel)))) {
      involved.add(agent.name);
      const clockOffsetMs = await measureClockOffset(client, agent.name);
      offsets.set(agent.name, clockOffsetMs);
      record.agents.push({
        name: agent.name,
        host: agent.host,
        labels: agent.labels,
        version: agent.version,
        clockOffsetMs,
      });
    }
    leaseTimer = setInterval(() => {
      for (const agent of record.agents) {
        if (!roster.isOnline(agent.name)) continue;
        void request(agent.name, { type: 'renew', run: runId, leaseMs }).catch(() => {});
      }
    }, leaseMs / 3);

    await runScope.setup(scenario.setup, signal);
    await startTracers(scenario.tracers, null, 'run');
    for (const [index, step] of scenario.steps.entries()) {
      // A step aborted by an abort_on_fail threshold ends the run, as in k6.
      if (signal.aborted || record.steps.at(-1)?.aborted) break;
      await startTracers(step.tracers, step.name, `step${index}`);
      try {
        const drainTracers = () => stopTracers((s) => s.step === step.name);
        const markTracers = () => markRunTracers();
        record.steps.push(
          await executeStep(step, index, {
            loaded,
            runId,
            sink,
            log,
            observer,
            signal,
            tap,
            drainTracers,
            markTracers,
            agents: commands,
          }),
        );
      } finally {
        await stopTracers((s) => s.step === step.name);
      }
      await writer.saveRecord(record);
    }
    record.status = signal.aborted
      ? 'interrupted'
      : record.steps.some((s) => s.sla.some((r) => !r.success))
        ? 'failed'
        : 'passed';
  } catch (err) {
    record.status = signal.aborted ? 'interrupted' : 'error';
    record.error = errorMessage(err);
    log.debug('run failed', { error: err instanceof Error ? err.stack : String(err) });
  } finally {
    clearInterval(leaseTimer);
    await stopTracers(() => true).catch((err) =>
      log.warn('stopping tracers failed', { error: errorMessage(err) }),
    );
    // Interrupted: an action still running on an agent (a fault injection) must not run on to
    // its own timeout. stop-run kills the run's commands; its tracers are stopped already.
    if (signal.aborted) {
      await Promise.allSettled(
        [...involved]
          .filter((agent) => roster.isOnline(agent))
          .map((agent) =>
            client.request(topics.agentCommands(agent), { type: 'stop-run', run: runId }, 2_000),
          ),
      );
    }
    // Teardown always runs: after failures, aborts and Ctrl-C.
    await runScope.teardown(scenario.teardown);
    if (runScope.records.length > 0) record.hooks = runScope.records;
    await collector.stop().catch(() => {});
    client.mqtt.off('offline', onBrokerLost);
    client.mqtt.off('connect', onBrokerBack);
  }
  if (brokerOutages.length > 0) record.brokerOutages = brokerOutages;

  for (const agent of record.agents) {
    const agentOutages = outages.get(agent.name);
    if (!agentOutages) continue;
    agent.outages = agentOutages;
    // Lost: gone, and not back by the end of the run.
    const last = agentOutages[agentOutages.length - 1];
    if (!last.to) lost.set(agent.name, last.from);
    agent.lost = lost.get(agent.name);
  }
  record.streams = streams.map((s): StreamRecord => {
    const tally = collector.tally(s.agent, s.stream);
    return {
      stream: s.stream,
      tracer: s.tracer,
      agent: s.agent,
      step: s.step,
      samples: tally.samples,
      batches: tally.batches,
      complete: tally.complete && s.error === undefined,
      error: s.error ?? tally.error,
    };
  });
  if (lost.size > 0 && record.status !== 'interrupted' && (deps.onAgentLoss ?? 'fail') === 'fail') {
    record.status = 'error';
    record.error ??= `agent${lost.size > 1 ? 's' : ''} lost during the run: ${[...lost.keys()].join(', ')}`;
  }
  await finishData(record, sink, writer, streams, log);
  record.endedAt = new Date().toISOString();
  record.exitCode = exitCodeOf(record);
  await writer.saveRecord(record);
  await writer.close();
  observer.runEnded?.(record);
  return { record, location: writer.location };
}

/** The `command:` actions of a scenario (setup, teardown, hooks), with where they are, for messages. */
function agentActionsOf(scenario: Scenario): { where: string; action: AgentAction }[] {
  const found: { where: string; action: AgentAction }[] = [];
  const add = (where: string, list: readonly ActionSpec[] | undefined) => {
    for (const [i, action] of (list ?? []).entries())
      if (isAgentAction(action)) found.push({ where: `${where}[${i}]`, action });
  };
  add('setup', scenario.setup);
  add('teardown', scenario.teardown);
  for (const step of scenario.steps) {
    add(`step ${step.name} setup`, step.setup);
    add(`step ${step.name} teardown`, step.teardown);
    add(
      `step ${step.name} hooks`,
      (step.hooks ?? []).map((h) => h.action),
    );
  }
  return found;
}

/**
 * Every tracer must be runnable on every agent it selects, and every action on agents must
 * select one: checked before anything starts. (Whether an agent has the action's catalog
 * entry is the agent's own business, and a refusal is recorded when the action runs.)
 */
function preflight(
  roster: Roster,
  runTracers: TracerUse[],
  stepTracers: TracerUse[],
  actions: { where: string; action: AgentAction }[] = [],
): void {
  const problems: string[] = [];
  for (const { where, action } of actions) {
    if (!roster.online().some((a) => matchesSelector(a, action.on)))
      problems.push(
        `${where}: command ${action.command}: no online agent matches ${describeSelector(action.on)}`,
      );
  }
  for (const use of [...runTracers, ...stepTracers]) {
    const agents = roster.online().filter((a) => matchesSelector(a, use.on));
    if (agents.length === 0)
      problems.push(`tracer ${use.use}: no online agent matches ${describeSelector(use.on)}`);
    for (const agent of agents) {
      const entry = agent.tracers.find((t) => t.name === use.use);
      if (!entry) problems.push(`agent ${agent.name} has no tracer "${use.use}" in its catalog`);
      else if (!entry.available)
        problems.push(`agent ${agent.name} cannot run tracer ${use.use}: ${entry.reason}`);
    }
  }
  if (problems.length) throw new RuntimeFailure([...new Set(problems)].join('; '));
}

async function finishData(
  record: RunRecord,
  sink: ReturnType<typeof countingSink>,
  writer: RunWriter,
  streams: ActiveStream[],
  log: Logger,
) {
  // Produced: what the runner wrote itself (iterations, step marks) plus what each agent says it sent.
  const fromAgents = record.streams.reduce((n, s, i) => n + (streams[i].reported?.samples ?? s.samples), 0);
  const received = record.streams.reduce((n, s) => n + s.samples, 0);
  const own = sink.count - received;
  const produced = own + fromAgents;
  // The writer knows what reached the store and what waits in a spool (InfluxDB down);
  // whatever is in neither is lost, and only then does the summary say so.
  const account = (fallback: { written: number; spooled: number }) => {
    const { written, spooled } = writer.stats?.() ?? fallback;
    record.data = { produced, written, spooled, lost: Math.max(0, produced - written - spooled) };
  };
  try {
    await writer.flush();
    account({ written: sink.count, spooled: 0 });
  } catch (err) {
    log.error('the store failed', { error: errorMessage(err) });
    account({ written: 0, spooled: 0 });
    record.status = 'error';
    record.error ??= `the store failed: ${errorMessage(err)}`;
  }
}

export function exitCodeOf(record: Pick<RunRecord, 'status'>): number {
  switch (record.status) {
    case 'passed':
      return ExitCode.Ok;
    case 'failed':
      return ExitCode.GateFailed;
    case 'interrupted':
      return ExitCode.Interrupted;
    default:
      return ExitCode.RuntimeFailure;
  }
}

export type { AgentRecord };
