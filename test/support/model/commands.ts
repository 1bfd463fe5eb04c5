import fc from 'fast-check';
import { tokenFingerprint } from '../../../packages/client/src/wire-contract';
import {
  type CallerName,
  INSTANCES,
  type InstanceName,
  type RealSystem,
  type Region,
  SCOPES,
  type Scope,
} from './real-system';
import { type FaultName, KNOWN_DEFECTS, type ReferenceModel, type Violation } from './reference-model';

/**
 * The commands of the key-lifecycle model. Each acts on the real system, tells the reference model what it
 * did and saw, then checks the invariants: a violation fails the run unless it is one of the issue's known
 * defects (KNOWN_DEFECTS), which are collected instead. `TVM_MODEL_STRICT=1` fails on those too
 * (`TVM_MODEL_STRICT=dead-holder-504,…` on those named).
 */

export interface ModelState {
  readonly ref: ReferenceModel;
  /** Violations of known defects seen so far (all runs): the report of what main still gets wrong. */
  readonly known: Violation[];
  /** How many violations of this run were already judged. */
  judged: number;
}

export type Command = fc.AsyncCommand<ModelState, RealSystem>;

/** `1`: every known defect fails too; a comma-separated list of defect names: those do. */
const STRICT = process.env.TVM_MODEL_STRICT ?? '';
const failsAnyway = (defect: string) => STRICT === '1' || STRICT.split(',').includes(defect);

/** Fails the run on a violation that is not a known defect (or on any, strict). */
function judge(state: ModelState): void {
  const fresh = state.ref.violations.slice(state.judged);
  state.judged = state.ref.violations.length;
  const failing = fresh.filter(
    (violation) =>
      violation.defect === undefined || !KNOWN_DEFECTS.has(violation.defect) || failsAnyway(violation.defect),
  );
  state.known.push(...fresh.filter((violation) => !failing.includes(violation)));
  if (failing.length > 0) {
    throw new Error(
      `invariant violated:\n${failing
        .map((v) => `  ${v.invariant}${v.defect ? ` [${v.defect}]` : ''}: ${v.detail}`)
        .join('\n')}`,
    );
  }
}

export class Vend implements Command {
  constructor(
    readonly instance: InstanceName,
    readonly caller: CallerName,
    readonly scope: Scope,
    readonly minTtl?: number,
  ) {}
  check = () => true;
  async run(state: ModelState, real: RealSystem): Promise<void> {
    const id = real.instanceId(this.instance);
    const answer = await real.vend(this.instance, this.caller, this.scope, this.minTtl);
    state.ref.observeCalls(real.calls, this.minTtl);
    state.ref.vendAnswered({
      ...answer,
      instance: id,
      name: this.instance,
      caller: this.caller,
      scope: this.scope,
      ...(this.minTtl === undefined ? {} : { minTtl: this.minTtl }),
      concurrent: false,
    });
    judge(state);
  }
  toString = () =>
    `vend(${this.instance}, ${this.caller}, ${this.scope}${this.minTtl === undefined ? '' : `, min_ttl ${this.minTtl}`})`;
}

/** The same vend on every instance at once: the lease decides who fetches. */
export class Burst implements Command {
  constructor(readonly scope: Scope) {}
  check = () => true;
  async run(state: ModelState, real: RealSystem): Promise<void> {
    const ids = INSTANCES.map((name) => real.instanceId(name));
    const answers = await Promise.all(INSTANCES.map((name) => real.vend(name, 'orders', this.scope)));
    state.ref.observeCalls(real.calls);
    answers.forEach((answer, index) => {
      const name = INSTANCES[index] as InstanceName;
      state.ref.vendAnswered({
        ...answer,
        instance: ids[index] as string,
        name,
        caller: 'orders',
        scope: this.scope,
        concurrent: true,
      });
    });
    judge(state);
  }
  toString = () => `burst(${this.scope})`;
}

