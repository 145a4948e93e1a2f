// hostile.test.mjs — `r1c serve` under malformed and hostile input, on raw sockets: each request
// is answered (an OpenAI error object) or its connection closed; the server stays up, keeps
// serving others meanwhile, and its memory returns to where it was.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { TINY, rssKiB, startServer, tinyR1 } from './helpers.mjs';

// Under AddressSanitizer freed memory sits in its quarantine, so RSS says nothing there (its
// LeakSanitizer checks the server's exit instead).
const checkRss = !process.env.R1C_SANITIZED;

// One HTTP/1.1 exchange on a fresh connection: {status, body} or {closed: true}.
function exchange(port, { head, body = Buffer.alloc(0), byteDelayMs = 0, timeoutMs = 20000 }) {
  return new Promise((ok, fail) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => { s.destroy(); fail(new Error('no answer and no close')); }, timeoutMs);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = text.match(/^HTTP\/1\.[01] (\d{3})/);
      if (!m) return ok({ closed: true });
      const i = text.indexOf('\r\n\r\n');
      ok({ status: Number(m[1]), head: text.slice(0, i), body: text.slice(i + 4) });
    });
    const data = Buffer.concat([Buffer.from(head, 'latin1'), body]);
    if (!byteDelayMs) {
      s.end(data);
      return;
    }
    let i = 0;
    const next = () => {
      if (i >= data.length) return s.end();
      s.write(data.subarray(i, i + 1));
      i++;
      setTimeout(next, byteDelayMs);
    };
    next();
  });
}

