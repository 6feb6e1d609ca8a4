// Compare two SDL files with graphql-inspector and refuse breaking changes the changelog
// does not acknowledge.
//
//   node tools/schema_changes.mjs OLD.graphql NEW.graphql [CHANGELOG.md] [--json]
//
// Every change is listed (BREAKING, DANGEROUS, NON_BREAKING, as graphql-inspector rates
// them). A breaking change is acknowledged when the "### Breaking" list of the changelog's
// "## Unreleased" section names its path in backticks (`UserError.code`, `Query.products.orderBy`, `OrderStatus`):
// clients read that section to learn what to change. Exit status: 0 when every breaking
// change is acknowledged, 1 when one is not, 2 on a usage or schema error.
import { readFileSync } from "node:fs";
import { buildSchema } from "graphql";
import { diff, CriticalityLevel } from "@graphql-inspector/core";

// The text under `heading` (a line matching it) up to the next heading of its level or above.
function section(text, heading, level) {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => heading.test(line));
  if (start < 0) return "";
  const end = lines.findIndex((line, i) => i > start && new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

// What "## Unreleased" -> "### Breaking" names in backticks: a mention elsewhere (under
// "### Added", say) does not acknowledge a removal.
function acknowledgedPaths(changelog) {
  const breaking = section(section(changelog, /^## Unreleased\b/, 2), /^### Breaking\b/, 3);
  return new Set(Array.from(breaking.matchAll(/`([^`\s]+)`/g), (match) => match[1]));
}

async function main(argv) {
  const json = argv.includes("--json");
  const [oldPath, newPath, changelogPath] = argv.filter((a) => a !== "--json");
  if (!oldPath || !newPath) {
    console.error("usage: node tools/schema_changes.mjs OLD.graphql NEW.graphql [CHANGELOG.md] [--json]");
    return 2;
  }
  let changes;
  try {
    const load = (path) => buildSchema(readFileSync(path, "utf8"));
    changes = await diff(load(oldPath), load(newPath));
  } catch (error) {
    console.error(`schema changes: ${error.message}`);
    return 2;
  }
  const acknowledged = changelogPath ? acknowledgedPaths(readFileSync(changelogPath, "utf8")) : new Set();
  const rows = changes.map((change) => ({
    level: change.criticality.level,
    path: change.path ?? null,
    message: change.message,
    acknowledged: change.criticality.level !== CriticalityLevel.Breaking || acknowledged.has(change.path),
  }));
  const missing = rows.filter((row) => !row.acknowledged);
  if (json) {
    console.log(JSON.stringify({ changes: rows, unacknowledged: missing }, null, 2));
  } else {
    for (const row of rows) console.log(`${row.level.padEnd(12)} ${row.message}`);
    if (!rows.length) console.log("No schema changes.");
    if (missing.length) {
      console.error(
        `\n${missing.length} breaking change(s) not listed under "## Unreleased" / "### Breaking" in ` +
          `${changelogPath ?? "the changelog"} (name each path in backticks):`
      );
      for (const row of missing) console.error(`  \`${row.path}\`: ${row.message}`);
    }
  }
  return missing.length ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
