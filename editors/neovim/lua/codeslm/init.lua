-- codeslm for Neovim: local code completion from `codeslm lsp`.
--
-- Works from Neovim 0.7 (Debian 12) to 0.12:
--   * 0.7-0.10: starts the server with vim.lsp.start_client and shows suggestions as ghost
--     text itself (extmarks), requested with textDocument/inlineCompletion.
--   * 0.11+: prefer editors/neovim/lsp/codeslm.lua with vim.lsp.enable (see the README);
--     setup() still works there and uses vim.lsp.inline_completion on 0.12.
-- Everywhere: the `codeslm/status` notification for the status line, refactors through
-- vim.lsp.buf.code_action(), and an instruction prompt for "Edit selection".

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
  debounce_ms = 120, -- client-side pause before an automatic request
  keys = { accept = '<C-l>', suggest = '<M-l>', dismiss = '<C-]>' },
}

M.status = { state = 'off', message = '' }

local state = {
  client_id = nil, -- per root: M._clients[root]
  item = nil, -- the suggestion shown: { bufnr, range, text, client_id }
  request = nil, -- { client_id, id } of the request in flight
  timer = nil,
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

local function client_config(root)
  return {
    name = 'codeslm',
    cmd = M.config.cmd,
    cmd_env = M.config.cmd_env,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = M.config.settings,
    settings = { codeslm = M.config.settings },
    handlers = { ['codeslm/status'] = on_status },
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

function M.has_suggestion()
  return state.item ~= nil
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
      vim.keymap.set('i', keys.suggest, function() M.suggest(true) end, o)
      vim.keymap.set('i', keys.dismiss, M.dismiss, o)
      if M.config.auto then
        api.nvim_create_autocmd('TextChangedI', { group = group, buffer = ev.buf,
          callback = function()
            M.dismiss()
            schedule_auto()
          end })
      end
      api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, { group = group, buffer = ev.buf,
        callback = M.dismiss })
    end,
  })
  if not has('nvim-0.7') then
    notify('needs Neovim 0.7 or newer', vim.log.levels.WARN)
  end
end

return M
