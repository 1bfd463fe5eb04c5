import type { TokenVendingServiceProps } from 'token-vending-construct';
import { type EnvironmentSettings, SettingsError } from './environments';

/** The `-c` flags that may change an environment for one deploy, where it allows overrides. */
export const OVERRIDE_FLAGS = ['alarmEmail', 'egress', 'allowedAccounts'] as const;

type Overrides = Partial<Pick<TokenVendingServiceProps, 'alarmEmail' | 'egress' | 'allowedAccounts'>>;

/**
 * The service props `-c` flags give: the sandbox takes them, an environment without `allowOverrides`
 * (production) refuses any, so what it deploys is what its settings say.
 */
export function contextOverrides(
  settings: EnvironmentSettings,
  context: (name: string) => unknown,
): Overrides {
  const given = OVERRIDE_FLAGS.filter((name) => context(name) !== undefined);
  if (given.length === 0) return {};
  if (!settings.allowOverrides) {
    throw new SettingsError(
      `${settings.name} deploys from its settings alone: -c ${given.join(', -c ')} refused; change infra/environments.ts instead`,
    );
  }
  const list = (name: string) =>
    String(context(name) ?? '')
      .split(',')
      .map((value) => value.trim())
      .filter(Boolean);
  const allowedAccounts = list('allowedAccounts');
  const alarmEmail = String(context('alarmEmail') ?? '');
  const egress = String(context('egress') ?? '');
  if (egress && egress !== 'fixed' && egress !== 'default') {
    throw new SettingsError(`-c egress=${egress}: use fixed or default`);
  }
  return {
    ...(allowedAccounts.length > 0 ? { allowedAccounts } : {}),
    ...(alarmEmail ? { alarmEmail } : {}),
    ...(egress === 'fixed' ? { egress: { type: 'fixed' as const, zones: settings.egressZones ?? 2 } } : {}),
  };
}
