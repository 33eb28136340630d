import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { brokerFlags, brokerOptions, requiredBrokerFlag, sharedSecret } from '../cli/broker-flags.js';
import { durationFlag } from '../cli/flags.js';
import { table } from '../cli/table.js';
import { createLogger } from '../core/logger.js';
import { measureClockOffset, Roster } from '../orchestrator/roster.js';
import { ProtocolClient, uniqueClientId } from '../protocol/client.js';

export default class Agents extends BaseCommand {
  static summary =
    'List the agents a broker knows: online or offline, labels, tracers, version, clock offset.';
  static examples = [
    '<%= config.bin %> agents --broker mqtt://127.0.0.1:1883',
    '<%= config.bin %> agents --broker mqtts://broker:8883 --secret-file /etc/scalpels/secret --json',
  ];
  static flags = {
    ...brokerFlags,
    broker: requiredBrokerFlag,
    json: Flags.boolean({ description: 'Print the agents as JSON.' }),
    wait: Flags.string({
      description: 'How long to collect the retained statuses (a bare number is milliseconds).',
      default: '1s',
      helpValue: 'duration',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Agents);
    // Before durations were written like the other flags', --wait took milliseconds.
    const waitMs = durationFlag('--wait', /^\s*\d+\s*$/.test(flags.wait) ? `${flags.wait}ms` : flags.wait);
    const log = createLogger({ level: flags.debug ? 'debug' : 'error' });
    const client = await ProtocolClient.connect({
      ...brokerOptions(flags, flags.broker),
      clientId: uniqueClientId('agents'),
      log,
      secret: sharedSecret(flags),
    });
    try {
      const roster = new Roster(client);
      await roster.start();
      await new Promise((r) => setTimeout(r, waitMs));
      const agents = await Promise.all(
        roster.all().map(async ({ info, online }) => ({
          ...info,
          online,
          clockOffsetMs: online
            ? await measureClockOffset(client, info.name, 3).catch(() => undefined)
            : undefined,
        })),
      );
      if (flags.json) {
        this.log(JSON.stringify(agents, null, 2));
        return;
      }
      if (agents.length === 0) {
        this.log('No agents have announced themselves on this broker.');
        return;
      }
      this.log(
        table(
          ['Agent', 'Status', 'Host', 'Labels', 'Version', 'Clock offset', 'Tracers'],
          agents.map((a) => [
            a.name,
            a.online ? 'online' : 'offline',
            a.host,
            Object.entries(a.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(',') || '-',
            a.version,
            a.clockOffsetMs === undefined ? '-' : `${a.clockOffsetMs.toFixed(1)}ms`,
            `${a.tracers.filter((t) => t.available).length}/${a.tracers.length} available`,
          ]),
        ),
      );
    } finally {
      await client.close();
    }
  }
}
