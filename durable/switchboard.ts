/**
 * The conversation's switchboard state: which switchboard integration is in
 * control (`activeSwitchboardIntegration`) and which was offered control
 * (`pendingSwitchboardIntegration`). It lives on the conversation row and
 * changes inside the same transactions as messages, so every event carries
 * the state it was raised under and the webhook consumer routes it by that
 * (src/delivery/webhook-routing.ts), with no D1 read per message.
 *
 * The app's configuration comes with each call (the Worker's cached
 * `SwitchboardConfig`): a new conversation starts on the default; a user
 * message in a conversation nobody controls, or whose controller was deleted,
 * puts it back on the default without a `switchboard:passControl` event, as
 * Sunshine does. The four control actions follow the contract's rules: a
 * reference that names nothing (or more than one) is refused with a 400, an
 * integration-scoped caller may only act as itself (403), and what the
 * conversation's state forbids raises the action's `:failure` event.
 */
import { fail, type Result } from '../src/http/errors';
import type { Conversation } from '../src/schema/conversation';
import type { ControlAction, SwitchboardConfig, SwitchboardIntegrationRef } from '../src/schema/switchboard';
import { switchboardEvent } from '../src/webhooks/events';
import { NOT_FOUND, type Core } from './core';
import type { Messages } from './messages';
import { toConversation, type ConversationRow } from './record';

export interface ControlRequest {
  action: ControlAction;
  /** passControl and offerControl: a switchboard integration id, name or integration type, or `next`. */
  target?: string;
  metadata?: Record<string, unknown>;
  /** The caller when it is integration-scoped: it may only act as the switchboard integration standing for it. */
  caller?: { integrationId: string; integrationType: string };
  config: SwitchboardConfig;
  /** messageHistoryCount of each switchboard integration that asked for history on handover. */
  historyCounts?: Record<string, number>;
}

type Config = SwitchboardConfig['integrations'][number];

const refOf = (i: Config): SwitchboardIntegrationRef => ({ id: i.id, name: i.name, ...(i.integrationId ? { integrationId: i.integrationId } : {}), integrationType: i.integrationType });
const parse = (json: string | null): SwitchboardIntegrationRef | null => (json ? (JSON.parse(json) as SwitchboardIntegrationRef) : null);

const INVALID_TARGET = 'switchboard_invalid_target';

/** Who a new conversation starts with: the default of an enabled switchboard, else nobody. */
export function startingController(config: SwitchboardConfig | null | undefined): SwitchboardIntegrationRef | null {
  if (!config?.enabled || !config.defaultId) return null;
  const d = config.integrations.find((i) => i.id === config.defaultId);
  return d ? refOf(d) : null;
}

/**
 * Before a user's message is stored: with an enabled switchboard, a
 * conversation nobody controls (released, older than the switchboard) or
 * whose controller is no longer configured goes to the default, silently.
 * Writes only when the state changes; answers the row as it now is.
 */
export function beforeUserMessage(core: Core, row: ConversationRow, config: SwitchboardConfig | null | undefined): ConversationRow {
  if (!config?.enabled) return row;
  const active = parse(row.active_switchboard);
  if (active && config.integrations.some((i) => i.id === active.id)) return row;
  const fallback = startingController(config);
  if (!fallback || fallback.id === active?.id) return row;
  const pending = parse(row.pending_switchboard);
  return core.record.setSwitchboard(row, fallback, pending && config.integrations.some((i) => i.id === pending.id) ? pending : null);
}

export class SwitchboardState {
  constructor(
    private core: Core,
    private messages: Messages,
  ) {}

