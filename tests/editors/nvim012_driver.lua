-- Neovim 0.12: the editors/neovim/lsp/codeslm.lua config through vim.lsp.config/enable, and the
-- built-in inline completion (ghost text) showing and accepting a model suggestion. Results go
-- to $CODESLM_TEST_OUT as JSON.
local out = {}
local function finish()
  local f = io.open(os.getenv('CODESLM_TEST_OUT'), 'w')
  f:write(vim.json.encode(out))
  f:close()
  vim.cmd('qa!')
end

local ok, err = pcall(function()
  out.version = tostring(vim.version())
  -- Only the command differs from the shipped config (the test runs `python -m codeslm`).
  vim.lsp.config('codeslm', { cmd = vim.json.decode(os.getenv('CODESLM_TEST_CMD')) })
  vim.lsp.enable('codeslm')
  local attached = false
  vim.api.nvim_create_autocmd('LspAttach', { callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == 'codeslm' then
      attached = true
      vim.lsp.inline_completion.enable(true, { bufnr = ev.buf })
    end
  end })
  vim.cmd('filetype on')
  vim.cmd('edit ' .. os.getenv('CODESLM_TEST_FILE'))
  local bufnr = vim.api.nvim_get_current_buf()
  out.attached = vim.wait(60000, function() return attached end, 50)
  out.ready = vim.wait(180000, function()
    local s = vim.g.codeslm_status
    return type(s) == 'table' and (s.state == 'ready' or s.state == 'slow')
  end, 100)
  out.status = vim.g.codeslm_status

  -- The cursor after the indentation of line 2, as in insert mode; the inline completion
  -- module asks automatically on CursorMovedI (after its 200 ms debounce) and shows the item.
  vim.o.virtualedit = 'onemore'
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')
  vim.api.nvim_exec_autocmds('CursorMovedI', { buffer = bufnr })
  out.shown = vim.wait(180000, function()
    return #vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, {}) > 0
  end, 100)
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
  out.ghost_text = marks[1] and marks[1][4].virt_text and marks[1][4].virt_text[1][1] or ''
  out.accepted = vim.lsp.inline_completion.get()
  vim.wait(500)
  out.after = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end)
if not ok then
  out.error = tostring(err)
end
finish()
