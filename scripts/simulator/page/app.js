/*
 * The simulator page's script: talks to the simulator's JSON API (server.ts),
 * never to Parley directly. It polls the current chat and the webhook events
 * every second and redraws what changed. Text is always set as text, never as
 * HTML: messages come from whoever calls the API. An email's HTML body is
 * the one exception, and it never touches this page: it is shown in a
 * sandboxed frame (no scripts, no same origin, no network but images).
 */
'use strict';

const $ = (id) => document.getElementById(id);
const state = { channels: [], channel: null, chatKey: '', afterEvent: 0, curl: '', replyTo: null, openMails: new Set() };

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.error || `HTTP ${res.status}`);
  return json;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const safeUrl = (url) => (/^https?:\/\//i.test(url || '') ? url : null);
const channel = () => state.channels.find((c) => c.id === state.channel);
const userInput = () => $('user').value.trim();
const userStore = (id) => `parley-simulator-user-${id}`;

// ---- channels --------------------------------------------------------------------

function drawTabs() {
  const tabs = $('tabs');
  tabs.replaceChildren(
    ...state.channels.map((c) =>
      el('button', {
        role: 'tab',
        'aria-selected': String(c.id === state.channel),
        title: c.ready ? c.label : `Not available: ${c.error || 'not set up'}`,
        ...(c.ready ? {} : { disabled: '' }),
        onclick: () => pick(c.id),
      }, c.label),
    ),
  );
}

function pick(id) {
  state.channel = id;
  const c = channel();
  localStorage.setItem('parley-simulator-channel', id);
  $('user').value = localStorage.getItem(userStore(id)) || c.defaultUser;
  $('user').placeholder = c.userHint;
  $('smsNote').hidden = !c.features.numberedOptions;
  $('locationRow').style.display = c.features.location ? '' : 'none';
  const mailbox = Boolean(c.mailTo);
  $('chat').hidden = mailbox;
  $('compose').hidden = mailbox;
  $('inbox').hidden = !mailbox;
  $('mailForm').hidden = !mailbox;
  $('mailTo').textContent = c.mailTo || '';
  $('deviceRow').hidden = !c.setting;
  if (c.setting) {
    $('setting').checked = c.setting.on;
    $('settingLabel').textContent = c.setting.label;
    $('settingNote').textContent = c.setting.note;
  }
  replyTo(null);
  $('channelError').hidden = c.ready;
  $('channelError').textContent = c.ready ? '' : `${c.label} is not available: ${c.error || 'not set up'}`;
  drawTabs();
  // On a phone the tabs scroll sideways: keep the chosen one in sight.
  const tab = $('tabs').querySelector('[aria-selected="true"]');
  if (tab) tab.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  state.chatKey = '';
  refreshChat();
}

// ---- the chat ------------------------------------------------------------------------

function drawButtons(bubble, buttons) {
  return el('div', { class: 'buttons' }, ...buttons.map((b) => {
    const icon = b.kind === 'link' ? ' ↗' : b.kind === 'location' ? ' 📍' : '';
    return el('button', { type: 'button', title: b.payload ? `payload: ${b.payload}` : b.url || '', onclick: () => tap(bubble, b) }, b.label + icon);
  }));
}

function drawBubble(b) {
  const node = el('div', { class: `bubble ${b.from}` });
  if (b.media) {
    const url = safeUrl(b.media.url);
    if (b.media.kind === 'image' && url) node.append(el('img', { src: url, alt: 'image' }));
    else node.append(url ? el('a', { href: url, target: '_blank', rel: 'noreferrer' }, `[${b.media.kind}] ${url}`) : `[${b.media.kind}] ${b.media.url}`);
  }
  if (b.text) node.append(el('div', {}, b.text));
  if (b.location) {
    const l = b.location;
    node.append(el('div', {}, `📍 ${l.name ? `${l.name} ` : ''}${l.address ? `(${l.address}) ` : ''}${l.lat}, ${l.long}`));
  }
  const buttons = (b.buttons || []).map((button, index) => ({ ...button, index }));
  (b.cards || []).forEach((card, i) => {
    const img = safeUrl(card.imageUrl);
    node.append(el('div', { class: 'card' },
      img ? el('img', { src: img, alt: '' }) : null,
      el('strong', {}, card.title),
      card.subtitle ? el('div', { class: 'note' }, card.subtitle) : null,
      drawButtons(b, buttons.filter((x) => x.card === i))));
  });
  const loose = buttons.filter((x) => x.card === undefined);
  if (loose.length) node.append(drawButtons(b, loose));
  const time = new Date(b.at).toLocaleTimeString();
  node.append(el('div', { class: 'meta' }, b.from === 'user' ? `you · ${time}` : `business · ${time}`));
  if (b.error) node.append(el('div', { class: 'error' }, b.error));
  return node;
}

// ---- the mailbox (email) -----------------------------------------------------------------

const FRAME_POLICY = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'"><base target="_blank">`;

/**
 * An HTML body in a frame that can run nothing and reach nothing of this page:
 * `sandbox` without allow-scripts or allow-same-origin, a policy that loads
 * only images, and links opening in a new tab (as a webmail client does).
 */
function mailFrame(html) {
  const frame = document.createElement('iframe');
  frame.setAttribute('sandbox', 'allow-popups allow-popups-to-escape-sandbox');
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.setAttribute('title', 'HTML body');
  frame.srcdoc = /<head[^>]*>/i.test(html) ? html.replace(/<head[^>]*>/i, (head) => head + FRAME_POLICY) : FRAME_POLICY + html;
  return frame;
}

const reSubject = (subject) => (/^re:/i.test(subject.trim()) ? subject.trim() : `Re: ${subject.trim()}`);

function replyTo(mail) {
  state.replyTo = mail ? mail.messageId : null;
  $('replying').hidden = !mail;
  $('replyingId').textContent = mail ? mail.messageId : '';
  if (mail) {
    $('subject').value = reSubject(mail.subject);
    $('mailText').focus();
  }
}

function drawMail(b, newest) {
  const m = b.mail || { from: '', to: '', subject: '', messageId: '', text: b.text };
  const received = b.from === 'business';
  const time = new Date(b.at).toLocaleString();
  const node = el('details', { class: `mail ${b.from}` });
  node.open = state.openMails.has(b.id) || newest;
  node.addEventListener('toggle', () => (node.open ? state.openMails.add(b.id) : state.openMails.delete(b.id)));
  node.append(el('summary', {},
    el('span', { class: 'box' }, received ? 'Inbox' : 'Sent'),
    el('strong', {}, received ? m.from : `To ${m.to}`),
    el('span', { class: 'note' }, time),
    el('span', { class: 'subject' }, m.subject || '(no subject)')));
  const headers = [['From', m.from], ['To', m.to], ['Reply-To', m.replyTo], ['Subject', m.subject], ['Date', time], ['Message-Id', m.messageId], ['In-Reply-To', m.inReplyTo], ['References', m.references]];
  node.append(el('dl', { class: 'headers' }, ...headers.filter(([, v]) => v).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
  if (m.html) {
    node.append(mailFrame(m.html));
    if (m.text) node.append(el('details', { class: 'textpart' }, el('summary', {}, 'Plain-text part'), el('pre', {}, m.text)));
  } else {
    node.append(el('pre', {}, m.text || ''));
  }
  const buttons = (b.buttons || []).map((button, index) => ({ ...button, index }));
  node.append(el('div', { class: 'actions' },
    received && m.messageId ? el('button', { type: 'button', class: 'plain', onclick: () => replyTo(m) }, 'Reply') : null,
    buttons.length ? drawButtons(b, buttons) : null));
  if (b.error) node.append(el('div', { class: 'error', style: 'padding: 0 10px 8px' }, b.error));
  return node;
}

function drawMailbox(view) {
  const c = channel();
  const mails = view.bubbles.slice().reverse();
  $('inbox').replaceChildren(...(mails.length ? mails.map((b, i) => drawMail(b, i === 0)) : [el('div', { class: 'note' }, `No mail yet. Write to ${c ? c.mailTo : 'the business'} as ${view.user.label}.`)]));
}

async function refreshChat() {
  if (!state.channel) return;
  const view = await api('GET', `/api/chat?channel=${encodeURIComponent(state.channel)}&user=${encodeURIComponent(userInput())}`);
  $('userNote').textContent = view.user.label === view.user.key ? '' : `(${view.user.key})`;
  const key = JSON.stringify([view.channel, view.user.key, view.bubbles.length, view.bubbles.map((b) => b.error || '').join()]);
  if (key !== state.chatKey && channel() && channel().mailTo) {
    state.chatKey = key;
    drawMailbox(view);
  } else if (key !== state.chatKey) {
    state.chatKey = key;
    const chat = $('chat');
    const atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40;
    chat.replaceChildren(...(view.bubbles.length ? view.bubbles.map(drawBubble) : [el('div', { class: 'note' }, `Say something to the business as ${view.user.label}.`)]));
    if (atBottom || view.bubbles.length) chat.scrollTop = chat.scrollHeight;
  }
  $('noConversation').hidden = Boolean(view.curl);
  $('replyBox').hidden = !view.curl;
  if (view.curl && view.curl !== state.curl) {
    state.curl = view.curl;
    $('curl').textContent = view.curl;
  }
}

function showError(err) {
  $('sendError').textContent = err ? err.message : '';
}

async function act(path, body) {
  showError();
  try {
    localStorage.setItem(userStore(state.channel), userInput());
    const answer = await api('POST', path, { channel: state.channel, user: userInput(), ...body });
    await refreshChat();
    return answer;
  } catch (err) {
    showError(err);
    return undefined;
  }
}

async function tap(bubble, button) {
  if (button.kind === 'link') {
    if (safeUrl(button.url)) window.open(button.url, '_blank', 'noreferrer');
    return;
  }
  if (button.kind === 'location') return shareLocation();
  await act('/api/tap', { bubble: bubble.id, button: button.index });
}

function shareLocation() {
  return act('/api/location', { lat: Number($('lat').value), long: Number($('long').value) });
}

$('compose').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  $('text').value = '';
  await act('/api/send', { text });
});
$('shareLocation').addEventListener('click', shareLocation);
$('setting').addEventListener('change', async () => {
  const c = channel();
  const answer = await act('/api/setting', { on: $('setting').checked });
  if (answer && c.setting) c.setting.on = answer.on;
  else if (c.setting) $('setting').checked = c.setting.on;
});
$('mailForm').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('mailText').value;
  if (!text.trim()) return;
  const sent = await act('/api/mail', { subject: $('subject').value, text, ...(state.replyTo ? { inReplyTo: state.replyTo } : {}) });
  if (!sent) return;
  $('mailText').value = '';
  $('subject').value = '';
  replyTo(null);
});
$('newMail').addEventListener('click', () => {
  replyTo(null);
  $('subject').value = '';
});
$('user').addEventListener('change', () => {
  state.chatKey = '';
  replyTo(null);
  refreshChat();
});
$('reply').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('replyText').value;
  if (!text.trim()) return;
  $('replyText').value = '';
  await act('/api/reply', { text });
});
$('copy').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(state.curl);
    $('copy').textContent = 'Copied';
  } catch {
    // Clipboard access needs a secure context; select the text for a manual copy instead.
    getSelection().selectAllChildren($('curl'));
    $('copy').textContent = 'Selected: press Ctrl+C';
  }
  setTimeout(() => ($('copy').textContent = 'Copy curl'), 2000);
});

