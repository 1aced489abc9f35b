-- Configuration of the loss-lsp language server for Neovim 0.11+:
--   vim.lsp.enable("loss_lsp")
-- works with this file alone on 'runtimepath'. The loss_lsp plugin (require("loss_lsp").setup())
-- adds the buffer-local commands, progress messages and :checkhealth on top.

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

---@type vim.lsp.Config
return {
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
