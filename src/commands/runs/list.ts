import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { storeFlags } from '../../cli/flags.js';
import { openStore } from '../../cli/store-factory.js';
import { table } from '../../cli/table.js';

export default class RunsList extends BaseCommand {
  static summary = 'List stored runs, oldest first.';
  static examples = ['<%= config.bin %> runs list', '<%= config.bin %> runs list --json | jq ".[-1].id"'];
  static flags = { ...storeFlags, json: Flags.boolean({ description: 'Print the runs as JSON.' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(RunsList);
    const runs = await openStore(flags).listRuns();
    if (flags.json) {
      this.log(
        JSON.stringify(
          runs.map((r) => ({
            id: r.id,
            scenario: r.scenario.name,
            status: r.status,
            startedAt: r.startedAt,
            endedAt: r.endedAt,
            tags: r.tags,
          })),
          null,
          2,
        ),
      );
      return;
    }
    if (runs.length === 0) {
      this.log(`No runs in ${flags.influx ? 'this InfluxDB database' : flags['store-dir']}.`);
      return;
    }
    this.log(
      table(
        ['Run', 'Scenario', 'Status', 'Started', 'Steps', 'Tags'],
        runs.map((r) => [
          r.id,
          r.scenario.name,
          r.status,
          r.startedAt,
          String(r.steps.length),
          r.tags.join(','),
        ]),
      ),
    );
  }
}
