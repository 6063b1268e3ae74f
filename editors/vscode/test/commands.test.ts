import assert from "node:assert/strict";
import { test } from "node:test";

import { EDIT_SELECTION, needsInstruction, withInstruction } from "../src/commands";

const arg = { uri: "file:///a.py", version: 3, range: {} };

test("only editSelection without an instruction asks for one", () => {
  assert.ok(needsInstruction(EDIT_SELECTION, [arg]));
  assert.ok(needsInstruction(EDIT_SELECTION, [{ ...arg, instruction: "  " }]));
  assert.ok(needsInstruction(EDIT_SELECTION, []));
  assert.ok(!needsInstruction(EDIT_SELECTION, [{ ...arg, instruction: "simplify" }]));
  assert.ok(!needsInstruction("codeslm.docstring", [arg]));
});

test("withInstruction adds it without touching the input", () => {
  const args = [arg, "extra"];
  const out = withInstruction(args, "  use a set  ");
  assert.deepEqual(out, [{ ...arg, instruction: "use a set" }, "extra"]);
  assert.deepEqual(args, [arg, "extra"]);
});
