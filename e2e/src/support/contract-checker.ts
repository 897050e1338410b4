/**
 * Reads the RealtimeKit contract (the `shared` folder beside the repository; never copied into it)
 * and checks response bodies against its schemas: $ref and allOf resolved, required fields present,
 * types, enums and the uuid/date-time formats right, `null` only where the schema is `nullable`.
 * Extra fields are allowed.
 *
 * `contractFetch` is a `fetch` that checks every answer it gets against the operation it belongs to
 * (the success schema, the declared error schema, or RealtimeKit's error envelope), so a test suite
 * driven through it validates every answer, not only the ones it looks at.
 */
import { readFileSync } from 'node:fs';

type Schema = {
  $ref?: string;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  type?: string;
  nullable?: boolean;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  format?: string;
};
type Json = Record<string, unknown>;

export const CONTRACT_URL = new URL('../../../../shared/contract/realtimekit-openapi.json', import.meta.url);
export const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export interface ContractOp {
  method: (typeof HTTP_METHODS)[number];
  path: string;
  successStatus: number;
  responses: Record<string, unknown>;
}

/**
 * A documented place where this server answers differently from the contract on purpose. `at`
 * matches the JSON path of the value (`$.data.download_url`, `$.data[3].download_url`); the value
 * is let through only if `accepts` says it has the documented shape. Everything else is checked.
 */
export interface Deviation {
  at: RegExp;
  /** Where docs/api.md explains it (a phrase that must appear there). */
  documented: string;
  accepts(value: unknown): boolean;
}

const isTrackLayers = (v: unknown): boolean =>
  Array.isArray(v) &&
  v.every(
    (l: { layer_name?: unknown; download_urls?: unknown }) =>
      typeof l?.layer_name === 'string' &&
      typeof l.download_urls === 'object' &&
      l.download_urls !== null &&
      Object.values(l.download_urls).every(
        (u: { download_url?: unknown }) => typeof u?.download_url === 'string',
      ),
  );

/** This server's documented deviations (docs/api.md, "Track recordings"). */
export const DEVIATIONS: Deviation[] = [
  {
    // A track recording has several files: its download_url is a list of layers, not one URL.
    at: /^\$\.data(\[\d+\]|\.recording)?\.download_url$/,
    documented: 'its `download_url` is a list of layers',
    accepts: isTrackLayers,
  },
];

export class Contract {
  readonly doc: Json;
  readonly #deviations: Deviation[];
  constructor(doc: Json, deviations: Deviation[] = []) {
    this.doc = doc;
    this.#deviations = deviations;
  }

  static load(deviations: Deviation[] = []): Contract {
    return new Contract(JSON.parse(readFileSync(CONTRACT_URL, 'utf8')) as Json, deviations);
  }

  #deref<T>(node: T): T {
    let n = node as { $ref?: string };
    while (n && typeof n === 'object' && typeof n.$ref === 'string') {
      const parts = n.$ref.replace(/^#\//, '').split('/');
      let cur: unknown = this.doc;
      for (const p of parts) cur = (cur as Json)[p];
      if (cur === undefined) throw new Error(`unresolvable $ref ${n.$ref}`);
      n = cur as { $ref?: string };
    }
    return n as T;
  }

  ops(): ContractOp[] {
    const out: ContractOp[] = [];
    for (const [path, item] of Object.entries(this.doc.paths as Record<string, Json>)) {
      for (const method of HTTP_METHODS) {
        const op = item[method] as { responses?: Record<string, unknown> } | undefined;
        if (!op) continue;
        const codes = Object.keys(op.responses ?? {}).map(Number);
        const success = codes.find((c) => c >= 200 && c < 300);
        if (success === undefined) throw new Error(`${method} ${path} has no success response`);
        out.push({ method, path, successStatus: success, responses: op.responses ?? {} });
      }
    }
    return out;
  }

  op(method: string, path: string): ContractOp {
    const found = this.ops().find((o) => o.method === method.toLowerCase() && o.path === path);
    if (!found) throw new Error(`contract has no ${method} ${path}`);
    return found;
  }

  /** The JSON schema of an operation's response with that status. */
  responseSchema(method: string, path: string, status: number): Schema {
    const op = this.op(method, path);
    const resp = op.responses[String(status)];
    if (!resp) throw new Error(`contract: ${method} ${path} has no ${status} response`);
    const r = this.#deref(resp as { content?: Record<string, { schema?: Schema }> });
    const schema = r.content?.['application/json']?.schema;
    if (!schema) throw new Error(`contract: ${method} ${path} ${status} has no JSON schema`);
    return schema;
  }

