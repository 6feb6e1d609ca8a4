// urql (@urql/core) with its persisted-queries exchange preferring GET, as a storefront that
// wants its listings served by an HTTP cache or CDN would set it up.
//
//   node tests/graph/js/urql_client.mjs <graphql url>
//
// Runs one listing query twice (the second time from the network, not urql's cache). Every HTTP
// exchange is recorded: method, whether the URL or body held the query text and/or the hash, the
// status, the Cache-Control header and the error messages.
// Prints JSON: {requests: [...], results: [data, data]}; exits 1 on an error.
import { createHash } from "node:crypto";
import { Client, fetchExchange, gql } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node urql_client.mjs <graphql url>");
  process.exit(2);
}

const requests = [];
async function recordingFetch(input, init = {}) {
  const method = init.method ?? "GET";
  const sent = method === "GET" ? Object.fromEntries(new URL(String(input)).searchParams) : JSON.parse(init.body);
  const extensions = typeof sent.extensions === "string" ? JSON.parse(sent.extensions) : sent.extensions;
  const response = await fetch(input, init);
  const text = await response.clone().text();
  let errors = [];
  try {
    errors = (JSON.parse(text).errors ?? []).map((e) => e.message);
  } catch {
    errors = [`(not JSON) ${text.slice(0, 200)}`];
  }
  requests.push({
    method,
    sentQuery: typeof sent.query === "string" && sent.query.length > 0,
    sentHash: Boolean(extensions?.persistedQuery?.sha256Hash),
    status: response.status,
    cacheControl: response.headers.get("cache-control"),
    errors,
  });
  return response;
}

const client = new Client({
  url,
  fetch: recordingFetch,
  preferGetMethod: false, // only hashed queries go over GET (the exchange's choice below)
  exchanges: [
    persistedExchange({
      preferGetForPersistedQueries: true,
      generateHash: async (query) => createHash("sha256").update(query).digest("hex"),
    }),
    fetchExchange,
  ],
});

const LISTING = gql`
  query CachedListing {
    products(first: 2) {
      edges { node { name } }
    }
  }
`;

const results = [];
for (let i = 0; i < 2; i++) {
  const result = await client.query(LISTING, {}, { requestPolicy: "network-only" }).toPromise();
  if (result.error) {
    console.log(JSON.stringify({ requests, error: String(result.error) }));
    process.exit(1);
  }
  results.push(result.data);
}
console.log(JSON.stringify({ requests, results }));
