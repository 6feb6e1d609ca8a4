// A category's products paged forward (first/after) from a refetchable Category fragment.
import { graphql } from "react-relay";

export const categoryProducts = graphql`
  fragment CategoryProducts_category on Category
  @refetchable(queryName: "CategoryProductsPaginationQuery")
  @argumentDefinitions(first: { type: "Int", defaultValue: 20 }, after: { type: "String" }) {
    name
    products(first: $first, after: $after) @connection(key: "CategoryProducts_products") {
      edges { node { id name } }
    }
  }
`;
