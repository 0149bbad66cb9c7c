/**
 * How the kiosk reads an update repository: over HTTPS from the ops server, with TLS that trusts
 * only the ops CA (not the system store), or from a directory (a technician's USB stick) with no
 * network at all. Both are addressed by URL (https: or file:) so tuf-js and the downloader see one
 * interface.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DownloadHTTPError, DownloadLengthMismatchError } from 'tuf-js/dist/error.js';
import type { Fetcher } from 'tuf-js';

export type UpdateSource =
  { kind: 'https'; baseUrl: string; ca: Buffer } | { kind: 'directory'; dir: string };

export function sourceBaseUrl(source: UpdateSource): string {
  const base = source.kind === 'https' ? source.baseUrl : pathToFileURL(source.dir).toString();
  return base.endsWith('/') ? base : `${base}/`;
}

export interface OpenedStream {
  /** Bytes that follow `from` (or the whole file when the server ignored the range). */
  body: Readable;
  /** Offset of the first byte of `body` in the file. */
  start: number;
  /** Size of the whole file, where known. */
  total: number | undefined;
}

/**
 * Opens `url` from byte `from` on. HTTPS sends `Range: bytes=from-` (RFC 9110 §14); a 200 answer
 * means the server ignored it and the body starts at 0.
 */
export async function openStream(
  url: string,
  source: UpdateSource,
  from = 0,
  signal?: AbortSignal,
): Promise<OpenedStream> {
  if (url.startsWith('file:')) return openFile(fileURLToPath(url), from);
  if (source.kind !== 'https') throw new DownloadHTTPError('not a file URL', 400);
  const response = await httpsGet(url, source.ca, from > 0 ? { Range: `bytes=${from}-` } : {}, signal);
  const status = response.statusCode ?? 0;
  if (status === 206) {
    const total = /\/(\d+)$/.exec(response.headers['content-range'] ?? '')?.[1];
    return { body: response, start: from, total: total === undefined ? undefined : Number(total) };
  }
  if (status === 200) {
    const length = response.headers['content-length'];
    return { body: response, start: 0, total: length === undefined ? undefined : Number(length) };
  }
  response.resume();
  throw new DownloadHTTPError(`HTTP ${status}`, status);
}

async function openFile(path: string, from: number): Promise<OpenedStream> {
  const size = await stat(path).then(
    (s) => s.size,
    () => {
      // tuf-js ends its walk of root versions on 404: a missing file on the stick is exactly that
      throw new DownloadHTTPError('not found', 404);
    },
  );
  const start = Math.min(from, size);
  return { body: createReadStream(path, { start }), start, total: size };
}

function httpsGet(
  url: string,
  ca: Buffer,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<IncomingMessage> {
  // Only the ops CA: a certificate from any public CA is refused, so a hijacked DNS name is not enough.
  const options: RequestOptions = { ca, headers, rejectUnauthorized: true, signal, timeout: 30_000 };
  return new Promise((resolve, reject) => {
    const req = request(url, options, resolve);
    req.on('timeout', () => req.destroy(new DownloadHTTPError('timeout', 408)));
    req.on('error', reject);
    req.end();
  });
}

/** tuf-js's Fetcher over the same transport: metadata is small and read whole. */
export class SourceFetcher implements Fetcher {
  constructor(private readonly source: UpdateSource) {}

  async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    const { body } = await openStream(url, this.source);
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > maxLength) {
        body.destroy();
        throw new DownloadLengthMismatchError('metadata longer than allowed');
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  async downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    void url;
    void maxLength;
    void handler;
    // Targets go through src/update/download.ts (resumable, bandwidth-capped), never through here.
    throw new Error('targets are downloaded by the resumable downloader');
  }
}
