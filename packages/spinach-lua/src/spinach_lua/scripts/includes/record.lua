-- The job record: everything about one job, in two fields of two hashes of its queue.
--   jobs[id]   its envelope: encoded once by msgspec in Python, never decoded here, and never
--              rewritten, however large, when the job changes state
--   state[id]  the rest, packed: the values of RECORD_FIELDS in that order, joined by NUL
--              bytes (trailing empty values left out), rewritten by each transition
-- Records are created by create_records, rewritten by write_records and deleted by
-- delete_records; scripts read them with read_records and change the Lua tables it returns.
-- The queue description `q` names the two hashes: q.jobs and q.state. Both keys are declared,
-- as every key a script touches: a Redis Cluster slot migrating under a call then makes Redis
-- answer TRYAGAIN before the script runs, never a script that finds half its records.
--
-- The fields (Python reads them by the same names, in the same order: new ones go last):
--   t    its task
--   c    when it was queued (ms, Redis time): sent, or retried from the failed store
--   b    its retry budget, max_retries: empty for 0 (at most once), -1 without limit
--   r    retries already scheduled (empty: 0)
--   l    its lease while a worker holds it (see the lease include)
--   x    "1" when its worker died running it and it may not run again: report it failed
--   s    "f" once it failed for good: it is then in the queue's failed store, with
--   f    when it failed (ms), and
--   ran  the lease of its last run (who ran it, since when)
--   u    "1" if its envelope cannot be decoded: kept to be read, never run again
--   err  "Type: message" of its last failed run, and
--   tb   that run's traceback (Python leaves no NUL byte in either)

local RECORD_FIELDS = {'t', 'c', 'b', 'r', 'l', 'x', 's', 'f', 'ran', 'u', 'err', 'tb'}

local function unpack_record(text)
  if not text then
    return false
  end
  local record, first = {}, 1
  for n = 1, #RECORD_FIELDS do
    local stop = string.find(text, '\0', first, true)
    local value = string.sub(text, first, (stop or 0) - 1)
    if value ~= '' then
      record[RECORD_FIELDS[n]] = value
    end
    if not stop then
      break
    end
    first = stop + 1
  end
  return record
end

local function pack_record(record)
  local parts, last = {}, 0
  for n, name in ipairs(RECORD_FIELDS) do
    local value = record[name]
    if value == nil or value == false then
      parts[n] = ''
    else
      parts[n] = value
      last = n
    end
  end
  return table.concat(parts, '\0', 1, last)
end

-- The records of `ids`, in order: a table of fields each, false where a job has none.
local function read_records(q, ids)
  local found = hmget_sliced(q.state, ids)
  for n = 1, #ids do
    found[n] = unpack_record(found[n])
  end
  return found
end

-- The envelopes of `ids`, in order (false where a job has none).
local function read_envelopes(q, ids)
  return hmget_sliced(q.jobs, ids)
end

-- Store the (changed) records of `ids`.
local function write_records(q, ids, records)
  local fields = {}
  for n, id in ipairs(ids) do
    fields[#fields + 1] = id
    fields[#fields + 1] = pack_record(records[n])
  end
  call_sliced('HSET', q.state, fields)
end

-- Create the records of new jobs: their envelopes and their first state.
local function create_records(q, ids, envelopes, records)
  local payloads = {}
  for n, id in ipairs(ids) do
    payloads[#payloads + 1] = id
    payloads[#payloads + 1] = envelopes[n]
  end
  call_sliced('HSET', q.jobs, payloads)
  write_records(q, ids, records)
end

local function delete_records(q, ids)
  call_sliced('HDEL', q.jobs, ids)
  call_sliced('HDEL', q.state, ids)
end
