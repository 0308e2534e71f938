/**
 * Drops an object's undefined fields, so adapters can write a channel's
 * optional fields inline (`defined({ timestamp: epochMs(x) })`) instead of a
 * `...(x ? { x } : {})` per field, and no event or profile carries keys that
 * say nothing.
 */
export const defined = <T extends Record<string, unknown>>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
