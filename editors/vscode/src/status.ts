// The `codeslm/status` notification -> status bar text and tooltip. Pure.

export interface Status {
  state: "loading" | "ready" | "slow" | "error" | "disabled" | string;
  message?: string;
  model?: string;
  backend?: string;
  latencyMs?: number | null;
}

const ICONS: Record<string, string> = {
  loading: "$(loading~spin)",
  ready: "$(check)",
  slow: "$(watch)",
  error: "$(error)",
  disabled: "$(circle-slash)",
};

export function statusText(status: Status): string {
  const icon = ICONS[status.state] ?? "$(question)";
  const latency =
    typeof status.latencyMs === "number" && (status.state === "ready" || status.state === "slow")
      ? ` ${formatLatency(status.latencyMs)}`
      : "";
  return `${icon} codeslm${latency}`;
}

export function formatLatency(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

export function statusTooltip(status: Status): string {
  const lines = [`codeslm: ${status.state}`];
  if (status.message) {
    lines.push(status.message);
  }
  if (status.model) {
    lines.push(`model: ${status.model}${status.backend ? ` (${status.backend})` : ""}`);
  }
  return lines.join("\n");
}

/** Whether the status deserves the warning background. */
export function needsAttention(status: Status): boolean {
  return status.state === "error" || status.state === "slow";
}
