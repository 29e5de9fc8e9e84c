-- The job record: one hash per job, <queue>:job:<id>, holds everything live about the job.
-- It is written by create_record, deleted by delete_record, and read field by field:
--   e    its envelope (encoded once by msgspec in Python, never decoded here)
--   t    its task
--   c    when it was queued (ms, Redis time): sent, or retried from the failed store
--   b    its retry budget, max_retries: absent for 0 (at most once), -1 without limit
--   r    retries already scheduled (absent: 0)
--   l    its lease while a worker holds it (see the lease include)
--   x    "1" when its worker died running it and it may not run again: report it failed
--   err  "Type: message" of its last failed run, and
--   tb   that run's traceback
--   s    "f" once it failed for good: it is then in the queue's failed store, with
--   f    when it failed (ms),
--   ran  the lease of its last run (who ran it, since when), and
--   u    "1" if its envelope cannot be decoded: kept to be read, never run again
--
-- The key is built here, from the queue's schema key: it carries the queue's hash tag, so
-- every script still touches a single Redis Cluster slot. Scripts read the records they need
-- before their first write, so that a slot migrating under them (keys moved away one by one)
-- aborts a call before it changed anything.

local JOB_PREFIX = string.sub(KEY.schema, 1, -7) .. 'job:'  -- "<queue>:schema" -> "<queue>:job:"

local function job_key(id)
  return JOB_PREFIX .. id
end

-- Create the record of a new job; `budget` is its max_retries as text ('0' or nil: none).
local function create_record(id, payload, task, now, budget)
  if budget and budget ~= '0' then
    redis.call('HSET', job_key(id), 'e', payload, 't', task, 'c', now, 'b', budget)
  else
    redis.call('HSET', job_key(id), 'e', payload, 't', task, 'c', now)
  end
end

local function delete_record(id)
  redis.call('DEL', job_key(id))
end

-- How many of `ids` have a record (EXISTS counts them in slices).
local function count_records(ids)
  local found = 0
  for first = 1, #ids, SLICE do
    local keys = {}
    for n = first, math.min(first + SLICE - 1, #ids) do
      keys[#keys + 1] = job_key(ids[n])
    end
    found = found + redis.call('EXISTS', unpack(keys))
  end
  return found
end
