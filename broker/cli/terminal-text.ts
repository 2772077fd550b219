// What the CLI prints comes partly from elsewhere: log lines and boot reports from machines, reasons, names.
// A machine (or whoever controls one) must not be able to drive the user's terminal with it: change its title,
// hide text, rewrite earlier lines, or reverse what is shown (CVE-2021-42574's bidi trick). So every byte the
// CLI writes passes through here: line feeds and tabs stay, every other control character is shown escaped.
// skiff's own output carries no escape sequences (no colours), so nothing of ours is lost.

// C0 controls but tab and line feed, DEL, C1 controls, and the Unicode bidi embeddings, overrides and isolates.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with each control character but `\n` and `\t` written as a visible `\uXXXX` escape. That form is also
 * JSON's own: inside a `--json` string (where JSON.stringify has already escaped C0, but not DEL, C1 or bidi) it
 * still parses, to the very same character.
 */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
