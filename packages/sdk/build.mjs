// Bundles the SDK for browsers: an ES module and an IIFE that defines the global `RealtimeKitClient`.
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;
const common = {
  entryPoints: [`${here}src/browser-entry.ts`],
  bundle: true,
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  conditions: ['source'],
  sourcemap: true,
  logLevel: 'warning',
  legalComments: 'none',
};
await Promise.all([
  build({ ...common, format: 'esm', outfile: `${here}dist/browser/realtimekit-client.js` }),
  build({
    ...common,
    format: 'iife',
    globalName: 'RealtimeKitClientModule',
    // The global is the class itself, as with RealtimeKit's script tag; the rest hangs off the module.
    footer: { js: 'var RealtimeKitClient = RealtimeKitClientModule.RealtimeKitClient;' },
    outfile: `${here}dist/browser/realtimekit-client.iife.js`,
  }),
]);
