/**
 * The support inbox page. It reads and writes only through the demo server's
 * /inbox/api/* (which holds the app key and calls Parley) and follows
 * /inbox/api/stream, the Server-Sent Events the server emits as Parley's
 * webhooks arrive. Rendering is plain DOM: every string goes in as text.
 * Keyboard: the conversation list is a listbox (arrows move, Enter opens the
 * conversation and puts the cursor in the reply box, where Enter sends);
 * Escape goes back to the list. On a phone the list and the conversation
 * take the screen in turn, with a Back button.
 */
const $ = (id) => document.getElementById(id);

const CHANNELS = { web: 'Web Messenger', telegram: 'Telegram', twilio: 'SMS', whatsapp: 'WhatsApp', messenger: 'Messenger', instagram: 'Instagram', 'api:conversations': 'API' };
/** Dark enough for white initials (at least 4.5:1). */
const AVATAR_COLORS = ['#2f6f55', '#a84a14', '#35649a', '#7c4aa0', '#86611d', '#1b6b6b', '#963f5c'];

const state = {
  conversations: [],
  events: [],
  selected: undefined,
  messages: [],
  typing: new Set(),
};

/** Element builder: el('div', {class: 'x'}, 'text', child). Strings become text nodes, never HTML. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) node.append(child);
  return node;
}

async function api(method, path, body) {
  const res = await fetch(`/inbox/api${path}`, {
    method,
    ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.error ?? `the demo server answered ${res.status}`);
  return json;
}

const shortId = (id) => (id ? id.slice(-4) : '');
const nameOf = (c) => c?.name ?? 'Anonymous visitor';
const channelOf = (type) => CHANNELS[type] ?? type ?? 'Unknown channel';

const SVG = 'http://www.w3.org/2000/svg';
/** A head-and-shoulders silhouette for visitors without a name. */
function silhouette() {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', 'M12 12a5 5 0 1 0 0-10 5 5 0 0 0 0 10Zm0 2c-4.4 0-9 2.2-9 5.5V22h18v-2.5c0-3.3-4.6-5.5-9-5.5Z');
  svg.append(path);
  return svg;
}

function avatar(c) {
  const seed = [...(c.userId ?? c.id)].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7);
  const face = c.name ? c.name.split(/\s+/).map((w) => w[0]).slice(0, 2).join('').toUpperCase() : silhouette();
  return el('div', { class: 'avatar', style: `background:${AVATAR_COLORS[seed % AVATAR_COLORS.length]}`, 'aria-hidden': 'true' }, face);
}

