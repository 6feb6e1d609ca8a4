"""Live metrics over GraphQL subscriptions (``graphql-transport-ws`` on ``/graphql/``).

- ``hub``: one listener per web process for the batches ``tracking.live`` hands over after
  each commit; it reads their totals once per batch and fills the matching subscriptions'
  mailboxes (newest totals per product, never a growing queue).
- ``stopping``: a server stop flushes the tracking queue and sends its updates before
  the sockets are closed (1012).
- ``resolvers``: the ``Subscription`` type (``productMetricsUpdated``, ``sellerMetricsUpdated``).
- ``consumer``: strawberry's Channels consumer with this API's authentication
  (session cookie or a bearer token in ``connection_init``) and connection bounds.
"""
