// The Renovate recipe of docs/renovate.json5, run as Renovate's regex manager would (JavaScript
// regular expressions, global): every example environment that pins kserve.version has the
// marker, and the recipe finds exactly that version, with the datasource and package it names.
import { readFileSync, readdirSync } from "node:fs";

const recipe = new Function(`return (${readFileSync("docs/renovate.json5", "utf8")});`)();
const manager = recipe.customManagers[0];
const pattern = new RegExp(manager.managerFilePatterns[0].slice(1, -1));
let failures = 0;
let matched = 0;
for (const name of readdirSync("environments").sort()) {
  const path = `environments/${name}`;
  if (!pattern.test(path)) continue;
  const text = readFileSync(path, "utf8");
  const pinned = text.match(/^kserve:\n(?:  .*\n)*?  version: (\S+)$/m);
  const found = [];
  for (const s of manager.matchStrings) {
    for (const m of text.matchAll(new RegExp(s, "g"))) found.push(m.groups);
  }
  if (!pinned) {
    if (found.length) { console.error(`${path}: matched without a kserve.version`); failures++; }
    continue;
  }
  const ok = found.length === 1 && found[0].currentValue === pinned[1].replace(/"/g, "")
    && found[0].depName === "kserve/kserve" && found[0].datasource === "github-releases";
  if (!ok) { console.error(`${path}: expected ${pinned[1]}, found ${JSON.stringify(found)}`); failures++; }
  else matched++;
}
// A file without the marker is left alone.
const bare = "kserve:\n  version: v0.20.0\n";
if (manager.matchStrings.some((s) => new RegExp(s).test(bare))) { console.error("matched a version without the marker"); failures++; }
if (failures || matched === 0) process.exit(1);
console.log(`renovate recipe: ${matched} environments, each kserve.version found once`);
