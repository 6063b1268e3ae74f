-- Neovim 0.11+ example (init.lua). Inline completion (ghost text) needs 0.12; on 0.11 the
-- suggestions come through the built-in completion menu.
vim.opt.runtimepath:append('/path/to/codeslm/editors/neovim') -- provides lsp/codeslm.lua
vim.lsp.enable('codeslm')

vim.api.nvim_create_autocmd('LspAttach', {
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if not client or client.name ~= 'codeslm' then
      return
    end
    if vim.lsp.inline_completion then -- 0.12
      vim.lsp.inline_completion.enable(true, { bufnr = ev.buf })
      vim.keymap.set('i', '<C-l>', function()
        if not vim.lsp.inline_completion.get() then
          return '<C-l>'
        end
      end, { expr = true, buffer = ev.buf, desc = 'codeslm: accept suggestion' })
      vim.keymap.set('i', '<M-]>', function() vim.lsp.inline_completion.select({ count = 1 }) end,
        { buffer = ev.buf, desc = 'codeslm: next suggestion' })
    else -- 0.11
      vim.lsp.completion.enable(true, client.id, ev.buf, { autotrigger = true })
    end
    -- Refactors: the usual code action key (gra on 0.11+).
  end,
})

-- Status line: "codeslm: ready 420ms".
function _G.codeslm_status()
  local s = vim.g.codeslm_status
  if type(s) ~= 'table' then
    return ''
  end
  return ('codeslm: %s%s'):format(s.state, s.latencyMs and (' %dms'):format(s.latencyMs) or '')
end
vim.o.statusline = '%f %m%=%{v:lua.codeslm_status()} %l:%c'
