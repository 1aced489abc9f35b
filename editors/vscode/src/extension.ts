// Entry point of the Loss LSP extension for VS Code.
import * as vscode from "vscode";
import { checkGradients } from "./gradients";
import { onPythonInterpreterChanged } from "./interpreter";
import { ServerManager } from "./server";
import { StatusItem } from "./status";

let manager: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Loss LSP", { log: true });
  const status = new StatusItem("lossLsp.showOutput");
  manager = new ServerManager(context, output, status);
  const server = manager;
  context.subscriptions.push(output, status, server);

  context.subscriptions.push(
    vscode.commands.registerCommand("lossLsp.checkGradientsFile", () => checkGradients(server, "file")),
    vscode.commands.registerCommand("lossLsp.checkGradientsWorkspace", () => checkGradients(server, "workspace")),
    vscode.commands.registerCommand("lossLsp.checkGradientsAtCursor", () => checkGradients(server, "cursor")),
    vscode.commands.registerCommand("lossLsp.restartServer", () => server.restart()),
    vscode.commands.registerCommand("lossLsp.showOutput", () => output.show()),
  );

  // A new interpreter, or trust granted to the workspace, needs a new server process.
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("lossLsp.interpreter")) {
        output.info("lossLsp.interpreter changed: restarting the server");
        void server.restart();
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      output.info("the workspace is now trusted: restarting the server with the gradient check enabled");
      void server.restart();
    }),
  );
  const pythonListener = await onPythonInterpreterChanged(() => {
    const configured = vscode.workspace.getConfiguration("lossLsp").get<string>("interpreter", "");
    if (configured.trim() === "") {
      output.info("the Python extension's interpreter changed: restarting the server");
      void server.restart();
    }
  });
  if (pythonListener !== undefined) {
    context.subscriptions.push(pythonListener);
  }

  void server.start();
}

export async function deactivate(): Promise<void> {
  await manager?.stop();
  manager = undefined;
}
