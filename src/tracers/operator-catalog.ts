import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { errorMessage, InputError } from '../core/errors.js';
import { resolveProgram } from './child-process.js';

/**
 * The agent's own catalog of operator-defined commands (DESIGN.md §9): YAML files on the
 * agent's node that name the commands the `command` tracer and hook, setup and teardown
 * actions may run there. A scenario names an entry (`with: { name: my-probe }`, or
 * `action: { command: restart-api }`); no message ever carries a command line. The agent
 * loads the catalog only when started with --allow-commands, so an agent without it runs
 * nothing but its built-in tracers.
 *
 * A file holds one or more entries under `commands:`. An entry with a `format` can be a
 * tracer (its output parsed into samples); any entry can be an action (run to completion):
 *
 * ```yaml
 * commands:
 *   vmstat:
 *     description: Memory and CPU every second, as key=value.
 *     argv: [/usr/local/bin/vmstat-kv, "1"]
 *     format: kv
 *     measurement: vmstat
 *   restart-api:
 *     argv: [systemctl, restart, my-api]
 * ```
 */

/** How each stdout line of a command becomes samples. */
export type CommandFormat = 'line-protocol' | 'json' | 'regex' | 'kv';

/** `stream`: started with the step, killed at its end; `interval`: run to completion once per interval. */
export type CommandMode = 'stream' | 'interval';

/** One validated catalog entry. */
export interface OperatorCommand {
  name: string;
  description?: string;
  /** Program and arguments, run without a shell. A bare program name is looked up on PATH. */
  argv: string[];
  /** How the `command` tracer parses its output. An entry without one is an action only (hooks, setup, teardown). */
  format?: CommandFormat;
  mode: CommandMode;
  /** For `regex`: a regular expression with named groups; each group is a tag or a field. */
  regex?: string;
  /** Measurement of json, regex and kv samples; default the entry's name. Line protocol names its own. */
  measurement?: string;
  /** Keys (json, kv) or group names (regex) written as tags; the others are fields. */
  tags?: string[];
  /** Added to the agent's environment. */
  env?: Record<string, string>;
  /** Working directory; default the agent's. */
  cwd?: string;
  /** The file that defined it, for messages. */
  source: string;
}

/**
 * The environment a catalog entry runs with: the agent's own, without its `SCALPELS_*`
 * variables (the broker's password, the shared secret's file), plus the entry's `env`. An
 * action's last output lines travel back over MQTT into the run record, so a command that
 * prints its environment must not publish the agent's credentials. An entry that needs one of
 * them names it in its own `env`.
 */
export function commandEnv(entry: Pick<OperatorCommand, 'env'>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('SCALPELS_')) env[key] = value;
  return { ...env, ...entry.env };
}

