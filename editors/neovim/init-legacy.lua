-- Neovim 0.7-0.10 example (init.lua): the codeslm plugin starts the server with
-- vim.lsp.start_client and shows suggestions as ghost text itself.
vim.opt.runtimepath:append('/path/to/codeslm/editors/neovim')
require('codeslm').setup({
  -- cmd = { '/path/to/venv/bin/codeslm', 'lsp' },
  settings = { lsp = { debounce_ms = 150 } }, -- keys as in `codeslm config show`
  auto = true, -- suggest while typing; false: only on keys.suggest
  keys = { accept = '<C-l>', suggest = '<M-l>', dismiss = '<C-]>' },
})
vim.o.statusline = "%f %m%=%{v:lua.require'codeslm'.statusline()} %l:%c"
-- Refactors: :lua vim.lsp.buf.code_action()  (add docstring, tests, explain, fix, edit)
