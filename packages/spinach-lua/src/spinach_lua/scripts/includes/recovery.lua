-- Take back the jobs whose lease expired: their worker died, hung or lost Redis.
-- Needs the prelude and the record, lease, ready and limits includes; q.running, q.wake too.
--
-- A job with retries left is queued again (at the tail of its priority), the lost run counted
-- as an attempt. Any other job (at most once, or out of retries) is queued too, but marked
-- abandoned: the worker that fetches it reports it failed instead of running it. A job whose
-- cancel was asked for while it ran (`cn`) is marked so too, whatever its retries: the worker
-- that fetches it reports it cancelled, and it never runs again. Going through a lease like any job, the
-- report survives a lost reply or a dying worker. Limit slots are freed. Returns how many jobs
-- were taken back.
local function recover_expired(q, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', q.running, '-inf', now, 'LIMIT', 0, limit)
  if #expired == 0 then
    return 0
  end
  local raws = read_raw(q, expired)
  local back, back_records, back_tasks, back_priorities = {}, {}, {}, {}
  for n, id in ipairs(expired) do
    local record = unpack_record(raws[n])
    if record and record.l then
      local budget, retries = tonumber(record.b) or 0, tonumber(record.r) or 0
      if record.cn then
        record.x = '1'
      elseif budget < 0 or retries < budget then
        record.r = retries + 1
      else
        record.x = '1'
      end
      record.ran, record.l = record.l, nil
      record.pg = nil
      back[#back + 1] = id
      back_records[#back_records + 1] = record
      back_tasks[#back_tasks + 1] = record.t
      back_priorities[#back_priorities + 1] = tonumber(record.p) or 0
    end
  end
  free_slots(q, expired, raws)
  call_sliced('ZREM', q.running, expired)
  write_records(q, back, back_records)
  route(q, back, back_tasks, back_priorities)
  ensure_wake_token(q.wake)
  return #back
end
