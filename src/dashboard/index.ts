/**
 * The dashboard page's script (bundled into the page served at /dashboard).
 * Sign-in keeps the app id and key in `session` — memory only: nothing goes
 * to localStorage, sessionStorage or a cookie, so reloading the tab signs
 * out. Every panel loads on its own and shows its own error or "not
 * available" state (a Parley without that route), so one failing route never
 * blanks the page.
 */
import { ApiError, createApi, explain, type Api } from './api';
import { byId, fmt, h } from './dom';
import { exportFile } from './exporter';
import { resultItem, type FoundMessage } from './search';
import { renderStats, type StatsBucket } from './stats';
import { renderUsage } from './usage';

let session: { api: Api; generation: number } | undefined;
let generation = 0;

const DAY = 86_400_000;
const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

function input(id: string): HTMLInputElement {
  return byId<HTMLInputElement>(id);
}

/** The chosen range as the API wants it: whole UTC days, `until` exclusive. */
function range(): { since: string; until: string } | string {
  const since = input('since').value;
  const until = input('until').value;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(since)) return 'Choose a start date.';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(until)) return 'Choose an end date.';
  if (until < since) return 'The end date is before the start date.';
  if (Date.parse(until) - Date.parse(since) > 365 * DAY) return 'Choose a range of at most a year.';
  return { since: `${since}T00:00:00.000Z`, until: new Date(Date.parse(until) + DAY).toISOString() };
}

/** A panel's body shows this while loading, on error, or when the route is missing. */
function panelState(id: string, text: string, kind: 'loading' | 'error' | 'unavailable' | 'empty'): void {
  const body = byId(id);
  body.replaceChildren(h('p', { class: `state state-${kind}`, 'data-state': kind }, text));
}

function failure(id: string, err: unknown, what: string): void {
  if (err instanceof ApiError && err.missingRoute) panelState(id, `${what} is not available on this Parley (its route is missing).`, 'unavailable');
  else panelState(id, explain(err), 'error');
}

function current(gen: number): Api | undefined {
  return session && session.generation === gen ? session.api : undefined;
}

const CHART_PANELS = ['messages', 'firstResponse', 'deliveries', 'webhooks', 'users'] as const;
const CHART_NAMES: Record<(typeof CHART_PANELS)[number], string> = { messages: 'Messages per day', firstResponse: 'First-response time', deliveries: 'Delivery failures', webhooks: 'Webhook health', users: 'Active users' };

/** The buckets on screen, redrawn when the window's width changes enough to resize the panels. */
let shown: StatsBucket[] | undefined;
let drawnAt = 0;

function drawCharts(buckets: StatsBucket[]): void {
  const rendered = renderStats(buckets, { wide: byId('body-messages').clientWidth, narrow: byId('body-users').clientWidth });
  byId('kpis').replaceChildren(rendered.kpis);
  for (const p of CHART_PANELS) byId(`body-${p}`).replaceChildren(rendered.charts[p]);
  drawnAt = window.innerWidth;
}

let resizeTimer: ReturnType<typeof setTimeout> | undefined;
function onResize(): void {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (session && shown && Math.abs(window.innerWidth - drawnAt) > 40) drawCharts(shown);
  }, 250);
}

async function loadStats(api: Api, gen: number): Promise<void> {
  const r = range();
  const status = byId('range-error');
  if (typeof r === 'string') {
    status.textContent = r;
    status.hidden = false;
    input('since').focus();
    return;
  }
  status.hidden = true;
  for (const p of CHART_PANELS) panelState(`body-${p}`, 'Loading…', 'loading');
  byId('kpis').replaceChildren();
  try {
    const body = await api.json<{ stats?: StatsBucket[] }>('/stats', { ...r, interval: 'day' });
    if (!current(gen)) return;
    shown = body.stats ?? [];
    drawCharts(shown);
    announce(`Charts updated for ${input('since').value} to ${input('until').value}.`);
  } catch (err) {
    if (!current(gen)) return;
    for (const p of CHART_PANELS) failure(`body-${p}`, err, CHART_NAMES[p]);
  }
}

async function loadUsage(api: Api, gen: number): Promise<void> {
  const month = input('month').value;
  if (!/^\d{4}-\d{2}$/.test(month)) return panelState('body-usage', 'Choose a month.', 'error');
  panelState('body-usage', 'Loading…', 'loading');
  try {
    const body = await api.json<unknown>('/usage', { month });
    if (!current(gen)) return;
    byId('body-usage').replaceChildren(renderUsage(body));
  } catch (err) {
    if (!current(gen)) return;
    failure('body-usage', err, 'Usage');
  }
}

let searchAfter: string | undefined;

async function runSearch(api: Api, gen: number, more: boolean): Promise<void> {
  const q = input('q').value.trim();
  const list = byId('results');
  const info = byId('search-info');
  const moreButton = byId<HTMLButtonElement>('search-more');
  if (!q) {
    info.textContent = 'Type one or more words to search for.';
    input('q').focus();
    return;
  }
  if (!more) {
    list.replaceChildren();
    searchAfter = undefined;
  }
  const r = range();
  info.textContent = 'Searching…';
  moreButton.hidden = true;
  try {
    const params: Record<string, string | undefined> = { q, ...(typeof r === 'string' ? {} : r) };
    if (more && searchAfter) params['page[after]'] = searchAfter;
    const body = await api.json<{ messages?: FoundMessage[]; meta?: { hasMore?: boolean; afterCursor?: string } }>('/search/messages', params);
    if (!current(gen)) return;
    const found = body.messages ?? [];
    list.append(...found.map(resultItem));
    const shown = list.children.length;
    info.textContent = shown ? `${fmt.format(shown)} message${shown === 1 ? '' : 's'} found for “${q}”${body.meta?.hasMore ? ' (more available)' : ''}.` : `No messages found for “${q}”.`;
    searchAfter = body.meta?.afterCursor;
    moreButton.hidden = !(body.meta?.hasMore && searchAfter);
  } catch (err) {
    if (!current(gen)) return;
    info.textContent = err instanceof ApiError && err.missingRoute ? 'Search is not available on this Parley (its route is missing).' : explain(err);
  }
}

