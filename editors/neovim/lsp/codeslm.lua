-- Neovim 0.11+: the codeslm server for vim.lsp.config / vim.lsp.enable.
-- Put editors/neovim on 'runtimepath' (or copy this file to ~/.config/nvim/lsp/codeslm.lua),
-- then: vim.lsp.enable('codeslm'). See init-0.11.lua for inline completion on 0.12.

-- "Edit selection" asks the user for an instruction, then runs the server command.
local function edit_selection(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  vim.ui.input({ prompt = 'codeslm: how should the selection change? ' }, function(text)
    if not text or text == '' then
      return
    end
    local args = vim.deepcopy(command.arguments or {})
    args[1] = args[1] or {}
    args[1].instruction = text
    client:request('workspace/executeCommand',
      { command = command.command, arguments = args }, nil, ctx.bufnr)
  end)
end

return {
  cmd = { 'codeslm', 'lsp' },
  filetypes = { 'python', 'javascript', 'typescript', 'javascriptreact', 'typescriptreact',
    'go', 'rust', 'java', 'c', 'cpp' },
  root_markers = { '.git', 'pyproject.toml', 'package.json', 'go.mod', 'Cargo.toml' },
  -- Keys as in `codeslm config show`, e.g. { lsp = { debounce_ms = 150 } }.
  init_options = {},
  handlers = {
    -- {state = loading|ready|slow|error|disabled, message, model, backend, latencyMs}
    ['codeslm/status'] = function(_, status)
      vim.g.codeslm_status = status
      vim.cmd.redrawstatus()
    end,
  },
  commands = { ['codeslm.editSelection'] = edit_selection },
}
