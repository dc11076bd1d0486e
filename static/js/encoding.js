// Byte/text encodings for the browser and Node 20 (PROTOCOL §1). No Buffer, no DOM.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const LOOKUP = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i += 1) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Require a Uint8Array so typed-array views of other widths never slip through. */
function asBytes(value, what = 'value') {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`${what} must be a Uint8Array`);
}

/** Encode bytes as base64url without padding, the only binary form on the wire (§1). */
export function b64urlEncode(bytes) {
  const data = asBytes(bytes, 'b64urlEncode input');
  let out = '';
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (data[i] << 16) | (data[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/** Map one base64url character to its 6-bit value, or throw. */
function sextet(text, index) {
  const code = text.charCodeAt(index);
  const value = code < 128 ? LOOKUP[code] : -1;
  if (value < 0) throw new Error('base64url value has padding or a character outside the alphabet');
  return value;
}

/**
 * Decode strict, canonical, unpadded base64url so one value has exactly one spelling (§1).
 * @param {string} text
 * @param {number} [length] exact decoded length required, when given
 * @returns {Uint8Array}
 */
export function b64urlDecode(text, length) {
  if (typeof text !== 'string') throw new Error('base64url value must be a string');
  if (text.length % 4 === 1) throw new Error('base64url value has an impossible length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < text.length; i += 1) {
    acc = (acc << 6) | sextet(text, i);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o] = (acc >> bits) & 0xff;
      o += 1;
      acc &= (1 << bits) - 1;
    }
  }
  if (acc !== 0) throw new Error('base64url value is not canonical (non-zero trailing bits)');
  if (length !== undefined && out.length !== length) {
    throw new Error(`base64url value must decode to ${length} bytes, not ${out.length}`);
  }
  return out;
}

/** Encode text as UTF-8, the protocol's only text encoding (§1). */
export function utf8Encode(text) {
  if (typeof text !== 'string') throw new TypeError('utf8Encode expects a string');
  if (typeof text.isWellFormed === 'function' && !text.isWellFormed()) {
    throw new Error('text contains a lone surrogate and has no UTF-8 form');
  }
  return encoder.encode(text);
}

/** Decode strict UTF-8, throwing on malformed bytes instead of inventing U+FFFD. */
export function utf8Decode(bytes) {
  return strictDecoder.decode(asBytes(bytes, 'utf8Decode input'));
}

/** Join byte arrays into one new Uint8Array. */
export function concatBytes(...arrays) {
  const parts = arrays.map((a, i) => asBytes(a, `concatBytes argument ${i}`));
  const out = new Uint8Array(parts.reduce((sum, a) => sum + a.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// Bidirectional controls (embeddings, overrides, isolates, marks): in a file name they can
// make "evil\u202Egpj.exe" read as "evilexe.jpg".
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
const MAX_FILE_NAME = 255;

/**
 * The one form of a file name that is shown or offered as a download name: bidi controls
 * removed, at most 255 characters, never empty.
 */
export function safeFileName(name) {
  const clean = (typeof name === 'string' ? name : '').replace(BIDI_CONTROLS, '').slice(0, MAX_FILE_NAME);
  return clean.trim() ? clean : 'attachment';
}
