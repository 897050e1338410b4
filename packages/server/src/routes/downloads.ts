import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import type { RouteDeps } from '../http/deps.js';
import { S } from '../http/schema.js';
import type { RecordingStorage } from '../storage/recording-storage.js';

/** Parses a single `bytes=a-b` range; undefined when absent; throws when unsatisfiable. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === ''))
    throw new RtkError('RANGE_NOT_SATISFIABLE', `Unsupported Range "${header}"`);
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end)
    throw new RtkError('RANGE_NOT_SATISFIABLE', `Range "${header}" is outside 0-${size - 1}`);
  return { start, end };
}

/** Signed, expiring downloads of recording files; no admin token needed, HTTP Range supported. */
export function downloadRoutes(app: FastifyInstance, d: RouteDeps, storage: RecordingStorage): void {
  app.get<{
    Params: { recording_id: string; file: string };
    Querystring: { expires?: string; sig?: string };
  }>(
    '/v1/downloads/:recording_id/:file',
    {
      schema: {
        params: S.obj({ recording_id: S.uuid(), file: S.str({ pattern: '^[-\\w.]{1,255}$' }) }),
        querystring: S.obj({ expires: S.str(), sig: S.str() }),
      },
    },
    async (req, reply) => {
      const { recording_id: id, file } = req.params;
      d.signer.verify(id, file, req.query.expires, req.query.sig);
      const rec = await d.repo.recordings.get(id);
      // The file name must be one the recording lists: never a path built from the URL alone.
      const entry = rec?.files.find((f) => f.file_name === file);
      if (!rec || !entry) throw new RtkError('NOT_FOUND', `File ${file} not found`);
      const size = await storage.size(id, entry.file_name);
      if (size === undefined) throw new RtkError('NOT_FOUND', `File ${file} is missing from storage`);
      const range = parseRange(req.headers.range, size);
      const type = file.endsWith('.json') ? 'application/json' : 'audio/webm';
      void reply
        .header('accept-ranges', 'bytes')
        .header('content-type', type)
        .header('content-disposition', `attachment; filename="${entry.file_name}"`)
        .header('cache-control', 'private, max-age=0')
        // Extension: readable from any origin (the dashboard served by another node of a cluster
        // reads a manifest here). Safe: no cookie or token is involved, the signed link is the key.
        .header('access-control-allow-origin', '*')
        .header('access-control-expose-headers', 'accept-ranges, content-range, content-length');
      if (range) {
        void reply
          .status(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
          .header('content-length', range.end - range.start + 1);
      } else {
        void reply.header('content-length', size);
      }
      return reply.send(storage.read(id, entry.file_name, range));
    },
  );
}
