"""Signals the catalogue sends so that other apps can react without being imported here.

``products_bulk_created`` fires after products are inserted with ``bulk_create``
(which skips ``post_save``), with ``product_ids``: the ids that were inserted.
"""

from django.dispatch import Signal

products_bulk_created = Signal()

# Sent by the ASGI application when the server has started (ASGI lifespan), before the
# first request: apps start per-process background work here.
server_started = Signal()

# Sent by the ASGI application when the server shuts down (ASGI lifespan), after
# in-flight requests finished: apps drain background work here.
server_shutdown = Signal()

# Domain events other apps (tracking) react to; sent inside the transaction that
# made the change, so a receiver that writes joins that transaction.
# favorite_changed(product_id, user_id, added: bool)
favorite_changed = Signal()
# cart_changed(product_id, user_id, visitor_key, added: bool, quantity: int)
cart_changed = Signal()
# order_placed(order, items: list[OrderItem])
order_placed = Signal()
# account_erased(user_id, favorite_product_ids: list[int]): a shopper's personal data was
# erased (marketplace.services.privacy), sent inside the erasing transaction; the product ids
# are those of the favorites it removed, one per favorite.
account_erased = Signal()
