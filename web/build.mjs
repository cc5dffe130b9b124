// Bundles the party page into one static folder that Mosquitto's http_dir serves:
// index.html (with the stylesheet inlined) and app.js (the page's code with the SDK and MQTT.js,
// bundled by esbuild as a classic script).
// Mosquitto 2.0.11's http_dir sends no Content-Type header at all. Browsers refuse module scripts
// and (in standards mode) stylesheets without the right MIME type, but run classic scripts and
// sniff HTML, so the page is one HTML file with inline CSS plus one classic script.
// Usage: node build.mjs <output-dir>
import { build } from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, 'dist'));
await mkdir(out, { recursive: true });
// The page is built on the SDK (clients/js, built into clients/js/dist by scripts/build-sdk); its
// own dependencies (MQTT.js, @bufbuild/protobuf) resolve from clients/js/node_modules.
const sdk = path.resolve(here, '..', 'clients', 'js', 'dist', 'index.js');
await build({
  entryPoints: [path.join(here, 'src/app.js')],
  alias: { '@mqtt-presence/client': sdk },
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: true,
  outfile: path.join(out, 'app.js'),
  logLevel: 'warning',
});
const css = await readFile(path.join(here, 'src/style.css'), 'utf8');
const html = await readFile(path.join(here, 'src/index.html'), 'utf8');
const link = '<link rel="stylesheet" href="style.css">';
if (!html.includes(link)) throw new Error(`src/index.html must contain ${link}`);
await writeFile(path.join(out, 'index.html'), html.replace(link, () => `<style>\n${css}</style>`));
console.log(`build-web: page in ${out}`);
