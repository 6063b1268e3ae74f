"""Editor configurations shipped inside the package (``codeslm.editors``).

The files here are data, not code: ``codeslm editor NAME`` prints or installs them. In a
checkout this folder is ``editors/``, the one copy of every configuration.
"""
