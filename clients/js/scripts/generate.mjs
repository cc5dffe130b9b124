// Generates the TypeScript message types of proto/presence/v1/presence.proto into src/gen/ with
// protoc-gen-es (npm, @bufbuild/protoc-gen-es v2), run as a plugin of protoc (Debian's
// protobuf-compiler, which scripts/deps installs for the C++ build too). The output is not
// committed: it is rebuilt from the schema on every build, so it can never drift from it.
// PRESENCE_PROTO_DIR overrides where the schema is found (default: the repository's proto/).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '..');
const protoDir = path.resolve(process.env.PRESENCE_PROTO_DIR ?? path.join(pkg, '..', '..', 'proto'));
const out = path.join(pkg, 'src', 'gen');
const plugin = path.join(pkg, 'node_modules', '.bin', 'protoc-gen-es');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
try {
  execFileSync('protoc', [
    `--plugin=protoc-gen-es=${plugin}`,
    `--es_out=${out}`,
    '--es_opt=target=ts,import_extension=js',
    `-I${protoDir}`,
    path.join(protoDir, 'presence', 'v1', 'presence.proto'),
  ], { stdio: 'inherit' });
} catch (err) {
  if (err.code === 'ENOENT') {
    console.error('generate: protoc is needed (Debian: apt-get install protobuf-compiler; scripts/deps installs it)');
    process.exit(1);
  }
  throw err;
}
console.log(`generate: ${path.relative(pkg, out)}/presence/v1/presence_pb.ts from ${protoDir}`);
