// A config with the simulator's signed services (iat, tts over WebSocket) and a way to run one round
// of it with the real Inspector. Shared by the WebSocket and auth-check tests.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from './harness.js';
import { parseConfig } from '../../src/config/load.js';
import { Inspector } from '../../src/engine/inspector.js';
import type { RoundResult } from '../../src/types.js';
import { DEMO_ACCOUNT, type Simulator } from '../../src/sim/platform.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const APP = DEMO_ACCOUNT.appId;
export const ENV = { XF_API_KEY: DEMO_ACCOUNT.apiKey, XF_API_SECRET: DEMO_ACCOUNT.apiSecret };

/**
 * A platform block and iat/tts services against the simulator. `iatChecks`/`ttsChecks` are YAML list
 * items (indented 6) for those services' auth_checks; `services` is appended to the services list;
 * `apiSecret` replaces the secret the iat and tts calls are signed with.
 */
export function wsConfig(opts: { iatChecks?: string; ttsChecks?: string; services?: string; apiSecret?: string } = {}): string {
  const checks = (items?: string) => (items ? `    auth_checks:\n${items}` : '');
  return `
global:
  concurrency: 2
  round_timeout: 20s
  call_timeout: 5s
  settle: { timeout: 1500ms, poll_interval: 50ms, confirm_reads: 1, quiet_period: 300ms }
vars: { platform_url: "http://127.0.0.1:1" }
platforms:
  console:
    login:
      http: { method: POST, url: "{{vars.platform_url}}/console/login", json: { username: demo, password: demo-password } }
      expect: { status: 200 }
      extract: { sso: data.ssoSessionId }
    session: { headers: { Cookie: "ssoSessionId={{session.sso}}" } }
    not_logged_in: { status: [401, 403], json: [{ path: code, equals: 11001 }] }
    counter:
      http: { url: "{{vars.platform_url}}/console/usage", query: { appid: "{{app_id}}", service: "{{business_id}}" } }
      expect: { json: [{ path: code, equals: 0 }] }
      value: data.usedCount
services:
  - id: iat
    app_id: ${APP}
    business_id: iat
    params: { api_key: "\${XF_API_KEY}", api_secret: "\${XF_API_SECRET}" }
    calls:
      - name: dictate
        websocket: &iat
          url: "{{vars.platform_url}}/v2/iat"
          send:
            - stream:
                file: examples/audio/sample-16k.pcm
                chunk_bytes: 1280
                interval: 5ms
                first: { common: { app_id: "{{app_id}}" }, business: { language: zh_cn, domain: iat }, data: { status: 0, format: "audio/L16;rate=16000", encoding: raw, audio: "{{chunk}}" } }
                middle: { data: { status: 1, format: "audio/L16;rate=16000", encoding: raw, audio: "{{chunk}}" } }
                last: { data: { status: 2, format: "audio/L16;rate=16000", encoding: raw, audio: "" } }
          until: [{ path: data.status, equals: 2 }]
        sign: { type: xfyun-hmac, api_key: "{{params.api_key}}", api_secret: "${opts.apiSecret ?? '{{params.api_secret}}'}" }
        expect:
          max_duration: 4s
          frames:
            each: [{ path: code, equals: 0 }]
            final: [{ path: data.status, equals: 2 }]
            any: [{ path: data.result.ws, exists: true }]
            max_first_frame: 3s
        extract: { sid: sid }
${checks(opts.iatChecks)}
  - id: tts
    app_id: ${APP}
    business_id: tts
    params: { api_key: "\${XF_API_KEY}", api_secret: "\${XF_API_SECRET}" }
    calls:
      - name: synthesise
        websocket:
          url: "{{vars.platform_url}}/v2/tts"
          send:
            - json: { common: { app_id: "{{app_id}}" }, business: { aue: raw, vcn: xiaoyan, tte: UTF8 }, data: { status: 2, text: "5beh5qOA" } }
          until: [{ path: data.status, equals: 2 }]
        sign: { type: xfyun-hmac, api_key: "{{params.api_key}}", api_secret: "${opts.apiSecret ?? '{{params.api_secret}}'}" }
        expect:
          frames:
            each: [{ path: code, equals: 0 }, { path: data.audio, exists: true }]
            final: [{ path: data.status, equals: 2 }]
            min: 2
${checks(opts.ttsChecks)}
${opts.services ?? ''}`;
}

export async function round(sim: Simulator, yaml: string, only?: string[]): Promise<RoundResult> {
  const loaded = parseConfig(yaml, 'test.yml', { env: ENV, vars: { platform_url: sim.url }, baseDir: ROOT });
  const inspector = new Inspector({ config: loaded.config, secrets: loaded.secrets, logger: silentLogger });
  try {
    return await inspector.runRound({ trigger: 'cli', only: only ? (id) => only.includes(id) : undefined });
  } finally {
    await inspector.close();
  }
}