function ago(iso) {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 45) return 'now';
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.round(s / 3600)}h`;
  return new Date(iso).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}
const clock = (iso) => new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });

// ---- conversations ---------------------------------------------------------

function renderList() {
  const list = $('list');
  // The list is rebuilt on every change: the option that had the focus gets it back.
  const focused = document.activeElement?.closest?.('#list [data-id]')?.dataset.id;
  const tabStop = state.conversations.some((c) => c.id === state.selected) ? state.selected : state.conversations[0]?.id;
  list.replaceChildren(
    ...state.conversations.map((c) => {
      const typing = state.typing.has(c.id);
      const preview = typing ? 'typing…' : `${c.previewAuthor === 'business' ? 'You: ' : ''}${c.preview}`;
      return el(
        'li',
        { role: 'option', tabindex: c.id === tabStop ? '0' : '-1', class: c.unread ? 'unread' : '', 'aria-selected': String(c.id === state.selected), onclick: () => select(c.id, true), 'data-id': c.id },
        c.unread ? el('span', { class: 'sr' }, 'Unread: ') : null,
        avatar(c),
        el(
          'div',
          { class: 'who' },
          el('div', { class: 'line' }, el('span', { class: 'name' }, nameOf(c), !c.name && c.userId ? el('small', {}, `#${shortId(c.userId)}`) : null), el('time', { datetime: c.lastActivityAt }, ago(c.lastActivityAt))),
          el('div', { class: 'line' }, el('span', { class: `preview${typing ? ' typing' : ''}` }, preview), el('span', { class: 'dot', title: 'Unread' })),
          el('span', { class: `chip${c.channel === 'web' ? ' web' : ''}` }, channelOf(c.channel)),
        ),
      );
    }),
  );
  if (focused) list.querySelector(`[data-id="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  $('count').textContent = String(state.conversations.length);
  $('listEmpty').hidden = state.conversations.length > 0;
  const unread = state.conversations.filter((c) => c.unread).length;
  document.title = `${unread ? `(${unread}) ` : ''}Support inbox · Acme Outfitters`;
}

function upsertConversation(c) {
  state.conversations = [c, ...state.conversations.filter((x) => x.id !== c.id)].sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt));
}

// ---- the selected conversation ----------------------------------------------

function actionChips(actions) {
  if (!actions?.length) return null;
  return el('div', { class: 'actions' }, actions.map((a) => el('span', { title: a.type === 'link' ? a.uri : (a.payload ?? a.type) }, a.text)));
}

/** A Parley message's content as the agent sees it; buttons show what the visitor can tap. */
function renderContent(content) {
  switch (content.type) {
    case 'text':
      return [content.text ?? content.markdownText ?? content.htmlText ?? '', actionChips(content.actions)];
    case 'image':
      return [el('img', { class: 'media', src: content.mediaUrl, alt: content.altText ?? '' }), content.text, actionChips(content.actions)];
    case 'file':
      return [el('a', { href: content.mediaUrl, target: '_blank', rel: 'noopener' }, content.altText ?? 'Download file'), content.text ? `\n${content.text}` : null];
    case 'carousel':
    case 'list':
      return [
        el(
          'div',
          // It scrolls sideways on a narrow screen: focusable, so the keyboard can scroll it too.
          { class: 'cards', tabindex: '0', role: 'group', 'aria-label': `${(content.items ?? []).length} cards` },
          (content.items ?? []).map((item) =>
            el('div', { class: 'item' }, item.mediaUrl ? el('img', { src: item.mediaUrl, alt: item.altText ?? '' }) : null, el('div', {}, el('b', {}, item.title), item.description, actionChips(item.actions))),
          ),
        ),
        actionChips(content.actions),
      ];
    case 'location': {
      const { lat, long } = content.coordinates ?? {};
      return [`📍 ${content.location?.name ?? content.location?.address ?? 'Location'}\n${lat}, ${long}`];
    }
    case 'form':
      return [content.text ?? 'Form', el('div', { class: 'form-fields' }, (content.fields ?? []).map((f) => el('div', {}, `${f.label}${f.type === 'select' ? ` (${(f.options ?? []).map((o) => o.label).join(' / ')})` : ''}`)))];
    case 'formResponse':
      return [
        'Form answered',
        el('dl', { class: 'answers' }, (content.fields ?? []).flatMap((f) => [el('dt', {}, f.label), el('dd', {}, f.text ?? f.email ?? (f.select ?? []).map((o) => o.label).join(', '))])),
      ];
    default:
      return [`[${content.type} message]`];
  }
}

/** Messages come from Parley; postbacks are not messages, so the ones in the event log are shown in between, where they happened. */
function renderThread() {
  const c = state.conversations.find((x) => x.id === state.selected);
  const postbacks = state.events
    .filter((e) => e.type === 'conversation:postback' && e.conversationId === state.selected)
    .map((e) => ({ kind: 'postback', at: e.receivedAt, event: e }));
  const items = [...state.messages.map((m) => ({ kind: 'message', at: m.received, message: m })), ...postbacks].sort((a, b) => a.at.localeCompare(b.at));
  const nodes = [];
  let previous;
  let lastDay;
  for (const item of items) {
    const day = new Date(item.at).toDateString();
    if (day !== lastDay) {
      nodes.push(el('div', { class: 'day' }, new Date(item.at).toLocaleDateString(undefined, { weekday: 'long', month: 'long', day: 'numeric' })));
      lastDay = day;
      previous = undefined;
    }
    if (item.kind === 'postback') {
      const p = item.event.payload.postback ?? {};
      nodes.push(el('div', { class: 'note-line' }, `${nameOf(c)} tapped “${p.text ?? p.payload}” · payload `, el('code', {}, p.payload ?? '')));
      previous = undefined;
      continue;
    }
    const m = item.message;
    const side = m.author.type === 'business' ? 'business' : 'user';
    const rich = m.content.type !== 'text' || (m.content.actions?.length ?? 0) > 0;
    const cont = previous === side;
    const face = side === 'business' ? el('div', { class: 'avatar' }, m.author.avatarUrl ? el('img', { src: m.author.avatarUrl, alt: '' }) : 'A') : avatar(c ?? { id: state.selected });
    nodes.push(el('div', { class: `msg ${side}${rich ? ' rich' : ''}${cont ? ' cont' : ''}`, 'data-id': m.id }, face, el('div', { class: 'bubble' }, renderContent(m.content))));
    const who = side === 'business' ? (m.author.displayName ?? 'Business') : (m.author.displayName ?? nameOf(c));
    const reply = m.content.payload ? ` · quick reply, payload ${m.content.payload}` : '';
    nodes.push(el('div', { class: `meta ${side}` }, `${who} · ${clock(m.received)} · via ${channelOf(m.source?.type)}${reply}`));
    previous = side;
  }
  const lastBusiness = [...state.messages].reverse().find((m) => m.author.type === 'business');
  if (lastBusiness && c?.userReadAt && c.userReadAt >= lastBusiness.received && state.messages.at(-1) === lastBusiness) nodes.push(el('div', { class: 'seen' }, `Seen ${clock(c.userReadAt)}`));
  const scroller = $('scroller');
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  $('messages').replaceChildren(...nodes);
  $('threadEmpty').hidden = Boolean(state.selected);
  if (atBottom || state.stickToBottom) scroller.scrollTop = scroller.scrollHeight;
  state.stickToBottom = false;
}

function renderHead() {
  const c = state.conversations.find((x) => x.id === state.selected);
  const head = $('threadHead');
  const back = el('button', { class: 'back', type: 'button', 'aria-label': 'Back to the conversations', onclick: () => backToList() }, el('span', { 'aria-hidden': 'true' }, '←'));
  document.querySelector('main').classList.toggle('reading', Boolean(c));
  if (!c) return head.replaceChildren(el('h2', {}, 'Select a conversation'));
  head.replaceChildren(back, avatar(c), el('div', { class: 'title' }, el('h2', {}, nameOf(c)), el('code', {}, `conversation ${c.id}`)), el('span', { class: `chip${c.channel === 'web' ? ' web' : ''}` }, channelOf(c.channel)));
}

/** Back to the list (on a phone the list takes the screen again), focus on the open conversation's row. */
function backToList() {
  document.querySelector('main').classList.remove('reading');
  const row = document.querySelector(`#list [data-id="${CSS.escape(state.selected ?? '')}"]`) ?? document.querySelector('#list [tabindex="0"]');
  row?.focus();
}

