import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { table } from '../../cli/table.js';
import { createLogger } from '../../core/logger.js';
import { realTracerContext } from '../../tracers/context.js';
import { tracerRegistry } from '../../tracers/index.js';

export default class TracersList extends BaseCommand {
  static summary = 'List the tracer catalog and whether each tracer can run on this node.';
  static examples = ['<%= config.bin %> tracers list', '<%= config.bin %> tracers list --json'];
  static flags = { json: Flags.boolean({ description: 'Print the catalog as JSON.' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(TracersList);
    const ctx = realTracerContext(createLogger({ level: 'error' }));
    const entries = await Promise.all(
      tracerRegistry.all().map(async (t) => {
        const reason = await t.unavailableReason(ctx);
        return { name: t.name, summary: t.manifest.summary, available: reason === undefined, reason };
      }),
    );
    if (flags.json) {
      this.log(JSON.stringify(entries, null, 2));
      return;
    }
    this.log(
      table(
        ['Tracer', 'Available', 'Summary'],
        entries.map((e) => [e.name, e.available ? 'yes' : `no: ${e.reason}`, e.summary]),
      ),
    );
  }
}
