"""The HTTP providers' line reader: server-sent events arrive in chunks that split anything."""

from routing.providers.http import ProviderResponse


class Chunks:
    """Stands in for urllib3's response: read1 hands out the given pieces, then b""."""

    def __init__(self, pieces):
        self.pieces = list(pieces)
        self.status = 200

    def read1(self, size):
        return self.pieces.pop(0) if self.pieces else b""


def lines(*pieces):
    return list(ProviderResponse(Chunks(pieces)).iter_lines())


def test_lines_split_across_chunks_are_joined():
    assert lines(b"data: {\"a\"", b": 1}\n\nda", b"ta: [DONE]\n\n") == ['data: {"a": 1}', "", "data: [DONE]", ""]


def test_crlf_cr_and_lf_all_end_lines_even_when_crlf_is_split():
    assert lines(b"one\r", b"\ntwo\rthree\n", b"four\r\n") == ["one", "two", "three", "four"]


def test_a_character_split_across_chunks_is_decoded_whole():
    encoded = "data: caf\u00e9 \u2192 ok\n".encode()
    cut = encoded.index("\u2192".encode()) + 1
    assert lines(encoded[:cut], encoded[cut:]) == ["data: caf\u00e9 \u2192 ok"]


def test_a_last_line_without_an_end_is_kept():
    assert lines(b"data: a\n", b"data: b") == ["data: a", "data: b"]
