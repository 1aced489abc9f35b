-- Drives a headless Neovim through what a user does with loss-lsp, and writes what it saw
-- to $LOSS_LSP_REPORT as JSON (test_nvim.py asserts on it). Exits non-zero on any miss.
--
-- Environment: LOSS_LSP_PLUGIN (editors/nvim), LOSS_LSP_RTP (folder put first on
-- 'runtimepath'), LOSS_LSP_FILE (the fixture to open), LOSS_LSP_MODE ("plugin", "legacy"
-- or "bare": only lsp/loss_lsp.lua with vim.lsp.enable), LOSS_LSP_PYTHON,
-- LOSS_LSP_EXPECT (comma-separated codes that must appear), LOSS_LSP_FIX_CODE (the
-- finding to fix from the code-action menu), LOSS_LSP_GRADIENTS ("1" to run the check).
local env = vim.env
local mode = env.LOSS_LSP_MODE or "plugin"
local report = { mode = mode, ok = true, steps = {}, notifications = {}, progress = {} }
local started = vim.uv.hrtime()

local function elapsed()
  return (vim.uv.hrtime() - started) / 1e9
end

local function step(name, ok, detail)
  table.insert(report.steps, { name = name, ok = ok and true or false, detail = detail, at = elapsed() })
  if not ok then
    report.ok = false
  end
  return ok
end

local function finish()
  local file = assert(io.open(env.LOSS_LSP_REPORT, "w"))
  file:write(vim.json.encode(report))
  file:close()
  vim.cmd(report.ok and "qall!" or "cquit 1")
end

-- What the user would read: notifications and the server's progress.
local notify = vim.notify
vim.notify = function(message, level, opts)
  table.insert(report.notifications, { message = message, level = level, at = elapsed() })
  return notify(message, level, opts)
end
vim.api.nvim_create_autocmd("LspProgress", {
  callback = function(event)
    local value = event.data.params.value
    if type(value) == "table" then
      table.insert(report.progress, {
        token = tostring(event.data.params.token),
        kind = value.kind,
        title = value.title,
        message = value.message,
        percentage = value.percentage,
        status = (mode ~= "bare") and require("loss_lsp").status() or nil,
        at = elapsed(),
      })
    end
  end,
})

local function loss_diagnostics(bufnr)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if d.source == "loss-lsp" then
      local data = d.user_data and d.user_data.lsp and d.user_data.lsp.data
      table.insert(out, {
        code = d.code,
        line = d.lnum + 1,
        col = d.col,
        message = d.message,
        severity = d.severity,
        data = data,
      })
    end
  end
  table.sort(out, function(a, b)
    return a.line < b.line or (a.line == b.line and a.col < b.col)
  end)
  return out
end

local function codes_of(diagnostics)
  local set = {}
  for _, d in ipairs(diagnostics) do
    set[d.code] = true
  end
  return set
end

local function has_all(diagnostics, codes)
  local set = codes_of(diagnostics)
  for _, code in ipairs(codes) do
    if not set[code] then
      return false
    end
  end
  return true
end

local function loss_client(bufnr)
  return vim.lsp.get_clients({ name = "loss_lsp", bufnr = bufnr })[1]
end

