/**
 * The event an EventBridge schedule rule delivers (source `aws.events`, a source no PutEvents caller may
 * use): the entry runs the refresher for it. Anything with API Gateway's fields is a vend request.
 */
export interface ScheduledEvent {
  readonly source: 'aws.events';
  readonly 'detail-type': 'Scheduled Event';
  readonly time?: string;
}

export function isScheduledEvent(event: unknown): event is ScheduledEvent {
  if (typeof event !== 'object' || event === null) return false;
  const fields = event as Record<string, unknown>;
  if ('httpMethod' in fields || 'requestContext' in fields) return false;
  return fields.source === 'aws.events' && fields['detail-type'] === 'Scheduled Event';
}
