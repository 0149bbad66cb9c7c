/**
 * `kiosk-ops release serve`: the TUF repository over HTTPS (node:https) with the ops server
 * certificate. Static files only, GET and HEAD, single byte ranges (RFC 9110 §14) so kiosks resume
 * interrupted downloads. Paths are confined to the repository directory.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';

export interface ServeOptions {
  dir: string;
  cert: Buffer;
  key: Buffer;
  host?: string;
  port?: number;
}

export interface RepositoryServer {
  url: string;
  /** Body bytes sent for files under targets/ (what a bench compares with the bundle size). */
  targetBytesSent(): number;
  /** Body bytes sent in all, metadata included. */
  bytesSent(): number;
  close(): Promise<void>;
}

function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'invalid' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!match) return 'invalid';
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return start <= end && start < size ? { start, end } : 'invalid';
}

export async function serveRepository(options: ServeOptions): Promise<RepositoryServer> {
  let targetBytes = 0;
  let allBytes = 0;
  const root = normalize(options.dir);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'https://repo').pathname);
    const file = normalize(join(root, pathname));
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file.startsWith(root + sep)) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405).end();
      return;
    }
    const size = await stat(file).then(
      (s) => (s.isFile() ? s.size : undefined),
      () => undefined,
    );
    if (size === undefined) {
      res.writeHead(404).end();
      return;
    }
    const range = parseRange(req.headers.range, size);
    if (range === 'invalid') {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: size - 1 };
    res.writeHead(range ? 206 : 200, {
      'accept-ranges': 'bytes',
      'content-length': String(end - start + 1),
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      'cache-control': pathname.endsWith('timestamp.json') ? 'no-store' : 'max-age=300',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file, { start, end });
    const isTarget = pathname.startsWith('/targets/');
    stream.on('data', (chunk) => {
      allBytes += chunk.length;
      if (isTarget) targetBytes += chunk.length;
    });
    stream.pipe(res);
    res.on('close', () => stream.destroy());
  };
  const server: Server = createServer({ cert: options.cert, key: options.key }, (req, res) => {
    handle(req, res).catch(() => res.headersSent || res.writeHead(500).end());
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `https://${address}:${port}/`,
    targetBytesSent: () => targetBytes,
    bytesSent: () => allBytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
