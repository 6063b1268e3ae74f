"""codeslm: local code completion, generation and git assistance with small code models.

Importing the package is cheap and uses only the standard library; the heavy parts (llama.cpp,
tree-sitter, pygls) load when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
