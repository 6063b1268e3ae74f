-- Drives headless Neovim through the codeslm plugin like a user would: open a file, ask for a
-- suggestion, accept it, run a refactor code action. Results go to $CODESLM_TEST_OUT as JSON.
local out = {}
local function finish()
  local f = io.open(os.getenv('CODESLM_TEST_OUT'), 'w')
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd('qa!')
end

local ok, err = pcall(function()
  local v = vim.version()
  out.version = string.format('%d.%d.%d', v.major, v.minor, v.patch)
  local codeslm = require('codeslm')
  codeslm.setup({
    cmd = vim.fn.json_decode(os.getenv('CODESLM_TEST_CMD')),
    auto = false,
    legacy = true,
    settings = { gen = { max_tokens = 160 } },
  })
  vim.cmd('filetype on')
  vim.cmd('edit ' .. os.getenv('CODESLM_TEST_FILE'))
  local bufnr = vim.api.nvim_get_current_buf()
  out.filetype = vim.bo.filetype

  -- The server reports "ready" once the model is loaded.
  out.ready = vim.wait(180000, function() return codeslm.status.state == 'ready'
    or codeslm.status.state == 'slow' or codeslm.status.state == 'error' end, 100)
  out.status = codeslm.status
  out.statusline = codeslm.statusline()

  -- Inline suggestion at the end of line 2 (after the indentation), then accept it. A script
  -- cannot enter insert mode and keep running, so allow the cursor past the end of the line
  -- as insert mode does.
  vim.o.virtualedit = 'onemore'
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  out.cursor_before = vim.api.nvim_win_get_cursor(0)
  codeslm.suggest(true)
  out.suggested = vim.wait(180000, codeslm.has_suggestion, 100)
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, vim.api.nvim_create_namespace('codeslm'),
    0, -1, { details = true })
  out.ghost_marks = #marks
  -- What accepting it whole gives, worked out on a scratch copy of the buffer.
  local shown = codeslm.suggestion()
  out.suggestion = shown.text
  local scratch = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(scratch, 0, -1, false, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
  vim.lsp.util.apply_text_edits({ { range = shown.range, newText = shown.text } }, scratch, 'utf-16')
  out.expected_after_completion = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
  -- Accept its first word, then the rest of that line, then whatever is left.
  out.accepted_word = codeslm.accept_word()
  out.after_word = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  out.shown_after_word = codeslm.has_suggestion()
  out.accepted_line = codeslm.accept_line()
  out.after_line = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  out.accepted = not codeslm.has_suggestion() or codeslm.accept()
  out.after_completion = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  out.cursor = vim.api.nvim_win_get_cursor(0)

  -- A refactor through the editor's own code action UI (vim.ui.select picks the docstring).
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      local action = item[2]
      local title = action.title or ''
      if title:find('docstring', 1, true) then
        out.action_title = title
        return on_choice(item)
      end
    end
    out.action_titles = vim.tbl_map(function(i) return i[2].title end, items)
    on_choice(nil)
  end
  vim.api.nvim_win_set_cursor(0, { 1, 4 })
  vim.lsp.buf.code_action()
  -- The command's answer comes after the edit was applied (or says why it was not); on a busy
  -- machine that can take minutes, with progress shown meanwhile.
  out.answered = vim.wait(420000, function() return codeslm.last_command_result ~= nil end, 100)
  out.command_result = codeslm.last_command_result
  out.refactored = vim.wait(5000, function()
    return vim.api.nvim_buf_get_changedtick(bufnr) ~= tick
  end, 100)
  out.progress_seen = codeslm.progress_seen or 0
  vim.wait(200)
  out.after_refactor = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end)
if not ok then
  out.error = tostring(err)
end
finish()
