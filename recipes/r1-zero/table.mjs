// The comparison table of docs/r1-zero.md from run.sh's eval JSONs:
//   node recipes/r1-zero/table.mjs recipes/r1-zero/work
import fs from "node:fs";
const dir = process.argv[2] || "work";
const rows = [
  ["base (pretrained only, raw prompt)", "base"],
  ["base, R1-Zero template", "base_zero_template"],
  ["R1-Zero: base + GRPO", "zero"],
  ["cold start: base + SFT on 400 traces", "cold"],
  ["R1: cold start + GRPO", "r1"],
  ["R1 + forbidden-pattern rule (final R1)", "r1_safe"],
  ["student base (dense Qwen2-style, 2.45M)", "student_base"],
  ["distilled student: + SFT on R1's traces", "student"],
];
const pct = (x) => (100 * x).toFixed(0);
let levels = null;
const out = [];
const mean = {};
for (const [label, key] of rows) {
  const f = `${dir}/eval_${key}.json`;
  if (!fs.existsSync(f)) continue;
  const d = JSON.parse(fs.readFileSync(f, "utf8"));
  levels ??= d.levels.map((r) => r.level);
  const cells = d.levels.map((r) => `${pct(r.greedy_accuracy)} / ${pct(r.pass_at_1)}`);
  const m = d.levels.reduce((a, r) => a + r.pass_at_1, 0) / d.levels.length;
  const fmt = d.levels.reduce((a, r) => a + r.format_greedy, 0) / d.levels.length;
  const viol = d.levels.reduce((a, r) => a + (r.rule_violations ?? 0), 0) / d.levels.length;
  const toks = d.levels.reduce((a, r) => a + r.mean_tokens, 0) / d.levels.length;
  mean[key] = m;
  out.push(`| ${label} | ${cells.join(" | ")} | ${pct(m)} | ${pct(fmt)} | ${toks.toFixed(0)} | ${pct(viol)} |`);
}
console.log(`| model | ${levels.map((l) => `level ${l}`).join(" | ")} | mean pass@1 | format | tokens | rule violations |`);
console.log(`|---|${levels.map(() => "---:").join("|")}|---:|---:|---:|---:|`);
for (const l of out) console.log(l);
if (mean.student && mean.r1_safe)
  console.log(`\nstudent / teacher (mean pass@1 over levels ${levels[0]}-${levels.at(-1)}): ${(100 * mean.student / mean.r1_safe).toFixed(1)} %`);
