/**
 * The bench Worker's wrangler config, made from wrangler.toml at each run so
 * the two never drift: the same bindings, queues and migrations, with the
 * bench entry (scripts/bench/worker/index.ts) as `main` and the floor's
 * Durable Object added. Written under .parley/ (never committed); paths are
 * rewritten relative to it. The widget is built by `prebench`, so the config
 * has no build step.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The bench config's text for a wrangler.toml text, as seen from `.parley/bench/`. */
export function benchConfigText(toml) {
  const up = '../..';
  let text = toml
    .replace(/^main\s*=\s*"([^"]+)"/m, `main = "${up}/scripts/bench/worker/index.ts"`)
    .replace(/^migrations_dir\s*=\s*"([^"]+)"/m, (_, dir) => `migrations_dir = "${up}/${dir}"`)
    // The [build] table and its keys, up to the next table.
    .replace(/^\[build\][\s\S]*?(?=^\[)/m, '');
  if (!/main = ".*scripts\/bench\/worker\/index\.ts"/.test(text)) throw new Error('wrangler.toml has no `main` line the bench can replace');
  text += `
# Added for npm run bench only: the floor it measures Parley against.
[[durable_objects.bindings]]
name = "BENCH"
class_name = "BenchDO"

[[migrations]]
tag = "bench-v1"
new_sqlite_classes = ["BenchDO"]
`;
  return text;
}

/** Writes the bench config beside the bench's other output and returns its path. */
export function writeBenchConfig(root) {
  const dir = path.join(root, '.parley', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'wrangler.toml');
  writeFileSync(file, benchConfigText(readFileSync(path.join(root, 'wrangler.toml'), 'utf8')));
  return file;
}
