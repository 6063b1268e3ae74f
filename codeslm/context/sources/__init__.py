"""The candidate sources of the context builder, from the cursor outward.

Each is a :class:`~codeslm.context.request.CandidateSource`: :mod:`.scope` (the enclosing
definitions' headers), :mod:`.definitions` (what the names near the cursor refer to) and
:mod:`.similar` (code elsewhere like the lines before the cursor). The builder
(:mod:`codeslm.context.builder`) asks each in that order and selects among their snippets.
"""
