/** The public events of `ParleyMessenger.on`, and a minimal emitter whose listeners cannot break the widget. */
import type { Message } from './types';

export interface EventMap {
  ready: void;
  'message:received': Message;
  'message:sent': Message;
  unreadCount: number;
  'widget:opened': void;
  'widget:closed': void;
  connected: void;
  disconnected: void;
}
export type EventName = keyof EventMap;

export class Emitter {
  private readonly listeners = new Map<EventName, Set<(arg: never) => void>>();

  on<E extends EventName>(event: E, fn: (arg: EventMap[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  emit<E extends EventName>(event: E, ...arg: EventMap[E] extends void ? [] : [EventMap[E]]): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as (a: unknown) => void)(arg[0]);
      } catch (err) {
        console.error(`ParleyMessenger: a '${event}' listener threw`, err);
      }
    }
  }
}
