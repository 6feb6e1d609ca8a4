// graphql-js's opinion of our schema and of the client documents written against it.
//
//   node tests/graph/js/validate.mjs schema.graphql tests/graph/documents [more files or directories]
//
// Builds the schema from the SDL file (buildSchema), checks it (validateSchema), then parses and
// validates every .graphql document given (directories are searched, not recursively).
// Prints JSON: {schemaErrors: [..], documents: {path: [error messages]}}.
// Exit status: 0 when the schema and every document are valid, 1 when anything is invalid,
// 2 on bad usage (missing files, no documents).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildSchema, parse, validate, validateSchema } from "graphql";

const [schemaPath, ...inputs] = process.argv.slice(2);
if (!schemaPath || inputs.length === 0) {
  console.error("usage: node validate.mjs <schema.graphql> <document or directory>...");
  process.exit(2);
}

const message = (error) =>
  error.locations?.length
    ? `${error.message} (line ${error.locations[0].line}, column ${error.locations[0].column})`
    : error.message;

const files = [];
for (const input of inputs) {
  if (statSync(input).isDirectory()) {
    for (const name of readdirSync(input).sort()) {
      if (name.endsWith(".graphql")) files.push(join(input, name));
    }
  } else {
    files.push(input);
  }
}
if (files.length === 0) {
  console.error(`no .graphql documents in ${inputs.join(", ")}`);
  process.exit(2);
}

const report = { schemaErrors: [], documents: {} };
let schema;
try {
  schema = buildSchema(readFileSync(schemaPath, "utf8"));
  report.schemaErrors = validateSchema(schema).map(message);
} catch (error) {
  report.schemaErrors = [`${schemaPath} does not build: ${message(error)}`];
}

for (const file of files) {
  if (report.schemaErrors.length) {
    report.documents[file] = ["not checked: the schema is invalid"];
    continue;
  }
  try {
    report.documents[file] = validate(schema, parse(readFileSync(file, "utf8"))).map(message);
  } catch (error) {
    report.documents[file] = [`syntax error: ${message(error)}`];
  }
}

console.log(JSON.stringify(report, null, 2));
const invalid = report.schemaErrors.length > 0 || Object.values(report.documents).some((e) => e.length > 0);
process.exit(invalid ? 1 : 0);
