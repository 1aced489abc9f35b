// Drives the real VS Code workbench (code-server) in headless Chromium with playwright-core,
// the way a user would, and writes what it saw to $REPORT (test_vscode.py asserts on it).
// Exits non-zero on any miss. Screenshots of every step go to $SCREENSHOTS.
//
// Environment: SCENARIO ("trusted", "untrusted" or "venv"), URL (code-server, with ?folder=),
// PLAYWRIGHT (playwright-core's folder), CHROMIUM, BROWSER_PROFILE (a fresh folder),
// SCREENSHOTS, REPORT, BROKEN_PYTHON (a Python that does not exist).
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import path from "node:path";

const env = process.env;
const require = createRequire(import.meta.url);
const { chromium } = require(env.PLAYWRIGHT);

const report = { ok: true, steps: [], seen: { progress: [], status: [], notifications: [] } };
const started = Date.now();
let shot = 0;
let page;

function elapsed() {
  return (Date.now() - started) / 1000;
}

async function screenshot(name) {
  shot += 1;
  const file = path.join(env.SCREENSHOTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

async function step(name, check, detail) {
  const ok = Boolean(check);
  report.steps.push({ name, ok, detail, at: elapsed(), screenshot: await screenshot(name).catch(() => null) });
  if (!ok) {
    report.ok = false;
    throw new Error(`step failed: ${name}`);
  }
}

// Polls `probe` until it returns a truthy value or `ms` pass; returns the last value.
async function until(probe, ms, every = 100) {
  const deadline = Date.now() + ms;
  let value;
  while (Date.now() < deadline) {
    value = await probe();
    if (value) {
      return value;
    }
    await page.waitForTimeout(every);
  }
  return value;
}

// The visible text of each match (or its aria-label, which is what a screen reader says).
async function texts(selector, useLabel = true) {
  return page.locator(selector).evaluateAll(
    (nodes, label) =>
      nodes.map((n) => ((label && n.getAttribute("aria-label")) || n.textContent || "").replace(/\s+/g, " ").trim()),
    useLabel,
  );
}

// Rows read like "`np.mean` turns ... loss-lspLL101[Ln 8, Col 12]" (message, source, code, position).
const problems = () => texts(".markers-panel .monaco-list-row", false);
// The rows listed under the file called `name` (the Problems tree: a file row, its markers below).
async function problemsOf(name) {
  const rows = await page.locator(".markers-panel .monaco-list-row").evaluateAll((nodes) =>
    nodes.map((n) => ({ level: n.getAttribute("aria-level"), text: (n.textContent || "").replace(/\s+/g, " ").trim() })));
  const out = [];
  let inside = false;
  for (const row of rows) {
    if (row.level === "1") {
      inside = row.text.startsWith(name);
    } else if (inside) {
      out.push(row.text);
    }
  }
  return out;
}
const notifications = () => texts(".notifications-toasts .notification-list-item-message", false);
// Monaco draws spaces as no-break spaces.
const editorText = async () =>
  (await page.locator(".monaco-editor .view-lines").first().innerText()).replace(/\u00a0/g, " ");
// The Output panel's visible text (the Loss LSP channel once "Show output" ran).
const outputText = async () =>
  (await page.locator(".panel .monaco-editor .view-lines").first().innerText().catch(() => "")).replace(/\u00a0/g, " ");
async function statusItem() {
  const items = await texts(".statusbar-item");
  return items.find((t) => t.includes("Loss LSP")) ?? "";
}

function record(kind, value) {
  const list = report.seen[kind];
  if (value && list[list.length - 1]?.value !== value) {
    list.push({ value, at: elapsed() });
  }
}

async function watch() {
  record("status", await statusItem());
  for (const text of await notifications()) {
    if (text.includes("Loss LSP")) {
      record(text.includes("checking gradients") ? "progress" : "notifications", text);
    }
  }
}

async function runCommand(label) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 10000 });
  await input.fill(`>${label}`);
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: label }).first();
  await row.waitFor({ state: "visible", timeout: 10000 });
  await page.keyboard.press("Enter");
}

