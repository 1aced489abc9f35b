-- loss-lsp for Neovim: starts the server for Python buffers and adds the buffer-local
-- commands :LossLspCheckGradients and :LossLspRestart. See :help loss_lsp.
local M = {}

M.name = "loss_lsp"
M.root_markers = { "pyproject.toml", "setup.py", "setup.cfg", ".git" }

local has_011 = vim.fn.has("nvim-0.11") == 1

---@class loss_lsp.Options
---@field python? string Python that runs `-m loss_lsp serve` (default: $VIRTUAL_ENV's, else python3)
---@field cmd? string[] Full server command; overrides `python`
---@field settings? table The lossLsp settings (select, ignore, severity, checkGradientsOnSave, ...)
---@field filetypes? string[]
---@field root_markers? string[]
---@field trusted? boolean false turns the gradient check off (the server is told `trusted: false`)
---@field on_attach? fun(client: table, bufnr: integer)
---@field capabilities? table
---@field progress? boolean Echo the server's progress messages (default true)
---@field legacy? boolean Use vim.lsp.start even on 0.11+ (default: only on 0.9/0.10)
local defaults = {
  python = nil,
  cmd = nil,
  settings = {},
  filetypes = { "python" },
  root_markers = M.root_markers,
  trusted = true,
  on_attach = nil,
  capabilities = nil,
  progress = true,
  legacy = nil,
}

---@type loss_lsp.Options
M.options = vim.deepcopy(defaults)

-- Last progress line of the server, for a statusline: require("loss_lsp").status().
local progress_line = nil
local progress_titles = {}

--- The Python that runs the server unless `python` or `cmd` is given.
---@return string
function M.default_python()
  local venv = vim.env.VIRTUAL_ENV
  if venv and venv ~= "" then
    local candidate = venv .. (vim.fn.has("win32") == 1 and "/Scripts/python.exe" or "/bin/python")
    if vim.fn.executable(candidate) == 1 then
      return candidate
    end
  end
  return vim.fn.executable("python3") == 1 and "python3" or "python"
end

---@return string[]
function M.server_cmd()
  if M.options.cmd then
    return M.options.cmd
  end
  return { M.options.python or M.default_python(), "-m", "loss_lsp", "serve" }
end

local function get_clients(filter)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients(filter)
  end
  return vim.lsp.get_active_clients(filter) -- Neovim 0.9
end

-- Neovim 0.11 made client methods use `:`; 0.9/0.10 use `.`.
local function client_request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function client_stop(client)
  if has_011 then
    client:stop()
  else
    client.stop()
  end
end

local function client_is_stopped(client)
  if has_011 then
    return client:is_stopped()
  end
  return client.is_stopped()
end

---@param bufnr? integer
---@return table|nil
function M.get_client(bufnr)
  return get_clients({ name = M.name, bufnr = bufnr })[1]
end

---@return string|nil
function M.status()
  return progress_line
end

local function notify(message, level)
  vim.notify("Loss LSP: " .. message, level or vim.log.levels.INFO, { title = "loss_lsp" })
end

-- "gradient check: 2 confirmed, 1 not reproduced in 1 file(s)" from the command's result.
local function summarize(result)
  local function line(text)
    return text:match("^gradient check") and text or ("gradient check: " .. text)
  end
  if type(result) == "string" then
    return line(result)
  end
  if type(result) ~= "table" then
    return line("finished")
  end
  if type(result.summary) == "string" and result.summary ~= "" then
    return line(result.summary)
  end
  local findings = result.findings
  if findings == nil and type(result.files) == "table" then
    findings = {}
    for _, file in ipairs(result.files) do
      vim.list_extend(findings, file.findings or {})
    end
  end
  local counts, order = {}, {}
  for _, finding in ipairs(findings or {}) do
    local verdict = type(finding.verdict) == "string" and finding.verdict:gsub("_", " ") or "not run"
    if not counts[verdict] then
      table.insert(order, verdict)
    end
    counts[verdict] = (counts[verdict] or 0) + 1
  end
  local parts = {}
  for _, verdict in ipairs(order) do
    table.insert(parts, ("%d %s"):format(counts[verdict], verdict))
  end
  return line(#parts == 0 and "no findings" or table.concat(parts, ", "))
end
M._summarize = summarize

--- Runs the server's `loss-lsp.checkGradients`.
---@param bufnr integer
---@param scope? string "file" (default), "workspace", "cursor", or the name of a loss
---@param on_done? fun(err: table|nil, result: any)
function M.check_gradients(bufnr, scope, on_done)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  scope = (scope == nil or scope == "") and "file" or scope
  local client = M.get_client(bufnr)
  if not client then
    notify("the server is not attached to this buffer", vim.log.levels.ERROR)
    return
  end
  if M.options.trusted == false then
    notify("the gradient check is off (setup({ trusted = false }))", vim.log.levels.WARN)
    return
  end
  if vim.bo[bufnr].modified then
    -- The check loads the module from disk: what is on screen must be what is on disk.
    vim.api.nvim_buf_call(bufnr, function()
      vim.cmd("silent write")
    end)
  end
  local uri = vim.uri_from_bufnr(bufnr)
  local arguments
  if scope == "workspace" then
    arguments = {}
  elseif scope == "file" then
    arguments = { uri }
  elseif scope == "cursor" then
    local win = vim.fn.bufwinid(bufnr)
    local position = vim.lsp.util.make_position_params(win ~= -1 and win or 0, client.offset_encoding).position
    arguments = { uri, position }
  else
    arguments = { uri, scope }
  end
  local token = ("loss-lsp-gradients-%d-%d"):format(bufnr, vim.uv and vim.uv.hrtime() or vim.loop.hrtime())
  local params = { command = "loss-lsp.checkGradients", arguments = arguments, workDoneToken = token }
  notify("checking gradients (" .. scope .. ")…")
  client_request(client, "workspace/executeCommand", params, function(err, result)
    if err then
      notify("the gradient check failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    else
      notify(summarize(result))
    end
    if on_done then
      on_done(err, result)
    end
  end, bufnr)
end

--- Stops the server and starts it again for the buffers it served.
function M.restart()
  local clients = get_clients({ name = M.name })
  local buffers = {}
  for _, client in ipairs(clients) do
    for bufnr in pairs(client.attached_buffers or {}) do
      buffers[bufnr] = true
    end
  end
  if has_011 and not M.options.legacy and vim.lsp.is_enabled and vim.lsp.is_enabled(M.name) then
    vim.lsp.enable(M.name, false)
  else
    for _, client in ipairs(clients) do
      client_stop(client)
    end
  end
  vim.wait(5000, function()
    for _, client in ipairs(clients) do
      if not client_is_stopped(client) then
        return false
      end
    end
    return true
  end, 50)
  progress_titles, progress_line = {}, nil
  if has_011 and not M.options.legacy then
    vim.lsp.enable(M.name) -- re-runs the FileType autocmd of every buffer
  else
    for bufnr in pairs(buffers) do
      if vim.api.nvim_buf_is_valid(bufnr) then
        M._legacy_start(bufnr)
      end
    end
  end
  notify("server restarted")
end

local function complete_scope(arglead)
  return vim.tbl_filter(function(item)
    return vim.startswith(item, arglead)
  end, { "file", "workspace", "cursor" })
end

--- Adds the buffer-local commands; called when the client attaches.
---@param client table
---@param bufnr integer
function M.on_attach(client, bufnr)
  vim.api.nvim_buf_create_user_command(bufnr, "LossLspCheckGradients", function(cmd)
    M.check_gradients(bufnr, cmd.args)
  end, {
    nargs = "?",
    complete = complete_scope,
    desc = "loss-lsp: check gradients in this file (or: workspace, cursor, a loss name)",
  })
  vim.api.nvim_buf_create_user_command(bufnr, "LossLspRestart", function()
    M.restart()
  end, { desc = "loss-lsp: restart the server" })
  if M.options.on_attach then
    M.options.on_attach(client, bufnr)
  end
end

local function on_progress(event)
  local data = event.data or {}
  local client = data.client_id and vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= M.name or not data.params then
    return
  end
  local token, value = data.params.token, data.params.value
  if type(value) ~= "table" then
    return
  end
  if value.kind == "begin" then
    progress_titles[token] = value.title
  end
  local title = progress_titles[token] or "working"
  if value.kind == "end" then
    progress_titles[token] = nil
    progress_line = nil
  else
    local pct = value.percentage and (" %d%%"):format(value.percentage) or ""
    local message = value.message and (": " .. value.message) or ""
    progress_line = ("Loss LSP: %s%s%s"):format(title, pct, message)
  end
  if M.options.progress then
    local shown = progress_line or ("Loss LSP: %s: done"):format(title)
    vim.api.nvim_echo({ { shown, "Comment" } }, false, {})
  end
end

-- What setup() changes in lsp/loss_lsp.lua's configuration.
local function overrides()
  local settings = vim.deepcopy(M.options.settings or {})
  local config = {
    cmd = M.server_cmd(),
    filetypes = M.options.filetypes,
    root_markers = M.options.root_markers,
    init_options = vim.tbl_extend("force", vim.deepcopy(settings), { trusted = M.options.trusted ~= false }),
    settings = { lossLsp = settings },
    on_attach = M.on_attach,
  }
  if M.options.capabilities then
    config.capabilities = M.options.capabilities
  end
  return config
end

-- This plugin's lsp/loss_lsp.lua (on 0.11+ vim.lsp.config reads it by itself).
local function base_config()
  local here = debug.getinfo(1, "S").source:gsub("^@", "")
  local file = vim.fn.fnamemodify(here, ":p:h:h:h") .. "/lsp/loss_lsp.lua"
  local ok, config = pcall(dofile, file)
  return ok and type(config) == "table" and config or {}
end

local function find_root(bufnr)
  if vim.fs.root then
    return vim.fs.root(bufnr, M.options.root_markers)
  end
  local name = vim.api.nvim_buf_get_name(bufnr) -- Neovim 0.9
  local found = vim.fs.find(M.options.root_markers, { upward = true, path = vim.fs.dirname(name) })[1]
  return found and vim.fs.dirname(found) or nil
end

--- Starts (or reuses) the client for one buffer with vim.lsp.start (Neovim 0.9/0.10 path).
---@param bufnr integer
function M._legacy_start(bufnr)
  if vim.bo[bufnr].buftype ~= "" or not vim.tbl_contains(M.options.filetypes, vim.bo[bufnr].filetype) then
    return
  end
  local extra = overrides()
  local config = vim.tbl_deep_extend("force", base_config(), extra)
  config.name, config.cmd = M.name, extra.cmd -- lists are replaced, never merged
  config.filetypes, config.root_markers = nil, nil
  -- 0.9 takes `capabilities` as the whole set, not as changes to the defaults.
  config.capabilities =
    vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(), config.capabilities or {})
  local name = vim.api.nvim_buf_get_name(bufnr)
  config.root_dir = find_root(bufnr) or (name ~= "" and vim.fs.dirname(name) or vim.fn.getcwd())
  vim.lsp.start(config, { bufnr = bufnr })
end

---@param opts? loss_lsp.Options
function M.setup(opts)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  local group = vim.api.nvim_create_augroup("loss_lsp", { clear = true })
  -- LspProgress exists from 0.10 on; on 0.9 progress is simply not echoed.
  pcall(vim.api.nvim_create_autocmd, "LspProgress", { group = group, callback = on_progress })

  local legacy = M.options.legacy
  if legacy == nil then
    legacy = not (vim.lsp.config and vim.lsp.enable)
  end
  M.options.legacy = legacy
  if not legacy then
    vim.lsp.config(M.name, overrides())
    vim.lsp.enable(M.name)
    return
  end
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.options.filetypes,
    callback = function(args)
      M._legacy_start(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      M._legacy_start(bufnr)
    end
  end
end

return M
