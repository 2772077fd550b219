import t from 'tap';
import { jsonDepth } from '../../../../broker/http/body.js';
import { echo } from '../../../../broker/api/errors.js';

t.test('measures JSON nesting without recursing, ignoring brackets inside strings', async (t) => {
  t.equal(jsonDepth('{}'), 1);
  t.equal(jsonDepth('{"a":[1,{"b":[]}]}'), 4);
  t.equal(jsonDepth('"[[[[{"'), 0, 'brackets in a string do not count');
  t.equal(jsonDepth('["\\"[[[", []]'), 2, 'an escaped quote does not end the string');
  t.equal(jsonDepth('['.repeat(100_000) + ']'.repeat(100_000)), 100_000);
});

t.test('echoes a client value quoted and cut short', async (t) => {
  t.equal(echo('abc'), '"abc"');
  t.equal(echo('x'.repeat(500), 10), `"${'x'.repeat(10)}…"`);
  t.equal(echo('a\nb'), '"a\\nb"', 'control characters are escaped');
  t.equal(echo(5), '5');
  t.equal(echo({ a: 'y'.repeat(200) }, 12), '{"a":"yyyyyy…');
});
