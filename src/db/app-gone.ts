/**
 * A write refused by a foreign key means its app was deleted while this
 * isolate's caches still knew it (another isolate served the deletion). That
 * is the app's absence, answered 404 as a fresh isolate would, not a fault.
 */
import { notFound } from '../http/errors';

export const isForeignKeyFailure = (err: unknown) => err instanceof Error && /FOREIGN KEY constraint failed/i.test(err.message);

export async function orAppGone<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (isForeignKeyFailure(err)) throw notFound('app_not_found', 'App not found');
    throw err;
  }
}
