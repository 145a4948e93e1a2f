// helpers.mjs — starting `r1c serve` on a free loopback port for a test, and the tiny models.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
export const R1C = process.env.R1C_BIN || join(ROOT, 'build/r1c');
export const TINY = join(ROOT, 'tests/data/qwen2_tiny');

// The tiny Qwen2 model with DeepSeek-R1-Distill's chat template: the server then opens <think>
// for the model, so its (random) output is reasoning until a </think> that never comes.
export function tinyR1() {
  const dir = mkdtempSync(join(tmpdir(), 'r1c-serve-r1-'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) copyFileSync(join(TINY, f), join(dir, f));
  const cfg = JSON.parse(readFileSync(join(TINY, 'tokenizer_config.json'), 'utf8'));
  cfg.chat_template = readFileSync(join(ROOT, 'tests/data/tokenizer/deepseek_v3/templates/deepseek_r1_ollama_8b.jinja'), 'utf8');
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  return dir;
}

// Starts the server; resolves to {url, port, pid, stop()} once it prints its address.
export function startServer(args) {
  return new Promise((ok, fail) => {
    const proc = spawn(R1C, ['serve', '--port', '0', '--threads', '1', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
    });
    let out = '', err = '';
    const timer = setTimeout(() => fail(new Error(`r1c serve did not start: ${out}${err}`)), 30000);
    proc.stderr.on('data', (d) => { err += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        const port = Number(m[1]);
        ok({
          port, pid: proc.pid, url: `http://127.0.0.1:${port}`, proc,
          stderr: () => err,
          stop: () => new Promise((done) => {
            if (proc.exitCode !== null) return done(proc.exitCode);
            proc.once('exit', (code) => done(code));
            proc.kill('SIGINT');
          }),
        });
      }
    });
    proc.once('exit', (code) => { clearTimeout(timer); fail(new Error(`r1c serve exited (${code}): ${err}`)); });
  });
}

export function rssKiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : 0;
}
