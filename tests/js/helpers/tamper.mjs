// Tamper helpers for the crypto vector tests: decode a vector field, flip one bit.
import { b64urlDecode, b64urlEncode } from '../../../static/js/encoding.js';

export const d = (text) => b64urlDecode(text);

/** Return a copy with one bit flipped. */
export function flip(bytes, index = 0, bit = 0) {
  const out = bytes.slice();
  const i = index < 0 ? out.length + index : index;
  out[i] ^= 1 << bit;
  return out;
}

export const flipB64 = (text, index = 0) => b64urlEncode(flip(d(text), index));
