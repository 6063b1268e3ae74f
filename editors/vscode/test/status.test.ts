import assert from "node:assert/strict";
import { test } from "node:test";

import { formatLatency, needsAttention, statusText, statusTooltip } from "../src/status";

test("status bar text per state", () => {
  assert.equal(statusText({ state: "loading" }), "$(loading~spin) codeslm");
  assert.equal(statusText({ state: "ready", latencyMs: 420.4 }), "$(check) codeslm 420ms");
  assert.equal(statusText({ state: "slow", latencyMs: 3210 }), "$(watch) codeslm 3.2s");
  assert.equal(statusText({ state: "error", latencyMs: 10 }), "$(error) codeslm");
  assert.equal(statusText({ state: "something-new" }), "$(question) codeslm");
});

test("tooltip and attention", () => {
  const status = { state: "error", message: "model missing", model: "m", backend: "llama-cpp" };
  assert.equal(statusTooltip(status), "codeslm: error\nmodel missing\nmodel: m (llama-cpp)");
  assert.ok(needsAttention(status));
  assert.ok(!needsAttention({ state: "ready" }));
  assert.equal(formatLatency(999), "999ms");
  assert.equal(formatLatency(1000), "1.0s");
});
