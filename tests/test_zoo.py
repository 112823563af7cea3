"""Model zoo and nc-image: downloads from a real HTTP server on 127.0.0.1, the store, the codec."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from nccli import container
from nccli.models.image import ARCHITECTURES
from nccli.zoo import paths, registry, store


def checkpoint_bytes(
    seed: int, architecture: str = "mbt2018-mean", n: int = 16, m: int = 24
) -> bytes:
    """A CompressAI-style checkpoint (a torch.save'd state_dict) with random weights."""
    torch.manual_seed(seed)
    state = {
        k: v for k, v in ARCHITECTURES[architecture](n, m).state_dict().items() if "table_" not in k
    }
    buffer = io.BytesIO()
    torch.save({"state_dict": state}, buffer)
    return buffer.getvalue()


class Server:
    """Serves fixed responses on a free loopback port and counts requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, int | None]] = {}
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                status, body, declared = server.routes.get(self.path, (404, b"not found", None))
                self.send_response(status)
                self.send_header("Content-Length", str(declared if declared else len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


@pytest.fixture
def zoo(tmp_path, monkeypatch, server):
    """A zoo whose entries point at the loopback server."""
    configs = tmp_path / "configs"
    configs.mkdir()
    good = checkpoint_bytes(1)
    digest = hashlib.sha256(good).hexdigest()
    server.routes["/good.pth"] = (200, good, None)
    server.routes["/bad-hash.pth"] = (200, checkpoint_bytes(2), None)
    server.routes["/truncated.pth"] = (200, good[: len(good) // 2], len(good))
    server.routes["/big.pth"] = (200, checkpoint_bytes(3, n=32, m=24), None)
    lines = ['architecture = "mbt2018-mean"', 'metric = "mse"', 'source = "test"', 'card = "t"']
    for quality, path, sizes in [
        (1, "good", (16, 24)),
        (2, "bad-hash", (16, 24)),
        (3, "truncated", (16, 24)),
        (4, "missing", (16, 24)),
        (5, "big", (16, 24)),
    ]:
        prefix = (
            digest[:8]
            if path != "big"
            else hashlib.sha256(server.routes["/big.pth"][1]).hexdigest()[:8]
        )
        lines += [
            f"[qualities.{quality}]",
            f"N = {sizes[0]}",
            f"M = {sizes[1]}",
            f'url = "{server.url}/{path}.pth"',
            f'sha256_prefix = "{prefix}"',
        ]
    (configs / "test.toml").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("NCCLI_CONFIGS", str(configs))
    registry.entries.cache_clear()
    store.load_model.cache_clear()
    yield server
    registry.entries.cache_clear()
    store.load_model.cache_clear()


def store_files(home: Path) -> list[str]:
    return sorted(p.name for p in home.rglob("*") if p.is_file())


def test_pull_verifies_and_converts_to_safetensors(cli, zoo, isolated_home):
    result = cli("models", "pull", "mbt2018-mean-mse-q1")
    assert result.returncode == 0, result.stderr
    assert store_files(isolated_home) == ["mbt2018-mean-mse-q1.safetensors"]
    assert zoo.hits == 1
    again = cli("models", "pull", "mbt2018-mean-mse-q1")
    assert again.returncode == 0 and zoo.hits == 1  # downloaded once
    info = json.loads(cli("models", "info", "mbt2018-mean-mse-q1").stdout)
    assert info["in_store"] and len(info["sha256"]) == 64 and info["parameters"] > 0
    listing = json.loads(cli("models", "list", "--json").stdout)
    assert {e["id"]: e["available"] for e in listing}["mbt2018-mean-mse-q1"]


@pytest.mark.parametrize(
    ("model_id", "code", "message"),
    [
        ("mbt2018-mean-mse-q2", 3, "does not start with the expected"),
        ("mbt2018-mean-mse-q3", 3, "download ended early"),
        ("mbt2018-mean-mse-q4", 2, "server answered 404"),
        (
            "mbt2018-mean-mse-q5",
            3,
            "checkpoint has N=32, M=24 but mbt2018-mean-mse-q5 expects N=16",
        ),
        ("nope", 2, "no zoo model 'nope'"),
    ],
)
def test_bad_downloads_leave_nothing_behind(cli, zoo, isolated_home, model_id, code, message):
    result = cli("models", "pull", model_id)
    assert result.returncode == code, result.stderr
    assert message in result.stderr.decode()
    assert store_files(isolated_home) == []


def test_offline_mode_never_touches_the_network(cli, zoo, isolated_home):
    result = cli("models", "pull", "mbt2018-mean-mse-q1", env={"NCCLI_OFFLINE": "1"})
    assert result.returncode == 2
    assert b"NCCLI_OFFLINE" in result.stderr
    assert zoo.hits == 0


def test_nc_image_round_trip_and_missing_or_changed_weights(cli, zoo, tmp_path, photo_path):
    assert cli("models", "pull", "mbt2018-mean-mse-q1").returncode == 0
    encode = cli("encode", photo_path, "-o", tmp_path / "x.ncc", "-c", "nc-image", "-Q", "1")
    assert encode.returncode == 0, encode.stderr
    header = container.loads((tmp_path / "x.ncc").read_bytes()).header
    assert header.model.id == "mbt2018-mean-mse-q1"
    assert header.entropy_coder.name == "constriction-ans"
    assert header.fields == {"tile": 0}
    decode = cli("decode", tmp_path / "x.ncc", "-o", tmp_path / "y.png")
    assert decode.returncode == 0, decode.stderr

    weights = paths.weights_path("mbt2018-mean-mse-q1")
    original = weights.read_bytes()
    weights.unlink()
    missing = cli("decode", tmp_path / "x.ncc", "-o", tmp_path / "z.png")
    assert missing.returncode == 2
    assert b"nccli models pull mbt2018-mean-mse-q1" in missing.stderr

    other = tmp_path / "other.pth"
    other.write_bytes(checkpoint_bytes(7))
    imported = cli("models", "import", other, "--id", "mbt2018-mean-mse-q1")
    assert imported.returncode == 0, imported.stderr
    changed = cli("decode", tmp_path / "x.ncc", "-o", tmp_path / "z.png")
    assert changed.returncode == 3
    assert b"pull or import the same weights" in changed.stderr
    weights.write_bytes(original)


def test_nc_image_any_size_and_grey(zoo, tmp_path):
    import nccli

    store.pull("mbt2018-mean-mse-q1")
    for shape in [(1, 1, 3), (5, 3, 3), (70, 130, 1)]:
        pixels = (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)
        decoded, _info = nccli.decode(nccli.encode(pixels, "nc-image", quality=1))
        assert decoded.shape == shape


def test_eval_cache_knows_the_weights(cli, zoo, tmp_path, photo_path):
    assert cli("models", "pull", "mbt2018-mean-mse-q1").returncode == 0
    args = ("eval", photo_path, "-c", "nc-image", "-Q", "1", "--json", "-")
    first = json.loads(cli(*args).stdout)["results"][0]
    assert not first["cached"] and first["error"] is None
    assert json.loads(cli(*args).stdout)["results"][0]["cached"]
    other = tmp_path / "other.pth"
    other.write_bytes(checkpoint_bytes(9))
    assert cli("models", "import", other, "--id", "mbt2018-mean-mse-q1").returncode == 0
    assert not json.loads(cli(*args).stdout)["results"][0]["cached"]  # new weights, new result


def test_nc_image_tiles_code_independently(zoo, tmp_path):
    import nccli

    store.pull("mbt2018-mean-mse-q1")
    pixels = (np.random.default_rng(1).random((150, 200, 3)) * 255).astype(np.uint8)
    tiled = nccli.encode(pixels, "nc-image", quality=1, tile=128)
    parsed = container.loads(tiled)
    assert parsed.header.fields == {"tile": 128}
    assert len(parsed.payloads()) == 2 * 4  # 2 x 2 tiles, y and z each
    decoded, _ = nccli.decode(tiled)
    corner, _ = nccli.decode(nccli.encode(pixels[:128, :128], "nc-image", quality=1))
    np.testing.assert_array_equal(decoded[:128, :128], corner)  # a tile decodes on its own
    with pytest.raises(nccli.errors.UsageError, match="multiple of 64"):
        nccli.encode(pixels, "nc-image", quality=1, tile=100)
    short = container.dumps(parsed.header, [(container.DATA, p) for p in parsed.payloads()[:-1]])
    with pytest.raises(nccli.errors.InvalidInputError, match="7 chunks, 8 expected"):
        nccli.decode(short)


def test_import_refuses_bad_checkpoints(cli, zoo, tmp_path, isolated_home):
    wrong_arch = tmp_path / "f.pth"
    wrong_arch.write_bytes(checkpoint_bytes(1, architecture="bmshj2018-factorized"))
    result = cli("models", "import", wrong_arch, "--arch", "mbt2018-mean", "--id", "x")
    assert result.returncode == 3 and b"not a mbt2018-mean checkpoint" in result.stderr

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pth"
    torch.save({"g_a.0.weight": Evil()}, evil)
    result = cli("models", "import", evil, "--arch", "mbt2018-mean", "--id", "y")
    assert result.returncode == 3 and b"this must never run" not in result.stdout
    assert b"not a loadable checkpoint" in result.stderr

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    assert cli("models", "import", garbage, "--arch", "mbt2018-mean").returncode == 3
    assert cli("models", "import", garbage).returncode == 2  # no architecture given
    assert (
        cli("models", "import", tmp_path / "absent.pth", "--arch", "mbt2018-mean").returncode == 2
    )
    assert store_files(isolated_home) == []


def test_corrupt_safetensors_in_the_store(cli, zoo, tmp_path, photo_path):
    assert cli("models", "pull", "mbt2018-mean-mse-q1").returncode == 0
    paths.weights_path("mbt2018-mean-mse-q1").write_bytes(b"\x00" * 64)
    result = cli("encode", photo_path, "-o", tmp_path / "x.ncc", "-c", "nc-image", "-Q", "1")
    assert result.returncode == 3
    assert b"not valid nccli weights" in result.stderr
