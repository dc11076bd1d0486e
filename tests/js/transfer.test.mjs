// Attachment transfers: the phases and percentages users see (static/js/transfer.js), and the
// API client's upload (XMLHttpRequest progress events) and download (stream reading) paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Api } from '../../static/js/api.js';
import { describeTransfer, PHASE, percentOf, progressReporter, readAll, retryDelayMs, uploadOutcome } from '../../static/js/transfer.js';

test('percentages are whole, clamped, and unknown without a total', () => {
  assert.equal(percentOf(0, 100), 0);
  assert.equal(percentOf(999, 1000), 99);
  assert.equal(percentOf(1000, 1000), 100);
  assert.equal(percentOf(2000, 1000), 100);
  assert.equal(percentOf(10, 0), null);
  assert.equal(percentOf(10, null), null);
  assert.equal(percentOf(10, NaN), null);
});

test('encrypting and decrypting are shown as busy without a percentage', () => {
  for (const phase of [PHASE.ENCRYPTING, PHASE.DECRYPTING]) {
    const shown = describeTransfer({ phase, loaded: 50, total: 100 });
    assert.equal(shown.percent, null, phase);
    assert.equal(shown.busy, true, phase);
    assert.match(shown.label, /ing…$/);
  }
});

test('uploading and downloading show their percentage, or none when the size is unknown', () => {
  assert.deepEqual(describeTransfer({ phase: PHASE.UPLOADING, loaded: 420, total: 1000 }), { label: 'Uploading 42 %', percent: 42, busy: true });
  assert.deepEqual(describeTransfer({ phase: PHASE.DOWNLOADING, loaded: 5, total: null }), { label: 'Downloading…', percent: null, busy: true });
});

test('queued, waiting and failed are not busy and say why', () => {
  const waiting = describeTransfer({ phase: PHASE.WAITING });
  assert.equal(waiting.busy, false);
  assert.match(waiting.label, /connection/);
  const queued = describeTransfer({ phase: PHASE.QUEUED });
  assert.deepEqual(queued, { label: 'Waiting to upload', percent: null, busy: false });
  const failed = describeTransfer({ phase: PHASE.FAILED, error: 'too big' });
  assert.equal(failed.label, 'Upload failed: too big');
  assert.equal(describeTransfer(null).label, '');
});

test('an upload waits when offline, retries soon when asked, fails on what cannot succeed', () => {
  assert.equal(uploadOutcome('offline'), 'wait');
  assert.equal(uploadOutcome('timeout'), 'wait');
  assert.equal(uploadOutcome('retry'), 'later');
  assert.equal(uploadOutcome('rate_limited'), 'later');
  for (const code of ['too_large', 'forbidden', 'not_found', 'bad_request', undefined]) assert.equal(uploadOutcome(code), 'failed', code);
});

test('automatic retries back off from 2 s to at most a minute', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map((n) => retryDelayMs(n)), [2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  assert.equal(retryDelayMs(0), 2000);
});

