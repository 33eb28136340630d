import { Args, Flags } from '@oclif/core';
import { gateFlags, htmlFlags, numberFlag, renderCompareText, writeGateOutputs } from '../cli/after-run.js';
import { BaseCommand } from '../cli/base-command.js';
import { storeFlags } from '../cli/flags.js';
import { openStore } from '../cli/store-factory.js';
import { ExitCode, InputError } from '../core/errors.js';
import { compareStored, renderReport, resolveRecords, writeOutput } from '../report/api.js';
import { compareResultJson } from '../report/compare-result.js';

export default class Compare extends BaseCommand {
  static summary = 'Compare runs against a baseline and apply gates: the CI check.';
  static description =
    `The first run is the baseline; every other run is compared with it, step by step (steps matched by name). Iteration durations are classified better / worse / no significant change with a Mann-Whitney U test, and the median's relative change gets a bootstrap 95 % interval (10 000 resamples, fixed seed: reproducible).

A gate "<metric>:<aggregation>:<+|-><n>[%]" fails when the change is beyond its tolerance in its direction ("+": an increase fails) and, for durations, the Mann-Whitney test says the change is significant. Without --gate, the gates come from the scenario's compare.gates.

Exit codes: 0 every gate passed (or no gates); 1 a gate failed; 2 invalid input (unknown run or step, bad gate); 3 the store could not be read.`;
  static examples = [
    '<%= config.bin %> compare baseline latest --gate "duration:p(95):+10%"',
    '<%= config.bin %> compare baseline latest --gate "duration:med:+5%" --step boot --junit gate.xml --markdown gate.md',
    '<%= config.bin %> compare baseline latest~1 latest --gate "procstat.cpu_usage{process_name=uwsgi}:avg:+15%" --json',
  ];
  static args = {
    baseline: Args.string({
      description: 'The baseline run (id, unique id prefix, tag, latest, latest~N).',
      required: true,
    }),
    runs: Args.string({ description: 'Runs to compare with the baseline (one or more).', multiple: true }),
  };
  static flags = {
    ...storeFlags,
    ...gateFlags,
    json: Flags.boolean({ description: 'Print the comparison as JSON on stdout instead of text.' }),
    html: Flags.string({ description: 'Also write the HTML comparison report.', helpValue: 'file' }),
    templates: htmlFlags.templates,
    'allow-different-scenarios': Flags.boolean({
      description: 'Apply the gates to runs of different scenarios (steps matched by name).',
    }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Compare);
    const refs = argv as string[];
    if (refs.length < 2)
      throw new InputError('compare needs a baseline and at least one run to compare with it');
    const alpha = numberFlag('alpha', flags.alpha, 0, 1);
    const store = openStore(flags);
    const records = await resolveRecords(store, refs);
    const { result, runs } = await compareStored(store, records, {
      gates: flags.gate,
      steps: flags.step,
      alpha,
      allowDifferentScenarios: flags['allow-different-scenarios'],
    });
    const written = await writeGateOutputs(result, flags);
    if (flags.html) {
      const { html } = renderReport(runs, { templatesDir: flags.templates, alpha, gates: result.gates });
      written.push(await writeOutput(flags.html, html));
    }
    if (flags.json) this.log(compareResultJson(result));
    else {
      this.log(renderCompareText(result));
      for (const path of written) this.log(`Wrote ${path}`);
    }
    if (!result.passed) this.exit(ExitCode.GateFailed);
  }
}
