// eval.mjs — held-out accuracy by level with greedy decoding, for the recipe's checkpoint:
// each test problem's prompt (a line), then whatever the model writes; the answer is the text
// inside its last <answer>...</answer>, compared as an integer with the expected one.
//   node recipes/tiny-base/eval.mjs [--per-level 25] [--tokens 256]   (R1C: the r1c binary)
// Prints a table by level and writes work/eval.json. (Issue 8's `r1c eval` will do this in C,
// with pass@1 at temperature 0.6 as the R1 paper measures it.)
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const here = dirname(new URL(import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? Number(args[i + 1]) : d; };
const perLevel = opt('--per-level', 25), tokens = opt('--tokens', 256);
const r1c = process.env.R1C || resolve(here, '../../build/r1c');
const ckpt = join(here, 'work/ckpt');
const problems = readFileSync(join(here, 'work/test.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const byLevel = new Map();
for (const p of problems) {
  if (!byLevel.has(p.level)) byLevel.set(p.level, []);
  if (byLevel.get(p.level).length < perLevel) byLevel.get(p.level).push(p);
}
const rows = [];
for (const [level, ps] of [...byLevel].sort((a, b) => a[0] - b[0])) {
  let right = 0, formatted = 0;
  for (const p of ps) {
    const out = execFileSync(r1c, ['run', '-m', ckpt, '--raw', '--temp', '0', '-n', String(tokens), '--quiet', '-t', '2', `${p.prompt}\n`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const text = out.replace(/^answer:\n/, '');
    const m = [...text.matchAll(/<answer>([^<]*)<\/answer>/g)].pop();
    if (m) formatted++;
    if (m && /^\s*[+-]?\d+\s*$/.test(m[1]) && BigInt(m[1].trim()) === BigInt(p.answer)) right++;
  }
  rows.push({ level, n: ps.length, accuracy: right / ps.length, answer_format: formatted / ps.length });
}
console.log('| level | problems | greedy accuracy | <answer> present |');
console.log('|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.level} | ${r.n} | ${(100 * r.accuracy).toFixed(0)} % | ${(100 * r.answer_format).toFixed(0)} % |`);
writeFileSync(join(here, 'work/eval.json'), JSON.stringify({ task: 'arithmetic', decoding: 'greedy', tokens, rows }, null, 2) + '\n');
