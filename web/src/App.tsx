// Shell: navigation, theme, the API-key prompt, and the routed view.
import { useEffect, useState } from "preact/hooks";
import { apiBaseUrl, onUnauthenticated, setStoredKey, storedKey } from "./api";
import { href, navigate, useRoute } from "./router";
import { SystemView, VariableView } from "./views/System";
import { TraceView } from "./views/Trace";
import { TracesView } from "./views/Traces";

function useTheme(): [string, () => void] {
  const initial = localStorage.getItem("raceway-theme") ??
    (window.matchMedia?.("(prefers-color-scheme: light)").matches ? "light" : "dark");
  const [theme, setTheme] = useState(initial);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("raceway-theme", theme);
  }, [theme]);
  return [theme, () => setTheme((t) => (t === "dark" ? "light" : "dark"))];
}

function KeyPrompt({ onDone }: { onDone: () => void }) {
  const [key, setKey] = useState("");
  const hadKey = storedKey() !== "";
  return (
    <div class="modal" role="dialog" aria-modal="true" aria-labelledby="key-h">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setStoredKey(key.trim());
          onDone();
        }}
      >
        <h2 id="key-h">API key required</h2>
        <p>{hadKey ? "The query service refused this key. Enter another one." : "The query service needs an API key."}</p>
        <input
          type="password"
          aria-label="API key"
          autoFocus
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
        <button type="submit">Use key</button>
        <p class="muted">Kept in this tab's session storage and sent as x-raceway-key.</p>
      </form>
    </div>
  );
}

export function App() {
  const route = useRoute();
  const [theme, toggleTheme] = useTheme();
  const [askKey, setAskKey] = useState(false);
  // A new key re-mounts the view so its calls run again.
  const [generation, setGeneration] = useState(0);
  useEffect(() => onUnauthenticated(() => setAskKey(true)), []);
  useEffect(() => {
    if (route.path.length === 0) navigate(href(["traces"]), true);
  }, [route.path.length]);

  const top = route.path[0] ?? "traces";
  let view;
  if (top === "trace") view = <TraceView route={route} />;
  else if (top === "system") view = <SystemView route={route} />;
  else if (top === "variable") view = <VariableView route={route} />;
  else if (top === "traces") view = <TracesView route={route} />;
  else view = <p role="alert" class="error">No page here. <a href={href(["traces"])}>Go to the traces.</a></p>;

  return (
    <>
      <nav class="top" aria-label="Main">
        <a class="brand" href={href(["traces"])}>Raceway</a>
        <a href={href(["traces"])} aria-current={top === "traces" ? "page" : undefined}>Traces</a>
        <a href={href(["system"])} aria-current={top === "system" ? "page" : undefined}>System</a>
        <span class="spacer" />
        <span class="muted" title="Query service (gRPC-Web)">{apiBaseUrl()}</span>
        <button aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`} onClick={toggleTheme}>
          {theme === "dark" ? "☀ light" : "☾ dark"}
        </button>
      </nav>
      <main key={generation}>{view}</main>
      {askKey && (
        <KeyPrompt
          onDone={() => {
            setAskKey(false);
            setGeneration((g) => g + 1);
          }}
        />
      )}
    </>
  );
}
