// Any object by its global ID, and a batch of them.
import { graphql } from "react-relay";

export const nodeQuery = graphql`
  query NodeQuery($id: ID!, $ids: [ID!]!) {
    node(id: $id) {
      id
      ...ProductCard_product @alias
      ... on Order { total }
    }
    nodes(ids: $ids) { id ... on Seller { displayName } ... on Review { rating } }
  }
`;