  /** The contract operation a request path (with or without `/client/v4`) belongs to, if any. */
  match(method: string, path: string): ContractOp | undefined {
    const segs = path
      .replace(/^\/client\/v4/, '')
      .split('?')[0]!
      .split('/');
    let best: { op: ContractOp; literals: number } | undefined;
    for (const op of this.ops()) {
      if (op.method !== method.toLowerCase()) continue;
      const tpl = op.path.split('/');
      if (tpl.length !== segs.length) continue;
      let literals = 0;
      const fits = tpl.every((t, i) => {
        if (/^\{[^}]+\}$/.test(t)) return segs[i] !== '';
        literals++;
        return t === segs[i];
      });
      // A literal segment wins over a parameter (`/webhooks/all` over `/webhooks/{webhook_id}`).
      if (fits && (!best || literals > best.literals)) best = { op, literals };
    }
    return best?.op;
  }

  /**
   * Every way an answer breaks the contract of `op`: the declared schema for that status; for an
   * undeclared error status, RealtimeKit's error envelope with `error.code` equal to the status; an
   * undeclared success status is itself a violation.
   */
  checkAnswer(op: ContractOp, status: number, body: unknown): string[] {
    if (op.responses[String(status)])
      return this.check(this.responseSchema(op.method, op.path, status), body);
    if (status >= 200 && status < 300) return [`status ${status}, the contract answers ${op.successStatus}`];
    const errors = this.check({ $ref: '#/components/schemas/realtimekit_GenericErrorResponse' }, body);
    const b = body as { success?: unknown; error?: { code?: unknown } } | null;
    if (b?.success !== false) errors.push('$.success: must be false in an error answer');
    if (b?.error?.code !== status) errors.push(`$.error.code: must be the HTTP status ${status}`);
    return errors;
  }

  /** Every way `value` breaks `schema`, as "path: problem" lines; empty when it conforms. */
  check(schema: Schema, value: unknown, at = '$'): string[] {
    if (this.#deviations.some((d) => d.at.test(at) && d.accepts(value))) return [];
    const s = this.#deref(schema);
    const errors: string[] = [];
    if (value === null) {
      if (s.nullable || s.type === 'null') return [];
      const alts = s.anyOf ?? s.oneOf;
      if (alts?.some((x) => this.check(x, null, at).length === 0)) return [];
      // allOf: null is allowed only when every part allows it.
      if (s.allOf?.length && s.allOf.every((x) => this.check(x, null, at).length === 0)) return [];
      return [`${at}: is null but not nullable`];
    }
    for (const part of s.allOf ?? []) errors.push(...this.check(part, value, at));
    const alts = s.anyOf ?? s.oneOf;
    if (alts && !alts.some((x) => this.check(x, value, at).length === 0)) {
      errors.push(`${at}: matches none of ${alts.length} alternatives`);
    }
    const type = s.type ?? (s.properties || s.required ? 'object' : undefined);
    switch (type) {
      case 'object':
        if (typeof value !== 'object' || Array.isArray(value)) return [...errors, `${at}: must be an object`];
        break;
      case 'array':
        if (!Array.isArray(value)) return [...errors, `${at}: must be an array`];
        break;
      case 'string':
        if (typeof value !== 'string')
          return [...errors, `${at}: must be a string, got ${JSON.stringify(value)}`];
        if (s.format === 'uuid' && !UUID.test(value)) errors.push(`${at}: must be a uuid, got ${value}`);
        if (s.format === 'date-time' && !(DATE_TIME.test(value) && !Number.isNaN(Date.parse(value))))
          errors.push(`${at}: must be an ISO date-time, got ${value}`);
        break;
      case 'number':
        if (typeof value !== 'number' || !Number.isFinite(value)) errors.push(`${at}: must be a number`);
        break;
      case 'integer':
        if (!Number.isInteger(value)) errors.push(`${at}: must be an integer`);
        break;
      case 'boolean':
        if (typeof value !== 'boolean') errors.push(`${at}: must be a boolean`);
        break;
    }
    if (s.enum && !s.enum.includes(value))
      errors.push(`${at}: ${JSON.stringify(value)} is not one of ${s.enum.join(', ')}`);
    if (typeof value === 'object' && !Array.isArray(value)) {
      const obj = value as Json;
      for (const r of s.required ?? []) if (obj[r] === undefined) errors.push(`${at}.${r}: is required`);
      for (const [k, v] of Object.entries(obj)) {
        const prop = s.properties?.[k];
        if (prop) errors.push(...this.check(prop, v, `${at}.${k}`));
        else if (s.additionalProperties && typeof s.additionalProperties === 'object')
          errors.push(...this.check(s.additionalProperties, v, `${at}.${k}`));
      }
    }
    if (Array.isArray(value) && s.items) {
      value.forEach((v, i) => errors.push(...this.check(s.items as Schema, v, `${at}[${i}]`)));
    }
    return errors;
  }
}

/** One answer `contractFetch` saw, with what is wrong with it (empty: it conforms). */
export interface CheckedAnswer {
  method: string;
  path: string;
  status: number;
  /** The contract path it was checked against; undefined for routes outside the contract. */
  op: string | undefined;
  errors: string[];
}

/**
 * A `fetch` that checks every JSON answer to a contract route against the contract and appends the
 * result to `log`. Answers of routes outside the contract (`/healthz`, downloads) are logged with
 * `op: undefined` and not checked.
 */
export function contractFetch(contract: Contract, log: CheckedAnswer[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const url = new URL(input instanceof Request ? input.url : String(input));
    const op = contract.match(method, url.pathname);
    const entry: CheckedAnswer = {
      method,
      path: url.pathname,
      status: res.status,
      op: op?.path,
      errors: [],
    };
    if (op) {
      const text = await res.clone().text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        entry.errors.push(`not JSON: ${text.slice(0, 200)}`);
      }
      if (body !== undefined) {
        entry.errors.push(...contract.checkAnswer(op, res.status, body));
        if (entry.errors.length) entry.errors.push(`body: ${text.slice(0, 2000)}`);
      }
    }
    log.push(entry);
    return res;
  };
}
