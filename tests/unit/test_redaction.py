"""Redaction of text the model rewrites: markers out, originals back in (issue 18)."""

from __future__ import annotations

from codeslm.actions import RefactorRequest, apply_answer, plan_refactor
from codeslm.redaction import redact_restorable
from codeslm.textedit import apply_edits
from codeslm.types import Document, Position, Range

TOKEN = "Zx8Qp2Lm9Rt4Vw7Yb1Nc6Hd3Jf5Kg0Se2UaT7hW"
KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
       "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
       "QyNTUxOQAAACBsZXQgbWUgYmUgYSB0ZXN0IGtleSBub3QgYSByZWFsIG9uZSBvayBhbmQg\n"
       "-----END OPENSSH PRIVATE KEY-----")


def test_markers_are_numbered_and_put_back() -> None:
    text = f'A = 1\nAPI_TOKEN = "{TOKEN}"\nKEY = """\n{KEY}\n"""\nB = 2'
    red = redact_restorable(text)
    assert TOKEN not in red.text and "b3BlbnNzaC1rZXkt" not in red.text
    assert "<redacted:1>" in red.text and "<redacted:2>" in red.text
    assert red.restore(red.text) == text
    # The model kept the markers while changing other lines: the secrets come back whole.
    answer = red.text.replace("A = 1", "A = 10").replace("B = 2", "B = 20")
    assert red.restore(answer) == text.replace("A = 1", "A = 10").replace("B = 2", "B = 20")


def test_text_without_secrets_is_untouched() -> None:
    red = redact_restorable("def f(x):\n    return x + 1\n")
    assert red.text == "def f(x):\n    return x + 1\n" and red.restore("anything") == "anything"


def test_an_edit_refactor_never_sends_nor_overwrites_a_secret() -> None:
    source = f'def connect():\n    token = "{TOKEN}"\n    return open_session(token)\n'
    request = RefactorRequest("edit", Document(source, "/proj/app.py", "python"),
                              Range(Position(0, 0), Position(3, 0)), instruction="add a timeout",
                              root="/proj")
    plan = plan_refactor(request)
    prompt = "".join(m.content for m in plan.messages)
    assert TOKEN not in prompt and "<redacted:1>" in prompt
    # The model rewrote the function and copied the marker.
    answer = ('```python\ndef connect(timeout=10):\n    token = "<redacted:1>"\n'
              "    return open_session(token, timeout=timeout)\n```")
    (change,) = apply_answer(plan, answer)
    result = apply_edits(source, list(change.edits))
    assert f'token = "{TOKEN}"' in result and "timeout=timeout" in result
    assert "<redacted" not in result


async def test_completion_prompt_hides_the_files_secrets_but_not_the_word_being_typed() -> None:
    from codeslm.backends.fake import FakeBackend
    from codeslm.config import Config
    from codeslm.engine import CompletionEngine

    source = (f'LOCAL_TOKEN = "{TOKEN}"\n\n\ndef area(r):\n    return \n\n\n'
              f'OTHER = "{TOKEN[::-1]}"\n')
    backend = FakeBackend("3.14159 * r * r")
    engine = CompletionEngine(backend, Config(backend="fake"))  # type: ignore[arg-type]
    completion = await engine.complete(Document(source, "geo.py", "python"), Position(4, 11))
    assert completion.text == "3.14159 * r * r"  # the answer is placed as before
    prompt = backend.requests[-1].prompt or ""
    assert TOKEN not in prompt and TOKEN[::-1] not in prompt and "def area(r):" in prompt
    # Typing a token: the word at the cursor reaches the model (it has to continue it).
    typing = source.replace("    return \n", "    key = 'ghp_abcdefghijklmnopqrstuvwxyz0123\n")
    await engine.complete(Document(typing, "geo.py", "python"), Position(4, 45))
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123" in (backend.requests[-1].prompt or "")
