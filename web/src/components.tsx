import type { ComponentChildren } from "preact";
import { useRef } from "preact/hooks";

export function ErrorBox({ error }: { error?: string }) {
  return error ? <div class="error" role="alert">{error}</div> : null;
}

export function Loading({ what }: { what: string }) {
  return <div class="loading" role="status">Loading {what}…</div>;
}

export function Badge({ kind, children }: { kind: string; children: ComponentChildren }) {
  return <span class={`badge badge-${kind.toLowerCase()}`}>{children}</span>;
}

// Tabs with roving focus: arrow keys move between tabs, Home/End jump.
export function Tabs<T extends string>(props: {
  tabs: { id: T; label: string }[];
  active: T;
  onSelect: (id: T) => void;
  label: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const onKey = (e: KeyboardEvent) => {
    const i = props.tabs.findIndex((t) => t.id === props.active);
    let j = i;
    if (e.key === "ArrowRight") j = (i + 1) % props.tabs.length;
    else if (e.key === "ArrowLeft") j = (i - 1 + props.tabs.length) % props.tabs.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = props.tabs.length - 1;
    else return;
    e.preventDefault();
    props.onSelect(props.tabs[j].id);
    (ref.current?.querySelectorAll("[role=tab]")[j] as HTMLElement | undefined)?.focus();
  };
  return (
    <div class="tabs" role="tablist" aria-label={props.label} ref={ref} onKeyDown={onKey}>
      {props.tabs.map((t) => (
        <button
          role="tab"
          id={`tab-${t.id}`}
          aria-selected={t.id === props.active}
          aria-controls={`panel-${t.id}`}
          tabIndex={t.id === props.active ? 0 : -1}
          class={t.id === props.active ? "active" : ""}
          onClick={() => props.onSelect(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

// Up/Down move focus between the rows ([data-row]) of a list or table.
export function listKeys(e: KeyboardEvent) {
  if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
  const rows = Array.from((e.currentTarget as HTMLElement).querySelectorAll<HTMLElement>("[data-row]"));
  const i = rows.indexOf(document.activeElement as HTMLElement);
  const j = e.key === "ArrowDown" ? Math.min(rows.length - 1, i + 1) : Math.max(0, i - 1);
  if (rows[j]) {
    e.preventDefault();
    rows[j].focus();
  }
}