function renderTyping() {
  const c = state.conversations.find((x) => x.id === state.selected);
  $('typing').textContent = c && state.typing.has(c.id) ? `${nameOf(c)} is typing…` : '';
}

function enableComposer(on) {
  for (const node of [$('text'), $('send'), ...document.querySelectorAll('[data-rich]')]) node.disabled = !on;
}

async function loadMessages() {
  const id = state.selected;
  const { messages } = await api('GET', `/conversations/${id}/messages`);
  if (id !== state.selected) return;
  state.messages = messages;
  renderThread();
}

/** `focusReply`: chosen by the user (click, Enter), so the cursor goes to the reply box. */
async function select(id, focusReply = false) {
  state.selected = id;
  state.messages = [];
  state.stickToBottom = true;
  history.replaceState(null, '', `#${id}`);
  renderList();
  renderHead();
  renderTyping();
  renderThread();
  enableComposer(true);
  if (focusReply) $('text').focus();
  showError('');
  try {
    await loadMessages();
    await markRead();
  } catch (err) {
    showError(err.message);
  }
}

/** The agent has seen the conversation when it is open and the page is in front. */
async function markRead() {
  const c = state.conversations.find((x) => x.id === state.selected);
  if (!c?.unread || document.visibilityState !== 'visible') return;
  const { conversation } = await api('POST', `/conversations/${c.id}/read`, {});
  if (conversation) upsertConversation(conversation);
  renderList();
}

function showError(text) {
  $('error').textContent = text;
}

// ---- replying ----------------------------------------------------------------

async function send(body) {
  const id = state.selected;
  if (!id) return;
  showError('');
  try {
    state.stickToBottom = true;
    await api('POST', `/conversations/${id}/messages`, body);
    await loadMessages();
  } catch (err) {
    showError(`Not sent: ${err.message}`);
  }
}

/** The visitor sees "typing…" while the agent types; it stops after a pause or on send. */
let typingTimer;
let typingSent = false;
function typing(on) {
  clearTimeout(typingTimer);
  if (on) typingTimer = setTimeout(() => typing(false), 4000);
  if (on === typingSent || !state.selected) return;
  typingSent = on;
  api('POST', `/conversations/${state.selected}/typing`, { typing: on }).catch(() => undefined);
}

