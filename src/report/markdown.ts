/**
 * A Markdown summary of a comparison for pull requests and CI job summaries (GitHub's
 * $GITHUB_STEP_SUMMARY, GitLab notes): GitHub-flavored tables, no HTML.
 */
import { type CompareResult, gateSummary } from './compare-result.js';
import { formatChange, formatGateValue, formatP } from './gates.js';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

const ms = (v: number | undefined) => formatGateValue(v, 'ms');

const VERDICT: Record<string, string> = {
  better: '🟢 better',
  worse: '🔴 worse',
  same: '⚪ no significant change',
  'n/a': 'n/a',
};

/** Renders a comparison as Markdown. */
export function renderMarkdown(result: CompareResult): string {
  const out: string[] = [];
  const summary = gateSummary(result).replace(/\.$/, '');
  const status =
    result.gates.length === 0
      ? 'no gates'
      : result.problems.length > 0
        ? '❌ gates not passed'
        : `${result.passed ? '✅' : '❌'} ${summary}`;
  out.push(`### Scalpels: ${cell(result.scenarios.join(' vs '))} (${status})`, '');
  if (result.problems.length > 0) out.push(`**${cell(summary)}.**`, '');
  out.push(`Baseline \`${result.baseline}\` vs ${result.candidates.map((c) => `\`${c}\``).join(', ')}.`, '');
  if (result.gates.length) {
    out.push('| Step | Gate | Run | Baseline | Candidate | Change | p | Result |');
    out.push('| --- | --- | --- | ---: | ---: | ---: | ---: | --- |');
    for (const g of result.gates) {
      const relative = g.gate.trim().endsWith('%');
      out.push(
        `| ${cell(g.step)} | \`${cell(g.gate)}\` | \`${g.candidateRun}\` | ${formatGateValue(g.baseline, g.unit)} | ${formatGateValue(g.candidate, g.unit)} | ${g.change === undefined ? '–' : formatChange(g.change, relative)} | ${g.pValue === undefined ? '–' : formatP(g.pValue)} | ${g.status === 'fail' ? '❌ fail' : g.status === 'pass' ? '✅ pass' : '⏭ skipped'}: ${cell(g.reason)} |`,
      );
    }
    out.push('');
  }
  out.push('| Step | Run | Iterations | Failures | Median | p95 | Median change (95 % CI) | p | Verdict |');
  out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const s of result.steps) {
    if (s.baseline) {
      out.push(
        `| ${cell(s.name)} | \`${result.baseline}\` (baseline) | ${s.baseline.iterations} | ${s.baseline.failures} | ${ms(s.baseline.median)} | ${ms(s.baseline.p95)} | | | |`,
      );
    }
    for (const c of s.candidates) {
      if (!c) continue;
      const change = Number.isFinite(c.medianChange)
        ? `${formatChange(c.medianChange * 100, true)}${Number.isFinite(c.ciLow) ? ` [${formatChange(c.ciLow * 100, true)}, ${formatChange(c.ciHigh * 100, true)}]` : ''}`
        : '–';
      out.push(
        `| ${cell(s.name)} | \`${c.run}\` | ${c.iterations} | ${c.failures} | ${ms(c.median)} | ${ms(c.p95)} | ${change} | ${Number.isFinite(c.pValue) ? formatP(c.pValue) : '–'} | ${VERDICT[c.verdict]} |`,
      );
    }
  }
  if (result.unmatched.length) {
    out.push(
      '',
      `Unmatched steps: ${result.unmatched.map((u) => `${cell(u.name)} (missing from ${u.missingFrom.map((m) => `\`${m}\``).join(', ')})`).join('; ')}.`,
    );
  }
  out.push(
    '',
    `_Mann-Whitney U, two-sided, alpha ${result.alpha}; bootstrap ${result.bootstrap.resamples} resamples, seed ${result.bootstrap.seed}. A gate fails when beyond its tolerance and, for durations, significant._`,
    '',
  );
  return out.join('\n');
}
