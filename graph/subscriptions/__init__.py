"""Live metrics over GraphQL subscriptions (``graphql-transport-ws`` on ``/graphql/``).

- ``hub``: one listener per web process on the channel layer group that
  ``tracking.live`` publishes to after each applied batch; it hands each message to the
  matching subscriptions' mailboxes (newest totals per product, never a growing queue).
- ``resolvers``: the ``Subscription`` type (``productMetricsUpdated``, ``sellerMetricsUpdated``).
- ``consumer``: strawberry's Channels consumer with this API's authentication
  (session cookie or a bearer token in ``connection_init``) and connection bounds.
"""
