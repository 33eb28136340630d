import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { renderManifest } from '../../cli/manifest-text.js';
import { InputError } from '../../core/errors.js';
import { didYouMean } from '../../core/registry.js';
import { tracerRegistry } from '../../tracers/index.js';

export default class TracersShow extends BaseCommand {
  static summary = "Show a tracer's manifest as readable docs: parameters, measurements, requirements, cost.";
  static examples = ['<%= config.bin %> tracers show proc', '<%= config.bin %> tracers show process --json'];
  static args = { name: Args.string({ description: 'Tracer name.', required: true }) };
  static flags = { json: Flags.boolean({ description: 'Print the manifest as JSON.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TracersShow);
    const tracer = tracerRegistry.get(args.name);
    if (!tracer) {
      const hint = didYouMean(args.name, tracerRegistry.names());
      throw new InputError(
        `no tracer "${args.name}"${hint ? ` (did you mean "${hint}"?)` : ''}; available: ${tracerRegistry.names().join(', ')}`,
      );
    }
    this.log(flags.json ? JSON.stringify(tracer.manifest, null, 2) : renderManifest(tracer.manifest));
  }
}
