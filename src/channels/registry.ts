/**
 * Every channel Parley speaks, by integration type. Adding a channel is its
 * adapter file, its fake under test/fakes, and one line here.
 */
import type { ChannelAdapter } from './adapter';
import { apple } from './apple';
import { instagram } from './instagram';
import { line } from './line';
import { mailgun } from './mailgun';
import { messagebird } from './messagebird';
import { messenger } from './messenger';
import { telegram } from './telegram';
import { twilio } from './twilio';
import { twitter } from './twitter';
import { viber } from './viber';
import { wechat } from './wechat';
import { whatsapp } from './whatsapp';

/** The stored settings of any channel integration; the adapter's schema decides what is in it. */
export type ChannelConfig = { apiBaseUrl?: string } & Record<string, unknown>;

// Each adapter is typed by its own config; the registry deals in the common shape.
const ADAPTERS = [whatsapp, messenger, instagram, telegram, twilio, line, viber, messagebird, mailgun, twitter, apple, wechat] as unknown as ChannelAdapter<ChannelConfig>[];

const byType = new Map(ADAPTERS.map((a) => [a.type, a]));

/** Every channel's integration type, from the adapters themselves: the API's list of types follows this one. */
export const CHANNEL_TYPES: readonly string[] = ADAPTERS.map((a) => a.type);

export function adapterFor(type: string): ChannelAdapter<ChannelConfig> | undefined {
  return byType.get(type);
}
