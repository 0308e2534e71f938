/**
 * Accessibility scans for the browser tests: axe-core's engine (the npm
 * devDependency, read from node_modules; nothing is downloaded) is evaluated
 * into the page and run over it, and the scan fails on any violation of
 * impact `serious` or `critical`, listing each with its rule, help text and
 * the elements it found. Lesser findings (moderate, minor) are returned, not
 * failed on. axe reaches into open shadow roots, so the widget is scanned
 * with the host page.
 *
 * Use (any suite; the /docs and / landing-page suites reuse it too):
 *
 *   import { expectAccessible } from './browser/axe';
 *   await page.goto(url);
 *   await expectAccessible(page, 'landing page at 390 px');
 *   // only part of the page, or without a rule the page knowingly breaks:
 *   await expectAccessible(page, 'widget', { include: ['#parley-messenger'], disableRules: ['region'] });
 *
 * The source goes in through `page.evaluate` (DevTools' Runtime.evaluate), so
 * a page's Content-Security-Policy, which would refuse an injected <script>,
 * does not stop it, and the page's own code is not changed. Scan a page at
 * rest: after its animations and the data the test waits for have arrived.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Frame, Page } from 'playwright-core';

/** What a scan failed or passed over, in axe's own terms. */
export interface AxeFinding {
  id: string;
  impact: 'minor' | 'moderate' | 'serious' | 'critical' | null;
  help: string;
  helpUrl: string;
  nodes: { target: unknown[]; html: string; failureSummary?: string }[];
}

export interface AxeOptions {
  /** CSS selectors of the parts to scan (default the whole document). */
  include?: string[];
  exclude?: string[];
  /** axe rule ids to skip, e.g. 'region' on a bare test page; say why at the call. */
  disableRules?: string[];
}

const FAILING = new Set(['serious', 'critical']);

let source: string | undefined;
/** axe.min.js, read once per test file. */
function axeSource(): string {
  source ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  return source;
}

/** Runs axe over the page (or frame) and returns every violation, whatever its impact. */
export async function axeViolations(target: Page | Frame, options: AxeOptions = {}): Promise<AxeFinding[]> {
  if (!(await target.evaluate(() => typeof (window as { axe?: unknown }).axe === 'object'))) await target.evaluate(axeSource());
  return target.evaluate(async ({ include, exclude, disableRules }) => {
    const axe = (window as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: AxeFinding[] }> } }).axe;
    const context = include || exclude ? { include: include ?? [document], exclude: exclude ?? [] } : document;
    const rules = Object.fromEntries((disableRules ?? []).map((id) => [id, { enabled: false }]));
    const result = await axe.run(context, { resultTypes: ['violations'], rules });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target, html: n.html.slice(0, 200), failureSummary: n.failureSummary })),
    }));
  }, options);
}

/** One finding per line block: rule, impact, help, then each element with what is wrong. */
export function describeFindings(findings: AxeFinding[]): string {
  return findings
    .map((f) => [`${f.id} (${f.impact}): ${f.help}`, ...f.nodes.map((n) => `  at ${JSON.stringify(n.target)}: ${n.html}\n    ${(n.failureSummary ?? '').replace(/\n/g, '\n    ')}`)].join('\n'))
    .join('\n');
}

/**
 * Fails (throws, with the list) when axe finds anything serious or critical;
 * `what` names the page and state in the message. Returns the lesser findings.
 */
export async function expectAccessible(target: Page | Frame, what: string, options: AxeOptions = {}): Promise<AxeFinding[]> {
  const findings = await axeViolations(target, options);
  const failing = findings.filter((f) => f.impact && FAILING.has(f.impact));
  if (failing.length) throw new Error(`axe-core found ${failing.length} serious or critical accessibility violation(s) in ${what}:\n${describeFindings(failing)}`);
  return findings;
}
