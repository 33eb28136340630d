import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * Validation of plugin parameters (tracers, workloads) against their JSON Schema. Used by
 * the agent (which never trusts the runner) and by the step executor, which fills defaults.
 */
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const cache = new WeakMap<object, ValidateFunction>();

export function compileParams(schema: Record<string, unknown>): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}

/** Validates (and fills defaults into) a copy of `params`; returns it, or the errors. */
export function checkParams(
  schema: Record<string, unknown>,
  params: unknown,
): { ok: true; value: Record<string, unknown> } | { ok: false; errors: ErrorObject[] } {
  const value = structuredClone(params ?? {}) as Record<string, unknown>;
  const validate = compileParams(schema);
  return validate(value) ? { ok: true, value } : { ok: false, errors: validate.errors ?? [] };
}

export function describeAjvError(e: ErrorObject): string {
  const at = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : '';
  if (e.keyword === 'additionalProperties')
    return `unknown parameter "${(e.params as { additionalProperty: string }).additionalProperty}"${at ? ` in ${at}` : ''}`;
  if (e.keyword === 'required')
    return `missing parameter "${(e.params as { missingProperty: string }).missingProperty}"${at ? ` in ${at}` : ''}`;
  return `${at || 'params'} ${e.message}`;
}
