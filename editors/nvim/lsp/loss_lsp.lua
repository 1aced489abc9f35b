-- Configuration of the loss-lsp language server for Neovim 0.11+:
--   vim.lsp.enable("loss_lsp")
-- works with this file alone on 'runtimepath'. The loss_lsp plugin (require("loss_lsp").setup())
-- builds on it and adds the buffer-local commands, progress messages and :checkhealth.

local function python()
  local venv = vim.env.VIRTUAL_ENV
  if venv and venv ~= "" then
    local candidate = venv .. (vim.fn.has("win32") == 1 and "/Scripts/python.exe" or "/bin/python")
    if vim.fn.executable(candidate) == 1 then
      return candidate
    end
  end
  return vim.fn.executable("python3") == 1 and "python3" or "python"
end

-- Neovim 0.10/0.11 pull diagnostics but do not handle workspace/diagnostic/refresh, so the
-- server could not tell them that new diagnostics are ready without an edit (the gradient
-- check's verdicts, changed settings, a changed module elsewhere). Pull again when asked.
local builtin_refresh = vim.lsp.handlers["workspace/diagnostic/refresh"] ~= nil
local pull = vim.lsp.diagnostic and vim.lsp.diagnostic.on_diagnostic

local function pull_again(_, _, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if client and pull then
    for bufnr in pairs(client.attached_buffers or {}) do
      local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }
      if vim.fn.has("nvim-0.11") == 1 then
        client:request("textDocument/diagnostic", params, pull, bufnr)
      else
        client.request("textDocument/diagnostic", params, pull, bufnr)
      end
    end
  end
  return vim.NIL
end

local config = {
  cmd = { python(), "-m", "loss_lsp", "serve" },
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.py", "setup.cfg", ".git" },
  -- Neovim has no workspace trust: the gradient check runs only when you ask for it.
  init_options = { trusted = true },
  -- Answers the server's workspace/configuration request for the section "lossLsp".
  settings = { lossLsp = {} },
  on_attach = function(client, bufnr)
    local ok, plugin = pcall(require, "loss_lsp")
    if ok then
      plugin.on_attach(client, bufnr)
    end
  end,
}

if pull and not builtin_refresh then
  config.capabilities = { workspace = { diagnostics = { refreshSupport = true } } }
  config.handlers = { ["workspace/diagnostic/refresh"] = pull_again }
end

---@type vim.lsp.Config
return config
