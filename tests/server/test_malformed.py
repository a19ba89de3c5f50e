"""A corpus of malformed requests: each must be answered with a 4xx and an OpenAI error object, and
the server must stay healthy after each."""

import json
import re
import socket

import pytest
import requests

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
USER = [{"role": "user", "content": "Hi"}]


def chat(**fields):
    return json.dumps({"messages": USER, **fields}).encode()


# (name, method, path, body bytes, expected status)
CORPUS = [
    ("empty body", "POST", CHAT, b"", 400),
    ("not json", "POST", CHAT, b"{nope", 400),
    ("truncated json", "POST", CHAT, b'{"messages": [{"role": "user"', 400),
    ("json array", "POST", CHAT, b"[1, 2, 3]", 400),
    ("json string", "POST", CHAT, b'"hello"', 400),
    ("json null", "POST", CHAT, b"null", 400),
    ("invalid utf-8", "POST", CHAT,
     b'{"messages": [{"role": "user", "content": "\xc3\x28\xff"}]}', 400),
    ("overlong utf-8", "POST", CHAT, b'{"messages": [{"role": "user", "content": "\xc0\xaf"}]}', 400),
    ("lone surrogate escape", "POST", CHAT,
     b'{"messages": [{"role": "user", "content": "\\ud800"}]}', 400),
    ("nan literal", "POST", CHAT, b'{"messages": [{"role": "user", "content": "x"}], '
     b'"temperature": NaN}', 400),
    ("number overflow", "POST", CHAT, chat()[:-1] + b', "temperature": 1e999}', 400),
    ("deeply nested", "POST", CHAT, b"[" * 200000 + b"]" * 200000, 400),
    ("missing messages", "POST", CHAT, b'{"model": "x"}', 400),
    ("messages not array", "POST", CHAT, b'{"messages": "Hi"}', 400),
    ("messages empty", "POST", CHAT, b'{"messages": []}', 400),
    ("message not object", "POST", CHAT, b'{"messages": ["Hi"]}', 400),
    ("missing role", "POST", CHAT, b'{"messages": [{"content": "Hi"}]}', 400),
    ("bad role", "POST", CHAT, b'{"messages": [{"role": "wizard", "content": "Hi"}]}', 400),
    ("tool role", "POST", CHAT, b'{"messages": [{"role": "tool", "content": "Hi"}]}', 400),
    ("role not string", "POST", CHAT, b'{"messages": [{"role": 3, "content": "Hi"}]}', 400),
    ("missing content", "POST", CHAT, b'{"messages": [{"role": "user"}]}', 400),
    ("content number", "POST", CHAT, b'{"messages": [{"role": "user", "content": 42}]}', 400),
    ("image content part", "POST", CHAT, json.dumps({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x"}}]}]}).encode(), 400),
    ("temperature negative", "POST", CHAT, chat(temperature=-0.5), 400),
    ("temperature string", "POST", CHAT, chat(temperature="hot"), 400),
    ("temperature too high", "POST", CHAT, chat(temperature=1e300), 400),
    ("top_p zero", "POST", CHAT, chat(top_p=0), 400),
    ("top_k negative", "POST", CHAT, chat(top_k=-1), 400),
    ("min_p above one", "POST", CHAT, chat(min_p=2), 400),
    ("repetition penalty zero", "POST", CHAT, chat(repetition_penalty=0), 400),
    ("presence penalty out of range", "POST", CHAT, chat(presence_penalty=5), 400),
    ("max_tokens zero", "POST", CHAT, chat(max_tokens=0), 400),
    ("max_tokens negative", "POST", CHAT, chat(max_tokens=-100), 400),
    ("max_tokens fraction", "POST", CHAT, chat(max_tokens=2.5), 400),
    ("max_tokens string", "POST", CHAT, chat(max_tokens="10"), 400),
    ("stop number", "POST", CHAT, chat(stop=7), 400),
    ("stop empty string", "POST", CHAT, chat(stop=""), 400),
    ("stop too many", "POST", CHAT, chat(stop=[str(i) for i in range(17)]), 400),
    ("seed fraction", "POST", CHAT, chat(seed=0.5), 400),
    ("stream string", "POST", CHAT, chat(stream="yes"), 400),
    ("n two", "POST", CHAT, chat(n=2), 400),
    ("logprobs", "POST", CHAT, chat(logprobs=True), 400),
    ("prompt over the context", "POST", CHAT, json.dumps({"messages": [
        {"role": "user", "content": "Once upon a time " * 400}]}).encode(), 400),
    ("completion without prompt", "POST", COMPLETIONS, b'{"model": "x"}', 400),
    ("completion token prompt", "POST", COMPLETIONS, b'{"prompt": [1, 2, 3]}', 400),
    ("completion prompt over the context", "POST", COMPLETIONS,
     json.dumps({"prompt": "Once upon a time " * 400, "stream": True}).encode(), 400),
    ("completion echo", "POST", COMPLETIONS, b'{"prompt": "x", "echo": true}', 400),
    ("oversized body", "POST", CHAT, b"x" * (5 << 20), 413),
    ("unknown endpoint", "POST", "/v1/embeddings", chat(), 404),
    ("get on a post endpoint", "GET", CHAT, b"", 405),
]


def check_error_response(response, expected_status):
    assert response.status_code == expected_status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert "param" in error and "code" in error


@pytest.mark.parametrize("name,method,path,body,status", CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed_request(tiny_server, name, method, path, body, status):
    response = requests.request(method, tiny_server.url + path, data=body, timeout=30,
                                headers={"Content-Type": "application/json"})
    check_error_response(response, status)
    if name.startswith("prompt over") or name.startswith("completion prompt over"):
        assert response.json()["error"]["code"] == "context_length_exceeded"
    assert tiny_server.health()["status"] == "ok"


def raw_exchange(url, data):
    """Sends raw bytes; returns one response (read up to its Content-Length), or what came before
    the server closed the connection. The connection is not half-closed: the HTTP library sends no
    answer to a client that did."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        try:
            connection.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading (and close) early
        reply = b""
        while True:
            head, separator, body = reply.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            if separator and length and len(body) >= int(length.group(1)):
                return reply
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                return reply
            if not chunk:
                return reply
            reply += chunk


@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: nonsense\r\n\r\n{}",
], ids=["not http", "bad content-length"])
def test_malformed_http(tiny_server, data):
    reply = raw_exchange(tiny_server.url, data)
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 4"), reply[:200]
    body = rest.partition(b"\r\n\r\n")[2]
    assert "error" in json.loads(body)
    assert tiny_server.health()["status"] == "ok"


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 64 + b"\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 100000 + b"\r\n\r\n",
], ids=["binary noise", "huge header"])
def test_unreadable_request_leaves_the_server_up(tiny_server, data):
    """What cannot be read as HTTP: the library may close the connection without an answer."""
    reply = raw_exchange(tiny_server.url, data)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:200]
    assert tiny_server.health()["status"] == "ok"
