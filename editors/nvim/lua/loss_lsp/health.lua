-- :checkhealth loss_lsp
local M = {}

-- vim.health.ok & co. arrived in 0.10; 0.9 has report_ok & co.
local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local fail = health.error or health.report_error
local info = health.info or health.report_info

-- Runs `python -c code`; returns (exit code, stdout, stderr).
local function run_python(python, code, timeout_ms)
  if vim.system then
    local result = vim.system({ python, "-c", code }, { text = true }):wait(timeout_ms)
    return result.code, vim.trim(result.stdout or ""), vim.trim(result.stderr or "")
  end
  local out = vim.fn.system({ python, "-c", code })
  return vim.v.shell_error, vim.trim(out), ""
end

local function last_line(text)
  local lines = vim.split(text or "", "\n", { trimempty = true })
  return lines[#lines] or ""
end

function M.check()
  local plugin = require("loss_lsp")

  start("loss_lsp: Neovim")
  local v = vim.version()
  local version = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.9") == 0 then
    fail("Neovim " .. version .. " is too old: loss_lsp needs 0.9 or newer")
  elseif plugin.options.legacy then
    ok("Neovim " .. version .. ": the server is started with vim.lsp.start")
  else
    ok("Neovim " .. version .. ": the server is configured with vim.lsp.config / vim.lsp.enable")
  end

  start("loss_lsp: server")
  local cmd = plugin.server_cmd()
  local python = cmd[1]
  local executable = vim.fn.exepath(python)
  if executable == "" then
    fail(("interpreter %q not found"):format(python), {
      "Set setup({ python = '/path/to/python' }) or activate the virtualenv of your project",
    })
    return
  end
  ok(("interpreter: %s"):format(executable))
  local code, out, err = run_python(python, "import loss_lsp; print(loss_lsp.__version__)", 30000)
  if code ~= 0 then
    fail(("loss_lsp is not importable with %s: %s"):format(executable, last_line(err ~= "" and err or out)), {
      -- loss-lsp is not on PyPI yet: from a clone of the repository.
      ("Install it from a clone of the repository: %s -m pip install /path/to/loss-lsp"):format(executable),
    })
    return
  end
  ok(("loss_lsp %s is installed (server command: %s)"):format(out, table.concat(cmd, " ")))

  local clients = vim.lsp.get_clients and vim.lsp.get_clients({ name = plugin.name })
    or vim.lsp.get_active_clients({ name = plugin.name })
  if #clients == 0 then
    info("no loss_lsp client is running (open a Python file)")
  end
  for _, client in ipairs(clients) do
    local buffers = vim.tbl_count(client.attached_buffers or {})
    ok(("client %d running, root %s, %d buffer(s)"):format(client.id, client.root_dir or "(none)", buffers))
  end

  start("loss_lsp: gradient check")
  if plugin.options.trusted == false then
    warn("off: setup({ trusted = false })")
  end
  -- Importing TensorFlow takes a few seconds: that is the cost of this check.
  code, out, err = run_python(python, "import tensorflow as tf; print(tf.__version__)", 120000)
  if code == 0 then
    ok(("TensorFlow %s is importable: the gradient check can run"):format(last_line(out)))
  else
    warn(("TensorFlow is not importable with %s: the gradient check cannot run (%s)"):format(
      executable,
      last_line(err ~= "" and err or out)
    ), { ("Install it: %s -m pip install tensorflow"):format(executable) })
  end
end

return M
