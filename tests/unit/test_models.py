"""Model files: verified atomic writes, GGUF checks, resolution order and its errors."""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import pytest

from codeslm.errors import ModelCorrupt, ModelNotFound
from codeslm.runtime.models import gguf, registry, resolve, store
from codeslm.runtime.models.registry import ModelSpec, PypiSlice
from tests.ggufgen import tiny_gguf


def opener(data: bytes):
    return lambda: contextlib.closing(io.BytesIO(data))


def test_write_verified_concatenates_and_marks(tmp_path: Path) -> None:
    parts = [b"GGUF" + b"a" * 10, b"b" * 7]
    whole = b"".join(parts)
    dest = tmp_path / "m.gguf"
    seen: list[int] = []
    store.write_verified(dest, [opener(p) for p in parts], expected_size=len(whole),
                         expected_sha256=hashlib.sha256(whole).hexdigest(),
                         progress=lambda done, total: seen.append(done), origin="test")
    assert dest.read_bytes() == whole and seen[-1] == len(whole)
    assert store.read_marker(dest)["sha256"] == hashlib.sha256(whole).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf", "m.gguf.verified"]


@pytest.mark.parametrize("wrong", ["size", "sha"])
def test_mismatch_leaves_nothing_behind(tmp_path: Path, wrong: str) -> None:
    data = b"GGUF" + b"x" * 100
    size = len(data) + (1 if wrong == "size" else 0)
    sha = hashlib.sha256(data).hexdigest() if wrong == "size" else "0" * 64
    with pytest.raises(ModelCorrupt, match="expected"):
        store.write_verified(tmp_path / "m.gguf", [opener(data)], expected_size=size,
                             expected_sha256=sha, origin="test")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    class Broken(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.write_verified(tmp_path / "m.gguf", [lambda: contextlib.closing(Broken())],
                             expected_size=None, expected_sha256=None, origin="test")
    assert list(tmp_path.iterdir()) == []


def test_gguf_header_and_truncation(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "t.gguf", elements=64)
    header = gguf.read_header(path)
    assert header.name == "tiny" and header.architecture == "llama"
    assert header.data_end == path.stat().st_size
    data = path.read_bytes()
    (tmp_path / "cut.gguf").write_bytes(data[:-10])
    with pytest.raises(ModelCorrupt, match=r"cut.gguf is truncated"):
        gguf.read_header(tmp_path / "cut.gguf")
    (tmp_path / "head.gguf").write_bytes(data[:30])
    with pytest.raises(ModelCorrupt, match="truncated inside its GGUF header"):
        gguf.read_header(tmp_path / "head.gguf")
    (tmp_path / "notgguf.gguf").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelCorrupt, match="not a GGUF model file"):
        gguf.read_header(tmp_path / "notgguf.gguf")


def test_real_model_truncated_copy_is_refused(model_path: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with model_path.open("rb") as src:
        cut.write_bytes(src.read(8_000_000))
    with pytest.raises(ModelCorrupt, match="is truncated"):
        resolve.resolve(str(cut))


def test_resolve_paths_and_names(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="does not exist"):
        resolve.resolve(str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelNotFound, match="is a directory"):
        resolve.resolve(str(tmp_path) + "/")
    with pytest.raises(ModelNotFound, match="unknown model 'gpt-7'"):
        resolve.resolve("gpt-7")
    with pytest.raises(ModelNotFound) as err:
        resolve.resolve("qwen2.5-coder-1.5b")  # empty CODESLM_HOME cache, no fetch
    assert "not downloaded yet" in str(err.value)
    assert "codeslm models pull" in (err.value.hint or "")
    good = tiny_gguf(tmp_path / "good.gguf")
    assert resolve.resolve(str(good)).source == "path"


def _fake_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, parts: list[bytes], *,
               sha: str | None = None) -> ModelSpec:
    """A registry entry whose slices are 'installed' as a package on sys.path."""
    root = tmp_path / "site"
    slices = []
    for n, data in enumerate(parts, 1):
        pkg = root / f"fakeslice{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / "p.bin").write_bytes(data)
        slices.append(PypiSlice(f"fakeslice{n}", "1.0", f"fakeslice{n}", "data/p.bin"))
    monkeypatch.syspath_prepend(str(root))
    whole = b"".join(parts)
    spec = ModelSpec(name="fake-model", description="test", filename="fake.gguf",
                     size=len(whole), sha256=sha or hashlib.sha256(whole).hexdigest(),
                     pypi=tuple(slices))
    monkeypatch.setattr(registry, "KNOWN_MODELS", (*registry.KNOWN_MODELS, spec))
    return spec


