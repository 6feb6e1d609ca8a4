// The storefront listing paged backward (last/before: @connection reads them, and the
// pagination query refetches through the Query root).
import { graphql } from "react-relay";

export const productList = graphql`
  fragment ProductList_query on Query
  @refetchable(queryName: "ProductListPaginationQuery")
  @argumentDefinitions(last: { type: "Int", defaultValue: 10 }, before: { type: "String" }) {
    products(last: $last, before: $before) @connection(key: "ProductList_products") {
      totalCount
      edges { node { id ...ProductCard_product } }
    }
  }
`;

export const productListQuery = graphql`
  query ProductListQuery {
    ...ProductList_query
  }
`;
