"""Threads where reports live: Hub discussions, Discourse topics, GitHub issues.

`urls` tells which kind a URL is, one fetcher module per service reads it through the project's HTTP client
(bounded reads, token policy), and `model` is what they return: a title and numbered posts, each saying
whether a maintainer wrote it. Classification is `hfdiag.explain.read_parts` (the same engine as pasted text).
"""
