/** Routes live in the URL hash (#/deployments/{name}), so the server serves one page. */
export type Route =
  | { page: 'list' }
  | { page: 'create' }
  | { page: 'clone'; name: string }
  | { page: 'deployment'; name: string }
  | { page: 'edit'; name: string };

export function parseRoute(hash: string): Route {
  let parts: string[];
  try {
    parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { page: 'list' }; // a malformed %-escape: not a route of ours
  }
  if (parts[0] === 'new') return { page: 'create' };
  if (parts[0] === 'deployments' && parts[1]) {
    if (parts[2] === 'edit') return { page: 'edit', name: parts[1] };
    if (parts[2] === 'clone') return { page: 'clone', name: parts[1] };
    return { page: 'deployment', name: parts[1] };
  }
  return { page: 'list' };
}

export const href = {
  list: () => '#/',
  create: () => '#/new',
  deployment: (name: string) => `#/deployments/${encodeURIComponent(name)}`,
  edit: (name: string) => `#/deployments/${encodeURIComponent(name)}/edit`,
  clone: (name: string) => `#/deployments/${encodeURIComponent(name)}/clone`,
};

export function navigate(to: string): void {
  location.hash = to;
}
