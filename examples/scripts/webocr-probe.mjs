#!/usr/bin/env node
// An example probe script, the kind a team already has: patrol runs it as a `script` call and
// judges its exit code and stdout. It calls the simulated platform's checksum-signed OCR service.
//
// patrol passes the service's values in the environment (never on the command line, where `ps`
// would show them): PATROL_APP_ID, PATROL_PARAM_<NAME> (here PATROL_PARAM_API_KEY),
// PATROL_VAR_<NAME> (here PATROL_VAR_PLATFORM_URL). It prints the service's JSON answer and exits
// 0 when the HTTP exchange worked, 1 otherwise; the config's assertions look at the JSON.
import { createHash } from 'node:crypto';

const { PATROL_APP_ID: appId, PATROL_PARAM_API_KEY: apiKey, PATROL_VAR_PLATFORM_URL: base } = process.env;
if (!appId || !apiKey || !base) {
  process.stderr.write('webocr-probe: PATROL_APP_ID, PATROL_PARAM_API_KEY and PATROL_VAR_PLATFORM_URL are required\n');
  process.exit(2);
}
const curTime = String(Math.floor(Date.now() / 1000));
const param = Buffer.from(JSON.stringify({ language: 'en' })).toString('base64');
const checksum = createHash('md5').update(apiKey + curTime + param).digest('hex');
try {
  const res = await fetch(`${base}/v1/service/v1/webocr`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-appid': appId, 'x-curtime': curTime, 'x-param': param, 'x-checksum': checksum },
    body: JSON.stringify({ text: 'script probe' }),
    signal: AbortSignal.timeout(5000),
  });
  process.stdout.write(`${await res.text()}\n`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`webocr-probe: ${err.message}\n`);
  process.exit(1);
}
