import assert from "node:assert/strict";
import { BuildConsole } from "../../lib/cli/build_status.ts";

Deno.test("BuildConsole keeps the status line at the bottom on a terminal, and writes plain lines elsewhere", () => {
  let tty = "";
  const term = new BuildConsole((t) => void (tty += t), true);
  term.counts.total = 3;
  term.running("b1", +1);
  term.line("[hello@b1] make");
  term.counts.bytes = 2048;
  term.running("b1", -1);
  term.counts.done = 1;
  term.clear();
  const status = (s: string) => `\r\x1b[K${s}`;
  assert.equal(
    tty,
    status("[0/3 built, 1 running, 2 queued] b1: 1 | 0 B copied") +
      "\r\x1b[K[hello@b1] make\n" +
      status("[0/3 built, 1 running, 2 queued] b1: 1 | 0 B copied") +
      status("[0/3 built, 0 running, 3 queued] | 2.0 KiB copied") +
      "\r\x1b[K",
  );
  let plain = "";
  const pipe = new BuildConsole((t) => void (plain += t), false);
  pipe.running("b1", +1);
  pipe.line("[hello@b1] make");
  pipe.clear();
  assert.equal(plain, "[hello@b1] make\n");
});