function post(port, path, body, extra = {}) {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n`;
  return exchange(port, { head, body: b, ...extra });
}

function errorOf(r) {
  const j = JSON.parse(r.body);
  assert.ok(j.error && typeof j.error.message === 'string', `an error object: ${r.body}`);
  return j.error;
}

const user = (content) => JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 2 });

describe('hostile input', () => {
  let srv, r1;
  before(async () => {
    srv = await startServer(['-m', TINY, '--timeout', '2']);
    r1 = await startServer(['-m', tinyR1()]);
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
    assert.equal(await r1.stop(), 0);
  });

  test('malformed bodies get 400 error objects naming the field', async () => {
    const P = srv.port, C = '/v1/chat/completions';
    const cases = [
      ['{"messages":[{"role":"user","content":"hi"}]', null],                               // truncated
      ['['.repeat(100000) + ']'.repeat(100000), null],                                       // deep nesting
      ['{"messages":[{"role":"user","content":"hi"}],"max_tokens":1e999}', 'max_tokens'],    // huge number
      ['{"messages":[{"role":"user","content":"hi"}],"max_tokens":123456789012345678901234567890}', 'max_tokens'],
      ['{"messages":[{"role":"user","content":"hi"}],"max_tokens":-5}', 'max_tokens'],       // negative
      ['{"messages":"hi"}', 'messages'],                                                     // wrong types
      ['{"messages":[{"role":"user","content":{"a":1}}]}', 'messages[0].content'],
      ['{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}', 'stream'],
      ['{"messages":[{"role":"user","content":"hi"}],"seed":"x"}', 'seed'],
      ['null', 'body'],
      ['', null],
    ];
    for (const [body, param] of cases) {
      const r = await post(P, C, body);
      assert.equal(r.status, 400, `${body.slice(0, 60)}: ${r.status} ${r.body}`);
      const e = errorOf(r);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, param, body.slice(0, 60));
    }
    // invalid UTF-8 inside a JSON string: an overlong encoding, a lone continuation byte
    for (const bad of [[0xc0, 0xaf], [0x80], [0xed, 0xa0, 0x80]]) {
      const b = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"a'), Buffer.from(bad), Buffer.from('"}]}')]);
      const r = await post(P, C, b);
      assert.equal(r.status, 400);
      assert.equal(errorOf(r).param, 'messages[0].content');
    }
  });

  test('a 10 MB body is refused (413) without keeping it', async () => {
    const before = rssKiB(srv.pid);
    const big = Buffer.alloc(10 << 20, 0x61);
    const r = await post(srv.port, '/v1/chat/completions', big, { timeoutMs: 60000 });
    assert.ok(r.closed || r.status === 413, `status ${r.status}`);
    if (!r.closed) assert.equal(errorOf(r).code, 'request_too_large');
    if (checkRss) assert.ok(rssKiB(srv.pid) < before + 16 * 1024, `RSS grew from ${before} to ${rssKiB(srv.pid)} KiB`);
  });

  test('10,000 messages: accepted as JSON, refused for the context (R1 template)', async () => {
    const msgs = Array.from({ length: 10000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `m${i}` }));
    msgs.push({ role: 'user', content: 'last' });
    const r = await post(r1.port, '/v1/chat/completions', JSON.stringify({ messages: msgs, max_tokens: 2 }), { timeoutMs: 60000 });
    assert.equal(r.status, 400);
    assert.equal(errorOf(r).code, 'context_length_exceeded');
  });

  test('slowloris: a request a byte at a time is answered; a stalled one is closed; others go on', async () => {
    const body = user('slow');
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
    const slow = exchange(srv.port, { head, body: Buffer.from(body), byteDelayMs: 3 });
    // stalled: half the headers, then nothing (the server's --timeout is 2 s)
    const stalled = new Promise((ok) => {
      const s = net.connect(srv.port, '127.0.0.1', () => s.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le'));
      const t0 = Date.now();
      s.on('error', () => {});
      s.on('close', () => ok(Date.now() - t0));
      setTimeout(() => { s.destroy(); ok(-1); }, 15000);
    });
    const health = await exchange(srv.port, { head: 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' });
    assert.equal(health.status, 200, 'served while a slow client is connected');
    const r = await slow;
    assert.equal(r.status, 200, `slow request: ${r.status} ${r.body}`);
    const ms = await stalled;
    assert.ok(ms > 1000 && ms < 10000, `stalled connection closed after ${ms} ms`);
  });

  test('malformed HTTP is answered or closed; the server stays up', async () => {
    for (const head of ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
                        'GET /\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']) {
      const r = await exchange(srv.port, { head, timeoutMs: 10000 });
      assert.ok(r.closed || (r.status >= 400 && r.status < 500) || r.status === 505, `${JSON.stringify(head)}: ${r.status}`);
    }
    const wrong = await exchange(srv.port, { head: 'DELETE /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' });
    assert.equal(wrong.status, 405);
    const none = await exchange(srv.port, { head: 'GET /v2/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' });
    assert.equal(none.status, 404);
  });

  test('a client that goes away mid-stream frees its sequence', async () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'go' }], stream: true, max_tokens: 100000 });
    await new Promise((ok) => {
      const s = net.connect(srv.port, '127.0.0.1', () =>
        s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      /* gone at the first bytes: the tiny model's context (128 tokens) would end the request
       * within ~0.1 s anyway, so the client must leave well before that */
      s.on('data', () => { s.destroy(); ok(); });
      s.on('error', () => ok());
    });
    let active = -1;
    for (let i = 0; i < 200 && active !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const m = await exchange(srv.port, { head: 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' });
      active = Number((m.body.match(/^r1c_active_sequences (\d+)/m) || [])[1]);
    }
    assert.equal(active, 0, 'the abandoned sequence was cancelled');
    const m = await exchange(srv.port, { head: 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' });
    assert.match(m.body, /^r1c_requests_cancelled_total [1-9]/m);
  });

  test('still up, memory back near its baseline', async () => {
    const h = await exchange(srv.port, { head: 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' });
    assert.equal(h.status, 200);
    const base = rssKiB(srv.pid);
    for (let i = 0; i < 20; i++) await post(srv.port, '/v1/chat/completions', user(`again ${i}`));
    if (checkRss) assert.ok(rssKiB(srv.pid) < base + 8 * 1024, `RSS ${base} -> ${rssKiB(srv.pid)} KiB after 20 more requests`);
  });
});
