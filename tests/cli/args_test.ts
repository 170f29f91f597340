/**
 * `parseArgs` (lib/cli/args.ts) against `node:util`'s, which it replaces:
 * for any arguments, both accept and give the same values, positionals and
 * order of options, or both refuse.
 */
import assert from "node:assert/strict";
import { parseArgs as nodeParseArgs } from "node:util";
import fc from "fast-check";
import { parseArgs } from "../../lib/cli/args.ts";
import { UsageError } from "../../lib/cli/command.ts";

const OPTIONS = {
  store: { type: "string" },
  json: { type: "boolean", default: false },
  ref: { type: "string", multiple: true, default: [] as string[] },
  flag: { type: "boolean", multiple: true },
  name: { type: "string", default: "x" },
} as const;

const arg = fc.oneof(
  fc.constantFrom(
    "--store",
    "--json",
    "--ref",
    "--flag",
    "--name",
    "--",
    "-",
    "-j",
    "--nope",
    "--json=1",
    "--store=",
    "--store=-x",
    "--ref=a=b",
    "--=x",
    "---",
    "-1",
    "--toString",
    "--__proto__",
  ),
  fc.string({ maxLength: 4 }),
);

Deno.test("parseArgs agrees with node:util's parseArgs on any arguments", () => {
  fc.assert(
    fc.property(fc.array(arg, { maxLength: 8 }), fc.boolean(), (args, allowPositionals) => {
      let expected: { values: object; positionals: string[]; order: string[] } | undefined;
      try {
        const r = nodeParseArgs({
          args,
          options: OPTIONS,
          allowPositionals,
          strict: true,
          tokens: true,
        });
        expected = {
          values: { ...r.values },
          positionals: r.positionals,
          order: (r.tokens ?? []).flatMap((t) => t.kind === "option" ? [t.name] : []),
        };
      } catch { /* refused */ }
      if (!expected) {
        assert.throws(() => parseArgs({ args, options: OPTIONS, allowPositionals }), UsageError);
        return;
      }
      const ours = parseArgs({ args, options: OPTIONS, allowPositionals });
      assert.deepEqual({ ...ours.values }, expected.values);
      assert.deepEqual(ours.positionals, expected.positionals);
      assert.deepEqual(
        ours.tokens.flatMap((t) => t.kind === "option" ? [t.name] : []),
        expected.order,
      );
    }),
    { numRuns: 3000 },
  );
});

Deno.test("parseArgs names the argument at fault", () => {
  const p = (args: string[], allowPositionals = false) => () =>
    parseArgs({ args, options: OPTIONS, allowPositionals });
  assert.throws(p(["--nope=1"]), /Unknown option '--nope'/);
  assert.throws(p(["--store"]), /Option '--store <value>' argument missing/);
  assert.throws(p(["--json=yes"]), /Option '--json' does not take an argument/);
  assert.throws(p(["--store", "--json"]), /use '--store=--json'/);
  assert.throws(p(["stray"]), /Unexpected argument 'stray'/);
  assert.deepEqual(
    parseArgs({ args: ["--", "--json"], options: OPTIONS, allowPositionals: true }).positionals,
    ["--json"],
  );
});
