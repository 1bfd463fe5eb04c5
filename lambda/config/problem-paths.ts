/**
 * Where a problem is, as an operator finds it in the file: a provider by its id (`providers["bcc"].scope`),
 * which survives reordering and is what the operator searches for; by index only when the entry has no
 * usable id (missing, not a string, or shared with another entry).
 */
export function providerPath(entries: readonly unknown[] | undefined, index: number): string {
  const id = (entries?.[index] as { id?: unknown } | null | undefined)?.id;
  const unique =
    typeof id === 'string' &&
    id.length > 0 &&
    entries?.filter((entry) => (entry as { id?: unknown } | null | undefined)?.id === id).length === 1;
  return unique ? `providers[${JSON.stringify(id)}]` : `providers[${index}]`;
}

/** A zod issue's path as text: `providers["bcc"].callers[0].scopes`, `providers[2].id`, `(root)`. */
export function problemPath(path: readonly PropertyKey[], entries?: readonly unknown[]): string {
  const [first, second, ...rest] = path;
  const head =
    first === 'providers' && typeof second === 'number' ? [providerPath(entries, second)] : undefined;
  return (head ? rest : path).reduce<string>(
    (text, part) =>
      typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part),
    head?.[0] ?? '',
  );
}
