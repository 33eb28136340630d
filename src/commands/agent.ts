import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { Agent } from '../agent/agent.js';
import { localAgentName } from '../cli/all-in-one.js';
import { BaseCommand } from '../cli/base-command.js';
import {
  brokerFlags,
  brokerOptions,
  isLoopbackBroker,
  requiredBrokerFlag,
  sharedSecret,
} from '../cli/broker-flags.js';
import { catalogFromFlags, commandCatalogFlags } from '../cli/command-catalog-flags.js';
import { InputError } from '../core/errors.js';
import { createLogger, type LogLevel } from '../core/logger.js';
import { redactUrl } from '../protocol/client.js';
import { assertTopicName } from '../protocol/topics.js';
import { realTracerContext } from '../tracers/context.js';
import { tracerRegistry } from '../tracers/index.js';

export default class AgentCommand extends BaseCommand {
  static summary =
    'Run an agent on this node: it announces itself and runs tracers on command from a runner.';
  static description =
    `One agent per node. It connects to the broker, publishes a retained status (with a last will that marks it offline), and runs only tracers from its own catalog, with parameters checked against their schemas. With --secret-file it refuses unsigned, forged, stale and replayed commands. Stops cleanly on SIGTERM/SIGINT, stopping every tracer and child process it started.`;
  static examples = [
    '<%= config.bin %> agent --broker mqtt://127.0.0.1:1883',
    '<%= config.bin %> agent --broker mqtts://broker:8883 --name compute-1 --label role=compute --secret-file /etc/scalpels/secret --broker-ca /etc/scalpels/ca.pem',
  ];
  static flags = {
    ...brokerFlags,
    broker: requiredBrokerFlag,
    name: Flags.string({
      description: 'Agent name (the `host` tag of its samples).',
      // Lazy, and described rather than computed for help: the manifest is built on one host
      // and the package installed on others.
      default: async () => localAgentName(),
      defaultHelp: async () => "this host's name",
      helpValue: 'name',
    }),
    label: Flags.string({
      description: 'A label for scenario selectors (`on: { role: compute }`). Repeatable.',
      multiple: true,
      helpValue: 'key=value',
    }),
    insecure: Flags.boolean({ description: 'Allow a non-loopback broker without a shared secret.' }),
    ...commandCatalogFlags,
    'spool-dir': Flags.string({
      description: 'Where data waits while the broker is unreachable.',
      helpValue: 'dir',
    }),
    'log-format': Flags.string({ description: 'Log format.', options: ['json', 'text'], default: 'json' }),
    'log-level': Flags.string({
      description: 'Log level.',
      options: ['debug', 'info', 'warn', 'error'],
      default: 'info',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AgentCommand);
    const name = flags.name;
    try {
      assertTopicName('agent', name);
    } catch (err) {
      throw new InputError(`--name: ${(err as Error).message}`);
    }
    const labels: Record<string, string> = {};
    for (const l of flags.label ?? []) {
      const eq = l.indexOf('=');
      if (eq <= 0) throw new InputError(`--label "${l}" is not of the form key=value`);
      labels[l.slice(0, eq)] = l.slice(eq + 1);
    }
    const broker = brokerOptions(flags, flags.broker);
    const secret = sharedSecret(flags);
    if (!secret && !isLoopbackBroker(flags.broker) && !flags.insecure) {
      throw new InputError(
        `refusing to take commands from ${redactUrl(flags.broker)} without a shared secret: pass --secret-file (or --insecure to accept unsigned commands)`,
      );
    }
    const log = createLogger(
      { format: flags['log-format'] as 'json' | 'text', level: flags['log-level'] as LogLevel },
      { agent: name },
    );
    // Operator-defined commands exist only as files on this node, and only when asked for.
    const operatorCatalog = await catalogFromFlags(flags);
    const agent = new Agent({
      name,
      labels,
      broker,
      secret,
      tracers: tracerRegistry.all(),
      ctx: { ...realTracerContext(log), operatorCatalog },
      log,
      spoolDir: flags['spool-dir'] ?? join(tmpdir(), `scalpels-agent-${name}`),
    });
    await agent.start();
    log.info('ready', {
      broker: redactUrl(flags.broker),
      host: hostname(),
      signed: Boolean(secret),
      labels,
      commands: operatorCatalog?.names() ?? [],
    });
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info('stopping', { signal });
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await agent.stop();
  }
}
