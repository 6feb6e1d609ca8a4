"""Helpers for the tests that attack the live server: ``test_fuzzing`` (schemathesis) and
``test_hostile_inputs`` (hand-made hostile requests).

- ``server``: the live server with the environment those tests need (rate limits off,
  production mode);
- ``seed``: committed catalogue data, API tokens, and the sum of every metrics counter;
- ``strategies``: Hypothesis strategies for the ID, Decimal and String scalars;
- ``checks``: what a good answer is (never a server fault, always a well-formed GraphQL
  response whose ``data`` matches the document that was sent).
"""
