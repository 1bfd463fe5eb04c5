import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Records a cdk-nag finding as acknowledged, with the reason a reviewer would ask for. */
export function acknowledge(scope: IConstruct, id: string, reason: string, finding?: string): void {
  Validations.of(scope).acknowledge({ id: finding ? `${id}[${finding}]` : id, reason });
}
