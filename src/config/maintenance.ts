// Maintenance windows declared in the config (docs/maintenance.md): a cron expression that says
// when each window starts (in global.timezone), how long it lasts, which services it covers and why.
// Windows created through the API (POST /api/maintenance) are kept in the history file instead.
// The cron check and the duration field are the shared ones of config/parts.ts (the schedule's).
import { z } from 'zod';
import { cronExpression, duration } from './parts.js';

/** A reason is a line for people, not a document. */
export const REASON_MAX = 500;
/** Windows in the config: enough for any schedule, bounded so evaluating them stays cheap. */
const WINDOWS_MAX = 100;

// A window lasts at least a minute and at most a week (longer: disable the service instead).
const windowDuration = duration({ min: '1m', max: '7d' }).meta({ description: 'How long each window lasts from its start (1m to 7d).', examples: ['2h'] });

export const maintenanceWindowSchema = z
  .strictObject({
    cron: cronExpression.meta({ description: 'When each window starts: cron (5 fields, or 6 with seconds first) in global.timezone.', examples: ['0 2 * * 0'] }),
    duration: windowDuration,
    services: z
      .union([z.literal('all'), z.array(z.string().min(1)).min(1, 'list at least one service id, or write "all"')])
      .default('all')
      .meta({ description: 'The service ids the window covers, or "all".', examples: [['iat', 'tts']] }),
    reason: z.string().max(REASON_MAX, `at most ${REASON_MAX} characters`).default('').meta({ description: 'Shown on the pages, in the API and the digest (not a place for secrets: it is redacted all the same).', examples: ['weekly platform upgrade'] }),
  })
  .meta({ id: 'MaintenanceWindow', description: 'A recurring maintenance window: during it the services it covers are not inspected and their verdict is maintenance.' });
export type MaintenanceWindowConfig = z.infer<typeof maintenanceWindowSchema>;

export const maintenanceSchema = z
  .array(maintenanceWindowSchema)
  .max(WINDOWS_MAX, `at most ${WINDOWS_MAX} maintenance windows`)
  .prefault([])
  .meta({ description: 'Recurring maintenance windows (docs/maintenance.md). One-off windows are created with POST /api/maintenance.' });

/** The references a window makes to the rest of the file: every service id it names must exist. */
export function checkMaintenance(config: { services: { id: string }[]; maintenance: MaintenanceWindowConfig[] }, add: (steps: (string | number)[], message: string) => void): void {
  const ids = new Set(config.services.map((s) => s.id));
  config.maintenance.forEach((w, i) => {
    if (w.services === 'all') return;
    w.services.forEach((id, j) => {
      if (!ids.has(id)) add(['maintenance', i, 'services', j], `unknown service "${id}"`);
    });
  });
}