test('the progress reporter speaks once per whole percent, or every minBytes without a total', () => {
  const heard = [];
  const report = progressReporter((loaded, total) => heard.push([loaded, total]), { minBytes: 100 });
  for (let loaded = 0; loaded <= 1000; loaded += 1) report(loaded, 1000);
  assert.equal(heard.length, 101);
  assert.deepEqual(heard.at(-1), [1000, 1000]);
  const unknown = [];
  const noTotal = progressReporter((loaded) => unknown.push(loaded), { minBytes: 100 });
  for (let loaded = 0; loaded <= 1000; loaded += 10) noTotal(loaded, null);
  assert.deepEqual(unknown, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
});

function chunkedStream(chunks) {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

test('readAll joins the chunks in order and reports each step', async () => {
  const heard = [];
  const bytes = await readAll(chunkedStream([new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5, 6])]), 6,
    (loaded, total) => heard.push([loaded, total]));
  assert.deepEqual([...bytes], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(heard, [[0, 6], [2, 6], [3, 6], [6, 6]]);
});

test('a download reports progress against Content-Length and answers the bytes', async () => {
  const body = new Uint8Array(300).map((_, i) => i % 251);
  const fetchImpl = async () => new Response(chunkedStream([body.slice(0, 100), body.slice(100)]), {
    status: 200, headers: { 'Content-Length': '300', 'Content-Type': 'application/octet-stream' },
  });
  const api = new Api({ fetchImpl, xhrImpl: null });
  const heard = [];
  const got = await api.downloadBlob('b1', { onProgress: (loaded, total) => heard.push([loaded, total]) });
  assert.deepEqual([...got], [...body]);
  assert.deepEqual(heard, [[0, 300], [100, 300], [300, 300]]);
});

test('a cancelled download rejects with code "aborted"', async () => {
  const controller = new AbortController();
  const fetchImpl = async (url, init) => {
    controller.abort();
    if (init.signal.aborted) throw new DOMException('aborted', 'AbortError');
    return new Response(new Uint8Array(1));
  };
  const api = new Api({ fetchImpl, xhrImpl: null });
  await assert.rejects(api.downloadBlob('b1', { signal: controller.signal, onProgress: () => {} }), { code: 'aborted' });
});

/** A scripted XMLHttpRequest: the test decides when progress, load, error or abort happen. */
function fakeXhr(script) {
  const made = [];
  class FakeXhr {
    constructor() {
      this.headers = {};
      this.upload = {};
      made.push(this);
    }
    open(method, url) { Object.assign(this, { method, url }); }
    setRequestHeader(name, value) { this.headers[name] = value; }
    getResponseHeader(name) { return (this.responseHeaders || {})[name] ?? null; }
    send(body) {
      this.body = body;
      queueMicrotask(() => script(this));
    }
    abort() {
      this.aborted = true;
      this.onabort?.();
    }
  }
  return { FakeXhr, made };
}

test('an upload goes through XMLHttpRequest with the CSRF token and reports upload progress', async () => {
  const { FakeXhr, made } = fakeXhr((xhr) => {
    xhr.upload.onprogress({ loaded: 40, total: 100, lengthComputable: true });
    xhr.upload.onprogress({ loaded: 100, total: 100, lengthComputable: true });
    Object.assign(xhr, { status: 201, responseText: '{"blob":"abc"}' });
    xhr.onload();
  });
  const api = new Api({ csrfToken: 'tok', xhrImpl: FakeXhr, fetchImpl: async () => { throw new Error('fetch must not be used'); } });
  const heard = [];
  const answer = await api.uploadBlob(7, new Uint8Array(100), { onProgress: (loaded, total) => heard.push([loaded, total]) });
  assert.deepEqual(answer, { blob: 'abc' });
  assert.deepEqual(heard, [[40, 100], [100, 100]]);
  assert.equal(made[0].method, 'POST');
  assert.equal(made[0].url, '/api/blobs?to=7');
  assert.equal(made[0].headers['X-CSRFToken'], 'tok');
  assert.equal(made[0].headers['Content-Type'], 'application/octet-stream');
  assert.equal(made[0].withCredentials, true);
});

test('an upload maps a refusal to its protocol code and a network error to "offline"', async () => {
  const refused = fakeXhr((xhr) => {
    Object.assign(xhr, { status: 413, responseText: '{"error":"too_large","message":"The file is too large."}' });
    xhr.onload();
  });
  await assert.rejects(new Api({ xhrImpl: refused.FakeXhr }).uploadBlob(7, new Uint8Array(1)), { code: 'too_large', message: 'The file is too large.' });
  const busy = fakeXhr((xhr) => {
    Object.assign(xhr, { status: 503, responseText: '<html>bad gateway</html>', responseHeaders: { 'Retry-After': '7' } });
    xhr.onload();
  });
  await assert.rejects(new Api({ xhrImpl: busy.FakeXhr }).uploadBlob(7, new Uint8Array(1)), { code: 'retry', retryAfter: 7 });
  const down = fakeXhr((xhr) => xhr.onerror());
  await assert.rejects(new Api({ xhrImpl: down.FakeXhr }).uploadBlob(7, new Uint8Array(1)), { code: 'offline' });
});

test('cancelling an upload aborts the request', async () => {
  const controller = new AbortController();
  const { FakeXhr, made } = fakeXhr(() => controller.abort()); // cancelled while on the wire
  await assert.rejects(new Api({ xhrImpl: FakeXhr }).uploadBlob(7, new Uint8Array(1), { signal: controller.signal }), { code: 'aborted' });
  assert.equal(made[0].aborted, true);
  await assert.rejects(new Api({ xhrImpl: FakeXhr }).uploadBlob(7, new Uint8Array(1), { signal: controller.signal }), { code: 'aborted' });
  assert.equal(made.length, 1, 'an already cancelled upload never starts');
});

test('a group upload names the group', async () => {
  const { FakeXhr, made } = fakeXhr((xhr) => {
    Object.assign(xhr, { status: 201, responseText: '{"blob":"g"}' });
    xhr.onload();
  });
  await new Api({ xhrImpl: FakeXhr }).uploadBlob(null, new Uint8Array(1), { group: 5 });
  assert.equal(made[0].url, '/api/blobs?group=5');
});
