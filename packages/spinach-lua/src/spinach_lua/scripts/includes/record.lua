-- The job record: everything about one job, in one field of its queue's `jobs` hash,
--   "[<lease>\2]<state>\1<envelope>"
-- The envelope is the job as msgspec encoded it in Python: never decoded here (it is JSON,
-- which escapes control characters, so it holds none of the separators). The state is the
-- values of RECORD_FIELDS in that order, joined by NUL bytes (empty when unset; Python leaves
-- no control byte in any of them). While a worker holds the job, its lease (see the lease
-- include) comes first, before a \2 byte.
--
-- The hot path never takes a record apart: taking a job adds the lease in front, finishing it
-- reads the lease back and deletes the field, and Python reads the fields it returns. The slow
-- paths (a retry, a failure, recovery, cancel, admin) use unpack_record and pack_record, which
-- turn a record into a Lua table (`l` is the lease, `e` the envelope) and back. Records are
-- written and deleted only here. The queue description `q` names the hash: q.jobs.
--
-- The fields (Python reads them by the same names, in the same order: new ones go last):
--   r    retries already scheduled (empty: 0)
--   x    "1" when its worker died running it and it may not run again: report it failed
--   t    its task
--   c    when it was queued (ms, Redis time): sent, or retried from the failed store
--   b    its retry budget, max_retries: empty for 0 (at most once), -1 without limit
--   s    "f" once it failed for good: it is then in the queue's failed store, with
--   f    when it failed (ms), and
--   ran  the lease of its last run (who ran it, since when)
--   u    "1" if its envelope cannot be decoded: kept to be read, never run again
--   err  "Type: message" of its last failed run, and
--   tb   that run's traceback
--   p    its priority (see the ready include; empty: 0, the default)
--   rl   its rate limit, "<interval ms>\3<rate key>" (see the rate include), and
--   rs   the start time a fetch gave it under that limit
--   rt   how long its result is kept, in ms, once it ends (see the result include; empty:
--        it stores none)
--   pg   the progress its task last reported, "<fraction>\3<message>\3<when, ms>" (see the
--        progress script)
--   h    "1" while it is a workflow step held until the steps before it end, and
--   wf   the id of its workflow, and
--   wo   what its end moves on in the workflow (see the workflow include)
--   cn   when its cancel was asked for while a worker ran it (ms): its worker stops it, and
--        a run that ends, however it ends, ends it as cancelled; never retried or run again
--   k    its unique key, if it has one, and
--   km   the key's rule (see the unique include); the last field: the hot path looks at its
--        last byte to tell whether a record may carry a key

local RECORD_FIELDS = {'r', 'x', 't', 'c', 'b', 's', 'f', 'ran', 'u', 'err', 'tb', 'p', 'rl', 'rs', 'rt', 'pg', 'h', 'wf', 'wo', 'cn', 'k', 'km'}

-- The lease at the front of a record, or nil.
local function lease_of(raw)
  local stop = string.find(raw, '\2', 1, true)
  return stop and string.sub(raw, 1, stop - 1) or nil
end

-- The record with `lease` in front (it has none).
local function with_lease(raw, lease)
  return lease .. '\2' .. raw
end

-- The record without its lease.
local function without_lease(raw)
  local stop = string.find(raw, '\2', 1, true)
  return stop and string.sub(raw, stop + 1) or raw
end

-- The record up to its envelope (its lease and state), to keep once the job is done.
local function state_of(raw)
  local stop = string.find(raw, '\1', 1, true)
  return stop and string.sub(raw, 1, stop - 1) or raw
end

-- Field number `n` of RECORD_FIELDS of a record, or nil when empty; without unpacking it.
-- (The envelope holds no NUL byte, so a search for one never runs past the state.)
local function field_of(raw, n)
  local first = (string.find(raw, '\2', 1, true) or 0) + 1
  for _ = 1, n - 1 do
    local stop = string.find(raw, '\0', first, true)
    if not stop then
      return nil
    end
    first = stop + 1
  end
  local stop = string.find(raw, '\0', first, true) or string.find(raw, '\1', first, true)
  local value = string.sub(raw, first, (stop or #raw + 1) - 1)
  return value ~= '' and value or nil
end

-- The task of a record (its third field), or nil.
local function task_of(raw)
  return field_of(raw, 3)
end

-- What the end of a workflow step moves on (`wo`, see the workflow include), or nil.
local function exits_of(raw)
  return field_of(raw, 19)
end

-- When the cancel of a running job was asked for (`cn`), or nil.
local function cancel_of(raw)
  return field_of(raw, 20)
end

-- The priority of a record (a number: 0 when it has none).
local function priority_of(raw)
  return tonumber(field_of(raw, 12)) or 0
end

local function unpack_record(raw)
  if not raw then
    return false
  end
  local split = string.find(raw, '\1', 1, true)
  local record = {e = split and string.sub(raw, split + 1) or false}
  local state = split and string.sub(raw, 1, split - 1) or raw
  local first = 1
  local leased = string.find(state, '\2', 1, true)
  if leased then
    record.l, first = string.sub(state, 1, leased - 1), leased + 1
  end
  for n = 1, #RECORD_FIELDS do
    local stop = string.find(state, '\0', first, true)
    local field = string.sub(state, first, (stop or 0) - 1)
    if field ~= '' then
      record[RECORD_FIELDS[n]] = field
    end
    if not stop then
      break
    end
    first = stop + 1
  end
  return record
end

local function pack_record(record)
  local parts = {}
  for n, name in ipairs(RECORD_FIELDS) do
    local field = record[name]
    parts[n] = (field == nil or field == false) and '' or field
  end
  local state = table.concat(parts, '\0') .. '\1' .. (record.e or '')
  return record.l and with_lease(state, record.l) or state
end

-- The records of `ids` as they are stored (false where a job has none).
local function read_raw(q, ids)
  return hmget_sliced(q.jobs, ids)
end

-- The records of `ids`, in order: a table of fields each, false where a job has none.
local function read_records(q, ids)
  local found = hmget_sliced(q.jobs, ids)
  for n = 1, #ids do
    found[n] = unpack_record(found[n])
  end
  return found
end

-- Store records as they are to be stored (`raws`, in the order of `ids`).
local function write_raw(q, ids, raws)
  local fields = {}
  for n, id in ipairs(ids) do
    fields[#fields + 1] = id
    fields[#fields + 1] = raws[n]
  end
  call_sliced('HSET', q.jobs, fields)
end

-- Store the (new or changed) records of `ids`.
local function write_records(q, ids, records)
  local raws = {}
  for n = 1, #ids do
    raws[n] = pack_record(records[n])
  end
  write_raw(q, ids, raws)
end

-- Store the record of a new job unless `id` has one already; return whether it was stored.
local function create_record(q, id, record)
  return redis.call('HSETNX', q.jobs, id, pack_record(record)) == 1
end

-- The stored form of a new record up to its envelope: jobs sent together with the same
-- options share it, so a batch packs it once and each job only adds its envelope (see
-- with_envelope).
local function record_template(record)
  return pack_record(record)  -- `record` has no envelope (e): the state and its separator
end

local function with_envelope(template, envelope)
  return template .. envelope
end

-- Store a new job's record, as it is to be stored, unless `id` has one already; return whether
-- it was stored.
local function create_raw(q, id, raw)
  return redis.call('HSETNX', q.jobs, id, raw) == 1
end

local function delete_records(q, ids)
  call_sliced('HDEL', q.jobs, ids)
end
