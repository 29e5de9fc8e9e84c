-- Apply the outcomes of jobs a worker ran. Needs the prelude and the record, lease, limits and
-- history includes; q.running, q.delayed, q.wake, q.limited_running and the history keys.
--
-- The outcomes are `count` values of ARGV from index `first`, six per job:
--   op, id, lease, when, error, traceback
-- op 's': succeeded; 'f': failed for good; 'F': failed for good with an envelope that cannot
-- be decoded (kept to be read, never run again); 'r': retry in `when` ms; 'R': retry at the
-- absolute time `when` (ms). error ("Type: message") and traceback describe a failed run.
--
-- Fencing: an outcome applies only while the job's lease is still the one the caller was given.
-- A worker whose lease expired and was taken over (a zombie back from a pause or a partition),
-- or a batch re-sent after a lost reply, changes nothing. Returns (applied, rejected ids).
local function apply_outcomes(q, now, first, count, retention)
  if count == 0 then
    return 0, {}
  end
  -- Every record this call changes is read before the first write.
  local ids, rows, records = {}, {}, {}
  for i = first, first + count - 1, 6 do
    local n = #ids + 1
    ids[n] = ARGV[i + 1]
    rows[n] = i
    records[n] = redis.call('HMGET', job_key(ids[n]), 'l', 't', 'r', 'c', 'x', 'ran')
  end

  local rejected, applied, applied_tasks = {}, {}, {}
  local succeeded, failed, delayed = {}, {}, {}
  local retried = 0
  local earliest = nil
  local keep_done = retention.keep_done > 0
  for n, id in ipairs(ids) do
    local i = rows[n]
    local lease, task, retries, created, abandoned, ran = unpack(records[n], 1, 6)
    if lease and lease == ARGV[i + 2] then
      local op = ARGV[i]
      applied[#applied + 1] = id
      applied_tasks[#applied_tasks + 1] = task
      if op == 's' then
        if keep_done then
          local started, worker = lease_parts(lease)
          local runs = (tonumber(retries) or 0) + 1
          succeeded[#succeeded + 1] = {
            id, make_done_record('s', task, runs, created, started, now, worker),
          }
        else
          succeeded[#succeeded + 1] = {id}
        end
      elseif op == 'f' or op == 'F' then
        -- An abandoned job's failure is reported by another worker: the run that failed is
        -- the one of the worker that died.
        failed[#failed + 1] = {id, ARGV[i + 4], ARGV[i + 5], abandoned and ran or lease, op == 'F'}
      else
        local due = tonumber(ARGV[i + 3])
        if op == 'r' then
          due = now + due
        end
        retried = retried + 1
        redis.call('HSET', job_key(id), 'r', (tonumber(retries) or 0) + 1, 'err', ARGV[i + 4],
          'tb', ARGV[i + 5], 'ran', lease)
        redis.call('HDEL', job_key(id), 'l')
        delayed[#delayed + 1] = due
        delayed[#delayed + 1] = id
        if earliest == nil or due < earliest then
          earliest = due
        end
      end
    else
      rejected[#rejected + 1] = id
    end
  end
  if #applied == 0 then
    return 0, rejected
  end

  -- Deletions first: Redis at maxmemory refuses a script whose first write may grow memory, so
  -- a batch with a retry or a record in it must start with writes that only free memory.
  if free_slots(q, applied, applied_tasks) > 0 then
    ensure_wake_token(q.wake)  -- a limited task has a free slot: a parked job may start
  end
  call_sliced('ZREM', q.running, applied)
  for _, entry in ipairs(succeeded) do
    delete_record(entry[1])
  end
  local earliest_before = earliest and earliest_due(q.delayed)
  call_sliced('ZADD', q.delayed, delayed)
  if keep_done then
    add_done(q, now, succeeded)
    trim_done(q, now - retention.keep_done, retention.max_done, #succeeded + 100)
  end
  if #failed > 0 then
    add_failed(q, now, failed)
    trim_failed(q, now - retention.keep_failed, retention.max_failed, #failed + 100)
  end
  count_outcomes(now, #succeeded, #failed, retried)
  if earliest and (earliest_before == nil or earliest < earliest_before) then
    ensure_wake_token(q.wake)
  end
  return #applied, rejected
end
