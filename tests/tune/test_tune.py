"""``codeslm tune`` end to end on a tiny model: examples from a git repository, training, the
adapter as PEFT and GGUF, loaded by real llama.cpp through codeslm's own loading path, the
held-out evaluation, and the refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codeslm.config import Config
from codeslm.errors import ModelError
from codeslm.tune import examples as ex
from codeslm.tune import store

from .conftest import HELD_OUT, Tuned, run_codeslm
from .sample_repo import NOT_LEARNED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

FIM_PROMPT = "<|fim_prefix|>def total(cart):\n    return <|fim_suffix|>\n<|fim_middle|>"


def _work_examples(tuned: Tuned) -> list[ex.Example]:
    info = store.AdapterInfo.read(tuned.adapter)
    work = tuned.adapter.with_name(tuned.adapter.name + ".work")
    assert info.base_sha256.startswith(tuned.adapter.name)
    return ex.load(work / "examples.jsonl")


def test_adapter_is_written_for_llama_cpp_and_vllm(tuned: Tuned) -> None:
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "adapter.gguf",
        "codeslm-adapter.json",
    ):
        assert (tuned.adapter / name).is_file(), name
    info = store.AdapterInfo.read(tuned.adapter)
    assert info.base_sha256 == store.gguf_sha256(tuned.gguf)
    assert info.steps > 0 and info.examples > 0 and info.final_loss is not None
    assert info.lora["rank"] == 4
    config = json.loads((tuned.adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4
    assert config["base_model_name_or_path"] == str(tuned.hf)
    from gguf import GGUFReader

    reader = GGUFReader(tuned.adapter / "adapter.gguf")
    kind = reader.fields["general.type"]
    assert bytes(kind.parts[kind.data[0]]).decode() == "adapter"
    assert any(t.name.endswith("lora_a") for t in reader.tensors)
    # The estimate before the bulk of the training, from the first steps.
    assert "s per example" in tuned.stderr and "fits" in tuned.stderr
    # --snapshots: the adapter one step in, written beside the final one
    snap = tuned.adapter.with_name(tuned.adapter.name + "-1e-05min")
    assert f"snapshot at 1e-05 min (1 steps): {snap}" in tuned.stdout
    assert store.is_finished(snap)
    early = store.AdapterInfo.read(snap)
    assert early.steps == 1 < info.steps and early.held_out == info.held_out


def test_held_out_and_unwanted_files_are_never_trained_on(tuned: Tuned) -> None:
    info = store.AdapterInfo.read(tuned.adapter)
    assert info.held_out == HELD_OUT
    assert info.split_seed == 3
    assert not set(info.train_files) & set(info.held_out)
    for path in NOT_LEARNED:
        assert path not in info.train_files + info.held_out, path
    examples = _work_examples(tuned)
    assert examples
    paths = {e.path for e in examples}
    assert paths <= set(info.train_files)
    assert not paths & set(HELD_OUT)
    # Nor are they context: the CLI hands the held-out files to the builder to hide.
    for e in examples:
        assert not any(f"<|file_sep|>{p}" in e.prompt for p in HELD_OUT), e.prompt
    secret_bits = ("abc123def456", "BEGIN RSA", "vendored_helper", "generated_thing")
    for e in examples:
        assert not any(bit in e.prompt or bit in e.target for bit in secret_bits)


def test_examples_are_the_engines_fim_prompts_with_cross_file_context(tuned: Tuned) -> None:
    examples = _work_examples(tuned)
    kinds = {e.kind for e in examples}
    assert kinds == {"api", "random"}
    for e in examples:
        assert e.prompt.rstrip().endswith("<|fim_middle|>")
        assert "<|fim_prefix|>" in e.prompt and "<|fim_suffix|>" in e.prompt
        # The current file's text up to the cursor ends the FIM prefix; the hidden text
        # follows nowhere in that file's part of the prompt.
        lines = (tuned.repo / e.path).read_text().split("\n")
        before = lines[e.line][: e.column]
        prefix = e.prompt.split("<|fim_prefix|>", 1)[1].split("<|fim_suffix|>", 1)[0]
        assert prefix.endswith(before)
        assert e.target == lines[e.line][e.column :].rstrip()
        suffix = e.prompt.split("<|fim_suffix|>", 1)[1]
        assert not suffix.startswith(e.target)
    with_context = [e for e in examples if e.kind == "api" and "<|file_sep|>" in e.prompt]
    assert with_context, "no API hole got another file's definitions"
    assert any("<|file_sep|>shop/money.py" in e.prompt for e in with_context)


@pytest.mark.parametrize("kv_reuse", ["insert", "prefix"])
def test_llama_cpp_applies_the_adapter_like_peft(
    tuned: Tuned, monkeypatch: pytest.MonkeyPatch, kv_reuse: str
) -> None:
    """codeslm's llama.cpp loading path finds the repository's adapter (auto), and the
    adapter moves llama.cpp's logits the way PEFT moves the Hugging Face model's, with either
    KV reuse (``insert``, the default, rebuilds the context after loading, which once dropped
    the adapter)."""
    import llama_cpp
    import numpy as np
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from codeslm.backends import llamacpp_model

    monkeypatch.setenv("CODESLM_HOME", str(tuned.home))
    monkeypatch.chdir(tuned.repo)

    def llama_logits(adapter: str) -> tuple[np.ndarray, str]:
        config = Config()
        config.completion.adapter = adapter
        config.completion.kv_reuse = kv_reuse
        llm, _ = llamacpp_model.load(config, tuned.gguf, threads=1, cancel_chunk=64)
        tokens = llamacpp_model.tokenize(llm, FIM_PROMPT)
        llm.reset()
        llm.eval(tokens)
        last = llama_cpp.llama_get_logits_ith(llm.ctx, -1)  # the last position's logits
        scores = np.ctypeslib.as_array(last, shape=(llm.n_vocab(),)).astype(np.float64)
        text = llm.create_completion(FIM_PROMPT, max_tokens=4, temperature=0.0)
        return scores, text["choices"][0]["text"]

    base, _ = llama_logits("none")
    tuned_scores, generated = llama_logits("auto")
    assert isinstance(generated, str)
    llama_delta = tuned_scores - base
    assert np.abs(llama_delta).max() > 1e-4, "the adapter changed nothing in llama.cpp"

    hf = AutoModelForCausalLM.from_pretrained(str(tuned.hf), dtype=torch.float32)
    ids = torch.tensor([_hf_ids(tuned.hf, FIM_PROMPT)])
    with torch.no_grad():
        before = hf(input_ids=ids).logits[0, -1].double().numpy()
        peft = PeftModel.from_pretrained(hf, str(tuned.adapter))
        after = peft(input_ids=ids).logits[0, -1].double().numpy()
    torch_delta = after - before
    correlation = np.corrcoef(llama_delta, torch_delta)[0, 1]
    assert correlation > 0.9, correlation


def _hf_ids(folder: Path, text: str) -> list[int]:
    from transformers import AutoTokenizer

    return list(AutoTokenizer.from_pretrained(str(folder)).encode(text, add_special_tokens=False))


def test_an_adapter_for_another_base_model_is_refused(tuned: Tuned, tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    shutil.copyfile(tuned.gguf, other)
    with other.open("ab") as fh:
        fh.write(b"\0" * 32)  # another file: another identity
    with pytest.raises(ModelError, match="was trained for base model"):
        store.resolve_setting(str(tuned.adapter), other, cwd=tuned.repo)
    source = tuned.repo / "shop" / "cart.py"
    done = run_codeslm(
        ["complete", f"{source}:12:8", "--model", str(other)],
        cwd=tuned.repo,
        home=tuned.home,
    )
    # auto: no adapter was tuned for that file, so none is loaded (and nothing is refused)
    assert done.returncode == 0, done.stderr
    # A named adapter made for another base model: one line, model error (exit code 3).
    refused = run_codeslm(
        [
            "complete",
            f"{source}:12:8",
            "--model",
            str(other),
            "--config",
            str(_config_with_adapter(tmp_path, tuned.adapter)),
        ],
        cwd=tuned.repo,
        home=tuned.home,
    )
    assert refused.returncode == 3, refused.stderr
    first = refused.stderr.strip().splitlines()[0]
    assert first.startswith("error: adapter ") and "was trained for base model" in first


def _config_with_adapter(folder: Path, adapter: Path) -> Path:
    config = folder / "config.toml"
    config.write_text(f'[completion]\nadapter = "{adapter}"\n')
    return config


def test_doctor_line_names_the_adapter(tuned: Tuned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESLM_HOME", str(tuned.home))
    line = store.describe("auto", tuned.gguf, cwd=tuned.repo)
    assert str(tuned.adapter / "adapter.gguf") in line and "held-out" in line
    assert store.describe("none", tuned.gguf, cwd=tuned.repo).startswith("none")


def test_eval_repo_scores_held_out_holes_with_and_without(tuned: Tuned) -> None:
    out = tuned.repo.parent / "eval.jsonl"
    done = run_codeslm(
        [
            "eval",
            "repo",
            ".",
            "--model",
            str(tuned.gguf),
            "--adapter",
            "auto",
            "--holes",
            "3",
            "--context",
            "repo",
            "--no-probe",
            "--max-tokens",
            "4",
            "--output",
            str(out),
        ],
        cwd=tuned.repo,
        home=tuned.home,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(x) for x in out.read_text().splitlines()[1:]]
    modes = {r["mode"] for r in rows}
    assert modes == {"repo", "repo+adapter"}
    assert {r["path"] for r in rows} <= set(HELD_OUT)
    by_mode = {m: sorted(r["hole"] for r in rows if r["mode"] == m) for m in modes}
    assert by_mode["repo"] == by_mode["repo+adapter"] and by_mode["repo"]
    table = done.stdout.splitlines()
    assert any(ln.startswith("repo+adapter") for ln in table)


def test_too_little_to_learn_from_is_said_and_nothing_is_written(
    tiny_model: tuple[Path, Path], tmp_path: Path
) -> None:
    hf, gguf = tiny_model
    repo = tmp_path / "small"
    repo.mkdir()
    (repo / "notes.txt").write_text("just words\n")
    home = tmp_path / "home"
    done = run_codeslm(
        ["tune", ".", "--model", str(hf), "--gguf", str(gguf), "--minutes", "1"],
        cwd=repo,
        home=home,
    )
    assert done.returncode == 2
    assert "too little to learn from" in done.stderr
    assert not any((home / "adapters").rglob("adapter.gguf"))
