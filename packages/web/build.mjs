// Bundles the join page's script (with the SDK inside) for browsers.
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;
await build({
  entryPoints: [`${here}src/page/join-page.ts`],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  conditions: ['source'],
  sourcemap: true,
  logLevel: 'warning',
  legalComments: 'none',
  outfile: `${here}dist/browser/join-page.js`,
});
