/**
 * Stored message templates (Parley's extension, all marked
 * `x-parley-extension: true`): business messages kept under a name and sent
 * by writing `%((template:NAME))%` in a text message's `text`.
 */
import { MAX_MESSAGES_PER_POST } from '../content/shorthand';
import { MESSAGE_TEMPLATE_LIMITS, messageTemplateCreateBody, messageTemplateEnvelopes as t, messageTemplateUpdateBody } from '../schema/message-template';
import { pageQuery } from '../schema/pagination';
import { envelopes as e } from '../schema/views';
import { extensions, json, type Route } from './route';

const TEMPLATES = '/v2/apps/{appId}/templates';
const ONE = `${TEMPLATES}/{templateId}`;
const WHO = "App and account keys; integration keys are refused (403), as for the app's other configuration, but may send templates.";

export const messageTemplateRoutes: Route[] = extensions([
  {
    method: 'post',
    path: TEMPLATES,
    tag: 'Message templates',
    summary: 'Create a message template',
    description:
      'Stores a business message under `name` (1–128 of `A-Z a-z 0-9 _ . -`, unique in the app, case-sensitive). A text message whose `text` holds ' +
      '`%((template:NAME))%` sends it in that place as a message of its own: text before and after become messages of their own, in order ' +
      `(at most ${MAX_MESSAGES_PER_POST} messages per post). \`content\` is any content POST .../messages takes from a business, except \`template\` (WhatsApp) ` +
      `and a text holding another template's token; its own shorthand (buttons, images) is expanded when it is sent. \`metadata\` is the template's own ` +
      `and is not copied onto messages. At most ${MESSAGE_TEMPLATE_LIMITS.perApp} per app. ${WHO}`,
    auth: 'api',
    body: messageTemplateCreateBody,
    ok: json(t.template, 'Created', 201),
    errors: [409],
  },
  { method: 'get', path: TEMPLATES, tag: 'Message templates', summary: 'List message templates', description: `In id order, with cursor pagination. ${WHO}`, auth: 'api', query: pageQuery, ok: json(t.templates, 'The templates') },
  { method: 'get', path: ONE, tag: 'Message templates', summary: 'Get a message template', description: WHO, auth: 'api', ok: json(t.template, 'The template') },
  {
    method: 'patch',
    path: ONE,
    tag: 'Message templates',
    summary: 'Update a message template',
    description: `Changes any of \`name\`, \`content\`, \`metadata\` (null clears it). The next send uses the change. ${WHO}`,
    auth: 'api',
    body: messageTemplateUpdateBody,
    ok: json(t.template, 'The template as updated'),
    errors: [409],
  },
  { method: 'delete', path: ONE, tag: 'Message templates', summary: 'Delete a message template', description: `Messages already sent stay as sent. ${WHO}`, auth: 'api', ok: json(e.empty, 'Deleted') },
]);
