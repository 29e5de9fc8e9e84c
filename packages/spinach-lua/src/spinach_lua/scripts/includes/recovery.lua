-- Take back the jobs whose lease expired: their worker died, hung or lost Redis.
-- Needs the prelude and the record, lease and limits includes; q.running, q.wake too.
--
-- A job with retries left is queued again, the lost run counted as an attempt. Any other job
-- (at most once, or out of retries) is queued too, but marked abandoned: the worker that
-- fetches it reports it failed instead of running it. Going through a lease like any job, the
-- report survives a lost reply or a dying worker. Limit slots are freed. Returns how many jobs
-- were taken back.
local function recover_expired(q, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', q.running, '-inf', now, 'LIMIT', 0, limit)
  if #expired == 0 then
    return 0
  end
  local records = {}
  for n, id in ipairs(expired) do
    records[n] = redis.call('HMGET', job_key(id), 't', 'b', 'r', 'l')
  end
  local tasks, back, back_tasks = {}, {}, {}
  for n, id in ipairs(expired) do
    local task, budget, retries, lease = unpack(records[n], 1, 4)
    tasks[n] = task
    if lease then
      budget, retries = tonumber(budget) or 0, tonumber(retries) or 0
      if budget < 0 or retries < budget then
        redis.call('HSET', job_key(id), 'r', retries + 1, 'ran', lease)
      else
        redis.call('HSET', job_key(id), 'x', '1', 'ran', lease)
      end
      redis.call('HDEL', job_key(id), 'l')
      back[#back + 1] = id
      back_tasks[#back_tasks + 1] = task
    end
  end
  free_slots(q, expired, tasks)
  call_sliced('ZREM', q.running, expired)
  route(q, back, back_tasks)
  ensure_wake_token(q.wake)
  return #back
end
