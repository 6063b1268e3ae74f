"""The codeslm language server (installed as ``codeslm.lsp``): thin pygls handlers over the core."""
