import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { brokerFlags, brokerOptions, sharedSecret } from '../cli/broker-flags.js';
import { table } from '../cli/table.js';
import { InputError } from '../core/errors.js';
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
    json: Flags.boolean({ description: 'Print the agents as JSON.' }),
    wait: Flags.integer({ description: 'Milliseconds to collect retained statuses.', default: 1000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Agents);
    if (!flags.broker)
      throw new InputError('--broker (or SCALPELS_BROKER) is required: which broker do the agents use?');
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
      await new Promise((r) => setTimeout(r, flags.wait));
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
