import assert from "node:assert/strict";
import { test } from "node:test";

import { shouldWarm, warmParams } from "../src/warm";

const at = (uri: string, line: number) => ({ uri, line, character: 4 });

test("the first rest and a rest in another file warm", () => {
  assert.equal(shouldWarm(undefined, at("file:///a.py", 10)), true);
  assert.equal(shouldWarm(at("file:///a.py", 10), at("file:///b.py", 10)), true);
});

test("a rest near the last warmed place does not warm again", () => {
  assert.equal(shouldWarm(at("file:///a.py", 10), at("file:///a.py", 12)), false);
  assert.equal(shouldWarm(at("file:///a.py", 10), at("file:///a.py", 40)), true);
});

test("the notification names the document and the position", () => {
  assert.deepEqual(warmParams(at("file:///a.py", 3)), {
    textDocument: { uri: "file:///a.py" },
    position: { line: 3, character: 4 },
  });
});