/** Evicts the token this instance last served for the scope, by its fingerprint. */
export class Evict implements Command {
  constructor(
    readonly instance: InstanceName,
    readonly caller: CallerName,
    readonly scope: Scope,
  ) {}
  check = (state: Readonly<ModelState>) => state.ref.lastServed.has(`${this.instance}/${this.scope}`);
  async run(state: ModelState, real: RealSystem): Promise<void> {
    const token = state.ref.lastServed.get(`${this.instance}/${this.scope}`);
    if (!token) return;
    const id = real.instanceId(this.instance);
    const answer = await real.evict(
      this.instance,
      this.caller,
      this.scope,
      tokenFingerprint(token.accessToken),
    );
    state.ref.observeCalls(real.calls);
    state.ref.evictAnswered({
      ...answer,
      instance: id,
      name: this.instance,
      caller: this.caller,
      scope: this.scope,
      token,
    });
    judge(state);
  }
  toString = () => `evict(${this.instance}, ${this.caller}, ${this.scope})`;
}

export class Refresh implements Command {
  constructor(readonly instance: InstanceName) {}
  check = () => true;
  async run(state: ModelState, real: RealSystem): Promise<void> {
    const report = await real.refresh(this.instance);
    state.ref.observeCalls(real.calls);
    state.ref.refresherReported(this.instance, report);
    judge(state);
  }
  toString = () => `refresh(${this.instance})`;
}

/** A vend on the instance whose provider request never completes; the container is replaced. */
export class Kill implements Command {
  constructor(
    readonly instance: InstanceName,
    readonly scope: Scope,
  ) {}
  check = () => true;
  async run(state: ModelState, real: RealSystem): Promise<void> {
    const oldId = real.instanceId(this.instance);
    const how = await real.kill(this.instance, 'orders', this.scope);
    if (how === 'mid-fetch') state.ref.deadHolder(this.instance, this.scope);
    state.ref.replaced(oldId);
    state.ref.observeCalls(real.calls);
    judge(state);
  }
  toString = () => `kill(${this.instance} fetching ${this.scope})`;
}

type FaultSwitch =
  | { readonly fault: 'table-hung' | 'table-throttled' | 'kms-refused'; readonly region: Region }
  | { readonly fault: 'provider-5xx' | 'provider-slow' }
  | { readonly fault: 'provider-429'; readonly retryAfterSeconds: number };

const faultName = (which: FaultSwitch): FaultName =>
  ('region' in which ? `${which.fault}:${which.region}` : which.fault) as FaultName;

export class Fault implements Command {
  constructor(
    readonly which: FaultSwitch,
    readonly on: boolean,
  ) {}
  /** Switches what is off on, and what is on off: never a switch that changes nothing. */
  check = (state: Readonly<ModelState>) => state.ref.isOn(faultName(this.which)) !== this.on;
  async run(state: ModelState, real: RealSystem): Promise<void> {
    const { which, on } = this;
    const name = faultName(which);
    if ('region' in which) {
      if (which.fault === 'kms-refused') real.setKmsRefused(which.region, on);
      else if (on) real.setTableFault(which.region, which.fault === 'table-hung' ? 'hung' : 'throttled');
      // One table fault per region at a time: switching one off clears the region's table.
      else real.setTableFault(which.region, undefined);
      if (which.fault !== 'kms-refused' && on) {
        const other = which.fault === 'table-hung' ? 'table-throttled' : 'table-hung';
        state.ref.faultOff(`${other}:${which.region}` as FaultName);
      }
      if (which.fault !== 'kms-refused' && !on) {
        state.ref.faultOff(`table-hung:${which.region}`);
        state.ref.faultOff(`table-throttled:${which.region}`);
      }
    } else {
      // One provider behaviour at a time.
      for (const other of ['provider-5xx', 'provider-429', 'provider-slow'] as const)
        state.ref.faultOff(other);
      real.setProviderFault(
        !on
          ? undefined
          : which.fault === 'provider-429'
            ? { kind: '429', retryAfterSeconds: which.retryAfterSeconds }
            : { kind: which.fault === 'provider-5xx' ? '5xx' : 'slow' },
      );
    }
    if (on) state.ref.faultOn(name);
    else state.ref.faultOff(name);
  }
  toString = () =>
    `${this.on ? 'fault' : 'clear'}(${faultName(this.which)}${this.which.fault === 'provider-429' && this.on ? `, Retry-After ${this.which.retryAfterSeconds}` : ''})`;
}

