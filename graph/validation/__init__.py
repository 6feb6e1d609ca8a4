"""Limits on a document, checked before graphql-core validates or runs it.

``shape`` measures a document in one linear pass (fragments memoised); ``limits`` is the
schema extension that parses safely, refuses what is over a limit before any other walk,
and reports the cost; ``request`` checks a request body's JSON before GraphQL sees it.
"""
