// Shared set-up for tests: a simulated platform on port 0 and configs pointed at it.
import pino from 'pino';
import { stringify } from 'yaml';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import { Inspector } from '../../src/engine/inspector.js';
import { HttpClient } from '../../src/http/client.js';
import { startSimulator, type SimOptions, type Simulator } from '../../src/sim/platform.js';

export const silentLogger = pino({ level: 'silent' });

/**
 * A `platforms:` block for configs that are loaded but never run (nothing listens on port 9): a
 * login and a counter read, the least a valid config has. YAML text, at the top level.
 */
export const STUB_PLATFORMS = `platforms:
  console:
    login:
      http: { method: POST, url: "http://127.0.0.1:9/login" }
      extract: { sso: data.sid }
    counter:
      http: { url: "http://127.0.0.1:9/usage?app={{app_id}}" }
      value: data.usedCount
`;

export interface ConfigKnobs {
  pollMs?: number;
  settleTimeoutMs?: number;
  callTimeoutMs?: number;
  roundTimeoutMs?: number;
  confirmReads?: number;
  mode?: 'exact' | 'at_least';
  apiKey?: string;
  password?: string;
  /** The simulator's URL, for a config written to a file (a loaded one gets it through `vars`). */
  platformUrl?: string;
  runOnStart?: boolean;
  /** global.schedule (default: once a year, so only the test starts rounds). */
  schedule?: string;
  /** The service's name (default 文字识别). */
  name?: string;
  /** Written as global.call_timeout as it is, a bad value included (default: callTimeoutMs). */
  callTimeout?: unknown;
  /** The service's params (default: api_key). */
  params?: Record<string, string>;
  /** The text `recognise` sends (default abc; a template). */
  callText?: string;
  /** Calls after `recognise`. */
  extraCalls?: object[];
  /** More services, as YAML list items (indented 2), appended after the ocr service. */
  serviceExtra?: string;
}

/** A one-service config (ocr, one call, one auth check) against the simulator, with fast settling, as an object. */
export function ocrConfigObject(k: ConfigKnobs = {}): Record<string, unknown> {
  const url = (p: string) => `{{vars.platform_url}}${p}`;
  return {
    global: {
      schedule: k.schedule ?? '0 0 1 1 *',
      run_on_start: k.runOnStart ?? false,
      concurrency: 4,
      round_timeout: `${k.roundTimeoutMs ?? 15000}ms`,
      call_timeout: k.callTimeout ?? `${k.callTimeoutMs ?? 2000}ms`,
      settle: { timeout: `${k.settleTimeoutMs ?? 3000}ms`, poll_interval: `${k.pollMs ?? 100}ms`, confirm_reads: k.confirmReads ?? 1 },
    },
    vars: { platform_url: k.platformUrl ?? 'http://127.0.0.1:1' },
    platforms: {
      console: {
        login: {
          http: { method: 'POST', url: url('/console/login'), json: { username: 'demo', password: k.password ?? '${PATROL_TEST_PASSWORD:-demo-password}' } },
          expect: { status: 200, json: [{ path: 'code', equals: 0 }] },
          extract: { sso: 'data.ssoSessionId' },
        },
        session: { headers: { Cookie: 'ssoSessionId={{session.sso}}' } },
        not_logged_in: { json: [{ path: 'code', equals: 11001 }] },
        counter: {
          http: { url: url('/console/usage'), query: { appid: '{{app_id}}', service: '{{business_id}}' } },
          expect: { json: [{ path: 'code', equals: 0 }] },
          value: 'data.usedCount',
        },
      },
    },
    // Last, so that serviceExtra's list items follow the ocr service.
    services: [
      {
        id: 'ocr',
        name: k.name ?? '文字识别',
        app_id: '5f3a9c01',
        business_id: 'ocr',
        params: k.params ?? { api_key: k.apiKey ?? '${PATROL_TEST_API_KEY:-demo-api-key-0001}' },
        metering: { mode: k.mode ?? 'exact' },
        calls: [
          {
            name: 'recognise',
            http: { method: 'POST', url: url('/v1/ocr'), headers: { 'X-Appid': '{{app_id}}', 'X-Api-Key': '{{params.api_key}}' }, json: { text: k.callText ?? 'abc' } },
            expect: { status: 200, json: [{ path: 'code', equals: 0 }] },
          },
          ...(k.extraCalls ?? []),
        ],
        auth_checks: [
          { name: 'wrong_key', http: { method: 'POST', url: url('/v1/ocr'), headers: { 'X-Appid': '{{app_id}}', 'X-Api-Key': 'wrong-key' }, json: { text: 'x' } } },
        ],
      },
    ],
  };
}

/** The same as YAML text (what a config file holds), with serviceExtra's services after it. */
export function ocrConfig(k: ConfigKnobs = {}): string {
  return `${stringify(ocrConfigObject(k))}${k.serviceExtra ?? ''}`;
}

/**
 * The simulator's nlp service as a list item for ocrConfig's services (its `serviceExtra`, or text
 * after it): one call, expected to answer code 0. `extra` is more of its keys, each line indented
 * by four spaces (e.g. its `slo:`).
 */
export function nlpService(extra = ''): string {
  return `
  - id: nlp
    name: 自然语言处理
    app_id: 5f3a9c01
    business_id: nlp
    params: { api_key: "demo-api-key-0001" }
${extra}    calls:
      - name: analyse
        http:
          method: POST
          url: "{{vars.platform_url}}/v1/nlp"
          headers: { X-Appid: "{{app_id}}", X-Api-Key: "{{params.api_key}}" }
          json: { text: "abc" }
        expect: { status: 200, json: [{ path: code, equals: 0 }] }
`;
}

/**
 * The one way a test gets a simulated platform: started on port 0 (metering lag 0 unless asked),
 * with a real HTTP client for probes run by hand, both closed however the test ends.
 */
export async function withSim<T>(opts: SimOptions, fn: (sim: Simulator, http: HttpClient) => Promise<T>): Promise<T> {
  const sim = await startSimulator({ lagMs: 0, ...opts });
  const http = new HttpClient();
  try {
    return await fn(sim, http);
  } finally {
    await http.close();
    await sim.close();
  }
}

export function inspectorFor(text: string, sim: Simulator, env: NodeJS.ProcessEnv = {}): { inspector: Inspector; loaded: LoadedConfig } {
  const loaded = parseConfig(text, 'test.yml', { env, vars: { platform_url: sim.url } });
  return { inspector: new Inspector({ config: loaded.config, secrets: loaded.secrets, logger: silentLogger }), loaded };
}
