// The three "Check gradients" palette commands: they call the server's
// `loss-lsp.checkGradients` command with a progress notification and report the verdicts.
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import { ExecuteCommandRequest, WorkDoneProgress } from "vscode-languageclient/node";
import { ServerManager } from "./server";

export type GradientScope = "file" | "workspace" | "cursor";

export const SERVER_COMMAND = "loss-lsp.checkGradients";

export async function checkGradients(manager: ServerManager, scope: GradientScope): Promise<unknown> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage(
      "Loss LSP: the gradient check runs the workspace's loss code, so it is off in an untrusted workspace.",
    );
    return undefined;
  }
  const client = manager.client;
  if (client === undefined) {
    const choice = await vscode.window.showErrorMessage("Loss LSP: the server is not running.", "Show output");
    if (choice === "Show output") {
      manager.output.show();
    }
    return undefined;
  }
  const args: unknown[] = [];
  if (scope !== "workspace") {
    const target = activePythonDocument(scope === "cursor");
    if (target === undefined) {
      void vscode.window.showWarningMessage("Loss LSP: open a Python file or notebook to check its gradients.");
      return undefined;
    }
    // The check loads the module from disk, so what is on screen must be what is on disk; a
    // notebook cell is saved with its notebook (the server checks the notebook's losses).
    const { document, notebook, editor } = target;
    if (notebook !== undefined ? notebook.isDirty : document.isDirty) {
      await (notebook ?? document).save();
    }
    args.push(document.uri.toString());
    if (scope === "cursor" && editor !== undefined) {
      args.push(client.code2ProtocolConverter.asPosition(editor.selection.active));
    }
  }

  const title =
    scope === "workspace"
      ? "Loss LSP: checking gradients in the workspace"
      : scope === "cursor"
        ? "Loss LSP: checking gradients of the loss under the cursor"
        : "Loss LSP: checking gradients in this file";
  const workDoneToken = `loss-lsp-gradients-${randomUUID()}`;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, cancel) => {
      let reported = 0;
      const tokens = new Set<string | number>([workDoneToken]);
      // The server may report on the token we give it or on one it creates itself.
      const onProgress = manager.onProgress((event) => {
        if (!tokens.has(event.token) && !(event.kind === "begin" && /gradient/i.test(event.title))) {
          return;
        }
        tokens.add(event.token);
        if (event.kind === "end") {
          return;
        }
        const percentage = event.percentage ?? reported;
        progress.report({ message: event.message, increment: Math.max(0, percentage - reported) });
        reported = Math.max(reported, percentage);
      });
      // Registering a handler makes the client route this token's progress through the
      // middleware that feeds `manager.onProgress`.
      const ownToken = client.onProgress(WorkDoneProgress.type, workDoneToken, () => undefined);
      try {
        return await client.sendRequest(
          ExecuteCommandRequest.type,
          { command: SERVER_COMMAND, arguments: args, workDoneToken },
          cancel,
        );
      } catch (error) {
        if (cancel.isCancellationRequested) {
          return undefined;
        }
        const message = error instanceof Error ? error.message : String(error);
        void vscode.window.showErrorMessage(`Loss LSP: the gradient check failed: ${message}`);
        return undefined;
      } finally {
        onProgress.dispose();
        ownToken.dispose();
      }
    },
  );
  if (result !== undefined && result !== null) {
    const summary = summarize(result);
    const choice = await vscode.window.showInformationMessage(`Loss LSP: ${summary}`, "Show problems");
    if (choice === "Show problems") {
      await vscode.commands.executeCommand("workbench.actions.view.problems");
    }
  }
  return result;
}

interface CheckedFinding {
  code?: string;
  verdict?: string;
  loss?: string;
}

/** One line such as "gradient check: 3 confirmed, 1 not reproduced in 2 file(s)". */
export function summarize(result: unknown): string {
  const line = (text: string) => (/^gradient check\b/.test(text) ? text : `gradient check: ${text}`);
  if (typeof result === "string") {
    return line(result);
  }
  if (typeof result !== "object" || result === null) {
    return line("finished");
  }
  const record = result as Record<string, unknown>;
  if (typeof record.summary === "string" && record.summary !== "") {
    return line(record.summary);
  }
  const findings = collectFindings(record);
  const counts = new Map<string, number>();
  for (const finding of findings) {
    const verdict = (finding.verdict ?? "not_run").replace(/_/g, " ");
    counts.set(verdict, (counts.get(verdict) ?? 0) + 1);
  }
  const parts = [...counts.entries()].map(([verdict, n]) => `${n} ${verdict}`);
  const losses = Array.isArray(record.losses) ? record.losses.length : undefined;
  const suffix = losses !== undefined ? ` (${losses} loss${losses === 1 ? "" : "es"} checked)` : "";
  return line(parts.length > 0 ? `${parts.join(", ")}${suffix}` : `no findings${suffix}`);
}

function collectFindings(record: Record<string, unknown>): CheckedFinding[] {
  if (Array.isArray(record.findings)) {
    return record.findings as CheckedFinding[];
  }
  if (Array.isArray(record.files)) {
    return (record.files as Record<string, unknown>[]).flatMap((file) =>
      Array.isArray(file.findings) ? (file.findings as CheckedFinding[]) : [],
    );
  }
  return [];
}

interface PythonTarget {
  document: vscode.TextDocument;
  notebook?: vscode.NotebookDocument;
  editor?: vscode.TextEditor;
}

/** The Python document in front of the user: the focused editor's (a file or a notebook cell), else
 * the selected (or first) Python cell of the active notebook. `needsEditor`: a cursor is needed. */
function activePythonDocument(needsEditor: boolean): PythonTarget | undefined {
  const notebookOf = (document: vscode.TextDocument) =>
    vscode.workspace.notebookDocuments.find((nb) => nb.getCells().some((cell) => cell.document === document));
  const editor = vscode.window.activeTextEditor;
  if (editor !== undefined && editor.document.languageId === "python") {
    return { document: editor.document, notebook: notebookOf(editor.document), editor };
  }
  const notebookEditor = vscode.window.activeNotebookEditor;
  if (needsEditor || notebookEditor === undefined) {
    return undefined;
  }
  const notebook = notebookEditor.notebook;
  const isPython = (cell: vscode.NotebookCell) =>
    cell.kind === vscode.NotebookCellKind.Code && cell.document.languageId === "python";
  const selected = notebook.getCells(notebookEditor.selection).find(isPython);
  const cell = selected ?? notebook.getCells().find(isPython);
  return cell !== undefined ? { document: cell.document, notebook } : undefined;
}
