/** Types for scripts/local.mjs, so TypeScript suites can start Parley the way npm start does. */
import type { ChildProcess } from 'node:child_process';

export const ROOT: string;
export const WRANGLER: string;
export const NODE_NOTE: string | undefined;
export function devLogLevel(env?: Record<string, string | undefined>): 'info' | 'warn';
export function ensureDevVars(file?: string): Record<string, string>;
export function applyMigrations(persistTo: string): void;
export function queryD1<T = Record<string, unknown>>(persistTo: string, sql: string): T[];
export function startParley(opts: {
  port?: number;
  persistTo: string;
  vars?: Record<string, string>;
  quiet?: boolean;
  inspectorPort?: number;
}): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }>;
