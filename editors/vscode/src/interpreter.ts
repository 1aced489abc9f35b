// Which Python runs the server: the `lossLsp.interpreter` setting, else the
// interpreter selected in the Python extension, else `python3` on PATH.
import { execFile } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";

export type InterpreterSource = "setting" | "python extension" | "default";

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

// The part of the Python extension's public API (ms-python.python, "environments")
// that this extension uses.
interface PythonEnvironmentPath {
  readonly id: string;
  readonly path: string;
}
interface ResolvedPythonEnvironment {
  readonly executable: { readonly uri: vscode.Uri | undefined };
}
interface PythonExtensionApi {
  readonly environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): PythonEnvironmentPath;
    resolveEnvironment(env: PythonEnvironmentPath | string): Promise<ResolvedPythonEnvironment | undefined>;
    readonly onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
}

const PYTHON_EXTENSION_ID = "ms-python.python";

async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch {
    return undefined;
  }
}

function expandVariables(value: string, folder: vscode.WorkspaceFolder | undefined): string {
  let out = value.trim();
  if (out.startsWith("~/") || out === "~") {
    out = path.join(os.homedir(), out.slice(1));
  }
  if (folder !== undefined) {
    out = out.replace(/\$\{workspaceFolder\}/g, folder.uri.fsPath);
  }
  return out.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => process.env[name] ?? "");
}

export async function findInterpreter(folder: vscode.WorkspaceFolder | undefined): Promise<Interpreter> {
  const configured = vscode.workspace.getConfiguration("lossLsp", folder).get<string>("interpreter", "");
  if (configured.trim() !== "") {
    return { path: expandVariables(configured, folder), source: "setting" };
  }
  const api = await pythonExtensionApi();
  if (api?.environments !== undefined) {
    try {
      const active = api.environments.getActiveEnvironmentPath(folder?.uri);
      const resolved = await api.environments.resolveEnvironment(active);
      const executable = resolved?.executable.uri?.fsPath ?? active.path;
      if (executable) {
        return { path: executable, source: "python extension" };
      }
    } catch {
      // An environment the Python extension cannot resolve: fall through to python3.
    }
  }
  return { path: process.platform === "win32" ? "python" : "python3", source: "default" };
}

/** Calls `listener` when the Python extension's selected interpreter changes. */
export async function onPythonInterpreterChanged(listener: () => void): Promise<vscode.Disposable | undefined> {
  const api = await pythonExtensionApi();
  return api?.environments?.onDidChangeActiveEnvironmentPath(() => listener());
}

export type ProbeResult = { ok: true; version: string } | { ok: false; reason: string };

/** Checks that `loss_lsp` imports under `python`, and returns its version. */
export function probeServer(python: string, cwd: string | undefined): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(
      python,
      ["-c", "import loss_lsp, sys; sys.stdout.write(loss_lsp.__version__)"],
      { cwd, timeout: 30_000, windowsHide: true },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ ok: true, version: stdout.trim() });
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
          resolve({ ok: false, reason: `the Python interpreter ${python} was not found` });
        } else if (/No module named '?loss_lsp/.test(stderr)) {
          resolve({ ok: false, reason: `loss_lsp is not installed for ${python}` });
        } else {
          const lastLine = stderr.trim().split("\n").pop() ?? error.message;
          resolve({ ok: false, reason: `importing loss_lsp with ${python} failed: ${lastLine}` });
        }
      },
    );
  });
}

export function installCommand(python: string): string {
  const quoted = /\s/.test(python) ? `"${python}"` : python;
  return `${quoted} -m pip install loss-lsp`;
}
