/**
 * The web console: sign in with an API key, list / create / edit deployments, follow one live.
 * Served at / by the API process (api/routes/console.ts); everything it shows comes from /v1.
 * Routes live in the URL hash (#/deployments/{name}) so the server only serves one page.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Api, ApiError, loadSession, saveSession, type Session } from './api';
import { DeploymentPage } from './deployment-page';
import { FormPage } from './form-page';
import { ListPage } from './list-page';
import { href, parseRoute, type Route } from './routes';
import { Notice } from './ui';

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => {
      setRoute(parseRoute(location.hash));
      // A new page: move focus to its heading so a screen reader announces it.
      setTimeout(() => {
        const h1 = document.querySelector<HTMLElement>('main h1');
        if (!h1) return;
        h1.tabIndex = -1;
        h1.focus();
      }, 0);
    };
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function SignIn({ onSignIn }: { onSignIn: (s: Session) => void }) {
  const [key, setKey] = useState('');
  const [workspace, setWorkspace] = useState('default');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const session = { key: key.trim(), workspace: workspace.trim() };
    try {
      // One cheap authenticated read proves the key reaches this workspace.
      await new Api(session).call('GET', `${new Api(session).ws}/deployments?pageSize=1`);
      saveSession(session);
      onSignIn(session);
    } catch (err) {
      setError(err instanceof ApiError ? `${err.status} ${err.code}: ${err.message}` : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main>
      <h1>Sign in</h1>
      <form class="card" onSubmit={submit} aria-label="Sign in">
        <p class="hint">
          Use an API key of your workspace. The local stack prints one when it starts (
          <code>npm start</code>) and keeps it in <code>data/api-key</code>. The key stays in this
          tab only (sessionStorage).
        </p>
        <div class="row">
          <div class="field">
            <label for="signin-key">API key</label>
            <input
              id="signin-key"
              type="password"
              autoComplete="off"
              required
              value={key}
              onInput={(e) => setKey(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="signin-workspace">Workspace</label>
            <input
              id="signin-workspace"
              type="text"
              required
              value={workspace}
              onInput={(e) => setWorkspace(e.currentTarget.value)}
            />
          </div>
        </div>
        <Notice error={error} />
        <p>
          <button type="submit" class="primary" disabled={busy || !key.trim()}>
            Sign in
          </button>
        </p>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const route = useRoute();
  if (!session) return <SignIn onSignIn={setSession} />;
  const api = new Api(session);
  const signOut = () => {
    saveSession(null);
    setSession(null);
  };
  return (
    <>
      <header class="top">
        <nav aria-label="Console" class="top-nav">
          <a href={href.list()}>model-deployments</a>
          <a href={href.list()} aria-current={route.page === 'list' ? 'page' : undefined}>
            Deployments
          </a>
          <a href={href.create()} aria-current={route.page === 'create' ? 'page' : undefined}>
            Create
          </a>
        </nav>
        <span class="spacer" />
        <span>workspace {session.workspace}</span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {route.page === 'list' ? <ListPage api={api} onUnauthorized={signOut} /> : null}
        {route.page === 'create' ? (
          <FormPage api={api} mode="create" onUnauthorized={signOut} key="create" />
        ) : null}
        {route.page === 'clone' ? (
          <FormPage
            api={api}
            mode="create"
            from={route.name}
            onUnauthorized={signOut}
            key={`clone:${route.name}`}
          />
        ) : null}
        {route.page === 'edit' ? (
          <FormPage
            api={api}
            mode="edit"
            name={route.name}
            onUnauthorized={signOut}
            key={`edit:${route.name}`}
          />
        ) : null}
        {route.page === 'deployment' ? (
          <DeploymentPage api={api} name={route.name} onUnauthorized={signOut} key={route.name} />
        ) : null}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