async function launch() {
  return chromium.launchPersistentContext(env.BROWSER_PROFILE, {
    executablePath: env.CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

const quickInput = () => page.locator(".quick-input-widget input");

async function goToPosition(line, column) {
  await page.locator(".monaco-editor textarea").first().focus();
  await page.keyboard.press("Control+G");
  await quickInput().waitFor({ state: "visible" });
  await quickInput().fill(`:${line}:${column}`);
  await page.keyboard.press("Enter");
}

// Opens the workbench on the fixture folder and train.py in it; waits for the three findings.
async function openFixture({ trust }) {
  await page.goto(env.URL);
  await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 60000 });
  if (trust !== undefined) {
    // The workspace-trust dialog of a folder opened for the first time.
    const answer = trust ? "Yes, I trust the authors" : "No, I don't trust the authors";
    const button = page.locator(".monaco-dialog-box .monaco-button", { hasText: answer });
    await button.waitFor({ state: "visible", timeout: 30000 });
    await screenshot("trust-dialog");
    await button.click();
  }
  await step("workbench", await until(() => page.locator(".explorer-folders-view, .explorer-viewlet").count(), 30000));

  await page.locator(".monaco-workbench").click({ position: { x: 700, y: 400 } }).catch(() => undefined);
  await page.keyboard.press("Control+P");
  await quickInput().waitFor({ state: "visible" });
  await quickInput().fill("train.py");
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: "train.py" }).first().waitFor();
  await page.keyboard.press("Enter");
  await page.locator(".monaco-editor .view-lines").first().waitFor();
  const opened = Date.now();
  await runCommand("View: Focus Problems");
  const wanted = ["LL101", "LL201", "LL102"];
  const initial = await until(async () => {
    await watch();
    const rows = await problems();
    return wanted.every((code) => rows.some((r) => r.includes(code))) ? rows : null;
  }, 60000);
  report.problems_initial = initial ?? (await problems());
  report.problems_after_open_s = (Date.now() - opened) / 1000;
  report.squiggles = await page.locator(".monaco-editor .squiggly-error, .monaco-editor .squiggly-warning").count();
  await step("diagnostics in the Problems panel", initial, report.problems_initial);
  const ready = await until(async () => {
    const text = await statusItem();
    return text.includes("Loss LSP") && !text.includes("starting") ? text : null;
  }, 30000);
  record("status", await statusItem());
  await step("status bar ready", ready, await statusItem());
}

// In the open code-action menu, accepts the first action whose text has `wanted`; returns the
// menu's rows and the chosen one.
async function chooseAction(wanted, shotName) {
  const menu = page.locator(".action-widget .monaco-list-row");
  await menu.first().waitFor({ state: "visible" });
  const rows = await texts(".action-widget .monaco-list-row");
  await screenshot(shotName);
  // The menu is a keyboard list (a pointer block covers it while it opens): move the
  // focus to the fix and accept it with Enter, as a user does.
  const focused = page.locator(".action-widget .monaco-list-row.focused");
  for (let i = 0; i < rows.length; i += 1) {
    if ((await focused.textContent().catch(() => "")).includes(wanted)) {
      break;
    }
    await page.keyboard.press("ArrowDown");
  }
  const chosen = await focused.textContent().catch(() => "");
  await page.keyboard.press("Enter");
  return [rows, chosen];
}

async function quickFix() {
  // The lightbulb at the cursor (Ctrl+. when it is not drawn) opens the code-action menu.
  await goToPosition(8, 12);
  const bulb = page.locator(".monaco-editor .lightBulbWidget .codicon, .monaco-editor .lightBulbWidget");
  const bulbShown = await until(() => bulb.first().isVisible().catch(() => false), 8000);
  if (bulbShown) {
    await bulb.first().click();
    report.quickfix_opened_with = "lightbulb";
  } else {
    await page.keyboard.press("Control+.");
    report.quickfix_opened_with = "Ctrl+.";
  }
  [report.quickfix_menu, report.quickfix_chosen] = await chooseAction("tf.reduce_mean", "quick-fix-menu");
  const fixed = await until(async () => {
    const text = await editorText();
    const rows = await problems();
    return text.includes("tf.reduce_mean(tf.abs(y_true - y_pred))") && !rows.some((r) => r.includes("LL101"))
      ? rows
      : null;
  }, 20000);
  report.problems_after_fix = await problems();
  report.editor_after_fix = await editorText();
  await step("quick fix applied", fixed, report.problems_after_fix);
}

