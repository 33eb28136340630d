import { Flags } from '@oclif/core';
import {
  DEFAULT_COMMANDS_DIR,
  loadOperatorCatalog,
  type OperatorCatalog,
} from '../tracers/operator-catalog.js';

/**
 * Flags that let an agent run entries of its node's own command catalog: `agent` takes them
 * for itself, `run` for its in-process agent (the all-in-one default). Off by default, so an
 * agent runs nothing but its built-in tracers unless the operator of the node says so.
 */
export const commandCatalogFlags = {
  'allow-commands': Flags.boolean({
    description:
      "Let the command tracer and hook, setup and teardown actions run entries of this node's own command catalog (never a command line from a message).",
  }),
  'commands-dir': Flags.string({
    description: `Command catalog directory (*.yaml); default ${DEFAULT_COMMANDS_DIR}.`,
    helpValue: 'dir',
    dependsOn: ['allow-commands'],
  }),
};

/** The catalog the flags ask for, or undefined without --allow-commands. */
export async function catalogFromFlags(flags: {
  'allow-commands'?: boolean;
  'commands-dir'?: string;
}): Promise<OperatorCatalog | undefined> {
  if (!flags['allow-commands']) return undefined;
  // A directory named on the command line must exist; the default one may be absent (empty catalog).
  return loadOperatorCatalog(flags['commands-dir'] ?? DEFAULT_COMMANDS_DIR, {
    mustExist: flags['commands-dir'] !== undefined,
  });
}
