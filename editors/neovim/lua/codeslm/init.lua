-- codeslm for Neovim: local code completion from `codeslm lsp`.
--
-- Works from Neovim 0.7 (Debian 12) to 0.12:
--   * 0.7-0.10: starts the server with vim.lsp.start_client and shows suggestions as ghost
--     text itself (extmarks), requested with textDocument/inlineCompletion.
--   * 0.11+: prefer editors/neovim/lsp/codeslm.lua with vim.lsp.enable (see the README);
--     setup() still works there and uses vim.lsp.inline_completion on 0.12.
-- Everywhere: the `codeslm/status` notification for the status line, refactors through
-- vim.lsp.buf.code_action() with their progress shown as they run (and a message when one
-- takes longer than `action_timeout_ms`), and an instruction prompt for "Edit selection".
-- Ghost text (0.7-0.11 plugin path): accept all of it, its next word, or its next line.

local M = {}

local api = vim.api
local ns = api.nvim_create_namespace('codeslm')

M.config = {
  cmd = { 'codeslm', 'lsp' },
  cmd_env = nil,
  filetypes = { 'python', 'javascript', 'typescript', 'typescriptreact', 'javascriptreact',
    'go', 'rust', 'java', 'c', 'cpp', 'lua', 'sh' },
  root_markers = { '.git', 'pyproject.toml', 'package.json', 'go.mod', 'Cargo.toml' },
  -- Sent as initializationOptions and on workspace/didChangeConfiguration; keys as in
  -- `codeslm config show` (e.g. { lsp = { debounce_ms = 150 }, model = 'qwen2.5-coder-1.5b' }).
  settings = {},
  auto = true, -- ask for a suggestion while typing (0.7-0.10 ghost text)
  warm = true, -- when the cursor rests, have the server evaluate the prompt there ahead
  debounce_ms = 120, -- client-side pause before an automatic request
  keys = { accept = '<C-l>', accept_word = '<C-b>', accept_line = '<S-Tab>', suggest = '<M-l>',
    dismiss = '<C-]>' },
  -- A refactor still running after this long gets a message (it keeps running; its edit is
  -- applied when it ends, unless the buffer changed meanwhile).
  action_timeout_ms = 120000,
}

M.status = { state = 'off', message = '' }

local state = {
  client_id = nil, -- per root: M._clients[root]
  item = nil, -- the suggestion shown: { bufnr, range, text, client_id }
  request = nil, -- { client_id, id } of the request in flight
  timer = nil,
  own_tick = nil, -- changedtick after a partial accept (not the user typing)
  actions = {}, -- running refactors by progress token: { title, timer }
}
M._clients = {}

local function has(feature)
  return vim.fn.has(feature) == 1
end

local function notify(msg, level)
  vim.notify('codeslm: ' .. msg, level or vim.log.levels.INFO)
end

local function root_for(bufnr)
  local path = api.nvim_buf_get_name(bufnr)
  local dir = path ~= '' and vim.fn.fnamemodify(path, ':p:h') or vim.fn.getcwd()
  for _, marker in ipairs(M.config.root_markers) do
    local found = vim.fn.finddir(marker, dir .. ';')
    if found ~= '' then
      return vim.fn.fnamemodify(found, ':p:h:h') -- a directory: ':p' ends with '/'
    end
    found = vim.fn.findfile(marker, dir .. ';')
    if found ~= '' then
      return vim.fn.fnamemodify(found, ':p:h')
    end
  end
  return dir
end

-- Status: the server sends {state, message, model, backend, latencyMs}.
local function on_status(_, result)
  if type(result) == 'table' then
    M.status = result
    vim.g.codeslm_status = result.state
    pcall(vim.cmd, 'redrawstatus')
  end
end

--- A short status for a statusline: "codeslm: ready 420ms".
function M.statusline()
  local s = M.status
  if s.state == 'off' then
    return ''
  end
  if s.progress then
    return s.progress
  end
  local latency = s.latencyMs and string.format(' %dms', s.latencyMs) or ''
  return 'codeslm: ' .. s.state .. latency
end

-- "Edit selection" needs an instruction: ask for it, then run the server command.
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
    client.request('workspace/executeCommand',
      { command = command.command, arguments = args }, nil, ctx.bufnr)
  end)
end

M.commands = { ['codeslm.editSelection'] = edit_selection }

