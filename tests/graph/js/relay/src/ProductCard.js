// A product card that Relay can refetch on its own (@refetchable needs Product to be a Node
// and the schema to have node(id:)).
import { graphql } from "react-relay";

export const productCard = graphql`
  fragment ProductCard_product on Product @refetchable(queryName: "ProductCardRefetchQuery") {
    name
    price
    inStock
    rating { average count }
  }
`;
