/**
 * The store's metadata in SQLite, in Nix 2.8's own schema and file
 * (`nix/var/nix/db/db.sqlite`, schema version 10 in `db/schema`, WAL), so
 * that real Nix reads a buildhost store and buildhost reads a Nix store.
 *
 * Tables: `ValidPaths` (one row per valid path: NAR hash as
 * `sha256:<base16>`, registration time, deriver, NAR size, ultimate flag,
 * space-separated signatures, content address), `Refs` (referrer ->
 * reference by row id; deleting a path that is still referenced is refused
 * by the foreign key), `DerivationOutputs` (for each valid `.drv`: output
 * name -> output path).
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "../posix_path.ts";
import { Hash } from "../hash/hash.ts";
import { BuildhostError } from "../errors.ts";
import { crashPoint } from "./crash_point.ts";
import type { PathInfo } from "./path_info.ts";

/** The schema version Nix 2.8 writes in `db/schema`. */
export const NIX_SCHEMA_VERSION = 10;

/** The metadata database could not be used. */
export class StoreDbError extends BuildhostError {
  override name = "StoreDbError";
}

const SCHEMA = `
create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer,
    sigs             text,
    ca               text
);
create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);
create index if not exists IndexReferrer on Refs(referrer);
create index if not exists IndexReference on Refs(reference);
create trigger if not exists DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;
create table if not exists DerivationOutputs (
    drv  integer not null,
    id   text not null,
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);
create index if not exists IndexDerivationOutputs on DerivationOutputs(path);
`;

type Row = Record<string, unknown>;

