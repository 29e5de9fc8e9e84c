-- Leases. A fetched job is held by one worker: its record starts with the lease value
-- "[L]<fencing token>:<started ms>:<worker id>" (see the record include), and the queue's
-- `running` sorted set holds its deadline. "L" says the lease holds one of its task's
-- concurrency-limit slots. Fencing tokens grow with every fetch of the queue (`lease_seq`), so
-- a value is never handed out twice: a worker compares it whole, and an outcome, renewal or
-- hand-back applies only while the job's lease is still the very one the caller was given.
-- Needs the record include.

local function make_lease(sequence, worker, limited)
  return (limited and 'L' or '') .. sequence .. ':' .. now_text() .. ':' .. worker
end

-- Whether a record is leased with a limit slot, without cutting its lease out: a record
-- starts with its lease when it has one, and its first field (retries: digits) never with L.
local function record_holds_slot(raw)
  return string.byte(raw, 1) == 76  -- 'L'
end

-- (started ms, worker id) of a lease value, or (0, "") when it has neither.
local function lease_parts(value)
  if not value then
    return 0, ''
  end
  local started, worker = string.match(value, '^L?%d+:(%d+):(.*)$')
  if not started then
    return 0, ''
  end
  return tonumber(started), worker
end

-- Lease `ids` (records `raws`, holding a limit slot where `limited` says so) to `worker`
-- until now + lease_ms; return the leases. The jobs of one call share one fencing token: a
-- token tells two leases of one job apart, and one call leases a job once.
local function grant_leases(q, ids, raws, limited, now, lease_ms, worker)
  local leases = {}
  if #ids == 0 then
    return leases
  end
  local sequence = redis.call('INCR', q.lease_seq)
  local deadline = tostring(now + lease_ms)
  local plain, slotted = make_lease(sequence, worker, false), make_lease(sequence, worker, true)
  local deadlines, leased = {}, {}
  for n, id in ipairs(ids) do
    local lease = limited[n] and slotted or plain
    leases[n] = lease
    leased[n] = with_lease(raws[n], lease)
    deadlines[#deadlines + 1] = deadline
    deadlines[#deadlines + 1] = id
  end
  write_raw(q, ids, leased)
  call_sliced('ZADD', q.running, deadlines)
  return leases
end
