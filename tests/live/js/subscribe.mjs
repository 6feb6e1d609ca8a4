// The graphql-ws npm client (what browsers and Apollo use) against the live server:
// subscribe to one product, send trackProductView three times over HTTP, and print the
// totals of every update up to the one that equals the queried total, as JSON.
// Usage: node --experimental-websocket subscribe.mjs <http base url> <product id>
import { createClient } from "graphql-ws";

const [base, productId] = process.argv.slice(2);
const post = async (query, variables) => {
  const response = await fetch(`${base}/graphql/`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
};
const views = async () =>
  (await post("query($id: ID!) { product(id: $id) { metrics { totalViews } } }", { id: productId })).data.product
    .metrics.totalViews;

const client = createClient({ url: base.replace(/^http/, "ws") + "/graphql/", retryAttempts: 0 });
const updates = client.iterate({
  query: "subscription($ids: [ID!]!) { productMetricsUpdated(productIds: $ids) { metrics { totalViews } } }",
  variables: { ids: [productId] },
});
const first = updates.next(); // starts the subscription
await new Promise((resolve) => setTimeout(resolve, 500)); // let it register on the server
for (let i = 0; i < 3; i++) {
  await post("mutation($id: ID!) { trackProductView(productId: $id) { __typename } }", { id: productId });
}
let queried = await views();
for (let tries = 0; queried < 3 && tries < 400; tries++) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  queried = await views();
}
const received = [];
let step = await first;
while (!step.done) {
  if (step.value.errors) throw new Error(JSON.stringify(step.value.errors));
  received.push(step.value.data.productMetricsUpdated.metrics.totalViews);
  if (received.at(-1) >= queried) break;
  step = await updates.next();
}
await updates.return();
await client.dispose();
console.log(JSON.stringify({ queried, received }));
