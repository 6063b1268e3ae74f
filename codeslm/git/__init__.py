"""Git assistance: commit messages, reviews and the prepare-commit-msg hook.

From a repository to a prompt: :mod:`.repo` runs git, :mod:`.diff` parses its patches,
:mod:`.changes` filters them (:mod:`.filters`) and scrubs secrets (:mod:`.secrets`), and
:mod:`.budget` fits them into the token budget. :mod:`.message` (with the habits
:mod:`.style` learns from the history) and :mod:`.review` ask the model; :mod:`.conventional`,
:mod:`.rules` and :mod:`.findings` make its answers valid, :mod:`.report` prints reviews.
The hook is :mod:`.commit_hook`, :mod:`.prepare` and :mod:`.install`; :mod:`.ahead` writes its
message before ``git commit`` runs and :mod:`.prepared` keeps it for the hook.
"""
