import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { tracerSchemas, workloadSchemas } from '../cli/catalog.js';
import { scenarioFlags } from '../cli/flags.js';
import { loadScenarioFile } from '../scenario/load.js';

export default class Validate extends BaseCommand {
  static summary = 'Check a scenario without running it: YAML, args, schema, tracers and workloads.';
  static description =
    'Exits 0 when the scenario is valid, 2 otherwise, with one line per problem in the form file:line:col: path: what was expected.';
  static examples = [
    '<%= config.bin %> validate examples/quickstart.yaml',
    '<%= config.bin %> validate scenario.yaml --arg iterations=100 --print',
  ];
  static args = { scenario: Args.string({ description: 'Scenario YAML file.', required: true }) };
  static flags = {
    ...scenarioFlags,
    print: Flags.boolean({ description: 'Print the scenario as rendered with its args (JSON).' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Validate);
    const loaded = loadScenarioFile(args.scenario, {
      tracers: tracerSchemas,
      workloads: workloadSchemas,
      argFlags: flags.arg,
      argsFile: flags['args-file'],
    });
    if (flags.print) this.log(JSON.stringify(loaded.scenario, null, 2));
    else this.log(`${args.scenario}: valid (${loaded.scenario.steps.length} steps)`);
  }
}
