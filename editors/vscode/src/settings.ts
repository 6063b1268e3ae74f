// VS Code settings (codeslm.*) -> the codeslm config keys the server understands.
// Pure: no `vscode` import, so it is unit-tested with plain node.

export interface ExtensionSettings {
  command: string;
  args: string[];
  model: string;
  backend: string;
  url: string;
  debounceMs: number | null;
  contextBudgetTokens: number | null;
  disabledLanguages: string[];
  settings: Record<string, unknown>;
}

export type ServerSettings = Record<string, unknown>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep-merge `over` into `base` (objects merge, everything else replaces). */
export function merge(base: ServerSettings, over: ServerSettings): ServerSettings {
  const out: ServerSettings = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? merge(current, value) : value;
  }
  return out;
}

/**
 * The settings sent as initializationOptions and in workspace/didChangeConfiguration.
 * Empty strings and nulls mean "not set here" (the codeslm config files decide).
 */
export function toServerSettings(s: ExtensionSettings): ServerSettings {
  const out: ServerSettings = {};
  if (s.model) {
    out.model = s.model;
  }
  if (s.backend) {
    out.backend = s.backend;
  }
  if (s.url) {
    out.url = [s.url];
  }
  const lsp: ServerSettings = {};
  if (typeof s.debounceMs === "number") {
    lsp.debounce_ms = Math.max(0, Math.round(s.debounceMs));
  }
  if (s.disabledLanguages.length > 0) {
    lsp.disabled_languages = [...s.disabledLanguages];
  }
  if (Object.keys(lsp).length > 0) {
    out.lsp = lsp;
  }
  if (typeof s.contextBudgetTokens === "number") {
    out.context = { budget_tokens: Math.max(0, Math.round(s.contextBudgetTokens)) };
  }
  return merge(isObject(s.settings) ? s.settings : {}, out);
}

/** The command line that starts the server. */
export function serverCommand(s: ExtensionSettings): { command: string; args: string[] } {
  return { command: s.command || "codeslm", args: ["lsp", ...s.args] };
}
