#!/usr/bin/env node
// `patrol`: serve, run-once, check-config, demo. Flags in the Prometheus style (--config.file=...).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
// Only light modules are imported here; each command imports what it needs when it runs, so that
// `patrol --version`, `--help` and `check-config` start fast (loading everything takes about a second).
import type { LoadedConfig } from './config/load.js';
import type { Exporter } from './exporter.js';
import type { LogFormat } from './log.js';
import { Redactor } from './redact.js';
import type { SqliteStore } from './store/sqlite.js';
import type { RoundResult } from './types.js';
import { parseDuration } from './util/duration.js';
import { buildInfo, VERSION, versionText } from './version.js';
import { renderTable } from './table.js';
import { ProgressLine } from './progress.js';
import { inShard, parseShard } from './shard.js';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_LISTEN = ':9798';
// Commander turns --web.listen-address into the key 'web.listenAddress'.

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

interface ServeOptions {
  configFile: string;
  listen: string;
  logLevel: string;
  logFormat: LogFormat;
  vars?: Record<string, string>;
  shard?: string;
  /** --storage.path: overrides the config's storage.path. */
  storagePath?: string;
  /** --web.telemetry-path and --web.config.file (src/web/). */
  telemetryPath?: string;
  webConfigFile?: string;
  onStop?: () => Promise<void>;
  /** Called with the exporter before its first round (the demo opens a maintenance window here). */
  beforeStart?: (exporter: Exporter, loaded: LoadedConfig) => void;
}

