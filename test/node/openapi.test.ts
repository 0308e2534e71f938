/**
 * The OpenAPI document a locally started Parley serves at /openapi.json: it
 * validates as OpenAPI 3.1; it holds every operation of the official
 * `sunshine-conversations-client` (verb + path, read from its dist/…/api/*.js)
 * unmarked, and every route of src/router.ts, the ones beyond the client
 * marked `x-parley-extension: true` (so a route added without a description
 * fails here); real answers parse with the response schemas the document is
 * made of; the checked-in typed client (clients/typescript) matches it; and
 * the typed-client example runs against Parley as written.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { build } from 'esbuild';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../../scripts/local.mjs';
import { envelopes, errorBody } from '../../src/schema/views';
import { appWithKey, basicAuth, rest } from './rest';

const url = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

type Operation = { 'x-parley-extension'?: boolean; operationId: string };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

const METHODS = ['get', 'post', 'patch', 'put', 'delete', 'options'];
const key = (method: string, p: string) => `${method.toUpperCase()} ${p}`;

/** verb + path of every operation of the official client, from its generated api/*.js (`callApi('/v2/…', 'GET', …)`). */
function officialOperations(): Set<string> {
  const pkg = path.dirname(createRequire(import.meta.url).resolve('sunshine-conversations-client/package.json'));
  const dir = path.join(pkg, 'dist', 'sunshine-conversations-client', 'sunshine-conversations-client.api');
  const ops = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
    for (const m of readFileSync(path.join(dir, f), 'utf8').matchAll(/callApi\(\s*'([^']+)',\s*'([A-Z]+)'/g)) ops.add(key(m[2]!, m[1]!));
  }
  return ops;
}

/** verb + OpenAPI path of every route in src/router.ts's table (`.get('/v2/apps/:appId', …)`); the catch-all `*` is not a route. */
function routerOperations(): Set<string> {
  const source = readFileSync(path.join(ROOT, 'src', 'router.ts'), 'utf8');
  const ops = new Set<string>();
  for (const m of source.matchAll(/^\s*\.(get|post|patch|put|delete|options|all)\('([^']+)'/gm)) {
    if (m[2] === '*') continue;
    ops.add(key(m[1]!, m[2]!.replace(/:(\w+)/g, '{$1}')));
  }
  return ops;
}

function documentOperations(doc: Doc): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  for (const [p, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) if (METHODS.includes(method)) ops.set(key(method, p), op);
  return ops;
}

