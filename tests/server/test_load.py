"""Load on the tiny model: 16 concurrent clients, 200 requests (3 in 4 streamed), loopback only.
The queue has room for every client, so every request must be answered 200 (a 429 would be a fault
of the queue; the full queue's 429 is tested in test_lifecycle.py), none lost; the server must be
healthy after, with its RSS back near the idle level. Prints requests/s, time to first token and RSS figures."""

import concurrent.futures
import json
import statistics
import threading
import time

import requests

CLIENTS = 16
REQUESTS = 200
DEADLINE_SECONDS = 90


def one_request(url, number):
    """Returns (status, seconds to the first text or None, error text or None)."""
    streamed = number % 4 != 3
    body = {"messages": [{"role": "user", "content": "Tell me a story number %d." % number}],
            "max_tokens": 16, "temperature": 0.8, "seed": number, "stream": streamed}
    start = time.monotonic()
    with requests.post(url + "/v1/chat/completions", json=body, stream=streamed,
                       timeout=60) as response:
        if response.status_code != 200:
            error = response.json()["error"]
            assert error["message"] and error["type"], error
            return response.status_code, None, error["code"]
        if not streamed:
            assert response.json()["choices"][0]["finish_reason"] in ("stop", "length")
            return 200, None, None
        first_text, finished, done = None, None, False
        for line in response.iter_lines():
            if not line:
                continue
            assert line.startswith(b"data: "), line
            payload = line[len(b"data: "):]
            if payload == b"[DONE]":
                done = True
                break
            chunk = json.loads(payload)
            assert "error" not in chunk, chunk
            choice = chunk["choices"][0]
            if first_text is None and choice["delta"].get("content"):
                first_text = time.monotonic() - start
            finished = choice["finish_reason"] or finished
        assert done and finished in ("stop", "length"), (done, finished)
        return 200, first_text, None


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_sixteen_clients_two_hundred_requests(start_server, tiny_model):
    # 2 slots + 14 places: room for all 16 clients.
    server = start_server(tiny_model, "--parallel", "2", "--queue", "14", "-t", "1")
    for number in range(10):  # warm up: first-use allocations are not a leak
        assert one_request(server.url, number)[0] == 200
    idle_rss = server.rss_kib()

    numbers = iter(range(REQUESTS))
    lock = threading.Lock()
    results = []

    def client():
        while time.monotonic() < deadline:  # past it, the count check below fails
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            outcome = one_request(server.url, number)
            with lock:
                results.append(outcome)

    start = time.monotonic()
    deadline = start + DEADLINE_SECONDS
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client) for _ in range(CLIENTS)]:
            future.result()
    elapsed = time.monotonic() - start

    statuses = [status for status, _, _ in results]
    assert len(results) == REQUESTS
    assert statuses == [200] * REQUESTS, [r for r in results if r[0] != 200]
    health = server.health()
    assert health["slots_busy"] == 0 and health["requests_waiting"] == 0, health
    time.sleep(0.5)
    after_rss = server.rss_kib()
    first_token = [seconds for _, seconds, _ in results if seconds is not None]
    print("\nload: %d requests, all answered 200, in %.2f s (%.1f requests/s); time to first token "
          "p50 %.1f ms, p99 %.1f ms (%d streams); RSS idle %d KiB, after %d KiB"
          % (REQUESTS, elapsed, REQUESTS / elapsed,
             1000 * statistics.median(first_token), 1000 * percentile(first_token, 0.99),
             len(first_token), idle_rss, after_rss))
    assert after_rss <= idle_rss + max(16 * 1024, idle_rss // 4), (idle_rss, after_rss)
    # Still serving normally.
    assert one_request(server.url, 1000)[0] == 200
