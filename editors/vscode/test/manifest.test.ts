import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

// out/test/manifest.test.js -> the extension folder
const root = join(__dirname, "..", "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

interface Keybinding {
  command: string;
  key: string;
  mac?: string;
  when?: string;
}

test("accept-word and accept-line keys act only on a shown inline suggestion", () => {
  const bindings: Keybinding[] = manifest.contributes.keybindings;
  const byCommand = new Map(bindings.map((b) => [b.command, b]));
  for (const command of [
    "editor.action.inlineSuggest.acceptNextWord",
    "editor.action.inlineSuggest.acceptNextLine",
  ]) {
    const binding = byCommand.get(command);
    assert.ok(binding, command);
    assert.ok(binding.key && binding.mac, command);
    assert.match(binding.when ?? "", /\binlineSuggestionVisible\b/);
  }
  const keys = bindings.map((b) => b.key);
  assert.equal(new Set(keys).size, keys.length);
});

test("the extension runs from the esbuild bundle and has an icon", () => {
  assert.equal(manifest.main, "./dist/extension.js");
  assert.match(manifest.scripts["vscode:prepublish"], /bundle/);
  assert.match(manifest.scripts.bundle, /--external:vscode/);
  assert.ok(existsSync(join(root, manifest.icon)), manifest.icon);
  const png = readFileSync(join(root, manifest.icon));
  assert.equal(png.subarray(1, 4).toString("ascii"), "PNG");
  assert.equal(png.readUInt32BE(16), 128); // width
  assert.equal(png.readUInt32BE(20), 128); // height
});