  act(req: ControlRequest): Result<Conversation> {
    const { core } = this;
    const row0 = core.record.live();
    if (!row0) return NOT_FOUND;
    const active = parse(row0.active_switchboard);
    const pending = parse(row0.pending_switchboard);
    const callerIs = (ref: SwitchboardIntegrationRef | null) =>
      !req.caller || (ref !== null && (ref.integrationId ? ref.integrationId === req.caller.integrationId : ref.integrationType === req.caller.integrationType));

    const unchanged: Result<Conversation> = { ok: true, value: toConversation(row0) };
    let target: Config | undefined;
    let failure: string | undefined;
    if (req.action === 'passControl' || req.action === 'offerControl') {
      const asController = callerIs(active);
      // An integration that no longer controls the conversation repeating `next` (a retried handover) is disregarded, as the contract says.
      if (!asController && req.action === 'passControl' && req.target === 'next') return unchanged;
      if (req.target === 'next') {
        const nextId = active && req.config.integrations.find((i) => i.id === active.id)?.nextSwitchboardIntegrationId;
        target = nextId ? req.config.integrations.find((i) => i.id === nextId) : undefined;
        if (!target) failure = active ? `${active.name} has no nextSwitchboardIntegrationId` : 'no switchboard integration controls the conversation, so it has no next';
      } else {
        const resolved = resolve(req.config, req.target!);
        if (!resolved.ok) return resolved;
        target = resolved.value;
      }
      if (!asController) {
        // Passing to the one already in control is idempotent; anything else needs the caller to be in control (or nobody to be).
        if (req.action === 'passControl' && target && target.id === active?.id) return unchanged;
        if (active !== null || req.action === 'offerControl') return fail(403, 'forbidden', `An integration may ${req.action} only while it controls the conversation`);
      }
      if (req.action === 'offerControl' && target && target.id === active?.id) failure = `${target.name} already controls the conversation`;
    } else if (req.action === 'acceptControl') {
      if (!callerIs(pending)) return fail(403, 'forbidden', 'Only the switchboard integration that was offered control may accept it');
      if (!pending) failure = 'no switchboard integration was offered control';
    } else if (!callerIs(active)) {
      return fail(403, 'forbidden', 'Only the switchboard integration that controls the conversation may release it');
    }

    core.transact(() => {
      let row = row0;
      if (failure !== undefined) {
        core.raise(switchboardEvent(`switchboard:${req.action}:failure`, toConversation(row), { metadata: req.metadata, error: { code: INVALID_TARGET, message: failure } }));
        return;
      }
      let gotControl: SwitchboardIntegrationRef | null = null;
      if (req.action === 'passControl') row = core.record.setSwitchboard(row, (gotControl = refOf(target!)), null);
      else if (req.action === 'offerControl') row = core.record.setSwitchboard(row, active, refOf(target!));
      else if (req.action === 'acceptControl') row = core.record.setSwitchboard(row, (gotControl = pending), null);
      else row = core.record.setSwitchboard(row, null, null);
      const count = gotControl ? req.historyCounts?.[gotControl.id] : undefined;
      const messageHistory = count ? this.history(count) : undefined;
      core.raise(switchboardEvent(`switchboard:${req.action}`, toConversation(row), { metadata: req.metadata, ...(messageHistory ? { messageHistory } : {}) }));
    });
    core.afterCommit();
    return { ok: true, value: toConversation(core.record.row()!) };
  }

  /** The newest `count` messages, oldest first, for the integration that takes control. */
  private history(count: number): Record<string, unknown>[] {
    const page = this.messages.list({ size: count });
    return page.ok ? (page.value.messages as unknown as Record<string, unknown>[]) : [];
  }
}

/** A reference by id, then by name, then by integration type (which must name exactly one). */
function resolve(config: SwitchboardConfig, ref: string): Result<Config> {
  const byId = config.integrations.find((i) => i.id === ref) ?? config.integrations.find((i) => i.name === ref);
  if (byId) return { ok: true, value: byId };
  const byType = config.integrations.filter((i) => i.integrationType === ref);
  if (byType.length === 1) return { ok: true, value: byType[0]! };
  if (byType.length > 1) return fail(400, 'bad_request', `switchboardIntegration: ${byType.length} switchboard integrations have integrationType ${ref}; name one by id or name`);
  return fail(400, 'bad_request', `switchboardIntegration: no switchboard integration has the id, name or integrationType ${ref}`);
}