async function runExport(api: Api, gen: number): Promise<void> {
  const r = range();
  const info = byId('export-info');
  const button = byId<HTMLButtonElement>('export-go');
  if (typeof r === 'string') {
    info.textContent = r;
    return;
  }
  const format = byId<HTMLSelectElement>('export-format').value === 'csv' ? 'csv' : 'ndjson';
  const kind = byId<HTMLSelectElement>('export-kind').value;
  button.disabled = true;
  info.textContent = 'Preparing the file…';
  try {
    const done = await exportFile(api, kind, format, r, (rows) => current(gen) && (info.textContent = `Downloading… ${fmt.format(rows)} rows`));
    if (!current(gen)) return;
    info.textContent = `Downloaded ${done.name}: ${fmt.format(done.rows)} rows.${done.truncated ? ' The range holds more: use `npm run export` for the rest.' : ''}`;
    info.dataset.rows = String(done.rows);
  } catch (err) {
    if (!current(gen)) return;
    info.textContent = err instanceof ApiError && err.missingRoute ? 'Export is not available on this Parley (its route is missing).' : explain(err);
  } finally {
    button.disabled = false;
  }
}

function announce(text: string): void {
  byId('status').textContent = text;
}

async function signIn(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const error = byId('signin-error');
  const fields: [string, string][] = [
    ['app-id', 'the app id'],
    ['key-id', 'the key id'],
    ['key-secret', 'the secret'],
  ];
  for (const [id] of fields) input(id).removeAttribute('aria-invalid');
  const empty = fields.find(([id]) => !input(id).value.trim());
  if (empty) {
    input(empty[0]).setAttribute('aria-invalid', 'true');
    return showSignInError(`Enter ${empty[1]}.`, empty[0]);
  }
  const api = createApi({ appId: input('app-id').value.trim(), keyId: input('key-id').value.trim(), secret: input('key-secret').value });
  const button = byId<HTMLButtonElement>('signin-go');
  button.disabled = true;
  error.hidden = true;
  announce('Signing in…');
  try {
    // The app itself proves the key (integration keys may not read it, so stats is the second proof).
    await api.json('').catch(async (err: unknown) => {
      if (err instanceof ApiError && err.status === 403 && /Integration keys/i.test(err.message)) return api.json('/stats', { since: new Date(Date.now() - DAY).toISOString(), until: new Date().toISOString(), interval: 'day' });
      throw err;
    });
  } catch (err) {
    button.disabled = false;
    announce('');
    input('key-secret').setAttribute('aria-invalid', 'true');
    return showSignInError(explain(err), 'key-secret');
  }
  button.disabled = false;
  const gen = ++generation;
  session = { api, generation: gen };
  input('key-secret').value = '';
  byId('signin').hidden = true;
  byId('app').hidden = false;
  byId('signout').hidden = false;
  const who = byId('who');
  who.textContent = `App ${api.appId}`;
  who.hidden = false;
  byId('dash-h').focus();
  announce(`Signed in to app ${api.appId}.`);
  void loadStats(api, gen);
  void loadUsage(api, gen);
}

function showSignInError(text: string, focusId: string): void {
  const error = byId('signin-error');
  error.textContent = text;
  error.hidden = false;
  input(focusId).setAttribute('aria-describedby', 'signin-error');
  input(focusId).focus();
}

function signOut(): void {
  session = undefined;
  shown = undefined;
  generation++;
  for (const id of ['app-id', 'key-id', 'key-secret']) input(id).value = '';
  for (const p of [...CHART_PANELS, 'usage']) byId(`body-${p}`).replaceChildren();
  byId('kpis').replaceChildren();
  byId('results').replaceChildren();
  byId('search-info').textContent = '';
  byId('export-info').textContent = '';
  input('q').value = '';
  byId('app').hidden = true;
  byId('signout').hidden = true;
  byId('who').hidden = true;
  byId('signin').hidden = false;
  byId('signin-error').hidden = true;
  input('app-id').focus();
  announce('Signed out.');
}

function withSession(run: (api: Api, gen: number) => Promise<void>) {
  return (event: Event) => {
    event.preventDefault();
    if (session) void run(session.api, session.generation);
  };
}

function start(): void {
  const now = Date.now();
  input('until').value = isoDay(now);
  input('since').value = isoDay(now - 13 * DAY);
  input('month').value = isoDay(now).slice(0, 7);
  byId<HTMLFormElement>('signin-form').addEventListener('submit', (e) => void signIn(e as SubmitEvent));
  byId('signout').addEventListener('click', signOut);
  window.addEventListener('resize', onResize);
  byId<HTMLFormElement>('range-form').addEventListener('submit', withSession(loadStats));
  byId<HTMLFormElement>('usage-form').addEventListener('submit', withSession(loadUsage));
  byId<HTMLFormElement>('search-form').addEventListener('submit', withSession((api, gen) => runSearch(api, gen, false)));
  byId('search-more').addEventListener('click', withSession((api, gen) => runSearch(api, gen, true)));
  byId<HTMLFormElement>('export-form').addEventListener('submit', withSession(runExport));
  // The page works without storage by design; say so in the DOM for anyone checking.
  document.documentElement.dataset.ready = 'true';
}

start();