async function gradientCheck() {
  await page.locator(".monaco-editor textarea").first().focus();
  await runCommand("Loss LSP: Check gradients in this file");
  let progressShot = false;
  const summary = await until(async () => {
    await watch();
    if (!progressShot && report.seen.progress.length > 0) {
      progressShot = true;
      await screenshot("gradient-check-progress");
    }
    const done = (await notifications()).find((t) => /Loss LSP: (gradient check|the gradient check failed)/.test(t));
    return done ?? null;
  }, 240000, 50);
  report.gradient_summary = summary ?? null;
  report.problems_after_check = await until(async () => {
    const rows = await problems();
    return rows.some((r) => /confirmed|not reproduced|not run/.test(r)) ? rows : null;
  }, 30000);
  report.problems_after_check = report.problems_after_check ?? (await problems());
  await step("gradient check", summary && /confirmed/.test(summary), { summary, problems: report.problems_after_check });

  // The hover on a confirmed finding explains it, with the check's evidence.
  await goToPosition(16, 20);
  await runCommand("Show or Focus Hover");
  const hover = page.locator(".monaco-hover:not(.hidden)").first();
  await hover.waitFor({ state: "visible" });
  // The server's part of the hover arrives after the diagnostic's part.
  report.hover = await until(async () => {
    const text = (await hover.innerText().catch(() => "")).replace(/\u00a0/g, " ");
    return text.includes("Why it breaks training") ? text : null;
  }, 10000);
  report.hover = report.hover ?? (await hover.innerText().catch(() => ""));
  await step("hover with verdict", /Gradient check: confirmed/.test(report.hover), report.hover);
  await page.keyboard.press("Escape");

  // The loss under the cursor (line 16 is in eager_loss): only its finding is checked.
  await page.locator(".monaco-editor textarea").first().focus();
  await runCommand("Loss LSP: Check gradients for the loss under the cursor");
  report.cursor_summary = await until(async () => {
    await watch();
    return (await notifications()).find((t) => t.startsWith("Loss LSP: gradient check: 1 ")) ?? null;
  }, 120000);
  await step("gradient check of the loss under the cursor", report.cursor_summary, report.cursor_summary);
}

async function missingServer() {
  // In the Settings editor, point lossLsp.interpreter at a Python that does not exist: the
  // server restarts, and a notification names the interpreter and why it cannot run the server.
  await runCommand("Preferences: Open User Settings");
  await page.locator(".settings-editor").waitFor({ state: "visible" });
  await page.keyboard.type("lossLsp.interpreter");
  // code-server is a remote: a machine-overridable setting is edited in the Remote tab.
  await page.locator(".settings-editor .settings-tabs-widget .action-label", { hasText: "Remote" }).click();
  const field = page.locator(".settings-editor .setting-item-contents", { hasText: "Interpreter" })
    .locator("input").first();
  await field.waitFor({ state: "visible" });
  report.settings_editor = await texts(".settings-editor .setting-item-contents", false);
  await field.fill(env.BROKEN_PYTHON);
  await page.keyboard.press("Tab");
  await screenshot("settings-interpreter");
  const missing = await until(async () => {
    await watch();
    return (await notifications()).find((t) => t.includes("could run the server")) ?? null;
  }, 30000);
  report.missing_server_notification = missing ?? null;
  report.status_after_missing = await statusItem();
  report.notifications_after_missing = await notifications();
  await step("missing server notification", missing, missing);
}

async function showOutput(wanted) {
  await runCommand("Loss LSP: Show output");
  return until(async () => {
    const text = await outputText();
    return text.includes(wanted) ? text : null;
  }, 20000);
}

// A bare virtual environment, named only by $VIRTUAL_ENV, runs the bundled server (the test reads
// the whole Loss LSP log from code-server's log folder; this shows the channel for the screenshot).
async function virtualEnv() {
  await runCommand("Loss LSP: Show output");
  await page.waitForTimeout(500);
  await screenshot("output-channel");
}