def test_assembles_from_installed_slices_then_uses_the_cache(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    data = tiny_gguf(tmp_path / "src.gguf").read_bytes()
    _fake_spec(monkeypatch, tmp_path, [data[:50], data[50:]])
    first = resolve.resolve("fake-model")
    assert first.source == "pypi (installed)" and first.path.read_bytes() == data
    assert resolve.resolve("fake-model").source == "cache"
    # A cached file that no longer matches is refused with the repair command, not used.
    first.path.write_bytes(data[:-4])
    with pytest.raises(ModelCorrupt) as err:
        resolve.resolve("fake-model")
    assert str(first.path) in str(err.value) and "pull --force fake-model" in (err.value.hint or "")
    assert resolve.resolve("fake-model", force=True).path.read_bytes() == data


def test_wrong_slices_never_reach_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tiny_gguf(tmp_path / "src.gguf").read_bytes()
    _fake_spec(monkeypatch, tmp_path, [data], sha="1" * 64)
    with pytest.raises(ModelCorrupt, match="SHA-256"):
        resolve.resolve("fake-model")
    assert not resolve.cached_path(registry.find_spec("fake-model")).exists()


def test_known_models_have_consistent_metadata() -> None:
    names = [s.name for s in registry.KNOWN_MODELS]
    assert len(names) == len(set(names)) and registry.DEFAULT_MODEL in names
    assert registry.DEFAULT_MODEL == "qwen2.5-coder-1.5b" == registry.find_spec("default").name
    small = registry.find_spec(registry.SMALL_MODEL)
    assert small is not None and small.size == 491_400_064 and len(small.pypi) == 6
    large = registry.find_spec(registry.DEFAULT_MODEL)
    assert large is not None and large.size == 1_117_320_768 and len(large.pypi) == 22
    assert registry.find_spec("QWEN2.5-CODER-1.5B").name == "qwen2.5-coder-1.5b"


def test_header_reader_agrees_with_the_gguf_package(tmp_path: Path) -> None:
    """Our per-command reader against llama.cpp's own gguf package (writer and reader), on a
    file with string arrays, numeric arrays and quantized tensors."""
    import gguf as ggml  # the gguf package; numpy comes with it
    import numpy as np

    path = tmp_path / "ref.gguf"
    writer = ggml.GGUFWriter(str(path), "llama")
    writer.add_name("reference")
    writer.add_context_length(4096)
    writer.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "héllo", "", "x" * 300])
    writer.add_array("tokenizer.ggml.scores", [0.5, -1.0, 2.0])
    writer.add_bool("flag", True)
    writer.add_tensor("f32", np.arange(64, dtype=np.float32))
    writer.add_tensor("f16", np.zeros((4, 32), dtype=np.float16))
    q8 = np.zeros((2, 34), dtype=np.uint8)  # two Q8_0 blocks of 32 values, raw bytes
    writer.add_tensor("q8", q8, raw_shape=(2, 34), raw_dtype=ggml.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    ours = gguf.read_header(path)
    theirs = ggml.GGUFReader(path)
    assert ours.architecture == "llama" and ours.name == "reference"
    assert ours.context_length == 4096
    assert ours.metadata["tokenizer.ggml.tokens"] == 5  # arrays as their length
    assert ours.metadata["flag"] is True
    assert ours.tensor_count == len(theirs.tensors) == 3
    for key, fld in theirs.fields.items():
        if key.startswith("GGUF."):
            continue
        expected = len(fld.data) if fld.types[0] == ggml.GGUFValueType.ARRAY else fld.contents()
        assert ours.metadata[key] == pytest.approx(expected), key
    last = max(theirs.tensors, key=lambda t: t.data_offset + t.n_bytes)
    assert ours.data_end == last.data_offset + last.n_bytes
    for ttype, (block, nbytes) in gguf._TYPE_SIZES.items():
        assert ggml.GGML_QUANT_SIZES[ggml.GGMLQuantizationType(ttype)] == (block, nbytes)
