---@brief
---
--- loss-lsp: finds broken custom loss functions in Keras / TensorFlow code (cut gradients, log(0),
--- silent (B, B) broadcasts, ...), offers a fix for each, and confirms findings with a TensorFlow
--- gradient check (`workspace/executeCommand` `loss-lsp.checkGradients`).
---
--- Install the server with mason (`:MasonInstall loss-lsp`) or `pipx install loss-lsp`.
---
--- The gradient check runs the project's loss code in TensorFlow: it needs a Python with TensorFlow,
--- which is usually not the one the server was installed into. Point it at the project's:
--- ```lua
--- vim.lsp.config('loss_lsp', {
---   settings = { lossLsp = { gradientCheck = { interpreter = '/path/to/project/.venv/bin/python' } } },
--- })
--- ```
--- Neovim has no workspace trust: the check runs only when asked for; `init_options = { trusted = false }`
--- turns it off for a project you do not trust.

---@type vim.lsp.Config
return {
  cmd = { 'loss-lsp', 'serve' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', '.git' },
  init_options = { trusted = true },
  settings = { lossLsp = {} },
}
