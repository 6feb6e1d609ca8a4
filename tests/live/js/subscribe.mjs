// The graphql-ws npm client (what browsers and Apollo use) against the live server:
// subscribe to one product, send trackProductView three times over HTTP, and print the
// totals of every update up to the one that equals the queried total, as JSON.
// The probe product is viewed first, until its update arrives: from then on the subscription is
// registered on the server (it registers a moment after the subscribe message).
// Usage: node --experimental-websocket subscribe.mjs <http base url> <product id> <probe product id>
import { createClient } from "graphql-ws";

const [base, productId, probeId] = process.argv.slice(2);
const post = async (query, variables) => {
  const response = await fetch(`${base}/graphql/`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
};
const view = (id) => post("mutation($id: ID!) { trackProductView(productId: $id) { __typename } }", { id });
const views = async () =>
  (await post("query($id: ID!) { product(id: $id) { metrics { totalViews } } }", { id: productId })).data.product
    .metrics.totalViews;

const client = createClient({ url: base.replace(/^http/, "ws") + "/graphql/", retryAttempts: 0 });
const updates = client.iterate({
  query:
    "subscription($ids: [ID!]!) { productMetricsUpdated(productIds: $ids) { product { id } metrics { totalViews } } }",
  variables: { ids: [productId, probeId] },
});
let step = updates.next(); // starts the subscription
for (let tries = 0; ; tries++) {
  await view(probeId);
  const arrived = await Promise.race([step, new Promise((resolve) => setTimeout(resolve, 1000, null))]);
  if (arrived) break;
  if (tries > 60) throw new Error("the subscription never reported the probe product");
}
step = updates.next();
for (let i = 0; i < 3; i++) await view(productId);
let queried = await views();
for (let tries = 0; queried < 3 && tries < 400; tries++) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  queried = await views();
}
const received = [];
for (;;) {
  const { value, done } = await step;
  if (done) break;
  if (value.errors) throw new Error(JSON.stringify(value.errors));
  const update = value.data.productMetricsUpdated;
  if (update.product.id === productId) {
    received.push(update.metrics.totalViews);
    if (received.at(-1) >= queried) break;
  }
  step = updates.next();
}
await updates.return();
await client.dispose();
console.log(JSON.stringify({ queried, received }));
