/**
 * A TCP link between the browser and Parley that the test can cut: the widget
 * loads from the link's URL, so every request and socket it makes crosses it.
 * `cut` resets every open connection and refuses new ones until `restore`, a
 * network drop as the browser sees one (no DevTools emulation involved).
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Link {
  /** http://127.0.0.1:<port>, standing in for the target. */
  url: string;
  /** Connections accepted (and forwarded) since the start. */
  readonly accepted: number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startLink(target: string): Promise<Link> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  let down = false;
  let accepted = 0;
  const drop = (s: Socket) => (s.destroyed ? undefined : s.resetAndDestroy());
  const server = createServer((client) => {
    if (down) return drop(client);
    accepted++;
    const upstream = connect(Number(port), hostname);
    const pairs: [Socket, Socket][] = [
      [client, upstream],
      [upstream, client],
    ];
    for (const [a, b] of pairs) {
      open.add(a);
      a.pipe(b);
      a.on('error', () => drop(b));
      a.on('close', () => {
        open.delete(a);
        b.end();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get accepted() {
      return accepted;
    },
    cut() {
      down = true;
      for (const s of open) drop(s);
      open.clear();
    },
    restore() {
      down = false;
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