local function run()
  vim.opt.runtimepath:prepend(env.LOSS_LSP_RTP)
  if mode == "bare" then
    -- A user without the plugin: lsp/loss_lsp.lua alone, started by vim.lsp.enable.
    vim.lsp.enable("loss_lsp")
  else
    require("loss_lsp").setup({ python = env.LOSS_LSP_PYTHON, legacy = mode == "legacy" })
  end

  vim.cmd.edit(vim.fn.fnameescape(env.LOSS_LSP_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  local expected = vim.split(env.LOSS_LSP_EXPECT or "", ",", { trimempty = true })

  -- 1. The diagnostics arrive.
  local arrived = vim.wait(60000, function()
    return has_all(loss_diagnostics(bufnr), expected)
  end, 20)
  local client = loss_client(bufnr)
  report.first_diagnostics_s = elapsed()
  report.diagnostics = loss_diagnostics(bufnr)
  report.client = client and { id = client.id, name = client.name, root_dir = client.root_dir } or nil
  report.commands = vim.tbl_keys(vim.api.nvim_buf_get_commands(bufnr, {}))
  if not step("diagnostics", arrived, report.diagnostics) then
    return
  end

  -- 2. The quick fix from the code-action menu (what `gra` / vim.lsp.buf.code_action does).
  local fix_code = env.LOSS_LSP_FIX_CODE
  if fix_code and fix_code ~= "" then
    local target
    for _, d in ipairs(report.diagnostics) do
      if d.code == fix_code then
        target = d
        break
      end
    end
    vim.api.nvim_win_set_cursor(0, { target.line, target.col })
    local before = vim.api.nvim_buf_get_lines(bufnr, target.line - 1, target.line, false)[1]
    local offered = {}
    vim.lsp.buf.code_action({
      context = { only = { "quickfix" } },
      filter = function(action)
        table.insert(offered, { title = action.title, kind = action.kind, preferred = action.isPreferred })
        return action.isPreferred == true
      end,
      apply = true,
    })
    local fixed = vim.wait(20000, function()
      local line = vim.api.nvim_buf_get_lines(bufnr, target.line - 1, target.line, false)[1]
      return line ~= before and not codes_of(loss_diagnostics(bufnr))[fix_code]
    end, 20)
    report.quickfix = {
      code = fix_code,
      offered = offered,
      before = before,
      after = vim.api.nvim_buf_get_lines(bufnr, target.line - 1, target.line, false)[1],
      diagnostics = loss_diagnostics(bufnr),
      modified = vim.bo[bufnr].modified,
    }
    if not step("quickfix", fixed, report.quickfix) then
      return
    end
  end

  -- 3. The gradient check from the buffer-local command.
  if env.LOSS_LSP_GRADIENTS == "1" then
    local notified_before = #report.notifications
    vim.cmd("LossLspCheckGradients")
    local summarized = vim.wait(240000, function()
      for i = notified_before + 1, #report.notifications do
        if report.notifications[i].message:find("gradient check", 1, true) and not report.notifications[i].message:find("checking gradients", 1, true) then
          return true
        end
      end
      return false
    end, 50)
    -- The verdicts come back with the next diagnostics of the document.
    local with_verdicts = summarized and vim.wait(30000, function()
      for _, d in ipairs(loss_diagnostics(bufnr)) do
        if type(d.data) == "table" and d.data.verdict ~= nil then
          return true
        end
      end
      return false
    end, 50)
    report.gradients = {
      diagnostics = loss_diagnostics(bufnr),
      saved = not vim.bo[bufnr].modified,
      disk = vim.fn.readfile(env.LOSS_LSP_FILE),
    }
    if not step("gradient check", summarized and with_verdicts, report.gradients) then
      return
    end

    -- The other scopes, on the warm worker: the loss under the cursor, then the workspace.
    report.scopes = {}
    vim.api.nvim_win_set_cursor(0, { 16, 8 }) -- inside eager_loss
    for _, scope in ipairs({ "cursor", "workspace" }) do
      local before = #report.notifications
      vim.cmd("LossLspCheckGradients " .. scope)
      local summary = nil
      vim.wait(120000, function()
        for i = before + 1, #report.notifications do
          local message = report.notifications[i].message
          if message:find("gradient check", 1, true) and not message:find("checking gradients", 1, true) then
            summary = message
            return true
          end
        end
        return false
      end, 50)
      report.scopes[scope] = summary
      if not step("gradient check (" .. scope .. ")", summary ~= nil, summary) then
        return
      end
    end
  end

  -- 4. :LossLspRestart gives a new server that publishes again.
  if mode ~= "bare" then
    local old = loss_client(bufnr)
    vim.cmd("LossLspRestart")
    local restarted = vim.wait(30000, function()
      local new = loss_client(bufnr)
      return new ~= nil and new.id ~= old.id and #loss_diagnostics(bufnr) > 0
    end, 20)
    local new = loss_client(bufnr)
    report.restart = { old_id = old.id, new_id = new and new.id, diagnostics = loss_diagnostics(bufnr) }
    if not step("restart", restarted, report.restart) then
      return
    end
  end

  -- 5. :checkhealth loss_lsp
  if mode == "plugin" then
    vim.cmd("checkhealth loss_lsp")
    report.health = vim.api.nvim_buf_get_lines(0, 0, -1, false)
    step("checkhealth", #report.health > 0, nil)
  end
end

local ok, err = xpcall(run, debug.traceback)
if not ok then
  step("lua error", false, err)
end
finish()
