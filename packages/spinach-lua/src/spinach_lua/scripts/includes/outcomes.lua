-- Apply the outcomes of jobs a worker ran. Needs the prelude and the record, lease, limits,
-- history, unique, result and workflow includes; q.jobs, q.running, q.delayed, q.wake,
-- q.limited_running, q.results, q.outbox, the history keys and the unique keys. A job that
-- ends lets go of its unique key here, leaves its result if it stores one, and signals what
-- its end moves on if it is a workflow step.
--
-- The outcomes are `count` values of ARGV from index `first`, six per job:
--   op, id, lease, when, error, traceback
-- op 's': succeeded; 'S': succeeded with a result, its JSON in the error slot, to keep for
-- `when` ms (0: only to pass on, for a workflow step); 'f': failed for good; 'F': failed for good with an envelope that cannot
-- be decoded (kept to be read, never run again); 'r': retry in `when` ms; 'R': retry at the
-- absolute time `when` (ms); 'c': stopped because its cancel was asked for (see the cancel
-- script). error ("Type: message") and traceback describe a failed run.
--
-- A job whose cancel was asked for while it ran (`cn`) ends as cancelled whatever the run
-- brought but a success: never retried, never failed, its result 'c', its workflow told so. A
-- run that succeeded before the stop reached it keeps its success.
--
-- Fencing: an outcome applies only while the job's lease is still the one the caller was given.
-- A worker whose lease expired and was taken over (a zombie back from a pause or a partition),
-- or a batch re-sent after a lost reply, changes nothing. Returns (applied, rejected ids,
-- workflow signals pushed).
local function apply_outcomes(q, now, first, count, retention)
  if count == 0 then
    return 0, {}, 0
  end
  local ids = {}
  for i = first, first + count - 1, 6 do
    ids[#ids + 1] = ARGV[i + 1]
  end
  local raws = read_raw(q, ids)

  local rejected, applied, applied_raws = {}, {}, {}
  local done, done_fields, failed, failed_records, changed, changed_records = {}, {}, {}, {}, {}, {}
  local delayed = {}
  local results = {}  -- {id, value, ttl ms} of the results to keep, stored after the deletions
  local signals = {}  -- {exits, letter, data} of workflow steps that ended
  local ended, ended_records = {}, {}  -- jobs that ended and may hold a unique key
  local cancelled, cancelled_records = {}, {}  -- jobs stopped by a cancel
  local earliest = nil
  local keep_done = retention.keep_done > 0
  local succeeded = done_record_prefix('s')
  for n, id in ipairs(ids) do
    local i = first + (n - 1) * 6
    local raw = raws[n]
    local lease = raw and lease_of(raw)
    if lease and lease == ARGV[i + 2] then
      local op = ARGV[i]
      applied[#applied + 1] = id
      applied_raws[#applied_raws + 1] = raw
      if op == 's' or op == 'S' then
        -- The hot path: the record is kept as it was (its lease and state), never unpacked.
        done[#done + 1] = id
        if op == 'S' then
          local ttl = tonumber(ARGV[i + 3])
          if ttl > 0 then
            results[#results + 1] = {id, 's' .. ARGV[i + 4], ttl}
          end
          local exits = exits_of(raw)
          if exits then
            signals[#signals + 1] = {exits, 's', ARGV[i + 4]}
          end
        end
        if keep_done then
          done_fields[#done_fields + 1] = id
          done_fields[#done_fields + 1] = succeeded .. state_of(raw)
        end
        if may_be_unique(raw) then
          ended[#ended + 1] = id
          ended_records[#ended_records + 1] = unpack_record(raw)
        end
      else
        local record = unpack_record(raw)
        if op == 'c' or (record.cn and op ~= 'F') then
          done[#done + 1] = id
          if keep_done then
            done_fields[#done_fields + 1] = id
            done_fields[#done_fields + 1] = make_done_record('c', state_of(raw))
          end
          if record.rt then
            results[#results + 1] = {id, 'c', tonumber(record.rt)}
          end
          if record.wo then
            signals[#signals + 1] = {record.wo, 'c', 'job ' .. id .. ' was cancelled'}
          end
          cancelled[#cancelled + 1] = id
          cancelled_records[#cancelled_records + 1] = record
        elseif op == 'f' or op == 'F' then
          -- An abandoned job's failure is reported by another worker: the run that failed is
          -- the one of the worker that died, kept in `ran` when its lease was taken back.
          if not record.x then
            record.ran = lease
          end
          record.s, record.f, record.err, record.tb = 'f', now_text(), ARGV[i + 4], ARGV[i + 5]
          record.l, record.x = nil, nil
          if op == 'F' then
            record.u = '1'
          end
          if record.rt then
            results[#results + 1] = {id, 'f' .. ARGV[i + 4] .. '\3' .. ARGV[i + 5], tonumber(record.rt)}
          end
          if record.wo then
            signals[#signals + 1] = {record.wo, 'f', 'job ' .. id .. ' failed: ' .. ARGV[i + 4]}
          end
          failed[#failed + 1] = id
          failed_records[#failed_records + 1] = record
          ended[#ended + 1] = id
          ended_records[#ended_records + 1] = record
        else
          local due = tonumber(ARGV[i + 3])
          if op == 'r' then
            due = now + due
          end
          record.r = (tonumber(record.r) or 0) + 1
          record.err, record.tb, record.ran, record.l = ARGV[i + 4], ARGV[i + 5], lease, nil
          record.pg = nil  -- the next run reports its own
          changed[#changed + 1] = id
          changed_records[#changed_records + 1] = record
          delayed[#delayed + 1] = due
          delayed[#delayed + 1] = id
          if earliest == nil or due < earliest then
            earliest = due
          end
        end
      end
    else
      rejected[#rejected + 1] = id
    end
  end
  if #applied == 0 then
    return 0, rejected, 0
  end

  -- Deletions first: Redis at maxmemory refuses a script whose first write may grow memory, so
  -- a batch with a retry or a record in it must start with writes that only free memory.
  local freed = free_slots(q, applied, applied_raws)
  call_sliced('ZREM', q.running, applied)
  if freed > 0 or q.capped then
    ensure_wake_token(q.wake)  -- a limited task or queue has a free slot: a job may start
  end
  delete_records(q, done)
  for _, result in ipairs(results) do
    store_result(q, now, result[1], result[2], result[3], retention.max_results)
  end
  for n, id in ipairs(ended) do
    release_unique(q, id, ended_records[n], 'f', now)
  end
  for n, id in ipairs(cancelled) do
    release_unique(q, id, cancelled_records[n], 'c', now)
  end
  local earliest_before = earliest and earliest_due(q.delayed)
  write_records(q, changed, changed_records)
  call_sliced('ZADD', q.delayed, delayed)
  if keep_done then
    add_done(q, now, done_fields, retention.max_done)
  end
  if #failed > 0 then
    add_failed(q, now, failed, failed_records)
    trim_failed(q, now - retention.keep_failed, retention.max_failed, #failed + 100)
  end
  count_outcomes(q, now, #done - #cancelled, #failed, #changed)
  local pushed = 0
  for _, signal in ipairs(signals) do
    pushed = pushed + signal_exits(q, signal[1], signal[2], signal[3])
  end
  if earliest and (earliest_before == nil or earliest < earliest_before) then
    ensure_wake_token(q.wake)
  end
  return #applied, rejected, pushed
end
