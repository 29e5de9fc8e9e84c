-- Leases. A fetched job is held by one worker: its record's `l` field is the lease value
-- "<fencing token>:<started ms>:<worker id>", and the queue's `running` sorted set holds its
-- deadline. Fencing tokens grow with every fetch of the queue (`lease_seq`), so a value is never
-- handed out twice: a worker compares it whole, and an outcome, renewal or hand-back applies only
-- while the job's lease is still the very one the caller was given. Needs the record include.

local function make_lease(sequence, now, worker)
  return sequence .. ':' .. now .. ':' .. worker
end

-- (started ms, worker id) of a lease value, or (0, "") when it has neither.
local function lease_parts(value)
  if not value then
    return 0, ''
  end
  local started, worker = string.match(value, '^%d+:(%d+):(.*)$')
  if not started then
    return 0, ''
  end
  return tonumber(started), worker
end

-- Lease `ids` (with their `records`) to `worker` until now + lease_ms; return the leases.
local function grant_leases(q, ids, records, now, lease_ms, worker)
  local leases = {}
  if #ids == 0 then
    return leases
  end
  local last = redis.call('INCRBY', q.lease_seq, #ids)
  local deadline = now + lease_ms
  local deadlines = {}
  for n, id in ipairs(ids) do
    local lease = make_lease(last - #ids + n, now, worker)
    leases[n] = lease
    records[n].l = lease
    deadlines[#deadlines + 1] = deadline
    deadlines[#deadlines + 1] = id
  end
  write_records(q, ids, records)
  call_sliced('ZADD', q.running, deadlines)
  return leases
end