/** `--shard=i/N`: only the services that hash to shard i (one instance per shard, never two). */
function shardFilter(text: string | undefined): ((id: string) => boolean) | undefined {
  if (!text) return undefined;
  try {
    return inShard(parseShard(text));
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** The config, loaded once at start (the history path is in it); a bad file ends the command. */
async function configOrFail(configFile: string, vars?: Record<string, string>): Promise<LoadedConfig> {
  const { loadConfigFile } = await import('./config/load.js');
  try {
    return loadConfigFile(configFile, { vars });
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** The SQLite history at the config's storage.path (or --storage.path). */
async function historyOrFail(loaded: LoadedConfig, configFile: string, redactor: Redactor, storagePath?: string): Promise<SqliteStore> {
  const { openHistory } = await import('./digest/cli.js');
  try {
    return openHistory(loaded.config, configFile, storagePath);
  } catch (err) {
    return fail(redactor.redact((err as Error).message));
  }
}

/** Run the exporter until SIGTERM/SIGINT; SIGHUP reloads the config. */
async function serve(opts: ServeOptions): Promise<void> {
  const [{ collectDefaultMetrics, Registry }, { createLogger }, { PatrolMetrics }, { DigestJobs }, { Exporter }, { checkTelemetryPath, createApp, listen }, { WebConfigFile }] = await Promise.all([
    import('prom-client'), import('./log.js'), import('./metrics.js'), import('./digest/scheduler.js'), import('./exporter.js'), import('./web/server.js'), import('./web/webconfig.js'),
  ]);
  const redactor = new Redactor();
  const logger = createLogger(redactor, opts.logLevel, process.stderr, opts.logFormat);
  // One registry: the exporter's metrics and prom-client's process_* and nodejs_* metrics, as every exporter has.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const build = buildInfo();
  const metrics = new PatrolMetrics(registry, build.version, build.revision);
  const telemetryPath = opts.telemetryPath ?? '/metrics';
  const badPath = checkTelemetryPath(telemetryPath);
  if (badPath) fail(badPath);
  const web = opts.webConfigFile ? WebConfigFile.load(opts.webConfigFile, logger) : null;
  if (web && !web.ok) fail(web.error);
  const webConfig = web?.ok ? web.web : undefined;
  const loaded = await configOrFail(opts.configFile, opts.vars);
  const store = await historyOrFail(loaded, opts.configFile, redactor, opts.storagePath);
  const jobs = new DigestJobs({ store, metrics, logger, redactor });
  const exporter = new Exporter({ jobs, configFile: opts.configFile, loadOptions: { vars: opts.vars }, logger, metrics, store, redactor, only: shardFilter(opts.shard), roundsInWorker: true });
  opts.beforeStart?.(exporter, loaded);
  await exporter.start(true, loaded);
  let listening;
  try {
    listening = await listen(createApp({ exporter, metrics, store, logger, redactor, telemetryPath, webConfig }), opts.listen, webConfig, logger);
  } catch (err) {
    await exporter.stop();
    fail(`cannot listen on ${opts.listen}: ${(err as Error).message}`);
  }
  logger.info({ url: listening.url, config: opts.configFile, version: build.version, revision: build.revision, shard: opts.shard }, 'patrol_exporter listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing the round in flight');
    listening.server.close();
    listening.server.closeAllConnections();
    await exporter.stop();
    await opts.onStop?.();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => void exporter.reload());
}

function printRound(round: RoundResult, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(round, null, 2)}\n` : renderTable(round));
}

const program = new Command('patrol')
  .description('Inspects an API platform: calls each service as a customer would, checks bad credentials are refused, and checks the usage meter rose by exactly the calls made.')
  // Handled here rather than with commander's .version(): the revision may ask git, only when asked for.
  .option('--version', 'print the version, the git revision and the Node.js version')
  .on('option:version', () => {
    process.stdout.write(`${versionText()}\n`);
    process.exit(0);
  });

const configOption = () => new Option('--config.file <path>', 'configuration file').default('patrol.yml');
const listenOption = () => new Option('--web.listen-address <addr>', 'address to serve /metrics and the pages on').default(DEFAULT_LISTEN);
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];
const LOG_FORMATS: LogFormat[] = ['json', 'logfmt'];
const logOption = () => new Option('--log.level <level>', 'only log messages of this level or above').choices(LOG_LEVELS).default(process.env.PATROL_LOG_LEVEL ?? 'info');
const logFormatOption = () => new Option('--log.format <format>', 'log line format on stderr').choices(LOG_FORMATS).default(process.env.PATROL_LOG_FORMAT ?? 'json');
const storageOption = () => new Option('--storage.path <file>', "SQLite history file (default: the config's storage.path, relative to the config file)");
const telemetryOption = () => new Option('--web.telemetry-path <path>', 'path of the metrics endpoint').default('/metrics');
const webConfigOption = () => new Option('--web.config.file <path>', 'web configuration file (exporter-toolkit format): TLS, basic_auth_users, response headers; see docs/security.md');
const shardOption = () => new Option('--shard <i/N>', 'inspect only the services of shard i of N (stable hash of the service id)');

program
  .command('serve')
  .description('run inspection rounds on the schedule and serve /metrics')
  .addOption(configOption())
  .addOption(listenOption())
  .addOption(telemetryOption())
  .addOption(webConfigOption())
  .addOption(logOption())
  .addOption(logFormatOption())
  .addOption(shardOption())
  .addOption(storageOption())
  .action(async (o: Record<string, string>) => {
    await serve({ configFile: o['config.file'], listen: o['web.listenAddress'], logLevel: o['log.level'], logFormat: o['log.format'] as LogFormat, shard: o.shard, storagePath: o['storage.path'], telemetryPath: o['web.telemetryPath'], webConfigFile: o['web.config.file'] });
  });

program
  .command('run-once')
  .description('run one round now, print the table (or JSON), exit 1 when any verdict is not ok')
  .addOption(configOption())
  .option('--json', 'print the round as JSON')
  .option('--mail', "email this round's table (needs the smtp section); exit status 2 when it cannot be delivered")
  .option('--history', 'also save the round to the SQLite history (storage.path)')
  .addOption(storageOption())
  .option('--service <id...>', 'only these service ids')
  .addOption(shardOption())
  .addOption(logOption().default('warn'))
  .addOption(logFormatOption())
  .action(async (o: Record<string, string | boolean | string[]>) => {
    const [{ Registry }, { createLogger }, { PatrolMetrics }, { Exporter }, { MemoryStore }, { mailRound }] = await Promise.all([
      import('prom-client'), import('./log.js'), import('./metrics.js'), import('./exporter.js'), import('./store/memory.js'), import('./digest/cli.js'),
    ]);
    const redactor = new Redactor();
    // On a terminal, log lines go through the progress line, which steps aside for each of them.
    const progress = new ProgressLine(process.stderr, !o.json);
    const logger = createLogger(redactor, o['log.level'] as string, progress.active ? progress.stream() : process.stderr, o['log.format'] as LogFormat);
    const loaded = await configOrFail(o['config.file'] as string);
    const store = o.history ? await historyOrFail(loaded, o['config.file'] as string, redactor, o['storage.path'] as string | undefined) : new MemoryStore(1);
    const only = Array.isArray(o.service) ? new Set(o.service) : null;
    const shard = shardFilter(o.shard as string | undefined);
    const exporter = new Exporter({
      configFile: o['config.file'] as string,
      logger,
      metrics: new PatrolMetrics(new Registry(), VERSION, buildInfo().revision),
      store,
      redactor,
      only: only || shard ? (id) => (!only || only.has(id)) && (!shard || shard(id)) : undefined,
    });
    await exporter.start(false, loaded);
    const round = await exporter.runRound('cli', (r, done, total) => progress.update(`[${done}/${total}] ${r.serviceId}: ${r.verdict}`))!;
    progress.done();
    printRound(round, !!o.json);
    let mailFailed = false;
    if (o.mail) {
      const mailed = await mailRound(round, exporter.config!, redactor, logger);
      if (!mailed.ok) process.stderr.write(`${mailed.error}\n`);
      mailFailed = !mailed.ok;
    }
    await exporter.stop();
    process.exit(mailFailed ? 2 : round.services.every((s) => s.verdict === 'ok' || s.verdict === 'maintenance') ? 0 : 1);
  });

program
  .command('digest')
  .description('build the daily digest from the SQLite history: print it (text), write it (--out) or send it (--send)')
  .addOption(configOption())
  .option('--date <YYYY-MM-DD>', 'the day to report (default: the day digest.day names, in global.timezone)')
  .option('--out <file>', 'write the HTML part to this file (a name ending in .txt gets the plain-text part)')
  .option('--send', 'send it with the smtp section (retried as digest.retry says)')
  .addOption(storageOption())
  .addOption(logOption().default('warn'))
  .addOption(logFormatOption())
  .action(async (o: Record<string, string | boolean>) => {
    const [{ createLogger }, { digestCommand }] = await Promise.all([import('./log.js'), import('./digest/cli.js')]);
    const redactor = new Redactor();
    const logger = createLogger(redactor, o['log.level'] as string, process.stderr, o['log.format'] as LogFormat);
    const outcome = await digestCommand({ configFile: o['config.file'] as string, date: o.date as string | undefined, out: o.out as string | undefined, send: !!o.send, storagePath: o['storage.path'] as string | undefined, redactor, logger });
    if (!outcome.ok) fail(outcome.error, 1);
  });

program
  .command('check-config')
  .description('check a configuration file and print every problem with its path')
  .addOption(configOption())
  .action(async (o: Record<string, string>) => {
    const { ConfigError, formatProblem, loadConfigFile } = await import('./config/load.js');
    try {
      const { config } = loadConfigFile(o['config.file']);
      process.stdout.write(`${o['config.file']}: OK (${Object.keys(config.platforms).length} platform(s), ${config.services.length} service(s))\n`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(`${err.source}: ${err.problems.length} problem(s)\n${err.problems.map((p) => `  ${formatProblem(p)}\n`).join('')}`);
      process.exit(1);
    }
  });

program
  .command('slo-rules')
  .description("write the Prometheus rules of the config's objectives (recording rules and burn-rate alerts; docs/slo.md)")
  .addOption(configOption())
  .option('--out <file>', 'write the rule file here (default: standard output)')
  .action(async (o: Record<string, string>) => {
    const [{ sloRulesYaml }, { writeFileSync }] = await Promise.all([import('./slo/rules.js'), import('node:fs')]);
    const { config } = await configOrFail(o['config.file']);
    let yaml: string;
    try {
      yaml = sloRulesYaml(config, path.basename(o['config.file']));
    } catch (err) {
      return fail(`${o['config.file']}: ${(err as Error).message}`);
    }
    if (o.out) writeFileSync(o.out, yaml);
    else process.stdout.write(yaml);
  });

program
  .command('demo')
  .description('start the built-in simulated platform and inspect it (the embedded default)')
  .addOption(new Option('--config.file <path>', 'configuration file').default(path.join(PACKAGE_DIR, 'examples', 'demo.yml')))
  .addOption(listenOption())
  .addOption(new Option('--sim.listen-address <addr>', 'address of the simulated platform').default('127.0.0.1:9799'))
  .addOption(new Option('--sim.lag <duration>', 'how late the simulated platform meters each call').default('2s'))
  .addOption(telemetryOption())
  .addOption(webConfigOption())
  // Without --storage.path, each demo run has its own history in a new temp directory (always
  // writable, even in a read-only image or checkout), removed when it exits: a shared file would
  // show one person's rounds on another's page.
  .addOption(storageOption())
  .addOption(logOption())
  .addOption(logFormatOption())
  .action(async (o: Record<string, string>) => {
    const [host, port] = o['sim.listenAddress'].split(/:(?=\d+$)/);
    const lag = parseDuration(o['sim.lag']);
    if (typeof lag === 'string') fail(`--sim.lag: ${lag}`);
    const { startSimulator } = await import('./sim/platform.js');
    const sim = await startSimulator({ host: host || '127.0.0.1', port: Number(port), lagMs: lag }).catch((err: Error) =>
      fail(`cannot start the simulated platform on ${o['sim.listenAddress']}: ${err.message}`),
    );
    process.stderr.write(`simulated platform at ${sim.url} (faults: POST ${sim.url}/_sim/faults, state: ${sim.url}/_sim/state)\n`);
    const storagePath = o['storage.path'] ?? demoHistory();
    process.stderr.write(`demo history: ${storagePath}${o['storage.path'] ? '' : ' (this run only, removed on exit; --storage.path=FILE keeps one)'}\n`);
    await serve({
      configFile: o['config.file'],
      listen: o['web.listenAddress'],
      logLevel: o['log.level'],
      logFormat: o['log.format'] as LogFormat,
      vars: { platform_url: sim.url },
      storagePath,
      telemetryPath: o['web.telemetryPath'],
      webConfigFile: o['web.config.file'],
      onStop: () => sim.close(),
      beforeStart: demoMaintenance,
    });
  });

/**
 * The demo shows a maintenance window: webocr is not inspected for the first 5 minutes (a window
 * made the way POST /api/maintenance makes one), then is inspected again. docs/maintenance.md.
 */
function demoMaintenance(exporter: Exporter, loaded: LoadedConfig): void {
  if (!loaded.config.services.some((s) => s.id === 'webocr')) return;
  const now = Date.now();
  const w = exporter.maintenance.add({ services: ['webocr'], start: now, end: now + 5 * 60_000, reason: 'demo: a window opened at start, as POST /api/maintenance does; webocr is inspected again when it ends' }, now);
  process.stderr.write(`maintenance window ${w.id}: webocr is not inspected until ${new Date(w.end).toISOString()} (GET /api/maintenance lists it, DELETE /api/maintenance/${w.id} ends it)\n`);
}

/** A history file of this demo run only, in a new temp directory removed when the process exits. */
function demoHistory(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'patrol-demo-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'history.db');
}

program.parseAsync(process.argv).catch((err: Error) => fail(`patrol: ${err.message}`, 1));