let doc: Doc;
let ops: Map<string, Operation>;
beforeAll(async () => {
  const res = await fetch(`${url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as Doc;
  ops = documentOperations(doc);
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('holds all 64 operations of the official sunshine-conversations-client, none marked as an extension', () => {
    const official = officialOperations();
    expect(official.size).toBe(64);
    const missing = [...official].filter((o) => !ops.has(o));
    expect(missing).toEqual([]);
    const marked = [...official].filter((o) => ops.get(o)?.['x-parley-extension']);
    expect(marked).toEqual([]);
  });

  it('describes every route of src/router.ts and no route it lacks', () => {
    const routes = routerOperations();
    // `.options('/sdk/*', preflight)` answers the preflight of every /sdk path.
    const wildcard = [...routes].filter((r) => r.endsWith('*'));
    const exact = [...routes].filter((r) => !r.endsWith('*'));
    expect(exact.filter((r) => !ops.has(r)), 'routes without a description in src/openapi/').toEqual([]);
    for (const w of wildcard) {
      const [method, prefix] = w.split(' ') as [string, string];
      const covered = [...ops.keys()].filter((o) => o.startsWith(`${method} ${prefix.slice(0, -1)}`));
      expect(covered.length, w).toBeGreaterThan(0);
    }
    const described = [...ops.keys()].filter((o) => !exact.includes(o) && !wildcard.some((w) => o.startsWith(w.slice(0, -1))));
    expect(described, 'described operations with no route').toEqual([]);
    expect(routes.size).toBeGreaterThan(100);
  });

  it("marks every operation beyond the official client's as x-parley-extension", () => {
    const official = officialOperations();
    const unmarked = [...ops].filter(([o, op]) => !official.has(o) && op['x-parley-extension'] !== true).map(([o]) => o);
    expect(unmarked).toEqual([]);
    for (const o of ['POST /v1/apps/{appId}/notifications', 'POST /v1.1/apps/{appId}/notifications', 'POST /hooks/{integrationId}', 'GET /v2/apps/{appId}/exports/messages', 'GET /docs'])
      expect(ops.get(o)?.['x-parley-extension'], o).toBe(true);
  });

  it('describes request and response bodies, errors and the auth schemes', () => {
    const post = doc.paths['/v2/apps/{appId}/conversations/{conversationId}/messages']!.post as unknown as Record<string, any>;
    expect(post.requestBody.content['application/json'].schema.properties.content).toEqual({ $ref: '#/components/schemas/Content' });
    expect(post.responses['201'].content['application/json'].schema.properties.messages.items).toEqual({ $ref: '#/components/schemas/Message' });
    expect(post.responses['400']).toEqual({ $ref: '#/components/responses/E400' });
    expect(post.security).toEqual([{ basicAuth: [] }, { bearerAuth: [] }, { oauth2: [] }]);
    const schemes = (doc.components as unknown as { securitySchemes: Record<string, { type: string; scheme?: string }> }).securitySchemes;
    expect(Object.keys(schemes).sort()).toEqual(['basicAuth', 'bearerAuth', 'oauth2', 'sdkSession']);
    expect(doc.components.schemas.Error).toMatchObject({ properties: { errors: { type: 'array' } } });
    // Every JSON operation of the contract names its answer's shape.
    const untyped = [...ops].filter(([o, op]) => {
      const r = (op as unknown as { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }).responses;
      const ok = Object.entries(r).find(([s]) => s.startsWith('2'))?.[1];
      return o.includes(' /v2/') && ok?.content?.['application/json'] && !ok.content['application/json'].schema;
    });
    expect(untyped.map(([o]) => o)).toEqual([]);
  });
});

describe('real answers parse with the schemas the document is made of', () => {
  it('apps, keys, users, conversations, messages, participants, integrations, errors', async () => {
    const app = await rest(url, 'POST', '/v2/apps', account, { displayName: 'openapi answers' });
    expect(app.status).toBe(201);
    v.parse(envelopes.app, app.body);
    const { appId, auth } = await appWithKey(url, account, 'openapi answers 2');
    v.parse(envelopes.keys, (await rest(url, 'GET', `/v2/apps/${appId}/keys`, account)).body);
    v.parse(envelopes.apps, (await rest(url, 'GET', '/v2/apps', account)).body);
    const user = await rest(url, 'POST', `/v2/apps/${appId}/users`, auth, { externalId: 'oa-1', profile: { givenName: 'Ada' } });
    v.parse(envelopes.user, user.body);
    const conv = await rest(url, 'POST', `/v2/apps/${appId}/conversations`, auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
    v.parse(envelopes.conversation, conv.body);
    const base = `/v2/apps/${appId}/conversations/${conv.body.conversation.id}`;
    const posted = await rest(url, 'POST', `${base}/messages`, auth, { author: { type: 'business' }, content: { type: 'text', text: 'hi', actions: [{ type: 'link', text: 'Go', uri: 'https://example.com' }] } });
    expect(posted.status).toBe(201);
    v.parse(envelopes.messagesPosted, posted.body);
    v.parse(envelopes.messages, (await rest(url, 'GET', `${base}/messages`, auth)).body);
    v.parse(envelopes.participants, (await rest(url, 'GET', `${base}/participants`, auth)).body);
    v.parse(envelopes.conversations, (await rest(url, 'GET', `/v2/apps/${appId}/conversations?filter[userId]=${user.body.user.id}`, auth)).body);
    const integration = await rest(url, 'POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', displayName: 'oa', webhooks: [{ target: 'http://127.0.0.1:9/hook', triggers: ['conversation:message'] }] });
    expect(integration.status).toBe(201);
    v.parse(envelopes.integration, integration.body);
    v.parse(envelopes.integrations, (await rest(url, 'GET', `/v2/apps/${appId}/integrations`, auth)).body);
    v.parse(envelopes.switchboard, (await rest(url, 'POST', `/v2/apps/${appId}/switchboards`, auth)).body);
    v.parse(envelopes.clients, (await rest(url, 'GET', `/v2/apps/${appId}/users/${user.body.user.id}/clients`, auth)).body);
    v.parse(envelopes.empty, (await rest(url, 'DELETE', `${base}/messages`, auth)).body);
    const missing = await rest(url, 'GET', `/v2/apps/${appId}/conversations/0123456789abcdef01234567`, auth);
    expect(missing.status).toBe(404);
    v.parse(errorBody, missing.body);
  });
});

describe('the typed client (clients/typescript)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('is what `npm run client:generate` makes of the document, which is what Parley serves', { timeout: 120_000 }, () => {
    const checked = JSON.parse(readFileSync(path.join(ROOT, 'clients', 'typescript', 'openapi.json'), 'utf8'));
    expect(checked).toEqual(doc);
    const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'client-generate.mjs'), '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(res.status, res.stderr + res.stdout).toBe(0);
  });

  it('examples/typed-client.ts runs against Parley as written', { timeout: 60_000 }, async () => {
    const { appId, auth } = await appWithKey(url, account, 'typed client example');
    const [keyId, secret] = Buffer.from(auth.slice('Basic '.length), 'base64').toString().split(':') as [string, string];
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-typed-client-'));
    dirs.push(dir);
    const outfile = path.join(dir, 'typed-client.mjs');
    await build({ entryPoints: [path.join(ROOT, 'examples', 'typed-client.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning' });
    const res = spawnSync(process.execPath, [outfile], { encoding: 'utf8', env: { ...process.env, PARLEY: url, APP: appId, KEY: `${keyId}:${secret}` } });
    expect(res.status, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!);
    expect(out.texts).toEqual(['Hello from the typed client']);
    expect(out.seq).toEqual([expect.any(Number)]);
  });
});
