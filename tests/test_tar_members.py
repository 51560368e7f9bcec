"""mlbuild._util.tar against the reference it replaces: tarfile's own PAX-format archives."""
from __future__ import annotations

import io
import tarfile

from hypothesis import given, settings
from hypothesis import strategies as st

from mlbuild._util.tar import write_end, write_member

NAMES = st.one_of(st.text("abcz09_.-%+", min_size=1, max_size=160),  # USTAR and, past 100 bytes, PAX
                  st.text(min_size=1, max_size=20).filter(lambda s: "\0" not in s and "/" not in s))
SIZES = st.sampled_from([0, 1, 511, 512, 513, 4096, 5000])


def reference(members: list[tuple[str, bytes]]) -> bytes:
    """The same members written by tarfile (the slow, obviously correct way)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(NAMES, SIZES, st.integers(0, 255)), max_size=6))
def test_members_are_byte_identical_to_tarfile(spec):
    members = [(name, bytes([fill]) * size) for name, size, fill in spec]
    out = io.BytesIO()
    for name, data in members:
        write_member(out, name, data)
    write_end(out)
    assert out.getvalue() == reference(members)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:  # and tarfile reads them back
        assert [(m.name, tar.extractfile(m).read()) for m in tar] == members
