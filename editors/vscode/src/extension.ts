// The codeslm VS Code extension: starts `codeslm lsp`, shows inline completions (the
// language client's inline completion feature), the model status, and the refactors.
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

import { needsInstruction, withInstruction } from "./commands";
import { ExtensionSettings, serverCommand, toServerSettings } from "./settings";
import { Status, needsAttention, statusText, statusTooltip } from "./status";
import { type Place, shouldWarm, warmParams } from "./warm";

const LANGUAGES = [
  "python", "javascript", "javascriptreact", "typescript", "typescriptreact",
  "go", "rust", "java", "c", "cpp",
];

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem | undefined;

function readSettings(): ExtensionSettings {
  const c = vscode.workspace.getConfiguration("codeslm");
  return {
    command: c.get<string>("command", "codeslm"),
    args: c.get<string[]>("args", []),
    model: c.get<string>("model", ""),
    backend: c.get<string>("backend", ""),
    url: c.get<string>("url", ""),
    debounceMs: c.get<number | null>("debounceMs", null),
    contextBudgetTokens: c.get<number | null>("contextBudgetTokens", null),
    disabledLanguages: c.get<string[]>("disabledLanguages", []),
    settings: c.get<Record<string, unknown>>("settings", {}),
  };
}

function showStatus(status: Status): void {
  if (!statusItem) {
    return;
  }
  statusItem.text = statusText(status);
  statusItem.tooltip = statusTooltip(status);
  statusItem.backgroundColor = needsAttention(status)
    ? new vscode.ThemeColor("statusBarItem.warningBackground")
    : undefined;
  statusItem.show();
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const settings = readSettings();
  const { command, args } = serverCommand(settings);
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ scheme: "file", language })),
    initializationOptions: toServerSettings(settings),
    middleware: {
      // "Edit selection" needs an instruction: ask for it before the server runs it.
      executeCommand: async (cmd, cmdArgs, next) => {
        if (needsInstruction(cmd, cmdArgs)) {
          const instruction = await vscode.window.showInputBox({
            prompt: "codeslm: how should the selection change?",
            placeHolder: "e.g. use a dict comprehension",
          });
          if (!instruction) {
            return undefined;
          }
          return next(cmd, withInstruction(cmdArgs, instruction));
        }
        return next(cmd, cmdArgs);
      },
    },
  };
  client = new LanguageClient("codeslm", "codeslm", serverOptions, clientOptions);
  context.subscriptions.push(warmOnRest());
  client.onNotification("codeslm/status", (status: Status) => showStatus(status));
  showStatus({ state: "loading", message: "starting codeslm lsp" });
  await client.start();
  context.subscriptions.push(client);
}

/** Send codeslm/warm when the cursor rests (800 ms) in a new place of a codeslm document. */
function warmOnRest(): vscode.Disposable {
  let timer: NodeJS.Timeout | undefined;
  let last: Place | undefined;
  const listener = vscode.window.onDidChangeTextEditorSelection((event) => {
    if (timer) {
      clearTimeout(timer);
    }
    timer = setTimeout(() => {
      const active = event.textEditor.selection.active;
      const place = {
        uri: event.textEditor.document.uri.toString(),
        line: active.line,
        character: active.character,
      };
      if (client?.isRunning() && shouldWarm(last, place)) {
        last = place;
        void client.sendNotification("codeslm/warm", warmParams(place));
      }
    }, 800);
  });
  return new vscode.Disposable(() => {
    if (timer) {
      clearTimeout(timer);
    }
    listener.dispose();
  });
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.command = "codeslm.showOutput";
  context.subscriptions.push(statusItem);
  context.subscriptions.push(
    vscode.commands.registerCommand("codeslm.restart", async () => {
      await client?.stop();
      await start(context);
    }),
    vscode.commands.registerCommand("codeslm.showOutput", () => client?.outputChannel.show()),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration("codeslm") || !client) {
        return;
      }
      if (event.affectsConfiguration("codeslm.command") ||
          event.affectsConfiguration("codeslm.args")) {
        await client.stop();
        await start(context);
        return;
      }
      await client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: toServerSettings(readSettings()),
      });
    }),
  );
  try {
    await start(context);
  } catch (err) {
    showStatus({ state: "error", message: String(err) });
    void vscode.window.showErrorMessage(
      `codeslm: could not start the language server (${String(err)}). ` +
        "Is codeslm installed? Set codeslm.command to its path.",
    );
  }
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
