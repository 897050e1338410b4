/** Tiny helpers to write JSON Schemas for route validation (Fastify compiles them with Ajv). */
type Schema = Record<string, unknown>;

export const S = {
  str: (extra: Schema = {}): Schema => ({ type: 'string', ...extra }),
  nonEmpty: (max = 255): Schema => ({ type: 'string', minLength: 1, maxLength: max }),
  uuid: (): Schema => ({ type: 'string', format: 'uuid' }),
  bool: (): Schema => ({ type: 'boolean' }),
  int: (min?: number, max?: number): Schema => ({
    type: 'integer',
    ...(min !== undefined ? { minimum: min } : {}),
    ...(max !== undefined ? { maximum: max } : {}),
  }),
  num: (min?: number, max?: number): Schema => ({
    type: 'number',
    ...(min !== undefined ? { minimum: min } : {}),
    ...(max !== undefined ? { maximum: max } : {}),
  }),
  uri: (): Schema => ({ type: 'string', format: 'uri', maxLength: 2048 }),
  dateTime: (): Schema => ({ type: 'string', format: 'date-time' }),
  enum: (values: readonly string[]): Schema => ({ type: 'string', enum: values }),
  arr: (items: Schema, extra: Schema = {}): Schema => ({ type: 'array', items, ...extra }),
  obj: (properties: Record<string, Schema> = {}, required: string[] = [], extra: Schema = {}): Schema => ({
    type: 'object',
    properties,
    ...(required.length ? { required } : {}),
    ...extra,
  }),
  anyObj: (): Schema => ({ type: 'object' }),
  nullable: (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] }),
};

/** Paging query parameters shared by every list route. 0 and 1 both mean the first page. */
export const pagingQuery = {
  page_no: S.int(0, 1_000_000),
  per_page: S.int(1, 100),
};

export const params = {
  app: S.obj({ account_id: S.str(), app_id: S.uuid() }, ['account_id', 'app_id']),
  with: (extra: Record<string, Schema>) =>
    S.obj({ account_id: S.str(), app_id: S.uuid(), ...extra }, [
      'account_id',
      'app_id',
      ...Object.keys(extra),
    ]),
};
