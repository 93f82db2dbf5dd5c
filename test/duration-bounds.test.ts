// The config's duration bounds on their own: every duration field has an upper bound (a Node timer
// past 2^31-1 ms fires at once), some a lower one, and clock offsets are signed and at most a day.
// The messages name the value as written and the bound. Plain parsing, no files, no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { duration, signSchema } from '../src/config/schema.js';
import { MAX_TIMER_MS } from '../src/util/duration.js';
import { configJsonSchema } from '../src/config/reference.js';

/** The parsed value, or the first message. */
function parse(schema: z.ZodType, value: unknown): unknown {
  const r = schema.safeParse(value);
  return r.success ? r.data : `error: ${r.error.issues[0].message}`;
}

test('a duration within its bounds is milliseconds; the bounds themselves are allowed', () => {
  const d = duration({ min: '1s', max: '10m' });
  assert.equal(parse(d, '10s'), 10_000);
  assert.equal(parse(d, '1m30s'), 90_000);
  assert.equal(parse(d, 1.5), 1500);
  assert.equal(parse(d, '1s'), 1000);
  assert.equal(parse(d, '10m'), 600_000);
  assert.equal(parse(d, 600), 600_000);
  assert.equal(parse(d, 1), 1000);
});

test('too long and too short say so, with the value as written and the bound', () => {
  const d = duration({ min: '1s', max: '10m' });
  assert.equal(parse(d, '10m1ms'), 'error: "10m1ms" is too long: at most 10m');
  assert.equal(parse(d, 600.001), 'error: 600.001 (seconds) is too long: at most 10m');
  assert.equal(parse(d, '999ms'), 'error: "999ms" is too short: at least 1s');
  assert.equal(parse(d, 0.999), 'error: 0.999 (seconds) is too short: at least 1s');
  assert.equal(parse(d, '30d'), 'error: "30d" is too long: at most 10m');
});

test('without a minimum, zero is allowed; what is not a duration is refused with the parser\'s message', () => {
  const d = duration({ max: '1m' });
  assert.equal(parse(d, '0s'), 0);
  assert.equal(parse(d, 0), 0);
  assert.equal(parse(d, '1m'), 60_000);
  assert.equal(parse(d, '61s'), 'error: "61s" is too long: at most 1m');
  assert.equal(parse(d, 'soon'), 'error: invalid duration "soon": use a number with a unit such as 500ms, 10s, 5m, 1h');
  assert.equal(parse(d, -1), 'error: invalid duration -1: must be a non-negative number of seconds');
  assert.match(String(parse(d, true)), /^error: /);
});

test('a bound a timer cannot wait for is a programming error, unless the field is not a timer', () => {
  assert.throws(() => duration({ max: '25d' }), { message: 'duration bound 25d is longer than a timer can wait' });
  assert.ok(MAX_TIMER_MS < 25 * 86_400_000 && MAX_TIMER_MS > 24 * 86_400_000);
  // Exactly the longest timer is fine.
  assert.equal(parse(duration({ max: `${MAX_TIMER_MS}ms` }), `${MAX_TIMER_MS}ms`), MAX_TIMER_MS);
  const retention = duration({ min: '1h', max: '36500d', notATimer: true });
  assert.equal(parse(retention, '90d'), 90 * 86_400_000);
  assert.equal(parse(retention, '59m'), 'error: "59m" is too short: at least 1h');
  assert.throws(() => duration({ max: 'ten minutes' }), { message: 'invalid duration "ten minutes": use a number with a unit such as 500ms, 10s, 5m, 1h' });
  assert.throws(() => duration({ max: '1m', min: 'x' }), { message: /invalid duration "x"/ });
});

test('the bounds are published for editors and the reference docs', () => {
  assert.deepEqual(duration({ max: '1m' }).meta()?.['x-duration'], { max: '1m' });
  assert.deepEqual(duration({ min: '1ms', max: '10m' }).meta()?.['x-duration'], { min: '1ms', max: '10m' });
});

/** A signer's clock offset, as the config gives it. */
function offset(value: unknown): unknown {
  const r = signSchema.safeParse({ type: 'xfyun-hmac', api_key: 'k', api_secret: 's', ...(value === undefined ? {} : { date_offset: value }) });
  if (!r.success) return `error: ${r.error.issues[0].message}`;
  return (r.data as { date_offset: number }).date_offset;
}

