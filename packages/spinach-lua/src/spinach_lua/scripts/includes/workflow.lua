-- Workflows: chains and groups of jobs, whose steps start when the steps before them end.
-- Needs the prelude and the record, ready and result includes; q.jobs, q.outbox, q.workflows
-- (and the ready keys, q.wake, q.done, q.done_index, q.results where jobs are released or
-- stopped).
--
-- Every job of a workflow is created when the workflow is sent, in its own queue; a job that
-- waits for others is held (record field `h`): in no list, never fetched. A job's record names,
-- in `wo`, what its end moves on ("exits", joined by \5), each one of:
--   "N\4<queue>\4<job>"            the next step: started with this one's result when it
--                                  succeeded, stopped (finished cancelled) otherwise
--   "C\4<queue>\4<job>"            a group's on_complete callback: started whatever the outcome
--   "G\4<queue>\4<group>\4<index>" membership of a group: counted once it ended
-- The end of a job (in the same script that records its outcome, fenced by its lease) pushes
-- one signal per exit on its queue's `outbox` list: "<exit>\6<outcome letter s|f|c>\6<data>"
-- (data: the result's JSON after 's', the reason otherwise). A worker's relay then applies each
-- signal in the target's queue (workflow_signal) and only then removes it from the outbox: a
-- relay that dies in between leaves the signal for the next, and applying it twice changes
-- nothing (a held job is released or stopped once; a group counts a member once). So every
-- step starts, every group completes and every callback runs exactly once, whichever worker
-- dies when, and across queues (and cluster slots), which no single script could span.
--
-- A group lives in the queue of its first job, as the hash "<workflows>:g:<group>": `total`,
-- `n` members ended, `s` `f` `c` counts, `m<i>` how member i ended, `v<i>` its result's JSON,
-- and `exits`, the group's own exits. When the last member is counted, the group's exits are
-- signalled from there: with the list of member results when all succeeded ('s'), else 'f'
-- (an on_complete callback gets the counts).

local function group_key(q, group)
  return q.workflows .. ':g:' .. group
end

-- The key of a workflow's member list, kept by the queue of its first job.
local function flow_key(q, workflow)
  return q.workflows .. ':w:' .. workflow
end

-- Push the signals of the exits `exits` of an ended job (or group) on q's outbox; return how
-- many.
local function signal_exits(q, exits, letter, data)
  if not exits or exits == '' then
    return 0
  end
  local signals = {}
  for exit in string.gmatch(exits, '[^\5]+') do
    signals[#signals + 1] = exit .. '\6' .. letter .. '\6' .. (data or '')
  end
  call_sliced('RPUSH', q.outbox, signals)
  return #signals
end

-- The envelope of a released job with `prior` (JSON) as the result of the step before it: the
-- worker passes it to the task as its first argument. The envelope is a JSON object that ends
-- with '}', so the field is added before it.
local function with_prior(envelope, prior)
  return string.sub(envelope, 1, -2) .. ',"prior":' .. prior .. '}'
end

-- Start held job `id` of q with `prior`; false when it is not held (released or stopped
-- before: a signal applied twice).
local function release_held(q, id, prior)
  local record = unpack_record(redis.call('HGET', q.jobs, id))
  if not record or not record.h then
    return false
  end
  record.h, record.c = nil, now_text()
  if prior and prior ~= '' then
    record.e = with_prior(record.e, prior)
  end
  write_records(q, {id}, {record})
  push_ready(q, {id}, {tonumber(record.p) or 0}, false)
  ensure_wake_token(q.wake)
  return true
end

-- Stop held job `id` of q, for `reason`: it ends cancelled, and its own exits are signalled
-- (the rest of its chain stops too, its group counts it). Returns how many signals it pushed.
local function stop_held(q, now, id, reason, retention)
  local raw = redis.call('HGET', q.jobs, id)
  local record = unpack_record(raw)
  if not record or not record.h then
    return 0
  end
  delete_records(q, {id})
  record.h, record.err = nil, 'spinach.WorkflowStopped: ' .. reason
  if retention.keep_done > 0 then
    add_done(q, now, {id, make_done_record('c', state_of(pack_record(record)))}, retention.max_done)
  end
  if record.rt then
    store_result(q, now, id, 'c', tonumber(record.rt), retention.max_results)
  end
  return signal_exits(q, record.wo, 'c', reason)
end

-- Count member `index` of `group` as ended (`letter`, `data`); when it is the last one, signal
-- the group's exits. Returns how many signals it pushed.
local function count_member(q, group, index, letter, data, group_ttl_ms)
  local key = group_key(q, group)
  if redis.call('EXISTS', key) == 0 or redis.call('HSETNX', key, 'm' .. index, letter) == 0 then
    return 0  -- counted already (a signal applied twice), or expired
  end
  redis.call('HINCRBY', key, letter, 1)
  if letter == 's' then
    redis.call('HSET', key, 'v' .. index, data)
  end
  local ended = redis.call('HINCRBY', key, 'n', 1)
  local total = tonumber(redis.call('HGET', key, 'total'))
  if ended < total then
    return 0
  end
  local counts = redis.call('HMGET', key, 's', 'f', 'c', 'exits')
  local succeeded, failed, cancelled = tonumber(counts[1]) or 0, tonumber(counts[2]) or 0, tonumber(counts[3]) or 0
  redis.call('PEXPIRE', key, group_ttl_ms)
  local summary = '{"succeeded":' .. succeeded .. ',"failed":' .. failed .. ',"cancelled":' .. cancelled .. '}'
  local exits = counts[4] or ''
  local pushed = 0
  -- The callbacks on completion get the counts whatever the outcome; the rest moves on with
  -- the list of results when every member succeeded, and stops otherwise.
  local complete, onward = {}, {}
  for exit in string.gmatch(exits, '[^\5]+') do
    if string.byte(exit, 1) == 67 then  -- 'C'
      complete[#complete + 1] = exit
    else
      onward[#onward + 1] = exit
    end
  end
  pushed = pushed + signal_exits(q, table.concat(complete, '\5'), 's', summary)
  if succeeded == total then
    local fields = {}
    for n = 0, total - 1 do
      fields[#fields + 1] = 'v' .. n
    end
    local values = hmget_sliced(key, fields)
    for n = 1, total do
      values[n] = values[n] or 'null'
    end
    pushed = pushed + signal_exits(q, table.concat(onward, '\5'), 's', '[' .. table.concat(values, ',') .. ']')
  else
    local reason = 'group ' .. group .. ': ' .. (failed + cancelled) .. ' of ' .. total .. ' members did not succeed'
    pushed = pushed + signal_exits(q, table.concat(onward, '\5'), 'f', reason)
  end
  return pushed
end
