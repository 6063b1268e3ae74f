-- Headless Neovim runs a user-defined action (from the project's .codeslm.toml) through its own
-- code action menu, like a user would. Results go to $CODESLM_TEST_OUT as JSON.
local out = {}
local function finish()
  local f = io.open(os.getenv('CODESLM_TEST_OUT'), 'w')
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd('qa!')
end

local ok, err = pcall(function()
  local codeslm = require('codeslm')
  codeslm.setup({ cmd = vim.fn.json_decode(os.getenv('CODESLM_TEST_CMD')), auto = false,
    legacy = true })
  vim.cmd('filetype on')
  vim.cmd('edit ' .. os.getenv('CODESLM_TEST_FILE'))
  local bufnr = vim.api.nvim_get_current_buf()
  out.ready = vim.wait(60000, function() return codeslm.status.state == 'ready'
    or codeslm.status.state == 'error' end, 50)
  out.status = codeslm.status
  -- The code action menu at the function's body: pick the configured action by its title.
  vim.ui.select = function(items, _, on_choice)
    out.titles = vim.tbl_map(function(i) return i[2].title end, items)
    for _, item in ipairs(items) do
      if (item[2].title or ''):find('Shout', 1, true) then
        out.picked = item[2].title
        return on_choice(item)
      end
    end
    on_choice(nil)
  end
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  vim.lsp.buf.code_action()
  out.answered = vim.wait(60000, function() return codeslm.last_command_result ~= nil end, 50)
  out.command_result = codeslm.last_command_result
  vim.wait(200)
  out.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end)
if not ok then
  out.error = tostring(err)
end
finish()
