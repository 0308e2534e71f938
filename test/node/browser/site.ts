/**
 * The customer's site of the browser suites: a loopback server whose pages
 * load the widget, so the widget runs cross-origin from Parley as it does on a
 * real site. `page` answers the HTML for a path, or undefined for a 404.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Site {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  close(): Promise<void>;
}

export async function hostSite(page: (url: URL) => string | undefined): Promise<Site> {
  const server = createServer((req, res) => {
    const html = page(new URL(req.url ?? '/', 'http://site'));
    if (html === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
