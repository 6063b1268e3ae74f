"""What codeslm runs or installs beside itself to serve a model.

- :mod:`.models`: known models, finding, downloading and verifying GGUF files, and their
  Hugging Face form for vLLM;
- :mod:`.serving`: the servers behind ``codeslm serve`` (vLLM, llama.cpp), from launch plan to
  stopped process;
- :mod:`.llama_build`: building llama-cpp-python for this CPU; :mod:`.runtime_check`: whether
  the installed build decodes here;
- :mod:`.vllm_env`: codeslm's own environment for vLLM's CPU build.

Standard library only at import time: ``codeslm.bootstrap`` imports :mod:`.llama_build`
before any dependency is installed.
"""