test('clock offsets are signed, at most a day either way, and 0 when not given', () => {
  assert.equal(offset(undefined), 0);
  assert.equal(offset('-10m'), -600_000);
  assert.equal(offset('+30s'), 30_000);
  assert.equal(offset('30s'), 30_000);
  assert.equal(offset('  -1d  '), -86_400_000);
  assert.equal(offset('1d'), 86_400_000);
  assert.equal(offset(-90), -90_000);
  assert.equal(offset(90), 90_000);
  assert.equal(offset(86_400), 86_400_000);
  assert.equal(offset(-86_400), -86_400_000);
  assert.equal(offset('-1d1ms'), 'error: "-1d1ms" is too far: at most 1d either way');
  assert.equal(offset('+25h'), 'error: "+25h" is too far: at most 1d either way');
  assert.equal(offset(86_401), 'error: 86401 (seconds) is too far: at most 1d either way');
  assert.equal(offset(-86_401), 'error: -86401 (seconds) is too far: at most 1d either way');
  assert.equal(offset('-x'), 'error: invalid duration "x": use a number with a unit such as 500ms, 10s, 5m, 1h');
  assert.equal(offset('--1s'), 'error: invalid duration "-1s": use a number with a unit such as 500ms, 10s, 5m, 1h');
  assert.match(String(offset(Number.NaN)), /^error: /);
  // The other signer's offset is the same type.
  const r = signSchema.parse({ type: 'xfyun-checksum', api_key: 'k', time_offset: '-5m' }) as { time_offset: number };
  assert.equal(r.time_offset, -300_000);
});

test('the JSON Schema for editors: a duration is a string of the duration pattern or seconds >= 0, with its bounds; an offset is signed', () => {
  const schema = configJsonSchema() as { $defs: Record<string, { properties?: Record<string, unknown>; oneOf?: { properties: Record<string, unknown> }[] }> };
  const timeout = schema.$defs.Global.properties!.call_timeout as Record<string, unknown>;
  assert.deepEqual(timeout['x-duration'], { min: '1ms', max: '10m' });
  assert.deepEqual(timeout.anyOf, [
    { type: 'string', pattern: '^\\s*(\\d+(\\.\\d+)?(ms|s|m|h|d))+\\s*$' },
    { type: 'number', minimum: 0 },
  ]);
  const offsetField = schema.$defs.Sign.oneOf!.map((o) => o.properties.date_offset).find((f) => f !== undefined) as Record<string, unknown>;
  assert.deepEqual(offsetField['x-duration'], { signed: true, max: '1d' });
  assert.deepEqual(offsetField.anyOf, [{ type: 'string', pattern: '^\\s*[-+]?(\\d+(\\.\\d+)?(ms|s|m|h|d))+\\s*$' }, { type: 'number' }]);
  // The editor's pattern agrees with the parser on what is a duration.
  const pattern = new RegExp((offsetField.anyOf as { pattern?: string }[])[0].pattern!);
  for (const ok of ['-10m', '+30s', '1h30m', ' 5s ']) assert.ok(pattern.test(ok), ok);
  for (const bad of ['10', 'soon', '10m-', '--1s']) assert.ok(!pattern.test(bad), bad);
});

test('a sign is only a sign at the start; every refusal is a custom issue of the field', () => {
  assert.equal(offset('10m-'), 'error: invalid duration "10m-": use a number with a unit such as 500ms, 10s, 5m, 1h');
  assert.equal(offset('1+0m'), 'error: invalid duration "1+0m": use a number with a unit such as 500ms, 10s, 5m, 1h');
  const d = duration({ min: '1s', max: '1m' });
  for (const value of ['soon', '2m', '1ms']) {
    const r = d.safeParse(value);
    assert.ok(!r.success);
    assert.equal(r.error.issues[0].code, 'custom', value);
  }
  for (const value of ['x', '2d']) {
    const r = signSchema.safeParse({ type: 'xfyun-hmac', api_key: 'k', api_secret: 's', date_offset: value });
    assert.ok(!r.success);
    assert.equal(r.error.issues[0].code, 'custom', value);
    assert.deepEqual(r.error.issues[0].path, ['date_offset']);
  }
});
