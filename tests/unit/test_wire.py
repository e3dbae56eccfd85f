"""What goes over the wire is what smtplib would send: the shortcut checked against it."""

from __future__ import annotations

import smtplib

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.deliver.smtp import dot_stuffed


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=200)
    | st.lists(st.sampled_from([b".", b"\r\n", b"\n", b"a", b".."])).map(b"".join)
)
def test_dot_stuffing_is_smtplibs(data: bytes) -> None:
    assert dot_stuffed(data) == smtplib._quote_periods(data)  # type: ignore[attr-defined]