-- Refactors -------------------------------------------------------------------------------
-- Neovim before 0.10 keeps $/progress to itself: show the server's refactor progress in the
-- message area and the status line, and say so when one runs for long.

local function echo(msg)
  pcall(api.nvim_echo, { { msg } }, false, {})
end

local function on_progress(err, result, ctx, config)
  local default = vim.lsp.handlers['$/progress']
  if default then
    pcall(default, err, result, ctx, config)
  end
  local value = type(result) == 'table' and result.value or nil
  if type(value) ~= 'table' then
    return
  end
  local token = tostring(result.token)
  local running = state.actions[token]
  M.progress_seen = (M.progress_seen or 0) + 1
  if value.kind == 'begin' then
    running = { title = value.title or 'codeslm', started = vim.loop.now() }
    state.actions[token] = running
    running.timer = vim.defer_fn(function()
      if state.actions[token] == running then
        notify(string.format('%s is still running after %d s (the model or the CPU is busy); '
          .. 'its edit is applied when it ends, unless you change the file meanwhile',
          (running.title:gsub('^codeslm: ', '')), M.config.action_timeout_ms / 1000),
          vim.log.levels.WARN)
      end
    end, M.config.action_timeout_ms)
  end
  if not running then
    return
  end
  if value.kind == 'end' then
    state.actions[token] = nil
    M.status.progress = nil
    echo(running.title .. ': done')
  else
    local detail = value.message and (': ' .. value.message) or ''
    M.status.progress = running.title .. detail
    echo(M.status.progress)
  end
  pcall(vim.cmd, 'redrawstatus')
end

-- The answer to a refactor command: say what happened when nothing was applied.
local function on_execute_command(err, result)
  if err then
    notify(err.message or tostring(err), vim.log.levels.ERROR)
  elseif type(result) == 'table' and result.applied == false and result.message then
    notify(result.message, vim.log.levels.WARN)
  end
  M.last_command_result = err and { error = err.message or tostring(err) } or result
end

local function client_config(root)
  return {
    name = 'codeslm',
    cmd = M.config.cmd,
    cmd_env = M.config.cmd_env,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = M.config.settings,
    settings = { codeslm = M.config.settings },
    handlers = {
      ['codeslm/status'] = on_status,
      ['$/progress'] = on_progress,
      ['workspace/executeCommand'] = on_execute_command,
    },
    commands = M.commands,
    on_exit = function()
      M._clients[root] = nil
      M.status = { state = 'off', message = 'stopped' }
    end,
  }
end

