import assert from "node:assert/strict";
import { test } from "node:test";

import { merge, serverCommand, toServerSettings, type ExtensionSettings } from "../src/settings";

const defaults: ExtensionSettings = {
  command: "codeslm",
  args: [],
  model: "",
  backend: "",
  url: "",
  debounceMs: null,
  contextBudgetTokens: null,
  disabledLanguages: [],
  settings: {},
};

test("unset settings send nothing (the codeslm config files decide)", () => {
  assert.deepEqual(toServerSettings(defaults), {});
});

test("settings map to codeslm config keys", () => {
  const out = toServerSettings({
    ...defaults,
    model: "qwen2.5-coder-1.5b",
    backend: "vllm",
    url: "http://127.0.0.1:8000",
    debounceMs: 120.4,
    contextBudgetTokens: 512,
    disabledLanguages: ["markdown"],
  });
  assert.deepEqual(out, {
    model: "qwen2.5-coder-1.5b",
    backend: "vllm",
    url: ["http://127.0.0.1:8000"],
    lsp: { debounce_ms: 120, disabled_languages: ["markdown"] },
    context: { budget_tokens: 512 },
  });
});

test("explicit settings win over the raw settings object, which merges deeply", () => {
  const out = toServerSettings({
    ...defaults,
    debounceMs: 80,
    settings: { lsp: { candidates_invoked: 2, debounce_ms: 999 }, completion: { max_tokens: 48 } },
  });
  assert.deepEqual(out, {
    lsp: { candidates_invoked: 2, debounce_ms: 80 },
    completion: { max_tokens: 48 },
  });
});

test("merge replaces arrays and scalars and does not modify its inputs", () => {
  const base = { a: { b: 1, c: [1] } };
  const merged = merge(base, { a: { c: [2] } });
  assert.deepEqual(merged, { a: { b: 1, c: [2] } });
  assert.deepEqual(base, { a: { b: 1, c: [1] } });
});

test("the server command line", () => {
  assert.deepEqual(serverCommand({ ...defaults, args: ["-v"] }), {
    command: "codeslm",
    args: ["lsp", "-v"],
  });
  assert.equal(serverCommand({ ...defaults, command: "" }).command, "codeslm");
});
