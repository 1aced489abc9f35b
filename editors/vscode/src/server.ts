// Owns the language client: finds the interpreter, starts `<python> -m loss_lsp serve`,
// restarts it, and turns the server's lifecycle and progress into status-bar states.
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ProgressToken,
  ServerOptions,
  State,
  TransportKind,
  WorkDoneProgressBegin,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
} from "vscode-languageclient/node";
import {
  bundledLibs,
  Interpreter,
  interpreterCandidates,
  ProbeResult,
  probeServer,
  serverEnvironment,
} from "./interpreter";
import { StatusItem } from "./status";

interface ServerInfo {
  version?: string;
  pid?: number;
  python?: string;
  diagnostics?: string;
  settings?: Record<string, { trusted?: boolean }>;
  gradientCheck?: { available?: boolean; reason?: string };
}

export interface ProgressEvent {
  token: ProgressToken;
  title: string;
  kind: "begin" | "report" | "end";
  message?: string;
  percentage?: number;
}

const MAX_RESTARTS = 4;

export class ServerManager implements vscode.Disposable {
  private languageClient: LanguageClient | undefined;
  private stopping = false;
  private crashes = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly progressTitles = new Map<ProgressToken, string>();
  private readonly progressEmitter = new vscode.EventEmitter<ProgressEvent>();
  /** Every work-done progress the server reports, whoever created its token. */
  readonly onProgress = this.progressEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly output: vscode.LogOutputChannel,
    private readonly status: StatusItem,
  ) {}

  get client(): LanguageClient | undefined {
    return this.languageClient?.state === State.Running ? this.languageClient : undefined;
  }

  /** Starts, stops and restarts run one after another, never interleaved. */
  private serialize(work: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(work, work);
    return this.queue;
  }

  start(): Promise<void> {
    return this.serialize(() => this.startNow());
  }

  stop(): Promise<void> {
    return this.serialize(() => this.stopNow());
  }

  restart(): Promise<void> {
    return this.serialize(async () => {
      this.crashes = 0;
      await this.stopNow();
      await this.startNow();
    });
  }

  private async startNow(): Promise<void> {
    this.status.setTrusted(vscode.workspace.isTrusted);
    this.status.set({ kind: "starting" });
    const folder = vscode.workspace.workspaceFolders?.[0];
    // The server's own folder as cwd: `python -m` puts the cwd first on sys.path, and a
    // workspace must not be able to shadow loss_lsp with a package of its own.
    const cwd = this.context.extensionUri.fsPath;
    const libs = bundledLibs(cwd);
    const env = serverEnvironment(libs);
    this.output.info(libs ? `server: bundled in ${libs}` : "server: not bundled, using the interpreter's loss_lsp");

    // The first candidate that runs the server wins; every one tried is named if none does.
    const failures: string[] = [];
    let interpreter: Interpreter | undefined;
    let probe: Extract<ProbeResult, { ok: true }> | undefined;
    for await (const candidate of interpreterCandidates(folder)) {
      const result = await probeServer(candidate.path, cwd, env);
      if (result.ok) {
        interpreter = candidate;
        probe = result;
        break;
      }
      const failure = `${candidate.path} (from ${candidate.source}): ${result.reason}`;
      this.output.warn(`Python ${failure}`);
      failures.push(failure);
    }
    if (interpreter === undefined || probe === undefined) {
      const reason = `no Python could run the server. Tried ${failures.join("; ")}`;
      this.output.error(reason);
      this.status.set({ kind: "error", reason });
      void this.offerInterpreterChoice(reason);
      return;
    }
    const python = interpreter.path;
    const serverVersion = probe.version;
    const tensorflow = probe.tensorflow;
    this.output.info(
      `Python ${probe.pythonVersion} (from ${interpreter.source}): ${interpreter.path}; loss_lsp ${probe.version}; ` +
        (probe.tensorflow ? "TensorFlow found" : "no TensorFlow there: the gradient check is unavailable"),
    );

    // TransportKind.stdio makes the client append `--stdio`, which `loss_lsp serve` accepts.
    const serverOptions: ServerOptions = {
      command: python,
      args: ["-m", "loss_lsp", "serve"],
      transport: TransportKind.stdio,
      options: { cwd, env },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: "file", language: "python" },
        { scheme: "untitled", language: "python" },
        // Cells of Jupyter notebooks: the server syncs whole notebooks when it advertises
        // notebookDocumentSync, else each cell arrives as a document of its own.
        { notebook: "jupyter-notebook", language: "python" },
      ],
      outputChannel: this.output,
      traceOutputChannel: this.output,
      // No `synchronize`: the server registers its file watchers and its configuration
      // notifications itself, and pulls the `lossLsp` section with workspace/configuration.
      initializationOptions: () => ({
        ...settingsForServer(folder),
        trusted: vscode.workspace.isTrusted,
      }),
      errorHandler: {
        error: (_error, _message, count) => ({
          action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
        }),
        closed: () => {
          if (this.stopping) {
            return { action: CloseAction.DoNotRestart, handled: true };
          }
          this.crashes += 1;
          if (this.crashes <= MAX_RESTARTS) {
            this.output.warn(`the server exited; restarting (${this.crashes}/${MAX_RESTARTS})`);
            return { action: CloseAction.Restart, handled: true };
          }
          const reason = `the server exited ${this.crashes} times; run "Loss LSP: Restart server" after fixing it`;
          this.status.set({ kind: "error", reason });
          return { action: CloseAction.DoNotRestart, message: `Loss LSP: ${reason}. See the output for details.` };
        },
      },
      middleware: {
        handleWorkDoneProgress: (token, params, next) => {
          this.trackProgress(token, params);
          next(token, params);
        },
        workspace: {
          // A change of lossLsp.interpreter restarts the server while the client still tells the
          // old one about the change: that failure is expected, not worth an error notification.
          didChangeConfiguration: async (sections, next) => {
            try {
              await next(sections);
            } catch (error) {
              this.output.warn(`didChangeConfiguration not sent: ${error instanceof Error ? error.message : String(error)}`);
            }
          },
          // Only VS Code decides about trust: a workspace's own settings.json cannot claim it.
          configuration: async (params, token, next) => {
            const answer = await next(params, token);
            if (!Array.isArray(answer)) {
              return answer;
            }
            return answer.map((value, index) =>
              params.items[index]?.section === "lossLsp" ? withTrust(value) : value,
            );
          },
        },
      },
    };

    const client = new LanguageClient("lossLsp", "Loss LSP", serverOptions, clientOptions);
    this.languageClient = client;
    client.onDidChangeState((event) => {
      if (client !== this.languageClient) {
        return;
      }
      if (event.newState === State.Starting) {
        this.status.set({ kind: "starting" });
      } else if (event.newState === State.Running) {
        const version = client.initializeResult?.serverInfo?.version ?? serverVersion;
        this.status.set({ kind: "ready", version, python, tensorflow });
        void this.logServerInfo(client);
      } else if (event.newState === State.Stopped && !this.stopping && this.status.state.kind !== "error") {
        this.status.set({ kind: "stopped" });
      }
    });
    this.stopping = false;
    try {
      await client.start();
    } catch (error) {
      const reason = `the server failed to start: ${error instanceof Error ? error.message : String(error)}`;
      this.output.error(reason);
      this.status.set({ kind: "error", reason });
    }
  }

  private async stopNow(): Promise<void> {
    const client = this.languageClient;
    this.languageClient = undefined;
    this.progressTitles.clear();
    if (client === undefined) {
      return;
    }
    this.stopping = true;
    try {
      if (client.needsStop()) {
        await client.stop(3000);
      }
    } catch (error) {
      this.output.warn(`stopping the server: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await client.dispose().catch(() => undefined);
      this.stopping = false;
    }
  }

  /** What the running server says about itself: version, gradient check, trust per folder. */
  private async logServerInfo(client: LanguageClient): Promise<void> {
    try {
      const info = (await client.sendRequest(ExecuteCommandRequest.type, {
        command: "loss-lsp.serverInfo",
        arguments: [],
      })) as ServerInfo | null;
      if (info === null || typeof info !== "object") {
        return;
      }
      const gradient = info.gradientCheck?.available
        ? "available"
        : `unavailable (${info.gradientCheck?.reason ?? "unknown reason"})`;
      this.output.info(
        `server ${info.version ?? "?"} (pid ${info.pid ?? "?"}, ${info.python ?? "?"}), ` +
          `diagnostics: ${info.diagnostics ?? "?"}, gradient check: ${gradient}`,
      );
      for (const [root, settings] of Object.entries(info.settings ?? {})) {
        this.output.info(`settings for ${root}: trusted: ${String(settings.trusted)}`);
      }
    } catch (error) {
      this.output.warn(`loss-lsp.serverInfo: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private trackProgress(
    token: ProgressToken,
    params: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd,
  ): void {
    if (params.kind === "begin") {
      // The server prefixes its titles with its name, which the status item already shows.
      this.progressTitles.set(token, params.title.replace(/^loss-lsp:\s*/i, ""));
    }
    const title = this.progressTitles.get(token) ?? "working";
    const event: ProgressEvent = { token, title, kind: params.kind, message: params.message };
    if (params.kind !== "end") {
      event.percentage = params.percentage;
      this.status.setBusy({ kind: "busy", title, message: params.message, percentage: params.percentage });
    } else {
      this.progressTitles.delete(token);
      const remaining = [...this.progressTitles.values()];
      this.status.setBusy(remaining.length > 0 ? { kind: "busy", title: remaining[remaining.length - 1] } : undefined);
    }
    this.progressEmitter.fire(event);
  }

  private async offerInterpreterChoice(reason: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(
      `Loss LSP: ${reason}. Choose a Python 3.10+ (the one with TensorFlow, for the gradient check) ` +
        `in the "lossLsp.interpreter" setting.`,
      "Choose interpreter",
      "Show output",
    );
    if (choice === "Choose interpreter") {
      if (vscode.extensions.getExtension("ms-python.python") !== undefined) {
        await vscode.commands.executeCommand("python.setInterpreter");
      } else {
        await vscode.commands.executeCommand("workbench.action.openSettings", "lossLsp.interpreter");
      }
    } else if (choice === "Show output") {
      this.output.show();
    }
  }

  dispose(): void {
    void this.stop();
    this.progressEmitter.dispose();
  }
}

function withTrust(value: unknown): unknown {
  const trusted = vscode.workspace.isTrusted;
  const section = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  return {
    ...section,
    trusted,
    checkGradientsOnSave: trusted && section.checkGradientsOnSave === true,
  };
}

/** The `lossLsp` settings as the server reads them (section `lossLsp`, camelCase keys). */
export function settingsForServer(folder: vscode.WorkspaceFolder | undefined): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration("lossLsp", folder);
  const settings: Record<string, unknown> = {
    select: config.get<string[]>("select", []),
    ignore: config.get<string[]>("ignore", []),
    severity: config.get<Record<string, string>>("severity", {}),
    notReproducedSeverity: config.get<string>("notReproducedSeverity", "hint"),
    checkGradientsOnSave: vscode.workspace.isTrusted && config.get<boolean>("checkGradientsOnSave", false),
    gradientCheck: {
      timeout: config.get<number>("gradientCheck.timeout", 20),
      memoryMb: config.get<number>("gradientCheck.memoryMb", 4096),
      idleTimeout: config.get<number>("gradientCheck.idleTimeout", 600),
    },
    defaultShapes: config.get<Record<string, number[]>>("defaultShapes", {}),
  };
  const epsilon = config.get<string>("epsilon", "");
  if (epsilon !== "") {
    settings.epsilon = epsilon;
  }
  return settings;
}
