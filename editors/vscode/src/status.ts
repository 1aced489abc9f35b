// The status-bar item: one place that shows what the server is doing.
import * as vscode from "vscode";

export type ServerState =
  | { kind: "starting" }
  | { kind: "ready"; version: string; python: string; tensorflow: boolean }
  | { kind: "busy"; title: string; message?: string; percentage?: number }
  | { kind: "error"; reason: string }
  | { kind: "stopped" };

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private base: ServerState = { kind: "stopped" };
  private busy: ServerState | undefined;
  private trusted = true;

  constructor(showCommand: string) {
    this.item = vscode.window.createStatusBarItem("lossLsp.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Loss LSP";
    this.item.command = showCommand;
  }

  /** The server's lifecycle state (starting, ready, error, stopped). */
  set(state: ServerState): void {
    this.base = state;
    if (state.kind !== "ready") {
      this.busy = undefined;
    }
    this.render();
  }

  /** Work in progress on a running server (gradient check, indexing); `undefined` when done. */
  setBusy(state: ServerState | undefined): void {
    this.busy = state;
    this.render();
  }

  setTrusted(trusted: boolean): void {
    this.trusted = trusted;
    this.render();
  }

  get state(): ServerState {
    return this.busy ?? this.base;
  }

  private render(): void {
    const state = this.state;
    const restricted = this.trusted ? "" : " (restricted)";
    this.item.backgroundColor = undefined;
    switch (state.kind) {
      case "starting":
        this.item.text = "$(loading~spin) Loss LSP";
        this.item.tooltip = "Loss LSP: starting the server…";
        break;
      case "ready":
        this.item.text = `$(check) Loss LSP${restricted}`;
        this.item.tooltip = new vscode.MarkdownString(
          `Loss LSP ${state.version} is ready\n\nPython: \`${state.python}\`` +
            (state.tensorflow ? "" : "\n\nNo TensorFlow in this Python: the gradient check cannot run.") +
            (this.trusted ? "" : "\n\nUntrusted workspace: the gradient check is off.") +
            "\n\nClick to show the output.",
        );
        break;
      case "busy": {
        const amount = state.percentage !== undefined ? ` ${Math.round(state.percentage)}%` : "";
        this.item.text = `$(sync~spin) Loss LSP: ${state.title}${amount}`;
        this.item.tooltip = state.message ? `${state.title}: ${state.message}` : state.title;
        break;
      }
      case "error":
        this.item.text = "$(error) Loss LSP";
        this.item.tooltip = `Loss LSP: ${state.reason}\n\nClick to show the output.`;
        this.item.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
        break;
      case "stopped":
        this.item.text = "$(circle-slash) Loss LSP";
        this.item.tooltip = "Loss LSP: the server is stopped";
        break;
    }
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
