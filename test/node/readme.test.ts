/**
 * The README runs as written (issue 16, point 4). Code blocks carry a marker
 * on the line before their fence:
 *
 *   <!-- run -->              a shell block run, in README order, in one bash
 *                             session (so `$CONV` from one reaches the next)
 *                             against a fresh app on the suite's Parley, with
 *                             the variables `npm start`'s export line sets;
 *                             every curl must exit 0 with a 2xx (`--fail-with-body`)
 *   <!-- run: background -->  a server started in that session and waited for
 *   <!-- run: module … -->    a JS block imported as a module (the webhook
 *                             verify() is checked against a delivery Parley signed)
 *   <!-- file: PATH -->       a block that must equal that file
 *   <!-- not run: why -->     a block not run (installing, deploying, fragments)
 *
 * Every sh/js block of the sections this suite owns (Quick start, Receiving
 * webhooks) carries one; and every curl in the whole README whose URL holds
 * `[` passes `-g`. The one change made to the blocks: the receiver's port
 * 8797 becomes a free one, so parallel runs do not collide.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../../scripts/local.mjs';
import { appWithKey, basicAuth, rest } from './rest';

interface Block {
  lang: string;
  marker: string | undefined;
  code: string;
  section: string;
  line: number;
}

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function blocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const found: Block[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    const fence = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    let before = start - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const marker = /^<!-- (.+?) -->$/.exec(lines[before] ?? '')?.[1];
    found.push({ lang: fence[1]!, marker, code: `${body.join('\n')}\n`, section, line: start + 1 });
  }
  return found;
}

const all = blocks(readme);
const OWNED = ['Quick start', 'Receiving webhooks'];
const base = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));
const work = mkdtempSync(path.join(tmpdir(), 'parley-readme-'));
let group: number | undefined;

afterAll(() => {
  // The background blocks (the receiver) run in the script's process group.
  if (group) {
    try {
      process.kill(-group, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  await new Promise((r) => server.close(r));
  return port;
}

async function until<T>(what: string, probe: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('README code blocks', () => {
  it('marks every shell and JS block of its sections, and a file block equals its file', () => {
    const unmarked = all.filter((b) => OWNED.includes(b.section) && ['sh', 'js'].includes(b.lang) && !b.marker);
    expect(unmarked.map((b) => `README.md:${b.line}`)).toEqual([]);
    const files = all.filter((b) => b.marker?.startsWith('file: '));
    expect(files.map((b) => b.marker)).toContain('file: examples/official-client.mjs');
    for (const b of files) expect(b.code, `README.md:${b.line}`).toBe(readFileSync(path.join(ROOT, b.marker!.slice('file: '.length)), 'utf8'));
    expect(all.filter((b) => b.marker === 'run').length).toBeGreaterThanOrEqual(3);
  });

  it('passes curl -g wherever a URL holds filter[…] or page[…]', () => {
    // A command's URL: a word (quotes aside) that starts with $PARLEY, http(s):// or localhost:, not text inside a JSON body.
    const urls = (command: string) => command.split(/\s+/).map((w) => w.replace(/^["']|["']$/g, '')).filter((w) => /^(\$PARLEY|https?:\/\/|localhost:|127\.0\.0\.1:)/.test(w));
    const commands = readme
      .replace(/\\\n/g, ' ')
      .split('\n')
      .filter((l) => /^\s*(\w+=\$\()?curl\s/.test(l) && urls(l).some((u) => u.includes('[')));
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) expect(command.split(/\s+/), command).toContain('-g');
  });

  it('runs every run block against a fresh app: curls answer 2xx, the ESM example exits 0, the receiver gets a signed event', async () => {
    const { appId } = await appWithKey(base, account, 'readme');
    const key = await rest(base, 'POST', `/v2/apps/${appId}/keys`, account, { displayName: 'readme' });
    const env = { PARLEY: base, APP: appId, KEY: `${key.body.key.id}:${key.body.key.secret}` };
    const receiverPort = await freePort();
    const runnable = all.filter((b) => b.marker === 'run' || b.marker === 'run: background');
    const script = [
      'set -euo pipefail',
      // Any answer but a 2xx/3xx fails the block, body shown.
      'curl() { command curl -sS --fail-with-body "$@"; echo; }',
      ...runnable.map((b, i) => {
        const code = b.code.replaceAll('127.0.0.1:8797', `127.0.0.1:${receiverPort}`);
        if (b.marker === 'run') return `echo "::block README.md:${b.line}::"\n${code}`;
        const log = path.join(work, `background-${i}.log`);
        return `echo "::background README.md:${b.line}::"\n( ${code.trim()} ) > ${log} 2>&1 &\nfor _ in $(seq 150); do grep -qi listening ${log} && break; sleep 0.2; done\ngrep -qi listening ${log} || { cat ${log}; exit 1; }`;
      }),
      'echo "::done::"',
    ].join('\n');
    const file = path.join(work, 'readme.sh');
    writeFileSync(file, script);
    const child = spawn('bash', [file], { cwd: ROOT, env: { ...process.env, ...env, WEBHOOK_RECEIVER_PORT: String(receiverPort) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    group = child.pid;
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const failedAt = [...out.matchAll(/::(?:block|background) (README\.md:\d+)::/g)].at(-1)?.[1];
    expect(code, `the block at ${failedAt} failed:\n${out}`).toBe(0);
    expect(out).toContain('::done::');
    expect(out).toMatch(/Sent message \w+ to conversation \w+; it holds 1 message\(s\)\./);

    const log = path.join(work, `background-${runnable.findIndex((b) => b.marker === 'run: background')}.log`);
    const received = await until('the signed event at the receiver', () => readFileSync(log, 'utf8').match(/^webhook conversation:message from business: "Hello again" \(conversation \w+, seq 2\)  \[signature verified, webhook-id \S+\]$/m)?.[0]);
    expect(received).toBeTruthy();

    // A delivery with a wrong signature is refused, 401, and said so.
    const refused = await fetch(`http://127.0.0.1:${receiverPort}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,Zm9yZ2Vk', 'x-api-key': 'whsec_Zm9yZ2Vk' },
      body: '{"events":[]}',
    });
    expect(refused.status).toBe(401);
    await until('the refusal line', () => readFileSync(log, 'utf8').includes('refused a delivery (401): webhook-signature does not match any secret of this webhook') || undefined);
  }, 120_000);

  it("the verify() it shows accepts a delivery Parley signed and refuses a tampered one", async () => {
    const block = all.find((b) => b.marker?.startsWith('run: module'));
    expect(block, 'a run: module block').toBeDefined();
    const modulePath = path.join(work, 'verify.mjs');
    writeFileSync(modulePath, `${block!.code}\nexport { verify };\n`);
    const { verify } = (await import(pathToFileURL(modulePath).href)) as { verify: (secret: string, headers: IncomingHttpHeaders, body: string) => boolean };

    const deliveries: { headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        deliveries.push({ headers: req.headers, body });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { appId, auth } = await appWithKey(base, account, 'readme verify');
      const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const integration = await rest(base, 'POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', webhooks: [{ target, triggers: ['conversation:message'] }] });
      const secret = integration.body.integration.webhooks[0].secret as string;
      await rest(base, 'POST', `/v2/apps/${appId}/users`, auth, { externalId: 'vera' });
      const conv = await rest(base, 'POST', `/v2/apps/${appId}/conversations`, auth, { type: 'personal', participants: [{ userExternalId: 'vera' }] });
      await rest(base, 'POST', `/v2/apps/${appId}/conversations/${conv.body.conversation.id}/messages`, auth, { author: { type: 'business' }, content: { type: 'text', text: 'signed' } });
      const delivery = await until('a delivery', () => deliveries[0]);
      expect(verify(secret, delivery.headers, delivery.body)).toBe(true);
      expect(verify(secret, delivery.headers, delivery.body.replace('signed', 'forged'))).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
