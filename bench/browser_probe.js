// The in-page half of bench/browser.py: one expression that page.evaluate calls with the sizes.
// It imports SendApp's own crypto module from the server and times what a user waits for;
// nothing here re-implements the protocol. performance.now() is coarse outside a
// cross-origin-isolated page (100 µs in Chromium), so per-message figures time whole rounds
// of `ops` messages and divide. Every loop stops at its count or at the deadline, whichever
// comes first, and a hard timeout makes the evaluation answer even if WebCrypto never does.
async ({ username, password, iterations, derivations, body, ops, opRounds, fileBytes, fileRounds, budgetMs }) => {
  const crypto = await import('/static/js/crypto.js');
  const session = await import('/static/js/session.js');
  const { Api, csrfFromDocument } = await import('/static/js/api.js');
  const { Store } = await import('/static/js/store.js');
  const started = performance.now();
  const deadline = started + budgetMs;

  /** Run `job` `times` times (at least once, fewer when the deadline passes); answer its results. */
  async function repeat(times, job) {
    const out = [];
    for (let i = 0; i < times; i += 1) {
      out.push(await job(i));
      if (performance.now() > deadline) break;
    }
    return out;
  }

  /** Milliseconds `job` took to settle. */
  async function elapsed(job) {
    const t0 = performance.now();
    await job();
    return performance.now() - t0;
  }

  /** Login (§2): the derivation session.login runs, with the options it passes. */
  async function loginDerivation() {
    const ms = await repeat(derivations, () => elapsed(() => crypto.deriveAccountSecrets(username, password, iterations)));
    return { iterations, ms };
  }

  /**
   * Login as the login form runs it (§2, §3): prelogin, the derivation, POST /api/login, the
   * vault opened, the keys kept in IndexedDB. The server asks for `iterations`; one
   * registration first makes the account.
   */
  async function loginFlow() {
    const api = new Api({ csrfToken: csrfFromDocument() });
    const deps = { api, openStore: (userId) => Store.open(userId), minIterations: iterations };
    await session.register(deps, { username, password, confirm: password });
    const ms = await repeat(derivations, () => elapsed(() => session.login(deps, { username, password })));
    return { iterations, ms };
  }

  /** Two people's X25519 keys kept as a login keeps them, and the pair key the keyring derives (§3, §4). */
  async function pairKey() {
    const [alice, bob] = [await crypto.generateIdentity(), await crypto.generateIdentity()];
    const [aliceKid, bobKid] = [await crypto.keyId(alice.publicRaw), await crypto.keyId(bob.publicRaw)];
    const entry = crypto.vaultEntry(alice.privateRaw, alice.publicRaw, Date.now(), aliceKid);
    const { privateKey } = await crypto.importIdentity(entry); // non-extractable, as in the store
    const key = await crypto.derivePairKey(privateKey, bob.publicRaw, 1, 2, alice.publicRaw, bob.publicRaw);
    return { key, header: { from: 1, to: 2, sk: aliceKid, rk: bobKid } };
  }

  /** Seal `ops` text messages one after the other (a fresh cid and nonce each), then open them (§5). */
  async function messages() {
    const { key, header } = await pairKey();
    const plain = () => ({ t: 'text', body, sent: Date.now() });
    const round = async () => {
      const sealed = [];
      const sealMs = await elapsed(async () => {
        for (let i = 0; i < ops; i += 1) sealed.push(await crypto.encryptMessage(key, header, plain()));
      });
      const relayed = sealed.map((envelope) => ({ ...envelope, from: header.from })); // the server adds `from`
      let opened = 0;
      const openMs = await elapsed(async () => {
        for (const envelope of relayed) if ((await crypto.decryptMessage(key, envelope)).body === body) opened += 1;
      });
      if (opened !== ops) throw new Error(`opened ${opened} of ${ops} sealed messages`);
      return { sealUs: (1000 * sealMs) / ops, openUs: (1000 * openMs) / ops, envelope: sealed[0] };
    };
    await round(); // untimed: the first use of the key and of this code
    const rounds = await repeat(opRounds, round);
    const plainBytes = new TextEncoder().encode(JSON.stringify(plain()));
    const envelope = rounds[0].envelope;
    return {
      ops,
      plaintextBytes: plainBytes.length,
      paddedBytes: crypto.pad(plainBytes).length,
      envelopeBytes: new TextEncoder().encode(JSON.stringify(envelope)).length,
      sealUs: rounds.map((r) => r.sealUs),
      openUs: rounds.map((r) => r.openUs),
    };
  }

  /** Encrypt a file of `fileBytes` random bytes as an upload does, and decrypt it as a download does (§5). */
  async function attachment() {
    const file = new Uint8Array(fileBytes);
    for (let at = 0; at < file.length; at += 65536) globalThis.crypto.getRandomValues(file.subarray(at, at + 65536));
    const rounds = await repeat(fileRounds, async () => {
      let sealed;
      const encryptMs = await elapsed(async () => { sealed = await crypto.encryptFile(file); });
      let plain;
      const decryptMs = await elapsed(async () => { plain = await crypto.decryptFile(sealed.ct, sealed.key, sealed.n, sealed.sha256); });
      if (plain.length !== file.length) throw new Error('the decrypted file has the wrong length');
      return { encryptMs, decryptMs };
    });
    return { bytes: fileBytes, encryptMs: rounds.map((r) => r.encryptMs), decryptMs: rounds.map((r) => r.decryptMs) };
  }

  const work = (async () => ({
    login: await loginDerivation(),
    loginFlow: await loginFlow(),
    message: await messages(),
    attachment: await attachment(),
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    seconds: (performance.now() - started) / 1000,
  }))();
  let timer;
  const hardStop = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the browser figures took over ${2 * budgetMs} ms`)), 2 * budgetMs);
  });
  try {
    return await Promise.race([work, hardStop]);
  } finally {
    clearTimeout(timer);
  }
}
