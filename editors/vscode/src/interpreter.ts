// Which Python runs the server. The server itself and its pure-Python dependencies ship in the
// extension (bundled/libs, first on PYTHONPATH), so any Python 3.10+ can run it; the user's
// interpreter matters for the gradient check, which needs the TensorFlow installed there.
// Candidates, in order: the `lossLsp.interpreter` setting (alone: the user chose it), the
// Python extension's active interpreter, $VIRTUAL_ENV, python3 on the login shell's PATH,
// python3 on the extension host's PATH.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";

export interface Interpreter {
  path: string;
  /** Where the path came from, as the user knows it ("$VIRTUAL_ENV", "lossLsp.interpreter", ...). */
  source: string;
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
const WINDOWS = process.platform === "win32";

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

async function pythonExtensionInterpreter(folder: vscode.WorkspaceFolder | undefined): Promise<string | undefined> {
  const api = await pythonExtensionApi();
  if (api?.environments === undefined) {
    return undefined;
  }
  try {
    const active = api.environments.getActiveEnvironmentPath(folder?.uri);
    const resolved = await api.environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch {
    return undefined; // an environment the Python extension cannot resolve
  }
}

function virtualEnvInterpreter(): string | undefined {
  const venv = process.env.VIRTUAL_ENV;
  return venv ? path.join(venv, WINDOWS ? "Scripts" : "bin", WINDOWS ? "python.exe" : "python") : undefined;
}

/** `python3` as a login shell finds it: VS Code started from a desktop launcher may have a shorter PATH. */
function loginShellPython(): Promise<string | undefined> {
  if (WINDOWS) {
    return Promise.resolve(undefined);
  }
  const shell = process.env.SHELL || "/bin/sh";
  return new Promise((resolve) => {
    execFile(shell, ["-l", "-c", "command -v python3"], { timeout: 10_000, windowsHide: true }, (error, stdout) => {
      // Profiles may print banners: the answer is the last line that is an absolute path.
      const found = stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("/")).pop();
      resolve(error === null && found ? found : undefined);
    });
  });
}

/** The interpreters to try, first choice first. Lazily: the login shell starts only when the
 * candidates before it could not run the server. */
export async function* interpreterCandidates(folder: vscode.WorkspaceFolder | undefined): AsyncGenerator<Interpreter> {
  const configured = vscode.workspace.getConfiguration("lossLsp", folder).get<string>("interpreter", "");
  if (configured.trim() !== "") {
    yield { path: expandVariables(configured, folder), source: "lossLsp.interpreter" };
    return;
  }
  const seen = new Set<string>();
  const finders: Array<[string, () => Promise<string | undefined>]> = [
    ["the Python extension", () => pythonExtensionInterpreter(folder)],
    ["$VIRTUAL_ENV", async () => virtualEnvInterpreter()],
    ["the login shell's PATH", loginShellPython],
    ["PATH", async () => (WINDOWS ? "python" : "python3")],
  ];
  for (const [source, find] of finders) {
    const found = await find();
    if (found && !seen.has(found)) {
      seen.add(found);
      yield { path: found, source };
    }
  }
}

/** Calls `listener` when the Python extension's selected interpreter changes. */
export async function onPythonInterpreterChanged(listener: () => void): Promise<vscode.Disposable | undefined> {
  const api = await pythonExtensionApi();
  return api?.environments?.onDidChangeActiveEnvironmentPath(() => listener());
}

/** The server's environment: the bundled libraries before the interpreter's own site-packages, so
 * that our pygls/lsprotocol/jedi win over other versions there, while TensorFlow (not bundled)
 * comes from the interpreter. */
export function serverEnvironment(bundledLibs: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONIOENCODING: "utf-8" };
  if (bundledLibs !== undefined) {
    const inherited = process.env.PYTHONPATH;
    env.PYTHONPATH = inherited ? `${bundledLibs}${path.delimiter}${inherited}` : bundledLibs;
  }
  return env;
}

/** bundled/libs of the installed extension, if this build has it. */
export function bundledLibs(extensionPath: string): string | undefined {
  const libs = path.join(extensionPath, "bundled", "libs");
  return fs.existsSync(path.join(libs, "loss_lsp", "__init__.py")) ? libs : undefined;
}

export type ProbeResult =
  | { ok: true; version: string; pythonVersion: string; tensorflow: boolean }
  | { ok: false; reason: string };

// Valid Python 2 too, so that an old interpreter reports its version instead of a SyntaxError.
const PROBE = [
  "import sys",
  "if sys.version_info < (3, 10):",
  "    sys.stdout.write('too-old ' + sys.version.split()[0]); sys.exit(3)",
  "import importlib.util, loss_lsp",
  "tf = importlib.util.find_spec('tensorflow') is not None",
  "sys.stdout.write(' '.join([loss_lsp.__version__, sys.version.split()[0], str(tf)]))",
].join("\n");

/** Whether `python` can run the server (with the bundled libraries), and what it has. */
export function probeServer(python: string, cwd: string | undefined, env: NodeJS.ProcessEnv): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(python, ["-c", PROBE], { cwd, env, timeout: 30_000, windowsHide: true }, (error, stdout, stderr) => {
      if (error === null) {
        const [version, pythonVersion, tensorflow] = stdout.trim().split(" ");
        resolve({ ok: true, version, pythonVersion, tensorflow: tensorflow === "True" });
        return;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        resolve({ ok: false, reason: "not found" });
      } else if (code === "EACCES") {
        resolve({ ok: false, reason: "not executable" });
      } else if (stdout.startsWith("too-old")) {
        resolve({ ok: false, reason: `Python ${stdout.split(" ")[1]} is too old (the server needs 3.10 or newer)` });
      } else {
        const lastLine = stderr.trim().split("\n").pop() || error.message;
        resolve({ ok: false, reason: `the server does not import: ${lastLine}` });
      }
    });
  });
}
