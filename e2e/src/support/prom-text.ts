/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every line
 * is a `# HELP`, a `# TYPE` or a sample; every sample belongs to a family whose TYPE came first
 * (histogram and summary samples by their `_bucket`/`_sum`/`_count` suffixes); names, label syntax,
 * escapes and values are checked; a family is declared once; the text ends with a newline.
 * Anything else throws, naming the line.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface PromFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(t: string, where: string): number {
  if (t === 'NaN') return NaN;
  if (t === '+Inf' || t === 'Inf') return Infinity;
  if (t === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) throw new Error(`${where}: bad value "${t}"`);
  return Number(t);
}

function parseLabels(s: string, where: string): [Record<string, string>, number] {
  // s starts after '{'; returns the labels and the index after '}'
  const out: Record<string, string> = {};
  let i = 0;
  while (true) {
    if (s[i] === '}') return [out, i + 1];
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (Object.hasOwn(out, name)) throw new Error(`${where}: label ${name} twice`);
    if (s[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let j = eq + 2;
    let v = '';
    for (; ; j++) {
      const c = s[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const n = s[++j];
        if (n === 'n') v += '\n';
        else if (n === '\\' || n === '"') v += n;
        else throw new Error(`${where}: bad escape \\${n}`);
      } else v += c;
    }
    out[name] = v;
    i = j + 1;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`${where}: expected ',' or '}' after a label`);
  }
}

export function parsePromText(text: string): Map<string, PromFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, PromFamily>();
  const helpSeen = new Set<string>();
  const lines = text.slice(0, -1).split('\n');
  const familyOf = (sample: string): PromFamily | undefined => {
    const direct = families.get(sample);
    if (direct) return direct;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (!sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
    return undefined;
  };
  lines.forEach((line, n) => {
    const where = `line ${n + 1} ("${line.slice(0, 60)}")`;
    if (line === '') return; // prom-client separates families with a blank line: allowed by the format
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`${where}: malformed ${line.slice(2, 6)}`);
        return; // a comment
      }
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!)) throw new Error(`${where}: bad metric name`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type "${rest}"`);
        const f = families.get(name!);
        if (f && f.samples.length) throw new Error(`${where}: TYPE after samples`);
        if (f && f.type !== 'untyped') throw new Error(`${where}: TYPE declared twice`);
        families.set(name!, {
          name: name!,
          type: rest as PromFamily['type'],
          help: f?.help ?? '',
          samples: f?.samples ?? [],
        });
      } else {
        if (helpSeen.has(name!)) throw new Error(`${where}: HELP declared twice`);
        helpSeen.add(name!);
        const f = families.get(name!);
        if (f) f.help = rest;
        else families.set(name!, { name: name!, type: 'untyped', help: rest, samples: [] });
      }
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`${where}: a sample must start with a metric name`);
    const name = nm[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const [l, end] = parseLabels(rest.slice(1), where);
      labels = l;
      rest = rest.slice(1 + end);
    }
    const parts = rest.split(' ');
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3) throw new Error(`${where}: bad sample`);
    const value = parseValue(parts[1]!, where);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) throw new Error(`${where}: bad timestamp`);
    const f = familyOf(name);
    if (!f || f.type === 'untyped') throw new Error(`${where}: sample of ${name} before its TYPE`);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: negative or NaN counter`);
    f.samples.push({ name, labels, value });
  });
  return families;
}

/** The sum of a family's samples (optionally only those whose name is `sample`). */
export function promSum(f: Map<string, PromFamily>, family: string, sample = family): number {
  const fam = f.get(family);
  if (!fam) throw new Error(`no metric family ${family}`);
  return fam.samples.filter((s) => s.name === sample).reduce((a, s) => a + s.value, 0);
}
