// Measures the package's browser size: esbuild bundles an app that imports connectPresence
// (minified, browser platform), once with MQTT.js and @bufbuild/protobuf included (what an app
// ships) and once with them external (the SDK's own code and generated types), then gzips (-9).
// Usage: npm run size   (after npm run build)
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = { contents: "export { connectPresence } from './dist/index.js';", resolveDir: pkg, loader: 'js' };
const measure = async (external) => {
  const out = await build({ stdin: entry, bundle: true, minify: true, format: 'esm', platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'], write: false, external, metafile: true, logLevel: 'error' });
  const code = out.outputFiles[0].contents;
  return { min: code.length, gz: gzipSync(code, { level: 9 }).length, meta: out.metafile };
};
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const all = await measure([]);
const own = await measure(['mqtt', '@bufbuild/protobuf', '@bufbuild/protobuf/*']);
const share = {};
for (const [file, info] of Object.entries(Object.values(all.meta.outputs)[0].inputs)) {
  const key = file.includes('node_modules/mqtt/') ? 'mqtt' : file.includes('@bufbuild/protobuf') ? '@bufbuild/protobuf'
    : file.includes('/gen/') ? 'generated types' : 'sdk';
  share[key] = (share[key] ?? 0) + info.bytesInOutput;
}
console.log(`with dependencies: ${kib(all.min)} minified, ${kib(all.gz)} gzipped`);
console.log(`SDK alone (mqtt and @bufbuild/protobuf external): ${kib(own.min)} minified, ${kib(own.gz)} gzipped`);
console.log('minified bytes by part:', Object.fromEntries(Object.entries(share).map(([k, v]) => [k, kib(v)])));