// ---- webhook events --------------------------------------------------------------------

async function refreshEvents() {
  const { events } = await api('GET', `/api/webhooks?after=${state.afterEvent}`);
  if (!events.length) return;
  const box = $('events');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  for (const e of events) {
    state.afterEvent = e.n;
    box.append(el('details', { class: e.type.includes(':delivery:') ? 'receipt' : '' },
      el('summary', {}, el('span', { class: 'time' }, `${new Date(e.at).toLocaleTimeString()} `), e.line),
      el('pre', {}, JSON.stringify({ id: e.id, type: e.type, payload: e.payload }, null, 2))));
  }
  while (box.children.length > 200) box.firstElementChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

$('receipts').addEventListener('change', () => $('events').classList.toggle('hide-receipts', !$('receipts').checked));

// ---- start -----------------------------------------------------------------------------

async function start() {
  const info = await api('GET', '/api/channels');
  state.channels = info.channels;
  $('parley').textContent = `Parley ${info.parleyUrl} · app ${info.appId} · key ${info.keyId}`;
  // ?channel=sms&user=%2B15551230001 opens that chat (links in docs and scripts).
  const params = new URLSearchParams(location.search);
  const wanted = params.get('channel') || localStorage.getItem('parley-simulator-channel');
  const first = state.channels.find((c) => c.id === wanted && c.ready) || state.channels.find((c) => c.ready) || state.channels[0];
  if (first && params.get('user')) localStorage.setItem(userStore(first.id), params.get('user'));
  if (first) pick(first.id);
  const loop = async () => {
    try {
      await Promise.all([refreshChat(), refreshEvents()]);
    } catch {
      // The simulator stopped or restarted; keep polling.
    }
    setTimeout(loop, 1000);
  };
  loop();
}

start().catch((err) => {
  document.body.prepend(el('p', { class: 'error', style: 'padding: 12px' }, `The simulator is not answering: ${err.message}`));
});
