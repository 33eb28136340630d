import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, parse } from 'yaml';
import { InputError, systemErrorText } from '../core/errors.js';
import { schemasDir } from '../core/paths.js';
import { didYouMean } from '../core/registry.js';
import type { MeasurementSpec } from '../tracers/manifest.js';
import { parseArgFlag, renderArgs } from './render.js';
import { checkSemantics } from './semantics.js';
import { type PathSegment, ScenarioError, type ScenarioIssue, ScenarioSource } from './source.js';
import type { LoadedScenario, Scenario, TracerUse } from './types.js';

/** What scenario validation needs to know of the plugins: their names and parameter schemas. */
export interface PluginSchemas {
  /** "tracer" or "workload", for messages. */
  kind: string;
  names(): string[];
  params(name: string): Record<string, unknown> | undefined;
  /** Tracers: the measurements the tracer writes (its manifest's `measurements:`), for threshold checks. */
  measurements?(name: string): MeasurementSpec[] | undefined;
  /** Workloads: the atomic actions it reports with these params (see WorkloadDefinition.actions). */
  actions?(name: string, params: Record<string, unknown> | undefined): string[] | 'any';
  /** Workloads: checks beyond the schema (see WorkloadDefinition.check); paths are relative to `with:`. */
  check?(
    name: string,
    params: Record<string, unknown>,
    ctx: { baseDir: string },
  ): { path: PathSegment[]; message: string }[];
}

export interface LoadOptions {
  tracers: PluginSchemas;
  workloads: PluginSchemas;
  /** `--arg k=v` flags, applied after the args file. */
  argFlags?: string[];
  /** `--args-file` path: a YAML mapping of arg values. */
  argsFile?: string;
}

export const scenarioSchema: Record<string, unknown> = JSON.parse(
  readFileSync(join(schemasDir, 'scenario.schema.json'), 'utf8'),
);

// verbose: the error's parentSchema gives the allowed keys for "did you mean".
const ajv = new Ajv({ allErrors: true, verbose: true, discriminator: true, strict: false });
const validateScenario = ajv.compile(scenarioSchema);

/** Reads, renders and validates a scenario file; throws ScenarioError listing every issue. */
export function loadScenarioFile(file: string, options: LoadOptions): LoadedScenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read scenario ${file}: ${systemErrorText(err)}`);
  }
  return loadScenario(file, text, options);
}

export function loadScenario(file: string, text: string, options: LoadOptions): LoadedScenario {
  const source = new ScenarioSource(file, text);
  const args = resolveArgs(source, options);
  const issues = renderArgs(source, args);
  if (issues.length) throw new ScenarioError(file, issues);

  const rendered = source.doc.toJS() as Scenario;
  if (!validateScenario(rendered)) {
    throw new ScenarioError(file, schemaIssues(source, validateScenario.errors ?? []));
  }
  const pluginIssues = checkPlugins(source, rendered, options);
  if (pluginIssues.length) throw new ScenarioError(file, pluginIssues);
  const stepNames = new Set<string>();
  rendered.steps.forEach((step, i) => {
    if (stepNames.has(step.name))
      pluginIssues.push(source.issue(['steps', i, 'name'], `duplicate step name "${step.name}"`));
    stepNames.add(step.name);
  });
  if (pluginIssues.length) throw new ScenarioError(file, pluginIssues);
  const semanticIssues = checkSemantics(source, rendered, options);
  if (semanticIssues.length) throw new ScenarioError(file, semanticIssues);
  return { file, source: text, args, scenario: rendered };
}

function resolveArgs(source: ScenarioSource, options: LoadOptions): Record<string, unknown> {
  const declared = source.doc.get('args');
  const args: Record<string, unknown> = isMap(declared) ? (declared.toJSON() as Record<string, unknown>) : {};
  const overrides: [string, unknown, string][] = [];
  if (options.argsFile) {
    let fromFile: unknown;
    try {
      fromFile = parse(readFileSync(options.argsFile, 'utf8'));
    } catch (err) {
      throw new InputError(
        `cannot read --args-file ${options.argsFile}: ${(err as Error).message.split('\n')[0]}`,
      );
    }
    if (fromFile !== null && (typeof fromFile !== 'object' || Array.isArray(fromFile))) {
      throw new InputError(`--args-file ${options.argsFile}: expected a mapping of arg names to values`);
    }
    for (const [k, v] of Object.entries(fromFile ?? {}))
      overrides.push([k, v, `--args-file ${options.argsFile}`]);
  }
  for (const flag of options.argFlags ?? []) {
    const [k, v] = parseArgFlag(flag);
    overrides.push([k, v, `--arg ${flag}`]);
  }
  for (const [name, value, origin] of overrides) {
    if (!(name in args)) {
      const hint = didYouMean(name, Object.keys(args));
      throw new InputError(
        `${origin}: the scenario declares no arg "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; declared: ${Object.keys(args).join(', ') || 'none'}`,
      );
    }
    args[name] = value;
  }
  return args;
}

