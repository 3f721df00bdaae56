// The GitHub composite action and its example workflow: both against SchemaStore's schemas
// (@action-validator/cli, run by .ci/run), and here what no schema sees: every `with:` key the
// example passes is an input of action.yml, and every `inputs.X` action.yml reads is declared.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(`${process.argv[2]}/`);
const YAML = require("yaml");
const action = YAML.parse(readFileSync("action.yml", "utf8"));
const workflow = YAML.parse(readFileSync("docs/examples/kgen-diff.yml", "utf8"));
const declared = new Set(Object.keys(action.inputs ?? {}));
let failures = 0;
for (const [name, job] of Object.entries(workflow.jobs)) {
  for (const step of job.steps ?? []) {
    if (step.uses !== "./") continue;
    for (const key of Object.keys(step.with ?? {})) {
      if (!declared.has(key)) { console.error(`job ${name}: \`with: ${key}\` is no input of action.yml`); failures++; }
    }
  }
}
for (const m of readFileSync("action.yml", "utf8").matchAll(/inputs\.([A-Za-z0-9_-]+)/g)) {
  if (!declared.has(m[1])) { console.error(`action.yml reads undeclared input \`${m[1]}\``); failures++; }
}
if (action.runs?.using !== "composite") { console.error("action.yml is not a composite action"); failures++; }
if (failures) process.exit(1);
console.log(`action.yml: ${declared.size} inputs, every one the example passes declared`);
