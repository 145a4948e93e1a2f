// bench/serve/bench.mjs — `r1c serve` under 1, 4 and 8 concurrent streaming clients (loopback):
// aggregate generated tokens/s, and p50 / p99 of time to first token and inter-token latency.
//
//   node bench/serve/bench.mjs -m MODEL [--tokens 64] [--rounds 2] [--clients 1,4,8] [--threads N]
//
// Starts the server itself (--parallel = the largest client count, a free port), greedy sampling,
// each client a distinct prompt; every request streams `tokens` tokens (ignore_eos is not an
// OpenAI field: a random model may stop early, so tokens are counted from usage).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const model = opt('-m');
if (!model) { console.error('usage: node bench/serve/bench.mjs -m MODEL [--tokens 64] [--rounds 2] [--clients 1,4,8]'); process.exit(2); }
const tokens = Number(opt('--tokens', 64)), rounds = Number(opt('--rounds', 2));
const clients = opt('--clients', '1,4,8').split(',').map(Number);
const r1c = process.env.R1C_BIN || resolve(new URL('../../build/r1c', import.meta.url).pathname);
const threads = opt('--threads', null);

const ctx = opt('--ctx', null);
const srv = spawn(r1c, ['serve', '-m', model, '--port', '0', ...(ctx ? ['-c', ctx] : []), '--parallel', String(Math.max(...clients)), ...(threads ? ['-t', threads] : [])],
  { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((ok, fail) => {
  let out = '';
  srv.stdout.on('data', (d) => { out += d; const m = out.match(/http:\/\/[\d.]+:\d+/); if (m) ok(m[0]); });
  srv.once('exit', (c) => fail(new Error(`r1c serve exited (${c})`)));
});

async function one(i) {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: `Client ${i}: write about the number ${i * 7919 % 1000}.` }],
      max_tokens: tokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  const reader = r.body.getReader(), dec = new TextDecoder();
  let buf = '', ttft = null, last = null, n = 0;
  const itl = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(6, k); buf = buf.slice(k + 2);
      if (ev === '[DONE]') continue;
      const j = JSON.parse(ev);
      if (j.usage) n = j.usage.completion_tokens;
      const d = j.choices[0]?.delta;
      if (d && (d.content || d.reasoning_content)) {
        const t = performance.now();
        if (ttft === null) ttft = t - t0; else itl.push(t - last);
        last = t;
      }
    }
  }
  return { ttft, itl, n };
}

const pct = (xs, p) => { if (!xs.length) return NaN; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
// warm-up at the largest concurrency: the server's contexts exist before anything is timed
await Promise.all(Array.from({ length: Math.max(...clients) }, (_, i) => one(1000 + i)));
console.log(`# r1c serve: ${model}, ${tokens} tokens x ${rounds} rounds per client, greedy, loopback`);
console.log('| clients | aggregate t/s | per client t/s | TTFT p50 / p99 ms | ITL p50 / p99 ms |');
console.log('|---:|---:|---:|---:|---:|');
const rows = [];
for (const c of clients) {
  const t0 = performance.now();
  const res = (await Promise.all(Array.from({ length: c }, async (_, i) => {
    const out = [];
    for (let r = 0; r < rounds; r++) out.push(await one(i + 1 + r * 100));
    return out;
  }))).flat();
  const wall = (performance.now() - t0) / 1000;
  const total = res.reduce((a, r) => a + r.n, 0);
  const ttft = res.map((r) => r.ttft).filter((x) => x !== null), itl = res.flatMap((r) => r.itl);
  const agg = total / wall;
  rows.push(agg);
  console.log(`| ${c} | ${agg.toFixed(1)} | ${(agg / c).toFixed(1)} | ${pct(ttft, 50).toFixed(0)} / ${pct(ttft, 99).toFixed(0)} | ${pct(itl, 50).toFixed(1)} / ${pct(itl, 99).toFixed(1)} |`);
}
if (clients.length > 1) console.log(`aggregate at ${clients.at(-1)} clients / at ${clients[0]}: ${(rows.at(-1) / rows[0]).toFixed(2)}x`);
srv.kill('SIGINT');
