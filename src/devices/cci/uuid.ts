/** UUIDs travel in RFC 4122 byte order (first field big-endian), as QEMU and Linux put them on the wire. */
export function uuidBytes(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${text}`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function uuidText(b: Uint8Array, at = 0): string {
  const h = Array.from(b.subarray(at, at + 16), (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function uuidEquals(a: Uint8Array, at: number, uuid: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[at + i] !== uuid[i]) return false;
  return true;
}

/** Command Effects Log UUID (CXL r3.1 8.2.9.5.2.1). */
export const CEL_UUID = uuidBytes('0da9c0b5-bf41-4b78-8f79-96b1623b3f17');
