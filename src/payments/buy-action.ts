/**
 * Finds the buy action a pay link or the widget names: the message, read
 * from its conversation's Durable Object (the single owner of messages, so a
 * deleted message is gone at once, not when the index catches up), and the
 * action at (item, action). The object reads messages by cursor only, so a
 * message is read as "the one before the message after it" (or the newest):
 * two reads, on a page a person opens by hand.
 */
import type { Env } from '../env';
import { conversationStub } from '../api/context';
import { ID_PATTERN } from '../ids';
import type { Message } from '../schema/message';
import type { Action } from '../schema/content';
import type { BuyAction } from './ledger';

export type BuyLookup =
  | { ok: true; message: Message; action: BuyAction }
  | { ok: false; problem: 'message_gone' | 'not_a_buy' | 'not_participant' };

/** The message `messageId` of the conversation, read as `asUser` when given (who must take part in it), or undefined. */
async function readMessage(env: Env, appId: string, conversationId: string, messageId: string, asUser?: string): Promise<Message | undefined | 'not_participant'> {
  if (!ID_PATTERN.test(conversationId) || !ID_PATTERN.test(messageId)) return undefined;
  const stub = conversationStub(env, appId, conversationId);
  const user = asUser !== undefined ? { asUser } : {};
  const next = await stub.listMessages({ after: messageId, size: 1, ...user });
  if (!next.ok) return next.status === 403 ? 'not_participant' : undefined;
  const following = next.value.messages[0];
  const page = following ? await stub.listMessages({ before: following.id, size: 1, ...user }) : await stub.listMessages({ size: 1, ...user });
  if (!page.ok) return undefined;
  const found = page.value.messages[0];
  return found?.id === messageId ? found : undefined;
}

function actionAt(message: Message, item: number | undefined, index: number | undefined): Action | undefined {
  const content = message.content as { actions?: Action[]; items?: { actions?: Action[] }[] };
  const actions = item !== undefined ? content.items?.[item]?.actions : content.actions;
  return actions?.[index ?? 0];
}

export async function findBuyAction(
  env: Env,
  ref: { appId: string; conversationId: string; messageId: string; item?: number; action?: number },
  asUser?: string,
): Promise<BuyLookup> {
  const message = await readMessage(env, ref.appId, ref.conversationId, ref.messageId, asUser);
  if (message === 'not_participant') return { ok: false, problem: 'not_participant' };
  if (!message) return { ok: false, problem: 'message_gone' };
  const action = actionAt(message, ref.item, ref.action);
  if (action?.type !== 'buy') return { ok: false, problem: 'not_a_buy' };
  return { ok: true, message, action };
}
