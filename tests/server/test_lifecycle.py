"""Slots and shutdown on the tiny model with a 4096-token context (a greedy answer that long takes
many seconds, so a request holds its slot as long as a test needs): a full queue answers 429, a
streaming client that disconnects frees its slot, and SIGTERM ends in-flight requests and the server
with exit status 0."""

import concurrent.futures
import json
import re
import time

import requests

LONG = {"prompt": "Once upon a time", "temperature": 0, "max_tokens": 4000, "stream": True}


def open_stream(server):
    """Starts a long streamed completion and reads up to its first text; returns (response, id)."""
    response = requests.post(server.url + "/v1/completions", json=LONG, stream=True, timeout=60)
    assert response.status_code == 200
    lines = response.iter_lines()
    for line in lines:
        if line.startswith(b"data: {"):
            chunk = json.loads(line[len(b"data: "):])
            if chunk["choices"][0]["text"]:
                return response, lines, chunk["id"]
    raise AssertionError("the stream ended before any text")


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_full_queue_and_disconnect(start_server, tiny_model):
    server = start_server(tiny_model, "--parallel", "1", "--queue", "0", "-t", "1", "-c", "4096")
    response, _, request_id = open_stream(server)
    assert server.health()["slots_busy"] == 1

    refused = requests.post(server.url + "/v1/completions", json={"prompt": "Hi"}, timeout=30)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "queue_full"
    assert refused.headers["Retry-After"] == "1"

    disconnected_at = time.monotonic()
    response.close()
    assert wait_for(lambda: server.health()["slots_busy"] == 0), server.health()
    print("\nslot free %.0f ms after the client disconnected"
          % (1000 * (time.monotonic() - disconnected_at)))
    assert wait_for(lambda: re.search(request_id + r": .*, cancelled,", server.log()))
    generated = int(re.search(request_id + r": .*generated (\d+)", server.log()).group(1))
    assert generated < 4000

    answer = requests.post(server.url + "/v1/completions", timeout=30,
                           json={"prompt": "Hi", "max_tokens": 4})
    assert answer.status_code == 200, answer.text


def test_sigterm_ends_in_flight_requests_and_exits_zero(start_server, tiny_model):
    server = start_server(tiny_model, "--parallel", "1", "--queue", "2", "-t", "1", "-c", "4096")
    _, lines, _ = open_stream(server)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        queued = pool.submit(requests.post, server.url + "/v1/completions", timeout=60,
                             json={"prompt": "Hi", "max_tokens": 4})
        assert wait_for(lambda: server.health()["requests_waiting"] == 1)
        stopped_at = time.monotonic()
        status = server.stop(timeout=15)
        print("\nexit status %s %.0f ms after SIGTERM" % (status, 1000 * (time.monotonic() - stopped_at)))
        assert status == 0, server.log()
        waiting_answer = queued.result(timeout=15)
    assert waiting_answer.status_code == 503
    assert waiting_answer.json()["error"]["code"] == "shutting_down"
    rest = [line for line in lines if line]
    assert rest[-1] == b"data: [DONE]"
    assert json.loads(rest[-2][len(b"data: "):])["error"]["code"] == "shutting_down"
    assert server.log().rstrip().endswith("quant serve: stopped")