/** JSON pointer (`/steps/0/runner`) → path segments. */
function pointerToPath(pointer: string): PathSegment[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Turns ajv errors into one clear sentence each, placed in the file. Errors of the same
 * place are collapsed: a user wants the first problem at a spot, not ajv's whole reasoning.
 */
export function schemaIssues(
  source: ScenarioSource,
  errors: ErrorObject[],
  prefix: PathSegment[] = [],
): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  const seen = new Set<string>();
  // A oneOf that says in words what it expects (x-expect) is reported as that one sentence:
  // the errors of its branches ("missing exec", "missing command") would only confuse.
  const wordedOneOfs = errors
    .filter((e) => e.keyword === 'oneOf' && (e.parentSchema as Record<string, unknown>)?.['x-expect'])
    .map((e) => ({ at: e.instancePath, branches: `${e.schemaPath}/` }));
  const shown = errors.filter(
    (e) => !wordedOneOfs.some((o) => e.instancePath === o.at && e.schemaPath.startsWith(o.branches)),
  );
  for (const e of shown) {
    const path = [...prefix, ...pointerToPath(e.instancePath)];
    const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
    let issue: ScenarioIssue;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        const allowed = Object.keys((parent.properties as object) ?? {});
        const hint = didYouMean(key, allowed);
        issue = source.issue(
          [...path, key],
          `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}; expected one of: ${allowed.join(', ')}`,
          { key: true },
        );
        break;
      }
      case 'required':
        issue = source.issue(
          path,
          `missing required key "${(e.params as { missingProperty: string }).missingProperty}"`,
        );
        break;
      case 'type':
        issue = source.issue(
          path,
          `expected ${parent['x-expect'] ?? (e.params as { type: string }).type}, got ${describeValue(e.data)}`,
        );
        break;
      case 'pattern':
        issue = source.issue(
          path,
          `expected ${parent['x-expect'] ?? `a string matching ${parent.pattern}`}, got ${describeValue(e.data)}`,
        );
        break;
      case 'const':
        issue = source.issue(
          path,
          `expected ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, got ${describeValue(e.data)}`,
        );
        break;
      case 'enum':
        issue = source.issue(
          path,
          `expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(e.data)}`,
        );
        break;
      case 'oneOf':
        issue = source.issue(
          path,
          parent['x-expect'] ? `expected ${parent['x-expect']}` : (e.message ?? 'must match one schema'),
        );
        break;
      case 'discriminator': {
        const tag = (e.params as { tag: string }).tag;
        const options = ((parent.oneOf as { properties: Record<string, { const: string }> }[]) ?? []).map(
          (o) => o.properties[tag].const,
        );
        const given = (e.data as Record<string, unknown>)?.[tag];
        const hint = typeof given === 'string' ? didYouMean(given, options) : undefined;
        issue = source.issue(
          [...path, tag],
          `unknown ${tag} ${describeValue(given)}${hint ? ` (did you mean "${hint}"?)` : ''}; expected one of: ${options.join(', ')}`,
        );
        break;
      }
      default:
        issue = source.issue(
          path,
          `${e.message}${e.data !== undefined && typeof e.data !== 'object' ? `, got ${describeValue(e.data)}` : ''}`,
        );
    }
    const key = `${issue.line}:${issue.col}:${issue.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues.sort((a, b) => a.line - b.line || a.col - b.col);
}

const pluginAjv = new Ajv({ allErrors: true, verbose: true, strict: false });

function checkPlugins(source: ScenarioSource, scenario: Scenario, options: LoadOptions): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  const check = (
    catalog: PluginSchemas,
    use: { use: string; with?: Record<string, unknown> },
    path: PathSegment[],
  ) => {
    const schema = catalog.params(use.use);
    if (!schema) {
      const hint = didYouMean(use.use, catalog.names());
      issues.push(
        source.issue(
          [...path, 'use'],
          `unknown ${catalog.kind} "${use.use}"${hint ? ` (did you mean "${hint}"?)` : ''}; available: ${catalog.names().join(', ')}`,
        ),
      );
      return;
    }
    const validate = pluginAjv.compile(schema);
    if (!validate(structuredClone(use.with ?? {}))) {
      issues.push(...schemaIssues(source, validate.errors ?? [], [...path, 'with']));
    }
  };
  const checkTracers = (list: TracerUse[] | undefined, path: PathSegment[]) => {
    for (const [i, t] of (list ?? []).entries()) check(options.tracers, t, [...path, i]);
  };
  checkTracers(scenario.tracers, ['tracers']);
  scenario.steps.forEach((step, i) => {
    check(options.workloads, step.workload, ['steps', i, 'workload']);
    checkTracers(step.tracers, ['steps', i, 'tracers']);
  });
  return issues;
}
