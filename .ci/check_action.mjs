// The GitHub composite action and the workflows that use it (the example, and the one
// `kgen init --ci github` writes, given as further arguments): all against SchemaStore's schemas
// (@action-validator/cli, run by .ci/run), and here what no schema sees: every `with:` key a
// workflow passes is an input of action.yml, and every `inputs.X` action.yml reads is declared.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(`${process.argv[2]}/`);
const YAML = require("yaml");
const action = YAML.parse(readFileSync("action.yml", "utf8"));
const declared = new Set(Object.keys(action.inputs ?? {}));
let failures = 0;
let uses = 0;
for (const file of ["docs/examples/kgen-diff.yml", ...process.argv.slice(3)]) {
  const workflow = YAML.parse(readFileSync(file, "utf8"));
  for (const [name, job] of Object.entries(workflow.jobs)) {
    for (const step of job.steps ?? []) {
      // `./` in kgen's own example; `<org>/kgen@<tag>` in a user's repository.
      if (step.uses !== "./" && !/^[^/]+\/kgen@/.test(step.uses ?? "")) continue;
      uses++;
      for (const key of Object.keys(step.with ?? {})) {
        if (!declared.has(key)) { console.error(`${file} job ${name}: \`with: ${key}\` is no input of action.yml`); failures++; }
      }
    }
  }
}
if (uses < process.argv.length - 2) { console.error("a workflow does not use the action"); failures++; }
for (const m of readFileSync("action.yml", "utf8").matchAll(/inputs\.([A-Za-z0-9_-]+)/g)) {
  if (!declared.has(m[1])) { console.error(`action.yml reads undeclared input \`${m[1]}\``); failures++; }
}
if (action.runs?.using !== "composite") { console.error("action.yml is not a composite action"); failures++; }
if (failures) process.exit(1);
console.log(`action.yml: ${declared.size} inputs, every one the ${uses} uses of it pass declared`);
