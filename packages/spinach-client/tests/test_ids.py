"""Job ids are random UUID4s in their canonical form, however they are made."""

import uuid

from spinach.ids import new_job_id, new_job_ids


def test_job_ids_are_canonical_random_uuid4s() -> None:
    ids = [new_job_id() for _ in range(2_000)] + new_job_ids(2_000)
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every variant digit occurs: the two bits below the variant's are random
    assert {text[19] for text in ids} == set("89ab")