// The built-in notebook editor (no kernel): a squiggle in a cell, the quick fix applied in the cell.
async function notebook() {
  await page.keyboard.press("Control+P");
  await quickInput().waitFor({ state: "visible" });
  await quickInput().fill("notebook.ipynb");
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: "notebook.ipynb" }).first().waitFor();
  await page.keyboard.press("Enter");
  const cells = page.locator(".notebookOverlay .cell-editor-container .monaco-editor");
  await cells.first().waitFor({ state: "visible", timeout: 30000 });
  await runCommand("View: Focus Problems");
  const squiggle = page.locator(".notebookOverlay .cell-editor-container .squiggly-error");
  report.notebook_problems = await until(async () => {
    const rows = await problemsOf("notebook.ipynb");
    return rows.some((r) => r.includes("LL101")) && (await squiggle.count()) > 0 ? rows : null;
  }, 60000);
  report.notebook_problems = report.notebook_problems ?? (await problemsOf("notebook.ipynb"));
  report.notebook_squiggles = await squiggle.count();
  await step("squiggle in a notebook cell", report.notebook_squiggles > 0, report.notebook_problems);

  // The cursor on the squiggle (a click on `np.mean` in the cell). The squiggle is drawn under the
  // text: click where it is, as a user would, not on it.
  const box = await squiggle.first().boundingBox();
  const clickSquiggle = () => page.mouse.click(box.x + box.width / 2, box.y + box.height / 2 - 4);
  await clickSquiggle();

  // The gradient check from the cell: the server checks the notebook's losses. This venv has no
  // TensorFlow, so the verdict is "check not run", with the reason in the hover.
  await runCommand("Loss LSP: Check gradients in this file");
  report.notebook_gradient_summary = await until(async () => {
    await watch();
    return (await notifications()).find((t) => /Loss LSP: (gradient check|the gradient check failed)/.test(t)) ?? null;
  }, 120000);
  report.notebook_problems_after_check = await until(async () => {
    const rows = await problemsOf("notebook.ipynb");
    return rows.some((r) => r.includes("[check not run]")) ? rows : null;
  }, 30000);
  await step("gradient check from a notebook cell", report.notebook_problems_after_check,
    { summary: report.notebook_gradient_summary, problems: await problemsOf("notebook.ipynb") });

  // Ctrl+. at the squiggle for the fixes.
  await clickSquiggle();
  await page.keyboard.press("Control+.");
  [report.notebook_quickfix_menu, report.notebook_quickfix_chosen] =
    await chooseAction("tf.reduce_mean", "notebook-quick-fix-menu");
  const cellText = async () =>
    (await page.locator(".notebookOverlay .cell-editor-container .view-lines").allInnerTexts())
      .map((t) => t.replace(/\u00a0/g, " "));
  const fixed = await until(async () => {
    const textsNow = await cellText();
    const rows = await problemsOf("notebook.ipynb");
    return textsNow.some((t) => t.includes("tf.reduce_mean(tf.abs(y_true - y_pred))")) &&
      !rows.some((r) => r.includes("LL101")) ? textsNow : null;
  }, 20000);
  report.notebook_cells_after_fix = await cellText();
  report.notebook_problems_after_fix = await problemsOf("notebook.ipynb");
  await step("quick fix applied in the notebook cell", fixed, report.notebook_cells_after_fix);
}

async function untrusted() {
  // Restricted mode: the static checks work, the gradient check is not offered.
  report.status_untrusted = await statusItem();
  await step("status shows restricted mode", report.status_untrusted.includes("restricted"), report.status_untrusted);
  await page.locator(".monaco-editor textarea").first().focus();
  await page.keyboard.press("F1");
  await quickInput().waitFor({ state: "visible" });
  await quickInput().fill(">Loss LSP");
  await page.locator(".quick-input-widget .monaco-list-row").first().waitFor();
  report.palette_untrusted = await texts(".quick-input-widget .monaco-list-row", false);
  await screenshot("palette-untrusted");
  await page.keyboard.press("Escape");
  const output = await showOutput("trusted:");
  report.output_untrusted = output ?? null;
  await step("the server was told: not trusted", output && output.includes("trusted: false"), output);
  await step("palette without the gradient check",
    report.palette_untrusted.some((t) => t.includes("Restart server")) &&
      !report.palette_untrusted.some((t) => t.includes("Check gradients")),
    report.palette_untrusted);

  // Trusting the workspace restarts the server with the gradient check on.
  await runCommand("Workspaces: Manage Workspace Trust");
  const trustButton = page.locator(".workspace-trust-editor .monaco-button", { hasText: /^Trust$/ }).first();
  await trustButton.waitFor({ state: "visible" });
  await screenshot("manage-trust");
  await trustButton.click();
  report.status_after_trust = await until(async () => {
    const text = await statusItem();
    return text.includes("is ready") && !text.includes("restricted") ? text : null;
  }, 30000);
  report.output_after_trust = await showOutput("trusted: true");
  await step("trust granted: server restarted, trusted", report.status_after_trust && report.output_after_trust,
    { status: report.status_after_trust, output: report.output_after_trust });
}

async function main() {
  const context = await launch();
  try {
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20000);
    if (env.SCENARIO === "untrusted") {
      await openFixture({ trust: false });
      await untrusted();
    } else if (env.SCENARIO === "venv") {
      await openFixture({});
      await virtualEnv();
      await notebook();
    } else {
      await openFixture({});
      await quickFix();
      await gradientCheck();
      await missingServer();
    }
  } catch (error) {
    await screenshot("failure").catch(() => undefined);
    throw error;
  } finally {
    await context.close();
  }
}

try {
  await main();
} catch (error) {
  report.ok = false;
  report.error = String(error && error.stack ? error.stack : error);
}
writeFileSync(env.REPORT, JSON.stringify(report, null, 1));
process.exit(report.ok ? 0 : 1);
