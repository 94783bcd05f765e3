// Node entry of the parity runner: {op, ...} on stdin, JSON result on stdout.
import { readFileSync } from "node:fs";
import * as P from "../../drafty_bird/ui/physics.js";
import { encodeTicks } from "../../drafty_bird/ui/ticks.js";
import { constants, plan, runCases } from "./parity.mjs";

const req = JSON.parse(readFileSync(0, "utf8"));
const ops = {
  run: () => runCases(P, req.cases),
  plan: () => plan(P, req.specs),
  constants: () => constants(P),
  encode: () => req.lists.map((l) => {
    try {
      return encodeTicks(l);
    } catch (e) {
      return { error: e.name };
    }
  }),
};
process.stdout.write(JSON.stringify(ops[req.op]()));
