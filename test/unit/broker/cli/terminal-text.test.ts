import t from 'tap';
import { terminalSafe } from '../../../../broker/cli/terminal-text.js';

t.test('shows a title change, a colour and a clear-line from a machine as text', async (t) => {
  t.equal(terminalSafe('a\x1b]0;pwned\x07b'), 'a\\u001b]0;pwned\\u0007b');
  t.equal(terminalSafe('\x1b[31mred\x1b[0m'), '\\u001b[31mred\\u001b[0m');
  t.equal(terminalSafe('fake\r\x1b[2Kreal'), 'fake\\u000d\\u001b[2Kreal');
});

t.test('keeps line feeds, tabs and printable text of any script', async (t) => {
  t.equal(terminalSafe('one\ttwo\nthree — ünïcode ✓ 日本\n'), 'one\ttwo\nthree — ünïcode ✓ 日本\n');
});

t.test('escapes DEL, C1 controls (8-bit CSI) and the bidi overrides that reorder what is shown', async (t) => {
  t.equal(terminalSafe('x\x7fy\x9b31mz'), 'x\\u007fy\\u009b31mz');
  t.equal(terminalSafe('access\u202e\u2066level'), 'access\\u202e\\u2066level');
  t.equal(terminalSafe('\0'), '\\u0000');
});

t.test('a --json line stays valid JSON and parses back to the machine\'s exact text', async (t) => {
  const message = 'skiff-escape \x1b]0;pwned\x07 \x7f\x9b \u202eevil';
  const line = terminalSafe(JSON.stringify({ message }) + '\n');
  // eslint-disable-next-line no-control-regex
  t.notOk(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/.test(line), 'no raw control character in the output');
  t.same(JSON.parse(line), { message });
});
