/**
 * JUnit XML of the gates, as CI servers read it (Jenkins, GitLab, GitHub test reporters):
 * one testsuite per candidate run, one testcase per step × gate. A failed gate is a
 * <failure>, a gate that could not be evaluated (no data in that step) is <skipped>. A candidate
 * that did not finish gets one more testcase, "run status", that fails: the reason its gates
 * cannot pass must show in the CI's test report, not only in the exit code.
 * test/fixtures/junit/junit.xsd is the schema the tests validate against.
 */
import type { CompareResult } from './compare-result.js';
import { formatGateValue, formatP } from './gates.js';

function esc(s: string): string {
  return (
    s
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      // XML 1.0 cannot carry most control characters, even escaped.
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '?')
  );
}

/** Renders the gates of a comparison as JUnit XML. */
export function renderJunit(
  result: CompareResult,
  options: { timestamp?: string; hostname?: string } = {},
): string {
  const timestamp = (options.timestamp ?? new Date().toISOString()).replace(/\.\d+Z$/, '').replace(/Z$/, '');
  const hostname = options.hostname ?? 'localhost';
  const total = result.gates.length + result.problems.length;
  const failures = result.failed + result.problems.length;
  const skipped = result.gates.filter((g) => g.status === 'skipped').length;
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="scalpels compare ${esc(result.scenario)}" tests="${total}" failures="${failures}" errors="0" skipped="${skipped}" time="0">`,
  );
  result.candidates.forEach((cand, i) => {
    const mine = result.gates.filter((g) => g.candidateRun === cand);
    const problem = result.problems.find((p) => p.run === cand);
    const f = mine.filter((g) => g.status === 'fail').length + (problem ? 1 : 0);
    const s = mine.filter((g) => g.status === 'skipped').length;
    out.push(
      `  <testsuite name="${esc(`${result.scenario}: ${cand} vs baseline ${result.baseline}`)}" id="${i}" package="scalpels" tests="${mine.length + (problem ? 1 : 0)}" failures="${f}" errors="0" skipped="${s}" time="0" timestamp="${esc(timestamp)}" hostname="${esc(hostname)}">`,
    );
    out.push('    <properties>');
    out.push(`      <property name="baseline" value="${esc(result.baseline)}"/>`);
    out.push(`      <property name="candidate" value="${esc(cand)}"/>`);
    out.push(`      <property name="alpha" value="${result.alpha}"/>`);
    out.push('    </properties>');
    if (problem) {
      out.push(`    <testcase name="run status" classname="${esc(`scalpels.${result.scenario}`)}" time="0">`);
      out.push(
        `      <failure message="${esc(problem.message)}" type="RunNotFinished">${esc(problem.message)}</failure>`,
      );
      out.push('    </testcase>');
    }
    for (const g of mine) {
      out.push(
        `    <testcase name="${esc(`${g.step}: ${g.gate}`)}" classname="${esc(`scalpels.${result.scenario}.${g.step}`)}" time="0">`,
      );
      const detail = [
        `gate ${g.gate}, step ${g.step}`,
        `baseline ${g.baselineRun}: ${formatGateValue(g.baseline, g.unit)}`,
        `candidate ${g.candidateRun}: ${formatGateValue(g.candidate, g.unit)}`,
        ...(g.pValue !== undefined ? [`Mann-Whitney p = ${formatP(g.pValue)}`] : []),
        g.reason,
      ].join('\n');
      if (g.status === 'fail')
        out.push(`      <failure message="${esc(g.reason)}" type="GateFailed">${esc(detail)}</failure>`);
      else if (g.status === 'skipped') out.push(`      <skipped message="${esc(g.reason)}"/>`);
      out.push(`      <system-out>${esc(detail)}</system-out>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  });
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
