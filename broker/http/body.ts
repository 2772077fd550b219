// Reading a request body, bounded: a byte cap per route (checked against Content-Length before the first
// byte and again as bytes arrive) and a nesting cap for JSON, so no body can make the broker hold more than
// its route allows or recurse without end. Called only once the request's credentials are checked.

import type { IncomingMessage } from 'node:http';
import { SkiffError } from '../api/errors.js';
import { MAX_JSON_DEPTH } from '../api/limits.js';

export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (Number.isFinite(declared) && declared > maxBytes) throw new SkiffError('BRK_BAD_REQUEST', `request body over ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new SkiffError('BRK_BAD_REQUEST', `request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const text = await readBody(req, maxBytes);
  if (text === '') return undefined;
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new SkiffError('BRK_BAD_REQUEST', `request body nests ${depth} levels deep; at most ${MAX_JSON_DEPTH} are accepted`);
  try {
    return JSON.parse(text);
  } catch {
    throw new SkiffError('BRK_BAD_REQUEST', 'request body is not valid JSON');
  }
}

/** The deepest nesting of [ and { in a JSON text, outside strings (one pass, no recursion). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}
