/** The benchmarks page keeps every region and hand-written section when one region is rewritten. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replaceRegion } from './docs-page.js';
import { SOAK_BEGIN, SOAK_END } from './soak-report.js';

const legacy = [
  '# Benchmarks',
  '',
  'old report',
  '',
  '## Method',
  '',
  'how',
  '',
  '## Logging: hand-written',
  '',
  'pino',
  '',
  SOAK_BEGIN,
  '## Soak',
  SOAK_END,
  '',
].join('\n');

test('a page from before the markers: main replaced up to the hand-written section, the rest kept', () => {
  const out = replaceRegion(legacy, 'main', '# Benchmarks\n\nnew report\n\n## Method\n\nhow 2');
  assert.ok(!out.includes('old report'));
  assert.ok(out.includes('new report') && out.includes('how 2'));
  assert.ok(out.includes('## Logging: hand-written\n\npino'));
  assert.ok(out.includes(`${SOAK_BEGIN}\n## Soak\n${SOAK_END}`));
  assert.ok(out.indexOf('new report') < out.indexOf('## Logging'));
});

test('regions are replaced in place and new ones go after main, before hand-written sections', () => {
  let doc = replaceRegion(legacy, 'main', '# Benchmarks\n\nreport A');
  doc = replaceRegion(doc, 'media-workers', '## Media workers\n\nmw 1');
  doc = replaceRegion(doc, 'janus', '## Janus\n\nj 1');
  const order = ['report A', '## Janus', '## Media workers', '## Logging', SOAK_BEGIN].map((s) =>
    doc.indexOf(s),
  );
  assert.ok(order.every((i) => i >= 0));
  assert.deepEqual(
    [...order].sort((a, b) => a - b),
    order,
    doc,
  );
  // Rewriting each again changes only that region.
  const again = replaceRegion(
    replaceRegion(doc, 'janus', '## Janus\n\nj 2'),
    'main',
    '# Benchmarks\n\nreport B',
  );
  assert.equal(again, doc.replace('j 1', 'j 2').replace('report A', 'report B'));
  assert.equal(replaceRegion(again, 'janus', '## Janus\n\nj 2'), again, 'idempotent');
});

test('an unmarked main report followed by another region: rewriting main keeps that region whole', () => {
  const withJanus = replaceRegion(legacy, 'janus', '## Janus\n\nj 1');
  const out = replaceRegion(withJanus, 'main', '# Benchmarks\n\nnew report');
  assert.ok(!out.includes('old report'));
  assert.ok(out.includes('<!-- bench:janus:begin -->\n## Janus\n\nj 1\n<!-- bench:janus:end -->'), out);
  assert.ok(out.includes('## Logging: hand-written') && out.includes(SOAK_BEGIN));
  assert.equal(replaceRegion(out, 'main', '# Benchmarks\n\nnew report'), out);
});
