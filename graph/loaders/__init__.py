"""Per-request dataloaders, named ``<Target>By<Key>Loader`` (Saleor's convention).

Use them as ``CategoryByIdLoader(info.context).load(category_id)``: the first call
in a request creates the loader in the context, later calls reuse it.
"""

from graph.loaders.catalogue import (
    CategoryByIdLoader,
    CategoryTreeLoader,
    ChildrenByCategoryIdLoader,
    FavoriteByProductIdLoader,
    ImagesByProductIdLoader,
    RatingByProductIdLoader,
    ReviewPageByProductIdLoader,
    UserByIdLoader,
)
from graph.loaders.metrics import MetricsByProductLoader, SoldProduct
from graph.loaders.products import ProductCountByCategoryIdLoader, ProductPageByCategoryIdLoader

__all__ = [
    "CategoryByIdLoader",
    "CategoryTreeLoader",
    "ChildrenByCategoryIdLoader",
    "FavoriteByProductIdLoader",
    "ImagesByProductIdLoader",
    "MetricsByProductLoader",
    "ProductCountByCategoryIdLoader",
    "ProductPageByCategoryIdLoader",
    "RatingByProductIdLoader",
    "ReviewPageByProductIdLoader",
    "SoldProduct",
    "UserByIdLoader",
]
