import { Flags } from '@oclif/core';

/** Flags shared by the commands that read a scenario. */
export const scenarioFlags = {
  arg: Flags.string({
    description: 'Set a scenario arg (name=value, value parsed as YAML). Repeatable.',
    multiple: true,
    helpValue: 'name=value',
  }),
  'args-file': Flags.string({ description: 'YAML file of arg values, applied before --arg.', helpValue: 'file.yaml' }),
};

export const storeFlags = {
  'store-dir': Flags.string({
    description: 'Local store directory.',
    env: 'SCALPELS_STORE_DIR',
    default: '.scalpels',
    helpValue: 'dir',
  }),
};
