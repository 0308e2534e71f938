/**
 * A user's devices in D1 (v2 `device`): the browsers behind their `sdk`
 * clients, written when a browser opens the Web Messenger or logs in
 * (src/db/web-clients.ts), read here for `listDevices` and `getDevice`.
 */
import type { Env } from '../env';

export interface Device {
  id: string;
  guid: string;
  clientId: string;
  integrationId: string;
  status: 'active' | 'inactive';
  /** The official client's Device.TypeEnum: a Web Messenger browser is a `web` device. */
  type: 'web' | 'ios' | 'android';
  lastSeen: string;
  appVersion?: string;
  info: Record<string, string>;
}

type DeviceRow = {
  id: string;
  guid: string;
  client_id: string;
  integration_id: string;
  status: string;
  type: string;
  last_seen: string;
  app_version: string | null;
  info: string | null;
};

const toDevice = (r: DeviceRow): Device => ({
  id: r.id,
  guid: r.guid,
  clientId: r.client_id,
  integrationId: r.integration_id,
  status: r.status as Device['status'],
  type: r.type as Device['type'],
  lastSeen: r.last_seen,
  ...(r.app_version ? { appVersion: r.app_version } : {}),
  info: r.info ? (JSON.parse(r.info) as Record<string, string>) : {},
});

/** The user's devices, most recently seen first (at most a few per browser the user opened the widget in). */
export async function listDevices(env: Env, appId: string, userId: string): Promise<Device[]> {
  const { results } = await env.DB.prepare(
    `SELECT d.* FROM devices d JOIN clients c ON c.id = d.client_id
     WHERE c.app_id = ? AND c.user_id = ? AND d.app_id = ? ORDER BY d.last_seen DESC, d.id LIMIT 100`,
  )
    .bind(appId, userId, appId)
    .all<DeviceRow>();
  return results.map(toDevice);
}

/** The client's device seen last (a browser's session, a login). */
export async function latestDevice(env: Env, appId: string, clientId: string): Promise<Device | undefined> {
  const row = await env.DB.prepare('SELECT * FROM devices WHERE app_id = ? AND client_id = ? ORDER BY last_seen DESC, id DESC LIMIT 1').bind(appId, clientId).first<DeviceRow>();
  return row ? toDevice(row) : undefined;
}

export async function getDevice(env: Env, appId: string, userId: string, deviceId: string): Promise<Device | undefined> {
  const row = await env.DB.prepare('SELECT d.* FROM devices d JOIN clients c ON c.id = d.client_id WHERE c.app_id = ? AND c.user_id = ? AND d.id = ?')
    .bind(appId, userId, deviceId)
    .first<DeviceRow>();
  return row ? toDevice(row) : undefined;
}
