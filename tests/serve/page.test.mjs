// page.test.mjs — the chat page at / in headless Chromium (Debian's chromium, driven by
// playwright-core): type a message, see the streamed reply and R1's reasoning block; the
// conversation goes on in the page. A screenshot is kept as a test artifact.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';

import { ROOT, TINY, startServer, tinyR1 } from './helpers.mjs';

const ARTIFACTS = process.env.R1C_TMP || join(ROOT, 'build/tmp');
const CHROMIUM = process.env.R1C_CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

describe('chat page', () => {
  let r1, plain, browser;
  before(async () => {
    r1 = await startServer(['-m', tinyR1(), '--alias', 'tiny-r1']);
    plain = await startServer(['-m', TINY, '--alias', 'tiny']);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  });
  after(async () => {
    await browser?.close();
    assert.equal(await r1.stop(), 0);
    assert.equal(await plain.stop(), 0);
  });

  async function send(page, text) {
    await page.fill('#input', text);
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => !document.getElementById('send').disabled && document.querySelectorAll('.assistant').length > 0,
      null, { timeout: 30000 });
  }

  test('reasoning streams into a collapsible block', async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(r1.url + '/');
    await page.waitForFunction(() => document.getElementById('model').textContent === 'tiny-r1');
    await send(page, 'What is 2+2?');
    const reasoning = page.locator('.assistant details.reasoning');
    assert.equal(await reasoning.isVisible(), true);
    assert.ok((await reasoning.locator('div').textContent()).length > 0, 'reasoning text');
    assert.equal(await reasoning.locator('summary').textContent(), 'Reasoning');
    assert.equal(await page.locator('.user').first().textContent(), 'What is 2+2?');
    assert.equal(await page.locator('.error').count(), 0);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'chat-page.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('answers stream in; the conversation continues', async () => {
    const page = await browser.newPage();
    await page.goto(plain.url + '/');
    await send(page, 'Hello');
    const first = await page.locator('.assistant .answer').first().textContent();
    assert.ok(first.length > 0, 'answer text');
    assert.equal(await page.locator('.assistant details.reasoning').first().isHidden(), true, 'no reasoning: no block');
    await send(page, 'And again');
    await page.waitForFunction(() => document.querySelectorAll('.assistant').length === 2 && !document.getElementById('send').disabled);
    assert.equal(await page.locator('.user').count(), 2);
    assert.ok((await page.locator('.assistant .answer').nth(1).textContent()).length > 0);
    await page.close();
  });
});
