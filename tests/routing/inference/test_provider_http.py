"""The HTTP providers' plumbing: the line reader (server-sent events arrive in chunks that split
anything) and proxies named by the environment."""

import base64

import pytest

from routing.inference.providers.base import ChatCall, ProviderError
from routing.inference.providers.http import ProviderResponse
from routing.inference.providers.openai_compat import OpenAICompatibleProvider

HELLO = [{"role": "user", "content": "Say hello."}]


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


@pytest.fixture
def proxied_model(monkeypatch):
    """fake-ok on a provider whose host does not resolve: only a proxy can reach "it"."""
    from registry.models import LLM, Provider
    from tests.openai_server import FakeOpenAIServer

    server = FakeOpenAIServer().start()  # it answers requests sent to it as to a proxy, too
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    record = Provider.objects.create(name="behind-proxy", kind="openai", base_url="http://provider.invalid/v1",
                                     api_key_env="")
    llm = LLM.objects.create(name="proxied", provider=record, api_model_id="fake-ok", input_price_per_mtok=0.1,
                             output_price_per_mtok=0.1, context_window=32000)
    yield server, llm
    server.shutdown()


@pytest.mark.django_db
def test_calls_go_through_the_proxy_the_environment_names(proxied_model, monkeypatch):
    server, llm = proxied_model
    monkeypatch.setenv("HTTP_PROXY", f"http://team:s3cret@127.0.0.1:{server.server_address[1]}")
    answer = OpenAICompatibleProvider(llm).complete(ChatCall(model_id="fake-ok", messages=HELLO))
    assert answer.content == "Hello from the local provider."
    assert server.last_path == "http://provider.invalid/v1/chat/completions"
    assert server.last_proxy_auth == "Basic " + base64.b64encode(b"team:s3cret").decode()


@pytest.mark.django_db
def test_no_proxy_exempts_a_host(proxied_model, monkeypatch):
    server, llm = proxied_model
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("NO_PROXY", "provider.invalid")
    with pytest.raises(ProviderError, match="connection failed"):  # direct, and the host does not resolve
        OpenAICompatibleProvider(llm).complete(ChatCall(model_id="fake-ok", messages=HELLO, timeout_s=5))
    assert server.last_path == ""


def test_a_forked_child_does_not_share_its_parents_connections():
    import os

    from routing.inference.providers import http

    before = http.pool_for("http://127.0.0.1:9/v1")
    child = os.fork()
    if child == 0:  # the child reports through its exit code, touching nothing else
        os._exit(0 if http.pool_for("http://127.0.0.1:9/v1") is not before else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert http.pool_for("http://127.0.0.1:9/v1") is before
