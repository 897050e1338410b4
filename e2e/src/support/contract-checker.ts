/**
 * Reads the RealtimeKit contract (the `shared` folder beside the repository; never copied into it)
 * and checks response bodies against its schemas: $ref and allOf resolved, required fields present,
 * types, enums and the uuid/date-time formats right. Extra fields are allowed.
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

export class Contract {
  readonly doc: Json;
  constructor(doc: Json) {
    this.doc = doc;
  }

  static load(): Contract {
    return new Contract(JSON.parse(readFileSync(CONTRACT_URL, 'utf8')) as Json);
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

  /** Every way `value` breaks `schema`, as "path: problem" lines; empty when it conforms. */
  check(schema: Schema, value: unknown, at = '$'): string[] {
    const s = this.#deref(schema);
    const errors: string[] = [];
    if (value === null) {
      if (s.nullable || s.type === 'null') return [];
      if (s.anyOf?.some((x) => this.check(x, null, at).length === 0)) return [];
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
