"""``codeslm tune``: a LoRA adapter that specializes the base model to one repository.

The parts, one role each:

- :mod:`.files` chooses the repository's files (the workspace index's rules, tracked by git,
  no vendored code) and splits them by file into training and held-out sets;
- :mod:`.examples` makes fill-in-the-middle examples with the engine's own prompts (the
  planner of :mod:`codeslm.engine` over a tokenizer-only backend, with cross-file context);
- :mod:`.teacher` adds a bigger model's completions at the same holes (distillation);
- :mod:`.base` finds the base model's Hugging Face form and its identity;
- :mod:`.train` trains the LoRA (progress, time budget, checkpoints, resume);
- :mod:`.export` writes the PEFT adapter and the GGUF LoRA (llama.cpp's converter, from
  :mod:`.llama_src`);
- :mod:`.store` keeps adapters per repository and base model and finds the one to load
  (no heavy imports: the llama.cpp backend calls it).

Only :mod:`.store` may be imported without the ``codeslm[tune]`` extra.
"""
