"""The OpenAI API through the official client: chat and text completions, streaming, stop strings,
max_tokens, /v1/models and /health, on the tiny model and on the default one."""

import requests

HELLO = [{"role": "user", "content": "What is the capital of France?"}]


def test_health_and_models(server):
    health = server.health()
    assert health["status"] == "ok"
    assert health["slots"] >= 1
    models = server.client().models.list()
    assert [m.id for m in models.data] == [server.id]
    assert server.id.endswith(".gguf")


def test_chat_completion(server):
    response = server.client().chat.completions.create(
        model=server.id, messages=HELLO, temperature=0, max_tokens=12)
    assert response.object == "chat.completion"
    assert response.id.startswith("chatcmpl-")
    assert response.model == server.id
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = response.usage
    assert usage.prompt_tokens > 5
    assert 1 <= usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_chat_reassembles_to_the_greedy_answer(server):
    client = server.client()
    whole = client.chat.completions.create(
        model=server.id, messages=HELLO, temperature=0, max_tokens=16)
    pieces, finish, usage, roles = [], None, None, []
    for chunk in client.chat.completions.create(
            model=server.id, messages=HELLO, temperature=0, max_tokens=16, stream=True,
            stream_options={"include_usage": True}):
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    assert roles == ["assistant"]
    assert len(pieces) > 1
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage.completion_tokens == whole.usage.completion_tokens
    assert usage.prompt_tokens == whole.usage.prompt_tokens


def test_text_completion_and_its_stream(server):
    client = server.client()
    whole = client.completions.create(
        model=server.id, prompt="Once upon a time", temperature=0, max_tokens=10)
    assert whole.object == "text_completion"
    assert whole.id.startswith("cmpl-")
    streamed = "".join(
        chunk.choices[0].text
        for chunk in client.completions.create(
            model=server.id, prompt="Once upon a time", temperature=0, max_tokens=10, stream=True))
    assert streamed == whole.choices[0].text


def test_max_tokens_ends_with_length(server):
    response = server.client().completions.create(
        model=server.id, prompt="Once upon a time", temperature=0, max_tokens=3)
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 3


def test_stop_string_cuts_the_text(server):
    client = server.client()
    full = client.completions.create(
        model=server.id, prompt="Once upon a time", temperature=0, max_tokens=24).choices[0].text
    words = full.split()
    assert len(words) >= 4, full
    stop = " " + words[2]  # a word well inside the greedy text
    expected = full[:full.index(stop)]
    for stops in (stop, [stop, "never appears"]):
        response = client.completions.create(
            model=server.id, prompt="Once upon a time", temperature=0, max_tokens=24, stop=stops)
        assert response.choices[0].text == expected
        assert response.choices[0].finish_reason == "stop"


def test_seeded_sampling_repeats(server):
    client = server.client()
    texts = [
        client.completions.create(
            model=server.id, prompt="Once upon a time", temperature=1.0, top_p=0.9, seed=1234,
            max_tokens=8, extra_body={"top_k": 20, "min_p": 0.0, "repetition_penalty": 1.1},
            frequency_penalty=0.5, presence_penalty=0.5).choices[0].text
        for _ in range(2)
    ]
    assert texts[0] == texts[1]


def test_absurd_max_tokens_ends_at_the_context(tiny_server):
    """The tiny server's context is 128 tokens: asking for 10^12 tokens is answered, cut there."""
    response = requests.post(tiny_server.url + "/v1/completions", timeout=60, json={
        "prompt": "Once upon a time", "temperature": 0, "max_tokens": 10**12})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["total_tokens"] <= 129
