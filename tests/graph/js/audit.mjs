// GraphQL-over-HTTP conformance audit (graphql-http's auditServer) of one endpoint.
//
//   node tests/graph/js/audit.mjs http://127.0.0.1:8000/graphql/
//
// Prints a JSON array, one entry per audit rule: {id, name, status, reason?, response?}
// where status is "ok", "notice", "warn" or "error" (an "error" is a MUST the server breaks).
// For failed rules, `response` holds the HTTP status, content type and (the start of) the body.
// Exit status: 0 when the audit ran (whatever it found), 2 on bad usage or a crash.
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs <graphql endpoint URL>");
  process.exit(2);
}

async function describe(response) {
  if (!response) return undefined;
  let body;
  try {
    body = (await response.clone().text()).slice(0, 500);
  } catch (error) {
    body = `(body unavailable: ${error.message})`;
  }
  return { status: response.status, contentType: response.headers.get("content-type"), body };
}

try {
  const results = await auditServer({ url });
  const out = [];
  for (const result of results) {
    const entry = { id: result.id, name: result.name, status: result.status };
    if (result.status !== "ok") {
      entry.reason = result.reason;
      entry.response = await describe(result.response);
    }
    out.push(entry);
  }
  console.log(JSON.stringify(out, null, 2));
} catch (error) {
  console.error(`audit crashed: ${error.stack || error}`);
  process.exit(2);
}
