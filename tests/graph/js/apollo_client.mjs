// Apollo Client 4, set up as a storefront would: InMemoryCache with relayStylePagination on
// `products`, and the automatic persisted queries link in front of the HTTP link.
//
//   node tests/graph/js/apollo_client.mjs <graphql url> <page size>
//
// Runs the listing query, then pages forward with fetchMore until hasNextPage is false. Every
// HTTP exchange is recorded (method, whether the body held the query text and/or the hash, the
// status and the error messages), and the merged list the cache then holds is read back.
// Prints JSON: {requests: [...], pages: [...], cached: {names, hasNextPage}}; exits 1 on an error.
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { relayStylePagination } from "@apollo/client/utilities";

const [url, pageSize] = process.argv.slice(2);
if (!url || !pageSize) {
  console.error("usage: node apollo_client.mjs <graphql url> <page size>");
  process.exit(2);
}

const requests = [];
async function recordingFetch(input, init = {}) {
  const body = init.body ? JSON.parse(init.body) : {};
  const response = await fetch(input, init);
  const text = await response.clone().text();
  let errors = [];
  try {
    errors = (JSON.parse(text).errors ?? []).map((e) => e.message);
  } catch {
    errors = [`(not JSON) ${text.slice(0, 200)}`];
  }
  requests.push({
    method: init.method ?? "GET",
    sentQuery: typeof body.query === "string",
    sentHash: Boolean(body.extensions?.persistedQuery?.sha256Hash),
    status: response.status,
    errors,
  });
  return response;
}

// The type policy a storefront needs (the README shows it): pages of `products` with the same
// filter and order merge into one list; `first` and `after` only say which page.
const cache = new InMemoryCache({
  typePolicies: { Query: { fields: { products: relayStylePagination(["filter", "orderBy"]) } } },
});
const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const client = new ApolloClient({
  cache,
  link: new PersistedQueryLink({ sha256 }).concat(new HttpLink({ uri: url, fetch: recordingFetch })),
});

const LISTING = gql`
  query Listing($first: Int!, $after: String, $orderBy: ProductOrder) {
    products(first: $first, after: $after, orderBy: $orderBy) {
      edges { cursor node { id name } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const variables = { first: Number(pageSize), orderBy: "NEWEST" };

async function pageForward() {
  const pages = [];
  const observable = client.watchQuery({ query: LISTING, variables });
  const first = await new Promise((resolve, reject) => {
    const subscription = observable.subscribe({
      next: (result) => {
        if (result.dataState === "complete" || result.data?.products) {
          subscription.unsubscribe();
          resolve(result);
        }
      },
      error: reject,
    });
  });
  let products = first.data.products;
  pages.push(products.edges.map((e) => e.node.name));
  while (products.pageInfo.hasNextPage) {
    const more = await observable.fetchMore({ variables: { after: products.pageInfo.endCursor } });
    pages.push(more.data.products.edges.map((e) => e.node.name));
    products = more.data.products;
  }
  return pages;
}

// Backward paging (`last`/`before`, then `hasPreviousPage`/`startCursor`) belongs here, next to
// pageForward, once the API offers it (issue 15's backward-paging work): walk back from the end
// with fetchMore({ variables: { last, before: startCursor } }) and compare with the forward pages.

try {
  const pages = await pageForward();
  const merged = client.readQuery({ query: LISTING, variables });
  console.log(
    JSON.stringify({
      requests,
      pages,
      cached: {
        names: merged.products.edges.map((e) => e.node.name),
        hasNextPage: merged.products.pageInfo.hasNextPage,
      },
    })
  );
} catch (error) {
  console.log(JSON.stringify({ requests, error: String(error?.stack ?? error) }));
  process.exit(1);
}
