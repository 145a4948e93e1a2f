// openai.test.mjs — `r1c serve` through the official `openai` npm client, unchanged: models,
// chat (whole and streamed), completions, R1's reasoning fields, usage, stop sequences, error
// objects, and 8 concurrent streams that each get exactly their solo tokens (greedy).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { TINY, startServer, tinyR1 } from './helpers.mjs';

const greedy = { temperature: 0 };
const ask = (content) => [{ role: 'user', content }];

async function streamText(client, body) {
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let content = '', reasoning = '', finish = null, usage = null, role = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.role) role = c.delta.role;
    content += c.delta.content || '';
    reasoning += c.delta.reasoning_content || '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { content, reasoning, finish, usage, role, chunks };
}

describe('plain model (no chat template)', () => {
  let srv, client;
  before(async () => {
    srv = await startServer(['-m', TINY, '--alias', 'tiny', '--parallel', '8']);
    client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => assert.equal(await srv.stop(), 0, 'a clean exit on SIGINT'));

  test('models.list', async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
    assert.equal(models.data[0].object, 'model');
  });

  test('chat, whole: content, finish_reason, usage', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages: ask('Hello there'), max_tokens: 8, ...greedy });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'tiny');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 8);
    assert.ok(r.usage.prompt_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.equal(r.choices[0].message.reasoning_content, undefined);
  });

  test('chat, streamed == whole (greedy), with a usage chunk', async () => {
    const body = { model: 'tiny', messages: ask('Stream this'), max_tokens: 12, ...greedy };
    const whole = await client.chat.completions.create(body);
    const s = await streamText(client, body);
    assert.equal(s.role, 'assistant');
    assert.equal(s.content, whole.choices[0].message.content);
    assert.equal(s.finish, 'length');
    assert.deepEqual(s.usage, whole.usage);
    assert.ok(s.chunks >= 3);
  });

  test('completions', async () => {
    const r = await client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 6, ...greedy });
    assert.equal(r.object, 'text_completion');
    assert.equal(typeof r.choices[0].text, 'string');
    assert.equal(r.usage.completion_tokens, 6);
    const ids = await client.completions.create({ model: 'tiny', prompt: [1, 2, 3], max_tokens: 3, ...greedy });
    assert.equal(ids.usage.prompt_tokens, 3);
  });

  test('stop sequences end the text before them', async () => {
    const body = { model: 'tiny', messages: ask('Count'), max_tokens: 24, ...greedy };
    const full = (await client.chat.completions.create(body)).choices[0].message.content;
    assert.ok(full.length >= 6, `need some text to cut: ${JSON.stringify(full)}`);
    const stop = full.slice(3, 5);
    const cut = await client.chat.completions.create({ ...body, stop: [stop] });
    assert.equal(cut.choices[0].message.content, full.slice(0, full.indexOf(stop)));
    assert.equal(cut.choices[0].finish_reason, 'stop');
    const s = await streamText(client, { ...body, stop });
    assert.equal(s.content, full.slice(0, full.indexOf(stop)));
  });

  test('errors are OpenAI error objects', async () => {
    const cases = [
      [{ messages: ask('x'), max_tokens: -1 }, 'max_tokens'],
      [{ messages: [] }, 'messages'],
      [{ messages: ask('x'), n: 2 }, 'n'],
      [{ messages: ask('x'), temperature: 'hot' }, 'temperature'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ];
    for (const [body, param] of cases) {
      await assert.rejects(client.chat.completions.create({ model: 'tiny', ...body }), (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, `${param}: ${e}`);
        assert.equal(e.status, 400);
        assert.equal(e.param, param);
        assert.equal(e.type, 'invalid_request_error');
        return true;
      });
    }
    const long = 'word '.repeat(400);
    await assert.rejects(client.completions.create({ model: 'tiny', prompt: long, max_tokens: 1 }), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.code, 'context_length_exceeded');
      return true;
    });
  });

  test('8 concurrent streams each get their solo tokens (greedy)', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => `Request number ${i}: tell me about ${'abcdefgh'[i]}`);
    const body = (p) => ({ model: 'tiny', messages: ask(p), max_tokens: 16, ...greedy });
    const solo = [];
    for (const p of prompts) solo.push((await client.chat.completions.create(body(p))).choices[0].message.content);
    assert.ok(new Set(solo).size > 1, 'prompts should differ in output');
    const together = await Promise.all(prompts.map((p) => streamText(client, body(p))));
    together.forEach((t, i) => {
      assert.equal(t.content, solo[i], `stream ${i}`);
      assert.equal(t.usage.completion_tokens, 16);
    });
  });
});

describe('R1 chat template (reasoning)', () => {
  let srv, raw, client, rawClient;
  before(async () => {
    const dir = tinyR1();
    srv = await startServer(['-m', dir, '--alias', 'r1']);
    srv.dir = dir;
    raw = await startServer(['-m', dir, '--alias', 'r1-raw', '--reasoning-format', 'none']);
    client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    rawClient = new OpenAI({ baseURL: `${raw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
    assert.equal(await raw.stop(), 0);
  });

  test('prefix cache: a second turn evaluates only its new tokens, with the same output', async () => {
    const cached = async () => Number((await (await fetch(`${srv.url}/metrics`)).text()).match(/^r1c_prompt_tokens_cached_total (\d+)/m)[1]);
    const turn1 = ask('First question, with some words to share');
    await client.chat.completions.create({ model: 'r1', messages: turn1, max_tokens: 4, ...greedy });
    const before = await cached();
    const turn2 = [...turn1, { role: 'assistant', content: 'An answer.' }, { role: 'user', content: 'Second question' }];
    const b = await client.chat.completions.create({ model: 'r1', messages: turn2, max_tokens: 8, ...greedy });
    const reused = (await cached()) - before;
    assert.ok(reused >= 10, `prompt tokens reused: ${reused}`);
    assert.ok(reused < b.usage.prompt_tokens);
    const fresh = await startServer(['-m', srv.dir, '--alias', 'r1']); // an empty cache
    try {
      const c = await new OpenAI({ baseURL: `${fresh.url}/v1`, apiKey: 'unused', maxRetries: 0 }).chat.completions.create(
        { model: 'r1', messages: turn2, max_tokens: 8, ...greedy });
      assert.equal(b.choices[0].message.reasoning_content, c.choices[0].message.reasoning_content);
      assert.deepEqual(b.usage, c.usage);
    } finally {
      await fresh.stop();
    }
  });

  test('the text inside <think> is reasoning_content, counted as reasoning tokens', async () => {
    const body = { model: 'r1', messages: ask('What is 2+2?'), max_tokens: 10, ...greedy };
    const r = await client.chat.completions.create(body);
    const m = r.choices[0].message;
    assert.equal(typeof m.reasoning_content, 'string');
    assert.ok(m.reasoning_content.length > 0);
    assert.equal(m.content, ''); // a random model never closes </think>
    assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 10);
    const s = await streamText(client, body);
    assert.equal(s.reasoning, m.reasoning_content);
    assert.equal(s.content, '');
    // --reasoning-format none: the same tokens, all in content
    const n = await rawClient.chat.completions.create({ ...body, model: 'r1-raw' });
    assert.equal(n.choices[0].message.reasoning_content, undefined);
    assert.equal(n.choices[0].message.content, m.reasoning_content);
  });
});
