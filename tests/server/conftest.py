"""Fixtures for the `quant serve` end-to-end tests: servers started on 127.0.0.1 with a free port
(--port 0; the port is read from the server's log), stopped with SIGTERM, which must end them with
exit status 0."""

import itertools
import os
import pathlib
import re
import signal
import subprocess
import time

import openai
import pytest
import requests

LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")
_server_numbers = itertools.count()


def pytest_addoption(parser):
    parser.addoption("--quant", required=True, help="the built quant binary")
    parser.addoption("--tiny-model", default="", help="stories260K-f32.gguf (skip when absent)")
    parser.addoption("--default-model", default="", help="SmolLM2-135M-Instruct (skip when empty)")


class QuantServer:
    """One `quant serve` process; its stdout and stderr go to a log file."""

    def __init__(self, quant, model, args, log_dir):
        self.log_path = pathlib.Path(log_dir) / f"serve-{next(_server_numbers)}.log"
        self._log = open(self.log_path, "wb")
        command = [quant, "serve", model, "--host", "127.0.0.1", "--port", "0", *args]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self._wait_for_port(timeout=60)
        self.id = requests.get(self.url + "/v1/models", timeout=10).json()["data"][0]["id"]

    def _wait_for_port(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_bytes())
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                pytest.fail("quant serve exited with %d:\n%s" % (self.process.returncode, self.log()))
            time.sleep(0.02)
        self.process.kill()
        pytest.fail("quant serve did not start listening:\n" + self.log())

    def log(self):
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def rss_kib(self):
        status = pathlib.Path("/proc/%d/status" % self.process.pid).read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))

    def health(self):
        response = requests.get(self.url + "/health", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def client(self):
        return openai.OpenAI(base_url=self.url + "/v1", api_key="unused", max_retries=0, timeout=120)

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status (None when it had to be killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._log.close()
                return None
        self._log.close()
        return self.process.returncode


@pytest.fixture(scope="session")
def start_server(request, tmp_path_factory):
    """start_server(model_path, *args) -> QuantServer; each is stopped at the end of the session,
    and must exit with status 0 (unless the test stopped it itself)."""
    quant = request.config.getoption("--quant")
    log_dir = tmp_path_factory.mktemp("serve-logs")
    started = []

    def start(model, *args):
        server = QuantServer(quant, model, list(args), log_dir)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            status = server.stop()
            assert status == 0, "quant serve exited with %s:\n%s" % (status, server.log())


def model_path(request, option, what):
    path = request.config.getoption(option)
    if not path:
        pytest.skip("skipped: no %s configured" % what)
    if not os.path.exists(path):
        pytest.skip("skipped: %s not found at %s" % (what, path))
    return path


@pytest.fixture(scope="session")
def tiny_model(request):
    return model_path(request, "--tiny-model", "tiny model (../shared)")


@pytest.fixture(scope="session")
def default_model(request):
    return model_path(request, "--default-model", "default model (QUANT_DEFAULT_MODEL)")


@pytest.fixture(scope="session")
def tiny_server(start_server, tiny_model):
    return start_server(tiny_model, "--parallel", "2", "--queue", "8", "-t", "1")


@pytest.fixture(scope="session")
def default_server(start_server, default_model):
    return start_server(default_model, "--parallel", "1", "-t", "2", "-c", "1024")


@pytest.fixture(params=["tiny", "default"])
def server(request):
    """Each functional test runs against the tiny model and the default one."""
    return request.getfixturevalue(request.param + "_server")