--- Attach codeslm to a buffer (starting the server for its root once).
function M.attach(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local root = root_for(bufnr)
  local id = M._clients[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(client_config(root))
    if not id then
      notify('could not start ' .. table.concat(M.config.cmd, ' '), vim.log.levels.ERROR)
      return nil
    end
    M._clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

local function client_for(bufnr)
  if vim.lsp.get_clients then -- 0.10+ (buf_get_clients is deprecated there)
    return vim.lsp.get_clients({ bufnr = bufnr, name = 'codeslm' })[1]
  end
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == 'codeslm' then
      return client
    end
  end
  return nil
end

-- Ghost text (0.7-0.10) ----------------------------------------------------------------

function M.dismiss()
  if state.item then
    pcall(api.nvim_buf_clear_namespace, state.item.bufnr, ns, 0, -1)
  end
  state.item = nil
end

local function show(bufnr, client, item)
  M.dismiss()
  local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText
  if type(text) ~= 'string' or text == '' then
    return
  end
  local range = item.range
  if not range then
    local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
    range = { start = params.position, ['end'] = params.position }
  end
  local row = range['end'].line
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local col = vim.lsp.util._get_line_byte_from_position(bufnr, range['end'],
    client.offset_encoding)
  -- The item replaces range (the line up to the cursor): show only what it adds.
  local start_col = vim.lsp.util._get_line_byte_from_position(bufnr, range.start,
    client.offset_encoding)
  local typed = line:sub(start_col + 1, col)
  local lines = vim.split(text, '\n', true)
  local first = lines[1]
  if first:sub(1, #typed) == typed then
    first = first:sub(#typed + 1)
  end
  local virt_lines = {}
  for i = 2, #lines do
    table.insert(virt_lines, { { lines[i], 'Comment' } })
  end
  api.nvim_buf_set_extmark(bufnr, ns, row, math.min(col, #line), {
    virt_text = { { first, 'Comment' } },
    virt_text_pos = 'overlay',
    virt_lines = #virt_lines > 0 and virt_lines or nil,
  })
  state.item = { bufnr = bufnr, range = range, text = text, client_id = client.id }
end

--- Tell the server where the cursor rests (codeslm/warm), so it evaluates the prompt for this
--- place before a suggestion is asked for; once per place and buffer version.
function M.warm()
  local bufnr = api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local key = table.concat({ bufnr, api.nvim_buf_get_changedtick(bufnr),
    params.position.line, params.position.character }, ':')
  if state.warmed == key then
    return
  end
  state.warmed = key
  client.notify('codeslm/warm', params)
end

--- Ask for a suggestion at the cursor (invoked=true: an explicit request, several candidates
--- on the server side; the first is shown).
function M.suggest(invoked)
  local bufnr = api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    return
  end
  if state.request then
    local previous = vim.lsp.get_client_by_id(state.request.client_id)
    if previous then
      previous.cancel_request(state.request.id)
    end
    state.request = nil
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = invoked and 1 or 2 }
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local ok, id = client.request('textDocument/inlineCompletion', params, function(err, result)
    state.request = nil
    if err or not result then
      return
    end
    -- Drop answers for a buffer that changed since (the user kept typing).
    if api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return
    end
    local items = result.items or result
    if items and items[1] then
      show(bufnr, client, items[1])
    end
  end, bufnr)
  if ok then
    state.request = { client_id = client.id, id = id }
  end
end

--- Insert the shown suggestion; returns false when there is none (usable in <expr> maps).
function M.accept()
  local item = state.item
  if not item then
    return false
  end
  M.dismiss()
  local client = vim.lsp.get_client_by_id(item.client_id)
  local encoding = client and client.offset_encoding or 'utf-16'
  vim.lsp.util.apply_text_edits({ { range = item.range, newText = item.text } }, item.bufnr,
    encoding)
  local lines = vim.split(item.text, '\n', true)
  local row = item.range.start.line + #lines
  local col = #lines[#lines]
  if #lines == 1 then
    col = col + vim.lsp.util._get_line_byte_from_position(item.bufnr, item.range.start, encoding)
  end
  pcall(api.nvim_win_set_cursor, 0, { row, col })
  return true
end

-- The part of `text` a partial accept takes: its next word (with the spaces before it) or
-- the rest of its current line (a suggestion starting at a line end takes the next line).
function M._take(text, unit)
  if unit == 'line' then
    local rest = text
    local lead = ''
    if rest:sub(1, 1) == '\n' then
      lead, rest = '\n', rest:sub(2)
    end
    local line = rest:match('^[^\n]*')
    return lead .. line
  end
  return text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text:match('^%s+') or text
end

-- What the shown suggestion still adds after the cursor.
local function remaining(item)
  local client = vim.lsp.get_client_by_id(item.client_id)
  local encoding = client and client.offset_encoding or 'utf-16'
  local row = item.range['end'].line
  local line = api.nvim_buf_get_lines(item.bufnr, row, row + 1, false)[1] or ''
  local start_col = vim.lsp.util._get_line_byte_from_position(item.bufnr, item.range.start,
    encoding)
  local end_col = vim.lsp.util._get_line_byte_from_position(item.bufnr, item.range['end'],
    encoding)
  local typed = line:sub(start_col + 1, end_col)
  if item.text:sub(1, #typed) ~= typed then
    return nil
  end
  return item.text:sub(#typed + 1), row, end_col, client
end

--- Insert the next word ('word') or line ('line') of the shown suggestion and keep showing
--- the rest; returns false when there is none.
function M.accept_part(unit)
  local item = state.item
  if not item then
    return false
  end
  local rest, row, col, client = remaining(item)
  if not rest or rest == '' then
    return M.accept()
  end
  local part = M._take(rest, unit)
  M.dismiss()
  local lines = vim.split(part, '\n', true)
  api.nvim_buf_set_text(item.bufnr, row, col, row, col, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and col or 0) + #lines[#lines]
  pcall(api.nvim_win_set_cursor, 0, { new_row + 1, new_col })
  state.own_tick = api.nvim_buf_get_changedtick(item.bufnr)
  local left = rest:sub(#part + 1)
  if left ~= '' and client then
    local encoding = client.offset_encoding or 'utf-16'
    local line = api.nvim_buf_get_lines(item.bufnr, new_row, new_row + 1, false)[1] or ''
    local utf32, utf16 = vim.str_utfindex(line, new_col)
    local character = ({ ['utf-8'] = new_col, ['utf-32'] = utf32 })[encoding] or utf16
    local pos = { line = new_row, character = character }
    show(item.bufnr, client, { insertText = left, range = { start = pos, ['end'] = pos } })
  end
  return true
end

function M.accept_word()
  return M.accept_part('word')
end

function M.accept_line()
  return M.accept_part('line')
end

function M.has_suggestion()
  return state.item ~= nil
end

--- The suggestion shown ({ range, text }), or nil.
function M.suggestion()
  return state.item and { range = state.item.range, text = state.item.text } or nil
end

local function schedule_auto()
  if state.timer then
    state.timer:stop()
  end
  state.timer = vim.defer_fn(function()
    state.timer = nil
    if api.nvim_get_mode().mode:sub(1, 1) == 'i' then
      M.suggest(false)
    end
  end, M.config.debounce_ms)
end

-- Setup ---------------------------------------------------------------------------------

local function setup_modern()
  -- 0.11+: the built-in config/enable mechanism, and inline completion on 0.12.
  vim.lsp.config('codeslm', {
    cmd = M.config.cmd,
    cmd_env = M.config.cmd_env,
    filetypes = M.config.filetypes,
    root_markers = M.config.root_markers,
    init_options = M.config.settings,
    settings = { codeslm = M.config.settings },
    handlers = { ['codeslm/status'] = on_status },
    commands = M.commands,
  })
  vim.lsp.enable('codeslm')
  if vim.lsp.inline_completion then
    api.nvim_create_autocmd('LspAttach', {
      callback = function(ev)
        local client = vim.lsp.get_client_by_id(ev.data.client_id)
        if client and client.name == 'codeslm' then
          vim.lsp.inline_completion.enable(true, { bufnr = ev.buf })
          vim.keymap.set('i', M.config.keys.accept, function()
            if not vim.lsp.inline_completion.get() then
              return M.config.keys.accept
            end
          end, { buffer = ev.buf, expr = true, desc = 'codeslm: accept suggestion' })
        end
      end,
    })
  end
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', M.config, opts or {})
  if vim.lsp.config and vim.lsp.enable and not M.config.legacy then
    setup_modern()
    return
  end
  local group = api.nvim_create_augroup('codeslm', { clear = true })
  api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.attach(ev.buf)
      local keys = M.config.keys
      local o = { buffer = ev.buf, silent = true }
      vim.keymap.set('i', keys.accept, function()
        if not M.accept() then
          api.nvim_feedkeys(api.nvim_replace_termcodes(keys.accept, true, false, true), 'n', false)
        end
      end, o)
      for name, fn in pairs({ accept_word = M.accept_word, accept_line = M.accept_line }) do
        if keys[name] then
          vim.keymap.set('i', keys[name], function()
            if not fn() then
              api.nvim_feedkeys(api.nvim_replace_termcodes(keys[name], true, false, true), 'n',
                false)
            end
          end, o)
        end
      end
      vim.keymap.set('i', keys.suggest, function() M.suggest(true) end, o)
      vim.keymap.set('i', keys.dismiss, M.dismiss, o)
      if M.config.auto then
        api.nvim_create_autocmd('TextChangedI', { group = group, buffer = ev.buf,
          callback = function()
            if state.own_tick == api.nvim_buf_get_changedtick(ev.buf) then
              return -- our own partial accept: the rest of the suggestion stays shown
            end
            M.dismiss()
            schedule_auto()
          end })
      end
      api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, { group = group, buffer = ev.buf,
        callback = M.dismiss })
      if M.config.warm ~= false then
        -- The cursor rested ('updatetime'): have the prompt for this place evaluated ahead.
        api.nvim_create_autocmd({ 'CursorHold', 'CursorHoldI' }, { group = group, buffer = ev.buf,
          callback = M.warm })
      end
    end,
  })
  if not has('nvim-0.7') then
    notify('needs Neovim 0.7 or newer', vim.log.levels.WARN)
  end
end

return M