/** What a catalog entry runs: its argv with the program resolved on its PATH, and its env. */
export interface PreparedCommand {
  argv: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * Prepares an entry to run, for the command tracer and for actions alike: the environment of
 * {@link commandEnv}, and the program looked up on that environment's PATH. Returns the
 * sentence to report when the program is not found or not executable.
 */
export async function prepareCommand(entry: OperatorCommand): Promise<PreparedCommand | string> {
  const env = commandEnv(entry);
  const program = await resolveProgram(entry.argv[0], env.PATH);
  if (!program)
    return `command "${entry.name}" (${entry.source}): program ${entry.argv[0]} is not found or not executable`;
  return { argv: [program, ...entry.argv.slice(1)], env };
}

/** The loaded catalog. */
export interface OperatorCatalog {
  /** The directories it was read from, for messages. */
  readonly dirs: readonly string[];
  get(name: string): OperatorCommand | undefined;
  /** Every entry name, sorted. */
  names(): string[];
}

/** Where an agent started with --allow-commands looks when no --commands-dir is given. */
export const DEFAULT_COMMANDS_DIR = '/etc/scalpels/commands.d';

/** Entry names: what a scenario writes after `name:`. */
export const COMMAND_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MEASUREMENT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const FORMATS: readonly CommandFormat[] = ['line-protocol', 'json', 'regex', 'kv'];
const MODES: readonly CommandMode[] = ['stream', 'interval'];
const KEYS = new Set(['description', 'argv', 'format', 'mode', 'regex', 'measurement', 'tags', 'env', 'cwd']);

/**
 * Parses and validates one catalog file. Throws an {@link InputError} naming the file, the
 * entry and the problem — the agent refuses to start with a broken catalog rather than
 * discovering it in the middle of a run.
 */
export function parseOperatorCatalogFile(text: string, file: string): OperatorCommand[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid YAML: ${errorMessage(err)}`);
  }
  if (doc === null || doc === undefined) return [];
  if (!isRecord(doc) || !isRecord(doc.commands) || Object.keys(doc).some((k) => k !== 'commands')) {
    throw new InputError(`${file}: expected a mapping with one key, "commands", holding the entries by name`);
  }
  return Object.entries(doc.commands).map(([name, body]) => validateEntry(name, body, file));
}

function validateEntry(name: string, body: unknown, file: string): OperatorCommand {
  const fail = (problem: string): never => {
    throw new InputError(`${file}: command "${name}": ${problem}`);
  };
  if (!COMMAND_NAME.test(name)) fail('the name must be letters, digits, "_", "." or "-"');
  if (!isRecord(body)) return fail('expected a mapping with at least argv');
  const unknown = Object.keys(body).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) fail(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);

  const argv = body.argv;
  if (
    !Array.isArray(argv) ||
    argv.length === 0 ||
    !argv.every((a) => typeof a === 'string' || typeof a === 'number')
  ) {
    fail('argv must be a non-empty list of strings (the program, then its arguments; no shell)');
  }
  const args = (argv as unknown[]).map(String);
  if (args[0] === '') fail('argv[0], the program, is empty');

  const format = body.format;
  if (format !== undefined && (typeof format !== 'string' || !FORMATS.includes(format as CommandFormat))) {
    fail(`format must be one of ${FORMATS.join(', ')}`);
  }
  const mode = body.mode ?? 'stream';
  if (typeof mode !== 'string' || !MODES.includes(mode as CommandMode))
    fail(`mode must be one of ${MODES.join(', ')}`);

  const entry: OperatorCommand = { name, argv: args, mode: mode as CommandMode, source: file };
  if (format !== undefined) entry.format = format as CommandFormat;
  if (body.description !== undefined) {
    if (typeof body.description !== 'string') fail('description must be a string');
    entry.description = body.description as string;
  }
  if (body.regex !== undefined) {
    if (typeof body.regex !== 'string') return fail('regex must be a string');
    let re: RegExp;
    try {
      re = new RegExp(body.regex);
    } catch (err) {
      return fail(`regex does not compile: ${errorMessage(err)}`);
    }
    if (!/\(\?<[A-Za-z_][A-Za-z0-9_]*>/.test(re.source))
      fail('regex needs named groups, e.g. (?<latency>\\d+)');
    entry.regex = body.regex;
  }
  if (entry.format === 'regex' && entry.regex === undefined)
    fail('format regex needs a regex with named groups');
  if (entry.format !== 'regex' && entry.regex !== undefined) fail('regex is only used with format regex');
  if (body.measurement !== undefined) {
    if (typeof body.measurement !== 'string' || !MEASUREMENT_NAME.test(body.measurement)) {
      fail('measurement must be a name of letters, digits, "_", "." or "-"');
    }
    if (entry.format === 'line-protocol') fail('line protocol names its own measurement; drop measurement');
    entry.measurement = body.measurement as string;
  }
  if (body.tags !== undefined) {
    if (!Array.isArray(body.tags) || !body.tags.every((t) => typeof t === 'string' && t !== '')) {
      fail('tags must be a list of key names');
    }
    if (entry.format === 'line-protocol') fail('line protocol carries its own tags; drop tags');
    entry.tags = body.tags as string[];
  }
  if (body.env !== undefined) {
    if (
      !isRecord(body.env) ||
      !Object.values(body.env).every((v) => typeof v === 'string' || typeof v === 'number')
    ) {
      fail('env must map variable names to strings');
    }
    entry.env = Object.fromEntries(
      Object.entries(body.env as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    );
  }
  if (body.cwd !== undefined) {
    if (typeof body.cwd !== 'string' || !body.cwd.startsWith('/')) fail('cwd must be an absolute path');
    entry.cwd = body.cwd as string;
  }
  return entry;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Options of {@link loadOperatorCatalog}. */
export interface LoadCatalogOptions {
  /**
   * Whether a missing directory is an error. True for a directory the operator named
   * (--commands-dir); false for {@link DEFAULT_COMMANDS_DIR}, which simply yields an empty catalog.
   */
  mustExist?: boolean;
}

/**
 * Reads every `*.yaml` / `*.yml` file of `dirs` (sorted by name) into a catalog. Throws an
 * {@link InputError} for an unreadable directory that must exist, a broken file, or a name
 * defined twice.
 */
export async function loadOperatorCatalog(
  dirs: string | readonly string[],
  options: LoadCatalogOptions = {},
): Promise<OperatorCatalog> {
  const list = typeof dirs === 'string' ? [dirs] : [...dirs];
  const entries = new Map<string, OperatorCommand>();
  for (const dir of list) {
    let files: string[];
    try {
      files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
    } catch (err) {
      if (!options.mustExist && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new InputError(`cannot read the commands directory ${dir}: ${errorMessage(err)}`);
    }
    for (const f of files) {
      const file = join(dir, f);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new InputError(`cannot read ${file}: ${errorMessage(err)}`);
      }
      for (const entry of parseOperatorCatalogFile(text, file)) {
        const before = entries.get(entry.name);
        if (before)
          throw new InputError(
            `command "${entry.name}" is defined twice: in ${before.source} and in ${file}`,
          );
        entries.set(entry.name, entry);
      }
    }
  }
  return operatorCatalogOf(entries.values(), list);
}

/** A catalog over entries already validated (for tests and for agents that build their own). */
export function operatorCatalogOf(
  entries: Iterable<OperatorCommand>,
  dirs: readonly string[] = [],
): OperatorCatalog {
  const map = new Map([...entries].map((e) => [e.name, e]));
  return {
    dirs,
    get: (name) => map.get(name),
    names: () => [...map.keys()].sort(),
  };
}
