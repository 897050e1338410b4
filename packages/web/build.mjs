// Bundles the pages' scripts for browsers: the join page (with the SDK inside) and the dashboard.
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;
const entries = { 'join-page': 'src/page/join-page.ts', dashboard: 'src/dashboard/dashboard.ts' };
for (const [name, entry] of Object.entries(entries)) {
  await build({
    entryPoints: [`${here}${entry}`],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    conditions: ['source'],
    sourcemap: true,
    logLevel: 'warning',
    legalComments: 'none',
    outfile: `${here}dist/browser/${name}.js`,
  });
}