$('compose').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  $('text').value = '';
  autosize();
  typing(false);
  send({ text });
});
$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('compose').requestSubmit();
  }
});
function autosize() {
  const t = $('text');
  t.style.height = 'auto';
  t.style.height = `${Math.min(t.scrollHeight, 140)}px`;
}
$('text').addEventListener('input', () => {
  autosize();
  typing($('text').value.length > 0);
});
$('text').addEventListener('blur', () => typing(false));

// The conversation list as a listbox: arrows, Home and End move; Enter or Space opens.
$('list').addEventListener('keydown', (e) => {
  const options = [...document.querySelectorAll('#list [role="option"]')];
  const at = options.indexOf(document.activeElement);
  if (at < 0) return;
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: options.length - 1 }[e.key];
  if (to !== undefined) {
    e.preventDefault();
    const next = options[Math.max(0, Math.min(options.length - 1, to))];
    for (const o of options) o.tabIndex = o === next ? 0 : -1;
    next.focus();
  } else if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    select(options[at].dataset.id, true);
  }
});
// Escape in the conversation goes back to the list.
document.querySelector('.col.thread').addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.selected) {
    e.preventDefault();
    backToList();
  }
});
for (const button of document.querySelectorAll('[data-rich]')) button.addEventListener('click', () => send({ rich: button.dataset.rich }));

// ---- webhook events ----------------------------------------------------------

function eventItem(e, fresh) {
  const kind = e.type.split(':').at(-1);
  return el(
    'li',
    { class: fresh ? 'fresh' : '' },
    el(
      'details',
      {},
      el('summary', {}, el('span', { class: `type t-${kind}` }, e.type), el('time', { datetime: e.receivedAt }, clock(e.receivedAt)), el('span', { class: 'sum', title: e.summary }, e.summary)),
      el('pre', { tabindex: '0', 'aria-label': `${e.type} payload` }, JSON.stringify({ id: e.id, type: e.type, payload: e.payload }, null, 2)),
    ),
  );
}

function renderEvents() {
  $('events').replaceChildren(...state.events.slice().reverse().map((e) => eventItem(e, false)));
  $('eventCount').textContent = String(state.events.length);
}

// ---- live updates ----------------------------------------------------------------

function onChange(change) {
  if (change.kind === 'typing') {
    if (change.typing) state.typing.add(change.conversationId);
    else state.typing.delete(change.conversationId);
    renderList();
    renderTyping();
    return;
  }
  if (change.kind === 'event') {
    state.events.push(change.event);
    $('events').prepend(eventItem(change.event, true));
    $('eventCount').textContent = String(state.events.length);
    if (change.removed) {
      state.conversations = state.conversations.filter((c) => c.id !== change.removed);
      if (state.selected === change.removed) {
        state.selected = undefined;
        enableComposer(false);
      }
    }
  }
  if (change.conversation) upsertConversation(change.conversation);
  renderList();
  if (change.conversation?.id === state.selected || change.removed) {
    renderHead();
    renderTyping();
    const type = change.event?.type;
    if (type === 'conversation:message') loadMessages().then(markRead, (err) => showError(err.message));
    else renderThread();
  }
}

/** A conversation named in the address (#id) opens once the list has it. */
let wanted = location.hash.slice(1);

/** (Re)loads everything; called whenever the event stream (re)connects, so nothing missed while away is lost. */
async function refresh() {
  const [{ conversations }, { events }] = await Promise.all([api('GET', '/conversations'), api('GET', '/events')]);
  state.conversations = conversations;
  state.events = events;
  renderList();
  renderEvents();
  if (wanted && conversations.some((c) => c.id === wanted)) {
    const id = wanted;
    wanted = '';
    return select(id);
  }
  if (state.selected && conversations.some((c) => c.id === state.selected)) {
    renderHead();
    await loadMessages();
  }
}

function connect() {
  const source = new EventSource('/inbox/api/stream');
  source.onopen = () => {
    $('live').textContent = 'Live';
    $('live').classList.add('on');
    refresh().catch((err) => showError(err.message));
  };
  source.onerror = () => {
    $('live').textContent = 'Reconnecting…';
    $('live').classList.remove('on');
  };
  source.onmessage = (e) => onChange(JSON.parse(e.data));
}

document.addEventListener('visibilitychange', () => markRead().catch(() => undefined));
setInterval(renderList, 30_000);

api('GET', '/info')
  .then((info) => {
    $('target').textContent = info.webhookTarget;
  })
  .catch(() => undefined);
connect();