export class Advance implements Command {
  constructor(readonly seconds: number) {}
  check = () => true;
  async run(state: ModelState, real: RealSystem): Promise<void> {
    real.clock.advance(this.seconds * 1000);
    state.ref.observeCalls(real.calls);
  }
  toString = () => `advance(${this.seconds}s)`;
}

export class Replicate implements Command {
  constructor(readonly from: Region) {}
  check = () => true;
  async run(state: ModelState, real: RealSystem): Promise<void> {
    await real.replicate(this.from);
    state.ref.replicated(this.from);
    judge(state);
  }
  toString = () => `replicate(${this.from}→${this.from === 'north' ? 'west' : 'north'})`;
}

const instance = fc.constantFrom<InstanceName>(...INSTANCES);
const scope = fc.constantFrom<Scope>(...SCOPES);
const region = fc.constantFrom<Region>('north', 'west');
/** Mostly the caller allowed everything; sometimes one allowed less, or nothing. */
const caller = fc.constantFrom<CallerName>('orders', 'orders', 'orders', 'billing', 'outsider');
/** None (the margin), small, near the lifetime, and more than any token lives (refused at once). */
const minTtl = fc.option(fc.constantFrom(30, 200, 500, 590, 700), { nil: undefined, freq: 2 });
const faultSwitch: fc.Arbitrary<FaultSwitch> = fc.oneof(
  fc.record({
    fault: fc.constantFrom('table-hung' as const, 'table-throttled' as const, 'kms-refused' as const),
    region,
  }),
  fc.record({ fault: fc.constantFrom('provider-5xx' as const, 'provider-slow' as const) }),
  fc.record({ fault: fc.constant('provider-429' as const), retryAfterSeconds: fc.constantFrom(10, 30) }),
);

/** Every command, weighted towards vends (the model's observations), faults and clock moves. */
// 425 s after a vend its key is in the refresher's window, whatever the key's jitter (refresh point
// 120-180 s before expiry, marked one 60 s period ahead, a run looking back 70 s).
export const COMMANDS: fc.Arbitrary<Command>[] = [
  fc.tuple(instance, caller, scope, minTtl).map(([i, c, s, m]) => new Vend(i, c, s, m)),
  fc.tuple(instance, caller, scope, minTtl).map(([i, c, s, m]) => new Vend(i, c, s, m)),
  fc.tuple(instance, scope).map(([i, s]) => new Vend(i, 'orders', s)),
  scope.map((s) => new Burst(s)),
  fc.tuple(instance, caller, scope).map(([i, c, s]) => new Evict(i, c, s)),
  fc.tuple(instance, scope).map(([i, s]) => new Evict(i, 'orders', s)),
  instance.map((i) => new Refresh(i)),
  fc.tuple(instance, scope).map(([i, s]) => new Kill(i, s)),
  faultSwitch.map((f) => new Fault(f, true)),
  faultSwitch.map((f) => new Fault(f, true)),
  faultSwitch.map((f) => new Fault(f, false)),
  faultSwitch.map((f) => new Fault(f, false)),
  fc.constantFrom(1, 5, 13, 31, 61, 200, 425, 450).map((s) => new Advance(s)),
  fc.constantFrom(1, 13, 61).map((s) => new Advance(s)),
  region.map((r) => new Replicate(r)),
];