/**
 * The metadata database of one store. All methods are synchronous (SQLite
 * calls are short); writers wait for each other through SQLite's lock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StoreDb } from "./store_db.ts";
 * const dir = await Deno.makeTempDir();
 * using db = StoreDb.open(dir);
 * assert.equal(db.isValid("/nix/store/ffffffffffffffffffffffffffffffff-x"), false);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class StoreDb implements Disposable {
  #db: DatabaseSync;
  #stmts = new Map<string, StatementSync>();

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * Open (creating if needed) the database in `dbDir`.
   *
   * @param dbDir The `nix/var/nix/db` directory.
   * @returns The open database.
   */
  static open(dbDir: string): StoreDb {
    Deno.mkdirSync(dbDir, { recursive: true });
    const schemaFile = join(dbDir, "schema");
    let version: number | undefined;
    try {
      version = Number(Deno.readTextFileSync(schemaFile).trim());
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (version !== undefined && version !== NIX_SCHEMA_VERSION) {
      throw new StoreDbError(
        `Cannot open the store database in "${dbDir}": schema version ${version}, expected ${NIX_SCHEMA_VERSION}`,
      );
    }
    const db = new DatabaseSync(join(dbDir, "db.sqlite"));
    db.exec("pragma busy_timeout = 600000");
    db.exec("pragma foreign_keys = 1");
    db.exec("pragma synchronous = normal");
    const mode = db.prepare("pragma journal_mode = wal").get() as Row | undefined;
    if (mode?.journal_mode !== "wal") {
      throw new StoreDbError(`Cannot open the store database in "${dbDir}": WAL mode refused`);
    }
    if (version === undefined) {
      db.exec("begin immediate");
      try {
        db.exec(SCHEMA);
        db.exec("commit");
      } catch (e) {
        if (db.isTransaction) db.exec("rollback");
        throw e;
      }
      Deno.writeTextFileSync(schemaFile, String(NIX_SCHEMA_VERSION));
    }
    return new StoreDb(db);
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /** Close the database (again is a no-op). */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Same as {@linkcode StoreDb.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Run `fn` in one write transaction (`begin immediate`): all or nothing.
   *
   * @param fn The work.
   * @returns What `fn` returns.
   */
  transaction<T>(fn: () => T): T {
    this.#db.exec("begin immediate");
    try {
      const out = fn();
      this.#db.exec("commit");
      return out;
    } catch (e) {
      // SQLite has rolled back already after some errors (a full disk: SQLITE_FULL); a
      // second rollback would fail and hide the error that matters.
      if (this.#db.isTransaction) this.#db.exec("rollback");
      throw e;
    }
  }

  /** Whether `path` is valid. */
  isValid(path: string): boolean {
    return this.#stmt("select 1 from ValidPaths where path = ?").get(path) !== undefined;
  }

  /** The metadata of a valid path, or undefined. */
  queryPathInfo(path: string): PathInfo | undefined {
    const r = this.#stmt(
      "select id, path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca from ValidPaths where path = ?",
    ).get(path) as Row | undefined;
    if (!r) return undefined;
    const refs = this.#stmt(
      "select v.path as path from Refs r join ValidPaths v on r.reference = v.id where r.referrer = ?",
    ).all(r.id as number) as Row[];
    const info: PathInfo = {
      path: r.path as string,
      narHash: Hash.parse(r.hash as string),
      narSize: Number(r.narSize ?? 0),
      references: refs.map((x) => x.path as string).sort(),
      registrationTime: Number(r.registrationTime),
      ultimate: Number(r.ultimate ?? 0) !== 0,
      sigs: typeof r.sigs === "string" && r.sigs !== "" ? r.sigs.split(" ") : [],
    };
    if (typeof r.deriver === "string" && r.deriver !== "") info.deriver = r.deriver;
    if (typeof r.ca === "string" && r.ca !== "") info.ca = r.ca;
    return info;
  }

  /** How many valid paths there are, and the sum of their NAR sizes. */
  validPathsSize(): { paths: number; narSize: number } {
    const r = this.#stmt("select count(*) as n, sum(narSize) as size from ValidPaths").get() as Row;
    return { paths: Number(r.n ?? 0), narSize: Number(r.size ?? 0) };
  }

  /** Every valid path, sorted. */
  allValidPaths(): string[] {
    return (this.#stmt("select path from ValidPaths order by path").all() as Row[]).map((r) =>
      r.path as string
    );
  }

  /** The valid paths that refer to `path`. */
  referrers(path: string): string[] {
    return (this.#stmt(
      "select v.path as path from Refs r join ValidPaths v on r.referrer = v.id where r.reference = (select id from ValidPaths where path = ?) order by v.path",
    ).all(path) as Row[]).map((r) => r.path as string);
  }

  /**
   * Register paths (inside a caller's transaction or on their own): rows
   * for paths already valid are updated; references must be valid or among
   * `infos`.
   *
   * @param infos The paths' metadata.
   * @param derivationOutputs For `.drv` paths among them: output name -> path.
   */
  registerValidPaths(
    infos: PathInfo[],
    derivationOutputs: Map<string, Map<string, string>> = new Map(),
  ): void {
    const upsert = this.#stmt(
      `insert into ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca)
       values (?, ?, ?, ?, ?, ?, ?, ?)
       on conflict (path) do update set hash = excluded.hash, registrationTime = excluded.registrationTime,
         deriver = excluded.deriver, narSize = excluded.narSize, ultimate = excluded.ultimate,
         sigs = excluded.sigs, ca = excluded.ca`,
    );
    const idOf = this.#stmt("select id from ValidPaths where path = ?");
    const addRef = this.#stmt("insert or ignore into Refs (referrer, reference) values (?, ?)");
    const addOut = this.#stmt(
      "insert or replace into DerivationOutputs (drv, id, path) values (?, ?, ?)",
    );
    const run = () => {
      for (const i of infos) {
        upsert.run(
          i.path,
          `sha256:${i.narHash.toString("base16")}`,
          i.registrationTime,
          i.deriver ?? null,
          i.narSize,
          i.ultimate ? 1 : 0,
          i.sigs.length > 0 ? i.sigs.join(" ") : null,
          i.ca ?? null,
        );
      }
      crashPoint("register:mid-transaction");
      for (const i of infos) {
        const id = (idOf.get(i.path) as Row).id as number;
        for (const ref of i.references) {
          const r = idOf.get(ref) as Row | undefined;
          if (!r) {
            throw new StoreDbError(
              `Cannot register "${i.path}": its reference "${ref}" is not valid`,
            );
          }
          addRef.run(id, r.id as number);
        }
        for (const [name, out] of derivationOutputs.get(i.path) ?? []) addOut.run(id, name, out);
      }
    };
    if (this.#db.isTransaction) run();
    else this.transaction(run);
  }

  /** Output name -> path of a valid `.drv`. */
  derivationOutputs(drvPath: string): Map<string, string> {
    const rows = this.#stmt(
      "select d.id as id, d.path as path from DerivationOutputs d join ValidPaths v on d.drv = v.id where v.path = ? order by d.id",
    ).all(drvPath) as Row[];
    return new Map(rows.map((r) => [r.id as string, r.path as string]));
  }

  /** The valid `.drv` paths that have `outputPath` as an output. */
  derivationsWithOutput(outputPath: string): string[] {
    return (this.#stmt(
      "select v.path as path from DerivationOutputs d join ValidPaths v on d.drv = v.id where d.path = ?",
    ).all(outputPath) as Row[]).map((r) => r.path as string);
  }

  /**
   * The closure of `paths` under references (the paths themselves
   * included), computed in SQL. Unknown paths are ignored.
   */
  closure(paths: string[]): string[] {
    if (paths.length === 0) return [];
    const rows = this.#db.prepare(
      `with recursive c(id) as (
         select id from ValidPaths where path in (select value from json_each(?))
         union
         select r.reference from Refs r join c on r.referrer = c.id)
       select v.path as path from ValidPaths v join c on v.id = c.id order by v.path`,
    ).all(JSON.stringify(paths)) as Row[];
    return rows.map((r) => r.path as string);
  }

  /**
   * Forget paths (their files are the caller's business). Paths still
   * referenced by a valid path outside `paths` make the whole call fail.
   */
  invalidatePaths(paths: string[]): void {
    const del = this.#stmt("delete from ValidPaths where path = ?");
    const delRefs = this.#stmt(
      "delete from Refs where referrer = (select id from ValidPaths where path = ?)",
    );
    const run = () => {
      for (const p of paths) delRefs.run(p);
      for (const p of paths) del.run(p);
    };
    if (this.#db.isTransaction) run();
    else this.transaction(run);
  }
}
