/** Routes live in the URL hash (#/deployments/{name}), so the server serves one page. */
export type Route =
  | { page: 'list' }
  | { page: 'create' }
  | { page: 'deployment'; name: string }
  | { page: 'edit'; name: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'new') return { page: 'create' };
  if (parts[0] === 'deployments' && parts[1]) {
    return parts[2] === 'edit'
      ? { page: 'edit', name: parts[1] }
      : { page: 'deployment', name: parts[1] };
  }
  return { page: 'list' };
}

export const href = {
  list: () => '#/',
  create: () => '#/new',
  deployment: (name: string) => `#/deployments/${encodeURIComponent(name)}`,
  edit: (name: string) => `#/deployments/${encodeURIComponent(name)}/edit`,
};

export function navigate(to: string): void {
  location.hash = to;
}
