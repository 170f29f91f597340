/**
 * The `.drv` file format of Nix 2.8: one ATerm, no trailing newline.
 *
 * ```
 * drv       = 'Derive(' '[' outputs ']' ',' '[' inputDrvs ']' ',' '[' inputSrcs ']' ','
 *             platform ',' builder ',' '[' args ']' ',' '[' env ']' ')'
 * outputs   = ( '(' name ',' path ',' hashAlgo ',' hash ')' ) joined by ','   sorted by name
 * inputDrvs = ( '(' drvPath ',' '[' outputName, ... ']' ')' ) joined by ','    sorted by path
 * inputSrcs = storePath, ...                                                  sorted
 * args      = string, ...                                                     in order
 * env       = ( '(' key ',' value ')' ) joined by ','                         sorted by key
 * ```
 *
 * Every field is a string in double quotes. Sorting is byte-wise (Nix's
 * `std::map`/`std::set`). The builder, args and env keys and values are
 * escaped: `"` `\` newline, carriage return and tab are written `\"` `\\`
 * `\n` `\r` `\t`, every other byte as it is (control characters and
 * non-ASCII included). All other fields are written between quotes with no
 * escaping at all (Nix's `printUnquotedString`).
 *
 * An output's (path, hashAlgo, hash) say its kind (see `derivation.ts`):
 * `("out","/nix/store/…-x","","")` input-addressed,
 * `("out","/nix/store/…-x","r:sha256","<base16>")` fixed (`r:` = recursive,
 * the NAR's hash; without it, flat: the file's hash),
 * `("out","","r:sha256","")` floating, `("out","","r:sha256","impure")`
 * impure, `("out","","","")` deferred.
 *
 * For hashing (`hash_modulo.ts`), the same printer is used with the output
 * paths and the env variables named after outputs blanked, and with each
 * input derivation's path replaced by the base16 of its own hash.
 *
 * This module gathers the reader and the writer.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeDerivation, parseDerivation } from "./aterm.ts";
 * const bytes = new TextEncoder().encode(
 *   'Derive([("out","","","")],[],[],"x86_64-linux","/bin/sh",[],[("name","x"),("out","")])',
 * );
 * assert.deepEqual(encodeDerivation(parseDerivation(bytes)), bytes);
 * ```
 *
 * @module
 */
export * from "./aterm_parser.ts";
export * from "./aterm_writer.ts";
